//! Decoding a whole batch: its stamps checked and removed in place, then its body
//! checked (checksum, padding, every record, the count and LSN bounds the header gives).

use super::{BATCH_FLAG_REDO_ONLY, BatchHeader, BatchPlace};
use crate::checksum;
use crate::error::{Error, Result};
use crate::ids::Lsn;
use crate::journal_file::JournalVersion;
use crate::limits::BATCH_HEADER_SIZE;
use crate::record::{Record, Records};
use crate::stamp;

/// A decoded, fully checked batch that borrows its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchView<'a> {
    header: BatchHeader,
    body: &'a [u8],
}

impl<'a> BatchView<'a> {
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The encoded records (padding excluded), end to end (stamps removed).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Bytes the batch occupies on disk; the next batch starts this far on.
    pub fn padded_len(&self) -> usize {
        self.header.padded_len()
    }

    /// The records, in journal order. Decoding already checked every one (the body
    /// checksum covers them), so this never yields an error for a `BatchView` returned
    /// by `decode_batch` or `classify`, and it does not compute checksums again.
    /// Offsets in errors count logical bytes from the start of the batch
    /// ([`BatchHeader::physical_offset`] gives where they are on disk).
    pub fn records(&self) -> Records<'a> {
        Records::verified(self.body, BATCH_HEADER_SIZE)
    }
}

/// What [`unstamp`] found: the batch's logical stream, and whether every sector
/// carried the batch's stamp.
pub(super) struct Unstamped<'a> {
    pub(super) logical: &'a [u8],
    pub(super) complete: bool,
}

/// Checks that `region` holds the whole batch `header` describes, checks its stamps
/// (version 2) before anything else touches them, then removes them in place. The
/// batch's logical stream is then `region[..header.logical_len()]`.
pub(super) fn unstamp<'a>(
    header: &BatchHeader,
    sum: u32,
    region: &'a mut [u8],
) -> Result<Unstamped<'a>> {
    let padded = header.padded_len();
    let got = region.len();
    let batch = region.get_mut(..padded).ok_or(Error::Truncated {
        what: "batch body",
        needed: padded,
        got,
    })?;
    let complete = match header.version {
        JournalVersion::V1 => false,
        JournalVersion::V2 | JournalVersion::V3 | JournalVersion::V4 => {
            let complete = stamp::sectors_without_stamp(batch, header.stamp(sum)) == 0;
            stamp::compact(batch);
            complete
        }
    };
    let batch: &'a [u8] = batch;
    Ok(Unstamped {
        logical: &batch[..header.logical_len()],
        complete,
    })
}

/// Decodes the batch at the front of `region` (the file's bytes from `place.file_offset`
/// on) and checks everything: header, place, body checksum, padding, every record, the
/// record count and the LSN bounds. Removes a version-2 batch's stamps in place (the
/// bytes of `region` after its logical stream are then unspecified).
pub fn decode_batch<'a>(region: &'a mut [u8], place: &BatchPlace) -> Result<BatchView<'a>> {
    let (header, sum) = BatchHeader::decode_sealed(region)?;
    header.check_place(place)?;
    let unstamped = unstamp(&header, sum, region)?;
    decode_body(header, unstamped.logical, &mut |_| {})
}

/// Checks the body of a batch whose header is `header` and whose logical stream is
/// `logical` (`header.logical_len()` bytes), and hands every record to `visit` as it is
/// checked (so a caller that needs a summary of the records reads them once). `visit`
/// may see records of a batch that then turns out invalid: a caller keeps what it
/// gathered only on `Ok`.
pub(super) fn decode_body<'a>(
    header: BatchHeader,
    logical: &'a [u8],
    visit: &mut dyn FnMut(&Record<'a>),
) -> Result<BatchView<'a>> {
    let after_header = logical.get(BATCH_HEADER_SIZE..).unwrap_or_default();
    checksum::verify("batch body", header.body_checksum, after_header)?;
    let (body, padding) = after_header.split_at(header.body_len as usize);
    if let Some(at) = padding.iter().position(|&b| b != 0) {
        return Err(Error::NonZeroReserved {
            what: "batch padding",
            offset: BATCH_HEADER_SIZE + body.len() + at,
        });
    }
    let mut count: u32 = 0;
    let mut lsn_bounds: Option<(Lsn, Lsn)> = None;
    // The body checksum matched, so the records' own checksums would too: decode them
    // with every structural check but without computing those again.
    for record in Records::verified(body, BATCH_HEADER_SIZE) {
        let record = record?;
        if header.redo_only && !matches!(record, Record::Redo(_)) {
            return Err(Error::InvalidField {
                what: "batch header",
                field: "flags",
                got: u64::from(BATCH_FLAG_REDO_ONLY),
                rule: "REDO_ONLY is set only when every record is redo",
            });
        }
        visit(&record);
        count += 1;
        if let Some(lsn) = record.lsn() {
            lsn_bounds = Some(match lsn_bounds {
                None => (lsn, lsn),
                Some((lo, hi)) => (lo.min(lsn), hi.max(lsn)),
            });
        }
    }
    if count != header.record_count {
        return Err(Error::InvalidField {
            what: "batch header",
            field: "record_count",
            got: header.record_count.into(),
            rule: "must equal the number of records in the body",
        });
    }
    let (first, last) = lsn_bounds.unwrap_or((Lsn::ZERO, Lsn::ZERO));
    if first != header.first_lsn || last != header.last_lsn {
        return Err(Error::InvalidField {
            what: "batch header",
            field: "first_lsn/last_lsn",
            got: header.first_lsn.get(),
            rule: "must be the lowest and highest redo LSN of the body",
        });
    }
    Ok(BatchView { header, body })
}
