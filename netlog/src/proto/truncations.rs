//! Truncations: the truncation ranges one segment holds (`Truncations` →
//! `TruncationsReply`).
//!
//! This module owns those layouts. Volume recovery reads them from every responder:
//! an LSN inside an earlier recovery's range `(start, end]` was never used, so it must
//! not be taken for a lost record when the new VCL is computed. A segment holds a
//! range until its materialized LSN passes the range's end (below that, nothing can
//! arrive any more). Rules checked both ways: each range is non-empty (`start < end`);
//! at most `TRUNCATIONS_MAX` ranges, which is at least what a segment's metadata file
//! can keep (`limits.rs` checks it), so a node never has more to say.

use boreal_segment::{Epoch, Lsn, PgId};

use super::error::{ProtoError, Result};
use super::seq::{Item, Seq};
use super::wire::{Body, Put};
use crate::limits::{
    TRUNCATION_RANGE_SIZE, TRUNCATIONS_MAX, TRUNCATIONS_REPLY_FIXED, TRUNCATIONS_SIZE,
};

const TRUNCATIONS_REPLY: &str = "TruncationsReply";

/// Client → node: the truncation ranges the segment of `pg` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncations {
    pub pg: PgId,
}

/// A truncation range `(start, end]` a segment holds, and the epoch of the volume
/// recovery that annulled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncationRange {
    pub epoch: Epoch,
    /// Exclusive lower bound.
    pub start: Lsn,
    /// Inclusive upper bound (`start < end`).
    pub end: Lsn,
}

/// Node → client: the segment's truncation ranges, in the order it applied them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncationsReply<'a> {
    pub pg: PgId,
    /// At most `TRUNCATIONS_MAX`.
    pub ranges: Seq<'a, TruncationRange>,
}

impl Truncations {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<Truncations> {
        let pg = b.pg("pg")?;
        b.reserved(4)?;
        debug_assert_eq!(b.pos(), TRUNCATIONS_SIZE);
        Ok(Truncations { pg })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_zeros(4);
    }
}

impl Item for TruncationRange {
    const SIZE: usize = TRUNCATION_RANGE_SIZE;
    const FIELD: &'static str = "ranges";

    fn read(message: &'static str, bytes: &[u8]) -> Result<TruncationRange> {
        let mut b = Body::new(message, bytes);
        let range = TruncationRange {
            epoch: b.epoch("range epoch")?,
            start: b.lsn("range start")?,
            end: b.lsn("range end")?,
        };
        range.check(message)?;
        Ok(range)
    }

    fn check(&self, message: &'static str) -> Result<()> {
        if self.start >= self.end {
            return Err(ProtoError::LsnOutOfOrder {
                message,
                rule: "truncation range start < end",
                left: self.start,
                right: self.end,
            });
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put_u64(self.epoch.get());
        out.put_u64(self.start.get());
        out.put_u64(self.end.get());
    }
}

impl<'a> TruncationsReply<'a> {
    pub(crate) fn check(&self) -> Result<()> {
        self.ranges
            .count(TRUNCATIONS_REPLY, "range_count", TRUNCATIONS_MAX)?;
        self.ranges.check(TRUNCATIONS_REPLY)
    }

    pub(crate) fn read(b: &mut Body<'a>) -> Result<TruncationsReply<'a>> {
        let pg = b.pg("pg")?;
        let count = b.u16("range_count")?;
        let count = b.bounded("range_count", count.into(), 0, TRUNCATIONS_MAX)?;
        b.reserved(2)?;
        debug_assert_eq!(b.pos(), TRUNCATIONS_REPLY_FIXED);
        let m = TruncationsReply {
            pg,
            ranges: Seq::decode(b, count)?,
        };
        m.check()?;
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u32(self.pg.get());
        // Bounded by check(): TRUNCATIONS_MAX <= u16::MAX.
        out.put_u16(self.ranges.len() as u16);
        out.put_zeros(2);
        self.ranges.write(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Message;

    fn range(start: u64, end: u64) -> TruncationRange {
        TruncationRange {
            epoch: Epoch::new(2),
            start: Lsn::new(start),
            end: Lsn::new(end),
        }
    }

    #[test]
    fn an_empty_range_and_one_too_many_are_refused_by_the_encoder() {
        let empty = [range(5, 5)];
        let reply = TruncationsReply {
            pg: PgId::new(1),
            ranges: Seq::from_slice(&empty),
        };
        let mut out = vec![1, 2];
        let err = Message::TruncationsReply(reply)
            .encode(1, &mut out)
            .unwrap_err();
        assert!(
            matches!(err, ProtoError::LsnOutOfOrder { .. }),
            "{err:?}: {err}"
        );
        assert_eq!(out, [1, 2], "the buffer is left as it was");

        let many = vec![range(1, 2); TRUNCATIONS_MAX + 1];
        let reply = TruncationsReply {
            pg: PgId::new(1),
            ranges: Seq::from_slice(&many),
        };
        assert!(
            Message::TruncationsReply(reply)
                .encode(1, &mut out)
                .is_err()
        );
        let full = vec![range(1, 2); TRUNCATIONS_MAX];
        let reply = TruncationsReply {
            pg: PgId::new(1),
            ranges: Seq::from_slice(&full),
        };
        Message::TruncationsReply(reply)
            .encode(1, &mut out)
            .unwrap();
    }

    #[test]
    fn a_count_above_the_limit_is_refused_before_the_ranges_are_read() {
        let mut body = Vec::new();
        body.put_u32(1);
        body.put_u16(TRUNCATIONS_MAX as u16 + 1);
        body.put_zeros(2);
        let mut frame = Vec::new();
        boreal_segment::encode_frame(23, 1, &body, &mut frame).unwrap();
        let (frame, _) = boreal_segment::decode_frame(&frame).unwrap();
        let err = Message::decode(frame).unwrap_err();
        assert!(
            matches!(
                err,
                ProtoError::OutOfBounds {
                    field: "range_count",
                    ..
                }
            ),
            "{err:?}: {err}"
        );
    }
}
