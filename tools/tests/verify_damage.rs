//! Behaviour: one flipped byte anywhere the engine keeps state (a batch body, a record
//! header, a batch header, a page, a metadata slot, a catalog slot) makes `boreal
//! verify` exit 1 and name the file and the offset; a torn journal tail is a warning
//! (exit 0, exit 1 with `--strict`); a last batch whose write landed in full and was
//! damaged afterwards, or a damaged last batch of a file that a newer file follows, is
//! an error.

#[path = "datadir/mod.rs"]
mod datadir;

use std::path::Path;

use datadir::*;

/// Offset of batch `seq` in `journal-0000.brj` (one 4 KiB block per batch).
fn batch_offset(seq: u64) -> u64 {
    4096 * (seq + 1)
}

fn core() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    build_core(dir.path());
    dir
}

fn verify(dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["verify"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let (code, out, err) = boreal(&args);
    (code, out + &err)
}

#[test]
fn a_flipped_batch_body_byte_is_named_by_record_and_offset() {
    let dir = core();
    // Inside the body of the only record of batch 10.
    let record = batch_offset(10) + 72;
    flip(&dir.path().join("journal-0000.brj"), record + 56 + 10);
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: journal-0000.brj: offset 45,128: batch 10 damaged"),
        "{out}"
    );
    assert!(out.contains("record body: checksum mismatch"), "{out}");
    assert!(
        out.contains("between batch 9 at offset 40,960 and batch 11 at offset 49,152"),
        "{out}"
    );
    assert!(
        out.contains("1 problem in 1 file (1 error, 0 warnings)"),
        "{out}"
    );
}

#[test]
fn a_flipped_record_header_byte_is_named() {
    let dir = core();
    let record = batch_offset(20) + 72;
    flip(&dir.path().join("journal-0000.brj"), record + 30);
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "journal-0000.brj: offset {}: batch 20 damaged",
            grouped(record)
        )),
        "{out}"
    );
    assert!(out.contains("record header: checksum mismatch"), "{out}");
}

#[test]
fn a_lost_batch_header_breaks_the_sequence() {
    let dir = core();
    flip(&dir.path().join("journal-0000.brj"), batch_offset(40) + 50);
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("journal-0000.brj: offset 167,936: 4,096 B with no valid batch header"),
        "{out}"
    );
    assert!(
        out.contains(
            "journal-0000.brj: offset 172,032: batch sequence 41 follows 39 (expected 40)"
        ),
        "{out}"
    );
    assert!(out.contains("2 problems in 1 file"), "{out}");
}

/// A torn last write (here: a byte of its records and a sector whose stamp is not the
/// batch's, as when that sector still holds older bytes) is what a crash leaves: a
/// warning, which recovery cuts.
#[test]
fn a_torn_tail_is_a_warning_unless_strict() {
    let dir = core();
    // The last batch of the newest file (journal-0001, generation 2): batch 69.
    let last = 4096 * (RECORDS - 1 - BATCHES_PER_FILE + 1);
    let path = dir.path().join("journal-0001.brj");
    flip(&path, last + 72 + 56 + 5);
    flip(&path, last + 3 * 512 + 504); // sector 3's stamp
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "warning: journal-0001.brj: offset {}: torn tail: batch 69 torn (incomplete write)",
            grouped(last + 72)
        )),
        "{out}"
    );
    assert!(
        out.contains("1 problem in 1 file (0 errors, 1 warning)"),
        "{out}"
    );
    let (code, _) = verify(dir.path(), &["--strict"]);
    assert_eq!(code, 1);
}

/// The same last batch with only its records damaged: every sector carries its stamp,
/// so the write landed in full and was damaged afterwards. It may have been
/// acknowledged: an error (recovery reports it missing), not a torn tail.
#[test]
fn a_damaged_complete_last_write_is_an_error_not_a_torn_tail() {
    let dir = core();
    let last = 4096 * (RECORDS - 1 - BATCHES_PER_FILE + 1);
    flip(&dir.path().join("journal-0001.brj"), last + 72 + 56 + 5);
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "error: journal-0001.brj: offset {}: batch 69 damaged after a complete write",
            grouped(last + 72)
        )),
        "{out}"
    );
    assert!(
        out.contains("recovery reports it missing and never cuts it"),
        "{out}"
    );
    assert!(!out.contains("torn tail"), "{out}");
}

#[test]
fn a_damaged_last_batch_of_an_older_file_is_an_error() {
    let dir = core();
    let last = batch_offset(BATCHES_PER_FILE - 1);
    flip(&dir.path().join("journal-0000.brj"), last + 72 + 56 + 5);
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("batch 62 damaged"), "{out}");
    assert!(
        out.contains("a newer journal file (generation 2) was written after it"),
        "{out}"
    );
}

#[test]
fn a_flipped_page_byte_is_named() {
    let dir = core();
    let doc = inspect_json(dir.path(), &["--pages"]);
    let pages = file(&doc, "pg-1.pages");
    let pair = pages["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slots"][0]["state"] == "valid" && p["slots"][1]["state"] == "valid")
        .expect("a page written twice");
    let newest = pair["newest"].as_u64().unwrap();
    let slot = pair["offset"].as_u64().unwrap() + newest * u64::from(PAGE_SIZE);
    flip(&dir.path().join("pg-1.pages"), slot + 100);
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    let page = pair["page"].as_u64().unwrap();
    let want = format!(
        "error: pg-1.pages: offset {}: slot {newest} of page {page} damaged: page payload: checksum mismatch",
        grouped(slot + 32)
    );
    assert!(out.contains(&want), "{want}\n{out}");
}

#[test]
fn a_misplaced_page_is_named() {
    let dir = core();
    // Copy page 1's slot 0 over page 2's slot 0: a valid page in the wrong place.
    let path = dir.path().join("pg-1.pages");
    let mut bytes = std::fs::read(&path).unwrap();
    let ps = PAGE_SIZE as usize;
    let (src, dst) = (2 * ps, 4 * ps);
    let page1 = bytes[src..src + ps].to_vec();
    bytes[dst..dst + ps].copy_from_slice(&page1);
    std::fs::write(&path, bytes).unwrap();
    let (code, out) = verify(dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("pg-1.pages: offset 16,400: slot 0 of page 2 holds page 1 (expected page 2"),
        "{out}"
    );
}

#[test]
fn a_flipped_meta_or_catalog_slot_byte_is_named() {
    for (name, slot_bytes) in [("pg-1.meta", 4096u64), ("catalog", 16384)] {
        let dir = core();
        let doc = inspect_json(dir.path(), &[]);
        let w = file(&doc, name)["winner"].as_u64().unwrap();
        flip(&dir.path().join(name), w * slot_bytes + 20);
        let (code, out) = verify(dir.path(), &[]);
        assert_eq!(code, 1, "{name}: {out}");
        let want = format!("error: {name}: offset {}: ", grouped(w * slot_bytes));
        assert!(out.contains(&want), "{want}\n{out}");
        assert!(out.contains(&format!("slot {w} damaged")), "{out}");
        assert!(out.contains("checksum mismatch"), "{out}");
    }
}
