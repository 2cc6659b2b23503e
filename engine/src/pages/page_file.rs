//! One segment's page file: two slots per page, pre-written in chunks as it grows.
//!
//! Page `p` of the PG (index `i = p - first_page`) lives at byte `i * 2 * page_size`
//! (slot 0) and `i * 2 * page_size + page_size` (slot 1); see the module docs of
//! `pages` for why there are two slots. Slots are sealed page images
//! (`segment::seal_page`) or zeros (never written).
//!
//! The file grows ahead of the writes: before a page write past the prepared length,
//! the store writes zeros up to the next multiple of `grow_bytes` (NVMe-NOTES fact 4:
//! a flush that has to commit new extents costs ~3x, so page writes must land on blocks
//! that were written before, and nothing on the hot path writes sparsely). The zeros
//! become durable with the next `sync`, which the coalescer issues once per pass.
//!
//! It never retries a failed I/O and never caches pages (the core's page cache does).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use boreal_segment::checksum::is_all_zero;
use boreal_segment::{Lsn, PageId, PageSize, PgId, decode_page, seal_page};

use super::align_up;
use super::error::{PageStoreError, full_write, io_err};
use crate::buf::DmaBuf;
use crate::io::{Io, OpenOptions, WriteFlags};

/// Largest single zero-fill write when the file grows, bytes.
const GROW_WRITE_BYTES_MAX: u64 = 1 << 20;
/// Reads of a page pair when a slot is damaged (see [`PageFile::read`]).
pub(crate) const DAMAGED_READ_ATTEMPTS: u32 = 3;

/// A page read back from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPage {
    /// The payload (`page_size - 32` bytes); zeros for a page never written.
    pub payload: Box<[u8]>,
    /// LSN of the last record applied; zero for a page never written.
    pub page_lsn: Lsn,
    /// The slot holding this image (`None`: never written); the next write of the page
    /// goes to the other one.
    pub slot: Option<u8>,
    /// The other slot held neither zeros nor a valid page (after re-reads). Either a
    /// page write torn by a crash before the metadata covered it (then this image is the
    /// right base and the hot log holds the records that follow it), or damage to the
    /// newest image (then this image is stale). The caller tells them apart: see
    /// `CoreEngine::read_page`.
    pub other_slot_damaged: bool,
}

impl StoredPage {
    /// The slot the next version of this page must be written to.
    pub fn next_slot(&self) -> u8 {
        match self.slot {
            Some(s) => 1 - s,
            None => 0,
        }
    }
}

/// The page file of one segment. See the module docs.
#[derive(Debug)]
pub struct PageFile<I: Io> {
    io: I,
    file: I::File,
    path: PathBuf,
    pg: PgId,
    page_size: PageSize,
    first_page: u64,
    page_count: u64,
    grow_bytes: u64,
    /// Bytes of the file that exist and were written (zeros or pages).
    prepared_len: Cell<u64>,
}

impl<I: Io> PageFile<I> {
    /// Creates (or empties) the page file and makes its directory entry durable.
    pub async fn create(
        io: I,
        path: &Path,
        pg: PgId,
        page_size: PageSize,
        first_page: u64,
        page_count: u64,
        grow_bytes: u64,
    ) -> Result<PageFile<I>, PageStoreError> {
        let opts = OpenOptions {
            read: true,
            write: true,
            create: true,
            truncate: true,
            direct: true,
            ..OpenOptions::default()
        };
        let file = io
            .open(path, opts)
            .await
            .map_err(io_err("create page file", path, 0))?;
        io.fsync(&file)
            .await
            .map_err(io_err("fsync new page file", path, 0))?;
        Ok(Self::new(
            io, file, path, pg, page_size, first_page, page_count, grow_bytes, 0,
        ))
    }

    /// Opens an existing page file.
    pub async fn open(
        io: I,
        path: &Path,
        pg: PgId,
        page_size: PageSize,
        first_page: u64,
        page_count: u64,
        grow_bytes: u64,
    ) -> Result<PageFile<I>, PageStoreError> {
        let opts = OpenOptions {
            read: true,
            write: true,
            direct: true,
            ..OpenOptions::default()
        };
        let file = io
            .open(path, opts)
            .await
            .map_err(io_err("open page file", path, 0))?;
        // Only whole grow chunks count as prepared; a partly written tail is re-written.
        let size = io.file_info(&file).size;
        let prepared = size - size % grow_bytes;
        Ok(Self::new(
            io, file, path, pg, page_size, first_page, page_count, grow_bytes, prepared,
        ))
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "private constructor shared by create and open"
    )]
    fn new(
        io: I,
        file: I::File,
        path: &Path,
        pg: PgId,
        page_size: PageSize,
        first_page: u64,
        page_count: u64,
        grow_bytes: u64,
        prepared: u64,
    ) -> PageFile<I> {
        assert!(grow_bytes.is_power_of_two() && grow_bytes >= 2 * u64::from(page_size.get()));
        PageFile {
            io,
            file,
            path: path.to_path_buf(),
            pg,
            page_size,
            first_page,
            page_count,
            grow_bytes,
            prepared_len: Cell::new(prepared),
        }
    }

    pub fn page_size(&self) -> PageSize {
        self.page_size
    }

    /// Bytes of the file prepared (written) so far.
    pub fn prepared_len(&self) -> u64 {
        self.prepared_len.get()
    }

    /// Whether `page` belongs to this segment's PG.
    pub fn holds(&self, page: PageId) -> bool {
        page.get()
            .checked_sub(self.first_page)
            .is_some_and(|i| i < self.page_count)
    }

    fn pair_offset(&self, page: PageId) -> Result<u64, PageStoreError> {
        if !self.holds(page) {
            return Err(PageStoreError::PageOutOfRange {
                pg: self.pg,
                page,
                first: self.first_page,
                count: self.page_count,
            });
        }
        Ok((page.get() - self.first_page) * 2 * u64::from(self.page_size.get()))
    }

    /// Reads both slots of `page` and returns the newest valid image (or a zero page).
    ///
    /// A damaged slot is read again (up to [`DAMAGED_READ_ATTEMPTS`] reads in all)
    /// before it is believed: a transient read error (a flipped bit on the way) must
    /// not make the older slot look like the newest image, which would silently serve
    /// a stale page whose newer records the journal may already have recycled.
    pub async fn read(&self, page: PageId) -> Result<StoredPage, PageStoreError> {
        self.read_at_most(page, Lsn::MAX).await
    }

    /// [`read`](Self::read), ignoring a valid image above `at_most` (the segment's
    /// materialized LSN): such an image was written by a coalescer pass that crashed
    /// before its metadata write, so it is not committed (the records it holds are
    /// still in the journal, and a later truncation may annul some of them); the next
    /// write of the page goes over it.
    pub async fn read_at_most(
        &self,
        page: PageId,
        at_most: Lsn,
    ) -> Result<StoredPage, PageStoreError> {
        let mut attempt = 1;
        loop {
            let (stored, damaged) = self.read_once(page, at_most).await?;
            if !damaged || attempt >= DAMAGED_READ_ATTEMPTS {
                return stored;
            }
            attempt += 1;
        }
    }

    /// One read of the pair: the outcome, and whether a slot was damaged.
    async fn read_once(
        &self,
        page: PageId,
        at_most: Lsn,
    ) -> Result<(Result<StoredPage, PageStoreError>, bool), PageStoreError> {
        let ps = self.page_size.bytes();
        let offset = self.pair_offset(page)?;
        let zero_page = || StoredPage {
            payload: vec![0u8; self.page_size.payload_len()].into_boxed_slice(),
            page_lsn: Lsn::ZERO,
            slot: None,
            other_slot_damaged: false,
        };
        let (res, buf) = self
            .io
            .read_at(&self.file, DmaBuf::zeroed(2 * ps), 2 * ps, offset)
            .await;
        let got = res.map_err(io_err("read page", &self.path, offset))?;
        // Past the end of the file reads as zeros (a page never written).
        let mut pair = vec![0u8; 2 * ps];
        pair[..got].copy_from_slice(&buf.as_slice()[..got]);
        let mut best: Option<StoredPage> = None;
        let mut damage: [Option<String>; 2] = [None, None];
        for slot in 0..2u8 {
            let bytes = &pair[slot as usize * ps..(slot as usize + 1) * ps];
            if is_all_zero(bytes) {
                continue;
            }
            match decode_page(bytes, self.page_size, page) {
                Ok(view) if view.header.page_lsn > at_most => {}
                Ok(view) => {
                    if best
                        .as_ref()
                        .is_none_or(|b| view.header.page_lsn > b.page_lsn)
                    {
                        best = Some(StoredPage {
                            payload: view.payload.into(),
                            page_lsn: view.header.page_lsn,
                            slot: Some(slot),
                            other_slot_damaged: false,
                        });
                    }
                }
                Err(e) => damage[slot as usize] = Some(e.to_string()),
            }
        }
        let damaged = damage.iter().any(Option::is_some);
        let outcome = match (best, damage) {
            (Some(p), _) => Ok(StoredPage {
                other_slot_damaged: damaged,
                ..p
            }),
            // Both slots damaged: the newest materialized image is lost.
            (None, [Some(slot0), Some(slot1)]) => Err(PageStoreError::PageCorrupt {
                path: self.path.clone(),
                page,
                offset,
                slot0,
                slot1,
            }),
            // One slot damaged, the other never written: the page's first write was torn
            // before any metadata covered it, so its records are still in the journal.
            (None, _) => Ok(StoredPage {
                other_slot_damaged: damaged,
                ..zero_page()
            }),
        };
        Ok((outcome, damaged))
    }

    /// Writes a new image of `page` (`payload` with `page_lsn`) into `slot`. Not durable
    /// until [`sync`](Self::sync).
    pub async fn write(
        &self,
        page: PageId,
        slot: u8,
        payload: &[u8],
        page_lsn: Lsn,
    ) -> Result<(), PageStoreError> {
        assert!(slot < 2);
        assert_eq!(payload.len(), self.page_size.payload_len());
        let ps = self.page_size.bytes();
        let offset = self.pair_offset(page)? + u64::from(slot) * ps as u64;
        self.grow_to(offset + ps as u64).await?;
        let mut buf = DmaBuf::zeroed(ps);
        buf.set_len(ps);
        buf.as_mut_slice()[boreal_segment::limits::PAGE_HEADER_SIZE..].copy_from_slice(payload);
        if let Err(e) = seal_page(buf.as_mut_slice(), page, page_lsn) {
            panic!("sealing {page} of {}: {e}", self.pg);
        }
        let (res, _buf) = self
            .io
            .write_at(&self.file, buf, offset, WriteFlags::NONE)
            .await;
        full_write("write page", &self.path, offset, ps, res)
    }

    /// Pre-writes zeros so that `[0, end)` exists, in whole `grow_bytes` chunks.
    async fn grow_to(&self, end: u64) -> Result<(), PageStoreError> {
        let target = align_up(end, self.grow_bytes);
        while self.prepared_len.get() < target {
            let at = self.prepared_len.get();
            let len = (target - at).min(GROW_WRITE_BYTES_MAX);
            let mut buf = DmaBuf::zeroed(len as usize);
            buf.set_len(len as usize);
            let (res, _buf) = self
                .io
                .write_at(&self.file, buf, at, WriteFlags::NONE)
                .await;
            full_write("pre-write page file", &self.path, at, len as usize, res)?;
            self.prepared_len.set(at + len);
        }
        Ok(())
    }

    /// Makes every write so far durable.
    pub async fn sync(&self) -> Result<(), PageStoreError> {
        self.io
            .fdatasync(&self.file)
            .await
            .map_err(io_err("fdatasync page file", &self.path, 0))
    }
}
