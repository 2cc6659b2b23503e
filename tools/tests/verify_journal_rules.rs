//! Behaviour: `boreal verify` holds hand-made journal files (encoded with
//! `boreal-segment`) to the rules the engine's writer keeps: batch sequences run on
//! without a gap, and backlinks never skip a present record or land on another PG's.

#[path = "datadir/mod.rs"]
mod datadir;

use datadir::hand_redo as redo;
use datadir::*;

#[test]
fn a_sequence_gap_is_named_with_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal-0000.brj");
    let batches = vec![
        (0, vec![redo(1, 0, 1, 1)]),
        (1, vec![redo(2, 1, 1, 2)]),
        (3, vec![redo(3, 2, 1, 3)]),
    ];
    write_journal(&path, 0, 1, 64 << 10, &batches);
    let (code, out, _) = boreal(&["verify", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("offset 12,288: batch sequence 3 follows 1 (expected 2)"),
        "{out}"
    );
    assert!(out.contains("1 problem in 1 file"), "{out}");
}

#[test]
fn a_backlink_that_skips_a_record_or_crosses_pgs_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal-0000.brj");
    let batches = vec![
        (0, vec![redo(1, 0, 1, 1), redo(2, 1, 1, 2)]),
        // lsn 3 names lsn 1 as its PG predecessor, but lsn 2 of pg 1 is present.
        (1, vec![redo(3, 1, 1, 3)]),
        // lsn 4 (pg 2) names lsn 3, a record of pg 1.
        (2, vec![redo(4, 3, 2, 100)]),
    ];
    write_journal(&path, 0, 1, 64 << 10, &batches);
    let (code, out, _) = boreal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("journal-0000.brj: offset 8,264: lsn 3 of pg 1 names prev_lsn_pg 1, but lsn 2 of the same PG lies between"),
        "{out}"
    );
    assert!(
        out.contains("lsn 4 of pg 2 names prev_lsn_pg 3, which is a record of pg 1"),
        "{out}"
    );
    let (code, out, _) = boreal(&["inspect", "--records", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("lsn 3 prev_lsn_pg 1"), "{out}");
}

#[test]
fn a_journal_file_named_for_another_id_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal-0002.brj");
    write_journal(&path, 5, 1, 64 << 10, &[(0, vec![redo(1, 0, 1, 1)])]);
    let (code, out, _) = boreal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "journal-0002.brj: offset 16: header names file id 5 (expected 2 from the file name)"
        ),
        "{out}"
    );
}
