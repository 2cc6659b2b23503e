//! Behaviour: every decoder, fed arbitrary bytes, returns a value or a typed error and
//! never panics. Random bytes rarely get past a magic or checksum, so the tests also
//! feed valid encodings with random bytes overwritten and the header checksum re-sealed,
//! which reaches the field checks behind the checksum.

mod common;

use boreal_segment::checksum::crc32c;
use boreal_segment::limits::{BATCH_HEADER_SIZE, FRAME_HEADER_SIZE, RECORD_HEADER_SIZE};
use boreal_segment::{
    BatchHeader, FrameHeader, JournalFileHeader, PageId, PageSize, Record, Records, SegmentMeta,
    classify, decode_batch, decode_frame, decode_page,
};
use common::*;
use proptest::prelude::*;

/// Runs every decoder on `bytes`.
fn decode_everything(bytes: &[u8]) {
    let _ = Record::decode(bytes);
    let _ = Records::new(bytes, 0).count();
    let _ = BatchHeader::decode(bytes);
    let _ = decode_batch(&mut bytes.to_vec(), &fixed_place());
    let _ = classify(&mut bytes.to_vec(), &fixed_place());
    let _ = JournalFileHeader::decode(bytes);
    let _ = SegmentMeta::decode(bytes);
    let _ = FrameHeader::decode(bytes);
    let _ = decode_frame(bytes);
    for size in [4096, 8192] {
        let _ = decode_page(bytes, PageSize::new(size).unwrap(), PageId::new(1));
    }
}

/// Overwrites `edits` bytes and re-seals the checksum over `[4, header_len)` at 0.
fn mutate_and_reseal(bytes: &mut [u8], edits: &[(usize, u8)], header_len: usize) {
    for &(at, value) in edits {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] = value;
        }
    }
    if bytes.len() >= header_len {
        let sum = crc32c(&bytes[4..header_len]);
        bytes[..4].copy_from_slice(&sum.to_le_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..9000)) {
        decode_everything(&bytes);
    }

    #[test]
    fn resealed_records_never_panic_and_stay_canonical(
        owned in record(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = Vec::new();
        owned.as_record().encode_to_vec(&mut bytes).unwrap();
        // Edit only the header so the body checksum still holds and field checks run.
        let header_edits: Vec<_> = edits.iter().map(|&(at, v)| (at % RECORD_HEADER_SIZE, v)).collect();
        mutate_and_reseal(&mut bytes, &header_edits, RECORD_HEADER_SIZE);
        decode_everything(&bytes);
        if let Ok((rec, used)) = Record::decode(&bytes) {
            let mut again = Vec::new();
            rec.encode_to_vec(&mut again).unwrap();
            prop_assert_eq!(&again[..], &bytes[..used]);
        }
        let cut = cut % (bytes.len() + 1);
        decode_everything(&bytes[..cut]);
    }

    #[test]
    fn resealed_batches_never_panic(
        place in place(),
        owned in proptest::collection::vec(record(), 0..6),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = build_batch(place, &owned, batch_len(place, &owned));
        let header_edits: Vec<_> = edits.iter().map(|&(at, v)| (at % BATCH_HEADER_SIZE, v)).collect();
        mutate_and_reseal(&mut bytes, &header_edits, BATCH_HEADER_SIZE);
        let _ = decode_batch(&mut bytes.clone(), &place);
        let _ = classify(&mut bytes.clone(), &place);
        decode_everything(&bytes);
    }

    #[test]
    fn resealed_frames_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = Vec::new();
        boreal_segment::encode_frame(1, 2, &body, &mut bytes).unwrap();
        let header_edits: Vec<_> = edits.iter().map(|&(at, v)| (at % FRAME_HEADER_SIZE, v)).collect();
        mutate_and_reseal(&mut bytes, &header_edits, FRAME_HEADER_SIZE);
        decode_everything(&bytes);
    }
}
