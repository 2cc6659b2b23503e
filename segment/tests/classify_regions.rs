//! Behaviour: `classify` tells recovery, for any aligned region of a journal file,
//! whether it holds a valid batch, a torn one, zeros or garbage (including a valid batch
//! of an older generation, of another file, or written at another offset).

mod common;

use boreal_segment::{
    Alignment, BatchPlace, Error, Generation, JournalFileHeader, JournalFileId, Region, classify,
};
use common::*;

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
    match classify(&region, &place) {
        Region::Valid(view) => {
            assert_eq!(view.padded_len(), len);
            assert_eq!(view.records().count(), 40);
        }
        other => panic!("expected valid, got {other:?}"),
    }
}

/// Tears the batch at every 512-byte boundary: bytes from `at` on are what the disk
/// held before (`old`), as after a crash in the middle of the write.
fn tear_everywhere(old: u8) {
    let place = fixed_place();
    let batch = multi_block_batch(place);
    for at in (0..batch.len()).step_by(512) {
        let mut region = batch.clone();
        region[at..].fill(old);
        let got = classify(&region, &place);
        if region == batch {
            // The tear left exactly the bytes the write would have put there.
            assert!(matches!(got, Region::Valid(_)), "tear at {at}: {got:?}");
        } else if at == 0 {
            let expected_zeros = old == 0;
            match got {
                Region::Zeros => assert!(expected_zeros, "tear at 0"),
                Region::Garbage(Error::BadMagic { .. }) => assert!(!expected_zeros),
                other => panic!("tear at 0 with {old:#x}: {other:?}"),
            }
        } else {
            match got {
                Region::Torn { header, reason } => {
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
                }
                other => panic!("tear at {at} with {old:#x}: expected torn, got {other:?}"),
            }
        }
    }
}

#[test]
fn a_batch_torn_at_every_sector_over_zeros_is_torn() {
    tear_everywhere(0x00);
}

#[test]
fn a_batch_torn_at_every_sector_over_old_bytes_is_torn() {
    tear_everywhere(0xA7);
}

#[test]
fn a_batch_cut_short_by_the_end_of_the_read_is_torn() {
    let place = fixed_place();
    let batch = multi_block_batch(place);
    for at in (512..batch.len()).step_by(512) {
        match classify(&batch[..at], &place) {
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
    assert_eq!(classify(&[0u8; 4096], &place), Region::Zeros);
    assert_eq!(classify(&[0u8; 100], &place), Region::Zeros);
    // Zeros in the header but data later in the block is not "never written".
    let mut block = vec![0u8; 4096];
    block[3000] = 1;
    assert!(matches!(
        classify(&block, &place),
        Region::Garbage(Error::BadMagic { got: 0, .. })
    ));
}

#[test]
fn garbage_is_garbage() {
    let place = fixed_place();
    for fill in [0xFFu8, 0x5A, 0x01] {
        assert!(matches!(
            classify(&[fill; 4096], &place),
            Region::Garbage(Error::BadMagic { .. })
        ));
    }
    assert!(matches!(
        classify(&[], &place),
        Region::Garbage(Error::Truncated { .. })
    ));
    // A journal file header is not a batch either.
    let file_header = JournalFileHeader {
        file_id: place.file_id,
        generation: place.generation,
        alignment: place.alignment,
        file_size: 1 << 20,
    }
    .to_vec()
    .unwrap();
    assert!(matches!(
        classify(&file_header, &place),
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
    let region = multi_block_batch(stale);
    assert_eq!(
        classify(&region, &place),
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
    let region = multi_block_batch(elsewhere);
    assert_eq!(
        classify(&region, &place),
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
    let region = multi_block_batch(other);
    assert_eq!(
        classify(&region, &place),
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
    let region = multi_block_batch(other);
    assert!(matches!(
        classify(&region, &place),
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
        match classify(&file[at..], &header.place(at as u64)) {
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
