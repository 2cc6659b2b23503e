//! The simulated world: virtual time, the event queue, in-flight operations, nodes
//! (their disks and incarnations) and the trace. [`SimDriver`] is the executor's
//! [`Driver`]: when no task is ready it advances virtual time to the next event and
//! completes what is due.
//!
//! Owns: every piece of simulated state that outlives a single future (op slots, timers,
//! disks, the network of `net.rs`), the fault PRNG, the clock and the trace hash.
//!
//! Must never: read real time or a real random source; iterate a `HashMap` (order must
//! be a function of the seed, so every map here is a `BTreeMap`); call a waker while
//! the world is borrowed (wakers are collected and called after the borrow ends, so a
//! waker may re-enter the world); apply an operation's effect at submission (effects
//! happen at completion, in virtual-time order, and happen even if the awaiting future
//! was dropped, exactly as the kernel finishes an io_uring op whose future is gone).
//!
//! Invariants: `now` never goes backwards; events at the same instant run in submission
//! order (ties broken by a sequence number); an op slot is removed exactly once, either
//! by its future taking the result or, for an orphaned op, at completion; a node's
//! `incarnation` grows by one per crash, and file handles of an older incarnation fail
//! with `EBADF`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::config::{LatencyConfig, SimConfig};
use super::disk::{Disk, DiskStats, Ino, StoredFlip, WriteHow, errno};
use super::net::Net;
use super::rng::SimRng;
use super::trace::{TraceHash, TraceOp, result_word, unit_word};
use crate::buf::DmaBuf;
use crate::io::Instant;
use crate::rt::Driver;

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
    /// A partition of `from -> to` that started at `epoch` may have outlasted TCP's
    /// patience: reset the streams crossing it if it still stands.
    PartitionTimeout { from: u32, to: u32, epoch: u64 },
}

pub(crate) struct Node {
    pub(crate) alive: bool,
    pub(crate) incarnation: u64,
    pub(crate) disk: Disk,
}

/// An operation in flight, with everything it owns (buffers travel with the op).
pub(crate) enum OpKind {
    Read {
        ino: Ino,
        offset: u64,
        len: usize,
        buf: DmaBuf,
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
    /// Faults, latencies and network decisions.
    pub(crate) rng: SimRng,
    /// Decisions of the test workload (kept apart so a workload's draws do not shift
    /// the fault stream more than necessary).
    pub(crate) workload_rng: SimRng,
    now: Instant,
    events: BTreeMap<(Instant, u64), Event>,
    next_seq: u64,
    timers: BTreeMap<u64, Option<Waker>>,
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
        let rng = root.fork(1);
        let workload_rng = root.fork(2);
        World {
            config,
            rng,
            workload_rng,
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

    pub(crate) fn sample(&mut self, lat: LatencyConfig) -> u64 {
        if self.rng.chance(lat.tail_probability) {
            return self.rng.range_inclusive(lat.mean_ns, lat.tail_ns);
        }
        let extra = self.rng.exp_ns(lat.mean_ns - lat.min_ns);
        (lat.min_ns + extra).min(lat.tail_ns)
    }

    pub(crate) fn after(&mut self, lat: LatencyConfig) -> Instant {
        let d = self.sample(lat);
        Instant::from_nanos(self.now.as_nanos().saturating_add(d))
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

    pub(crate) fn add_node(&mut self) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("node count fits u32");
        self.nodes.push(Node {
            alive: true,
            incarnation: 0,
            disk: Disk::new(self.config.disk.capacity_bytes),
        });
        id
    }

    // ---- timers ------------------------------------------------------------------

    fn timer_register(&mut self, id: Option<u64>, deadline: Instant, waker: &Waker) -> u64 {
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

    fn poll_op(&mut self, id: u64, cx: &Context<'_>) -> Poll<OpOut> {
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

    fn drop_op(&mut self, id: u64) {
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
        let faults = self.config.faults;
        let now = self.now.as_nanos();
        let out = match kind {
            OpKind::Read {
                ino,
                offset,
                len,
                mut buf,
            } => {
                let disk = &mut self.nodes[node as usize].disk;
                let r = disk
                    .read(&mut self.rng, &faults, ino, offset, len)
                    .map(|data| {
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
                let disk = &mut self.nodes[node as usize].disk;
                let r = disk.write(
                    &mut self.rng,
                    &faults,
                    ino,
                    offset,
                    &data,
                    WriteHow { align, dsync },
                );
                self.trace.event(
                    TraceOp::Write,
                    &[
                        u64::from(node),
                        ino.0,
                        offset,
                        total as u64,
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
                        let at = {
                            let lat = self.config.disk.sync_latency;
                            self.after(lat)
                        };
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
                let disk = &mut self.nodes[node as usize].disk;
                let r = disk.sync_complete(&mut self.rng, &faults, ino, upto);
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
                let disk = &mut self.nodes[node as usize].disk;
                let r = disk.sync_dir_complete(&mut self.rng, &faults, &dir, upto);
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
                Event::PartitionTimeout { from, to, epoch } => {
                    self.partition_timeout(from, to, epoch)
                }
            }
        }
    }

    /// Advances to the next event (or `deadline`, whichever is first) and runs what is
    /// due. Returns false if there is nothing at all to wait for.
    fn advance(&mut self, deadline: Option<Instant>) -> bool {
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
        let faults = self.config.faults;
        let n = &mut self.nodes[node as usize];
        n.alive = false;
        n.incarnation += 1;
        n.disk.crash(&mut self.rng, &faults);
        self.net_crash_node(node);
    }

    pub(crate) fn restart_node(&mut self, node: u32) {
        let now = self.now.as_nanos();
        self.trace.event(TraceOp::Restart, &[u64::from(node), now]);
        self.node_mut(node).alive = true;
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

/// The executor's [`Driver`] under simulation.
pub(crate) struct SimDriver {
    pub(crate) world: WorldRef,
}

impl Driver for SimDriver {
    fn now(&self) -> Instant {
        self.world.borrow().now
    }

    fn park(&self, deadline: Option<Instant>) {
        let progressed = with_world(&self.world, |w| w.advance(deadline));
        if !progressed {
            let w = self.world.borrow();
            panic!(
                "simulation stalled: no task is ready and no event, timer or delivery is \
                 pending (seed={}, t={} ns); a task waits for something that can never happen",
                w.config.seed,
                w.now.as_nanos()
            );
        }
    }
}

/// Awaits an operation's slot. Dropping it orphans the op (the op still completes).
pub(crate) struct OpFuture {
    pub(crate) world: WorldRef,
    pub(crate) id: u64,
    pub(crate) done: bool,
}

impl Future for OpFuture {
    type Output = OpOut;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OpOut> {
        assert!(!self.done, "OpFuture polled after completion");
        let r = self.world.borrow_mut().poll_op(self.id, cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if !self.done {
            // try_borrow: a future dropped while the world is borrowed (never by our own
            // code) would otherwise panic inside a destructor.
            if let Ok(mut w) = self.world.try_borrow_mut() {
                w.drop_op(self.id);
            }
        }
    }
}

/// Completes once virtual time reaches `deadline`.
pub(crate) struct Sleep {
    pub(crate) world: WorldRef,
    pub(crate) deadline: Instant,
    pub(crate) timer: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut w = self.world.borrow_mut();
        if w.now >= self.deadline {
            if let Some(id) = self.timer {
                w.timers.remove(&id);
            }
            drop(w);
            self.timer = None;
            return Poll::Ready(());
        }
        let id = w.timer_register(self.timer, self.deadline, cx.waker());
        drop(w);
        self.timer = Some(id);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer
            && let Ok(mut w) = self.world.try_borrow_mut()
        {
            w.timers.remove(&id);
        }
    }
}
