//! What a local cluster is made of: [`ClusterSpec`] (the caller's wishes, every field
//! with its default and limits) and the plan derived from it, one [`NodePlan`] per
//! node (id, AZ, ports, directories, the node's configuration).
//!
//! Plain data and pure functions: nothing here starts a process or touches a file,
//! except [`free_base_port`], which reads the kernel's ephemeral port range and probes
//! the loopback interface for a free range below it.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ClusterError;
use crate::limits::PEERS_MAX;
use crate::node::NodeConfig;
use crate::quorum::{Member, VolumeConfig};

/// Fewest nodes of a cluster: a PG's six segments, two in each of three AZs.
pub const NODES_MIN: u32 = 6;
/// Most nodes of a local cluster (each gossips with all the others: `peers` ≤ 64).
pub const NODES_MAX: u32 = PEERS_MAX as u32 + 1;
/// Availability zones of a cluster; node `n` (from 1) is in `az{(n - 1) % 3 + 1}`.
pub const AZS: u32 = 3;
/// Most cores one node of a local cluster runs.
pub const CORES_PER_NODE_MAX: u16 = 64;

/// The nodes' default `park_spin_us`: 0, never poll before sleeping. Six nodes, a shim
/// and a client may share two CPUs: a node that spins takes a CPU from the others.
/// Measured on the 2-vCPU dev VM (kernel 6.18, release build, other work on the
/// machine), utime + stime of all six nodes from `/proc/<pid>/stat`: idle (one core
/// each, gossip every 100 ms) 0.15 CPU-s over 10 s with 0 and 0.14 with 50 µs, the
/// runtime's default — the same, since a core spins only while file I/O is in flight;
/// under `boreal cluster load` (4 clients, 2 readers, ~1,800 commits/s) 3.8 CPU-s in
/// 6 s with 0. Spinning can only add to that.
pub const PARK_SPIN_US_DEFAULT: u64 = 0;

/// Smallest page cache a node core gets by default, MiB.
pub const PAGE_CACHE_MIB_MIN: u64 = 16;
/// Largest page cache a node core gets without asking, MiB: six nodes of a local
/// cluster share one machine's memory.
pub const PAGE_CACHE_FIT_MIB_MAX: u64 = 1024;

/// The volume a cluster serves (the shim's `VolumeConfig` without its members).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeShape {
    /// Page size, bytes: a power of two in 4096..=65536. Default 8192.
    pub page_size: u32,
    /// Pages per protection group. Default 256 (2 MiB PGs: a local cluster is small).
    pub pages_per_pg: u64,
    /// Protection groups. Default 6.
    pub pgs: u32,
    /// LSN allocation limit (a distance in LSNs). Default 1,000,000.
    pub lal: u64,
}

impl Default for VolumeShape {
    fn default() -> Self {
        VolumeShape {
            page_size: 8192,
            pages_per_pg: 256,
            pgs: 6,
            lal: 1_000_000,
        }
    }
}

/// A local cluster to start (`up`). Every field says its default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The cluster's directory: `DIR/cluster.toml`, and per node `DIR/node<N>/` (its
    /// data, `node.toml`, `node.log`). Created if missing. No default.
    pub dir: PathBuf,
    /// Storage nodes, at least 6 and at most 65; node `n` (from 1) is in AZ
    /// `az{(n - 1) % 3 + 1}`, so six nodes are two per AZ. Default 6.
    pub nodes: u32,
    /// First TCP port on 127.0.0.1. Node `k` (from 0) takes `cores_per_node + 1`
    /// ports from `base_port + k × (cores_per_node + 1)`: one per core, then its
    /// metrics port. 0 finds a free range (recorded in `cluster.toml`). Default 7400.
    pub base_port: u16,
    /// Cores each node runs (each with its own journal, port and thread), 1..=64.
    /// Default 1: six nodes on a small machine share its CPUs.
    pub cores_per_node: u16,
    /// The `boreal-node` binary. Default: `boreal-node` next to the running
    /// executable (or one directory up, for test binaries in `deps/`), then `$PATH`.
    pub node_bin: Option<PathBuf>,
    /// The nodes' `park_spin_us` (µs a core polls before it sleeps). Default
    /// [`PARK_SPIN_US_DEFAULT`].
    pub park_spin_us: u64,
    /// Journal files per node core. Default 4, at least 2.
    pub journal_files: u32,
    /// Size of each journal file, MiB (pre-written when a node is created). Default
    /// 16, at least 1.
    pub journal_file_mib: u64,
    /// Unmaterialized redo per core before appends wait, MiB; at most a quarter of
    /// the journal. Default 16.
    pub backlog_mib: u64,
    /// Page cache per node core, MiB; `None` (the default): [`ClusterSpec::fitted_page_cache_mib`],
    /// enough for every page the core's segments hold.
    pub page_cache_mib: Option<u64>,
    /// How often the nodes gossip with each other, ms; 0 turns gossip off. Default 100.
    pub gossip_interval_ms: u64,
    /// How long `up` waits for every node to answer `Hello`. Default 60 s (a new
    /// node pre-writes its journal first).
    pub start_timeout: Duration,
    /// Start each node in a process group of its own, so a Ctrl-C in the terminal
    /// that ran `up` does not reach the nodes. Default true; a program that starts a
    /// cluster for its own run and should take it down on Ctrl-C sets false.
    pub detach: bool,
    /// The volume the cluster serves (recorded in `cluster.toml` for shims).
    pub volume: VolumeShape,
    /// One node made slow on purpose: (node id, µs it holds each acknowledgement back
    /// after the append is durable, its `ack_delay_us`). Shows what one slow member
    /// costs a commit. Default `None`.
    pub slow_node: Option<(u32, u64)>,
}

impl ClusterSpec {
    /// A spec with every default, in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ClusterSpec {
        ClusterSpec {
            dir: dir.into(),
            nodes: NODES_MIN,
            base_port: 7400,
            cores_per_node: 1,
            node_bin: None,
            park_spin_us: PARK_SPIN_US_DEFAULT,
            journal_files: 4,
            journal_file_mib: 16,
            backlog_mib: 16,
            page_cache_mib: None,
            gossip_interval_ms: 100,
            start_timeout: Duration::from_secs(60),
            detach: true,
            volume: VolumeShape::default(),
            slow_node: None,
        }
    }

    /// Ports each node takes: one per core and its metrics port.
    pub fn ports_per_node(&self) -> u32 {
        u32::from(self.cores_per_node) + 1
    }

    /// The page cache a node core gets when the spec names none: room for every page
    /// of the segments the core holds (one of each PG the core serves, PG `p` on core
    /// `p mod cores`; at most every PG on every node), plus an eighth for the cache's
    /// own churn, rounded up to a MiB; at least [`PAGE_CACHE_MIB_MIN`], at most
    /// [`PAGE_CACHE_FIT_MIB_MAX`] (a larger volume names its cache).
    ///
    /// Why the whole volume: a coalescer pass re-images every page it touches from
    /// the cache, else from the page store, and it sweeps a segment's pages in a
    /// cycle, which a least-recently-used cache smaller than the cycle never hits.
    /// Measured on the 2-vCPU dev VM (boreal-bench's cluster job, 6 PGs of 1,024
    /// pages, 16 MiB caches): every node read ~100 MB/s of pages back, and commits/s
    /// halved (NVMe-NOTES, "A page cache smaller than the pass").
    pub fn fitted_page_cache_mib(&self) -> u64 {
        let cores = u64::from(self.cores_per_node.max(1));
        let pgs_per_core = u64::from(self.volume.pgs).div_ceil(cores);
        let bytes = pgs_per_core
            .saturating_mul(self.volume.pages_per_pg)
            .saturating_mul(u64::from(self.volume.page_size));
        let with_churn = bytes.saturating_add(bytes / 8);
        with_churn
            .div_ceil(1 << 20)
            .clamp(PAGE_CACHE_MIB_MIN, PAGE_CACHE_FIT_MIB_MAX)
    }

    /// Refuses a spec that cannot run, naming the field and what to change.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let bad = |m: String| Err(ClusterError::Spec(m));
        if !(NODES_MIN..=NODES_MAX).contains(&self.nodes) {
            return bad(format!(
                "nodes = {}: a cluster has {NODES_MIN}..={NODES_MAX} nodes (two per AZ at least, three AZs)",
                self.nodes
            ));
        }
        if !(1..=CORES_PER_NODE_MAX).contains(&self.cores_per_node) {
            return bad(format!(
                "cores_per_node = {}: give 1..={CORES_PER_NODE_MAX}",
                self.cores_per_node
            ));
        }
        let span = self.nodes * self.ports_per_node();
        if self.base_port != 0 && u32::from(self.base_port) + span - 1 > u32::from(u16::MAX) {
            return bad(format!(
                "base_port = {}: the cluster needs {span} ports from it ({} nodes × {} each); lower it",
                self.base_port,
                self.nodes,
                self.ports_per_node()
            ));
        }
        if self.base_port != 0 && self.base_port < 1024 {
            return bad(format!(
                "base_port = {}: use a port of 1024 or more (or 0 to find a free range)",
                self.base_port
            ));
        }
        if let Some((id, _)) = self.slow_node
            && !(1..=self.nodes).contains(&id)
        {
            return bad(format!(
                "slow node {id}: the cluster's nodes are 1..={}",
                self.nodes
            ));
        }
        // Each node's configuration, with the node's own checks, and the volume on
        // them with the shim's.
        let plan = self.plan(self.base_port.max(1024));
        for p in &plan {
            p.config
                .validate()
                .map_err(|m| ClusterError::Spec(format!("node {}: {m}", p.node_id)))?;
        }
        self.volume_config(&plan.iter().map(NodePlan::member).collect::<Vec<_>>())
            .validate()
            .map_err(|m| ClusterError::Spec(format!("volume: {m}")))?;
        Ok(())
    }

    /// The volume with `members`.
    pub(crate) fn volume_config(&self, members: &[Member]) -> VolumeConfig {
        VolumeConfig {
            page_size: self.volume.page_size,
            pages_per_pg: self.volume.pages_per_pg,
            pgs: self.volume.pgs,
            lal: self.volume.lal,
            members: members.to_vec(),
        }
    }

    /// Every node's plan, with ports from `base_port` (not 0).
    pub(crate) fn plan(&self, base_port: u16) -> Vec<NodePlan> {
        let per = self.ports_per_node();
        let first_port = |k: u32| (u32::from(base_port) + k * per) as u16;
        let addr = |port: u16| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        (0..self.nodes)
            .map(|k| {
                let node_id = k + 1;
                let dir = node_dir(&self.dir, node_id);
                let listen = addr(first_port(k));
                let metrics = addr(first_port(k) + self.cores_per_node);
                let peers = (0..self.nodes)
                    .filter(|&j| j != k)
                    .map(|j| addr(first_port(j)))
                    .collect();
                let mut c = NodeConfig {
                    node_id,
                    az: az_of(node_id),
                    data_dir: dir.clone(),
                    listen,
                    cores: self.cores_per_node,
                    pin: false,
                    metrics: Some(metrics),
                    park_spin_us: self.park_spin_us,
                    peers,
                    gossip_interval_ms: self.gossip_interval_ms,
                    ..NodeConfig::default()
                };
                c.journal.files = self.journal_files;
                c.journal.file_mib = self.journal_file_mib;
                c.engine.backlog_mib = self.backlog_mib;
                c.engine.page_cache_mib = self
                    .page_cache_mib
                    .unwrap_or_else(|| self.fitted_page_cache_mib());
                if let Some((id, delay_us)) = self.slow_node
                    && id == node_id
                {
                    c.ack_delay_us = delay_us;
                }
                NodePlan {
                    node_id,
                    ports: (0..self.cores_per_node)
                        .map(|c| listen.port() + c)
                        .collect(),
                    config_path: dir.join(NODE_CONFIG),
                    log_path: dir.join(NODE_LOG),
                    dir,
                    config: c,
                }
            })
            .collect()
    }
}

/// The configuration file of a node, in its directory.
pub const NODE_CONFIG: &str = "node.toml";
/// The log of a node (its stderr and stdout), in its directory.
pub const NODE_LOG: &str = "node.log";

/// `DIR/node<N>`.
pub fn node_dir(dir: &Path, node_id: u32) -> PathBuf {
    dir.join(format!("node{node_id}"))
}

/// The AZ of node `node_id` (from 1): `az1`, `az2`, `az3`, `az1`, ...
pub fn az_of(node_id: u32) -> String {
    format!("az{}", (node_id - 1) % AZS + 1)
}

/// One node of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodePlan {
    pub node_id: u32,
    pub dir: PathBuf,
    pub ports: Vec<u16>,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    pub config: NodeConfig,
}

impl NodePlan {
    /// The node as a member of the volume.
    pub fn member(&self) -> Member {
        Member {
            node_id: self.node_id,
            az: self.config.az.clone(),
            addr: self.config.listen,
        }
    }
}

/// A base port at which `span` consecutive loopback ports are free now: probed by
/// binding each, below the kernel's ephemeral range where it can ([`probe_range`]).
/// A race with other programs remains (one may bind a port between the probe and the
/// node); `up` then reports the node that could not listen.
pub fn free_base_port(span: u32) -> Result<u16, ClusterError> {
    const TRIES: u32 = 200;
    let ephemeral = std::fs::read_to_string(EPHEMERAL_PORTS).ok();
    let (low, high) = probe_range(ephemeral.as_deref(), span);
    let spread = high - low - span;
    let mut start = low + (std::process::id().wrapping_mul(7919) % spread);
    for _ in 0..TRIES {
        let all_free = (start..start + span)
            .all(|p| TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p as u16)).is_ok());
        if all_free {
            return Ok(start as u16);
        }
        start = low + (start - low + span + 97) % spread;
    }
    Err(ClusterError::Spec(format!(
        "no {span} consecutive free ports on 127.0.0.1 in {low}..{high} after {TRIES} tries: give --base-port"
    )))
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`): "low high".
const EPHEMERAL_PORTS: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Where [`free_base_port`] looks for `span` ports: 20,000 up to the start of the
/// kernel's ephemeral range (`ephemeral`, the file's text), else up to 60,000.
///
/// Why below it: an outgoing connection takes its local port from that range, so a
/// port probed free there can be taken by any `connect` (another test's shim, say)
/// before the node binds it. It happened: a node of a test's cluster failed with
/// "Address already in use" on port 52,880 while other tests' clusters ran.
fn probe_range(ephemeral: Option<&str>, span: u32) -> (u32, u32) {
    const LOW: u32 = 20_000;
    const HIGH: u32 = 60_000;
    let ephemeral_low = ephemeral
        .and_then(|t| t.split_whitespace().next())
        .and_then(|w| w.parse::<u32>().ok());
    match ephemeral_low {
        // Room for a fair number of clusters below it: keep it.
        Some(e) if e >= LOW + 64 * span.max(1) => (LOW, e.min(HIGH)),
        _ => (LOW, HIGH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_nodes_two_per_az_own_ports_and_peers() {
        let s = ClusterSpec::new("/tmp/c");
        s.validate().unwrap();
        let plan = s.plan(7400);
        assert_eq!(plan.len(), 6);
        let azs: Vec<&str> = plan.iter().map(|p| p.config.az.as_str()).collect();
        assert_eq!(azs, ["az1", "az2", "az3", "az1", "az2", "az3"]);
        assert_eq!(plan[0].ports, [7400]);
        assert_eq!(plan[0].config.metrics.unwrap().port(), 7401);
        assert_eq!(plan[5].ports, [7410]);
        assert_eq!(plan[2].config.peers.len(), 5);
        assert!(!plan[2].config.peers.contains(&plan[2].config.listen));
        assert_eq!(plan[3].dir, PathBuf::from("/tmp/c/node4"));
        let mut s = ClusterSpec::new("/tmp/c");
        s.cores_per_node = 2;
        let plan = s.plan(7400);
        assert_eq!(plan[1].ports, [7403, 7404]);
        assert_eq!(plan[1].config.metrics.unwrap().port(), 7405);
        let mut s = ClusterSpec::new("/tmp/c");
        s.slow_node = Some((6, 5000));
        s.validate().unwrap();
        let delays: Vec<u64> = s.plan(7400).iter().map(|p| p.config.ack_delay_us).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 5000]);
    }

    #[test]
    fn free_ports_are_looked_for_below_the_ephemeral_range() {
        assert_eq!(probe_range(Some("32768\t60999\n"), 14), (20_000, 32_768));
        // No file, an unreadable one, or a range starting too low to leave room: the
        // whole window.
        assert_eq!(probe_range(None, 14), (20_000, 60_000));
        assert_eq!(probe_range(Some("x y"), 14), (20_000, 60_000));
        assert_eq!(probe_range(Some("1024 65535"), 14), (20_000, 60_000));
        // On this machine, the port found is below its ephemeral range when it has one.
        let base = u32::from(free_base_port(14).unwrap());
        let (low, high) = probe_range(std::fs::read_to_string(EPHEMERAL_PORTS).ok().as_deref(), 14);
        assert!(
            (low..high - 14).contains(&base),
            "{base} not in {low}..{high}"
        );
    }

    #[test]
    fn the_page_cache_fits_the_pages_a_core_holds_unless_named() {
        let cache = |s: &ClusterSpec| s.plan(7400)[0].config.engine.page_cache_mib;
        // The default volume (6 PGs × 256 pages of 8 KiB = 12 MiB): the floor.
        let mut s = ClusterSpec::new("/tmp/c");
        assert_eq!(cache(&s), PAGE_CACHE_MIB_MIN);
        // 6 PGs × 1,024 pages of 8 KiB: 48 MiB, plus an eighth.
        s.volume.pages_per_pg = 1024;
        assert_eq!(cache(&s), 54);
        // Two cores split the PGs (3 each).
        s.cores_per_node = 2;
        assert_eq!(cache(&s), 27);
        // A volume past the cap gets the cap; a named size is taken as it is.
        s.volume.pages_per_pg = 1 << 20;
        assert_eq!(cache(&s), PAGE_CACHE_FIT_MIB_MAX);
        s.page_cache_mib = Some(8);
        assert_eq!(cache(&s), 8);
        s.validate().unwrap();
    }

    #[test]
    fn bad_specs_are_refused_naming_the_field() {
        type Change = fn(&mut ClusterSpec);
        let cases: [(Change, &str); 7] = [
            (|s| s.nodes = 5, "nodes = 5"),
            (|s| s.cores_per_node = 0, "cores_per_node"),
            (|s| s.base_port = 65530, "base_port = 65530"),
            (|s| s.backlog_mib = 64, "backlog"),
            (|s| s.volume.page_size = 1000, "page_size"),
            (|s| s.slow_node = Some((7, 5000)), "slow node 7"),
            (|s| s.slow_node = Some((6, 2_000_000)), "ack_delay_us"),
        ];
        for (change, want) in cases {
            let mut s = ClusterSpec::new("/tmp/c");
            change(&mut s);
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
