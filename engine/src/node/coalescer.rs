//! The coalescer of one core: materializes each segment's hot log into its page file.
//!
//! A pass over a segment: pick the target (the highest chain point at or below
//! min(SCL, min read point), below any truncation being journaled, at most
//! `coalesce_pass_bytes_max` of redo past the floor); copy those records out; for each
//! page they touch, take the base image (page cache or store), apply them, write the
//! new image into the page's other slot; `fdatasync` the page file; install the new
//! images in the page cache; write the segment metadata (materialized LSN = target)
//! durably; move the hot log's floor (dropping the records); and only then tell the
//! journal it may recycle up to the target. The order is what makes a crash at any
//! point safe: until the metadata write completes, the journal still holds every
//! record above the old materialized LSN, and the old page images are untouched.
//!
//! It never materializes above the SCL or the min read point, never releases the
//! journal before the metadata is durable (nor its metadata records if a truncation or
//! epoch change raced the metadata write or is still being journaled), and stops the core on any page-store I/O error (fail-stop: a
//! failed sync may have dropped pages, NVMe-NOTES / DESIGN §6).

use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use boreal_segment::{PageId, SegmentMeta};

use super::cache::CachedPage;
use super::engine::{Inner, Segment};
use super::error::EngineError;
use super::wal::Wal;
use crate::hotlog::OwnedRedo;
use crate::io::Io;
use crate::pages::DurableMeta;

/// The background task: passes until nothing is left to do, then sleeps until woken
/// or `coalesce_interval` passes. Ends when the engine is dropped or has failed.
pub(crate) async fn run<I: Io, W: Wal>(weak: Weak<Inner<I, W>>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        match pass(&inner).await {
            Ok(0) => {
                let interval = inner.cfg.coalesce_interval;
                let _ = crate::rt::timeout(interval, inner.wake.notified()).await;
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// One pass over every segment; returns the records materialized. An I/O error stops
/// the core.
pub(crate) async fn pass<I: Io, W: Wal>(inner: &Inner<I, W>) -> Result<usize, EngineError> {
    let segments: Vec<Rc<Segment<I>>> = inner.segments.borrow().values().cloned().collect();
    let mut total = 0;
    for seg in segments {
        match coalesce_segment(inner, &seg).await {
            Ok(n) => total += n,
            Err(e) => {
                inner.fail(format!("coalescer, {}: {e}", seg.pg));
                return Err(e);
            }
        }
    }
    inner.stats.borrow_mut().coalescer_passes += 1;
    Ok(total)
}

/// Clears `pass_in_flight` however the pass ends (error, or the task dropped).
struct PassGuard<'a, I: Io>(&'a Segment<I>);

impl<I: Io> Drop for PassGuard<'_, I> {
    fn drop(&mut self) {
        self.0.st.borrow_mut().pass_in_flight = false;
    }
}

async fn coalesce_segment<I: Io, W: Wal>(
    inner: &Inner<I, W>,
    seg: &Segment<I>,
) -> Result<usize, EngineError> {
    let (target, groups, count, floor) = {
        let mut st = seg.st.borrow_mut();
        if st.pass_in_flight {
            return Ok(0);
        }
        let mut limit = st.min_read_point;
        if let Some(&cap) = st.truncation_caps.iter().min() {
            limit = limit.min(cap);
        }
        let floor = st.hot.floor();
        let top = st.hot.chain_point_at_or_below(limit);
        if top <= floor {
            return Ok(0);
        }
        let mut groups: BTreeMap<PageId, Vec<OwnedRedo>> = BTreeMap::new();
        let (mut bytes, mut target, mut count) = (0usize, floor, 0usize);
        for r in st.hot.records_in(floor, top) {
            if bytes > 0 && bytes + r.backlog_bytes() > inner.cfg.coalesce_pass_bytes_max {
                break;
            }
            bytes += r.backlog_bytes();
            target = r.lsn;
            count += 1;
            groups.entry(r.page_id).or_default().push(r.clone());
        }
        st.pass_in_flight = true;
        st.materializing_to = target;
        (target, groups, count, floor)
    };
    let guard = PassGuard(seg);
    let mut written: Vec<(PageId, CachedPage)> = Vec::with_capacity(groups.len());
    for (page, records) in groups {
        let cached = inner.cache.borrow_mut().get((seg.pg, page));
        let base = match cached {
            Some(c) => c,
            None => {
                let s = seg.pages.read_at_most(page, floor).await?;
                CachedPage {
                    payload: s.payload.into(),
                    page_lsn: s.page_lsn,
                    slot: s.slot,
                }
            }
        };
        let mut payload = base.payload.to_vec();
        let mut page_lsn = base.page_lsn;
        for r in records.iter().filter(|r| r.lsn > base.page_lsn) {
            // The page chain must continue from the base: a stale base (its newest
            // image destroyed on disk) would otherwise be materialized silently.
            if r.prev_lsn_page != page_lsn {
                return Err(EngineError::PageChainBroken {
                    pg: seg.pg,
                    page,
                    lsn: target,
                    record: r.lsn,
                    expected: page_lsn,
                    got: r.prev_lsn_page,
                });
            }
            r.apply_to(&mut payload);
            page_lsn = r.lsn;
        }
        let slot = match base.slot {
            Some(s) => 1 - s,
            None => 0,
        };
        seg.pages.write(page, slot, &payload, page_lsn).await?;
        written.push((
            page,
            CachedPage {
                payload: payload.into(),
                page_lsn,
                slot: Some(slot),
            },
        ));
    }
    seg.pages.sync().await?;
    {
        let mut cache = inner.cache.borrow_mut();
        for (page, image) in &written {
            cache.insert((seg.pg, *page), image.clone());
        }
    }
    let (durable, generation) = {
        let st = seg.st.borrow();
        assert!(
            st.hot.scl() >= target,
            "{}: scl {} fell below the pass target {target}",
            seg.pg,
            st.hot.scl()
        );
        let durable = DurableMeta {
            meta: SegmentMeta {
                pg_id: seg.pg,
                epoch: st.epoch,
                materialized_lsn: target,
                scl: st.hot.scl(),
                sequence: 0,
                page_size: seg.page_size,
            },
            truncations: st
                .hot
                .truncations()
                .iter()
                .filter(|t| t.range.end > target)
                .copied()
                .collect(),
        };
        (durable, st.meta_generation)
    };
    seg.meta.write(&durable).await?;
    let release_meta = {
        let mut st = seg.st.borrow_mut();
        st.hot.advance_floor(target);
        st.floor_generation += 1;
        while st.arrivals.front().is_some_and(|&(lsn, _)| lsn <= target) {
            st.arrivals.pop_front();
        }
        st.meta_generation == generation
            && st.epoch_changes_in_flight == 0
            && st.truncation_caps.is_empty()
    };
    drop(guard);
    // The metadata file now says `target` is materialized: redo up to it is only
    // needed from the page store. Metadata records are released only if the write saw
    // every truncation and epoch change (none started, ended or is still in flight).
    inner.wal.release(seg.pg, target);
    if release_meta {
        inner.wal.release_meta(seg.pg);
    }
    {
        let mut stats = inner.stats.borrow_mut();
        stats.pages_written += written.len() as u64;
        stats.records_materialized += count as u64;
    }
    inner.progress.notify_all();
    Ok(count)
}
