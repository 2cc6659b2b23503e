//! Behaviour: twenty job files written the way fio's documentation and examples write
//! them (`bench/jobs/fio-examples/`: libaio engines, threads, inline comments, rate
//! limits, verify, logs, includes, environment variables) are read with fio's job
//! names, directions and block sizes, or refused with a message naming the line and
//! why; each runs for a moment (sizes and times shrunk from the command line).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::bench_in;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jobs/fio-examples")
}

/// Every job file of the folder (the include is not a job file).
fn job_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "fio")
                && p.file_name().is_some_and(|n| n != "include-common.fio")
        })
        .collect();
    files.sort();
    files
}

/// Runs the binary in `dir` with the environment the examples expand (`${DIR}`,
/// `${SIZE}`).
fn bench(dir: &Path, args: &[&str]) -> Output {
    bench_in(dir)
        .env("DIR", dir)
        .env("SIZE", "4m")
        .args(args)
        .output()
        .unwrap()
}

/// The files that are refused, with what the message must name.
const REFUSED: [(&str, &str); 1] = [("think-time.fio", "think-time.fio:6: option `iodepth_low`")];

#[test]
fn twenty_fio_style_job_files_parse_as_fio_reads_them() {
    let files = job_files();
    assert_eq!(files.len(), 20, "{files:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let out = bench(dir.path(), &["--parse-only", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some((_, expect)) = REFUSED.iter().find(|(f, _)| *f == name) {
            assert!(!out.status.success(), "{name} should be refused");
            assert!(stderr.contains(expect), "{name}: {stderr}");
            continue;
        }
        assert!(out.status.success(), "{name}: {stderr}");
        lines.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "--parse-only does no I/O"
    );
    // fio's job lines for a few of them (as fio 3.33 prints them for these files).
    for expect in [
        "file2: (g=0): rw=randread, bs=(R) 128KiB-128KiB, (W) 128KiB-128KiB, (T) 128KiB-128KiB, ioengine=libaio, iodepth=32",
        "rand-write: (g=3): rw=randwrite, bs=(R) 4096B-4096B, (W) 4096B-4096B, (T) 4096B-4096B, ioengine=libaio, iodepth=4",
        "file1: (g=0): rw=randrw, bs=(R) 4096B-4096B, (W) 4096B-4096B, (T) 4096B-4096B, ioengine=libaio, iodepth=16",
        "split: (g=0): rw=randread, bs=(R) 4096B-128KiB, (W) 4096B-128KiB, (T) 4096B-128KiB, ioengine=libaio, iodepth=4",
        "per-direction: (g=0): rw=randrw, bs=(R) 4096B-4096B, (W) 16.0KiB-16.0KiB, (T) 16.0KiB-16.0KiB, ioengine=libaio, iodepth=4",
        "trim-then-write: (g=0): rw=trimwrite, bs=(R) 64.0KiB-64.0KiB",
        "env-job: (g=0): rw=randread, bs=(R) 4096B-4096B",
        "wal-dsync: (g=1): rw=write, bs=(R) 8192B-8192B",
    ] {
        assert!(lines.contains(expect), "missing `{expect}` in:\n{lines}");
    }
}

#[test]
fn every_accepted_example_runs_for_a_moment() {
    let dir = tempfile::tempdir().unwrap();
    let directory = format!("--directory={}", dir.path().display());
    for file in job_files() {
        let name = file.file_name().unwrap().to_str().unwrap();
        if REFUSED.iter().any(|(f, _)| *f == name) {
            continue;
        }
        let out = bench(
            dir.path(),
            &[
                "--output-format=json",
                file.to_str().unwrap(),
                "--size=2m",
                "--runtime=100ms",
                &directory,
            ],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect(name);
        let jobs = report["jobs"].as_array().unwrap();
        let ios: u64 = jobs
            .iter()
            .flat_map(|j| ["read", "write", "trim"].map(|d| j[d]["total_ios"].as_u64().unwrap()))
            .sum();
        assert!(ios > 0, "{name} did I/O");
        for job in jobs {
            if let Some(verified) = job["boreal"]["harness"]["verified_blocks"].as_u64() {
                assert_eq!(
                    Some(verified),
                    job["write"]["total_ios"].as_u64(),
                    "{name}: every written block read back"
                );
            }
        }
    }
}
