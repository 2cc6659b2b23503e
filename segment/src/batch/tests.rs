use super::*;
use crate::checksum::crc32c;
use crate::error::Error;
use crate::ids::{BatchSeq, Generation, JournalFileId, Lsn};
use crate::ids::{PageId, PgId};
use crate::limits::BATCH_BYTES_MAX;
use crate::limits::{BATCH_HEADER_SIZE, STAMP_SECTOR_PAYLOAD};
use crate::record::Record;
use crate::record::{Change, Redo};

fn place() -> BatchPlace {
    BatchPlace {
        file_id: JournalFileId::new(1),
        generation: Generation::new(2),
        alignment: Alignment::JOURNAL,
        file_offset: 4096,
        version: JournalVersion::CURRENT,
    }
}

fn redo(lsn: u64, bytes: &[u8]) -> Record<'_> {
    Record::Redo(Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(lsn - 1),
        prev_lsn_page: Lsn::ZERO,
        pg_id: PgId::new(1),
        page_id: PageId::new(lsn),
        cpl: false,
        change: Change::Delta { offset: 0, bytes },
    })
}

#[test]
fn builder_output_decodes_with_interleaved_lsns() {
    let mut buf = vec![0xAAu8; 8192];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(5)).unwrap();
    for lsn in [20, 10, 30] {
        b.push(&redo(lsn, b"abc")).unwrap();
    }
    let header = b.seal();
    assert_eq!(header.padded_len(), 4096);
    assert_eq!(
        (header.first_lsn, header.last_lsn),
        (Lsn::new(10), Lsn::new(30))
    );
    let view = decode_batch(&mut buf, &place()).unwrap();
    let lsns: Vec<_> = view
        .records()
        .map(|r| r.unwrap().lsn().unwrap().get())
        .collect();
    assert_eq!(lsns, [20, 10, 30]);
}

#[test]
fn a_paused_batch_resumes_and_seals_as_if_built_at_once() {
    let mut buf = vec![0u8; 8192];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(5)).unwrap();
    b.push(&redo(20, b"abc")).unwrap();
    let progress = b.pause();
    assert_eq!(
        (progress.record_count(), progress.sequence()),
        (1, BatchSeq::new(5))
    );
    let mut b = BatchBuilder::resume(&mut buf, progress).unwrap();
    b.push(&redo(10, b"de")).unwrap();
    let header = b.seal();
    let mut once = vec![0u8; 8192];
    let mut b = BatchBuilder::new(&mut once, place(), BatchSeq::new(5)).unwrap();
    b.push(&redo(20, b"abc")).unwrap();
    b.push(&redo(10, b"de")).unwrap();
    assert_eq!(b.seal(), header);
    assert_eq!(buf, once);
    // A shorter buffer than the paused batch needs is refused.
    let mut small = vec![0u8; 4096];
    let mut b = BatchBuilder::new(&mut small, place(), BatchSeq::new(5)).unwrap();
    b.push(&redo(20, &[7u8; 3000])).unwrap();
    let progress = b.pause();
    assert!(BatchBuilder::resume(&mut vec![0u8; 512][..], progress).is_err());
}

#[test]
fn empty_batch_is_one_block_of_header_zeros_and_stamps() {
    let mut buf = vec![0xAAu8; 4096];
    let header = BatchBuilder::new(&mut buf, place(), BatchSeq::ZERO)
        .unwrap()
        .seal();
    assert_eq!(header.record_count, 0);
    assert_eq!(header.padded_len(), 4096);
    let sum = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let stamp = header.stamp(sum).to_le_bytes();
    for (i, sector) in buf.chunks(STAMP_SECTOR_SIZE).enumerate() {
        let from = if i == 0 { BATCH_HEADER_SIZE } else { 0 };
        assert!(sector[from..STAMP_SECTOR_PAYLOAD].iter().all(|&b| b == 0));
        assert_eq!(sector[STAMP_SECTOR_PAYLOAD..], stamp, "sector {i}");
    }
    assert_eq!(
        decode_batch(&mut buf, &place()).unwrap().records().count(),
        0
    );
}

/// The journal appends ~1 M records/s of 184 encoded bytes: a full 1 MiB batch of
/// them holds 5,609 (5,698 without stamps), 1.6 % more device bytes per record.
#[test]
fn a_full_batch_of_redo_records_pays_one_stamp_per_sector() {
    let mut buf = vec![0u8; BATCH_BYTES_MAX];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
    let body = [7u8; 128];
    let mut lsn = 1;
    while b.push(&redo(lsn, &body)).is_ok() {
        lsn += 1;
    }
    assert_eq!(redo(1, &body).encoded_len(), 184);
    assert_eq!(b.record_count(), 5609);
    assert_eq!(b.seal().padded_len(), BATCH_BYTES_MAX);
    let view = decode_batch(&mut buf, &place()).unwrap();
    assert_eq!(view.records().count(), 5609);
    assert_eq!(
        body_capacity(JournalVersion::V1, BATCH_BYTES_MAX) / 184,
        5698
    );
}

#[test]
fn capacity_and_length_agree_for_both_versions() {
    for version in [JournalVersion::V1, JournalVersion::V2] {
        for alignment in [512u32, 1024, 4096] {
            let alignment = Alignment::new(alignment).unwrap();
            for bytes in (alignment.bytes()..=16384).step_by(alignment.bytes()) {
                let cap = body_capacity(version, bytes);
                assert!(batch_len(version, alignment, cap) <= bytes);
                assert!(batch_len(version, alignment, cap + 1) > bytes);
            }
        }
    }
    assert_eq!(
        body_capacity(JournalVersion::V2, BATCH_BYTES_MAX),
        crate::limits::BATCH_BODY_BYTES_MAX
    );
}

fn truncate() -> Record<'static> {
    Record::Truncate(crate::record::Truncate {
        pg_id: PgId::new(1),
        epoch: crate::ids::Epoch::new(1),
        start: Lsn::new(3),
        end: Lsn::new(9),
    })
}

#[test]
fn the_redo_only_flag_says_whether_a_batch_holds_control_records() {
    let mut buf = vec![0u8; 4096];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
    b.push(&redo(7, b"abc")).unwrap();
    let progress = b.pause();
    let b = BatchBuilder::resume(&mut buf, progress).unwrap();
    let header = b.seal();
    assert!(header.redo_only);
    assert_eq!(buf[15], BATCH_FLAG_REDO_ONLY);
    let view = decode_batch(&mut buf, &place()).unwrap();
    assert!(view.header().redo_only);

    let mut buf = vec![0u8; 4096];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
    b.push(&redo(7, b"abc")).unwrap();
    // A paused and resumed batch remembers its control record.
    let progress = b.pause();
    let mut b = BatchBuilder::resume(&mut buf, progress).unwrap();
    b.push(&truncate()).unwrap();
    let progress = b.pause();
    let b = BatchBuilder::resume(&mut buf, progress).unwrap();
    let header = b.seal();
    assert!(!header.redo_only);
    assert_eq!(buf[15], 0);
    assert!(!decode_batch(&mut buf, &place()).unwrap().header().redo_only);
}

#[test]
fn a_false_redo_only_claim_or_an_unknown_flag_is_refused() {
    let mut buf = vec![0u8; 4096];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
    b.push(&truncate()).unwrap();
    let mut header = b.seal();
    // The header claims redo only (checksum made to hold): the body contradicts it.
    header.redo_only = true;
    header.write(&mut buf[..BATCH_HEADER_SIZE]);
    match classify(&mut buf.clone(), &place()) {
        Region::Torn {
            header: h, reason, ..
        } => {
            assert!(h.redo_only);
            assert!(reason.to_string().contains("REDO_ONLY"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // An unknown flag bit, under a valid checksum: not a header of this version.
    buf[15] = 0x80;
    let sum = crc32c(&buf[4..BATCH_HEADER_SIZE]);
    buf[..4].copy_from_slice(&sum.to_le_bytes());
    assert!(matches!(
        BatchHeader::decode(&buf),
        Err(Error::UnknownFlags { .. })
    ));
    assert!(matches!(classify(&mut buf, &place()), Region::Garbage(_)));
}

#[test]
fn the_pipeline_window_moves_the_proof_back_and_is_bounded_by_the_version() {
    // Window 1 (PIPELINED) and 2 (PIPELINED_TWO) in the current version: the header
    // proves the batch two, or three, before it durable.
    for (window, flag, proven) in [
        (1u8, BATCH_FLAG_PIPELINED, 7u64),
        (2, BATCH_FLAG_PIPELINED_TWO, 6),
    ] {
        let mut buf = vec![0u8; 4096];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(9)).unwrap();
        b.push(&redo(7, b"abc")).unwrap();
        b.set_window(window).unwrap();
        let header = b.seal();
        assert!(header.window == window && header.pipelined() && header.redo_only);
        assert_eq!(buf[15], BATCH_FLAG_REDO_ONLY | flag);
        let mut copy = buf.clone();
        assert_eq!(
            decode_batch(&mut copy, &place()).unwrap().header().window,
            window
        );
        assert_eq!(header.proves_durable(), Some(BatchSeq::new(proven)));
    }

    // No window: the header proves the batch just before it.
    let mut plain = vec![0u8; 4096];
    let mut b = BatchBuilder::new(&mut plain, place(), BatchSeq::new(9)).unwrap();
    b.push(&redo(7, b"abc")).unwrap();
    let header = b.seal();
    assert!(!header.pipelined());
    assert_eq!(header.proves_durable(), Some(BatchSeq::new(8)));

    // Both flags at once, under a valid checksum: refused.
    let mut both = plain.clone();
    both[15] |= BATCH_FLAG_PIPELINED | BATCH_FLAG_PIPELINED_TWO;
    let sum = crc32c(&both[4..BATCH_HEADER_SIZE]);
    both[..4].copy_from_slice(&sum.to_le_bytes());
    let err = BatchHeader::decode(&both).unwrap_err();
    assert!(err.to_string().contains("exclusive"), "{err}");

    // Each version's bound: the builder refuses a wider window, and a decoder
    // refuses the wider window's bit as an unknown flag.
    for (version, max) in [
        (JournalVersion::V2, 0u8),
        (JournalVersion::V3, 1),
        (JournalVersion::V4, 2),
    ] {
        assert_eq!(version.window_max(), max);
        let at = BatchPlace { version, ..place() };
        let mut buf = vec![0u8; 4096];
        let mut b = BatchBuilder::new(&mut buf, at, BatchSeq::new(9)).unwrap();
        b.push(&redo(7, b"abc")).unwrap();
        assert!(b.set_window(max).is_ok());
        assert!(b.set_window(max + 1).is_err());
        b.set_window(0).unwrap();
        let _ = b.seal();
        if max < 2 {
            buf[15] |= window_flags(max + 1);
            let sum = crc32c(&buf[4..BATCH_HEADER_SIZE]);
            buf[..4].copy_from_slice(&sum.to_le_bytes());
            assert!(
                matches!(BatchHeader::decode(&buf), Err(Error::UnknownFlags { .. })),
                "{version:?}"
            );
        }
    }
}

#[test]
fn a_landed_batch_is_recognised_through_a_damaged_header() {
    let mut buf = vec![0u8; 8192];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(5)).unwrap();
    b.push(&redo(7, &[0x71; 5000])).unwrap();
    b.seal();
    let landed = |bytes: &[u8]| {
        let block = &bytes[..4096];
        landed_batch(block, &place(), header_repair(block, &place()))
    };
    let stamp = landed(&buf).expect("an intact batch carries its stamp");
    // Any single flipped bit of the header is corrected: checksums, magic, place.
    for at in [0usize, 5, 9, 17, 26, 33, 44, 50, 70] {
        let mut d = buf.clone();
        d[at] ^= 0x10;
        assert_eq!(landed(&d), Some(stamp), "flip at byte {at}");
    }
    // Two flips outside the place fields and checksums: the stored ones still tell.
    let mut d = buf.clone();
    d[17] ^= 1;
    d[60] ^= 1;
    assert_eq!(landed(&d), Some(stamp));
    // Two flips in the place fields: nothing proves the batch belongs here.
    let mut d = buf.clone();
    d[26] ^= 1;
    d[34] ^= 1;
    assert_eq!(landed(&d), None);
    // Another generation's batch here (a recycled file's leftovers) with a flip.
    let mut d = buf.clone();
    let other = BatchPlace {
        generation: Generation::new(3),
        ..place()
    };
    assert_eq!(
        landed_batch(&d[..4096], &other, header_repair(&d[..4096], &other)),
        None
    );
    d[17] ^= 1;
    assert_eq!(
        landed_batch(&d[..4096], &other, header_repair(&d[..4096], &other)),
        None
    );
    // The second block of the batch (records, its stamp in every sector): not a
    // batch that starts here.
    assert_eq!(landed(&buf[4096..]), None);
    // A torn write: a sector without the stamp.
    let mut d = buf.clone();
    d[1024..1536].fill(0);
    d[17] ^= 1;
    assert_eq!(landed(&d), None);
    // Version 1 has no stamps.
    let v1 = BatchPlace {
        version: JournalVersion::V1,
        ..place()
    };
    assert_eq!(landed_batch(&buf[..4096], &v1, None), None);
}

#[test]
fn classify_with_visits_every_record_of_a_valid_batch_once() {
    let mut buf = vec![0u8; 8192];
    let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
    for lsn in [20, 10, 30] {
        b.push(&redo(lsn, b"abc")).unwrap();
    }
    b.push(&truncate()).unwrap();
    b.seal();
    let mut seen = Vec::new();
    let region = classify_with(&mut buf, &place(), &mut |r| seen.push(r.lsn()));
    assert!(matches!(region, Region::Valid(_)));
    assert_eq!(
        seen,
        [
            Some(Lsn::new(20)),
            Some(Lsn::new(10)),
            Some(Lsn::new(30)),
            None
        ]
    );
}

#[test]
fn misaligned_buffers_and_offsets_are_refused() {
    let mut buf = vec![0u8; 5000];
    assert!(BatchBuilder::new(&mut buf, place(), BatchSeq::ZERO).is_err());
    let mut buf = vec![0u8; 4096];
    let p = BatchPlace {
        file_offset: 0,
        ..place()
    };
    assert!(BatchBuilder::new(&mut buf, p, BatchSeq::ZERO).is_err());
}
