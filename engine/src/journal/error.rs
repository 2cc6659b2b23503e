//! The one error type of the journal.
//!
//! Every variant names what failed with enough context (op, file, offset, record index)
//! for a log line alone to be useful. I/O errors are kept as their errno and message
//! (an `io::Error` is not `Clone`, and a fail-stop failure is handed to every waiter).

use std::fmt;
use std::io;

use boreal_segment::JournalFileId;

/// The operation that failed and put the journal in its permanent failed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedOp {
    /// Writing a recycled file's new header.
    HeaderWrite,
    /// Making a recycled file's new header durable.
    HeaderSync,
    /// A batch write (`WriteThenFdatasync`).
    Write,
    /// The `fdatasync` after a batch write.
    Sync,
    /// A linked write → fdatasync (a failed or short write cancels the sync: `ECANCELED`).
    LinkedWriteSync,
    /// A batch write with `RWF_DSYNC`.
    DsyncWrite,
}

impl fmt::Display for FailedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FailedOp::HeaderWrite => "header write",
            FailedOp::HeaderSync => "header fdatasync",
            FailedOp::Write => "batch write",
            FailedOp::Sync => "batch fdatasync",
            FailedOp::LinkedWriteSync => "linked batch write+fdatasync",
            FailedOp::DsyncWrite => "batch RWF_DSYNC write",
        };
        f.write_str(s)
    }
}

/// Everything the journal can report.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A configuration value is refused; the message says what to change.
    #[error("journal config: {0}")]
    Config(String),
    /// An I/O error outside the append path (create, open, recovery reads).
    #[error("journal {op} of {file} at offset {offset}: {cause}")]
    Io {
        op: &'static str,
        file: JournalFileId,
        offset: u64,
        errno: Option<i32>,
        cause: String,
    },
    /// A journal file on disk does not match the configuration or the format.
    #[error("journal {file}: {what}")]
    BadFile { file: JournalFileId, what: String },
    /// The journal failed (fail-stop) and acknowledges nothing more, ever. `op`, `file`
    /// and `offset` name the first failure.
    #[error("journal failed (fail-stop): {op} of {file} at offset {offset}: {cause}")]
    Failed {
        op: FailedOp,
        file: JournalFileId,
        offset: u64,
        errno: Option<i32>,
        cause: String,
    },
    /// A record is larger than one batch can hold.
    #[error("record #{index} needs {needed} bytes; a batch holds at most {max} bytes of records")]
    RecordTooLarge {
        index: usize,
        needed: usize,
        max: usize,
    },
    /// A record breaks a rule of the format (the encoder would refuse it).
    #[error("record #{index} is invalid: {source}")]
    InvalidRecord {
        index: usize,
        source: boreal_segment::Error,
    },
    /// Every journal file still held unreleased records for the whole space wait
    /// (`Journal::set_space_wait_max`). Not a failure: the journal goes on once
    /// something is released. The first `encoded` records of the call were already in
    /// a batch and become durable without being acknowledged; the rest were not
    /// journaled.
    #[error(
        "journal full: every one of its {files} files holds records not yet released (materialized), for {waited_ms} ms; {encoded} of the append's records were written, unacknowledged"
    )]
    Full {
        files: u32,
        waited_ms: u64,
        encoded: usize,
    },
}

impl JournalError {
    pub(crate) fn io(
        op: &'static str,
        file: JournalFileId,
        offset: u64,
        e: &io::Error,
    ) -> JournalError {
        JournalError::Io {
            op,
            file,
            offset,
            errno: e.raw_os_error(),
            cause: e.to_string(),
        }
    }
}
