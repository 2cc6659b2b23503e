//! Behaviour: `boreal verify` judges a pipelined last batch (journal versions 3 and 4)
//! the way recovery does. When the batch before it did not complete (torn with a sector lacking
//! its stamp, or no readable header where it must be), a plain crash during pipelined
//! writes left this: neither was acknowledged and recovery cuts both, so both are
//! warnings, not errors. When the batch before it completed (valid, or landed in full
//! with its header damaged since), the usual rules hold.

#[path = "datadir/mod.rs"]
mod datadir;

use std::path::{Path, PathBuf};

use boreal_segment::Record;
use datadir::*;

/// Record `lsn` of PG 1's chain, on page `lsn`.
fn redo(lsn: u64) -> Record<'static> {
    hand_redo(lsn, lsn - 1, 1, lsn)
}

/// Batches 0..=3 of one record each (one 4 KiB block each, from offset 4096), batch 3
/// pipelined; returns the offsets.
fn journal(path: &Path) -> Vec<u64> {
    journal_with_windows(path, &[0, 0, 0, 1])
}

/// Batches 0, 1, ... of one record each, with the given pipeline windows; returns the
/// offsets.
fn journal_with_windows(path: &Path, windows: &[u8]) -> Vec<u64> {
    let batches: Vec<HandBatch<'_>> = windows
        .iter()
        .enumerate()
        .map(|(seq, &window)| HandBatch {
            seq: seq as u64,
            records: vec![redo(seq as u64 + 1)],
            window,
        })
        .collect();
    write_journal_batches(path, 0, 1, 64 << 10, &batches)
}

/// Tears batch `seq`'s write: a byte of its record and one sector's stamp.
fn tear(path: &Path, at: &[u64], seq: usize) {
    flip(path, at[seq] + 72 + 56 + 1);
    flip(path, at[seq] + 3 * 512 + 504);
}

/// A fresh `journal-0000.brj` path in its own directory.
fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal-0000.brj");
    (dir, path)
}

fn verify(path: &Path) -> (i32, String) {
    let (code, out, err) = boreal(&["verify", path.to_str().unwrap()]);
    (code, out + &err)
}

fn lines_with<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// Verifies `path`, expecting success with no error and exactly two warnings (the cut
/// window: the incomplete batch and the pipelined one); returns the output and them.
fn two_warnings_no_error(path: &Path) -> (String, Vec<String>) {
    let (code, out) = verify(path);
    assert_eq!(code, 0, "{out}");
    assert!(lines_with(&out, "error").is_empty(), "{out}");
    let warnings: Vec<String> = lines_with(&out, "warning")
        .into_iter()
        .map(str::to_string)
        .collect();
    assert_eq!(warnings.len(), 2, "{out}");
    (out, warnings)
}

#[test]
fn a_pipelined_last_batch_after_one_that_did_not_complete_is_cut_with_it() {
    // Batch 2 torn: a byte of its record and one sector's stamp never written.
    let (_dir, path) = fresh();
    let at = journal(&path);
    tear(&path, &at, 2);
    let (out, warnings) = two_warnings_no_error(&path);
    assert!(
        warnings[0].contains("batch 2 torn (incomplete write)")
            && warnings[0].contains(&format!(
                "pipelined batch 3 at offset {} is the last batch",
                grouped(at[3])
            ))
            && warnings[0].contains("recovery cuts both"),
        "{out}"
    );
    assert!(
        warnings[1].contains(&format!("offset {}: batch 3: pipelined", grouped(at[3])))
            && warnings[1].contains("recovery cuts it"),
        "{out}"
    );

    // No header where batch 2 must be (the part of its write that landed missed the
    // header): the same.
    let (_dir, path) = fresh();
    let at = journal(&path);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xA5; 4096], at[2]).unwrap();
    let (out, warnings) = two_warnings_no_error(&path);
    assert!(
        warnings[0].contains(&format!(
            "offset {}: 4,096 B with no valid batch header",
            grouped(at[2])
        )) && warnings[0].contains("recovery cuts both"),
        "{out}"
    );
    assert!(warnings[1].contains("batch 3: pipelined"), "{out}");

    // The pipelined batch torn too (its body damaged after a complete write, even):
    // still never acknowledged, both cut.
    let (_dir, path) = fresh();
    let at = journal(&path);
    tear(&path, &at, 2);
    flip(&path, at[3] + 72 + 56 + 1);
    let (out, warnings) = two_warnings_no_error(&path);
    assert!(
        warnings[0].contains("batch 2 torn (incomplete write)")
            && warnings[0].contains("recovery cuts both"),
        "{out}"
    );
    assert!(
        warnings[1].contains("batch 3 damaged after a complete write")
            && warnings[1].contains("pipelined")
            && warnings[1].contains("recovery cuts it"),
        "{out}"
    );

    // The same torn batch 2 with a header after the pipelined one: batch 4 was written
    // only once 2 was durable, so 2 was acknowledged and is damaged.
    let (_dir, path) = fresh();
    let at = journal_with_windows(&path, &[0, 0, 0, 1, 0]);
    tear(&path, &at, 2);
    let (code, out) = verify(&path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("batch 2 torn (incomplete write)")
            && out.contains("acknowledged data is lost here"),
        "{out}"
    );
    assert!(!out.contains("recovery cuts"), "{out}");
}

#[test]
fn a_pipelined_last_batch_after_a_completed_one_keeps_the_usual_rules() {
    // Batch 2 valid: nothing to report.
    let (_dir, path) = fresh();
    journal(&path);
    let (code, out) = verify(&path);
    assert_eq!(code, 0, "{out}");
    assert!(lines_with(&out, "warning").is_empty(), "{out}");
    assert!(lines_with(&out, "error").is_empty(), "{out}");

    // Batch 2 landed in full and one bit of its header flipped since: it may have been
    // acknowledged, so it is an error, not part of a cut window.
    let (_dir, path) = fresh();
    let at = journal(&path);
    flip_bit(&path, at[2] + 26, 3); // its file id
    let (code, out) = verify(&path);
    assert_eq!(code, 1, "{out}");
    assert!(lines_with(&out, "warning").is_empty(), "{out}");
    let errors = lines_with(&out, "error");
    assert!(
        errors
            .iter()
            .any(|e| e.contains(&format!("offset {}", grouped(at[2])))
                && e.contains("a batch whose write landed in full, its header damaged since")),
        "{out}"
    );
    assert!(!out.contains("recovery cuts"), "{out}");
}

#[test]
fn a_window_of_two_cuts_every_batch_from_the_first_that_did_not_complete() {
    // Batch 4 was written while 2 and 3 were in flight; 3 while 2 was. 2 never
    // completed: none of 2, 3, 4 was acknowledged, and recovery cuts all three, though 3
    // and 4 are valid. Three warnings, no error.
    let (_dir, path) = fresh();
    let at = journal_with_windows(&path, &[0, 0, 0, 1, 2]);
    tear(&path, &at, 2);
    let (code, out) = verify(&path);
    assert_eq!(code, 0, "{out}");
    assert!(lines_with(&out, "error").is_empty(), "{out}");
    let warnings = lines_with(&out, "warning");
    assert_eq!(warnings.len(), 3, "{out}");
    assert!(
        warnings[0].contains("batch 2 torn (incomplete write)")
            && warnings[0].contains(&format!(
                "pipelined batch 4 at offset {} is the last batch",
                grouped(at[4])
            ))
            && warnings[0].contains("recovery cuts them all"),
        "{out}"
    );
    assert!(
        warnings[1].contains(&format!("offset {}: batch 3: valid", grouped(at[3])))
            && warnings[1].contains("recovery cuts it with them"),
        "{out}"
    );
    assert!(
        warnings[2].contains(&format!("offset {}: batch 4: pipelined", grouped(at[4]))),
        "{out}"
    );

    // 2 valid, 3 torn: the cut starts at 3.
    let (_dir, path) = fresh();
    let at = journal_with_windows(&path, &[0, 0, 0, 1, 2]);
    tear(&path, &at, 3);
    let (out, warnings) = two_warnings_no_error(&path);
    assert!(
        warnings[0].contains("batch 3 torn (incomplete write)")
            && warnings[0].contains("pipelined batch 4"),
        "{out}"
    );
}

#[test]
fn a_window_of_two_is_proven_by_a_later_header_or_a_header_inside_it() {
    // A later batch 5, written with nothing in flight, proves 4 and so 2: 2 was
    // acknowledged and is damaged.
    let (_dir, path) = fresh();
    let at = journal_with_windows(&path, &[0, 0, 0, 1, 2, 0]);
    tear(&path, &at, 2);
    let (code, out) = verify(&path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("batch 2 torn (incomplete write)")
            && out.contains("acknowledged data is lost here"),
        "{out}"
    );
    assert!(!out.contains("recovery cuts"), "{out}");

    // Batch 3 was written with nothing in flight, so 2 had completed: the window of 4
    // does not reach past 3's proof. An error, as recovery reports it missing.
    let (_dir, path) = fresh();
    let at = journal_with_windows(&path, &[0, 0, 0, 0, 2]);
    tear(&path, &at, 2);
    let (code, out) = verify(&path);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("recovery cuts"), "{out}");
}
