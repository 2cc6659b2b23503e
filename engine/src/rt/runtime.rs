//! The production runtime: an [`Executor`] driven by one core's io_uring ring, and a
//! helper that starts N pinned core threads.
//!
//! Owns: the executor and the [`UringIo`] of one core (one thread). Must never: be
//! moved to another thread (it is `!Send`); share a ring between threads.
//! Invariants: the ring is created on the thread that will submit to it
//! (`SINGLE_ISSUER`); a core thread is pinned before its ring is created.

use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::thread;

use std::time::Duration;

use super::affinity::{allowed_cpus, pin_current_thread};
use super::executor::{Driver, Executor, Policy};
use crate::uring::{
    PARK_SPIN_DEFAULT, PARK_SPIN_MAX, RING_ENTRIES_DEFAULT, RING_ENTRIES_MAX, RING_ENTRIES_MIN,
    Ring, RingInfo, UringIo,
};

/// How to build a [`Runtime`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// CPU to pin the calling thread to. Default `None` (not pinned).
    /// [`start_cores`] sets it per core.
    pub cpu: Option<usize>,
    /// Submission queue entries of the ring (the completion queue gets twice as many).
    /// Default 256, minimum 8, maximum 32768.
    pub ring_entries: u32,
    /// Scheduling policy. Default FIFO; `Random` only makes sense for testing.
    pub policy: Policy,
    /// Print the ring setup line to stderr. Default false; the environment variable
    /// `BOREAL_LOG` (set, not `0`) turns it on too.
    pub verbose: bool,
    /// How long the core polls for completions before it sleeps in the kernel, while
    /// file operations are in flight (a socket waiting on a peer does not count). Default [`PARK_SPIN_DEFAULT`] (50 µs; measured in
    /// NVMe-NOTES "Polling before sleeping"); zero never polls; at most
    /// [`PARK_SPIN_MAX`]. It costs at most this much CPU per sleep.
    pub park_spin: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cpu: None,
            ring_entries: RING_ENTRIES_DEFAULT,
            policy: Policy::Fifo,
            verbose: false,
            park_spin: PARK_SPIN_DEFAULT,
        }
    }
}

impl RuntimeConfig {
    /// Refuses values the runtime cannot run with, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        if !(RING_ENTRIES_MIN..=RING_ENTRIES_MAX).contains(&self.ring_entries) {
            return Err(format!(
                "ring_entries = {}: must be within {RING_ENTRIES_MIN}..={RING_ENTRIES_MAX}",
                self.ring_entries
            ));
        }
        if self.park_spin > PARK_SPIN_MAX {
            return Err(format!(
                "park_spin = {:?}: must be at most {PARK_SPIN_MAX:?}",
                self.park_spin
            ));
        }
        Ok(())
    }
}

fn log_enabled(config: &RuntimeConfig) -> bool {
    config.verbose || std::env::var_os("BOREAL_LOG").is_some_and(|v| !v.is_empty() && v != "0")
}

/// One core's runtime: executor + io_uring.
pub struct Runtime {
    // Field order is drop order: tasks (and their in-flight ops) go before the ring
    // handle, and the ring drains the kernel's hold on their buffers when it drops.
    executor: Executor,
    io: UringIo,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("executor", &self.executor)
            .field("ring", self.io.ring_info())
            .finish()
    }
}

impl Runtime {
    /// Pins the calling thread (if `config.cpu` is set) and creates its ring and
    /// executor. Call it on the thread that will run `block_on`. A kernel without an
    /// io_uring feature the runtime needs is refused with `ErrorKind::Unsupported`,
    /// whose inner error is a [`KernelTooOld`](crate::uring::KernelTooOld) naming each
    /// missing feature and the Linux release that brings it.
    pub fn new(config: RuntimeConfig) -> io::Result<Runtime> {
        config
            .validate()
            .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        if let Some(cpu) = config.cpu {
            pin_current_thread(cpu)?;
        }
        let ring = Rc::new(Ring::new(config.ring_entries, config.park_spin)?);
        if log_enabled(&config) {
            let cpu = config
                .cpu
                .map_or_else(|| "unpinned".to_string(), |c| format!("cpu{c}"));
            eprintln!("boreal rt {cpu}: {}", ring.info());
        }
        let io = UringIo::from_ring(ring.clone());
        let driver: Rc<dyn Driver> = ring;
        Ok(Runtime {
            executor: Executor::new(driver, config.policy),
            io,
        })
    }

    /// This core's I/O backend.
    pub fn io(&self) -> &UringIo {
        &self.io
    }

    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    pub fn ring_info(&self) -> &RingInfo {
        self.io.ring_info()
    }

    /// Runs `fut` to completion on this thread, with spawned tasks and I/O.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.executor.block_on(fut)
    }
}

/// What a core's closure gets.
#[derive(Debug)]
pub struct CoreContext {
    /// Index of this core among those started, `0..count`.
    pub core: usize,
    /// The CPU the thread is pinned to.
    pub cpu: usize,
    /// This core's I/O backend.
    pub io: UringIo,
}

/// Running core threads; [`Cores::join`] waits for them.
#[derive(Debug)]
pub struct Cores<T> {
    threads: Vec<thread::JoinHandle<io::Result<T>>>,
}

impl<T> Cores<T> {
    /// Waits for every core; one result per core, in core order: the future's output,
    /// or the error that stopped the runtime from starting. A core that panicked
    /// re-raises its panic here.
    pub fn join(self) -> Vec<io::Result<T>> {
        self.threads
            .into_iter()
            .map(|t| match t.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    }
}

/// Starts `count` threads, core `i` pinned to the `i`-th allowed CPU (wrapping when
/// there are fewer CPUs than cores), each with its own [`Runtime`] built from `config`
/// (its `cpu` field is replaced), running the future `f(ctx)` returns.
pub fn start_cores<F, Fut>(
    count: usize,
    config: RuntimeConfig,
    f: F,
) -> io::Result<Cores<Fut::Output>>
where
    F: Fn(CoreContext) -> Fut + Send + Sync + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    config
        .validate()
        .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
    let cpus = allowed_cpus()?;
    if cpus.is_empty() {
        return Err(io::Error::other("no CPU allowed for this thread"));
    }
    let f = Arc::new(f);
    let mut threads = Vec::with_capacity(count);
    for core in 0..count {
        let cpu = cpus[core % cpus.len()];
        let config = RuntimeConfig {
            cpu: Some(cpu),
            ..config.clone()
        };
        let f = f.clone();
        let t = thread::Builder::new()
            .name(format!("boreal-core-{core}"))
            .spawn(move || {
                let rt = Runtime::new(config)?;
                let io = rt.io().clone();
                Ok(rt.block_on(f(CoreContext { core, cpu, io })))
            })?;
        threads.push(t);
    }
    Ok(Cores { threads })
}
