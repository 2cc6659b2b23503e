//! The single-threaded executor: task storage, the ready queue and its scheduling
//! policy, the run loop, and the thread-local "current executor" behind the free
//! functions ([`spawn`], [`spawn_in`], [`kill_domain`], [`yield_now`], [`now`]).
//!
//! Owns: every spawned task's future (boxed, in a generational slab), the ready queue,
//! the timer heap (see `timer.rs`), and the [`Driver`] it parks on when nothing is ready.
//!
//! Must never: poll a task from another thread (futures are not `Send`); hold a
//! `RefCell` borrow of its own state while polling a future, dropping a future, or
//! calling the driver (all three may re-enter the executor); grow the ready queue
//! without bound (a task is queued at most once at a time: its `scheduled` flag dedups
//! wake-ups).
//!
//! Invariants: a task id is in the ready queue at most once between polls; a killed or
//! aborted task's id may linger in the queue and is skipped (generational key); wakes
//! from another thread go through the [`Remote`] inbox and the driver's [`Unpark`], and
//! are drained before every park, so no wake-up is lost; with [`Policy::Random`] every
//! choice comes from the seeded PRNG, so a run is a pure function of the seed and the
//! driver's events.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use super::rng::SplitMix64;
use super::slab::{Key, Slab};
use super::task::{CompleteOnDrop, Domain, JoinHandle, JoinState, TaskId};
use super::timer::Timers;
use crate::io::Instant;

/// What the executor calls when no task is ready. Implemented by the io_uring backend
/// (`uring::Ring`) and by the simulator.
pub trait Driver {
    /// The current time on this driver's clock (monotonic; virtual under simulation).
    /// Timers compare their deadlines against this.
    fn now(&self) -> Instant;

    /// The time on the clock of the tasks of `domain`. The same as [`now`](Driver::now)
    /// unless the driver gives domains clocks of their own (the simulator: each node
    /// has an offset and a drift); timers armed by a task run on its domain's clock.
    fn now_in(&self, domain: Domain) -> Instant {
        let _ = domain;
        self.now()
    }

    /// The instant on [`now`](Driver::now)'s clock at which `domain`'s clock reaches
    /// `deadline` (the first such instant). Identity unless domains have clocks of
    /// their own.
    fn deadline_in(&self, domain: Domain, deadline: Instant) -> Instant {
        let _ = domain;
        deadline
    }

    /// Submits pending work and waits for completions, waking the tasks they belong
    /// to. Returns when at least one completion was processed, when `deadline` has
    /// passed, or spuriously. `None` means wait without a deadline (the executor has
    /// no timer armed); `Some(t)` with `t <= now()` means do not block: only submit
    /// and reap what is already complete. The simulator advances virtual time to
    /// `min(deadline, next event)` and delivers that event.
    fn park(&self, deadline: Option<Instant>);

    /// A handle other threads use to interrupt [`park`](Driver::park) after they
    /// queued a wake-up for this executor. `None` (the default) means wakes only come
    /// from this thread (the simulator).
    fn unparker(&self) -> Option<Arc<dyn Unpark>> {
        None
    }

    /// Offers the thread's CPU to other threads that are ready to run on it, without
    /// sleeping. The executor calls it when a task [yielded to the I/O](yield_to_io) and
    /// nothing else is ready: a long stretch of CPU work in pieces, during which kernel
    /// work this core's I/O waits for may be queued behind it. Default: nothing (the
    /// simulator has no other threads).
    fn relinquish(&self) {}
}

/// Interrupts a parked driver from any thread (production: write to an eventfd whose
/// read is always in flight on the ring).
pub trait Unpark: Send + Sync {
    fn unpark(&self);
}

/// Which ready task runs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// First woken, first polled (production).
    #[default]
    Fifo,
    /// A seeded-random choice among the ready tasks (simulation: explores
    /// interleavings, replays exactly from the seed).
    Random { seed: u64 },
}

/// How many ready tasks run before the executor reaps completions again without
/// blocking, so a busy core still submits its I/O in batches and sees completions.
const POLL_BUDGET: u32 = 64;

/// Most parks a task in [`yield_to_io`] waits for the core to run out of other work:
/// a core that always has tasks ready still runs it once per this many poll budgets.
const YIELD_PARKS_MAX: u32 = 8;

/// The id the `block_on` future uses in the ready queue (never a slab key: a slab's
/// generations stay within `slab::GENERATION_MAX`, below `u32::MAX`, and the index
/// `u32::MAX` is never reached).
const MAIN_ID: TaskId = TaskId(Key {
    index: u32::MAX,
    generation: u32::MAX,
});

thread_local! {
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
}

/// Wake-ups that arrive from other threads.
pub(crate) struct Remote {
    inbox: Mutex<Vec<TaskId>>,
    pending: AtomicBool,
    unparker: OnceLock<Arc<dyn Unpark>>,
}

impl Remote {
    fn push(&self, id: TaskId) {
        let was_empty = {
            let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
            inbox.push(id);
            inbox.len() == 1
        };
        self.pending.store(true, Ordering::Release);
        if was_empty && let Some(u) = self.unparker.get() {
            u.unpark();
        }
    }
}

/// The waker of one task: where to queue it and whether it already is.
struct Header {
    id: TaskId,
    remote: Arc<Remote>,
    scheduled: AtomicBool,
}

impl Wake for Header {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let queued_locally = CURRENT
            .try_with(|cur| {
                let cur = cur.try_borrow().ok()?;
                let inner = cur.as_ref()?;
                if !Arc::ptr_eq(&inner.remote, &self.remote) {
                    return None;
                }
                inner.sched.borrow_mut().ready.push_back(self.id);
                Some(())
            })
            .ok()
            .flatten()
            .is_some();
        if !queued_locally {
            self.remote.push(self.id);
        }
    }
}

struct TaskSlot {
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    waker: Option<Waker>,
    header: Arc<Header>,
    domain: Domain,
}

struct Sched {
    ready: VecDeque<TaskId>,
    policy: Policy,
    rng: SplitMix64,
}

impl Sched {
    fn pop(&mut self) -> Option<TaskId> {
        match self.policy {
            Policy::Fifo => self.ready.pop_front(),
            Policy::Random { .. } => {
                if self.ready.is_empty() {
                    return None;
                }
                let i = self.rng.below(self.ready.len() as u64) as usize;
                self.ready.swap_remove_back(i)
            }
        }
    }
}

pub(crate) struct Inner {
    pub(crate) driver: Rc<dyn Driver>,
    sched: RefCell<Sched>,
    tasks: RefCell<Slab<TaskSlot>>,
    pub(crate) timers: RefCell<Timers>,
    remote: Arc<Remote>,
    /// Domain of the code now running (the polled task's, or the root domain).
    pub(crate) domain: Cell<Domain>,
    root_domain: Cell<Domain>,
    /// Tasks polled since the driver last parked, over every `block_on` call.
    polls_since_park: Cell<u32>,
    /// The root future's waker header between `block_on` calls.
    main_header: RefCell<Option<Arc<Header>>>,
    /// Tasks in [`yield_to_io`]: woken once the core has nothing else to run.
    after_park: RefCell<Vec<Waker>>,
    /// Parks since the tasks in `after_park` began to wait (see `YIELD_PARKS_MAX`).
    after_park_parks: Cell<u32>,
}

impl Inner {
    /// After a park: the tasks in [`yield_to_io`] run again if nothing else is ready
    /// (every completion reaped, every task it woke run), or once they waited
    /// `YIELD_PARKS_MAX` parks.
    fn wake_yielders(&self) {
        if self.after_park.borrow().is_empty() {
            return;
        }
        let parks = self.after_park_parks.get() + 1;
        if !self.sched.borrow().ready.is_empty() && parks < YIELD_PARKS_MAX {
            self.after_park_parks.set(parks);
            return;
        }
        self.after_park_parks.set(0);
        let yielded = std::mem::take(&mut *self.after_park.borrow_mut());
        for w in yielded {
            w.wake();
        }
    }

    fn spawn_in<F>(self: &Rc<Self>, domain: Domain, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let state = JoinState::new();
        let guard = CompleteOnDrop {
            state: state.clone(),
            done: false,
        };
        let task = async move {
            let guard = guard;
            let out = fut.await;
            guard.complete(out);
        };
        let boxed: Pin<Box<dyn Future<Output = ()>>> = Box::pin(task);
        let key = self.tasks.borrow_mut().insert_with(|key| {
            let header = Arc::new(Header {
                id: TaskId(key),
                remote: self.remote.clone(),
                scheduled: AtomicBool::new(true),
            });
            TaskSlot {
                future: Some(boxed),
                waker: Some(Waker::from(header.clone())),
                header,
                domain,
            }
        });
        let id = TaskId(key);
        self.sched.borrow_mut().ready.push_back(id);
        JoinHandle {
            id,
            state,
            executor: Rc::downgrade(self),
        }
    }

    pub(crate) fn cancel_task(&self, id: TaskId) {
        let removed = self.tasks.borrow_mut().remove(id.0);
        // Dropped here, after the borrow: the future's destructors may re-enter.
        drop(removed);
    }

    fn kill_where(&self, mut pred: impl FnMut(Domain) -> bool) -> usize {
        let mut victims = Vec::new();
        self.tasks
            .borrow_mut()
            .remove_where(|t| pred(t.domain), &mut victims);
        let n = victims.len();
        drop(victims);
        n
    }

    /// Wakes the tasks whose timers are due, reading the clock only if any is armed.
    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = self.driver.now();
        self.timers.borrow_mut().fire(now);
    }

    fn drain_remote(&self) {
        if !self.remote.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let ids = std::mem::take(&mut *self.remote.inbox.lock().unwrap_or_else(|e| e.into_inner()));
        self.sched.borrow_mut().ready.extend(ids);
    }

    fn poll_task(&self, id: TaskId) {
        let taken = {
            let mut tasks = self.tasks.borrow_mut();
            match tasks.get_mut(id.0) {
                Some(slot) => {
                    slot.header.scheduled.store(false, Ordering::Release);
                    match (slot.future.take(), slot.waker.take()) {
                        (Some(f), Some(w)) => Some((f, w, slot.domain)),
                        _ => None,
                    }
                }
                None => None,
            }
        };
        let Some((mut fut, waker, domain)) = taken else {
            return;
        };
        let outer = self.domain.replace(domain);
        let res = fut.as_mut().poll(&mut Context::from_waker(&waker));
        self.domain.set(outer);
        match res {
            Poll::Ready(()) => {
                let removed = self.tasks.borrow_mut().remove(id.0);
                drop(removed);
                drop(fut);
            }
            Poll::Pending => {
                let mut tasks = self.tasks.borrow_mut();
                if let Some(slot) = tasks.get_mut(id.0) {
                    slot.future = Some(fut);
                    slot.waker = Some(waker);
                } else {
                    // Killed or aborted while it ran: drop it now, outside the borrow.
                    drop(tasks);
                    drop(fut);
                }
            }
        }
    }
}

/// A single-threaded executor. See the module docs; most code uses [`Runtime`]
/// (executor + io_uring driver) instead of building one directly.
///
/// [`Runtime`]: super::Runtime
pub struct Executor {
    inner: Rc<Inner>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("tasks", &self.inner.tasks.borrow().len())
            .field("ready", &self.inner.sched.borrow().ready.len())
            .field("policy", &self.inner.sched.borrow().policy)
            .finish()
    }
}

impl Executor {
    pub fn new(driver: Rc<dyn Driver>, policy: Policy) -> Executor {
        let remote = Arc::new(Remote {
            inbox: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            unparker: OnceLock::new(),
        });
        if let Some(u) = driver.unparker() {
            let _ = remote.unparker.set(u);
        }
        let seed = match policy {
            Policy::Fifo => 0,
            Policy::Random { seed } => seed,
        };
        Executor {
            inner: Rc::new(Inner {
                driver,
                sched: RefCell::new(Sched {
                    ready: VecDeque::new(),
                    policy,
                    rng: SplitMix64::new(seed),
                }),
                tasks: RefCell::new(Slab::new()),
                timers: RefCell::new(Timers::default()),
                remote,
                domain: Cell::new(Domain::ROOT),
                root_domain: Cell::new(Domain::ROOT),
                polls_since_park: Cell::new(0),
                main_header: RefCell::new(None),
                after_park: RefCell::new(Vec::new()),
                after_park_parks: Cell::new(0),
            }),
        }
    }

    /// Sets the domain of the `block_on` future (and of tasks spawned from it).
    /// Default [`Domain::ROOT`].
    pub fn set_root_domain(&self, domain: Domain) {
        self.inner.root_domain.set(domain);
    }

    /// Spawns onto this executor in the root domain (usable before `block_on`).
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.spawn_in(self.inner.root_domain.get(), fut)
    }

    pub fn spawn_in<F>(&self, domain: Domain, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.spawn_in(domain, fut)
    }

    /// Drops every task of `domain`; returns how many. The `block_on` future is never
    /// killed.
    pub fn kill_domain(&self, domain: Domain) -> usize {
        self.inner.kill_where(|d| d == domain)
    }

    /// Drops every task whose domain matches `pred` (e.g. all cores of one node).
    pub fn kill_domains(&self, pred: impl FnMut(Domain) -> bool) -> usize {
        self.inner.kill_where(pred)
    }

    /// Number of live tasks (not counting the `block_on` future).
    pub fn task_count(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    pub fn now(&self) -> Instant {
        self.inner.driver.now()
    }

    /// Runs `fut` to completion on this thread, running spawned tasks meanwhile.
    /// Tasks still pending when `fut` completes stay in the executor and run again on
    /// the next `block_on`. Panics if called while another executor's `block_on` is
    /// running on this thread.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _enter = Enter::new(self.inner.clone());
        let inner = &*self.inner;
        let mut fut = std::pin::pin!(fut);
        // The root future's waker header is reused across calls (a fio-style caller
        // runs a `block_on` per I/O; an allocation each is a measurable share). A
        // nested call finds it taken and makes its own.
        let main = inner.main_header.borrow_mut().take().unwrap_or_else(|| {
            Arc::new(Header {
                id: MAIN_ID,
                remote: inner.remote.clone(),
                scheduled: AtomicBool::new(true),
            })
        });
        main.scheduled.store(true, Ordering::Release);
        let main_waker = Waker::from(main.clone());
        inner.sched.borrow_mut().ready.push_back(MAIN_ID);
        let out = 'run: loop {
            inner.drain_remote();
            // The budget is the executor's, not this call's: a caller that runs many
            // short `block_on`s (a fio-style submit/reap loop) must not starve the
            // driver of its non-blocking reaps.
            while inner.polls_since_park.get() < POLL_BUDGET {
                let next = inner.sched.borrow_mut().pop();
                let Some(id) = next else { break };
                inner.polls_since_park.set(inner.polls_since_park.get() + 1);
                if id == MAIN_ID {
                    main.scheduled.store(false, Ordering::Release);
                    let outer = inner.domain.replace(inner.root_domain.get());
                    let res = fut.as_mut().poll(&mut Context::from_waker(&main_waker));
                    inner.domain.set(outer);
                    if let Poll::Ready(v) = res {
                        break 'run v;
                    }
                } else {
                    inner.poll_task(id);
                }
            }
            inner.drain_remote();
            // The clock is read only when a timer is armed: a busy core parks (without
            // blocking) once per budget, and a clock read each time is a measurable
            // share of a small task's cost.
            inner.fire_timers();
            let deadline =
                if inner.sched.borrow().ready.is_empty() && inner.after_park.borrow().is_empty() {
                    inner.timers.borrow_mut().next_deadline()
                } else {
                    // Submit and reap only: the zero instant is past on every clock.
                    Some(Instant::ZERO)
                };
            inner.polls_since_park.set(0);
            // A task yielded to the I/O and nothing else is ready: the core is in a long
            // stretch of CPU work. Let the kernel run what waits for this CPU (on ext4 an
            // `RWF_DSYNC` write completes through a kworker on the CPU that took the
            // interrupt), which would otherwise wait for the scheduler to preempt us.
            if inner.sched.borrow().ready.is_empty() && !inner.after_park.borrow().is_empty() {
                inner.driver.relinquish();
            }
            inner.driver.park(deadline);
            inner.fire_timers();
            inner.drain_remote();
            inner.wake_yielders();
        };
        drop(main_waker);
        *inner.main_header.borrow_mut() = Some(main);
        out
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Drop every task's future with this executor current, so destructors that
        // spawn or touch timers find it; do it outside any borrow.
        let _enter = CURRENT
            .with(|c| c.borrow().is_none())
            .then(|| Enter::new(self.inner.clone()));
        let mut all = Vec::new();
        self.inner
            .tasks
            .borrow_mut()
            .remove_where(|_| true, &mut all);
        drop(all);
        self.inner.sched.borrow_mut().ready.clear();
    }
}

/// Makes an executor current on this thread for a scope.
struct Enter {
    prev: Option<Rc<Inner>>,
}

impl Enter {
    fn new(inner: Rc<Inner>) -> Enter {
        let prev = CURRENT.with(|c| c.borrow_mut().replace(inner.clone()));
        if let Some(p) = &prev {
            assert!(
                Rc::ptr_eq(p, &inner),
                "block_on inside another executor's block_on on the same thread"
            );
        }
        Enter { prev }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// Runs `f` with the current executor. Panics outside an executor (a caller bug).
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Inner>) -> R) -> R {
    let inner = CURRENT
        .with(|c| c.borrow().clone())
        .expect("no boreal executor is running on this thread");
    f(&inner)
}

/// The current executor, if any.
pub(crate) fn try_current() -> Option<Rc<Inner>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Spawns `fut` on the current executor, in the current task's domain.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|inner| inner.spawn_in(inner.domain.get(), fut))
}

/// Spawns `fut` on the current executor in `domain`; its own spawns inherit `domain`.
pub fn spawn_in<F>(domain: Domain, fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|inner| inner.spawn_in(domain, fut))
}

/// Drops every task of `domain` on the current executor; returns how many. A task that
/// kills its own domain is dropped when its current poll returns.
pub fn kill_domain(domain: Domain) -> usize {
    with_current(|inner| inner.kill_where(|d| d == domain))
}

/// Like [`kill_domain`] for every domain matching `pred`.
pub fn kill_domains(pred: impl FnMut(Domain) -> bool) -> usize {
    with_current(|inner| inner.kill_where(pred))
}

/// The domain of the running task.
pub fn current_domain() -> Domain {
    with_current(|inner| inner.domain.get())
}

/// The current executor's clock as the running task's domain sees it (its driver's
/// `now_in`).
pub fn now() -> Instant {
    with_current(|inner| inner.driver.now_in(inner.domain.get()))
}

/// Yields to everything else the core has to do: the task runs again once nothing
/// else is ready, after the executor reaped the completions (without blocking) and ran
/// the tasks they woke, and the tasks those woke; or, on a core that always has tasks
/// ready, after `YIELD_PARKS_MAX` poll budgets. For background work split into
/// pieces (the coalescer's passes): with a plain [`yield_now`] each piece ran before
/// the tasks woken after it, and with nothing else ready a whole poll budget of pieces
/// ran with the journal's finished writes unreaped and its next batch unsubmitted; an
/// append then waited for a whole pass's CPU (NVMe-NOTES "Yielding to the I/O").
/// When nothing else is ready the executor also offers the thread's CPU to other
/// threads before it reaps ([`Driver::relinquish`]): kernel work this core's own I/O
/// waits for may be queued behind the pieces (NVMe-NOTES "Where journal-128b-qd256's
/// p99.9 comes from").
pub async fn yield_to_io() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        match try_current() {
            Some(inner) => inner.after_park.borrow_mut().push(cx.waker().clone()),
            None => cx.waker().wake_by_ref(),
        }
        Poll::Pending
    })
    .await
}

/// Yields once: the task goes to the back of the ready queue.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
