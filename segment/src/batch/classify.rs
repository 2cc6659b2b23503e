//! What an aligned region of a journal file holds (`classify`), and the proofs recovery
//! takes from a damaged one: a header one flipped bit away from naming its place
//! (`header_repair`) and a batch whose write landed in full (`landed_batch`).

use super::decode::{decode_body, unstamp};
use super::{BATCH_MAGIC, BatchHeader, BatchPlace, BatchView};
use crate::checksum::is_all_zero;
use crate::codec::{peek_u32, peek_u64};
use crate::error::Error;
use crate::limits::{BATCH_HEADER_SIZE, STAMP_SECTOR_SIZE};
use crate::record::Record;
use crate::stamp;

/// What an aligned region of a journal file holds, as recovery needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Region<'a> {
    /// A complete batch that belongs exactly here; the next region starts
    /// `padded_len()` bytes on.
    Valid(BatchView<'a>),
    /// A header that is valid and belongs here, with a body that is incomplete or bad:
    /// a torn write at the tail, or damage. `reason` says which check failed.
    /// `complete`: every sector carries the batch's stamp (version 2), so the write
    /// reached the disk in full and the body was damaged after it was written; a torn
    /// write leaves at least one sector without it. Always `false` for version 1 and
    /// for a region that ends before the batch does (`Truncated`).
    Torn {
        header: BatchHeader,
        reason: Error,
        complete: bool,
    },
    /// The first block of the region is all zeros: never written since the file was
    /// zeroed.
    Zeros,
    /// Anything else: not a batch header, or a valid batch of another file, another
    /// generation (a recycled file's leftovers), another offset or another version.
    /// `Error` says which.
    Garbage(Error),
}

/// For a region `classify` called garbage because its batch header does not decode:
/// the one bit (an index into the header's 72 bytes, bit `i % 8` of byte `i / 8`) whose
/// flip makes it a header that decodes with its checksum and names `place` (file id,
/// generation, offset), if there is one. CRC-32C over the 68 bytes after the checksum
/// corrects any single-bit error and never miscorrects two, so the corrected header is
/// the one that was written. Only a header whose magic is within one bit of a batch's
/// is tried (a cheap test for the many garbage blocks of a recycled file).
pub fn header_repair(bytes: &[u8], place: &BatchPlace) -> Option<usize> {
    let stored = bytes.get(..BATCH_HEADER_SIZE)?;
    let magic = peek_u32(stored, 8).unwrap_or_default();
    if (magic ^ BATCH_MAGIC).count_ones() > 1 {
        return None;
    }
    let mut head = [0u8; BATCH_HEADER_SIZE];
    head.copy_from_slice(stored);
    (0..BATCH_HEADER_SIZE * 8).find(|&bit| {
        head[bit / 8] ^= 1 << (bit % 8);
        let fits = BatchHeader::decode_sealed(&head).is_ok_and(|(h, _)| {
            h.file_id == place.file_id
                && h.generation == place.generation
                && h.file_offset == place.file_offset
        });
        head[bit / 8] ^= 1 << (bit % 8);
        fits
    })
}

/// For the first block of a region `classify` called garbage (other than an older
/// generation's batch): the stamp of the batch whose write landed there in full and
/// whose header was damaged since, if the bytes prove one. They do when the header,
/// with one bit corrected ([`header_repair`]) or as stored, names `place` (file id,
/// generation, offset) and gives a stamp that every whole sector of `block` carries.
/// When no single bit repairs it, the header's stored checksums still may (the damage
/// hit other fields): then the file id, generation and offset as stored must name
/// `place`. Bytes left over from an older batch do not pass (a block from its middle
/// starts with records), nor do zeros. Only a version with stamps is looked at.
/// Recovery reports such a batch missing instead of cutting it. `repair` is what
/// [`header_repair`] found for `block`: callers ask it first (recovery corrects the bit
/// and judges the batch again), so its 576 tries are not made twice.
pub fn landed_batch(block: &[u8], place: &BatchPlace, repair: Option<usize>) -> Option<u64> {
    if !place.version.stamped() || block.len() < BATCH_HEADER_SIZE.max(STAMP_SECTOR_SIZE) {
        return None;
    }
    let common = stamp::common_stamp(block)?;
    if let Some(bit) = repair {
        let mut head = [0u8; BATCH_HEADER_SIZE];
        head.copy_from_slice(&block[..BATCH_HEADER_SIZE]);
        head[bit / 8] ^= 1 << (bit % 8);
        let (h, sum) = BatchHeader::decode_sealed(&head).ok()?;
        return stamp::carries(common, h.stamp(sum)).then_some(common);
    }
    // More than one bit: trust the place fields and stored checksums only as stored.
    let word = |at: usize| peek_u64(block, at).unwrap_or_default();
    let named_here = word(24) == place.file_id.get()
        && word(32) == place.generation.get()
        && word(40) == place.file_offset;
    named_here.then(|| stamp::landed_stamp(block)).flatten()
}

/// Classifies the region of a journal file that starts at `place.file_offset`;
/// `region` holds the file's bytes from there on (at least one block, ideally up to
/// `BATCH_BYTES_MAX` or the end of the file). Never panics, whatever the bytes. For a
/// `Valid` or `Torn` (not truncated) version-2 batch, removes the stamps in place: the
/// bytes of `region` from the batch's logical length to its padded length are then
/// unspecified; nothing past the batch is touched.
pub fn classify<'a>(region: &'a mut [u8], place: &BatchPlace) -> Region<'a> {
    classify_with(region, place, &mut |_| {})
}

/// [`classify`], handing every record of the batch to `visit` while its body is
/// checked, so recovery can summarise a batch (which PGs, which LSNs) without reading
/// its records a second time. `visit` may be called for records of a region that then
/// turns out `Torn`: keep what it gathered only for `Valid`.
pub fn classify_with<'a>(
    region: &'a mut [u8],
    place: &BatchPlace,
    visit: &mut dyn FnMut(&Record<'a>),
) -> Region<'a> {
    let block = place.alignment.bytes().min(region.len());
    if block > 0 && is_all_zero(&region[..block]) {
        return Region::Zeros;
    }
    let (header, sum) = match BatchHeader::decode_sealed(region) {
        Ok(decoded) => decoded,
        Err(e) => return Region::Garbage(e),
    };
    if let Err(e) = header.check_place(place) {
        return Region::Garbage(e);
    }
    let unstamped = match unstamp(&header, sum, region) {
        Ok(u) => u,
        Err(reason) => {
            return Region::Torn {
                header,
                reason,
                complete: false,
            };
        }
    };
    match decode_body(header, unstamped.logical, visit) {
        Ok(view) => Region::Valid(view),
        Err(reason) => Region::Torn {
            header,
            reason,
            complete: unstamped.complete,
        },
    }
}
