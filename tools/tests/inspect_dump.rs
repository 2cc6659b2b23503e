//! Behaviour: `boreal inspect` dumps a data dir the engine wrote (journal batches and
//! records, page slots, both slots of the metadata and catalog files) as text and as
//! one JSON document, reads single files too, and refuses what is not a boreal file.

#[path = "datadir/mod.rs"]
mod datadir;

use datadir::*;

#[test]
fn json_names_every_structure_of_a_core_dir() {
    let dir = tempfile::tempdir().unwrap();
    build_core(dir.path());
    let doc = inspect_json(dir.path(), &["--records"]);
    assert_eq!(doc["format"], "boreal-inspect");
    assert_eq!(doc["format_version"], 1);

    let j0 = file(&doc, "journal-0000.brj");
    assert_eq!(j0["kind"], "journal");
    assert_eq!(j0["header"]["version"], 4);
    assert_eq!(j0["header"]["file_id"], 0);
    assert_eq!(j0["header"]["generation"], 1);
    assert_eq!(j0["header"]["alignment"], 4096);
    assert_eq!(j0["header"]["file_size"], JOURNAL_FILE_BYTES);
    let regions = j0["regions"].as_array().unwrap();
    assert_eq!(
        regions.len() as u64,
        BATCHES_PER_FILE,
        "a full file, no zeros"
    );
    let first = &regions[0];
    assert_eq!(first["state"], "valid");
    assert_eq!(first["offset"], 4096);
    assert_eq!(first["sequence"], 0);
    assert_eq!(first["first_lsn"], 1);
    assert_eq!(first["last_lsn"], 1);
    assert_eq!(first["record_count"], 1);
    assert_eq!(first["body_len"], 156);
    assert_eq!(first["pipelined"], false, "one appender never pipelines");
    let rec = &first["records"][0];
    assert_eq!(rec["kind"], "redo");
    assert_eq!(rec["offset"], 4096 + 72);
    assert_eq!(rec["pg"], 1);
    assert_eq!(rec["lsn"], 1);
    assert_eq!(rec["prev_lsn_pg"], 0);
    assert_eq!(rec["page"], 1);
    assert_eq!(rec["cpl"], true);
    assert_eq!(rec["change"], "delta");
    assert_eq!(rec["change_offset"], 0);
    assert_eq!(rec["change_len"], 100);

    let j1 = file(&doc, "journal-0001.brj");
    assert_eq!(j1["header"]["generation"], 2);
    let r1 = j1["regions"].as_array().unwrap();
    assert_eq!(
        r1[0]["sequence"], BATCHES_PER_FILE,
        "sequences run on across files"
    );
    assert_eq!(r1.last().unwrap()["state"], "zeros");
    assert_eq!(j1["summary"]["batches_valid"], RECORDS - BATCHES_PER_FILE);
    let j2 = file(&doc, "journal-0002.brj");
    assert_eq!(j2["header"]["generation"], 0, "never used");
    assert_eq!(j2["summary"]["batches_valid"], 0);

    let cat = file(&doc, "catalog");
    let w = cat["winner"].as_u64().unwrap() as usize;
    assert_eq!(cat["slots"][w]["state"], "valid");
    assert_eq!(cat["slots"][w]["segments"][0]["pg"], 1);
    assert_eq!(cat["slots"][w]["segments"][0]["page_count"], PAGES);

    let meta = file(&doc, "pg-1.meta");
    let w = meta["winner"].as_u64().unwrap() as usize;
    assert_eq!(meta["slots"][w]["materialized_lsn"], RECORDS);
    assert_eq!(meta["slots"][w]["page_size"], PAGE_SIZE);
    assert_eq!(
        meta["slots"][1 - w]["state"],
        "valid",
        "the previous state survives"
    );

    let pages = file(&doc, "pg-1.pages");
    assert_eq!(pages["page_size"], PAGE_SIZE);
    assert_eq!(pages["layout_from"], "catalog");
    assert_eq!(
        pages["summary"]["pages_written"], 8,
        "pages 0..8 were written"
    );
    assert!(
        pages.get("pages").unwrap().as_array().unwrap().is_empty(),
        "no --pages"
    );
}

#[test]
fn text_has_aligned_batches_records_and_slots() {
    let dir = tempfile::tempdir().unwrap();
    build_core(dir.path());
    let p = dir.path().to_str().unwrap();
    let (code, out, err) = boreal(&["inspect", "--records", "--pages", p]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "journal-0000.brj: journal file 0, generation 1, alignment 4,096, size 262,144 B"
        ),
        "{out}"
    );
    assert!(out.contains("records"), "{out}");
    // A batch row: offset, length, sequence, lsns, records, body bytes, state.
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("8,192"))
        .unwrap_or_else(|| panic!("no batch at 8,192:\n{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["8,192", "4,096", "1", "2", "2", "1", "156", "valid"]
    );
    assert!(out.contains("redo"), "records shown: {out}");
    assert!(out.contains("lsn 2 prev_lsn_pg 1"), "{out}");
    assert!(out.contains("<- wins"), "{out}");
    assert!(out.contains("pg-1.pages: pages of pg:1"), "{out}");
    assert!(
        out.contains("slot 0") || out.contains("slot 1"),
        "page rows: {out}"
    );
    assert!(out.contains("zeros"), "{out}");
}

/// A torn region says whether its write landed in full (every sector carries the
/// batch's stamp: damaged after it was written) or not (a torn write).
#[test]
fn a_torn_batch_shows_whether_its_write_was_complete() {
    let dir = tempfile::tempdir().unwrap();
    build_core(dir.path());
    let path = dir.path().join("journal-0000.brj");
    // Batch 10's record body (damaged after a complete write) ...
    flip(&path, 4096 * 11 + 72 + 56 + 10);
    // ... and batch 20's record body plus a sector stamp not its own (a torn write).
    flip(&path, 4096 * 21 + 72 + 56 + 10);
    flip(&path, 4096 * 21 + 2 * 512 + 504);
    let doc = inspect_json(&path, &[]);
    let regions = file(&doc, path.to_str().unwrap())["regions"]
        .as_array()
        .unwrap()
        .clone();
    let at = |offset: u64| {
        regions
            .iter()
            .find(|r| r["offset"] == offset)
            .unwrap_or_else(|| panic!("no region at {offset}"))
    };
    assert_eq!(at(4096 * 11)["state"], "torn");
    assert_eq!(at(4096 * 11)["write_complete"], true);
    assert_eq!(at(4096 * 21)["state"], "torn");
    assert_eq!(at(4096 * 21)["write_complete"], false);
    assert_eq!(at(4096 * 12)["state"], "valid");

    let (code, out, err) = boreal(&["inspect", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "TORN (damaged after a complete write: every sector carries the batch's stamp)"
        ),
        "{out}"
    );
    assert!(out.contains("TORN (torn: incomplete write)"), "{out}");
}

#[test]
fn limit_caps_the_records_shown() {
    let dir = tempfile::tempdir().unwrap();
    build_core(dir.path());
    let doc = inspect_json(dir.path(), &["--records", "--limit", "5"]);
    let shown: usize = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "journal")
        .flat_map(|f| f["regions"].as_array().unwrap())
        .filter_map(|r| r["records"].as_array())
        .map(Vec::len)
        .sum();
    assert_eq!(shown, 5);
}

#[test]
fn single_files_and_node_dirs_are_read() {
    let node = tempfile::tempdir().unwrap();
    for core in ["core-0", "core-1"] {
        let d = node.path().join(core);
        std::fs::create_dir(&d).unwrap();
        build_core(&d);
    }
    let doc = inspect_json(node.path(), &[]);
    let j = file(&doc, "core-1/journal-0000.brj");
    assert_eq!(j["core_dir"], "core-1");

    let one = node.path().join("core-0/journal-0001.brj");
    let doc = inspect_json(&one, &[]);
    assert_eq!(doc["files"].as_array().unwrap().len(), 1);
    assert_eq!(doc["files"][0]["header"]["file_id"], 1);
    let meta = node.path().join("core-0/pg-1.meta");
    let doc = inspect_json(&meta, &[]);
    assert_eq!(doc["files"][0]["kind"], "meta");
}

#[test]
fn unknown_and_missing_paths_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "hello, not a journal").unwrap();
    let (code, out, err) = boreal(&["inspect", notes.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("notes.txt: not a boreal file"), "{err}");
    let (code, _, err) = boreal(&["inspect", dir.path().join("nope").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = boreal(&["inspect", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "a dir with no boreal files");
    assert!(err.contains("no boreal files here"), "{err}");
}

#[test]
fn help_says_read_only_and_exit_codes() {
    for cmd in ["inspect", "verify"] {
        let (code, out, _) = boreal(&[cmd, "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("never writes"), "{cmd}: {out}");
        assert!(out.contains("Exit codes"), "{cmd}: {out}");
    }
}
