//! `boreal cluster up | status | down` as a user runs them: six real `boreal-node`
//! processes start and answer, `status` sees them (and a node killed behind its back),
//! a second `up` on the running directory is refused, `down` stops them all and no
//! `boreal-node` of the directory is left. A node that cannot start (its port already
//! taken) is reported with the reason from its log, and nothing is left running.

mod support;

use std::net::TcpListener;
use std::process::Command;

use support::{Down, boreal, node_bin, node_processes_in};

/// `boreal cluster up --dir d` on free ports; its stdout once it succeeded.
fn up(d: &str) -> String {
    let bin = node_bin();
    let (code, out, err) = boreal(&[
        "cluster",
        "up",
        "--dir",
        d,
        "--base-port",
        "0",
        "--node-bin",
        bin.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "up failed:\n{out}{err}");
    out
}

/// `cluster load` ends with the commits' latency and, beside it, the nodes' own append
/// latency over the same run, read from their metrics endpoints.
#[test]
fn load_reports_commit_latency_beside_the_nodes_append_latency() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let d = dir.to_str().unwrap();
    let _guard = Down(dir.clone());
    up(d);
    let (code, out, err) = boreal(&[
        "cluster",
        "load",
        "--dir",
        d,
        "--seconds",
        "1",
        "--clients",
        "4",
    ]);
    assert_eq!(code, 0, "load:\n{out}{err}");
    assert!(out.contains("commits: "), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("nodes: "))
        .unwrap_or_else(|| panic!("no nodes line:\n{out}"));
    assert!(line.contains("(6 of 6 nodes' metrics read)"), "{line}");
    let appends: u64 = line["nodes: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(appends > 0, "{line}");
    let after = |key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.split(' ').next().unwrap().parse().unwrap()
    };
    let (p50, p99) = (after(" p50 "), after(" p99 "));
    assert!(p50 > 0.0 && p50 <= p99, "{line}");
    let (code, out, err) = boreal(&["cluster", "down", "--dir", d, "--timeout", "5"]);
    assert_eq!(code, 0, "down:\n{out}{err}");
}

#[test]
fn up_status_down_leaves_nothing_running() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let d = dir.to_str().unwrap();
    let _guard = Down(dir.clone());
    let out = up(d);
    assert!(out.contains("cluster up: 6 nodes"), "{out}");
    let file = boreal_netlog::cluster::ClusterFile::load(&dir).unwrap();
    assert_eq!(file.nodes.len(), 6);
    let azs: Vec<&str> = file.nodes.iter().map(|n| n.az.as_str()).collect();
    assert_eq!(azs, ["az1", "az2", "az3", "az1", "az2", "az3"]);
    assert_eq!(node_processes_in(&dir).len(), 6);

    let (code, out, err) = boreal(&["cluster", "status", "--dir", d]);
    assert_eq!(code, 0, "status:\n{out}{err}");
    assert!(out.contains("6 of 6 nodes up"), "{out}");

    // A second cluster in the same directory is refused.
    let (code, _, err) = boreal(&["cluster", "up", "--dir", d, "--base-port", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds a running cluster"), "{err}");

    // A node killed behind the cluster's back shows as down, with its log.
    let victim = file.node(2).unwrap().pid;
    assert!(
        Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut seen = String::new();
    for _ in 0..100 {
        let (code, out, _) = boreal(&["cluster", "status", "--dir", d, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        if code == 1 && v["nodes"][1]["process"] != "running" {
            seen = out;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let v: serde_json::Value = serde_json::from_str(&seen).expect("node 2 never showed as down");
    assert_eq!(v["nodes"][1]["node_id"], 2);
    assert_eq!(v["nodes"][0]["answers"], true);
    assert_eq!(v["nodes"][0]["segments"].as_array().unwrap().len(), 0);

    let (code, out, err) = boreal(&["cluster", "down", "--dir", d, "--timeout", "5"]);
    assert_eq!(code, 0, "down:\n{out}{err}");
    assert!(out.contains("node 2: was not running"), "{out}");
    assert_eq!(out.matches("stopped on SIGTERM").count(), 5, "{out}");
    assert_eq!(node_processes_in(&dir), Vec::<u32>::new());
    let (code, out, _) = boreal(&["cluster", "status", "--dir", d]);
    assert_eq!(code, 1);
    assert!(out.contains("0 of 6 nodes up"), "{out}");
}

/// `cluster up` with the port `offset` places above the base (two ports per node: core,
/// then metrics) already taken by someone else: it must fail, exit 1, name the node and
/// leave no `boreal-node` of the directory running. Returns the taken port, stderr and
/// the cluster directory.
fn up_with_a_port_taken(offset: u16) -> (u16, String, std::path::PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let d = dir.to_str().unwrap();
    let bin = node_bin();
    let _guard = Down(dir.clone());
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let base = (port - offset).to_string();
    let (code, out, err) = boreal(&[
        "cluster",
        "up",
        "--dir",
        d,
        "--base-port",
        &base,
        "--node-bin",
        bin.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "up should fail:\n{out}{err}");
    assert_eq!(node_processes_in(&dir), Vec::<u32>::new());
    drop(taken);
    (port, err, dir, tmp)
}

#[test]
fn a_node_that_cannot_listen_is_reported_and_nothing_is_left_running() {
    // Node 3's core port.
    let (port, err, dir, _tmp) = up_with_a_port_taken(4);
    assert!(err.contains("node 3: exited"), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "the reason from node 3's log: {err}"
    );
    assert!(err.contains("every process started was stopped"), "{err}");
    assert!(!dir.join("cluster.toml").exists());
}

/// The metrics port is bound last, after the cores answer: a node that cannot serve
/// its metrics must not pass for started.
#[test]
fn a_node_that_cannot_serve_its_metrics_is_reported_and_nothing_is_left_running() {
    // Node 4's metrics port.
    let (_, err, _, _tmp) = up_with_a_port_taken(7);
    assert!(err.contains("node 4: exited"), "{err}");
    assert!(
        err.contains("serve metrics"),
        "the reason from node 4's log: {err}"
    );
}
