//! Behaviour: `boreal verify` passes (exit 0, no problem) on data dirs the engine
//! wrote: one core dir, a node dir of core dirs, and each file on its own.

#[path = "datadir/mod.rs"]
mod datadir;

use datadir::*;

#[test]
fn a_clean_core_dir_passes() {
    let dir = tempfile::tempdir().unwrap();
    build_core(dir.path());
    let (code, out, err) = boreal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("0 problems in 0 files (0 errors, 0 warnings); 6 files"),
        "{out}"
    );
    let (code, out, _) = boreal(&["verify", "--strict", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["clean"], true);
    assert_eq!(v["files_checked"], 6);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn a_node_dir_and_single_files_pass() {
    let node = tempfile::tempdir().unwrap();
    for core in ["core-0", "core-1"] {
        let d = node.path().join(core);
        std::fs::create_dir(&d).unwrap();
        build_core(&d);
    }
    let (code, out, _) = boreal(&["verify", node.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("12 files"), "{out}");
    for f in [
        "catalog",
        "pg-1.meta",
        "pg-1.pages",
        "journal-0000.brj",
        "journal-0002.brj",
    ] {
        let p = node.path().join("core-1").join(f);
        let (code, out, _) = boreal(&["verify", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{f}: {out}");
        assert!(out.contains("1 file ("), "{f}: {out}");
    }
}

#[test]
fn unknown_and_missing_paths_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, [7u8; 64]).unwrap();
    let (code, _, err) = boreal(&["verify", junk.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("junk.bin: not a boreal file"), "{err}");
    let (code, _, err) = boreal(&["verify", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("missing"), "{err}");
}
