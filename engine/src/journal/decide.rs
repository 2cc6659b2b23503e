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

use std::collections::HashSet;
use std::fmt;

use boreal_segment::window::{WindowRegion, window_cut};
use boreal_segment::{BatchSeq, JournalFileId, Lsn};

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
pub(crate) enum Seen {
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
        reason: String,
    },
    Zeros,
    Stale,
    Garbage {
        reason: String,
        /// The stamp of a batch whose write landed here in full and whose header was
        /// damaged since (`boreal_segment::landed_batch`).
        stamp: Option<u64>,
        /// The one stamp every sector carries, if any (for merging blocks).
        sectors: Option<u64>,
    },
}

impl Seen {
    fn kind(&self) -> RegionKind {
        match self {
            Seen::Valid { .. } => Valid,
            Seen::Torn { .. } => Torn,
            Seen::Zeros => Zeros,
            Seen::Stale => Stale,
            Seen::Garbage { .. } => Garbage,
        }
    }

    fn header_seq(&self) -> Option<BatchSeq> {
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
pub(crate) struct Item {
    pub offset: u64,
    pub len: u64,
    pub seen: Seen,
}

/// One file's regions, in offset order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileItems {
    pub file: JournalFileId,
    pub items: Vec<Item>,
}

/// What recovery decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decisions {
    /// Per file (journal order), per item: the action.
    pub actions: Vec<Vec<Action>>,
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
    pub report: Vec<String>,
}

/// Decides every region of `files` (journal order: increasing generation).
pub(crate) fn decide_all(files: &[FileItems], first_offset: u64) -> Decisions {
    let flat: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(fi, f)| (0..f.items.len()).map(move |ii| (fi, ii)))
        .collect();
    let item = |i: usize| &files[flat[i].0].items[flat[i].1];
    let headers: Vec<usize> = (0..flat.len())
        .filter(|&i| item(i).seen.header_seq().is_some())
        .collect();
    let newest = files.len().checked_sub(1);

    // The pipeline window: the last header of the newest file was written while the
    // `k = window` batches before it (sequences t - k .. t - 1) may still have been in
    // flight, so it proves only t - k - 1 durable. If one of those did not complete,
    // neither it nor any later batch was acknowledged (acknowledgements go in sequence
    // order), and everything is cut from the first that did not complete (`cut_from`,
    // an index into `flat`). See `boreal_segment::window`.
    let cut_from = newest.and_then(|n| {
        let &last = headers.last()?;
        if flat[last].0 != n {
            return None;
        }
        let first = last - flat[last].1;
        let regions: Vec<WindowRegion> = (first..=last)
            .map(|i| item(i).seen.window_region())
            .collect();
        window_cut(&regions).map(|(i, seq)| (first + i, seq))
    });
    // Landed batches before the cut keep their sequences (the next open sees them
    // missing between their neighbours, not as a sequence written twice).
    let (cut_from, cut_seq) = cut_from.unzip();
    // The tail: after the last header if it is in the newest file (at it, if torn; a
    // torn one whose write landed in full is reported missing and the tail moves past it
    // once that is decided); at the pipeline window's cut if there is one.
    let mut tail_torn = None;
    let tail = newest.map(|n| match headers.last() {
        _ if cut_from.is_some() => {
            let c = cut_from.expect("checked");
            (flat[c].0, item(c).offset)
        }
        Some(&h) if flat[h].0 == n => {
            let it = item(h);
            if matches!(it.seen, Seen::Torn { .. }) {
                tail_torn = Some(h);
                (n, it.offset)
            } else {
                (n, it.offset + it.len)
            }
        }
        _ => (n, first_offset),
    });
    // The region at the tail, when it has no readable header but is a batch whose
    // write landed in full (`Seen::Garbage::stamp`): reported, and appends resume after
    // it, as for a landed torn batch.
    let tail_garbage = tail
        .filter(|_| tail_torn.is_none() && cut_from.is_none())
        .and_then(|(tf, to)| {
            (0..flat.len()).find(|&i| {
                flat[i].0 == tf
                    && item(i).offset == to
                    && matches!(item(i).seen, Seen::Garbage { stamp: Some(_), .. })
            })
        });

    // Suffix facts: the next header after each region, the highest sequence after it.
    let mut next_header = vec![None; flat.len()];
    let mut later_max = vec![None::<BatchSeq>; flat.len()];
    let (mut next, mut max) = (None, None::<BatchSeq>);
    for i in (0..flat.len()).rev() {
        next_header[i] = next;
        later_max[i] = max;
        if let Some(seq) = item(i).seen.header_seq() {
            next = Some(i);
            max = Some(max.map_or(seq, |m| m.max(seq)));
        }
    }
    let valid_seqs: HashSet<u64> = headers
        .iter()
        .filter_map(|&h| {
            if let Seen::Valid { seq, .. } = item(h).seen {
                Some(seq.get())
            } else {
                None
            }
        })
        .collect();

    let mut d = Decisions {
        actions: files
            .iter()
            .map(|f| Vec::with_capacity(f.items.len()))
            .collect(),
        accepted: Vec::new(),
        missing: Vec::new(),
        tail,
        next_seq: BatchSeq::ZERO,
        zero: cut_from.and_then(|c| {
            let &last = headers.last()?;
            let end = item(last).offset + item(last).len;
            Some((flat[c].0, item(c).offset, end - item(c).offset))
        }),
        report: Vec::new(),
    };
    let mut prev: Option<(BatchSeq, usize)> = None; // last accepted valid batch
    let mut torn_missing_since_prev: Vec<BatchSeq> = Vec::new();
    let mut region_missing_since_prev = false;
    let mut seq_max: Option<BatchSeq> = None;
    // The torn batch at the tail landed in full: missing, and appends resume after it.
    let mut tail_landed = false;

    for i in 0..flat.len() {
        let (fi, _) = flat[i];
        let it = item(i);
        let position = match tail {
            Some((tf, to)) if fi == tf && it.offset >= to => Tail,
            _ => BeforeTail,
        };
        let prev_seq = prev.map(|(s, _)| s);
        let cut = cut_from.filter(|&c| i >= c);
        let evidence = match &it.seen {
            _ if cut.is_some_and(|c| i > c) && it.seen.header_seq().is_some() => PredecessorCut,
            _ if cut.is_some() => Nothing,
            Seen::Valid { seq, .. } => {
                if prev_seq.is_some_and(|p| *seq <= p) {
                    Superseded
                } else {
                    Nothing
                }
            }
            Seen::Torn { seq, complete, .. } => {
                if prev_seq.is_some_and(|p| *seq <= p) || valid_seqs.contains(&seq.get()) {
                    Superseded
                } else if later_max[i].is_some_and(|m| m > *seq) || newest.is_some_and(|n| fi < n) {
                    LaterSeq
                } else if *complete {
                    Landed
                } else {
                    Nothing
                }
            }
            _ if tail_garbage == Some(i) => Landed,
            Seen::Zeros | Seen::Stale | Seen::Garbage { .. } => {
                let next_seq = next_header[i].and_then(|h| item(h).seen.header_seq());
                if next_header[i].is_some_and(|h| flat[h].0 == fi) {
                    Contiguous
                } else if let (Some(p), Some(n)) = (prev_seq, next_seq) {
                    let explained = torn_missing_since_prev
                        .iter()
                        .filter(|t| p < **t && **t < n)
                        .count() as u64;
                    if n.get() > p.get() + 1 + explained {
                        SeqGap
                    } else {
                        Nothing
                    }
                } else {
                    Nothing
                }
            }
        };
        let obs = Observation {
            kind: it.seen.kind(),
            position,
            evidence,
        };
        let case = decide(obs);
        assert!(
            case.action != Impossible,
            "recovery observed an impossible situation {obs:?}: {}",
            case.why
        );
        if tail_torn == Some(i) {
            tail_landed = case.action == Missing;
            assert!(
                case.action == Cut || (tail_landed && evidence == Landed),
                "the tail torn batch is cut unless its write landed: {obs:?} -> {:?}",
                case.action
            );
        }
        d.actions[fi].push(case.action);
        if let Some(seq) = it.seen.header_seq()
            && (tail_torn != Some(i) || tail_landed)
            && cut.is_none()
        {
            seq_max = Some(seq_max.map_or(seq, |m| m.max(seq)));
        }
        let file = files[fi].file;
        if matches!(
            it.seen,
            Seen::Valid { repaired: true, .. } | Seen::Torn { repaired: true, .. }
        ) {
            d.report.push(format!(
                "{file} offset {} len {}: one flipped bit of the batch header corrected (stored damage; the batch is judged as written)",
                it.offset, it.len
            ));
        }
        if case.action != Accept {
            d.report.push(format!(
                "{file} offset {} len {}: {:?}, {:?}, {:?} -> {:?}: {}{}",
                it.offset,
                it.len,
                obs.kind,
                obs.position,
                obs.evidence,
                case.action,
                case.why,
                match &it.seen {
                    Seen::Torn { reason, .. } | Seen::Garbage { reason, .. } =>
                        format!(" ({reason})"),
                    _ => String::new(),
                }
            ));
        }
        match (case.action, &it.seen) {
            (Accept, Seen::Valid { seq, batch, .. }) => {
                if let Some((p, pi)) = prev
                    && seq.get() > p.get() + 1
                    && !region_missing_since_prev
                {
                    let covered: HashSet<u64> =
                        torn_missing_since_prev.iter().map(|t| t.get()).collect();
                    let uncovered: Vec<u64> = (p.get() + 1..seq.get())
                        .filter(|s| !covered.contains(s))
                        .collect();
                    if let (Some(&lo), Some(&hi)) = (uncovered.first(), uncovered.last()) {
                        let pit = item(pi);
                        d.missing.push(MissingRange {
                            file: files[flat[pi].0].file,
                            offset: pit.offset + pit.len,
                            len: None,
                            seq_first: Some(BatchSeq::new(lo)),
                            seq_last: Some(BatchSeq::new(hi)),
                            lsns: None,
                            contents: MissingContents::Unknown,
                            reason: "batch sequence gap with no damaged region between (an unreadable journal file?)"
                                .into(),
                        });
                    }
                }
                prev = Some((*seq, i));
                torn_missing_since_prev.clear();
                region_missing_since_prev = false;
                d.accepted.push(*batch);
            }
            (
                Missing,
                Seen::Torn {
                    seq,
                    first_lsn,
                    last_lsn,
                    redo_only,
                    reason,
                    ..
                },
            ) => {
                torn_missing_since_prev.push(*seq);
                d.missing.push(MissingRange {
                    file,
                    offset: it.offset,
                    len: Some(it.len),
                    seq_first: Some(*seq),
                    seq_last: Some(*seq),
                    lsns: (*first_lsn != Lsn::ZERO).then_some((*first_lsn, *last_lsn)),
                    contents: if *redo_only {
                        MissingContents::RedoOnly
                    } else {
                        MissingContents::MayHoldControl
                    },
                    reason: format!("{}: {reason}", case.why),
                });
            }
            (Missing, _) => {
                region_missing_since_prev = true;
                let next_seq = next_header[i].and_then(|h| item(h).seen.header_seq());
                d.missing.push(MissingRange {
                    file,
                    offset: it.offset,
                    len: Some(it.len),
                    seq_first: prev_seq.map(BatchSeq::next),
                    seq_last: next_seq
                        .and_then(|n| n.get().checked_sub(1))
                        .map(BatchSeq::new),
                    lsns: None,
                    contents: MissingContents::Unknown,
                    reason: format!("{:?}: {}", obs.kind, case.why),
                });
            }
            _ => {}
        }
    }
    let after_max = seq_max.map_or(BatchSeq::ZERO, BatchSeq::next);
    if let Some(h) = tail_torn.filter(|_| tail_landed) {
        d.tail = Some((flat[h].0, item(h).offset + item(h).len));
    }
    if let Some(g) = tail_garbage
        && d.actions[flat[g].0].get(flat[g].1) == Some(&Missing)
    {
        // Its sequence (the one after the last header) stays used.
        d.tail = Some((flat[g].0, item(g).offset + item(g).len));
        d.next_seq = after_max.next();
        return d;
    }
    d.next_seq = match tail_torn
        .filter(|_| !tail_landed)
        .and_then(|h| item(h).seen.header_seq())
    {
        Some(t) => t.max(after_max),
        None => after_max,
    };
    if let Some(s) = cut_seq {
        d.next_seq = d.next_seq.max(s);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [RegionKind; 5] = [Valid, Torn, Zeros, Stale, Garbage];
    const POSITIONS: [Position; 2] = [BeforeTail, Tail];
    const EVIDENCE: [Evidence; 7] = [
        Nothing,
        Contiguous,
        SeqGap,
        LaterSeq,
        Superseded,
        Landed,
        PredecessorCut,
    ];

    #[test]
    fn table_is_complete_unambiguous_and_never_cuts_acknowledged_data() {
        let mut possible = 0;
        for kind in KINDS {
            for position in POSITIONS {
                for evidence in EVIDENCE {
                    let obs = Observation {
                        kind,
                        position,
                        evidence,
                    };
                    let rows: Vec<_> = RECOVERY_CASES
                        .iter()
                        .filter(|c| {
                            c.kinds.contains(&kind)
                                && c.positions.contains(&position)
                                && c.evidence.contains(&evidence)
                        })
                        .collect();
                    assert_eq!(rows.len(), 1, "{obs:?} matches {} rows", rows.len());
                    let action = rows[0].action;
                    // Consistency: nothing proven (or, landed, maybe) acknowledged is ever
                    // cut or skipped.
                    if matches!(evidence, Contiguous | SeqGap | LaterSeq | Landed) {
                        assert!(
                            matches!(action, Missing | Impossible),
                            "{obs:?} -> {action:?}"
                        );
                    }
                    // Only the tail is cut, and only valid batches are replayed.
                    assert!(action != Cut || position == Tail, "{obs:?}");
                    assert!(action != Accept || kind == Valid, "{obs:?}");
                    // Missing at the tail only for the last write, landed and damaged.
                    assert!(
                        action != Missing || position == BeforeTail || evidence == Landed,
                        "{obs:?}"
                    );
                    if action != Impossible {
                        possible += 1;
                    }
                }
            }
        }
        assert_eq!(
            possible, 22,
            "the number of reachable situations changed: update the docs"
        );
        // Every row is used by at least one situation and explains itself.
        for c in RECOVERY_CASES {
            assert!(!c.kinds.is_empty() && !c.positions.is_empty() && !c.evidence.is_empty());
            assert!(!c.why.is_empty());
        }
    }

    #[test]
    fn missing_table_is_complete_and_only_known_redo_becomes_a_hole() {
        for contents in [
            MissingContents::RedoOnly,
            MissingContents::MayHoldControl,
            MissingContents::Unknown,
        ] {
            for lsns_known in [false, true] {
                let rows = MISSING_CASES
                    .iter()
                    .filter(|c| c.contents == contents && c.lsns_known == lsns_known)
                    .count();
                assert_eq!(rows, 1, "{contents:?} lsns_known={lsns_known}: {rows} rows");
            }
        }
        for c in MISSING_CASES {
            assert!(!c.why.is_empty());
            assert_eq!(
                c.action == MissingAction::Hole,
                c.contents == MissingContents::RedoOnly && c.lsns_known,
                "{c:?}"
            );
        }
    }

    fn valid(offset: u64, seq: u64, batch: usize) -> Item {
        Item {
            offset,
            len: 4096,
            seen: Seen::Valid {
                seq: BatchSeq::new(seq),
                batch,
                window: 0,
                repaired: false,
            },
        }
    }
    /// `it` with the `PIPELINED` flag set (a window of one batch).
    fn pipelined(it: Item) -> Item {
        with_window(it, 1)
    }
    /// `it` written while `k` batches before it may have been in flight.
    fn with_window(mut it: Item, k: u8) -> Item {
        match &mut it.seen {
            Seen::Valid { window, .. } | Seen::Torn { window, .. } => *window = k,
            _ => panic!("only a header carries a window"),
        }
        it
    }
    fn torn(offset: u64, seq: u64) -> Item {
        Item {
            offset,
            len: 4096,
            seen: Seen::Torn {
                seq: BatchSeq::new(seq),
                first_lsn: Lsn::new(5),
                last_lsn: Lsn::new(9),
                redo_only: true,
                complete: false,
                window: 0,
                repaired: false,
                reason: "crc".into(),
            },
        }
    }
    /// A torn batch whose write landed in full (every sector carries its stamp).
    fn landed(offset: u64, seq: u64) -> Item {
        let mut it = torn(offset, seq);
        if let Seen::Torn { complete, .. } = &mut it.seen {
            *complete = true;
        }
        it
    }
    fn garbage(offset: u64, len: u64) -> Item {
        Item {
            offset,
            len,
            seen: Seen::Garbage {
                reason: "magic".into(),
                stamp: None,
                sectors: None,
            },
        }
    }
    fn zeros(offset: u64, len: u64) -> Item {
        Item {
            offset,
            len,
            seen: Seen::Zeros,
        }
    }
    fn file(id: u64, items: Vec<Item>) -> FileItems {
        FileItems {
            file: JournalFileId::new(id),
            items,
        }
    }

    #[test]
    fn torn_tail_is_cut_and_appends_resume_there() {
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    valid(8192, 2, 1),
                    torn(12288, 3),
                    zeros(16384, 4096),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
        assert_eq!(d.tail, Some((0, 12288)));
        assert_eq!(d.next_seq, BatchSeq::new(3));
        assert!(d.missing.is_empty());
    }

    #[test]
    fn a_landed_damaged_last_batch_is_missing_and_appends_resume_after_it() {
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    valid(8192, 2, 1),
                    landed(12288, 3),
                    zeros(16384, 4096),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Missing, Cut]);
        assert_eq!(d.tail, Some((0, 16384)), "appends resume after it");
        assert_eq!(d.next_seq, BatchSeq::new(4), "its sequence stays used");
        assert_eq!(d.missing.len(), 1);
        let m = &d.missing[0];
        assert_eq!((m.offset, m.seq_first), (12288, Some(BatchSeq::new(3))));
        assert_eq!(m.lsns, Some((Lsn::new(5), Lsn::new(9))));
        assert_eq!(m.contents, MissingContents::RedoOnly);
        assert!(m.reason.contains("landed in full"), "{}", m.reason);

        // The next open, after a batch was appended there: the same batch, now below
        // a later one, is missing again.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    valid(8192, 2, 1),
                    landed(12288, 3),
                    valid(16384, 4, 2),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Missing, Accept]);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(3)));
        assert_eq!(d.next_seq, BatchSeq::new(5));

        // A landed write whose sequence was written again is an old, cut write.
        let d = decide_all(
            &[
                file(0, vec![valid(4096, 1, 0), landed(8192, 2)]),
                file(1, vec![valid(4096, 2, 1)]),
            ],
            4096,
        );
        assert_eq!(d.actions, vec![vec![Accept, Skip], vec![Accept]]);
    }

    #[test]
    fn damage_before_a_later_batch_is_missing_never_cut() {
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    garbage(8192, 4096),
                    valid(12288, 3, 1),
                    zeros(16384, 4096),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Accept, Cut]);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(2)));
        assert_eq!(d.missing[0].seq_last, Some(BatchSeq::new(2)));
        assert_eq!(d.tail, Some((0, 16384)));
        assert_eq!(d.next_seq, BatchSeq::new(4));
    }

    #[test]
    fn a_torn_header_before_the_in_flight_one_proves_acknowledgement() {
        let d = decide_all(
            &[file(
                0,
                vec![valid(4096, 1, 0), torn(8192, 2), torn(12288, 3)],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Cut]);
        assert_eq!(d.missing[0].lsns, Some((Lsn::new(5), Lsn::new(9))));
        assert_eq!(d.next_seq, BatchSeq::new(3));
    }

    #[test]
    fn end_of_an_older_file_is_skipped_unless_sequences_are_missing() {
        let files = [
            file(0, vec![valid(4096, 1, 0), zeros(8192, 8192)]),
            file(1, vec![valid(4096, 2, 1)]),
        ];
        let d = decide_all(&files, 4096);
        assert_eq!(d.actions, vec![vec![Accept, Skip], vec![Accept]]);
        let files = [
            file(0, vec![valid(4096, 1, 0), garbage(8192, 8192)]),
            file(1, vec![valid(4096, 3, 1)]),
        ];
        let d = decide_all(&files, 4096);
        assert_eq!(d.actions, vec![vec![Accept, Missing], vec![Accept]]);
        // A gap with nothing between: reported at the end of the previous batch.
        let files = [
            file(0, vec![valid(4096, 1, 0)]),
            file(1, vec![valid(4096, 3, 1)]),
        ];
        let d = decide_all(&files, 4096);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(
            (d.missing[0].file, d.missing[0].offset),
            (JournalFileId::new(0), 8192)
        );
        // A torn batch in an older file was completed before the newer file began.
        let files = [
            file(0, vec![valid(4096, 1, 0), torn(8192, 2)]),
            file(1, vec![]),
        ];
        let d = decide_all(&files, 4096);
        assert_eq!(d.actions[0], [Accept, Missing]);
        assert_eq!(d.tail, Some((1, 4096)));
        assert_eq!(d.next_seq, BatchSeq::new(3));
    }

    #[test]
    fn a_cut_batch_rewritten_in_the_next_file_is_skipped() {
        let files = [
            file(0, vec![valid(4096, 1, 0), torn(8192, 2)]),
            file(1, vec![valid(4096, 2, 1)]),
        ];
        let d = decide_all(&files, 4096);
        assert_eq!(d.actions, vec![vec![Accept, Skip], vec![Accept]]);
        assert!(d.missing.is_empty());
    }

    #[test]
    fn a_pipelined_batch_after_one_that_did_not_complete_is_cut_with_it() {
        // Batch 3 torn without its stamps, pipelined batch 4 valid: 3 never completed, so
        // neither was acknowledged. Both are cut, the cut range is zeroed, and
        // appends resume at 3's place with sequence 3.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    valid(8192, 2, 1),
                    torn(12288, 3),
                    pipelined(valid(16384, 4, 2)),
                    zeros(20480, 4096),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut, Cut]);
        assert_eq!(d.accepted, [0, 1]);
        assert!(d.missing.is_empty(), "{:?}", d.missing);
        assert_eq!(d.tail, Some((0, 12288)));
        assert_eq!(d.next_seq, BatchSeq::new(3));
        assert_eq!(d.zero, Some((0, 12288, 8192)));

        // No header where batch 3 must be (its write did not land, or landed only in
        // part without the header): the same.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    valid(8192, 2, 1),
                    garbage(12288, 8192),
                    pipelined(torn(20480, 4)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
        assert!(d.missing.is_empty());
        assert_eq!(d.tail, Some((0, 12288)));
        assert_eq!(d.next_seq, BatchSeq::new(3));
        assert_eq!(d.zero, Some((0, 12288, 12288)));
    }

    #[test]
    fn a_pipelined_batch_after_a_completed_one_keeps_the_usual_rules() {
        // Batch 3 valid: the pipelined batch is replayed (or cut if torn, as any tail).
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 2, 0),
                    valid(8192, 3, 1),
                    pipelined(valid(12288, 4, 2)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Accept]);
        assert_eq!(
            (d.tail, d.next_seq, d.zero),
            (Some((0, 16384)), BatchSeq::new(5), None)
        );
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 2, 0),
                    valid(8192, 3, 1),
                    pipelined(torn(12288, 4)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Cut]);
        assert_eq!(
            (d.tail, d.next_seq, d.zero),
            (Some((0, 12288)), BatchSeq::new(4), None)
        );

        // Batch 3 landed in full and was damaged: maybe acknowledged, so missing, and
        // the pipelined batch after it is replayed.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 2, 0),
                    landed(8192, 3),
                    pipelined(valid(12288, 4, 1)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Accept]);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(3)));
        assert_eq!(d.zero, None);

        // A torn batch followed by a later pipelined one: the later one proves it
        // (sequence 5 was written only after 3 was durable).
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 2, 0),
                    torn(8192, 3),
                    pipelined(valid(12288, 4, 1)),
                    pipelined(valid(16384, 5, 2)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Accept, Accept]);
        assert_eq!(d.zero, None);

        // No readable header where batch 3 must be, but every sector carries one stamp:
        // its write landed in full and its header was damaged since. Maybe
        // acknowledged: reported, not cut.
        let mut stamped = garbage(8192, 4096);
        if let Seen::Garbage { stamp, .. } = &mut stamped.seen {
            *stamp = Some(0x5eed);
        }
        let d = decide_all(
            &[file(
                0,
                vec![valid(4096, 2, 0), stamped, pipelined(valid(12288, 4, 1))],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Accept]);
        assert_eq!(d.zero, None);

        // Headerless damage that may span the batch two before the pipelined one (its
        // header is gone too): not the window; reported, never cut.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 2, 0),
                    garbage(8192, 8192),
                    pipelined(valid(16384, 5, 1)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Accept]);
        assert_eq!(d.zero, None);
    }

    /// A garbage region whose every sector carries the stamp its damaged header gives.
    fn landed_garbage(offset: u64) -> Item {
        let mut it = garbage(offset, 4096);
        if let Seen::Garbage { stamp, .. } = &mut it.seen {
            *stamp = Some(0x5eed);
        }
        it
    }

    #[test]
    fn a_window_of_two_cuts_from_the_first_batch_that_did_not_complete() {
        // Batches 3 and 4 may have been in flight when 5 was written: 5 proves only 2.
        let w2 = |it| with_window(it, 2);
        let decide = |items: Vec<Item>| decide_all(&[file(0, items)], 4096);

        // Both completed: the usual rules, everything replayed.
        let d = decide(vec![
            valid(4096, 2, 0),
            valid(8192, 3, 1),
            pipelined(valid(12288, 4, 2)),
            w2(valid(16384, 5, 3)),
        ]);
        assert_eq!(d.actions[0], [Accept, Accept, Accept, Accept]);
        assert_eq!((d.zero, d.next_seq), (None, BatchSeq::new(6)));

        // Batch 3 torn without its stamps: 3, 4 and 5 were never acknowledged, even
        // though 4 is valid. All three are cut and zeroed; appends resume at 3.
        let d = decide(vec![
            valid(4096, 2, 0),
            torn(8192, 3),
            pipelined(valid(12288, 4, 1)),
            w2(valid(16384, 5, 2)),
            zeros(20480, 4096),
        ]);
        assert_eq!(d.actions[0], [Accept, Cut, Cut, Cut, Cut]);
        assert!(d.missing.is_empty(), "{:?}", d.missing);
        assert_eq!(d.accepted, [0]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 8192)), BatchSeq::new(3)));
        assert_eq!(d.zero, Some((0, 8192, 12288)));

        // Batch 3 valid, 4 torn: cut from 4.
        let d = decide(vec![
            valid(4096, 2, 0),
            valid(8192, 3, 1),
            pipelined(torn(12288, 4)),
            w2(valid(16384, 5, 2)),
        ]);
        assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
        assert_eq!(d.zero, Some((0, 12288, 8192)));

        // Batch 3 landed in full and was damaged since (maybe acknowledged), 4 torn:
        // 3 is reported missing and kept, the cut starts at 4.
        let d = decide(vec![
            valid(4096, 2, 0),
            landed(8192, 3),
            pipelined(torn(12288, 4)),
            w2(valid(16384, 5, 1)),
        ]);
        assert_eq!(d.actions[0], [Accept, Missing, Cut, Cut]);
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(3)));
        assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));

        // No header where 3 and 4 must be: one region that is not a landed batch. Cut.
        let d = decide(vec![
            valid(4096, 2, 0),
            garbage(8192, 8192),
            w2(valid(16384, 5, 1)),
        ]);
        assert_eq!(d.actions[0], [Accept, Cut, Cut]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 8192)), BatchSeq::new(3)));

        // Two regions, each a landed batch whose header was damaged since: both
        // completed, maybe acknowledged: reported, not cut, and 5 is replayed.
        let d = decide(vec![
            valid(4096, 2, 0),
            landed_garbage(8192),
            landed_garbage(12288),
            w2(valid(16384, 5, 1)),
        ]);
        assert_eq!(d.actions[0], [Accept, Missing, Missing, Accept]);
        assert_eq!(d.zero, None);

        // 3 landed (header damaged), 4's place holds no batch: 3 is kept and
        // reported, the cut starts at 4's place.
        let d = decide(vec![
            valid(4096, 2, 0),
            landed_garbage(8192),
            garbage(12288, 4096),
            w2(valid(16384, 5, 1)),
        ]);
        assert_eq!(d.actions[0], [Accept, Missing, Cut, Cut]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
        assert_eq!(d.zero, Some((0, 12288, 8192)));

        // 3's header present and complete, 4's missing: one region that is not a
        // landed batch after 3. Cut from it.
        let d = decide(vec![
            valid(4096, 2, 0),
            valid(8192, 3, 1),
            garbage(12288, 4096),
            w2(torn(16384, 5)),
        ]);
        assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
    }

    #[test]
    fn a_header_inside_the_window_proves_what_its_own_window_allows() {
        let w2 = |it| with_window(it, 2);
        // 4 was written with nothing in flight, so 3 had completed: 3 reads as torn
        // only because it was damaged since. Not the window's cut: reported missing,
        // and 4 and 5 are replayed.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 2, 0),
                    torn(8192, 3),
                    valid(12288, 4, 1),
                    w2(valid(16384, 5, 2)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Accept, Accept]);
        assert_eq!(d.zero, None);

        // Same, but 4 is torn too (its header intact): 3 is proven, 4 did not
        // complete, so the cut starts at 4.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 2, 0),
                    torn(8192, 3),
                    torn(12288, 4),
                    w2(valid(16384, 5, 1)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Cut, Cut]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
    }

    #[test]
    fn a_window_of_two_without_the_header_below_it_starts_at_its_oldest_header() {
        let w2 = |it| with_window(it, 2);
        // The header of 2 is unreadable, 3 and 4 are there: the window is still told.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    garbage(8192, 4096),
                    valid(12288, 3, 1),
                    pipelined(torn(16384, 4)),
                    w2(valid(20480, 5, 2)),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Missing, Accept, Cut, Cut]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 16384)), BatchSeq::new(4)));

        // Only 4's header is there: whether 3 completed cannot be told, so no window;
        // the usual rules report what is damaged and cut nothing below a header.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    garbage(8192, 8192),
                    pipelined(torn(16384, 4)),
                    w2(valid(20480, 5, 2)),
                ],
            )],
            4096,
        );
        assert_eq!(d.zero, None);
        assert!(!d.actions[0].contains(&Cut), "{:?}", d.actions[0]);
    }

    #[test]
    fn a_landed_last_batch_with_a_damaged_header_is_missing_and_appends_resume_after_it() {
        let mut stamped = garbage(12288, 4096);
        if let Seen::Garbage { stamp, .. } = &mut stamped.seen {
            *stamp = Some(0x5eed);
        }
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    valid(8192, 2, 1),
                    stamped.clone(),
                    zeros(16384, 4096),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Missing, Cut]);
        assert_eq!(d.tail, Some((0, 16384)));
        assert_eq!(d.next_seq, BatchSeq::new(4), "its sequence (3) stays used");
        assert_eq!(d.missing.len(), 1);
        assert_eq!(d.missing[0].contents, MissingContents::Unknown);
        // The next open, after a batch was appended after it: missing again, no gap.
        let d = decide_all(
            &[file(
                0,
                vec![
                    valid(4096, 1, 0),
                    valid(8192, 2, 1),
                    stamped,
                    valid(16384, 4, 2),
                ],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Missing, Accept]);
        assert_eq!(d.missing.len(), 1);
        // Without the stamp (a torn write whose header did not land): cut, as before.
        let d = decide_all(
            &[file(
                0,
                vec![valid(4096, 1, 0), valid(8192, 2, 1), garbage(12288, 4096)],
            )],
            4096,
        );
        assert_eq!(d.actions[0], [Accept, Accept, Cut]);
        assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(3)));
    }
}
