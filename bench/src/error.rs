//! The crate's one error type.
//!
//! Every variant carries what a person needs to fix the input or find the failing I/O:
//! the option, the value and where it was written (file and line, or command-line
//! argument), or the operation, file and offset of a failed I/O. Library code returns
//! these; only `main` turns them into `anyhow` reports.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where an option was written: a line of a job file or a command-line argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `path:line` of a job file (lines count from 1).
    File { path: PathBuf, line: usize },
    /// A command-line argument, as typed.
    CommandLine { arg: String },
    /// A default or a value derived from other options.
    Derived,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{}", path.display(), line),
            Origin::CommandLine { arg } => write!(f, "command-line argument `{arg}`"),
            Origin::Derived => write!(f, "(derived)"),
        }
    }
}

/// The job sections an unknown `--section` could have named, for its message.
fn sections_listed(available: &[String]) -> String {
    if available.is_empty() {
        "there are no job sections (give a job file, or --name=NAME)".to_string()
    } else {
        format!(
            "the jobs are: {} ([global] always applies)",
            available.join(", ")
        )
    }
}

/// Everything that can go wrong in boreal-bench.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A job file or command line has a line that is not `[section]`, `key`, or `key=value`.
    #[error("{origin}: {message}")]
    Syntax { origin: Origin, message: String },

    /// An option fio has (or that nobody has) which boreal-bench does not implement.
    #[error("{origin}: option `{option}` is not supported by boreal-bench{hint}")]
    UnsupportedOption {
        option: String,
        origin: Origin,
        hint: String,
    },

    /// A value that does not parse or is out of the allowed range.
    #[error("{origin}: option `{option}`: value `{value}` is invalid: {reason}")]
    BadValue {
        option: String,
        value: String,
        origin: Origin,
        reason: String,
    },

    /// `--section=NAME` names no job section (fio's `--section`, [`crate::job::select`]).
    #[error("--section={name}: no job section is named `{name}`; {}", sections_listed(.available))]
    UnknownSection {
        name: String,
        /// The job sections there are, in order, each once.
        available: Vec<String>,
    },

    /// Options that are each valid but do not make a runnable job together.
    #[error("job `{job}`: {message}")]
    Job { job: String, message: String },

    /// Reading a job file failed.
    #[error("cannot read job file {path}: {source}")]
    JobFile {
        path: PathBuf,
        source: std::io::Error,
    },

    /// An I/O of the benchmark (or of layout) failed.
    #[error("{op} {path} at offset {offset}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        offset: u64,
        source: std::io::Error,
    },

    /// boreal's storage engine refused to start or stopped (`boreal-journal`).
    #[error("{op} {path}: {message}")]
    Engine {
        op: &'static str,
        path: PathBuf,
        message: String,
    },

    /// An I/O transferred fewer bytes than asked.
    #[error("short {op} on {path} at offset {offset}: {got} of {expected} bytes")]
    ShortIo {
        op: &'static str,
        path: PathBuf,
        offset: u64,
        got: usize,
        expected: usize,
    },

    /// A block read back with `verify` is not what was written.
    #[error("verify failed on {path} at offset {offset}: {reason}")]
    Verify {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    /// No I/O of a `boreal-cluster` job completed for `boreal_stall_timeout` while
    /// I/Os were in flight (`engine::cluster::stall`).
    #[error(
        "the boreal-cluster job in {} stalled: no I/O completed for {:.1}s with {in_flight} I/Os in flight (boreal_stall_timeout={}); {detail}",
        path.display(),
        idle.as_secs_f64(),
        crate::job::options::format_time(*limit)
    )]
    Stalled {
        path: PathBuf,
        /// How long nothing completed.
        idle: Duration,
        /// The job's `boreal_stall_timeout`.
        limit: Duration,
        in_flight: usize,
        /// The shim's watermarks and each node's state, and what became of the cluster.
        detail: String,
    },

    /// The job asks for an engine this build cannot run.
    #[error("ioengine `{engine}` is not available: {reason}")]
    EngineUnavailable { engine: String, reason: String },

    /// Writing a report or log failed.
    #[error("cannot write {what} to {path}: {source}")]
    Output {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The default job's scratch directory cannot be created or written.
    #[error(
        "cannot use {path} as the default job's scratch directory: {source}; run boreal-bench from a writable directory (e.g. the workspace root), or give it a job"
    )]
    ScratchDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Pinning a thread or reading the CPU set failed.
    #[error("cpu affinity for cpu {cpu}: {source}")]
    Affinity { cpu: usize, source: std::io::Error },

    /// Running fio for `--compare-fio` failed.
    #[error("fio: {0}")]
    Fio(String),

    /// A SIGINT or SIGTERM came when nothing could be reported.
    #[error("stopped by {signal} while {during}")]
    Interrupted {
        signal: &'static str,
        during: &'static str,
    },

    /// A job thread panicked (a bug in boreal-bench or an engine).
    #[error("job thread `{job}` panicked")]
    ThreadPanicked { job: String },

    /// A job failed after it started measuring: its error, and what the run measured
    /// until then (the failed job's figures marked with its error), so the reports
    /// can still be written. Prints as the job's error.
    #[error("{error}")]
    JobFailed {
        error: Box<BenchError>,
        measured: Box<crate::run::RunResult>,
    },
}

impl BenchError {
    /// The errno fio would report for this error in a job's `error` field: the OS
    /// error of a failed I/O, `ETIMEDOUT` for a stalled job, `EILSEQ` for a verify
    /// mismatch (fio's), else `EIO`.
    pub fn errno(&self) -> i32 {
        match self {
            BenchError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            BenchError::Verify { .. } => libc::EILSEQ,
            BenchError::Stalled { .. } => libc::ETIMEDOUT,
            BenchError::JobFailed { error, .. } => error.errno(),
            _ => libc::EIO,
        }
    }
}
