//! `proto`: the wire protocol between shims, storage nodes and their peers — the
//! message registry over `boreal-segment`'s network frame.
//!
//! This module owns every message body (`netlog/PROTOCOL.md` has the bytes), the tag
//! and reason registries, the role and PG → core policies, and the framing of a byte
//! stream. It is sans-I/O: bytes in, typed messages or typed errors out; messages in,
//! bytes appended to a caller-owned buffer. It never opens a socket, never awaits,
//! never reads a clock, and depends on no engine type: the node server and the shim
//! convert between their own types and the small wire types here.
//!
//! What it guarantees, for any input bytes:
//! - no panic and no allocation sized by the input: the frame length is checked
//!   against `FRAME_BODY_BYTES_MAX` from the 32-byte header alone ([`FrameReader`]);
//!   every count is checked against its limit ([`crate::limits`]) and against the
//!   bytes left before it is used; decoded lists and records are views of the body;
//! - a typed [`ProtoError`] naming the message, the field and the values;
//! - one encoding per message: unknown tags, codes and flags, nonzero reserved bytes,
//!   out-of-range numbers and bytes after the body's end are refused, so a decoded
//!   message re-encodes to exactly its bytes (the fuzz targets check it);
//! - encoders refuse what decoders refuse, and leave the caller's buffer as it was.
//!
//! The hot path is `AppendBatch`: its records travel in the journal record encoding,
//! are decoded zero-copy as `Redo<'a>` borrowing the receive buffer
//! ([`Redos::iter`]), and are built record by record into a reused buffer by
//! [`AppendEncoder`]. Nothing on that path allocates per record.
//!
//! Files: `tag` (registry, roles, PG → core rule), `message` (the enum, dispatch,
//! sealing), `hello`, `refusal`, `control` (create, read point, fence, truncate,
//! GetPage), `records` (append and fetch, the encoders), `redos` (record batches),
//! `status`, `truncations` (a segment's truncation ranges), `seq` (list fields),
//! `reader` (framing), `wire` (field codec), `error`.

mod control;
mod error;
mod hello;
mod message;
mod reader;
mod records;
mod redos;
mod refusal;
mod seq;
mod status;
mod tag;
mod truncations;
mod wire;

pub use control::{
    CreateSegment, Fence, FenceAck, GetPage, PageReply, ReadPointSet, SegmentCreated, SetReadPoint,
    Truncate, TruncateAck,
};
pub use error::{ProtoError, Result};
pub use hello::{Hello, HelloReply, negotiate};
pub use message::Message;
pub use reader::{FrameReader, Step};
pub use records::{
    AppendAck, AppendBatch, AppendEncoder, EncodedRedo, FetchRecords, FetchedEncoder,
    FetchedRecords,
};
pub use redos::{RedoIter, Redos, ValidIter};
pub use refusal::{Reason, Refusal, clip_text};
pub use seq::{Item, Seq};
pub use status::{
    CoreStatus, CoreStatusReply, Hole, HoleKind, SegmentStatus, SegmentSummary, StatusReply,
};
pub use tag::{PgRule, Role, Tag};
pub use truncations::{TruncationRange, Truncations, TruncationsReply};

/// Oldest protocol version this build speaks.
pub const PROTOCOL_VERSION_MIN: u16 = 1;
/// Newest protocol version this build speaks (and the one it prefers).
pub const PROTOCOL_VERSION_MAX: u16 = 1;

const _: () = assert!(PROTOCOL_VERSION_MIN >= 1 && PROTOCOL_VERSION_MIN <= PROTOCOL_VERSION_MAX);
