//! Behaviour (issue 17, done when): `boreal cluster up` starts six `boreal-node`
//! processes; a 2 s `ioengine=boreal-cluster` job given that cluster
//! (`boreal_cluster=DIR/cluster.toml`, one node slowed by `up --slow-node`) commits
//! through it and reads pages back, its
//! JSON carries the per-run figures, and the cluster is still running afterwards (the
//! job does not stop what it did not start); `boreal cluster down` then leaves no
//! `boreal-node` process of the directory behind.
//!
//! The `boreal` and `boreal-node` binaries belong to other packages: they are built
//! (or brought up to date) here first, in this test's profile, as `tools`' own cluster
//! tests build `boreal-node`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::nodes_in;

/// `boreal` and `boreal-node` beside `boreal-bench`, built first.
fn binaries() -> (PathBuf, PathBuf) {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_boreal-bench"));
    let dir = bench.parent().unwrap();
    let mut b = Command::new(env!("CARGO"));
    b.args([
        "build",
        "-q",
        "-p",
        "boreal-tools",
        "--bin",
        "boreal",
        "-p",
        "boreal-netlog",
        "--bin",
        "boreal-node",
    ]);
    if dir.file_name().is_some_and(|n| n == "release") {
        b.arg("--release");
    }
    assert!(b.status().unwrap().success(), "building boreal failed");
    (dir.join("boreal"), dir.join("boreal-node"))
}

/// `boreal cluster up --dir d` on free ports with `extra` flags; returns `boreal`.
fn up(d: &str, extra: &[&str]) -> PathBuf {
    let (boreal, node_bin) = binaries();
    let up = Command::new(&boreal)
        .args(["cluster", "up", "--dir", d, "--base-port", "0"])
        .args(extra)
        .arg("--node-bin")
        .arg(&node_bin)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "boreal cluster up:\n{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    boreal
}

/// Takes the cluster down whatever happens in the test.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = boreal_netlog::cluster::down(&self.0, Duration::from_secs(2));
    }
}

#[test]
fn a_job_on_a_cluster_from_boreal_cluster_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let d = dir.to_str().unwrap();
    let _down = Down(dir.clone());
    // One node slowed at `up`: the job reports it.
    let boreal = up(d, &["--slow-node", "6:2"]);
    assert_eq!(nodes_in(&dir).len(), 6);

    let file = dir.join("cluster.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .arg(format!("--directory={}", tmp.path().join("job").display()))
        .args([
            "--ioengine=boreal-cluster",
            "--output-format=json",
            "--name=commit",
            "--rw=write",
            "--iodepth=16",
            "--time_based",
            "--runtime=2s",
        ])
        .arg(format!("--boreal_cluster={}", file.display()))
        .args([
            "--name=read",
            "--stonewall",
            "--ioengine=boreal-cluster",
            "--rw=randread",
            "--bs=4k",
            "--iodepth=8",
            "--io_size=256k",
        ])
        .arg(format!("--boreal_cluster={}", file.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "boreal-bench:\n{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{report}");

    let commit = &jobs[0];
    let ios = commit["write"]["total_ios"].as_u64().unwrap();
    assert!(ios > 0, "{commit}");
    // About 2 s measured.
    let runtime_ms = commit["job_runtime"].as_u64().unwrap();
    assert!((1900..4000).contains(&runtime_ms), "{runtime_ms} ms");
    let s = &commit["boreal"]["engine_stats"];
    assert_eq!(s["commits"].as_u64(), Some(ios), "{s}");
    assert!(s["commits_per_sec"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["cluster_started_by_job"], false, "{s}");
    let canonical = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(
        s["cluster_dir"].as_str(),
        Some(canonical.to_str().unwrap()),
        "{s}"
    );
    assert!(
        s["layer"].as_str().unwrap().contains("a running cluster"),
        "{s}"
    );
    assert!(
        s["layer"]
            .as_str()
            .unwrap()
            .contains("node 6 slowed by 2 ms"),
        "{s}"
    );
    assert_eq!(s["slow_node_ms"].as_f64(), Some(2.0), "{s}");
    // The volume is the cluster's (boreal cluster up's default: 6 PGs of 256 pages).
    assert_eq!(s["pgs"].as_u64(), Some(6), "{s}");
    assert_eq!(s["pages_per_pg"].as_u64(), Some(256), "{s}");
    // The per-run figures, from the shim's Io seam and the nodes' metrics.
    assert_eq!(s["nodes_read"].as_u64(), Some(6), "{s}");
    assert!(s["shim_sends_per_commit"].as_f64().unwrap() > 0.0, "{s}");
    assert!(
        s["node_device_flushes_per_commit"].as_f64().unwrap() > 0.0,
        "{s}"
    );
    assert!(
        s["shim_wire_bytes_per_redo_byte"].as_f64().unwrap() > 6.0,
        "six copies of each record and their headers: {s}"
    );
    // The nodes' page cache counters (published every 250 ms, so possibly still 0).
    for key in ["node_page_cache_hits", "node_page_cache_misses"] {
        assert!(s[key].as_u64().is_some(), "no {key}: {s}");
    }
    let read = &jobs[1];
    assert_eq!(read["read"]["total_ios"].as_u64(), Some(64), "{read}");
    // `boreal report` puts the jobs side by side as layers, with the cluster's figures.
    let json = tmp.path().join("run.json");
    std::fs::write(&json, &out.stdout).unwrap();
    let report = Command::new(&boreal)
        .args(["report", "--format=text"])
        .arg(&json)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(report.status.success(), "{text}");
    let (_, layers) = text.split_once("layers side by side:").expect("{text}");
    assert!(layers.contains("shim msgs/txn"), "{text}");
    assert!(
        layers
            .lines()
            .any(|l| l.starts_with("commit ") && l.contains("full quorum")),
        "{text}"
    );

    // The job left the cluster it was given running.
    assert_eq!(
        nodes_in(&dir).len(),
        6,
        "the bench stopped a cluster it did not start"
    );
    let down = Command::new(&boreal)
        .args(["cluster", "down", "--dir", d, "--timeout", "10"])
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "boreal cluster down:\n{}{}",
        String::from_utf8_lossy(&down.stdout),
        String::from_utf8_lossy(&down.stderr)
    );
    assert_eq!(nodes_in(&dir), Vec::<u32>::new(), "left behind");
}

#[test]
fn a_cluster_that_is_not_running_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .arg(format!("--directory={}", tmp.path().display()))
        .args([
            "--name=c",
            "--ioengine=boreal-cluster",
            "--rw=write",
            "--io_size=4k",
        ])
        .arg(format!(
            "--boreal_cluster={}",
            tmp.path().join("none").display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("boreal cluster up"), "{stderr}");
}

/// SIGCONTs the given pids when dropped (declared after `Down`, so it runs first and
/// the nodes can be stopped).
struct Cont(Vec<u32>);

impl Drop for Cont {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

/// A job on a running cluster whose nodes hang (three of six stopped with SIGSTOP:
/// no PG can be fenced on four) does not wait for ever while the volume opens: the
/// shim's requests time out, and the job fails naming the nodes it could not reach.
#[test]
fn a_job_whose_volume_cannot_open_fails_naming_the_unreachable_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let d = dir.to_str().unwrap();
    let _down = Down(dir.clone());
    up(d, &[]);
    let file = boreal_netlog::cluster::ClusterFile::load(&dir).unwrap();
    let stopped: Vec<u32> = [1, 3, 5]
        .iter()
        .map(|&id| file.node(id).unwrap().pid)
        .collect();
    let _cont = Cont(stopped.clone());
    for pid in &stopped {
        let s = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(s.success());
    }
    let job_dir = tmp.path().join("job");
    std::fs::create_dir_all(&job_dir).unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .current_dir(&job_dir)
        .args([
            "--name=hung",
            "--ioengine=boreal-cluster",
            "--rw=write",
            "--runtime=1",
            "--time_based",
        ])
        .arg(format!(
            "--boreal_cluster={}",
            dir.join("cluster.toml").display()
        ))
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("only 3 of its segments could be fenced, a write quorum is 4"),
        "{err}"
    );
    for id in [1, 3, 5] {
        assert!(err.contains(&format!("({id}, \"timed out\")")), "{err}");
    }
    assert!(took < Duration::from_secs(30), "took {took:?}: {err}");
}
