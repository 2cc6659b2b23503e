//! Stopping a cluster: [`down`] sends SIGTERM to every node of the directory (a node
//! stops cleanly on it: what it acknowledged is durable), waits up to its timeout,
//! sends SIGKILL to what is left, and then checks that no `boreal-node` of the
//! directory remains. It reports how each node stopped.
//!
//! The nodes are those `cluster.toml` names whose pid is still that node (`procs`),
//! and any other `boreal-node` process whose data directory is inside the cluster's
//! (one started by an `up` that was itself killed before it wrote `cluster.toml`, or
//! restarted by hand).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde::Serialize;

use super::ClusterError;
use super::file::ClusterFile;
use super::procs::{self, ProcState};

/// How long `down` waits for the nodes to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);
const POLL_PAUSE: Duration = Duration::from_millis(20);

/// How a node stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopHow {
    /// It was not running.
    NotRunning,
    /// It stopped on SIGTERM, this long after it.
    Terminated { after_ms: u64 },
    /// It did not stop on SIGTERM within the timeout and was killed (SIGKILL).
    Killed { after_ms: u64 },
    /// It was still there after SIGKILL.
    Left,
}

impl std::fmt::Display for StopHow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopHow::NotRunning => write!(f, "was not running"),
            StopHow::Terminated { after_ms } => write!(f, "stopped on SIGTERM in {after_ms} ms"),
            StopHow::Killed { after_ms } => {
                write!(
                    f,
                    "did not stop on SIGTERM; killed (SIGKILL), gone {after_ms} ms after SIGTERM"
                )
            }
            StopHow::Left => write!(f, "STILL RUNNING after SIGKILL"),
        }
    }
}

/// One node's stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStop {
    /// Its id (0 for a stray process not named in `cluster.toml`).
    pub node_id: u32,
    pub pid: Option<u32>,
    pub data_dir: PathBuf,
    pub how: StopHow,
}

/// What `down` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DownReport {
    pub dir: PathBuf,
    pub nodes: Vec<NodeStop>,
}

/// Stops every node of the cluster in `dir`: SIGTERM, SIGKILL after `timeout`. Fails
/// if a node is left running, naming it, or if `dir` holds neither a cluster file nor
/// a running node.
pub fn down(dir: &Path, timeout: Duration) -> Result<DownReport, ClusterError> {
    let dir = std::fs::canonicalize(dir).map_err(|source| ClusterError::Io {
        what: "resolve the cluster directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let file = match ClusterFile::load(&dir) {
        Ok(f) => Some(f),
        Err(ClusterError::NoCluster { .. }) => None,
        Err(e) => return Err(e),
    };
    let mut stops: Vec<NodeStop> = Vec::new();
    for n in file.iter().flat_map(|f| &f.nodes) {
        let alive = procs::node_state(n.pid, &n.data_dir).alive();
        stops.push(NodeStop {
            node_id: n.node_id,
            pid: alive.then_some(n.pid),
            data_dir: n.data_dir.clone(),
            how: StopHow::NotRunning,
        });
    }
    for (pid, data_dir) in procs::nodes_under(&dir) {
        match stops.iter_mut().find(|s| s.data_dir == data_dir) {
            Some(s) if s.pid.is_none() => s.pid = Some(pid),
            Some(s) if s.pid == Some(pid) => {}
            _ => stops.push(NodeStop {
                node_id: node_id_of(&data_dir),
                pid: Some(pid),
                data_dir,
                how: StopHow::NotRunning,
            }),
        }
    }
    if file.is_none() && stops.is_empty() {
        return Err(ClusterError::NoCluster { path: dir });
    }
    let started = Instant::now();
    for s in &stops {
        if let Some(pid) = s.pid {
            let _ = procs::signal(pid, Signal::TERM);
            // A node stopped with SIGSTOP acts on SIGTERM only once it runs again.
            let _ = procs::signal(pid, Signal::CONT);
        }
    }
    let gone = |s: &NodeStop| {
        s.pid.is_none_or(|pid| {
            matches!(
                procs::node_state(pid, &s.data_dir),
                ProcState::Gone | ProcState::Zombie
            )
        })
    };
    let ms = |t: Instant| t.duration_since(started).as_millis() as u64;
    let mut waiting: Vec<usize> = (0..stops.len())
        .filter(|&i| stops[i].pid.is_some())
        .collect();
    let mut killed_at: Option<Instant> = None;
    while !waiting.is_empty() {
        let now = Instant::now();
        waiting.retain(|&i| {
            if !gone(&stops[i]) {
                return true;
            }
            stops[i].how = match killed_at {
                None => StopHow::Terminated { after_ms: ms(now) },
                Some(_) => StopHow::Killed { after_ms: ms(now) },
            };
            false
        });
        if waiting.is_empty() {
            break;
        }
        match killed_at {
            None if now.duration_since(started) >= timeout => {
                for &i in &waiting {
                    let _ = procs::signal(stops[i].pid.expect("waiting"), Signal::KILL);
                }
                killed_at = Some(now);
            }
            Some(k) if now.duration_since(k) >= KILL_WAIT => {
                for &i in &waiting {
                    stops[i].how = StopHow::Left;
                }
                break;
            }
            _ => {}
        }
        std::thread::sleep(POLL_PAUSE);
    }
    let left = procs::nodes_under(&dir);
    if !left.is_empty() {
        return Err(ClusterError::Left { pids: left });
    }
    Ok(DownReport { dir, nodes: stops })
}

/// `N` of a `.../node<N>` directory, else 0.
fn node_id_of(data_dir: &Path) -> u32 {
    data_dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("node"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
