//! Every limit of the engine in one place, with the relations between them checked at
//! compile time (as `boreal_segment::limits` does for the formats). A limit here bounds
//! memory, a queue, or what a config may ask for; the module that enforces it
//! re-exports it where its users look (`journal::PIPELINE_DEPTH_MAX`, ...).
//!
//! Layout constants of a file format that only one module reads (offsets inside a
//! metadata slot, say) stay with that module; what they imply for capacity
//! (`META_TRUNCATIONS_MAX`, `CATALOG_SEGMENTS_MAX`) is checked here.

use std::time::Duration;

use boreal_segment::limits::{
    BATCH_BYTES_MAX, BATCH_HEADER_SIZE, JOURNAL_FILE_HEADER_SIZE, PAGE_SIZE_MAX,
};

// ---- Buffers (`buf`) -------------------------------------------------------------

/// Alignment of every `DmaBuf`: the largest O_DIRECT memory alignment a device may ask
/// for here (the page size), so any buffer works for any file.
pub const DMA_ALIGN: usize = 4096;
/// Largest `DmaBuf`, in bytes.
pub const DMA_BUF_CAPACITY_MAX: usize = 1 << 30;

// ---- The runtime (`uring`, `rt`) -------------------------------------------------

/// Default submission queue size, in entries.
pub const RING_ENTRIES_DEFAULT: u32 = 256;
/// Smallest submission queue we accept (a linked pair plus a cancel must fit).
pub const RING_ENTRIES_MIN: u32 = 8;
/// Largest submission queue the kernel accepts.
pub const RING_ENTRIES_MAX: u32 = 32768;
/// How long a core polls for completions before it sleeps in the kernel, while file
/// operations are in flight (`RuntimeConfig::park_spin`). Measured: NVMe-NOTES
/// "Polling before sleeping".
pub const PARK_SPIN_DEFAULT: Duration = Duration::from_micros(50);
/// Longest `park_spin` a runtime takes.
pub const PARK_SPIN_MAX: Duration = Duration::from_millis(10);

// ---- The journal (`journal`) -------------------------------------------------------

/// Bytes every batch and every journal file size is a multiple of: the 4 KiB physical
/// block (NVMe-NOTES fact 1), so the device never reads-modifies-writes.
pub const JOURNAL_ALIGN_BYTES: usize = 4096;
/// Smallest number of files: one being written while another waits to be recycled.
pub const JOURNAL_FILES_MIN: u32 = 2;
/// Largest number of files of one core's journal.
pub const JOURNAL_FILES_MAX: u32 = 4096;
/// Largest `pipeline_depth`: recovery's proofs (`decide.rs`) and the batch header
/// (journal version 4) know a window of two batches.
pub const PIPELINE_DEPTH_MAX: usize = 3;
/// Batch buffers a journal allocates, at most: one being filled while up to
/// `PIPELINE_DEPTH_MAX` are written.
pub const JOURNAL_BATCH_BUFFERS: usize = 1 + PIPELINE_DEPTH_MAX;
/// Smallest `recovery_read_bytes`.
pub const RECOVERY_READ_BYTES_MIN: usize = 64 << 10;
/// Largest `recovery_read_bytes` (the read buffer is this plus one largest batch).
pub const RECOVERY_READ_BYTES_MAX: usize = 64 << 20;

// ---- The page store (`pages`) -------------------------------------------------------

/// Buffers the core's page I/O pool keeps at most.
pub const POOL_BUFFERS_MAX: usize = 128;
/// Bytes the core's page I/O pool keeps at most.
pub const POOL_BYTES_MAX: usize = 16 << 20;

// ---- The core engine (`node`) --------------------------------------------------------

/// Highest `coalesce_start_percent`.
pub const COALESCE_START_PERCENT_MAX: u32 = 90;
/// Highest `coalesce_io_depth` (two passes' worth of buffers fit the page I/O pool).
pub const COALESCE_IO_DEPTH_MAX: usize = 64;
/// Most holes a segment's status lists.
pub const STATUS_HOLES_MAX: usize = 16;
/// Most emptied journal record lists (and staged-record buffers) a core keeps for
/// reuse: one per append in flight is what a steady load needs.
pub const APPEND_POOLED_MAX: usize = 4096;
/// A pooled record list whose capacity grew beyond this is freed instead of kept.
pub const APPEND_RECORD_LIST_CAPACITY_MAX: usize = 1024;
/// A pooled staged-record buffer whose body bytes grew beyond this is freed instead.
pub const APPEND_STAGED_BODY_BYTES_MAX: usize = 256 << 10;
/// Bytes of capacity the append pools keep in all (lists and staged buffers): what
/// a burst of large appends grew is freed, not kept for ever.
pub const APPEND_POOL_BYTES_MAX: usize = 16 << 20;

const _: () = {
    // Journal buffers are DmaBufs: their alignment covers the journal's.
    assert!(DMA_ALIGN.is_multiple_of(JOURNAL_ALIGN_BYTES));
    assert!(JOURNAL_FILE_HEADER_SIZE.is_multiple_of(JOURNAL_ALIGN_BYTES));
    assert!(BATCH_BYTES_MAX.is_multiple_of(JOURNAL_ALIGN_BYTES));
    assert!(RECOVERY_READ_BYTES_MIN.is_multiple_of(JOURNAL_ALIGN_BYTES));
    assert!(BATCH_HEADER_SIZE < JOURNAL_ALIGN_BYTES);
    // A recovery read buffer (window plus one largest batch) is one DmaBuf.
    assert!(RECOVERY_READ_BYTES_MAX + BATCH_BYTES_MAX <= DMA_BUF_CAPACITY_MAX);
    // A pipeline of depth d puts d - 1 batches in a header's window (two at most).
    assert!(PIPELINE_DEPTH_MAX >= 1 && PIPELINE_DEPTH_MAX - 1 <= 2);
    assert!(RING_ENTRIES_MIN <= RING_ENTRIES_DEFAULT && RING_ENTRIES_DEFAULT <= RING_ENTRIES_MAX);
    assert!(PARK_SPIN_DEFAULT.as_nanos() <= PARK_SPIN_MAX.as_nanos());
    // A pass's reads (two slots each) and writes in flight, at the deepest depth and
    // the largest page, are all served from the pool without freeing anything.
    assert!(2 * COALESCE_IO_DEPTH_MAX <= POOL_BUFFERS_MAX);
    assert!(COALESCE_IO_DEPTH_MAX * 3 * PAGE_SIZE_MAX as usize <= POOL_BYTES_MAX);
    // One pooled buffer of each kind at its largest fits the pools' byte bound.
    assert!(APPEND_STAGED_BODY_BYTES_MAX * 2 <= APPEND_POOL_BYTES_MAX);
};
