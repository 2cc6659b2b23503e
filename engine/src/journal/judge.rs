//! What one region of a journal file is, as recovery judges it: sans-I/O, so the
//! recovery scan (`scan.rs`) and `boreal verify` build the same decision inputs
//! ([`Seen`], merged into [`Item`]s) from the same bytes, and `decide.rs` judges both.
//!
//! Owns the steps from bytes to a [`Seen`]: `boreal_segment::classify_with`, a re-read
//! asked for when the region looks damaged (the caller reads it again and calls once
//! more; a tool that reads a file at rest never asks), a one-bit header repair
//! (`boreal_segment::header_repair`, exact for a single bit under CRC-32C) after which
//! the region is judged again as written, the landed-batch proof of a headerless region
//! (`boreal_segment::landed_batch`), and how neighbouring regions merge ([`push_merged`]).
//! It never reads a file and never decides what a region means for recovery.

use std::ops::Range;

use boreal_segment::limits::BATCH_HEADER_SIZE;
use boreal_segment::{
    BatchHeader, Error as FormatError, JournalFileHeader, Record, Region, classify_with,
    header_repair, landed_batch,
};

use super::decide::{Item, Seen};

/// How one region was judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// Bytes the region takes: a batch's padded length (a stale batch's too, as its
    /// header says), else one block; at least one block, never past the file's end.
    pub len: u64,
    /// What recovery decides with.
    pub seen: Seen,
    /// The region's batch header: of a valid or torn batch (after the repair, if one
    /// was made), or of a stale batch as stored (when it decodes).
    pub header: Option<BatchHeader>,
    /// A valid batch: where its records lie in the region (its stamps were removed in
    /// place, so they are contiguous), to decode with `Records::verified`.
    pub body: Option<Range<usize>>,
    /// The header as stored did not decode and one flipped bit was corrected.
    pub repair: Option<Repair>,
}

/// A header corrected by one bit: what the bytes say as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The bit corrected: bit `bit % 8` of header byte `bit / 8`.
    pub bit: usize,
    /// Why the header as stored did not decode.
    pub stored: FormatError,
    /// Every sector carries the stamp the corrected header gives: its write landed in
    /// full and the header was damaged since.
    pub landed: bool,
}

/// Judges the region of `file` at `offset`, for a caller that never re-reads (the bytes
/// are what they are: a tool reading a file at rest). See [`judge_or_reread`].
pub fn judge_region(
    region: &mut [u8],
    offset: u64,
    file: &JournalFileHeader,
    visit: &mut dyn FnMut(&Record<'_>),
) -> Judged {
    match judge_or_reread(region, offset, file, false, visit) {
        Some(judged) => judged,
        None => unreachable!("a re-read is asked for only when the caller allows one"),
    }
}

/// Judges the region of `file` at `offset`; `region` holds the file's bytes from there
/// on (ideally up to `BATCH_BYTES_MAX` or the end of the file). `visit` sees every
/// record of the batch while its body is checked (keep what it gathered only for a
/// valid batch, and clear it before a call made again after a re-read). With `reread`,
/// a region that looks damaged (torn, or garbage other than an older generation's
/// batch) is not judged: `None` asks the caller to read it again and call once more.
/// Removes a batch's stamps in place, and corrects a repaired header bit in place.
pub fn judge_or_reread(
    region: &mut [u8],
    offset: u64,
    file: &JournalFileHeader,
    reread: bool,
    visit: &mut dyn FnMut(&Record<'_>),
) -> Option<Judged> {
    let align = file.alignment.bytes() as u64;
    let size = file.file_size;
    let place = file.place(offset);
    // The stored header, for a one-bit correction (`classify_with` leaves the bytes of
    // a region it calls garbage as they are, and visits no record of it).
    let mut head = [0u8; BATCH_HEADER_SIZE];
    let head_len = region.len().min(BATCH_HEADER_SIZE);
    head[..head_len].copy_from_slice(&region[..head_len]);
    let classified = classify_with(region, &place, &mut |r| visit(r));
    let damaged = match &classified {
        Region::Torn { .. } => true,
        Region::Garbage(e) => !matches!(e, FormatError::WrongGeneration { .. }),
        Region::Valid(_) | Region::Zeros => false,
    };
    if damaged && reread {
        return None;
    }
    // A header that does not decode, after the re-reads: one flipped bit is corrected
    // and the region judged again as it was written.
    let bit = match &classified {
        Region::Garbage(e) if damaged => {
            header_repair(&head[..head_len], &place).map(|bit| (bit, e.clone()))
        }
        _ => None,
    };
    let (classified, repair) = match bit {
        Some((bit, stored)) => {
            drop(classified);
            let block = &region[..(align as usize).min(region.len())];
            let landed = landed_batch(block, &place, Some(bit)).is_some();
            region[bit / 8] ^= 1 << (bit % 8);
            let again = classify_with(region, &place, &mut |r| visit(r));
            (
                again,
                Some(Repair {
                    bit,
                    stored,
                    landed,
                }),
            )
        }
        None => (classified, None),
    };
    let repaired = repair.is_some();
    let (len, seen, header, body) = match classified {
        Region::Valid(view) => {
            let h = *view.header();
            let body = BATCH_HEADER_SIZE..BATCH_HEADER_SIZE + view.body().len();
            let seen = Seen::Valid {
                seq: h.sequence,
                batch: usize::MAX,
                window: h.window,
                repaired,
            };
            (view.padded_len() as u64, seen, Some(h), Some(body))
        }
        Region::Torn {
            header: h,
            reason,
            complete,
        } => {
            let seen = Seen::Torn {
                seq: h.sequence,
                first_lsn: h.first_lsn,
                last_lsn: h.last_lsn,
                redo_only: h.redo_only,
                complete,
                window: h.window,
                repaired,
                reason,
            };
            (h.padded_len() as u64, seen, Some(h), None)
        }
        Region::Zeros => (align, Seen::Zeros, None, None),
        Region::Garbage(FormatError::WrongGeneration { .. }) => {
            let h = BatchHeader::decode(region).ok();
            let len = h.map_or(align, |h| h.padded_len() as u64);
            (len, Seen::Stale, h, None)
        }
        Region::Garbage(reason) => {
            let block = region.get(..align as usize);
            let seen = Seen::Garbage {
                reason,
                // A batch that landed in full, its header damaged since. No single
                // bit corrects it (else it would have been judged again, as written).
                stamp: block.and_then(|b| landed_batch(b, &place, None)),
                sectors: block
                    .filter(|_| file.version.stamped())
                    .and_then(boreal_segment::stamp::common_stamp),
            };
            (align, seen, None, None)
        }
    };
    Some(Judged {
        len: len.min(size - offset).max(align),
        seen,
        header,
        body,
        repair,
    })
}

/// Adds the region at `offset` to `items` (one file's, in offset order), merged into
/// the last item when both are zeros, stale or garbage and adjacent; returns whether it
/// merged. A landed batch (garbage whose first block carries its stamp) takes only the
/// blocks that carry that stamp too, so what follows it (the middle of an older batch)
/// cannot hide it; garbage blocks keep the stamp of a landed batch only if every block
/// after its first carries it.
pub fn push_merged(items: &mut Vec<Item>, offset: u64, len: u64, seen: Seen) -> bool {
    let landed_ends = matches!(
        (items.last().map(|l| &l.seen), &seen),
        (Some(Seen::Garbage { stamp: Some(s), .. }), Seen::Garbage { sectors, .. })
            if *sectors != Some(*s)
    );
    if let Some(last) = items.last_mut()
        && last.offset + last.len == offset
        && std::mem::discriminant(&last.seen) == std::mem::discriminant(&seen)
        && !matches!(seen, Seen::Valid { .. } | Seen::Torn { .. })
        && !landed_ends
    {
        last.len += len;
        if let (Seen::Garbage { stamp, sectors, .. }, Seen::Garbage { sectors: next, .. }) =
            (&mut last.seen, &seen)
        {
            if *stamp != *next {
                *stamp = None;
            }
            if *sectors != *next {
                *sectors = None;
            }
        }
        return true;
    }
    items.push(Item { offset, len, seen });
    false
}
