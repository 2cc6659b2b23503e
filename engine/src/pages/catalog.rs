//! The core's segment catalog: which PGs this core holds, with their page size and page
//! range, in two alternating slots written with `RWF_DSYNC`.
//!
//! The `Io` seam has no directory listing, and a segment whose journal records were all
//! recycled leaves no trace in the journal, so recovery learns the segments from here.
//! A segment enters the catalog only after its page and metadata files are durable.
//!
//! Slot `k` (16 KiB) lives at byte `k * 16384`. Layout (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | CRC-32C of bytes 4..16384 |
//! | 4 | 4 | magic `BRLC` |
//! | 8 | 2 | version 1 |
//! | 10 | 2 | reserved, zero |
//! | 12 | 4 | entry count `n`, `0..=CATALOG_SEGMENTS_MAX` |
//! | 16 | 8 | sequence (the valid slot with the highest wins) |
//! | 24 | 24 × n | entries: `pg_id` u32, `page_size` u32, `first_page` u64, `page_count` u64 |
//! | … | to 16384 | zero |
//!
//! The decoder refuses non-zero reserved or trailing bytes, so a valid slot has one
//! encoding (`segment/FORMAT.md`, "Catalog").

use std::cell::Cell;
use std::path::{Path, PathBuf};

use boreal_segment::checksum::crc32c;
use boreal_segment::{PageSize, PgId};

use super::error::PageStoreError;
use super::slots::{SlotFile, newest};
use crate::io::Io;

/// Bytes of one catalog slot; slot `k` lives at byte `k * CATALOG_SLOT_BYTES`.
pub const CATALOG_SLOT_BYTES: usize = 16384;
const SLOT_BYTES: usize = CATALOG_SLOT_BYTES;
const MAGIC: u32 = u32::from_le_bytes(*b"BRLC");
const VERSION: u16 = 1;
const ENTRIES_AT: usize = 24;
const ENTRY_BYTES: usize = 24;
/// Most segments one core can hold.
pub const CATALOG_SEGMENTS_MAX: usize = (SLOT_BYTES - ENTRIES_AT) / ENTRY_BYTES;

/// One segment the core holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub pg: PgId,
    pub page_size: PageSize,
    /// First page of the PG's range.
    pub first_page: u64,
    /// Pages in the PG's range.
    pub page_count: u64,
}

fn encode(entries: &[CatalogEntry], sequence: u64, out: &mut [u8]) {
    assert!(entries.len() <= CATALOG_SEGMENTS_MAX);
    out.fill(0);
    out[4..8].copy_from_slice(&MAGIC.to_le_bytes());
    out[8..10].copy_from_slice(&VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    out[16..24].copy_from_slice(&sequence.to_le_bytes());
    for (i, e) in entries.iter().enumerate() {
        let at = ENTRIES_AT + i * ENTRY_BYTES;
        out[at..at + 4].copy_from_slice(&e.pg.get().to_le_bytes());
        out[at + 4..at + 8].copy_from_slice(&e.page_size.get().to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&e.first_page.to_le_bytes());
        out[at + 16..at + 24].copy_from_slice(&e.page_count.to_le_bytes());
    }
    let sum = crc32c(&out[4..]);
    out[..4].copy_from_slice(&sum.to_le_bytes());
}

/// Decodes one catalog slot (`CATALOG_SLOT_BYTES` bytes): its sequence and entries, or
/// why it is not a valid slot. Pure (no I/O), so offline tools check the same layout.
pub fn decode_catalog_slot(bytes: &[u8]) -> Result<(u64, Vec<CatalogEntry>), String> {
    if bytes.len() < SLOT_BYTES {
        return Err(format!("slot is {} bytes, not {SLOT_BYTES}", bytes.len()));
    }
    let bytes = &bytes[..SLOT_BYTES];
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let u64_at = |at: usize| u64::from(u32_at(at)) | (u64::from(u32_at(at + 4)) << 32);
    if u32_at(4) != MAGIC {
        return Err(format!("bad magic {:#010x}", u32_at(4)));
    }
    if u32_at(0) != crc32c(&bytes[4..]) {
        return Err("checksum mismatch".into());
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    if bytes[10..12] != [0, 0] {
        return Err("reserved bytes 10..12 not zero".into());
    }
    let count = u32_at(12) as usize;
    if count > CATALOG_SEGMENTS_MAX {
        return Err(format!("entry count {count} above {CATALOG_SEGMENTS_MAX}"));
    }
    if bytes[ENTRIES_AT + count * ENTRY_BYTES..]
        .iter()
        .any(|&b| b != 0)
    {
        return Err("bytes after the entries not zero".into());
    }
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let at = ENTRIES_AT + i * ENTRY_BYTES;
        let page_size = PageSize::new(u32_at(at + 4)).map_err(|e| e.to_string())?;
        entries.push(CatalogEntry {
            pg: PgId::new(u32_at(at)),
            page_size,
            first_page: u64_at(at + 8),
            page_count: u64_at(at + 16),
        });
    }
    Ok((u64_at(16), entries))
}

/// The catalog file. See the module docs.
#[derive(Debug)]
pub struct Catalog<I: Io> {
    io: I,
    file: I::File,
    path: PathBuf,
    sequence: Cell<u64>,
}

/// The catalog's two-slot file.
const SLOTS: SlotFile = SlotFile {
    slot_bytes: SLOT_BYTES,
    create: "create catalog",
    open: "open catalog",
    read: "read catalog",
    write: "write catalog",
    fsync_new: "fsync new catalog",
    fsync_dir: "fsync directory of new catalog",
};

impl<I: Io> Catalog<I> {
    /// Creates an empty catalog (sequence 1), durably.
    pub async fn create(io: I, path: &Path) -> Result<Catalog<I>, PageStoreError> {
        let file = SLOTS.create(&io, path, |slot| encode(&[], 1, slot)).await?;
        Ok(Catalog {
            io,
            file,
            path: path.to_path_buf(),
            sequence: Cell::new(1),
        })
    }

    /// Opens the catalog and returns its entries.
    pub async fn open(
        io: I,
        path: &Path,
    ) -> Result<(Catalog<I>, Vec<CatalogEntry>), PageStoreError> {
        // A damaged slot is read again before it is believed: a transient read error
        // must not make the older slot win (a catalog missing a segment).
        let (file, slots) = SLOTS.open(&io, path, decode_catalog_slot).await?;
        let (sequence, entries) = newest(&slots, |(seq, _)| *seq).map_err(|[slot0, slot1]| {
            PageStoreError::CatalogCorrupt {
                path: path.to_path_buf(),
                slot0,
                slot1,
            }
        })?;
        let catalog = Catalog {
            io,
            file,
            path: path.to_path_buf(),
            sequence: Cell::new(sequence),
        };
        Ok((catalog, entries))
    }

    /// Durably replaces the list of segments.
    pub async fn write(&self, entries: &[CatalogEntry]) -> Result<(), PageStoreError> {
        if entries.len() > CATALOG_SEGMENTS_MAX {
            return Err(PageStoreError::CatalogFull {
                max: CATALOG_SEGMENTS_MAX,
            });
        }
        let sequence = self.sequence.get() + 1;
        SLOTS
            .write(&self.io, &self.file, &self.path, sequence, |slot| {
                encode(entries, sequence, slot)
            })
            .await?;
        self.sequence.set(sequence);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(entries: &[CatalogEntry]) -> Vec<u8> {
        let mut out = vec![0u8; SLOT_BYTES];
        encode(entries, 7, &mut out);
        out
    }

    fn reseal(bytes: &mut [u8]) {
        let sum = crc32c(&bytes[4..]);
        bytes[..4].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn round_trips_and_refuses_non_zero_reserved_or_tail_bytes() {
        let e = CatalogEntry {
            pg: PgId::new(3),
            page_size: PageSize::DEFAULT,
            first_page: 1 << 20,
            page_count: 128,
        };
        let good = slot(&[e]);
        assert_eq!(decode_catalog_slot(&good), Ok((7, vec![e])));
        assert!(
            decode_catalog_slot(&vec![0u8; SLOT_BYTES]).is_err(),
            "zeros"
        );
        for at in [10, ENTRIES_AT + ENTRY_BYTES, SLOT_BYTES - 1] {
            let mut bad = good.clone();
            bad[at] = 1;
            reseal(&mut bad);
            assert!(decode_catalog_slot(&bad).is_err(), "byte {at} set");
        }
    }
}
