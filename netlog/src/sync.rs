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
///
/// Each waiter keeps one entry (by ticket) in the queue however often it is polled,
/// and takes it out when it gets the lock or is dropped while waiting; a release wakes
/// the waiter at the front, and a waiter dropped while at the front passes the wake on.
/// So neither a task polled again while it waits (woken by a timer of its own) nor one
/// cancelled while it waits (a `timeout` around a send) can strand the waiters behind
/// it.
#[derive(Debug, Default)]
pub struct AsyncLock {
    held: Cell<bool>,
    next_ticket: Cell<u64>,
    waiters: RefCell<std::collections::VecDeque<(u64, Waker)>>,
}

/// Held until dropped.
#[derive(Debug)]
pub struct AsyncLockGuard<'a>(&'a AsyncLock);

impl Drop for AsyncLockGuard<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        self.0.wake_front();
    }
}

/// A waiter for [`AsyncLock::lock`].
#[derive(Debug)]
pub struct Lock<'a> {
    lock: &'a AsyncLock,
    /// Its ticket, once it queued.
    ticket: Option<u64>,
}

impl<'a> Future for Lock<'a> {
    type Output = AsyncLockGuard<'a>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Self::Output> {
        let lock = self.lock;
        let mut waiters = lock.waiters.borrow_mut();
        let first = match (self.ticket, waiters.front()) {
            (_, None) => true,
            (Some(t), Some((front, _))) => *front == t,
            (None, Some(_)) => false,
        };
        if !lock.held.get() && first {
            if self.ticket.take().is_some() {
                waiters.pop_front();
            }
            lock.held.set(true);
            return Poll::Ready(AsyncLockGuard(lock));
        }
        match self.ticket {
            Some(t) => {
                if let Some(entry) = waiters.iter_mut().find(|(x, _)| *x == t)
                    && !entry.1.will_wake(cx.waker())
                {
                    entry.1 = cx.waker().clone();
                }
            }
            None => {
                let t = lock.next_ticket.get();
                lock.next_ticket.set(t + 1);
                waiters.push_back((t, cx.waker().clone()));
                drop(waiters);
                self.ticket = Some(t);
            }
        }
        Poll::Pending
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        let Some(t) = self.ticket else { return };
        let mut waiters = self.lock.waiters.borrow_mut();
        let was_front = waiters.front().is_some_and(|(x, _)| *x == t);
        waiters.retain(|(x, _)| *x != t);
        drop(waiters);
        // It may have been woken to take the lock: the next waiter takes its turn.
        if was_front && !self.lock.held.get() {
            self.lock.wake_front();
        }
    }
}

impl AsyncLock {
    /// Waits until the lock is free and takes it.
    pub fn lock(&self) -> Lock<'_> {
        Lock {
            lock: self,
            ticket: None,
        }
    }

    fn wake_front(&self) {
        let front = self.waiters.borrow().front().map(|(_, w)| w.clone());
        if let Some(w) = front {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake};

    use super::*;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn wakes(c: &Count) -> usize {
        c.0.load(Ordering::Relaxed)
    }

    #[test]
    fn a_waiter_polled_twice_does_not_strand_the_next_one() {
        let lock = AsyncLock::default();
        let (_, w0) = waker();
        let mut a = pin!(lock.lock());
        let Poll::Ready(held) = a.as_mut().poll(&mut Context::from_waker(&w0)) else {
            panic!("a free lock is taken at once");
        };
        let (cb, wb) = waker();
        let mut b = pin!(lock.lock());
        // Polled twice while it waits (a timer of its own woke it in between).
        assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        drop(held);
        assert_eq!(wakes(&cb), 1);
        let Poll::Ready(held_b) = b.as_mut().poll(&mut Context::from_waker(&wb)) else {
            panic!("b's turn");
        };
        let (cc, wc) = waker();
        let mut c = pin!(lock.lock());
        assert!(c.as_mut().poll(&mut Context::from_waker(&wc)).is_pending());
        drop(held_b);
        assert_eq!(wakes(&cc), 1, "c, the one waiting, is woken");
        assert!(c.as_mut().poll(&mut Context::from_waker(&wc)).is_ready());
    }

    #[test]
    fn a_waiter_dropped_while_waiting_passes_its_turn_on() {
        let lock = AsyncLock::default();
        let (_, w0) = waker();
        let mut a = pin!(lock.lock());
        let Poll::Ready(held) = a.as_mut().poll(&mut Context::from_waker(&w0)) else {
            panic!("a free lock is taken at once");
        };
        let (cb, wb) = waker();
        let mut b = Box::pin(lock.lock());
        assert!(b.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
        let (cc, wc) = waker();
        let mut c = pin!(lock.lock());
        assert!(c.as_mut().poll(&mut Context::from_waker(&wc)).is_pending());
        drop(held);
        assert_eq!((wakes(&cb), wakes(&cc)), (1, 0), "in order");
        // b is cancelled (a timeout fired) before it ran: c takes its turn.
        drop(b);
        assert_eq!(wakes(&cc), 1);
        assert!(c.as_mut().poll(&mut Context::from_waker(&wc)).is_ready());
    }
}
