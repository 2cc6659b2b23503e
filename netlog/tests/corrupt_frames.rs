//! Behaviour: damaged or hostile frames give a typed error, never a panic. Exhaustive
//! over one small frame of every tag: every truncation, every single-bit flip; then
//! the same with checksums recomputed (a hostile sender), where a flip must either be
//! refused or decode to a message that re-encodes to exactly the flipped bytes, and
//! every shortened or lengthened body must be refused; and every body decoded under
//! every other tag.

mod common;

use boreal_netlog::proto::{FrameReader, Message, ProtoError, Step, Tag};
use boreal_segment::limits::FRAME_HEADER_SIZE;
use common::*;

fn frames() -> Vec<(Tag, Vec<u8>)> {
    one_of_each()
        .into_iter()
        .map(|m| (m.tag(), frame_of(&m, request_id_for(&m))))
        .collect()
}

#[test]
fn every_truncation_of_a_frame_is_incomplete_never_a_message() {
    for (tag, bytes) in frames() {
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            assert!(decode_bytes_any(cut).is_err(), "{tag:?} cut at {len}");
            match FrameReader::new(cut).next_step().unwrap() {
                Step::Need { frame_len, have } => {
                    assert_eq!(have, len);
                    let expected = if len < FRAME_HEADER_SIZE {
                        FRAME_HEADER_SIZE
                    } else {
                        bytes.len()
                    };
                    assert_eq!(frame_len, expected, "{tag:?} cut at {len}");
                }
                Step::Frame(_) => panic!("{tag:?} cut at {len} gave a frame"),
            }
        }
    }
}

/// Like `decode_bytes`, for inputs that may not be exactly one frame.
fn decode_bytes_any(bytes: &[u8]) -> Result<Message<'_>, ProtoError> {
    let (frame, _) = boreal_segment::decode_frame(bytes)?;
    Message::decode(frame)
}

#[test]
fn every_single_bit_flip_of_a_frame_is_refused() {
    for (tag, bytes) in frames() {
        let mut copy = bytes.clone();
        for bit in 0..bytes.len() * 8 {
            copy[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode_bytes_any(&copy).is_err(),
                "{tag:?}: bit {bit} undetected"
            );
            assert!(
                FrameReader::new(&copy).next_step().is_err(),
                "{tag:?}: bit {bit}"
            );
            copy[bit / 8] ^= 1 << (bit % 8);
        }
    }
}

#[test]
fn resealed_bit_flips_are_refused_or_decode_canonically() {
    let mut refused = 0;
    let mut accepted = 0;
    for (tag, bytes) in frames() {
        let mut copy = bytes.clone();
        for bit in FRAME_HEADER_SIZE * 8..bytes.len() * 8 {
            copy[bit / 8] ^= 1 << (bit % 8);
            reseal(&mut copy);
            match decode_bytes(&copy) {
                Err(_) => refused += 1,
                Ok(msg) => {
                    accepted += 1;
                    let mut again = Vec::new();
                    msg.encode(request_id_for(&msg), &mut again).unwrap();
                    assert_eq!(
                        again, copy,
                        "{tag:?}: bit {bit} decoded to another encoding"
                    );
                    // A decoded batch is iterable to its end (the checks held).
                    iterate(&msg);
                }
            }
            copy[bit / 8] ^= 1 << (bit % 8);
        }
        reseal(&mut copy);
        assert_eq!(copy, bytes);
    }
    // Both outcomes happen: flips of free values (an LSN) decode, flips of reserved
    // bytes, codes and lengths do not.
    assert!(
        refused > 1000 && accepted > 1000,
        "refused {refused}, accepted {accepted}"
    );
}

fn iterate(msg: &Message<'_>) {
    match msg {
        Message::AppendBatch(m) => assert_eq!(m.records.iter().count(), m.records.len()),
        Message::FetchedRecords(m) => assert_eq!(m.records.iter().count(), m.records.len()),
        Message::HelloReply(m) => assert_eq!(m.ports.iter().count(), m.ports.len()),
        Message::StatusReply(m) => assert_eq!(m.holes.iter().count(), m.holes.len()),
        Message::CoreStatusReply(m) => assert_eq!(m.segments.iter().count(), m.segments.len()),
        Message::TruncationsReply(m) => assert_eq!(m.ranges.iter().count(), m.ranges.len()),
        _ => {}
    }
}

#[test]
fn every_resealed_shorter_or_longer_body_is_refused() {
    for (tag, bytes) in frames() {
        for len in FRAME_HEADER_SIZE..bytes.len() {
            let mut cut = bytes[..len].to_vec();
            reseal(&mut cut);
            let err = decode_bytes(&cut).unwrap_err();
            assert!(
                !matches!(err, ProtoError::Frame(_)),
                "{tag:?} at {len}: {err}"
            );
        }
        for extra in [0u8, 1, 0xFF] {
            let mut longer = bytes.clone();
            longer.push(extra);
            reseal(&mut longer);
            assert!(decode_bytes(&longer).is_err(), "{tag:?} + {extra}");
        }
    }
}

#[test]
fn every_body_under_every_tag_is_refused_or_canonical() {
    let all = frames();
    for (from, bytes) in &all {
        for number in 0..=u16::try_from(Tag::ALL.len() + 2).unwrap() {
            let mut copy = bytes.clone();
            copy[14..16].copy_from_slice(&number.to_le_bytes());
            if number == 0 {
                // Tag 0 is refused by the frame header itself.
                reseal(&mut copy);
                assert!(matches!(decode_bytes_any(&copy), Err(ProtoError::Frame(_))));
                continue;
            }
            reseal(&mut copy);
            if let Ok(msg) = decode_bytes(&copy) {
                let mut again = Vec::new();
                let request_id = u64::from_le_bytes(copy[24..32].try_into().unwrap());
                msg.encode(request_id, &mut again).unwrap();
                assert_eq!(again, copy, "{from:?} body as tag {number}");
            }
        }
    }
}

#[test]
fn request_id_zero_is_only_for_a_connection_refusal() {
    for (tag, bytes) in frames() {
        let mut copy = bytes.clone();
        copy[24..32].fill(0);
        reseal(&mut copy);
        let got = decode_bytes(&copy);
        if tag == Tag::Refusal {
            assert!(got.is_ok());
        } else {
            assert_eq!(
                got.unwrap_err(),
                ProtoError::ZeroRequestId {
                    message: tag.name()
                }
            );
        }
    }
}
