//! Control of a core's segments: create a segment, fence (raise the epoch), truncate,
//! and move the min read point. Each is a thin call the network layer makes for the
//! compute shim's volume recovery and read tracking.
//!
//! Must never: acknowledge a fence or truncation before it is durable in both the
//! journal and the segment's metadata file (see `segment::write_meta_now` for why
//! both); truncate below what is materialized or being materialized; let an epoch go
//! down.

use std::rc::Rc;

use boreal_segment::{Epoch, Lsn, PageSize, PgId, Record, SegmentMeta, Truncate};

use super::engine::CoreEngine;
use super::error::EngineError;
use super::notify::Lock;
use super::segment::{SegState, Segment, write_meta_now};
use crate::hotlog::{HotLog, LsnRange};
use crate::io::Io;
use crate::pages::{
    CATALOG_SEGMENTS_MAX, CatalogEntry, DurableMeta, MetaFile, PageFile, meta_file_path,
    page_file_path,
};

impl<I: Io + 'static> CoreEngine<I> {
    /// Creates the segment of `pg` (pages `[first_page, first_page + page_count)` of
    /// `page_size`), durably: page file, metadata file, then the catalog entry.
    pub async fn create_segment(
        &self,
        pg: PgId,
        page_size: PageSize,
        first_page: u64,
        page_count: u64,
    ) -> Result<(), EngineError> {
        let inner = &self.inner;
        inner.check_alive()?;
        if inner.segments.borrow().contains_key(&pg) {
            return Err(EngineError::SegmentExists { pg });
        }
        if inner.entries.borrow().len() >= CATALOG_SEGMENTS_MAX {
            return Err(EngineError::TooManySegments {
                max: CATALOG_SEGMENTS_MAX,
            });
        }
        let entry = CatalogEntry {
            pg,
            page_size,
            first_page,
            page_count,
        };
        let dir = &inner.cfg.dir;
        let pages = PageFile::create(
            inner.io.clone(),
            &page_file_path(dir, pg),
            pg,
            page_size,
            first_page,
            page_count,
            inner.cfg.page_file_grow_bytes,
        )
        .await?;
        let initial = DurableMeta {
            meta: SegmentMeta {
                pg_id: pg,
                epoch: Epoch::ZERO,
                materialized_lsn: Lsn::ZERO,
                scl: Lsn::ZERO,
                sequence: 0,
                page_size,
            },
            truncations: Vec::new(),
        };
        let meta = MetaFile::create(inner.io.clone(), &meta_file_path(dir, pg), &initial).await?;
        if inner.segments.borrow().contains_key(&pg) {
            return Err(EngineError::SegmentExists { pg });
        }
        let mut entries = inner.entries.borrow().clone();
        entries.push(entry);
        inner.catalog.write(&entries).await?;
        *inner.entries.borrow_mut() = entries;
        let seg = Segment {
            pg,
            page_size,
            pages,
            meta,
            meta_lock: Lock::default(),
            st: std::cell::RefCell::new(SegState::new(HotLog::new(pg, Lsn::ZERO), Epoch::ZERO)),
        };
        inner.segments.borrow_mut().insert(pg, Rc::new(seg));
        Ok(())
    }

    /// The geometry of the segment of `pg`, if this core holds one: its page size,
    /// first page and page count (what `create_segment` was given).
    pub fn segment_geometry(&self, pg: PgId) -> Option<(PageSize, u64, u64)> {
        self.inner
            .entries
            .borrow()
            .iter()
            .find(|e| e.pg == pg)
            .map(|e| (e.page_size, e.first_page, e.page_count))
    }

    /// Durably raises the segment's epoch to `epoch` (volume recovery fencing the old
    /// writer); refuses a lower one. Returns the segment's epoch.
    pub async fn fence(&self, pg: PgId, epoch: Epoch) -> Result<Epoch, EngineError> {
        let inner = &self.inner;
        inner.check_alive()?;
        let seg = inner.segment(pg)?;
        let m = {
            let mut st = seg.st.borrow_mut();
            if epoch < st.epoch {
                return Err(EngineError::StaleEpoch {
                    pg,
                    got: epoch,
                    current: st.epoch,
                });
            }
            if epoch == st.epoch {
                return Ok(epoch);
            }
            st.meta_generation += 1;
            st.epoch_changes_in_flight += 1;
            seg.epoch_record(&st, epoch)
        };
        let res = inner.journal.append(&[Record::SegmentMeta(m)]).await;
        seg.st.borrow_mut().epoch_changes_in_flight -= 1;
        if let Err(e) = res {
            return Err(inner.journal_refused(e, true));
        }
        {
            let mut st = seg.st.borrow_mut();
            st.epoch = st.epoch.max(epoch);
            st.meta_generation += 1;
        }
        write_meta_now(inner, &seg).await?;
        Ok(seg.st.borrow().epoch)
    }

    /// Applies the truncation `(start, end]` of `epoch` once a `Truncate` record is
    /// durable in the journal. Returns the SCL after it.
    pub async fn truncate(
        &self,
        pg: PgId,
        epoch: Epoch,
        start: Lsn,
        end: Lsn,
    ) -> Result<Lsn, EngineError> {
        let inner = &self.inner;
        inner.check_alive()?;
        let seg = inner.segment(pg)?;
        if start >= end {
            return Err(EngineError::InvalidRange { pg, start, end });
        }
        let range = LsnRange::new(start, end);
        {
            let mut st = seg.st.borrow_mut();
            if epoch < st.epoch {
                return Err(EngineError::StaleEpoch {
                    pg,
                    got: epoch,
                    current: st.epoch,
                });
            }
            let busy = st.hot.floor().max(if st.pass_in_flight {
                st.materializing_to
            } else {
                Lsn::ZERO
            });
            if start < busy
                && !st
                    .hot
                    .truncations()
                    .contains(&crate::hotlog::Truncation { epoch, range })
            {
                return Err(EngineError::TruncateBelowMaterialized {
                    pg,
                    range,
                    materialized: busy,
                });
            }
            if let Some(newer) = st.hot.truncations().iter().find(|t| t.epoch > epoch) {
                return Err(crate::hotlog::HotLogError::StaleTruncation {
                    pg,
                    epoch,
                    range,
                    applied: *newer,
                }
                .into());
            }
            st.truncation_caps.push(start);
            st.meta_generation += 1;
        }
        let rec = Record::Truncate(Truncate {
            pg_id: pg,
            epoch,
            start,
            end,
        });
        let res = inner.journal.append(&[rec]).await;
        {
            let mut st = seg.st.borrow_mut();
            if let Some(i) = st.truncation_caps.iter().position(|&c| c == start) {
                st.truncation_caps.swap_remove(i);
            }
            st.meta_generation += 1;
            if let Err(e) = res {
                drop(st);
                return Err(inner.journal_refused(e, true));
            }
            let st = &mut *st;
            let bytes_before = st.hot.bytes();
            let truncated = st.hot.truncate(epoch, range);
            inner.backlog.hot_moved(bytes_before, st.hot.bytes());
            truncated?;
            st.epoch = st.epoch.max(epoch);
            inner
                .backlog
                .annulled(&mut st.arrivals, range, st.hot.is_empty());
        }
        write_meta_now(inner, &seg).await?;
        Ok(seg.st.borrow().hot.scl())
    }

    /// Raises the segment's min read point (PGMRPL); lower values are ignored. Reads
    /// below it are refused and the coalescer may materialize up to it.
    pub fn set_min_read_point(&self, pg: PgId, lsn: Lsn) -> Result<(), EngineError> {
        let seg = self.inner.segment(pg)?;
        let mut st = seg.st.borrow_mut();
        if lsn > st.min_read_point {
            st.min_read_point = lsn;
            drop(st);
            self.inner.wake.notify_all();
        }
        Ok(())
    }
}
