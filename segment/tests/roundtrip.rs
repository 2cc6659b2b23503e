//! Behaviour: every format decodes to exactly what was encoded, and an encoding is
//! canonical (re-encoding a decoded value gives the same bytes).

mod common;

use boreal_segment::limits::{FRAME_HEADER_SIZE, PAGE_HEADER_SIZE, RECORD_HEADER_SIZE};
use boreal_segment::{
    BatchBuilder, BatchSeq, JournalFileHeader, Record, Records, Region, SegmentMeta, classify,
    decode_batch, decode_frame, decode_page, encode_frame, seal_page,
};
use boreal_segment::{Generation, JournalFileId, JournalVersion, Lsn, PageId};
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn record_round_trips(owned in record(), trailing in proptest::collection::vec(any::<u8>(), 0..16)) {
        let rec = owned.as_record();
        let mut buf = Vec::new();
        let written = rec.encode_to_vec(&mut buf).unwrap();
        prop_assert_eq!(written, rec.encoded_len());
        let canonical = buf.clone();
        buf.extend_from_slice(&trailing);
        let (back, used) = Record::decode(&buf).unwrap();
        prop_assert_eq!(back, rec);
        prop_assert_eq!(used, written);
        let mut again = Vec::new();
        back.encode_to_vec(&mut again).unwrap();
        prop_assert_eq!(again, canonical);
    }

    #[test]
    fn records_laid_end_to_end_iterate_in_order(owned in proptest::collection::vec(record(), 0..20)) {
        let mut buf = Vec::new();
        for r in &owned {
            r.as_record().encode_to_vec(&mut buf).unwrap();
        }
        let back: Vec<Record<'_>> = Records::new(&buf, 0).collect::<Result<_, _>>().unwrap();
        let expected: Vec<Record<'_>> = owned.iter().map(OwnedRecord::as_record).collect();
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn batch_round_trips(
        place in place(),
        owned in proptest::collection::vec(record(), 0..24),
        sequence in any::<u64>(),
        extra_blocks in 0usize..3,
    ) {
        let body: usize = owned.iter().map(|r| r.as_record().encoded_len()).sum();
        let padded = boreal_segment::batch_len(place.version, place.alignment, body);
        let mut buf = vec![0xEEu8; padded + extra_blocks * place.alignment.bytes()];
        let mut builder = BatchBuilder::new(&mut buf, place, BatchSeq::new(sequence)).unwrap();
        for r in &owned {
            builder.push(&r.as_record()).unwrap();
        }
        let header = builder.seal();
        prop_assert_eq!(header.padded_len(), padded);
        prop_assert_eq!(header.record_count as usize, owned.len());
        prop_assert_eq!(header.sequence, BatchSeq::new(sequence));
        let lsns: Vec<Lsn> = owned.iter().filter_map(|r| r.as_record().lsn()).collect();
        prop_assert_eq!(header.first_lsn, lsns.iter().copied().min().unwrap_or(Lsn::ZERO));
        prop_assert_eq!(header.last_lsn, lsns.iter().copied().max().unwrap_or(Lsn::ZERO));

        let mut copy = buf.clone();
        let view = decode_batch(&mut copy, &place).unwrap();
        prop_assert_eq!(*view.header(), header);
        let back: Vec<Record<'_>> = view.records().collect::<Result<_, _>>().unwrap();
        let expected: Vec<Record<'_>> = owned.iter().map(OwnedRecord::as_record).collect();
        prop_assert_eq!(back, expected);
        let mut again = buf.clone();
        prop_assert_eq!(classify(&mut again, &place), Region::Valid(view));
    }

    /// A batch of records decoded with their checksums verified (`decode_valid`, what a
    /// node journals: the records copied as they arrived) is byte for byte the batch of
    /// the same records encoded afresh, on every version and at every sector boundary.
    #[test]
    fn a_batch_of_decoded_records_is_the_batch_of_the_records_encoded_again(
        place in place(),
        owned in proptest::collection::vec(record(), 0..24),
        sequence in any::<u64>(),
    ) {
        let mut wire = Vec::new();
        for r in &owned {
            r.as_record().encode_to_vec(&mut wire).unwrap();
        }
        let body: usize = wire.len();
        let padded = boreal_segment::batch_len(place.version, place.alignment, body);
        let mut fresh = vec![0xEEu8; padded];
        let mut builder = BatchBuilder::new(&mut fresh, place, BatchSeq::new(sequence)).unwrap();
        for r in &owned {
            builder.push(&r.as_record()).unwrap();
        }
        let fresh_header = builder.seal();
        let mut copied = vec![0x11u8; padded];
        let mut builder = BatchBuilder::new(&mut copied, place, BatchSeq::new(sequence)).unwrap();
        let mut at = 0;
        while at < wire.len() {
            let (valid, used) = Record::decode_valid(&wire[at..]).unwrap();
            prop_assert_eq!(valid.encoded(), Some(&wire[at..at + used]));
            builder.push_valid(&valid).unwrap();
            at += used;
        }
        prop_assert_eq!(builder.seal(), fresh_header);
        prop_assert_eq!(copied, fresh);
    }

    #[test]
    fn journal_file_header_round_trips(
        file in any::<u64>(),
        generation in any::<u64>(),
        alignment in alignment(),
        blocks in 2u64..1 << 28,
        v1 in any::<bool>(),
    ) {
        let h = JournalFileHeader {
            version: if v1 { JournalVersion::V1 } else { JournalVersion::V2 },
            file_id: JournalFileId::new(file),
            generation: Generation::new(generation),
            alignment,
            file_size: blocks * u64::from(alignment.get()) + 4096,
        };
        let bytes = h.to_vec().unwrap();
        prop_assert_eq!(JournalFileHeader::decode(&bytes).unwrap(), h);
        prop_assert_eq!(h.place(8192).file_id, h.file_id);
    }

    #[test]
    fn page_round_trips(size in page_size(), page in any::<u64>(), lsn in any::<u64>(), seed in any::<u8>()) {
        let mut buf: Vec<u8> = (0..size.bytes()).map(|i| (i as u8) ^ seed).collect();
        let payload = buf[PAGE_HEADER_SIZE..].to_vec();
        let header = seal_page(&mut buf, PageId::new(page), Lsn::new(lsn)).unwrap();
        let view = decode_page(&buf, size, PageId::new(page)).unwrap();
        prop_assert_eq!(view.header, header);
        prop_assert_eq!(view.header.page_lsn, Lsn::new(lsn));
        prop_assert_eq!(view.header.page_size, size);
        prop_assert_eq!(view.payload, &payload[..]);
    }

    #[test]
    fn segment_meta_round_trips(meta in segment_meta()) {
        let bytes = meta.encode();
        let back = SegmentMeta::decode(&bytes).unwrap();
        prop_assert_eq!(back, meta);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn frame_round_trips(
        tag in 1u16..,
        request_id in any::<u64>(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        trailing in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = Vec::new();
        encode_frame(tag, request_id, &body, &mut buf).unwrap();
        buf.extend_from_slice(&trailing);
        let (frame, used) = decode_frame(&buf).unwrap();
        prop_assert_eq!(used, FRAME_HEADER_SIZE + body.len());
        prop_assert_eq!(frame.header.tag, tag);
        prop_assert_eq!(frame.header.request_id, request_id);
        prop_assert_eq!(frame.body, &body[..]);
        prop_assert_eq!(&frame.header.encode()[..], &buf[..FRAME_HEADER_SIZE]);
    }
}

#[test]
fn a_redo_record_of_a_128_byte_change_costs_a_56_byte_header() {
    let owned = small_redo(9, &[1u8; 128]);
    assert_eq!(owned.as_record().encoded_len(), RECORD_HEADER_SIZE + 128);
    assert_eq!(RECORD_HEADER_SIZE, 56);
}
