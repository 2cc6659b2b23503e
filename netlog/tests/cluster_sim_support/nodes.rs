//! The six storage nodes of the simulated cluster: each boots the very code
//! `boreal-node` runs on one core (`CoreEngine::open_dir`, `serve`, and gossip with its
//! five peers) on `SimIo`, and a supervisor brings a node back after a crash, a kill,
//! a failed open or a fail-stopped log, as an operator's process manager would.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::{Clock, Instant, Io};
use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{CoreEngine, EngineConfig};
use boreal_engine::rt::{Domain, spawn_in};
use boreal_engine::sim::{SimIo, node_ip};
use boreal_netlog::node::gossip::{self, GossipMutations, GossipPeers};
use boreal_netlog::node::{CoreCtx, Identity, NodeMetrics, ServeLimits, serve};
use boreal_segment::NodeId;

use super::Cluster;

/// Every node core listens here (one core per node).
pub const PORT: u16 = 7600;
pub const STORAGE_NODES: u32 = 6;
/// How often a node gossips.
pub const GOSSIP_INTERVAL: Duration = Duration::from_millis(50);
/// Opens in a row that may fail before a node with damage on its disk is given up.
const OPEN_FAILURES_MAX: u32 = 6;
pub const JOURNAL_DIR: &str = "/data/core0/journal";
const PAGES_DIR: &str = "/data/core0/pages";

/// Where a storage node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// Its boot task runs (opening its engine).
    Booting,
    /// It serves.
    Serving,
    /// Down (crashed, killed, or its open failed) until `restart_at`.
    Down,
    /// Given up: its disk is damaged past what it can open (excused by the atlas).
    Lost,
}

/// One storage node as the harness sees it.
pub struct Node {
    pub id: u32,
    pub ctx: RefCell<Option<Rc<CoreCtx<SimIo>>>>,
    pub life: Cell<Life>,
    pub restart_at: Cell<Instant>,
    /// Opens in a row that failed, and why the last did.
    pub open_failures: Cell<u32>,
    pub last_open_error: RefCell<String>,
    /// `sync_eio_dropped_changes` when it booted: a kill after a failed sync that
    /// dropped changes could leave a journal hole (a known engine limit), so such a node
    /// is power-cycled instead.
    pub dropped_at_boot: Cell<u64>,
}

impl Node {
    pub fn new(id: u32) -> Node {
        Node {
            id,
            ctx: RefCell::new(None),
            life: Cell::new(Life::Down),
            restart_at: Cell::new(Instant::ZERO),
            open_failures: Cell::new(0),
            last_open_error: RefCell::new(String::new()),
            dropped_at_boot: Cell::new(0),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(node_ip(self.id), PORT)
    }

    pub fn serving(&self) -> Option<Rc<CoreCtx<SimIo>>> {
        self.ctx.borrow().clone()
    }
}

/// The engine and journal of one simulated node core: small files, and a backlog bound
/// no seed reaches, so nothing is materialized while the run goes on (a node whose
/// peers materialized past its SCL needs page repair, which is not built).
fn configs() -> (EngineConfig, JournalConfig) {
    let mut e = EngineConfig::new(PAGES_DIR);
    e.backlog_bytes_max = 1 << 20;
    e.coalesce_start_percent = 90;
    e.backlog_age_max = Duration::from_secs(3600);
    e.page_cache_bytes_max = 1 << 20;
    e.page_file_grow_bytes = 128 << 10;
    let j = JournalConfig {
        files: 24,
        file_bytes: 256 << 10,
        batch_bytes_max: 64 << 10,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(JOURNAL_DIR)
    };
    (e, j)
}

/// Boots node `n` (its process): open, listen, serve, gossip.
async fn boot(c: Rc<Cluster>, n: u32) {
    let io = c.io(n);
    let node = &c.nodes[n as usize];
    let (e, j) = configs();
    let engine = match CoreEngine::open_dir(io.clone(), e, j).await {
        Ok((engine, _)) => engine,
        Err(err) => {
            node.open_failures.set(node.open_failures.get() + 1);
            *node.last_open_error.borrow_mut() = err.to_string();
            node.life.set(Life::Down);
            return;
        }
    };
    let listener = match io.bind(node.addr()).await {
        Ok(l) => l,
        Err(err) => {
            c.violation(format!("node {n} cannot listen again: {err}"));
            return;
        }
    };
    let ctx = CoreCtx::new(
        io.clone(),
        engine,
        Identity {
            node_id: NodeId::new(n + 1),
            az: format!("az{}", n % 3),
            core_index: 0,
            core_count: 1,
        },
        ServeLimits {
            connections_max: 64,
            requests_in_flight_max: 256,
        },
        NodeMetrics::new(),
    );
    ctx.set_ports(vec![PORT]);
    node.open_failures.set(0);
    *node.ctx.borrow_mut() = Some(ctx.clone());
    node.life.set(Life::Serving);
    let peers = Rc::new(GossipPeers::new(c.peers_of(n)));
    let mutations = GossipMutations {
        accept_bad_checksums: c.variant.gossip_accepts_bad_checksums,
    };
    drop(boreal_engine::rt::spawn(gossip::run_mutated(
        ctx.clone(),
        GOSSIP_INTERVAL,
        peers,
        mutations,
    )));
    serve(ctx, listener, Duration::from_millis(200)).await;
}

/// Starts node `n`'s process (its machine is up).
pub fn start(c: &Rc<Cluster>, n: u32) {
    let node = &c.nodes[n as usize];
    node.life.set(Life::Booting);
    node.dropped_at_boot
        .set(c.ctl.disk_stats(n).sync_eio_dropped_changes);
    c.stats.borrow_mut().node_boots += 1;
    drop(spawn_in(Domain { node: n, core: 0 }, boot(c.clone(), n)));
}

/// Takes node `n` down: power loss, or a process kill where that is safe; it comes
/// back at `restart_at`.
pub fn take_down(c: &Rc<Cluster>, n: u32, power: bool, restart_at: Instant) {
    let node = &c.nodes[n as usize];
    if !c.ctl.is_alive(n) {
        return;
    }
    let dropped = c.ctl.disk_stats(n).sync_eio_dropped_changes > node.dropped_at_boot.get();
    c.note(format!(
        "node {n} goes down (power {power}, dropped {dropped})"
    ));
    if power || dropped {
        c.ctl.crash_node(n);
        c.stats.borrow_mut().power_losses += 1;
    } else {
        c.ctl.kill_process(n);
        c.stats.borrow_mut().kills += 1;
    }
    *node.ctx.borrow_mut() = None;
    node.life.set(Life::Down);
    node.restart_at.set(restart_at);
}

/// One pass of the supervisor: restarts what is due, power-cycles a node whose log
/// stopped (fail-stop after an I/O error), retries a failed open, gives up a node
/// whose damaged disk will not open.
pub fn supervise(c: &Rc<Cluster>) {
    let now = c.ctl.now();
    for n in 0..STORAGE_NODES {
        let node = &c.nodes[n as usize];
        match node.life.get() {
            Life::Lost => {}
            Life::Serving => {
                let failed = node
                    .serving()
                    .is_some_and(|ctx| ctx.engine().failure().is_some());
                if failed {
                    c.stats.borrow_mut().fail_stops += 1;
                    let back = now.saturating_add(Duration::from_millis(20));
                    take_down(c, n, true, back);
                }
            }
            Life::Booting => {}
            Life::Down => {
                if c.ctl.is_alive(n) {
                    // Its open failed: the process exits; the operator restarts it.
                    let failures = node.open_failures.get();
                    if failures >= OPEN_FAILURES_MAX {
                        if c.ctl.damage(n).is_empty() {
                            c.violation(format!(
                                "node {n} cannot open without any damage on its disk: {}",
                                node.last_open_error.borrow()
                            ));
                        }
                        c.note(format!(
                            "node {n} given up after {failures} failed opens: {}",
                            node.last_open_error.borrow()
                        ));
                        c.stats.borrow_mut().nodes_lost += 1;
                        node.life.set(Life::Lost);
                        c.ctl.kill_process(n);
                        continue;
                    }
                    c.stats.borrow_mut().open_failures += 1;
                    let back = now.saturating_add(Duration::from_millis(50 << failures.min(4)));
                    c.ctl.kill_process(n);
                    node.restart_at.set(back);
                    continue;
                }
                if now >= node.restart_at.get() {
                    c.note(format!("node {n} restarts"));
                    c.ctl.restart_node(n);
                    start(c, n);
                }
            }
        }
    }
}
