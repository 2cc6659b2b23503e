//! The 72-byte batch header: its fields, how it is written and decoded, and the place
//! (file id, generation, offset, version) a batch must name to belong where it is read.

use super::{
    BATCH_FLAG_PIPELINED, BATCH_FLAG_PIPELINED_TWO, BATCH_FLAG_REDO_ONLY, BATCH_MAGIC, batch_len,
    flags_known, window_flags,
};
use crate::alignment::Alignment;
use crate::checksum::{self, crc32c};
use crate::codec::{Reader, Writer, peek_u32, prefix};
use crate::error::{Error, Result};
use crate::ids::{BatchSeq, Generation, JournalFileId, Lsn};
use crate::journal_file::JournalVersion;
use crate::limits::{
    BATCH_BODY_BYTES_MAX, BATCH_HEADER_SIZE, BATCH_V1_BODY_BYTES_MAX, JOURNAL_FILE_HEADER_SIZE,
    RECORD_HEADER_SIZE,
};
use crate::stamp;

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
    pub(super) fn write(&self, out: &mut [u8]) -> u32 {
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
