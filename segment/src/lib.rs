//! boreal-segment: every on-disk and on-wire format of boreal, with no I/O.
//!
//! Bytes in, typed values or typed errors out. Nothing here reads a file, opens a
//! socket, reads a clock or draws a random number, so every decoder can be fuzzed and
//! property-tested in isolation. See `FORMAT.md` for the byte layouts.
//!
//! One file per concept: `ids` (newtypes), `limits` (every size, with compile-time
//! checks), `checksum` (CRC-32C), `error`, `alignment`, `record` (journal records),
//! `batch` (journal batches, the builder and recovery's `classify`), `stamp` (the
//! sector stamps of version-2 batches), `journal_file`
//! (the journal file header), `page` (page images and `PageSize`), `meta` (segment
//! metadata) and `frame` (the network frame header). Decoders never panic and never
//! allocate per record; encoders refuse what decoders would refuse.

pub mod alignment;
pub mod batch;
pub mod checksum;
mod codec;
pub mod error;
pub mod frame;
pub mod ids;
pub mod journal_file;
pub mod limits;
pub mod meta;
pub mod page;
pub mod record;
pub mod stamp;
pub mod window;

pub use alignment::Alignment;
pub use batch::{
    BATCH_FLAG_REDO_ONLY, BatchBuilder, BatchHeader, BatchPlace, BatchView, Region, batch_len,
    body_capacity, classify, classify_with, decode_batch, header_repair, landed_batch,
};
pub use error::{Error, Result};
pub use frame::{Frame, FrameHeader, decode_frame, encode_frame};
pub use ids::{BatchSeq, Epoch, Generation, JournalFileId, Lsn, NodeId, PageId, PgId};
pub use journal_file::{JournalFileHeader, JournalVersion};
pub use meta::SegmentMeta;
pub use page::{PageHeader, PageSize, PageView, decode_page, seal_page};
pub use record::{
    Change, CheckedIter, CheckedRecords, Record, RecordChecker, RecordKind, Records, Redo,
    Truncate, ValidRecord,
};
