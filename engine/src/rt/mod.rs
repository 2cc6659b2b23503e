//! `engine::rt`: boreal's per-core async runtime.
//!
//! One single-threaded executor per core, pinned to its CPU, driven by that core's
//! io_uring ring. Tasks are not `Send` (`Rc`/`RefCell` are fine); nothing is shared
//! between cores except through [`cross`] queues. The same executor runs under the
//! deterministic simulator, which plugs in through three hooks.
//!
//! What it owns: tasks and their ready queue ([`Executor`]), timers (a heap keyed by
//! [`Instant`](crate::io::Instant) on the driver's clock), bounded in-core channels
//! ([`channel`]), bounded cross-core queues ([`cross`]), CPU pinning, and the
//! production [`Runtime`] (executor + [`UringIo`](crate::uring::UringIo)).
//!
//! What it must never do: read a clock or a random source of its own (time comes from
//! the [`Driver`], randomness from the seeded [`Policy`]); grow a queue past its bound;
//! poll a task off its thread.
//!
//! # Hook 1: the driver
//!
//! ```ignore
//! pub trait Driver {
//!     fn now(&self) -> Instant;
//!     fn park(&self, deadline: Option<Instant>);
//!     fn unparker(&self) -> Option<Arc<dyn Unpark>> { None }
//!     fn relinquish(&self) {}
//! }
//! pub trait Unpark: Send + Sync { fn unpark(&self); }
//! ```
//!
//! The run loop ([`Executor::block_on`]): poll up to 64 ready tasks (the `block_on`
//! future is one of them), fire timers whose deadline is `<= driver.now()`, then call
//! `driver.park(d)` where `d` is `Some(now)` if tasks are still ready (do not block:
//! just submit and reap), else the earliest timer deadline, or `None` if no timer is
//! armed (wait for a completion). After `park` timers are fired again against the
//! driver's new `now()`. The io_uring driver parks in one `io_uring_enter` (submit +
//! wait, with an EXT_ARG timeout for the deadline); while file operations are in flight it
//! first submits and polls the ring for up to `RuntimeConfig::park_spin` (a sleeping
//! vCPU's wake-up costs tens of µs here). The simulator's driver advances
//! virtual time to `min(deadline, its next event)`, delivers events due by then
//! (waking tasks through the wakers its futures registered), and returns; if it has no
//! event and `deadline` is `None` the simulation is deadlocked and it should say so.
//! `unparker` lets other threads interrupt `park` (eventfd on the ring); the simulator
//! is single-threaded and returns `None`. `relinquish` offers the thread's CPU to other
//! threads without sleeping (`sched_yield` on the ring; nothing in the simulator); the
//! run loop calls it before parking when a task yielded to the I/O
//! ([`yield_to_io`]) and nothing else is ready.
//!
//! # Hook 2: scheduling policy
//!
//! ```ignore
//! pub enum Policy { Fifo, Random { seed: u64 } }
//! impl Executor { pub fn new(driver: Rc<dyn Driver>, policy: Policy) -> Executor }
//! ```
//!
//! `Fifo` polls ready tasks in wake order (production). `Random { seed }` picks
//! uniformly among the ready tasks with [`SplitMix64`] seeded by `seed`, so every
//! interleaving choice replays from the seed. Task ids come from a slab (deterministic)
//! and nothing iterates a hash map.
//!
//! # Hook 3: domains
//!
//! ```ignore
//! pub struct Domain { pub node: u32, pub core: u32 }   // Domain::ROOT = {0, 0}
//! pub fn spawn<F: Future + 'static>(fut: F) -> JoinHandle<F::Output>;   // inherits
//! pub fn spawn_in<F: Future + 'static>(domain: Domain, fut: F) -> JoinHandle<F::Output>;
//! pub fn kill_domain(domain: Domain) -> usize;
//! pub fn kill_domains(pred: impl FnMut(Domain) -> bool) -> usize;
//! pub fn current_domain() -> Domain;
//! impl Executor { pub fn set_root_domain(&self, d: Domain); pub fn spawn_in(..); pub fn kill_domain(..) }
//! ```
//!
//! Every task carries a domain; a task spawned with [`spawn`] inherits the running
//! task's domain, [`spawn_in`] sets it. [`kill_domain`] drops every task of that domain
//! at once (their `JoinHandle`s resolve to `Err(JoinError::Cancelled)`, their timers
//! are removed, their in-flight I/O is orphaned): the simulator crashes a node with
//! `kill_domains(|d| d.node == n)`. The `block_on` future is never killed.
//!
//! Time for both backends: `Clock::sleep_until` is [`sleep_until`], the executor's
//! timer, which compares deadlines against `Driver::now()`; so virtual time works
//! unchanged.

#![allow(
    unsafe_code,
    reason = "CPU affinity syscalls and the cycle clock's rdtsc; every block has a SAFETY note"
)]

mod affinity;
mod chan_state;
pub mod channel;
pub mod cross;
pub mod cycles;
mod executor;
mod rng;
mod runtime;
pub(crate) mod slab;
mod task;
mod timer;

pub use self::affinity::{allowed_cpus, pin_current_thread};
pub use self::executor::{
    Driver, Executor, Policy, Unpark, current_domain, kill_domain, kill_domains, now, spawn,
    spawn_in, yield_now, yield_to_io,
};
pub use self::rng::SplitMix64;
pub use self::runtime::{CoreContext, Cores, Runtime, RuntimeConfig, start_cores};
pub use self::task::{Domain, JoinError, JoinHandle, TaskId};
pub use self::timer::{Elapsed, Sleep, sleep, sleep_until, timeout, timeout_at, timers_armed};
