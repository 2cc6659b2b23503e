//! Status: one segment's watermarks, holes and backlog (`SegmentStatus` →
//! `StatusReply`), and every segment of a core in one reply (`CoreStatus` →
//! `CoreStatusReply`).
//!
//! This module owns those layouts. The per-core status exists for the two callers that
//! need many PGs at once: volume recovery reads the SCLs of every PG from a read quorum
//! (one round trip per node core instead of one per PG), and gossip learns which of a
//! peer's segments are ahead. Rules checked both ways: a valid page size;
//! `materialized_lsn <= scl` (the coalescer materializes only below the SCL); holes are
//! non-empty ranges of a known kind, at most `STATUS_HOLES_MAX`; a core's segments come
//! in strictly increasing PG order (so `first_pg` pages through them), at most
//! `CORE_STATUS_SEGMENTS_MAX` per reply, and `more` only after at least one.

use boreal_segment::{Epoch, Lsn, PageSize, PgId};

use super::error::{ProtoError, Result};
use super::seq::{Item, Seq};
use super::wire::{Body, Put};
use crate::limits::{
    CORE_STATUS_REPLY_FIXED, CORE_STATUS_SEGMENTS_MAX, CORE_STATUS_SIZE, HOLE_SIZE,
    SEGMENT_STATUS_SIZE, SEGMENT_SUMMARY_SIZE, STATUS_HOLES_MAX, STATUS_REPLY_FIXED,
};

const STATUS_REPLY: &str = "StatusReply";
const CORE_STATUS_REPLY: &str = "CoreStatusReply";
const FLAG_MORE: u8 = 0x01;

/// Client → node: the status of the segment of `pg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentStatus {
    pub pg: PgId,
}

/// Why a range is known to be missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HoleKind {
    /// A held record's backlink names a record that is absent.
    Backlink = 1,
    /// Journal recovery found this range damaged below what the node had acknowledged.
    Reported = 2,
}

/// A known-missing LSN range `(start, end]` of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hole {
    pub start: Lsn,
    pub end: Lsn,
    pub kind: HoleKind,
}

/// Node → client: the segment's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusReply<'a> {
    pub pg: PgId,
    pub page_size: PageSize,
    pub epoch: Epoch,
    pub scl: Lsn,
    pub materialized_lsn: Lsn,
    pub min_read_point: Lsn,
    /// Bytes of records not yet materialized.
    pub backlog_bytes: u64,
    /// Age of the oldest unmaterialized append, in microseconds.
    pub backlog_age_us: u64,
    /// Records in the hot log.
    pub hot_records: u64,
    /// The lowest known holes, at most `STATUS_HOLES_MAX`.
    pub holes: Seq<'a, Hole>,
}

/// Client → node: the segments of the answering core, from `first_pg` up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreStatus {
    pub first_pg: PgId,
}

/// One segment in a `CoreStatusReply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub pg: PgId,
    pub page_size: PageSize,
    pub epoch: Epoch,
    pub scl: Lsn,
    pub materialized_lsn: Lsn,
    pub min_read_point: Lsn,
}

/// Node → client: the core's segments with PG ≥ `first_pg`, in PG order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreStatusReply<'a> {
    /// The core that answered.
    pub core_index: u16,
    /// Segments remain after the last one listed: ask again from its PG + 1.
    pub more: bool,
    pub segments: Seq<'a, SegmentSummary>,
}

fn page_size(message: &'static str, bytes: u32) -> Result<PageSize> {
    PageSize::new(bytes).map_err(|_| ProtoError::InvalidField {
        message,
        field: "page_size",
        got: bytes.into(),
        rule: "must be a power of two in 4096..=65536",
    })
}

fn check_materialized(message: &'static str, materialized: Lsn, scl: Lsn) -> Result<()> {
    if materialized > scl {
        return Err(ProtoError::LsnOutOfOrder {
            message,
            rule: "materialized_lsn <= scl",
            left: materialized,
            right: scl,
        });
    }
    Ok(())
}

impl SegmentStatus {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<SegmentStatus> {
        let pg = b.pg("pg")?;
        b.reserved(4)?;
        debug_assert_eq!(b.pos(), SEGMENT_STATUS_SIZE);
        Ok(SegmentStatus { pg })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_zeros(4);
    }
}

impl Item for Hole {
    const SIZE: usize = HOLE_SIZE;
    const FIELD: &'static str = "holes";

    fn read(message: &'static str, bytes: &[u8]) -> Result<Hole> {
        let mut b = Body::new(message, bytes);
        let start = b.lsn("hole start")?;
        let end = b.lsn("hole end")?;
        let kind = match b.u8("hole kind")? {
            1 => HoleKind::Backlink,
            2 => HoleKind::Reported,
            got => {
                return Err(ProtoError::UnknownCode {
                    message,
                    field: "hole kind",
                    got: got.into(),
                });
            }
        };
        b.reserved(7)?;
        let hole = Hole { start, end, kind };
        hole.check(message)?;
        Ok(hole)
    }

    fn check(&self, message: &'static str) -> Result<()> {
        if self.start >= self.end {
            return Err(ProtoError::LsnOutOfOrder {
                message,
                rule: "hole start < end",
                left: self.start,
                right: self.end,
            });
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put_u64(self.start.get());
        out.put_u64(self.end.get());
        out.put_u8(self.kind as u8);
        out.put_zeros(7);
    }
}

impl<'a> StatusReply<'a> {
    pub(crate) fn check(&self) -> Result<()> {
        check_materialized(STATUS_REPLY, self.materialized_lsn, self.scl)?;
        self.holes
            .count(STATUS_REPLY, "hole_count", STATUS_HOLES_MAX)?;
        self.holes.check(STATUS_REPLY)
    }

    pub(crate) fn read(b: &mut Body<'a>) -> Result<StatusReply<'a>> {
        let pg = b.pg("pg")?;
        let page_size = page_size(STATUS_REPLY, b.u32("page_size")?)?;
        let epoch = b.epoch("epoch")?;
        let scl = b.lsn("scl")?;
        let materialized_lsn = b.lsn("materialized_lsn")?;
        let min_read_point = b.lsn("min_read_point")?;
        let backlog_bytes = b.u64("backlog_bytes")?;
        let backlog_age_us = b.u64("backlog_age_us")?;
        let hot_records = b.u64("hot_records")?;
        let hole_count = b.u16("hole_count")?;
        let hole_count = b.bounded("hole_count", hole_count.into(), 0, STATUS_HOLES_MAX)?;
        b.reserved(6)?;
        debug_assert_eq!(b.pos(), STATUS_REPLY_FIXED);
        let m = StatusReply {
            pg,
            page_size,
            epoch,
            scl,
            materialized_lsn,
            min_read_point,
            backlog_bytes,
            backlog_age_us,
            hot_records,
            holes: Seq::decode(b, hole_count)?,
        };
        m.check()?;
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u32(self.pg.get());
        out.put_u32(self.page_size.get());
        out.put_u64(self.epoch.get());
        out.put_u64(self.scl.get());
        out.put_u64(self.materialized_lsn.get());
        out.put_u64(self.min_read_point.get());
        out.put_u64(self.backlog_bytes);
        out.put_u64(self.backlog_age_us);
        out.put_u64(self.hot_records);
        // Bounded by check(): STATUS_HOLES_MAX <= u16::MAX.
        out.put_u16(self.holes.len() as u16);
        out.put_zeros(6);
        self.holes.write(out);
        Ok(())
    }
}

impl CoreStatus {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<CoreStatus> {
        let first_pg = b.pg("first_pg")?;
        b.reserved(4)?;
        debug_assert_eq!(b.pos(), CORE_STATUS_SIZE);
        Ok(CoreStatus { first_pg })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.first_pg.get());
        out.put_zeros(4);
    }
}

impl Item for SegmentSummary {
    const SIZE: usize = SEGMENT_SUMMARY_SIZE;
    const FIELD: &'static str = "segments";

    fn read(message: &'static str, bytes: &[u8]) -> Result<SegmentSummary> {
        let mut b = Body::new(message, bytes);
        let s = SegmentSummary {
            pg: b.pg("segment pg")?,
            page_size: page_size(message, b.u32("segment page_size")?)?,
            epoch: b.epoch("segment epoch")?,
            scl: b.lsn("segment scl")?,
            materialized_lsn: b.lsn("segment materialized_lsn")?,
            min_read_point: b.lsn("segment min_read_point")?,
        };
        s.check(message)?;
        Ok(s)
    }

    fn check(&self, message: &'static str) -> Result<()> {
        check_materialized(message, self.materialized_lsn, self.scl)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_u32(self.page_size.get());
        out.put_u64(self.epoch.get());
        out.put_u64(self.scl.get());
        out.put_u64(self.materialized_lsn.get());
        out.put_u64(self.min_read_point.get());
    }
}

impl<'a> CoreStatusReply<'a> {
    pub(crate) fn check(&self) -> Result<()> {
        let count =
            self.segments
                .count(CORE_STATUS_REPLY, "segment_count", CORE_STATUS_SEGMENTS_MAX)?;
        if self.more && count == 0 {
            return Err(ProtoError::InvalidField {
                message: CORE_STATUS_REPLY,
                field: "flags",
                got: FLAG_MORE.into(),
                rule: "`more` needs at least one segment listed",
            });
        }
        self.segments.check(CORE_STATUS_REPLY)?;
        let mut prev: Option<PgId> = None;
        for s in self.segments.iter() {
            if prev.is_some_and(|p| p >= s.pg) {
                return Err(ProtoError::InvalidField {
                    message: CORE_STATUS_REPLY,
                    field: "segment pg",
                    got: s.pg.get().into(),
                    rule: "segments are listed in strictly increasing PG order",
                });
            }
            prev = Some(s.pg);
        }
        Ok(())
    }

    pub(crate) fn read(b: &mut Body<'a>) -> Result<CoreStatusReply<'a>> {
        let count = b.u32("segment_count")?;
        let count = b.bounded("segment_count", count.into(), 0, CORE_STATUS_SEGMENTS_MAX)?;
        let core_index = b.u16("core_index")?;
        let flags = b.u8("flags")?;
        if flags & !FLAG_MORE != 0 {
            return Err(ProtoError::UnknownCode {
                message: CORE_STATUS_REPLY,
                field: "flags",
                got: flags.into(),
            });
        }
        b.reserved(1)?;
        debug_assert_eq!(b.pos(), CORE_STATUS_REPLY_FIXED);
        let m = CoreStatusReply {
            core_index,
            more: flags & FLAG_MORE != 0,
            segments: Seq::decode(b, count)?,
        };
        m.check()?;
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        // Bounded by check(): CORE_STATUS_SEGMENTS_MAX <= u32::MAX.
        out.put_u32(self.segments.len() as u32);
        out.put_u16(self.core_index);
        out.put_u8(if self.more { FLAG_MORE } else { 0 });
        out.put_zeros(1);
        self.segments.write(out);
        Ok(())
    }
}
