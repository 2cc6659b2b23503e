//! Behaviour: a stream of frames received in arbitrary pieces comes out of
//! `FrameReader` as the same frames in order, whatever the split; the reader says
//! exactly how many bytes the next frame needs; an oversize length is refused as soon
//! as its header is in, and not before.

mod common;

use boreal_netlog::proto::{FrameReader, Message, Step};
use boreal_segment::limits::{FRAME_BODY_BYTES_MAX, FRAME_HEADER_SIZE};
use common::*;
use proptest::prelude::*;

/// Feeds `stream` in pieces of the given sizes through a receive buffer the way a
/// connection would (append what arrived, take the whole frames, keep the tail); checks
/// every `Need` against the truth; returns the frames' bytes in order.
fn receive(stream: &[u8], bounds: &[usize], pieces: &[usize]) -> Vec<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut at = 0; // stream offset of buf[0]
    let mut fed = 0;
    let mut out = Vec::new();
    let mut sizes = pieces.iter().copied().cycle();
    while fed < stream.len() {
        let n = sizes.next().unwrap().clamp(1, stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        let mut reader = FrameReader::new(&buf);
        loop {
            match reader.next_step().unwrap() {
                Step::Frame(f) => {
                    let start = at + reader.consumed() - f.header.frame_len();
                    assert!(bounds.contains(&start), "frame at a non-boundary {start}");
                    out.push(stream[start..start + f.header.frame_len()].to_vec());
                    assert_eq!(
                        f.body,
                        &stream[start + FRAME_HEADER_SIZE..start + f.header.frame_len()]
                    );
                }
                Step::Need { frame_len, have } => {
                    let start = at + reader.consumed();
                    assert_eq!(have, fed - start);
                    let next = bounds.iter().position(|&b| b == start).unwrap();
                    let expected = if have < FRAME_HEADER_SIZE {
                        FRAME_HEADER_SIZE
                    } else {
                        bounds[next + 1] - start
                    };
                    assert_eq!(frame_len, expected);
                    break;
                }
            }
        }
        let used = reader.consumed();
        buf.drain(..used);
        at += used;
    }
    assert!(buf.is_empty(), "a whole stream leaves no tail");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_of_a_stream_gives_its_frames_in_order(
        msgs in prop::collection::vec(message(), 1..12),
        pieces in prop::collection::vec(1usize..300, 1..20),
    ) {
        let mut stream = Vec::new();
        let mut bounds = vec![0];
        let mut frames = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let start = stream.len();
            m.encode(i as u64 + 1, &mut stream).unwrap();
            frames.push(stream[start..].to_vec());
            bounds.push(stream.len());
        }
        let got = receive(&stream, &bounds, &pieces);
        prop_assert_eq!(&got, &frames);
        for (bytes, m) in got.iter().zip(&msgs) {
            prop_assert_eq!(&decode_bytes(bytes).unwrap(), m);
        }
    }
}

#[test]
fn byte_at_a_time_works_too() {
    let msgs = one_of_each();
    let mut stream = Vec::new();
    let mut bounds = vec![0];
    for m in &msgs {
        m.encode(request_id_for(m), &mut stream).unwrap();
        bounds.push(stream.len());
    }
    let got = receive(&stream, &bounds, &[1]);
    assert_eq!(got.len(), msgs.len());
    for (bytes, m) in got.iter().zip(&msgs) {
        assert_eq!(
            &Message::decode(boreal_segment::decode_frame(bytes).unwrap().0).unwrap(),
            m
        );
    }
}

#[test]
fn oversize_length_is_refused_once_the_header_is_in_and_not_before() {
    let msgs = one_of_each();
    let mut stream = frame_of(&msgs[0], 1);
    let first = stream.len();
    let mut header = frame_of(&msgs[19], 2)[..FRAME_HEADER_SIZE].to_vec();
    header[20..24].copy_from_slice(&(FRAME_BODY_BYTES_MAX as u32 + 1).to_le_bytes());
    let sum = boreal_segment::checksum::crc32c(&header[4..]);
    header[..4].copy_from_slice(&sum.to_le_bytes());
    stream.extend_from_slice(&header);
    for len in first..stream.len() {
        let mut r = FrameReader::new(&stream[..len]);
        assert!(r.next_frame().unwrap().is_some());
        assert_eq!(
            r.next_step().unwrap(),
            Step::Need {
                frame_len: FRAME_HEADER_SIZE,
                have: len - first
            }
        );
    }
    let mut r = FrameReader::new(&stream);
    assert!(r.next_frame().unwrap().is_some());
    let err = r.next_step().unwrap_err();
    assert!(err.to_string().contains("body_len"), "{err}");
    assert_eq!(r.consumed(), first);
}
