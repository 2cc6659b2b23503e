//! One io_uring instance per core (set up by `setup.rs`): the slab of in-flight
//! operations keyed by `user_data`, submission, completion reaping, and the executor
//! [`Driver`] (park = submit + wait, after polling for up to `park_spin` while file
//! operations are in flight) with its eventfd [`Unpark`].
//!
//! Owns: the ring; the slab of every in-flight operation's state ([`OpSlot`], `op.rs`:
//! the buffers, the `Rc` of the fd, the waker, the results); the eventfd other cores
//! write to wake this one, with an 8-byte read of it always in flight.
//!
//! Must never: free an operation's buffer or fd before the kernel posted that
//! operation's last completion (a dropped future only marks its slot orphaned; the slot
//! is freed in [`Ring::reap`]); lose what an operation nobody takes produced (a new fd,
//! received bytes: [`OpSlot::release_unclaimed`] runs for every slot freed without its
//! future); drop an SQE when the submission queue is full (it
//! submits and retries); be used from a thread other than the one that created it
//! (`SINGLE_ISSUER`; the type is `!Send` through its `Rc`s).
//!
//! Invariants: a park does not block once it woke a task, nor while completions wait
//! (in the completion queue or, after it overflowed, in the kernel's overflow list,
//! which only an enter with `GETEVENTS` flushes); `in_flight` equals the number of
//! submitted-but-uncompleted user SQEs;
//! every `user_data` of a user SQE names a live slot; a linked pair's SQEs are pushed
//! together (space is checked first), so nothing is submitted between them; when the
//! ring is dropped it cancels and waits for everything in flight, and if the kernel
//! does not return within a bound it leaks the buffers rather than free memory the
//! kernel may still write.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use io_uring::types::{CancelBuilder, SubmitArgs, Timespec};
use io_uring::{IoUring, opcode, squeue, types};

use super::op::{Completion, OpData, OpKind, OpSlot, RESULT_PENDING};
use super::setup::{RingInfo, build_ring, check_kernel};
use crate::io::Instant;
pub use crate::limits::{
    PARK_SPIN_DEFAULT, PARK_SPIN_MAX, RING_ENTRIES_DEFAULT, RING_ENTRIES_MAX, RING_ENTRIES_MIN,
};
use crate::rt::slab::{self, Key, Slab};
use crate::rt::{Driver, Unpark};

/// `user_data` of the eventfd read (never a slot: slot user_data has bit 63 clear).
const EVENTFD_UD: u64 = u64::MAX;
/// `user_data` of ASYNC_CANCEL requests, whose completions carry nothing we need.
const CANCEL_UD: u64 = u64::MAX - 1;
/// `IORING_ENTER_GETEVENTS` (the crate keeps its `sys` module private).
const IORING_ENTER_GETEVENTS: u32 = 1;
/// How long a dropped ring waits for the kernel to hand back in-flight buffers.
const DROP_DRAIN_MAX: Duration = Duration::from_secs(5);

/// Counters for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Operations whose slot is still held (in flight, or complete but not yet taken).
    pub ops_live: usize,
    /// Operations whose future was dropped while the kernel still owned their memory.
    pub ops_orphaned: usize,
    /// User SQEs submitted and not yet completed.
    pub sqes_in_flight: u32,
    /// `io_uring_enter` calls made so far.
    pub enters: u64,
    /// Operations submitted so far.
    pub ops_submitted: u64,
    /// Parks whose polling saw a completion before `park_spin` ran out (no sleep).
    pub spins_woken: u64,
    /// Parks whose polling ran out and that slept in the kernel.
    pub spins_slept: u64,
}

/// Wakes a parked ring from another thread by writing its eventfd.
struct EventFdUnpark {
    fd: Arc<OwnedFd>,
}

impl Unpark for EventFdUnpark {
    fn unpark(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an eventfd we keep open through
        // the Arc; a failed write (counter saturated) still leaves the fd readable, so
        // the wake-up is not lost.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
    }
}

/// One core's io_uring. See the module docs.
pub(crate) struct Ring {
    uring: RefCell<IoUring>,
    ops: RefCell<Slab<OpSlot>>,
    graveyard: RefCell<Vec<OpSlot>>,
    info: RingInfo,
    eventfd: Arc<OwnedFd>,
    /// The eventfd read's 8-byte target; the kernel writes it, we never read it.
    eventfd_buf: Box<UnsafeCell<u64>>,
    eventfd_armed: Cell<bool>,
    in_flight: Cell<u32>,
    /// The part of `in_flight` that completes on its own: every SQE but sockets'.
    device_in_flight: Cell<u32>,
    enters: Cell<u64>,
    submitted: Cell<u64>,
    /// How long `park` polls before it sleeps, while `device_in_flight` is not zero.
    park_spin: Duration,
    spins_woken: Cell<u64>,
    spins_slept: Cell<u64>,
    /// Tasks woken by reaps so far: a park that sees it move while arming the eventfd
    /// (which may reap) must not block.
    woken: Cell<u64>,
    /// Test hook: how many of `push`'s next submits act as refused with `EBUSY` (as
    /// older kernels do while the completion queue overflows), so `push` reaps.
    #[cfg(test)]
    busy_submits: Cell<u32>,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("info", &self.info)
            .field("stats", &self.stats())
            .finish()
    }
}

/// An op's tag (`user_data`): bit 63 clear (the eventfd read's and the cancels' tags
/// have it set), the slot's generation in bits 32..63, its index in bits 1..32, and in
/// bit 0 which SQE of a linked pair completed.
const UD_INDEX_BITS: u32 = 31;
const UD_GENERATION_SHIFT: u32 = 1 + UD_INDEX_BITS;
const _: () = assert!(
    UD_GENERATION_SHIFT + slab::GENERATION_BITS <= 63,
    "an op tag must carry the slab's whole generation below the flag bit"
);

fn user_data(key: Key, part: u8) -> u64 {
    assert!(
        key.index < (1 << UD_INDEX_BITS),
        "op slab index {} too large",
        key.index
    );
    debug_assert!(key.generation <= slab::GENERATION_MAX);
    (u64::from(key.generation) << UD_GENERATION_SHIFT)
        | (u64::from(key.index) << 1)
        | u64::from(part)
}

fn decode_user_data(ud: u64) -> (u32, u32, usize) {
    let generation = (ud >> UD_GENERATION_SHIFT) as u32;
    let index = ((ud >> 1) & ((1 << UD_INDEX_BITS) - 1)) as u32;
    (index, generation, (ud & 1) as usize)
}

/// Process-wide base of the monotonic clock, so `Instant`s from different cores compare.
fn clock_base() -> u64 {
    static BASE: OnceLock<u64> = OnceLock::new();
    *BASE.get_or_init(monotonic_nanos)
}

fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid local; CLOCK_MONOTONIC
    // always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// A submit refused with `EBUSY`/`EAGAIN` (the kernel wants completions reaped first)
/// or `EINTR`: nothing was lost, try again after a reap. Anything else is a broken ring.
fn submit_must_wait(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)
    )
}

/// The production clock: `CLOCK_MONOTONIC` since the process's first reading.
pub(crate) fn now() -> Instant {
    let base = clock_base();
    Instant::from_nanos(monotonic_nanos().saturating_sub(base))
}

impl Ring {
    pub(crate) fn new(entries: u32, park_spin: Duration) -> io::Result<Ring> {
        assert!(
            (RING_ENTRIES_MIN..=RING_ENTRIES_MAX).contains(&entries),
            "ring entries {entries} outside {RING_ENTRIES_MIN}..={RING_ENTRIES_MAX}"
        );
        let (uring, info) = build_ring(entries)?;
        check_kernel(&info).map_err(|e| io::Error::new(io::ErrorKind::Unsupported, e))?;
        // SAFETY: eventfd takes no pointers; the result is checked before use.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd we own exclusively.
        let eventfd = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
        let _ = clock_base();
        let ring = Ring {
            uring: RefCell::new(uring),
            ops: RefCell::new(Slab::with_capacity(entries as usize)),
            graveyard: RefCell::new(Vec::new()),
            info,
            eventfd,
            eventfd_buf: Box::new(UnsafeCell::new(0)),
            eventfd_armed: Cell::new(false),
            in_flight: Cell::new(0),
            device_in_flight: Cell::new(0),
            enters: Cell::new(0),
            submitted: Cell::new(0),
            park_spin,
            spins_woken: Cell::new(0),
            spins_slept: Cell::new(0),
            woken: Cell::new(0),
            #[cfg(test)]
            busy_submits: Cell::new(0),
        };
        ring.arm_eventfd();
        Ok(ring)
    }

    /// Test hook: op slots created from now on start at `generation`.
    #[cfg(test)]
    pub(crate) fn start_generations_at(&self, generation: u32) {
        self.ops.borrow_mut().start_generations_at(generation);
    }

    pub(crate) fn info(&self) -> &RingInfo {
        &self.info
    }

    pub(crate) fn stats(&self) -> RingStats {
        let ops = self.ops.borrow();
        RingStats {
            ops_live: ops.len(),
            ops_orphaned: ops.iter().filter(|(_, s)| s.orphaned).count(),
            sqes_in_flight: self.in_flight.get(),
            enters: self.enters.get(),
            ops_submitted: self.submitted.get(),
            spins_woken: self.spins_woken.get(),
            spins_slept: self.spins_slept.get(),
        }
    }

    fn arm_eventfd(&self) {
        if self.eventfd_armed.get() {
            return;
        }
        let e = opcode::Read::new(
            types::Fd(self.eventfd.as_raw_fd()),
            self.eventfd_buf.get().cast(),
            8,
        )
        .build()
        .user_data(EVENTFD_UD);
        self.push(&[e]);
        self.eventfd_armed.set(true);
    }

    /// `io_uring_enter` to submit, or (tests) an injected `EBUSY`.
    fn submit_or_busy(&self, ring: &IoUring) -> io::Result<usize> {
        #[cfg(test)]
        if self.busy_submits.get() > 0 {
            self.busy_submits.set(self.busy_submits.get() - 1);
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        ring.submit()
    }

    /// Pushes `entries` contiguously, submitting first when they do not fit.
    fn push(&self, entries: &[squeue::Entry]) {
        loop {
            {
                let mut ring = self.uring.borrow_mut();
                let mut sq = ring.submission();
                if sq.capacity() - sq.len() >= entries.len() {
                    for e in entries {
                        // SAFETY: every pointer in `e` targets memory owned by the op's
                        // slot (or the ring, for the eventfd read), which stays alive
                        // until that SQE's completion is reaped (see module invariants).
                        unsafe { sq.push(e) }.expect("space was checked");
                    }
                    return;
                }
                drop(sq);
                self.enters.set(self.enters.get() + 1);
                match self.submit_or_busy(&ring) {
                    Ok(_) => continue,
                    Err(e) if submit_must_wait(&e) => {}
                    Err(e) => panic!("io_uring submit failed: {e}"),
                }
            }
            // The kernel wants completions reaped before it takes more submissions.
            self.reap();
        }
    }

    /// Submits one operation (one SQE, or two linked ones) and returns its future.
    /// `data` and `fd` are kept until the last completion arrives. `kind` says whether
    /// it waits on a peer (then it is cancelled when its future is dropped, and does
    /// not make a parked core poll: only device work does) and what its result holds
    /// that must be released if nobody takes it (see `op.rs`).
    pub(crate) fn submit(
        self: &Rc<Self>,
        entries: &[squeue::Entry],
        data: OpData,
        fd: Option<Rc<OwnedFd>>,
        kind: OpKind,
    ) -> Op {
        assert!(matches!(entries.len(), 1 | 2), "an op has one or two SQEs");
        let parts = entries.len() as u8;
        let device = !kind.waits_on_peer();
        let key = self
            .ops
            .borrow_mut()
            .insert(OpSlot::new(parts, kind, data, fd));
        let mut tagged = [entries[0].clone(), entries[entries.len() - 1].clone()];
        for (part, e) in tagged.iter_mut().enumerate().take(entries.len()) {
            e.set_user_data(user_data(key, part as u8));
        }
        self.push(&tagged[..entries.len()]);
        self.in_flight.set(self.in_flight.get() + u32::from(parts));
        if device {
            self.device_in_flight
                .set(self.device_in_flight.get() + u32::from(parts));
        }
        self.submitted.set(self.submitted.get() + 1);
        Op {
            ring: self.clone(),
            key: Some(key),
        }
    }

    /// Moves every posted completion into its slot and wakes the owner; frees orphaned
    /// slots whose last completion arrived.
    pub(crate) fn reap(&self) {
        let mut woken = 0;
        {
            let mut ring = self.uring.borrow_mut();
            let mut ops = self.ops.borrow_mut();
            let mut grave = self.graveyard.borrow_mut();
            for cqe in ring.completion() {
                match cqe.user_data() {
                    EVENTFD_UD => self.eventfd_armed.set(false),
                    CANCEL_UD => {}
                    ud => {
                        let (index, generation, part) = decode_user_data(ud);
                        let key = Key { index, generation };
                        let slot = ops.get_mut(key).expect("completion for a live op slot");
                        assert!(slot.pending > 0, "extra completion for op slot {index}");
                        slot.results[part] = cqe.result();
                        slot.pending -= 1;
                        self.in_flight.set(self.in_flight.get() - 1);
                        if !slot.kind.waits_on_peer() {
                            self.device_in_flight.set(self.device_in_flight.get() - 1);
                        }
                        if slot.pending == 0 {
                            if slot.orphaned {
                                grave.extend(ops.remove(key));
                            } else if let Some(w) = slot.waker.take() {
                                w.wake();
                                woken += 1;
                            }
                        }
                    }
                }
            }
        }
        // Orphans' buffers and fds, and what they produced, are released here,
        // outside every borrow.
        let dead = std::mem::take(&mut *self.graveyard.borrow_mut());
        for slot in dead {
            woken += slot.release_unclaimed();
        }
        self.woken.set(self.woken.get() + woken);
    }

    /// Completions are waiting to be reaped: posted to the completion queue, or held
    /// back in the kernel's overflow list (`IORING_SQ_CQ_OVERFLOW`: the queue was full;
    /// only an enter with `GETEVENTS` moves them into it).
    fn completions_ready(ring: &mut IoUring) -> bool {
        // SAFETY: no other SubmissionQueue exists: the caller borrows the ring mutably.
        unsafe { ring.submission_shared() }.cq_overflow() || !ring.completion().is_empty()
    }

    /// Submits the queued SQEs, if any, without waiting and without running completion
    /// work (no `GETEVENTS`): completions stay for the next park to reap.
    pub(crate) fn submit_queued(&self) {
        let ring = self.uring.borrow_mut();
        // SAFETY: no other SubmissionQueue exists: the ring is borrowed mutably here
        // and nowhere else.
        let sq_len = unsafe { ring.submission_shared() }.len();
        if sq_len == 0 {
            return;
        }
        self.enters.set(self.enters.get() + 1);
        // SAFETY: no extra argument is passed (arg = None) and min_complete is 0, so
        // the call never blocks and touches no user memory but the queued SQEs', which
        // their op slots own until completion.
        let r = unsafe {
            ring.submitter()
                .enter::<libc::sigset_t>(sq_len as u32, 0, 0, None)
        };
        match r {
            Ok(_) => {}
            // The kernel wants completions reaped first; the next park submits.
            Err(e) if submit_must_wait(&e) => {}
            Err(e) => panic!("io_uring submit failed: {e}"),
        }
    }

    fn enter_nonblocking(&self) -> io::Result<usize> {
        let ring = self.uring.borrow_mut();
        // SAFETY: no other SubmissionQueue exists: the ring is borrowed mutably here
        // and nowhere else.
        let sq = unsafe { ring.submission_shared() };
        let sq_len = sq.len();
        // An overflowed completion queue is flushed only by an enter with GETEVENTS,
        // whatever is in flight (the eventfd read and cancels are not counted).
        let completions_may_wait = sq.cq_overflow()
            || (self.in_flight.get() > 0 && (!self.info.taskrun_flag || sq.taskrun()));
        drop(sq);
        if sq_len == 0 && !completions_may_wait {
            return Ok(0);
        }
        self.enters.set(self.enters.get() + 1);
        // SAFETY: no extra argument is passed (arg = None); GETEVENTS with
        // min_complete 0 never blocks.
        unsafe {
            ring.submitter()
                .enter::<libc::sigset_t>(sq_len as u32, 0, IORING_ENTER_GETEVENTS, None)
        }
    }

    /// Before sleeping for up to `wait` (`None`: until something completes): while
    /// operations that complete on their own are in flight (file I/O, not a socket
    /// waiting on a peer), polls for up to `park_spin` for a completion, seen as
    /// the ring's task-run flag (completions waiting for this thread), a non-empty
    /// completion queue or an overflowed one. Returns what is left to wait: zero if one arrived. A park
    /// that must not block (`wait` zero) does not poll.
    fn spin(&self, wait: Option<Duration>) -> Option<Duration> {
        if wait.is_some_and(|w| w.is_zero())
            || self.park_spin.is_zero()
            || self.device_in_flight.get() == 0
            || !self.info.taskrun_flag
        {
            return wait;
        }
        let limit = wait.map_or(self.park_spin, |w| w.min(self.park_spin));
        let start = now();
        // What is queued must reach the kernel before anything can complete.
        self.submit_queued();
        loop {
            let arrived = {
                let mut ring = self.uring.borrow_mut();
                // SAFETY: no other SubmissionQueue exists: the ring is borrowed mutably
                // here and nowhere else.
                unsafe { ring.submission_shared() }.taskrun() || Self::completions_ready(&mut ring)
            };
            if arrived {
                self.spins_woken.set(self.spins_woken.get() + 1);
                return Some(Duration::ZERO);
            }
            let spent = now().saturating_duration_since(start);
            if spent >= limit {
                self.spins_slept.set(self.spins_slept.get() + 1);
                return wait.map(|w| w.saturating_sub(spent));
            }
            std::hint::spin_loop();
        }
    }

    fn enter_wait(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let ring = self.uring.borrow_mut();
        self.enters.set(self.enters.get() + 1);
        match timeout {
            None => ring.submitter().submit_and_wait(1),
            Some(d) => {
                let ts = Timespec::from(d);
                let args = SubmitArgs::new().timespec(&ts);
                ring.submitter().submit_with_args(1, &args)
            }
        }
    }
}

impl Driver for Ring {
    fn now(&self) -> Instant {
        now()
    }

    fn park(&self, deadline: Option<Instant>) {
        let woken_before = self.woken.get();
        // Arming may submit and, if the kernel refuses (a full queue), reap: a task
        // that reap woke is ready, so the park must not block.
        self.arm_eventfd();
        let ready = self.woken.get() != woken_before
            || Self::completions_ready(&mut self.uring.borrow_mut());
        let wait = match deadline {
            _ if ready => Some(Duration::ZERO),
            // The executor's "do not block" (no clock read needed to know it is past).
            Some(Instant::ZERO) => Some(Duration::ZERO),
            d => d.map(|d| d.saturating_duration_since(now())),
        };
        let wait = self.spin(wait);
        let res = match wait {
            Some(d) if d.is_zero() => self.enter_nonblocking(),
            other => self.enter_wait(other),
        };
        match res {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) => {}
            Err(e) => panic!("io_uring_enter failed: {e}"),
        }
        self.reap();
    }

    fn unparker(&self) -> Option<Arc<dyn Unpark>> {
        Some(Arc::new(EventFdUnpark {
            fd: self.eventfd.clone(),
        }))
    }

    fn relinquish(&self) {
        // SAFETY: sched_yield takes no arguments and touches no memory.
        unsafe { libc::sched_yield() };
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.in_flight.get() == 0 && !self.eventfd_armed.get() {
            return;
        }
        let cancel = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(CANCEL_UD);
        self.push(&[cancel]);
        let start = now();
        while self.in_flight.get() > 0 || self.eventfd_armed.get() {
            let waited = now().saturating_duration_since(start);
            if waited >= DROP_DRAIN_MAX {
                eprintln!(
                    "boreal uring: {} SQEs still in flight after {:?} at ring drop; leaking their buffers",
                    self.in_flight.get(),
                    DROP_DRAIN_MAX
                );
                let ops = std::mem::take(&mut *self.ops.borrow_mut());
                std::mem::forget(ops);
                let buf = std::mem::replace(&mut self.eventfd_buf, Box::new(UnsafeCell::new(0)));
                std::mem::forget(buf);
                return;
            }
            let _ = self.enter_wait(Some(Duration::from_millis(100)));
            self.reap();
        }
    }
}

/// The future of one submitted operation. Dropping it before completion orphans the
/// slot (the kernel keeps the memory until it completes), see the module docs.
pub(crate) struct Op {
    ring: Rc<Ring>,
    key: Option<Key>,
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op").field("key", &self.key).finish()
    }
}

impl Future for Op {
    type Output = Completion;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion> {
        let key = self.key.expect("op polled after completion");
        let mut ops = self.ring.ops.borrow_mut();
        let slot = ops
            .get_mut(key)
            .expect("op slot lives while its future does");
        if slot.pending == 0 {
            let slot = ops.remove(key).expect("slot just seen");
            drop(ops);
            self.key = None;
            return Poll::Ready(Completion {
                results: slot.results,
                data: slot.data,
            });
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut ops = self.ring.ops.borrow_mut();
        let slot = ops
            .get_mut(key)
            .expect("op slot lives while its future does");
        if slot.pending == 0 {
            // Completed but never taken (a select or timeout chose another branch).
            let slot = ops.remove(key).expect("slot just seen");
            drop(ops);
            slot.release_unclaimed();
            return;
        }
        slot.orphan();
        let target = (0..slot.parts).find(|&p| slot.results[p as usize] == RESULT_PENDING);
        let cancel = slot.kind.waits_on_peer();
        drop(ops);
        if cancel && let Some(part) = target {
            let e = opcode::AsyncCancel::new(user_data(key, part))
                .build()
                .user_data(CANCEL_UD);
            self.ring.push(&[e]);
        }
    }
}

#[cfg(test)]
mod tests;
