#![no_main]
//! Segment metadata decoding: never panics; decoded metadata re-encodes to the same
//! bytes.

use boreal_segment::SegmentMeta;
use boreal_segment::limits::SEGMENT_META_SIZE;
use boreal_segment_fuzz::{reseal_header, split_mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    let mut bytes = data.to_vec();
    if reseal {
        reseal_header(&mut bytes, SEGMENT_META_SIZE);
    }
    if let Ok(meta) = SegmentMeta::decode(&bytes) {
        assert_eq!(meta.encode()[..], bytes[..SEGMENT_META_SIZE]);
    }
});
