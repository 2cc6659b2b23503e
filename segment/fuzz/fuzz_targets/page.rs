#![no_main]
//! Page decoding: never panics; a decoded page reseals to the same bytes.

use boreal_segment::checksum::crc32c;
use boreal_segment::limits::PAGE_HEADER_SIZE;
use boreal_segment::{PageId, PageSize, decode_page, seal_page};
use boreal_segment_fuzz::{reseal_header, split_mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    let size = PageSize::new(4096).expect("valid");
    let mut bytes = data.to_vec();
    if reseal {
        bytes.resize(size.bytes(), 0);
        let sum = crc32c(&bytes[PAGE_HEADER_SIZE..]);
        bytes[4..8].copy_from_slice(&sum.to_le_bytes());
        reseal_header(&mut bytes, PAGE_HEADER_SIZE);
    }
    // Ask for the page id the header claims, so the checks behind it are reached.
    let claimed = bytes
        .get(16..24)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or_default();
    let _ = decode_page(&bytes, PageSize::DEFAULT, PageId::new(claimed));
    if let Ok(view) = decode_page(&bytes, size, PageId::new(claimed)) {
        let mut again = bytes.clone();
        let header = seal_page(&mut again, view.header.page_id, view.header.page_lsn)
            .expect("a decoded page seals");
        assert_eq!(header, view.header);
        assert_eq!(again, bytes);
    }
});
