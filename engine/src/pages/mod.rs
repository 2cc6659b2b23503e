//! The page store of one core: a page file and a metadata file per segment, and a
//! catalog of the segments the core holds.
//!
//! What it owns: the on-disk layout of materialized pages (`page_file`), of the
//! segment's durable metadata (`meta_file`) and of the core's segment catalog
//! (`catalog`), the I/O that reads and writes them through `I: Io`, the core's pool of
//! page I/O buffers (`pool`) and the bounded join that puts a pass's page I/O at depth
//! (`depth`), with the two-slot file mechanism the catalog and metadata file share
//! (`slots`). It never decides
//! what to materialize or when (the coalescer does), never holds redo, and never reads a
//! clock.
//!
//! Layout under the core's directory: `catalog`, and per PG `pg-<id>.pages` and
//! `pg-<id>.meta`. Every file is opened O_DIRECT and written in whole 4 KiB blocks.
//!
//! Why each page has two slots: the journal recycles records once the segment's
//! materialized LSN passes them, so the page image is then the only copy of those
//! changes. Overwriting it in place would let a torn page write (a crash mid-write)
//! destroy it. Instead a page alternates between two adjacent slots; a write always goes
//! to the slot that does not hold the newest valid image, so the previous version
//! survives until the new one is synced and the metadata that covers it is durable. A
//! read fetches both slots in one I/O and keeps the valid one with the highest
//! `page_lsn`. (A double-write area would cost an extra write and sync per pass.)
//!
//! Invariants: a page slot holds zeros or a sealed page of its own page id (checked by
//! `decode_page`); the metadata file always has at least one valid slot once created,
//! and a torn metadata write never loses the previous one; the catalog names a segment
//! only after its files are durable.

mod catalog;
mod depth;
mod error;
mod meta_file;
mod page_file;
pub(crate) mod pool;
mod slots;

pub use self::catalog::{
    CATALOG_SEGMENTS_MAX, CATALOG_SLOT_BYTES, Catalog, CatalogEntry, decode_catalog_slot,
};
pub(crate) use self::depth::try_at_depth;
pub use self::error::PageStoreError;
pub use self::meta_file::{
    DamagedState, DurableMeta, META_SLOT_BYTES, META_TRUNCATIONS_MAX, MetaDamage, MetaFile,
};
pub use self::page_file::{PageFile, PageWrite, StoredPage};

use std::path::{Path, PathBuf};

use boreal_segment::PgId;

/// Path of the page file of `pg` under `dir`.
pub fn page_file_path(dir: &Path, pg: PgId) -> PathBuf {
    dir.join(format!("pg-{}.pages", pg.get()))
}

/// Path of the metadata file of `pg` under `dir`.
pub fn meta_file_path(dir: &Path, pg: PgId) -> PathBuf {
    dir.join(format!("pg-{}.meta", pg.get()))
}

/// Path of the core's segment catalog under `dir`.
pub fn catalog_path(dir: &Path) -> PathBuf {
    dir.join("catalog")
}

/// Rounds `v` up to a multiple of `to` (a power of two).
pub(crate) fn align_up(v: u64, to: u64) -> u64 {
    assert!(to.is_power_of_two());
    (v + to - 1) & !(to - 1)
}
