//! Shared proptest strategies and fixtures for the behaviour tests.
//!
//! Records borrow their bodies, so strategies produce an owned description
//! (`OwnedRecord`) and tests borrow a `Record` from it.

#![allow(dead_code)] // each test binary uses a different subset

use boreal_segment::limits::{PAGE_HEADER_SIZE, PAGE_PAYLOAD_MAX};
use boreal_segment::{
    Alignment, BatchBuilder, BatchPlace, BatchSeq, Change, Epoch, Generation, JournalFileId,
    JournalVersion, Lsn, PageId, PageSize, PgId, Record, Redo, SegmentMeta, Truncate,
};
use proptest::prelude::*;

/// An owned record that a test can borrow a `Record` from.
#[derive(Clone, Debug)]
pub enum OwnedRecord {
    Redo {
        lsn: u64,
        prev_lsn_pg: u64,
        prev_lsn_page: u64,
        pg_id: u32,
        page_id: u64,
        cpl: bool,
        image: bool,
        offset: u32,
        bytes: Vec<u8>,
    },
    Truncate(Truncate),
    Meta(SegmentMeta),
}

impl OwnedRecord {
    pub fn as_record(&self) -> Record<'_> {
        match self {
            OwnedRecord::Redo {
                lsn,
                prev_lsn_pg,
                prev_lsn_page,
                pg_id,
                page_id,
                cpl,
                image,
                offset,
                bytes,
            } => Record::Redo(Redo {
                lsn: Lsn::new(*lsn),
                prev_lsn_pg: Lsn::new(*prev_lsn_pg),
                prev_lsn_page: Lsn::new(*prev_lsn_page),
                pg_id: PgId::new(*pg_id),
                page_id: PageId::new(*page_id),
                cpl: *cpl,
                change: if *image {
                    Change::Image(bytes)
                } else {
                    Change::Delta {
                        offset: *offset,
                        bytes,
                    }
                },
            }),
            OwnedRecord::Truncate(t) => Record::Truncate(*t),
            OwnedRecord::Meta(m) => Record::SegmentMeta(*m),
        }
    }
}

/// A page size, weighted towards small ones to keep tests fast.
pub fn page_size() -> impl Strategy<Value = PageSize> {
    prop_oneof![
        4 => Just(4096u32),
        2 => Just(8192u32),
        1 => Just(16384u32),
        1 => Just(65536u32),
    ]
    .prop_map(|b| PageSize::new(b).unwrap())
}

pub fn alignment() -> impl Strategy<Value = Alignment> {
    (9u8..=12).prop_map(|l| Alignment::from_log2(l).unwrap())
}

/// Three ordered LSNs: `prev_lsn_page <= prev_lsn_pg < lsn`.
fn redo_lsns() -> impl Strategy<Value = (u64, u64, u64)> {
    (1u64..=u64::MAX)
        .prop_flat_map(|lsn| (Just(lsn), 0..lsn))
        .prop_flat_map(|(lsn, pg)| (Just(lsn), Just(pg), 0..=pg))
}

pub fn redo_delta() -> impl Strategy<Value = OwnedRecord> {
    (
        redo_lsns(),
        any::<u32>(),
        any::<u64>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_flat_map(|(lsns, pg_id, page_id, cpl, bytes)| {
            let offset_max = (PAGE_PAYLOAD_MAX - bytes.len()) as u32;
            (Just((lsns, pg_id, page_id, cpl, bytes)), 0..=offset_max)
        })
        .prop_map(
            |(((lsn, prev_lsn_pg, prev_lsn_page), pg_id, page_id, cpl, bytes), offset)| {
                OwnedRecord::Redo {
                    lsn,
                    prev_lsn_pg,
                    prev_lsn_page,
                    pg_id,
                    page_id,
                    cpl,
                    image: false,
                    offset,
                    bytes,
                }
            },
        )
}

pub fn redo_image() -> impl Strategy<Value = OwnedRecord> {
    (
        redo_lsns(),
        any::<u32>(),
        any::<u64>(),
        any::<bool>(),
        page_size(),
        any::<u8>(),
    )
        .prop_map(
            |((lsn, prev_lsn_pg, prev_lsn_page), pg_id, page_id, cpl, size, seed)| {
                let bytes = (0..size.bytes() - PAGE_HEADER_SIZE)
                    .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                    .collect();
                OwnedRecord::Redo {
                    lsn,
                    prev_lsn_pg,
                    prev_lsn_page,
                    pg_id,
                    page_id,
                    cpl,
                    image: true,
                    offset: 0,
                    bytes,
                }
            },
        )
}

pub fn truncate() -> impl Strategy<Value = Truncate> {
    (any::<u32>(), any::<u64>(), 0u64..u64::MAX)
        .prop_flat_map(|(pg, epoch, start)| (Just((pg, epoch, start)), start + 1..=u64::MAX))
        .prop_map(|((pg, epoch, start), end)| Truncate {
            pg_id: PgId::new(pg),
            epoch: Epoch::new(epoch),
            start: Lsn::new(start),
            end: Lsn::new(end),
        })
}

pub fn segment_meta() -> impl Strategy<Value = SegmentMeta> {
    (
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        page_size(),
    )
        .prop_map(|(pg, epoch, a, b, sequence, page_size)| SegmentMeta {
            pg_id: PgId::new(pg),
            epoch: Epoch::new(epoch),
            materialized_lsn: Lsn::new(a.min(b)),
            scl: Lsn::new(a.max(b)),
            sequence,
            page_size,
        })
}

/// Any record kind; images are rare because they are large.
pub fn record() -> impl Strategy<Value = OwnedRecord> {
    prop_oneof![
        12 => redo_delta(),
        1 => redo_image(),
        2 => truncate().prop_map(OwnedRecord::Truncate),
        2 => segment_meta().prop_map(OwnedRecord::Meta),
    ]
}

/// Where a batch goes: any file id and generation, an aligned offset past the header,
/// either journal version (mostly the current one).
pub fn place() -> impl Strategy<Value = BatchPlace> {
    (
        any::<u64>(),
        any::<u64>(),
        alignment(),
        1u64..1 << 20,
        prop_oneof![3 => Just(JournalVersion::CURRENT), 1 => Just(JournalVersion::V1)],
    )
        .prop_map(|(file, generation, alignment, block, version)| BatchPlace {
            file_id: JournalFileId::new(file),
            generation: Generation::new(generation),
            alignment,
            file_offset: block * u64::from(alignment.get()).max(4096),
            version,
        })
}

/// A fixed place for example-based tests.
pub fn fixed_place() -> BatchPlace {
    BatchPlace {
        file_id: JournalFileId::new(11),
        generation: Generation::new(3),
        alignment: Alignment::JOURNAL,
        file_offset: 8192,
        version: JournalVersion::CURRENT,
    }
}

/// A small redo delta record.
pub fn small_redo(lsn: u64, body: &[u8]) -> OwnedRecord {
    OwnedRecord::Redo {
        lsn,
        prev_lsn_pg: lsn - 1,
        prev_lsn_page: lsn / 2,
        pg_id: 5,
        page_id: lsn * 3,
        cpl: lsn.is_multiple_of(2),
        image: false,
        offset: 16,
        bytes: body.to_vec(),
    }
}

/// Bytes a batch of `records` takes at `place`.
pub fn batch_len(place: BatchPlace, records: &[OwnedRecord]) -> usize {
    let body: usize = records.iter().map(|r| r.as_record().encoded_len()).sum();
    boreal_segment::batch_len(place.version, place.alignment, body)
}

/// The logical stream of a stamped (version 2) batch: every sector's first 504 bytes.
pub fn logical_bytes(batch: &[u8]) -> Vec<u8> {
    use boreal_segment::limits::{STAMP_SECTOR_PAYLOAD, STAMP_SECTOR_SIZE};
    batch
        .chunks(STAMP_SECTOR_SIZE)
        .flat_map(|s| &s[..s.len().min(STAMP_SECTOR_PAYLOAD)])
        .copied()
        .collect()
}

/// Whether physical byte `at` of a stamped batch is part of a sector's stamp.
pub fn in_stamp(at: usize) -> bool {
    at % boreal_segment::limits::STAMP_SECTOR_SIZE >= boreal_segment::limits::STAMP_SECTOR_PAYLOAD
}

/// Builds a batch of `records` for `place` into a buffer of `buf_len` bytes; returns the
/// whole buffer truncated to the batch's padded length.
pub fn build_batch(place: BatchPlace, records: &[OwnedRecord], buf_len: usize) -> Vec<u8> {
    let mut buf = vec![0x5Au8; buf_len];
    let mut builder = BatchBuilder::new(&mut buf, place, BatchSeq::new(77)).unwrap();
    for r in records {
        builder.push(&r.as_record()).unwrap();
    }
    let header = builder.seal();
    buf.truncate(header.padded_len());
    buf
}
