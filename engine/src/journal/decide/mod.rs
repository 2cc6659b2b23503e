//! Recovery decisions: what each region of the journal means, as a table.
//!
//! Sans-I/O. `scan.rs` reads the files and describes every aligned region with
//! `boreal_segment::classify`; this module turns those descriptions, in journal order
//! (files by generation, then offset), into one [`Action`] per region through
//! [`RECOVERY_CASES`], a decision table in the style of TigerBeetle's `recovery_cases`:
//! each observed situation ([`Observation`]: what the bytes are, where they are
//! relative to the tail, and what the rest of the journal proves about them) maps to
//! exactly one action, and a test enumerates every situation to check that the table
//! is complete, unambiguous and never cuts what was acknowledged.
//!
//! What proves that a batch was acknowledged, or may have been (the writer keeps at most
//! three writes in flight, writes batch `s` while the `k` before it are in flight only
//! after `s - k - 1` is durable, only inside one file, never while the oldest of those is
//! the first batch of its file, and then gives its header that window, `PIPELINED` or
//! `PIPELINED_TWO`; acknowledgements go in sequence
//! order; batches of one file generation are written back to back from offset 4096; a
//! recycled file's new header is made durable when nothing is in flight, before its
//! first batch; files are recycled, and marked free, one at a time in journal order):
//! - a later batch header (valid or torn) with a higher sequence number, except the
//!   pipeline window below;
//! - a later belonging batch header in the *same* file generation (contiguity: the bytes
//!   before it were written first);
//! - a newer file generation (its header was written after every batch of the older
//!   files completed);
//! - a gap in the sequence numbers of valid batches;
//! - for the last batch, whose write may have been acknowledged: every 512-byte sector
//!   of it carries the batch's stamp (journal version 2, `boreal_segment::stamp`), so the
//!   write reached the disk in full and its body was damaged afterwards ([`Landed`]). A
//!   torn write over older bytes or zeros leaves at least one sector without the stamp.
//!   Such a batch is reported missing, never cut, and appends resume after it (its
//!   sequence stays used), so the next open sees it below a later batch
//!   ([`LaterSeq`]) and reports it again;
//! - for the last batch whose header no longer decodes: the header, with one bit
//!   corrected or as stored, names its place (file id, generation, offset) and every
//!   sector carries the stamp its checksums give (`boreal_segment::landed_batch`;
//!   [`Landed`] for garbage at the tail): the write landed in full and the header was
//!   damaged since. Reported missing (contents unknown), never cut, and appends resume
//!   after it, as above.
//!
//! The pipeline window (journal versions 3 and 4): when the last header of the newest file is
//! `PIPELINED`, it was written while the batch before it was in flight, so it does not
//! prove that batch durable. If that batch did not complete (torn with a sector
//! lacking its stamp, or no header where it must be, right after the header of the
//! batch two before, unless every sector there carries the stamp that the damaged
//! header gives, with one bit corrected or as stored: a complete write whose header
//! was damaged since, reported missing), neither was acknowledged: both are cut, from
//! the earlier one ([`PredecessorCut`] for the later), the range is zeroed before
//! appends resume (so no cut header is left past the tail), and their sequences are
//! written again. If it completed (valid, or landed in full and damaged since), the
//! usual rules hold. The rule holds for a window of `k` batches
//! (`boreal_segment::window`, shared with `boreal verify`: the header proves only
//! `t - k - 1`, and the cut starts at the first of `t - k .. t - 1` that did not
//! complete); version 3 headers carry a window of at most one, version 4 of two.
//!
//! One flipped bit of a batch header is corrected before any of this (`scan.rs`,
//! `boreal_segment::header_repair`): the region is then judged as written, and the
//! report names the correction.
//!
//! What cannot be proven (the guarantee that remains): with a single damaged batch, an
//! acknowledged batch is lost without a [`MissingRange`] only if it is the last
//! acknowledged batch of the journal, nothing after it left a readable header, and
//! either more than one bit of damage hit the header fields that prove it belongs there
//! (its stored checksums, file id, generation or offset: the region is garbage at the
//! tail and is cut like a torn write whose header did not land), or
//! its write was lost or misdirected by the device (its place holds older bytes, which
//! one node cannot tell from a write that never happened). With pipelining the same
//! holds for the batch before a last, pipelined one when its write was lost, or when
//! damage took both its header and a sector's stamp: that reads as a write that never
//! completed, and both are cut. Its records are still on the
//! PG's peers (quorum writes), and the node's SCL goes down accordingly. A version-1
//! file (no stamps) keeps the older blind spot: any damage to its last batch is cut.
//! A batch whose write landed in full just before a crash, unacknowledged, and was
//! damaged is also reported missing: recovery cannot know the acknowledgement did not
//! happen, so it errs on the side of reporting.
//!
//! What a missing range may have held, and what the engine may do about it
//! ([`MISSING_CASES`], applied by `CoreEngine::open_dir`). Group commit puts records of
//! different appends in one batch, so any batch may hold a `Truncate` or `SegmentMeta`
//! record next to redo; replaying around a lost truncation would bring annulled records
//! back below the SCL. The batch header's `REDO_ONLY` flag (set by the builder when
//! every record is redo; under the header checksum) says which batches cannot:
//!
//! | what is known of the range | [`MissingContents`] | [`MissingAction`] |
//! |---|---|---|
//! | intact header, `REDO_ONLY` set, LSNs known | `RedoOnly` | `Hole`: the LSN range becomes a reported hole of every segment whose floor is below its end; the SCL stops below it; reads that need it fail naming it; peers repair it |
//! | intact header, `REDO_ONLY` set, no LSNs (an empty batch, never written by this journal) | `RedoOnly` | `Refuse` |
//! | intact header, `REDO_ONLY` clear | `MayHoldControl` | `Refuse` |
//! | no readable header (zeros, garbage or a stale batch where a written one must be), or a sequence gap | `Unknown` | `Refuse` |
//!
//! `Refuse`: the core does not start; the error names file, offset and why, and the
//! core must be repaired from its peers.
//!
//! Files: this one holds the two tables and the types they speak of, and what the scan
//! hands in ([`Seen`], [`Item`], [`FileItems`]); `all.rs` walks a whole journal through
//! the table ([`decide_all`], in named steps). The inputs and [`decide_all`] are public
//! so that `boreal verify` judges a data dir with this policy, not a copy of it.

mod all;

use std::fmt;

use boreal_segment::window::WindowRegion;
use boreal_segment::{BatchSeq, Error as FormatError, JournalFileId, Lsn};

pub use self::all::decide_all;

/// What the bytes of a region are (from `classify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// A complete batch that belongs exactly here.
    Valid,
    /// A readable header that belongs here, with a bad or incomplete body.
    Torn,
    /// Never written since the file was zeroed.
    Zeros,
    /// A batch of an older generation of this file: recycled leftovers.
    Stale,
    /// Anything else: no readable header, or one of another file or offset.
    Garbage,
}

/// Where a region is relative to the tail (where appends resume).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    BeforeTail,
    /// In the newest file, at or after the tail.
    Tail,
}

/// What the rest of the journal proves about a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Evidence {
    /// Nothing: no proof that anything acknowledged lies here.
    Nothing,
    /// (Zeros/Stale/Garbage) a later batch header of the same file generation exists,
    /// so this region was written, completely, before it.
    Contiguous,
    /// (Zeros/Stale/Garbage) sequence numbers are missing between the valid batch
    /// before and the header after, and no torn header accounts for them.
    SeqGap,
    /// (Torn) a later header has a higher sequence, or a newer file exists.
    LaterSeq,
    /// (Valid/Torn) its sequence is not above the previous valid batch's, or a valid
    /// batch elsewhere holds it: an old, cut write that was written again.
    Superseded,
    /// (Torn) every sector carries the batch's stamp: the write reached the disk in
    /// full and the body was damaged after it was written, not torn. Computed after
    /// `Superseded` and `LaterSeq`. (Garbage, at the tail) the header does not decode
    /// but, with one bit corrected or as stored, names this place, and every sector
    /// carries the stamp its checksums give: the write landed in full and the header
    /// was damaged since.
    Landed,
    /// (Valid/Torn) the last header of the journal carries the `PIPELINED` flag (it was
    /// written while the batch before it was in flight; in general, a window of `k`
    /// batches that may have been in flight), and that batch (one of them) did not
    /// complete: it is torn without its stamps, or no header is where it must be. The
    /// pipelined batch was then never acknowledged either (acknowledgements go in
    /// sequence order); everything is cut from the first that did not complete.
    /// Computed for the headers after that cut.
    PredecessorCut,
}

/// What recovery does with a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Replay the batch's records.
    Accept,
    /// Nothing acknowledged is here; step over it.
    Skip,
    /// Acknowledged data is damaged here: report it missing, never cut it, and scan on.
    Missing,
    /// An unacknowledged (torn) write at the tail: appends resume here and overwrite it.
    Cut,
    /// The scan cannot produce this situation (a recovery bug if it does).
    Impossible,
}

/// One situation recovery can observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Observation {
    pub kind: RegionKind,
    pub position: Position,
    pub evidence: Evidence,
}

/// One row of the table: every combination of the listed values maps to `action`.
#[derive(Clone, Copy, Debug)]
pub struct RecoveryCase {
    pub kinds: &'static [RegionKind],
    pub positions: &'static [Position],
    pub evidence: &'static [Evidence],
    pub action: Action,
    pub why: &'static str,
}

use Action::*;
use Evidence::{Contiguous, Landed, LaterSeq, Nothing, PredecessorCut, SeqGap, Superseded};
use Position::{BeforeTail, Tail};
use RegionKind::{Garbage, Stale, Torn, Valid, Zeros};

const EMPTY: &[RegionKind] = &[Zeros, Stale, Garbage];
const ANY_POSITION: &[Position] = &[BeforeTail, Tail];

/// The decision table. See the module docs for what each kind of evidence proves.
pub const RECOVERY_CASES: &[RecoveryCase] = &[
    RecoveryCase {
        kinds: &[Valid],
        positions: &[BeforeTail],
        evidence: &[Nothing],
        action: Accept,
        why: "a valid batch in sequence order",
    },
    RecoveryCase {
        kinds: &[Valid],
        positions: &[BeforeTail],
        evidence: &[Superseded],
        action: Skip,
        why: "a valid batch out of sequence order (this journal never writes one): not replayed",
    },
    RecoveryCase {
        kinds: &[Valid],
        positions: &[BeforeTail],
        evidence: &[Contiguous, SeqGap, LaterSeq, Landed],
        action: Impossible,
        why: "evidence of this kind is only computed for damaged regions",
    },
    RecoveryCase {
        kinds: &[Valid, Torn],
        positions: &[Tail],
        evidence: &[PredecessorCut],
        action: Cut,
        why: "written while the batch before it was in flight (PIPELINED), and that batch never completed: neither was acknowledged",
    },
    RecoveryCase {
        kinds: &[Valid, Torn],
        positions: &[BeforeTail],
        evidence: &[PredecessorCut],
        action: Impossible,
        why: "this evidence is only computed after the pipeline window's cut, which is the tail",
    },
    RecoveryCase {
        kinds: &[Valid],
        positions: &[Tail],
        evidence: &[Nothing, Contiguous, SeqGap, LaterSeq, Superseded, Landed],
        action: Impossible,
        why: "the tail is after the last valid batch",
    },
    RecoveryCase {
        kinds: &[Torn],
        positions: &[BeforeTail],
        evidence: &[LaterSeq],
        action: Missing,
        why: "its header proves it was written and a later write proves it completed: acknowledged and damaged",
    },
    RecoveryCase {
        kinds: &[Torn],
        positions: &[BeforeTail],
        evidence: &[Superseded],
        action: Skip,
        why: "a write cut by an earlier recovery whose sequence was written again",
    },
    RecoveryCase {
        kinds: &[Torn],
        positions: &[BeforeTail],
        evidence: &[Nothing, Landed],
        action: Impossible,
        why: "a torn header with nothing after it is the tail",
    },
    RecoveryCase {
        kinds: &[Torn],
        positions: &[Tail],
        evidence: &[Nothing, Superseded],
        action: Cut,
        why: "the write in flight at the crash, torn (a sector without the batch's stamp, or a version-1 batch)",
    },
    RecoveryCase {
        kinds: &[Torn],
        positions: &[Tail],
        evidence: &[Landed],
        action: Missing,
        why: "the last write landed in full and was damaged after it was written: maybe acknowledged, so reported, never cut; appends resume after it",
    },
    RecoveryCase {
        kinds: &[Torn],
        positions: &[Tail],
        evidence: &[LaterSeq],
        action: Impossible,
        why: "nothing with a higher sequence follows the tail",
    },
    RecoveryCase {
        kinds: &[Torn],
        positions: ANY_POSITION,
        evidence: &[Contiguous, SeqGap],
        action: Impossible,
        why: "a torn header carries its own sequence; this evidence is for headerless regions",
    },
    RecoveryCase {
        kinds: EMPTY,
        positions: &[BeforeTail],
        evidence: &[Contiguous],
        action: Missing,
        why: "a later batch of the same file generation was written after it: a lost or damaged acknowledged write",
    },
    RecoveryCase {
        kinds: EMPTY,
        positions: &[BeforeTail],
        evidence: &[SeqGap],
        action: Missing,
        why: "batch sequences are missing between its neighbours: the lost batches lie here",
    },
    RecoveryCase {
        kinds: EMPTY,
        positions: &[BeforeTail],
        evidence: &[Nothing],
        action: Skip,
        why: "unused space at the end of an older file, or leftovers of an older generation",
    },
    RecoveryCase {
        kinds: EMPTY,
        positions: &[Tail],
        evidence: &[Nothing],
        action: Cut,
        why: "at or after the tail: never written, or a torn write whose header did not land",
    },
    RecoveryCase {
        kinds: EMPTY,
        positions: &[Tail],
        evidence: &[Contiguous, SeqGap],
        action: Impossible,
        why: "no batch header follows the tail",
    },
    RecoveryCase {
        kinds: EMPTY,
        positions: ANY_POSITION,
        evidence: &[LaterSeq, Superseded, PredecessorCut],
        action: Impossible,
        why: "this evidence is only computed for regions with a header",
    },
    RecoveryCase {
        kinds: &[Zeros, Stale],
        positions: ANY_POSITION,
        evidence: &[Landed],
        action: Impossible,
        why: "only garbage can be a landed batch whose header was damaged",
    },
    RecoveryCase {
        kinds: &[Garbage],
        positions: &[BeforeTail],
        evidence: &[Landed],
        action: Impossible,
        why: "computed only for the region at the tail (before it, a later header proves it)",
    },
    RecoveryCase {
        kinds: &[Garbage],
        positions: &[Tail],
        evidence: &[Landed],
        action: Missing,
        why: "the last write landed in full (every sector carries the stamp its header gives, with one bit corrected or as stored, and the header names this place) and its header was damaged since: maybe acknowledged, so reported, never cut; appends resume after it",
    },
];

/// The row of [`RECOVERY_CASES`] that covers `obs`. Panics if none does (the
/// completeness test makes that a build-time certainty).
pub fn decide(obs: Observation) -> &'static RecoveryCase {
    RECOVERY_CASES
        .iter()
        .find(|c| {
            c.kinds.contains(&obs.kind)
                && c.positions.contains(&obs.position)
                && c.evidence.contains(&obs.evidence)
        })
        .unwrap_or_else(|| panic!("recovery table has no row for {obs:?}"))
}

/// What a missing range may have held (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MissingContents {
    /// A batch whose header is intact and has the `REDO_ONLY` flag: redo, nothing else.
    RedoOnly,
    /// A batch whose header is intact without the `REDO_ONLY` flag: it may hold a
    /// `Truncate` or `SegmentMeta` record.
    MayHoldControl,
    /// No readable header says what was there (zeros, garbage, a stale batch where a
    /// written one must be, or a gap in the batch sequence): anything.
    Unknown,
}

/// What the engine does about a missing range at open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MissingAction {
    /// Report the range's LSNs as a hole of every segment whose floor is below its end
    /// and start: lost redo only, which peers repair.
    Hole,
    /// Refuse to start, naming the damage: replaying around it could resurrect records
    /// a lost truncation annulled, or forget an epoch a lost fence raised.
    Refuse,
}

/// One row of [`MISSING_CASES`].
#[derive(Clone, Copy, Debug)]
pub struct MissingCase {
    pub contents: MissingContents,
    /// Whether the range's redo LSNs are known (`MissingRange::lsns`).
    pub lsns_known: bool,
    pub action: MissingAction,
    pub why: &'static str,
}

/// What the engine does with each kind of missing range. See the module docs.
pub const MISSING_CASES: &[MissingCase] = &[
    MissingCase {
        contents: MissingContents::RedoOnly,
        lsns_known: true,
        action: MissingAction::Hole,
        why: "only redo was lost, in known LSNs: a hole that stops the SCL and that peers repair",
    },
    MissingCase {
        contents: MissingContents::RedoOnly,
        lsns_known: false,
        action: MissingAction::Refuse,
        why: "a redo-only batch without LSNs holds no record; this journal never writes one, so the header cannot be trusted",
    },
    MissingCase {
        contents: MissingContents::MayHoldControl,
        lsns_known: true,
        action: MissingAction::Refuse,
        why: "the batch may have held a truncation or an epoch change; replaying around it could resurrect annulled records",
    },
    MissingCase {
        contents: MissingContents::MayHoldControl,
        lsns_known: false,
        action: MissingAction::Refuse,
        why: "the batch may have held a truncation or an epoch change; replaying around it could resurrect annulled records",
    },
    MissingCase {
        contents: MissingContents::Unknown,
        lsns_known: true,
        action: MissingAction::Refuse,
        why: "nothing readable says what the range held",
    },
    MissingCase {
        contents: MissingContents::Unknown,
        lsns_known: false,
        action: MissingAction::Refuse,
        why: "nothing readable says what the range held",
    },
];

/// A range of the journal that held acknowledged batches and is now unreadable. The
/// hot log marks the hole, reads that need it fail clearly, and peers repair it.
/// Reported at every open until the file is recycled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingRange {
    pub file: JournalFileId,
    /// Byte offset of the damaged region in the file.
    pub offset: u64,
    /// Bytes of the damaged region, when known.
    pub len: Option<u64>,
    /// Lowest batch sequence that may be in the range, when known.
    pub seq_first: Option<BatchSeq>,
    /// Highest batch sequence that may be in the range, when known.
    pub seq_last: Option<BatchSeq>,
    /// `(first_lsn, last_lsn)` of the lost batch, when its header was readable and it
    /// held redo.
    pub lsns: Option<(Lsn, Lsn)>,
    /// What the range may have held.
    pub contents: MissingContents,
    pub reason: String,
}

impl MissingRange {
    /// The row of [`MISSING_CASES`] for this range.
    pub fn case(&self) -> &'static MissingCase {
        let lsns_known = self.lsns.is_some();
        MISSING_CASES
            .iter()
            .find(|c| c.contents == self.contents && c.lsns_known == lsns_known)
            .unwrap_or_else(|| panic!("missing-range table has no row for {self:?}"))
    }
}

impl fmt::Display for MissingRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "missing: {} offset {}", self.file, self.offset)?;
        if let Some(len) = self.len {
            write!(f, " len {len}")?;
        }
        write!(
            f,
            " seq {:?}..={:?}",
            self.seq_first.map(BatchSeq::get),
            self.seq_last.map(BatchSeq::get)
        )?;
        if let Some((a, b)) = self.lsns {
            write!(f, " lsn {a}..={b}")?;
        }
        write!(f, " ({:?}): {}", self.contents, self.reason)
    }
}

/// A region as the scan saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A valid batch; `batch` indexes the scan's batch list.
    Valid {
        seq: BatchSeq,
        batch: usize,
        /// The header's pipeline window: how many batches before it may still have been
        /// in flight when it was written (`PIPELINED`: 1; see
        /// [`Evidence::PredecessorCut`]).
        window: u8,
        /// One flipped bit of the header was corrected (`boreal_segment::header_repair`).
        repaired: bool,
    },
    Torn {
        seq: BatchSeq,
        first_lsn: Lsn,
        last_lsn: Lsn,
        /// The header's `REDO_ONLY` flag.
        redo_only: bool,
        /// Every sector carries the batch's stamp: the write landed in full.
        complete: bool,
        /// The header's pipeline window.
        window: u8,
        /// One flipped bit of the header was corrected.
        repaired: bool,
        /// The check the body failed.
        reason: FormatError,
    },
    Zeros,
    Stale,
    Garbage {
        /// Why the header does not belong here (the first block's).
        reason: FormatError,
        /// The stamp of a batch whose write landed here in full and whose header was
        /// damaged since (`boreal_segment::landed_batch`).
        stamp: Option<u64>,
        /// The one stamp every sector carries, if any (for merging blocks).
        sectors: Option<u64>,
    },
}

impl Seen {
    /// What the bytes are, as the table names it.
    pub fn kind(&self) -> RegionKind {
        match self {
            Seen::Valid { .. } => Valid,
            Seen::Torn { .. } => Torn,
            Seen::Zeros => Zeros,
            Seen::Stale => Stale,
            Seen::Garbage { .. } => Garbage,
        }
    }

    /// The sequence of a readable header (valid or torn).
    pub fn header_seq(&self) -> Option<BatchSeq> {
        match self {
            Seen::Valid { seq, .. } | Seen::Torn { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The region as the pipeline window sees it (`boreal_segment::window`).
    fn window_region(&self) -> WindowRegion {
        match self {
            Seen::Valid { seq, window, .. } => WindowRegion::header(*seq, *window, true),
            Seen::Torn {
                seq,
                window,
                complete,
                ..
            } => WindowRegion::header(*seq, *window, *complete),
            Seen::Garbage { stamp: Some(_), .. } => WindowRegion::Landed,
            _ => WindowRegion::Other,
        }
    }
}

/// One region of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub offset: u64,
    pub len: u64,
    pub seen: Seen,
}

/// One file's regions, in offset order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileItems {
    pub file: JournalFileId,
    pub items: Vec<Item>,
}

/// What recovery decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decisions {
    /// Per file (journal order), per item: the action.
    pub actions: Vec<Vec<Action>>,
    /// Per file, per item: the situation that chose the action (its row of
    /// [`RECOVERY_CASES`]), for a caller that explains the decisions (`boreal verify`).
    pub observed: Vec<Vec<Observation>>,
    /// Scan batch indices to replay, in journal order.
    pub accepted: Vec<usize>,
    pub missing: Vec<MissingRange>,
    /// `(file position in journal order, offset)` where appends resume; `None` when no
    /// file was ever used.
    pub tail: Option<(usize, u64)>,
    pub next_seq: BatchSeq,
    /// `(file position in journal order, offset, len)` to overwrite with zeros, durably,
    /// before appends resume: the pipeline window's cut, when a batch header lies past
    /// the cut point. Left there, an appended batch could end just before it and make
    /// it look like a later batch of the same generation.
    pub zero: Option<(usize, u64, u64)>,
    /// The pipeline window's cut, when there is one.
    pub window: Option<WindowCut>,
    pub report: Vec<String>,
}

/// The pipeline window's cut ([`Evidence::PredecessorCut`]): the last header of the
/// newest file was written while a batch before it was in flight that did not complete,
/// so everything from that batch to the last header is cut (and zeroed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCut {
    /// File position (journal order).
    pub file: usize,
    /// Index in the file's items of the first region cut.
    pub first: usize,
    /// Index in the file's items of the last header (the pipelined batch).
    pub last: usize,
    /// Sequence of the first batch cut (written again after recovery).
    pub seq: BatchSeq,
}

#[cfg(test)]
mod tests;
