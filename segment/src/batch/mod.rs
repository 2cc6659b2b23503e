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
//!
//! Files, along the format's seams: `header` (the 72-byte header and where a batch
//! belongs), `decode` (a whole batch, checked), `classify` (what any aligned region is,
//! and the proofs recovery takes from a damaged one), `builder` (filling and sealing a
//! batch). The public API is re-exported here.

mod builder;
mod classify;
mod decode;
mod header;
#[cfg(test)]
mod tests;

pub use self::builder::{BatchBuilder, BatchProgress};
pub use self::classify::{Region, classify, classify_with, header_repair, landed_batch};
pub use self::decode::{BatchView, decode_batch};
pub use self::header::{BatchHeader, BatchPlace};

use crate::alignment::Alignment;
use crate::journal_file::{JOURNAL_FILE_MAGIC, JournalVersion};
use crate::limits::{BATCH_BYTES_MAX, BATCH_HEADER_SIZE, STAMP_SECTOR_SIZE};
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
