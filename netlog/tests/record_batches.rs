//! Behaviour: record batches (`AppendBatch`, `FetchedRecords`) decode zero-copy, are
//! built record by record into a reused buffer without reallocating, stop at their
//! limits with `BatchFull`, and refuse every hostile batch with the error that names
//! what is wrong.

mod common;

use boreal_netlog::limits::{RECORD_BATCH_BYTES_MAX, RECORD_BATCH_RECORDS_MAX};
use boreal_netlog::proto::*;
use boreal_segment::limits::{FRAME_HEADER_SIZE, PAGE_PAYLOAD_MAX, RECORD_HEADER_SIZE};
use boreal_segment::{Change, Epoch, FrameHeader, Lsn, PageId, PgId, Record, Redo, encode_frame};
use common::*;

const PG: u32 = 5;

fn records(n: u64) -> Vec<Redo<'static>> {
    (1..=n)
        .map(|i| redo(PG, i * 10, (i - 1) * 10, b"0123456789abcdef"))
        .collect()
}

/// An `AppendBatch` frame whose body is built by hand: epoch 1, pg `pg`, `count`, and
/// the given records as segment encodes them.
fn hostile_append(pg: u32, count: u32, recs: &[Record<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&1u64.to_le_bytes());
    body.extend_from_slice(&pg.to_le_bytes());
    body.extend_from_slice(&count.to_le_bytes());
    for r in recs {
        r.encode_to_vec(&mut body).unwrap();
    }
    let mut out = Vec::new();
    encode_frame(Tag::AppendBatch.get(), 9, &body, &mut out).unwrap();
    out
}

/// The `AppendBatch` frame (request 1, epoch 1) of `recs`, built by the encoder.
fn appended(recs: &[Redo<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(PG));
    for r in recs {
        enc.push(r).unwrap();
    }
    enc.finish(1).unwrap();
    out
}

#[test]
fn decoded_records_borrow_the_frame_body() {
    let recs = records(3);
    let out = appended(&recs);
    let (frame, _) = boreal_segment::decode_frame(&out).unwrap();
    let Message::AppendBatch(m) = Message::decode_request(frame).unwrap() else {
        panic!()
    };
    let body = frame.body.as_ptr_range();
    let got: Vec<Redo<'_>> = m.records.iter().collect();
    assert_eq!(got, recs);
    for r in &got {
        assert!(body.contains(&r.change.bytes().as_ptr()), "body copied");
    }
    assert_eq!(m.records.wire_bytes().unwrap().as_ptr_range().end, body.end);
    m.records.verify_checksums().unwrap();
}

#[test]
fn the_encoder_writes_what_the_message_encodes() {
    let recs = records(5);
    let mut streamed = vec![1, 2, 3];
    let mut enc = AppendEncoder::new(&mut streamed, Epoch::new(4), PgId::new(PG));
    for r in &recs {
        enc.push(r).unwrap();
    }
    assert_eq!(enc.len(), 5);
    assert_eq!(enc.record_bytes(), 5 * (RECORD_HEADER_SIZE + 16));
    let header = enc.finish(77).unwrap();
    let mut whole = vec![1, 2, 3];
    let msg = Message::AppendBatch(AppendBatch {
        epoch: Epoch::new(4),
        pg: PgId::new(PG),
        records: Redos::from_slice(&recs),
    });
    assert_eq!(msg.encode(77, &mut whole).unwrap(), header);
    assert_eq!(streamed, whole);
    // Fan-out: the same body under another request id needs only a new header.
    let other = FrameHeader {
        request_id: 78,
        ..header
    }
    .encode();
    let mut copy = streamed[3..].to_vec();
    copy[..FRAME_HEADER_SIZE].copy_from_slice(&other);
    let (frame, _) = boreal_segment::decode_frame(&copy).unwrap();
    assert_eq!(frame.header.request_id, 78);
    assert_eq!(Message::decode(frame).unwrap(), msg);
}

#[test]
fn a_reused_buffer_does_not_reallocate_per_record_or_frame() {
    let recs = records(200);
    let mut out = Vec::new();
    for round in 0..3 {
        out.clear();
        let before = (out.as_ptr(), out.capacity());
        let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(PG));
        for r in &recs {
            enc.push(r).unwrap();
        }
        enc.finish(round + 1).unwrap();
        if round > 0 {
            assert_eq!(
                (out.as_ptr(), out.capacity()),
                before,
                "round {round} reallocated"
            );
        }
    }
}

#[test]
fn the_encoder_stops_at_the_record_limit_and_the_byte_limit() {
    let mut out = Vec::new();
    let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(PG));
    for i in 1..=RECORD_BATCH_RECORDS_MAX as u64 {
        enc.push(&redo(PG, i, i - 1, b"")).unwrap();
    }
    let len = enc.record_bytes();
    let next = redo(PG, 1 << 20, 1 << 19, b"");
    assert!(
        matches!(enc.push(&next), Err(ProtoError::BatchFull { records, .. }) if records == RECORD_BATCH_RECORDS_MAX)
    );
    assert_eq!(enc.record_bytes(), len, "a refused record writes nothing");
    enc.finish(1).unwrap();
    assert!(decode_bytes(&out).is_ok());

    let big: &'static [u8] = leak(vec![7u8; PAGE_PAYLOAD_MAX]);
    let mut out = Vec::new();
    let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(PG));
    let mut lsn = 1;
    loop {
        let r = Redo {
            change: Change::Delta {
                offset: 0,
                bytes: big,
            },
            ..redo(PG, lsn, lsn - 1, b"")
        };
        match enc.push(&r) {
            Ok(()) => lsn += 1,
            Err(ProtoError::BatchFull { bytes, needed, .. }) => {
                assert!(bytes + needed > RECORD_BATCH_BYTES_MAX);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        enc.len(),
        RECORD_BATCH_BYTES_MAX / (RECORD_HEADER_SIZE + PAGE_PAYLOAD_MAX)
    );
    enc.finish(1).unwrap();
    assert!(decode_bytes(&out).is_ok());
}

#[test]
fn the_encoder_refuses_records_that_can_never_be_sent_and_keeps_the_buffer() {
    let mut out = vec![9u8; 4];
    let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(PG));
    enc.push(&redo(PG, 10, 0, b"x")).unwrap();
    let bytes = enc.record_bytes();
    assert!(matches!(
        enc.push(&redo(PG + 1, 20, 10, b"x")),
        Err(ProtoError::OtherPg { .. })
    ));
    assert!(matches!(
        enc.push(&redo(PG, 10, 0, b"x")),
        Err(ProtoError::LsnNotIncreasing { .. })
    ));
    let invalid = Redo {
        prev_lsn_pg: Lsn::new(30),
        ..redo(PG, 30, 10, b"x")
    };
    assert!(matches!(
        enc.push(&invalid),
        Err(ProtoError::Record { index: 1, .. })
    ));
    assert_eq!(enc.record_bytes(), bytes);
    drop(enc);
    assert_eq!(out, [9u8; 4], "an unfinished frame is taken back");
    let enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(PG));
    assert!(enc.finish(1).is_err(), "an empty append is refused");
    assert_eq!(out, [9u8; 4]);
    let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(PG));
    enc.push(&redo(PG, 10, 0, b"x")).unwrap();
    assert_eq!(
        enc.finish(0).unwrap_err(),
        ProtoError::ZeroRequestId {
            message: "AppendBatch"
        }
    );
    assert_eq!(out, [9u8; 4]);
}

#[test]
fn a_record_encoded_once_makes_the_same_frame_and_meets_the_same_checks() {
    let recs = records(4);
    let encoded: Vec<EncodedRedo> = recs.iter().map(|r| EncodedRedo::new(r).unwrap()).collect();
    for (r, e) in recs.iter().zip(&encoded) {
        let mut alone = Vec::new();
        Record::Redo(*r).encode_to_vec(&mut alone).unwrap();
        assert_eq!(e.wire(), &alone[..]);
        assert_eq!(e.redo(), *r);
    }
    let mut by_record = vec![7u8];
    let mut enc = AppendEncoder::new(&mut by_record, Epoch::new(3), PgId::new(PG));
    for r in &recs {
        enc.push(r).unwrap();
    }
    let h1 = enc.finish(11).unwrap();
    let mut by_bytes = vec![7u8];
    let mut enc = AppendEncoder::new(&mut by_bytes, Epoch::new(3), PgId::new(PG));
    for e in &encoded {
        enc.push_encoded(e).unwrap();
    }
    assert_eq!(enc.record_bytes(), 4 * (RECORD_HEADER_SIZE + 16));
    // The frame's own rules hold for copied bytes too, and a refusal writes nothing.
    assert!(matches!(
        enc.push_encoded(&encoded[0]),
        Err(ProtoError::LsnNotIncreasing { .. })
    ));
    let other_pg = EncodedRedo::new(&redo(PG + 1, 90, 80, b"x")).unwrap();
    assert!(matches!(
        enc.push_encoded(&other_pg),
        Err(ProtoError::OtherPg { .. })
    ));
    let h2 = enc.finish(11).unwrap();
    assert_eq!(h1, h2);
    assert_eq!(by_record, by_bytes);
    // The record comes back whole from its encoding, whatever its change.
    let image = Redo {
        change: Change::Image(leak(vec![3u8; PAGE_PAYLOAD_MAX])),
        ..redo(PG, 50, 40, b"")
    };
    let delta = Redo {
        change: Change::Delta {
            offset: 100,
            bytes: b"abc",
        },
        cpl: false,
        ..redo(PG, 60, 50, b"")
    };
    // Changes around the size kept inside the encoding itself (192 bytes with the
    // header: 136 bytes of change) and far above it come back whole, as encoded alone.
    let sized: Vec<Redo<'static>> = [0usize, 1, 135, 136, 137, 199, 4000]
        .iter()
        .map(|&n| Redo {
            change: Change::Delta {
                offset: 8,
                bytes: leak(vec![n as u8; n.max(1)]),
            },
            ..redo(PG, 70, 60, b"")
        })
        .collect();
    for r in [image, delta].into_iter().chain(sized) {
        let e = EncodedRedo::new(&r).unwrap();
        assert_eq!(e.redo(), r);
        let mut alone = Vec::new();
        Record::Redo(r).encode_to_vec(&mut alone).unwrap();
        assert_eq!(e.wire(), &alone[..]);
        assert_eq!(e.clone().wire(), &alone[..]);
    }
    // A record that breaks a format rule is refused when it is encoded, once.
    let invalid = Redo {
        prev_lsn_pg: Lsn::new(30),
        ..redo(PG, 30, 10, b"x")
    };
    assert!(EncodedRedo::new(&invalid).is_err());
}

#[test]
fn fetched_encoder_allows_empty_but_not_empty_with_more() {
    let mut out = Vec::new();
    let enc = FetchedEncoder::new(&mut out, PgId::new(PG), Lsn::new(50));
    assert!(enc.finish(3, true).is_err());
    assert!(out.is_empty());
    let enc = FetchedEncoder::new(&mut out, PgId::new(PG), Lsn::new(50));
    enc.finish(3, false).unwrap();
    let Message::FetchedRecords(m) = decode_bytes(&out).unwrap() else {
        panic!()
    };
    assert!(m.records.is_empty() && !m.more && m.scl == Lsn::new(50));
    let mut out = Vec::new();
    let mut enc = FetchedEncoder::new(&mut out, PgId::new(PG), Lsn::new(50));
    enc.push(&redo(PG, 10, 0, b"x")).unwrap();
    enc.finish(4, true).unwrap();
    let Message::FetchedRecords(m) = decode_bytes(&out).unwrap() else {
        panic!()
    };
    assert!(m.more && m.records.len() == 1);
}

#[test]
fn hostile_batches_are_refused_naming_the_record() {
    let a = Record::Redo(redo(PG, 10, 0, b"ab"));
    let b = Record::Redo(redo(PG, 20, 10, b"cd"));
    let good = hostile_append(PG, 2, &[a, b]);
    assert!(decode_bytes(&good).is_ok());

    let other = Record::Redo(redo(PG + 1, 20, 10, b"cd"));
    assert!(matches!(
        decode_bytes(&hostile_append(PG, 2, &[a, other])),
        Err(ProtoError::OtherPg { index: 1, .. })
    ));
    let trunc = Record::Truncate(boreal_segment::Truncate {
        pg_id: PgId::new(PG),
        epoch: Epoch::new(1),
        start: Lsn::new(1),
        end: Lsn::new(2),
    });
    assert!(matches!(
        decode_bytes(&hostile_append(PG, 2, &[a, trunc])),
        Err(ProtoError::NotRedo { index: 1, offset, .. }) if offset == 16 + RECORD_HEADER_SIZE + 2
    ));
    assert!(matches!(
        decode_bytes(&hostile_append(PG, 2, &[b, a])),
        Err(ProtoError::LsnNotIncreasing { index: 1, .. })
    ));
    assert!(matches!(
        decode_bytes(&hostile_append(PG, 2, &[a, a])),
        Err(ProtoError::LsnNotIncreasing { .. })
    ));
    assert_eq!(
        decode_bytes(&hostile_append(PG, 1, &[a, b])).unwrap_err(),
        ProtoError::RecordCount {
            message: "AppendBatch",
            declared: 1,
            found: 2
        }
    );
    assert!(matches!(
        decode_bytes(&hostile_append(PG, 0, &[])),
        Err(ProtoError::OutOfBounds {
            field: "record_count",
            ..
        })
    ));
    // A count the bytes cannot hold is refused before any record is looked at.
    assert!(matches!(
        decode_bytes(&hostile_append(PG, 3, &[a, b])),
        Err(ProtoError::OutOfBounds { field: "records length", min, .. }) if min == 3 * RECORD_HEADER_SIZE as u64
    ));
    assert!(matches!(
        decode_bytes(&hostile_append(PG, u32::MAX, &[a, b])),
        Err(ProtoError::OutOfBounds {
            field: "record_count",
            ..
        })
    ));
    // A record cut short by the end of the body.
    let mut cut = hostile_append(PG, 2, &[a, b]);
    cut.pop();
    reseal(&mut cut);
    assert!(matches!(
        decode_bytes(&cut),
        Err(ProtoError::Record { index: 1, .. })
    ));
}

/// The records of `frame` (an `AppendBatch` of `hostile_append`) sent back as a
/// peer's `FetchedRecords` (pg, count, flags, 7 reserved, scl, records).
fn as_fetched(frame: &[u8]) -> Vec<u8> {
    let body = &frame[FRAME_HEADER_SIZE..];
    let mut fetched = Vec::new();
    fetched.extend_from_slice(&body[8..16]);
    fetched.extend_from_slice(&[0u8; 8]);
    fetched.extend_from_slice(&0u64.to_le_bytes());
    fetched.extend_from_slice(&body[16..]);
    let mut out = Vec::new();
    encode_frame(Tag::FetchedRecords.get(), 9, &fetched, &mut out).unwrap();
    out
}

#[test]
fn a_record_whose_own_checksum_is_wrong_is_refused_by_append_and_caught_in_fetched() {
    let mut frame = hostile_append(
        PG,
        2,
        &[
            Record::Redo(redo(PG, 10, 0, b"ab")),
            Record::Redo(redo(PG, 20, 10, b"cd")),
        ],
    );
    // Damage the second record's body checksum, then reseal the frame around it, as a
    // sender with a memory fault would.
    let second = FRAME_HEADER_SIZE + 16 + RECORD_HEADER_SIZE + 2;
    frame[second + 4] ^= 0x10;
    reseal(&mut frame);
    // An append is refused by its decoder, naming the record and its body offset: a
    // node journals a record's bytes as they came, so it checks them first.
    match decode_bytes(&frame) {
        Err(ProtoError::Record {
            message: "AppendBatch",
            index: 1,
            offset,
            source: boreal_segment::Error::Checksum { what, .. },
        }) => {
            assert_eq!(offset, second - FRAME_HEADER_SIZE);
            // The stored body checksum is among the bytes the header checksums.
            assert_eq!(what, "record header");
        }
        other => panic!("{other:?}"),
    }
    // The same records fetched from a peer decode (the link hands out those before
    // the damaged one) and `verify_checksums` names it.
    let fetched = as_fetched(&frame);
    let Message::FetchedRecords(m) = decode_bytes(&fetched).unwrap() else {
        panic!()
    };
    assert!(matches!(
        m.records.verify_checksums(),
        Err(ProtoError::Record { index: 1, .. })
    ));
    // Page ids travel untouched.
    assert_eq!(
        m.records.iter().next().unwrap().page_id,
        PageId::new(10 % 7)
    );
}

#[test]
fn an_append_s_records_are_journaled_as_they_came() {
    let recs = records(3);
    let out = appended(&recs);
    let Message::AppendBatch(m) = decode_bytes(&out).unwrap() else {
        panic!()
    };
    let wire = m.records.wire_bytes().unwrap();
    let mut at = 0;
    for (valid, r) in m.records.valid().zip(&recs) {
        let valid = valid.unwrap();
        assert_eq!(*valid.get(), Record::Redo(*r));
        let encoded = valid.encoded().expect("a decoded append keeps its bytes");
        assert!(std::ptr::eq(encoded, &wire[at..at + encoded.len()]));
        at += encoded.len();
    }
    assert_eq!(at, wire.len());
}

#[test]
fn decoded_records_cannot_be_re_sent_under_another_pg() {
    let frame = hostile_append(PG, 1, &[Record::Redo(redo(PG, 10, 0, b"ab"))]);
    let Message::AppendBatch(m) = decode_bytes(&frame).unwrap() else {
        panic!()
    };
    let mut out = Vec::new();
    Message::AppendBatch(m).encode(3, &mut out).unwrap();
    let moved = AppendBatch {
        pg: PgId::new(PG + 1),
        ..m
    };
    assert!(matches!(
        Message::AppendBatch(moved).encode(3, &mut out),
        Err(ProtoError::OtherPg { index: 0, .. })
    ));
}
