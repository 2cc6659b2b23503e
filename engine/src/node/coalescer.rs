//! The coalescer of one core: materializes each segment's hot log into its page file.
//!
//! When: a background pass is due once the core's backlog passes
//! `coalesce_start_percent` of `backlog_bytes_max` (or its oldest append that share of
//! `backlog_age_max`), once the journal asks for space (`Journal::wants_release`), or when
//! an append waits at the bound (which implies the first two). The task checks on every
//! wake-up and every `coalesce_interval`. Waiting for a backlog is what makes a page
//! write worth it: a page rewritten for a handful of records costs a whole page of
//! device bytes each time, one rewritten for a backlog's worth of records costs the same
//! once (device bytes per redo byte, NVMe-NOTES).
//!
//! A pass over a segment: pick the target (the highest chain point at or below
//! min(SCL, min read point), below any truncation being journaled, at most
//! `coalesce_pass_bytes_max` of redo past the floor and at most
//! `coalesce_pass_image_bytes_max` of pages touched), noting the pages it touches; take
//! each page's base image (page cache, copied a chunk of pages at a time with a yield
//! between, or the store: reads at depth); apply the records
//! straight from the hot log, in LSN order, a chunk at a time with a yield between
//! chunks (the range `(floor, target]` cannot change while the pass is in flight:
//! nothing arrives at or below the SCL, and truncations may not start below the
//! target); write each new image into the page's other slot (writes at depth);
//! `fdatasync` the page file; install the new images in the page cache; write the
//! segment metadata (materialized LSN = target) durably; move the hot log's floor
//! (dropping the records, with the per-page counts the pass knows); and only then tell the journal it may recycle up to the
//! target. The order is what makes a crash at any point safe: until the metadata write
//! completes, the journal still holds every record above the old materialized LSN, and
//! the old page images are untouched.
//!
//! It never materializes above the SCL or the min read point, never releases the
//! journal before the metadata is durable (nor its metadata records if a truncation or
//! epoch change raced the metadata write or is still being journaled), never copies a
//! record out of the hot log, and stops the core on any page-store I/O error
//! (fail-stop: a failed sync may have dropped pages, NVMe-NOTES / DESIGN §6).

use std::collections::hash_map::Entry;
use std::rc::{Rc, Weak};

use boreal_segment::{Change, Lsn, PageId, Redo};

use super::cache::CachedPage;
use super::engine::Inner;
use super::error::{EngineError, Failure};
use super::segment::{Segment, durable_meta};
use crate::buf::prefetch;
use crate::hotlog::{apply_change, backlog_bytes};
use crate::idmap::IdMap;
use crate::io::Io;
use crate::pages::{PageWrite, StoredPage, try_at_depth};
use crate::rt::yield_to_io;

/// Records a pass applies between two yields to the executor (~0.3 ms of 128-byte
/// records), so appends and journal completions are not held up by a large pass: a
/// piece is the longest an append waits for the coalescer. 4,096 (0.5-0.65 ms) put
/// the 128 B × 256 job's commit p99 at 0.93-0.95 ms, 1,024 cost 6-9% of its records/s
/// (NVMe-NOTES "Yielding to the I/O").
const APPLY_CHUNK_RECORDS: usize = 2048;

/// Base images a pass copies from the page cache between two yields.
const BASE_COPY_CHUNK_PAGES: usize = 64;

/// How many records ahead the apply loop prefetches the page lines a record writes.
const APPLY_PREFETCH_AHEAD: usize = 8;

/// Prefetches the first and last cache line `r`'s change writes in `payload`.
fn prefetch_change(r: &Redo<'_>, payload: &[u8]) {
    let (at, len) = match r.change {
        Change::Delta { offset, bytes } => (offset as usize, bytes.len()),
        Change::Image(bytes) => (0, bytes.len()),
    };
    prefetch(payload, at);
    prefetch(payload, at + len.saturating_sub(1));
}

/// The background task: a pass whenever one is due (see the module docs) and until one
/// materializes nothing, then sleeps until woken or `coalesce_interval` passes. Ends
/// when the engine is dropped or has failed.
pub(crate) async fn run<I: Io>(weak: Weak<Inner<I>>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if pass_due(&inner) {
            match pass(&inner).await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(_) => return,
            }
        }
        let interval = inner.cfg.coalesce_interval;
        let _ = crate::rt::timeout(interval, inner.wake.notified()).await;
    }
}

/// Writes a pass's pages. While the backlog is far from its bound
/// (`coalesce_pace_below_percent`), `coalesce_paced_depth` writes at a time, each group
/// after the journal's next batch turned durable (or 1 ms, if the journal is idle): the
/// journal's durable writes, which appends wait for, then find the device with at most
/// that many page writes queued ahead of them, and each page write's bytes are flushed
/// by the journal's next flush instead of in one page-file sync's burst. Once the
/// backlog is closer to its bound, the rest go at `depth` at once.
async fn write_paced<I: Io>(
    inner: &Inner<I>,
    seg: &Segment<I>,
    writes: &[PageWrite<'_>],
    depth: usize,
) -> Result<(), EngineError> {
    let percent = inner.cfg.coalesce_pace_below_percent;
    let step = inner.cfg.coalesce_paced_depth.min(depth).max(1);
    let mut at = 0;
    while at < writes.len() && percent > 0 && !backlog_above(inner, percent) {
        let end = (at + step).min(writes.len());
        seg.pages.write_many(&writes[at..end], step).await?;
        at = end;
        if at < writes.len() {
            let next = inner
                .journal
                .durable_seq()
                .map_or(boreal_segment::BatchSeq::new(0), |s| s.next());
            let wait = std::future::poll_fn(|cx| inner.journal.poll_durable(next, cx));
            let _ = crate::rt::timeout(PACE_WAIT_MAX, wait).await;
        }
    }
    if at < writes.len() {
        seg.pages.write_many(&writes[at..], depth).await?;
    }
    Ok(())
}

/// Longest a paced pass waits for the journal's next batch between two groups of page
/// writes (an idle journal has none coming).
const PACE_WAIT_MAX: std::time::Duration = std::time::Duration::from_millis(1);

/// Whether the backlog is above `percent` of either of its bounds.
fn backlog_above<I: Io>(inner: &Inner<I>, percent: u32) -> bool {
    let (bytes, age) = inner.backlog(inner.io.now());
    bytes as u128 * 100 > inner.cfg.backlog_bytes_max as u128 * u128::from(percent)
        || age * 100 > inner.cfg.backlog_age_max * percent
}

/// Whether a background pass should start now.
fn pass_due<I: Io>(inner: &Inner<I>) -> bool {
    let percent = inner.cfg.coalesce_start_percent;
    if percent == 0 || inner.journal.wants_release() {
        return true;
    }
    let (bytes, age) = inner.backlog(inner.io.now());
    let bytes_start = inner.cfg.backlog_bytes_max as u128 * u128::from(percent) / 100;
    let age_start = inner.cfg.backlog_age_max * percent / 100;
    bytes as u128 > bytes_start || age > age_start
}

/// One pass over every segment; returns the records materialized. An I/O error stops
/// the core.
pub(crate) async fn pass<I: Io>(inner: &Inner<I>) -> Result<usize, EngineError> {
    let segments: Vec<Rc<Segment<I>>> = inner.segments.borrow().values().cloned().collect();
    let mut total = 0;
    for seg in segments {
        match coalesce_segment(inner, &seg).await {
            Ok(n) => total += n,
            Err(e) => {
                inner.fail(Failure {
                    why: format!("coalescer, {}: {e}", seg.pg),
                    errno: e.errno(),
                });
                return Err(e);
            }
        }
    }
    inner.stats.borrow_mut().coalescer_passes += 1;
    Ok(total)
}

/// The records a pass takes.
struct Chosen {
    /// The last record taken (a chain point).
    target: Lsn,
    /// The pages, in the order first seen.
    order: Vec<PageId>,
    /// Each record's index into `order`, in LSN order.
    record_pages: Vec<u32>,
    /// Where the floor moves in steps: (LSN of the step's last record, how many of
    /// `record_pages` are at or below it).
    floor_steps: Vec<(Lsn, usize)>,
}

/// Chooses the records of a pass from `(floor, top]`: as many as
/// `coalesce_pass_bytes_max` allows, over at most `pages_max` pages, in LSN order.
/// Walks `coalesce_step_records` records at a time and yields between (a whole pass's
/// 180 k records in one go held the core for 2.3-2.7 ms); the records below `top` stay
/// put meanwhile: appends land above the SCL, and no truncation comes below the
/// read point (`materializing_to` refuses one).
async fn choose<I: Io>(
    inner: &Inner<I>,
    seg: &Segment<I>,
    floor: Lsn,
    top: Lsn,
    pages_max: usize,
) -> Chosen {
    let mut index = PageIndex::default();
    let mut c = Chosen {
        target: floor,
        order: Vec::new(),
        record_pages: Vec::new(),
        floor_steps: Vec::new(),
    };
    let mut bytes = 0usize;
    loop {
        let (walked, full) = {
            let st = seg.st.borrow();
            let mut walked = 0;
            let mut full = false;
            for r in st.hot.records_in(c.target, top) {
                if walked == inner.cfg.coalesce_step_records {
                    break;
                }
                walked += 1;
                if bytes > 0 && bytes + backlog_bytes(&r) > inner.cfg.coalesce_pass_bytes_max {
                    full = true;
                    break;
                }
                let i = match index.entry(r.page_id) {
                    Entry::Occupied(o) => *o.get(),
                    Entry::Vacant(v) => {
                        if c.order.len() == pages_max {
                            full = true;
                            break;
                        }
                        c.order.push(r.page_id);
                        *v.insert(c.order.len() as u32 - 1)
                    }
                };
                c.record_pages.push(i);
                bytes += backlog_bytes(&r);
                c.target = r.lsn;
                if c.record_pages
                    .len()
                    .is_multiple_of(inner.cfg.coalesce_step_records)
                {
                    c.floor_steps.push((c.target, c.record_pages.len()));
                }
            }
            (walked, full)
        };
        if full || c.target == top || walked < inner.cfg.coalesce_step_records {
            break;
        }
        yield_to_io().await;
    }
    if c.floor_steps.last().is_none_or(|&(lsn, _)| lsn != c.target) {
        c.floor_steps.push((c.target, c.record_pages.len()));
    }
    c
}

/// Clears `pass_in_flight` however the pass ends (error, or the task dropped).
struct PassGuard<'a, I: Io>(&'a Segment<I>);

impl<I: Io> Drop for PassGuard<'_, I> {
    fn drop(&mut self) {
        self.0.st.borrow_mut().pass_in_flight = false;
    }
}

/// A page a pass rewrites.
struct PassPage {
    page: PageId,
    /// The new image, built on the base. Owned by the pass alone (`Rc::get_mut`
    /// succeeds) until it is installed in the page cache.
    payload: Rc<[u8]>,
    /// LSN of the base image.
    base_lsn: Lsn,
    /// LSN of the last record applied.
    page_lsn: Lsn,
    /// The slot the new image goes to: the one not holding the base.
    slot: u8,
}

impl PassPage {
    fn new(page: PageId, payload: Rc<[u8]>, base_lsn: Lsn, base_slot: Option<u8>) -> PassPage {
        PassPage {
            page,
            payload,
            base_lsn,
            page_lsn: base_lsn,
            slot: base_slot.map_or(0, |s| 1 - s),
        }
    }
}

/// Page → index of its [`PassPage`].
type PageIndex = IdMap<PageId, u32>;

async fn coalesce_segment<I: Io>(inner: &Inner<I>, seg: &Segment<I>) -> Result<usize, EngineError> {
    let pages_max = (inner.cfg.coalesce_pass_image_bytes_max / seg.page_size.payload_len()).max(1);
    let depth = inner.cfg.coalesce_io_depth;
    let (floor, top) = {
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
        // Until the records are chosen, the pass may reach `top`: a truncation below
        // it is refused meanwhile (none comes below the read point, which bounds it).
        st.pass_in_flight = true;
        st.materializing_to = top;
        (floor, top)
    };
    let guard = PassGuard(seg);
    let chosen = choose(inner, seg, floor, top, pages_max).await;
    let Chosen {
        target,
        order,
        record_pages,
        floor_steps,
    } = chosen;
    seg.st.borrow_mut().materializing_to = target;
    let count = record_pages.len();

    // Base images: the page cache, else the store (reads at depth).
    let mut bases: Vec<Option<PassPage>> = (0..order.len()).map(|_| None).collect();
    let mut misses: Vec<usize> = Vec::new();
    // Copied a chunk at a time with a yield between (a pass copies up to 32 MiB of
    // images; 1,024 pages of 8 KiB took 1.2 ms in one stretch, while both journal writes
    // completed and the device idled). Nothing installs this segment's pages in the
    // cache while its pass is in flight, so a later chunk finds what the first would
    // have (or a miss, read from the store below).
    for start in (0..order.len()).step_by(BASE_COPY_CHUNK_PAGES) {
        if start > 0 {
            yield_to_io().await;
        }
        let mut cache = inner.cache.borrow_mut();
        let end = (start + BASE_COPY_CHUNK_PAGES).min(order.len());
        for (i, &page) in order.iter().enumerate().take(end).skip(start) {
            match cache.get((seg.pg, page)) {
                Some(c) => {
                    let payload = Rc::from(&c.payload[..]);
                    bases[i] = Some(PassPage::new(page, payload, c.page_lsn, c.slot));
                }
                None => misses.push(i),
            }
        }
    }
    try_at_depth(
        misses.len(),
        depth,
        |k| seg.pages.read_at_most(order[misses[k]], floor),
        |k, s: StoredPage| {
            let i = misses[k];
            bases[i] = Some(PassPage::new(order[i], s.payload, s.page_lsn, s.slot));
        },
    )
    .await?;
    let mut images: Vec<PassPage> = bases
        .into_iter()
        .map(|b| b.expect("every page of the pass has a base image"))
        .collect();

    // Apply `(floor, target]` in LSN order, straight from the hot log.
    let mut applied = floor;
    let mut pages_of = record_pages.iter();
    while applied < target {
        let mut n = 0;
        {
            let st = seg.st.borrow();
            // The page lines the record `APPLY_PREFETCH_AHEAD` places on will write:
            // asked for now, so the copy does not wait for memory (a pass's images are
            // megabytes, written at random offsets).
            let mut ahead = st
                .hot
                .records_in(applied, target)
                .skip(APPLY_PREFETCH_AHEAD);
            let mut ahead_pages = pages_of.clone().skip(APPLY_PREFETCH_AHEAD);
            for r in st.hot.records_in(applied, target).take(APPLY_CHUNK_RECORDS) {
                if let (Some(a), Some(&i)) = (ahead.next(), ahead_pages.next()) {
                    prefetch_change(&a, &images[i as usize].payload);
                }
                n += 1;
                applied = r.lsn;
                let img = match pages_of.next() {
                    Some(&i) if images[i as usize].page == r.page_id => &mut images[i as usize],
                    _ => panic!("{}: {} is not the record the pass chose", seg.pg, r.lsn),
                };
                if r.lsn <= img.base_lsn {
                    continue;
                }
                // The page chain must continue from the base: a stale base (its newest
                // image destroyed on disk) would otherwise be materialized silently.
                if r.prev_lsn_page != img.page_lsn {
                    return Err(EngineError::PageChainBroken {
                        pg: seg.pg,
                        page: img.page,
                        lsn: target,
                        record: r.lsn,
                        expected: img.page_lsn,
                        got: r.prev_lsn_page,
                    });
                }
                let Some(payload) = Rc::get_mut(&mut img.payload) else {
                    panic!("{}: the pass's image of {} is shared", seg.pg, img.page);
                };
                apply_change(&r, payload);
                img.page_lsn = r.lsn;
            }
        }
        assert!(
            n > 0,
            "{}: records up to {target} left under the pass",
            seg.pg
        );
        if applied < target {
            yield_to_io().await;
        }
    }
    assert!(
        pages_of.next().is_none(),
        "{}: records below {target} vanished",
        seg.pg
    );

    // Only pages that changed are written (all of them, unless a base was newer than
    // the floor), in page order, at depth.
    images.retain(|img| img.page_lsn != img.base_lsn);
    images.sort_unstable_by_key(|img| img.page);
    let writes: Vec<PageWrite<'_>> = images
        .iter()
        .map(|img| PageWrite {
            page: img.page,
            slot: img.slot,
            payload: &img.payload,
            page_lsn: img.page_lsn,
        })
        .collect();
    write_paced(inner, seg, &writes, depth).await?;
    drop(writes);
    seg.pages.sync().await?;
    let written = images.len();
    {
        let mut cache = inner.cache.borrow_mut();
        for img in images {
            let image = CachedPage {
                payload: img.payload,
                page_lsn: img.page_lsn,
                slot: Some(img.slot),
            };
            cache.insert((seg.pg, img.page), image);
        }
    }
    // How many of a floor step's records each page has: the floor move then looks
    // each page up once, not each record (see `HotLog::advance_floor_counted`).
    let mut per_page: Vec<(PageId, u32)> = order.iter().map(|&p| (p, 0)).collect();
    let mut step_counts: Vec<(PageId, u32)> = Vec::with_capacity(order.len());
    // Metadata writes are ordered (truncations and epoch changes write it too): this
    // one is computed from the state seen once the lock is held, and the floor moves
    // before the lock is released.
    let meta_held = seg.meta_lock.lock().await;
    let (durable, generation) = {
        let st = seg.st.borrow();
        assert!(
            st.hot.scl() >= target,
            "{}: scl {} fell below the pass target {target}",
            seg.pg,
            st.hot.scl()
        );
        (durable_meta(seg, &st, target), st.meta_generation)
    };
    seg.meta.write(&durable).await?;
    // The floor moves a step at a time, yielding between (dropping a pass's 180 k
    // records in one go held the core for 3.3-3.7 ms). The metadata already says
    // `target`; until the last step, the records below it are kept a little longer,
    // and reads skip those under their page's image as they do between the page
    // writes and this move.
    let mut from = 0;
    for (k, &(to, upto)) in floor_steps.iter().enumerate() {
        if k > 0 {
            yield_to_io().await;
        }
        per_page.iter_mut().for_each(|(_, n)| *n = 0);
        for &i in &record_pages[from..upto] {
            per_page[i as usize].1 += 1;
        }
        step_counts.clear();
        step_counts.extend(per_page.iter().copied().filter(|&(_, n)| n > 0));
        from = upto;
        let mut st = seg.st.borrow_mut();
        let released = st.hot.advance_floor_counted(to, &step_counts);
        inner.backlog.hot_moved(released, 0);
        st.floor_generation += 1;
    }
    let release_meta = {
        let mut st = seg.st.borrow_mut();
        let st = &mut *st;
        inner.backlog.materialized(&mut st.arrivals, target);
        st.meta_generation == generation
            && st.epoch_changes_in_flight == 0
            && st.truncation_caps.is_empty()
    };
    drop(meta_held);
    drop(guard);
    // The metadata file now says `target` is materialized: redo up to it is only
    // needed from the page store. Metadata records are released only if the write saw
    // every truncation and epoch change (none started, ended or is still in flight).
    inner.journal.release(seg.pg, target);
    if release_meta {
        inner.journal.release_meta(seg.pg);
    }
    {
        let mut stats = inner.stats.borrow_mut();
        stats.pages_written += written as u64;
        stats.records_materialized += count as u64;
    }
    inner.progress.notify_all();
    Ok(count)
}
