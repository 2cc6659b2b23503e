//! Segment-level crash recovery: what each journal record means for the segment it
//! names, written as a decision table.
//!
//! Recovery of a core runs in this order (see `CoreEngine::open`): the catalog names the
//! segments; each segment's metadata file gives its materialized LSN (the hot log's
//! floor), epoch and the truncations still in force; the journal hands back the records
//! that survived, in journal order, and the LSN ranges it could not read; each record
//! is classified into exactly one [`ReplayCase`] and handled by the table's
//! [`ReplayAction`]; each missing range becomes a reported hole of every segment whose
//! floor is below its end; the SCLs follow from the hot logs. (Batch-level decisions —
//! torn tail cut, damage in the middle kept and reported — are the journal's table.)
//!
//! It never does I/O itself and never guesses: a case that can only come from damage or
//! a bug is counted and reported, and one that would make the segment lie stops recovery.

use boreal_segment::{Lsn, Record};

use crate::hotlog::{Arrival, HotLog, HotLogError, LsnRange};

/// Every situation a replayed journal record can be in. Exactly one applies to each
/// record (see [`classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplayCase {
    /// The record names a PG this core does not hold (its segment was never created
    /// durably, or was dropped).
    UnknownPg,
    /// Redo at or below the floor: already in the page store.
    RedoMaterialized,
    /// Redo inside a truncation range: annulled.
    RedoTruncated,
    /// Redo already held with the same contents (journaled twice by concurrent appends
    /// or by a repair).
    RedoDuplicate,
    /// Redo already held with different contents: never acknowledged (appends refuse
    /// conflicts before journaling), so it is damage or a bug.
    RedoConflict,
    /// Redo below the SCL that the chain does not contain (a fork a truncation did not
    /// reconcile).
    RedoOffChain,
    /// Redo not held yet.
    RedoNew,
    /// A truncation not applied yet, whose start is at or above the floor.
    TruncateNew,
    /// A truncation already applied (restored from the metadata file, or journaled
    /// twice).
    TruncateApplied,
    /// A truncation of a lower epoch than one already applied.
    TruncateStale,
    /// A truncation whose whole range is at or below the floor: materialization has
    /// passed it, and its records were never in the page store.
    TruncateSubsumed,
    /// A truncation whose range straddles the floor: it would annul materialized
    /// records. Appends refuse this, so it is damage.
    TruncateStraddlesFloor,
    /// A durable segment metadata change (an epoch bump).
    SegmentMeta,
}

/// What recovery does in a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayAction {
    /// Nothing; not worth a counter.
    Skip,
    /// Nothing, but count it: it only comes from damage, a bug or a fork, and an
    /// operator should see it in the recovery report.
    SkipAndReport,
    /// Put the record in the segment's hot log.
    Insert,
    /// Apply the truncation to the hot log and raise the segment's epoch to its epoch.
    ApplyTruncation,
    /// Raise the segment's epoch.
    RaiseEpoch,
    /// Stop recovery with an error naming the record: continuing would make the
    /// segment serve data that contradicts what it acknowledged.
    Fail,
}

/// The decision table: one row per case, with the reason.
pub const RECOVERY_TABLE: &[(ReplayCase, ReplayAction, &str)] = &[
    (
        ReplayCase::UnknownPg,
        ReplayAction::SkipAndReport,
        "no segment to apply it to; appends require the segment to exist, so only a dropped segment leaves these",
    ),
    (
        ReplayCase::RedoMaterialized,
        ReplayAction::Skip,
        "the page store already holds it (journal files are recycled lazily)",
    ),
    (
        ReplayCase::RedoTruncated,
        ReplayAction::Skip,
        "annulled by a durable truncation",
    ),
    (
        ReplayCase::RedoDuplicate,
        ReplayAction::Skip,
        "journaled twice; the first copy is held",
    ),
    (
        ReplayCase::RedoConflict,
        ReplayAction::SkipAndReport,
        "the first copy was the acknowledged one; a second one with other bytes is damage",
    ),
    (
        ReplayCase::RedoOffChain,
        ReplayAction::SkipAndReport,
        "a fork below the SCL can never join the chain",
    ),
    (
        ReplayCase::RedoNew,
        ReplayAction::Insert,
        "durable and not materialized: back into the hot log",
    ),
    (
        ReplayCase::TruncateNew,
        ReplayAction::ApplyTruncation,
        "a durable truncation: annul, refuse later arrivals, raise the epoch",
    ),
    (
        ReplayCase::TruncateApplied,
        ReplayAction::Skip,
        "already in force",
    ),
    (
        ReplayCase::TruncateStale,
        ReplayAction::SkipAndReport,
        "a newer recovery's truncation supersedes it",
    ),
    (
        ReplayCase::TruncateSubsumed,
        ReplayAction::Skip,
        "the floor passed its end; nothing in it can be held",
    ),
    (
        ReplayCase::TruncateStraddlesFloor,
        ReplayAction::Fail,
        "would annul materialized records: the page store and the journal disagree",
    ),
    (
        ReplayCase::SegmentMeta,
        ReplayAction::RaiseEpoch,
        "an acknowledged epoch bump must keep fencing after a restart",
    ),
];

impl ReplayCase {
    /// Every case, once.
    pub const ALL: [ReplayCase; 13] = [
        ReplayCase::UnknownPg,
        ReplayCase::RedoMaterialized,
        ReplayCase::RedoTruncated,
        ReplayCase::RedoDuplicate,
        ReplayCase::RedoConflict,
        ReplayCase::RedoOffChain,
        ReplayCase::RedoNew,
        ReplayCase::TruncateNew,
        ReplayCase::TruncateApplied,
        ReplayCase::TruncateStale,
        ReplayCase::TruncateSubsumed,
        ReplayCase::TruncateStraddlesFloor,
        ReplayCase::SegmentMeta,
    ];

    /// The position of the case in [`ALL`](Self::ALL); an exhaustive match, so a new
    /// case does not compile until it is listed.
    pub const fn index(self) -> usize {
        match self {
            ReplayCase::UnknownPg => 0,
            ReplayCase::RedoMaterialized => 1,
            ReplayCase::RedoTruncated => 2,
            ReplayCase::RedoDuplicate => 3,
            ReplayCase::RedoConflict => 4,
            ReplayCase::RedoOffChain => 5,
            ReplayCase::RedoNew => 6,
            ReplayCase::TruncateNew => 7,
            ReplayCase::TruncateApplied => 8,
            ReplayCase::TruncateStale => 9,
            ReplayCase::TruncateSubsumed => 10,
            ReplayCase::TruncateStraddlesFloor => 11,
            ReplayCase::SegmentMeta => 12,
        }
    }
}

/// The action of a case, from the table.
pub fn action(case: ReplayCase) -> ReplayAction {
    match RECOVERY_TABLE.iter().find(|(c, _, _)| *c == case) {
        Some((_, a, _)) => *a,
        None => panic!("recovery table has no row for {case:?}"),
    }
}

/// The case of `record` for a segment whose hot log is `hot` (`None`: the PG is not
/// held by this core). The record is borrowed (from the journal's read windows):
/// nothing is copied to decide.
pub fn classify(hot: Option<&HotLog>, record: &Record<'_>) -> ReplayCase {
    let Some(hot) = hot else {
        return ReplayCase::UnknownPg;
    };
    match record {
        Record::Redo(r) => match hot.judge(r) {
            Ok(Arrival::AlreadyMaterialized) => ReplayCase::RedoMaterialized,
            Ok(Arrival::Duplicate) => ReplayCase::RedoDuplicate,
            Ok(Arrival::Accepted) => ReplayCase::RedoNew,
            Err(HotLogError::Truncated { .. }) => ReplayCase::RedoTruncated,
            Err(HotLogError::Conflict { .. }) => ReplayCase::RedoConflict,
            Err(HotLogError::OffChain { .. }) => ReplayCase::RedoOffChain,
            // The journal only holds records of the PG it names, and `hot` is that PG's.
            Err(e) => panic!("replay of {}: {e}", r.lsn),
        },
        Record::Truncate(t) => {
            if t.start >= t.end {
                // The record decoder refuses empty ranges; a straddle is the closest
                // "cannot be right" case.
                return ReplayCase::TruncateStraddlesFloor;
            }
            let range = LsnRange::new(t.start, t.end);
            if hot
                .truncations()
                .iter()
                .any(|a| a.epoch == t.epoch && a.range == range)
            {
                ReplayCase::TruncateApplied
            } else if hot.truncation_epoch().is_some_and(|e| e > t.epoch) {
                ReplayCase::TruncateStale
            } else if t.end <= hot.floor() {
                ReplayCase::TruncateSubsumed
            } else if t.start < hot.floor() {
                ReplayCase::TruncateStraddlesFloor
            } else {
                ReplayCase::TruncateNew
            }
        }
        Record::SegmentMeta(_) => ReplayCase::SegmentMeta,
    }
}

/// Counts of what recovery did, by case, for the recovery report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// `cases[c.index()]`: how many records fell in case `c`.
    pub cases: [u64; 13],
    /// Missing ranges the journal reported, and how many segments each touched.
    pub missing: Vec<(LsnRange, usize)>,
    /// Damage the journal could not place in LSNs (one line each): every segment
    /// reports a hole above its SCL.
    pub missing_unplaced: Vec<String>,
    /// Segment metadata slots that were damaged or torn, one line each, with what was
    /// reported missing because of them.
    pub meta_damage: Vec<String>,
    /// The highest redo LSN replayed.
    pub max_lsn: Lsn,
}

impl RecoveryReport {
    pub fn count(&self, case: ReplayCase) -> u64 {
        self.cases[case.index()]
    }

    /// Records that only damage, a bug or a fork explains.
    pub fn reported(&self) -> u64 {
        ReplayCase::ALL
            .iter()
            .filter(|c| action(**c) == ReplayAction::SkipAndReport)
            .map(|c| self.count(*c))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_exactly_one_row_per_case() {
        assert_eq!(RECOVERY_TABLE.len(), ReplayCase::ALL.len());
        for (i, case) in ReplayCase::ALL.iter().enumerate() {
            assert_eq!(case.index(), i, "ALL is in index order");
            let rows = RECOVERY_TABLE.iter().filter(|(c, _, _)| c == case).count();
            assert_eq!(rows, 1, "{case:?} has {rows} rows");
        }
        for (_, _, why) in RECOVERY_TABLE {
            assert!(!why.is_empty());
        }
    }

    #[test]
    fn only_damage_fails_recovery() {
        let failing: Vec<ReplayCase> = ReplayCase::ALL
            .into_iter()
            .filter(|c| action(*c) == ReplayAction::Fail)
            .collect();
        assert_eq!(failing, vec![ReplayCase::TruncateStraddlesFloor]);
    }
}
