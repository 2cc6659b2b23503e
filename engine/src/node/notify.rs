//! A single-threaded notification: tasks wait for the next `notify_all`.
//!
//! Owns a generation counter and the wakers of the waiting tasks. Never blocks, never
//! crosses threads (`!Send`); the number of wakers is bounded by the number of waiting
//! tasks, each of which registers at most one.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(crate) struct Notify {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Notify {
    pub(crate) fn notify_all(&self) {
        self.generation.set(self.generation.get() + 1);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Completes at the first `notify_all` after this call.
    pub(crate) fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            seen: self.generation.get(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Notified<'a> {
    notify: &'a Notify,
    seen: u64,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.seen {
            return Poll::Ready(());
        }
        let mut waiters = self.notify.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A single-threaded async lock guarding no data (the caller says what it orders):
/// one holder at a time; a release wakes the waiters, and the first to run takes it.
#[derive(Debug, Default)]
pub(crate) struct Lock {
    held: Cell<bool>,
    released: Notify,
}

impl Lock {
    pub(crate) async fn lock(&self) -> LockGuard<'_> {
        while self.held.get() {
            self.released.notified().await;
        }
        self.held.set(true);
        LockGuard(self)
    }
}

/// Holds a [`Lock`] until dropped.
#[derive(Debug)]
pub(crate) struct LockGuard<'a>(&'a Lock);

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        self.0.released.notify_all();
    }
}
