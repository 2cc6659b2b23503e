//! `Redos`: a batch of redo records in segment's journal record encoding, decoded
//! zero-copy from a frame body, and the rules every such batch keeps.
//!
//! This module owns what `AppendBatch` and `FetchedRecords` carry: records laid end to
//! end exactly as `boreal_segment::Record::encode_to_vec` writes them (56-byte
//! self-checksumming header, checksummed body), so a node borrows each `Redo<'a>`
//! straight from its receive buffer and a record is encoded once, by its author.
//! Rules (decoder and encoder alike): every record is a valid redo record of the
//! message's PG; LSNs strictly increase; at most `RECORD_BATCH_RECORDS_MAX` records and
//! `RECORD_BATCH_BYTES_MAX` bytes; exactly `record_count` records, nothing after them.
//!
//! Decoding checks the declared count against the bytes present before it looks at any
//! record, and allocates nothing. An `AppendBatch`'s records are decoded with their own
//! checksums verified (`segment::CheckedRecords`): a node journals each record's bytes
//! as they came ([`Redos::valid`] hands them out as `ValidRecord`s without checking
//! anything again), so a record's checksums are computed once, by its author, and
//! checked once, here; a damaged one is refused naming it. A `FetchedRecords`' records
//! are read with `Record::decode_verified` (the frame's body checksum proved the bytes
//! are what the peer sealed), and [`Redos::verify_checksums`] checks their own
//! checksums where a caller wants to keep the records before a damaged one (a link).
//! Invariant: a `Redos` of wire bytes exists only after every record passed those
//! checks, so iterating it cannot fail.

use std::fmt;

use boreal_segment::limits::RECORD_HEADER_SIZE;
use boreal_segment::{CheckedIter, CheckedRecords, Lsn, PgId, Record, Redo, ValidRecord};

use super::error::{ProtoError, Result};
use super::wire::Body;
use crate::limits::{RECORD_BATCH_BYTES_MAX, RECORD_BATCH_RECORDS_MAX};

#[derive(Clone, Copy)]
enum Inner<'a> {
    /// Checked record bytes of a decoded body, all of `pg`; `message` names the
    /// message and `base` is where the records start in its body (for errors).
    Wire {
        bytes: &'a [u8],
        count: u32,
        pg: PgId,
        message: &'static str,
        base: usize,
        /// The records with their own checksums verified (an `AppendBatch`'s).
        checked: Option<CheckedRecords<'a>>,
    },
    /// The sender's records, checked when encoded.
    Slice(&'a [Redo<'a>]),
}

/// The redo records of one message.
#[derive(Clone, Copy)]
pub struct Redos<'a>(Inner<'a>);

/// The running checks of a batch being decoded or built.
#[derive(Debug)]
pub(crate) struct Judge {
    message: &'static str,
    pg: PgId,
    count: usize,
    bytes: usize,
    last: Lsn,
}

impl Judge {
    pub(crate) fn new(message: &'static str, pg: PgId) -> Judge {
        Judge {
            message,
            pg,
            count: 0,
            bytes: 0,
            last: Lsn::ZERO,
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a record of `len` encoded bytes still fits the batch.
    pub(crate) fn room_for(&self, len: usize) -> Result<()> {
        if self.count >= RECORD_BATCH_RECORDS_MAX || self.bytes + len > RECORD_BATCH_BYTES_MAX {
            return Err(ProtoError::BatchFull {
                message: self.message,
                records: self.count,
                bytes: self.bytes,
                needed: len,
            });
        }
        Ok(())
    }

    /// Checks that `r` (already a valid redo record) may follow the batch so far.
    pub(crate) fn follows(&self, r: &Redo<'_>) -> Result<()> {
        // `count` is below RECORD_BATCH_RECORDS_MAX, a u32.
        let index = self.count as u32;
        if r.pg_id != self.pg {
            return Err(ProtoError::OtherPg {
                message: self.message,
                index,
                lsn: r.lsn,
                expected: self.pg,
                got: r.pg_id,
            });
        }
        if self.count > 0 && r.lsn <= self.last {
            return Err(ProtoError::LsnNotIncreasing {
                message: self.message,
                index,
                prev: self.last,
                lsn: r.lsn,
            });
        }
        Ok(())
    }

    /// Counts a record that passed `room_for` and `follows`.
    pub(crate) fn admit(&mut self, r: &Redo<'_>, len: usize) {
        self.count += 1;
        self.bytes += len;
        self.last = r.lsn;
    }
}

impl<'a> Redos<'a> {
    /// The sender's records, to encode (checked then).
    pub fn from_slice(records: &'a [Redo<'a>]) -> Self {
        Redos(Inner::Slice(records))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        match self.0 {
            Inner::Wire { count, .. } => count as usize,
            Inner::Slice(records) => records.len(),
        }
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records, lowest LSN first, borrowing their bodies from the frame (or from
    /// the sender's slice).
    pub fn iter(&self) -> RedoIter<'a> {
        RedoIter(match self.0 {
            Inner::Wire { bytes, count, .. } => IterInner::Wire {
                bytes,
                left: count as usize,
            },
            Inner::Slice(records) => IterInner::Slice(records.iter()),
        })
    }

    /// The encoded records as they travel, for a decoded batch.
    pub fn wire_bytes(&self) -> Option<&'a [u8]> {
        match self.0 {
            Inner::Wire { bytes, .. } => Some(bytes),
            Inner::Slice(_) => None,
        }
    }

    /// Recomputes every record's own header and body checksums (decoding trusted the
    /// frame's body checksum for them). Records given as values have no stored
    /// checksums and pass.
    pub fn verify_checksums(&self) -> Result<()> {
        let Inner::Wire { .. } = self.0 else {
            return Ok(());
        };
        self.valid().try_for_each(|r| r.map(drop))
    }

    /// The records as the journal takes them ([`ValidRecord`]), each decoded again
    /// with its own two checksums verified (decoding trusted the frame's body checksum
    /// for them): what a node journals, copying each record's bytes as its author
    /// encoded them, so a record's checksums are computed once (by its author) and
    /// checked once (here). The first record whose checksum does not hold is an
    /// `Err` naming the message, the record's index and its offset in the body, and
    /// ends the iteration. Records given as values are validated and encoded when journaled.
    pub fn valid(&self) -> ValidIter<'a> {
        let (inner, message, base) = match self.0 {
            Inner::Wire {
                checked: Some(checked),
                message,
                base,
                ..
            } => (ValidInner::Checked(checked.iter()), message, base),
            Inner::Wire {
                bytes,
                message,
                base,
                ..
            } => (ValidInner::Wire { bytes, pos: 0 }, message, base),
            Inner::Slice(records) => (ValidInner::Slice(records.iter()), "records", 0),
        };
        ValidIter {
            inner,
            message,
            base,
            index: 0,
            failed: false,
        }
    }

    /// Reads `declared` records of `pg` from the rest of the body and checks them;
    /// with `verify_records` each record's own checksums too.
    pub(crate) fn decode(
        b: &mut Body<'a>,
        pg: PgId,
        declared: u32,
        min_count: usize,
        verify_records: bool,
    ) -> Result<Redos<'a>> {
        let message = b.message();
        let count = b.bounded(
            "record_count",
            declared.into(),
            min_count,
            RECORD_BATCH_RECORDS_MAX,
        )?;
        let base = b.pos();
        let rest = b.remaining();
        // Every record has at least a header: refuse a count the bytes cannot hold
        // before looking at any record.
        b.bounded(
            "records length",
            rest as u64,
            count * RECORD_HEADER_SIZE,
            RECORD_BATCH_BYTES_MAX,
        )?;
        let bytes = b.bytes("records", rest)?;
        let mut judge = Judge::new(message, pg);
        let mut checker = verify_records.then(|| CheckedRecords::checker(bytes));
        let mut pos = 0;
        loop {
            let (at, decoded) = match &mut checker {
                Some(c) => match c.next() {
                    Some(next) => next,
                    None => break,
                },
                None if pos < bytes.len() => (pos, Record::decode_verified(&bytes[pos..])),
                None => break,
            };
            let index = judge.count() as u32;
            if judge.count() == count {
                return Err(ProtoError::RecordCount {
                    message,
                    declared,
                    found: index + 1,
                });
            }
            let (record, used) = decoded.map_err(|source| ProtoError::Record {
                message,
                index,
                offset: base + at,
                source,
            })?;
            let Record::Redo(redo) = record else {
                return Err(ProtoError::NotRedo {
                    message,
                    index,
                    offset: base + at,
                    kind: record.kind(),
                });
            };
            judge.follows(&redo)?;
            judge.admit(&redo, used);
            pos = at + used;
        }
        let checked = checker.map(|c| c.finish().expect("every record was taken"));
        if judge.count() != count {
            return Err(ProtoError::RecordCount {
                message,
                declared,
                found: judge.count() as u32,
            });
        }
        Ok(Redos(Inner::Wire {
            bytes,
            count: declared,
            pg,
            message,
            base,
            checked,
        }))
    }

    /// Checks records given as values (a decoded batch was checked already).
    pub(crate) fn check(&self, message: &'static str, pg: PgId, min_count: usize) -> Result<()> {
        if self.len() < min_count {
            return Err(ProtoError::OutOfBounds {
                message,
                field: "record_count",
                got: self.len() as u64,
                min: min_count as u64,
                max: RECORD_BATCH_RECORDS_MAX as u64,
            });
        }
        let records = match self.0 {
            Inner::Slice(records) => records,
            // Checked when decoded, for the PG of the message they came in (an
            // empty batch belongs to any PG).
            Inner::Wire { pg: of, count, .. } if of == pg || count == 0 => return Ok(()),
            Inner::Wire { pg: of, .. } => {
                let first = self.iter().next().map_or(Lsn::ZERO, |r| r.lsn);
                return Err(ProtoError::OtherPg {
                    message,
                    index: 0,
                    lsn: first,
                    expected: pg,
                    got: of,
                });
            }
        };
        let mut judge = Judge::new(message, pg);
        for r in records {
            let index = judge.count() as u32;
            let offset = judge.bytes();
            let record = Record::Redo(*r);
            record.validate().map_err(|source| ProtoError::Record {
                message,
                index,
                offset,
                source,
            })?;
            let len = record.encoded_len();
            judge.room_for(len)?;
            judge.follows(r)?;
            judge.admit(r, len);
        }
        Ok(())
    }

    /// Appends the encoded records (after `check`).
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        match self.0 {
            Inner::Wire { bytes, .. } => out.extend_from_slice(bytes),
            Inner::Slice(records) => {
                for (index, r) in records.iter().enumerate() {
                    Record::Redo(*r)
                        .encode_to_vec(out)
                        .map_err(|source| ProtoError::Record {
                            message: "records",
                            index: index as u32,
                            offset: 0,
                            source,
                        })?;
                }
            }
        }
        Ok(())
    }
}

impl PartialEq for Redos<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Redos<'_> {}

impl fmt::Debug for Redos<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for r in self.iter() {
            list.entry(&format_args!("{}@{}", r.lsn, r.page_id));
        }
        list.finish()
    }
}

enum ValidInner<'a> {
    /// Checked when decoded: nothing to check again.
    Checked(CheckedIter<'a>),
    Wire {
        bytes: &'a [u8],
        pos: usize,
    },
    Slice(std::slice::Iter<'a, Redo<'a>>),
}

/// Iterator over the records of a [`Redos`] as [`ValidRecord`]s; see [`Redos::valid`].
pub struct ValidIter<'a> {
    inner: ValidInner<'a>,
    message: &'static str,
    /// Where the records start in the message body.
    base: usize,
    index: u32,
    failed: bool,
}

impl<'a> Iterator for ValidIter<'a> {
    type Item = Result<ValidRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let index = self.index;
        let (checked, offset) = match &mut self.inner {
            ValidInner::Checked(it) => return it.next().map(Ok),
            ValidInner::Slice(it) => {
                let r = it.next()?;
                (Record::Redo(*r).validated(), 0)
            }
            ValidInner::Wire { bytes, pos } => {
                let rest = bytes.get(*pos..).filter(|rest| !rest.is_empty())?;
                let offset = *pos;
                let decoded = Record::decode_valid(rest).map(|(valid, used)| {
                    *pos += used;
                    valid
                });
                (decoded, offset)
            }
        };
        self.index = index.saturating_add(1);
        Some(checked.map_err(|source| {
            self.failed = true;
            ProtoError::Record {
                message: self.message,
                index,
                offset: self.base + offset,
                source,
            }
        }))
    }
}

impl std::iter::FusedIterator for ValidIter<'_> {}

impl fmt::Debug for ValidIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValidIter(record {})", self.index)
    }
}

enum IterInner<'a> {
    Wire { bytes: &'a [u8], left: usize },
    Slice(std::slice::Iter<'a, Redo<'a>>),
}

/// Iterator over the records of a [`Redos`].
pub struct RedoIter<'a>(IterInner<'a>);

impl<'a> Iterator for RedoIter<'a> {
    type Item = Redo<'a>;

    fn next(&mut self) -> Option<Redo<'a>> {
        match &mut self.0 {
            IterInner::Slice(it) => it.next().copied(),
            IterInner::Wire { bytes, left } => {
                if *left == 0 {
                    return None;
                }
                let (record, used) = Record::decode_verified(bytes)
                    .expect("records were checked when the body was decoded");
                let Record::Redo(redo) = record else {
                    unreachable!("only redo records pass the decode checks");
                };
                *bytes = &bytes[used..];
                *left -= 1;
                Some(redo)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterInner::Slice(it) => it.len(),
            IterInner::Wire { left, .. } => *left,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for RedoIter<'_> {}

impl std::iter::FusedIterator for RedoIter<'_> {}

impl fmt::Debug for RedoIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedoIter({} left)", self.len())
    }
}
