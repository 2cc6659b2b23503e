//! A cluster's state: [`status`] looks at each node of `cluster.toml` — is its process
//! there (and in what state), does it answer `Hello`, and per segment its epoch, SCL,
//! materialized LSN, min read point, backlog and holes (`CoreStatus` on each core,
//! then `SegmentStatus` per PG for what only it carries).
//!
//! Read-only: it changes nothing on the nodes, takes no lock, and each request waits
//! at most [`REQUEST_TIMEOUT`], so a stopped (SIGSTOP) or unreachable node costs a
//! bounded wait and is reported as such.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boreal_segment::{NodeId, PgId};
use serde::Serialize;

use super::ClusterError;
use super::file::ClusterFile;
use super::procs::{self, ProcState};
use crate::client::{Client, ClientError};
use crate::proto::{CoreStatus, Message, Role, SegmentStatus};

/// Longest wait for a connection or an answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// One segment as its node reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentState {
    pub pg: u32,
    pub core: u16,
    pub epoch: u64,
    pub scl: u64,
    pub materialized_lsn: u64,
    pub min_read_point: u64,
    pub backlog_bytes: u64,
    pub backlog_age_us: u64,
    pub hot_records: u64,
    /// Known-missing ranges `(start, end]`, lowest first (at most 16 listed).
    pub holes: Vec<(u64, u64)>,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub node_id: u32,
    pub az: String,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    /// The pid running it now, if any (the one `cluster.toml` names, or one restarted
    /// since, found by its lock file).
    pub pid: Option<u32>,
    pub process: ProcState,
    /// It answered `Hello` as itself.
    pub answers: bool,
    /// Why it did not answer, or why some of its status is missing.
    pub error: Option<String>,
    pub segments: Vec<SegmentState>,
    pub log: PathBuf,
}

impl NodeStatus {
    /// Running and answering.
    pub fn up(&self) -> bool {
        self.process == ProcState::Running && self.answers
    }
}

/// The whole cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    pub dir: PathBuf,
    pub nodes: Vec<NodeStatus>,
}

impl ClusterStatus {
    /// Nodes up (running and answering).
    pub fn nodes_up(&self) -> usize {
        self.nodes.iter().filter(|n| n.up()).count()
    }
}

/// The state of every node of the cluster in `dir`. See the module docs.
pub fn status(dir: &Path) -> Result<ClusterStatus, ClusterError> {
    let file = ClusterFile::load(dir)?;
    let nodes = file
        .nodes
        .iter()
        .map(|n| {
            let mut pid = Some(n.pid);
            let mut process = procs::node_state(n.pid, &n.data_dir);
            if !process.alive()
                && let Some(p) = procs::lock_pid(&n.data_dir)
                && procs::node_state(p, &n.data_dir).alive()
            {
                pid = Some(p);
                process = procs::node_state(p, &n.data_dir);
            }
            if !process.alive() {
                pid = None;
            }
            let mut s = NodeStatus {
                node_id: n.node_id,
                az: n.az.clone(),
                addr: n.addr,
                metrics: n.metrics,
                pid,
                process,
                answers: false,
                error: None,
                segments: Vec::new(),
                log: n.log.clone(),
            };
            match process {
                ProcState::Running => match segments_of(n.addr, n.node_id) {
                    Ok(segs) => {
                        s.answers = true;
                        s.segments = segs;
                    }
                    Err((answered, e)) => {
                        s.answers = answered;
                        s.error = Some(e);
                    }
                },
                ProcState::Stopped => {
                    s.error = Some("stopped (SIGSTOP): it answers nothing until SIGCONT".into());
                }
                ProcState::Zombie | ProcState::Gone => {
                    s.error = Some(format!(
                        "not running; last lines of {}:\n{}",
                        n.log.display(),
                        procs::log_tail(&n.log, 3)
                    ));
                }
            }
            s
        })
        .collect();
    Ok(ClusterStatus {
        dir: file.dir,
        nodes,
    })
}

fn connect(addr: SocketAddr) -> Result<Client, ClientError> {
    let c = Client::connect(addr, REQUEST_TIMEOUT)?;
    c.set_timeout(Some(REQUEST_TIMEOUT))?;
    Ok(c)
}

/// Every segment of the node at `addr` (all its cores). The error says whether the
/// node answered `Hello` at all.
fn segments_of(addr: SocketAddr, node_id: u32) -> Result<Vec<SegmentState>, (bool, String)> {
    let mut c = connect(addr).map_err(|e| (false, e.to_string()))?;
    let map = c
        .hello(Role::Shim, NodeId::new(0))
        .map_err(|e| (false, e.to_string()))?;
    if map.node_id != NodeId::new(node_id) {
        return Err((
            false,
            format!("{addr} answers as node {}, not node {node_id}", map.node_id),
        ));
    }
    let mut out = Vec::new();
    for (core, &port) in map.ports.iter().enumerate() {
        let core_addr = SocketAddr::new(addr.ip(), port);
        let mut c = connect(core_addr).map_err(|e| (true, format!("core {core}: {e}")))?;
        c.hello(Role::Shim, NodeId::new(0))
            .map_err(|e| (true, format!("core {core}: {e}")))?;
        let mut first = PgId::new(0);
        let mut pgs = Vec::new();
        loop {
            let m = c
                .call(&Message::CoreStatus(CoreStatus { first_pg: first }))
                .map_err(|e| (true, format!("core {core}: {e}")))?;
            let Message::CoreStatusReply(r) = m else {
                return Err((true, format!("core {core}: CoreStatus answered {m:?}")));
            };
            pgs.extend(r.segments.iter().map(|s| s.pg));
            match (r.more, r.segments.iter().last()) {
                (true, Some(s)) => first = PgId::new(s.pg.get() + 1),
                _ => break,
            }
        }
        for pg in pgs {
            let m = c
                .call(&Message::SegmentStatus(SegmentStatus { pg }))
                .map_err(|e| (true, format!("core {core}: {e}")))?;
            let Message::StatusReply(s) = m else {
                return Err((
                    true,
                    format!("core {core}: SegmentStatus {pg} answered {m:?}"),
                ));
            };
            out.push(SegmentState {
                pg: pg.get(),
                core: core as u16,
                epoch: s.epoch.get(),
                scl: s.scl.get(),
                materialized_lsn: s.materialized_lsn.get(),
                min_read_point: s.min_read_point.get(),
                backlog_bytes: s.backlog_bytes,
                backlog_age_us: s.backlog_age_us,
                hot_records: s.hot_records,
                holes: s
                    .holes
                    .iter()
                    .map(|h| (h.start.get(), h.end.get()))
                    .collect(),
            });
        }
    }
    out.sort_by_key(|s| s.pg);
    Ok(out)
}
