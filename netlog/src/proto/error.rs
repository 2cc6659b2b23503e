//! The one error type of the wire protocol.
//!
//! Every failure to decode (or to encode) a message says which message (`message`, the
//! registry name), which field, at which body offset where that helps, and the
//! expected and found values, so one log line is enough to tell a broken client from a
//! damaged link. Frame-level failures (header, checksums, oversize length) keep
//! `boreal-segment`'s error as their source. Errors carry no I/O context (this module
//! does no I/O): the server adds the peer. `Clone + Eq`, so tests compare them exactly.

use boreal_segment::{Lsn, PgId, RecordKind};

/// Result alias of the protocol.
pub type Result<T, E = ProtoError> = std::result::Result<T, E>;

/// Everything that can be wrong with a frame or message handed to a decoder, or with a
/// message handed to an encoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The frame itself is bad (header, checksum, oversize length, partial body).
    #[error("frame: {0}")]
    Frame(#[from] boreal_segment::Error),
    /// A frame tag that is not in the registry (or retired).
    #[error("unknown message tag {tag}")]
    UnknownTag { tag: u16 },
    /// A request or response whose frame has request id 0 (only a connection-level
    /// `Refusal` may).
    #[error("{message}: request_id is 0; every request and its response carry a nonzero id")]
    ZeroRequestId { message: &'static str },
    /// A request where a response was expected, or the reverse.
    #[error("{message}: is not a {expected}")]
    WrongDirection {
        message: &'static str,
        expected: &'static str,
    },
    /// The body ends inside a field.
    #[error(
        "{message}: body ends inside {field} at offset {offset}: need {needed} bytes, {got} left"
    )]
    Truncated {
        message: &'static str,
        field: &'static str,
        offset: usize,
        needed: usize,
        got: usize,
    },
    /// Bytes after the last field of the body.
    #[error("{message}: {extra} unexpected bytes after the body's end at offset {offset}")]
    TrailingBytes {
        message: &'static str,
        offset: usize,
        extra: usize,
    },
    /// A reserved byte is not zero.
    #[error("{message}: reserved byte at body offset {offset} is not zero")]
    NonZeroReserved {
        message: &'static str,
        offset: usize,
    },
    /// A code (role, reason, rule, hole kind, flag byte) this build does not know.
    #[error("{message}: unknown {field} code {got}")]
    UnknownCode {
        message: &'static str,
        field: &'static str,
        got: u64,
    },
    /// A length, count or number outside what the protocol allows.
    #[error("{message}: {field} = {got} is out of bounds [{min}, {max}]")]
    OutOfBounds {
        message: &'static str,
        field: &'static str,
        got: u64,
        min: u64,
        max: u64,
    },
    /// A field whose value breaks a rule of its message.
    #[error("{message}: invalid {field} = {got}: {rule}")]
    InvalidField {
        message: &'static str,
        field: &'static str,
        got: u64,
        rule: &'static str,
    },
    /// A text field that is not valid UTF-8 or breaks its rule.
    #[error("{message}: {field}: {rule}")]
    BadText {
        message: &'static str,
        field: &'static str,
        rule: &'static str,
    },
    /// Two LSNs of a message that must be ordered are not.
    #[error("{message}: {rule} does not hold ({left} vs {right})")]
    LsnOutOfOrder {
        message: &'static str,
        rule: &'static str,
        left: Lsn,
        right: Lsn,
    },
    /// A record of a record batch does not decode.
    #[error("{message}: record #{index} at body offset {offset}: {source}")]
    Record {
        message: &'static str,
        index: u32,
        offset: usize,
        #[source]
        source: boreal_segment::Error,
    },
    /// A record of a record batch is not a redo record (only redo travels).
    #[error("{message}: record #{index} at body offset {offset} is a {kind:?} record, not redo")]
    NotRedo {
        message: &'static str,
        index: u32,
        offset: usize,
        kind: RecordKind,
    },
    /// A record of a record batch belongs to another PG than the message.
    #[error("{message}: record #{index} ({lsn}) belongs to {got}, the message is for {expected}")]
    OtherPg {
        message: &'static str,
        index: u32,
        lsn: Lsn,
        expected: PgId,
        got: PgId,
    },
    /// The LSNs of a record batch do not strictly increase.
    #[error("{message}: record #{index}: {lsn} does not follow {prev} (LSNs must increase)")]
    LsnNotIncreasing {
        message: &'static str,
        index: u32,
        prev: Lsn,
        lsn: Lsn,
    },
    /// The record count does not match the records in the body.
    #[error("{message}: record_count says {declared} records, the body holds {found}")]
    RecordCount {
        message: &'static str,
        declared: u32,
        found: u32,
    },
    /// A record batch being built has no room for the record (not a fault: send what
    /// is built, start the next frame).
    #[error(
        "{message}: batch full at {records} records and {bytes} bytes; a record of {needed} bytes does not fit"
    )]
    BatchFull {
        message: &'static str,
        records: usize,
        bytes: usize,
        needed: usize,
    },
}
