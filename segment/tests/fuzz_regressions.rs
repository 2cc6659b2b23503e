//! Regression tests for inputs the cargo-fuzz targets found (STYLE habit 9). Each test
//! is named for the target and what the input showed.

mod common;

use boreal_segment::{BatchBuilder, BatchSeq, decode_batch};
use common::*;

/// `batch` target, 2026-11-26: a batch of redo records whose header leaves `redo_only`
/// clear is valid (it claims nothing, like a batch written before the flag existed), but
/// the builder always set the flag for redo-only batches, so such a batch could not be
/// re-encoded byte for byte. `claim_nothing` makes the encoding canonical again.
#[test]
fn fuzz_batch_redo_only_batch_with_the_flag_clear_reencodes_exactly() {
    let place = fixed_place();
    let body = [3u8; 40];
    let mut original = vec![0u8; 4096];
    let mut builder = BatchBuilder::new(&mut original, place, BatchSeq::new(9)).unwrap();
    for lsn in 1..=3 {
        builder.push(&small_redo(lsn, &body).as_record()).unwrap();
    }
    builder.claim_nothing();
    let header = builder.seal();
    assert!(!header.redo_only, "the claim is cleared");

    let mut decoded = original.clone();
    let view = decode_batch(&mut decoded, &place).expect("a clear flag is valid");
    assert!(!view.header().redo_only);

    let mut again = vec![0u8; view.padded_len()];
    let mut rebuild = BatchBuilder::new(&mut again, place, header.sequence).unwrap();
    for record in view.records() {
        rebuild.push(&record.unwrap()).unwrap();
    }
    rebuild.claim_nothing();
    assert_eq!(rebuild.seal(), header);
    assert_eq!(again, original[..view.padded_len()]);
}
