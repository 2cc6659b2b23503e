//! The storage-node process: the data directory's lock and identity, one thread per
//! core (each pinned, with its own io_uring runtime and engine), the metrics endpoint,
//! the ready line, and a clean stop. This is what `boreal-node` runs; tests start it
//! in-process with [`start`] too.
//!
//! Start-up: lock `DATA_DIR/LOCK` (a second node on the same directory is refused,
//! naming the holder's pid), check or write `DATA_DIR/IDENTITY` (node id and core
//! count, fixed for the life of the data: PGs map to cores by `pg mod cores`), then
//! every core opens (or creates) its engine in `DATA_DIR/core-<i>` and binds its port;
//! once every core is ready they learn each other's ports (announced in `Hello`) and
//! start serving. A core that fails to open stops the whole start with its reason.
//!
//! Gossip: with `gossip_interval_ms` above 0 every core runs its gossip task
//! (`gossip.rs`), idle until it has peers: `peers` from the configuration, or a list
//! given later with [`Running::set_peers`] (a test, or an operator's tool, that learns
//! the peers' ports only once they run).
//!
//! Stop: every core stops accepting and reading; what is in flight is answered (an
//! append is acknowledged only once durable, so a stop loses nothing acknowledged),
//! its gossip task ends (after the append it may be making durable), then its engine
//! closes. The threads are waited for at most `shutdown_timeout_ms`
//! plus a second.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use boreal_engine::io::Io;
use boreal_engine::node::CoreEngine;
use boreal_engine::rt::{Runtime, RuntimeConfig, allowed_cpus, cross};
use boreal_segment::NodeId;
use serde::{Deserialize, Serialize};

use super::config::{NodeConfig, check_peers};
use super::core::{CoreCtx, Identity, ServeLimits, serve};
use super::gossip::{self, GossipPeers};
use super::metrics::{Exporter, NodeMetrics};
use crate::sync::{Either, either};

/// Name of the lock file in the data directory.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the identity file in the data directory.
pub const IDENTITY_FILE: &str = "IDENTITY";
/// Peer lists waiting for a core to take them ([`Running::set_peers`] refuses more).
const PEER_LISTS_QUEUED_MAX: usize = 4;

/// Why the node did not start. Each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{path}: {what}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is in use by another boreal-node ({holder}): stop it first, or give this node another --data-dir"
    )]
    Locked { path: PathBuf, holder: String },
    #[error("{0}")]
    Identity(String),
    #[error("core {core}: {why}")]
    Core { core: u16, why: String },
}

/// `DATA_DIR/IDENTITY`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityFile {
    node_id: u32,
    cores: u16,
}

/// What a core reports once its engine is open and its port bound.
struct CoreReady {
    core: u16,
    port: u16,
    summary: String,
}

/// A running node. [`Running::stop`] stops it; dropping it stops it too.
#[derive(Debug)]
pub struct Running {
    node_id: u32,
    az: String,
    data_dir: PathBuf,
    ports: Vec<u16>,
    listen: SocketAddr,
    stops: Vec<cross::Sender<()>>,
    /// Each core's queue of new peer lists (`None` when gossip is off).
    peer_lists: Option<Vec<cross::Sender<Vec<SocketAddr>>>>,
    threads: Vec<thread::JoinHandle<()>>,
    exited: mpsc::Receiver<u16>,
    exporter: Option<Exporter>,
    shutdown: Duration,
    /// Held for the process's life: the data directory's lock.
    _lock: File,
    /// One line per core: what its open did (created, or what recovery found).
    pub open_reports: Vec<String>,
}

impl Running {
    /// Every core's port, core order.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Where the metrics are served, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.exporter.as_ref().map(Exporter::addr)
    }

    /// The one line logged when the node is ready.
    pub fn ready_line(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        let metrics = self
            .metrics_addr()
            .map_or("off".to_string(), |a| format!("http://{a}/metrics"));
        format!(
            "boreal-node ready: node {} az {} cores {} listen {} ports {} metrics {} data {}",
            self.node_id,
            self.az,
            self.ports.len(),
            self.listen.ip(),
            ports.join(","),
            metrics,
            self.data_dir.display()
        )
    }

    /// Gives every core a new list of peers to gossip with (each one address of a
    /// node, any core's), replacing the configured `peers`. Refused when gossip is off
    /// (`gossip_interval_ms = 0`) or the list breaks `peers`' rules.
    pub fn set_peers(&self, peers: Vec<SocketAddr>) -> Result<(), String> {
        let Some(lists) = &self.peer_lists else {
            return Err("gossip is off (gossip_interval_ms = 0): no peers to set".into());
        };
        check_peers(&peers)?;
        for (core, tx) in lists.iter().enumerate() {
            tx.try_send(peers.clone())
                .map_err(|e| format!("core {core} did not take the peer list ({e}); try again"))?;
        }
        Ok(())
    }

    /// Stops every core (see the module docs) and waits for them, at most the
    /// shutdown timeout plus a second. Returns how many cores had not ended by then.
    pub fn stop(mut self) -> usize {
        self.stop_cores()
    }

    fn stop_cores(&mut self) -> usize {
        for s in &self.stops {
            let _ = s.try_send(());
        }
        let deadline = Instant::now() + self.shutdown + Duration::from_secs(1);
        let mut left = self.threads.len();
        while left > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.exited.recv_timeout(wait) {
                Ok(_) => left -= 1,
                Err(_) => break,
            }
        }
        if left == 0 {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
        self.exporter = None;
        left
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_cores();
        }
    }
}

/// Starts the node and returns once every core serves (or the first failure).
pub fn start(mut cfg: NodeConfig) -> Result<Running, StartError> {
    cfg.validate().map_err(StartError::Config)?;
    let io_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| StartError::Io { what, path, source }
    };
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(io_err("create the data directory", &cfg.data_dir))?;
    let lock = lock_data_dir(&cfg.data_dir)?;
    let cpus = if cfg.cpus.is_empty() {
        allowed_cpus().map_err(io_err("read the CPUs this process may use", &cfg.data_dir))?
    } else {
        cfg.cpus.clone()
    };
    cfg.cores = settle_identity(&cfg, cpus.len())?;
    for core in 0..cfg.cores {
        let dir = cfg.core_dir(core);
        for sub in ["pages", "journal"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(io_err("create a core directory", &dir))?;
        }
    }
    let metrics = NodeMetrics::new();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<CoreReady, StartError>>();
    let (exited_tx, exited) = mpsc::channel::<u16>();
    let mut ports_txs = Vec::new();
    let mut stops = Vec::new();
    let mut peer_lists = Vec::new();
    let mut threads = Vec::new();
    for core in 0..cfg.cores {
        let (ports_tx, ports_rx) = cross::channel::<Vec<u16>>(1);
        let (stop_tx, stop_rx) = cross::channel::<()>(1);
        let (peers_tx, peers_rx) = cross::channel::<Vec<SocketAddr>>(PEER_LISTS_QUEUED_MAX);
        ports_txs.push(ports_tx);
        stops.push(stop_tx);
        peer_lists.push(peers_tx);
        let rt_cfg = RuntimeConfig {
            cpu: cfg.pin.then(|| cpus[usize::from(core) % cpus.len()]),
            park_spin: Duration::from_micros(cfg.park_spin_us),
            ..RuntimeConfig::default()
        };
        let (cfg2, metrics2, ready, exited) = (
            cfg.clone(),
            metrics.clone(),
            ready_tx.clone(),
            exited_tx.clone(),
        );
        let t = thread::Builder::new()
            .name(format!("boreal-node-core-{core}"))
            .spawn(move || {
                match Runtime::new(rt_cfg) {
                    Ok(rt) => {
                        let io = rt.io().clone();
                        rt.block_on(core_main(
                            io,
                            cfg2,
                            core,
                            metrics2,
                            ready,
                            CoreInbox {
                                ports: ports_rx,
                                stop: stop_rx,
                                peers: peers_rx,
                            },
                        ));
                    }
                    Err(e) => {
                        let _ = ready.send(Err(StartError::Core {
                            core,
                            why: format!("cannot start its io_uring runtime: {e}"),
                        }));
                    }
                }
                let _ = exited.send(core);
            })
            .map_err(io_err("start a core thread", &cfg.data_dir))?;
        threads.push(t);
    }
    drop(ready_tx);
    let mut running = Running {
        node_id: cfg.node_id,
        az: cfg.az.clone(),
        data_dir: cfg.data_dir.clone(),
        ports: vec![0; usize::from(cfg.cores)],
        listen: cfg.listen,
        stops,
        peer_lists: cfg.gossip_interval().map(|_| peer_lists),
        threads,
        exited,
        exporter: None,
        shutdown: Duration::from_millis(cfg.shutdown_timeout_ms),
        _lock: lock,
        open_reports: vec![String::new(); usize::from(cfg.cores)],
    };
    for _ in 0..cfg.cores {
        match ready_rx.recv() {
            Ok(Ok(r)) => {
                running.ports[usize::from(r.core)] = r.port;
                running.open_reports[usize::from(r.core)] = r.summary;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(StartError::Core {
                    core: 0,
                    why: "a core thread ended before it was ready".into(),
                });
            }
        }
    }
    for tx in &ports_txs {
        let _ = tx.try_send(running.ports.clone());
    }
    if let Some(addr) = cfg.metrics {
        let exporter =
            Exporter::start(addr, metrics.registry()).map_err(|source| StartError::Io {
                what: "serve metrics",
                path: PathBuf::from(addr.to_string()),
                source,
            })?;
        running.exporter = Some(exporter);
    }
    Ok(running)
}

/// What the process sends a core once it runs.
struct CoreInbox {
    /// Every core's port, once every core is ready.
    ports: cross::Receiver<Vec<u16>>,
    /// Stop.
    stop: cross::Receiver<()>,
    /// New peer lists (`Running::set_peers`).
    peers: cross::Receiver<Vec<SocketAddr>>,
}

/// One core's life: open the engine, bind, report, learn the ports, serve (and gossip)
/// until stopped.
async fn core_main<I: Io + 'static>(
    io: I,
    cfg: NodeConfig,
    core: u16,
    metrics: NodeMetrics,
    ready: mpsc::Sender<Result<CoreReady, StartError>>,
    inbox: CoreInbox,
) {
    let CoreInbox {
        ports: mut ports_rx,
        stop: mut stop_rx,
        peers: mut peers_rx,
    } = inbox;
    let fail = |why: String| {
        let _ = ready.send(Err(StartError::Core { core, why }));
    };
    let (ecfg, jcfg) = cfg.core_configs(core);
    let dir = cfg.core_dir(core);
    let (engine, report) = match CoreEngine::open_dir(io.clone(), ecfg, jcfg).await {
        Ok(x) => x,
        Err(e) => {
            return fail(format!(
                "opening its engine in {}: {e} (see NVMe-NOTES and `boreal verify {}` for what is wrong with the data)",
                dir.display(),
                dir.display()
            ));
        }
    };
    let addr = cfg.core_listen(core);
    let listener = match io.bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "cannot listen on {addr}: {e} (change --listen, or stop what uses the port)"
            ));
        }
    };
    let port = match io.local_addr(&listener) {
        Ok(a) => a.port(),
        Err(e) => return fail(format!("cannot read the address it listens on: {e}")),
    };
    let summary = format!("core {core}: {}", report.summary());
    if ready
        .send(Ok(CoreReady {
            core,
            port,
            summary,
        }))
        .is_err()
    {
        return;
    }
    // The start failed elsewhere when the ports never come.
    let Some(ports) = ports_rx.recv().await else {
        return;
    };
    let ctx = CoreCtx::new(
        io,
        engine,
        Identity {
            node_id: NodeId::new(cfg.node_id),
            az: cfg.az.clone(),
            core_index: core,
            core_count: cfg.cores,
        },
        ServeLimits {
            connections_max: cfg.connections_max,
            requests_in_flight_max: cfg.requests_in_flight_max,
        },
        metrics,
    );
    ctx.set_ports(ports);
    ctx.set_ack_delay(cfg.ack_delay());
    let watcher = {
        let ctx = ctx.clone();
        boreal_engine::rt::spawn(async move {
            let _ = stop_rx.recv().await;
            ctx.stop();
        })
    };
    let peers = Rc::new(GossipPeers::new(cfg.peers.clone()));
    let gossip = cfg.gossip_interval().map(|interval| {
        boreal_engine::rt::spawn(gossip::run(ctx.clone(), interval, peers.clone()))
    });
    let peer_lists = boreal_engine::rt::spawn(async move {
        while let Some(list) = peers_rx.recv().await {
            peers.set(list);
        }
    });
    let shutdown = Duration::from_millis(cfg.shutdown_timeout_ms);
    serve(ctx.clone(), listener, shutdown).await;
    peer_lists.abort();
    if let Some(mut g) = gossip {
        // It ends at its next step once the core stops; an append it started is
        // waited for (bounded by the engine's backpressure wait).
        if let Either::Right(()) = either(&mut g, ctx.io.sleep(shutdown)).await {
            ctx.log(format_args!(
                "gossip did not end within {shutdown:?} of the stop; dropping it"
            ));
            g.abort();
        }
    }
    watcher.abort();
}

/// Takes the data directory's lock, writing this process's pid into it.
fn lock_data_dir(dir: &Path) -> Result<File, StartError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| StartError::Io {
            what: "open the lock file",
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "pid unknown".to_string(),
                pid => format!("pid {pid}"),
            };
            return Err(StartError::Locked {
                path: dir.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(StartError::Io {
                what: "lock the data directory",
                path,
                source,
            });
        }
    }
    let write = |f: &mut File| -> std::io::Result<()> {
        f.set_len(0)?;
        f.rewind()?;
        writeln!(f, "{}", std::process::id())?;
        f.sync_all()
    };
    write(&mut file).map_err(|source| StartError::Io {
        what: "write the lock file",
        path,
        source,
    })?;
    Ok(file)
}

/// Checks the data directory's identity against the configuration, or writes it for
/// a new directory. Returns the core count to run.
fn settle_identity(cfg: &NodeConfig, cpus: usize) -> Result<u16, StartError> {
    let path = cfg.data_dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id: IdentityFile = toml::from_str(&text).map_err(|e| {
                StartError::Identity(format!(
                    "{}: unreadable ({e}); it says which node and how many cores this data belongs to: restore it",
                    path.display()
                ))
            })?;
            if id.node_id != cfg.node_id {
                return Err(StartError::Identity(format!(
                    "{} holds the data of node {}, not node {}: give --node-id {} or another --data-dir",
                    cfg.data_dir.display(),
                    id.node_id,
                    cfg.node_id,
                    id.node_id
                )));
            }
            if cfg.cores != 0 && cfg.cores != id.cores {
                return Err(StartError::Identity(format!(
                    "{} was created with {} cores and its PGs are spread over them (pg mod cores): run with --cores {} (or 0), or start afresh in another --data-dir",
                    cfg.data_dir.display(),
                    id.cores,
                    id.cores
                )));
            }
            Ok(id.cores)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cores = if cfg.cores == 0 {
                u16::try_from(cpus.clamp(1, crate::limits::CORES_MAX)).unwrap_or(1)
            } else {
                cfg.cores
            };
            let id = IdentityFile {
                node_id: cfg.node_id,
                cores,
            };
            let text = toml::to_string(&id).expect("the identity serializes");
            let tmp = path.with_extension("tmp");
            let write = || -> std::io::Result<()> {
                let mut f = File::create(&tmp)?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                File::open(&cfg.data_dir)?.sync_all()
            };
            write().map_err(|source| StartError::Io {
                what: "write the node identity",
                path: path.clone(),
                source,
            })?;
            Ok(cores)
        }
        Err(source) => Err(StartError::Io {
            what: "read the node identity",
            path,
            source,
        }),
    }
}
