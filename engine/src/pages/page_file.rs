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
//! A read that completes short is taken for the end of the file only where the file
//! really ends: this `PageFile` is the only writer of its file and grows it only through
//! its own zero-fill writes, so the file's size is known (its size at open, or what those
//! writes reached since). Past that size a page reads as never written (zeros), as the
//! format says (`segment/FORMAT.md`, "Page file"); a read that ends before it is a
//! [`PageStoreError::Short`] naming file, offset, expected and got, never zeros: taking it
//! for the end of the file would serve the other slot's older image, or an empty page,
//! in place of the newest.
//!
//! Page I/O goes through the core's buffer pool (`pool`): a read lands in a reused
//! buffer (the bytes past a short read are zeroed, the rest the kernel overwrote), a
//! write fills a reused buffer completely (payload copied, header sealed). Writes of a
//! coalescer pass go out at depth ([`PageFile::write_many`]) after one growth step.
//!
//! It never retries a failed I/O and never caches pages (the core's page cache does).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use std::rc::Rc;

use boreal_segment::limits::PAGE_HEADER_SIZE;
use boreal_segment::{Lsn, PageId, PageSize, PgId, decode_page, seal_page};

use super::align_up;
use super::depth::try_at_depth;
use super::error::{PageStoreError, full_write, io_err};
use super::pool;
use super::slots::{open_file, reread_damaged, sync_parent};
use crate::buf::DmaBuf;
use crate::io::{Io, WriteFlags};

/// Largest single zero-fill write when the file grows, bytes.
const GROW_WRITE_BYTES_MAX: u64 = 1 << 20;

/// A page read back from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPage {
    /// The payload (`page_size - 32` bytes); zeros for a page never written. An `Rc`
    /// so the page cache and the coalescer take it as is.
    pub payload: Rc<[u8]>,
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
    /// The file's size: its size at open, or the end of this file's own zero-fill
    /// writes since, whichever is larger (nothing else writes the file). A read short of
    /// it is a short read, not the end of the file.
    file_len: Cell<u64>,
    /// A [`write_many`](PageFile::write_many) is in progress.
    writing: Cell<bool>,
}

/// One page image to write: `payload` sealed as `page` at `page_lsn`, into `slot`.
#[derive(Clone, Copy, Debug)]
pub struct PageWrite<'a> {
    pub page: PageId,
    pub slot: u8,
    pub payload: &'a [u8],
    pub page_lsn: Lsn,
}

/// Clears `PageFile::writing` however `write_many` ends (error, or dropped).
struct WritingGuard<'a>(&'a Cell<bool>);

impl Drop for WritingGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Whether `bytes` are all zero: word-wide, stopping at the first non-zero block (a
/// page slot is 4 to 64 KiB, and a byte loop over a never-written slot was a visible
/// part of a coalescer pass).
fn all_zero(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(256);
    let block_zero = |b: &[u8]| b.iter().fold(0u8, |acc, &x| acc | x) == 0;
    blocks.all(block_zero) && block_zero(blocks.remainder())
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
        let file = open_file(&io, path, true, "create page file").await?;
        io.fsync(&file)
            .await
            .map_err(io_err("fsync new page file", path, 0))?;
        sync_parent(&io, path, "fsync directory of new page file").await?;
        Ok(Self::new(
            io, file, path, pg, page_size, first_page, page_count, grow_bytes, 0, 0,
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
        let file = open_file(&io, path, false, "open page file").await?;
        // Only whole grow chunks count as prepared; a partly written tail is re-written.
        let size = io.file_info(&file).size;
        let prepared = size - size % grow_bytes;
        Ok(Self::new(
            io, file, path, pg, page_size, first_page, page_count, grow_bytes, prepared, size,
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
        file_len: u64,
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
            file_len: Cell::new(file_len),
            writing: Cell::new(false),
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
    /// A damaged slot is read again (up to `DAMAGED_READ_ATTEMPTS` reads in all, see
    /// `pages::slots`) before it is believed: a transient read error (a flipped bit on the way) must
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
        reread_damaged(|| self.read_once(page, at_most)).await?
    }

    /// One read of the pair: the outcome, and whether a slot was damaged.
    ///
    /// The pair is read into a pooled buffer (no allocation, no zeroing of what the
    /// kernel overwrites) and each slot is looked at once: decoded, and only if that
    /// fails scanned for zeros (a slot never written) versus damage.
    async fn read_once(
        &self,
        page: PageId,
        at_most: Lsn,
    ) -> Result<(Result<StoredPage, PageStoreError>, bool), PageStoreError> {
        let ps = self.page_size.bytes();
        let offset = self.pair_offset(page)?;
        let (res, mut buf) = self
            .io
            .read_at(&self.file, pool::take(2 * ps), 2 * ps, offset)
            .await;
        let got = match res {
            Ok(got) => got.min(2 * ps),
            Err(e) => {
                pool::give(buf);
                return Err(io_err("read page", &self.path, offset)(e));
            }
        };
        // Short of the file's known end: the read ended early (Linux allows that
        // anywhere in a file). Not the end of the file, and not retried (see the
        // module docs).
        let expected = self
            .file_len
            .get()
            .saturating_sub(offset)
            .min(2 * ps as u64) as usize;
        if got < expected {
            pool::give(buf);
            return Err(PageStoreError::Short {
                op: "read page",
                path: self.path.clone(),
                offset,
                expected,
                got,
            });
        }
        // Past the end of the file reads as zeros (a page never written). A slot the
        // read did not reach is skipped as such; the pooled buffer's bytes after `got`
        // are someone else's, so a slot it reached in part is zero-filled first.
        let slot_at = |slot: u8| slot as usize * ps;
        if (1..=2).any(|s| got > slot_at(s - 1) && got < slot_at(s)) {
            let end = got.next_multiple_of(ps);
            buf.as_full_mut()[got..end].fill(0);
        }
        buf.set_len(got.next_multiple_of(ps));
        let pair = buf.as_slice();
        // (slot, page_lsn) of the newest valid image at or below `at_most`.
        let mut best: Option<(u8, Lsn)> = None;
        let mut damage: [Option<String>; 2] = [None, None];
        for slot in 0..2u8 {
            if got <= slot_at(slot) {
                continue;
            }
            let bytes = &pair[slot_at(slot)..slot_at(slot) + ps];
            match decode_page(bytes, self.page_size, page) {
                Ok(view) if view.header.page_lsn > at_most => {}
                Ok(view) => {
                    let lsn = view.header.page_lsn;
                    if best.is_none_or(|(_, b)| lsn > b) {
                        best = Some((slot, lsn));
                    }
                }
                Err(_) if all_zero(bytes) => {}
                Err(e) => damage[slot as usize] = Some(e.to_string()),
            }
        }
        let damaged = damage.iter().any(Option::is_some);
        let outcome = match (best, damage) {
            (Some((slot, page_lsn)), _) => {
                let at = slot as usize * ps + PAGE_HEADER_SIZE;
                Ok(StoredPage {
                    payload: Rc::from(&pair[at..(slot as usize + 1) * ps]),
                    page_lsn,
                    slot: Some(slot),
                    other_slot_damaged: damaged,
                })
            }
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
                payload: std::iter::repeat_n(0u8, self.page_size.payload_len()).collect(),
                page_lsn: Lsn::ZERO,
                slot: None,
                other_slot_damaged: damaged,
            }),
        };
        pool::give(buf);
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
        let w = PageWrite {
            page,
            slot,
            payload,
            page_lsn,
        };
        self.write_many(std::slice::from_ref(&w), 1).await
    }

    /// Writes new page images, up to `depth` at once (NVMe-NOTES fact 6), in the order
    /// given (callers sort by page for locality). Not durable until
    /// [`sync`](Self::sync). The file is grown first, in one go, so no zero-fill write
    /// can land after (and over) a page write of the same call.
    ///
    /// One writer at a time (the segment's coalescer pass): a second concurrent call is
    /// a bug and panics, because two growths could interleave with page writes.
    pub async fn write_many(
        &self,
        writes: &[PageWrite<'_>],
        depth: usize,
    ) -> Result<(), PageStoreError> {
        assert!(
            !self.writing.replace(true),
            "{}: concurrent page writes",
            self.pg
        );
        let _guard = WritingGuard(&self.writing);
        let ps = self.page_size.bytes() as u64;
        let mut end = 0;
        for w in writes {
            assert!(w.slot < 2);
            assert_eq!(w.payload.len(), self.page_size.payload_len());
            end = end.max(self.pair_offset(w.page)? + u64::from(w.slot) * ps + ps);
        }
        self.grow_to(end).await?;
        try_at_depth(
            writes.len(),
            depth,
            |i| self.write_one(&writes[i]),
            |_, ()| {},
        )
        .await
    }

    async fn write_one(&self, w: &PageWrite<'_>) -> Result<(), PageStoreError> {
        let ps = self.page_size.bytes();
        let offset = self.pair_offset(w.page)? + u64::from(w.slot) * ps as u64;
        let mut buf = pool::take(ps);
        // Every byte is written here (header by the seal, payload by the copy), so the
        // pooled buffer's previous contents never reach the disk.
        buf.set_len(ps);
        buf.as_mut_slice()[PAGE_HEADER_SIZE..].copy_from_slice(w.payload);
        if let Err(e) = seal_page(buf.as_mut_slice(), w.page, w.page_lsn) {
            panic!("sealing {} of {}: {e}", w.page, self.pg);
        }
        let (res, buf) = self
            .io
            .write_at(&self.file, buf, offset, WriteFlags::NONE)
            .await;
        pool::give(buf);
        full_write("write page", &self.path, offset, ps, res)
    }

    /// Pre-writes zeros so that `[0, end)` exists, in whole `grow_bytes` chunks.
    async fn grow_to(&self, end: u64) -> Result<(), PageStoreError> {
        let target = align_up(end, self.grow_bytes);
        // One zeroed buffer serves every chunk of this growth (it comes back unchanged
        // from each write).
        let mut zeros: Option<DmaBuf> = None;
        while self.prepared_len.get() < target {
            let at = self.prepared_len.get();
            let len = (target - at).min(GROW_WRITE_BYTES_MAX) as usize;
            let mut buf = match zeros.take() {
                Some(b) if b.capacity() >= len => b,
                _ => DmaBuf::zeroed(len),
            };
            buf.set_len(len);
            let (res, buf) = self
                .io
                .write_at(&self.file, buf, at, WriteFlags::NONE)
                .await;
            zeros = Some(buf);
            full_write("pre-write page file", &self.path, at, len, res)?;
            self.prepared_len.set(at + len as u64);
            self.file_len.set(self.file_len.get().max(at + len as u64));
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
