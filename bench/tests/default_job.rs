//! Behaviour: `boreal-bench` with no arguments runs the embedded default job (the four
//! standard device checks through io_uring, then two durable-append jobs through the
//! single-node engine, then three jobs on a six-node cluster, one after another) in
//! `target/boreal-bench/`, writes its JSON and HdrHistogram log there and ends with the
//! command that renders the report. The full job takes a minute and a half, so the binary is
//! run here with `BOREAL_BENCH_DEFAULT_SCALE=smoke`, which shrinks every check.

mod support;

use std::process::Command;
use std::time::Duration;

use boreal_bench::default_job::{self, SCALE_ENV};
use boreal_bench::job::{EngineName, Rw, build_jobs};
use boreal_bench::plan::plan;
use serde_json::Value;
use support::bench_in;

#[test]
fn default_parses_and_plans_nine_jobs_in_turn() {
    let set = build_jobs(&default_job::sections().unwrap(), &[]).unwrap();
    let shape: Vec<(Rw, u64, u32, u32)> = set
        .jobs
        .iter()
        .map(|j| (j.rw, j.bs, j.iodepth, j.fdatasync))
        .collect();
    assert_eq!(
        shape,
        [
            (Rw::Write, 4096, 1, 1),
            (Rw::RandRead, 4096, 32, 0),
            (Rw::Write, 4096, 32, 0),
            (Rw::Write, 128 << 10, 32, 0),
            (Rw::Write, 4096, 1, 0),
            (Rw::Write, 128, 256, 0),
            (Rw::Write, 512, 64, 0),
            (Rw::Write, 512, 64, 0),
            (Rw::RandRead, 4096, 32, 0),
        ]
    );
    for (i, j) in set.jobs.iter().enumerate() {
        let engine = match i {
            0..4 => EngineName::IoUring,
            4..6 => EngineName::BorealJournal,
            _ => EngineName::BorealCluster,
        };
        assert_eq!(j.ioengine, engine);
        // Device checks bypass the page cache; the engine always writes O_DIRECT.
        assert_eq!(j.direct, i < 4);
        assert!(j.time_based && j.stonewall);
        // The cluster's `size` is each node's journal: a storage node's default (the
        // three cluster jobs share one cluster directory, whose nodes keep the journal
        // they were created with).
        assert_eq!(j.size, Some(256 << 20));
        assert_eq!(j.runtime, Some(Duration::from_secs(6)));
        assert_eq!(j.ramp_time, Duration::from_secs(2));
    }
    let instances = plan(&set, &[0, 1]).unwrap();
    let groups: Vec<u32> = instances.iter().map(|i| i.group).collect();
    assert_eq!(groups, [0, 1, 2, 3, 4, 5, 6, 7, 8], "one after another");
    assert_eq!(set.jobs[7].boreal_slow_node_ms, Some(5));
    assert_eq!(set.jobs[6].records_per_txn(), 4);
    assert!(
        instances
            .iter()
            .all(|i| i.path.starts_with(default_job::SCRATCH_DIR))
    );
}

#[test]
fn no_arguments_runs_the_default_in_target_and_says_how_to_render_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench_in(dir.path())
        .env(SCALE_ENV, "smoke")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let scratch = dir.path().join("target/boreal-bench");
    // The banner and the trailer go to stderr, so stdout holds only the report.
    assert!(
        stderr.contains(&scratch.display().to_string()),
        "says where: {stderr}"
    );
    assert!(stdout.contains("Run status group 8"), "{stdout}");
    assert!(
        stdout.starts_with("write-4k-fdatasync-qd1: (g=0)"),
        "{stdout}"
    );
    assert_eq!(
        stderr.lines().last().unwrap(),
        "Render the report: cargo run -p boreal-tools -- report target/boreal-bench/default.json -o target/boreal-bench/report.html"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.join("default.json")).unwrap())
            .unwrap();
    let jobs = report["jobs"].as_array().unwrap();
    let ids: Vec<u64> = jobs
        .iter()
        .map(|j| j["groupid"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let depths: Vec<u64> = jobs
        .iter()
        .map(|j| j["boreal"]["iodepth_effective"].as_u64().unwrap())
        .collect();
    assert_eq!(depths, [1, 32, 32, 32, 1, 256, 64, 64, 32]);
    for j in &jobs[4..6] {
        let acked = j["boreal"]["engine_stats"]["records_acknowledged"].as_u64();
        assert!(
            acked.unwrap_or(0) > 0,
            "the engine acknowledged records: {j}"
        );
    }
    for j in &jobs[6..8] {
        let s = &j["boreal"]["engine_stats"];
        assert!(
            s["commits"].as_u64().unwrap_or(0) > 0,
            "the cluster committed: {j}"
        );
        assert_eq!(s["nodes_read"].as_u64(), Some(6), "{s}");
    }
    assert!(jobs[8]["read"]["total_ios"].as_u64().unwrap() > 0);
    assert!(jobs[0]["sync"]["total_ios"].as_u64().unwrap() > 0);
    assert!(
        jobs[1]["read"]["clat_ns"]["bins"].is_object(),
        "json+ for the report"
    );
    let log = std::fs::read_to_string(scratch.join("default.hdr")).unwrap();
    assert!(log.contains("write-128k-qd32/write.lat"), "{log}");
}

#[test]
fn default_job_with_json_on_stdout_prints_only_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench_in(dir.path())
        .env(SCALE_ENV, "smoke")
        .arg("--output-format=json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(report["jobs"].as_array().unwrap().len(), 9);
}

#[test]
fn unwritable_target_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("target"), b"not a directory").unwrap();
    let out = bench_in(dir.path())
        .env(SCALE_ENV, "smoke")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("target/boreal-bench") && stderr.contains("writable directory"),
        "{stderr}"
    );
}

#[test]
fn help_mentions_the_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DEFAULT:") && text.contains("target/boreal-bench/default.json"),
        "{text}"
    );
}
