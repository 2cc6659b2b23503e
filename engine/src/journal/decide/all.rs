//! [`decide_all`]: the journal's regions, in journal order, through [`RECOVERY_CASES`]
//! (see the parent module for the rules and what they guarantee).
//!
//! In named steps, each a pass over the regions or a fact about them:
//! 1. [`Journal::new`]: the regions flattened in journal order, and which hold a header;
//! 2. [`Journal::pipeline_window`]: where the last header's window cuts, if anywhere;
//! 3. [`Journal::tail`]: where appends resume, before the landed-batch moves;
//! 4. [`Journal::landed_garbage_at_tail`]: a headerless landed batch at the tail;
//! 5. [`Suffix::of`]: what lies after each region (next header, highest sequence);
//! 6. [`Walk`]: each region's evidence, its row of the table, and what the row does
//!    (replay, a missing range, the report), in journal order;
//! 7. [`Walk::finish`]: the tail after landed batches, and the next sequence.
//!
//! Sans-I/O, deterministic, and shared with `boreal verify` (which builds the same
//! regions from the same bytes with `journal::judge`).

use std::collections::HashSet;

use boreal_segment::window::{WindowRegion, window_cut};
use boreal_segment::{BatchSeq, Lsn};

use super::Action::{Accept, Cut, Impossible, Missing};
use super::Evidence::{Contiguous, Landed, LaterSeq, Nothing, PredecessorCut, SeqGap, Superseded};
use super::Position::{BeforeTail, Tail};
use super::{
    Decisions, Evidence, FileItems, Item, MissingContents, MissingRange, Observation, RecoveryCase,
    Seen, WindowCut, decide,
};

/// Decides every region of `files` (journal order: increasing generation); appends
/// resume at `first_offset` of the newest file when it holds no header.
pub fn decide_all(files: &[FileItems], first_offset: u64) -> Decisions {
    let j = Journal::new(files);
    let window = j.pipeline_window();
    let tail = j.tail(window.map(|w| w.0), first_offset);
    let landed_garbage = j.landed_garbage_at_tail(&tail, window.is_some());
    let suffix = Suffix::of(&j);
    let mut walk = Walk::new(&j, &tail, window, landed_garbage, &suffix);
    for i in 0..j.flat.len() {
        walk.step(i);
    }
    walk.finish()
}

/// Step 1: the regions of every file in journal order.
struct Journal<'f> {
    files: &'f [FileItems],
    /// `(file position, item index)` of every region, in journal order.
    flat: Vec<(usize, usize)>,
    /// Indices into `flat` of the regions with a readable header (valid or torn).
    headers: Vec<usize>,
    /// Position of the newest file; `None` when there is no file.
    newest: Option<usize>,
}

impl<'f> Journal<'f> {
    fn new(files: &'f [FileItems]) -> Journal<'f> {
        let flat: Vec<(usize, usize)> = files
            .iter()
            .enumerate()
            .flat_map(|(fi, f)| (0..f.items.len()).map(move |ii| (fi, ii)))
            .collect();
        let mut j = Journal {
            files,
            flat,
            headers: Vec::new(),
            newest: files.len().checked_sub(1),
        };
        j.headers = (0..j.flat.len())
            .filter(|&i| j.item(i).seen.header_seq().is_some())
            .collect();
        j
    }

    fn item(&self, i: usize) -> &'f Item {
        let (fi, ii) = self.flat[i];
        &self.files[fi].items[ii]
    }

    /// The file position of region `i`.
    fn file_of(&self, i: usize) -> usize {
        self.flat[i].0
    }

    /// Step 2, the pipeline window: the last header of the newest file was written
    /// while the `k = window` batches before it (sequences t - k .. t - 1) may still
    /// have been in flight, so it proves only t - k - 1 durable. If one of those did
    /// not complete, neither it nor any later batch was acknowledged (acknowledgements
    /// go in sequence order), and everything is cut from the first that did not
    /// complete. Returns that region (an index into `flat`) and its sequence. See
    /// `boreal_segment::window`.
    fn pipeline_window(&self) -> Option<(usize, BatchSeq)> {
        let n = self.newest?;
        let &last = self.headers.last()?;
        if self.file_of(last) != n {
            return None;
        }
        let first = last - self.flat[last].1;
        let regions: Vec<WindowRegion> = (first..=last)
            .map(|i| self.item(i).seen.window_region())
            .collect();
        window_cut(&regions).map(|(i, seq)| (first + i, seq))
    }

    /// Step 3, the tail: after the last header if it is in the newest file (at it, if
    /// torn: a torn one whose write landed in full is reported missing and the tail
    /// moves past it once that is decided, in [`Walk::finish`]); at the pipeline
    /// window's cut if there is one; else at `first_offset` of the newest file.
    fn tail(&self, cut_from: Option<usize>, first_offset: u64) -> TailAt {
        let mut torn = None;
        let at = self.newest.map(|n| match (cut_from, self.headers.last()) {
            (Some(c), _) => (self.file_of(c), self.item(c).offset),
            (None, Some(&h)) if self.file_of(h) == n => {
                let it = self.item(h);
                if matches!(it.seen, Seen::Torn { .. }) {
                    torn = Some(h);
                    (n, it.offset)
                } else {
                    (n, it.offset + it.len)
                }
            }
            _ => (n, first_offset),
        });
        TailAt { at, torn }
    }

    /// Step 4: the region at the tail, when it has no readable header but is a batch
    /// whose write landed in full (`Seen::Garbage::stamp`): reported, and appends
    /// resume after it, as for a landed torn batch.
    fn landed_garbage_at_tail(&self, tail: &TailAt, window_cut: bool) -> Option<usize> {
        if tail.torn.is_some() || window_cut {
            return None;
        }
        let (tf, to) = tail.at?;
        (0..self.flat.len()).find(|&i| {
            self.file_of(i) == tf
                && self.item(i).offset == to
                && matches!(self.item(i).seen, Seen::Garbage { stamp: Some(_), .. })
        })
    }
}

/// Where appends resume, as step 3 finds it.
struct TailAt {
    /// `(file position, offset)`; `None` when there is no file.
    at: Option<(usize, u64)>,
    /// The torn header at the tail (an index into `flat`), if the tail is at one.
    torn: Option<usize>,
}

/// Step 5: what lies after each region.
struct Suffix {
    /// The next region with a header after each region.
    next_header: Vec<Option<usize>>,
    /// The highest header sequence after each region.
    later_max: Vec<Option<BatchSeq>>,
    /// Sequences of every valid batch.
    valid_seqs: HashSet<u64>,
}

impl Suffix {
    fn of(j: &Journal<'_>) -> Suffix {
        let len = j.flat.len();
        let mut next_header = vec![None; len];
        let mut later_max = vec![None::<BatchSeq>; len];
        let (mut next, mut max) = (None, None::<BatchSeq>);
        for i in (0..len).rev() {
            next_header[i] = next;
            later_max[i] = max;
            if let Some(seq) = j.item(i).seen.header_seq() {
                next = Some(i);
                max = Some(max.map_or(seq, |m| m.max(seq)));
            }
        }
        let valid_seqs = j
            .headers
            .iter()
            .filter_map(|&h| match j.item(h).seen {
                Seen::Valid { seq, .. } => Some(seq.get()),
                _ => None,
            })
            .collect();
        Suffix {
            next_header,
            later_max,
            valid_seqs,
        }
    }

    /// The sequence of the next header after region `i`.
    fn next_seq(&self, j: &Journal<'_>, i: usize) -> Option<BatchSeq> {
        self.next_header[i].and_then(|h| j.item(h).seen.header_seq())
    }
}

/// Step 6: the regions in journal order, each judged and acted on.
struct Walk<'a, 'f> {
    j: &'a Journal<'f>,
    suffix: &'a Suffix,
    cut_from: Option<usize>,
    cut_seq: Option<BatchSeq>,
    tail_torn: Option<usize>,
    landed_garbage: Option<usize>,
    d: Decisions,
    /// The last accepted valid batch: its sequence and region.
    prev: Option<(BatchSeq, usize)>,
    /// Sequences of torn batches reported missing since `prev`.
    torn_missing_since_prev: Vec<BatchSeq>,
    /// A headerless region was reported missing since `prev`.
    region_missing_since_prev: bool,
    /// Highest sequence that stays used (not cut).
    seq_max: Option<BatchSeq>,
    /// The torn batch at the tail landed in full: missing, and appends resume after it.
    tail_landed: bool,
}

impl<'a, 'f> Walk<'a, 'f> {
    fn new(
        j: &'a Journal<'f>,
        tail: &TailAt,
        window: Option<(usize, BatchSeq)>,
        landed_garbage: Option<usize>,
        suffix: &'a Suffix,
    ) -> Walk<'a, 'f> {
        let (cut_from, cut_seq) = window.unzip();
        let zero = cut_from.and_then(|c| {
            let &last = j.headers.last()?;
            let end = j.item(last).offset + j.item(last).len;
            Some((j.file_of(c), j.item(c).offset, end - j.item(c).offset))
        });
        let window = match (cut_from, cut_seq, j.headers.last()) {
            (Some(c), Some(seq), Some(&last)) => Some(WindowCut {
                file: j.file_of(c),
                first: j.flat[c].1,
                last: j.flat[last].1,
                seq,
            }),
            _ => None,
        };
        Walk {
            j,
            suffix,
            cut_from,
            cut_seq,
            tail_torn: tail.torn,
            landed_garbage,
            d: Decisions {
                actions: j
                    .files
                    .iter()
                    .map(|f| Vec::with_capacity(f.items.len()))
                    .collect(),
                observed: j
                    .files
                    .iter()
                    .map(|f| Vec::with_capacity(f.items.len()))
                    .collect(),
                accepted: Vec::new(),
                missing: Vec::new(),
                tail: tail.at,
                next_seq: BatchSeq::ZERO,
                zero,
                window,
                report: Vec::new(),
            },
            prev: None,
            torn_missing_since_prev: Vec::new(),
            region_missing_since_prev: false,
            seq_max: None,
            tail_landed: false,
        }
    }

    fn step(&mut self, i: usize) {
        let it = self.j.item(i);
        let fi = self.j.file_of(i);
        let position = match self.d.tail {
            Some((tf, to)) if fi == tf && it.offset >= to => Tail,
            _ => BeforeTail,
        };
        let obs = Observation {
            kind: it.seen.kind(),
            position,
            evidence: self.evidence(i),
        };
        let case = decide(obs);
        assert!(
            case.action != Impossible,
            "recovery observed an impossible situation {obs:?}: {}",
            case.why
        );
        if self.tail_torn == Some(i) {
            self.tail_landed = case.action == Missing;
            assert!(
                case.action == Cut || (self.tail_landed && obs.evidence == Landed),
                "the tail torn batch is cut unless its write landed: {obs:?} -> {:?}",
                case.action
            );
        }
        self.d.actions[fi].push(case.action);
        self.d.observed[fi].push(obs);
        if let Some(seq) = it.seen.header_seq()
            && (self.tail_torn != Some(i) || self.tail_landed)
            && self.cut_from.is_none_or(|c| i < c)
        {
            self.seq_max = Some(self.seq_max.map_or(seq, |m| m.max(seq)));
        }
        self.report(i, obs, case);
        self.act(i, obs, case);
    }

    /// What the rest of the journal proves about region `i` (see [`Evidence`]).
    fn evidence(&self, i: usize) -> Evidence {
        let (j, s) = (self.j, self.suffix);
        let it = j.item(i);
        let fi = j.file_of(i);
        let prev_seq = self.prev.map(|(s, _)| s);
        let cut = self.cut_from.filter(|&c| i >= c);
        match &it.seen {
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
                if prev_seq.is_some_and(|p| *seq <= p) || s.valid_seqs.contains(&seq.get()) {
                    Superseded
                } else if s.later_max[i].is_some_and(|m| m > *seq)
                    || j.newest.is_some_and(|n| fi < n)
                {
                    LaterSeq
                } else if *complete {
                    Landed
                } else {
                    Nothing
                }
            }
            _ if self.landed_garbage == Some(i) => Landed,
            Seen::Zeros | Seen::Stale | Seen::Garbage { .. } => {
                if s.next_header[i].is_some_and(|h| j.file_of(h) == fi) {
                    return Contiguous;
                }
                let (Some(p), Some(n)) = (prev_seq, s.next_seq(j, i)) else {
                    return Nothing;
                };
                let explained = self
                    .torn_missing_since_prev
                    .iter()
                    .filter(|t| p < **t && **t < n)
                    .count() as u64;
                if n.get() > p.get() + 1 + explained {
                    SeqGap
                } else {
                    Nothing
                }
            }
        }
    }

    /// One report line per repaired header and per decision that is not "replay".
    fn report(&mut self, i: usize, obs: Observation, case: &RecoveryCase) {
        let it = self.j.item(i);
        let file = self.j.files[self.j.file_of(i)].file;
        if matches!(
            it.seen,
            Seen::Valid { repaired: true, .. } | Seen::Torn { repaired: true, .. }
        ) {
            self.d.report.push(format!(
                "{file} offset {} len {}: one flipped bit of the batch header corrected (stored damage; the batch is judged as written)",
                it.offset, it.len
            ));
        }
        if case.action != Accept {
            self.d.report.push(format!(
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
    }

    /// What the row does: replay a valid batch, or report a missing range.
    fn act(&mut self, i: usize, obs: Observation, case: &RecoveryCase) {
        let it = self.j.item(i);
        let file = self.j.files[self.j.file_of(i)].file;
        match (case.action, &it.seen) {
            (Accept, Seen::Valid { seq, batch, .. }) => {
                self.gap_without_region(*seq);
                self.prev = Some((*seq, i));
                self.torn_missing_since_prev.clear();
                self.region_missing_since_prev = false;
                self.d.accepted.push(*batch);
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
                self.torn_missing_since_prev.push(*seq);
                self.d.missing.push(MissingRange {
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
                self.region_missing_since_prev = true;
                let next_seq = self.suffix.next_seq(self.j, i);
                self.d.missing.push(MissingRange {
                    file,
                    offset: it.offset,
                    len: Some(it.len),
                    seq_first: self.prev.map(|(s, _)| s.next()),
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

    /// A valid batch of sequence `seq` is accepted: sequences between the last
    /// accepted one and it that no damaged region or torn header accounts for are a
    /// missing range of their own (an unreadable journal file?).
    fn gap_without_region(&mut self, seq: BatchSeq) {
        let Some((p, pi)) = self.prev else { return };
        if seq.get() <= p.get() + 1 || self.region_missing_since_prev {
            return;
        }
        let covered: HashSet<u64> = self
            .torn_missing_since_prev
            .iter()
            .map(|t| t.get())
            .collect();
        let uncovered: Vec<u64> = (p.get() + 1..seq.get())
            .filter(|s| !covered.contains(s))
            .collect();
        if let (Some(&lo), Some(&hi)) = (uncovered.first(), uncovered.last()) {
            let pit = self.j.item(pi);
            self.d.missing.push(MissingRange {
                file: self.j.files[self.j.file_of(pi)].file,
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

    /// Step 7: a landed batch at the tail moves the tail past it and keeps its
    /// sequence; otherwise appends resume with the sequence after every one still used
    /// (at least the torn tail's, or the window's first cut one, which are written
    /// again).
    fn finish(mut self) -> Decisions {
        let j = self.j;
        let after_max = self.seq_max.map_or(BatchSeq::ZERO, BatchSeq::next);
        if let Some(h) = self.tail_torn.filter(|_| self.tail_landed) {
            self.d.tail = Some((j.file_of(h), j.item(h).offset + j.item(h).len));
        }
        if let Some(g) = self.landed_garbage
            && self.d.actions[j.file_of(g)].get(j.flat[g].1) == Some(&Missing)
        {
            // Its sequence (the one after the last header) stays used.
            self.d.tail = Some((j.file_of(g), j.item(g).offset + j.item(g).len));
            self.d.next_seq = after_max.next();
            return self.d;
        }
        self.d.next_seq = match self
            .tail_torn
            .filter(|_| !self.tail_landed)
            .and_then(|h| j.item(h).seen.header_seq())
        {
            Some(t) => t.max(after_max),
            None => after_max,
        };
        if let Some(s) = self.cut_seq {
            self.d.next_seq = self.d.next_seq.max(s);
        }
        self.d
    }
}
