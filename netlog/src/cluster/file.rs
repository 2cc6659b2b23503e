//! `DIR/cluster.toml`: what `up` started — each node's id, AZ, addresses, data dir,
//! log and pid, and the volume's shape — so that `status`, `down`, a shim (`boreal
//! cluster load`) or `boreal-bench` find the cluster without being told again.
//!
//! Written once every node answers, atomically (a temporary file renamed over it), so
//! a reader sees the whole file or the previous one. The pids are where the nodes were
//! started; whether each still runs is for `status` to find out (`procs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClusterError;
use super::spec::VolumeShape;
use crate::quorum::{Member, VolumeConfig};

/// The name of the cluster file in a cluster's directory.
pub const CLUSTER_FILE: &str = "cluster.toml";
/// The format this build writes and reads.
pub const CLUSTER_FILE_FORMAT: u32 = 1;

/// One node of a running cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub node_id: u32,
    pub az: String,
    /// Core 0's address (any core's answers `Hello` with every core's port).
    pub addr: SocketAddr,
    /// Every core's port, core order.
    pub ports: Vec<u16>,
    /// Where its Prometheus metrics are served (`http://<metrics>/metrics`).
    pub metrics: SocketAddr,
    /// Its data directory (also holding `node.toml` and `node.log`).
    pub data_dir: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its log (stderr and stdout).
    pub log: PathBuf,
    /// The process id it was started with.
    pub pid: u32,
}

/// `cluster.toml`. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// [`CLUSTER_FILE_FORMAT`].
    pub format: u32,
    /// The cluster's directory (absolute).
    pub dir: PathBuf,
    /// The `boreal-node` binary the nodes run.
    pub node_bin: PathBuf,
    /// Cores per node.
    pub cores_per_node: u16,
    /// The volume the cluster serves.
    pub volume: VolumeShape,
    /// The nodes, by id.
    #[serde(rename = "node")]
    pub nodes: Vec<NodeEntry>,
}

impl ClusterFile {
    /// Reads `path` (a `cluster.toml`, or a cluster's directory holding one).
    pub fn load(path: &Path) -> Result<ClusterFile, ClusterError> {
        let path = if path.is_dir() {
            path.join(CLUSTER_FILE)
        } else {
            path.to_path_buf()
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClusterError::NoCluster { path });
            }
            Err(source) => {
                return Err(ClusterError::Io {
                    what: "read the cluster file",
                    path,
                    source,
                });
            }
        };
        let f: ClusterFile = toml::from_str(&text).map_err(|e| ClusterError::ClusterFile {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if f.format != CLUSTER_FILE_FORMAT {
            return Err(ClusterError::ClusterFile {
                path,
                why: format!(
                    "format {} (this build reads {CLUSTER_FILE_FORMAT})",
                    f.format
                ),
            });
        }
        f.volume()
            .validate()
            .map_err(|why| ClusterError::ClusterFile { path, why })?;
        Ok(f)
    }

    /// Writes it to `DIR/cluster.toml` atomically.
    pub(crate) fn save(&self) -> Result<PathBuf, ClusterError> {
        let path = self.dir.join(CLUSTER_FILE);
        let tmp = self.dir.join(format!("{CLUSTER_FILE}.tmp"));
        let text = format!(
            "# A local boreal cluster, written by `boreal cluster up`; read by `boreal cluster\n\
             # status|down|load|check` and boreal-bench (ioengine=boreal-cluster).\n{}",
            toml::to_string(self).expect("a ClusterFile always serializes")
        );
        let io = |what| {
            let path = path.clone();
            move |source| ClusterError::Io { what, path, source }
        };
        std::fs::write(&tmp, text).map_err(io("write the cluster file"))?;
        std::fs::rename(&tmp, &path).map_err(io("rename the cluster file into place"))?;
        Ok(path)
    }

    /// The volume for a shim: its shape and every node as a member.
    pub fn volume(&self) -> VolumeConfig {
        VolumeConfig {
            page_size: self.volume.page_size,
            pages_per_pg: self.volume.pages_per_pg,
            pgs: self.volume.pgs,
            lal: self.volume.lal,
            members: self
                .nodes
                .iter()
                .map(|n| Member {
                    node_id: n.node_id,
                    az: n.az.clone(),
                    addr: n.addr,
                })
                .collect(),
        }
    }

    /// The node with id `node_id`.
    pub fn node(&self, node_id: u32) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.node_id == node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = ClusterFile {
            format: CLUSTER_FILE_FORMAT,
            dir: dir.path().to_path_buf(),
            node_bin: "/bin/boreal-node".into(),
            cores_per_node: 1,
            volume: VolumeShape::default(),
            nodes: (1..=6)
                .map(|n| NodeEntry {
                    node_id: n,
                    az: super::super::spec::az_of(n),
                    addr: format!("127.0.0.1:{}", 7400 + 2 * n).parse().unwrap(),
                    ports: vec![7400 + 2 * n as u16],
                    metrics: format!("127.0.0.1:{}", 7401 + 2 * n).parse().unwrap(),
                    data_dir: dir.path().join(format!("node{n}")),
                    config: dir.path().join(format!("node{n}/node.toml")),
                    log: dir.path().join(format!("node{n}/node.log")),
                    pid: 100 + n,
                })
                .collect(),
        };
        f.save().unwrap();
        assert_eq!(ClusterFile::load(dir.path()).unwrap(), f);
        assert_eq!(f.volume().members.len(), 6);
        f.volume().validate().unwrap();
        let path = dir.path().join(CLUSTER_FILE);
        std::fs::write(&path, "format = 9\n").unwrap();
        let e = ClusterFile::load(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = ClusterFile::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("boreal cluster up"), "{e}");
    }
}
