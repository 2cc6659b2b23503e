//! Timers kept in the executor: a min-heap of deadlines on the driver's clock, and the
//! futures built on it ([`sleep`], [`sleep_until`], [`timeout`], [`timeout_at`]).
//!
//! A deadline is on the clock of the task that arms it (`Driver::now_in` its domain:
//! under the simulator each node has its own offset and drift); the heap holds the
//! driver instant at which that clock reaches it (`Driver::deadline_in`).
//!
//! Owns: one entry per armed [`Sleep`] (deadline, waker, fired flag) and a heap of
//! `(deadline, sequence, key)`. The executor fires every entry whose deadline is at or
//! before `Driver::now()` after each park and tells the driver the earliest deadline.
//!
//! Must never: read a clock itself (time comes only from the driver, so virtual time
//! works); let cancelled entries pile up without bound (the heap is rebuilt from the
//! live entries when stale ones outnumber them).
//!
//! Invariants: entries with equal deadlines fire in arming order (the sequence number);
//! a `Sleep` completes only after its entry fired or its deadline was already past on
//! first poll; a dropped `Sleep` removes its entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Weak;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::executor::{Inner, try_current, with_current};
use super::slab::{Key, Slab};
use super::task::Domain;
use crate::io::Instant;

#[derive(Debug)]
struct Entry {
    deadline: Instant,
    seq: u64,
    waker: Option<Waker>,
    fired: bool,
}

/// The executor's timer store.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, Key)>>,
    entries: Slab<Entry>,
    next_seq: u64,
}

impl Timers {
    fn arm(&mut self, deadline: Instant, waker: Waker) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.entries.insert(Entry {
            deadline,
            seq,
            waker: Some(waker),
            fired: false,
        });
        self.heap.push(Reverse((deadline, seq, key)));
        if self.heap.len() > 2 * self.entries.len() + 64 {
            self.compact();
        }
        key
    }

    fn compact(&mut self) {
        self.heap = self
            .entries
            .iter()
            .filter(|(_, e)| !e.fired)
            .map(|(k, e)| Reverse((e.deadline, e.seq, k)))
            .collect();
    }

    fn is_live(&self, seq: u64, key: Key) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.seq == seq && !e.fired)
    }

    /// Wakes every entry whose deadline is `<= now`, in deadline then arming order.
    pub(crate) fn fire(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if let Some(e) = self.entries.get_mut(key)
                && e.seq == seq
                && !e.fired
            {
                e.fired = true;
                if let Some(w) = e.waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// The earliest live deadline, dropping stale heap entries on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if self.is_live(seq, key) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Whether no timer can fire (no deadline pending, stale ones included).
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Number of armed, unfired timers.
    pub(crate) fn armed(&self) -> usize {
        self.entries.iter().filter(|(_, e)| !e.fired).count()
    }
}

/// Completes once the executor's clock reaches the deadline. Created by [`sleep`] and
/// [`sleep_until`].
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    /// The executor, the entry, and the domain whose clock the deadline is on.
    armed: Option<(Weak<Inner>, Key, Domain)>,
}

impl Sleep {
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((exec, key, domain)) = &self.armed {
            let Some(inner) = exec.upgrade() else {
                return Poll::Ready(());
            };
            let mut timers = inner.timers.borrow_mut();
            let Some(e) = timers.entries.get_mut(*key) else {
                return Poll::Ready(());
            };
            if e.fired {
                timers.entries.remove(*key);
                drop(timers);
                // The domain's clock may have been changed since it was armed (the
                // simulator steps a node's clock): complete only once it reads the
                // deadline, else arm again.
                let (domain, deadline) = (*domain, self.deadline);
                if inner.driver.now_in(domain) >= deadline {
                    self.armed = None;
                    return Poll::Ready(());
                }
                let at = inner.driver.deadline_in(domain, deadline);
                let key = inner.timers.borrow_mut().arm(at, cx.waker().clone());
                self.armed = Some((std::rc::Rc::downgrade(&inner), key, domain));
                return Poll::Pending;
            }
            match &mut e.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        let deadline = self.deadline;
        with_current(|inner| {
            let domain = inner.domain.get();
            if inner.driver.now_in(domain) >= deadline {
                return Poll::Ready(());
            }
            let at = inner.driver.deadline_in(domain, deadline);
            let key = inner.timers.borrow_mut().arm(at, cx.waker().clone());
            self.armed = Some((std::rc::Rc::downgrade(inner), key, domain));
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((exec, key, _)) = self.armed.take()
            && let Some(inner) = exec.upgrade()
            && let Ok(mut timers) = inner.timers.try_borrow_mut()
        {
            timers.entries.remove(key);
        }
    }
}

/// Completes once the current executor's clock reaches `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        armed: None,
    }
}

/// Completes after `d` on the current executor's clock. Panics outside an executor.
pub fn sleep(d: Duration) -> Sleep {
    let deadline = super::executor::now().saturating_add(d);
    sleep_until(deadline)
}

/// The deadline of a [`timeout`] passed before its future completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

/// Runs `fut` until it completes or `d` passes (then `fut` is dropped).
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let deadline = super::executor::now().saturating_add(d);
    timeout_at(deadline, fut).await
}

/// Runs `fut` until it completes or the clock reaches `deadline`. The future is polled
/// first, so one that is already ready wins over an expired deadline.
pub async fn timeout_at<F: Future>(deadline: Instant, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = std::pin::pin!(sleep_until(deadline));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Number of armed timers on the current executor (0 outside one). For tests and
/// metrics.
pub fn timers_armed() -> usize {
    try_current().map_or(0, |inner| inner.timers.borrow().armed())
}
