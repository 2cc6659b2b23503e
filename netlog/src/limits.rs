//! Every size and limit of the wire protocol, in one place.
//!
//! This module owns the numbers; `proto` only uses them. Each message's fixed part has
//! its size here (the byte tables of `PROTOCOL.md` add up to them), and each variable
//! part its cap. The `const _: () = assert!(..)` block at the end checks, at compile
//! time, how they relate to each other and to `boreal-segment`'s limits: the largest
//! body of every message fits one frame, one append's records fit one journal batch,
//! the largest record fits one append, a fetch can always return at least one record,
//! a truncation list holds every truncation a segment's metadata file can keep
//! (`boreal-engine`'s `META_TRUNCATIONS_MAX`), every count and length fits the integer
//! it travels in. Nothing here is computed at run time.

use boreal_engine::pages::META_TRUNCATIONS_MAX;
use boreal_segment::limits::{
    BATCH_BODY_BYTES_MAX, BATCH_RECORDS_MAX, FRAME_BODY_BYTES_MAX, PAGE_PAYLOAD_MAX,
    RECORD_BODY_BYTES_MAX, RECORD_HEADER_SIZE,
};

/// Longest availability-zone label in `HelloReply`, in bytes of UTF-8.
pub const AZ_BYTES_MAX: usize = 64;
/// Most cores one node announces in `HelloReply`.
pub const CORES_MAX: usize = 1024;
/// Longest human-readable text of a `Refusal`, in bytes of UTF-8.
pub const REFUSAL_TEXT_BYTES_MAX: usize = 512;

/// Most redo records in one `AppendBatch` or `FetchedRecords`. A shim boxcars what
/// arrived while its connection was busy (tens to hundreds of records at a million
/// records per second and a loopback round trip); this cap bounds the record list a
/// node builds per frame (4096 borrowed `Redo`s, about 300 KiB) well above that.
pub const RECORD_BATCH_RECORDS_MAX: usize = 4096;
/// Most bytes of encoded records (headers and bodies) in one `AppendBatch` or
/// `FetchedRecords`: one journal batch body, so one append never needs more than one
/// journal write.
pub const RECORD_BATCH_BYTES_MAX: usize = BATCH_BODY_BYTES_MAX;
/// Smallest `byte_limit` of a `FetchRecords`: the largest record, so every fetch that
/// has records to return returns at least one and a repair always makes progress.
pub const FETCH_BYTE_LIMIT_MIN: usize = RECORD_HEADER_SIZE + RECORD_BODY_BYTES_MAX;

/// Most holes listed in one `StatusReply` (the engine's status lists the lowest 16).
pub const STATUS_HOLES_MAX: usize = 16;
/// Most segments in one `CoreStatusReply`; more are paged with `CoreStatus.first_pg`.
pub const CORE_STATUS_SEGMENTS_MAX: usize = 1024;
/// Most truncation ranges in one `TruncationsReply`. A segment holds a range until its
/// materialized LSN passes the range's end, and its metadata file keeps at most
/// `META_TRUNCATIONS_MAX` of them (167 with 4 KiB slots), so one reply always lists
/// them all (checked below). A protocol number, not the engine's: it stays fixed if
/// the metadata layout changes, and the check then says whether it still holds.
pub const TRUNCATIONS_MAX: usize = 256;

/// Fixed body bytes of each message (the variable part, if any, follows).
pub const HELLO_SIZE: usize = 16;
pub const HELLO_REPLY_FIXED: usize = 16;
pub const REFUSAL_FIXED: usize = 32;
pub const CREATE_SEGMENT_SIZE: usize = 32;
pub const SEGMENT_CREATED_SIZE: usize = 24;
pub const APPEND_BATCH_FIXED: usize = 16;
pub const APPEND_ACK_SIZE: usize = 32;
pub const GET_PAGE_SIZE: usize = 24;
pub const PAGE_REPLY_FIXED: usize = 24;
pub const SET_READ_POINT_SIZE: usize = 24;
pub const READ_POINT_SET_SIZE: usize = 16;
pub const FENCE_SIZE: usize = 16;
pub const FENCE_ACK_SIZE: usize = 24;
pub const TRUNCATE_SIZE: usize = 32;
pub const TRUNCATE_ACK_SIZE: usize = 24;
pub const FETCH_RECORDS_SIZE: usize = 24;
pub const FETCHED_RECORDS_FIXED: usize = 24;
pub const SEGMENT_STATUS_SIZE: usize = 8;
pub const STATUS_REPLY_FIXED: usize = 72;
/// Bytes of one hole in a `StatusReply`.
pub const HOLE_SIZE: usize = 24;
pub const CORE_STATUS_SIZE: usize = 8;
pub const CORE_STATUS_REPLY_FIXED: usize = 8;
/// Bytes of one segment summary in a `CoreStatusReply`.
pub const SEGMENT_SUMMARY_SIZE: usize = 40;
pub const TRUNCATIONS_SIZE: usize = 8;
pub const TRUNCATIONS_REPLY_FIXED: usize = 8;
/// Bytes of one range in a `TruncationsReply`.
pub const TRUNCATION_RANGE_SIZE: usize = 24;
/// Bytes of one core's port in a `HelloReply`.
pub const PORT_SIZE: usize = 2;

// Gossip between storage nodes (`node::gossip`).

/// Most peers a node gossips with (a PG has six segments; a large cluster's node meets
/// each of its PGs' peers, a few dozen nodes).
pub const PEERS_MAX: usize = 64;
/// Largest size a node's configuration may give in MiB (`journal.file_mib`,
/// `engine.backlog_mib`, `engine.page_cache_mib`): 1 PiB. Far above any machine; its
/// point is that the byte count (`MiB << 20`) cannot overflow and wrap to a small size.
pub const CONFIG_MIB_MAX: u64 = 1 << 30;
const _: () = assert!(CONFIG_MIB_MAX.checked_mul(1 << 20).is_some());
/// Longest gossip interval, in milliseconds (a minute: longer leaves holes open for
/// longer than any operator would want).
pub const GOSSIP_INTERVAL_MS_MAX: u64 = 60_000;
/// Longest a node may be told to hold back its append acknowledgements
/// (`ack_delay_us`, a slow node made on purpose for measurements), µs: one second.
pub const ACK_DELAY_US_MAX: u64 = 1_000_000;
/// Most record bytes one core fetches from peers in one gossip round: 4 MiB, about
/// 40 MB/s per core at the default 100 ms interval, so repair never crowds out the
/// shim's appends (those are what it competes with for the journal).
pub const GOSSIP_ROUND_BYTES_MAX: usize = 4 << 20;
/// Most segments whose status one core asks each peer for in one round; more are
/// asked in later rounds, in turn.
pub const GOSSIP_PROBE_SEGMENTS_MAX: usize = 256;
/// Longest a gossip request (connect and hello, a status batch, a fetch) waits for its
/// answer, in milliseconds; past it the connection is presumed half-open and dropped.
pub const GOSSIP_CALL_TIMEOUT_MS: u64 = 2_000;
/// Longest wait before a failed peer (or a segment whose repair made no progress) is
/// tried again, in milliseconds: the back-off doubles from one interval up to this.
pub const GOSSIP_BACKOFF_MS_MAX: u64 = 10_000;

const _: () = {
    // Every message's largest body fits one frame.
    assert!(HELLO_REPLY_FIXED + AZ_BYTES_MAX + CORES_MAX * PORT_SIZE <= FRAME_BODY_BYTES_MAX);
    assert!(REFUSAL_FIXED + REFUSAL_TEXT_BYTES_MAX <= FRAME_BODY_BYTES_MAX);
    assert!(APPEND_BATCH_FIXED + RECORD_BATCH_BYTES_MAX <= FRAME_BODY_BYTES_MAX);
    assert!(FETCHED_RECORDS_FIXED + RECORD_BATCH_BYTES_MAX <= FRAME_BODY_BYTES_MAX);
    assert!(PAGE_REPLY_FIXED + PAGE_PAYLOAD_MAX <= FRAME_BODY_BYTES_MAX);
    assert!(STATUS_REPLY_FIXED + STATUS_HOLES_MAX * HOLE_SIZE <= FRAME_BODY_BYTES_MAX);
    assert!(
        CORE_STATUS_REPLY_FIXED + CORE_STATUS_SEGMENTS_MAX * SEGMENT_SUMMARY_SIZE
            <= FRAME_BODY_BYTES_MAX
    );
    assert!(
        TRUNCATIONS_REPLY_FIXED + TRUNCATIONS_MAX * TRUNCATION_RANGE_SIZE <= FRAME_BODY_BYTES_MAX
    );
    // A node lists every truncation its segment holds in one reply.
    assert!(TRUNCATIONS_MAX >= META_TRUNCATIONS_MAX);
    // One append's records fit one journal batch, record count and bytes.
    assert!(RECORD_BATCH_BYTES_MAX <= BATCH_BODY_BYTES_MAX);
    assert!(RECORD_BATCH_RECORDS_MAX <= BATCH_RECORDS_MAX);
    // The largest record fits one append, and a fetch can always return one.
    assert!(RECORD_HEADER_SIZE + RECORD_BODY_BYTES_MAX <= RECORD_BATCH_BYTES_MAX);
    assert!(FETCH_BYTE_LIMIT_MIN <= RECORD_BATCH_BYTES_MAX);
    // A gossip round can always fetch one full batch (a largest record included).
    assert!(RECORD_BATCH_BYTES_MAX <= GOSSIP_ROUND_BYTES_MAX);
    // Lengths and counts fit the integers they travel in.
    assert!(AZ_BYTES_MAX <= u8::MAX as usize);
    assert!(CORES_MAX <= u16::MAX as usize);
    assert!(REFUSAL_TEXT_BYTES_MAX <= u16::MAX as usize);
    assert!(RECORD_BATCH_RECORDS_MAX <= u32::MAX as usize);
    assert!(RECORD_BATCH_BYTES_MAX <= u32::MAX as usize);
    assert!(STATUS_HOLES_MAX <= u16::MAX as usize);
    assert!(CORE_STATUS_SEGMENTS_MAX <= u32::MAX as usize);
    assert!(TRUNCATIONS_MAX <= u16::MAX as usize);
    // Fixed parts keep the 8-byte fields of what follows them aligned.
    assert!(APPEND_BATCH_FIXED.is_multiple_of(8) && FETCHED_RECORDS_FIXED.is_multiple_of(8));
    assert!(STATUS_REPLY_FIXED.is_multiple_of(8) && HOLE_SIZE.is_multiple_of(8));
    assert!(CORE_STATUS_REPLY_FIXED.is_multiple_of(8) && SEGMENT_SUMMARY_SIZE.is_multiple_of(8));
    assert!(TRUNCATIONS_REPLY_FIXED.is_multiple_of(8) && TRUNCATION_RANGE_SIZE.is_multiple_of(8));
};
