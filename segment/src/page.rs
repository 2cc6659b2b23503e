//! Page images as the page store keeps them: a 32-byte header, then the payload.
//!
//! This module owns `PageSize` (a volume parameter: a power of two from 4 KiB to
//! 64 KiB, default 8 KiB) and the layout of one stored page (see `FORMAT.md`). A stored
//! page is exactly `page_size` bytes, so it is a whole number of 4 KiB device blocks; the
//! header lives inside it and the payload (the bytes redo changes) is
//! `page_size - PAGE_HEADER_SIZE` bytes. The header checksums itself and the payload
//! separately and names its page, so a misdirected page write is caught. Encoding
//! seals a buffer the caller already filled, in place; decoding borrows the payload.
//! It never applies redo and never does I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::checksum::{self, crc32c};
use crate::codec::{Reader, Writer, peek_u32};
use crate::error::{Error, Result};
use crate::ids::{Lsn, PageId};
use crate::limits::{PAGE_HEADER_SIZE, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_SIZE_MIN};

/// Magic of a page image: ASCII `BRLP` as stored.
pub const PAGE_MAGIC: u32 = u32::from_le_bytes(*b"BRLP");
/// Version of the page image format.
pub const PAGE_VERSION: u16 = 1;

/// The page size of a volume: a power of two in `PAGE_SIZE_MIN..=PAGE_SIZE_MAX` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PageSize(u32);

impl PageSize {
    /// 8 KiB.
    pub const DEFAULT: PageSize = PageSize(PAGE_SIZE_DEFAULT);

    /// Validates `bytes`.
    pub const fn new(bytes: u32) -> Result<PageSize> {
        if bytes.is_power_of_two() && bytes >= PAGE_SIZE_MIN && bytes <= PAGE_SIZE_MAX {
            Ok(PageSize(bytes))
        } else {
            Err(Error::InvalidField {
                what: "page size",
                field: "bytes",
                got: bytes as u64,
                rule: "must be a power of two in 4096..=65536",
            })
        }
    }

    /// The page size in bytes.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The page size in bytes, as a `usize`.
    pub const fn bytes(self) -> usize {
        self.0 as usize
    }

    /// Bytes of payload (what redo may change): the page size less the header.
    pub const fn payload_len(self) -> usize {
        self.0 as usize - PAGE_HEADER_SIZE
    }
}

impl Default for PageSize {
    fn default() -> Self {
        PageSize::DEFAULT
    }
}

impl TryFrom<u32> for PageSize {
    type Error = Error;

    fn try_from(bytes: u32) -> Result<PageSize> {
        PageSize::new(bytes)
    }
}

impl From<PageSize> for u32 {
    fn from(p: PageSize) -> u32 {
        p.0
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

/// The header of a stored page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageHeader {
    pub page_id: PageId,
    /// LSN of the last redo record applied to the page.
    pub page_lsn: Lsn,
    pub page_size: PageSize,
}

/// A decoded page: its header and a borrowed payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageView<'a> {
    pub header: PageHeader,
    pub payload: &'a [u8],
}

/// Seals a page in place: `page` is a whole page (its length a valid page size) whose
/// payload (`page[PAGE_HEADER_SIZE..]`) the caller has filled; this writes the header.
pub fn seal_page(page: &mut [u8], page_id: PageId, page_lsn: Lsn) -> Result<PageHeader> {
    let page_size = u32::try_from(page.len())
        .ok()
        .and_then(|b| PageSize::new(b).ok())
        .ok_or(Error::InvalidField {
            what: "page image",
            field: "buffer length",
            got: page.len() as u64,
            rule: "must be a valid page size",
        })?;
    let (header, payload) = page.split_at_mut(PAGE_HEADER_SIZE);
    let mut w = Writer::new(header);
    w.zeros(4);
    w.u32(crc32c(payload));
    w.u32(PAGE_MAGIC);
    w.u16(PAGE_VERSION);
    w.u8(page_size.get().trailing_zeros() as u8);
    w.u8(0);
    w.u64(page_id.get());
    w.u64(page_lsn.get());
    debug_assert_eq!(w.pos(), PAGE_HEADER_SIZE);
    let sum = crc32c(&header[4..]);
    header[..4].copy_from_slice(&sum.to_le_bytes());
    Ok(PageHeader {
        page_id,
        page_lsn,
        page_size,
    })
}

/// Decodes a stored page of `page_size` bytes that should hold page `page_id`.
pub fn decode_page(page: &[u8], page_size: PageSize, page_id: PageId) -> Result<PageView<'_>> {
    if page.len() != page_size.bytes() {
        return Err(Error::OutOfBounds {
            what: "page image",
            field: "length",
            got: page.len() as u64,
            min: page_size.bytes() as u64,
            max: page_size.bytes() as u64,
        });
    }
    let (header, payload) = page.split_at(PAGE_HEADER_SIZE);
    let magic = peek_u32(header, 8).unwrap_or_default();
    if magic != PAGE_MAGIC {
        return Err(Error::BadMagic {
            what: "page image",
            expected: PAGE_MAGIC,
            got: magic,
        });
    }
    let mut r = Reader::new(header);
    let stored = r.u32();
    checksum::verify("page header", stored, &header[4..])?;
    let payload_checksum = r.u32();
    let _magic = r.u32();
    let version = r.u16();
    if version != PAGE_VERSION {
        return Err(Error::BadVersion {
            what: "page image",
            oldest: PAGE_VERSION,
            supported: PAGE_VERSION,
            got: version,
        });
    }
    let size_log2 = r.u8();
    if u32::from(size_log2) != page_size.get().trailing_zeros() {
        return Err(Error::InvalidField {
            what: "page image",
            field: "page_size_log2",
            got: u64::from(size_log2),
            rule: "must match the volume's page size",
        });
    }
    let reserved_at = r.pos();
    if r.u8() != 0 {
        return Err(Error::NonZeroReserved {
            what: "page image",
            offset: reserved_at,
        });
    }
    let got_id = PageId::new(r.u64());
    let page_lsn = Lsn::new(r.u64());
    if got_id != page_id {
        return Err(Error::WrongPageId {
            expected: page_id,
            got: got_id,
        });
    }
    checksum::verify("page payload", payload_checksum, payload)?;
    Ok(PageView {
        header: PageHeader {
            page_id,
            page_lsn,
            page_size,
        },
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_powers_of_two_from_4k_to_64k() {
        for bytes in [4096, 8192, 16384, 32768, 65536] {
            let p = PageSize::new(bytes).unwrap();
            assert_eq!(p.payload_len(), bytes as usize - 32);
        }
        for bytes in [0, 2048, 4095, 6000, 131072] {
            assert!(PageSize::new(bytes).is_err(), "{bytes}");
        }
        assert_eq!(PageSize::default().get(), 8192);
    }

    #[test]
    fn page_size_validates_when_deserialized() {
        let p: PageSize = serde_json::from_str("16384").unwrap();
        assert_eq!(p.get(), 16384);
        assert!(serde_json::from_str::<PageSize>("1000").is_err());
    }

    #[test]
    fn a_page_for_another_id_is_refused() {
        let mut page = vec![7u8; 4096];
        seal_page(&mut page, PageId::new(1), Lsn::new(5)).unwrap();
        let size = PageSize::new(4096).unwrap();
        assert_eq!(
            decode_page(&page, size, PageId::new(2)),
            Err(Error::WrongPageId {
                expected: PageId::new(2),
                got: PageId::new(1)
            })
        );
        let view = decode_page(&page, size, PageId::new(1)).unwrap();
        assert_eq!(view.header.page_lsn, Lsn::new(5));
        assert!(view.payload.iter().all(|&b| b == 7));
    }

    #[test]
    fn a_page_of_another_size_is_refused() {
        let mut page = vec![0u8; 8192];
        seal_page(&mut page, PageId::new(1), Lsn::new(5)).unwrap();
        assert!(decode_page(&page, PageSize::new(4096).unwrap(), PageId::new(1)).is_err());
        assert!(seal_page(&mut page[..5000], PageId::new(1), Lsn::ZERO).is_err());
    }
}
