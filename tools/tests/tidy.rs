//! Tidy: the workspace's shape is part of its design (DESIGN.md §1).
//!
//! - Dependency arrows between boreal crates point one way: segment ← engine ← netlog ←
//!   bench, and tools reads segment/engine/netlog. Any other edge between workspace
//!   crates (normal, dev or build) fails this test.
//! - `unsafe` is allowed only in the runtime and buffer modules (STYLE.md habit 7): any
//!   other source file that opts out of the workspace's `unsafe_code = "deny"` fails.
//!
//! - The `Io`/`Clock` seam (DESIGN.md §2): outside the runtime (`rt/`, `uring/`) and
//!   the simulator (`sim/`), engine code never touches the filesystem, the clock, a
//!   thread or a random source directly (`std::fs`, `Instant::now`, `SystemTime`,
//!   `thread::spawn`, `rand`), or the simulator could not replay it.
//!
//! Each check is a plain function with a test of its own, so the test itself can fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which workspace crates each workspace crate may depend on.
const ALLOWED_EDGES: &[(&str, &[&str])] = &[
    ("boreal-segment", &[]),
    ("boreal-engine", &["boreal-segment"]),
    ("boreal-netlog", &["boreal-engine", "boreal-segment"]),
    (
        "boreal-bench",
        &["boreal-netlog", "boreal-engine", "boreal-segment"],
    ),
    (
        "boreal-tools",
        &["boreal-segment", "boreal-engine", "boreal-netlog"],
    ),
];

/// Source files (or folders, ending in `/`) allowed to contain `allow(unsafe_code`.
const UNSAFE_ALLOWED: &[&str] = &[
    "engine/src/rt/",
    "engine/src/uring/",
    "engine/src/buf.rs",
    "bench/src/affinity.rs",
    // setrlimit(RLIMIT_FSIZE) in this test process is the only way to make the kernel
    // complete a real O_DIRECT write short, which the linked write→fdatasync must survive.
    "engine/tests/uring_short_write.rs",
];

/// Engine folders that may reach the OS directly: the runtime and the simulator.
const SEAM_EXEMPT: &[&str] = &["engine/src/rt/", "engine/src/uring/", "engine/src/sim/"];

/// What engine code must reach only through `Io`/`Clock` (DESIGN.md §2).
const SEAM_FORBIDDEN: &[&str] = &[
    "std::fs",
    "Instant::now",
    "SystemTime",
    "thread::spawn",
    "std::thread",
    "rand::",
    "getrandom",
    "std::net::Tcp",
    "std::net::Udp",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ has a parent")
        .to_path_buf()
}

/// Workspace crate → the workspace crates it depends on, from `cargo metadata`.
fn workspace_edges() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages array");
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let mut edges = BTreeMap::new();
    for p in packages {
        let name = p["name"].as_str().expect("package name").to_owned();
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .expect("dependencies array")
            .iter()
            .filter_map(|d| d["name"].as_str())
            .filter(|d| members.contains(*d))
            .map(str::to_owned)
            .collect();
        edges.insert(name, deps);
    }
    edges
}

/// Every edge or crate not in [`ALLOWED_EDGES`], as a sentence.
fn edge_violations(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED_EDGES.iter().copied().collect();
    let mut bad = Vec::new();
    for (krate, deps) in edges {
        let Some(ok) = allowed.get(krate.as_str()) else {
            bad.push(format!(
                "workspace crate {krate} is not in the design's allow-list (tools/tests/tidy.rs)"
            ));
            continue;
        };
        for d in deps {
            if !ok.contains(&d.as_str()) {
                bad.push(format!(
                    "{krate} depends on {d}: not allowed by DESIGN.md §1 (allowed: {ok:?})"
                ));
            }
        }
    }
    bad
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') && !name.starts_with("target-") {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// Files (relative, `/`-separated) that allow `unsafe_code` outside [`UNSAFE_ALLOWED`].
fn unsafe_violations(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| text.contains("allow(unsafe_code"))
        .filter(|(path, _)| {
            !UNSAFE_ALLOWED.iter().any(|a| {
                if a.ends_with('/') {
                    path.starts_with(a)
                } else {
                    path == a
                }
            })
        })
        .map(|(path, _)| format!("{path} allows unsafe_code outside the runtime/buffer modules"))
        .collect()
}

/// Lines of engine sources outside [`SEAM_EXEMPT`] that use a [`SEAM_FORBIDDEN`] item
/// (comments are not code and are skipped).
fn seam_violations(files: &[(String, String)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (path, text) in files {
        if !path.starts_with("engine/src/") || SEAM_EXEMPT.iter().any(|e| path.starts_with(e)) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.split(" //").next().unwrap_or(code);
            for f in SEAM_FORBIDDEN {
                if code.contains(f) {
                    bad.push(format!(
                        "{path}:{}: {f} outside the Io/Clock seam: {}",
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    bad
}

/// Every `.rs` file of the workspace crates, as (relative `/`-separated path, text).
fn workspace_sources() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut paths = Vec::new();
    for dir in ["segment", "engine", "netlog", "bench", "tools"] {
        rust_files(&root.join(dir), &mut paths);
    }
    assert!(
        !paths.is_empty(),
        "found no sources under {}",
        root.display()
    );
    paths
        .iter()
        .filter(|p| !p.ends_with("tidy.rs"))
        .map(|p| {
            let rel = p.strip_prefix(&root).expect("under root");
            let rel = rel.to_string_lossy().replace('\\', "/");
            (rel, std::fs::read_to_string(p).expect("read source"))
        })
        .collect()
}

#[test]
fn engine_reaches_files_time_and_threads_only_through_the_seam() {
    let bad = seam_violations(&workspace_sources());
    assert!(bad.is_empty(), "seam violations:\n{}", bad.join("\n"));
}

#[test]
fn seam_check_catches_a_direct_clock_read() {
    let files = vec![
        (
            "engine/src/node/coalescer.rs".to_owned(),
            "// Instant::now in a comment is fine\nlet t = std::time::Instant::now();".to_owned(),
        ),
        (
            "engine/src/uring/ring.rs".to_owned(),
            "let f = std::fs::File::open(p);".to_owned(),
        ),
        (
            "engine/src/journal/files.rs".to_owned(),
            "use std::fs;".to_owned(),
        ),
        (
            "bench/src/run.rs".to_owned(),
            "let t = std::time::Instant::now();".to_owned(),
        ),
    ];
    let bad = seam_violations(&files);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].starts_with("engine/src/node/coalescer.rs:2"));
    assert!(bad[1].starts_with("engine/src/journal/files.rs:1"));
}

#[test]
fn dependency_edges_follow_the_design() {
    let edges = workspace_edges();
    for krate in ALLOWED_EDGES.iter().map(|(k, _)| *k) {
        assert!(edges.contains_key(krate), "workspace lost crate {krate}");
    }
    let bad = edge_violations(&edges);
    assert!(bad.is_empty(), "dependency violations:\n{}", bad.join("\n"));
}

#[test]
fn unsafe_only_in_runtime_and_buffers() {
    let bad = unsafe_violations(&workspace_sources());
    assert!(bad.is_empty(), "unsafe violations:\n{}", bad.join("\n"));
}

#[test]
fn edge_check_catches_a_backwards_edge() {
    let mut edges = BTreeMap::new();
    edges.insert(
        "boreal-segment".to_owned(),
        BTreeSet::from(["boreal-engine".to_owned()]),
    );
    edges.insert("boreal-mystery".to_owned(), BTreeSet::new());
    let bad = edge_violations(&edges);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].contains("boreal-mystery"));
    assert!(bad[1].contains("boreal-segment depends on boreal-engine"));
}

#[test]
fn unsafe_check_catches_a_stray_allow() {
    let files = vec![
        (
            "engine/src/rt/exec.rs".to_owned(),
            "#![allow(unsafe_code)]".to_owned(),
        ),
        (
            "engine/src/journal.rs".to_owned(),
            "#[allow(unsafe_code)]".to_owned(),
        ),
        (
            "engine/src/buf.rs".to_owned(),
            "#![allow(unsafe_code)]".to_owned(),
        ),
    ];
    let bad = unsafe_violations(&files);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].starts_with("engine/src/journal.rs"));
}
