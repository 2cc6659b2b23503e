//! The hand-off between the harness and an async engine's worker tasks, whatever the
//! runtime (boreal's, tokio-uring's, glommio's).
//!
//! An async engine spawns `depth` worker tasks once, at open; each has a slot. `queue`
//! puts an I/O in an idle worker's slot ([`Slots::hand`]) and does nothing else;
//! `commit` wakes the workers handed an I/O since the last commit
//! ([`Slots::wake_handed`], from inside the runtime, so a wake is a push on its ready
//! queue); a worker takes its I/O ([`Slots::next`]), does it, and posts the completion
//! ([`Slots::finish`]); `getevents` waits until enough completions are posted
//! ([`Slots::wait_done`]) and takes them ([`Slots::drain`]). Nothing here allocates
//! per I/O. Everything is on the job's one thread (`Rc`, `Cell`).
//!
//! Invariants: a worker index is either idle or holds/executes exactly one I/O; at most
//! `depth` I/Os are handed out (one beyond is refused, not queued); each completion is
//! handed to the harness once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

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
#[derive(Default)]
struct WorkerSlot {
    io: Cell<Option<Io>>,
    waker: Cell<Option<Waker>>,
}

/// The slots of one engine's workers.
pub struct Slots {
    slots: Vec<WorkerSlot>,
    /// Workers with nothing to do.
    idle: RefCell<Vec<usize>>,
    /// Workers given an I/O since the last commit; woken by the commit.
    handed: RefCell<Vec<usize>>,
    /// Finished I/Os not yet handed to the harness.
    done: RefCell<VecDeque<Completion>>,
    /// The `getevents` future, while it waits.
    waiter: Cell<Option<Waker>>,
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("depth", &self.slots.len())
            .field("idle", &self.idle.borrow().len())
            .finish()
    }
}

impl Slots {
    /// Slots for `depth` workers, all idle.
    pub fn new(depth: usize) -> Slots {
        Slots {
            slots: (0..depth).map(|_| WorkerSlot::default()).collect(),
            idle: RefCell::new((0..depth).rev().collect()),
            handed: RefCell::new(Vec::with_capacity(depth)),
            done: RefCell::new(VecDeque::with_capacity(depth)),
            waiter: Cell::new(None),
        }
    }

    /// Gives `io` to an idle worker; hands it back when every worker is busy.
    pub fn hand(&self, io: Io) -> Result<(), Io> {
        let Some(index) = self.idle.borrow_mut().pop() else {
            return Err(io);
        };
        self.slots[index].io.set(Some(io));
        self.handed.borrow_mut().push(index);
        Ok(())
    }

    /// How many I/Os were handed since the last [`Slots::wake_handed`].
    pub fn handed(&self) -> usize {
        self.handed.borrow().len()
    }

    /// Wakes the workers handed an I/O since the last call (call inside the runtime).
    pub fn wake_handed(&self) {
        for index in self.handed.borrow_mut().drain(..) {
            if let Some(w) = self.slots[index].waker.take() {
                w.wake();
            }
        }
    }

    /// Worker `index`'s next I/O (waits while its slot is empty).
    pub async fn next(&self, index: usize) -> Io {
        let slot = &self.slots[index];
        poll_fn(|cx| match slot.io.take() {
            Some(io) => Poll::Ready(io),
            None => {
                slot.waker.set(Some(cx.waker().clone()));
                Poll::Pending
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
        poll_fn(|cx| {
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
        .map_err(|io| BenchError::Io {
            op: "queue beyond iodepth on",
            path: path.to_path_buf(),
            offset: io.offset,
            source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
        })
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

/// An async engine's `commit` on a runtime that submits from its own loop: wakes the
/// workers handed an I/O and lets them push their operations.
pub fn commit_on(driver: &impl Driver, slots: &Slots) {
    driver.drive(async {
        slots.wake_handed();
        // The woken workers run (each pushing its operation) before this resumes.
        yield_once().await;
    });
}

/// An async engine's `getevents`: runs `driver` until `min` completions are in, then
/// moves them all to `out`.
pub fn getevents_on(driver: &impl Driver, slots: &Slots, min: usize, out: &mut Vec<Completion>) {
    if !slots.has_done(min) {
        driver.drive(slots.wait_done(min));
    }
    slots.drain(out);
}
