#![no_main]
//! Message decoding (`boreal_netlog::proto::Message::decode`): never panics; a decoded
//! message iterates to its end and re-encodes to exactly the frame's bytes.
//!
//! Mode bit clear: the input is frame bytes as received. Mode bit set: the input is a
//! little-endian tag, a request id byte, then a body, sealed into a valid frame, so the
//! fuzzer works on the message decoders behind the frame checksums.

use boreal_netlog::proto::{FrameReader, Message, Step};
use boreal_segment::encode_frame;
use boreal_segment_fuzz::split_mode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    let mut sealed = Vec::new();
    let bytes = if reseal {
        let [lo, hi, id, body @ ..] = data else {
            return;
        };
        let tag = u16::from_le_bytes([*lo, *hi]);
        if encode_frame(tag, u64::from(*id), body, &mut sealed).is_err() {
            return;
        }
        &sealed[..]
    } else {
        data
    };
    let Ok(Step::Frame(frame)) = FrameReader::new(bytes).next_step() else {
        return;
    };
    let Ok(msg) = Message::decode(frame) else {
        return;
    };
    match &msg {
        Message::AppendBatch(m) => {
            assert_eq!(m.records.iter().count(), m.records.len());
            let _ = m.records.verify_checksums();
        }
        Message::FetchedRecords(m) => {
            assert_eq!(m.records.iter().count(), m.records.len());
            let _ = m.records.verify_checksums();
        }
        Message::HelloReply(m) => {
            assert_eq!(m.ports.iter().count(), m.ports.len());
            let _ = m.port_of(boreal_segment::PgId::new(u32::from(frame.header.flags)));
        }
        Message::StatusReply(m) => assert_eq!(m.holes.iter().count(), m.holes.len()),
        Message::CoreStatusReply(m) => assert_eq!(m.segments.iter().count(), m.segments.len()),
        Message::TruncationsReply(m) => assert_eq!(m.ranges.iter().count(), m.ranges.len()),
        _ => {}
    }
    let _ = format!("{msg:?}");
    let mut again = Vec::new();
    msg.encode(frame.header.request_id, &mut again)
        .expect("a decoded message encodes");
    assert_eq!(
        again,
        bytes[..frame.header.frame_len()],
        "encoding is not canonical"
    );
});
