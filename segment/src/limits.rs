//! Every size and limit of every boreal format, in one place.
//!
//! This module owns the numbers; the format modules only use them. It never computes
//! anything at run time. The `const _: () = assert!(..)` block at the end checks, at
//! compile time, how the limits relate to each other (the largest record fits an empty
//! batch, a batch header fits the smallest sector, a full batch fits one frame, ...), so
//! changing one number cannot silently break another format.

/// Smallest device alignment (logical block size) a journal may use, in bytes.
pub const ALIGNMENT_MIN: u32 = 512;
/// Largest device alignment a journal may use, in bytes. The journal uses this value.
pub const ALIGNMENT_MAX: u32 = 4096;

/// Smallest page size of a volume, in bytes.
pub const PAGE_SIZE_MIN: u32 = 4096;
/// Largest page size of a volume, in bytes.
pub const PAGE_SIZE_MAX: u32 = 65536;
/// Page size of a volume unless its configuration says otherwise, in bytes.
pub const PAGE_SIZE_DEFAULT: u32 = 8192;
/// Bytes of the header at the start of every stored page image.
pub const PAGE_HEADER_SIZE: usize = 32;
/// Largest page payload (the bytes a redo record may change), in bytes.
pub const PAGE_PAYLOAD_MAX: usize = PAGE_SIZE_MAX as usize - PAGE_HEADER_SIZE;

/// Bytes of the fixed header of every journal record (redo, truncate, ...).
pub const RECORD_HEADER_SIZE: usize = 56;
/// Largest record body: a delta or a full image never exceeds one page payload.
pub const RECORD_BODY_BYTES_MAX: usize = PAGE_PAYLOAD_MAX;

/// Bytes of a journal file header (the first block of every journal file).
pub const JOURNAL_FILE_HEADER_SIZE: usize = 4096;
/// Largest journal file, in bytes.
pub const JOURNAL_FILE_BYTES_MAX: u64 = 1 << 40;

/// Bytes of a journal batch header.
pub const BATCH_HEADER_SIZE: usize = 72;
/// Largest journal batch on disk (header, records, padding and, from version 2, the
/// sector stamps), in bytes: one O_DIRECT write.
pub const BATCH_BYTES_MAX: usize = 1 << 20;
/// Bytes of a stamp sector: from journal version 2, every 512 bytes of a batch end with
/// a stamp, whatever the file's alignment (512..=4096, a whole number of sectors).
pub const STAMP_SECTOR_SIZE: usize = 512;
/// Bytes of the stamp at the end of every stamp sector.
pub const STAMP_SIZE: usize = 8;
/// Bytes of a batch's logical stream (header, records, padding) per stamp sector.
pub const STAMP_SECTOR_PAYLOAD: usize = STAMP_SECTOR_SIZE - STAMP_SIZE;
/// Largest logical batch (header + records + padding, stamps excluded) of a version-2
/// batch: what `BATCH_BYTES_MAX` holds once every sector gave up its stamp.
pub const BATCH_LOGICAL_BYTES_MAX: usize =
    BATCH_BYTES_MAX / STAMP_SECTOR_SIZE * STAMP_SECTOR_PAYLOAD;
/// Largest body (records end to end, padding excluded) of a version-2 batch.
pub const BATCH_BODY_BYTES_MAX: usize = BATCH_LOGICAL_BYTES_MAX - BATCH_HEADER_SIZE;
/// Largest number of records in one version-2 batch (every record has at least a
/// header).
pub const BATCH_RECORDS_MAX: usize = BATCH_BODY_BYTES_MAX / RECORD_HEADER_SIZE;
/// Largest body of a version-1 batch (no stamps: read, never written).
pub const BATCH_V1_BODY_BYTES_MAX: usize = BATCH_BYTES_MAX - BATCH_HEADER_SIZE;

/// Bytes of a segment metadata record.
pub const SEGMENT_META_SIZE: usize = 64;

/// Bytes of a network frame header.
pub const FRAME_HEADER_SIZE: usize = 32;
/// Largest network frame body, in bytes; checked before any allocation.
pub const FRAME_BODY_BYTES_MAX: usize = 4 << 20;

const _: () = {
    assert!(ALIGNMENT_MIN.is_power_of_two() && ALIGNMENT_MAX.is_power_of_two());
    assert!(ALIGNMENT_MIN <= ALIGNMENT_MAX);
    assert!(PAGE_SIZE_MIN.is_power_of_two() && PAGE_SIZE_MAX.is_power_of_two());
    assert!(PAGE_SIZE_MIN <= PAGE_SIZE_DEFAULT && PAGE_SIZE_DEFAULT <= PAGE_SIZE_MAX);
    assert!(PAGE_SIZE_DEFAULT.is_power_of_two());
    // A page is a whole number of device blocks, so a page write never read-modify-writes.
    assert!(PAGE_SIZE_MIN.is_multiple_of(ALIGNMENT_MAX));
    assert!(PAGE_HEADER_SIZE < PAGE_SIZE_MIN as usize);
    // The journal file header fills whole blocks, so the first batch is aligned.
    assert!(JOURNAL_FILE_HEADER_SIZE.is_multiple_of(ALIGNMENT_MAX as usize));
    // A batch header lies inside the first sector of the batch, before that sector's
    // stamp: a torn write either has the whole header or none of it, at every
    // supported alignment.
    assert!(BATCH_HEADER_SIZE <= STAMP_SECTOR_PAYLOAD);
    assert!(STAMP_SECTOR_SIZE <= ALIGNMENT_MIN as usize);
    // Every alignment, and the largest batch, is a whole number of stamp sectors, so
    // every sector of a padded batch ends with a stamp.
    assert!((ALIGNMENT_MIN as usize).is_multiple_of(STAMP_SECTOR_SIZE));
    assert!(STAMP_SECTOR_SIZE.is_power_of_two());
    assert!(BATCH_BYTES_MAX.is_multiple_of(ALIGNMENT_MAX as usize));
    assert!(BATCH_LOGICAL_BYTES_MAX.is_multiple_of(STAMP_SECTOR_PAYLOAD));
    // The largest record fits an empty batch, stamps included.
    assert!(RECORD_HEADER_SIZE + RECORD_BODY_BYTES_MAX <= BATCH_BODY_BYTES_MAX);
    assert!(BATCH_BODY_BYTES_MAX <= BATCH_V1_BODY_BYTES_MAX);
    // Body lengths and counts are stored as u32.
    assert!(BATCH_BYTES_MAX <= u32::MAX as usize);
    assert!(FRAME_BODY_BYTES_MAX <= u32::MAX as usize);
    assert!(BATCH_RECORDS_MAX <= u32::MAX as usize);
    // A segment metadata record can travel as a journal record body.
    assert!(SEGMENT_META_SIZE <= RECORD_BODY_BYTES_MAX);
    // A whole batch's worth of records, or a whole page, fits one network frame.
    assert!(FRAME_BODY_BYTES_MAX >= BATCH_BYTES_MAX);
    assert!(FRAME_BODY_BYTES_MAX >= PAGE_SIZE_MAX as usize);
    // A journal file holds its header and at least one largest batch.
    assert!(JOURNAL_FILE_BYTES_MAX >= (JOURNAL_FILE_HEADER_SIZE + BATCH_BYTES_MAX) as u64);
};
