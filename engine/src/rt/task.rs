//! Task identity and the join side of a spawned task: [`Domain`], [`TaskId`],
//! [`JoinHandle`] and [`JoinError`].
//!
//! Owns: the shared cell through which a task hands its output to its `JoinHandle`.
//! Must never: keep a task alive (a `JoinHandle` only observes; dropping it detaches).
//! Invariants: a task's output is stored at most once; a task that is dropped before it
//! finishes (aborted, its domain killed, or its executor dropped) resolves its handle to
//! `Err(JoinError::Cancelled)`, never leaves it pending forever.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::executor::Inner;
use super::slab::Key;

/// Which simulated machine a task belongs to. Production runs everything in
/// [`Domain::ROOT`]; the simulator tags each node's tasks so it can crash a node with
/// [`kill_domain`](super::kill_domain). A spawned task inherits its parent's domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain {
    pub node: u32,
    pub core: u32,
}

impl Domain {
    pub const ROOT: Domain = Domain { node: 0, core: 0 };
}

/// A task's identity inside its executor (slot index and generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) Key);

/// Why a [`JoinHandle`] has no output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The task was aborted, its domain was killed, or its executor was dropped before
    /// it finished.
    #[error("task cancelled before it finished")]
    Cancelled,
}

pub(crate) struct JoinState<T> {
    output: Option<Result<T, JoinError>>,
    waker: Option<Waker>,
}

impl<T> JoinState<T> {
    pub(crate) fn new() -> Rc<RefCell<JoinState<T>>> {
        Rc::new(RefCell::new(JoinState {
            output: None,
            waker: None,
        }))
    }
}

/// Completes the join state when the task finishes, or marks it cancelled when the
/// task's future is dropped first.
pub(crate) struct CompleteOnDrop<T> {
    pub(crate) state: Rc<RefCell<JoinState<T>>>,
    pub(crate) done: bool,
}

impl<T> CompleteOnDrop<T> {
    pub(crate) fn complete(mut self, value: T) {
        self.finish(Ok(value));
        self.done = true;
    }

    fn finish(&mut self, result: Result<T, JoinError>) {
        let waker = {
            let mut st = self.state.borrow_mut();
            st.output = Some(result);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for CompleteOnDrop<T> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Err(JoinError::Cancelled));
        }
    }
}

/// Awaits a spawned task's output. Dropping it detaches the task (it keeps running);
/// [`abort`](JoinHandle::abort) drops the task's future at once.
pub struct JoinHandle<T> {
    pub(crate) id: TaskId,
    pub(crate) state: Rc<RefCell<JoinState<T>>>,
    pub(crate) executor: Weak<Inner>,
}

impl<T> JoinHandle<T> {
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// True once the task has finished or was cancelled.
    pub fn is_finished(&self) -> bool {
        self.state.borrow().output.is_some()
    }

    /// Drops the task's future now (if it is not currently being polled; a task that
    /// aborts itself is dropped when its poll returns). The handle then resolves to
    /// `Err(JoinError::Cancelled)` unless the task had already finished.
    pub fn abort(&self) {
        if let Some(exec) = self.executor.upgrade() {
            exec.cancel_task(self.id);
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.state.borrow_mut();
        match st.output.take() {
            Some(out) => Poll::Ready(out),
            None => {
                match &mut st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
