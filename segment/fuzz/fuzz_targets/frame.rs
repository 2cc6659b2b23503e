#![no_main]
//! Frame decoding: never panics; a decoded frame re-encodes to the same bytes.

use boreal_segment::limits::FRAME_HEADER_SIZE;
use boreal_segment::{FrameHeader, decode_frame, encode_frame};
use boreal_segment_fuzz::{reseal_header, split_mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    let mut bytes = data.to_vec();
    if reseal && bytes.len() >= FRAME_HEADER_SIZE {
        let body_len = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes")) as usize;
        if let Some(body) = bytes.get(FRAME_HEADER_SIZE..FRAME_HEADER_SIZE.saturating_add(body_len))
        {
            let sum = boreal_segment::checksum::crc32c(body);
            bytes[4..8].copy_from_slice(&sum.to_le_bytes());
        }
        reseal_header(&mut bytes, FRAME_HEADER_SIZE);
    }
    let _ = FrameHeader::decode(&bytes);
    if let Ok((frame, used)) = decode_frame(&bytes) {
        let mut again = Vec::new();
        encode_frame(
            frame.header.tag,
            frame.header.request_id,
            frame.body,
            &mut again,
        )
        .expect("a decoded frame encodes");
        assert_eq!(again, bytes[..used]);
    }
});
