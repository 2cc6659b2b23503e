//! Small single-threaded synchronization tools for tasks on one core: a one-shot
//! [`Signal`] (stop serving), a [`WakeSlot`] (one task waiting for another), an
//! [`AsyncLock`] (one holder at a time, FIFO) and [`either`]. No OS locks; `!Send`
//! like everything on a core.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::{Poll, Waker};

/// A one-shot flag that tasks can wait for; once raised it stays raised.
#[derive(Debug, Default)]
pub struct Signal {
    raised: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Signal {
    /// Raises the flag and wakes every waiter.
    pub fn raise(&self) {
        self.raised.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    /// Completes once the flag is raised.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.raised.get() {
                return Poll::Ready(());
            }
            let mut w = self.waiters.borrow_mut();
            if !w.iter().any(|x| x.will_wake(cx.waker())) {
                w.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// The waker of the one task that waits on something another task changes.
#[derive(Debug, Default)]
pub struct WakeSlot(RefCell<Option<Waker>>);

impl WakeSlot {
    /// Registers the current task (from inside its `poll`).
    pub fn register(&self, waker: &Waker) {
        let mut slot = self.0.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Wakes the registered task, if any.
    pub fn wake(&self) {
        if let Some(w) = self.0.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Which of two futures finished first.
#[derive(Debug)]
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs `a` and `b` together; returns the first to finish (`a` if both are ready) and
/// drops the other.
pub async fn either<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(x));
        }
        if let Poll::Ready(y) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(y));
        }
        Poll::Pending
    })
    .await
}

/// An async mutex without data: one holder at a time, waiters served in order.
#[derive(Debug, Default)]
pub struct AsyncLock {
    held: Cell<bool>,
    waiters: RefCell<std::collections::VecDeque<Waker>>,
}

/// Held until dropped.
#[derive(Debug)]
pub struct AsyncLockGuard<'a>(&'a AsyncLock);

impl Drop for AsyncLockGuard<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        if let Some(w) = self.0.waiters.borrow_mut().pop_front() {
            w.wake();
        }
    }
}

impl AsyncLock {
    /// Waits until the lock is free and takes it.
    pub async fn lock(&self) -> AsyncLockGuard<'_> {
        poll_fn(|cx| {
            if !self.held.get() {
                self.held.set(true);
                return Poll::Ready(());
            }
            self.waiters.borrow_mut().push_back(cx.waker().clone());
            Poll::Pending
        })
        .await;
        AsyncLockGuard(self)
    }
}
