//! The journal file header: the first 4 KiB of every journal file.
//!
//! This module owns the layout of that block (see `FORMAT.md`): magic, version, the
//! file's id, its generation (bumped each time the pre-allocated file is recycled), the
//! alignment its batches use and its size. The checksum covers the whole 4 KiB block,
//! the zero tail included. Every batch repeats the file id and generation, so a batch
//! left over from an older generation, or one written into the wrong file, is refused
//! by `batch::classify`. The header's version is the version of every batch in the file
//! ([`JournalVersion`]): versions 2 and 3 end every 512-byte sector of a batch with a
//! stamp (version 3 also marks pipelined batches), version 1 batches (still read, never written) have none. This module never creates,
//! sizes or recycles files.

use crate::alignment::Alignment;
use crate::batch::BatchPlace;
use crate::checksum::{self, crc32c, is_all_zero};
use crate::codec::{Reader, Writer, peek_u32, prefix};
use crate::error::{Error, Result};
use crate::ids::{Generation, JournalFileId};
use crate::limits::{JOURNAL_FILE_BYTES_MAX, JOURNAL_FILE_HEADER_SIZE};

/// Magic of a journal file: ASCII `BRLJ` as stored.
pub const JOURNAL_FILE_MAGIC: u32 = u32::from_le_bytes(*b"BRLJ");
/// Version of the journal file format (header and batches) this build writes.
pub const JOURNAL_FILE_VERSION: u16 = JournalVersion::CURRENT.get();
/// Oldest journal file version this build reads.
pub const JOURNAL_FILE_VERSION_OLDEST: u16 = JournalVersion::V1.get();

/// The version of a journal file: of its header and of every batch in it. A batch's
/// header repeats it, under the header checksum, and a batch whose version is not its
/// file's is refused, so one layout is never read as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JournalVersion {
    /// Batches without sector stamps. Read (the journal never appends to such a file,
    /// and a recycled file is rewritten as the current version), never written.
    V1,
    /// Every 512-byte sector of a batch ends with an 8-byte stamp (`FORMAT.md`,
    /// "Sector stamps"), so recovery can tell a torn write from a complete write
    /// damaged after it landed.
    V2,
    /// The layout of version 2, and a batch may carry the `PIPELINED` flag
    /// (`batch::BATCH_FLAG_PIPELINED`): it was written while the batch before it was
    /// still in flight, so its header proves only the batch two before it durable
    /// (`FORMAT.md`, "Pipelined batches"). A version-2 reader would refuse the flag,
    /// so such batches live only in version-3 files, which it refuses to open.
    V3,
    /// The layout of version 2, and a batch may have been written while up to two
    /// batches before it were in flight: flag `PIPELINED` (one) or `PIPELINED_TWO`
    /// (`batch::BATCH_FLAG_PIPELINED_TWO`: two), so its header proves only the batch
    /// three before it durable (`FORMAT.md`, "Pipelined batches"). A version-3 reader
    /// would refuse the new flag as an unknown bit and, at the tail, cut the batch as
    /// garbage; it refuses version-4 files whole instead.
    V4,
}

impl JournalVersion {
    /// The version this build writes.
    pub const CURRENT: JournalVersion = JournalVersion::V4;

    /// The version number as stored.
    pub const fn get(self) -> u16 {
        match self {
            JournalVersion::V1 => 1,
            JournalVersion::V2 => 2,
            JournalVersion::V3 => 3,
            JournalVersion::V4 => 4,
        }
    }

    /// The version stored as `version` in a `what` (journal file header or batch
    /// header); an unknown one is refused naming it.
    pub fn from_stored(what: &'static str, version: u16) -> Result<JournalVersion> {
        match version {
            1 => Ok(JournalVersion::V1),
            2 => Ok(JournalVersion::V2),
            3 => Ok(JournalVersion::V3),
            4 => Ok(JournalVersion::V4),
            got => Err(Error::BadVersion {
                what,
                oldest: JOURNAL_FILE_VERSION_OLDEST,
                supported: JOURNAL_FILE_VERSION,
                got,
            }),
        }
    }

    /// Whether batches of this version carry sector stamps.
    pub const fn stamped(self) -> bool {
        matches!(
            self,
            JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4
        )
    }

    /// Whether a batch of this version may carry the `PIPELINED` flag.
    pub const fn pipelines(self) -> bool {
        self.window_max() > 0
    }

    /// The most batches before it that a batch of this version may have been written
    /// while they were in flight (its header's window): 2 for version 4, 1 for
    /// version 3, else 0.
    pub const fn window_max(self) -> u8 {
        match self {
            JournalVersion::V1 | JournalVersion::V2 => 0,
            JournalVersion::V3 => 1,
            JournalVersion::V4 => 2,
        }
    }
}

/// Bytes of the header that hold fields; the rest of the block is zero.
const FIELDS_SIZE: usize = 40;

/// The header of a journal file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalFileHeader {
    /// The version of the header and of every batch in the file; new and recycled
    /// files are [`JournalVersion::CURRENT`].
    pub version: JournalVersion,
    pub file_id: JournalFileId,
    pub generation: Generation,
    /// Alignment of every batch in the file.
    pub alignment: Alignment,
    /// Size of the file in bytes, header included.
    pub file_size: u64,
}

impl JournalFileHeader {
    /// Checks the rules of the format.
    pub fn validate(&self) -> Result<()> {
        let min = (JOURNAL_FILE_HEADER_SIZE + self.alignment.bytes()) as u64;
        if self.file_size < min || self.file_size > JOURNAL_FILE_BYTES_MAX {
            return Err(Error::OutOfBounds {
                what: "journal file header",
                field: "file_size",
                got: self.file_size,
                min,
                max: JOURNAL_FILE_BYTES_MAX,
            });
        }
        if !self.alignment.is_aligned(self.file_size) {
            return Err(Error::InvalidField {
                what: "journal file header",
                field: "file_size",
                got: self.file_size,
                rule: "must be a multiple of the alignment",
            });
        }
        Ok(())
    }

    /// Where a batch at `file_offset` of this file must say it belongs.
    pub fn place(&self, file_offset: u64) -> BatchPlace {
        BatchPlace {
            file_id: self.file_id,
            generation: self.generation,
            alignment: self.alignment,
            file_offset,
            version: self.version,
        }
    }

    /// Encodes into the first `JOURNAL_FILE_HEADER_SIZE` bytes of `out`.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<()> {
        self.validate()?;
        let got = out.len();
        let out = out
            .get_mut(..JOURNAL_FILE_HEADER_SIZE)
            .ok_or(Error::BufferTooSmall {
                what: "journal file header",
                needed: JOURNAL_FILE_HEADER_SIZE,
                got,
            })?;
        let mut w = Writer::new(out);
        w.zeros(4);
        w.u32(JOURNAL_FILE_MAGIC);
        w.u16(self.version.get());
        w.zeros(2);
        w.u32(self.alignment.get());
        w.u64(self.file_id.get());
        w.u64(self.generation.get());
        w.u64(self.file_size);
        debug_assert_eq!(w.pos(), FIELDS_SIZE);
        w.zeros(JOURNAL_FILE_HEADER_SIZE - FIELDS_SIZE);
        let sum = crc32c(&out[4..]);
        out[..4].copy_from_slice(&sum.to_le_bytes());
        Ok(())
    }

    /// Encodes into a new `JOURNAL_FILE_HEADER_SIZE`-byte vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; JOURNAL_FILE_HEADER_SIZE];
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes the header at the front of `buf` (the first 4 KiB of a journal file).
    pub fn decode(buf: &[u8]) -> Result<JournalFileHeader> {
        let block = prefix("journal file header", buf, JOURNAL_FILE_HEADER_SIZE)?;
        let magic = peek_u32(block, 4).unwrap_or_default();
        if magic != JOURNAL_FILE_MAGIC {
            return Err(Error::BadMagic {
                what: "journal file header",
                expected: JOURNAL_FILE_MAGIC,
                got: magic,
            });
        }
        let mut r = Reader::new(block);
        let stored = r.u32();
        checksum::verify("journal file header", stored, &block[4..])?;
        r.skip(4);
        let version = JournalVersion::from_stored("journal file header", r.u16())?;
        let reserved_at = r.pos();
        if r.u16() != 0 {
            return Err(Error::NonZeroReserved {
                what: "journal file header",
                offset: reserved_at,
            });
        }
        let alignment = Alignment::new(r.u32())?;
        let file_id = JournalFileId::new(r.u64());
        let generation = Generation::new(r.u64());
        let file_size = r.u64();
        if !is_all_zero(&block[FIELDS_SIZE..]) {
            let offset = block[FIELDS_SIZE..]
                .iter()
                .position(|&b| b != 0)
                .unwrap_or_default();
            return Err(Error::NonZeroReserved {
                what: "journal file header",
                offset: FIELDS_SIZE + offset,
            });
        }
        let header = JournalFileHeader {
            version,
            file_id,
            generation,
            alignment,
            file_size,
        };
        header.validate()?;
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> JournalFileHeader {
        JournalFileHeader {
            version: JournalVersion::CURRENT,
            file_id: JournalFileId::new(3),
            generation: Generation::new(7),
            alignment: Alignment::JOURNAL,
            file_size: 64 << 20,
        }
    }

    #[test]
    fn round_trips() {
        let h = header();
        assert_eq!(JournalFileHeader::decode(&h.to_vec().unwrap()).unwrap(), h);
    }

    #[test]
    fn every_version_round_trips_and_others_are_refused_naming_the_version() {
        for version in [
            JournalVersion::V1,
            JournalVersion::V2,
            JournalVersion::V3,
            JournalVersion::V4,
        ] {
            let h = JournalFileHeader {
                version,
                ..header()
            };
            let bytes = h.to_vec().unwrap();
            assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), version.get());
            assert_eq!(JournalFileHeader::decode(&bytes).unwrap(), h);
        }
        let mut bytes = header().to_vec().unwrap();
        bytes[8] = 5;
        let sum = crc32c(&bytes[4..]);
        bytes[..4].copy_from_slice(&sum.to_le_bytes());
        let err = JournalFileHeader::decode(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "journal file header: unsupported version 5 (this build reads versions 1 to 4)"
        );
    }

    #[test]
    fn sizes_that_are_not_whole_blocks_are_refused() {
        let h = JournalFileHeader {
            file_size: (64 << 20) + 512,
            ..header()
        };
        assert!(h.to_vec().is_err());
        let h = JournalFileHeader {
            file_size: 4096,
            ..header()
        };
        assert!(h.to_vec().is_err());
    }

    #[test]
    fn short_input_is_truncated() {
        let bytes = header().to_vec().unwrap();
        assert_eq!(
            JournalFileHeader::decode(&bytes[..4095]),
            Err(Error::Truncated {
                what: "journal file header",
                needed: 4096,
                got: 4095
            })
        );
    }
}
