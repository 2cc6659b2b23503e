//! The engine's error type: what a caller of `CoreEngine` can be refused, with the PG,
//! LSNs and epochs involved. Refusals of input are values; I/O failures of the journal
//! or the page store stop the core (fail-stop) and every later call gets `Failed`.
//!
//! Sources are kept, never flattened to text: a journal failure is the journal's own
//! [`JournalError`] (with the errno of the write or sync that failed), a page store
//! failure the [`PageStoreError`] (with its `io::Error`), and the `Failed` every later
//! call gets carries the first failure's errno. So a caller can tell EIO from ENOSPC
//! ([`EngineError::errno`]) without parsing a message.

use boreal_segment::{Epoch, Lsn, PageId, PgId};

use crate::hotlog::{Hole, HotLogError, LsnRange};
use crate::journal::JournalError;
use crate::pages::PageStoreError;

/// Why a core stopped (fail-stop): the first I/O failure, said once, with its errno
/// when the failure had one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What failed: the operation, file and cause.
    pub why: String,
    /// The errno of the failed operation (`EIO`, `ENOSPC`, ...), if it was a system
    /// call's.
    pub errno: Option<i32>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{pg}: no such segment on this core")]
    NoSegment { pg: PgId },
    #[error("{pg}: segment exists already")]
    SegmentExists { pg: PgId },
    #[error("{pg}: {got} is older than the segment's {current}")]
    StaleEpoch {
        pg: PgId,
        got: Epoch,
        current: Epoch,
    },
    #[error("{pg}: invalid record {lsn}: {why}")]
    InvalidRecord { pg: PgId, lsn: Lsn, why: String },
    #[error(transparent)]
    Refused(#[from] HotLogError),
    #[error("{pg}: invalid truncation range ({start}, {end}]")]
    InvalidRange { pg: PgId, start: Lsn, end: Lsn },
    #[error(
        "{pg}: truncation {range} starts below {materialized}, which is materialized or being materialized"
    )]
    TruncateBelowMaterialized {
        pg: PgId,
        range: LsnRange,
        materialized: Lsn,
    },
    #[error("{pg}: read at {lsn} is above scl {scl}")]
    AboveScl { pg: PgId, lsn: Lsn, scl: Lsn },
    #[error("{pg}: read at {lsn} needs missing records in {hole:?} (scl {scl})")]
    Hole {
        pg: PgId,
        lsn: Lsn,
        scl: Lsn,
        hole: Hole,
    },
    #[error("{pg}: read at {lsn} is below the min read point {min_read_point}")]
    BelowMinReadPoint {
        pg: PgId,
        lsn: Lsn,
        min_read_point: Lsn,
    },
    #[error("{pg}: {page} is not in this PG")]
    PageOutOfRange { pg: PgId, page: PageId },
    #[error("{pg}: {page} at {lsn}: record {record} backlinks to {got}, expected {expected}")]
    PageChainBroken {
        pg: PgId,
        page: PageId,
        lsn: Lsn,
        record: Lsn,
        expected: Lsn,
        got: Lsn,
    },
    /// The page store holds a page newer than the read point (a correct engine never
    /// materializes above a reader): the metadata and the page store disagree, which
    /// only damage explains. Refused rather than served.
    #[error("{pg}: {page} in the page store is at {page_lsn}, above the read point {lsn}")]
    PageNewerThanRead {
        pg: PgId,
        page: PageId,
        lsn: Lsn,
        page_lsn: Lsn,
    },
    /// A slot of the page is damaged and nothing proves the other one is the newest
    /// image (see `PageFile::read`): the page must be repaired from a peer.
    #[error(
        "{pg}: {page} has a damaged slot and its other image ({page_lsn}) is not proven current"
    )]
    PageDamaged {
        pg: PgId,
        page: PageId,
        page_lsn: Lsn,
    },
    #[error("{pg}: fetch from {from} reaches below the materialized lsn {floor}")]
    FetchBelowFloor { pg: PgId, from: Lsn, floor: Lsn },
    #[error("{pg}: read at {lsn} raced the coalescer {attempts} times")]
    ReadRetries { pg: PgId, lsn: Lsn, attempts: u32 },
    #[error("backlog over its bound for {waited_ms} ms: {reason}")]
    Backlogged { reason: String, waited_ms: u64 },
    #[error("too many segments: {max} per core")]
    TooManySegments { max: usize },
    /// The journal refused or failed the call (its error says which file, offset and
    /// errno); a write or sync failure has stopped the core.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Store(#[from] PageStoreError),
    #[error("recovery: {0}")]
    Recovery(String),
    #[error("core stopped after an I/O failure: {0}")]
    Failed(Failure),
    #[error("invalid config: {0}")]
    Config(String),
}

impl EngineError {
    /// The errno behind this error, when an I/O failure caused it (the call's own, or
    /// the one that stopped the core).
    pub fn errno(&self) -> Option<i32> {
        match self {
            EngineError::Journal(
                JournalError::Failed { errno, .. } | JournalError::Io { errno, .. },
            ) => *errno,
            EngineError::Store(PageStoreError::Io { source, .. }) => source.raw_os_error(),
            EngineError::Failed(f) => f.errno,
            _ => None,
        }
    }
}
