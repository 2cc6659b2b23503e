//! One segment (the PG's share on this core): its files, its in-memory state, and the
//! one way its metadata file is written.
//!
//! What it owns: [`Segment`] (page file, metadata file and the lock that orders
//! metadata writes) and [`SegState`] (hot log, epoch, min read point, what the
//! coalescer and control operations have in flight, the arrival list of the backlog).
//! The metadata file is written only by [`write_meta_now`] and by the coalescer, each
//! under `meta_lock`, from the state seen once the lock is held, so the file never
//! goes back to an older state.
//!
//! Must never: write the metadata file without holding `meta_lock`; list in the
//! metadata a truncation that ends at or below the materialized LSN it writes (those
//! can no longer matter, and the file has room for a bounded number).

use std::cell::RefCell;

use boreal_segment::{Epoch, Lsn, PgId, Record, Redo, SegmentMeta, ValidRecord};

use super::append::AppendRecord;
use super::backlog::Arrivals;
use super::engine::Inner;
use super::error::EngineError;
use super::notify::Lock;
use crate::hotlog::{HotLog, change_fits_payload};
use crate::io::Io;
use crate::pages::{DurableMeta, MetaFile, PageFile};
use boreal_segment::PageSize;

pub(crate) struct Segment<I: Io> {
    pub(crate) pg: PgId,
    pub(crate) page_size: PageSize,
    pub(crate) pages: PageFile<I>,
    pub(crate) meta: MetaFile<I>,
    /// Orders writes of `meta`: each computes its contents from the state it sees
    /// once it holds the lock, so the file never goes back to an older state.
    pub(crate) meta_lock: Lock,
    pub(crate) st: RefCell<SegState>,
}

pub(crate) struct SegState {
    pub(crate) hot: HotLog,
    pub(crate) epoch: Epoch,
    pub(crate) min_read_point: Lsn,
    /// A coalescer pass is between choosing its target and moving the floor.
    pub(crate) pass_in_flight: bool,
    /// The target of the pass in flight (truncations may not start below it).
    pub(crate) materializing_to: Lsn,
    /// Lowest start of truncations being journaled: the coalescer stays below it.
    pub(crate) truncation_caps: Vec<Lsn>,
    /// Bumped each time the floor moves (reads retry if it moved under them).
    pub(crate) floor_generation: u64,
    /// Bumped when a truncation or an epoch change starts and ends: the coalescer
    /// releases the journal's metadata records only if its metadata write saw the
    /// latest state.
    pub(crate) meta_generation: u64,
    /// Epoch changes (fence, or an append raising the epoch) being journaled: their
    /// `SegmentMeta` record is not in the metadata file yet, so the coalescer must not
    /// release the segment's metadata records. (Truncations in flight are
    /// `truncation_caps`.)
    pub(crate) epoch_changes_in_flight: u32,
    /// The segment's unmaterialized appends (the core's `Backlog` keeps it).
    pub(crate) arrivals: Arrivals,
}

impl SegState {
    /// The state of a segment just opened or created: its hot log (empty, at its
    /// floor) and durable epoch.
    pub(crate) fn new(hot: HotLog, epoch: Epoch) -> SegState {
        SegState {
            min_read_point: hot.floor(),
            hot,
            epoch,
            pass_in_flight: false,
            materializing_to: Lsn::ZERO,
            truncation_caps: Vec::new(),
            floor_generation: 0,
            meta_generation: 0,
            epoch_changes_in_flight: 0,
            arrivals: Arrivals::default(),
        }
    }
}

impl<I: Io> Segment<I> {
    /// The `SegmentMeta` journal record that raises the segment's epoch to `epoch`.
    pub(crate) fn epoch_record(&self, st: &SegState, epoch: Epoch) -> SegmentMeta {
        SegmentMeta {
            pg_id: self.pg,
            epoch,
            materialized_lsn: st.hot.floor(),
            scl: st.hot.scl(),
            sequence: 0,
            page_size: self.page_size,
        }
    }

    /// The checks of an arriving record that depend on the segment alone (the hot
    /// log judges the rest): a redo record, the format's rules (a `ValidRecord` was
    /// checked by its maker), the PG, the page range, the change inside a page payload.
    /// Returns the redo record and the record as the journal takes it, checked: the
    /// one time an append's records are checked against the format.
    pub(crate) fn check_record<'r, R: AppendRecord<'r>>(
        &self,
        record: &R,
    ) -> Result<(Redo<'r>, ValidRecord<'r>), EngineError> {
        let r = match record.record() {
            Record::Redo(r) => r,
            other => {
                return Err(EngineError::InvalidRecord {
                    pg: self.pg,
                    lsn: Lsn::ZERO,
                    why: format!("a {:?} record: only redo is appended", other.kind()),
                });
            }
        };
        let invalid = |why: String| EngineError::InvalidRecord {
            pg: self.pg,
            lsn: r.lsn,
            why,
        };
        let valid = record.valid().map_err(|e| invalid(e.to_string()))?;
        if r.pg_id != self.pg {
            return Err(invalid(format!("belongs to {}", r.pg_id)));
        }
        if !self.pages.holds(r.page_id) {
            return Err(invalid(format!("{} is not in this PG", r.page_id)));
        }
        if !change_fits_payload(&r.change, self.page_size.payload_len()) {
            return Err(invalid(format!(
                "change does not fit a {}-byte page",
                self.page_size.get()
            )));
        }
        Ok((r, valid))
    }
}

/// The segment's metadata as of `st`, with `materialized` as its materialized LSN (the
/// floor, or a pass's target once its pages are durable): the epoch, and the
/// truncations that end above it (those at or below it can no longer matter).
pub(crate) fn durable_meta<I: Io>(
    seg: &Segment<I>,
    st: &SegState,
    materialized: Lsn,
) -> DurableMeta {
    DurableMeta {
        meta: SegmentMeta {
            pg_id: seg.pg,
            epoch: st.epoch,
            materialized_lsn: materialized,
            scl: st.hot.scl(),
            sequence: 0,
            page_size: seg.page_size,
        },
        truncations: st
            .hot
            .truncations()
            .iter()
            .filter(|t| t.range.end > materialized)
            .copied()
            .collect(),
    }
}

/// Writes the segment's metadata file from its state now (see [`durable_meta`]),
/// after any metadata write in flight. Truncations and epoch changes call it before
/// they are acknowledged, so each is durable in two places: its journal record and
/// this file. The journal alone cannot be trusted with them: damage to the header of
/// the last acknowledged batch, or its write lost by the device, looks like a torn
/// write and is cut at recovery (what sector stamps cannot tell, `journal/decide.rs`),
/// and a lost truncation would bring annulled records back, a lost epoch would let a
/// fenced writer in. Any write error stops the engine (fail-stop).
pub(crate) async fn write_meta_now<I: Io>(
    inner: &Inner<I>,
    seg: &Segment<I>,
) -> Result<(), EngineError> {
    let _held = seg.meta_lock.lock().await;
    let durable = {
        let st = seg.st.borrow();
        durable_meta(seg, &st, st.hot.floor())
    };
    if let Err(e) = seg.meta.write(&durable).await {
        inner.fail_store(seg.pg, "metadata write", &e);
        return Err(e.into());
    }
    Ok(())
}
