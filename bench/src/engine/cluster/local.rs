//! The cluster a `boreal-cluster` job writes to: a local cluster of six `boreal-node`
//! processes (two in each of three AZs), either one already running (the job's
//! `boreal_cluster=DIR/cluster.toml`, from `boreal cluster up`) or the job's own.
//!
//! This is the engine's one seam to "where the nodes are". Starting and stopping are
//! `boreal_netlog::cluster`'s ([`up`], [`down`]), exactly what `boreal cluster up` and
//! `down` run: [`Cluster::start`] starts the job's own cluster in its directory (free
//! loopback ports, the nodes' own data directories `DIR/node<N>`, `DIR/cluster.toml`)
//! and [`Cluster::stop`] takes it down when the job ends; [`Cluster::attach`] reads a
//! running cluster's file and leaves its nodes running at the end. The nodes run one
//! core each, unpinned and without polling (six nodes share the machine's CPUs with
//! the shim: `PARK_SPIN_US_DEFAULT`); the engine reads their flushes and bytes at
//! their Prometheus endpoints, as an operator would.
//!
//! The `boreal-node` binary ([`node_bin`]): beside this program, one directory up, or
//! on `$PATH`. When this program runs under cargo (`cargo run -p boreal-bench`, so
//! that the README's first command needs no other step), cargo first builds it (or
//! brings it up to date) in the same profile, once, before any job starts.
//!
//! Must never: leave a node of its own cluster running after [`Cluster::stop`], a
//! drop or a failed start (`up` stops what it started and names the node and why);
//! stop a cluster it did not start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use boreal_netlog::cluster::{
    ClusterError, ClusterFile, ClusterSpec, NodeEntry, VolumeShape, down, procs, up,
};
use boreal_netlog::node::NodeConfig;
use boreal_netlog::quorum::VolumeConfig;

use crate::error::BenchError;

/// Storage nodes of the job's own cluster: two in each of three AZs.
pub const NODES: u32 = 6;
/// Journal files per node.
pub const NODE_JOURNAL_FILES: u32 = 4;
/// Smallest journal per node, bytes: each of its 4 files must hold a 1 MiB batch and
/// its header, in whole MiB.
pub const NODE_JOURNAL_BYTES_MIN: u64 = NODE_JOURNAL_FILES as u64 * (2 << 20);
/// How long the nodes of the job's own cluster get to stop on SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a job asks of its own cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSpec {
    /// The job's directory: `cluster.toml` and the nodes' directories go in it.
    pub dir: PathBuf,
    /// Each node's journal, bytes (split over [`NODE_JOURNAL_FILES`] files).
    pub journal_bytes: u64,
    /// Node [`NODES`] holds its acknowledgements back this long (`ack_delay_us`): one
    /// slow member of every PG. Zero: no slow node.
    pub slow_node: Duration,
    /// The volume's shape.
    pub volume: VolumeShape,
}

impl LocalSpec {
    /// The `boreal_netlog::cluster` spec of this job's cluster (`node_bin` found by
    /// the caller).
    pub fn cluster_spec(&self, node_bin: PathBuf) -> ClusterSpec {
        let file_mib = ((self.journal_bytes / u64::from(NODE_JOURNAL_FILES)) >> 20).max(2);
        let mut s = ClusterSpec::new(&self.dir);
        s.nodes = NODES;
        s.base_port = 0;
        s.node_bin = Some(node_bin);
        s.journal_files = NODE_JOURNAL_FILES;
        s.journal_file_mib = file_mib;
        // A quarter of the journal, the most it allows.
        s.backlog_mib = file_mib;
        // The page cache is left to fit the volume (`ClusterSpec::fitted_page_cache_mib`).
        // The bench stops its nodes itself, and a Ctrl-C in its terminal reaches them.
        s.detach = false;
        s.volume = self.volume;
        if !self.slow_node.is_zero() {
            s.slow_node = Some((NODES, self.slow_node.as_micros() as u64));
        }
        s
    }
}

/// A cluster a job runs on. Stop it with [`Cluster::stop`]; dropping the job's own
/// cluster stops it too.
#[derive(Debug)]
pub struct Cluster {
    file: ClusterFile,
    /// Started by this job: stopped when it ends.
    own: bool,
    /// The slow node and its delay, µs, read from the nodes' configurations.
    pub slow_node: Option<(u32, u64)>,
    /// One line per node: id, AZ, port, metrics, pid, a slow node's delay.
    pub summary: Vec<String>,
    /// The first node's journal, bytes, from its configuration (`None`: unreadable).
    pub journal_bytes: Option<u64>,
}

fn cluster_err(op: &'static str, path: &Path, e: ClusterError) -> BenchError {
    BenchError::Engine {
        op,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Cluster {
    /// Starts the job's own cluster and returns once every node serves.
    pub fn start(spec: &LocalSpec) -> Result<Cluster, BenchError> {
        let bin = node_bin()?;
        let cs = spec.cluster_spec(bin);
        let wanted = journal_bytes(cs.journal_files, cs.journal_file_mib);
        let file =
            up(&cs).map_err(|e| cluster_err("start the job's local cluster in", &spec.dir, e))?;
        let cluster = Cluster::of(file, true);
        if let Some(kept) = cluster.journal_bytes
            && let Some(note) = kept_journal_note(&spec.dir, kept, wanted)
        {
            eprintln!("boreal-bench: {note}");
        }
        Ok(cluster)
    }

    /// A cluster already running, from its `cluster.toml` (or its directory). Its nodes
    /// must all run; they are left running when the job ends.
    pub fn attach(path: &Path) -> Result<Cluster, BenchError> {
        let file = ClusterFile::load(path)
            .map_err(|e| cluster_err("read the cluster (boreal_cluster)", path, e))?;
        let down: Vec<String> = file
            .nodes
            .iter()
            .filter(|n| !procs::node_state(n.pid, &n.data_dir).alive())
            .map(|n| format!("node {} (pid {})", n.node_id, n.pid))
            .collect();
        if !down.is_empty() {
            return Err(BenchError::Engine {
                op: "use the cluster (boreal_cluster)",
                path: path.to_path_buf(),
                message: format!(
                    "{} not running: `boreal cluster status --dir {}` shows why; start the cluster again with `boreal cluster up --dir {}`",
                    down.join(", "),
                    file.dir.display(),
                    file.dir.display()
                ),
            });
        }
        Ok(Cluster::of(file, false))
    }

    fn of(file: ClusterFile, own: bool) -> Cluster {
        let configs: Vec<Option<NodeConfig>> = file
            .nodes
            .iter()
            .map(|n| {
                std::fs::read_to_string(&n.config)
                    .ok()
                    .and_then(|t| NodeConfig::from_toml(&t).ok())
            })
            .collect();
        let delays: Vec<u64> = configs
            .iter()
            .map(|c| c.as_ref().map_or(0, |c| c.ack_delay_us))
            .collect();
        // A node started again on its data keeps the journal it was created with,
        // whatever the job's `size` asked for.
        let journal_bytes = configs
            .first()
            .and_then(Option::as_ref)
            .map(|c| journal_bytes(c.journal.files, c.journal.file_mib));
        let slow_node = file
            .nodes
            .iter()
            .zip(&delays)
            .find(|(_, d)| **d > 0)
            .map(|(n, d)| (n.node_id, *d));
        let summary = file
            .nodes
            .iter()
            .zip(&delays)
            .map(|(n, d)| {
                let slow = if *d > 0 {
                    format!(", slow: acknowledgements held {d} us")
                } else {
                    String::new()
                };
                format!(
                    "node {} {} {} metrics {} pid {}{slow}",
                    n.node_id, n.az, n.addr, n.metrics, n.pid
                )
            })
            .collect();
        Cluster {
            file,
            own,
            slow_node,
            summary,
            journal_bytes,
        }
    }

    /// The volume on these nodes.
    pub fn volume(&self) -> VolumeConfig {
        self.file.volume()
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.file.dir
    }

    /// Started by this job (stopped at its end), not one it was given.
    pub fn own(&self) -> bool {
        self.own
    }

    /// The nodes as `cluster.toml` names them (id, AZ, addresses, pid, data
    /// directory), node order.
    pub fn nodes(&self) -> &[NodeEntry] {
        &self.file.nodes
    }

    /// Every node's Prometheus endpoint, node order.
    pub fn metrics_addrs(&self) -> Vec<Option<SocketAddr>> {
        self.file.nodes.iter().map(|n| Some(n.metrics)).collect()
    }

    /// Stops the job's own cluster (SIGTERM: in-flight appends finish; SIGKILL after
    /// [`STOP_TIMEOUT`]); a cluster it was given keeps running. Fails naming any node
    /// left running.
    pub fn stop(mut self) -> Result<(), BenchError> {
        let own = std::mem::replace(&mut self.own, false);
        if !own {
            return Ok(());
        }
        down(&self.file.dir, STOP_TIMEOUT)
            .map(|_| ())
            .map_err(|e| cluster_err("stop the job's local cluster in", &self.file.dir, e))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.own
            && let Err(e) = down(&self.file.dir, STOP_TIMEOUT)
        {
            eprintln!(
                "boreal-bench: stopping the local cluster in {}: {e}",
                self.file.dir.display()
            );
        }
    }
}

/// The `boreal-node` the job's own clusters run (see the module docs): under cargo,
/// built (or brought up to date) first; found or built once per run.
pub fn node_bin() -> Result<PathBuf, BenchError> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            build_node_bin()?;
            procs::find_node_bin(None).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|message| BenchError::Engine {
            op: "start a local cluster: find",
            path: PathBuf::from(procs::NODE_BIN),
            message,
        })
}

/// Under cargo (`CARGO` and `CARGO_MANIFEST_DIR` set, as `cargo run` and `cargo test`
/// set them), builds `boreal-node` in this program's profile, so that the one found
/// beside this program is as new as it; elsewhere does nothing.
fn build_node_bin() -> Result<(), String> {
    let (Some(cargo), Some(manifest_dir)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return Ok(());
    };
    let Ok(exe) = std::env::current_exe() else {
        return Ok(());
    };
    // target/<profile>/boreal-bench, or target/<profile>/deps/<test>.
    let release = exe
        .ancestors()
        .skip(1)
        .take(2)
        .any(|d| d.file_name().is_some_and(|n| n == "release"));
    let profile = if release { " --release" } else { "" };
    eprintln!(
        "boreal-bench: the cluster jobs run {}: cargo build{profile} -p boreal-netlog --bin {}",
        procs::NODE_BIN,
        procs::NODE_BIN
    );
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-q",
        "-p",
        "boreal-netlog",
        "--bin",
        procs::NODE_BIN,
    ])
    .arg("--manifest-path")
    .arg(PathBuf::from(manifest_dir).join("Cargo.toml"));
    if release {
        cmd.arg("--release");
    }
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "cargo build{profile} -p boreal-netlog --bin {} failed ({s})",
            procs::NODE_BIN
        )),
        Err(e) => Err(format!(
            "cannot run cargo to build {}: {e}",
            procs::NODE_BIN
        )),
    }
}

/// A node's journal, bytes: `files` of `file_mib` MiB.
fn journal_bytes(files: u32, file_mib: u64) -> u64 {
    u64::from(files) * (file_mib << 20)
}

/// What to tell a user whose job asked for a `wanted`-byte journal per node when the
/// nodes in `dir` were created with `kept` bytes and keep them; `None` when they agree.
fn kept_journal_note(dir: &Path, kept: u64, wanted: u64) -> Option<String> {
    (kept != wanted).then(|| {
        format!(
            "the nodes in {} keep the {} MiB journal they were created with (this job's size asks for {} MiB); remove the directory to start them afresh",
            dir.display(),
            kept >> 20,
            wanted >> 20
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LocalSpec {
        LocalSpec {
            dir: PathBuf::from("/d"),
            journal_bytes: 64 << 20,
            slow_node: Duration::from_millis(5),
            volume: VolumeShape {
                page_size: 8192,
                pages_per_pg: 1024,
                pgs: 1,
                lal: 1_000_000,
            },
        }
    }

    #[test]
    fn six_valid_nodes_on_free_ports_and_the_last_one_slow() {
        let s = spec().cluster_spec(PathBuf::from("/bin/boreal-node"));
        s.validate().unwrap();
        assert_eq!(s.nodes, 6);
        assert_eq!(s.base_port, 0);
        assert_eq!(s.cores_per_node, 1);
        assert_eq!(s.journal_file_mib, 16);
        assert_eq!(s.backlog_mib, 16);
        assert_eq!(s.slow_node, Some((6, 5000)));
        assert!(!s.detach);
        let mut fast = spec();
        fast.slow_node = Duration::ZERO;
        assert_eq!(fast.cluster_spec("/x".into()).slow_node, None);
        // The smallest journal still makes a cluster that validates.
        let mut small = spec();
        small.journal_bytes = NODE_JOURNAL_BYTES_MIN;
        small.cluster_spec("/x".into()).validate().unwrap();
    }

    #[test]
    fn a_reused_cluster_with_another_journal_is_named() {
        let note = kept_journal_note(Path::new("/d/cluster"), 64 << 20, 256 << 20);
        let note = note.expect("sizes differ");
        assert!(note.contains("/d/cluster") && note.contains("64 MiB") && note.contains("256 MiB"));
        assert_eq!(
            kept_journal_note(Path::new("/d"), 256 << 20, 256 << 20),
            None
        );
    }

    #[test]
    fn a_job_without_size_gives_its_nodes_a_storage_nodes_default_journal_and_backlog() {
        let mut s = spec();
        s.journal_bytes = super::super::NODE_JOURNAL_BYTES_DEFAULT;
        let c = s.cluster_spec(PathBuf::from("/bin/boreal-node"));
        let node = NodeConfig::default();
        assert_eq!(c.journal_files, node.journal.files);
        assert_eq!(c.journal_file_mib, node.journal.file_mib);
        assert_eq!(c.backlog_mib, node.engine.backlog_mib);
    }
}
