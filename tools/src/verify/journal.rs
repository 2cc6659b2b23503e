//! Journal checks: every file header, every batch's checksums and placement (file id,
//! generation, offset: `classify` refuses a batch anywhere but where it was written),
//! batch sequence continuity within a file and from one file generation to the next,
//! every record (through the batch decoder), and where damage lies.
//!
//! Where damage lies decides its severity, with the evidence the engine's recovery uses
//! (`engine::journal::decide`): batches of one file generation are written back to back
//! from offset 4096, and a newer generation's header is written only after every batch
//! of the older files completed. So anything that is not a valid batch *before* a later
//! batch header of the same file, or a torn batch in a file that a newer generation
//! follows, was acknowledged and is damaged: an error. A torn batch or unreadable bytes
//! *after* the last batch of the newest file is the write a crash cut: a warning
//! (recovery cuts it), unless every sector of the torn batch carries its stamp (journal
//! version 2 and later): then the write landed in full and was damaged after it, it may
//! have been acknowledged, and recovery reports it missing: an error. The report says
//! which ("damaged after a complete write" or "torn (incomplete write)"). The same holds
//! for a region with no readable header right after the last batch of the newest file
//! when `boreal_segment::landed_batch` recognises its first block (the header, with one
//! bit corrected or as stored, names this place and every sector carries the stamp it
//! gives): a batch whose write landed in full, its header damaged since; an error, never
//! a torn tail. Zeros and stale batches of an older generation after the last batch are
//! the normal state of a pre-written, recycled file.
//!
//! The pipeline window (journal versions 3 and 4). The writer keeps up to three writes
//! in flight: batch `s` may be written while the `k` before it are (its window, 1 or 2:
//! the `PIPELINED` or `PIPELINED_TWO` flag), so its header proves only `s - k - 1`
//! durable. When the last batch header of the newest file has a window and one of the
//! batches in it did not complete (its header is torn with a sector lacking its stamp,
//! or no readable header is where it must be), none from it on was acknowledged
//! (acknowledgements go in sequence order) and recovery cuts them all: a plain crash
//! during pipelined writes leaves this. Each region recovery cuts there, and the valid
//! batches after it, are warnings, not errors. The exception, as at the tail: a garbage
//! region that is a landed batch (see above) completed, so the usual rules hold and it
//! is an error. The rule is recovery's (`boreal_segment::window`). Whether a pipelined
//! batch is the last header is known only when the file's scan ends, so what its arrival
//! would prove damaged is held until then, or until a later header of the file proves
//! it after all (errors, as usual); a later header whose own window still covers the
//! held batch (a window of two) joins the window instead.

use std::path::PathBuf;

use boreal_segment::window::WindowRegion;
use boreal_segment::{BatchSeq, Error as FormatError, Generation, Record};

use super::Report;
use super::chains::ChainIndex;
use crate::numfmt::grouped;
use crate::progress::Progress;
use crate::store::journal::{self, Empty, Item};
use crate::store::{self, StoreError};

/// Something that is not a valid batch, after the last valid batch seen.
#[derive(Debug)]
enum Gap {
    Torn {
        offset: u64,
        seq: BatchSeq,
        reason: FormatError,
        /// Every sector carries the batch's stamp: the write landed in full.
        complete: bool,
        /// The header's pipeline window.
        window: u8,
        fault: u64,
        record_fault: Option<FormatError>,
    },
    Empty {
        offset: u64,
        len: u64,
        what: Empty,
    },
}

impl Gap {
    /// The gap as the pipeline window sees it.
    fn window_region(&self) -> WindowRegion {
        match self {
            Gap::Torn {
                seq,
                window,
                complete,
                ..
            } => WindowRegion::header(*seq, *window, *complete),
            Gap::Empty {
                what: Empty::Garbage { landed: true, .. },
                ..
            } => WindowRegion::Landed,
            Gap::Empty { .. } => WindowRegion::Other,
        }
    }

    fn offset(&self) -> u64 {
        match self {
            Gap::Torn { fault, .. } => *fault,
            Gap::Empty { offset, .. } => *offset,
        }
    }

    fn describe(&self) -> String {
        match self {
            Gap::Torn {
                seq,
                reason,
                complete,
                record_fault,
                offset,
                fault,
                ..
            } => {
                let at = if fault != offset {
                    format!(" (batch at offset {})", grouped(*offset))
                } else {
                    String::new()
                };
                // What the sector stamps say about the write.
                let what = if *complete {
                    "damaged after a complete write"
                } else {
                    "torn (incomplete write)"
                };
                match record_fault {
                    Some(rf) => format!(
                        "batch {} {what}{at}: {reason}; first bad record: {rf}",
                        seq.get()
                    ),
                    None => format!("batch {} {what}{at}: {reason}", seq.get()),
                }
            }
            Gap::Empty { len, what, .. } => match what {
                Empty::Zeros => format!("{} B of zeros where a batch was expected", grouped(*len)),
                Empty::Stale {
                    generation,
                    first_seq,
                    ..
                } => format!(
                    "{} B of stale batches (generation {}, sequence {}) where a batch of this generation was expected",
                    grouped(*len),
                    generation.get(),
                    first_seq.get()
                ),
                Empty::Garbage {
                    reason,
                    landed,
                    correctable,
                } => format!(
                    "{} B with no valid batch header where a batch was expected ({reason}){}{}",
                    grouped(*len),
                    if *landed {
                        "; its first block is a batch whose write landed in full, its header damaged since"
                    } else {
                        ""
                    },
                    if *correctable {
                        "; one flipped bit of its header: recovery corrects it and judges the batch as written"
                    } else {
                        ""
                    }
                ),
            },
        }
    }
}

/// Where the pipeline window of a last header (sequence `seq`, window `window`) would
/// cut among `before`, the gaps after the last valid batch (`last_valid`: its sequence
/// and window) and before that header, as an index into `before` (`before.len()` when
/// only the gaps not kept are cut), with the sequence of the first batch cut; `None`
/// when every batch of the window completed, so the usual rules hold. `extra`: gaps after `before` not kept. The rule is recovery's
/// (`boreal_segment::window`).
fn window_cut(
    before: &[Gap],
    extra: u64,
    last_valid: Option<(BatchSeq, u8)>,
    seq: BatchSeq,
    window: u8,
) -> Option<(usize, BatchSeq)> {
    let lead = usize::from(last_valid.is_some());
    let mut regions: Vec<WindowRegion> = Vec::with_capacity(before.len() + 3);
    if let Some((seq, window)) = last_valid {
        regions.push(WindowRegion::header(seq, window, true));
    }
    regions.extend(before.iter().map(Gap::window_region));
    if extra > 0 {
        regions.push(WindowRegion::Other);
    }
    regions.push(WindowRegion::header(seq, window, true));
    let (i, first) = boreal_segment::window::window_cut(&regions)?;
    let i = i
        .checked_sub(lead)
        .expect("a valid batch is never the window's cut");
    Some((i, first))
}

/// What recovery says of a region it cuts in the pipeline window: `what` describes it,
/// `seq` and `offset` name the pipelined last batch; `more`: other valid batches are
/// cut between them.
fn window_warning(what: &str, seq: BatchSeq, offset: u64, more: bool) -> String {
    format!(
        "{what}: pipelined batch {} at offset {} is the last batch and was written while this one was in \
         flight, which never completed, so neither was acknowledged (a crash during pipelined writes leaves \
         this); recovery cuts {}",
        seq.get(),
        grouped(offset),
        if more { "them all" } else { "both" }
    )
}

/// What recovery says of the pipelined last batch it cuts with the one before it.
fn pipelined_warning(what: &str, seq: BatchSeq) -> String {
    format!(
        "{what}: pipelined (written while batch {} was in flight) and the last batch, after a batch that never \
         completed, so it was not acknowledged either; recovery cuts it with the batch before it",
        seq.get().saturating_sub(1)
    )
}

/// A valid pipelined batch of the newest file after a batch that did not complete (the
/// pipeline window), held with what its arrival would prove damaged: if the file's scan
/// ends before another header, it was the last header and recovery cuts both
/// (warnings); a later header proves everything before it (errors, as usual).
struct Window {
    /// The pipelined batch that opened the window.
    offset: u64,
    seq: BatchSeq,
    /// The first batch recovery would cut: a later header proves the window only if it
    /// proves this one durable.
    cut_seq: BatchSeq,
    /// The regions recovery cuts before the last batch: offset and description.
    cut: Vec<(u64, String)>,
    /// Gaps in the window not kept in `cut`.
    extra: u64,
    /// Valid batches after the one that opened the window, whose headers do not prove
    /// `cut_seq` durable (a window of two): cut with it if the scan ends.
    later: Vec<(u64, BatchSeq)>,
    /// What to report if a header follows after all.
    errors: Vec<(Option<u64>, String)>,
}

impl Window {
    /// Whether a later header that proves `proven` durable proves the window's cut
    /// batch (so everything before it was acknowledged).
    fn proven_by(&self, proven: Option<u64>) -> bool {
        proven.is_some_and(|p| p >= self.cut_seq.get())
    }

    /// Another header followed: everything before the pipelined batch was acknowledged.
    fn proven(self, name: &str, report: &mut Report) {
        for (offset, msg) in self.errors {
            report.error(name, offset, msg);
        }
    }

    /// The file's scan ended: the window's batches were its last.
    fn cut(self, name: &str, report: &mut Report) {
        let (last_offset, last_seq) = self
            .later
            .last()
            .copied()
            .unwrap_or((self.offset, self.seq));
        for (offset, what) in &self.cut {
            report.warning(
                name,
                Some(*offset),
                window_warning(what, last_seq, last_offset, !self.later.is_empty()),
            );
        }
        if self.extra > 0 {
            report.warning(
                name,
                None,
                format!(
                    "{} more regions before pipelined batch {} not itemised; recovery cuts them",
                    self.extra,
                    last_seq.get()
                ),
            );
        }
        for (offset, seq) in
            std::iter::once((self.offset, self.seq)).chain(self.later.iter().copied())
        {
            let msg = if seq == last_seq {
                pipelined_warning(&format!("batch {}", seq.get()), seq)
            } else {
                format!(
                    "batch {}: valid, but written while batch {} was in flight, which never completed, and \
                     followed only by batches whose headers do not prove it (batch {} is the last); none was \
                     acknowledged, recovery cuts it with them",
                    seq.get(),
                    self.cut_seq.get(),
                    last_seq.get()
                )
            };
            report.warning(name, Some(offset), msg);
        }
    }
}

/// What one file's scan found, for the checks between files.
struct Scanned {
    name: String,
    generation: Generation,
    first: Option<(u64, BatchSeq)>,
    /// Highest sequence of a header that belongs to this file (valid or torn).
    last_seq: Option<BatchSeq>,
}

/// Checks the journal files `(id from the name, path, shown name)` of one core and
/// adds every record of a valid batch to `index`.
pub(crate) fn check(
    files: &[(u32, PathBuf, String)],
    index: &mut ChainIndex,
    report: &mut Report,
    progress: &mut Progress,
) -> Result<(), StoreError> {
    // Headers first: which file is the newest decides what a damaged tail means.
    let mut heads = Vec::new();
    for (id, path, name) in files {
        let (file, len) = store::open_read(path)?;
        let head = journal::read_head(&file, path, len)?;
        report.checked(len);
        let header = match head.header {
            Ok(h) => h,
            Err(e) => {
                report.error(
                    name,
                    Some(0),
                    format!(
                        "journal file header unreadable: {e} (expected a valid BRLJ header; the engine re-zeroes \
                         such a file at open and its batches are lost)"
                    ),
                );
                continue;
            }
        };
        if *id != u32::MAX && header.file_id.get() != u64::from(*id) {
            report.error(
                name,
                Some(16),
                format!(
                    "header names file id {} (expected {} from the file name)",
                    header.file_id.get(),
                    id
                ),
            );
        }
        if len != header.file_size {
            report.error(
                name,
                Some(32),
                format!(
                    "header says the file is {} B, it is {} B on disk (journal files are pre-allocated to their full size)",
                    grouped(header.file_size),
                    grouped(len)
                ),
            );
        }
        heads.push((file, len, header, path.clone(), name.clone()));
    }
    heads.sort_by_key(|h| (h.2.generation, h.2.file_id));
    for w in heads.windows(2) {
        if w[0].2.generation == w[1].2.generation && w[0].2.generation > Generation::ZERO {
            report.error(
                &w[1].4,
                Some(24),
                format!(
                    "generation {} is also the generation of {} (expected every used file to have its own)",
                    w[1].2.generation.get(),
                    w[0].4
                ),
            );
        }
    }
    let newest = heads
        .iter()
        .map(|h| h.2.generation)
        .max()
        .unwrap_or(Generation::ZERO);
    let mut scanned = Vec::new();
    for (file_no, (file, len, header, path, name)) in heads.iter().enumerate() {
        let is_newest = header.generation == newest;
        let mut last_valid: Option<(u64, BatchSeq, u8)> = None;
        let mut first: Option<(u64, BatchSeq)> = None;
        let mut last_seq: Option<BatchSeq> = None;
        let mut pending: Vec<Gap> = Vec::new();
        let mut extra_gaps: u64 = 0;
        let gen0 = header.generation == Generation::ZERO;
        // Only the newest file's last header can open the pipeline window.
        let windows = is_newest && !gen0;
        let mut window: Option<Window> = None;
        journal::scan(
            file,
            path,
            header,
            *len,
            journal::READ_BYTES_DEFAULT,
            |item| match item {
                Item::Batch { offset, view } => {
                    let seq = view.header().sequence;
                    let h_window = view.header().window;
                    // A window held open by an earlier batch: this header proves it
                    // if it proves the window's first cut batch durable; else (a
                    // window of two) this batch joins it, cut with it if the scan ends.
                    let mut extended = None;
                    if let Some(w) = window.take() {
                        let proven = view.header().proves_durable().map(BatchSeq::get);
                        if w.proven_by(proven) {
                            w.proven(name, report);
                        } else {
                            extended = Some(w);
                        }
                    }
                    let where_ = match last_valid {
                        Some((poff, pseq, _)) => format!(
                            "between batch {} at offset {} and batch {} at offset {} (batches of one generation are \
                             written back to back, so acknowledged data is lost here)",
                            pseq.get(),
                            grouped(poff),
                            seq.get(),
                            grouped(offset)
                        ),
                        None => format!(
                            "before the first valid batch ({} at offset {}), where the generation's first batch was written",
                            seq.get(),
                            grouped(offset)
                        ),
                    };
                    // A pipelined batch after one that did not complete: if it is the
                    // file's last header, recovery cuts from that one on, so hold what
                    // would be errors until that is known.
                    let window_cut = if extended.is_some() {
                        None
                    } else if windows && view.header().pipelined() {
                        window_cut(
                            &pending,
                            extra_gaps,
                            last_valid.map(|v| (v.1, v.2)),
                            seq,
                            h_window,
                        )
                    } else {
                        None
                    };
                    let mut held = match extended {
                        Some(mut w) => {
                            w.later.push((offset, seq));
                            w.extra += extra_gaps;
                            Some(w)
                        }
                        None => window_cut.map(|(_, cut_seq)| Window {
                            offset,
                            seq,
                            cut_seq,
                            cut: Vec::new(),
                            extra: extra_gaps,
                            later: Vec::new(),
                            errors: Vec::new(),
                        }),
                    };
                    // Every gap of an extended window is in it.
                    let cut_from = if held.is_some() {
                        Some(window_cut.map_or(0, |c| c.0))
                    } else {
                        None
                    };
                    let mut cut = Vec::new();
                    let mut error = |at: Option<u64>, msg: String, in_window: bool| match &mut held
                    {
                        Some(w) if in_window => w.errors.push((at, msg)),
                        _ => report.error(name, at, msg),
                    };
                    for (i, g) in pending.drain(..).enumerate() {
                        let in_window = cut_from.is_some_and(|c| i >= c);
                        error(
                            Some(g.offset()),
                            format!("{}: {where_}", g.describe()),
                            in_window,
                        );
                        if in_window {
                            cut.push((g.offset(), g.describe()));
                        }
                    }
                    if extra_gaps > 0 {
                        error(
                            None,
                            format!("{extra_gaps} more damaged regions {where_}"),
                            true,
                        );
                        extra_gaps = 0;
                    }
                    if let Some((_, pseq, _)) = last_valid {
                        let expected = pseq.get() + 1;
                        let explained = last_seq.is_some_and(|s| s.get() + 1 == seq.get());
                        if seq.get() <= pseq.get() || (seq.get() != expected && !explained) {
                            // In the window the missing sequence is the batch recovery
                            // cuts, written again after it.
                            error(
                                Some(offset),
                                format!(
                                    "batch sequence {} follows {} (expected {expected})",
                                    seq.get(),
                                    pseq.get()
                                ),
                                true,
                            );
                        }
                    }
                    if let Some(w) = &mut held {
                        w.cut.extend(cut);
                    }
                    window = held;
                    if gen0 {
                        report.warning(
                            name,
                            Some(offset),
                            "a valid batch of generation 0 (the engine writes none)".into(),
                        );
                    }
                    first.get_or_insert((offset, seq));
                    last_valid = Some((offset, seq, h_window));
                    last_seq = Some(last_seq.map_or(seq, |s| s.max(seq)));
                    // Logical offset in the batch; the index keeps where it is on disk.
                    let mut at = boreal_segment::limits::BATCH_HEADER_SIZE;
                    for r in view.records() {
                        let Ok(r) = r else { break };
                        if let Record::Redo(redo) = &r {
                            let on_disk = offset + view.header().physical_offset(at) as u64;
                            index.push(redo, file_no, on_disk);
                        } else if let Record::Truncate(t) = &r {
                            index.truncation(t.pg_id, t.start, t.end);
                        }
                        at += r.encoded_len();
                    }
                }
                Item::Torn {
                    offset,
                    header: h,
                    reason,
                    complete,
                    fault,
                    record_fault,
                    ..
                } => {
                    let gap = Gap::Torn {
                        offset,
                        seq: h.sequence,
                        reason,
                        complete,
                        window: h.window,
                        fault,
                        record_fault,
                    };
                    // Its header proves the held window unless it is inside it.
                    if let Some(w) = window.take() {
                        if w.proven_by(h.proves_durable().map(BatchSeq::get)) {
                            w.proven(name, report);
                        } else {
                            window = Some(w);
                        }
                    }
                    last_seq = Some(last_seq.map_or(h.sequence, |s| s.max(h.sequence)));
                    push_gap(&mut pending, &mut extra_gaps, gap);
                }
                Item::Empty { offset, len, what } => {
                    push_gap(
                        &mut pending,
                        &mut extra_gaps,
                        Gap::Empty { offset, len, what },
                    );
                }
            },
            |done| progress.update(name, done, *len),
        )?;
        let window_cut = window.is_some();
        if let Some(w) = window {
            w.cut(name, report);
        }
        let ctx = TailCtx {
            name,
            is_newest,
            gen0,
            newest,
            last_valid: last_valid.map(|v| (v.1, v.2)),
            window_cut,
        };
        tail(&ctx, &pending, extra_gaps, report);
        scanned.push(Scanned {
            name: name.clone(),
            generation: header.generation,
            first,
            last_seq,
        });
    }
    index.files = heads.iter().map(|h| h.4.clone()).collect();
    between_files(&scanned, report);
    Ok(())
}

/// Keeps the first gaps after the last valid batch; counts the rest.
fn push_gap(pending: &mut Vec<Gap>, extra: &mut u64, gap: Gap) {
    const GAPS_KEPT_MAX: usize = 64;
    if pending.len() < GAPS_KEPT_MAX {
        pending.push(gap);
    } else {
        *extra += 1;
    }
}

/// What [`tail`] needs to know of a file.
struct TailCtx<'a> {
    name: &'a str,
    is_newest: bool,
    gen0: bool,
    /// The newest generation of the journal.
    newest: Generation,
    /// Sequence and pipeline window of the file's last valid batch (the gaps follow it).
    last_valid: Option<(BatchSeq, u8)>,
    /// The file's last valid batch is in a pipeline window that recovery cuts: the tail
    /// is before it, so nothing after it is a landed last write, and any torn header
    /// after it (one that does not prove the window) is cut with it.
    window_cut: bool,
}

/// Judges what follows the last valid batch of a file.
fn tail(ctx: &TailCtx<'_>, pending: &[Gap], extra: u64, report: &mut Report) {
    let name = ctx.name;
    let last_torn = pending.iter().rposition(|g| matches!(g, Gap::Torn { .. }));
    // The pipeline window, when the last header is a torn pipelined batch: recovery cuts
    // from `c` to it (`last_torn`).
    let window = match last_torn.map(|t| (t, &pending[t])) {
        Some((
            t,
            Gap::Torn {
                seq,
                offset,
                window: w @ 1..,
                ..
            },
        )) if ctx.is_newest && !ctx.gen0 && extra == 0 => {
            window_cut(&pending[..t], 0, ctx.last_valid, *seq, *w)
                .map(|(c, _)| (c, t, *seq, *offset))
        }
        _ => None,
    };
    for (i, g) in pending.iter().enumerate() {
        if let Some((c, t, seq, offset)) = window
            && (c..=t).contains(&i)
        {
            let msg = if i == t {
                pipelined_warning(&g.describe(), seq)
            } else {
                window_warning(&g.describe(), seq, offset, false)
            };
            report.warning(name, Some(g.offset()), msg);
            continue;
        }
        let below_header = last_torn.is_some_and(|t| i < t);
        if ctx.window_cut && (below_header || matches!(g, Gap::Torn { .. })) {
            report.warning(
                name,
                Some(g.offset()),
                format!(
                    "{}: after a pipelined batch whose window recovery cuts (a batch before it never \
                     completed), and not proving it: never acknowledged, recovery cuts it",
                    g.describe()
                ),
            );
            continue;
        }
        let is_zero_or_stale = matches!(
            g,
            Gap::Empty {
                what: Empty::Zeros | Empty::Stale { .. },
                ..
            }
        );
        if below_header {
            if let Some(Gap::Torn { seq, offset, .. }) = last_torn.map(|t| &pending[t]) {
                report.error(
                    name,
                    Some(g.offset()),
                    format!(
                        "{}: below batch {} at offset {}, which was written after it (acknowledged data is lost here)",
                        g.describe(),
                        seq.get(),
                        grouped(*offset)
                    ),
                );
            }
            continue;
        }
        if is_zero_or_stale {
            continue;
        }
        if ctx.gen0 {
            report.warning(
                name,
                Some(g.offset()),
                format!("{} in a never-used file (generation 0)", g.describe()),
            );
            continue;
        }
        // Recovery's tail is right after the last header of the newest file (at it, if
        // torn), or at the pipeline window's cut.
        let at_tail = ctx.is_newest && i == 0 && last_torn.is_none() && !ctx.window_cut;
        match g {
            Gap::Torn { .. } if !ctx.is_newest => report.error(
                name,
                Some(g.offset()),
                format!(
                    "{}: a newer journal file (generation {}) was written after it, so it was acknowledged",
                    g.describe(),
                    ctx.newest.get()
                ),
            ),
            Gap::Torn { complete: true, .. } => report.error(
                name,
                Some(g.offset()),
                format!(
                    "{}: the last write landed in full (every sector carries its stamp) and was damaged after \
                     it was written; it may have been acknowledged, so recovery reports it missing and never cuts it",
                    g.describe()
                ),
            ),
            Gap::Torn { .. } => report.warning(
                name,
                Some(g.offset()),
                format!(
                    "torn tail: {} (the write in flight at a crash; recovery cuts it)",
                    g.describe()
                ),
            ),
            Gap::Empty {
                len,
                what:
                    Empty::Garbage {
                        reason,
                        landed: true,
                        correctable,
                    },
                ..
            } if at_tail => report.error(
                name,
                Some(g.offset()),
                format!(
                    "{} B after the last batch hold no valid batch header ({reason}), but its first block is a batch \
                     whose write landed in full, its header damaged since (with one bit corrected or as stored, it \
                     names this place and every sector carries the stamp it gives); it may have been acknowledged, \
                     so recovery {}",
                    grouped(*len),
                    if *correctable {
                        "corrects the one flipped header bit and replays the batch"
                    } else {
                        "reports it missing and never cuts it"
                    }
                ),
            ),
            Gap::Empty { len, what, .. } => {
                let reason = match what {
                    Empty::Garbage { reason, .. } => reason.to_string(),
                    _ => String::new(),
                };
                let msg = if ctx.is_newest {
                    format!(
                        "torn tail: {} B after the last batch hold no valid batch header ({reason}); a write cut by a \
                         crash, or leftovers of one (recovery cuts them)",
                        grouped(*len)
                    )
                } else {
                    format!(
                        "{} B after the last batch of a file that is not the newest hold no valid batch header ({reason})",
                        grouped(*len)
                    )
                };
                report.warning(name, Some(g.offset()), msg);
            }
        }
    }
    if extra > 0 {
        report.warning(
            name,
            None,
            format!("{extra} more regions after the last batch not itemised"),
        );
    }
}

/// Sequence numbers run on from one file generation to the next.
fn between_files(scanned: &[Scanned], report: &mut Report) {
    let used: Vec<&Scanned> = scanned
        .iter()
        .filter(|s| s.generation > Generation::ZERO)
        .collect();
    for w in used.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.generation.get() != a.generation.get() + 1 {
            if b.generation != a.generation {
                report.warning(
                    &b.name,
                    Some(24),
                    format!(
                        "generation {} follows generation {} of {} (expected {}): a file between them was re-zeroed \
                         or is missing, so sequence continuity across them is not checked",
                        b.generation.get(),
                        a.generation.get(),
                        a.name,
                        a.generation.get() + 1
                    ),
                );
            }
            continue;
        }
        if let (Some(prev), Some((offset, seq))) = (a.last_seq, b.first)
            && seq.get() != prev.get() + 1
        {
            report.error(
                &b.name,
                Some(offset),
                format!(
                    "batch sequence {} opens generation {}, but {} (generation {}) ends with batch {} (expected {})",
                    seq.get(),
                    b.generation.get(),
                    a.name,
                    a.generation.get(),
                    prev.get(),
                    prev.get() + 1
                ),
            );
        }
    }
}
