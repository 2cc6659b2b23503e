//! Journal checks: every file header, every batch's checksums and placement (file id,
//! generation, offset), every record (through the batch decoder), batch sequence
//! continuity, and what recovery decides about every region that is not a valid batch.
//!
//! What a damaged region means is recovery's to say, not this module's: the regions
//! are judged with the engine's own `journal::judge` (`store::journal::scan`), the
//! files of one core are put in journal order as the engine opens them, and the
//! engine's `decide_all` (its one recovery policy, `journal::RECOVERY_CASES` and
//! `MISSING_CASES`) decides them. [`explain`] then words each decision as a problem:
//! - reported missing (acknowledged data damaged, or maybe acknowledged: a last write
//!   that landed in full and was damaged since): an error, saying what proves it was
//!   written (a later batch of the same generation, a newer file, a sequence gap, its
//!   sector stamps) and what the engine does (a hole its peers repair, or it refuses to
//!   open the core);
//! - cut (a write a crash tore at the tail, or the pipeline window: batches written
//!   while one before them was in flight that never completed): a warning, what a
//!   crash leaves; zeros and stale batches of an older generation past the tail are the
//!   normal state of a pre-written, recycled file and are not reported;
//! - skipped leftovers that are neither zeros nor stale: a warning;
//! - a batch header recovery corrects by one bit: an error (stored damage).
//!
//! Besides recovery's decisions, one rule of the format is checked as a fact: batch
//! sequences run on from one batch to the next, across files too (a valid batch whose
//! sequence does not follow the previous one's, unless torn headers in between account
//! for the sequences, is an error). Files of generation 0 (never used, or freed) are
//! not part of the journal recovery opens; anything in them but zeros or older
//! batches is a warning.

use std::fs::File;
use std::path::PathBuf;

use boreal_engine::journal::decide::{Decisions, FileItems, Item as RecoveryItem, decide_all};
use boreal_segment::limits::{BATCH_HEADER_SIZE, JOURNAL_FILE_HEADER_SIZE};
use boreal_segment::{Generation, JournalFileHeader, Record};

mod explain;

use self::explain::Journal;
use super::Report;
use super::chains::ChainIndex;
use crate::numfmt::grouped;
use crate::progress::Progress;
use crate::store::journal::{self, Batch, Empty, Item, Scanned};
use crate::store::{self, StoreError};

/// A journal file whose header decoded.
struct Head {
    file: File,
    len: u64,
    header: JournalFileHeader,
    path: PathBuf,
    name: String,
}

/// One region of a used file, as the problems name it.
#[derive(Debug)]
struct Shown {
    /// Where a problem about it is reported: a torn batch's first bad byte, else the
    /// region's offset.
    at: u64,
    offset: u64,
    len: u64,
    /// The region in words ("batch 10 damaged after a complete write: ..."); empty for
    /// a valid batch.
    what: String,
    /// Zeros or stale batches: free space, as pre-written or recycled.
    quiet: bool,
    /// The region's bytes hold no batch header as stored: `(reason, landed,
    /// correctable)` (see `store::journal::Empty::Garbage`).
    garbage: Option<(String, bool, bool)>,
}

/// What the scan of one used file gives recovery and the explanations.
struct Scan {
    items: Vec<RecoveryItem>,
    shown: Vec<Shown>,
}

/// Checks the journal files `(id from the name, path, shown name)` of one core and
/// adds every record of a valid batch to `index`. Returns recovery's decisions over
/// the files it would open (`None` if there is none), with their shown names.
pub(crate) fn check(
    files: &[(u32, PathBuf, String)],
    index: &mut ChainIndex,
    report: &mut Report,
    progress: &mut Progress,
) -> Result<Option<(Decisions, Vec<String>)>, StoreError> {
    let heads = read_heads(files, report)?;
    check_generations(&heads, report);
    // Journal order, as recovery opens it: the used files by generation (then id).
    let mut used = Vec::new();
    let mut scans = Vec::new();
    for (file_no, h) in heads.iter().enumerate() {
        if h.header.generation == Generation::ZERO {
            check_unused(h, file_no, index, report, progress)?;
        } else {
            scans.push(scan_used(h, file_no, index, progress)?);
            used.push(h);
        }
    }
    index.files = heads.iter().map(|h| h.name.clone()).collect();
    if used.is_empty() {
        return Ok(None);
    }
    let inputs: Vec<FileItems> = used
        .iter()
        .zip(&mut scans)
        .map(|(h, s)| FileItems {
            file: h.header.file_id,
            items: std::mem::take(&mut s.items),
        })
        .collect();
    let decisions = decide_all(&inputs, JOURNAL_FILE_HEADER_SIZE as u64);
    let journal = Journal {
        used: &used,
        inputs: &inputs,
        scans: &scans,
        d: &decisions,
    };
    journal.explain(report);
    journal.sequences(report);
    let names = used.iter().map(|h| h.name.clone()).collect();
    Ok(Some((decisions, names)))
}

/// Step 1: every file header, with the checks of each on its own; files whose header
/// does not decode are reported and left out (recovery rebuilds or re-zeroes them).
fn read_heads(
    files: &[(u32, PathBuf, String)],
    report: &mut Report,
) -> Result<Vec<Head>, StoreError> {
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
                        "journal file header unreadable: {e} (expected a valid BRLJ header; the engine rebuilds it \
                         from the file's first batch when that batch is needed, else re-zeroes the file, whose \
                         batches are then lost)"
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
        heads.push(Head {
            file,
            len,
            header,
            path: path.clone(),
            name: name.clone(),
        });
    }
    heads.sort_by_key(|h| (h.header.generation, h.header.file_id));
    Ok(heads)
}

/// Step 2: every used file has its own generation, and generations run on.
fn check_generations(heads: &[Head], report: &mut Report) {
    let used: Vec<&Head> = heads
        .iter()
        .filter(|h| h.header.generation > Generation::ZERO)
        .collect();
    for w in used.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (ga, gb) = (a.header.generation.get(), b.header.generation.get());
        if ga == gb {
            report.error(
                &b.name,
                Some(24),
                format!(
                    "generation {gb} is also the generation of {} (expected every used file to have its own; \
                     the engine refuses to open the journal)",
                    a.name
                ),
            );
        } else if gb != ga + 1 {
            report.warning(
                &b.name,
                Some(24),
                format!(
                    "generation {gb} follows generation {ga} of {} (expected {}): a file between them was re-zeroed \
                     or is missing",
                    a.name,
                    ga + 1
                ),
            );
        }
    }
}

/// A file of generation 0: never used, or freed. Recovery does not read it.
fn check_unused(
    h: &Head,
    file_no: usize,
    index: &mut ChainIndex,
    report: &mut Report,
    progress: &mut Progress,
) -> Result<(), StoreError> {
    let name = &h.name;
    journal::scan(
        &h.file,
        &h.path,
        &h.header,
        h.len,
        None,
        |s| {
            if let Some(b) = &s.corrected {
                index_records(index, file_no, scanned_offset(&s.item), b);
            }
            match &s.item {
                Item::Batch { offset, view } => {
                    index_records(index, file_no, *offset, view);
                    report.warning(
                        name,
                        Some(*offset),
                        "a valid batch of generation 0 (the engine writes none)".into(),
                    );
                }
                Item::Empty {
                    what: Empty::Zeros | Empty::Stale { .. },
                    ..
                } => {}
                item => {
                    let shown = show(item, s.corrected.is_some());
                    report.warning(
                        name,
                        Some(shown.at),
                        format!("{} in a never-used file (generation 0)", shown.what),
                    );
                }
            }
        },
        |done| progress.update(name, done, h.len),
    )
}

/// Step 3: a used file's regions, as recovery judges them and as the problems name
/// them; the records of every valid batch go to `index`.
fn scan_used(
    h: &Head,
    file_no: usize,
    index: &mut ChainIndex,
    progress: &mut Progress,
) -> Result<Scan, StoreError> {
    let mut items = Vec::new();
    let mut shown = Vec::new();
    journal::scan(
        &h.file,
        &h.path,
        &h.header,
        h.len,
        Some(&mut items),
        |s: Scanned<'_, '_>| {
            match (&s.item, &s.corrected) {
                (Item::Batch { offset, view }, _) => index_records(index, file_no, *offset, view),
                (item, Some(b)) => index_records(index, file_no, scanned_offset(item), b),
                _ => {}
            }
            shown.push(show(&s.item, s.corrected.is_some()));
        },
        |done| progress.update(&h.name, done, h.len),
    )?;
    Ok(Scan { items, shown })
}

/// Adds the records of `batch` (at `offset` in file `file_no`) to the chain index.
fn index_records(index: &mut ChainIndex, file_no: usize, offset: u64, batch: &Batch<'_>) {
    // Logical offset in the batch; the index keeps where it is on disk.
    let mut at = BATCH_HEADER_SIZE;
    for r in batch.records() {
        let Ok(r) = r else { break };
        if let Record::Redo(redo) = &r {
            let on_disk = offset + batch.header().physical_offset(at) as u64;
            index.push(redo, file_no, on_disk);
        } else if let Record::Truncate(t) = &r {
            index.truncation(t.pg_id, t.start, t.end);
        }
        at += r.encoded_len();
    }
}

fn scanned_offset(item: &Item<'_>) -> u64 {
    match item {
        Item::Batch { offset, .. } | Item::Torn { offset, .. } | Item::Empty { offset, .. } => {
            *offset
        }
    }
}

/// A region in words.
fn show(item: &Item<'_>, corrected: bool) -> Shown {
    match item {
        Item::Batch { offset, view } => Shown {
            at: *offset,
            offset: *offset,
            len: view.padded_len() as u64,
            what: String::new(),
            quiet: false,
            garbage: None,
        },
        Item::Torn {
            offset,
            len,
            header,
            reason,
            complete,
            fault,
            record_fault,
        } => {
            let at = if fault != offset {
                format!(" (batch at offset {})", grouped(*offset))
            } else {
                String::new()
            };
            // What the sector stamps say about the write.
            let how = if *complete {
                "damaged after a complete write"
            } else {
                "torn (incomplete write)"
            };
            let seq = header.sequence.get();
            let what = match record_fault {
                Some(rf) => format!("batch {seq} {how}{at}: {reason}; first bad record: {rf}"),
                None => format!("batch {seq} {how}{at}: {reason}"),
            };
            Shown {
                at: *fault,
                offset: *offset,
                len: *len,
                what,
                quiet: false,
                garbage: None,
            }
        }
        Item::Empty { offset, len, what } => {
            let (words, quiet, garbage) = match what {
                Empty::Zeros => (
                    format!("{} B of zeros where a batch was expected", grouped(*len)),
                    true,
                    None,
                ),
                Empty::Stale {
                    generation,
                    first_seq,
                    ..
                } => (
                    format!(
                        "{} B of stale batches (generation {}, sequence {}) where a batch of this generation was expected",
                        grouped(*len),
                        generation.get(),
                        first_seq.get()
                    ),
                    true,
                    None,
                ),
                Empty::Garbage {
                    reason,
                    landed,
                    correctable,
                } => (
                    format!(
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
                    false,
                    Some((reason.to_string(), *landed, *correctable || corrected)),
                ),
            };
            Shown {
                at: *offset,
                offset: *offset,
                len: *len,
                what: words,
                quiet,
                garbage,
            }
        }
    }
}
