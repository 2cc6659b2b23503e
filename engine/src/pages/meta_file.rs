//! One segment's durable metadata: `segment::SegmentMeta` plus the truncations still in
//! force, in two alternating 4 KiB slots.
//!
//! Slot `k` lives at byte `k * 4096`; a write with sequence `s` goes to slot `s % 2`
//! with `RWF_DSYNC` (one flush, NVMe-NOTES fact 5), so a torn write damages only the
//! slot being written and the other keeps the previous state. Open reads both and keeps
//! the valid one with the highest `sequence`.
//!
//! Slot layout (little-endian; the engine's own extension of the 64-byte
//! `SegmentMeta` of FORMAT.md):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 64 | `SegmentMeta` (checksums itself) |
//! | 64 | 4 | CRC-32C of bytes 68..4096 |
//! | 68 | 4 | truncation count `n`, `0..=META_TRUNCATIONS_MAX` |
//! | 72 | 24 × n | truncations: `epoch`, `start`, `end` (u64 each) |
//! | … | to 4096 | zero |
//!
//! The decoder refuses non-zero trailing bytes, so a valid slot has one encoding
//! (`segment/FORMAT.md`, "Segment metadata file").
//!
//! Why truncations live here: a `Truncate` journal record is recycled with its journal
//! file once the segment's materialized LSN passes the file, but the range must keep
//! refusing late arrivals until the floor passes its end. The coalescer writes this
//! record before it releases the journal, so the truncations outlive the record.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use boreal_segment::checksum::crc32c;
use boreal_segment::limits::SEGMENT_META_SIZE;
use boreal_segment::{Epoch, Lsn, PgId, SegmentMeta};

use super::error::{PageStoreError, io_err};
use super::slots::{SlotFile, newest};
use crate::hotlog::{LsnRange, Truncation};
use crate::io::{DmaBuf, Io};

/// Bytes of one metadata slot; slot `k` lives at byte `k * META_SLOT_BYTES`.
pub const META_SLOT_BYTES: usize = 4096;
const SLOT_BYTES: usize = META_SLOT_BYTES;
const TABLE_AT: usize = SEGMENT_META_SIZE;
const ENTRIES_AT: usize = TABLE_AT + 8;
const ENTRY_BYTES: usize = 24;
/// Most truncations a segment keeps at once (ones whose end is above the floor).
pub const META_TRUNCATIONS_MAX: usize = (SLOT_BYTES - ENTRIES_AT) / ENTRY_BYTES;

/// What the metadata file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableMeta {
    /// `sequence` is assigned by [`MetaFile::write`].
    pub meta: SegmentMeta,
    pub truncations: Vec<Truncation>,
}

impl DurableMeta {
    fn encode(&self, out: &mut [u8]) {
        assert_eq!(out.len(), SLOT_BYTES);
        assert!(self.truncations.len() <= META_TRUNCATIONS_MAX);
        out.fill(0);
        out[..SEGMENT_META_SIZE].copy_from_slice(&self.meta.encode());
        out[TABLE_AT + 4..ENTRIES_AT]
            .copy_from_slice(&(self.truncations.len() as u32).to_le_bytes());
        for (i, t) in self.truncations.iter().enumerate() {
            let at = ENTRIES_AT + i * ENTRY_BYTES;
            out[at..at + 8].copy_from_slice(&t.epoch.get().to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&t.range.start.get().to_le_bytes());
            out[at + 16..at + 24].copy_from_slice(&t.range.end.get().to_le_bytes());
        }
        let sum = crc32c(&out[TABLE_AT + 4..]);
        out[TABLE_AT..TABLE_AT + 4].copy_from_slice(&sum.to_le_bytes());
    }

    /// Decodes one slot (`META_SLOT_BYTES` bytes) of the metadata file of `pg`, or says
    /// why it is not a valid slot. Pure (no I/O), so offline tools check the same layout.
    pub fn decode(bytes: &[u8], pg: PgId) -> Result<DurableMeta, String> {
        if bytes.len() < SLOT_BYTES {
            return Err(format!("slot is {} bytes, not {SLOT_BYTES}", bytes.len()));
        }
        if bytes[..SLOT_BYTES].iter().all(|&b| b == 0) {
            return Err(NEVER_WRITTEN.into());
        }
        let meta = SegmentMeta::decode(bytes).map_err(|e| e.to_string())?;
        if meta.pg_id != pg {
            return Err(format!("metadata of {} in the file of {pg}", meta.pg_id));
        }
        let word = |at: usize| -> u64 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let half = |at: usize| -> u32 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(b)
        };
        if half(TABLE_AT) != crc32c(&bytes[TABLE_AT + 4..SLOT_BYTES]) {
            return Err("truncation table checksum mismatch".into());
        }
        let count = half(TABLE_AT + 4) as usize;
        if count > META_TRUNCATIONS_MAX {
            return Err(format!(
                "truncation count {count} above {META_TRUNCATIONS_MAX}"
            ));
        }
        if bytes[ENTRIES_AT + count * ENTRY_BYTES..SLOT_BYTES]
            .iter()
            .any(|&b| b != 0)
        {
            return Err("bytes after the truncations not zero".into());
        }
        let mut truncations = Vec::with_capacity(count);
        for i in 0..count {
            let at = ENTRIES_AT + i * ENTRY_BYTES;
            let (start, end) = (Lsn::new(word(at + 8)), Lsn::new(word(at + 16)));
            if start >= end {
                return Err(format!("empty truncation range ({start}, {end}]"));
            }
            truncations.push(Truncation {
                epoch: Epoch::new(word(at)),
                range: LsnRange::new(start, end),
            });
        }
        Ok(DurableMeta { meta, truncations })
    }
}

/// Why [`DurableMeta::decode`] refuses an all-zero slot: never written (slot 0 of a new
/// file), which is not damage.
pub const NEVER_WRITTEN: &str = "slot never written (zeros)";

/// A metadata slot that is neither valid nor zeros, as `MetaFile::open` found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaDamage {
    /// The file, the slot and why it is not valid.
    pub why: String,
    /// What the damaged slot still says of itself.
    pub state: DamagedState,
}

/// How far the state in a damaged metadata slot had gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamagedState {
    /// Its 64-byte `SegmentMeta` (checksummed on its own) is intact and older than the
    /// state kept: nothing newer was lost.
    Older,
    /// Its `SegmentMeta` is intact and newer than the state kept: the lost state had
    /// materialized up to this LSN, so the journal may have released records up to it.
    Newer { materialized_lsn: Lsn },
    /// Its `SegmentMeta` does not decode: nothing says how far it had gone.
    Unknown,
}

/// The metadata file of one segment. See the module docs.
#[derive(Debug)]
pub struct MetaFile<I: Io> {
    io: I,
    file: I::File,
    path: PathBuf,
    pg: PgId,
    /// Sequence of the newest valid slot.
    sequence: Cell<u64>,
}

/// The metadata file's two-slot file.
const SLOTS: SlotFile = SlotFile {
    slot_bytes: SLOT_BYTES,
    create: "create meta file",
    open: "open meta file",
    read: "read meta file",
    write: "write meta file",
    fsync_new: "fsync new meta file",
    fsync_dir: "fsync directory of new meta file",
};

impl<I: Io> MetaFile<I> {
    /// Creates (or empties) the file and makes `initial` durable as sequence 1, with
    /// its directory entry.
    pub async fn create(
        io: I,
        path: &Path,
        initial: &DurableMeta,
    ) -> Result<MetaFile<I>, PageStoreError> {
        // Both slots exist from the start (slot 0 zeros), so later writes never extend
        // the file.
        let mut first = initial.clone();
        first.meta.sequence = 1;
        let file = SLOTS.create(&io, path, |slot| first.encode(slot)).await?;
        Ok(MetaFile {
            io,
            file,
            path: path.to_path_buf(),
            pg: initial.meta.pg_id,
            sequence: Cell::new(1),
        })
    }

    /// Opens the file and returns the newest valid metadata, and why the other slot is
    /// not valid if it holds something other than zeros: a torn write of the newest
    /// state (safe: its coalescer pass never released the journal) or damage to it
    /// (then the metadata fell back to an older materialized LSN, and the journal may
    /// have released the records in between; `CoreEngine::open_dir` reports the gap).
    pub async fn open(
        io: I,
        path: &Path,
        pg: PgId,
    ) -> Result<(MetaFile<I>, DurableMeta, Option<MetaDamage>), PageStoreError> {
        // A damaged slot is read again before it is believed: a transient read error
        // must not make the older slot win (a stale materialized LSN).
        let (file, slots) = SLOTS
            .open(&io, path, |bytes| DurableMeta::decode(bytes, pg))
            .await?;
        let best = newest(&slots, |m| m.meta.sequence).map_err(|[slot0, slot1]| {
            PageStoreError::MetaCorrupt {
                path: path.to_path_buf(),
                slot0,
                slot1,
            }
        })?;
        let damaged = slots.iter().enumerate().find_map(|(k, s)| match s {
            Err(e) if e != NEVER_WRITTEN => Some((k, format!("{}: slot {k}: {e}", path.display()))),
            _ => None,
        });
        let mut other = None;
        if let Some((k, why)) = damaged {
            // Rare (damage or a torn write): read the slot again for its own
            // `SegmentMeta`, which has a checksum of its own.
            let at = (k * SLOT_BYTES) as u64;
            let (r, buf) = io
                .read_at(&file, DmaBuf::zeroed(SLOT_BYTES), SLOT_BYTES, at)
                .await;
            // Only the slot's first bytes (its `SegmentMeta`) are judged; the file is
            // whole (`SLOTS.open` checked its read against the file's size), so a read
            // short of them ended early and is an error, not an older state.
            let want = boreal_segment::limits::SEGMENT_META_SIZE;
            let got = r.map_err(io_err("metadata slot re-read", path, at))?;
            if got < want {
                return Err(PageStoreError::Short {
                    op: "metadata slot re-read",
                    path: path.to_path_buf(),
                    offset: at,
                    expected: want,
                    got,
                });
            }
            let state = match SegmentMeta::decode(buf.as_slice()) {
                Ok(m) if m.pg_id == pg && m.sequence > best.meta.sequence => DamagedState::Newer {
                    materialized_lsn: m.materialized_lsn,
                },
                Ok(m) if m.pg_id == pg => DamagedState::Older,
                _ => DamagedState::Unknown,
            };
            other = Some(MetaDamage { why, state });
        }
        let file = MetaFile {
            io,
            file,
            path: path.to_path_buf(),
            pg,
            sequence: Cell::new(best.meta.sequence),
        };
        Ok((file, best, other))
    }

    /// Durably writes `next` as the next sequence (into the other slot).
    pub async fn write(&self, next: &DurableMeta) -> Result<(), PageStoreError> {
        assert_eq!(next.meta.pg_id, self.pg);
        if next.truncations.len() > META_TRUNCATIONS_MAX {
            return Err(PageStoreError::TooManyTruncations {
                pg: self.pg,
                count: next.truncations.len(),
                max: META_TRUNCATIONS_MAX,
            });
        }
        let sequence = self.sequence.get() + 1;
        let mut record = next.clone();
        record.meta.sequence = sequence;
        SLOTS
            .write(&self.io, &self.file, &self.path, sequence, |slot| {
                record.encode(slot)
            })
            .await?;
        self.sequence.set(sequence);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use boreal_segment::PageSize;

    use super::*;

    #[test]
    fn round_trips_and_refuses_non_zero_tail_bytes() {
        let pg = PgId::new(9);
        let m = DurableMeta {
            meta: SegmentMeta {
                pg_id: pg,
                epoch: Epoch::new(2),
                materialized_lsn: Lsn::new(10),
                scl: Lsn::new(12),
                sequence: 5,
                page_size: PageSize::DEFAULT,
            },
            truncations: vec![Truncation {
                epoch: Epoch::new(2),
                range: LsnRange::new(Lsn::new(20), Lsn::new(30)),
            }],
        };
        let mut good = vec![0u8; SLOT_BYTES];
        m.encode(&mut good);
        assert_eq!(DurableMeta::decode(&good, pg), Ok(m));
        assert!(
            DurableMeta::decode(&good, PgId::new(8)).is_err(),
            "other PG"
        );
        let mut bad = good.clone();
        bad[ENTRIES_AT + ENTRY_BYTES] = 1;
        let sum = crc32c(&bad[TABLE_AT + 4..]);
        bad[TABLE_AT..TABLE_AT + 4].copy_from_slice(&sum.to_le_bytes());
        assert!(DurableMeta::decode(&bad, pg).is_err(), "tail byte set");
    }
}
