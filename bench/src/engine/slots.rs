//! The hand-off between the harness and an async engine's worker tasks, whatever the
//! runtime (boreal's, tokio-uring's, glommio's) and whatever the engine does with an
//! I/O (a file operation, a durable append to a storage core, a commit through the
//! quorum shim).
//!
//! An async engine spawns `depth` worker tasks once, at open; each has a slot. `queue`
//! puts an I/O in an idle worker's slot ([`Slots::hand`]) and does nothing else;
//! `commit` wakes the workers handed an I/O since the last commit
//! ([`Slots::wake_handed`]; from inside the runtime a wake is a push on its ready
//! queue); a worker takes its I/O ([`Slots::next`]), does it, and posts the completion
//! ([`Slots::finish`]); `getevents` waits until enough completions are posted
//! ([`Slots::wait_done`]) and takes them ([`Slots::drain`]). Nothing here allocates
//! per I/O. Everything is on the job's one thread (`Rc`, `Cell`).
//!
//! What a slot carries is the engine's (`Slots<J>`): the harness's [`Io`] for the file
//! engines; the I/O with its tags for the `boreal-journal` and `boreal-cluster` engines
//! (whether it counts toward the measured window, which PG it goes to). An engine that
//! may start an I/O itself takes a worker index with [`Slots::claim`] and either hands
//! the I/O to that worker ([`Slots::hand_to`]) or posts its completion when it is done
//! (the journal engine's appends started in `queue`, completed inside `getevents`:
//! [`Slots::wait_done_after`]). [`Slots::close`] makes every worker's
//! [`Slots::next`] return `None`, so the workers end before what they share is dropped.
//!
//! Invariants: a worker index is either idle or holds/executes exactly one I/O (a
//! claimed index's I/O is with its engine until handed or finished); at most `depth`
//! I/Os are handed out (one beyond is refused, not queued); each completion is handed
//! to the harness once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use std::path::Path;

use crate::engine::{Completion, Io, IoKind, OpenedFiles, Queued, trim_file};
use crate::error::BenchError;

/// Yields once to the executor that polls it, so tasks woken before this run first
/// (any runtime: it only wakes itself and returns pending once).
pub async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// One worker's mailbox: the I/O handed to it, and its waker while it is idle.
struct WorkerSlot<J> {
    job: Cell<Option<J>>,
    waker: Cell<Option<Waker>>,
}

/// The slots of one engine's workers; `J` is what a worker is handed (see the module
/// docs).
pub struct Slots<J = Io> {
    slots: Vec<WorkerSlot<J>>,
    /// Workers with nothing to do.
    idle: RefCell<Vec<usize>>,
    /// Workers given an I/O since the last commit; woken by the commit.
    handed: RefCell<Vec<usize>>,
    /// Finished I/Os not yet handed to the harness.
    done: RefCell<VecDeque<Completion>>,
    /// The `getevents` future, while it waits.
    waiter: Cell<Option<Waker>>,
    /// Set by [`Slots::close`]: workers return.
    closing: Cell<bool>,
}

impl<J> std::fmt::Debug for Slots<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("depth", &self.slots.len())
            .field("idle", &self.idle.borrow().len())
            .finish()
    }
}

impl<J> Slots<J> {
    /// Slots for `depth` workers, all idle.
    pub fn new(depth: usize) -> Slots<J> {
        Slots {
            slots: (0..depth)
                .map(|_| WorkerSlot {
                    job: Cell::new(None),
                    waker: Cell::new(None),
                })
                .collect(),
            idle: RefCell::new((0..depth).rev().collect()),
            handed: RefCell::new(Vec::with_capacity(depth)),
            done: RefCell::new(VecDeque::with_capacity(depth)),
            waiter: Cell::new(None),
            closing: Cell::new(false),
        }
    }

    /// Gives `job` to an idle worker; hands it back when every worker is busy.
    pub fn hand(&self, job: J) -> Result<(), J> {
        match self.claim() {
            Some(index) => {
                self.hand_to(index, job);
                Ok(())
            }
            None => Err(job),
        }
    }

    /// Takes an idle worker's index for an I/O (`None` when every worker is busy): the
    /// caller then hands it to that worker ([`Slots::hand_to`]) or posts its
    /// completion ([`Slots::finish`]).
    pub fn claim(&self) -> Option<usize> {
        self.idle.borrow_mut().pop()
    }

    /// Gives `job` to worker `index`, [claimed](Slots::claim) for it; the next
    /// [`Slots::wake_handed`] wakes the worker.
    pub fn hand_to(&self, index: usize, job: J) {
        self.slots[index].job.set(Some(job));
        self.handed.borrow_mut().push(index);
    }

    /// How many I/Os were handed since the last [`Slots::wake_handed`].
    pub fn handed(&self) -> usize {
        self.handed.borrow().len()
    }

    /// How many worker indexes are not idle (I/Os handed, claimed, or being done).
    pub fn busy(&self) -> usize {
        self.slots.len() - self.idle.borrow().len()
    }

    /// Wakes the workers handed an I/O since the last call.
    pub fn wake_handed(&self) {
        for index in self.handed.borrow_mut().drain(..) {
            if let Some(w) = self.slots[index].waker.take() {
                w.wake();
            }
        }
    }

    /// Worker `index`'s next I/O (waits while its slot is empty); `None` once the
    /// slots are [closed](Slots::close): the worker returns.
    pub async fn next(&self, index: usize) -> Option<J> {
        let slot = &self.slots[index];
        poll_fn(|cx| {
            if self.closing.get() {
                return Poll::Ready(None);
            }
            match slot.job.take() {
                Some(job) => Poll::Ready(Some(job)),
                None => {
                    slot.waker.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Worker `index` finished an I/O: posts its completion and goes idle.
    pub fn finish(&self, index: usize, completion: Completion) {
        self.done.borrow_mut().push_back(completion);
        self.idle.borrow_mut().push(index);
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
    }

    /// Waits until at least `min` completions are posted.
    pub async fn wait_done(&self, min: usize) {
        self.wait_done_after(min, |_| {}).await;
    }

    /// [`Slots::wait_done`] for an engine that completes I/Os inside the waiting
    /// future: `complete` runs first at every poll (what it posts does not wake the
    /// waiter, which is polling).
    pub async fn wait_done_after(&self, min: usize, mut complete: impl FnMut(&mut Context<'_>)) {
        poll_fn(|cx| {
            // This future is being polled: what `complete` posts must not wake it again.
            self.waiter.take();
            complete(cx);
            if self.done.borrow().len() >= min {
                Poll::Ready(())
            } else {
                self.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }

    /// True when at least `min` completions are posted.
    pub fn has_done(&self, min: usize) -> bool {
        self.done.borrow().len() >= min
    }

    /// Moves every posted completion to `out`.
    pub fn drain(&self, out: &mut Vec<Completion>) {
        out.extend(self.done.borrow_mut().drain(..));
    }

    /// Closes the slots: every worker's [`Slots::next`] returns `None` from now on, and
    /// the idle ones are woken to see it (call inside the runtime, then let it run).
    pub fn close(&self) {
        self.closing.set(true);
        for slot in &self.slots {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

/// The error for an I/O queued while every worker is busy (the harness keeps to the
/// engine's depth, so this is a bug), on the engine at `path`.
pub fn beyond_depth(path: &Path, offset: u64) -> BenchError {
    BenchError::Io {
        op: "queue beyond iodepth on",
        path: path.to_path_buf(),
        offset,
        source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
    }
}

/// An async engine's `queue`: a trim is done at once on `trim_files` (as fio's io_uring
/// engine does trims); anything else goes to an idle worker of `slots`. `path` names
/// the engine in an error.
pub fn queue_io(
    slots: &Slots,
    trim_files: &OpenedFiles,
    io: Io,
    path: &Path,
) -> Result<Queued, BenchError> {
    if io.kind == IoKind::Trim {
        let result = match trim_files.get(io.file) {
            Some(file) => trim_file(file, io.offset, io.buf.len()),
            None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        return Ok(Queued::Completed(Completion {
            token: io.token,
            result,
            buf: io.buf,
        }));
    }
    slots
        .hand(io)
        .map(|()| Queued::Queued)
        .map_err(|io| beyond_depth(path, io.offset))
}

/// Posts an I/O a worker could not start (its file index is not one of the engine's).
pub fn finish_unknown_file(slots: &Slots, index: usize, io: Io) {
    slots.finish(
        index,
        Completion {
            token: io.token,
            result: Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            buf: io.buf,
        },
    );
}

/// A runtime that can run a future to completion on this thread (`block_on`).
pub trait Driver {
    /// Runs `future` (and the runtime's tasks) until it completes.
    fn drive<F: std::future::Future>(&self, future: F) -> F::Output;
}

impl Driver for boreal_engine::rt::Runtime {
    fn drive<F: std::future::Future>(&self, future: F) -> F::Output {
        self.block_on(future)
    }
}

/// Ends an engine's workers on `driver`: closes `slots` and lets the workers run to
/// their end; then drops `handle` (what the workers used besides: the storage core,
/// the shim) and lets the runtime run once more, so the tasks it owned see it gone.
pub fn close_workers<J, T>(driver: &impl Driver, slots: &Slots<J>, handle: &mut Option<T>) {
    driver.drive(async {
        slots.close();
        yield_once().await;
    });
    *handle = None;
    driver.drive(yield_once());
}

/// An async engine's `commit` on a runtime that submits from its own loop: wakes the
/// workers handed an I/O and lets them push their operations.
pub fn commit_on<J>(driver: &impl Driver, slots: &Slots<J>) {
    driver.drive(async {
        slots.wake_handed();
        // The woken workers run (each pushing its operation) before this resumes.
        yield_once().await;
    });
}

/// An async engine's `getevents`: runs `driver` until `min` completions are in, then
/// moves them all to `out`.
pub fn getevents_on<J>(
    driver: &impl Driver,
    slots: &Slots<J>,
    min: usize,
    out: &mut Vec<Completion>,
) {
    if !slots.has_done(min) {
        driver.drive(slots.wait_done(min));
    }
    slots.drain(out);
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;
    use crate::workload::patterned_buf;

    /// Counts the wakes of the wakers made from it.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wakes {
        /// A counter, and a waker that counts into it.
        fn waker() -> (Arc<Wakes>, Waker) {
            let wakes = Arc::new(Wakes::default());
            (wakes.clone(), Waker::from(wakes))
        }

        fn seen(&self) -> usize {
            self.0.load(Ordering::Relaxed)
        }
    }

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn completion(token: u64) -> Completion {
        Completion {
            token,
            result: Ok(8),
            buf: patterned_buf(8, token),
        }
    }

    #[test]
    fn a_job_beyond_depth_is_refused_and_a_finish_frees_its_index() {
        let slots: Slots<u32> = Slots::new(2);
        assert_eq!(slots.hand(1), Ok(()));
        let index = slots.claim().expect("one worker idle");
        assert_eq!(slots.hand(2), Err(2));
        assert_eq!((slots.busy(), slots.handed()), (2, 1));
        slots.finish(index, completion(7));
        assert_eq!(slots.busy(), 1);
        assert_eq!(slots.hand(3), Ok(()));
        assert_eq!(slots.handed(), 2);
        let mut out = Vec::new();
        slots.drain(&mut out);
        slots.drain(&mut out);
        assert_eq!(out.iter().map(|c| c.token).collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn a_worker_is_woken_by_a_commit_to_take_its_job_and_by_close_to_end() {
        let slots: Slots<u32> = Slots::new(2);
        let (wakes, waker) = Wakes::waker();
        let mut cx = Context::from_waker(&waker);
        let mut next = pin!(slots.next(0));
        assert!(next.as_mut().poll(&mut cx).is_pending());
        slots.hand(5).unwrap();
        assert_eq!(wakes.seen(), 0, "woken only by a commit");
        slots.wake_handed();
        slots.wake_handed();
        assert_eq!(wakes.seen(), 1);
        assert_eq!(next.as_mut().poll(&mut cx), Poll::Ready(Some(5)));
        let mut idle = pin!(slots.next(1));
        assert!(idle.as_mut().poll(&mut cx).is_pending());
        slots.close();
        assert_eq!(wakes.seen(), 2);
        assert_eq!(idle.as_mut().poll(&mut cx), Poll::Ready(None));
        let mut busy = pin!(slots.next(0));
        assert_eq!(busy.as_mut().poll(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn the_waiter_is_woken_by_a_worker_not_by_its_own_completions() {
        let slots: Slots<u32> = Slots::new(2);
        let (wakes, waker) = Wakes::waker();
        let mut cx = Context::from_waker(&waker);
        let started = slots.claim().unwrap();
        let worker = slots.claim().unwrap();
        let mut polls = 0;
        let mut wait = pin!(slots.wait_done_after(2, |_| {
            polls += 1;
            // The second poll comes from another wake (the journal's batch being
            // durable), with the waiter still registered.
            if polls == 2 {
                slots.finish(started, completion(1));
            }
        }));
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(wakes.seen(), 0, "no wake of itself");
        slots.finish(worker, completion(2));
        assert_eq!(wakes.seen(), 1);
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        assert_eq!(slots.busy(), 0);
    }
}
