//! Bounded multi-producer, single-consumer channels between tasks of one core.
//!
//! Owns: a queue of at most `capacity` values behind an `Rc<RefCell<_>>` (see
//! `chan_state.rs` for the state machine). Not `Send`: both ends stay on their core;
//! use [`cross`](super::cross) between cores.
//!
//! Must never: grow past `capacity` (a full channel makes [`Sender::send`] wait: that
//! is the backpressure); wake anyone while its `RefCell` is borrowed.
//!
//! Close semantics: [`Receiver::close`] (or dropping the receiver) refuses further
//! sends (`Err(SendError(v))` returns the value); values already queued can still be
//! received after `close`. When every [`Sender`] is dropped, [`Receiver::recv`] returns
//! the queued values and then `None`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::chan_state::{ChanState, Refused};

/// The receiver is gone or closed; the value comes back.
#[derive(PartialEq, Eq, thiserror::Error)]
#[error("channel closed")]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// Why [`Sender::try_send`] did not take the value; it comes back.
#[derive(PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<T> {
    #[error("channel full")]
    Full(T),
    #[error("channel closed")]
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    #[error("channel empty")]
    Empty,
    #[error("channel closed and drained")]
    Closed,
}

/// Creates a bounded channel holding at most `capacity` (> 0) values.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(ChanState::new(capacity)));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending half; clone it for more producers.
pub struct Sender<T> {
    shared: Rc<RefCell<ChanState<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Cancel-safe: dropping the
    /// future drops the value and never loses another sender's turn.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = Some(value);
        let mut guard = TicketGuard {
            shared: &self.shared,
            ticket: None,
        };
        std::future::poll_fn(|cx| {
            let (poll, wakes) =
                self.shared
                    .borrow_mut()
                    .poll_push(&mut value, &mut guard.ticket, cx.waker());
            wakes.wake();
            poll.map(|r| r.map_err(SendError))
        })
        .await
    }

    /// Sends without waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let res = self.shared.borrow_mut().try_push(value);
        match res {
            Ok(wakes) => {
                wakes.wake();
                Ok(())
            }
            Err(Refused::Full(v)) => Err(TrySendError::Full(v)),
            Err(Refused::Closed(v)) => Err(TrySendError::Closed(v)),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.shared.borrow().is_closed()
    }

    pub fn len(&self) -> usize {
        self.shared.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.shared.borrow().capacity()
    }
}

struct TicketGuard<'a, T> {
    shared: &'a Rc<RefCell<ChanState<T>>>,
    ticket: Option<u64>,
}

impl<T> Drop for TicketGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            let next = self.shared.borrow_mut().cancel_push(t);
            if let Some(w) = next {
                w.wake();
            }
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().add_sender();
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let w = self.shared.borrow_mut().drop_sender();
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.borrow();
        f.debug_struct("Sender")
            .field("len", &s.len())
            .field("capacity", &s.capacity())
            .finish()
    }
}

/// The receiving half.
pub struct Receiver<T> {
    shared: Rc<RefCell<ChanState<T>>>,
}

impl<T> Receiver<T> {
    /// The next value; `None` once the channel is closed (or has no senders) and empty.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| {
            let (poll, w) = self.shared.borrow_mut().poll_pop(cx.waker());
            if let Some(w) = w {
                w.wake();
            }
            poll
        })
        .await
    }

    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let popped = self.shared.borrow_mut().try_pop();
        match popped {
            Some((v, w)) => {
                if let Some(w) = w {
                    w.wake();
                }
                Ok(v)
            }
            None if self.shared.borrow().is_closed() => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses further sends; queued values can still be received.
    pub fn close(&mut self) {
        let waiters = self.shared.borrow_mut().close();
        for (_, w) in waiters {
            w.wake();
        }
    }

    pub fn len(&self) -> usize {
        self.shared.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (values, waiters) = self.shared.borrow_mut().close_and_drain();
        drop(values);
        for (_, w) in waiters {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.borrow();
        f.debug_struct("Receiver")
            .field("len", &s.len())
            .field("capacity", &s.capacity())
            .finish()
    }
}
