#![no_main]
//! Journal file header decoding: never panics; a decoded header re-encodes to the same
//! 4 KiB.

use boreal_segment::JournalFileHeader;
use boreal_segment::limits::JOURNAL_FILE_HEADER_SIZE;
use boreal_segment_fuzz::{reseal_header, split_mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    // Short inputs are padded with zeros so the fuzzer can reach the fields cheaply.
    let mut bytes = data.to_vec();
    if reseal && bytes.len() < JOURNAL_FILE_HEADER_SIZE {
        bytes.resize(JOURNAL_FILE_HEADER_SIZE, 0);
    }
    if reseal {
        reseal_header(&mut bytes, JOURNAL_FILE_HEADER_SIZE);
    }
    if let Ok(header) = JournalFileHeader::decode(&bytes) {
        let again = header.to_vec().expect("a decoded header encodes");
        assert_eq!(again, bytes[..JOURNAL_FILE_HEADER_SIZE]);
    }
});
