//! The per-core journal: durable, group-committed, recycled, recoverable.
//!
//! Each core owns one journal, shared by every segment (PG) the core owns, so one
//! write+sync covers every PG on that core. What it owns:
//! - `config`: [`JournalConfig`] and [`DurabilityMode`];
//! - `files`: which files are live, free, their generations and what pins them (the
//!   release rule; sans-I/O);
//! - `lifecycle`: `Journal::create` (pre-allocate and pre-write every file) and
//!   `Journal::open` (recovery);
//! - `writer`: [`Journal`]: `append` (group commit), `release`, `stats`; fail-stop on
//!   any write or sync error; `flusher`: the tasks that write batches durably;
//!   `pipeline`: the rules of which batch may be written when and what a completion
//!   acknowledges (sans-I/O);
//! - `scan`: recovery's reading side and [`RecoveredRecords`];
//! - `judge`: what one region of a file is, from its bytes (sans-I/O);
//! - `decide`: recovery's decision table ([`RECOVERY_CASES`]) and what it guarantees,
//!   and what a damaged range may have held ([`MISSING_CASES`]). `judge` and `decide`
//!   are public so that `boreal verify` judges a data dir with this very policy.
//!
//! It never interprets records beyond their PG and LSN (the hot log does), never
//! retries a failed write, never unlinks or creates a file after `create`, and does all
//! I/O through `I: Io`.
//!
//! On disk: `dir/journal-NNNN.brj`, `files` of them, each `file_bytes` long, each a
//! 4 KiB `JournalFileHeader` followed by batches in the `boreal-segment` batch format,
//! 4 KiB-aligned, back to back per file generation (see `segment/FORMAT.md`).

mod config;
pub mod decide;
mod error;
mod files;
mod flusher;
pub mod judge;
mod lifecycle;
mod pipeline;
mod scan;
mod writer;

pub use self::config::{
    DurabilityMode, JOURNAL_ALIGN_BYTES, JOURNAL_FILES_MAX, JOURNAL_FILES_MIN, JournalConfig,
    PIPELINE_DEPTH_MAX, RECOVERY_READ_BYTES_MAX, RECOVERY_READ_BYTES_MIN, file_path,
};
pub use self::decide::{
    Action, Evidence, MISSING_CASES, MissingAction, MissingCase, MissingContents, MissingRange,
    Observation, Position, RECOVERY_CASES, RecoveryCase, RegionKind, decide,
};
pub use self::error::{FailedOp, JournalError};
pub use self::lifecycle::{Recovered, TailPos};
pub(crate) use self::scan::BatchPin;
pub use self::scan::{RecordPos, RecoveredBatch, RecoveredRecords};
pub use self::writer::{Appended, Journal, JournalStats, ToJournal};
