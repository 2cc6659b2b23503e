#![no_main]
//! Record decoding: never panics; a decoded record re-encodes to the same bytes.

use boreal_segment::{Record, Records};
use boreal_segment_fuzz::{reseal_records, split_mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    let mut bytes = data.to_vec();
    if reseal {
        reseal_records(&mut bytes);
    }
    if let Ok((record, used)) = Record::decode(&bytes) {
        let mut again = Vec::new();
        record
            .encode_to_vec(&mut again)
            .expect("a decoded record encodes");
        assert_eq!(again, bytes[..used], "encoding is not canonical");
    }
    for record in Records::new(&bytes, 0) {
        let _ = record;
    }
});
