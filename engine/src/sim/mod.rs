//! A deterministic simulator of disks, network and time: [`Sim`] and [`SimIo`].
//!
//! One thread runs many simulated nodes and their cores. A [`Sim`] (the world) owns the
//! seed's PRNG, the virtual clock, one disk per node, the network and a trace hasher;
//! [`SimIo`] is a cheap handle bound to one node and core that implements
//! [`Io`](crate::io::Io) and [`Clock`](crate::io::Clock) exactly as the real backend
//! does (the conformance tests hold it to Linux). Tasks run on the shared runtime's
//! executor (`crate::rt`) with the seeded-random scheduling policy and the simulator as
//! its [`Driver`](crate::rt::Driver): when no task is ready, virtual time jumps to the
//! next event (an I/O completion, a delivery, a timer) and completes what is due. A
//! node's tasks run in the executor domain `Domain { node, core }`, so crashing a node
//! drops them all.
//!
//! Same seed ⇒ same run: every scheduling choice, latency and fault is drawn from PRNGs
//! derived from `SimConfig::seed`, nothing reads real time, and every event (with the
//! bytes of every write and send) folds into [`Sim::trace_hash`], so
//! `seed=<n> trace=<hash>` identifies a run. Each node has its own fault streams,
//! config and clock ([`NodeConfig`]), so one node's I/O never shifts another's faults;
//! a [`FaultAtlas`] bounds how many replicas of the same data may be destroyed.
//! [`SimControl`] (in `control.rs`) is the harness's handle: crashes, process kills,
//! wipes, partitions, slow links, clock steps, corruption, and the liveness check.
//! [`SeedPlan`] picks the seeds of a run from the environment.
//!
//! What it never does: real I/O, real time, real randomness (the one exception is
//! [`SeedPlan`] choosing a random seed base when asked to, before any run), or promise
//! more than Linux does (un-synced data may vanish at a crash; a new file's name needs
//! a directory fsync; a failed sync may silently drop data; a crashed peer leaves
//! connections half-open; see `disk.rs`, `damage.rs`, `net.rs` and `net_faults.rs` for
//! the exact models).
//!
//! Invariants: virtual time never goes backwards; the world is never borrowed while a
//! waker runs or a task is polled or dropped; a node's file handles die with its
//! incarnation.

mod atlas;
mod clock;
mod config;
mod control;
mod damage;
mod disk;
mod image;
mod io;
mod net;
mod net_faults;
mod rng;
mod seeds;
mod trace;
mod wait;
mod world;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;

pub use self::atlas::{AtlasBreach, AtlasExtent, AtlasGroup, FaultAtlas};
pub use self::config::{
    CLOCK_DRIFT_PPM_MAX, ClockConfig, ConfigError, DiskConfig, FaultConfig, LatencyConfig,
    LinkConfig, NetConfig, NodeConfig, SimConfig,
};
pub use self::control::{LivenessError, SimControl};
pub use self::damage::{Damage, DamageKind};
pub use self::disk::{DiskStats, StoredFlip};
pub use self::io::{SimFile, SimIo, SimListener, SimStream};
pub use self::net::node_ip;
pub use self::rng::SimRng;
pub use self::seeds::SeedPlan;
pub use self::world::NodeState;
use self::world::{World, WorldRef};
use crate::io::Instant;
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
        let sched_seed = world.borrow_mut().control_rng.fork(3).next_u64();
        let driver = Rc::new(wait::SimDriver {
            world: world.clone(),
        });
        let exec = Executor::new(driver, Policy::Random { seed: sched_seed });
        exec.set_root_domain(HARNESS_DOMAIN);
        Sim {
            ctl: SimControl::new(world),
            exec,
        }
    }

    /// A handle for crashing, partitioning and inspecting the world from inside tasks.
    pub fn control(&self) -> SimControl {
        self.ctl.clone()
    }

    pub fn seed(&self) -> u64 {
        self.ctl.seed()
    }

    /// Adds a node (ids count up from 0); it starts up with an empty disk, the world's
    /// disk and faults, and a clock drawn within `SimConfig`'s skew bounds.
    pub fn add_node(&self) -> u32 {
        self.ctl.world.borrow_mut().add_node(None)
    }

    /// Adds a node with a disk, faults and clock of its own. Panics if `config` does
    /// not validate (a test bug).
    pub fn add_node_with(&self, config: NodeConfig) -> u32 {
        self.ctl.world.borrow_mut().add_node(Some(config))
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
        self.ctl.crash_world(node);
        self.exec.kill_domains(|d| d.node == node);
    }

    /// Kills `node`'s process from outside [`Sim::run`] (inside, use
    /// [`SimControl::kill_process`]).
    pub fn kill_process(&self, node: u32) {
        self.ctl.kill_world(node);
        self.exec.kill_domains(|d| d.node == node);
    }

    pub fn now(&self) -> Instant {
        crate::io::Clock::now(&self.ctl)
    }

    pub fn trace_hash(&self) -> u64 {
        self.ctl.trace_hash()
    }
}
