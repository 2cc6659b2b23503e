//! Wording recovery's decisions over one core's journal: one problem per region that
//! is not a batch recovery replays or free space it steps over, saying what recovery
//! does and what proves it (see the parent module for the list), and the batch
//! sequence check. It decides nothing: every verdict is the engine's `decide_all`'s.

use boreal_engine::journal::decide::{Action, Decisions, Evidence, FileItems, Seen};
use boreal_engine::journal::{MissingAction, MissingRange};
use boreal_segment::BatchSeq;

use super::{Head, Scan};
use crate::numfmt::grouped;
use crate::verify::Report;

/// The used files in journal order, what recovery judged and decided, and how each
/// region is named: what [`Journal::explain`] words.
pub(super) struct Journal<'j> {
    pub(super) used: &'j [&'j Head],
    pub(super) inputs: &'j [FileItems],
    pub(super) scans: &'j [Scan],
    pub(super) d: &'j Decisions,
}

impl Journal<'_> {
    fn seen(&self, f: usize, i: usize) -> &Seen {
        &self.inputs[f].items[i].seen
    }

    fn newest_generation(&self) -> u64 {
        self.used.last().map_or(0, |h| h.header.generation.get())
    }

    /// Step 4: one problem per decision that is not "replay this batch" or "step over
    /// free space", in journal order.
    pub(super) fn explain(&self, report: &mut Report) {
        for f in 0..self.used.len() {
            for i in 0..self.inputs[f].items.len() {
                self.explain_one(f, i, report);
            }
        }
    }

    fn explain_one(&self, f: usize, i: usize, report: &mut Report) {
        let name = &self.used[f].name;
        let s = &self.scans[f].shown[i];
        let seen = self.seen(f, i);
        let obs = self.d.observed[f][i];
        if let Some(w) = self
            .d
            .window
            .filter(|w| w.file == f && (w.first..=w.last).contains(&i))
        {
            let msg = self.window_words(f, i, w.first, w.last, w.seq);
            report.warning(name, Some(s.at), msg);
            return;
        }
        let corrected = matches!(
            seen,
            Seen::Valid { repaired: true, .. } | Seen::Torn { repaired: true, .. }
        );
        match self.d.actions[f][i] {
            Action::Accept if corrected => {
                report.error(name, Some(s.at), self.corrected_words(f, i));
            }
            Action::Accept | Action::Impossible => {}
            Action::Skip => match seen {
                // Out of sequence: the sequence check names it.
                Seen::Valid { .. } => {}
                Seen::Torn { .. } => report.warning(
                    name,
                    Some(s.at),
                    format!(
                        "{}: its sequence was written again after it (a write an earlier recovery cut); recovery \
                         skips it",
                        s.what
                    ),
                ),
                _ if s.quiet => {}
                _ => report.warning(
                    name,
                    Some(s.at),
                    format!(
                        "{} B after the last batch of a file that is not the newest hold no valid batch header ({})",
                        grouped(s.len),
                        s.garbage.as_ref().map_or("", |g| g.0.as_str())
                    ),
                ),
            },
            Action::Cut => match seen {
                _ if s.quiet => {}
                Seen::Torn { .. } if s.garbage.is_none() => report.warning(
                    name,
                    Some(s.at),
                    format!(
                        "torn tail: {} (the write in flight at a crash; recovery cuts it)",
                        s.what
                    ),
                ),
                _ => report.warning(
                    name,
                    Some(s.at),
                    format!(
                        "torn tail: {} B after the last batch hold no valid batch header ({}); a write cut by a \
                         crash, or leftovers of one (recovery cuts them)",
                        grouped(s.len),
                        s.garbage.as_ref().map_or("", |g| g.0.as_str())
                    ),
                ),
            },
            Action::Missing => {
                let why = match obs.evidence {
                    Evidence::Landed => self.landed_words(f, i),
                    Evidence::SeqGap => format!("{}: {}", s.what, self.gap_words(f, i)),
                    _ => format!("{}: {}", s.what, self.written_after(f, i)),
                };
                report.error(name, Some(s.at), format!("{why}{}", self.consequence(f, i)));
            }
        }
    }

    /// The first region with a header after region `i` of file `f`, in the same file.
    fn next_header(&self, f: usize, i: usize) -> Option<usize> {
        (i + 1..self.inputs[f].items.len()).find(|&k| self.seen(f, k).header_seq().is_some())
    }

    /// The last valid batch before region `i` of file `f`, in the same file.
    fn prev_valid(&self, f: usize, i: usize) -> Option<usize> {
        (0..i)
            .rev()
            .find(|&k| matches!(self.seen(f, k), Seen::Valid { .. }))
    }

    /// What proves that region `i` of file `f` was written, and so acknowledged.
    fn written_after(&self, f: usize, i: usize) -> String {
        let seq_at = |k: usize| {
            let seq = self.seen(f, k).header_seq().map_or(0, BatchSeq::get);
            (seq, grouped(self.scans[f].shown[k].offset))
        };
        match self.next_header(f, i) {
            Some(n) if matches!(self.seen(f, n), Seen::Valid { .. }) => {
                let (seq, off) = seq_at(n);
                match self.prev_valid(f, i) {
                    Some(p) => {
                        let (pseq, poff) = seq_at(p);
                        format!(
                            "between batch {pseq} at offset {poff} and batch {seq} at offset {off} (batches of one \
                             generation are written back to back, so acknowledged data is lost here)"
                        )
                    }
                    None => format!(
                        "before the first valid batch ({seq} at offset {off}), where the generation's first batch \
                         was written"
                    ),
                }
            }
            Some(n) => {
                let (seq, off) = seq_at(n);
                format!(
                    "below batch {seq} at offset {off}, which was written after it (acknowledged data is lost here)"
                )
            }
            None if f + 1 < self.used.len() => format!(
                "a newer journal file (generation {}) was written after it, so it was acknowledged",
                self.newest_generation()
            ),
            None => {
                "a batch with a higher sequence was written after it, so it was acknowledged".into()
            }
        }
    }

    /// Why a headerless region between two files is missing: the sequences around it.
    fn gap_words(&self, f: usize, i: usize) -> String {
        match self.range_of(f, i) {
            Some(MissingRange {
                seq_first: Some(a),
                seq_last: Some(b),
                ..
            }) => format!(
                "batch sequences {}..={} are missing between the batches around it, so they lay here \
                 (acknowledged data is lost here)",
                a.get(),
                b.get()
            ),
            _ => "batch sequences are missing between the batches around it, so they lay here (acknowledged \
                  data is lost here)"
                .into(),
        }
    }

    /// A last write that landed in full and was damaged since.
    fn landed_words(&self, f: usize, i: usize) -> String {
        let s = &self.scans[f].shown[i];
        match &s.garbage {
            Some((reason, _, _)) => format!(
                "{} B after the last batch hold no valid batch header ({reason}), but its first block is a batch \
                 whose write landed in full, its header damaged since (as stored, it names this place and every \
                 sector carries the stamp it gives); it may have been acknowledged, so recovery reports it \
                 missing and never cuts it",
                grouped(s.len)
            ),
            None => format!(
                "{}: the last write landed in full (every sector carries its stamp) and was damaged after it was \
                 written; it may have been acknowledged, so recovery reports it missing and never cuts it",
                s.what
            ),
        }
    }

    /// A batch header recovery corrects by one bit (stored damage).
    fn corrected_words(&self, f: usize, i: usize) -> String {
        let s = &self.scans[f].shown[i];
        let (reason, landed) = s
            .garbage
            .as_ref()
            .map_or((String::new(), false), |g| (g.0.clone(), g.1));
        if self.next_header(f, i).is_some() {
            return s.what.clone();
        }
        let what = if landed {
            "its first block is a batch whose write landed in full, its header damaged since (with one bit \
             corrected, it names this place and every sector carries the stamp it gives); it may have been \
             acknowledged, so recovery corrects the one flipped header bit and replays the batch"
        } else {
            "one flipped bit of its header gives a header that names this place; recovery corrects it and \
             judges the batch as written"
        };
        format!(
            "{} B after the last batch hold no valid batch header ({reason}), but {what}",
            grouped(s.len)
        )
    }

    /// The missing range recovery reports for region `i` of file `f`.
    fn range_of(&self, f: usize, i: usize) -> Option<&MissingRange> {
        let (file, s) = (self.inputs[f].file, &self.scans[f].shown[i]);
        let it = &self.inputs[f].items[i];
        debug_assert_eq!(it.offset, s.offset);
        self.d
            .missing
            .iter()
            .find(|r| r.file == file && r.offset == it.offset && r.len == Some(it.len))
    }

    /// What the engine does about a missing region at open.
    fn consequence(&self, f: usize, i: usize) -> String {
        let Some(r) = self.range_of(f, i) else {
            return String::new();
        };
        let case = r.case();
        match (case.action, r.lsns) {
            (MissingAction::Hole, Some((a, b))) => format!(
                "; the engine opens with lsn {}..={} a hole of its segments, for their peers to repair",
                a.get(),
                b.get()
            ),
            _ => format!(
                "; the engine refuses to open the core ({}): repair it from its peers",
                case.why
            ),
        }
    }

    /// What recovery says of region `i` of file `f`, which the pipeline window cuts
    /// (regions `first..=last`, `last` the pipelined last batch, `cut_seq` the first
    /// batch cut).
    fn window_words(
        &self,
        f: usize,
        i: usize,
        first: usize,
        last: usize,
        cut_seq: BatchSeq,
    ) -> String {
        let shown = &self.scans[f].shown;
        let last_seq = self.seen(f, last).header_seq().map_or(0, BatchSeq::get);
        let what = |k: usize| match self.seen(f, k) {
            Seen::Valid { seq, .. } => format!("batch {}", seq.get()),
            _ => shown[k].what.clone(),
        };
        if i == last {
            return format!(
                "{}: pipelined (written while batch {} was in flight) and the last batch, after a batch that \
                 never completed, so it was not acknowledged either; recovery cuts it with the batch before it",
                what(i),
                last_seq.saturating_sub(1)
            );
        }
        if let Seen::Valid { seq, .. } = self.seen(f, i) {
            return format!(
                "batch {}: valid, but written while batch {} was in flight, which never completed, and followed \
                 only by batches whose headers do not prove it (batch {last_seq} is the last); none was \
                 acknowledged, recovery cuts it with them",
                seq.get(),
                cut_seq.get()
            );
        }
        let more = (first + 1..last).any(|k| self.seen(f, k).header_seq().is_some());
        format!(
            "{}: pipelined batch {last_seq} at offset {} is the last batch and was written while this one was in \
             flight, which never completed, so neither was acknowledged (a crash during pipelined writes leaves \
             this); recovery cuts {}",
            what(i),
            grouped(shown[last].offset),
            if more { "them all" } else { "both" }
        )
    }

    /// Step 5, a rule of the format: each valid batch recovery keeps follows the one
    /// before it in sequence, across files too, unless torn headers in between account
    /// for the sequences between them.
    pub(super) fn sequences(&self, report: &mut Report) {
        // The last valid batch recovery keeps: file, item, sequence.
        let mut prev: Option<(usize, usize, BatchSeq)> = None;
        let mut torn_since: Vec<u64> = Vec::new();
        for f in 0..self.used.len() {
            for i in 0..self.inputs[f].items.len() {
                let action = self.d.actions[f][i];
                match self.seen(f, i) {
                    Seen::Torn { seq, .. } => torn_since.push(seq.get()),
                    Seen::Valid { seq, .. } if action != Action::Cut => {
                        if let Some((pf, _, p)) = prev {
                            let (s, p) = (seq.get(), p.get());
                            let unaccounted = (p + 1..s).any(|x| !torn_since.contains(&x));
                            if s <= p || unaccounted {
                                self.sequence_error(f, i, s, pf, p, report);
                            }
                        }
                        if action == Action::Accept {
                            prev = Some((f, i, *seq));
                            torn_since.clear();
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn sequence_error(&self, f: usize, i: usize, s: u64, pf: usize, p: u64, report: &mut Report) {
        let (h, at) = (self.used[f], self.scans[f].shown[i].offset);
        let msg = if pf == f {
            format!("batch sequence {s} follows {p} (expected {})", p + 1)
        } else {
            let ph = self.used[pf];
            format!(
                "batch sequence {s} opens generation {}, but {} (generation {}) ends with batch {p} (expected {})",
                h.header.generation.get(),
                ph.name,
                ph.header.generation.get(),
                p + 1
            )
        };
        report.error(&h.name, Some(at), msg);
    }
}
