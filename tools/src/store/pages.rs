//! Streaming reader of one segment's page file: two slots per page.
//!
//! Page `first_page + i` lives at byte `i * 2 * page_size` (slot 0) and one page size
//! further (slot 1), as `engine::pages::page_file` lays it out. Each slot is zeros
//! (never written) or a sealed page of that page id, checked with
//! `boreal_segment::decode_page`. The file is read in windows of whole page pairs, so
//! memory stays at one window whatever the file size.

use std::fs::File;
use std::path::Path;

use boreal_segment::checksum::{crc32c, is_all_zero};
use boreal_segment::limits::PAGE_HEADER_SIZE;
use boreal_segment::{Error as FormatError, Lsn, PageId, PageSize, decode_page};

use super::{StoreError, read_known};

/// Bytes read per window (rounded down to whole page pairs).
pub const READ_BYTES_DEFAULT: usize = 4 << 20;

/// What one page slot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageSlot {
    /// Never written.
    Zeros,
    /// A sealed page of the expected page id.
    Valid { page_lsn: Lsn },
    /// Neither: why, and the header's page id and LSN if the header itself is intact
    /// (only the payload or the page id is wrong).
    Bad {
        reason: FormatError,
        header: Option<(PageId, Lsn)>,
    },
    /// The file ends inside this slot, after non-zero bytes.
    Short { bytes: usize },
}

impl PageSlot {
    pub fn label(&self) -> &'static str {
        match self {
            PageSlot::Zeros => "zeros",
            PageSlot::Valid { .. } => "valid",
            PageSlot::Bad { .. } => "bad",
            PageSlot::Short { .. } => "short",
        }
    }

    pub fn page_lsn(&self) -> Option<Lsn> {
        match self {
            PageSlot::Valid { page_lsn } => Some(*page_lsn),
            _ => None,
        }
    }
}

/// Both slots of one page, and which one a read would use.
#[derive(Clone, Debug)]
pub struct PagePair {
    pub page: PageId,
    /// File offset of slot 0.
    pub offset: u64,
    pub slots: [PageSlot; 2],
    /// The valid slot with the highest page LSN.
    pub newest: Option<usize>,
}

/// The page id and LSN of a page header whose own checksum holds.
pub fn intact_header(bytes: &[u8]) -> Option<(PageId, Lsn)> {
    let h = bytes.get(..PAGE_HEADER_SIZE)?;
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let stored = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    (&h[8..12] == b"BRLP" && stored == crc32c(&h[4..]))
        .then(|| (PageId::new(word(16)), Lsn::new(word(24))))
}

/// The page size a page file's first written slot says it was sealed with, for a page
/// file read without its catalog.
pub fn sniff_page_size(file: &File, path: &Path, len: u64) -> Result<Option<PageSize>, StoreError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0u64;
    while at < len {
        let got = read_known(file, path, &mut buf, at, len)?;
        if got == 0 {
            break;
        }
        // Slots start on 4 KiB boundaries for every page size.
        for block in buf[..got].chunks(4096) {
            if block.len() >= PAGE_HEADER_SIZE && intact_header(block).is_some() {
                return Ok(PageSize::new(1u32 << block[14].min(31)).ok());
            }
        }
        at += got as u64;
    }
    Ok(None)
}

/// Reads every page pair of the file, from page `first_page` on, calling `on_pair` for
/// each pair the file holds (entirely or partly), in order; `on_progress` gets the bytes
/// read after each window.
pub fn scan(
    file: &File,
    path: &Path,
    len: u64,
    page_size: PageSize,
    first_page: u64,
    mut on_pair: impl FnMut(PagePair),
    mut on_progress: impl FnMut(u64),
) -> Result<(), StoreError> {
    let ps = page_size.bytes();
    let pair = 2 * ps;
    let window_pairs = (READ_BYTES_DEFAULT / pair).max(1);
    let mut window = vec![0u8; window_pairs * pair];
    let mut pos = 0u64;
    let mut index = 0u64;
    while pos < len {
        let want = (window.len() as u64).min(len - pos) as usize;
        let got = read_known(file, path, &mut window[..want], pos, len)?;
        if got == 0 {
            break;
        }
        for chunk in window[..got].chunks(pair) {
            let page = PageId::new(first_page + index);
            let judge = |bytes: &[u8]| -> PageSlot {
                // Past the end of the file reads as zeros, as the engine reads it.
                if is_all_zero(bytes) {
                    return PageSlot::Zeros;
                }
                if bytes.len() < ps {
                    return PageSlot::Short { bytes: bytes.len() };
                }
                match decode_page(bytes, page_size, page) {
                    Ok(view) => PageSlot::Valid {
                        page_lsn: view.header.page_lsn,
                    },
                    Err(reason) => PageSlot::Bad {
                        reason,
                        header: intact_header(bytes),
                    },
                }
            };
            let slot0 = judge(&chunk[..chunk.len().min(ps)]);
            let slot1 = judge(chunk.get(ps..).unwrap_or_default());
            let slots = [slot0, slot1];
            let newest = (0..2)
                .filter_map(|i| slots[i].page_lsn().map(|l| (l, i)))
                .max()
                .map(|(_, i)| i);
            on_pair(PagePair {
                page,
                offset: index * pair as u64,
                slots,
                newest,
            });
            index += 1;
        }
        pos += got as u64;
        on_progress(pos);
    }
    Ok(())
}
