//! Recovery's reading side: read every journal file with large O_DIRECT reads and
//! describe each aligned region with `boreal_segment::classify`.
//!
//! Owns the read loop and the recovered records' storage ([`RecoveredRecords`]: one
//! buffer holding every valid batch body end to end, plus one small entry per batch, so
//! recovery allocates per batch, never per record). It never decides what a region
//! means (`decide.rs` does) and never writes.
//!
//! Read pattern: a window of `recovery_read_bytes + BATCH_BYTES_MAX` is read at a time
//! and regions starting in its first `recovery_read_bytes` are classified, so a batch
//! (at most `BATCH_BYTES_MAX`) is always whole in the window; the next read starts at
//! the first region not classified. Consecutive zero, stale or garbage blocks merge into
//! one region.

use boreal_segment::limits::{BATCH_BYTES_MAX, JOURNAL_FILE_HEADER_SIZE};
use boreal_segment::{
    BatchHeader, BatchSeq, Error as FormatError, JournalFileHeader, JournalFileId, Lsn, Record,
    Region, classify,
};

use super::decide::{Item, Seen};
use super::error::JournalError;
use super::lifecycle::DAMAGED_READ_ATTEMPTS;

/// Re-reads of damaged regions per file during one recovery (bounds the extra reads a
/// badly damaged file costs).
const REREADS_PER_FILE_MAX: u32 = 16;
use crate::io::{DmaBuf, Io};

/// Where a recovered batch was, and where its records are in [`RecoveredRecords`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveredBatch {
    pub file: JournalFileId,
    pub offset: u64,
    pub seq: BatchSeq,
    pub first_lsn: Lsn,
    pub last_lsn: Lsn,
    pub record_count: u32,
    body_start: usize,
    body_end: usize,
}

/// Where one recovered record was: its batch and its index in the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPos {
    pub file: JournalFileId,
    pub batch_offset: u64,
    pub seq: BatchSeq,
    pub index: u32,
}

/// Every replayed record, in journal order, owned: one buffer and one entry per batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveredRecords {
    bytes: Vec<u8>,
    batches: Vec<RecoveredBatch>,
}

impl RecoveredRecords {
    /// An empty set whose buffer already has room for `bytes` of batch bodies, so a
    /// recovery scan never reallocates (and re-copies) everything it read so far.
    /// Reserved pages are not touched until a body lands in them.
    pub(crate) fn with_capacity(bytes: usize) -> RecoveredRecords {
        RecoveredRecords {
            bytes: Vec::with_capacity(bytes),
            batches: Vec::new(),
        }
    }

    /// The replayed batches, in journal order.
    pub fn batches(&self) -> &[RecoveredBatch] {
        &self.batches
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.batches.iter().map(|b| b.record_count as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.iter().all(|b| b.record_count == 0)
    }

    /// The records of `batch`, borrowing this buffer. Bodies were fully checked by
    /// `classify`, so decoding cannot fail; a failure would be a bug here and is skipped.
    pub fn batch_records(&self, batch: &RecoveredBatch) -> impl Iterator<Item = Record<'_>> {
        boreal_segment::Records::new(&self.bytes[batch.body_start..batch.body_end], 0)
            .map_while(Result::ok)
    }

    /// Every record with its position, in journal order.
    pub fn iter(&self) -> impl Iterator<Item = (RecordPos, Record<'_>)> {
        self.batches.iter().flat_map(move |b| {
            self.batch_records(b).enumerate().map(move |(i, r)| {
                (
                    RecordPos {
                        file: b.file,
                        batch_offset: b.offset,
                        seq: b.seq,
                        index: i as u32,
                    },
                    r,
                )
            })
        })
    }

    /// Keeps only the batches at `keep` (indices into what the scan pushed), in that
    /// order.
    pub(crate) fn retain_order(&mut self, keep: &[usize]) {
        self.batches = keep.iter().map(|&i| self.batches[i]).collect();
    }

    pub(crate) fn push_batch(
        &mut self,
        file: JournalFileId,
        offset: u64,
        header: &BatchHeader,
        body: &[u8],
    ) -> usize {
        let body_start = self.bytes.len();
        self.bytes.extend_from_slice(body);
        self.batches.push(RecoveredBatch {
            file,
            offset,
            seq: header.sequence,
            first_lsn: header.first_lsn,
            last_lsn: header.last_lsn,
            record_count: header.record_count,
            body_start,
            body_end: self.bytes.len(),
        });
        self.batches.len() - 1
    }
}

fn push_merged(items: &mut Vec<Item>, offset: u64, len: u64, seen: Seen) {
    if let Some(last) = items.last_mut()
        && last.offset + last.len == offset
        && std::mem::discriminant(&last.seen) == std::mem::discriminant(&seen)
        && !matches!(seen, Seen::Valid { .. } | Seen::Torn { .. })
    {
        last.len += len;
        return;
    }
    items.push(Item { offset, len, seen });
}

/// Reads and classifies every region of one file after its header.
pub(crate) async fn scan_file<I: Io>(
    io: &I,
    file: &I::File,
    header: &JournalFileHeader,
    window: &mut Option<DmaBuf>,
    read_bytes: usize,
    out: &mut RecoveredRecords,
) -> Result<Vec<Item>, JournalError> {
    let align = header.alignment.bytes() as u64;
    let size = header.file_size;
    let mut items = Vec::new();
    let mut pos = JOURNAL_FILE_HEADER_SIZE as u64;
    // A torn or garbage region is read again from its offset (once per offset, up to
    // `DAMAGED_READ_ATTEMPTS` reads of it, and a bounded number of re-reads per file)
    // before it is believed: a bit flipped on the way would otherwise make an
    // acknowledged batch at the tail look torn, and recovery would cut it.
    let mut reread_at: Option<(u64, u32)> = None;
    let mut rereads_left = REREADS_PER_FILE_MAX;
    'read: while pos < size {
        let buf = window
            .take()
            .unwrap_or_else(|| DmaBuf::zeroed(read_bytes + BATCH_BYTES_MAX));
        let want = (buf.capacity() as u64).min(size - pos) as usize;
        let (r, buf) = io.read_at(file, buf, want, pos).await;
        let got = r.map_err(|e| JournalError::io("recovery read", header.file_id, pos, &e));
        *window = Some(buf);
        let got = got?;
        let at_end = pos + got as u64 >= size;
        if got < want && !at_end {
            return Err(JournalError::Io {
                op: "recovery read",
                file: header.file_id,
                offset: pos,
                errno: None,
                cause: format!("short read: {got} of {want} bytes"),
            });
        }
        let bytes = window.as_ref().map_or(&[][..], DmaBuf::as_slice);
        let process = if at_end { got } else { got.min(read_bytes) };
        let mut local = 0usize;
        while local < process {
            let offset = pos + local as u64;
            let region = &bytes[local..got];
            let place = header.place(offset);
            let classified = classify(region, &place);
            if matches!(classified, Region::Torn { .. } | Region::Garbage(_))
                && !matches!(
                    classified,
                    Region::Garbage(FormatError::WrongGeneration { .. })
                )
                && rereads_left > 0
            {
                let attempts = match reread_at {
                    Some((at, n)) if at == offset => n,
                    _ => 1,
                };
                if attempts < DAMAGED_READ_ATTEMPTS {
                    reread_at = Some((offset, attempts + 1));
                    rereads_left -= 1;
                    pos = offset;
                    continue 'read;
                }
            }
            let (len, seen) = match classified {
                Region::Valid(view) => {
                    let h = *view.header();
                    let batch = out.push_batch(header.file_id, offset, &h, view.body());
                    (
                        view.padded_len() as u64,
                        Seen::Valid {
                            seq: h.sequence,
                            batch,
                        },
                    )
                }
                Region::Torn { header: h, reason } => (
                    h.padded_len() as u64,
                    Seen::Torn {
                        seq: h.sequence,
                        first_lsn: h.first_lsn,
                        last_lsn: h.last_lsn,
                        reason: reason.to_string(),
                    },
                ),
                Region::Zeros => (align, Seen::Zeros),
                Region::Garbage(FormatError::WrongGeneration { .. }) => {
                    let len = BatchHeader::decode(region).map_or(align, |h| h.padded_len() as u64);
                    (len, Seen::Stale)
                }
                Region::Garbage(e) => (
                    align,
                    Seen::Garbage {
                        reason: e.to_string(),
                    },
                ),
            };
            let len = len.min(size - offset).max(align);
            push_merged(&mut items, offset, len, seen);
            local += len as usize;
        }
        pos += local as u64;
    }
    Ok(items)
}
