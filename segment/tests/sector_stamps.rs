//! Behaviour: a version-2 batch puts its logical bytes (header, records end to end,
//! zero padding) in the first 504 bytes of every 512-byte sector and ends every sector
//! with the batch's stamp, at every alignment; records of any size straddle the stamps
//! and decode back exactly, built at once or over paused and resumed calls.

mod common;

use boreal_segment::limits::{BATCH_HEADER_SIZE, STAMP_SECTOR_PAYLOAD, STAMP_SECTOR_SIZE};
use boreal_segment::{
    Alignment, BatchBuilder, BatchPlace, BatchSeq, Record, Region, classify, decode_batch, stamp,
};
use common::*;

/// Builds a batch of `records` at `place`, pausing and resuming after every
/// `pause_every` records (0: never).
fn build(place: BatchPlace, records: &[OwnedRecord], pause_every: usize) -> Vec<u8> {
    let mut buf = vec![0xC5u8; 1 << 17];
    let mut progress = BatchBuilder::new(&mut buf, place, BatchSeq::new(3))
        .unwrap()
        .pause();
    for chunk in records.chunks(pause_every.max(1)) {
        let mut b = BatchBuilder::resume(&mut buf, progress).unwrap();
        for r in chunk {
            b.push(&r.as_record()).unwrap();
        }
        progress = b.pause();
    }
    let header = BatchBuilder::resume(&mut buf, progress).unwrap().seal();
    buf.truncate(header.padded_len());
    buf
}

#[test]
fn records_of_every_size_straddle_stamps_and_round_trip() {
    for alignment in [512u32, 4096] {
        let place = BatchPlace {
            alignment: Alignment::new(alignment).unwrap(),
            ..fixed_place()
        };
        for body in 1..=600usize {
            let encoded = 56 + body;
            // At least four sectors' worth, so records cross several stamps.
            let count = (4 * STAMP_SECTOR_SIZE).div_ceil(encoded).max(3);
            let records: Vec<OwnedRecord> = (0..count as u64)
                .map(|i| small_redo(10 + i, &vec![(body as u8) ^ (i as u8); body]))
                .collect();
            let batch = build(place, &records, 0);
            assert_eq!(batch.len(), batch_len(place, &records), "body {body}");
            assert_eq!(build(place, &records, 2), batch, "paused, body {body}");

            // The physical layout: every sector ends with the stamp.
            let sum = u32::from_le_bytes(batch[..4].try_into().unwrap());
            let body_sum = u32::from_le_bytes(batch[4..8].try_into().unwrap());
            let expected = stamp::stamp(body_sum, sum).to_le_bytes();
            for (s, sector) in batch.chunks(STAMP_SECTOR_SIZE).enumerate() {
                assert_eq!(
                    sector[STAMP_SECTOR_PAYLOAD..],
                    expected,
                    "body {body}, sector {s}"
                );
            }
            // The logical stream: the records end to end, then zeros.
            let mut encodings = Vec::new();
            for r in &records {
                r.as_record().encode_to_vec(&mut encodings).unwrap();
            }
            let logical = logical_bytes(&batch);
            let end = BATCH_HEADER_SIZE + encodings.len();
            assert!(
                logical[BATCH_HEADER_SIZE..end] == encodings[..],
                "body {body}"
            );
            assert!(logical[end..].iter().all(|&b| b == 0), "body {body}");

            let mut copy = batch.clone();
            let view = decode_batch(&mut copy, &place).unwrap();
            let back: Vec<Record<'_>> = view.records().collect::<Result<_, _>>().unwrap();
            let want: Vec<Record<'_>> = records.iter().map(OwnedRecord::as_record).collect();
            assert_eq!(back, want, "body {body}");
            assert!(matches!(
                classify(&mut batch.clone(), &place),
                Region::Valid(_)
            ));
        }
    }
}

#[test]
fn a_record_larger_than_a_sector_crosses_many_stamps() {
    let place = BatchPlace {
        alignment: Alignment::new(512).unwrap(),
        ..fixed_place()
    };
    for body in [503usize, 504, 1000, 4096, 20_000, 65_000] {
        let records = vec![small_redo(7, &[0x3C; 5]), small_redo(9, &vec![0xA5; body])];
        let batch = build(place, &records, 1);
        let mut copy = batch.clone();
        let view = decode_batch(&mut copy, &place).unwrap();
        let back: Vec<Record<'_>> = view.records().collect::<Result<_, _>>().unwrap();
        let want: Vec<Record<'_>> = records.iter().map(OwnedRecord::as_record).collect();
        assert_eq!(back, want, "body {body}");
    }
}
