#![no_main]
//! Record decoding: never panics; a decoded record re-encodes to the same bytes, and
//! `decode_valid` takes exactly what `decode` takes and journals those bytes.

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
        let (valid, valid_used) = Record::decode_valid(&bytes).expect("decode took it");
        assert_eq!((*valid.get(), valid_used), (record, used));
        let mut copied = vec![0u8; used];
        valid.encode_into(&mut copied).expect("room for the record");
        assert_eq!(copied, again, "a decoded record journals other bytes");
    } else {
        assert!(Record::decode_valid(&bytes).is_err());
    }
    for record in Records::new(&bytes, 0) {
        let _ = record;
    }
});
