//! The page store's error type: every variant names the file, the operation and the
//! offset, so a log line alone locates the fault.

use std::io;
use std::path::PathBuf;

use boreal_segment::{PageId, PgId};

/// A page store failure. I/O errors are not retried by the store: the caller decides
/// (the coalescer fail-stops the segment's materialization on a write or sync error).
#[derive(Debug, thiserror::Error)]
pub enum PageStoreError {
    #[error("{op} {path:?} at offset {offset}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },
    #[error("{op} {path:?} at offset {offset}: short, {got} of {expected} bytes")]
    Short {
        op: &'static str,
        path: PathBuf,
        offset: u64,
        expected: usize,
        got: usize,
    },
    /// Both slots of a page hold bytes that are neither zeros nor a valid page.
    #[error("{path:?}: {page} unreadable in both slots at offset {offset}: {slot0}; {slot1}")]
    PageCorrupt {
        path: PathBuf,
        page: PageId,
        offset: u64,
        slot0: String,
        slot1: String,
    },
    /// Neither metadata slot is valid (or the file belongs to another PG).
    #[error("{path:?}: no valid segment metadata: {slot0}; {slot1}")]
    MetaCorrupt {
        path: PathBuf,
        slot0: String,
        slot1: String,
    },
    /// Neither catalog slot is valid.
    #[error("{path:?}: no valid catalog: {slot0}; {slot1}")]
    CatalogCorrupt {
        path: PathBuf,
        slot0: String,
        slot1: String,
    },
    #[error("catalog full: {max} segments per core")]
    CatalogFull { max: usize },
    #[error("{pg}: {page} is outside the PG's pages [{first}, {first} + {count})")]
    PageOutOfRange {
        pg: PgId,
        page: PageId,
        first: u64,
        count: u64,
    },
    #[error("{pg}: {count} truncations to persist, the metadata holds at most {max}")]
    TooManyTruncations { pg: PgId, count: usize, max: usize },
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
    offset: u64,
) -> impl FnOnce(io::Error) -> PageStoreError + 'a {
    move |source| PageStoreError::Io {
        op,
        path: path.to_path_buf(),
        offset,
        source,
    }
}

/// Turns the result of a whole-buffer write into an error unless every byte was written.
pub(crate) fn full_write(
    op: &'static str,
    path: &std::path::Path,
    offset: u64,
    expected: usize,
    res: io::Result<usize>,
) -> Result<(), PageStoreError> {
    match res {
        Ok(n) if n == expected => Ok(()),
        Ok(got) => Err(PageStoreError::Short {
            op,
            path: path.to_path_buf(),
            offset,
            expected,
            got,
        }),
        Err(source) => Err(PageStoreError::Io {
            op,
            path: path.to_path_buf(),
            offset,
            source,
        }),
    }
}
