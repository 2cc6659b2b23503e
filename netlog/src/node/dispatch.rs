//! The control and status requests of a connection, each a thin call into the core's
//! engine: create a segment, set the min read point, fence, truncate, a segment's
//! status, the core's status, a segment's truncation ranges. Appends, reads and
//! fetches have their own paths in `conn.rs` (they are the hot or the asynchronous
//! ones).
//!
//! Must never: create a segment over one of another geometry (refused, naming the
//! geometry held); lower an epoch; accept a read point from a stale epoch.

use boreal_engine::hotlog::HoleKind as EngineHoleKind;
use boreal_engine::io::Io;
use boreal_engine::node::SegmentStatus;
use boreal_segment::{Epoch, PageId, PgId};

use super::core::CoreCtx;
use super::refuse::reason_of;
use crate::limits::{CORE_STATUS_SEGMENTS_MAX, STATUS_HOLES_MAX};
use crate::proto::{
    CoreStatusReply, CreateSegment, FenceAck, Hole, HoleKind, Message, ReadPointSet, Reason,
    SegmentCreated, SegmentSummary, Seq, StatusReply, TruncateAck, TruncationRange,
    TruncationsReply,
};

/// An answer to a control or status request, owning what it lists.
pub(crate) enum Reply {
    Created(SegmentCreated),
    ReadPoint(ReadPointSet),
    Fenced(FenceAck),
    Truncated(TruncateAck),
    Status {
        status: SegmentStatus,
        pg: PgId,
        holes: Vec<Hole>,
    },
    Core {
        core_index: u16,
        more: bool,
        segments: Vec<SegmentSummary>,
    },
    Truncations {
        pg: PgId,
        ranges: Vec<TruncationRange>,
    },
}

impl Reply {
    /// The wire message, borrowing the lists.
    pub(crate) fn message(&self) -> Message<'_> {
        match self {
            Reply::Created(m) => Message::SegmentCreated(*m),
            Reply::ReadPoint(m) => Message::ReadPointSet(*m),
            Reply::Fenced(m) => Message::FenceAck(*m),
            Reply::Truncated(m) => Message::TruncateAck(*m),
            Reply::Status { status, pg, holes } => Message::StatusReply(StatusReply {
                pg: *pg,
                page_size: status.page_size,
                epoch: status.epoch,
                scl: status.scl,
                materialized_lsn: status.materialized_lsn,
                min_read_point: status.min_read_point,
                backlog_bytes: status.backlog_bytes as u64,
                backlog_age_us: u64::try_from(status.backlog_age.as_micros()).unwrap_or(u64::MAX),
                hot_records: status.hot_records as u64,
                holes: Seq::from_slice(holes),
            }),
            Reply::Core {
                core_index,
                more,
                segments,
            } => Message::CoreStatusReply(CoreStatusReply {
                core_index: *core_index,
                more: *more,
                segments: Seq::from_slice(segments),
            }),
            Reply::Truncations { pg, ranges } => Message::TruncationsReply(TruncationsReply {
                pg: *pg,
                ranges: Seq::from_slice(ranges),
            }),
        }
    }
}

type Refused = (Reason, String);

fn refused(e: &boreal_engine::node::EngineError, pg: PgId) -> Refused {
    (reason_of(e, pg), e.to_string())
}

/// Carries out one control or status request (anything but `Hello`, `AppendBatch`,
/// `GetPage` and `FetchRecords`, which the connection handles itself).
pub(crate) async fn control<I: Io + 'static>(
    ctx: &CoreCtx<I>,
    msg: Message<'_>,
) -> Result<Reply, Refused> {
    let engine = &ctx.engine;
    let own = |pg: PgId| {
        ctx.owns(pg)
            .map_err(|r| (r, "another core of this node owns the PG".to_string()))
    };
    match msg {
        Message::CreateSegment(c) => {
            own(c.pg)?;
            create(ctx, c).await
        }
        Message::SetReadPoint(s) => {
            own(s.pg)?;
            let st = engine.status(s.pg).map_err(|e| refused(&e, s.pg))?;
            if s.epoch < st.epoch {
                return Err((
                    Reason::StaleEpoch {
                        pg: s.pg,
                        current: st.epoch,
                    },
                    format!("read point of {} below the segment's {}", s.epoch, st.epoch),
                ));
            }
            engine
                .set_min_read_point(s.pg, s.min_read_point)
                .map_err(|e| refused(&e, s.pg))?;
            let st = engine.status(s.pg).map_err(|e| refused(&e, s.pg))?;
            Ok(Reply::ReadPoint(ReadPointSet {
                pg: s.pg,
                min_read_point: st.min_read_point,
            }))
        }
        Message::Fence(f) => {
            own(f.pg)?;
            let epoch = engine
                .fence(f.pg, f.epoch)
                .await
                .map_err(|e| refused(&e, f.pg))?;
            let scl = engine.status(f.pg).map_err(|e| refused(&e, f.pg))?.scl;
            Ok(Reply::Fenced(FenceAck {
                pg: f.pg,
                epoch,
                scl,
            }))
        }
        Message::Truncate(t) => {
            own(t.pg)?;
            let scl = engine
                .truncate(t.pg, t.epoch, t.start, t.end)
                .await
                .map_err(|e| refused(&e, t.pg))?;
            let epoch = engine.status(t.pg).map_err(|e| refused(&e, t.pg))?.epoch;
            Ok(Reply::Truncated(TruncateAck {
                pg: t.pg,
                epoch,
                scl,
            }))
        }
        Message::SegmentStatus(s) => {
            own(s.pg)?;
            let status = engine.status(s.pg).map_err(|e| refused(&e, s.pg))?;
            let holes = status
                .holes
                .iter()
                .take(STATUS_HOLES_MAX)
                .map(|h| Hole {
                    start: h.range.start,
                    end: h.range.end,
                    kind: match h.kind {
                        EngineHoleKind::Backlink => HoleKind::Backlink,
                        EngineHoleKind::Reported => HoleKind::Reported,
                    },
                })
                .collect();
            Ok(Reply::Status {
                status,
                pg: s.pg,
                holes,
            })
        }
        Message::CoreStatus(c) => {
            let mut pgs: Vec<PgId> = engine
                .segments()
                .into_iter()
                .filter(|&pg| pg >= c.first_pg)
                .collect();
            pgs.sort_unstable();
            let more = pgs.len() > CORE_STATUS_SEGMENTS_MAX;
            pgs.truncate(CORE_STATUS_SEGMENTS_MAX);
            let mut segments = Vec::with_capacity(pgs.len());
            for pg in pgs {
                let s = engine.status(pg).map_err(|e| refused(&e, pg))?;
                segments.push(SegmentSummary {
                    pg,
                    page_size: s.page_size,
                    epoch: s.epoch,
                    scl: s.scl,
                    materialized_lsn: s.materialized_lsn,
                    min_read_point: s.min_read_point,
                });
            }
            Ok(Reply::Core {
                core_index: ctx.id.core_index,
                more,
                segments,
            })
        }
        Message::Truncations(t) => {
            own(t.pg)?;
            // At most META_TRUNCATIONS_MAX (the engine refuses a longer list), which
            // limits.rs checks is within TRUNCATIONS_MAX.
            let ranges = engine
                .truncations(t.pg)
                .map_err(|e| refused(&e, t.pg))?
                .into_iter()
                .map(|t| TruncationRange {
                    epoch: t.epoch,
                    start: t.range.start,
                    end: t.range.end,
                })
                .collect();
            Ok(Reply::Truncations { pg: t.pg, ranges })
        }
        other => Err((
            Reason::Malformed {
                tag: other.tag().get(),
            },
            format!(
                "{} is not a request a node answers here",
                other.tag().name()
            ),
        )),
    }
}

/// Creates the segment, or confirms one of the same geometry (a retried create).
async fn create<I: Io + 'static>(ctx: &CoreCtx<I>, c: CreateSegment) -> Result<Reply, Refused> {
    let engine = &ctx.engine;
    let held = engine.segment_geometry(c.pg);
    let created = match held {
        Some((page_size, first, count))
            if page_size == c.page_size && first == c.first_page.get() && count == c.page_count =>
        {
            false
        }
        Some((page_size, first, count)) => {
            return Err((
                Reason::SegmentExists {
                    pg: c.pg,
                    page_size,
                    first_page: PageId::new(first),
                    page_count: count,
                },
                format!(
                    "{} exists with {} pages of {} bytes from page {first}",
                    c.pg,
                    count,
                    page_size.get()
                ),
            ));
        }
        None => {
            engine
                .create_segment(c.pg, c.page_size, c.first_page.get(), c.page_count)
                .await
                .map_err(|e| refused(&e, c.pg))?;
            true
        }
    };
    // The creating shim's epoch: the segment never accepts an older writer.
    if c.epoch > Epoch::ZERO {
        engine
            .fence(c.pg, c.epoch)
            .await
            .map_err(|e| refused(&e, c.pg))?;
    }
    let st = engine.status(c.pg).map_err(|e| refused(&e, c.pg))?;
    Ok(Reply::Created(SegmentCreated {
        pg: c.pg,
        created,
        epoch: st.epoch,
        scl: st.scl,
    }))
}
