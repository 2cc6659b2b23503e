//! Segment metadata: the small, fixed, checksummed record of a segment's durable state.
//!
//! This module owns the 64-byte encoding of `SegmentMeta` (see `FORMAT.md`): the PG, the
//! epoch the segment has seen, its materialized LSN (everything up to it is in the page
//! store), the SCL when the record was written, the page size, and a write sequence so a
//! store that alternates between two slots picks the newest valid one. The same bytes
//! travel as the body of a `SegmentMeta` journal record. It never decides when to write
//! the record. Invariant: `materialized_lsn <= scl` (the coalescer only materializes
//! records below the SCL).

use crate::checksum::{self, crc32c};
use crate::codec::{Reader, Writer, peek_u32, prefix};
use crate::error::{Error, Result};
use crate::ids::{Epoch, Lsn, PgId};
use crate::limits::SEGMENT_META_SIZE;
use crate::page::PageSize;

/// Magic of a segment metadata record: ASCII `BRLM` as stored.
pub const SEGMENT_META_MAGIC: u32 = u32::from_le_bytes(*b"BRLM");
/// Version of the segment metadata format.
pub const SEGMENT_META_VERSION: u16 = 1;

/// The durable state of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentMeta {
    pub pg_id: PgId,
    /// Highest epoch this segment has accepted.
    pub epoch: Epoch,
    /// Every record of the PG up to this LSN is applied in the page store.
    pub materialized_lsn: Lsn,
    /// The segment's SCL when this record was written.
    pub scl: Lsn,
    /// Incremented on every write of the record; the highest valid one wins.
    pub sequence: u64,
    /// Page size of the volume the segment belongs to.
    pub page_size: PageSize,
}

impl SegmentMeta {
    /// Checks the rules of the format.
    pub fn validate(&self) -> Result<()> {
        if self.materialized_lsn > self.scl {
            return Err(Error::LsnOutOfOrder {
                what: "segment meta",
                rule: "materialized_lsn <= scl",
                left: self.materialized_lsn,
                right: self.scl,
            });
        }
        Ok(())
    }

    /// Encodes the record. Panics if `validate` fails: the caller's own state is wrong.
    pub fn encode(&self) -> [u8; SEGMENT_META_SIZE] {
        if let Err(e) = self.validate() {
            panic!("encoding invalid segment metadata: {e}");
        }
        let mut out = [0u8; SEGMENT_META_SIZE];
        let mut w = Writer::new(&mut out);
        w.zeros(4);
        w.u32(SEGMENT_META_MAGIC);
        w.u16(SEGMENT_META_VERSION);
        w.zeros(2);
        w.u32(self.pg_id.get());
        w.u64(self.epoch.get());
        w.u64(self.materialized_lsn.get());
        w.u64(self.scl.get());
        w.u64(self.sequence);
        w.u32(self.page_size.get());
        w.zeros(12);
        debug_assert_eq!(w.pos(), SEGMENT_META_SIZE);
        let sum = crc32c(&out[4..]);
        out[..4].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes the record at the front of `buf` (exactly `SEGMENT_META_SIZE` bytes are
    /// read; the rest is ignored).
    pub fn decode(buf: &[u8]) -> Result<SegmentMeta> {
        let bytes = prefix("segment meta", buf, SEGMENT_META_SIZE)?;
        let magic = peek_u32(bytes, 4).unwrap_or_default();
        if magic != SEGMENT_META_MAGIC {
            return Err(Error::BadMagic {
                what: "segment meta",
                expected: SEGMENT_META_MAGIC,
                got: magic,
            });
        }
        let mut r = Reader::new(bytes);
        let stored = r.u32();
        checksum::verify("segment meta", stored, &bytes[4..])?;
        r.skip(4);
        let version = r.u16();
        if version != SEGMENT_META_VERSION {
            return Err(Error::BadVersion {
                what: "segment meta",
                oldest: SEGMENT_META_VERSION,
                supported: SEGMENT_META_VERSION,
                got: version,
            });
        }
        check_zero(&mut r, 2)?;
        let pg_id = PgId::new(r.u32());
        let epoch = Epoch::new(r.u64());
        let materialized_lsn = Lsn::new(r.u64());
        let scl = Lsn::new(r.u64());
        let sequence = r.u64();
        let page_size = PageSize::new(r.u32())?;
        check_zero(&mut r, 12)?;
        let meta = SegmentMeta {
            pg_id,
            epoch,
            materialized_lsn,
            scl,
            sequence,
            page_size,
        };
        meta.validate()?;
        Ok(meta)
    }
}

fn check_zero(r: &mut Reader<'_>, len: usize) -> Result<()> {
    for _ in 0..len {
        let offset = r.pos();
        if r.u8() != 0 {
            return Err(Error::NonZeroReserved {
                what: "segment meta",
                offset,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SegmentMeta {
        SegmentMeta {
            pg_id: PgId::new(4),
            epoch: Epoch::new(2),
            materialized_lsn: Lsn::new(100),
            scl: Lsn::new(150),
            sequence: 9,
            page_size: PageSize::DEFAULT,
        }
    }

    #[test]
    fn round_trips() {
        let m = meta();
        assert_eq!(SegmentMeta::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn materialized_above_scl_is_refused() {
        let m = SegmentMeta {
            materialized_lsn: Lsn::new(151),
            ..meta()
        };
        assert!(matches!(m.validate(), Err(Error::LsnOutOfOrder { .. })));
    }

    #[test]
    fn zeros_are_bad_magic() {
        assert!(matches!(
            SegmentMeta::decode(&[0u8; SEGMENT_META_SIZE]),
            Err(Error::BadMagic { got: 0, .. })
        ));
    }
}
