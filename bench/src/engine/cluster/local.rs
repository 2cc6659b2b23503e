//! The cluster a `boreal-cluster` job writes to: six storage nodes, two in each of
//! three AZs, and the volume the shim opens on them.
//!
//! This is the engine's one seam to "where the nodes are": [`Cluster::start`] starts
//! the job's own cluster in its directory and [`Cluster::stop`] stops it when the job
//! ends. The nodes run in this process, each on its own thread with its own io_uring
//! runtime (`boreal_netlog::node::process::start`, exactly what the `boreal-node`
//! binary runs, on free loopback ports), so `cargo run -p boreal-bench` needs no other
//! binary built. Each node has its own data directory (`DIR/node-<id>`), one core,
//! unpinned and without polling (six nodes share the machine's CPUs with the shim: see
//! NVMe-NOTES "Nodes sharing two CPUs"), a Prometheus endpoint on a free port (the
//! engine reads its flushes and bytes there, as an operator would), and the others as
//! gossip peers.
//!
//! Must never: leave a node running after [`Cluster::stop`] or a failed start (a node
//! that fails stops the ones already started, and the error names the node and why);
//! share a data directory between two clusters (each node locks its own).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use boreal_netlog::node::NodeConfig;
use boreal_netlog::node::process::{self, Running};
use boreal_netlog::quorum::{Member, VolumeConfig};

use crate::error::BenchError;

/// Storage nodes of a local cluster: two in each of three AZs.
pub const NODES: u32 = 6;
/// Journal files per node.
pub const NODE_JOURNAL_FILES: u32 = 4;
/// Smallest journal per node, bytes: each of its 4 files must hold a 1 MiB batch and
/// its header, in whole MiB (`NodeConfig::journal.file_mib`).
pub const NODE_JOURNAL_BYTES_MIN: u64 = NODE_JOURNAL_FILES as u64 * (2 << 20);
/// How often the nodes gossip (their default).
const GOSSIP_INTERVAL_MS: u64 = 100;

/// What the job asks of its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The job's directory: the nodes' data directories go under it.
    pub dir: PathBuf,
    /// Each node's journal, bytes (split over [`NODE_JOURNAL_FILES`] files).
    pub journal_bytes: u64,
    /// Node [`NODES`] holds its acknowledgements back this long (`ack_delay_us`): one
    /// slow member of every PG. Zero: no slow node.
    pub slow_node: Duration,
    /// The volume's shape: PGs, pages per PG, page size, LSN allocation limit
    /// (`members` is filled in by [`Cluster::start`]).
    pub volume: VolumeConfig,
}

/// A running cluster. Stop it with [`Cluster::stop`]; dropping it stops it too.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Running>,
    volume: VolumeConfig,
    /// One line per node: id, AZ, port, metrics, what its start found.
    pub summary: Vec<String>,
}

/// The configuration of node `id` (1-based) of `spec`.
pub fn node_config(spec: &ClusterSpec, id: u32) -> NodeConfig {
    let file_mib = ((spec.journal_bytes / u64::from(NODE_JOURNAL_FILES)) >> 20).max(2);
    let mut c = NodeConfig {
        node_id: id,
        az: format!("az{}", (id - 1) % 3 + 1),
        data_dir: spec.dir.join(format!("node-{id}")),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        cores: 1,
        pin: false,
        metrics: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        park_spin_us: 0,
        shutdown_timeout_ms: 2000,
        gossip_interval_ms: GOSSIP_INTERVAL_MS,
        ..NodeConfig::default()
    };
    c.journal.files = NODE_JOURNAL_FILES;
    c.journal.file_mib = file_mib;
    // A quarter of the journal, the most it allows.
    c.engine.backlog_mib = file_mib;
    c.engine.page_cache_mib = 16;
    if id == NODES {
        c.ack_delay_us = spec.slow_node.as_micros() as u64;
    }
    c
}

impl Cluster {
    /// Starts the six nodes of `spec` (in parallel: each pre-writes its journal), gives
    /// each the others as gossip peers, and returns once every one serves.
    pub fn start(spec: &ClusterSpec) -> Result<Cluster, BenchError> {
        let err = |node: u32, message: String| BenchError::Engine {
            op: "start the local cluster's node",
            path: spec.dir.join(format!("node-{node}")),
            message,
        };
        std::fs::create_dir_all(&spec.dir).map_err(|e| err(0, e.to_string()))?;
        let configs: Vec<NodeConfig> = (1..=NODES).map(|id| node_config(spec, id)).collect();
        let started: Vec<Result<Running, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = configs
                .iter()
                .map(|c| {
                    let c = c.clone();
                    s.spawn(move || process::start(c).map_err(|e| e.to_string()))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("its start panicked".into()))
                })
                .collect()
        });
        let mut nodes = Vec::new();
        let mut failed = None;
        for (id, r) in (1..=NODES).zip(started) {
            match r {
                Ok(n) => nodes.push(n),
                Err(e) => {
                    failed.get_or_insert((id, e));
                }
            }
        }
        if let Some((id, why)) = failed {
            // Nothing is left running: the nodes that did start stop now.
            for n in nodes {
                n.stop();
            }
            return Err(err(id, why));
        }
        let addrs: Vec<SocketAddr> = nodes
            .iter()
            .map(|n| SocketAddr::from(([127, 0, 0, 1], n.ports()[0])))
            .collect();
        for (i, n) in nodes.iter().enumerate() {
            let peers: Vec<SocketAddr> = addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| *a)
                .collect();
            if let Err(e) = n.set_peers(peers) {
                let id = i as u32 + 1;
                for n in nodes {
                    n.stop();
                }
                return Err(err(id, format!("gossip peers: {e}")));
            }
        }
        let mut volume = spec.volume.clone();
        volume.members = configs
            .iter()
            .zip(&addrs)
            .map(|(c, addr)| Member {
                node_id: c.node_id,
                az: c.az.clone(),
                addr: *addr,
            })
            .collect();
        let summary = nodes
            .iter()
            .zip(&configs)
            .map(|(n, c)| {
                let slow = if c.ack_delay_us > 0 {
                    format!(" slow: acks held {} us", c.ack_delay_us)
                } else {
                    String::new()
                };
                format!(
                    "node {} {} port {} metrics {}{slow}: {}",
                    c.node_id,
                    c.az,
                    n.ports()[0],
                    n.metrics_addr().map_or("off".into(), |a| a.to_string()),
                    n.open_reports.join("; ")
                )
            })
            .collect();
        Ok(Cluster {
            nodes,
            volume,
            summary,
        })
    }

    /// The volume on these nodes.
    pub fn volume(&self) -> &VolumeConfig {
        &self.volume
    }

    /// Every node's Prometheus endpoint, node order.
    pub fn metrics_addrs(&self) -> Vec<Option<SocketAddr>> {
        self.nodes.iter().map(Running::metrics_addr).collect()
    }

    /// Stops every node (in-flight appends finish); returns how many did not stop in
    /// time.
    pub fn stop(self) -> usize {
        self.nodes.into_iter().map(Running::stop).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusterSpec {
        ClusterSpec {
            dir: PathBuf::from("/d"),
            journal_bytes: 64 << 20,
            slow_node: Duration::from_millis(5),
            volume: VolumeConfig {
                page_size: 8192,
                pages_per_pg: 1024,
                pgs: 1,
                lal: 1_000_000,
                members: Vec::new(),
            },
        }
    }

    #[test]
    fn six_valid_nodes_two_per_az_and_the_last_one_slow() {
        let s = spec();
        let configs: Vec<NodeConfig> = (1..=NODES).map(|id| node_config(&s, id)).collect();
        for c in &configs {
            c.validate().unwrap();
            assert_eq!(c.journal.file_mib, 16);
            assert_eq!(c.cores, 1);
        }
        for az in ["az1", "az2", "az3"] {
            assert_eq!(configs.iter().filter(|c| c.az == az).count(), 2, "{az}");
        }
        let slow: Vec<u64> = configs.iter().map(|c| c.ack_delay_us).collect();
        assert_eq!(slow, [0, 0, 0, 0, 0, 5000]);
        assert_eq!(configs[2].data_dir, PathBuf::from("/d/node-3"));
        // The smallest journal still makes a node that starts.
        let mut small = spec();
        small.journal_bytes = NODE_JOURNAL_BYTES_MIN;
        node_config(&small, 1).validate().unwrap();
    }
}
