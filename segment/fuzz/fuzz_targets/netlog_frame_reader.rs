#![no_main]
//! Framing (`boreal_netlog::proto::FrameReader`): never panics; reading a stream in
//! pieces gives the same frames, in the same order, as reading it whole, up to the
//! first error; every `Need` asks for more than the buffer holds, and never for more
//! than a header or a frame whose header decoded.
//!
//! The first byte (after the mode byte) sets the piece size. Mode bit set: the rest is
//! cut into chunks `[len][tag][len bytes of body]`, each sealed as a valid frame, so
//! the stream holds many real frames (and garbage where a chunk is cut short).

use boreal_netlog::proto::{FrameReader, Message, Step};
use boreal_segment::encode_frame;
use boreal_segment::limits::FRAME_HEADER_SIZE;
use boreal_segment_fuzz::split_mode;
use libfuzzer_sys::fuzz_target;

/// The frames of `stream` read whole, and whether reading stopped at an error.
fn whole(stream: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut reader = FrameReader::new(stream);
    let mut frames = Vec::new();
    loop {
        let before = reader.consumed();
        match reader.next_step() {
            Ok(Step::Frame(_)) => frames.push(&stream[before..reader.consumed()]),
            Ok(Step::Need { .. }) => return (frames, false),
            Err(_) => return (frames, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    let Some((&piece, rest)) = data.split_first() else {
        return;
    };
    let mut built = Vec::new();
    let stream = if reseal {
        let mut rest = rest;
        while let [len, tag, tail @ ..] = rest {
            let n = usize::from(*len).min(tail.len());
            let _ = encode_frame(u16::from(*tag), 1, &tail[..n], &mut built);
            rest = &tail[n..];
        }
        &built[..]
    } else {
        rest
    };
    let (expected, failed) = whole(stream);
    let piece = usize::from(piece).max(1);
    let mut buf: Vec<u8> = Vec::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut fed = 0;
    let mut error = false;
    'feed: while fed < stream.len() {
        let n = piece.min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        let mut reader = FrameReader::new(&buf);
        loop {
            match reader.next_step() {
                Ok(Step::Frame(frame)) => {
                    let _ = Message::decode(frame);
                    let end = reader.consumed();
                    got.push(buf[end - frame.header.frame_len()..end].to_vec());
                }
                Ok(Step::Need { frame_len, have }) => {
                    assert!(frame_len > have);
                    assert_eq!(have, buf.len() - reader.consumed());
                    assert!(frame_len >= FRAME_HEADER_SIZE);
                    break;
                }
                Err(_) => {
                    error = true;
                    break 'feed;
                }
            }
        }
        let used = reader.consumed();
        buf.drain(..used);
    }
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.as_slice(), *e);
    }
    assert_eq!(
        error, failed,
        "piecewise and whole reading disagree on the error"
    );
});
