//! Behaviour: every single-bit flip anywhere in an encoding (header, body, padding) is
//! detected by its decoder. Exhaustive over bits for representative encodings of every
//! format.

mod common;

use boreal_segment::frame::{FrameHeader, decode_frame, encode_frame};
use boreal_segment::limits::PAGE_HEADER_SIZE;
use boreal_segment::{
    Alignment, BatchPlace, Epoch, Generation, JournalFileHeader, JournalFileId, Lsn, PageId,
    PageSize, PgId, Record, Region, SegmentMeta, Truncate, classify, decode_batch, decode_page,
    seal_page,
};
use common::*;

/// Calls `check` on `bytes` with each single bit flipped, and says which flips passed.
fn undetected_flips(bytes: &[u8], check: impl Fn(&[u8]) -> bool) -> Vec<usize> {
    let mut copy = bytes.to_vec();
    let mut missed = Vec::new();
    for bit in 0..bytes.len() * 8 {
        copy[bit / 8] ^= 1 << (bit % 8);
        if check(&copy) {
            missed.push(bit);
        }
        copy[bit / 8] ^= 1 << (bit % 8);
    }
    missed
}

fn meta() -> SegmentMeta {
    SegmentMeta {
        pg_id: PgId::new(7),
        epoch: Epoch::new(3),
        materialized_lsn: Lsn::new(1000),
        scl: Lsn::new(1200),
        sequence: 41,
        page_size: PageSize::DEFAULT,
    }
}

fn representative_records() -> Vec<OwnedRecord> {
    vec![
        small_redo(100, b"a small delta of a few bytes"),
        small_redo(101, b""),
        OwnedRecord::Truncate(Truncate {
            pg_id: PgId::new(7),
            epoch: Epoch::new(4),
            start: Lsn::new(1000),
            end: Lsn::new(2000),
        }),
        OwnedRecord::Meta(meta()),
        OwnedRecord::Redo {
            lsn: 500,
            prev_lsn_pg: 400,
            prev_lsn_page: 0,
            pg_id: 1,
            page_id: 2,
            cpl: true,
            image: true,
            offset: 0,
            bytes: vec![0xC3; 4096 - PAGE_HEADER_SIZE],
        },
    ]
}

#[test]
fn every_bit_flip_in_a_record_is_detected() {
    for owned in representative_records() {
        let mut bytes = Vec::new();
        owned.as_record().encode_to_vec(&mut bytes).unwrap();
        let missed = undetected_flips(&bytes, |b| Record::decode(b).is_ok());
        assert!(missed.is_empty(), "{owned:?}: undetected bits {missed:?}");
    }
}

/// Every flip in a batch's logical bytes is detected; a flip in a sector's stamp is
/// not damage (the records are intact and checked), so it leaves the batch valid.
#[test]
fn every_bit_flip_in_a_batch_is_detected_and_never_classified_valid() {
    for alignment in [512, 4096] {
        let place = BatchPlace {
            alignment: Alignment::new(alignment).unwrap(),
            ..fixed_place()
        };
        let records: Vec<OwnedRecord> = representative_records().into_iter().take(4).collect();
        let bytes = build_batch(place, &records, 8192);
        let missed = undetected_flips(&bytes, |b| {
            decode_batch(&mut b.to_vec(), &place).is_ok()
                || matches!(classify(&mut b.to_vec(), &place), Region::Valid(_))
        });
        let stamp_bits: Vec<usize> = (0..bytes.len() * 8).filter(|b| in_stamp(b / 8)).collect();
        assert_eq!(
            missed, stamp_bits,
            "alignment {alignment}: only flips in stamps may leave the batch valid"
        );
    }
}

#[test]
fn every_bit_flip_in_a_journal_file_header_is_detected() {
    let h = JournalFileHeader {
        version: boreal_segment::JournalVersion::CURRENT,
        file_id: JournalFileId::new(9),
        generation: Generation::new(12),
        alignment: Alignment::JOURNAL,
        file_size: 256 << 20,
    };
    let bytes = h.to_vec().unwrap();
    let missed = undetected_flips(&bytes, |b| JournalFileHeader::decode(b).is_ok());
    assert!(missed.is_empty(), "undetected bits {missed:?}");
}

#[test]
fn every_bit_flip_in_a_page_is_detected() {
    let size = PageSize::new(4096).unwrap();
    let mut page: Vec<u8> = (0..4096).map(|i| (i * 7) as u8).collect();
    seal_page(&mut page, PageId::new(31), Lsn::new(900)).unwrap();
    let missed = undetected_flips(&page, |b| decode_page(b, size, PageId::new(31)).is_ok());
    assert!(missed.is_empty(), "undetected bits {missed:?}");
}

#[test]
fn every_bit_flip_in_segment_meta_is_detected() {
    let bytes = meta().encode();
    let missed = undetected_flips(&bytes, |b| SegmentMeta::decode(b).is_ok());
    assert!(missed.is_empty(), "undetected bits {missed:?}");
}

#[test]
fn every_bit_flip_in_a_frame_is_detected() {
    let mut bytes = Vec::new();
    encode_frame(3, 99, b"a frame body of some length", &mut bytes).unwrap();
    let missed = undetected_flips(&bytes, |b| decode_frame(b).is_ok());
    assert!(missed.is_empty(), "undetected bits {missed:?}");
    // The header alone (what a reader checks before allocating) catches header flips.
    let header = &bytes[..32];
    let missed = undetected_flips(header, |b| FrameHeader::decode(b).is_ok());
    assert!(missed.is_empty(), "undetected header bits {missed:?}");
}
