//! Issue 16, real processes: six `boreal-node` processes on loopback (two per AZ) and a
//! shim process (`boreal cluster load --acked`) under load.
//!
//! 1. SIGKILL both nodes of one AZ: commits continue (4 of 6).
//! 2. SIGSTOP one more node (AZ+1: 3 of 6 answer): reads through the shim still
//!    succeed and show every acknowledged value; writes stall. SIGCONT: commits resume.
//! 3. SIGKILL the shim mid-load; a new shim (`boreal cluster check`) runs volume
//!    recovery with the AZ still down and every commit the old shim acknowledged is
//!    readable; again once the two nodes are back (restarted on their data).
//!
//! The figures (commits/s under load, the volume recovery times) are printed for the
//! notes; nothing here asserts a speed.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use boreal_netlog::cluster::{self, ClusterFile, ClusterSpec};
use support::{Down, node_bin};

/// One `progress` line of `boreal cluster load`.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    t_ms: u64,
    commits: u64,
    reads: u64,
    read_failures: u64,
    read_violations: u64,
    errors: u64,
}

fn parse_progress(line: &str) -> Option<Progress> {
    let rest = line.strip_prefix("progress ")?;
    let mut p = Progress::default();
    for kv in rest.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        let v: u64 = v.parse().ok()?;
        match k {
            "t_ms" => p.t_ms = v,
            "commits" => p.commits = v,
            "reads" => p.reads = v,
            "read_failures" => p.read_failures = v,
            "read_violations" => p.read_violations = v,
            "errors" => p.errors = v,
            _ => {}
        }
    }
    Some(p)
}

/// The shim process and its progress.
struct Load {
    child: Child,
    progress: mpsc::Receiver<Progress>,
    last: Progress,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Load {
    fn start(dir: &Path, acked: &Path) -> Load {
        let mut child = Command::new(env!("CARGO_BIN_EXE_boreal"))
            .args(["cluster", "load", "--dir"])
            .arg(dir)
            .args([
                "--seconds",
                "300",
                "--clients",
                "4",
                "--readers",
                "2",
                "--interval-ms",
                "200",
                "--acked",
            ])
            .arg(acked)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, progress) = mpsc::channel();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = lines.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(p) = parse_progress(&line) {
                    let _ = tx.send(p);
                } else {
                    keep.lock().unwrap().push(line);
                }
            }
        });
        Load {
            child,
            progress,
            last: Progress::default(),
            lines,
        }
    }

    /// Waits (at most `within`) for a progress line for which `ok` holds.
    fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        ok: impl Fn(&Progress) -> bool,
    ) -> Progress {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.progress.recv_timeout(left) {
                Ok(p) => {
                    assert_eq!(
                        p.read_violations, 0,
                        "a read showed a value it must not: {p:?}"
                    );
                    self.last = p;
                    if ok(&p) {
                        return p;
                    }
                }
                Err(_) => panic!(
                    "{what}: not within {within:?}; last progress {:?}; shim said: {:?}",
                    self.last,
                    self.lines.lock().unwrap()
                ),
            }
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// `boreal cluster check`: asserts it passes; returns its output.
fn check(dir: &Path, acked: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .args(["cluster", "check", "--dir"])
        .arg(dir)
        .arg("--acked")
        .arg(acked)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "check failed:\n{text}");
    assert!(
        text.contains("every acknowledged commit is readable"),
        "{text}"
    );
    text
}

#[test]
fn an_az_down_plus_one_and_a_killed_shim_lose_no_acknowledged_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let acked = tmp.path().join("acked");
    let mut spec = ClusterSpec::new(&dir);
    spec.base_port = 0;
    spec.node_bin = Some(node_bin());
    spec.journal_file_mib = 8;
    spec.backlog_mib = 8;
    let _guard = Down(dir.clone());
    let file: ClusterFile = cluster::up(&spec).unwrap();
    let pid = |id: u32| file.node(id).unwrap().pid;
    let az1: Vec<u32> = file
        .nodes
        .iter()
        .filter(|n| n.az == "az1")
        .map(|n| n.node_id)
        .collect();
    assert_eq!(az1, [1, 4]);

    let mut load = Load::start(&dir, &acked);
    let warm = load.wait_for("first commits", Duration::from_secs(60), |p| {
        p.commits >= 200
    });
    let w0 = load.wait_for("a second of load", Duration::from_secs(30), |p| {
        p.t_ms >= warm.t_ms + 1000
    });
    let rate_all = (w0.commits - warm.commits) as f64 * 1000.0 / (w0.t_ms - warm.t_ms) as f64;

    // 1. Both nodes of az1 killed: commits continue on 4 of 6.
    for &id in &az1 {
        signal(pid(id), "-KILL");
    }
    let k = load.last;
    let k1 = load.wait_for("commits after az1 died", Duration::from_secs(30), |p| {
        p.commits >= k.commits + 200
    });
    let k2 = load.wait_for("a second without az1", Duration::from_secs(30), |p| {
        p.t_ms >= k1.t_ms + 1000
    });
    let rate_az_down = (k2.commits - k1.commits) as f64 * 1000.0 / (k2.t_ms - k1.t_ms) as f64;
    assert!(
        k2.commits > k1.commits,
        "commits stopped with one AZ down: {k2:?}"
    );

    // 2. One more node (az2) stopped: 3 of 6 answer. Reads go on; writes stall.
    signal(pid(2), "-STOP");
    let s = load.wait_for("a moment after the stop", Duration::from_secs(10), |_| true);
    let s2 = load.wait_for("reads with AZ+1 down", Duration::from_secs(30), |p| {
        p.reads >= s.reads + 50 && p.t_ms >= s.t_ms + 1000
    });
    let stalled = s2.commits - s.commits;
    signal(pid(2), "-CONT");
    let c = load.last;
    load.wait_for("commits after SIGCONT", Duration::from_secs(30), |p| {
        p.commits >= c.commits + 100
    });

    // 3. The shim killed mid-load; a new one recovers the volume with az1 still down.
    let before_kill = load.wait_for("commits flowing", Duration::from_secs(10), |_| true);
    signal(load.child.id(), "-KILL");
    let _ = load.child.wait();
    let first = check(&dir, &acked);
    // And once az1 is back, on its own data.
    for &id in &az1 {
        cluster::restart_node(&dir, id).unwrap();
    }
    let second = check(&dir, &acked);
    // The check can fail: a forged record of two more commits by client 0 (the first
    // may exist, unrecorded; the second was never written) is caught.
    let text = std::fs::read_to_string(&acked).unwrap();
    let last0 = text
        .lines()
        .filter_map(|l| l.strip_prefix("ack 1 0 "))
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let layout = boreal_tools::cluster::workload::Layout {
        run: 1,
        clients: 4,
        slots_per_client: 16,
        records: 4,
        page_size: spec.volume.page_size,
        pages_per_pg: spec.volume.pages_per_pg,
        pgs: spec.volume.pgs,
    };
    let mut forged = text.clone();
    for seq in [last0 + 1, last0 + 2] {
        let txn = layout.txn(0, seq);
        forged.push_str(&boreal_tools::cluster::workload::ack_line(
            1, 0, seq, 1, &txn,
        ));
    }
    let forged_path = tmp.path().join("forged");
    std::fs::write(&forged_path, forged).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .args(["cluster", "check", "--dir"])
        .arg(&dir)
        .arg("--acked")
        .arg(&forged_path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a forged commit passed the check:\n{said}"
    );
    assert!(
        said.contains(&format!("seq {}", last0 + 2)) && said.contains("VIOLATION"),
        "{said}"
    );
    println!(
        "commits/s: {rate_all:.0} with 6 nodes, {rate_az_down:.0} with az1 down; with AZ+1 down {stalled} commits and {} reads in {} ms (read failures {}); shim killed after {} commits",
        s2.reads - s.reads,
        s2.t_ms - s.t_ms,
        s2.read_failures,
        before_kill.commits
    );
    println!("check with az1 down:\n{first}check with every node back:\n{second}");
}
