//! Behaviour: the batch builder fills a caller's buffer up to its byte limit, reports
//! "full" without changing the batch, caps at `BATCH_BYTES_MAX`, refuses invalid
//! records, and always seals a batch that decodes.

mod common;

use boreal_segment::limits::{
    BATCH_BODY_BYTES_MAX, BATCH_BYTES_MAX, BATCH_HEADER_SIZE, RECORD_HEADER_SIZE,
};
use boreal_segment::{
    Alignment, BatchBuilder, BatchPlace, BatchSeq, Change, Error, Lsn, PageId, PgId, Record, Redo,
    body_capacity, decode_batch,
};
use common::*;

#[test]
fn full_is_reported_and_the_batch_still_seals() {
    let place = fixed_place();
    let mut buf = vec![0u8; 8192];
    let mut builder = BatchBuilder::new(&mut buf, place, BatchSeq::new(1)).unwrap();
    let body = [7u8; 200];
    let per_record = RECORD_HEADER_SIZE + body.len();
    let mut lsn = 1;
    loop {
        let owned = small_redo(lsn, &body);
        let remaining = builder.remaining();
        match builder.push(&owned.as_record()) {
            Ok(()) => lsn += 1,
            Err(Error::BatchFull { needed, available }) => {
                assert_eq!((needed, available), (per_record, remaining));
                assert!(available < per_record);
                assert_eq!(
                    builder.remaining(),
                    remaining,
                    "a refused push changes nothing"
                );
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let pushed = lsn - 1;
    // 16 sectors of 504 logical bytes each, the header included.
    assert_eq!(pushed as usize, (16 * 504 - BATCH_HEADER_SIZE) / per_record);
    assert_eq!(
        body_capacity(place.version, 8192),
        16 * 504 - BATCH_HEADER_SIZE
    );
    let header = builder.seal();
    assert_eq!(header.record_count as u64, pushed);
    assert_eq!(header.padded_len(), 8192);
    assert_eq!(
        decode_batch(&mut buf, &place).unwrap().records().count() as u64,
        pushed
    );
}

#[test]
fn a_record_that_exactly_fills_the_buffer_fits() {
    let place = BatchPlace {
        alignment: Alignment::new(512).unwrap(),
        ..fixed_place()
    };
    let mut buf = vec![0u8; 1024];
    let mut builder = BatchBuilder::new(&mut buf, place, BatchSeq::new(1)).unwrap();
    // Two sectors of 504 logical bytes: the record crosses the first sector's stamp.
    let exact = small_redo(
        5,
        &vec![1u8; 2 * 504 - BATCH_HEADER_SIZE - RECORD_HEADER_SIZE],
    );
    assert!(builder.fits(&exact.as_record()));
    builder.push(&exact.as_record()).unwrap();
    assert_eq!(builder.remaining(), 0);
    assert_eq!(builder.seal().padded_len(), 1024);
    assert!(decode_batch(&mut buf, &place).is_ok());
}

#[test]
fn a_buffer_larger_than_the_batch_limit_is_capped() {
    let place = fixed_place();
    let mut buf = vec![0u8; BATCH_BYTES_MAX * 2];
    let builder = BatchBuilder::new(&mut buf, place, BatchSeq::new(1)).unwrap();
    assert_eq!(builder.remaining(), BATCH_BODY_BYTES_MAX);
    assert_eq!(
        BATCH_BODY_BYTES_MAX,
        BATCH_BYTES_MAX / 512 * 504 - BATCH_HEADER_SIZE
    );
}

#[test]
fn an_invalid_record_is_refused_and_changes_nothing() {
    let place = fixed_place();
    let mut buf = vec![0u8; 4096];
    let mut builder = BatchBuilder::new(&mut buf, place, BatchSeq::new(1)).unwrap();
    let bad = Record::Redo(Redo {
        lsn: Lsn::new(5),
        prev_lsn_pg: Lsn::new(6),
        prev_lsn_page: Lsn::ZERO,
        pg_id: PgId::new(1),
        page_id: PageId::new(1),
        cpl: false,
        change: Change::Delta {
            offset: 0,
            bytes: b"x",
        },
    });
    assert!(matches!(
        builder.push(&bad),
        Err(Error::LsnOutOfOrder { .. })
    ));
    assert!(builder.is_empty());
    builder.seal();
    let view = decode_batch(&mut buf, &place).unwrap();
    assert_eq!(view.header().record_count, 0);
    assert_eq!(view.header().first_lsn, Lsn::ZERO);
}
