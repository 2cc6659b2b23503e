//! `boreal cluster`: a local cluster of `boreal-node` processes — `up`, `status`,
//! `down` (the launcher itself is `boreal_netlog::cluster`, shared with boreal-bench),
//! and a shim on it: `load` (mini-transactions from many clients, optionally recording
//! every acknowledged commit) and `check` (volume recovery, then every recorded commit
//! read back).
//!
//! This module only words results for people; what a cluster is and how it starts and
//! stops is the library's.

pub mod check;
pub mod load;
pub mod workload;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boreal_netlog::cluster::{ClusterError, ClusterFile, ClusterStatus, DownReport, ProcState};
use boreal_netlog::quorum::{OpenReport, ShimError};

use crate::numfmt::{grouped, size};

/// Why `load` or `check` could not run (a failed check is not an error: it is its
/// report).
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("{0}")]
    Cluster(#[from] ClusterError),
    #[error("{path}: {what}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an acked file of `boreal cluster load`: {why}")]
    Acked { path: PathBuf, why: String },
    #[error("the workload does not fit: {0}")]
    Workload(String),
    #[error("{0}")]
    Runtime(String),
    #[error("the shim: {0}")]
    Shim(ShimError),
    #[error("writing the output: {0}")]
    Output(std::io::Error),
}

impl CmdError {
    fn io(what: &'static str, path: &Path, source: std::io::Error) -> CmdError {
        CmdError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What opening the volume (volume recovery) found, and how long it took.
pub fn write_open_report(
    out: &mut dyn Write,
    r: &OpenReport,
    took: Duration,
) -> std::io::Result<()> {
    writeln!(
        out,
        "volume recovery: {:.1} ms; epoch {}, VCL {}, VDL {}, base {}, truncated ({}, {}], {} records read, {} segments created",
        took.as_secs_f64() * 1e3,
        r.epoch,
        r.vcl,
        r.vdl,
        r.base,
        r.truncated.0,
        r.truncated.1,
        grouped(r.records_read as u64),
        r.segments_created
    )?;
    for (node, why) in &r.unreachable {
        writeln!(out, "  node {node} unreachable: {why}")?;
    }
    out.flush()
}

/// `up`'s answer: where the cluster is and each node's addresses.
pub fn write_up(out: &mut impl Write, f: &ClusterFile) -> std::io::Result<()> {
    writeln!(
        out,
        "cluster up: {} nodes in {}",
        f.nodes.len(),
        f.dir.display()
    )?;
    writeln!(
        out,
        "{:>4}  {:<4}  {:<21}  {:<21}  {:>8}  data",
        "node", "az", "address", "metrics", "pid"
    )?;
    for n in &f.nodes {
        writeln!(
            out,
            "{:>4}  {:<4}  {:<21}  {:<21}  {:>8}  {}",
            n.node_id,
            n.az,
            n.addr.to_string(),
            n.metrics.to_string(),
            n.pid,
            n.data_dir.display()
        )?;
    }
    writeln!(
        out,
        "volume: {} PGs × {} pages of {} (LAL {})",
        f.volume.pgs,
        grouped(f.volume.pages_per_pg),
        size(u64::from(f.volume.page_size)),
        grouped(f.volume.lal)
    )?;
    writeln!(
        out,
        "written {}; stop it with: boreal cluster down --dir {}",
        f.dir.join(boreal_netlog::cluster::CLUSTER_FILE).display(),
        f.dir.display()
    )
}

/// `status` as text: a line per node, then its segments.
pub fn write_status(out: &mut impl Write, s: &ClusterStatus) -> std::io::Result<()> {
    writeln!(
        out,
        "cluster {}: {} of {} nodes up",
        s.dir.display(),
        s.nodes_up(),
        s.nodes.len()
    )?;
    for n in &s.nodes {
        let state = match (n.process, n.answers) {
            (ProcState::Running, true) => "up",
            (ProcState::Running, false) => "running, not answering",
            (ProcState::Stopped, _) => "stopped (SIGSTOP)",
            (ProcState::Zombie | ProcState::Gone, _) => "down",
        };
        let pid = n.pid.map_or("-".to_string(), |p| p.to_string());
        writeln!(
            out,
            "node {} ({}) {}  pid {pid}  {}",
            n.node_id, n.az, n.addr, state
        )?;
        if let Some(e) = &n.error {
            for line in e.lines() {
                writeln!(out, "    {line}")?;
            }
        }
        if !n.segments.is_empty() {
            writeln!(
                out,
                "    {:>4} {:>6} {:>12} {:>12} {:>12} {:>10} {:>9}  holes",
                "pg", "epoch", "scl", "materialized", "min read pt", "backlog", "age ms"
            )?;
        }
        for g in &n.segments {
            let holes = if g.holes.is_empty() {
                "-".to_string()
            } else {
                g.holes
                    .iter()
                    .map(|(a, b)| format!("({a}, {b}]"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            writeln!(
                out,
                "    {:>4} {:>6} {:>12} {:>12} {:>12} {:>10} {:>9}  {holes}",
                g.pg,
                g.epoch,
                g.scl,
                g.materialized_lsn,
                g.min_read_point,
                size(g.backlog_bytes),
                g.backlog_age_us / 1000
            )?;
        }
    }
    Ok(())
}

/// `down` as text: how each node stopped.
pub fn write_down(out: &mut impl Write, r: &DownReport) -> std::io::Result<()> {
    for n in &r.nodes {
        let who = match n.node_id {
            0 => format!("stray node in {}", n.data_dir.display()),
            id => format!("node {id}"),
        };
        let pid = n.pid.map_or(String::new(), |p| format!(" (pid {p})"));
        writeln!(out, "{who}{pid}: {}", n.how)?;
    }
    writeln!(
        out,
        "cluster {} down: no boreal-node of it is running",
        r.dir.display()
    )
}
