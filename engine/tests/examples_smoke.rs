//! Every program in `engine/examples` runs, on tiny sizes, as part of the test suite:
//! they are how NVMe-NOTES' figures are measured, and a measurement tool that no longer
//! builds or runs is found here, not the day someone needs it (STYLE.md habit 10).
//!
//! Each run writes only under a temporary directory (on the disk, not tmpfs: the
//! programs use O_DIRECT) and must exit 0 and print what it measures.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/examples/<name>`, next to this test's own binary
/// (`target/<profile>/deps/examples_smoke-<hash>`), built first if missing (a test run
/// filtered to this file does not build the examples).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-p", "boreal-engine", "--example", name]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building example {name} failed");
    }
    assert!(path.exists(), "example {name} not at {}", path.display());
    path
}

/// Runs example `name` with `args` (`{dir}` replaced by a fresh temporary directory);
/// returns its stdout after checking it exited 0 and printed `expect`.
fn run(name: &str, args: &[&str], expect: &str) -> String {
    let dir = tempfile::Builder::new()
        .prefix("boreal-example-")
        .tempdir_in(std::env::temp_dir())
        .expect("temp dir");
    let d = dir.path().to_string_lossy().into_owned();
    let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &d)).collect();
    let out = Command::new(example(name))
        .args(&args)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(expect) || stderr.contains(expect),
        "{name} printed no {expect:?}:\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
fn coalesce_cost_runs() {
    run(
        "coalesce_cost",
        &[
            "{dir}",
            "--pages",
            "16",
            "--records",
            "2000",
            "--rounds",
            "2",
        ],
        "pass_warm",
    );
}

#[test]
fn journal_modes_runs() {
    run("journal_modes", &["{dir}", "--smoke"], "records/s");
}

#[test]
fn recovery_time_runs() {
    run(
        "recovery_time",
        &["{dir}", "--mib", "128", "--record-bytes", "4096"],
        "recovered",
    );
}

#[test]
fn restart_time_runs() {
    run(
        "restart_time",
        &[
            "{dir}",
            "--mib",
            "128",
            "--record-bytes",
            "4096",
            "--pgs",
            "1",
        ],
        "ready",
    );
}

#[test]
fn uring_bench_runs() {
    for mode in ["write-fdatasync", "randread"] {
        run(
            "uring_bench",
            &[
                "--file", "{dir}/f", "--mode", mode, "--ops", "200", "--size", "1048576",
            ],
            "p99",
        );
    }
}
