#![no_main]
//! Batch decoding and `classify`: never panic; `classify` says `Valid` exactly when
//! `decode_batch` succeeds; a decoded batch rebuilds to the same bytes, except in the
//! sector stamps of a version-2 batch (a valid batch's records are checked whatever its
//! stamps say, so damaged stamps leave it valid; the rebuilt ones are the right ones).

use boreal_segment::limits::{STAMP_SECTOR_PAYLOAD, STAMP_SECTOR_SIZE};
use boreal_segment::{
    Alignment, BatchBuilder, BatchHeader, BatchPlace, Generation, JournalFileId, JournalVersion,
    Region, classify, decode_batch,
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
        version: JournalVersion::CURRENT,
    };
    let _ = classify(&mut bytes.clone(), &fixed);
    let _ = decode_batch(&mut bytes.clone(), &fixed);
    let Ok(header) = BatchHeader::decode(&bytes) else {
        return;
    };
    let place = header.place();
    let mut decoded_bytes = bytes.clone();
    let decoded = decode_batch(&mut decoded_bytes, &place);
    let mut classified_bytes = bytes.clone();
    let region = classify(&mut classified_bytes, &place);
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
    let mut original = bytes[..view.padded_len()].to_vec();
    if header.version.stamped() {
        for (sector, rebuilt) in original
            .chunks_exact_mut(STAMP_SECTOR_SIZE)
            .zip(buf.chunks_exact(STAMP_SECTOR_SIZE))
        {
            sector[STAMP_SECTOR_PAYLOAD..].copy_from_slice(&rebuilt[STAMP_SECTOR_PAYLOAD..]);
        }
    }
    assert_eq!(buf, original, "batch encoding is not canonical");
});
