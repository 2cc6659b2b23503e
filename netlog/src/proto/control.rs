//! The fixed-size requests and acks of one segment: create, read point, fence,
//! truncate, and GetPage with its reply.
//!
//! This module owns their byte layouts (`PROTOCOL.md`) and the rules a decoder can
//! check without the segment: a valid page size, a non-empty page range that does not
//! wrap, a non-empty truncation range, a page payload of a valid page size. Whether a
//! request is acceptable for the segment (epoch, SCL, pages) is the node's decision.
//! Every request that changes a segment carries the sender's epoch; reads carry none.

use boreal_segment::limits::PAGE_HEADER_SIZE;
use boreal_segment::{Epoch, Lsn, PageId, PageSize, PgId};

use super::error::{ProtoError, Result};
use super::wire::{Body, Put};
use crate::limits::{
    CREATE_SEGMENT_SIZE, FENCE_ACK_SIZE, FENCE_SIZE, GET_PAGE_SIZE, PAGE_REPLY_FIXED,
    READ_POINT_SET_SIZE, SEGMENT_CREATED_SIZE, SET_READ_POINT_SIZE, TRUNCATE_ACK_SIZE,
    TRUNCATE_SIZE,
};

/// Shim → node: create the segment of `pg` on the owning core (idempotent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateSegment {
    /// The shim's epoch; the new segment starts at it.
    pub epoch: Epoch,
    pub pg: PgId,
    pub page_size: PageSize,
    /// First page of the PG's range.
    pub first_page: PageId,
    /// Pages in the range (at least 1; `first_page + page_count` does not wrap).
    pub page_count: u64,
}

/// Node → shim: the segment exists (now, or already with the same geometry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentCreated {
    pub pg: PgId,
    /// True if this request created it; false if it existed with the same geometry.
    pub created: bool,
    /// The segment's epoch.
    pub epoch: Epoch,
    pub scl: Lsn,
}

/// Shim → node: the PG's minimum read point (PGMRPL) is now `min_read_point`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetReadPoint {
    pub pg: PgId,
    pub epoch: Epoch,
    pub min_read_point: Lsn,
}

/// Node → shim: the segment's min read point after the request (never lowered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPointSet {
    pub pg: PgId,
    pub min_read_point: Lsn,
}

/// Shim → node: raise the segment's epoch to `epoch` (volume recovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence {
    pub pg: PgId,
    pub epoch: Epoch,
}

/// Node → shim: the segment's epoch after the fence, and its SCL (so one round trip
/// both fences and reads the SCL that volume recovery needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FenceAck {
    pub pg: PgId,
    pub epoch: Epoch,
    pub scl: Lsn,
}

/// Shim → node: annul the PG's records in `(start, end]`, durably, under `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncate {
    pub pg: PgId,
    pub epoch: Epoch,
    /// Exclusive lower bound (the VDL recovery found).
    pub start: Lsn,
    /// Inclusive upper bound (`start < end`).
    pub end: Lsn,
}

/// Node → shim: the truncation is durable; the segment's epoch and SCL after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncateAck {
    pub pg: PgId,
    pub epoch: Epoch,
    pub scl: Lsn,
}

/// Client → node: the page `page` of `pg` as of `read_point` (GetPage@LSN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetPage {
    pub pg: PgId,
    pub page: PageId,
    pub read_point: Lsn,
}

/// Node → client: the page payload as of the read point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageReply<'a> {
    pub pg: PgId,
    pub page: PageId,
    /// LSN of the last record applied to the page (0 for a page never written).
    pub page_lsn: Lsn,
    /// The page payload: `page_size - 32` bytes.
    pub payload: &'a [u8],
}

impl CreateSegment {
    pub(crate) fn check(&self) -> Result<()> {
        if self.page_count == 0 || self.first_page.get().checked_add(self.page_count).is_none() {
            return Err(ProtoError::InvalidField {
                message: "CreateSegment",
                field: "page_count",
                got: self.page_count,
                rule: "at least 1, and first_page + page_count must not pass u64::MAX",
            });
        }
        Ok(())
    }

    pub(crate) fn read(b: &mut Body<'_>) -> Result<CreateSegment> {
        let epoch = b.epoch("epoch")?;
        let pg = b.pg("pg")?;
        let bytes = b.u32("page_size")?;
        let page_size = PageSize::new(bytes).map_err(|_| ProtoError::InvalidField {
            message: b.message(),
            field: "page_size",
            got: bytes.into(),
            rule: "must be a power of two in 4096..=65536",
        })?;
        let m = CreateSegment {
            epoch,
            pg,
            page_size,
            first_page: b.page("first_page")?,
            page_count: b.u64("page_count")?,
        };
        debug_assert_eq!(b.pos(), CREATE_SEGMENT_SIZE);
        m.check()?;
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u64(self.epoch.get());
        out.put_u32(self.pg.get());
        out.put_u32(self.page_size.get());
        out.put_u64(self.first_page.get());
        out.put_u64(self.page_count);
        Ok(())
    }
}

impl SegmentCreated {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<SegmentCreated> {
        let pg = b.pg("pg")?;
        let created = b.bool("created")?;
        b.reserved(3)?;
        let m = SegmentCreated {
            pg,
            created,
            epoch: b.epoch("epoch")?,
            scl: b.lsn("scl")?,
        };
        debug_assert_eq!(b.pos(), SEGMENT_CREATED_SIZE);
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_u8(self.created.into());
        out.put_zeros(3);
        out.put_u64(self.epoch.get());
        out.put_u64(self.scl.get());
    }
}

impl SetReadPoint {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<SetReadPoint> {
        let pg = b.pg("pg")?;
        b.reserved(4)?;
        let m = SetReadPoint {
            pg,
            epoch: b.epoch("epoch")?,
            min_read_point: b.lsn("min_read_point")?,
        };
        debug_assert_eq!(b.pos(), SET_READ_POINT_SIZE);
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_zeros(4);
        out.put_u64(self.epoch.get());
        out.put_u64(self.min_read_point.get());
    }
}

impl ReadPointSet {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<ReadPointSet> {
        let pg = b.pg("pg")?;
        b.reserved(4)?;
        let m = ReadPointSet {
            pg,
            min_read_point: b.lsn("min_read_point")?,
        };
        debug_assert_eq!(b.pos(), READ_POINT_SET_SIZE);
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_zeros(4);
        out.put_u64(self.min_read_point.get());
    }
}

impl Fence {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<Fence> {
        let pg = b.pg("pg")?;
        b.reserved(4)?;
        let m = Fence {
            pg,
            epoch: b.epoch("epoch")?,
        };
        debug_assert_eq!(b.pos(), FENCE_SIZE);
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_zeros(4);
        out.put_u64(self.epoch.get());
    }
}

/// `FenceAck` and `TruncateAck` share one layout: pg, reserved, epoch, scl.
fn read_epoch_scl(b: &mut Body<'_>) -> Result<(PgId, Epoch, Lsn)> {
    let pg = b.pg("pg")?;
    b.reserved(4)?;
    Ok((pg, b.epoch("epoch")?, b.lsn("scl")?))
}

fn write_epoch_scl(out: &mut Vec<u8>, pg: PgId, epoch: Epoch, scl: Lsn) {
    out.put_u32(pg.get());
    out.put_zeros(4);
    out.put_u64(epoch.get());
    out.put_u64(scl.get());
}

impl FenceAck {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<FenceAck> {
        let (pg, epoch, scl) = read_epoch_scl(b)?;
        debug_assert_eq!(b.pos(), FENCE_ACK_SIZE);
        Ok(FenceAck { pg, epoch, scl })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        write_epoch_scl(out, self.pg, self.epoch, self.scl);
    }
}

impl TruncateAck {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<TruncateAck> {
        let (pg, epoch, scl) = read_epoch_scl(b)?;
        debug_assert_eq!(b.pos(), TRUNCATE_ACK_SIZE);
        Ok(TruncateAck { pg, epoch, scl })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        write_epoch_scl(out, self.pg, self.epoch, self.scl);
    }
}

impl Truncate {
    pub(crate) fn check(&self) -> Result<()> {
        if self.start >= self.end {
            return Err(ProtoError::LsnOutOfOrder {
                message: "Truncate",
                rule: "start < end",
                left: self.start,
                right: self.end,
            });
        }
        Ok(())
    }

    pub(crate) fn read(b: &mut Body<'_>) -> Result<Truncate> {
        let pg = b.pg("pg")?;
        b.reserved(4)?;
        let m = Truncate {
            pg,
            epoch: b.epoch("epoch")?,
            start: b.lsn("start")?,
            end: b.lsn("end")?,
        };
        debug_assert_eq!(b.pos(), TRUNCATE_SIZE);
        m.check()?;
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u32(self.pg.get());
        out.put_zeros(4);
        out.put_u64(self.epoch.get());
        out.put_u64(self.start.get());
        out.put_u64(self.end.get());
        Ok(())
    }
}

impl GetPage {
    pub(crate) fn read(b: &mut Body<'_>) -> Result<GetPage> {
        let pg = b.pg("pg")?;
        b.reserved(4)?;
        let m = GetPage {
            pg,
            page: b.page("page")?,
            read_point: b.lsn("read_point")?,
        };
        debug_assert_eq!(b.pos(), GET_PAGE_SIZE);
        Ok(m)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.pg.get());
        out.put_zeros(4);
        out.put_u64(self.page.get());
        out.put_u64(self.read_point.get());
    }
}

/// Whether `len` bytes are the payload of a valid page size.
fn payload_len_valid(len: usize) -> bool {
    u32::try_from(len + PAGE_HEADER_SIZE).is_ok_and(|b| PageSize::new(b).is_ok())
}

impl<'a> PageReply<'a> {
    pub(crate) fn check(&self) -> Result<()> {
        if !payload_len_valid(self.payload.len()) {
            return Err(ProtoError::InvalidField {
                message: "PageReply",
                field: "payload_len",
                got: self.payload.len() as u64,
                rule: "must be a page size less its 32-byte header",
            });
        }
        Ok(())
    }

    pub(crate) fn read(b: &mut Body<'a>) -> Result<PageReply<'a>> {
        let pg = b.pg("pg")?;
        let payload_len = b.u32("payload_len")?;
        if !payload_len_valid(payload_len as usize) {
            return Err(ProtoError::InvalidField {
                message: b.message(),
                field: "payload_len",
                got: payload_len.into(),
                rule: "must be a page size less its 32-byte header",
            });
        }
        let page = b.page("page")?;
        let page_lsn = b.lsn("page_lsn")?;
        debug_assert_eq!(b.pos(), PAGE_REPLY_FIXED);
        Ok(PageReply {
            pg,
            page,
            page_lsn,
            payload: b.bytes("payload", payload_len as usize)?,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u32(self.pg.get());
        // A valid payload is below 64 KiB.
        out.put_u32(self.payload.len() as u32);
        out.put_u64(self.page.get());
        out.put_u64(self.page_lsn.get());
        out.extend_from_slice(self.payload);
        Ok(())
    }
}
