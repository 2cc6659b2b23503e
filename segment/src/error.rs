//! The one error type of `boreal-segment`.
//!
//! Every decode failure says what structure it was decoding (`what`) and what exactly
//! was wrong, with the expected and found values, so a log line alone is enough to
//! diagnose a bad block or frame. Errors carry no I/O context (this crate does no I/O):
//! callers add the file, offset or peer. The type is `Clone + Eq` so recovery can keep a
//! classification and tests can compare errors.

use crate::ids::{Generation, JournalFileId, Lsn, PageId};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can be wrong with bytes handed to a decoder, or with a value handed
/// to an encoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the structure does.
    #[error("{what}: input too short: need {needed} bytes, got {got}")]
    Truncated {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    /// The magic number is not the one of this structure.
    #[error("{what}: bad magic: expected {expected:#010x}, got {got:#010x}")]
    BadMagic {
        what: &'static str,
        expected: u32,
        got: u32,
    },
    /// The structure was written by a format version this build cannot read.
    #[error("{what}: unsupported version {got} (this build reads {})", versions(*.oldest, *.supported))]
    BadVersion {
        what: &'static str,
        /// Oldest version this build reads.
        oldest: u16,
        /// Newest version this build reads (and the one it writes).
        supported: u16,
        got: u16,
    },
    /// A stored checksum does not match the bytes it covers.
    #[error("{what}: checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        what: &'static str,
        stored: u32,
        computed: u32,
    },
    /// A length or size lies outside what the format allows.
    #[error("{what}: {field} = {got} is out of bounds [{min}, {max}]")]
    OutOfBounds {
        what: &'static str,
        field: &'static str,
        got: u64,
        min: u64,
        max: u64,
    },
    /// Two LSNs that the format orders are not in that order.
    #[error("{what}: LSN out of order: {rule} does not hold ({left} vs {right})")]
    LsnOutOfOrder {
        what: &'static str,
        rule: &'static str,
        left: Lsn,
        right: Lsn,
    },
    /// A tag (record kind, message tag) that this build does not know.
    #[error("{what}: unknown tag {tag}")]
    UnknownTag { what: &'static str, tag: u64 },
    /// Flag bits that this build does not know, or that this kind may not carry.
    #[error("{what}: unknown flags {flags:#x}")]
    UnknownFlags { what: &'static str, flags: u64 },
    /// A byte the format reserves (must be zero) is not zero.
    #[error("{what}: reserved byte at offset {offset} is not zero")]
    NonZeroReserved { what: &'static str, offset: usize },
    /// A field holds a value that violates a rule of the format.
    #[error("{what}: invalid {field} = {got}: {rule}")]
    InvalidField {
        what: &'static str,
        field: &'static str,
        got: u64,
        rule: &'static str,
    },
    /// A valid batch of another journal file (a misdirected write or a wrong file).
    #[error("journal batch: wrong file id: expected {expected}, got {got}")]
    WrongFileId {
        expected: JournalFileId,
        got: JournalFileId,
    },
    /// A valid batch of an older (or newer) generation of a recycled journal file.
    #[error("journal batch: wrong generation: expected {expected}, got {got}")]
    WrongGeneration {
        expected: Generation,
        got: Generation,
    },
    /// A valid batch written at another offset (a misdirected write).
    #[error("journal batch: wrong file offset: expected {expected}, got {got}")]
    WrongOffset { expected: u64, got: u64 },
    /// A valid page image of another page (a misdirected write).
    #[error("page image: wrong page id: expected {expected}, got {got}")]
    WrongPageId { expected: PageId, got: PageId },
    /// A record inside a batch is bad; `offset` is from the start of the batch.
    #[error("journal batch: record #{index} at batch offset {offset}: {source}")]
    InRecord {
        index: u32,
        offset: usize,
        source: Box<Error>,
    },
    /// The batch being built has no room for the record (backpressure, not a fault).
    #[error("journal batch full: record needs {needed} bytes, {available} left")]
    BatchFull { needed: usize, available: usize },
    /// The output buffer handed to an encoder is too small.
    #[error("{what}: output buffer too small: need {needed} bytes, got {got}")]
    BufferTooSmall {
        what: &'static str,
        needed: usize,
        got: usize,
    },
}

fn versions(oldest: u16, newest: u16) -> String {
    if oldest == newest {
        format!("version {newest}")
    } else {
        format!("versions {oldest} to {newest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_structure_and_the_values() {
        let e = Error::Checksum {
            what: "record header",
            stored: 1,
            computed: 2,
        };
        assert_eq!(
            e.to_string(),
            "record header: checksum mismatch: stored 0x00000001, computed 0x00000002"
        );
        let e = Error::InRecord {
            index: 3,
            offset: 200,
            source: Box::new(Error::LsnOutOfOrder {
                what: "redo record",
                rule: "prev_lsn_pg < lsn",
                left: Lsn::new(9),
                right: Lsn::new(5),
            }),
        };
        assert_eq!(
            e.to_string(),
            "journal batch: record #3 at batch offset 200: redo record: LSN out of order: \
             prev_lsn_pg < lsn does not hold (lsn:9 vs lsn:5)"
        );
    }
}
