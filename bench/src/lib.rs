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
//! - [`job`]: job files and command-line job options, parsed and validated.
//! - [`plan`]: jobs expanded into one thread per job copy (`numjobs`), with files and cores.
//! - [`placement`]: which CPU each job thread runs on.
//! - [`workload`]: the offsets, sizes and directions a job's I/Os take.
//! - [`run`]: a whole run: plan, layout, threads, results.
//! - [`error`]: the crate's error type.
//! - [`layout`]: pre-writing files before timing, so no measurement hits sparse blocks.
//! - [`engine`]: the engine trait and the `psync`, `io_uring` and `boreal-journal` engines.
//! - [`runner`]: the per-thread measurement loop (open-loop when `rate_iops` is set).
//! - [`stats`]: histograms and counters, merged after the run.
//! - [`output`]: fio-style `normal`, `json` and `json+` reports.
//! - [`hdrlog`]: HdrHistogram interval logs.
//! - [`progress`]: the terminal progress line.
//! - [`compare`]: alternating A/B runs against fio.
//! - [`default_job`]: the embedded job run when no job is given.
//! - [`affinity`]: thread pinning and per-thread CPU time (the crate's only `unsafe`).

pub mod affinity;
pub mod compare;
pub mod default_job;
pub mod engine;
pub mod error;
pub mod hdrlog;
pub mod job;
pub mod layout;
pub mod output;
pub mod placement;
pub mod plan;
pub mod progress;
pub mod run;
pub mod runner;
pub mod stats;
pub mod workload;

pub use error::BenchError;

/// The version string written into every JSON report as `"boreal-bench version"`.
pub const VERSION: &str = concat!("boreal-bench-", env!("CARGO_PKG_VERSION"));
