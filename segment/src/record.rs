//! Journal records: redo, truncation and segment metadata, behind one fixed header.
//!
//! This module owns the encoding of one record: a fixed 56-byte little-endian header
//! that checksums itself, followed by a body with its own checksum (see `FORMAT.md`).
//! Every kind uses the same header size, so a reader can verify a header before it knows
//! what the kind means, and skip a record without decoding it. Decoding borrows the body
//! from the input and never allocates. It never decides what a record means for a
//! segment (that is the engine's job) and never reads or writes a file.
//!
//! Invariants kept by both encode and decode (an encoder refuses what a decoder would):
//! - a redo record has `prev_lsn_page <= prev_lsn_pg < lsn`, so no record has LSN 0 and
//!   the backlink within the page is never later than the one within the PG (a page
//!   belongs to exactly one PG);
//! - a delta stays inside a page payload (`offset + len <= PAGE_PAYLOAD_MAX`); an image
//!   is exactly one page payload of a valid page size and has offset 0;
//! - a truncation range `(start, end]` is non-empty (`start < end`);
//! - reserved bytes, unused fields and unknown flags are zero; kind tags are never reused.

use crate::checksum::{self, crc32c};
use crate::codec::{Reader, Writer, prefix};
use crate::error::{Error, Result};
use crate::ids::{Epoch, Lsn, PageId, PgId};
use crate::limits::{
    PAGE_HEADER_SIZE, PAGE_PAYLOAD_MAX, RECORD_BODY_BYTES_MAX, RECORD_HEADER_SIZE,
    SEGMENT_META_SIZE,
};
use crate::meta::SegmentMeta;
use crate::page::PageSize;

/// A record whose format rules were checked ([`Record::validated`]): it encodes
/// without checking them again. The only way to make one is through that check, so a
/// layer that takes `ValidRecord`s (the journal, from the engine) need not repeat it.
///
/// A record decoded with [`Record::decode_valid`] also carries its encoding, whose two
/// checksums were verified against its bytes: it encodes by copying those bytes, so its
/// checksums are computed once, by its author, and checked once, where it arrived (a
/// node's journal keeps a shim's record byte for byte). Invariant: `encoded` is exactly
/// what encoding `record` writes (the decoder accepts one encoding per record, and it
/// verified the checksums); only `decode_valid` sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidRecord<'a> {
    record: Record<'a>,
    encoded: Option<&'a [u8]>,
}

impl<'a> ValidRecord<'a> {
    /// A record the caller has just validated (inside this crate only).
    pub(crate) fn trusted(record: Record<'a>) -> ValidRecord<'a> {
        ValidRecord {
            record,
            encoded: None,
        }
    }

    /// The record.
    pub fn get(&self) -> &Record<'a> {
        &self.record
    }

    /// Its verified encoding, when it was decoded ([`Record::decode_valid`]).
    pub fn encoded(&self) -> Option<&'a [u8]> {
        self.encoded
    }

    /// Encodes into the front of `out` without checking the rules again (a decoded
    /// record's bytes are copied: no checksum is computed); returns the bytes written.
    /// Fails only if `out` is too small.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize> {
        match self.encoded {
            Some(bytes) => {
                let got = out.len();
                let Some(out) = out.get_mut(..bytes.len()) else {
                    return Err(Error::BufferTooSmall {
                        what: "record",
                        needed: bytes.len(),
                        got,
                    });
                };
                out.copy_from_slice(bytes);
                Ok(bytes.len())
            }
            None => self.record.encode_checked(out),
        }
    }
}

/// Flag: the record is the last of a mini-transaction (a consistency point, CPL).
const FLAG_CPL: u8 = 0x01;
/// Flag: the body is a full page image, not a delta.
const FLAG_IMAGE: u8 = 0x02;
const REDO_FLAGS_KNOWN: u8 = FLAG_CPL | FLAG_IMAGE;

/// The kind tag of a record. Tags are registered in `FORMAT.md`; a retired tag is never
/// given to another kind, and tag 0 is never valid (a zeroed header is not a record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A redo record: a change to one page.
    Redo = 1,
    /// A truncation range of a PG, tagged with the epoch that cut it.
    Truncate = 2,
    /// A durable change of a segment's metadata.
    SegmentMeta = 3,
}

impl RecordKind {
    /// The kind with tag `tag`.
    pub fn from_tag(tag: u8) -> Result<RecordKind> {
        match tag {
            1 => Ok(RecordKind::Redo),
            2 => Ok(RecordKind::Truncate),
            3 => Ok(RecordKind::SegmentMeta),
            _ => Err(Error::UnknownTag {
                what: "record header",
                tag: u64::from(tag),
            }),
        }
    }

    /// The on-disk tag.
    pub fn tag(self) -> u8 {
        self as u8
    }
}

/// What a redo record does to its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// Write `bytes` at `offset` of the page payload.
    Delta { offset: u32, bytes: &'a [u8] },
    /// Replace the whole page payload.
    Image(&'a [u8]),
}

impl<'a> Change<'a> {
    /// The body bytes of the record (borrowed from where the change is, not from it).
    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            Change::Delta { bytes, .. } | Change::Image(bytes) => bytes,
        }
    }
}

/// A redo record: one change to one page, with its backlinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redo<'a> {
    /// This record's LSN.
    pub lsn: Lsn,
    /// The previous record of the same PG, or `Lsn::ZERO` for the first one.
    pub prev_lsn_pg: Lsn,
    /// The previous record of the same page, or `Lsn::ZERO` for the first one.
    pub prev_lsn_page: Lsn,
    /// The PG the page belongs to.
    pub pg_id: PgId,
    /// The page changed.
    pub page_id: PageId,
    /// Last record of a mini-transaction (a consistency point).
    pub cpl: bool,
    /// The change.
    pub change: Change<'a>,
}

/// A truncation: records of `pg_id` with LSN in `(start, end]` are annulled, by the
/// volume recovery of epoch `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncate {
    pub pg_id: PgId,
    pub epoch: Epoch,
    /// Exclusive lower bound (the VDL recovery found).
    pub start: Lsn,
    /// Inclusive upper bound.
    pub end: Lsn,
}

/// One journal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Redo(Redo<'a>),
    Truncate(Truncate),
    /// The body is an encoded [`SegmentMeta`] of the same PG.
    SegmentMeta(SegmentMeta),
}

/// The raw header fields, before their meaning per kind is checked.
struct RawHeader {
    body_checksum: u32,
    kind: u8,
    flags: u8,
    body_len: u32,
    pg_id: u32,
    aux: u32,
    words: [u64; 4],
}

/// Offset of `aux` and of the four words in the header, for error messages.
const AUX_OFFSET: usize = 20;
const WORDS_OFFSET: usize = 24;

impl RawHeader {
    fn write(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.zeros(4); // header checksum, filled below
        w.u32(self.body_checksum);
        w.u8(self.kind);
        w.u8(self.flags);
        w.zeros(2);
        w.u32(self.body_len);
        w.u32(self.pg_id);
        w.u32(self.aux);
        for word in self.words {
            w.u64(word);
        }
        debug_assert_eq!(w.pos(), RECORD_HEADER_SIZE);
        let sum = crc32c(&out[4..RECORD_HEADER_SIZE]);
        out[..4].copy_from_slice(&sum.to_le_bytes());
    }

    /// `verify_checksum` false skips the header checksum: only for bytes a covering
    /// checksum already proved (see [`Record::decode_verified`]).
    fn read(header: &[u8], verify_checksum: bool) -> Result<RawHeader> {
        let mut r = Reader::new(header);
        let stored = r.u32();
        if verify_checksum {
            checksum::verify("record header", stored, &header[4..RECORD_HEADER_SIZE])?;
        }
        let body_checksum = r.u32();
        let kind = r.u8();
        let flags = r.u8();
        let reserved_at = r.pos();
        if r.u16() != 0 {
            return Err(Error::NonZeroReserved {
                what: "record header",
                offset: reserved_at,
            });
        }
        let body_len = r.u32();
        let pg_id = r.u32();
        let aux = r.u32();
        let words = [r.u64(), r.u64(), r.u64(), r.u64()];
        Ok(RawHeader {
            body_checksum,
            kind,
            flags,
            body_len,
            pg_id,
            aux,
            words,
        })
    }
}

impl<'a> Record<'a> {
    /// The kind of the record.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Redo(_) => RecordKind::Redo,
            Record::Truncate(_) => RecordKind::Truncate,
            Record::SegmentMeta(_) => RecordKind::SegmentMeta,
        }
    }

    /// The PG the record belongs to.
    pub fn pg_id(&self) -> PgId {
        match self {
            Record::Redo(r) => r.pg_id,
            Record::Truncate(t) => t.pg_id,
            Record::SegmentMeta(m) => m.pg_id,
        }
    }

    /// The LSN of a redo record; other kinds have none.
    pub fn lsn(&self) -> Option<Lsn> {
        match self {
            Record::Redo(r) => Some(r.lsn),
            Record::Truncate(_) | Record::SegmentMeta(_) => None,
        }
    }

    /// Bytes of the body.
    pub fn body_len(&self) -> usize {
        match self {
            Record::Redo(r) => r.change.bytes().len(),
            Record::Truncate(_) => 0,
            Record::SegmentMeta(_) => SEGMENT_META_SIZE,
        }
    }

    /// Bytes of the encoded record (header and body).
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_SIZE + self.body_len()
    }

    /// Checks the rules of the format (the same ones the decoder checks).
    pub fn validate(&self) -> Result<()> {
        match self {
            Record::Redo(r) => validate_redo(r),
            Record::Truncate(t) => validate_truncate(t),
            Record::SegmentMeta(m) => m.validate(),
        }
    }

    /// Checks the rules of the format once and returns the record as one that may be
    /// encoded without checking again ([`ValidRecord`]).
    pub fn validated(self) -> Result<ValidRecord<'a>> {
        self.validate()?;
        Ok(ValidRecord::trusted(self))
    }

    /// Encodes into the front of `out`; returns the bytes written
    /// (`self.encoded_len()`).
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize> {
        self.validate()?;
        self.encode_checked(out)
    }

    /// [`encode_into`](Self::encode_into) for a record whose rules were checked.
    fn encode_checked(&self, out: &mut [u8]) -> Result<usize> {
        let len = self.encoded_len();
        let got = out.len();
        let Some(out) = out.get_mut(..len) else {
            return Err(Error::BufferTooSmall {
                what: "record",
                needed: len,
                got,
            });
        };
        let (header, body) = out.split_at_mut(RECORD_HEADER_SIZE);
        let raw = match self {
            Record::Redo(r) => {
                let (aux, flags) = match r.change {
                    Change::Delta { offset, .. } => (offset, 0),
                    Change::Image(_) => (0, FLAG_IMAGE),
                };
                body.copy_from_slice(r.change.bytes());
                RawHeader {
                    body_checksum: 0,
                    kind: RecordKind::Redo.tag(),
                    flags: flags | if r.cpl { FLAG_CPL } else { 0 },
                    body_len: 0,
                    pg_id: r.pg_id.get(),
                    aux,
                    words: [
                        r.lsn.get(),
                        r.prev_lsn_pg.get(),
                        r.prev_lsn_page.get(),
                        r.page_id.get(),
                    ],
                }
            }
            Record::Truncate(t) => RawHeader {
                body_checksum: 0,
                kind: RecordKind::Truncate.tag(),
                flags: 0,
                body_len: 0,
                pg_id: t.pg_id.get(),
                aux: 0,
                words: [t.epoch.get(), t.start.get(), t.end.get(), 0],
            },
            Record::SegmentMeta(m) => {
                body.copy_from_slice(&m.encode());
                RawHeader {
                    body_checksum: 0,
                    kind: RecordKind::SegmentMeta.tag(),
                    flags: 0,
                    body_len: 0,
                    pg_id: m.pg_id.get(),
                    aux: 0,
                    words: [0; 4],
                }
            }
        };
        // The body length is bounded by validate() (RECORD_BODY_BYTES_MAX < u32::MAX).
        let body_len = u32::try_from(body.len()).expect("validated body length fits u32");
        RawHeader {
            body_checksum: crc32c(body),
            body_len,
            ..raw
        }
        .write(header);
        Ok(len)
    }

    /// Appends the encoded record to `out`; returns the bytes appended.
    pub fn encode_to_vec(&self, out: &mut Vec<u8>) -> Result<usize> {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        match self.encode_into(&mut out[start..]) {
            Ok(n) => Ok(n),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Decodes the record at the front of `buf`; returns it and the bytes it used. The
    /// record borrows its body from `buf`.
    pub fn decode(buf: &'a [u8]) -> Result<(Record<'a>, usize)> {
        Self::decode_with(buf, true)
    }

    /// [`decode`](Self::decode) as a [`ValidRecord`] that keeps its encoding: both
    /// checksums verified and every rule checked, so it is journaled by copying its
    /// bytes (`buf[..used]`), which are exactly what encoding it again would write.
    pub fn decode_valid(buf: &'a [u8]) -> Result<(ValidRecord<'a>, usize)> {
        let (record, used) = Self::decode_with(buf, true)?;
        let valid = ValidRecord {
            record,
            encoded: Some(&buf[..used]),
        };
        Ok((valid, used))
    }

    /// [`decode`](Self::decode) without the record's two checksums, for bytes whose
    /// integrity a covering checksum already proved (a batch body whose body checksum
    /// matched: every byte of it, record checksums included, is what the writer
    /// sealed). Every other check still runs (lengths, kinds, flags, field rules), so
    /// it never panics and never yields a record the checked decoder would refuse for
    /// any reason but a checksum. Never use it for bytes of unknown integrity.
    pub fn decode_verified(buf: &'a [u8]) -> Result<(Record<'a>, usize)> {
        Self::decode_with(buf, false)
    }

    fn decode_with(buf: &'a [u8], verify_checksums: bool) -> Result<(Record<'a>, usize)> {
        let (record, len) = Self::decode_fields_with(buf, verify_checksums)?;
        record.validate()?;
        Ok((record, len))
    }

    /// The fields of a record that was decoded with every check before (so the rules
    /// are not checked again); still bounds-checked, never panics.
    fn decode_fields(buf: &'a [u8]) -> Result<(Record<'a>, usize)> {
        Self::decode_fields_with(buf, false)
    }

    fn decode_fields_with(buf: &'a [u8], verify_checksums: bool) -> Result<(Record<'a>, usize)> {
        let header = prefix("record header", buf, RECORD_HEADER_SIZE)?;
        let raw = RawHeader::read(header, verify_checksums)?;
        let kind = RecordKind::from_tag(raw.kind)?;
        let body_len = raw.body_len as usize;
        if body_len > RECORD_BODY_BYTES_MAX {
            return Err(Error::OutOfBounds {
                what: "record header",
                field: "body_len",
                got: u64::from(raw.body_len),
                min: 0,
                max: RECORD_BODY_BYTES_MAX as u64,
            });
        }
        let len = RECORD_HEADER_SIZE + body_len;
        let body = prefix("record body", buf, len)?
            .get(RECORD_HEADER_SIZE..)
            .unwrap_or_default();
        if verify_checksums {
            checksum::verify("record body", raw.body_checksum, body)?;
        }
        let record = match kind {
            RecordKind::Redo => decode_redo(&raw, body)?,
            RecordKind::Truncate => decode_truncate(&raw)?,
            RecordKind::SegmentMeta => decode_segment_meta(&raw, body)?,
        };
        Ok((record, len))
    }
}

/// Iterates the records laid end to end in `bytes` (a batch body, or a message body of
/// records), borrowing each body; never allocates. Yields an error at the first bad
/// record and then stops. Offsets in errors count from `base_offset`.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    index: u32,
    base_offset: usize,
    failed: bool,
    verified: bool,
}

impl<'a> Records<'a> {
    /// Records of `bytes`; `base_offset` is where `bytes` starts in the enclosing
    /// structure, for error messages.
    pub fn new(bytes: &'a [u8], base_offset: usize) -> Self {
        Self {
            bytes,
            pos: 0,
            index: 0,
            base_offset,
            failed: false,
            verified: false,
        }
    }

    /// Records of `bytes` whose integrity a covering checksum already proved (a batch
    /// body whose body checksum matched): decodes with [`Record::decode_verified`],
    /// so each byte's checksum is computed once, by the batch. Still bounds-checked and
    /// still never panics.
    pub fn verified(bytes: &'a [u8], base_offset: usize) -> Self {
        Self {
            verified: true,
            ..Self::new(bytes, base_offset)
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match Record::decode_with(rest, !self.verified) {
            Ok((record, used)) => {
                self.pos += used;
                self.index = self.index.saturating_add(1);
                Some(Ok(record))
            }
            Err(source) => {
                self.failed = true;
                Some(Err(Error::InRecord {
                    index: self.index,
                    offset: self.base_offset + self.pos,
                    source: Box::new(source),
                }))
            }
        }
    }
}

impl std::iter::FusedIterator for Records<'_> {}

/// Records laid end to end, each decoded once with both its checksums verified and
/// every rule checked ([`Record::decode_valid`]) and handed to the caller's own
/// checks as it went ([`CheckedRecords::check`]). Iterating them again yields each as
/// a [`ValidRecord`] carrying its bytes, without checksumming or checking anything
/// again: what a node journals off the wire, so each record is checked once.
/// Invariant: only `check` makes one, and only over bytes every record of which passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedRecords<'a> {
    bytes: &'a [u8],
}

impl<'a> CheckedRecords<'a> {
    /// Starts checking the records of `bytes`: the [`RecordChecker`] decodes them one
    /// after the other with [`Record::decode_valid`], and once every one passed (and
    /// the caller's own checks), [`RecordChecker::finish`] gives the `CheckedRecords`.
    pub fn checker(bytes: &'a [u8]) -> RecordChecker<'a> {
        RecordChecker {
            bytes,
            pos: 0,
            failed: false,
        }
    }

    /// The records' bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The records, in order, each with its bytes.
    pub fn iter(&self) -> CheckedIter<'a> {
        CheckedIter { rest: self.bytes }
    }
}

/// Decodes records laid end to end with their checksums verified; see
/// [`CheckedRecords::checker`]. Yields each record with its offset in the bytes, or the
/// first error (then nothing more).
#[derive(Clone, Debug)]
pub struct RecordChecker<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> RecordChecker<'a> {
    /// The checked records, if every record decoded and was taken (`None` after an
    /// error, or before the last record was taken).
    pub fn finish(self) -> Option<CheckedRecords<'a>> {
        (!self.failed && self.pos == self.bytes.len())
            .then_some(CheckedRecords { bytes: self.bytes })
    }
}

impl<'a> Iterator for RecordChecker<'a> {
    /// Where the record starts, and the record and its length; or why the record at
    /// that offset does not decode.
    type Item = (usize, Result<(Record<'a>, usize)>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let at = self.pos;
        let decoded = Record::decode_with(&self.bytes[at..], true);
        match &decoded {
            Ok((_, used)) => self.pos += used,
            Err(_) => self.failed = true,
        }
        Some((at, decoded))
    }
}

/// Iterator over [`CheckedRecords`].
#[derive(Clone, Debug)]
pub struct CheckedIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for CheckedIter<'a> {
    type Item = ValidRecord<'a>;

    fn next(&mut self) -> Option<ValidRecord<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // The checksums were verified when the records were checked: only the fields
        // are read again.
        let (record, used) = Record::decode_fields(self.rest)
            .expect("every record was checked when `CheckedRecords` was made");
        let (encoded, rest) = self.rest.split_at(used);
        self.rest = rest;
        Some(ValidRecord {
            record,
            encoded: Some(encoded),
        })
    }
}

impl std::iter::FusedIterator for CheckedIter<'_> {}

fn decode_redo<'a>(raw: &RawHeader, body: &'a [u8]) -> Result<Record<'a>> {
    if raw.flags & !REDO_FLAGS_KNOWN != 0 {
        return Err(Error::UnknownFlags {
            what: "redo record",
            flags: u64::from(raw.flags),
        });
    }
    let change = if raw.flags & FLAG_IMAGE != 0 {
        if raw.aux != 0 {
            return Err(Error::InvalidField {
                what: "redo record",
                field: "offset",
                got: u64::from(raw.aux),
                rule: "a full page image starts at offset 0",
            });
        }
        Change::Image(body)
    } else {
        Change::Delta {
            offset: raw.aux,
            bytes: body,
        }
    };
    let [lsn, prev_lsn_pg, prev_lsn_page, page_id] = raw.words;
    Ok(Record::Redo(Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(prev_lsn_pg),
        prev_lsn_page: Lsn::new(prev_lsn_page),
        pg_id: PgId::new(raw.pg_id),
        page_id: PageId::new(page_id),
        cpl: raw.flags & FLAG_CPL != 0,
        change,
    }))
}

/// Refuses flags, `aux`, body or words that a non-redo kind does not use.
fn check_unused(what: &'static str, raw: &RawHeader, words_used: usize) -> Result<()> {
    if raw.flags != 0 {
        return Err(Error::UnknownFlags {
            what,
            flags: u64::from(raw.flags),
        });
    }
    if raw.aux != 0 {
        return Err(Error::NonZeroReserved {
            what,
            offset: AUX_OFFSET,
        });
    }
    for (i, &word) in raw.words.iter().enumerate().skip(words_used) {
        if word != 0 {
            return Err(Error::NonZeroReserved {
                what,
                offset: WORDS_OFFSET + 8 * i,
            });
        }
    }
    Ok(())
}

fn decode_truncate(raw: &RawHeader) -> Result<Record<'static>> {
    check_unused("truncate record", raw, 3)?;
    if raw.body_len != 0 {
        return Err(Error::OutOfBounds {
            what: "truncate record",
            field: "body_len",
            got: u64::from(raw.body_len),
            min: 0,
            max: 0,
        });
    }
    let [epoch, start, end, _] = raw.words;
    Ok(Record::Truncate(Truncate {
        pg_id: PgId::new(raw.pg_id),
        epoch: Epoch::new(epoch),
        start: Lsn::new(start),
        end: Lsn::new(end),
    }))
}

fn decode_segment_meta(raw: &RawHeader, body: &[u8]) -> Result<Record<'static>> {
    check_unused("segment meta record", raw, 0)?;
    if body.len() != SEGMENT_META_SIZE {
        return Err(Error::OutOfBounds {
            what: "segment meta record",
            field: "body_len",
            got: body.len() as u64,
            min: SEGMENT_META_SIZE as u64,
            max: SEGMENT_META_SIZE as u64,
        });
    }
    let meta = SegmentMeta::decode(body)?;
    if meta.pg_id.get() != raw.pg_id {
        return Err(Error::InvalidField {
            what: "segment meta record",
            field: "pg_id",
            got: u64::from(raw.pg_id),
            rule: "must equal the pg_id of the metadata in the body",
        });
    }
    Ok(Record::SegmentMeta(meta))
}

fn validate_redo(r: &Redo<'_>) -> Result<()> {
    if r.prev_lsn_pg >= r.lsn {
        return Err(Error::LsnOutOfOrder {
            what: "redo record",
            rule: "prev_lsn_pg < lsn",
            left: r.prev_lsn_pg,
            right: r.lsn,
        });
    }
    if r.prev_lsn_page > r.prev_lsn_pg {
        return Err(Error::LsnOutOfOrder {
            what: "redo record",
            rule: "prev_lsn_page <= prev_lsn_pg",
            left: r.prev_lsn_page,
            right: r.prev_lsn_pg,
        });
    }
    match r.change {
        Change::Delta { offset, bytes } => {
            let end = u64::from(offset) + bytes.len() as u64;
            if end > PAGE_PAYLOAD_MAX as u64 {
                return Err(Error::OutOfBounds {
                    what: "redo record",
                    field: "offset + len",
                    got: end,
                    min: 0,
                    max: PAGE_PAYLOAD_MAX as u64,
                });
            }
        }
        Change::Image(bytes) => {
            let page_bytes = bytes.len() + PAGE_HEADER_SIZE;
            let valid = u32::try_from(page_bytes)
                .ok()
                .is_some_and(|b| PageSize::new(b).is_ok());
            if !valid {
                return Err(Error::InvalidField {
                    what: "redo record",
                    field: "image length",
                    got: bytes.len() as u64,
                    rule: "must be the payload of a valid page size (page size - 32)",
                });
            }
        }
    }
    Ok(())
}

fn validate_truncate(t: &Truncate) -> Result<()> {
    if t.start >= t.end {
        return Err(Error::LsnOutOfOrder {
            what: "truncate record",
            rule: "start < end",
            left: t.start,
            right: t.end,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redo(change: Change<'_>) -> Record<'_> {
        Record::Redo(Redo {
            lsn: Lsn::new(10),
            prev_lsn_pg: Lsn::new(7),
            prev_lsn_page: Lsn::new(3),
            pg_id: PgId::new(2),
            page_id: PageId::new(99),
            cpl: true,
            change,
        })
    }

    #[test]
    fn redo_delta_round_trips_and_borrows_its_body() {
        let rec = redo(Change::Delta {
            offset: 100,
            bytes: b"hello",
        });
        let mut buf = Vec::new();
        assert_eq!(rec.encode_to_vec(&mut buf).unwrap(), RECORD_HEADER_SIZE + 5);
        buf.extend_from_slice(b"trailing");
        let (back, used) = Record::decode(&buf).unwrap();
        assert_eq!(back, rec);
        assert_eq!(used, RECORD_HEADER_SIZE + 5);
        let Record::Redo(r) = back else { panic!() };
        assert!(std::ptr::eq(r.change.bytes().as_ptr(), buf[56..].as_ptr()));
    }

    #[test]
    fn encoder_refuses_what_decoder_refuses() {
        let bad = Record::Redo(Redo {
            lsn: Lsn::new(5),
            prev_lsn_pg: Lsn::new(5),
            prev_lsn_page: Lsn::ZERO,
            pg_id: PgId::new(1),
            page_id: PageId::new(1),
            cpl: false,
            change: Change::Delta {
                offset: 0,
                bytes: &[],
            },
        });
        let mut buf = vec![0u8; 64];
        assert!(matches!(
            bad.encode_into(&mut buf),
            Err(Error::LsnOutOfOrder { .. })
        ));
        let image = [0u8; 100];
        assert!(redo(Change::Image(&image)).encode_into(&mut buf).is_err());
        let t = Record::Truncate(Truncate {
            pg_id: PgId::new(1),
            epoch: Epoch::new(1),
            start: Lsn::new(9),
            end: Lsn::new(9),
        });
        assert!(t.encode_into(&mut buf).is_err());
    }

    #[test]
    fn short_output_buffer_is_an_error() {
        let rec = redo(Change::Delta {
            offset: 0,
            bytes: b"abc",
        });
        let mut buf = vec![0u8; RECORD_HEADER_SIZE + 2];
        assert_eq!(
            rec.encode_into(&mut buf),
            Err(Error::BufferTooSmall {
                what: "record",
                needed: RECORD_HEADER_SIZE + 3,
                got: RECORD_HEADER_SIZE + 2
            })
        );
    }

    #[test]
    fn unknown_kind_is_named() {
        let rec = redo(Change::Delta {
            offset: 0,
            bytes: b"",
        });
        let mut buf = Vec::new();
        rec.encode_to_vec(&mut buf).unwrap();
        buf[8] = 77;
        let sum = crc32c(&buf[4..RECORD_HEADER_SIZE]);
        buf[..4].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            Record::decode(&buf).unwrap_err(),
            Error::UnknownTag {
                what: "record header",
                tag: 77
            }
        );
    }

    #[test]
    fn a_decoded_valid_record_copies_the_bytes_it_came_in() {
        let rec = redo(Change::Delta {
            offset: 8,
            bytes: b"payload",
        });
        let mut buf = Vec::new();
        rec.encode_to_vec(&mut buf).unwrap();
        let len = buf.len();
        buf.extend_from_slice(b"next");
        let (valid, used) = Record::decode_valid(&buf).unwrap();
        assert_eq!((valid.get(), used), (&rec, len));
        assert!(std::ptr::eq(valid.encoded().unwrap(), &buf[..len]));
        let mut out = vec![0u8; len];
        assert_eq!(valid.encode_into(&mut out).unwrap(), len);
        assert_eq!(out, buf[..len]);
        assert_eq!(
            valid.encode_into(&mut out[..len - 1]),
            Err(Error::BufferTooSmall {
                what: "record",
                needed: len,
                got: len - 1
            })
        );
    }

    #[test]
    fn decode_valid_refuses_a_record_whose_own_checksums_do_not_hold() {
        let rec = redo(Change::Delta {
            offset: 8,
            bytes: b"payload",
        });
        let mut good = Vec::new();
        rec.encode_to_vec(&mut good).unwrap();
        // A flipped body byte: the body checksum names it.
        let mut bad = good.clone();
        bad[RECORD_HEADER_SIZE + 1] ^= 0x04;
        assert!(matches!(
            Record::decode_valid(&bad),
            Err(Error::Checksum {
                what: "record body",
                ..
            })
        ));
        // A flipped header byte (the LSN): the header checksum names it.
        let mut bad = good.clone();
        bad[WORDS_OFFSET] ^= 0x01;
        assert!(matches!(
            Record::decode_valid(&bad),
            Err(Error::Checksum {
                what: "record header",
                ..
            })
        ));
        // `decode_verified` trusts a covering checksum and would take both.
        assert!(Record::decode_verified(&bad).is_ok());
    }

    #[test]
    fn zeroed_header_is_not_a_record() {
        assert!(matches!(
            Record::decode(&[0u8; 64]),
            Err(Error::Checksum { .. })
        ));
    }
}
