//! The hot log of one segment: redo records that are durable in the journal but not yet
//! materialized into the page store, indexed by LSN and by page, and the segment's SCL.
//!
//! What it owns (sans-I/O, no clock, no async): the records of one PG above the
//! segment's *floor* (its materialized LSN), the SCL computed from the `prev_lsn_pg`
//! backlinks, the holes in that chain, the truncation ranges that annul records, the
//! ranges the journal reported missing at recovery, and a count of the bytes it holds
//! (the core adds them up into its backlog). It never reads or writes a file and never
//! decides when to materialize; the coalescer asks it for records and then moves the
//! floor up.
//!
//! The SCL: starting from the floor, the SCL moves to the record whose `prev_lsn_pg`
//! equals it, as long as one is present; a record whose predecessor is absent waits.
//! So every record of the PG with LSN <= SCL is held (or is at or below the floor), as
//! long as the writer's backlinks are honest. A *hole* is a known-missing LSN range
//! `(a, b]`: some held record names `b` as its predecessor, `b` is absent, and `a` is the
//! highest LSN known below `b` (a held record above the SCL, or the SCL itself).
//!
//! Invariants (checked by `assert!` in `check_invariants`, which the tests call after
//! every step):
//! - `floor <= scl`, and the SCL is the floor or a held record;
//! - the three indexes (by LSN, by `prev_lsn_pg`, by page; see `index.rs` for how each
//!   is kept cheap per record) hold exactly the same records, and `bytes` is the sum
//!   of their backlog sizes;
//! - no held record lies inside an applied truncation range, and every held record is
//!   above the floor;
//! - truncation epochs never go down in the order they were applied.

mod error;
mod index;
mod record;

use std::collections::BTreeSet;

use boreal_segment::{Epoch, Lsn, PageId, PgId, Redo};

pub use self::error::HotLogError;
use self::index::Held;
pub use self::index::backlog_bytes;
pub use self::record::{
    LsnRange, OwnedChange, OwnedRedo, Truncation, apply_change, change_fits_payload,
};

/// What happened to an arriving record that was not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// New: now held.
    Accepted,
    /// Held already with the same contents: re-acknowledged, nothing changed.
    Duplicate,
    /// At or below the floor: already materialized into pages, re-acknowledged. (Its
    /// bytes cannot be compared any more.)
    AlreadyMaterialized,
}

/// Why a hole is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HoleKind {
    /// A held record names the range's end as its `prev_lsn_pg`, and it is absent.
    Backlink,
    /// Journal recovery reported this LSN range unreadable (damage in the middle of
    /// the journal); records of this PG in it may be missing.
    Reported,
}

/// A known-missing LSN range of the segment, for gossip to ask peers about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hole {
    pub range: LsnRange,
    pub kind: HoleKind,
}

/// Counters of what the hot log refused or re-acknowledged, for stats and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HotLogCounters {
    pub accepted: u64,
    pub duplicates: u64,
    pub already_materialized: u64,
    /// Same LSN, different bytes: refused (and worth an alert: a writer bug or damage).
    pub conflicts: u64,
    /// Arrivals inside a truncation range: refused.
    pub truncated_refused: u64,
    /// Arrivals below the SCL that the chain does not contain: refused.
    pub off_chain_refused: u64,
    /// Accepted records whose predecessor already has a successor (two records claim
    /// the same backlink): only a truncation can reconcile them.
    pub forks: u64,
    /// Records annulled by truncations.
    pub annulled: u64,
}

/// What a truncation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TruncateOutcome {
    /// Applied now; `annulled` records were dropped.
    Applied { annulled: usize },
    /// The same truncation (epoch and range) was applied before: nothing changed.
    AlreadyApplied,
}

/// The hot log of one segment. See the module docs.
#[derive(Clone, Debug)]
pub struct HotLog {
    pg: PgId,
    floor: Lsn,
    scl: Lsn,
    /// The held records, indexed by LSN, by `prev_lsn_pg` (the SCL's successor
    /// lookup) and by page (GetPage@LSN's lookup).
    records: Held,
    /// Applied truncations, in the order applied.
    truncations: Vec<Truncation>,
    /// Ranges journal recovery reported unreadable, kept until the SCL passes them.
    reported: Vec<LsnRange>,
    bytes: usize,
    counters: HotLogCounters,
}

impl HotLog {
    /// An empty hot log whose floor (and SCL) is `floor`: the segment's materialized
    /// LSN, a record LSN on the PG's chain (or zero).
    pub fn new(pg: PgId, floor: Lsn) -> HotLog {
        HotLog {
            pg,
            floor,
            scl: floor,
            records: Held::new(pg),
            truncations: Vec::new(),
            reported: Vec::new(),
            bytes: 0,
            counters: HotLogCounters::default(),
        }
    }

    pub fn pg(&self) -> PgId {
        self.pg
    }

    /// Segment complete LSN: every record of the PG up to it is held or materialized.
    pub fn scl(&self) -> Lsn {
        self.scl
    }

    /// The materialized LSN: records at or below it are in the page store.
    pub fn floor(&self) -> Lsn {
        self.floor
    }

    /// Backlog bytes held (encoded size of every record).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The highest LSN held, or the floor when empty.
    pub fn max_lsn(&self) -> Lsn {
        self.records.max_lsn().unwrap_or(self.floor)
    }

    pub fn counters(&self) -> HotLogCounters {
        self.counters
    }

    /// Truncations applied and still relevant (their end is above the floor).
    pub fn truncations(&self) -> &[Truncation] {
        &self.truncations
    }

    /// The highest truncation epoch applied, if any.
    pub fn truncation_epoch(&self) -> Option<Epoch> {
        self.truncations.iter().map(|t| t.epoch).max()
    }

    pub fn get(&self, lsn: Lsn) -> Option<Redo<'_>> {
        self.records.get(lsn)
    }

    /// Takes in an arriving record (from an append, from gossip, or from journal
    /// replay). See [`Arrival`] for what is not an error.
    pub fn insert(&mut self, redo: &Redo<'_>) -> Result<Arrival, HotLogError> {
        self.insert_with(redo.lsn, redo.pg_id, redo.prev_lsn_pg, |held| held == *redo)
            .map(|decision| match decision {
                Decision::Take => {
                    self.hold(redo);
                    Arrival::Accepted
                }
                Decision::Done(arrival) => arrival,
            })
    }

    /// Whether an arrival with this LSN would be refused as truncated, and by which.
    pub fn truncation_covering(&self, lsn: Lsn) -> Option<Truncation> {
        self.truncations
            .iter()
            .filter(|t| t.range.contains(lsn))
            .max_by_key(|t| t.epoch)
            .copied()
    }

    /// What [`insert`](Self::insert) would do with `redo`, without changing anything
    /// (the engine checks a whole append before it journals any of it).
    pub fn judge(&self, redo: &Redo<'_>) -> Result<Arrival, HotLogError> {
        self.judge_with(redo.lsn, redo.pg_id, redo.prev_lsn_pg, |held| held == *redo)
            .map(|d| match d {
                Decision::Take => Arrival::Accepted,
                Decision::Done(a) => a,
            })
    }

    fn judge_with(
        &self,
        lsn: Lsn,
        pg: PgId,
        prev: Lsn,
        same: impl FnOnce(Redo<'_>) -> bool,
    ) -> Result<Decision, HotLogError> {
        if pg != self.pg {
            return Err(HotLogError::WrongPg {
                pg: self.pg,
                got: pg,
                lsn,
            });
        }
        if lsn <= self.floor {
            return Ok(Decision::Done(Arrival::AlreadyMaterialized));
        }
        if let Some(t) = self.truncation_covering(lsn) {
            return Err(HotLogError::Truncated {
                pg: self.pg,
                lsn,
                range: t.range,
                epoch: t.epoch,
            });
        }
        if let Some(held) = self.records.get(lsn) {
            if same(held) {
                return Ok(Decision::Done(Arrival::Duplicate));
            }
            return Err(HotLogError::Conflict {
                pg: self.pg,
                lsn,
                held_prev: held.prev_lsn_pg,
                got_prev: prev,
            });
        }
        if lsn < self.scl {
            return Err(HotLogError::OffChain {
                pg: self.pg,
                lsn,
                prev,
                scl: self.scl,
            });
        }
        Ok(Decision::Take)
    }

    fn insert_with(
        &mut self,
        lsn: Lsn,
        pg: PgId,
        prev: Lsn,
        same: impl FnOnce(Redo<'_>) -> bool,
    ) -> Result<Decision, HotLogError> {
        let decision = self.judge_with(lsn, pg, prev, same);
        let c = &mut self.counters;
        match &decision {
            Ok(Decision::Done(Arrival::AlreadyMaterialized)) => c.already_materialized += 1,
            Ok(Decision::Done(Arrival::Duplicate)) => c.duplicates += 1,
            Err(HotLogError::Truncated { .. }) => c.truncated_refused += 1,
            Err(HotLogError::Conflict { .. }) => c.conflicts += 1,
            Err(HotLogError::OffChain { .. }) => c.off_chain_refused += 1,
            _ => {}
        }
        decision
    }

    fn hold(&mut self, redo: &Redo<'_>) {
        assert!(redo.lsn > self.floor && redo.prev_lsn_pg < redo.lsn);
        let prev = redo.prev_lsn_pg;
        self.bytes += backlog_bytes(redo);
        self.counters.accepted += 1;
        if prev == self.scl && !self.records.waiting() {
            // The usual arrival: the SCL's successor, with nothing held above the SCL.
            // It is the new SCL, and no later record can name it before it is: the
            // successor index, which holds only records above the SCL, never needs it
            // (entering it would be undone by `settle` at once).
            self.records.insert(redo, false);
            self.scl = redo.lsn;
            self.scl_moved();
            return;
        }
        if prev < self.scl || self.records.successor(prev).is_some() {
            self.counters.forks += 1;
        }
        self.records.insert(redo, true);
        if prev == self.scl {
            self.advance_scl();
        }
    }

    fn advance_scl(&mut self) {
        while let Some(next) = self.records.successor(self.scl) {
            self.scl = next;
        }
        self.records.settle(self.scl);
        self.scl_moved();
    }

    /// Forgets the reported ranges the SCL has passed.
    fn scl_moved(&mut self) {
        let scl = self.scl;
        if !self.reported.is_empty() {
            self.reported.retain(|r| r.end > scl);
        }
    }

    /// Applies the truncation `(range]` of `epoch`: held records inside it are dropped,
    /// later arrivals inside it are refused, and the SCL is recomputed from the floor.
    pub fn truncate(
        &mut self,
        epoch: Epoch,
        range: LsnRange,
    ) -> Result<TruncateOutcome, HotLogError> {
        let incoming = Truncation { epoch, range };
        if let Some(newer) = self
            .truncations
            .iter()
            .filter(|t| t.epoch > epoch)
            .max_by_key(|t| t.epoch)
        {
            return Err(HotLogError::StaleTruncation {
                pg: self.pg,
                epoch,
                range,
                applied: *newer,
            });
        }
        if self.truncations.contains(&incoming) {
            return Ok(TruncateOutcome::AlreadyApplied);
        }
        if range.start < self.floor {
            return Err(HotLogError::BelowMaterialized {
                pg: self.pg,
                range,
                materialized: self.floor,
            });
        }
        let doomed = self.records.lsns_in(range.start, range.end);
        for &lsn in &doomed {
            self.bytes -= self.records.remove(lsn);
        }
        self.counters.annulled += doomed.len() as u64;
        self.truncations.push(incoming);
        self.scl = self.floor;
        self.records.reindex_successors();
        self.advance_scl();
        Ok(TruncateOutcome::Applied {
            annulled: doomed.len(),
        })
    }

    /// Notes an LSN range the journal could not read back at recovery. Reads that would
    /// need it fail naming it, and it is listed among the holes, until the SCL passes it.
    pub fn report_missing(&mut self, range: LsnRange) {
        if range.end > self.scl && !self.reported.contains(&range) {
            self.reported.push(range);
            self.reported.sort();
        }
    }

    /// The known-missing ranges above the SCL, lowest first, at most `limit` of them.
    pub fn holes(&self, limit: usize) -> Vec<Hole> {
        let mut out: BTreeSet<Hole> = BTreeSet::new();
        for r in self.records.above(self.scl) {
            let want = r.prev_lsn_pg;
            if want <= self.scl
                || self.records.contains(want)
                || self.truncation_covering(want).is_some()
            {
                continue;
            }
            // `want` is not held, so the highest held LSN below it is the highest in
            // `(scl, want]`.
            let below = self.records.last_in(self.scl, want).unwrap_or(self.scl);
            out.insert(Hole {
                range: LsnRange::new(below, want),
                kind: HoleKind::Backlink,
            });
        }
        for r in &self.reported {
            out.insert(Hole {
                range: LsnRange::new(r.start.max(self.scl), r.end),
                kind: HoleKind::Reported,
            });
        }
        out.into_iter().take(limit).collect()
    }

    /// The lowest known hole that a read at `lsn` would need (one starting below it).
    pub fn hole_below(&self, lsn: Lsn) -> Option<Hole> {
        self.holes(usize::MAX)
            .into_iter()
            .find(|h| h.range.start < lsn)
    }

    /// The highest chain point at or below `limit` and the SCL: the LSN up to which the
    /// coalescer may materialize (the floor if there is nothing to do).
    pub fn chain_point_at_or_below(&self, limit: Lsn) -> Lsn {
        let top = limit.min(self.scl);
        if top <= self.floor {
            return self.floor;
        }
        self.records.last_in(self.floor, top).unwrap_or(self.floor)
    }

    /// Held records in `(after, upto]`, in LSN order.
    pub fn records_in(&self, after: Lsn, upto: Lsn) -> impl Iterator<Item = Redo<'_>> + '_ {
        self.records.range(after, upto)
    }

    /// Held records of `page` in `(after, upto]`, in LSN order.
    pub fn page_records(
        &self,
        page: PageId,
        after: Lsn,
        upto: Lsn,
    ) -> impl Iterator<Item = Redo<'_>> + '_ {
        self.records.page_range(page, after, upto)
    }

    /// Owned copies of the held records in `(from, to]`, lowest first, stopping before
    /// the backlog bytes would pass `byte_limit` (but always at least one record, so a
    /// caller makes progress). For gossip and repair.
    pub fn fetch(&self, from: Lsn, to: Lsn, byte_limit: usize) -> Vec<OwnedRedo> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for r in self.records_in(from, to) {
            let b = backlog_bytes(&r);
            if !out.is_empty() && bytes + b > byte_limit {
                break;
            }
            bytes += b;
            out.push(OwnedRedo::from_redo(&r));
        }
        out
    }

    /// Moves the floor up to `to` (a chain point at or below the SCL) once the coalescer
    /// has made every record up to it durable in the page store: those records are
    /// dropped, and truncations and reported ranges that end at or below it are
    /// forgotten (nothing can arrive there any more: arrivals at or below the floor are
    /// re-acknowledged without being held). Returns the bytes released.
    pub fn advance_floor(&mut self, to: Lsn) -> usize {
        self.check_floor_target(to);
        let before = self.bytes;
        self.bytes -= self.records.pop_through(to);
        self.floor_moved(to);
        before - self.bytes
    }

    fn check_floor_target(&self, to: Lsn) {
        assert!(
            to >= self.floor && to <= self.scl,
            "{}: floor {to} outside [{}, {}]",
            self.pg,
            self.floor,
            self.scl
        );
        assert!(
            to == self.floor || self.records.contains(to),
            "{}: floor {to} is not a chain point",
            self.pg
        );
    }

    /// [`advance_floor`](Self::advance_floor) for a caller that knows how many of the
    /// held records at or below `to` each page has (a coalescer pass): see
    /// `Held::pop_through_counted`. Panics if the counts are wrong.
    pub fn advance_floor_counted(&mut self, to: Lsn, per_page: &[(PageId, u32)]) -> usize {
        self.check_floor_target(to);
        let before = self.bytes;
        self.bytes -= self.records.pop_through_counted(to, per_page);
        self.floor_moved(to);
        before - self.bytes
    }

    fn floor_moved(&mut self, to: Lsn) {
        self.floor = to;
        self.truncations.retain(|t| t.range.end > to);
        self.reported.retain(|r| r.end > to);
    }

    /// Checks every invariant of the module docs; panics on the first that fails.
    pub fn check_invariants(&self) {
        assert!(self.floor <= self.scl);
        assert!(self.scl == self.floor || self.records.contains(self.scl));
        self.records.check(self.scl);
        let mut bytes = 0;
        for r in self.records.above(Lsn::ZERO) {
            let lsn = r.lsn;
            assert!(lsn > self.floor);
            assert!(
                self.truncation_covering(lsn).is_none(),
                "{lsn} held inside a truncation"
            );
            bytes += backlog_bytes(&r);
        }
        assert_eq!(bytes, self.bytes);
        assert!(
            self.truncations
                .windows(2)
                .all(|w| w[0].epoch <= w[1].epoch)
        );
    }
}

enum Decision {
    Take,
    Done(Arrival),
}

#[cfg(test)]
mod tests;
