//! Behaviour: a `boreal-cluster` job whose commits stop (three of its six nodes
//! stopped with SIGSTOP, so no PG has a 4-of-6 quorum) fails once no I/O completed
//! for `boreal_stall_timeout`, instead of hanging until killed: it exits 1 with an
//! error saying how long nothing completed, how many I/Os were in flight and which
//! nodes did not answer; the report holds what was measured, marked with the error;
//! and no `boreal-node` of the job is left running. A bench that was itself stopped
//! (SIGSTOP, Ctrl-Z) for longer than the timeout is not a stalled cluster: it goes on.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boreal_bench::engine::cluster::scrape::scrape;
use boreal_netlog::cluster::ClusterFile;
use serde_json::Value;
use support::nodes_in;

/// The stall timeout the job runs with.
const STALL: Duration = Duration::from_secs(2);
/// Longest the job may take to fail after the nodes stopped: the timeout, one
/// metrics scrape (2 s per node, in parallel) and stopping the cluster, with room
/// for a loaded machine.
const FAIL_WITHIN: Duration = Duration::from_secs(12);

/// Sends `sig` (`STOP`, `CONT`, `KILL`) to `pid` with kill(1).
fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whatever happens in the test: the stopped nodes run again and are stopped, the
/// bench is killed.
struct Cleanup {
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in nodes_in(&self.dir) {
            signal(pid, "CONT");
            signal(pid, "KILL");
        }
    }
}

/// Builds `boreal-node` in this test's profile (the bench would, but not inside the
/// bound measured here).
fn build_node() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_boreal-bench"));
    let mut b = Command::new(env!("CARGO"));
    b.args(["build", "-q", "-p", "boreal-netlog", "--bin", "boreal-node"]);
    if bench
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release")
    {
        b.arg("--release");
    }
    assert!(b.status().unwrap().success(), "building boreal-node failed");
}

/// The job's cluster once every node is up and at least one has journaled an append
/// (the job is committing).
fn committing_cluster(cluster_dir: &Path, child: &mut Child) -> ClusterFile {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the bench ended before it committed"
        );
        assert!(Instant::now() < until, "the job never started committing");
        if let Ok(file) = ClusterFile::load(cluster_dir)
            && file.nodes.len() == 6
            && file
                .nodes
                .iter()
                .filter_map(|n| scrape(n.metrics))
                .any(|c| c.append_requests > 0)
        {
            return file;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a `boreal-cluster` write job named `stall` in `dir`, its JSON report to
/// `out.json`.
fn start(dir: &Path, runtime: &str, stall: Duration, iodepth: u32) -> Cleanup {
    let child = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .current_dir(dir)
        .args([
            "--output-format=json",
            "--output=out.json",
            "--name=stall",
            "--ioengine=boreal-cluster",
            "--size=8m",
            "--rw=write",
            &format!("--iodepth={iodepth}"),
            "--time_based",
            &format!("--runtime={runtime}"),
            &format!("--boreal_stall_timeout={}ms", stall.as_millis()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Cleanup {
        dir: dir.to_path_buf(),
        child: Some(child),
    }
}

#[test]
fn a_stalled_cluster_job_fails_naming_the_nodes_and_stops_its_cluster() {
    build_node();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut cleanup = start(&dir, "60s", STALL, 16);
    let child = cleanup.child.as_mut().unwrap();
    let file = committing_cluster(&dir.join("stall.0.0"), child);

    // Nodes 1, 3 and 5 (one per AZ): three of six left, no 4-of-6 write quorum.
    let stopped: Vec<u32> = [1, 3, 5]
        .iter()
        .map(|&id| file.nodes.iter().find(|n| n.node_id == id).unwrap().pid)
        .collect();
    for &pid in &stopped {
        assert!(signal(pid, "STOP"), "SIGSTOP to {pid}");
    }
    let stopped_at = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < FAIL_WITHIN,
            "the bench still runs {FAIL_WITHIN:?} after three nodes stopped: no watchdog"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = stopped_at.elapsed();
    let child = cleanup.child.take().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        took >= STALL,
        "failed {took:?} after the stop, before the timeout"
    );

    // The message: how long, how many in flight, which nodes.
    assert!(stderr.contains("stalled"), "{stderr}");
    assert!(stderr.contains("no I/O completed for"), "{stderr}");
    assert!(stderr.contains("boreal_stall_timeout=2s"), "{stderr}");
    assert!(stderr.contains("16 I/Os in flight"), "{stderr}");
    let node = |id: u32| {
        let name = format!("node {id} ");
        stderr
            .split("; ")
            .find(|part| part.contains(&name))
            .unwrap_or_else(|| panic!("names {name}: {stderr}"))
    };
    for id in [1, 3, 5] {
        let line = node(id);
        assert!(line.contains("stopped"), "{line}");
        assert!(
            line.contains("did not answer its metrics endpoint"),
            "{line}"
        );
    }
    for id in [2, 4, 6] {
        let line = node(id);
        assert!(line.contains("running"), "{line}");
        assert!(line.contains("device flushes"), "{line}");
    }

    // Nothing of the job's cluster is left, the stopped nodes included.
    assert_eq!(nodes_in(&dir), Vec::<u32>::new(), "left behind");

    // The report holds what was measured, marked with the stall.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    let job = &report["jobs"][0];
    assert_eq!(job["jobname"], "stall");
    assert!(job["write"]["total_ios"].as_u64().unwrap() > 0, "{job}");
    assert_eq!(job["error"], libc::ETIMEDOUT, "{job}");
    let error = job["boreal"]["error"].as_str().unwrap();
    assert!(error.contains("no I/O completed for"), "{error}");
}

#[test]
fn a_bench_stopped_longer_than_the_timeout_is_not_a_stall() {
    build_node();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let limit = Duration::from_secs(1);
    let mut cleanup = start(&dir, "3s", limit, 4);
    let child = cleanup.child.as_mut().unwrap();
    committing_cluster(&dir.join("stall.0.0"), child);
    // The bench alone stops (its nodes keep acknowledging) for longer than its limit.
    let pid = child.id();
    assert!(signal(pid, "STOP"));
    std::thread::sleep(limit * 5 / 2);
    assert!(signal(pid, "CONT"));
    let child = cleanup.child.take().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("stalled"), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    assert_eq!(report["jobs"][0]["error"], 0);
    assert_eq!(nodes_in(&dir), Vec::<u32>::new(), "left behind");
}

#[test]
fn a_lay_out_that_stalls_fails_and_stops_its_cluster() {
    build_node();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // A read job on a fresh volume lays it out first: 32 PGs of 1,024 pages, one page
    // image per transaction, one transaction at a time, so the lay-out is still going
    // when the nodes are stopped (it takes tens of seconds).
    let child = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .current_dir(&dir)
        .args([
            "--output-format=json",
            "--output=out.json",
            "--name=stall",
            "--ioengine=boreal-cluster",
            "--size=64m",
            "--rw=randread",
            "--boreal_pgs=32",
            "--boreal_records_per_txn=1",
            "--iodepth=1",
            "--time_based",
            "--runtime=5s",
            &format!("--boreal_stall_timeout={}ms", STALL.as_millis()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cleanup = Cleanup {
        dir: dir.clone(),
        child: Some(child),
    };
    let child = cleanup.child.as_mut().unwrap();
    let file = committing_cluster(&dir.join("stall.0.0"), child);
    for id in [1, 3, 5] {
        let pid = file.nodes.iter().find(|n| n.node_id == id).unwrap().pid;
        assert!(signal(pid, "STOP"), "SIGSTOP to {pid}");
    }
    let stopped_at = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            stopped_at.elapsed() < FAIL_WITHIN,
            "the bench still runs {FAIL_WITHIN:?} after three nodes stopped in its lay-out"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = stopped_at.elapsed();
    let out = cleanup.child.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(took >= STALL, "failed {took:?} after the stop: {stderr}");
    assert!(stderr.contains("lay the volume out"), "{stderr}");
    assert!(
        stderr.contains("did not commit within 2.0s (boreal_stall_timeout"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(nodes_in(&dir), Vec::<u32>::new(), "left behind");
}
