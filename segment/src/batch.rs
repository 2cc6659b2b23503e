//! Journal batches: what one O_DIRECT write puts on disk, and how recovery tells a
//! valid batch from a torn one, a complete write damaged after it landed, zeros or
//! garbage.
//!
//! This module owns the 72-byte batch header, the `BatchBuilder` that fills a
//! caller-supplied buffer with records and seals it, the decoder, and `classify`, the
//! decision recovery makes about any aligned region of a journal file (see `FORMAT.md`,
//! "How recovery classifies a region"). It never reads or writes a file and never
//! decides what to do with a region: recovery does, knowing whether the region is at the
//! tail or below an acknowledged SCL.
//!
//! A batch has a logical stream (the header, the records end to end, zero padding) and
//! a physical layout. Version 2 (what the builder writes for a version-2 place) puts the
//! stream in the first 504 bytes of every 512-byte sector and ends each sector with an
//! 8-byte stamp (`stamp.rs`); version 1 (still read) is the stream itself. Decoders
//! take the region mutably and remove the stamps in place, so the records of a decoded
//! batch are contiguous and borrowed from the caller's buffer.
//!
//! Invariants:
//! - a batch is `batch_len(version, alignment, body_len)` bytes, at most
//!   `BATCH_BYTES_MAX`, starts at an aligned offset past the file header, and its padding
//!   is zero;
//! - the header lies in the first 504 bytes, so a torn write has all of it or none;
//! - the header names its file id, generation, offset and version, all under the header
//!   checksum, so a stale or misdirected batch is never taken as valid, and a batch of
//!   one version is never read as the other;
//! - the body checksum covers the logical records and padding (never the stamps); once
//!   it matched, the records are decoded without their own checksums (each byte is
//!   checked once);
//! - every sector of a version-2 batch carries the batch's stamp when written; a
//!   damaged body whose every sector still carries it was written in full (`Region::Torn`
//!   says `complete`);
//! - the `REDO_ONLY` flag, when set, is true of the body: a batch that claims it and
//!   holds a `Truncate` or `SegmentMeta` record is not valid. Recovery trusts the flag
//!   of a damaged batch whose header is intact to tell lost redo (a hole peers repair)
//!   from a lost control record (which it cannot replay around). A clear flag claims
//!   nothing (batches written before the flag existed have it clear);
//! - `first_lsn`/`last_lsn` are the lowest and highest redo LSN in the batch (both zero
//!   when it holds no redo). Records of different PGs interleave and gossip repairs
//!   arrive late, so the journal does not require LSN order between records.

use crate::alignment::Alignment;
use crate::checksum::{self, crc32c, is_all_zero};
use crate::codec::{Reader, Writer, peek_u32, peek_u64, prefix};
use crate::error::{Error, Result};
use crate::ids::{BatchSeq, Generation, JournalFileId, Lsn};
use crate::journal_file::{JOURNAL_FILE_MAGIC, JournalVersion};
use crate::limits::{
    BATCH_BODY_BYTES_MAX, BATCH_BYTES_MAX, BATCH_HEADER_SIZE, BATCH_V1_BODY_BYTES_MAX,
    JOURNAL_FILE_HEADER_SIZE, RECORD_HEADER_SIZE, STAMP_SECTOR_PAYLOAD, STAMP_SECTOR_SIZE,
};
use crate::record::{Record, Records};
use crate::stamp;

/// Magic of a journal batch: ASCII `BRLB` as stored.
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"BRLB");

/// Batch flag (header byte 15): every record in the batch is redo; it holds no
/// `Truncate` and no `SegmentMeta` record. Set by [`BatchBuilder::seal`].
pub const BATCH_FLAG_REDO_ONLY: u8 = 0x01;
/// Batch flag (header byte 15, versions 3 and 4): the batch was written while the batch
/// before it (sequence - 1) was still in flight, and only after the one before that
/// (sequence - 2) was durable. Its header therefore proves the batch two before it
/// durable, not the one just before: a window of one. Set by
/// [`BatchBuilder::set_window`].
pub const BATCH_FLAG_PIPELINED: u8 = 0x02;
/// Batch flag (header byte 15, version 4 only): the batch was written while the two
/// batches before it may still have been in flight, and only after the one before
/// those (sequence - 3) was durable: a window of two. Never set with
/// [`BATCH_FLAG_PIPELINED`].
pub const BATCH_FLAG_PIPELINED_TWO: u8 = 0x04;

/// Every flag bit a decoder knows for batches of `version`; any other bit is refused.
const fn flags_known(version: JournalVersion) -> u8 {
    match version.window_max() {
        0 => BATCH_FLAG_REDO_ONLY,
        1 => BATCH_FLAG_REDO_ONLY | BATCH_FLAG_PIPELINED,
        _ => BATCH_FLAG_REDO_ONLY | BATCH_FLAG_PIPELINED | BATCH_FLAG_PIPELINED_TWO,
    }
}

/// The flag bits of a pipeline window (0, 1 or 2 batches).
const fn window_flags(window: u8) -> u8 {
    match window {
        0 => 0,
        1 => BATCH_FLAG_PIPELINED,
        _ => BATCH_FLAG_PIPELINED_TWO,
    }
}

const _: () = assert!(BATCH_MAGIC != JOURNAL_FILE_MAGIC);

/// Bytes a batch whose records take `body_len` bytes occupies on disk: header,
/// records, padding and (version 2) the stamps, rounded up to the alignment.
pub const fn batch_len(version: JournalVersion, alignment: Alignment, body_len: usize) -> usize {
    let logical = BATCH_HEADER_SIZE + body_len;
    match version {
        JournalVersion::V1 => alignment.align_up(logical),
        JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => {
            alignment.align_up(stamp::sectors_for(logical) * STAMP_SECTOR_SIZE)
        }
    }
}

/// Bytes of records a batch of at most `bytes` bytes on disk can hold (`bytes` is
/// capped at `BATCH_BYTES_MAX`): what "does this record fit" is checked against.
pub const fn body_capacity(version: JournalVersion, bytes: usize) -> usize {
    let bytes = if bytes < BATCH_BYTES_MAX {
        bytes
    } else {
        BATCH_BYTES_MAX
    };
    let logical = match version {
        JournalVersion::V1 => bytes,
        JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => stamp::logical_len(bytes),
    };
    logical.saturating_sub(BATCH_HEADER_SIZE)
}

/// Where a batch is (or will be) in the journal: what its header must say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPlace {
    pub file_id: JournalFileId,
    pub generation: Generation,
    pub alignment: Alignment,
    /// Byte offset of the batch in the file.
    pub file_offset: u64,
    /// The file's version, which every batch in it has.
    pub version: JournalVersion,
}

/// The decoded header of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub version: JournalVersion,
    pub file_id: JournalFileId,
    pub generation: Generation,
    pub file_offset: u64,
    pub alignment: Alignment,
    pub sequence: BatchSeq,
    /// Lowest redo LSN in the batch, or zero if it holds no redo.
    pub first_lsn: Lsn,
    /// Highest redo LSN in the batch, or zero if it holds no redo.
    pub last_lsn: Lsn,
    pub record_count: u32,
    /// Bytes of records (padding excluded).
    pub body_len: u32,
    /// CRC-32C of the logical records and padding.
    pub body_checksum: u32,
    /// Flag [`BATCH_FLAG_REDO_ONLY`]: every record is redo. `false` claims nothing.
    pub redo_only: bool,
    /// The pipeline window: how many batches just before it may still have been in
    /// flight when it was written (flags [`BATCH_FLAG_PIPELINED`]: 1, version 3 or 4;
    /// [`BATCH_FLAG_PIPELINED_TWO`]: 2, version 4), so this header proves only
    /// `sequence - window - 1` durable.
    pub window: u8,
}

impl BatchHeader {
    /// The highest sequence this header proves durable: every batch up to it had
    /// completed before this one was written. `None` for the first sequences.
    pub fn proves_durable(&self) -> Option<BatchSeq> {
        let back = 1 + u64::from(self.window);
        self.sequence.get().checked_sub(back).map(BatchSeq::new)
    }

    /// Whether it was written while a batch before it was in flight (a window of one
    /// or more).
    pub fn pipelined(&self) -> bool {
        self.window > 0
    }

    /// Bytes the batch occupies on disk: header, records, padding and stamps.
    pub fn padded_len(&self) -> usize {
        batch_len(self.version, self.alignment, self.body_len as usize)
    }

    /// Bytes of the batch's logical stream: header, records and padding, stamps
    /// excluded (the body checksum covers bytes 72 up to this).
    pub fn logical_len(&self) -> usize {
        match self.version {
            JournalVersion::V1 => self.padded_len(),
            JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => {
                stamp::logical_len(self.padded_len())
            }
        }
    }

    /// Offset in the batch, on disk, of logical byte `logical` (a record offset, as
    /// errors and record iterators count them).
    pub fn physical_offset(&self, logical: usize) -> usize {
        match self.version {
            JournalVersion::V1 => logical,
            JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => {
                stamp::physical_offset(logical)
            }
        }
    }

    /// The stamp every sector of this batch carries (version 2), given the header
    /// checksum stored in its first four bytes.
    pub fn stamp(&self, header_checksum: u32) -> u64 {
        stamp::stamp(self.body_checksum, header_checksum)
    }

    /// The place this header claims.
    pub fn place(&self) -> BatchPlace {
        BatchPlace {
            file_id: self.file_id,
            generation: self.generation,
            alignment: self.alignment,
            file_offset: self.file_offset,
            version: self.version,
        }
    }

    /// Writes the header into `out[..72]`; returns its checksum.
    fn write(&self, out: &mut [u8]) -> u32 {
        let mut w = Writer::new(out);
        w.zeros(4);
        w.u32(self.body_checksum);
        w.u32(BATCH_MAGIC);
        w.u16(self.version.get());
        w.u8(self.alignment.log2());
        w.u8(if self.redo_only {
            BATCH_FLAG_REDO_ONLY
        } else {
            0
        } | window_flags(self.window));
        w.u32(self.record_count);
        w.u32(self.body_len);
        w.u64(self.file_id.get());
        w.u64(self.generation.get());
        w.u64(self.file_offset);
        w.u64(self.sequence.get());
        w.u64(self.first_lsn.get());
        w.u64(self.last_lsn.get());
        debug_assert_eq!(w.pos(), BATCH_HEADER_SIZE);
        let sum = crc32c(&out[4..BATCH_HEADER_SIZE]);
        out[..4].copy_from_slice(&sum.to_le_bytes());
        sum
    }

    /// Decodes and checks a batch header at the front of `buf`, without looking at the
    /// body or at where the batch was found.
    pub fn decode(buf: &[u8]) -> Result<BatchHeader> {
        Self::decode_sealed(buf).map(|(header, _)| header)
    }

    /// [`decode`](Self::decode), also returning the stored header checksum (which the
    /// decoder verified).
    pub fn decode_sealed(buf: &[u8]) -> Result<(BatchHeader, u32)> {
        let bytes = prefix("batch header", buf, BATCH_HEADER_SIZE)?;
        let magic = peek_u32(bytes, 8).unwrap_or_default();
        if magic != BATCH_MAGIC {
            return Err(Error::BadMagic {
                what: "batch header",
                expected: BATCH_MAGIC,
                got: magic,
            });
        }
        let mut r = Reader::new(bytes);
        let stored = r.u32();
        checksum::verify("batch header", stored, &bytes[4..])?;
        let body_checksum = r.u32();
        r.skip(4);
        let version = JournalVersion::from_stored("batch header", r.u16())?;
        let alignment = Alignment::from_log2(r.u8())?;
        let flags = r.u8();
        if flags & !flags_known(version) != 0 {
            return Err(Error::UnknownFlags {
                what: "batch header",
                flags: u64::from(flags),
            });
        }
        let both = BATCH_FLAG_PIPELINED | BATCH_FLAG_PIPELINED_TWO;
        if flags & both == both {
            return Err(Error::InvalidField {
                what: "batch header",
                field: "flags",
                got: u64::from(flags),
                rule: "PIPELINED and PIPELINED_TWO are exclusive",
            });
        }
        let header = BatchHeader {
            version,
            record_count: r.u32(),
            body_len: r.u32(),
            file_id: JournalFileId::new(r.u64()),
            generation: Generation::new(r.u64()),
            file_offset: r.u64(),
            sequence: BatchSeq::new(r.u64()),
            first_lsn: Lsn::new(r.u64()),
            last_lsn: Lsn::new(r.u64()),
            alignment,
            body_checksum,
            redo_only: flags & BATCH_FLAG_REDO_ONLY != 0,
            window: if flags & BATCH_FLAG_PIPELINED_TWO != 0 {
                2
            } else {
                u8::from(flags & BATCH_FLAG_PIPELINED != 0)
            },
        };
        header.validate()?;
        Ok((header, stored))
    }

    fn validate(&self) -> Result<()> {
        let body_max = match self.version {
            JournalVersion::V1 => BATCH_V1_BODY_BYTES_MAX,
            JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => BATCH_BODY_BYTES_MAX,
        };
        if self.body_len as usize > body_max {
            return Err(out_of_bounds("body_len", self.body_len.into(), 0, body_max));
        }
        let window_max = self.version.window_max();
        if self.window > window_max {
            return Err(out_of_bounds(
                "pipeline window",
                self.window.into(),
                0,
                window_max.into(),
            ));
        }
        let count = self.record_count as usize;
        let count_max = self.body_len as usize / RECORD_HEADER_SIZE;
        if count > count_max || (count == 0) != (self.body_len == 0) {
            return Err(out_of_bounds(
                "record_count",
                count as u64,
                usize::from(self.body_len != 0),
                count_max,
            ));
        }
        if self.file_offset < JOURNAL_FILE_HEADER_SIZE as u64
            || !self.alignment.is_aligned(self.file_offset)
        {
            return Err(Error::InvalidField {
                what: "batch header",
                field: "file_offset",
                got: self.file_offset,
                rule: "must be aligned and past the journal file header",
            });
        }
        if self.first_lsn > self.last_lsn
            || (self.first_lsn == Lsn::ZERO) != (self.last_lsn == Lsn::ZERO)
        {
            return Err(Error::LsnOutOfOrder {
                what: "batch header",
                rule: "first_lsn <= last_lsn, both zero or both non-zero",
                left: self.first_lsn,
                right: self.last_lsn,
            });
        }
        Ok(())
    }

    /// Checks that the header claims `place`. The version is checked last, so a batch
    /// of an older generation reads as stale whatever its version.
    pub fn check_place(&self, place: &BatchPlace) -> Result<()> {
        if self.file_id != place.file_id {
            return Err(Error::WrongFileId {
                expected: place.file_id,
                got: self.file_id,
            });
        }
        if self.generation != place.generation {
            return Err(Error::WrongGeneration {
                expected: place.generation,
                got: self.generation,
            });
        }
        if self.file_offset != place.file_offset {
            return Err(Error::WrongOffset {
                expected: place.file_offset,
                got: self.file_offset,
            });
        }
        if self.alignment != place.alignment {
            return Err(Error::InvalidField {
                what: "batch header",
                field: "alignment",
                got: self.alignment.get().into(),
                rule: "must equal the journal file's alignment",
            });
        }
        if self.version != place.version {
            return Err(Error::InvalidField {
                what: "batch header",
                field: "version",
                got: self.version.get().into(),
                rule: "must equal the journal file's version",
            });
        }
        Ok(())
    }
}

fn out_of_bounds(field: &'static str, got: u64, min: usize, max: usize) -> Error {
    Error::OutOfBounds {
        what: "batch header",
        field,
        got,
        min: min as u64,
        max: max as u64,
    }
}

/// A decoded, fully checked batch that borrows its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchView<'a> {
    header: BatchHeader,
    body: &'a [u8],
}

impl<'a> BatchView<'a> {
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The encoded records (padding excluded), end to end (stamps removed).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Bytes the batch occupies on disk; the next batch starts this far on.
    pub fn padded_len(&self) -> usize {
        self.header.padded_len()
    }

    /// The records, in journal order. Decoding already checked every one (the body
    /// checksum covers them), so this never yields an error for a `BatchView` returned
    /// by `decode_batch` or `classify`, and it does not compute checksums again.
    /// Offsets in errors count logical bytes from the start of the batch
    /// ([`BatchHeader::physical_offset`] gives where they are on disk).
    pub fn records(&self) -> Records<'a> {
        Records::verified(self.body, BATCH_HEADER_SIZE)
    }
}

/// What [`unstamp`] found: the batch's logical stream, and whether every sector
/// carried the batch's stamp.
struct Unstamped<'a> {
    logical: &'a [u8],
    complete: bool,
}

/// Checks that `region` holds the whole batch `header` describes, checks its stamps
/// (version 2) before anything else touches them, then removes them in place. The
/// batch's logical stream is then `region[..header.logical_len()]`.
fn unstamp<'a>(header: &BatchHeader, sum: u32, region: &'a mut [u8]) -> Result<Unstamped<'a>> {
    let padded = header.padded_len();
    let got = region.len();
    let batch = region.get_mut(..padded).ok_or(Error::Truncated {
        what: "batch body",
        needed: padded,
        got,
    })?;
    let complete = match header.version {
        JournalVersion::V1 => false,
        JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => {
            let complete = stamp::sectors_without_stamp(batch, header.stamp(sum)) == 0;
            stamp::compact(batch);
            complete
        }
    };
    let batch: &'a [u8] = batch;
    Ok(Unstamped {
        logical: &batch[..header.logical_len()],
        complete,
    })
}

/// Decodes the batch at the front of `region` (the file's bytes from `place.file_offset`
/// on) and checks everything: header, place, body checksum, padding, every record, the
/// record count and the LSN bounds. Removes a version-2 batch's stamps in place (the
/// bytes of `region` after its logical stream are then unspecified).
pub fn decode_batch<'a>(region: &'a mut [u8], place: &BatchPlace) -> Result<BatchView<'a>> {
    let (header, sum) = BatchHeader::decode_sealed(region)?;
    header.check_place(place)?;
    let unstamped = unstamp(&header, sum, region)?;
    decode_body(header, unstamped.logical, &mut |_| {})
}

/// Checks the body of a batch whose header is `header` and whose logical stream is
/// `logical` (`header.logical_len()` bytes), and hands every record to `visit` as it is
/// checked (so a caller that needs a summary of the records reads them once). `visit`
/// may see records of a batch that then turns out invalid: a caller keeps what it
/// gathered only on `Ok`.
fn decode_body<'a>(
    header: BatchHeader,
    logical: &'a [u8],
    visit: &mut dyn FnMut(&Record<'a>),
) -> Result<BatchView<'a>> {
    let after_header = logical.get(BATCH_HEADER_SIZE..).unwrap_or_default();
    checksum::verify("batch body", header.body_checksum, after_header)?;
    let (body, padding) = after_header.split_at(header.body_len as usize);
    if let Some(at) = padding.iter().position(|&b| b != 0) {
        return Err(Error::NonZeroReserved {
            what: "batch padding",
            offset: BATCH_HEADER_SIZE + body.len() + at,
        });
    }
    let mut count: u32 = 0;
    let mut lsn_bounds: Option<(Lsn, Lsn)> = None;
    // The body checksum matched, so the records' own checksums would too: decode them
    // with every structural check but without computing those again.
    for record in Records::verified(body, BATCH_HEADER_SIZE) {
        let record = record?;
        if header.redo_only && !matches!(record, Record::Redo(_)) {
            return Err(Error::InvalidField {
                what: "batch header",
                field: "flags",
                got: u64::from(BATCH_FLAG_REDO_ONLY),
                rule: "REDO_ONLY is set only when every record is redo",
            });
        }
        visit(&record);
        count += 1;
        if let Some(lsn) = record.lsn() {
            lsn_bounds = Some(match lsn_bounds {
                None => (lsn, lsn),
                Some((lo, hi)) => (lo.min(lsn), hi.max(lsn)),
            });
        }
    }
    if count != header.record_count {
        return Err(Error::InvalidField {
            what: "batch header",
            field: "record_count",
            got: header.record_count.into(),
            rule: "must equal the number of records in the body",
        });
    }
    let (first, last) = lsn_bounds.unwrap_or((Lsn::ZERO, Lsn::ZERO));
    if first != header.first_lsn || last != header.last_lsn {
        return Err(Error::InvalidField {
            what: "batch header",
            field: "first_lsn/last_lsn",
            got: header.first_lsn.get(),
            rule: "must be the lowest and highest redo LSN of the body",
        });
    }
    Ok(BatchView { header, body })
}

/// What an aligned region of a journal file holds, as recovery needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Region<'a> {
    /// A complete batch that belongs exactly here; the next region starts
    /// `padded_len()` bytes on.
    Valid(BatchView<'a>),
    /// A header that is valid and belongs here, with a body that is incomplete or bad:
    /// a torn write at the tail, or damage. `reason` says which check failed.
    /// `complete`: every sector carries the batch's stamp (version 2), so the write
    /// reached the disk in full and the body was damaged after it was written; a torn
    /// write leaves at least one sector without it. Always `false` for version 1 and
    /// for a region that ends before the batch does (`Truncated`).
    Torn {
        header: BatchHeader,
        reason: Error,
        complete: bool,
    },
    /// The first block of the region is all zeros: never written since the file was
    /// zeroed.
    Zeros,
    /// Anything else: not a batch header, or a valid batch of another file, another
    /// generation (a recycled file's leftovers), another offset or another version.
    /// `Error` says which.
    Garbage(Error),
}

/// For a region `classify` called garbage because its batch header does not decode:
/// the one bit (an index into the header's 72 bytes, bit `i % 8` of byte `i / 8`) whose
/// flip makes it a header that decodes with its checksum and names `place` (file id,
/// generation, offset), if there is one. CRC-32C over the 68 bytes after the checksum
/// corrects any single-bit error and never miscorrects two, so the corrected header is
/// the one that was written. Only a header whose magic is within one bit of a batch's
/// is tried (a cheap test for the many garbage blocks of a recycled file).
pub fn header_repair(bytes: &[u8], place: &BatchPlace) -> Option<usize> {
    let stored = bytes.get(..BATCH_HEADER_SIZE)?;
    let magic = peek_u32(stored, 8).unwrap_or_default();
    if (magic ^ BATCH_MAGIC).count_ones() > 1 {
        return None;
    }
    let mut head = [0u8; BATCH_HEADER_SIZE];
    head.copy_from_slice(stored);
    (0..BATCH_HEADER_SIZE * 8).find(|&bit| {
        head[bit / 8] ^= 1 << (bit % 8);
        let fits = BatchHeader::decode_sealed(&head).is_ok_and(|(h, _)| {
            h.file_id == place.file_id
                && h.generation == place.generation
                && h.file_offset == place.file_offset
        });
        head[bit / 8] ^= 1 << (bit % 8);
        fits
    })
}

/// For the first block of a region `classify` called garbage (other than an older
/// generation's batch): the stamp of the batch whose write landed there in full and
/// whose header was damaged since, if the bytes prove one. They do when the header,
/// with one bit corrected ([`header_repair`]) or as stored, names `place` (file id,
/// generation, offset) and gives a stamp that every whole sector of `block` carries.
/// When no single bit repairs it, the header's stored checksums still may (the damage
/// hit other fields): then the file id, generation and offset as stored must name
/// `place`. Bytes left over from an older batch do not pass (a block from its middle
/// starts with records), nor do zeros. Only a version with stamps is looked at.
/// Recovery reports such a batch missing instead of cutting it. `repair` is what
/// [`header_repair`] found for `block`: callers ask it first (recovery corrects the bit
/// and judges the batch again), so its 576 tries are not made twice.
pub fn landed_batch(block: &[u8], place: &BatchPlace, repair: Option<usize>) -> Option<u64> {
    if !place.version.stamped() || block.len() < BATCH_HEADER_SIZE.max(STAMP_SECTOR_SIZE) {
        return None;
    }
    let common = stamp::common_stamp(block)?;
    if let Some(bit) = repair {
        let mut head = [0u8; BATCH_HEADER_SIZE];
        head.copy_from_slice(&block[..BATCH_HEADER_SIZE]);
        head[bit / 8] ^= 1 << (bit % 8);
        let (h, sum) = BatchHeader::decode_sealed(&head).ok()?;
        return stamp::carries(common, h.stamp(sum)).then_some(common);
    }
    // More than one bit: trust the place fields and stored checksums only as stored.
    let word = |at: usize| peek_u64(block, at).unwrap_or_default();
    let named_here = word(24) == place.file_id.get()
        && word(32) == place.generation.get()
        && word(40) == place.file_offset;
    named_here.then(|| stamp::landed_stamp(block)).flatten()
}

/// Classifies the region of a journal file that starts at `place.file_offset`;
/// `region` holds the file's bytes from there on (at least one block, ideally up to
/// `BATCH_BYTES_MAX` or the end of the file). Never panics, whatever the bytes. For a
/// `Valid` or `Torn` (not truncated) version-2 batch, removes the stamps in place: the
/// bytes of `region` from the batch's logical length to its padded length are then
/// unspecified; nothing past the batch is touched.
pub fn classify<'a>(region: &'a mut [u8], place: &BatchPlace) -> Region<'a> {
    classify_with(region, place, &mut |_| {})
}

/// [`classify`], handing every record of the batch to `visit` while its body is
/// checked, so recovery can summarise a batch (which PGs, which LSNs) without reading
/// its records a second time. `visit` may be called for records of a region that then
/// turns out `Torn`: keep what it gathered only for `Valid`.
pub fn classify_with<'a>(
    region: &'a mut [u8],
    place: &BatchPlace,
    visit: &mut dyn FnMut(&Record<'a>),
) -> Region<'a> {
    let block = place.alignment.bytes().min(region.len());
    if block > 0 && is_all_zero(&region[..block]) {
        return Region::Zeros;
    }
    let (header, sum) = match BatchHeader::decode_sealed(region) {
        Ok(decoded) => decoded,
        Err(e) => return Region::Garbage(e),
    };
    if let Err(e) = header.check_place(place) {
        return Region::Garbage(e);
    }
    let unstamped = match unstamp(&header, sum, region) {
        Ok(u) => u,
        Err(reason) => {
            return Region::Torn {
                header,
                reason,
                complete: false,
            };
        }
    };
    match decode_body(header, unstamped.logical, visit) {
        Ok(view) => Region::Valid(view),
        Err(reason) => Region::Torn {
            header,
            reason,
            complete: unstamped.complete,
        },
    }
}

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
        let n = record.encoded_len();
        if n > self.remaining() {
            return Err(Error::BatchFull {
                needed: n,
                available: self.remaining(),
            });
        }
        if n < self.room {
            // The common case: the record ends before the sector's stamp.
            let used = record.encode_into(&mut self.buf[self.pos..self.limit])?;
            self.pos += used;
            self.room -= used;
            self.len += used;
        } else {
            self.push_across(record, n)?;
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
    fn push_across(&mut self, record: &Record<'_>, n: usize) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PageId, PgId};
    use crate::limits::BATCH_BYTES_MAX;
    use crate::record::{Change, Redo};

    fn place() -> BatchPlace {
        BatchPlace {
            file_id: JournalFileId::new(1),
            generation: Generation::new(2),
            alignment: Alignment::JOURNAL,
            file_offset: 4096,
            version: JournalVersion::CURRENT,
        }
    }

    fn redo(lsn: u64, bytes: &[u8]) -> Record<'_> {
        Record::Redo(Redo {
            lsn: Lsn::new(lsn),
            prev_lsn_pg: Lsn::new(lsn - 1),
            prev_lsn_page: Lsn::ZERO,
            pg_id: PgId::new(1),
            page_id: PageId::new(lsn),
            cpl: false,
            change: Change::Delta { offset: 0, bytes },
        })
    }

    #[test]
    fn builder_output_decodes_with_interleaved_lsns() {
        let mut buf = vec![0xAAu8; 8192];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(5)).unwrap();
        for lsn in [20, 10, 30] {
            b.push(&redo(lsn, b"abc")).unwrap();
        }
        let header = b.seal();
        assert_eq!(header.padded_len(), 4096);
        assert_eq!(
            (header.first_lsn, header.last_lsn),
            (Lsn::new(10), Lsn::new(30))
        );
        let view = decode_batch(&mut buf, &place()).unwrap();
        let lsns: Vec<_> = view
            .records()
            .map(|r| r.unwrap().lsn().unwrap().get())
            .collect();
        assert_eq!(lsns, [20, 10, 30]);
    }

    #[test]
    fn a_paused_batch_resumes_and_seals_as_if_built_at_once() {
        let mut buf = vec![0u8; 8192];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(5)).unwrap();
        b.push(&redo(20, b"abc")).unwrap();
        let progress = b.pause();
        assert_eq!(
            (progress.record_count(), progress.sequence()),
            (1, BatchSeq::new(5))
        );
        let mut b = BatchBuilder::resume(&mut buf, progress).unwrap();
        b.push(&redo(10, b"de")).unwrap();
        let header = b.seal();
        let mut once = vec![0u8; 8192];
        let mut b = BatchBuilder::new(&mut once, place(), BatchSeq::new(5)).unwrap();
        b.push(&redo(20, b"abc")).unwrap();
        b.push(&redo(10, b"de")).unwrap();
        assert_eq!(b.seal(), header);
        assert_eq!(buf, once);
        // A shorter buffer than the paused batch needs is refused.
        let mut small = vec![0u8; 4096];
        let mut b = BatchBuilder::new(&mut small, place(), BatchSeq::new(5)).unwrap();
        b.push(&redo(20, &[7u8; 3000])).unwrap();
        let progress = b.pause();
        assert!(BatchBuilder::resume(&mut vec![0u8; 512][..], progress).is_err());
    }

    #[test]
    fn empty_batch_is_one_block_of_header_zeros_and_stamps() {
        let mut buf = vec![0xAAu8; 4096];
        let header = BatchBuilder::new(&mut buf, place(), BatchSeq::ZERO)
            .unwrap()
            .seal();
        assert_eq!(header.record_count, 0);
        assert_eq!(header.padded_len(), 4096);
        let sum = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let stamp = header.stamp(sum).to_le_bytes();
        for (i, sector) in buf.chunks(STAMP_SECTOR_SIZE).enumerate() {
            let from = if i == 0 { BATCH_HEADER_SIZE } else { 0 };
            assert!(sector[from..STAMP_SECTOR_PAYLOAD].iter().all(|&b| b == 0));
            assert_eq!(sector[STAMP_SECTOR_PAYLOAD..], stamp, "sector {i}");
        }
        assert_eq!(
            decode_batch(&mut buf, &place()).unwrap().records().count(),
            0
        );
    }

    /// The journal appends ~1 M records/s of 184 encoded bytes: a full 1 MiB batch of
    /// them holds 5,609 (5,698 without stamps), 1.6 % more device bytes per record.
    #[test]
    fn a_full_batch_of_redo_records_pays_one_stamp_per_sector() {
        let mut buf = vec![0u8; BATCH_BYTES_MAX];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
        let body = [7u8; 128];
        let mut lsn = 1;
        while b.push(&redo(lsn, &body)).is_ok() {
            lsn += 1;
        }
        assert_eq!(redo(1, &body).encoded_len(), 184);
        assert_eq!(b.record_count(), 5609);
        assert_eq!(b.seal().padded_len(), BATCH_BYTES_MAX);
        let view = decode_batch(&mut buf, &place()).unwrap();
        assert_eq!(view.records().count(), 5609);
        assert_eq!(
            body_capacity(JournalVersion::V1, BATCH_BYTES_MAX) / 184,
            5698
        );
    }

    #[test]
    fn capacity_and_length_agree_for_both_versions() {
        for version in [JournalVersion::V1, JournalVersion::V2] {
            for alignment in [512u32, 1024, 4096] {
                let alignment = Alignment::new(alignment).unwrap();
                for bytes in (alignment.bytes()..=16384).step_by(alignment.bytes()) {
                    let cap = body_capacity(version, bytes);
                    assert!(batch_len(version, alignment, cap) <= bytes);
                    assert!(batch_len(version, alignment, cap + 1) > bytes);
                }
            }
        }
        assert_eq!(
            body_capacity(JournalVersion::V2, BATCH_BYTES_MAX),
            crate::limits::BATCH_BODY_BYTES_MAX
        );
    }

    fn truncate() -> Record<'static> {
        Record::Truncate(crate::record::Truncate {
            pg_id: PgId::new(1),
            epoch: crate::ids::Epoch::new(1),
            start: Lsn::new(3),
            end: Lsn::new(9),
        })
    }

    #[test]
    fn the_redo_only_flag_says_whether_a_batch_holds_control_records() {
        let mut buf = vec![0u8; 4096];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
        b.push(&redo(7, b"abc")).unwrap();
        let progress = b.pause();
        let b = BatchBuilder::resume(&mut buf, progress).unwrap();
        let header = b.seal();
        assert!(header.redo_only);
        assert_eq!(buf[15], BATCH_FLAG_REDO_ONLY);
        let view = decode_batch(&mut buf, &place()).unwrap();
        assert!(view.header().redo_only);

        let mut buf = vec![0u8; 4096];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
        b.push(&redo(7, b"abc")).unwrap();
        // A paused and resumed batch remembers its control record.
        let progress = b.pause();
        let mut b = BatchBuilder::resume(&mut buf, progress).unwrap();
        b.push(&truncate()).unwrap();
        let progress = b.pause();
        let b = BatchBuilder::resume(&mut buf, progress).unwrap();
        let header = b.seal();
        assert!(!header.redo_only);
        assert_eq!(buf[15], 0);
        assert!(!decode_batch(&mut buf, &place()).unwrap().header().redo_only);
    }

    #[test]
    fn a_false_redo_only_claim_or_an_unknown_flag_is_refused() {
        let mut buf = vec![0u8; 4096];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
        b.push(&truncate()).unwrap();
        let mut header = b.seal();
        // The header claims redo only (checksum made to hold): the body contradicts it.
        header.redo_only = true;
        header.write(&mut buf[..BATCH_HEADER_SIZE]);
        match classify(&mut buf.clone(), &place()) {
            Region::Torn {
                header: h, reason, ..
            } => {
                assert!(h.redo_only);
                assert!(reason.to_string().contains("REDO_ONLY"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // An unknown flag bit, under a valid checksum: not a header of this version.
        buf[15] = 0x80;
        let sum = crc32c(&buf[4..BATCH_HEADER_SIZE]);
        buf[..4].copy_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            BatchHeader::decode(&buf),
            Err(Error::UnknownFlags { .. })
        ));
        assert!(matches!(classify(&mut buf, &place()), Region::Garbage(_)));
    }

    #[test]
    fn the_pipeline_window_moves_the_proof_back_and_is_bounded_by_the_version() {
        // Window 1 (PIPELINED) and 2 (PIPELINED_TWO) in the current version: the header
        // proves the batch two, or three, before it durable.
        for (window, flag, proven) in [
            (1u8, BATCH_FLAG_PIPELINED, 7u64),
            (2, BATCH_FLAG_PIPELINED_TWO, 6),
        ] {
            let mut buf = vec![0u8; 4096];
            let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(9)).unwrap();
            b.push(&redo(7, b"abc")).unwrap();
            b.set_window(window).unwrap();
            let header = b.seal();
            assert!(header.window == window && header.pipelined() && header.redo_only);
            assert_eq!(buf[15], BATCH_FLAG_REDO_ONLY | flag);
            let mut copy = buf.clone();
            assert_eq!(
                decode_batch(&mut copy, &place()).unwrap().header().window,
                window
            );
            assert_eq!(header.proves_durable(), Some(BatchSeq::new(proven)));
        }

        // No window: the header proves the batch just before it.
        let mut plain = vec![0u8; 4096];
        let mut b = BatchBuilder::new(&mut plain, place(), BatchSeq::new(9)).unwrap();
        b.push(&redo(7, b"abc")).unwrap();
        let header = b.seal();
        assert!(!header.pipelined());
        assert_eq!(header.proves_durable(), Some(BatchSeq::new(8)));

        // Both flags at once, under a valid checksum: refused.
        let mut both = plain.clone();
        both[15] |= BATCH_FLAG_PIPELINED | BATCH_FLAG_PIPELINED_TWO;
        let sum = crc32c(&both[4..BATCH_HEADER_SIZE]);
        both[..4].copy_from_slice(&sum.to_le_bytes());
        let err = BatchHeader::decode(&both).unwrap_err();
        assert!(err.to_string().contains("exclusive"), "{err}");

        // Each version's bound: the builder refuses a wider window, and a decoder
        // refuses the wider window's bit as an unknown flag.
        for (version, max) in [
            (JournalVersion::V2, 0u8),
            (JournalVersion::V3, 1),
            (JournalVersion::V4, 2),
        ] {
            assert_eq!(version.window_max(), max);
            let at = BatchPlace { version, ..place() };
            let mut buf = vec![0u8; 4096];
            let mut b = BatchBuilder::new(&mut buf, at, BatchSeq::new(9)).unwrap();
            b.push(&redo(7, b"abc")).unwrap();
            assert!(b.set_window(max).is_ok());
            assert!(b.set_window(max + 1).is_err());
            b.set_window(0).unwrap();
            let _ = b.seal();
            if max < 2 {
                buf[15] |= window_flags(max + 1);
                let sum = crc32c(&buf[4..BATCH_HEADER_SIZE]);
                buf[..4].copy_from_slice(&sum.to_le_bytes());
                assert!(
                    matches!(BatchHeader::decode(&buf), Err(Error::UnknownFlags { .. })),
                    "{version:?}"
                );
            }
        }
    }

    #[test]
    fn a_landed_batch_is_recognised_through_a_damaged_header() {
        let mut buf = vec![0u8; 8192];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(5)).unwrap();
        b.push(&redo(7, &[0x71; 5000])).unwrap();
        b.seal();
        let landed = |bytes: &[u8]| {
            let block = &bytes[..4096];
            landed_batch(block, &place(), header_repair(block, &place()))
        };
        let stamp = landed(&buf).expect("an intact batch carries its stamp");
        // Any single flipped bit of the header is corrected: checksums, magic, place.
        for at in [0usize, 5, 9, 17, 26, 33, 44, 50, 70] {
            let mut d = buf.clone();
            d[at] ^= 0x10;
            assert_eq!(landed(&d), Some(stamp), "flip at byte {at}");
        }
        // Two flips outside the place fields and checksums: the stored ones still tell.
        let mut d = buf.clone();
        d[17] ^= 1;
        d[60] ^= 1;
        assert_eq!(landed(&d), Some(stamp));
        // Two flips in the place fields: nothing proves the batch belongs here.
        let mut d = buf.clone();
        d[26] ^= 1;
        d[34] ^= 1;
        assert_eq!(landed(&d), None);
        // Another generation's batch here (a recycled file's leftovers) with a flip.
        let mut d = buf.clone();
        let other = BatchPlace {
            generation: Generation::new(3),
            ..place()
        };
        assert_eq!(
            landed_batch(&d[..4096], &other, header_repair(&d[..4096], &other)),
            None
        );
        d[17] ^= 1;
        assert_eq!(
            landed_batch(&d[..4096], &other, header_repair(&d[..4096], &other)),
            None
        );
        // The second block of the batch (records, its stamp in every sector): not a
        // batch that starts here.
        assert_eq!(landed(&buf[4096..]), None);
        // A torn write: a sector without the stamp.
        let mut d = buf.clone();
        d[1024..1536].fill(0);
        d[17] ^= 1;
        assert_eq!(landed(&d), None);
        // Version 1 has no stamps.
        let v1 = BatchPlace {
            version: JournalVersion::V1,
            ..place()
        };
        assert_eq!(landed_batch(&buf[..4096], &v1, None), None);
    }

    #[test]
    fn classify_with_visits_every_record_of_a_valid_batch_once() {
        let mut buf = vec![0u8; 8192];
        let mut b = BatchBuilder::new(&mut buf, place(), BatchSeq::new(1)).unwrap();
        for lsn in [20, 10, 30] {
            b.push(&redo(lsn, b"abc")).unwrap();
        }
        b.push(&truncate()).unwrap();
        b.seal();
        let mut seen = Vec::new();
        let region = classify_with(&mut buf, &place(), &mut |r| seen.push(r.lsn()));
        assert!(matches!(region, Region::Valid(_)));
        assert_eq!(
            seen,
            [
                Some(Lsn::new(20)),
                Some(Lsn::new(10)),
                Some(Lsn::new(30)),
                None
            ]
        );
    }

    #[test]
    fn misaligned_buffers_and_offsets_are_refused() {
        let mut buf = vec![0u8; 5000];
        assert!(BatchBuilder::new(&mut buf, place(), BatchSeq::ZERO).is_err());
        let mut buf = vec![0u8; 4096];
        let p = BatchPlace {
            file_offset: 0,
            ..place()
        };
        assert!(BatchBuilder::new(&mut buf, p, BatchSeq::ZERO).is_err());
    }
}
