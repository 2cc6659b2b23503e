//! Bounded multi-producer, single-consumer queues between cores (threads).
//!
//! Owns: a queue of at most `capacity` values behind an `Arc<Mutex<_>>` (the same state
//! machine as the in-core [`channel`](super::channel), see `chan_state.rs`). Both ends
//! are `Send`; the receiver lives on one core, senders on any.
//!
//! How the receiver is woken: its waker is its executor's task waker. Woken from
//! another thread, that waker queues the task in the executor's remote inbox and calls
//! the driver's [`Unpark`](super::Unpark), which for the io_uring driver writes the
//! core's eventfd; a read of that eventfd is always in flight on the core's ring, so
//! the ring's `io_uring_enter` returns and the executor drains the inbox. A sender only
//! wakes the receiver when it registered a waker (it was about to park), so a busy
//! receiver costs no eventfd write per message.
//!
//! Must never: grow past `capacity` (a full queue makes [`Sender::send`] wait on its
//! own core, [`Sender::try_send`] returns `Full`: backpressure, not growth); wake while
//! holding its mutex.
//!
//! Close semantics are those of [`channel`](super::channel).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use super::chan_state::{ChanState, Refused};
pub use super::channel::{SendError, TryRecvError, TrySendError};

/// Creates a bounded cross-core queue holding at most `capacity` (> 0) values.
pub fn channel<T: Send>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(ChanState::new(capacity)));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

fn lock<T>(m: &Mutex<ChanState<T>>) -> MutexGuard<'_, ChanState<T>> {
    // A panic while holding this lock cannot leave the state half-updated in a way
    // that matters more than the panic itself; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending half; `Send + Sync + Clone`.
pub struct Sender<T> {
    shared: Arc<Mutex<ChanState<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting (on this core's executor) while the queue is full.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = Some(value);
        let mut guard = TicketGuard {
            shared: &self.shared,
            ticket: None,
        };
        std::future::poll_fn(|cx| {
            let (poll, wakes) =
                lock(&self.shared).poll_push(&mut value, &mut guard.ticket, cx.waker());
            wakes.wake();
            poll.map(|r| r.map_err(SendError))
        })
        .await
    }

    /// Sends without waiting; `Full` is backpressure.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let res = lock(&self.shared).try_push(value);
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
        lock(&self.shared).is_closed()
    }

    pub fn len(&self) -> usize {
        lock(&self.shared).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        lock(&self.shared).capacity()
    }
}

struct TicketGuard<'a, T> {
    shared: &'a Arc<Mutex<ChanState<T>>>,
    ticket: Option<u64>,
}

impl<T> Drop for TicketGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            let next = lock(self.shared).cancel_push(t);
            if let Some(w) = next {
                w.wake();
            }
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared).add_sender();
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let w = lock(&self.shared).drop_sender();
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.shared);
        f.debug_struct("cross::Sender")
            .field("len", &s.len())
            .field("capacity", &s.capacity())
            .finish()
    }
}

/// The receiving half; `Send`, so it can be moved to the core that consumes.
pub struct Receiver<T> {
    shared: Arc<Mutex<ChanState<T>>>,
}

impl<T> Receiver<T> {
    /// The next value; `None` once closed (or senderless) and drained.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| {
            let (poll, w) = lock(&self.shared).poll_pop(cx.waker());
            if let Some(w) = w {
                w.wake();
            }
            poll
        })
        .await
    }

    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = lock(&self.shared);
        match st.try_pop() {
            Some((v, w)) => {
                drop(st);
                if let Some(w) = w {
                    w.wake();
                }
                Ok(v)
            }
            None if st.is_closed() => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses further sends; queued values can still be received.
    pub fn close(&mut self) {
        let waiters = lock(&self.shared).close();
        for (_, w) in waiters {
            w.wake();
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.shared).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (values, waiters) = lock(&self.shared).close_and_drain();
        drop(values);
        for (_, w) in waiters {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.shared);
        f.debug_struct("cross::Receiver")
            .field("len", &s.len())
            .field("capacity", &s.capacity())
            .finish()
    }
}
