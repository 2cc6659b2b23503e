//! Behaviour: a last batch whose write landed in full and whose header was damaged
//! since (one bit flipped: the header no longer decodes, but with the bit corrected it
//! names its place and every sector carries the stamp it gives) may have been
//! acknowledged: `boreal verify` reports it as an error, not as a torn tail, and
//! `boreal inspect` shows the region as landed.

#[path = "datadir/mod.rs"]
mod datadir;

use boreal_segment::Record;
use datadir::*;

/// Record `lsn` of PG 1's chain, on page `lsn`.
fn redo(lsn: u64) -> Record<'static> {
    hand_redo(lsn, lsn - 1, 1, lsn)
}

#[test]
fn a_landed_last_batch_with_a_flipped_header_bit_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal-0000.brj");
    let batches: Vec<(u64, Vec<Record<'_>>)> =
        (0..3).map(|seq| (seq, vec![redo(seq + 1)])).collect();
    write_journal(&path, 0, 1, 64 << 10, &batches);
    let last = 4096 * 3;
    flip_bit(&path, last + 26, 3); // a bit of its file id
    let (code, out, err) = boreal(&["verify", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(
        errors[0].contains(&format!(
            "offset {}: 4,096 B after the last batch",
            grouped(last)
        )),
        "{out}"
    );
    assert!(
        out.contains("a batch whose write landed in full, its header damaged since")
            && out.contains("recovery corrects the one flipped header bit and replays the batch"),
        "{out}"
    );
    assert!(!out.contains("torn tail"), "{out}");

    // Inspect says so too, and keeps the landed block a region of its own.
    let doc = inspect_json(&path, &[]);
    let regions = file(&doc, path.to_str().unwrap())["regions"]
        .as_array()
        .unwrap()
        .clone();
    let garbage = regions
        .iter()
        .find(|r| r["offset"] == last)
        .unwrap_or_else(|| panic!("no region at {last}: {regions:?}"));
    assert_eq!(garbage["state"], "garbage");
    assert_eq!(garbage["landed"], true);
    assert_eq!(garbage["header_correctable"], true);
    assert_eq!(garbage["len"], 4096);
    let (code, out, err) = boreal(&["inspect", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("landed in full (header damaged since)"),
        "{out}"
    );

    // Garbage that is no batch (two bits of its place fields flipped: nothing proves it
    // belongs here) stays a torn tail.
    flip_bit(&path, last + 34, 1);
    let (code, out, _) = boreal(&["verify", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("torn tail"), "{out}");
    let doc = inspect_json(&path, &[]);
    let regions = &file(&doc, path.to_str().unwrap())["regions"];
    assert_eq!(regions[2]["offset"], last);
    assert_eq!(regions[2]["landed"], false);
    assert_eq!(regions[2]["header_correctable"], false);
}
