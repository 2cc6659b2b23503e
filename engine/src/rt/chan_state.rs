//! The state machine shared by the bounded channels ([`channel`](super::channel), one
//! core, behind a `RefCell`; and [`cross`](super::cross), between cores, behind a
//! `Mutex`). Pure logic: it never wakes anyone itself, it returns the wakers to wake so
//! the caller can release its lock first.
//!
//! Owns: the queue (capacity fixed at creation, never grows), the receiver's waker, and
//! a FIFO of waiting senders, each with a ticket.
//!
//! Must never: hold more than `capacity` values; lose a wake-up (a sender that was
//! told "space is free" and is then dropped passes the notice on to the next waiter).
//!
//! Invariants: `queue.len() <= capacity`; once `closed`, no value is accepted; the
//! receiver sees every value accepted before the close; `Ok(None)`/end-of-stream only
//! when closed-or-no-senders and the queue is empty.

use std::collections::VecDeque;
use std::task::{Poll, Waker};

#[derive(Debug)]
pub(crate) struct ChanState<T> {
    queue: VecDeque<T>,
    capacity: usize,
    rx_waker: Option<Waker>,
    send_waiters: VecDeque<(u64, Waker)>,
    next_ticket: u64,
    senders: usize,
    closed: bool,
}

/// Why a value was not taken.
pub(crate) enum Refused<T> {
    Full(T),
    Closed(T),
}

impl<T> ChanState<T> {
    pub(crate) fn new(capacity: usize) -> ChanState<T> {
        assert!(capacity > 0, "channel capacity must be positive");
        ChanState {
            queue: VecDeque::with_capacity(capacity),
            capacity,
            rx_waker: None,
            send_waiters: VecDeque::new(),
            next_ticket: 0,
            senders: 1,
            closed: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed || self.senders == 0
    }

    pub(crate) fn add_sender(&mut self) {
        self.senders += 1;
    }

    /// Returns the receiver's waker if this was the last sender.
    pub(crate) fn drop_sender(&mut self) -> Option<Waker> {
        self.senders -= 1;
        if self.senders == 0 {
            self.rx_waker.take()
        } else {
            None
        }
    }

    /// Tries to enqueue; on success returns whom to wake (the receiver).
    pub(crate) fn try_push(&mut self, value: T) -> Result<Wakes, Refused<T>> {
        if self.closed {
            return Err(Refused::Closed(value));
        }
        if self.queue.len() >= self.capacity {
            return Err(Refused::Full(value));
        }
        self.queue.push_back(value);
        Ok(Wakes {
            first: self.rx_waker.take(),
            second: None,
        })
    }

    /// One poll of a waiting send. `ticket` is the sender's place in the wait queue.
    pub(crate) fn poll_push(
        &mut self,
        value: &mut Option<T>,
        ticket: &mut Option<u64>,
        waker: &Waker,
    ) -> (Poll<Result<(), T>>, Wakes) {
        let v = value.take().expect("send polled after completion");
        match self.try_push(v) {
            Ok(mut wakes) => {
                if let Some(t) = ticket.take() {
                    self.send_waiters.retain(|(x, _)| *x != t);
                }
                // Space left and others waiting: pass the notice on.
                wakes.second = self.notify_one_sender();
                (Poll::Ready(Ok(())), wakes)
            }
            Err(Refused::Closed(v)) => {
                if let Some(t) = ticket.take() {
                    self.send_waiters.retain(|(x, _)| *x != t);
                }
                (Poll::Ready(Err(v)), Wakes::NONE)
            }
            Err(Refused::Full(v)) => {
                *value = Some(v);
                let queued =
                    ticket.and_then(|t| self.send_waiters.iter_mut().find(|(x, _)| *x == t));
                match queued {
                    Some((_, w)) => {
                        if !w.will_wake(waker) {
                            *w = waker.clone();
                        }
                    }
                    None => {
                        let t = self.next_ticket;
                        self.next_ticket += 1;
                        self.send_waiters.push_back((t, waker.clone()));
                        *ticket = Some(t);
                    }
                }
                (Poll::Pending, Wakes::NONE)
            }
        }
    }

    /// A waiting send was dropped. If it had already been told there is space, that
    /// notice goes to the next waiter.
    pub(crate) fn cancel_push(&mut self, ticket: u64) -> Option<Waker> {
        let before = self.send_waiters.len();
        self.send_waiters.retain(|(x, _)| *x != ticket);
        if self.send_waiters.len() == before {
            self.notify_one_sender()
        } else {
            None
        }
    }

    fn notify_one_sender(&mut self) -> Option<Waker> {
        if self.queue.len() < self.capacity && !self.closed {
            self.send_waiters.pop_front().map(|(_, w)| w)
        } else {
            None
        }
    }

    /// Takes a value if there is one; says whom to wake (one waiting sender).
    pub(crate) fn try_pop(&mut self) -> Option<(T, Option<Waker>)> {
        let v = self.queue.pop_front()?;
        Some((v, self.notify_one_sender()))
    }

    /// One poll of the receiver: `Ready(None)` once closed (or senderless) and drained.
    pub(crate) fn poll_pop(&mut self, waker: &Waker) -> (Poll<Option<T>>, Option<Waker>) {
        if let Some((v, w)) = self.try_pop() {
            return (Poll::Ready(Some(v)), w);
        }
        if self.is_closed() {
            return (Poll::Ready(None), None);
        }
        match &mut self.rx_waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        (Poll::Pending, None)
    }

    /// Refuses further sends; returns the waiting senders to wake (they see `Closed`).
    pub(crate) fn close(&mut self) -> VecDeque<(u64, Waker)> {
        self.closed = true;
        std::mem::take(&mut self.send_waiters)
    }

    /// Closes and takes every queued value (the receiver is gone), to be dropped by the
    /// caller outside its lock.
    pub(crate) fn close_and_drain(&mut self) -> (VecDeque<T>, VecDeque<(u64, Waker)>) {
        let waiters = self.close();
        (std::mem::take(&mut self.queue), waiters)
    }
}

/// Up to two wakers to wake after the lock is released.
#[derive(Debug)]
pub(crate) struct Wakes {
    pub(crate) first: Option<Waker>,
    pub(crate) second: Option<Waker>,
}

impl Wakes {
    pub(crate) const NONE: Wakes = Wakes {
        first: None,
        second: None,
    };

    pub(crate) fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        if let Some(w) = self.second {
            w.wake();
        }
    }
}
