//! Behaviour: `ioengine=boreal-cluster` starts six `boreal-node` processes in the job's
//! directory, commits 4-record transactions through the quorum shim at depth 16 (and
//! with one node slowed), reads pages back through GetPage@LSN, and stops the nodes;
//! the JSON carries commits/s, the shim's messages per commit, each node's flushes and
//! the bytes on the wire per redo byte. The shipped job files parse.

mod support;

use std::path::Path;

use boreal_bench::job::{build_jobs, parse::parse_job_args};
use boreal_bench::output::{self, json};
use boreal_bench::run::run;
use boreal_bench::runner::RunnerConfig;
use serde_json::Value;
use support::nodes_in;

fn run_json(args: &[String]) -> Value {
    let cli = parse_job_args(args).unwrap();
    let result = run(
        build_jobs(&cli.sections, &cli.global).unwrap(),
        RunnerConfig::default(),
    )
    .unwrap();
    let entries = output::entries(&result);
    serde_json::from_str(&json::to_string(&json::report(&result, &entries, false))).unwrap()
}

fn job(dir: &Path, name: &str, extra: &[&str]) -> Vec<String> {
    let mut all = vec![
        format!("--name={name}"),
        format!("--directory={}", dir.display()),
        "--ioengine=boreal-cluster".to_string(),
        "--size=8m".to_string(),
        "--stonewall".to_string(),
    ];
    all.extend(extra.iter().map(|a| a.to_string()));
    all
}

#[test]
fn commits_reads_and_a_slow_node_through_six_nodes() {
    let dir = tempfile::tempdir().unwrap();
    // Time-based, long enough that the nodes' metrics (read at the start of the
    // measurement, up to tens of ms late) cover most of it.
    let mut args = job(
        dir.path(),
        "commit",
        &["--rw=write", "--iodepth=16", "--time_based", "--runtime=1s"],
    );
    args.extend(job(
        dir.path(),
        "slow",
        &[
            "--rw=write",
            "--iodepth=16",
            "--time_based",
            "--runtime=1s",
            "--boreal_slow_node_ms=2",
        ],
    ));
    args.extend(job(
        dir.path(),
        "read",
        &["--rw=randread", "--bs=4k", "--iodepth=8", "--io_size=256k"],
    ));
    let report = run_json(&args);
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    for j in &jobs[..2] {
        // 512-byte transactions (4 x 128 bytes, the defaults).
        let ios = j["write"]["total_ios"].as_u64().unwrap();
        assert!(ios > 0, "{j}");
        assert_eq!(j["write"]["io_bytes"].as_u64(), Some(ios * 512), "{j}");
        assert_eq!(j["boreal"]["engine"], "boreal-cluster");
        let s = &j["boreal"]["engine_stats"];
        assert_eq!(s["commits"].as_u64(), Some(ios), "{s}");
        assert_eq!(s["records_committed"].as_u64(), Some(ios * 4), "{s}");
        assert_eq!(s["redo_payload_bytes"].as_u64(), Some(ios * 512), "{s}");
        assert!(s["commits_per_sec"].as_f64().unwrap() > 0.0, "{s}");
        assert_eq!(s["nodes_read"].as_u64(), Some(6), "{s}");
        assert_eq!(s["per_node"].as_array().unwrap().len(), 6);
        // Every node journaled; a commit needs four of six.
        assert!(s["node_device_flushes"].as_u64().unwrap() > 0, "{s}");
        let frames = s["append_frames_per_commit"].as_f64().unwrap();
        assert!(frames > 0.0 && frames <= 6.0, "{s}");
        // The nodes' own append latency, from their histograms: one observation per
        // acknowledged frame, in the same window. A node counts the frame and records
        // its latency in two steps, so a scrape between them may see one without the
        // other: at most one frame per node at each end of the window.
        let lat = &s["node_append_latency_us"];
        let (seen, frames) = (
            lat["appends"].as_u64().unwrap(),
            s["append_frames"].as_u64().unwrap(),
        );
        assert!(seen > 0 && seen.abs_diff(frames) <= 2 * 6, "{s}");
        let (p50, p99) = (lat["p50"].as_f64().unwrap(), lat["p99"].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p99, "{s}");
        let sends = s["shim_sends_per_commit"].as_f64().unwrap();
        assert!(sends > 0.0, "{s}");
        // Six copies of every record, each with its header: more than 6 bytes on the
        // wire per byte of redo.
        assert!(
            s["shim_wire_bytes_per_redo_byte"].as_f64().unwrap() > 6.0,
            "{s}"
        );
        assert!(
            s["node_record_bytes_per_redo_byte"].as_f64().unwrap() > 6.0,
            "{s}"
        );
        assert_eq!(s["shim_records_dropped"].as_u64(), Some(0), "{s}");
    }
    let slow = &jobs[1]["boreal"]["engine_stats"];
    assert_eq!(slow["slow_node_ms"].as_f64(), Some(2.0));
    assert!(
        slow["layer"].as_str().unwrap().contains("slowed by 2 ms"),
        "{slow}"
    );
    let read = &jobs[2];
    assert_eq!(read["read"]["total_ios"].as_u64(), Some(64), "{read}");
    assert_eq!(read["boreal"]["engine_stats"]["reads"].as_u64(), Some(64));
    // Each job stopped its nodes: none is left, and their data directories are
    // unlocked and reusable.
    assert_eq!(nodes_in(dir.path()), Vec::<u32>::new(), "left behind");
    let again = run_json(&job(
        dir.path(),
        "commit",
        &["--rw=write", "--iodepth=4", "--io_size=8k"],
    ));
    let open = again["jobs"][0]["boreal"]["engine_stats"]["open"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        open.contains("0 segments created"),
        "recovered, not created: {open}"
    );
    assert_eq!(nodes_in(dir.path()), Vec::<u32>::new(), "left behind");
}

#[test]
fn the_shipped_cluster_jobs_parse() {
    for file in ["cluster-commit.fio", "cluster-getpage.fio"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("jobs")
            .join(file);
        let sections = boreal_bench::job::read_job_file(&path).unwrap();
        let set = build_jobs(&sections, &[]).unwrap();
        for j in &set.jobs {
            assert_eq!(j.ioengine, boreal_bench::job::EngineName::BorealCluster);
        }
    }
}
