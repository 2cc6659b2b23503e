//! Streaming reader of one journal file: its 4 KiB header, then every aligned region
//! after it, described with `boreal_segment::classify` exactly as the engine's recovery
//! describes it.
//!
//! Read pattern (the one `engine::journal::scan` uses): a window of
//! `read_bytes + BATCH_BYTES_MAX` bytes is read at a time and only regions that start in
//! its first `read_bytes` are classified, so a batch (at most `BATCH_BYTES_MAX`) is
//! always whole in the window; the next read starts at the first region not classified.
//! Memory stays at one window whatever the file size. Consecutive zero, garbage or stale
//! regions are merged into one item, so a pre-zeroed 1 GiB tail is one line, not
//! 262,144. The exception: a garbage block that `boreal_segment::landed_batch`
//! recognises (a batch whose write landed in full, its header damaged since) always
//! starts an item of its own, so that what it means is never lost in a merged run.

use std::fs::File;
use std::path::Path;

use boreal_segment::limits::{BATCH_BYTES_MAX, BATCH_HEADER_SIZE, JOURNAL_FILE_HEADER_SIZE};
use boreal_segment::{
    BatchHeader, BatchSeq, BatchView, Error as FormatError, Generation, JournalFileHeader, Records,
    Region, classify, header_repair, landed_batch,
};

use super::{StoreError, read_known};

/// Bytes read per window (plus one largest batch of overlap).
pub const READ_BYTES_DEFAULT: usize = 4 << 20;

/// The header of a journal file and the file's real length.
#[derive(Clone, Debug)]
pub struct JournalHead {
    /// Bytes of the file on disk.
    pub len: u64,
    /// The decoded header, or why it does not decode.
    pub header: Result<JournalFileHeader, FormatError>,
}

/// Reads and decodes the first 4 KiB of a journal file.
pub fn read_head(file: &File, path: &Path, len: u64) -> Result<JournalHead, StoreError> {
    let mut block = vec![0u8; JOURNAL_FILE_HEADER_SIZE];
    let got = read_known(file, path, &mut block, 0, len)?;
    Ok(JournalHead {
        len,
        header: JournalFileHeader::decode(&block[..got]),
    })
}

/// A run of aligned blocks that holds no batch of this file generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Empty {
    /// Never written since the file was zeroed.
    Zeros,
    /// Valid-looking batches of an older generation of this file (recycled leftovers).
    Stale {
        generation: Generation,
        batches: u64,
        first_seq: BatchSeq,
        last_seq: BatchSeq,
    },
    /// No batch header of this file: the reason is the first block's. `landed`: the
    /// first block is a batch whose write landed in full and whose header was damaged
    /// since (`boreal_segment::landed_batch`: its header, with one bit corrected or as
    /// stored, names this place, and every sector carries the stamp it gives). Such a
    /// batch may have been acknowledged; recovery reports it missing at the tail.
    /// `correctable`: one flipped bit of the first block's header gives a header that
    /// names this place (`boreal_segment::header_repair`); recovery corrects it and
    /// judges the batch as written.
    Garbage {
        reason: FormatError,
        landed: bool,
        correctable: bool,
    },
}

impl Empty {
    fn merges_with(&self, other: &Empty) -> bool {
        match (self, other) {
            (Empty::Zeros, Empty::Zeros) => true,
            // A landed batch starts a region of its own; the blocks after it (its body,
            // or older garbage) join it.
            (Empty::Garbage { .. }, Empty::Garbage { landed, .. }) => !landed,
            (Empty::Stale { generation: a, .. }, Empty::Stale { generation: b, .. }) => a == b,
            _ => false,
        }
    }

    /// A short name, as the JSON output spells it.
    pub fn label(&self) -> &'static str {
        match self {
            Empty::Zeros => "zeros",
            Empty::Stale { .. } => "stale",
            Empty::Garbage { .. } => "garbage",
        }
    }
}

/// One region of a journal file, in file order.
#[derive(Debug)]
pub enum Item<'a> {
    /// A complete batch that belongs exactly here.
    Batch { offset: u64, view: BatchView<'a> },
    /// A header that belongs here with a body that is incomplete or bad. `fault` is the
    /// file offset of the first bad byte found (a record, the padding, or the batch
    /// itself when only the body checksum tells). `complete`: every sector carries the
    /// batch's stamp, so the write landed in full and the body was damaged after it was
    /// written; otherwise the write was torn (or the batch is of version 1, without
    /// stamps, or cut short by the end of the file).
    Torn {
        offset: u64,
        len: u64,
        header: BatchHeader,
        reason: FormatError,
        complete: bool,
        fault: u64,
        /// When the body checksum failed: the first record that does not decode either,
        /// which pinpoints the damage.
        record_fault: Option<FormatError>,
    },
    /// Zeros, stale batches or garbage (merged runs).
    Empty { offset: u64, len: u64, what: Empty },
}

/// The file offset of the first bad byte a batch error names (errors count logical
/// bytes of the batch, sector stamps excluded: `header` says where they are on disk).
pub fn fault_offset(batch_offset: u64, header: &BatchHeader, reason: &FormatError) -> u64 {
    match reason {
        FormatError::InRecord { offset, .. } => {
            batch_offset + header.physical_offset(*offset) as u64
        }
        FormatError::NonZeroReserved {
            what: "batch padding",
            offset,
        } => batch_offset + header.physical_offset(*offset) as u64,
        _ => batch_offset,
    }
}

/// A torn region; `region` holds the batch's logical bytes (`classify` removed the
/// stamps) unless it was cut short (`Truncated`, then no record is looked at).
fn torn<'a>(
    offset: u64,
    region: &'a [u8],
    header: BatchHeader,
    reason: FormatError,
    complete: bool,
) -> Item<'a> {
    let mut fault = fault_offset(offset, &header, &reason);
    let mut record_fault = None;
    if matches!(reason, FormatError::Checksum { .. }) {
        let end = (BATCH_HEADER_SIZE + header.body_len as usize).min(region.len());
        let body = region.get(BATCH_HEADER_SIZE..end).unwrap_or_default();
        if let Some(Err(e)) = Records::new(body, BATCH_HEADER_SIZE).find(Result::is_err) {
            fault = fault_offset(offset, &header, &e);
            record_fault = Some(e);
        }
    }
    Item::Torn {
        offset,
        len: header.padded_len() as u64,
        header,
        reason,
        complete,
        fault,
        record_fault,
    }
}

/// Classifies every region of the file after its header, calling `on_item` for each in
/// file order and `on_progress` with the bytes scanned after each window. Scans up to
/// the smaller of the header's `file_size` and the file's length.
pub fn scan(
    file: &File,
    path: &Path,
    header: &JournalFileHeader,
    file_len: u64,
    read_bytes: usize,
    mut on_item: impl FnMut(Item<'_>),
    mut on_progress: impl FnMut(u64),
) -> Result<(), StoreError> {
    let align = header.alignment.bytes() as u64;
    let end = header.file_size.min(file_len);
    let mut window = vec![0u8; read_bytes + BATCH_BYTES_MAX];
    let mut pending: Option<(u64, u64, Empty)> = None;
    let mut pos = JOURNAL_FILE_HEADER_SIZE as u64;
    while pos < end {
        let want = (window.len() as u64).min(end - pos) as usize;
        let got = read_known(file, path, &mut window[..want], pos, file_len)?;
        let at_end = pos + got as u64 >= end;
        let process = if at_end { got } else { got.min(read_bytes) };
        let mut local = 0usize;
        while local < process {
            let offset = pos + local as u64;
            let place = header.place(offset);
            // `classify` removes a batch's stamps in place; it leaves what it calls
            // garbage untouched, and the stale branch below reads that header again.
            let (len, item) = match classify(&mut window[local..got], &place) {
                Region::Valid(view) => {
                    (view.padded_len() as u64, Some(Item::Batch { offset, view }))
                }
                Region::Torn {
                    header: h,
                    reason,
                    complete,
                } => (
                    h.padded_len() as u64,
                    Some(torn(offset, &window[local..got], h, reason, complete)),
                ),
                Region::Zeros => {
                    merge(&mut pending, offset, align, Empty::Zeros, &mut on_item);
                    (align, None)
                }
                Region::Garbage(FormatError::WrongGeneration {
                    got: generation, ..
                }) => {
                    let h = BatchHeader::decode(&window[local..got]).ok();
                    let len = h.map_or(align, |h| h.padded_len() as u64);
                    let seq = h.map_or(BatchSeq::ZERO, |h| h.sequence);
                    let stale = Empty::Stale {
                        generation,
                        batches: 1,
                        first_seq: seq,
                        last_seq: seq,
                    };
                    let len = len.min(end - offset).max(align);
                    merge(&mut pending, offset, len, stale, &mut on_item);
                    (len, None)
                }
                Region::Garbage(reason) => {
                    // `classify` left the bytes as they are on disk; one block holds the
                    // header and the sectors `landed_batch` checks.
                    let block_end = got.min(local + align as usize);
                    let block = &window[local..block_end];
                    let repair = header_repair(block, &place);
                    let landed = landed_batch(block, &place, repair).is_some();
                    let correctable = repair.is_some();
                    merge(
                        &mut pending,
                        offset,
                        align,
                        Empty::Garbage {
                            reason,
                            landed,
                            correctable,
                        },
                        &mut on_item,
                    );
                    (align, None)
                }
            };
            let len = len.min(end - offset).max(align);
            if let Some(item) = item {
                if let Some((o, l, what)) = pending.take() {
                    on_item(Item::Empty {
                        offset: o,
                        len: l,
                        what,
                    });
                }
                on_item(item);
            }
            local += len as usize;
        }
        if local == 0 {
            break;
        }
        pos += local as u64;
        on_progress(pos);
    }
    if let Some((o, l, what)) = pending.take() {
        on_item(Item::Empty {
            offset: o,
            len: l,
            what,
        });
    }
    Ok(())
}

fn merge(
    pending: &mut Option<(u64, u64, Empty)>,
    offset: u64,
    len: u64,
    what: Empty,
    on_item: &mut impl FnMut(Item<'_>),
) {
    if let Some((o, l, prev)) = pending
        && *o + *l == offset
        && prev.merges_with(&what)
    {
        *l += len;
        if let (
            Empty::Stale {
                batches, last_seq, ..
            },
            Empty::Stale { last_seq: s, .. },
        ) = (prev, what)
        {
            *batches += 1;
            *last_seq = s;
        }
        return;
    }
    if let Some((o, l, prev)) = pending.take() {
        on_item(Item::Empty {
            offset: o,
            len: l,
            what: prev,
        });
    }
    *pending = Some((offset, len, what));
}
