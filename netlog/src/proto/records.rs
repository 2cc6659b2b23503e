//! The messages that carry redo: `AppendBatch` → `AppendAck`, and `FetchRecords` →
//! `FetchedRecords` (gossip and repair), with the encoders that build their frames
//! record by record.
//!
//! This module owns those four layouts and the two streaming encoders. An encoder
//! writes a whole frame (header, fixed fields, records) into a caller-owned `Vec<u8>`
//! that is reused from frame to frame, so encoding allocates nothing per record and
//! nothing per frame once the buffer has grown: a shim boxcars by pushing each record
//! as it arrives and sealing the frame when the connection is free. A frame sent to
//! several nodes differs only in its request id: reuse the returned header's
//! `body_checksum` with another `request_id` (`FrameHeader { request_id, ..header }`)
//! instead of encoding the body again. An encoder dropped before it is finished takes
//! its bytes back out of the buffer.

use boreal_segment::limits::{FRAME_HEADER_SIZE, RECORD_HEADER_SIZE};
use boreal_segment::{Change, Epoch, FrameHeader, Lsn, PageId, PgId, Record, Redo};

use super::error::{ProtoError, Result};
use super::message::seal;
use super::redos::{Judge, Redos};
use super::tag::Tag;
use super::wire::{Body, Put};
use crate::limits::{
    APPEND_ACK_SIZE, APPEND_BATCH_FIXED, FETCH_BYTE_LIMIT_MIN, FETCH_RECORDS_SIZE,
    FETCHED_RECORDS_FIXED, RECORD_BATCH_BYTES_MAX,
};

const APPEND_BATCH: &str = "AppendBatch";
const FETCHED_RECORDS: &str = "FetchedRecords";
/// Flag bit of `FetchedRecords`: records in the asked range remain after these.
const FLAG_MORE: u8 = 0x01;

/// Shim → node: redo records of one PG to make durable, at the shim's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendBatch<'a> {
    pub epoch: Epoch,
    pub pg: PgId,
    /// At least one record, all of `pg`, LSNs increasing.
    pub records: Redos<'a>,
}

/// Node → shim: every record of the batch is durable on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendAck {
    pub pg: PgId,
    /// The segment's epoch after the append.
    pub epoch: Epoch,
    /// The segment's SCL after the append.
    pub scl: Lsn,
    /// Records new to the segment.
    pub accepted: u32,
    /// Records it held already (or had materialized): acknowledged again.
    pub duplicates: u32,
}

/// Peer → node: the PG's records with LSN in `(from, to]`, lowest first, up to about
/// `byte_limit` encoded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchRecords {
    pub pg: PgId,
    pub from: Lsn,
    pub to: Lsn,
    /// `FETCH_BYTE_LIMIT_MIN..=RECORD_BATCH_BYTES_MAX`.
    pub byte_limit: u32,
}

/// Node → peer: the records found, and whether more of the range remain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchedRecords<'a> {
    pub pg: PgId,
    /// The serving segment's SCL.
    pub scl: Lsn,
    /// Records of the range remain after the last one sent: ask again from its LSN.
    pub more: bool,
    /// Records of `pg`, LSNs increasing; may be empty (then `more` is false).
    pub records: Redos<'a>,
}

impl<'a> AppendBatch<'a> {
    pub(crate) fn read(b: &mut Body<'a>) -> Result<AppendBatch<'a>> {
        let epoch = b.epoch("epoch")?;
        let pg = b.pg("pg")?;
        let declared = b.u32("record_count")?;
        debug_assert_eq!(b.pos(), APPEND_BATCH_FIXED);
        let records = Redos::decode(b, pg, declared, 1, true)?;
        Ok(AppendBatch { epoch, pg, records })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.records.check(APPEND_BATCH, self.pg, 1)?;
        out.put_u64(self.epoch.get());
        out.put_u32(self.pg.get());
        // Bounded by check(): RECORD_BATCH_RECORDS_MAX <= u32::MAX.
        out.put_u32(self.records.len() as u32);
        self.records.write(out)
    }
}

impl AppendAck {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<AppendAck> {
        let pg = b.pg("pg")?;
        let accepted = b.u32("accepted")?;
        let duplicates = b.u32("duplicates")?;
        b.reserved(4)?;
        let m = AppendAck {
            pg,
            accepted,
            duplicates,
            epoch: b.epoch("epoch")?,
            scl: b.lsn("scl")?,
        };
        debug_assert_eq!(b.pos(), APPEND_ACK_SIZE);
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_u32(self.accepted);
        out.put_u32(self.duplicates);
        out.put_zeros(4);
        out.put_u64(self.epoch.get());
        out.put_u64(self.scl.get());
    }
}

impl FetchRecords {
    pub(crate) fn check(&self) -> Result<()> {
        if self.from >= self.to {
            return Err(ProtoError::LsnOutOfOrder {
                message: "FetchRecords",
                rule: "from < to",
                left: self.from,
                right: self.to,
            });
        }
        let limit = self.byte_limit as usize;
        if !(FETCH_BYTE_LIMIT_MIN..=RECORD_BATCH_BYTES_MAX).contains(&limit) {
            return Err(ProtoError::OutOfBounds {
                message: "FetchRecords",
                field: "byte_limit",
                got: limit as u64,
                min: FETCH_BYTE_LIMIT_MIN as u64,
                max: RECORD_BATCH_BYTES_MAX as u64,
            });
        }
        Ok(())
    }

    pub(crate) fn read(b: &mut Body<'_>) -> Result<FetchRecords> {
        let m = FetchRecords {
            pg: b.pg("pg")?,
            byte_limit: b.u32("byte_limit")?,
            from: b.lsn("from")?,
            to: b.lsn("to")?,
        };
        debug_assert_eq!(b.pos(), FETCH_RECORDS_SIZE);
        m.check()?;
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u32(self.pg.get());
        out.put_u32(self.byte_limit);
        out.put_u64(self.from.get());
        out.put_u64(self.to.get());
        Ok(())
    }
}

fn check_more(more: bool, count: usize) -> Result<()> {
    if more && count == 0 {
        return Err(ProtoError::InvalidField {
            message: FETCHED_RECORDS,
            field: "flags",
            got: FLAG_MORE.into(),
            rule: "`more` needs at least one record (a fetch always fits one)",
        });
    }
    Ok(())
}

impl<'a> FetchedRecords<'a> {
    pub(crate) fn read(b: &mut Body<'a>) -> Result<FetchedRecords<'a>> {
        let pg = b.pg("pg")?;
        let declared = b.u32("record_count")?;
        let flags = b.u8("flags")?;
        if flags & !FLAG_MORE != 0 {
            return Err(ProtoError::UnknownCode {
                message: FETCHED_RECORDS,
                field: "flags",
                got: flags.into(),
            });
        }
        b.reserved(7)?;
        let scl = b.lsn("scl")?;
        debug_assert_eq!(b.pos(), FETCHED_RECORDS_FIXED);
        let records = Redos::decode(b, pg, declared, 0, false)?;
        let more = flags & FLAG_MORE != 0;
        check_more(more, records.len())?;
        Ok(FetchedRecords {
            pg,
            scl,
            more,
            records,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.records.check(FETCHED_RECORDS, self.pg, 0)?;
        check_more(self.more, self.records.len())?;
        out.put_u32(self.pg.get());
        // Bounded by check(): RECORD_BATCH_RECORDS_MAX <= u32::MAX.
        out.put_u32(self.records.len() as u32);
        out.put_u8(if self.more { FLAG_MORE } else { 0 });
        out.put_zeros(7);
        out.put_u64(self.scl.get());
        self.records.write(out)
    }
}

/// A redo record in its wire encoding, made once: validated, both CRC32Cs computed.
/// A shim sends each record to the six segments of its PG; with this, each frame copies
/// the record's bytes ([`AppendEncoder::push_encoded`]) instead of validating and
/// checksumming it again per segment. The change is kept once, inside the encoding
/// (a shim holds every record above the VDL, up to its LSN allocation limit).
///
/// Invariant: `wire` is exactly what `Record::Redo(self.redo()).encode_to_vec` writes:
/// the header, then the change's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedRedo {
    lsn: Lsn,
    prev_lsn_pg: Lsn,
    prev_lsn_page: Lsn,
    pg_id: PgId,
    page_id: PageId,
    cpl: bool,
    /// `Some(offset)` for a delta, `None` for a whole-page image.
    delta_offset: Option<u32>,
    wire: Wire,
}

/// Bytes of an encoding kept inside the [`EncodedRedo`] itself: a 128-byte delta and
/// its header fit, so the shim's `Rc<EncodedRedo>` of such a record is one allocation,
/// not two (malloc and free were a fifth of the shim's instructions per commit).
const WIRE_INLINE: usize = 192;

/// An encoding, inline when it fits.
#[derive(Clone, PartialEq, Eq)]
enum Wire {
    Inline { len: u8, bytes: [u8; WIRE_INLINE] },
    Heap(Box<[u8]>),
}

impl Wire {
    fn new(record: &Record<'_>) -> std::result::Result<Wire, boreal_segment::Error> {
        let len = record.encoded_len();
        match u8::try_from(len) {
            Ok(short) if len <= WIRE_INLINE => {
                let mut bytes = [0; WIRE_INLINE];
                record.encode_into(&mut bytes)?;
                Ok(Wire::Inline { len: short, bytes })
            }
            _ => {
                let mut wire = Vec::with_capacity(len);
                record.encode_to_vec(&mut wire)?;
                Ok(Wire::Heap(wire.into_boxed_slice()))
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Wire::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Wire::Heap(b) => b,
        }
    }
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wire({} bytes)", self.bytes().len())
    }
}

impl EncodedRedo {
    /// Validates and encodes `redo`; the error names the rule it breaks.
    pub fn new(redo: &Redo<'_>) -> std::result::Result<EncodedRedo, boreal_segment::Error> {
        let wire = Wire::new(&Record::Redo(*redo))?;
        debug_assert_eq!(&wire.bytes()[RECORD_HEADER_SIZE..], redo.change.bytes());
        Ok(EncodedRedo {
            lsn: redo.lsn,
            prev_lsn_pg: redo.prev_lsn_pg,
            prev_lsn_page: redo.prev_lsn_page,
            pg_id: redo.pg_id,
            page_id: redo.page_id,
            cpl: redo.cpl,
            delta_offset: match redo.change {
                Change::Delta { offset, .. } => Some(offset),
                Change::Image(_) => None,
            },
            wire,
        })
    }

    /// The record, its change borrowed from the encoding.
    pub fn redo(&self) -> Redo<'_> {
        let bytes = &self.wire.bytes()[RECORD_HEADER_SIZE..];
        Redo {
            lsn: self.lsn,
            prev_lsn_pg: self.prev_lsn_pg,
            prev_lsn_page: self.prev_lsn_page,
            pg_id: self.pg_id,
            page_id: self.page_id,
            cpl: self.cpl,
            change: match self.delta_offset {
                Some(offset) => Change::Delta { offset, bytes },
                None => Change::Image(bytes),
            },
        }
    }

    pub fn lsn(&self) -> Lsn {
        self.lsn
    }

    pub fn pg_id(&self) -> PgId {
        self.pg_id
    }

    /// Its encoding, header and change, as it goes on the wire and into a journal.
    pub fn wire(&self) -> &[u8] {
        self.wire.bytes()
    }
}

/// The part both encoders share: a frame being built at `start` of `out`.
#[derive(Debug)]
struct Building<'b> {
    out: &'b mut Vec<u8>,
    start: usize,
    judge: Judge,
    sealed: bool,
}

impl<'b> Building<'b> {
    fn new(out: &'b mut Vec<u8>, message: &'static str, pg: PgId) -> Building<'b> {
        let start = out.len();
        out.put_zeros(FRAME_HEADER_SIZE);
        Building {
            out,
            start,
            judge: Judge::new(message, pg),
            sealed: false,
        }
    }

    fn push(&mut self, r: &Redo<'_>) -> Result<()> {
        let record = Record::Redo(*r);
        let len = record.encoded_len();
        self.judge.room_for(len)?;
        self.judge.follows(r)?;
        let index = self.judge.count() as u32;
        let offset = self.out.len() - self.start - FRAME_HEADER_SIZE;
        // Validates first, and leaves `out` as it was on error.
        record
            .encode_to_vec(self.out)
            .map_err(|source| ProtoError::Record {
                message: "records",
                index,
                offset,
                source,
            })?;
        self.judge.admit(r, len);
        Ok(())
    }

    fn push_encoded(&mut self, r: &EncodedRedo) -> Result<()> {
        let redo = r.redo();
        let len = r.wire().len();
        self.judge.room_for(len)?;
        self.judge.follows(&redo)?;
        self.out.extend_from_slice(r.wire());
        self.judge.admit(&redo, len);
        Ok(())
    }

    /// Writes the record count at body offset `at` and seals the frame.
    fn seal(&mut self, tag: Tag, request_id: u64, count_at: usize) -> Result<FrameHeader> {
        let at = self.start + FRAME_HEADER_SIZE + count_at;
        // At most RECORD_BATCH_RECORDS_MAX, a u32.
        let count = self.judge.count() as u32;
        self.out[at..at + 4].copy_from_slice(&count.to_le_bytes());
        let header = seal(self.out, self.start, tag, request_id)?;
        self.sealed = true;
        Ok(header)
    }
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        if !self.sealed {
            self.out.truncate(self.start);
        }
    }
}

/// Builds one `AppendBatch` frame at the end of a caller-owned buffer, record by record.
#[derive(Debug)]
pub struct AppendEncoder<'b>(Building<'b>);

impl<'b> AppendEncoder<'b> {
    /// Starts the frame of an append of `pg` at `epoch` at the end of `out`.
    pub fn new(out: &'b mut Vec<u8>, epoch: Epoch, pg: PgId) -> AppendEncoder<'b> {
        let b = Building::new(out, APPEND_BATCH, pg);
        b.out.put_u64(epoch.get());
        b.out.put_u32(pg.get());
        b.out.put_u32(0); // record_count, written when sealed
        AppendEncoder(b)
    }

    /// Appends a record; `BatchFull` (nothing written) when the frame has no room:
    /// seal it and put the record in the next one. Other errors name a record that
    /// can never be sent (invalid, of another PG, LSN not above the previous one).
    pub fn push(&mut self, record: &Redo<'_>) -> Result<()> {
        self.0.push(record)
    }

    /// [`push`](Self::push) of a record encoded once already: its bytes are copied,
    /// not encoded again (the frame's own checks, PG, LSN order and room, still apply).
    pub fn push_encoded(&mut self, record: &EncodedRedo) -> Result<()> {
        self.0.push_encoded(record)
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.0.judge.count()
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encoded bytes of the records pushed so far.
    pub fn record_bytes(&self) -> usize {
        self.0.judge.bytes()
    }

    /// Seals the frame with `request_id` (nonzero) and returns its header; the frame
    /// is the end of the buffer from where it started. An empty batch is refused.
    pub fn finish(mut self, request_id: u64) -> Result<FrameHeader> {
        if self.is_empty() {
            return Err(ProtoError::OutOfBounds {
                message: APPEND_BATCH,
                field: "record_count",
                got: 0,
                min: 1,
                max: crate::limits::RECORD_BATCH_RECORDS_MAX as u64,
            });
        }
        self.0.seal(Tag::AppendBatch, request_id, 12)
    }
}

/// Builds one `FetchedRecords` frame at the end of a caller-owned buffer.
#[derive(Debug)]
pub struct FetchedEncoder<'b>(Building<'b>);

impl<'b> FetchedEncoder<'b> {
    /// Starts the reply to a fetch of `pg` from a segment whose SCL is `scl`.
    pub fn new(out: &'b mut Vec<u8>, pg: PgId, scl: Lsn) -> FetchedEncoder<'b> {
        let b = Building::new(out, FETCHED_RECORDS, pg);
        b.out.put_u32(pg.get());
        b.out.put_u32(0); // record_count, written when sealed
        b.out.put_u8(0); // flags, written when sealed
        b.out.put_zeros(7);
        b.out.put_u64(scl.get());
        FetchedEncoder(b)
    }

    /// Appends a record; `BatchFull` (nothing written) when the frame has no room
    /// (then finish with `more`).
    pub fn push(&mut self, record: &Redo<'_>) -> Result<()> {
        self.0.push(record)
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.0.judge.count()
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Seals the frame with `request_id`; `more` says records of the range remain.
    pub fn finish(mut self, request_id: u64, more: bool) -> Result<FrameHeader> {
        check_more(more, self.len())?;
        let at = self.0.start + FRAME_HEADER_SIZE + 8;
        self.0.out[at] = if more { FLAG_MORE } else { 0 };
        self.0.seal(Tag::FetchedRecords, request_id, 4)
    }
}
