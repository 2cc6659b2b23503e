//! Streaming reader of one journal file: its 4 KiB header, then every aligned region
//! after it, judged by the engine's own `journal::judge` (so `verify` hands the
//! engine's `decide_all` exactly the regions recovery would) and shown as stored.
//!
//! Read pattern: a window of `READ_BYTES_DEFAULT + BATCH_BYTES_MAX` bytes is read at a
//! time and only regions that start in its first `READ_BYTES_DEFAULT` are judged, so a
//! batch (at most `BATCH_BYTES_MAX`) is always whole in the window; the next read
//! starts at the first region not judged. Memory stays at one window whatever the file
//! size (plus, for `verify`, one small entry per region: recovery decides over all of
//! them at once). Neighbouring zero, garbage or stale regions are merged into one item
//! exactly where recovery merges them (`journal::judge::push_merged`), so a pre-zeroed
//! 1 GiB tail is one line, not 262,144, and every item shown is one region recovery
//! decides about.
//!
//! Every region is shown as the bytes are on disk: a batch whose header is one flipped
//! bit away from naming its place is garbage as stored (recovery corrects the bit and
//! judges the batch as written: [`Scanned::corrected`] holds it then).

use std::fs::File;
use std::path::Path;

use boreal_engine::journal::decide::{Item as RecoveryItem, Seen};
use boreal_engine::journal::judge::{Judged, judge_region, push_merged};
use boreal_segment::limits::{BATCH_BYTES_MAX, BATCH_HEADER_SIZE, JOURNAL_FILE_HEADER_SIZE};
use boreal_segment::{
    BatchHeader, BatchSeq, Error as FormatError, Generation, JournalFileHeader, Records,
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
    /// Valid-looking batches of an older generation of this file (recycled leftovers);
    /// `generation` is the first one's.
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
    /// A short name, as the JSON output spells it.
    pub fn label(&self) -> &'static str {
        match self {
            Empty::Zeros => "zeros",
            Empty::Stale { .. } => "stale",
            Empty::Garbage { .. } => "garbage",
        }
    }
}

/// A complete batch, its stamps removed: its header and its records.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    header: BatchHeader,
    body: &'a [u8],
}

impl<'a> Batch<'a> {
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Bytes the batch occupies on disk.
    pub fn padded_len(&self) -> usize {
        self.header.padded_len()
    }

    /// The records, in journal order; offsets in errors count logical bytes from the
    /// start of the batch ([`BatchHeader::physical_offset`] gives where they are on
    /// disk). The body checksum already covered them.
    pub fn records(&self) -> Records<'a> {
        Records::verified(self.body, BATCH_HEADER_SIZE)
    }
}

/// One region of a journal file, as stored, in file order.
#[derive(Debug)]
pub enum Item<'a> {
    /// A complete batch that belongs exactly here.
    Batch { offset: u64, view: Batch<'a> },
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

/// One region: as stored, and as recovery judges it.
#[derive(Debug)]
pub struct Scanned<'r, 'a> {
    /// The region as the bytes are on disk (what `inspect` shows).
    pub item: Item<'a>,
    /// The region as recovery judges it: what `decide_all` takes (`Seen::Valid::batch`
    /// counts the valid batches of the file from 0).
    pub judged: &'r RecoveryItem,
    /// A region whose batch header was corrected by one bit (`item` shows the garbage
    /// it is as stored) and is then a valid batch: that batch, which recovery replays.
    pub corrected: Option<Batch<'a>>,
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

/// A torn region; `region` holds the batch's logical bytes (judging removed the
/// stamps) unless it was cut short (`Truncated`, then no record is looked at).
fn torn<'a>(
    offset: u64,
    region: &[u8],
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

/// A judged region as stored: part of a run of empty regions (recovery may merge the
/// next one into it), or an item to hand out now (with the batch recovery replays in
/// place of garbage whose header it corrects).
#[allow(
    clippy::large_enum_variant,
    reason = "a return value, taken apart at once; never stored"
)]
enum Stored<'a> {
    Run(Empty),
    Now(Item<'a>, Option<Batch<'a>>),
}

/// How the region at `offset` (its bytes `region`, after judging) shows as stored.
fn stored<'a>(offset: u64, judged: &Judged, region: &'a [u8]) -> Stored<'a> {
    let batch = match (&judged.body, judged.header) {
        (Some(b), Some(header)) => Some(Batch {
            header,
            body: &region[b.clone()],
        }),
        _ => None,
    };
    if let Some(r) = &judged.repair {
        let what = Empty::Garbage {
            reason: r.stored.clone(),
            landed: r.landed,
            correctable: true,
        };
        let len = judged.len;
        return Stored::Now(Item::Empty { offset, len, what }, batch);
    }
    match (&judged.seen, judged.header, batch) {
        (Seen::Valid { .. }, _, Some(view)) => Stored::Now(Item::Batch { offset, view }, None),
        (
            Seen::Torn {
                reason, complete, ..
            },
            Some(h),
            _,
        ) => Stored::Now(torn(offset, region, h, reason.clone(), *complete), None),
        (Seen::Zeros, ..) => Stored::Run(Empty::Zeros),
        (Seen::Stale, h, _) => {
            let (generation, seq) = h.map_or((Generation::ZERO, BatchSeq::ZERO), |h| {
                (h.generation, h.sequence)
            });
            Stored::Run(Empty::Stale {
                generation,
                batches: 1,
                first_seq: seq,
                last_seq: seq,
            })
        }
        (Seen::Garbage { reason, stamp, .. }, ..) => Stored::Run(Empty::Garbage {
            reason: reason.clone(),
            landed: stamp.is_some(),
            correctable: false,
        }),
        _ => unreachable!("judging gives a valid batch its header and body, a torn one its header"),
    }
}

/// A run of empty regions not yet handed out (recovery may merge the next into it).
struct Pending {
    offset: u64,
    len: u64,
    what: Empty,
}

impl Pending {
    /// Recovery merged the region `judged` into this run: so does the display.
    fn extend(&mut self, judged: &Judged) {
        self.len += judged.len;
        if let (
            Empty::Stale {
                batches, last_seq, ..
            },
            Some(h),
        ) = (&mut self.what, judged.header)
        {
            *batches += 1;
            *last_seq = h.sequence;
        }
    }

    fn scanned<'r>(self, judged: &'r RecoveryItem) -> Scanned<'r, 'static> {
        Scanned {
            item: Item::Empty {
                offset: self.offset,
                len: self.len,
                what: self.what,
            },
            judged,
            corrected: None,
        }
    }
}

/// Judges every region of the file after its header, calling `on_item` for each in
/// file order and `on_progress` with the bytes scanned after each window. Scans up to
/// the smaller of the header's `file_size` and the file's length. With `keep`, every
/// judged region is left in it, in order, for `decide_all`; without, memory stays at
/// one window.
pub fn scan(
    file: &File,
    path: &Path,
    header: &JournalFileHeader,
    file_len: u64,
    keep: Option<&mut Vec<RecoveryItem>>,
    mut on_item: impl FnMut(Scanned<'_, '_>),
    mut on_progress: impl FnMut(u64),
) -> Result<(), StoreError> {
    let read_bytes = READ_BYTES_DEFAULT;
    let end = header.file_size.min(file_len);
    let mut window = vec![0u8; read_bytes + BATCH_BYTES_MAX];
    let mut own = Vec::new();
    let keep_all = keep.is_some();
    let items = keep.unwrap_or(&mut own);
    let first_item = items.len();
    let mut pending: Option<Pending> = None;
    let mut batches = 0usize;
    let mut pos = JOURNAL_FILE_HEADER_SIZE as u64;
    while pos < end {
        let want = (window.len() as u64).min(end - pos) as usize;
        let got = read_known(file, path, &mut window[..want], pos, file_len)?;
        let at_end = pos + got as u64 >= end;
        let process = if at_end { got } else { got.min(read_bytes) };
        let mut local = 0usize;
        while local < process {
            let offset = pos + local as u64;
            let region = &mut window[local..got];
            let mut judged = judge_region(region, offset, header, &mut |_| {});
            if let Seen::Valid { batch, .. } = &mut judged.seen {
                *batch = batches;
                batches += 1;
            }
            let merged = push_merged(items, offset, judged.len, judged.seen.clone());
            if merged {
                if let Some(p) = pending.as_mut() {
                    p.extend(&judged);
                }
            } else {
                // A new region: the run before it is whole.
                if let Some(p) = pending.take() {
                    on_item(p.scanned(&items[items.len() - 2]));
                }
                let last = &items[items.len() - 1];
                match stored(offset, &judged, &window[local..got]) {
                    Stored::Run(what) => {
                        let len = judged.len;
                        pending = Some(Pending { offset, len, what });
                    }
                    Stored::Now(item, corrected) => on_item(Scanned {
                        item,
                        judged: last,
                        corrected,
                    }),
                }
            }
            if !keep_all && items.len() > 2 {
                items.drain(first_item..items.len() - 2);
            }
            local += judged.len as usize;
        }
        if local == 0 {
            break;
        }
        pos += local as u64;
        on_progress(pos);
    }
    if let (Some(p), Some(last)) = (pending.take(), items.last()) {
        on_item(p.scanned(last));
    }
    Ok(())
}
