#![no_main]
//! Batch decoding and `classify`: never panic; `classify` says `Valid` exactly when
//! `decode_batch` succeeds; a decoded batch rebuilds to the same bytes.

use boreal_segment::{
    Alignment, BatchBuilder, BatchHeader, BatchPlace, Generation, JournalFileId, Region, classify,
    decode_batch,
};
use boreal_segment_fuzz::{reseal_batch, split_mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (reseal, data) = split_mode(data);
    let mut bytes = data.to_vec();
    if reseal {
        reseal_batch(&mut bytes);
    }
    let fixed = BatchPlace {
        file_id: JournalFileId::new(1),
        generation: Generation::new(1),
        alignment: Alignment::JOURNAL,
        file_offset: 4096,
    };
    let _ = classify(&bytes, &fixed);
    let _ = decode_batch(&bytes, &fixed);
    let Ok(header) = BatchHeader::decode(&bytes) else {
        return;
    };
    let place = header.place();
    let decoded = decode_batch(&bytes, &place);
    let region = classify(&bytes, &place);
    assert_eq!(decoded.is_ok(), matches!(region, Region::Valid(_)));
    let Ok(view) = decoded else { return };
    let mut buf = vec![0u8; view.padded_len()];
    let mut builder = BatchBuilder::new(&mut buf, place, header.sequence).expect("valid place");
    for record in view.records() {
        builder
            .push(&record.expect("decoded batch has valid records"))
            .expect("fits");
    }
    if !header.redo_only {
        builder.claim_nothing();
    }
    assert_eq!(builder.seal(), header);
    assert_eq!(
        buf,
        bytes[..view.padded_len()],
        "batch encoding is not canonical"
    );
});
