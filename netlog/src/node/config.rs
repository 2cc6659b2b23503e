//! The storage node's configuration: `boreal-node --config node.toml`, flags on top.
//!
//! Every field says its default, its limits and its unit; [`NodeConfig::validate`]
//! refuses what the node cannot run with, naming the field and what to change.
//! `boreal-node --print-config` prints the effective configuration in this format, so
//! a file written from it is a complete, commented starting point.
//!
//! Owns plain data and its checks only: it opens no file and binds no socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use boreal_engine::journal::{DurabilityMode, JournalConfig};
use boreal_engine::limits::PARK_SPIN_MAX;
use boreal_engine::node::EngineConfig;
use serde::{Deserialize, Serialize};

use crate::limits::{
    ACK_DELAY_US_MAX, AZ_BYTES_MAX, CONFIG_MIB_MAX, CORES_MAX, GOSSIP_INTERVAL_MS_MAX, PEERS_MAX,
};

/// A storage node's configuration. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's id, unique in the cluster, at least 1. Default 1.
    pub node_id: u32,
    /// Availability-zone label announced to clients (`Hello`): 1..=64 bytes of UTF-8,
    /// no control characters. Default "az1".
    pub az: String,
    /// The node's data directory: a lock file, the node's identity (id and core
    /// count, fixed at creation), and one directory per core (`core-<i>/pages`,
    /// `core-<i>/journal`). Created if missing. Default "boreal-data".
    pub data_dir: PathBuf,
    /// Address the cores listen on: core `i` listens on the port plus `i`; port 0
    /// lets every core pick a free port (announced in `Hello` and the ready line).
    /// Default "127.0.0.1:7400".
    pub listen: SocketAddr,
    /// Cores to run, each with its own journal, port and pinned CPU; 0 runs one per
    /// CPU this process may use. Fixed for the life of the data directory (PGs map to
    /// cores by `pg mod cores`). Default 0, at most 1024.
    pub cores: u16,
    /// The CPUs to pin the cores to, core `i` on `cpus[i % len]`; empty: the CPUs this
    /// process may use, in order. Default empty.
    pub cpus: Vec<usize>,
    /// Pin each core's thread to its CPU. Turn off when several nodes share a few
    /// CPUs and the kernel should place them. Default true.
    pub pin: bool,
    /// Where to serve Prometheus metrics (`http://<addr>/metrics`); absent: no
    /// metrics endpoint. Default absent.
    pub metrics: Option<SocketAddr>,
    /// How long a core polls for completions before it sleeps in the kernel while
    /// journal or page writes are in flight, in microseconds; 0 never polls. Polling
    /// saves the wake-up of a sleeping vCPU but burns the CPU meanwhile: keep it 0
    /// when several nodes share few CPUs (NVMe-NOTES, "Polling before sleeping", and
    /// "Nodes sharing two CPUs"). Default 0, at most 10,000.
    pub park_spin_us: u64,
    /// Connections one core serves at once; more are accepted and closed at once
    /// with a logged reason. Default 1024, at least 1.
    pub connections_max: u32,
    /// Requests one connection may have in flight (answered or refused in order);
    /// the core stops reading that connection while it has this many. Default 4096,
    /// at least 1.
    pub requests_in_flight_max: u32,
    /// How long a stop (SIGTERM, SIGINT) waits for in-flight appends to turn durable
    /// and their acknowledgements to go out, in milliseconds. Default 1500.
    pub shutdown_timeout_ms: u64,
    /// Other storage nodes to gossip with (DESIGN §3: a segment that misses records
    /// fetches them from its PG's peers): one address per node, any of its cores'
    /// (`Hello` answers with every core's port). This node's own address is ignored
    /// if listed. Default empty (no gossip), at most 64, no address twice.
    pub peers: Vec<SocketAddr>,
    /// How often each core compares its segments with its peers' and fetches what it
    /// misses, in milliseconds; 0 turns gossip off. A round also waits this long
    /// before it trusts that a peer's higher SCL is not just an append still in flight
    /// here. Default 100, at most 60,000.
    pub gossip_interval_ms: u64,
    /// Holds every append acknowledgement back this long after the append is durable,
    /// in microseconds: a slow node made on purpose, so a benchmark can show what one
    /// slow member of a PG costs a commit (`boreal-bench`'s `boreal_slow_node_ms`).
    /// The records are durable as fast as ever; only their acknowledgements (and the
    /// answers queued behind them on the connection) wait. 0 holds nothing back.
    /// Default 0, at most 1,000,000 (one second).
    pub ack_delay_us: u64,
    /// Each core's journal.
    pub journal: JournalSection,
    /// Each core's engine (backlog, page cache, coalescer).
    pub engine: EngineSection,
}

/// Each core's journal (`boreal_engine::journal::JournalConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalSection {
    /// Journal files per core, pre-written at creation and recycled. Default 4, at
    /// least 2.
    pub files: u32,
    /// Size of each journal file, in MiB. Default 64, at least 1. A quarter of
    /// `files × file_mib` bounds the backlog (`engine.backlog_mib`).
    pub file_mib: u64,
    /// How a batch is made durable: "dsync" (one RWF_DSYNC write), "linked" (write
    /// linked to fdatasync) or "fdatasync" (write, then fdatasync). Default "dsync"
    /// (measured fastest here, NVMe-NOTES "The journal's durability mode").
    pub durability: Durability,
    /// Batch writes in flight per core, 1..=3. Default 3.
    pub pipeline_depth: usize,
}

/// `journal.durability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Dsync,
    Linked,
    Fdatasync,
}

/// Each core's engine (`boreal_engine::node::EngineConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// Unmaterialized redo per core above which appends wait for the coalescer, in
    /// MiB. Default 64, at least 1, at most a quarter of the journal.
    pub backlog_mib: u64,
    /// Age of the oldest unmaterialized append above which appends wait, in ms.
    /// Default 10,000, at least 10.
    pub backlog_age_ms: u64,
    /// Longest an append waits at the backlog bound before it is refused
    /// (`Backlogged`), in ms. Default 1000, at least 1.
    pub backpressure_wait_ms: u64,
    /// Page cache per core, in MiB; 0: none. Default 64.
    pub page_cache_mib: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_id: 1,
            az: "az1".into(),
            data_dir: PathBuf::from("boreal-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            cores: 0,
            cpus: Vec::new(),
            pin: true,
            metrics: None,
            park_spin_us: 0,
            connections_max: 1024,
            requests_in_flight_max: 4096,
            shutdown_timeout_ms: 1500,
            peers: Vec::new(),
            gossip_interval_ms: 100,
            ack_delay_us: 0,
            journal: JournalSection::default(),
            engine: EngineSection::default(),
        }
    }
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            files: 4,
            file_mib: 64,
            durability: Durability::Dsync,
            pipeline_depth: 3,
        }
    }
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            backlog_mib: 64,
            backlog_age_ms: 10_000,
            backpressure_wait_ms: 1000,
            page_cache_mib: 64,
        }
    }
}

impl NodeConfig {
    /// Parses a TOML configuration; every field absent takes its default.
    pub fn from_toml(text: &str) -> Result<NodeConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The configuration as TOML, every field present.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a NodeConfig always serializes")
    }

    /// Refuses what the node cannot run with, naming the field and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("node_id = 0: node ids start at 1".into());
        }
        if self.az.is_empty()
            || self.az.len() > AZ_BYTES_MAX
            || self.az.chars().any(char::is_control)
        {
            return Err(format!(
                "az = {:?}: give 1..={AZ_BYTES_MAX} bytes of text without control characters",
                self.az
            ));
        }
        if usize::from(self.cores) > CORES_MAX {
            return Err(format!("cores = {}: at most {CORES_MAX}", self.cores));
        }
        if self.listen.port() != 0
            && u32::from(self.listen.port()) + u32::from(self.cores.max(1)) - 1
                > u32::from(u16::MAX)
        {
            return Err(format!(
                "listen = {}: core ports run from the port up by one per core; lower the port",
                self.listen
            ));
        }
        if Duration::from_micros(self.park_spin_us) > PARK_SPIN_MAX {
            return Err(format!(
                "park_spin_us = {}: at most {}",
                self.park_spin_us,
                PARK_SPIN_MAX.as_micros()
            ));
        }
        if self.connections_max == 0 || self.requests_in_flight_max == 0 {
            return Err("connections_max and requests_in_flight_max must be at least 1".into());
        }
        check_peers(&self.peers)?;
        if self.gossip_interval_ms > GOSSIP_INTERVAL_MS_MAX {
            return Err(format!(
                "gossip_interval_ms = {}: at most {GOSSIP_INTERVAL_MS_MAX} (0 turns gossip off)",
                self.gossip_interval_ms
            ));
        }
        if self.ack_delay_us > ACK_DELAY_US_MAX {
            return Err(format!(
                "ack_delay_us = {}: at most {ACK_DELAY_US_MAX} (one second; 0 holds nothing back)",
                self.ack_delay_us
            ));
        }
        if self.journal.file_mib == 0 {
            return Err("journal.file_mib = 0: at least 1".into());
        }
        for (field, mib) in [
            ("journal.file_mib", self.journal.file_mib),
            ("engine.backlog_mib", self.engine.backlog_mib),
            ("engine.page_cache_mib", self.engine.page_cache_mib),
        ] {
            if mib > CONFIG_MIB_MAX {
                return Err(format!("{field} = {mib}: at most {CONFIG_MIB_MAX} (1 PiB)"));
            }
        }
        if !(1..=3).contains(&self.journal.pipeline_depth) {
            return Err(format!(
                "journal.pipeline_depth = {}: use 1, 2 or 3",
                self.journal.pipeline_depth
            ));
        }
        // The engine and journal checks, on the configs the cores will use.
        let (e, j) = self.core_configs(0);
        e.validate().map_err(|m| format!("engine: {m}"))?;
        j.validate().map_err(|m| format!("journal: {m}"))?;
        j.check_backlog(e.backlog_bytes_max as u64)
            .map_err(|m| format!("{m} (engine.backlog_mib, journal.files, journal.file_mib)"))?;
        Ok(())
    }

    /// How often gossip runs, `None` when it is off.
    pub fn gossip_interval(&self) -> Option<Duration> {
        (self.gossip_interval_ms > 0).then(|| Duration::from_millis(self.gossip_interval_ms))
    }

    /// How long acknowledgements are held back after the append is durable.
    pub fn ack_delay(&self) -> Duration {
        Duration::from_micros(self.ack_delay_us)
    }

    /// The directory of core `core`.
    pub fn core_dir(&self, core: u16) -> PathBuf {
        self.data_dir.join(format!("core-{core}"))
    }

    /// The engine and journal configuration of core `core`.
    pub fn core_configs(&self, core: u16) -> (EngineConfig, JournalConfig) {
        let dir = self.core_dir(core);
        let mut e = EngineConfig::new(dir.join("pages"));
        e.backlog_bytes_max = usize::try_from(self.engine.backlog_mib << 20).unwrap_or(usize::MAX);
        e.backlog_age_max = Duration::from_millis(self.engine.backlog_age_ms);
        e.backpressure_wait_max = Duration::from_millis(self.engine.backpressure_wait_ms);
        e.page_cache_bytes_max =
            usize::try_from(self.engine.page_cache_mib << 20).unwrap_or(usize::MAX);
        let mut j = JournalConfig::new(dir.join("journal"));
        j.files = self.journal.files;
        j.file_bytes = self.journal.file_mib << 20;
        j.durability = match self.journal.durability {
            Durability::Dsync => DurabilityMode::DsyncWrite,
            Durability::Linked => DurabilityMode::Linked,
            Durability::Fdatasync => DurabilityMode::WriteThenFdatasync,
        };
        j.pipeline_depth = self.journal.pipeline_depth;
        (e, j)
    }

    /// The address core `core` listens on.
    pub fn core_listen(&self, core: u16) -> SocketAddr {
        let mut a = self.listen;
        if a.port() != 0 {
            a.set_port(a.port() + core);
        }
        a
    }
}

/// Refuses a peer list gossip cannot use: too long, or an address twice.
pub(crate) fn check_peers(peers: &[SocketAddr]) -> Result<(), String> {
    if peers.len() > PEERS_MAX {
        return Err(format!(
            "peers: {} addresses, at most {PEERS_MAX}",
            peers.len()
        ));
    }
    for (i, a) in peers.iter().enumerate() {
        if a.port() == 0 {
            return Err(format!(
                "peers: {a} has port 0; give the port a peer's core listens on"
            ));
        }
        if peers[..i].contains(a) {
            return Err(format!("peers: {a} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip_through_toml() {
        let c = NodeConfig::default();
        c.validate().unwrap();
        let text = c.to_toml();
        assert_eq!(NodeConfig::from_toml(&text).unwrap(), c);
        // Every field absent takes its default.
        assert_eq!(NodeConfig::from_toml("").unwrap(), c);
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let bad = [
            ("node_id = 0", "node_id"),
            ("az = \"\"", "az"),
            ("park_spin_us = 20000", "park_spin_us"),
            ("[journal]\npipeline_depth = 4", "pipeline_depth"),
            ("[engine]\nbacklog_mib = 1024", "backlog"),
            ("peers = [\"127.0.0.1:7400\", \"127.0.0.1:7400\"]", "twice"),
            ("peers = [\"127.0.0.1:0\"]", "port 0"),
            ("gossip_interval_ms = 3600000", "gossip_interval_ms"),
            ("ack_delay_us = 2000000", "ack_delay_us"),
            // 2^44 MiB would wrap to 0 bytes.
            (
                "[engine]\npage_cache_mib = 17592186044416",
                "page_cache_mib",
            ),
            ("[engine]\nbacklog_mib = 17592186044416", "backlog_mib"),
            ("[journal]\nfile_mib = 17592186044416", "file_mib"),
        ];
        for (text, field) in bad {
            let c = NodeConfig::from_toml(text).unwrap();
            let e = c.validate().unwrap_err();
            assert!(e.contains(field), "{text}: {e}");
        }
        let e = NodeConfig::from_toml("nodeid = 3").unwrap_err();
        assert!(e.contains("nodeid"), "{e}");
    }
}
