//! The simulated world: virtual time, the event queue, in-flight operations, nodes
//! (their disks, configs, fault streams, clocks and incarnations), the fault atlas and
//! the trace. `wait.rs`'s `SimDriver` is the executor's driver: when no task is ready it
//! calls [`World::advance`] to move virtual time to the next event and complete what is
//! due.
//!
//! Owns: every piece of simulated state that outlives a single future (op slots, timers,
//! disks, the network of `net.rs`), the virtual clock, every node's own fault streams,
//! config and clock, the fault atlas and the trace hash.
//!
//! Must never: read real time or a real random source; iterate a `HashMap` (order must
//! be a function of the seed, so every map here is a `BTreeMap`); call a waker while
//! the world is borrowed (wakers are collected and called after the borrow ends, so a
//! waker may re-enter the world); apply an operation's effect at submission (effects
//! happen at completion, in virtual-time order, and happen even if the awaiting future
//! was dropped, exactly as the kernel finishes an io_uring op whose future is gone).
//!
//! Per-node streams: every node draws its disk faults and latencies from its own disk
//! stream, and what it sends (delays, resets, short sends) from its own net stream, both
//! derived from the seed and the node's id only. So node 1's faults are the same
//! whether or not node 0 does I/O (as long as node 1 issues the same operations at the
//! same times); only the scheduler's choices and the workload stream are shared.
//!
//! Invariants: `now` never goes backwards; events at the same instant run in submission
//! order (ties broken by a sequence number); an op slot is removed exactly once, either
//! by its future taking the result or, for an orphaned op, at completion; a node's
//! `incarnation` grows by one per crash or process kill, and file and socket handles
//! of an older incarnation fail with `EBADF`; a process kill leaves the node's page
//! cache and its in-flight operations alone (the kernel finishes them), a crash
//! resolves both by the disk's crash rules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::atlas::FaultAtlas;
use super::clock::NodeClock;
use super::config::{ClockConfig, DiskConfig, FaultConfig, LatencyConfig, NodeConfig, SimConfig};
use super::damage::Damage;
use super::disk::{Disk, DiskCtx, DiskStats, Ino, StoredFlip, WriteHow, errno};
use super::net::Net;
use super::rng::{SimRng, mix64};
use super::trace::{TraceHash, TraceOp, bytes_word, result_word, unit_word};
use crate::buf::DmaBuf;
use crate::io::Instant;

pub(crate) type WorldRef = Rc<RefCell<World>>;

/// What an event does when virtual time reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A timer's deadline: wake its sleeper.
    Timer(u64),
    /// An I/O operation (or its linked second stage) completes.
    Op(u64),
    /// Bytes or a FIN reach side `side` of connection `conn`: wake its receiver.
    NetArrive { conn: u64, side: usize },
    /// Connection `conn`'s retransmission timer `timer`: its bytes may have gone
    /// unacknowledged for longer than TCP's patience.
    ConnTimeout { conn: u64, timer: u64 },
    /// A segment of half-open connection `conn` may have reached its restarted peer,
    /// which answers with a reset.
    PeerRst { conn: u64 },
}

/// Whether a node runs: its process (with its tasks, handles and sockets), and under it
/// the machine (its kernel: page cache, TCP stack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// The machine and the process run.
    Up,
    /// The process was killed; the machine runs (its page cache keeps un-synced
    /// writes, its kernel refuses connections).
    ProcessDown,
    /// The machine lost power: nothing answers.
    Down,
}

pub(crate) struct Node {
    pub(crate) state: NodeState,
    pub(crate) incarnation: u64,
    pub(crate) disk: Disk,
    pub(crate) config: NodeConfig,
    /// Disk faults, disk latencies, crash resolution, decay.
    pub(crate) disk_rng: SimRng,
    /// What this node sends: delays, resets, short sends, handshakes.
    pub(crate) net_rng: SimRng,
    pub(crate) clock: NodeClock,
}

impl Node {
    /// The process runs (its tasks may do I/O).
    pub(crate) fn is_up(&self) -> bool {
        self.state == NodeState::Up
    }

    /// The machine runs (its kernel answers on the network).
    pub(crate) fn kernel_up(&self) -> bool {
        self.state != NodeState::Down
    }
}

/// Which of a node's streams: see [`Node`].
const STREAM_DISK: u64 = 1;
const STREAM_NET: u64 = 2;
const STREAM_CLOCK: u64 = 3;

/// A node's own stream, a function of the seed, the node id and the stream only.
fn node_rng(seed: u64, node: u32, stream: u64) -> SimRng {
    SimRng::new(seed ^ mix64((u64::from(node) << 8) | stream))
}

/// One sample of `lat` from `rng`.
pub(crate) fn sample(rng: &mut SimRng, lat: LatencyConfig) -> u64 {
    if rng.chance(lat.tail_probability) {
        return rng.range_inclusive(lat.mean_ns, lat.tail_ns);
    }
    let extra = rng.exp_ns(lat.mean_ns - lat.min_ns);
    (lat.min_ns + extra).min(lat.tail_ns)
}

/// An operation in flight, with everything it owns (buffers travel with the op).
pub(crate) enum OpKind {
    Read {
        ino: Ino,
        offset: u64,
        len: usize,
        buf: DmaBuf,
        /// The O_DIRECT alignment (1 for buffered files): where a misdirected read goes.
        align: u64,
    },
    Write {
        ino: Ino,
        offset: u64,
        bufs: Vec<DmaBuf>,
        align: u64,
        dsync: bool,
        /// `write_then_fdatasync`: on a full write, run a sync stage before completing.
        then_sync: bool,
    },
    Sync {
        ino: Ino,
        /// The sync covers changes made before this mark (taken at submission).
        upto: u64,
        /// For the second stage of `write_then_fdatasync`: the write's result and buffer.
        after_write: Option<(usize, DmaBuf)>,
    },
    /// A directory fsync: covers the entries created before `upto` (taken at
    /// submission).
    SyncDir { dir: PathBuf, upto: u64 },
}

/// A finished operation's result, waiting for its future.
pub(crate) enum OpOut {
    Bufs(io::Result<usize>, Vec<DmaBuf>),
    Unit(io::Result<()>),
}

enum OpState {
    InFlight(OpKind),
    Done(OpOut),
}

struct OpSlot {
    node: u32,
    state: OpState,
    waker: Option<Waker>,
    /// The future was dropped: the op still completes, its result is dropped.
    orphaned: bool,
}

/// The whole simulated world. See the module docs.
pub(crate) struct World {
    pub(crate) config: SimConfig,
    /// Draws of explicit controls (the bytes `corrupt` XORs in): never a node's stream.
    pub(crate) control_rng: SimRng,
    /// Decisions of the test workload (kept apart so a workload's draws never shift a
    /// fault stream).
    pub(crate) workload_rng: SimRng,
    /// The budget of data-destroying faults across nodes.
    pub(crate) atlas: FaultAtlas,
    /// Every node's faults before `SimControl::stop_faults`, to restore.
    pub(crate) stopped_faults: Option<Vec<FaultConfig>>,
    pub(super) now: Instant,
    events: BTreeMap<(Instant, u64), Event>,
    next_seq: u64,
    pub(super) timers: BTreeMap<u64, Option<Waker>>,
    ops: BTreeMap<u64, OpSlot>,
    next_id: u64,
    pub(crate) nodes: Vec<Node>,
    pub(crate) net: Net,
    pub(crate) trace: TraceHash,
    /// Wakers to call once the current borrow of the world ends.
    pub(crate) wake_later: Vec<Waker>,
}

impl World {
    pub(crate) fn new(config: SimConfig) -> World {
        let mut root = SimRng::new(config.seed);
        let control_rng = root.fork(1);
        let workload_rng = root.fork(2);
        World {
            config,
            control_rng,
            workload_rng,
            atlas: FaultAtlas::new(),
            stopped_faults: None,
            now: Instant::ZERO,
            events: BTreeMap::new(),
            next_seq: 0,
            timers: BTreeMap::new(),
            ops: BTreeMap::new(),
            next_id: 1,
            nodes: Vec::new(),
            net: Net::default(),
            trace: TraceHash::new(config.seed),
            wake_later: Vec::new(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn schedule(&mut self, at: Instant, event: Event) {
        assert!(
            at >= self.now,
            "event scheduled in the past: {at:?} < {:?}",
            self.now
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.insert((at, seq), event);
    }

    /// When a disk operation of `node` submitted now completes: `now` plus one sample
    /// of each latency `pick` names, from the node's disk stream and config.
    pub(crate) fn disk_after(
        &mut self,
        node: u32,
        pick: impl FnOnce(&DiskConfig) -> Vec<LatencyConfig>,
    ) -> Instant {
        let n = self.node_mut(node);
        let mut d = 0u64;
        for lat in pick(&n.config.disk) {
            d = d.saturating_add(sample(&mut n.disk_rng, lat));
        }
        Instant::from_nanos(self.now.as_nanos().saturating_add(d))
    }

    /// The disk of `node` and the context its operations draw on (see [`DiskCtx`]).
    pub(crate) fn disk_cx(&mut self, node: u32) -> (&mut Disk, DiskCtx<'_>) {
        let now_ns = self.now.as_nanos();
        let World { nodes, atlas, .. } = self;
        let n = &mut nodes[node as usize];
        (
            &mut n.disk,
            DiskCtx {
                rng: &mut n.disk_rng,
                faults: &n.config.faults,
                atlas,
                node,
                now_ns,
            },
        )
    }

    pub(crate) fn node(&self, node: u32) -> &Node {
        match self.nodes.get(node as usize) {
            Some(n) => n,
            None => panic!("no simulated node {node} (have {})", self.nodes.len()),
        }
    }

    pub(crate) fn node_mut(&mut self, node: u32) -> &mut Node {
        let count = self.nodes.len();
        match self.nodes.get_mut(node as usize) {
            Some(n) => n,
            None => panic!("no simulated node {node} (have {count})"),
        }
    }

    /// Adds a node with `config`, or with the world's disk and faults and a clock drawn
    /// within the world's skew bounds (from the node's own clock stream).
    pub(crate) fn add_node(&mut self, config: Option<NodeConfig>) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("node count fits u32");
        let seed = self.config.seed;
        let config = config.unwrap_or_else(|| {
            let mut r = node_rng(seed, id, STREAM_CLOCK);
            let drift_max = u64::from(self.config.clock_drift_ppm_max);
            NodeConfig {
                disk: self.config.disk,
                faults: self.config.faults,
                clock: ClockConfig {
                    offset_ns: r.range_inclusive(0, self.config.clock_offset_ns_max),
                    drift_ppm: (r.range_inclusive(0, 2 * drift_max) as i64 - drift_max as i64)
                        as i32,
                },
            }
        });
        if let Err(e) = config.validate() {
            panic!("node {id}: {e}");
        }
        self.nodes.push(Node {
            state: NodeState::Up,
            incarnation: 0,
            disk: Disk::new(config.disk.capacity_bytes),
            config,
            disk_rng: node_rng(seed, id, STREAM_DISK),
            net_rng: node_rng(seed, id, STREAM_NET),
            clock: NodeClock::new(config.clock),
        });
        id
    }

    /// `node`'s clock now.
    pub(crate) fn local_now(&self, node: u32) -> Instant {
        Instant::from_nanos(self.node(node).clock.local(self.now.as_nanos()))
    }

    // ---- timers ------------------------------------------------------------------

    pub(super) fn timer_register(
        &mut self,
        id: Option<u64>,
        deadline: Instant,
        waker: &Waker,
    ) -> u64 {
        match id {
            Some(id) => {
                if let Some(slot) = self.timers.get_mut(&id) {
                    *slot = Some(waker.clone());
                }
                id
            }
            None => {
                let id = self.next_id();
                self.timers.insert(id, Some(waker.clone()));
                self.schedule(deadline, Event::Timer(id));
                id
            }
        }
    }

    // ---- operations --------------------------------------------------------------

    /// Starts an operation on `node`'s disk; it completes at `at`.
    pub(crate) fn submit(&mut self, node: u32, kind: OpKind, at: Instant) -> u64 {
        let id = self.next_id();
        self.ops.insert(
            id,
            OpSlot {
                node,
                state: OpState::InFlight(kind),
                waker: None,
                orphaned: false,
            },
        );
        self.schedule(at, Event::Op(id));
        id
    }

    /// An op that fails at once (bad descriptor, misaligned O_DIRECT request): it still
    /// goes through a slot so that its buffers come back the same way.
    pub(crate) fn submit_failed(&mut self, node: u32, out: OpOut) -> u64 {
        let id = self.next_id();
        self.ops.insert(
            id,
            OpSlot {
                node,
                state: OpState::Done(out),
                waker: None,
                orphaned: false,
            },
        );
        id
    }

    pub(super) fn poll_op(&mut self, id: u64, cx: &Context<'_>) -> Poll<OpOut> {
        let Some(slot) = self.ops.get_mut(&id) else {
            panic!("op {id} polled after it completed");
        };
        match &slot.state {
            OpState::Done(_) => {
                let Some(OpSlot {
                    state: OpState::Done(out),
                    ..
                }) = self.ops.remove(&id)
                else {
                    unreachable!("checked above")
                };
                Poll::Ready(out)
            }
            OpState::InFlight(_) => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    pub(super) fn drop_op(&mut self, id: u64) {
        if let Some(slot) = self.ops.get_mut(&id) {
            match slot.state {
                OpState::InFlight(_) => slot.orphaned = true,
                OpState::Done(_) => {
                    self.ops.remove(&id);
                }
            }
        }
    }

    fn complete_op(&mut self, id: u64) {
        let Some(slot) = self.ops.get_mut(&id) else {
            return;
        };
        let node = slot.node;
        let kind = match std::mem::replace(&mut slot.state, OpState::Done(OpOut::Unit(Ok(())))) {
            OpState::InFlight(k) => k,
            done @ OpState::Done(_) => {
                slot.state = done;
                return;
            }
        };
        let now = self.now.as_nanos();
        let out = match kind {
            OpKind::Read {
                ino,
                offset,
                len,
                mut buf,
                align,
            } => {
                let (disk, mut cx) = self.disk_cx(node);
                let r = disk.read(&mut cx, ino, offset, len, align).map(|data| {
                    buf.as_full_mut()[..data.len()].copy_from_slice(&data);
                    buf.set_len(data.len());
                    data.len()
                });
                if r.is_err() {
                    buf.set_len(0);
                }
                self.trace.event(
                    TraceOp::Read,
                    &[
                        u64::from(node),
                        ino.0,
                        offset,
                        len as u64,
                        result_word(&r),
                        now,
                    ],
                );
                OpOut::Bufs(r, vec![buf])
            }
            OpKind::Write {
                ino,
                offset,
                bufs,
                align,
                dsync,
                then_sync,
            } => {
                let total: usize = bufs.iter().map(DmaBuf::len).sum();
                let mut data = Vec::with_capacity(total);
                for b in &bufs {
                    data.extend_from_slice(b.as_slice());
                }
                let (disk, mut cx) = self.disk_cx(node);
                let r = disk.write(&mut cx, ino, offset, &data, WriteHow { align, dsync });
                self.trace.event(
                    TraceOp::Write,
                    &[
                        u64::from(node),
                        ino.0,
                        offset,
                        total as u64,
                        bytes_word(&data),
                        u64::from(dsync),
                        result_word(&r),
                        now,
                    ],
                );
                match r {
                    Ok(n) if then_sync && n == total => {
                        // The linked fdatasync starts now; the op completes after it.
                        let upto = self.nodes[node as usize].disk.sync_begin(ino).unwrap_or(0);
                        let mut bufs = bufs;
                        let buf = bufs.pop().expect("write_then_fdatasync has one buffer");
                        let at = self.disk_after(node, |d| vec![d.sync_latency]);
                        if let Some(slot) = self.ops.get_mut(&id) {
                            slot.state = OpState::InFlight(OpKind::Sync {
                                ino,
                                upto,
                                after_write: Some((n, buf)),
                            });
                        }
                        self.schedule(at, Event::Op(id));
                        return;
                    }
                    Ok(n) if then_sync => {
                        // Short: the linked sync is cancelled; the caller sees failure.
                        OpOut::Bufs(Err(crate::io::short_linked_write(n, total)), bufs)
                    }
                    r => OpOut::Bufs(r, bufs),
                }
            }
            OpKind::Sync {
                ino,
                upto,
                after_write,
            } => {
                let (disk, mut cx) = self.disk_cx(node);
                let r = disk.sync_complete(&mut cx, ino, upto);
                self.trace.event(
                    TraceOp::Sync,
                    &[u64::from(node), ino.0, upto, unit_word(&r), now],
                );
                match after_write {
                    Some((n, buf)) => OpOut::Bufs(r.map(|()| n), vec![buf]),
                    None => OpOut::Unit(r),
                }
            }
            OpKind::SyncDir { dir, upto } => {
                let (disk, mut cx) = self.disk_cx(node);
                let r = disk.sync_dir_complete(&mut cx, &dir, upto);
                self.trace.event(
                    TraceOp::SyncDir,
                    &[u64::from(node), upto, unit_word(&r), now],
                );
                OpOut::Unit(r)
            }
        };
        let Some(slot) = self.ops.get_mut(&id) else {
            return;
        };
        if slot.orphaned {
            self.ops.remove(&id);
            return;
        }
        slot.state = OpState::Done(out);
        if let Some(w) = slot.waker.take() {
            self.wake_later.push(w);
        }
    }

    // ---- time --------------------------------------------------------------------

    /// Processes every event due at or before `now`.
    fn run_due(&mut self) {
        while let Some((&(at, seq), _)) = self.events.first_key_value() {
            if at > self.now {
                break;
            }
            let event = self.events.remove(&(at, seq)).expect("first key exists");
            match event {
                Event::Timer(id) => {
                    if let Some(Some(w)) = self.timers.remove(&id) {
                        self.trace.event(TraceOp::Timer, &[at.as_nanos()]);
                        self.wake_later.push(w);
                    }
                }
                Event::Op(id) => self.complete_op(id),
                Event::NetArrive { conn, side } => self.net_arrive(conn, side),
                Event::ConnTimeout { conn, timer } => self.conn_timeout(conn, timer),
                Event::PeerRst { conn } => self.peer_rst(conn),
            }
        }
    }

    /// Advances to the next event (or `deadline`, whichever is first) and runs what is
    /// due. Returns false if there is nothing at all to wait for.
    pub(super) fn advance(&mut self, deadline: Option<Instant>) -> bool {
        let next = self.events.first_key_value().map(|(&(at, _), _)| at);
        let target = match (next, deadline) {
            (Some(e), Some(d)) => e.min(d),
            (Some(e), None) => e,
            (None, Some(d)) => d,
            (None, None) => return false,
        };
        self.now = self.now.max(target);
        self.run_due();
        true
    }

    // ---- crash ---------------------------------------------------------------------

    /// Power loss of `node`: in-flight writes may or may not land, un-synced data is
    /// resolved by the disk's crash rules, sockets reset, file handles go stale.
    pub(crate) fn crash_node(&mut self, node: u32) {
        let now = self.now.as_nanos();
        self.trace.event(TraceOp::Crash, &[u64::from(node), now]);
        let ids: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, s)| s.node == node)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let Some(mut slot) = self.ops.remove(&id) else {
                continue;
            };
            let out = match std::mem::replace(&mut slot.state, OpState::Done(OpOut::Unit(Ok(())))) {
                OpState::InFlight(OpKind::Write {
                    ino, offset, bufs, ..
                }) => {
                    let mut data = Vec::new();
                    for b in &bufs {
                        data.extend_from_slice(b.as_slice());
                    }
                    self.nodes[node as usize]
                        .disk
                        .write_in_flight_at_crash(ino, offset, &data);
                    OpOut::Bufs(Err(errno(libc::ECANCELED)), bufs)
                }
                OpState::InFlight(OpKind::Read { buf, .. }) => {
                    OpOut::Bufs(Err(errno(libc::ECANCELED)), vec![buf])
                }
                OpState::InFlight(OpKind::Sync { after_write, .. }) => match after_write {
                    Some((_, buf)) => OpOut::Bufs(Err(errno(libc::ECANCELED)), vec![buf]),
                    None => OpOut::Unit(Err(errno(libc::ECANCELED))),
                },
                OpState::InFlight(OpKind::SyncDir { .. }) => {
                    OpOut::Unit(Err(errno(libc::ECANCELED)))
                }
                OpState::Done(out) => out,
            };
            if !slot.orphaned {
                // A future outside the crashed node still waits on it (a test harness):
                // hand it the cancellation and its buffers.
                slot.state = OpState::Done(out);
                if let Some(w) = slot.waker.take() {
                    self.wake_later.push(w);
                }
                self.ops.insert(id, slot);
            }
        }
        let n = self.node_mut(node);
        n.state = NodeState::Down;
        n.incarnation += 1;
        let (disk, mut cx) = self.disk_cx(node);
        disk.crash(&mut cx);
        self.net_crash_node(node);
    }

    /// The node's process dies (SIGKILL, OOM): its handles close, the kernel closes
    /// its sockets (a FIN, or a reset where unread bytes were waiting) and finishes its
    /// in-flight I/O before the process is gone (now, not at the operations' own
    /// times, so none lands under a later incarnation), and its page cache keeps every
    /// un-synced write. Only a later
    /// crash can lose those. A no-op on a node that is not up.
    pub(crate) fn kill_process(&mut self, node: u32) {
        if !self.node(node).is_up() {
            return;
        }
        let now = self.now.as_nanos();
        self.trace.event(TraceOp::Kill, &[u64::from(node), now]);
        // The process's exit waits for its in-flight I/O (io_uring's teardown does): it
        // completes now, so nothing of the dead process lands after a new one started.
        // (A linked write's completion starts its sync: the loop finishes that too.)
        loop {
            let in_flight: Vec<u64> = self
                .ops
                .iter()
                .filter(|(_, s)| s.node == node && matches!(s.state, OpState::InFlight(_)))
                .map(|(&id, _)| id)
                .collect();
            if in_flight.is_empty() {
                break;
            }
            for id in in_flight {
                self.complete_op(id);
            }
        }
        let n = self.node_mut(node);
        n.state = NodeState::ProcessDown;
        n.incarnation += 1;
        self.net_kill_process(node);
    }

    /// Boots the machine (after a crash) or starts the process again (after a kill).
    pub(crate) fn restart_node(&mut self, node: u32) {
        let now = self.now.as_nanos();
        self.trace.event(TraceOp::Restart, &[u64::from(node), now]);
        let was = self.node(node).state;
        self.node_mut(node).state = NodeState::Up;
        if was == NodeState::Down {
            self.net_machine_booted(node);
        }
    }

    /// Replaces the disk of `node`, which must not be up, with an empty one; charged to
    /// the atlas in every extent.
    pub(crate) fn wipe_disk(&mut self, node: u32) {
        assert!(
            !self.node(node).is_up(),
            "wipe_disk({node}): crash or kill the node first (a disk is replaced while \
             nothing runs on it)"
        );
        let now = self.now.as_nanos();
        self.trace.event(TraceOp::Wipe, &[u64::from(node), now]);
        self.node_mut(node).disk.wipe(now);
        self.atlas.charge_whole(node);
    }

    pub(crate) fn damage(&self, node: u32) -> Vec<Damage> {
        self.node(node).disk.damage.clone()
    }

    pub(crate) fn disk_stats(&self, node: u32) -> DiskStats {
        self.node(node).disk.stats
    }

    pub(crate) fn stored_flips(&self, node: u32) -> Vec<StoredFlip> {
        self.node(node).disk.stored_flips.clone()
    }

    pub(crate) fn disk_images(&self, node: u32, path: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
        self.node(node).disk.images(path)
    }

    pub(crate) fn durable_files(&self, node: u32) -> Vec<(PathBuf, Vec<u8>)> {
        self.node(node).disk.durable_files()
    }

    pub(crate) fn take_wakers(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.wake_later)
    }
}

/// Runs `f` on the world, then calls the wakers it queued (after the borrow ends).
pub(crate) fn with_world<R>(world: &WorldRef, f: impl FnOnce(&mut World) -> R) -> R {
    let (r, wakers) = {
        let mut w = world.borrow_mut();
        let r = f(&mut w);
        (r, w.take_wakers())
    };
    for w in wakers {
        w.wake();
    }
    r
}
