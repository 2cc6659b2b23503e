//! [`SimControl`]: the test harness's handle on the simulated world.
//!
//! Owns nothing but a reference to the world. It is how a harness injects what the
//! random fault streams do not: machine crashes and process kills, restarts, disk
//! wipes, partitions and slow links, clock steps, corruption and bad sectors, each
//! node's faults; how it bounds data-destroying faults (the [`FaultAtlas`]); how it
//! inspects the world (time, trace, disk stats, images, the damage log); and how it
//! checks liveness once faults stop ([`SimControl::await_live`]).
//!
//! Must never: run a waker while the world is borrowed (every mutation goes through
//! `with_world`); draw from a node's fault stream (explicit controls draw from the
//! world's control stream, so a test that adds a `corrupt` shifts no node's faults).
//!
//! Crash versus kill: [`SimControl::crash_node`] is power loss (un-synced writes follow
//! the disk's crash rules, peers' connections go half-open); [`SimControl::kill_process`]
//! is a process dying on a live machine (the page cache keeps every un-synced write,
//! the kernel closes the sockets). Both drop the node's tasks and bump its incarnation,
//! so its old handles are closed descriptors.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use super::HARNESS_DOMAIN;
use super::atlas::{AtlasBreach, FaultAtlas};
use super::config::{DiskConfig, FaultConfig, LinkConfig, NodeConfig, SimConfig};
use super::damage::Damage;
use super::disk::{DiskStats, StoredFlip};
use super::net::node_ip;
use super::trace::TraceOp;
use super::wait::Sleep;
use super::world::{NodeState, World, WorldRef, with_world};
use crate::io::{Clock, Instant};
use crate::rt::JoinHandle;

/// A cheap, cloneable handle on the world for the test harness and its tasks. See the
/// module docs. Its [`Clock`] is virtual time (no node's clock).
#[derive(Clone)]
pub struct SimControl {
    pub(super) world: WorldRef,
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

/// The world did not reach the state a liveness check waited for. Its message names
/// the check, the seed and the trace, so the failure replays.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "liveness: {what} did not hold within {bound:?} of virtual time after faults stopped \
     (seed={seed}, t={at_ns} ns, trace={trace:016x}); replay with SEED={seed}"
)]
pub struct LivenessError {
    pub what: String,
    pub bound: Duration,
    pub seed: u64,
    pub at_ns: u64,
    pub trace: u64,
}

impl SimControl {
    pub(super) fn new(world: WorldRef) -> SimControl {
        SimControl { world }
    }

    pub fn seed(&self) -> u64 {
        self.world.borrow().config.seed
    }

    // ---- nodes ---------------------------------------------------------------------

    /// Power loss of `node`, from inside `Sim::run`: its tasks are dropped (all cores),
    /// in-flight writes may or may not land, un-synced data follows the disk's crash
    /// rules, its peers' connections go half-open and its listeners vanish. The node
    /// stays down until [`SimControl::restart_node`]. A task crashing its own node is
    /// dropped when its current poll returns.
    pub fn crash_node(&self, node: u32) {
        self.crash_world(node);
        crate::rt::kill_domains(|d| d.node == node);
    }

    pub(super) fn crash_world(&self, node: u32) {
        with_world(&self.world, |w| w.crash_node(node));
    }

    /// `node`'s process dies (SIGKILL), its machine runs on: its tasks are dropped, its
    /// handles close, the kernel finishes its in-flight I/O and keeps its un-synced
    /// writes in the page cache (a later [`SimControl::crash_node`] may still lose
    /// them), closes its sockets (peers see end of stream, or a reset where unread bytes
    /// were waiting) and refuses connections to it. Restart with
    /// [`SimControl::restart_node`]. A no-op on a node that is not up.
    pub fn kill_process(&self, node: u32) {
        if !self.is_alive(node) {
            return;
        }
        self.kill_world(node);
        crate::rt::kill_domains(|d| d.node == node);
    }

    pub(super) fn kill_world(&self, node: u32) {
        with_world(&self.world, |w| w.kill_process(node));
    }

    /// Crashes `node` once `d` of virtual time has passed (if it is still up then):
    /// e.g. in the middle of its boot or recovery. Returns the harness task doing it.
    pub fn crash_after(&self, node: u32, d: Duration) -> JoinHandle<()> {
        let ctl = self.clone();
        crate::rt::spawn_in(HARNESS_DOMAIN, async move {
            ctl.sleep(d).await;
            if ctl.is_alive(node) {
                ctl.crash_node(node);
            }
        })
    }

    /// Brings `node` back up (empty of tasks; the caller spawns its boot task): boots
    /// its machine after a crash, or starts its process again after a kill.
    pub fn restart_node(&self, node: u32) {
        with_world(&self.world, |w| w.restart_node(node));
    }

    /// Replaces `node`'s disk with an empty one (the node was replaced). The node must
    /// be down (crashed or killed): panics otherwise. Charged to the atlas in every
    /// extent; logged as [`DamageKind::Wipe`](super::DamageKind::Wipe).
    pub fn wipe_disk(&self, node: u32) {
        with_world(&self.world, |w| w.wipe_disk(node));
    }

    /// Whether `node`'s process runs.
    pub fn is_alive(&self, node: u32) -> bool {
        self.world.borrow().node(node).is_up()
    }

    pub fn node_state(&self, node: u32) -> NodeState {
        self.world.borrow().node(node).state
    }

    pub fn node_count(&self) -> u32 {
        self.world.borrow().nodes.len() as u32
    }

    /// `node`'s disk, faults and clock as they are now (the clock's offset is its
    /// reading at virtual time 0 only until its drift was changed or it jumped).
    pub fn node_config(&self, node: u32) -> NodeConfig {
        self.world.borrow().node(node).config
    }

    /// From now on, `node` draws its faults from `faults` (its own stream goes on).
    /// Panics if `faults` does not validate.
    pub fn set_node_faults(&self, node: u32, faults: FaultConfig) {
        let mut c = self.node_config(node);
        c.faults = faults;
        if let Err(e) = c.validate() {
            panic!("node {node}: {e}");
        }
        with_world(&self.world, |w| {
            w.node_mut(node).config.faults = faults;
            let now = w.now().as_nanos();
            w.trace
                .event(TraceOp::FaultsChanged, &[u64::from(node), now]);
        });
    }

    /// From now on, `node`'s disk has these latencies and this O_DIRECT alignment (for
    /// files opened afterwards); the capacity applies from its next wipe. Panics if
    /// `disk` does not validate.
    pub fn set_node_disk(&self, node: u32, disk: DiskConfig) {
        let mut c = self.node_config(node);
        c.disk = disk;
        if let Err(e) = c.validate() {
            panic!("node {node}: {e}");
        }
        with_world(&self.world, |w| w.node_mut(node).config.disk = disk);
    }

    // ---- clocks --------------------------------------------------------------------

    /// `node`'s clock now (what its `SimIo::now` returns).
    pub fn node_now(&self, node: u32) -> Instant {
        self.world.borrow().local_now(node)
    }

    /// From now on, `node`'s clock runs `drift_ppm` parts per million fast (negative:
    /// slow) against virtual time; its reading does not jump. Panics beyond
    /// ±[`CLOCK_DRIFT_PPM_MAX`](super::CLOCK_DRIFT_PPM_MAX).
    pub fn set_clock_drift(&self, node: u32, drift_ppm: i32) {
        assert!(
            drift_ppm.abs() <= super::CLOCK_DRIFT_PPM_MAX,
            "drift {drift_ppm} ppm is beyond ±{}",
            super::CLOCK_DRIFT_PPM_MAX
        );
        with_world(&self.world, |w| {
            let now = w.now().as_nanos();
            let n = w.node_mut(node);
            n.clock.set_drift(now, drift_ppm);
            n.config.clock.drift_ppm = drift_ppm;
            w.trace
                .event(TraceOp::Clock, &[u64::from(node), drift_ppm as u64, 0, now]);
        });
    }

    /// `node`'s clock steps forward by `d` (a monotonic clock never steps back).
    ///
    /// A clock change never makes a timer fire before the node's clock reads its
    /// deadline; timers armed before a step or a speed-up keep their virtual instant
    /// and so may fire late by the node's clock, as a busy machine's timers do.
    pub fn jump_clock(&self, node: u32, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        with_world(&self.world, |w| {
            let now = w.now().as_nanos();
            w.node_mut(node).clock.jump(now, ns);
            w.trace
                .event(TraceOp::Clock, &[u64::from(node), 0, ns, now]);
        });
    }

    // ---- network -------------------------------------------------------------------

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

    /// Makes the link `from -> to` slow (`delay_factor`) or clogged (`extra_delay_ns`);
    /// [`LinkConfig::default`] restores it. Bytes already in flight keep their time.
    /// Panics if `link` does not validate.
    pub fn set_link(&self, from: u32, to: u32, link: LinkConfig) {
        with_world(&self.world, |w| w.set_link(from, to, link));
    }

    pub fn link(&self, from: u32, to: u32) -> LinkConfig {
        self.world.borrow().link(from, to)
    }

    /// Resets every stream of `node` (both ends see `ECONNRESET`).
    pub fn reset_streams(&self, node: u32) {
        with_world(&self.world, |w| w.reset_node_streams(node));
    }

    /// The simulated address of `node`.
    pub fn node_ip(&self, node: u32) -> IpAddr {
        node_ip(node)
    }

    // ---- disks ---------------------------------------------------------------------

    /// Corrupts `range` of `node`'s file `path` (clipped at its end): every byte
    /// changes, in what reads see and in what survives a crash, as if the medium
    /// rotted. Charged to the atlas, logged as damage. `ENOENT` if there is no such
    /// file. Returns how many bytes changed.
    pub fn corrupt(&self, node: u32, path: &Path, range: Range<u64>) -> io::Result<u64> {
        with_world(&self.world, |w| {
            let now = w.now().as_nanos();
            let len = range.end.saturating_sub(range.start);
            let World {
                nodes, control_rng, ..
            } = w;
            let n = nodes[node as usize]
                .disk
                .corrupt(control_rng, path, range.start, len, now)?;
            w.atlas.charge(node, path, range.start, len);
            w.trace
                .event(TraceOp::Corrupt, &[u64::from(node), range.start, n, now]);
            Ok(n)
        })
    }

    /// Makes every sector of `range` of `node`'s file `path` bad: reads touching one
    /// fail with `EIO` until a write covers the whole sector. Charged to the atlas,
    /// logged as damage. `ENOENT` if there is no such file.
    pub fn add_bad_sectors(&self, node: u32, path: &Path, range: Range<u64>) -> io::Result<()> {
        with_world(&self.world, |w| {
            let now = w.now().as_nanos();
            let len = range.end.saturating_sub(range.start);
            w.node_mut(node)
                .disk
                .add_bad_sectors(path, range.start, len, now)?;
            w.atlas.charge(node, path, range.start, len);
            w.trace.event(
                TraceOp::BadSectors,
                &[u64::from(node), range.start, len, now],
            );
            Ok(())
        })
    }

    pub fn disk_stats(&self, node: u32) -> DiskStats {
        self.world.borrow().disk_stats(node)
    }

    /// Where every stored bit flip of `node`'s disk landed, in order.
    pub fn stored_flips(&self, node: u32) -> Vec<StoredFlip> {
        self.world.borrow().stored_flips(node)
    }

    /// Every data-destroying fault `node`'s disk took, in order.
    pub fn damage(&self, node: u32) -> Vec<Damage> {
        self.world.borrow().damage(node)
    }

    /// Every file of `node`'s disk whose directory entry survives a crash, by path, with
    /// its durable image. Right after [`crash_node`](Self::crash_node) this is exactly
    /// what the node's disk holds: written under a real directory, it is the data dir a
    /// power loss left, for tools and backends outside the simulator (`boreal verify`,
    /// `UringIo`) to open.
    pub fn durable_files(&self, node: u32) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        self.world.borrow().durable_files(node)
    }

    /// `(written, durable)` bytes of `node`'s file `path`, or `None` if it does not
    /// exist. For tests: what reads see now, and what a crash now would at least keep.
    pub fn disk_images(&self, node: u32, path: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
        self.world.borrow().disk_images(node, path)
    }

    // ---- the atlas -----------------------------------------------------------------

    /// Bounds data-destroying faults from now on (charges so far are dropped). See
    /// [`FaultAtlas`].
    pub fn set_atlas(&self, atlas: FaultAtlas) {
        self.world.borrow_mut().atlas = atlas;
    }

    /// The atlas with its charges.
    pub fn atlas(&self) -> FaultAtlas {
        self.world.borrow().atlas.clone()
    }

    /// Forgets `node`'s charges: the test verified that its damage was repaired.
    pub fn atlas_release(&self, node: u32) {
        self.world.borrow_mut().atlas.release(node);
    }

    /// Extents explicit controls took over their budget.
    pub fn atlas_breaches(&self) -> Vec<AtlasBreach> {
        self.world.borrow().atlas.breaches()
    }

    // ---- faults stop, and liveness -------------------------------------------------

    /// Stops injecting faults: every node's faults become [`FaultConfig::none`] with
    /// its own crash rules kept (losing un-synced data at a crash is the contract, not
    /// a fault), every link heals and every slow link is restored. Nothing already
    /// damaged is repaired. [`SimControl::resume_faults`] restores each node's faults.
    pub fn stop_faults(&self) {
        with_world(&self.world, |w| {
            let saved: Vec<FaultConfig> = w.nodes.iter().map(|n| n.config.faults).collect();
            for n in w.nodes.iter_mut() {
                let f = n.config.faults;
                n.config.faults = FaultConfig {
                    crash_keep_unsynced_probability: f.crash_keep_unsynced_probability,
                    crash_torn_write_probability: f.crash_torn_write_probability,
                    crash_drop_unsynced_file_probability: f.crash_drop_unsynced_file_probability,
                    ..FaultConfig::none()
                };
            }
            if w.stopped_faults.is_none() {
                w.stopped_faults = Some(saved);
            }
            w.heal_all();
            w.reset_links();
            let now = w.now().as_nanos();
            w.trace.event(TraceOp::FaultsChanged, &[u64::MAX, now]);
        });
    }

    /// Restores the faults [`SimControl::stop_faults`] turned off (links stay healed).
    pub fn resume_faults(&self) {
        with_world(&self.world, |w| {
            if let Some(saved) = w.stopped_faults.take() {
                for (n, f) in w.nodes.iter_mut().zip(saved) {
                    n.config.faults = f;
                }
            }
            let now = w.now().as_nanos();
            w.trace.event(TraceOp::FaultsChanged, &[u64::MAX - 1, now]);
        });
    }

    /// The liveness check: waits until `holds()` is true, asking it again every `poll`
    /// of virtual time, for at most `bound`; returns how long it took. The harness
    /// calls it after faults stopped ([`SimControl::stop_faults`]) and the crashed
    /// nodes restarted: a correct system heals within a bound, and one that does not
    /// fails with the seed ([`LivenessError`]). `holds` may do I/O (a read through a
    /// node) but must not wait forever itself.
    pub async fn await_live<F, Fut>(
        &self,
        what: &str,
        bound: Duration,
        poll: Duration,
        mut holds: F,
    ) -> Result<Duration, LivenessError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let start = Clock::now(self);
        let deadline = start.saturating_add(bound);
        loop {
            if holds().await {
                return Ok(Clock::now(self).saturating_duration_since(start));
            }
            let now = Clock::now(self);
            if now >= deadline {
                let w = self.world.borrow();
                return Err(LivenessError {
                    what: what.to_owned(),
                    bound,
                    seed: w.config.seed,
                    at_ns: now.as_nanos(),
                    trace: w.trace.get(),
                });
            }
            self.sleep_until(now.saturating_add(poll).min(deadline))
                .await;
        }
    }

    // ---- inspection and workload randomness ----------------------------------------

    pub fn trace_hash(&self) -> u64 {
        self.world.borrow().trace.get()
    }

    /// Folds a workload event into the trace (e.g. "record 7 acknowledged").
    pub fn trace_event(&self, args: &[u64]) {
        self.world.borrow_mut().trace.event(TraceOp::Workload, args);
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
    /// Virtual time.
    fn now(&self) -> Instant {
        self.world.borrow().now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        Sleep {
            world: self.world.clone(),
            node: None,
            deadline,
            timer: None,
        }
        .await
    }
}
