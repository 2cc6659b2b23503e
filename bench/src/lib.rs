//! boreal-bench: a fio-style benchmark harness.
//!
//! fio job files (or the same options on the command line) come in; fio-compatible
//! JSON, fio-like text, and HdrHistogram interval logs come out. The harness owns the
//! measurement loop, the histograms and the reports; an [`engine::IoEngine`] owns only
//! "how an I/O reaches the device" (pread/pwrite today; boreal's io_uring runtime, the
//! per-core journal and the whole cluster later). The crate never interprets a latency
//! it did not measure itself, and it never lets an engine decide what is counted.
//!
//! Layout of the crate, one concept per file:
//! - [`cli`]: the command line sorted into harness options, job files and job options.
//! - [`job`]: job files and command-line job options, parsed and validated.
//! - [`plan`]: jobs expanded into one thread per job copy (`numjobs`), with files and
//!   the CPUs each may run on (none pinned unless asked, as fio).
//! - [`placement`]: which CPUs take the device's interrupts.
//! - [`workload`]: the offsets, sizes and directions a job's I/Os take.
//! - [`run`]: a whole run: plan, layout, threads, results.
//! - [`error`]: the crate's error type; [`interrupt`]: SIGINT/SIGTERM writes what was
//!   measured; [`memory`]: a job whose buffers cannot fit is refused up front.
//! - [`layout`]: pre-writing files before timing, so no measurement hits sparse blocks.
//! - [`engine`]: the engine trait and the `psync`, `io_uring` and `boreal-journal` engines.
//! - [`runner`]: the per-thread measurement loop, on the job's [`clock`].
//! - [`rate`]: `rate`/`rate_iops` schedules (open-loop), linear or poisson.
//! - [`coord`]: what a stonewall group's threads share (`exitall`, `wait_for`, `flow`).
//! - [`verify`]: verify headers, patterns and the check of blocks read back.
//! - [`joblog`]: fio's `write_lat_log`/`write_bw_log`/`write_iops_log` files.
//! - [`stats`]: histograms and counters, merged after the run.
//! - [`output`]: fio-style `normal`, `json` and `json+` reports.
//! - [`hdrlog`]: HdrHistogram interval logs.
//! - [`progress`]: the terminal progress line.
//! - [`compare`]: alternating A/B runs against fio.
//! - [`default_job`]: the embedded job run when no job is given.
//! - [`memory`]: the run's buffers against the memory available, checked up front.
//! - [`interrupt`]: SIGINT/SIGTERM end the run early and keep what was measured.
//! - [`affinity`]: thread pinning, per-thread CPU time and signal handlers (the crate's
//!   only `unsafe`).

pub mod affinity;
pub mod cli;
pub mod clock;
pub mod compare;
pub mod coord;
pub mod default_job;
pub mod engine;
pub mod error;
pub mod hdrlog;
pub mod interrupt;
pub mod job;
pub mod joblog;
pub mod layout;
pub mod memory;
pub mod output;
pub mod placement;
pub mod plan;
pub mod progress;
pub mod rate;
pub mod run;
pub mod runner;
pub mod settle;
pub mod stats;
pub mod verify;
pub mod workload;

pub use error::BenchError;

/// The version string written into every JSON report as `"boreal-bench version"`.
pub const VERSION: &str = concat!("boreal-bench-", env!("CARGO_PKG_VERSION"));
