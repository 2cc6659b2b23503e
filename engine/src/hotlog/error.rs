//! The hot log's error type: why a record or a truncation was refused.
//!
//! Every variant names the PG and the LSNs involved, so a log line alone says what was
//! refused and why. These are refusals of input (from the network or the journal), never
//! our own invariants (those are `assert!`s).

use boreal_segment::{Epoch, Lsn, PgId};

use super::record::{LsnRange, Truncation};

/// Why the hot log refused an arrival or a truncation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HotLogError {
    /// The record belongs to another PG than this segment.
    #[error("{pg}: record {lsn} belongs to {got}")]
    WrongPg { pg: PgId, got: PgId, lsn: Lsn },
    /// A record with this LSN is already held with different contents.
    #[error(
        "{pg}: record {lsn} arrived again with different contents (prev_lsn_pg {held_prev} held, {got_prev} arrived)"
    )]
    Conflict {
        pg: PgId,
        lsn: Lsn,
        held_prev: Lsn,
        got_prev: Lsn,
    },
    /// The record lies inside a truncation range: it was annulled.
    #[error("{pg}: record {lsn} lies in truncation {range} of {epoch}")]
    Truncated {
        pg: PgId,
        lsn: Lsn,
        range: LsnRange,
        epoch: Epoch,
    },
    /// A record below the SCL that the backlink chain does not contain: the chain up to
    /// the SCL is complete, so this record contradicts the backlinks already held.
    #[error(
        "{pg}: record {lsn} (prev_lsn_pg {prev}) is below scl {scl} but not on its backlink chain"
    )]
    OffChain {
        pg: PgId,
        lsn: Lsn,
        prev: Lsn,
        scl: Lsn,
    },
    /// A truncation with a lower epoch than one already applied (a fenced recovery).
    #[error("{pg}: truncation {range} of {epoch} is older than applied {applied:?}")]
    StaleTruncation {
        pg: PgId,
        epoch: Epoch,
        range: LsnRange,
        applied: Truncation,
    },
    /// A truncation that would annul records already materialized into pages.
    #[error("{pg}: truncation {range} starts below the materialized lsn {materialized}")]
    BelowMaterialized {
        pg: PgId,
        range: LsnRange,
        materialized: Lsn,
    },
}
