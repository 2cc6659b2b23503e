//! Owned forms of what the hot log holds: redo records, LSN ranges and truncations.
//!
//! The journal and the network hand the engine borrowed `segment::Redo<'_>` values whose
//! bodies live in a batch buffer that is reused as soon as the append returns; the hot
//! log keeps an owned copy ([`OwnedRedo`]) until the coalescer has materialized it. This
//! module also owns how a redo change is applied to a page payload. It never decides
//! whether a record is accepted (that is [`HotLog`](super::HotLog)'s job).
//!
//! Invariants: an `OwnedRedo` satisfies the format rules of `segment::Record::validate`
//! (it is only built from a record that passed them); an [`LsnRange`] `(start, end]` is
//! never empty.

use std::fmt;

use boreal_segment::limits::RECORD_HEADER_SIZE;
use boreal_segment::{Change, Epoch, Lsn, PageId, PgId, Redo};

/// What a redo record does to its page, owning the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedChange {
    /// Write `bytes` at `offset` of the page payload.
    Delta { offset: u32, bytes: Box<[u8]> },
    /// Replace the whole page payload.
    Image(Box<[u8]>),
}

impl OwnedChange {
    /// A borrowed view.
    pub fn as_change(&self) -> Change<'_> {
        match self {
            OwnedChange::Delta { offset, bytes } => Change::Delta {
                offset: *offset,
                bytes,
            },
            OwnedChange::Image(bytes) => Change::Image(bytes),
        }
    }
}

/// An owned redo record (see `segment::Redo` for the meaning of each field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRedo {
    pub lsn: Lsn,
    pub prev_lsn_pg: Lsn,
    pub prev_lsn_page: Lsn,
    pub pg_id: PgId,
    pub page_id: PageId,
    pub cpl: bool,
    pub change: OwnedChange,
}

impl OwnedRedo {
    /// Copies a borrowed record.
    pub fn from_redo(r: &Redo<'_>) -> OwnedRedo {
        let change = match r.change {
            Change::Delta { offset, bytes } => OwnedChange::Delta {
                offset,
                bytes: bytes.into(),
            },
            Change::Image(bytes) => OwnedChange::Image(bytes.into()),
        };
        OwnedRedo {
            lsn: r.lsn,
            prev_lsn_pg: r.prev_lsn_pg,
            prev_lsn_page: r.prev_lsn_page,
            pg_id: r.pg_id,
            page_id: r.page_id,
            cpl: r.cpl,
            change,
        }
    }

    /// A borrowed view, e.g. to encode the record into a journal batch or a frame.
    pub fn as_redo(&self) -> Redo<'_> {
        let change = self.change.as_change();
        Redo {
            lsn: self.lsn,
            prev_lsn_pg: self.prev_lsn_pg,
            prev_lsn_page: self.prev_lsn_page,
            pg_id: self.pg_id,
            page_id: self.page_id,
            cpl: self.cpl,
            change,
        }
    }

    /// Bytes of the change body.
    pub fn body_len(&self) -> usize {
        match &self.change {
            OwnedChange::Delta { bytes, .. } | OwnedChange::Image(bytes) => bytes.len(),
        }
    }

    /// What the record costs in the backlog: its encoded size (header + body). The hot
    /// log's accounting uses this so backlog limits read like journal bytes.
    pub fn backlog_bytes(&self) -> usize {
        RECORD_HEADER_SIZE + self.body_len()
    }

    /// Whether the change fits a page payload of `payload_len` bytes.
    pub fn fits_payload(&self, payload_len: usize) -> bool {
        change_fits_payload(&self.as_redo().change, payload_len)
    }

    /// Applies the change to `payload` (a page payload of the volume's page size).
    /// Panics if the change does not fit: the engine checks `fits_payload` before it
    /// accepts a record, so a misfit here is our bug.
    pub fn apply_to(&self, payload: &mut [u8]) {
        apply_change(&self.as_redo(), payload);
    }
}

/// Applies the change of `r` to `payload` (a page payload of the volume's page size).
/// Panics if the change does not fit: the engine checks [`change_fits_payload`] before
/// it accepts a record, so a misfit here is our bug.
pub fn apply_change(r: &Redo<'_>, payload: &mut [u8]) {
    assert!(
        change_fits_payload(&r.change, payload.len()),
        "{} does not fit a {}-byte payload",
        r.lsn,
        payload.len()
    );
    match r.change {
        Change::Delta { offset, bytes } => {
            let at = offset as usize;
            payload[at..at + bytes.len()].copy_from_slice(bytes);
        }
        Change::Image(bytes) => payload.copy_from_slice(bytes),
    }
}

/// Whether `change` fits a page payload of `payload_len` bytes (a delta inside it, an
/// image exactly its size). The engine asks before it accepts a record; applying a
/// change that does not fit is a bug.
pub fn change_fits_payload(change: &Change<'_>, payload_len: usize) -> bool {
    match *change {
        Change::Delta { offset, bytes } => {
            (offset as usize).saturating_add(bytes.len()) <= payload_len
        }
        Change::Image(bytes) => bytes.len() == payload_len,
    }
}

/// A range of LSNs `(start, end]`, exclusive below, inclusive above (the way holes and
/// truncations are named). Never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LsnRange {
    pub start: Lsn,
    pub end: Lsn,
}

impl LsnRange {
    /// `(start, end]`; panics if empty (`start >= end`): callers build ranges from
    /// their own state or from checked input.
    pub fn new(start: Lsn, end: Lsn) -> LsnRange {
        assert!(start < end, "empty LSN range ({start}, {end}]");
        LsnRange { start, end }
    }

    pub fn contains(&self, lsn: Lsn) -> bool {
        self.start < lsn && lsn <= self.end
    }

    /// Whether the two ranges share an LSN.
    pub fn overlaps(&self, other: &LsnRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl fmt::Display for LsnRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}]", self.start.get(), self.end.get())
    }
}

/// A truncation applied to a segment: records in `range` are annulled, by the volume
/// recovery of `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Truncation {
    pub epoch: Epoch,
    pub range: LsnRange,
}
