//! Filling a caller's aligned buffer with one batch and sealing it (`BatchBuilder`), and
//! what a paused batch keeps (`BatchProgress`).

use super::{BatchHeader, BatchPlace, batch_len, body_capacity};
use crate::checksum::crc32c;
use crate::error::{Error, Result};
use crate::ids::{BatchSeq, Lsn};
use crate::journal_file::JournalVersion;
use crate::limits::{
    BATCH_BYTES_MAX, BATCH_HEADER_SIZE, JOURNAL_FILE_HEADER_SIZE, STAMP_SECTOR_PAYLOAD,
    STAMP_SECTOR_SIZE,
};
use crate::record::{Record, ValidRecord};
use crate::stamp;

/// A batch being built, without its buffer: what [`BatchBuilder::pause`] keeps and
/// [`BatchBuilder::resume`] takes back. Only a builder makes one, so its lengths and
/// counts always describe records the builder encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchProgress {
    place: BatchPlace,
    sequence: BatchSeq,
    /// Logical bytes used: header and records.
    len: usize,
    record_count: u32,
    lsn_bounds: Option<(Lsn, Lsn)>,
    /// A `Truncate` or `SegmentMeta` record was appended.
    holds_control: bool,
}

impl BatchProgress {
    /// Where the batch will be written.
    pub fn place(&self) -> BatchPlace {
        self.place
    }

    /// The batch's sequence number.
    pub fn sequence(&self) -> BatchSeq {
        self.sequence
    }

    /// Records appended so far.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// Bytes used so far: header and records, padding and stamps excluded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was appended yet.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }
}

/// Fills a caller-supplied, aligned buffer with one batch of the place's version:
/// append records until it is full, then `seal` to write the header, the padding and
/// (version 2) the stamps. The buffer's length (a multiple of the alignment, capped at
/// `BATCH_BYTES_MAX`) is the byte limit on disk.
#[derive(Debug)]
pub struct BatchBuilder<'b> {
    buf: &'b mut [u8],
    /// Bytes of `buf` the batch may use on disk.
    limit: usize,
    /// Logical bytes (header and records) `limit` holds.
    capacity: usize,
    place: BatchPlace,
    sequence: BatchSeq,
    /// Logical bytes used: header and records.
    len: usize,
    /// Where the next record starts in `buf`: `len` with the stamps of the sectors
    /// before it counted.
    pos: usize,
    /// Bytes left in the current sector before its stamp; `usize::MAX` for version 1
    /// (no stamps). A record shorter than this is encoded in place with no further
    /// work.
    room: usize,
    record_count: u32,
    lsn_bounds: Option<(Lsn, Lsn)>,
    holds_control: bool,
    /// The sealed header's pipeline window.
    window: u8,
}

impl<'b> BatchBuilder<'b> {
    /// Starts a batch for `place` in `buf`.
    pub fn new(buf: &'b mut [u8], place: BatchPlace, sequence: BatchSeq) -> Result<Self> {
        let alignment = place.alignment;
        if buf.len() < alignment.bytes() || !alignment.is_aligned(buf.len() as u64) {
            return Err(Error::InvalidField {
                what: "batch builder",
                field: "buffer length",
                got: buf.len() as u64,
                rule: "must be a non-zero multiple of the alignment",
            });
        }
        if place.file_offset < JOURNAL_FILE_HEADER_SIZE as u64
            || !alignment.is_aligned(place.file_offset)
        {
            return Err(Error::InvalidField {
                what: "batch builder",
                field: "file_offset",
                got: place.file_offset,
                rule: "must be aligned and past the journal file header",
            });
        }
        let limit = buf.len().min(BATCH_BYTES_MAX);
        let mut builder = Self {
            buf,
            limit,
            capacity: BATCH_HEADER_SIZE + body_capacity(place.version, limit),
            place,
            sequence,
            len: 0,
            pos: 0,
            room: 0,
            record_count: 0,
            lsn_bounds: None,
            holds_control: false,
            window: 0,
        };
        builder.set_len(BATCH_HEADER_SIZE);
        Ok(builder)
    }

    /// Sets the logical length and the physical position that goes with it.
    fn set_len(&mut self, len: usize) {
        self.len = len;
        if self.place.version.stamped() {
            self.pos = stamp::physical_offset(len);
            self.room = STAMP_SECTOR_PAYLOAD - len % STAMP_SECTOR_PAYLOAD;
        } else {
            self.pos = len;
            self.room = usize::MAX;
        }
    }

    /// Bytes still free for records.
    pub fn remaining(&self) -> usize {
        self.capacity - self.len
    }

    /// Whether `record` would fit.
    pub fn fits(&self, record: &Record<'_>) -> bool {
        record.encoded_len() <= self.remaining()
    }

    /// Records appended so far.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// Whether no record was appended yet.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Appends `record`. `Err(Error::BatchFull)` means it does not fit: seal this batch
    /// and put the record in the next one. An invalid record is refused too, and in both
    /// cases the batch is unchanged.
    pub fn push(&mut self, record: &Record<'_>) -> Result<()> {
        record.validate()?;
        self.push_valid(&ValidRecord::trusted(*record))
    }

    /// [`push`](Self::push) for a record whose format rules were checked once already
    /// ([`Record::validated`]): encoded without checking them again.
    pub fn push_valid(&mut self, valid: &ValidRecord<'_>) -> Result<()> {
        let record = valid.get();
        let n = record.encoded_len();
        if n > self.remaining() {
            return Err(Error::BatchFull {
                needed: n,
                available: self.remaining(),
            });
        }
        if n < self.room {
            // The common case: the record ends before the sector's stamp.
            let used = valid.encode_into(&mut self.buf[self.pos..self.limit])?;
            self.pos += used;
            self.room -= used;
            self.len += used;
        } else {
            self.push_across(valid, n)?;
        }
        self.record_count += 1;
        if let Some(lsn) = record.lsn() {
            self.lsn_bounds = Some(match self.lsn_bounds {
                None => (lsn, lsn),
                Some((lo, hi)) => (lo.min(lsn), hi.max(lsn)),
            });
        }
        self.holds_control |= !matches!(record, Record::Redo(_));
        Ok(())
    }

    /// Appends a record of `n` bytes that reaches the current sector's stamp (version 2
    /// only): encodes it contiguously, then opens an 8-byte gap at every stamp it
    /// crosses by moving the pieces after each gap right, last piece first, so each
    /// byte moves once.
    fn push_across(&mut self, record: &ValidRecord<'_>, n: usize) -> Result<()> {
        let start = self.pos;
        let used = record.encode_into(&mut self.buf[start..self.limit])?;
        debug_assert_eq!(used, n);
        let first = self.room;
        let rest = n - first;
        let pieces = rest.div_ceil(STAMP_SECTOR_PAYLOAD);
        for k in (1..=pieces).rev() {
            let from = start + first + (k - 1) * STAMP_SECTOR_PAYLOAD;
            let len = (rest - (k - 1) * STAMP_SECTOR_PAYLOAD).min(STAMP_SECTOR_PAYLOAD);
            let to = from + k * (STAMP_SECTOR_SIZE - STAMP_SECTOR_PAYLOAD);
            self.buf.copy_within(from..from + len, to);
        }
        self.set_len(self.len + n);
        Ok(())
    }

    /// Makes the sealed header claim nothing about control records (`redo_only` clear),
    /// as a batch written before the flag existed does: readers then treat damage to
    /// it as possibly holding control records. The journal never calls this; it exists
    /// so that every valid batch, flag clear or set, re-encodes byte for byte (found by
    /// the `batch` fuzz target: a redo-only batch with the flag clear is valid).
    pub fn claim_nothing(&mut self) {
        self.holds_control = true;
    }

    /// Sets the sealed header's pipeline window: the writer is about to write this
    /// batch while the `window` batches before it may still be in flight (and after
    /// the one before those was durable). Refused above the version's
    /// [`window_max`](JournalVersion::window_max). Not kept by [`pause`](Self::pause):
    /// the writer decides it when it seals.
    pub fn set_window(&mut self, window: u8) -> Result<()> {
        if window > self.place.version.window_max() {
            return Err(Error::InvalidField {
                what: "batch builder",
                field: "pipeline window",
                got: u64::from(window),
                rule: "at most 1 in version 3, 2 in version 4, 0 before",
            });
        }
        self.window = window;
        Ok(())
    }

    /// Releases the borrow of the buffer and keeps what was built so far, so a caller
    /// can fill one batch over several calls (the journal's group commit: every append
    /// that arrives while a write is in flight adds its records to the next batch).
    /// Added by the journal (issue 5) as a purely additive helper.
    pub fn pause(self) -> BatchProgress {
        BatchProgress {
            place: self.place,
            sequence: self.sequence,
            len: self.len,
            record_count: self.record_count,
            lsn_bounds: self.lsn_bounds,
            holds_control: self.holds_control,
        }
    }

    /// Resumes a paused batch. `buf` must be the same bytes the batch was started in
    /// (or a copy of them), with the same length; a different length is refused.
    pub fn resume(buf: &'b mut [u8], progress: BatchProgress) -> Result<Self> {
        let mut builder = BatchBuilder::new(buf, progress.place, progress.sequence)?;
        if progress.len > builder.capacity {
            return Err(Error::InvalidField {
                what: "batch builder",
                field: "buffer length",
                got: builder.limit as u64,
                rule: "must hold the records of the paused batch",
            });
        }
        builder.set_len(progress.len);
        builder.record_count = progress.record_count;
        builder.lsn_bounds = progress.lsn_bounds;
        builder.holds_control = progress.holds_control;
        Ok(builder)
    }

    /// Bytes used so far: header and records, padding and stamps excluded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes the padding, the header and (version 2) every sector's stamp; returns
    /// the header. The batch is `buf[..header.padded_len()]`.
    pub fn seal(self) -> BatchHeader {
        let version = self.place.version;
        let body_len = self.len - BATCH_HEADER_SIZE;
        let padded = batch_len(version, self.place.alignment, body_len);
        assert!(padded <= self.limit, "batch overflows its buffer");
        self.buf[self.pos..padded].fill(0);
        let batch = &mut self.buf[..padded];
        let body_checksum = match version {
            JournalVersion::V1 => crc32c(&batch[BATCH_HEADER_SIZE..]),
            JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => {
                stamp::logical_crc(batch, BATCH_HEADER_SIZE)
            }
        };
        let (first_lsn, last_lsn) = self.lsn_bounds.unwrap_or((Lsn::ZERO, Lsn::ZERO));
        let header = BatchHeader {
            version,
            file_id: self.place.file_id,
            generation: self.place.generation,
            file_offset: self.place.file_offset,
            alignment: self.place.alignment,
            sequence: self.sequence,
            first_lsn,
            last_lsn,
            record_count: self.record_count,
            body_len: u32::try_from(body_len).expect("body length is below BATCH_BYTES_MAX"),
            body_checksum,
            redo_only: !self.holds_control,
            window: self.window,
        };
        let sum = header.write(&mut batch[..BATCH_HEADER_SIZE]);
        if version.stamped() {
            stamp::write_stamps(batch, header.stamp(sum));
        }
        header
    }
}
