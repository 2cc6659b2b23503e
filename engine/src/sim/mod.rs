//! A deterministic simulator of disks, network and time: [`Sim`] and [`SimIo`].
//!
//! One thread runs many simulated nodes and their cores. A [`Sim`] (the world) owns the
//! seed's PRNG, the virtual clock, one disk per node, the network and a trace hasher;
//! [`SimIo`] is a cheap handle bound to one node and core that implements
//! [`Io`](crate::io::Io) and [`Clock`] exactly as the real backend
//! does (the conformance tests hold it to Linux). Tasks run on the shared runtime's
//! executor (`crate::rt`) with the seeded-random scheduling policy and the simulator as
//! its [`Driver`](crate::rt::Driver): when no task is ready, virtual time jumps to the
//! next event (an I/O completion, a delivery, a timer) and completes what is due. A
//! node's tasks run in the executor domain `Domain { node, core }`, so crashing a node
//! drops them all.
//!
//! Same seed ⇒ same run: every scheduling choice, latency and fault is drawn from PRNGs
//! derived from `SimConfig::seed`, nothing reads real time, and every event folds into
//! [`Sim::trace_hash`], so `seed=<n> trace=<hash>` identifies a run.
//!
//! What it never does: real I/O, real time, real randomness, or promise more than
//! Linux does (un-synced data may vanish at a crash; a failed sync may silently drop
//! data; see `disk.rs` and `net.rs` for the exact models).
//!
//! Invariants: virtual time never goes backwards; the world is never borrowed while a
//! waker runs or a task is polled or dropped; a node's file handles die with its
//! incarnation.

mod config;
mod disk;
mod io;
mod net;
mod rng;
mod trace;
mod world;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use self::config::{ConfigError, DiskConfig, FaultConfig, LatencyConfig, NetConfig, SimConfig};
pub use self::disk::{DiskStats, StoredFlip};
pub use self::io::{SimFile, SimIo, SimListener, SimStream};
pub use self::net::node_ip;
pub use self::rng::SimRng;
use self::trace::TraceOp;
use self::world::{Sleep, World, WorldRef, with_world};
use crate::io::{Clock, Instant};
use crate::rt::{Domain, Executor, JoinHandle, Policy};

/// The executor domain of the test harness itself (the `run` future and what it spawns
/// with [`Sim::spawn`]): never a node, so crashing a node never kills the harness.
pub const HARNESS_DOMAIN: Domain = Domain {
    node: u32::MAX,
    core: 0,
};

/// The simulated world and the executor that runs it. See the module docs.
pub struct Sim {
    ctl: SimControl,
    exec: Executor,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("ctl", &self.ctl)
            .field("exec", &self.exec)
            .finish()
    }
}

impl Sim {
    /// A world with no nodes yet. Panics if `config` does not validate (a test bug).
    pub fn new(config: SimConfig) -> Sim {
        if let Err(e) = config.validate() {
            panic!("{e}");
        }
        let world: WorldRef = Rc::new(RefCell::new(World::new(config)));
        let sched_seed = world.borrow_mut().rng.fork(3).next_u64();
        let driver = Rc::new(world::SimDriver {
            world: world.clone(),
        });
        let exec = Executor::new(driver, Policy::Random { seed: sched_seed });
        exec.set_root_domain(HARNESS_DOMAIN);
        Sim {
            ctl: SimControl { world },
            exec,
        }
    }

    /// A handle for crashing, partitioning and inspecting the world from inside tasks.
    pub fn control(&self) -> SimControl {
        self.ctl.clone()
    }

    pub fn seed(&self) -> u64 {
        self.ctl.world.borrow().config.seed
    }

    /// Adds a node (ids count up from 0); it starts alive with an empty disk.
    pub fn add_node(&self) -> u32 {
        self.ctl.world.borrow_mut().add_node()
    }

    /// The [`Io`](crate::io::Io) of `node`'s core `core`.
    pub fn io(&self, node: u32, core: u32) -> SimIo {
        self.ctl.world.borrow().node(node);
        SimIo {
            world: self.ctl.world.clone(),
            node,
            core,
        }
    }

    /// Runs `fut` (in [`HARNESS_DOMAIN`]) and every spawned task until `fut` completes.
    /// Panics if the simulation stalls (no task ready, nothing pending).
    pub fn run<F: Future>(&self, fut: F) -> F::Output {
        self.exec.block_on(fut)
    }

    /// Spawns `fut` in `node`'s domain on core `core`; its own spawns inherit it.
    pub fn spawn_on<F>(&self, node: u32, core: u32, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.exec.spawn_in(Domain { node, core }, fut)
    }

    /// Spawns `fut` in [`HARNESS_DOMAIN`].
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.exec.spawn_in(HARNESS_DOMAIN, fut)
    }

    /// Crashes `node` from outside [`Sim::run`] (inside, use [`SimControl::crash_node`]).
    pub fn crash_node(&self, node: u32) {
        self.exec.kill_domains(|d| d.node == node);
        self.ctl.crash_world(node);
    }

    pub fn now(&self) -> Instant {
        self.ctl.now()
    }

    pub fn trace_hash(&self) -> u64 {
        self.ctl.trace_hash()
    }
}

/// A cheap, cloneable handle on the world for the test harness and its tasks: faults
/// on demand (crash, restart, partition, reset), inspection (time, trace, disk stats and
/// images) and the workload's own deterministic randomness. Also a [`Clock`].
#[derive(Clone)]
pub struct SimControl {
    world: WorldRef,
}

impl fmt::Debug for SimControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.world.borrow();
        f.debug_struct("SimControl")
            .field("seed", &w.config.seed)
            .field("now_ns", &w.now().as_nanos())
            .field("nodes", &w.nodes.len())
            .finish()
    }
}

impl SimControl {
    /// Power loss of `node`, from inside [`Sim::run`]: its tasks are dropped (all
    /// cores), in-flight writes may or may not land, un-synced data follows the disk's
    /// crash rules, its streams reset and its listeners vanish. The node stays down
    /// until [`SimControl::restart_node`]. A task crashing its own node is dropped when
    /// its current poll returns.
    pub fn crash_node(&self, node: u32) {
        crate::rt::kill_domains(|d| d.node == node);
        self.crash_world(node);
    }

    fn crash_world(&self, node: u32) {
        with_world(&self.world, |w| w.crash_node(node));
    }

    /// Brings `node` back up (empty of tasks; the caller spawns its boot task).
    pub fn restart_node(&self, node: u32) {
        with_world(&self.world, |w| w.restart_node(node));
    }

    pub fn is_alive(&self, node: u32) -> bool {
        self.world.borrow().node(node).alive
    }

    pub fn node_count(&self) -> u32 {
        self.world.borrow().nodes.len() as u32
    }

    /// Blocks traffic `from -> to` (one-way partition).
    pub fn partition_one_way(&self, from: u32, to: u32) {
        with_world(&self.world, |w| w.partition(from, to));
    }

    /// Blocks traffic both ways between `a` and `b`.
    pub fn partition(&self, a: u32, b: u32) {
        with_world(&self.world, |w| {
            w.partition(a, b);
            w.partition(b, a);
        });
    }

    /// Unblocks `from -> to`.
    pub fn heal_one_way(&self, from: u32, to: u32) {
        with_world(&self.world, |w| w.heal(from, to));
    }

    /// Unblocks both directions between `a` and `b`.
    pub fn heal(&self, a: u32, b: u32) {
        with_world(&self.world, |w| {
            w.heal(a, b);
            w.heal(b, a);
        });
    }

    pub fn heal_all(&self) {
        with_world(&self.world, World::heal_all);
    }

    /// The blocked `(from, to)` links.
    pub fn partitions(&self) -> Vec<(u32, u32)> {
        self.world.borrow().blocked_links()
    }

    /// Resets every stream of `node` (both ends see `ECONNRESET`).
    pub fn reset_streams(&self, node: u32) {
        with_world(&self.world, |w| w.reset_node_streams(node));
    }

    /// The simulated address of `node`.
    pub fn node_ip(&self, node: u32) -> IpAddr {
        node_ip(node)
    }

    pub fn trace_hash(&self) -> u64 {
        self.world.borrow().trace.get()
    }

    /// Folds a workload event into the trace (e.g. "record 7 acknowledged").
    pub fn trace_event(&self, args: &[u64]) {
        self.world.borrow_mut().trace.event(TraceOp::Workload, args);
    }

    pub fn disk_stats(&self, node: u32) -> DiskStats {
        self.world.borrow().disk_stats(node)
    }

    /// Where every stored bit flip of `node`'s disk landed, in order.
    pub fn stored_flips(&self, node: u32) -> Vec<StoredFlip> {
        self.world.borrow().stored_flips(node)
    }

    /// `(written, durable)` bytes of `node`'s file `path`, or `None` if it does not
    /// exist. For tests: what reads see now, and what a crash now would at least keep.
    pub fn disk_images(&self, node: u32, path: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
        self.world.borrow().disk_images(node, path)
    }

    /// Every file of `node`'s disk whose directory entry survives a crash, by path, with
    /// its durable image. Right after [`crash_node`](Self::crash_node) this is exactly
    /// what the node's disk holds: written under a real directory, it is the data dir a
    /// power loss left, for tools and backends outside the simulator (`boreal verify`,
    /// `UringIo`) to open.
    pub fn durable_files(&self, node: u32) -> Vec<(PathBuf, Vec<u8>)> {
        self.world.borrow().durable_files(node)
    }

    pub fn config(&self) -> SimConfig {
        self.world.borrow().config
    }

    /// A workload decision: uniform `u64` from the seed's workload stream.
    pub fn random_u64(&self) -> u64 {
        self.world.borrow_mut().workload_rng.next_u64()
    }

    /// A workload decision: uniform in `0..n`.
    pub fn random_below(&self, n: u64) -> u64 {
        self.world.borrow_mut().workload_rng.below(n)
    }

    /// A workload decision: true with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        self.world.borrow_mut().workload_rng.chance(p)
    }
}

impl Clock for SimControl {
    fn now(&self) -> Instant {
        self.world.borrow().now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        Sleep {
            world: self.world.clone(),
            deadline,
            timer: None,
        }
        .await
    }
}
