//! Behaviour: `classify` tells recovery, for any aligned region of a journal file,
//! whether it holds a valid batch, a torn one, zeros or garbage (including a valid batch
//! of an older generation, of another file, or written at another offset), and, for a
//! torn one, whether the write landed in full (every sector carries the batch's stamp)
//! or was torn.

mod common;

use boreal_segment::{
    Alignment, BatchPlace, Error, Generation, JournalFileHeader, JournalFileId, JournalVersion,
    Region, classify,
};
use common::*;

/// What a region is, without the records (a failing test prints this, not 12 KiB).
fn describe(region: &Region<'_>) -> String {
    match region {
        Region::Valid(view) => format!("valid, {} records", view.header().record_count),
        Region::Torn {
            reason, complete, ..
        } => format!("torn (complete: {complete}): {reason}"),
        Region::Zeros => "zeros".into(),
        Region::Garbage(e) => format!("garbage: {e}"),
    }
}

/// A batch spanning several 4 KiB blocks (so tears can land inside it).
fn multi_block_batch(place: BatchPlace) -> Vec<u8> {
    let records: Vec<OwnedRecord> = (1..=40)
        .map(|i| small_redo(i * 10, &vec![i as u8; 250]))
        .collect();
    let bytes = build_batch(place, &records, 1 << 16);
    assert!(bytes.len() >= 3 * 4096, "batch should span blocks");
    bytes
}

#[test]
fn a_complete_batch_is_valid_and_says_where_the_next_starts() {
    let place = fixed_place();
    let mut region = multi_block_batch(place);
    let len = region.len();
    region.extend_from_slice(&[0u8; 8192]); // the rest of the file
    match classify(&mut region, &place) {
        Region::Valid(view) => {
            assert_eq!(view.padded_len(), len);
            assert_eq!(view.records().count(), 40);
        }
        other => panic!("expected valid, got {other:?}"),
    }
    // Nothing past the batch is touched.
    assert!(region[len..].iter().all(|&b| b == 0));
}

/// Tears the batch at every 512-byte boundary: bytes from `at` on are what the disk
/// held before (`old`), as after a crash in the middle of the write. A torn write is
/// never taken for a complete one (`complete` is false), whatever it tore over.
fn tear_everywhere(old: &dyn Fn(usize) -> u8) {
    let place = fixed_place();
    let batch = multi_block_batch(place);
    for at in (0..batch.len()).step_by(512) {
        let mut region = batch.clone();
        for (i, b) in region.iter_mut().enumerate().skip(at) {
            *b = old(i);
        }
        let same_logical = logical_bytes(&region) == logical_bytes(&batch);
        let zeros_at_0 = region[..4096].iter().all(|&b| b == 0);
        let got = classify(&mut region, &place);
        if same_logical {
            // The tear changed stamps only (it hit padding that held the same zeros).
            assert!(matches!(got, Region::Valid(_)), "tear at {at}: {got:?}");
        } else if at == 0 {
            match got {
                Region::Zeros => assert!(zeros_at_0, "tear at 0"),
                Region::Garbage(Error::BadMagic { .. }) => assert!(!zeros_at_0),
                other => panic!("tear at 0: {}", describe(&other)),
            }
        } else {
            match got {
                Region::Torn {
                    header,
                    reason,
                    complete,
                } => {
                    assert_eq!(header.place(), place);
                    assert!(
                        matches!(
                            reason,
                            Error::Checksum {
                                what: "batch body",
                                ..
                            }
                        ),
                        "tear at {at}: {reason}"
                    );
                    assert!(!complete, "tear at {at} taken for a complete write");
                }
                other => panic!("tear at {at}: expected torn, got {}", describe(&other)),
            }
        }
    }
}

#[test]
fn a_batch_torn_at_every_sector_over_zeros_is_torn() {
    tear_everywhere(&|_| 0x00);
}

#[test]
fn a_batch_torn_at_every_sector_over_old_bytes_is_torn() {
    tear_everywhere(&|_| 0xA7);
    tear_everywhere(&|i| (i as u8).wrapping_mul(13));
}

/// Over an older write of the same place with the same sequence (what a cut tail
/// becomes when appends resume there) but other records: the old sectors carry the old
/// batch's stamp, never the new one's.
#[test]
fn a_batch_torn_over_an_earlier_write_of_the_same_place_and_sequence_is_incomplete() {
    let place = fixed_place();
    let new = multi_block_batch(place);
    let records: Vec<OwnedRecord> = (1..=40)
        .map(|i| small_redo(i * 10, &vec![i as u8 ^ 0x55; 250]))
        .collect();
    let old = build_batch(place, &records, 1 << 16);
    assert_eq!(old.len(), new.len());
    for at in (512..new.len()).step_by(512) {
        let mut region = new.clone();
        region[at..].copy_from_slice(&old[at..]);
        if logical_bytes(&region) == logical_bytes(&new) {
            // Only padding sectors (zeros in both) came from the old write.
            assert!(matches!(classify(&mut region, &place), Region::Valid(_)));
            continue;
        }
        match classify(&mut region, &place) {
            Region::Torn { complete, .. } => assert!(!complete, "tear at {at}"),
            other => panic!("tear at {at}: {}", describe(&other)),
        }
        // Only some sectors landed, in any order: still incomplete.
        let mut region = old.clone();
        region[at - 512..at].copy_from_slice(&new[at - 512..at]);
        region[..512].copy_from_slice(&new[..512]);
        match classify(&mut region, &place) {
            Region::Torn { complete, .. } => assert!(!complete, "sector {at} landed alone"),
            other => panic!("sector at {at}: {}", describe(&other)),
        }
    }
}

/// A write that landed in full and was damaged afterwards keeps every stamp: a bit
/// flipped in any byte of the body is a torn region whose write was complete.
#[test]
fn a_bit_flip_anywhere_in_the_body_of_a_complete_write_says_complete() {
    let place = fixed_place();
    let batch = multi_block_batch(place);
    for at in 72..batch.len() {
        if in_stamp(at) {
            continue;
        }
        let mut region = batch.clone();
        region[at] ^= 1 << (at % 8);
        match classify(&mut region, &place) {
            Region::Torn { complete, .. } => assert!(complete, "flip at {at}"),
            other => panic!("flip at {at}: {}", describe(&other)),
        }
    }
}

/// A bit flip in a stamp does not damage the data: a valid batch stays valid, and a
/// damaged one stays complete, up to three flipped bits per stamp.
#[test]
fn flips_in_stamps_are_tolerated_up_to_three_bits() {
    let place = fixed_place();
    let batch = multi_block_batch(place);
    let stamps: Vec<usize> = (0..batch.len()).filter(|&at| in_stamp(at)).collect();
    for &at in &stamps {
        let mut region = batch.clone();
        region[at] ^= 0x10;
        assert!(
            matches!(classify(&mut region, &place), Region::Valid(_)),
            "flip at {at}"
        );
        // Plus a flip in the body (in another sector, or the same one).
        for body_at in [200, at - 8, batch.len() - 100] {
            let mut region = batch.clone();
            region[at] ^= 0x10;
            region[body_at] ^= 0x01;
            match classify(&mut region, &place) {
                Region::Torn { complete, .. } => assert!(complete, "stamp {at}, body {body_at}"),
                other => panic!("stamp {at}, body {body_at}: {}", describe(&other)),
            }
        }
    }
    // Three bits of one stamp: still carried; four: not (the sector looks foreign).
    let sector = 512 + 504;
    for (bits, complete_expected) in [(0b0111u8, true), (0b1111, false)] {
        let mut region = batch.clone();
        region[sector] ^= bits;
        region[300] ^= 0x01;
        match classify(&mut region, &place) {
            Region::Torn { complete, .. } => assert_eq!(complete, complete_expected, "{bits:#b}"),
            other => panic!("{other:?}"),
        }
    }
}

/// Version 1 batches (no stamps) are still read where the file says version 1, never
/// where it says version 2, and the reverse.
#[test]
fn each_version_is_read_only_where_its_file_says_so() {
    let v2 = fixed_place();
    let v1 = BatchPlace {
        version: JournalVersion::V1,
        ..v2
    };
    let records: Vec<OwnedRecord> = (1..=40)
        .map(|i| small_redo(i * 10, &vec![i as u8; 250]))
        .collect();
    let old = build_batch(v1, &records, 1 << 16);
    let new = build_batch(v2, &records, 1 << 16);
    assert_eq!(old.len(), batch_len(v1, &records));
    assert_eq!(new.len(), batch_len(v2, &records));
    assert!(
        matches!(classify(&mut old.clone(), &v1), Region::Valid(v) if v.records().count() == 40)
    );
    assert!(
        matches!(classify(&mut new.clone(), &v2), Region::Valid(v) if v.records().count() == 40)
    );
    for (bytes, place) in [(&old, &v2), (&new, &v1)] {
        match classify(&mut bytes.clone(), place) {
            Region::Garbage(Error::InvalidField { field, .. }) => assert_eq!(field, "version"),
            other => panic!("{other:?}"),
        }
    }
    // A version-1 batch of an older generation in a version-2 file is stale.
    let recycled = BatchPlace {
        generation: Generation::new(v2.generation.get() + 1),
        ..v2
    };
    assert!(matches!(
        classify(&mut old.clone(), &recycled),
        Region::Garbage(Error::WrongGeneration { .. })
    ));
    // A damaged version-1 batch never claims a complete write.
    let mut damaged = old.clone();
    damaged[1000] ^= 1;
    assert!(matches!(
        classify(&mut damaged, &v1),
        Region::Torn {
            complete: false,
            ..
        }
    ));
}

#[test]
fn a_batch_cut_short_by_the_end_of_the_read_is_torn() {
    let place = fixed_place();
    let batch = multi_block_batch(place);
    for at in (512..batch.len()).step_by(512) {
        match classify(&mut batch[..at].to_vec(), &place) {
            Region::Torn {
                reason: Error::Truncated { needed, got, .. },
                ..
            } => {
                assert_eq!((needed, got), (batch.len(), at));
            }
            other => panic!("cut at {at}: {other:?}"),
        }
    }
}

#[test]
fn a_zeroed_block_is_zeros() {
    let place = fixed_place();
    assert_eq!(classify(&mut [0u8; 4096], &place), Region::Zeros);
    assert_eq!(classify(&mut [0u8; 100], &place), Region::Zeros);
    // Zeros in the header but data later in the block is not "never written".
    let mut block = vec![0u8; 4096];
    block[3000] = 1;
    assert!(matches!(
        classify(&mut block, &place),
        Region::Garbage(Error::BadMagic { got: 0, .. })
    ));
}

#[test]
fn garbage_is_garbage() {
    let place = fixed_place();
    for fill in [0xFFu8, 0x5A, 0x01] {
        assert!(matches!(
            classify(&mut [fill; 4096], &place),
            Region::Garbage(Error::BadMagic { .. })
        ));
    }
    assert!(matches!(
        classify(&mut [], &place),
        Region::Garbage(Error::Truncated { .. })
    ));
    // A journal file header is not a batch either.
    let mut file_header = JournalFileHeader {
        version: place.version,
        file_id: place.file_id,
        generation: place.generation,
        alignment: place.alignment,
        file_size: 1 << 20,
    }
    .to_vec()
    .unwrap();
    assert!(matches!(
        classify(&mut file_header, &place),
        Region::Garbage(Error::BadMagic { .. })
    ));
}

#[test]
fn a_batch_of_an_older_generation_is_garbage() {
    let place = fixed_place();
    let stale = BatchPlace {
        generation: Generation::new(place.generation.get() - 1),
        ..place
    };
    let mut region = multi_block_batch(stale);
    assert_eq!(
        classify(&mut region, &place),
        Region::Garbage(Error::WrongGeneration {
            expected: place.generation,
            got: stale.generation
        })
    );
}

#[test]
fn a_batch_written_at_another_offset_is_garbage() {
    let place = fixed_place();
    let elsewhere = BatchPlace {
        file_offset: place.file_offset + 4096,
        ..place
    };
    let mut region = multi_block_batch(elsewhere);
    assert_eq!(
        classify(&mut region, &place),
        Region::Garbage(Error::WrongOffset {
            expected: place.file_offset,
            got: elsewhere.file_offset
        })
    );
}

#[test]
fn a_batch_of_another_file_is_garbage() {
    let place = fixed_place();
    let other = BatchPlace {
        file_id: JournalFileId::new(place.file_id.get() + 1),
        ..place
    };
    let mut region = multi_block_batch(other);
    assert_eq!(
        classify(&mut region, &place),
        Region::Garbage(Error::WrongFileId {
            expected: place.file_id,
            got: other.file_id
        })
    );
}

#[test]
fn a_batch_of_another_alignment_is_garbage() {
    let place = fixed_place();
    let other = BatchPlace {
        alignment: Alignment::new(512).unwrap(),
        ..place
    };
    let mut region = multi_block_batch(other);
    assert!(matches!(
        classify(&mut region, &place),
        Region::Garbage(Error::InvalidField {
            field: "alignment",
            ..
        })
    ));
}

/// A recovery-style scan over a whole file: batches, then a torn tail, then zeros.
#[test]
fn a_scan_of_a_file_finds_every_batch_then_the_torn_tail() {
    let file_header = JournalFileHeader {
        version: JournalVersion::CURRENT,
        file_id: JournalFileId::new(4),
        generation: Generation::new(2),
        alignment: Alignment::JOURNAL,
        file_size: 64 * 4096,
    };
    let mut file = file_header.to_vec().unwrap();
    file.resize(file_header.file_size as usize, 0);
    let mut offset = 4096u64;
    let mut lsn = 1u64;
    for batch_no in 0..5 {
        let records: Vec<OwnedRecord> = (0..batch_no * 7 + 1)
            .map(|_| {
                lsn += 1;
                small_redo(lsn, &[batch_no as u8; 100])
            })
            .collect();
        let bytes = build_batch(file_header.place(offset), &records, 1 << 16);
        file[offset as usize..offset as usize + bytes.len()].copy_from_slice(&bytes);
        offset += bytes.len() as u64;
    }
    let tail_at = offset as usize;
    let tail = build_batch(
        file_header.place(offset),
        &[small_redo(lsn + 1, &[9u8; 5000])],
        1 << 16,
    );
    file[tail_at..tail_at + 4096].copy_from_slice(&tail[..4096]); // only the first block landed

    let header = JournalFileHeader::decode(&file).unwrap();
    let mut at = 4096usize;
    let mut kinds = Vec::new();
    loop {
        match classify(&mut file[at..], &header.place(at as u64)) {
            Region::Valid(view) => {
                kinds.push("valid");
                at += view.padded_len();
            }
            Region::Torn { .. } => {
                kinds.push("torn");
                break;
            }
            Region::Zeros => {
                kinds.push("zeros");
                break;
            }
            Region::Garbage(_) => {
                kinds.push("garbage");
                break;
            }
        }
    }
    assert_eq!(kinds, ["valid", "valid", "valid", "valid", "valid", "torn"]);
    assert_eq!(at, tail_at);
}
