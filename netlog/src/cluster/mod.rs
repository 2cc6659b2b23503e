//! `cluster`: a local boreal cluster of real `boreal-node` processes on loopback —
//! start it ([`up`]), look at it ([`status`]), stop it ([`down`]) — for the `boreal
//! cluster` command and for `boreal-bench`'s cluster engine, which starts its own when
//! it is given none.
//!
//! Layout of a cluster directory `DIR`: `DIR/cluster.toml` ([`ClusterFile`]: nodes,
//! AZs, addresses, metrics, pids, the volume's shape) and per node `DIR/node<N>/`
//! (its data directory, `node.toml`, `node.log`). Node `n` (from 1) is in AZ
//! `az{(n - 1) % 3 + 1}`: six nodes are two per AZ over three AZs, every PG on every
//! node. Each node has its own range of ports (one per core, then metrics), and gossips
//! with all the others.
//!
//! What it must never do: leave a process running that it cannot account for. `up`
//! either returns with every node answering `Hello` and `cluster.toml` written, or
//! stops every process it started and says which node failed and why (the last lines
//! of that node's log). `down` stops with SIGTERM, then SIGKILL after its timeout,
//! and fails unless no `boreal-node` of `DIR` is left. A pid is trusted only while its
//! command line is that node's (`procs`), never after it may have been reused.
//!
//! CPU: six nodes, a shim and a client may share two CPUs, so nodes never busy-poll by
//! default ([`PARK_SPIN_US_DEFAULT`] = 0, with the measurement that chose it).

mod down;
mod file;
pub mod procs;
pub mod scrape;
mod spec;
mod status;
mod up;

use std::path::PathBuf;

pub use self::down::{DownReport, NodeStop, StopHow, down};
pub use self::file::{CLUSTER_FILE, ClusterFile, NodeEntry};
pub use self::procs::ProcState;
pub use self::spec::{
    AZS, ClusterSpec, NODE_CONFIG, NODE_LOG, NODES_MAX, NODES_MIN, PARK_SPIN_US_DEFAULT,
    VolumeShape, az_of, free_base_port, node_dir,
};
pub use self::status::{ClusterStatus, NodeStatus, SegmentState, status};
pub use self::up::{restart_node, up};

/// One node that did not start, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    pub node_id: u32,
    /// What was seen: its exit status, a timeout, a wrong answer.
    pub why: String,
    pub log: PathBuf,
    /// The last lines of its log.
    pub log_tail: String,
}

impl std::fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {}: {}; last lines of {}:",
            self.node_id,
            self.why,
            self.log.display()
        )?;
        for line in self.log_tail.lines() {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

fn failures_text(failures: &[NodeFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn pids_text(pids: &[(u32, PathBuf)]) -> String {
    pids.iter()
        .map(|(pid, d)| format!("pid {pid} ({})", d.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a cluster command failed. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid cluster: {0}")]
    Spec(String),
    #[error(
        "boreal-node not found (looked for {}): build it with `cargo build --release -p boreal-netlog --bin boreal-node` (it lands beside `boreal` in target/release/), or give its path",
        .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NodeBin { looked: Vec<PathBuf> },
    #[error("{path}: {what}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{dir} holds a running cluster ({}): stop it with `boreal cluster down --dir {dir}` first, or use another directory",
        pids_text(.nodes)
    )]
    Running {
        dir: PathBuf,
        nodes: Vec<(u32, PathBuf)>,
    },
    #[error(
        "{} of {nodes} nodes did not start; {}:\n{}",
        .failures.len(),
        if .left.is_empty() { "every process started was stopped".to_string() } else { format!("these did not stop: {}", pids_text(.left)) },
        failures_text(.failures)
    )]
    StartFailed {
        nodes: usize,
        failures: Vec<NodeFailure>,
        left: Vec<(u32, PathBuf)>,
    },
    #[error("{path}: no cluster here: start one with `boreal cluster up --dir DIR`")]
    NoCluster { path: PathBuf },
    #[error("{path}: {why}")]
    ClusterFile { path: PathBuf, why: String },
    #[error("node {node_id} is not in the cluster of {dir}")]
    NoSuchNode { dir: PathBuf, node_id: u32 },
    #[error("still running after SIGKILL: {}", pids_text(.pids))]
    Left { pids: Vec<(u32, PathBuf)> },
}
