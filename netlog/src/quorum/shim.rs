//! The shim: what a database links to write and read its volume through six storage
//! segments per PG (DESIGN §3), on boreal's runtime (generic over `I: Io`: io_uring in
//! production and benchmarks, the simulator in the whole-cluster tests).
//!
//! - [`Shim::write`]: a mini-transaction's page changes get contiguous LSNs within the
//!   LSN allocation limit ([`Allocator`]), go out to each PG's six segments (boxcarred
//!   per connection, `links.rs`), and the call returns once the VDL reaches the
//!   mini-transaction's CPL record: durable on a write quorum of every PG it touched and
//!   of every PG's records before it.
//! - [`Shim::read_page`]: GetPage@LSN at read point = VDL from one segment whose last
//!   SCL reached it, fastest first, hedged to a second one when slow; no quorum read
//!   (the order is `routing.rs`'s).
//!   The lowest read point in use per PG is sent to the nodes (`links.rs`), so they may
//!   materialize up to it.
//! - [`Shim::open`] (`open.rs`): connects, fences every PG with a new epoch, runs volume
//!   recovery, and resumes above the truncation.
//!
//! The protocol logic (watermarks, allocation, recovery's decision) is sans-I/O in
//! sibling modules; this file only moves their inputs and outputs.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use boreal_engine::io::Io;
use boreal_engine::rt::JoinHandle;
use boreal_segment::{Epoch, Lsn, PageId, PgId};

use super::alloc::{AllocError, Allocator, PageChange};
use super::frames::Frames;
use super::links::CoreLink;
use super::mutations::Mutations;
use super::routing::{SegmentRoute, hedge_partner, read_order};
use super::unacked::Unacked;
use super::volume::VolumeConfig;
use super::watermarks::Watermarks;
use crate::link::Reply;
use crate::proto::{EncodedRedo, GetPage, Message, Reason};

/// How the shim runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShimConfig {
    pub volume: VolumeConfig,
    /// Longest a connection attempt waits. Default 1 s.
    pub connect_timeout: Duration,
    /// Longest one request of volume recovery waits for its answer. Default 2 s.
    pub request_timeout: Duration,
    /// A read not answered in this long is sent to a second segment too. Default 5 ms.
    pub hedge_after: Duration,
    /// How often the PGs' min read points go out. Default 20 ms.
    pub read_point_interval: Duration,
    /// Deliberately broken rules, for the cluster simulation only. Default: none.
    #[doc(hidden)]
    pub mutations: Mutations,
}

impl ShimConfig {
    pub fn new(volume: VolumeConfig) -> ShimConfig {
        ShimConfig {
            volume,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            hedge_after: Duration::from_millis(5),
            read_point_interval: Duration::from_millis(20),
            mutations: Mutations::NONE,
        }
    }
}

/// A mini-transaction handed out by [`Shim::submit`]: its records hold the LSNs
/// `first..=cpl`, contiguous, the last one flagged CPL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub first: Lsn,
    pub cpl: Lsn,
    records: u64,
}

/// Why a write or read did not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShimError {
    /// A newer shim fenced this one (volume recovery with epoch `current`): it may
    /// write nothing more.
    #[error("fenced: {pg} is at {current}, this shim writes at {ours}")]
    Fenced {
        pg: PgId,
        current: Epoch,
        ours: Epoch,
    },
    #[error("{0}")]
    Alloc(#[from] AllocError),
    /// No segment of the PG could serve the read.
    #[error("{pg}: no segment could serve {page} at {read_point}: {why}")]
    ReadFailed {
        pg: PgId,
        page: PageId,
        read_point: Lsn,
        why: String,
    },
    /// Volume recovery could not complete.
    #[error("volume recovery: {0}")]
    Recovery(String),
    #[error("the shim is closed")]
    Closed,
}

/// Counters of the shim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShimStats {
    pub commits: u64,
    pub records: u64,
    /// Writes that waited because the next LSNs would pass VDL + LAL.
    pub lal_waits: u64,
    pub reads: u64,
    /// Reads sent to a second segment because the first was slow.
    pub hedged_reads: u64,
    /// Reads a segment refused (then tried on another).
    pub read_refusals: u64,
    /// Passes over a PG's segments a read made again because none could serve it.
    pub read_retries: u64,
    /// Appends a segment refused, by reason name.
    pub append_refusals: BTreeMap<String, u64>,
    /// Records dropped for unreachable segments (gossip repairs them).
    pub records_dropped: u64,
}

impl ShimStats {
    /// What happened after `earlier` was taken: every counter less its value then
    /// (saturating), and each refusal reason's count likewise (reasons with none left
    /// out).
    pub fn since(&self, earlier: &ShimStats) -> ShimStats {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        ShimStats {
            commits: d(self.commits, earlier.commits),
            records: d(self.records, earlier.records),
            lal_waits: d(self.lal_waits, earlier.lal_waits),
            reads: d(self.reads, earlier.reads),
            hedged_reads: d(self.hedged_reads, earlier.hedged_reads),
            read_refusals: d(self.read_refusals, earlier.read_refusals),
            read_retries: d(self.read_retries, earlier.read_retries),
            append_refusals: self
                .append_refusals
                .iter()
                .map(|(k, &n)| {
                    (
                        k.clone(),
                        d(n, earlier.append_refusals.get(k).copied().unwrap_or(0)),
                    )
                })
                .filter(|&(_, n)| n > 0)
                .collect(),
            records_dropped: d(self.records_dropped, earlier.records_dropped),
        }
    }
}

pub(crate) struct Inner<I: Io> {
    pub(crate) io: I,
    pub(crate) cfg: ShimConfig,
    pub(crate) epoch: Epoch,
    /// The truncations `(start, end]` this shim's volume recovery wrote under its
    /// epoch, its own last: every new connection applies them first (`links.rs`).
    pub(crate) truncations: Vec<(Lsn, Lsn)>,
    /// `[pg][segment]`: the segment applied `truncations` (in volume recovery, or on
    /// a connection since).
    pub(crate) truncated: RefCell<Vec<[bool; 6]>>,
    /// One per node core the shim talks to.
    pub(crate) links: Vec<CoreLink<I>>,
    /// Per PG, its six segments' links, in placement order (segment index = position).
    pub(crate) pg_links: Vec<[usize; 6]>,
    pub(crate) wm: RefCell<Watermarks>,
    /// Records handed out and not yet at or below the VDL, in LSN order (at most LAL
    /// of them): the SCL poller sends them again to segments that are behind
    /// (`links.rs`). LSNs are handed out in increasing order, so a new record goes at
    /// the back and the VDL's advance takes records off the front.
    pub(crate) unacked: RefCell<Unacked>,
    pub(crate) alloc: RefCell<Allocator>,
    /// Writers waiting for the VDL to reach a point.
    vdl_waiters: RefCell<Vec<(Lsn, Waker)>>,
    /// Read points in use, per PG: point → count.
    reads: RefCell<Vec<BTreeMap<Lsn, u32>>>,
    pub(crate) stats: RefCell<ShimStats>,
    /// Append frames built for one connection, shared with the others (`frames.rs`).
    pub(crate) frames: RefCell<Frames>,
    failed: RefCell<Option<ShimError>>,
    pub(crate) closing: Cell<bool>,
}

impl<I: Io + 'static> Inner<I> {
    #[allow(clippy::too_many_arguments, reason = "one call site, in open.rs")]
    pub(crate) fn new(
        io: I,
        cfg: ShimConfig,
        epoch: Epoch,
        truncations: Vec<(Lsn, Lsn)>,
        truncated: Vec<[bool; 6]>,
        links: Vec<CoreLink<I>>,
        pg_links: Vec<[usize; 6]>,
        wm: Watermarks,
        alloc: Allocator,
    ) -> Inner<I> {
        let pgs = cfg.volume.pgs as usize;
        Inner {
            io,
            cfg,
            epoch,
            truncations,
            truncated: RefCell::new(truncated),
            links,
            pg_links,
            wm: RefCell::new(wm),
            unacked: RefCell::new(Unacked::default()),
            alloc: RefCell::new(alloc),
            vdl_waiters: RefCell::new(Vec::new()),
            reads: RefCell::new(vec![BTreeMap::new(); pgs]),
            stats: RefCell::new(ShimStats::default()),
            frames: RefCell::new(Frames::default()),
            failed: RefCell::new(None),
            closing: Cell::new(false),
        }
    }

    /// The segment of `pg` behind link `link` reported `scl`.
    pub(crate) fn segment_ack(&self, pg: PgId, link: usize, scl: Lsn) {
        let Some(seg) = self.pg_links[pg.get() as usize]
            .iter()
            .position(|&l| l == link)
        else {
            return;
        };
        let moved = self.wm.borrow_mut().ack(pg, seg, scl);
        if let Some(vdl) = moved {
            self.wake_vdl(vdl);
        }
    }

    fn wake_vdl(&self, vdl: Lsn) {
        let mut ready = Vec::new();
        self.vdl_waiters.borrow_mut().retain(|(at, w)| {
            if *at <= vdl {
                ready.push(w.clone());
                false
            } else {
                true
            }
        });
        for w in ready {
            w.wake();
        }
    }

    /// A node said a newer epoch fenced this shim.
    pub(crate) fn fenced(&self, pg: PgId, current: Epoch) {
        if current <= self.epoch {
            return;
        }
        let mut f = self.failed.borrow_mut();
        if f.is_none() {
            *f = Some(ShimError::Fenced {
                pg,
                current,
                ours: self.epoch,
            });
        }
        drop(f);
        let waiters = std::mem::take(&mut *self.vdl_waiters.borrow_mut());
        for (_, w) in waiters {
            w.wake();
        }
    }

    pub(crate) fn count_refusal(&self, _pg: PgId, _member: usize, reason: &Reason, _text: &str) {
        let name = crate::node::reason_name(reason);
        *self
            .stats
            .borrow_mut()
            .append_refusals
            .entry(name.to_string())
            .or_default() += 1;
    }

    /// The lowest read point in use on `pg`, or its read point at the VDL when none is.
    pub(crate) fn min_read_point(&self, pg: PgId) -> Lsn {
        let now = self.wm.borrow().read_point(pg);
        self.reads.borrow()[pg.get() as usize]
            .keys()
            .next()
            .copied()
            .unwrap_or(now)
            .min(now)
    }

    fn check(&self) -> Result<(), ShimError> {
        match &*self.failed.borrow() {
            Some(e) => Err(e.clone()),
            None if self.closing.get() => Err(ShimError::Closed),
            None => Ok(()),
        }
    }

    /// Waits until the VDL reaches `at` (or the shim fails).
    async fn wait_vdl(&self, at: Lsn) -> Result<(), ShimError> {
        poll_fn(|cx| {
            if let Err(e) = self.check() {
                return Poll::Ready(Err(e));
            }
            if self.wm.borrow().vdl() >= at {
                return Poll::Ready(Ok(()));
            }
            self.vdl_waiters.borrow_mut().push((at, cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// The shim. See the module docs. `!Send`: it lives on one core.
pub struct Shim<I: Io> {
    pub(crate) inner: Rc<Inner<I>>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl<I: Io> std::fmt::Debug for Shim<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shim")
            .field("epoch", &self.inner.epoch)
            .field("vdl", &self.inner.wm.borrow().vdl())
            .finish()
    }
}

impl<I: Io> Drop for Shim<I> {
    fn drop(&mut self) {
        self.inner.closing.set(true);
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl<I: Io + 'static> Shim<I> {
    /// The volume epoch this shim writes at.
    pub fn epoch(&self) -> Epoch {
        self.inner.epoch
    }

    /// The volume durable LSN now.
    pub fn vdl(&self) -> Lsn {
        self.inner.wm.borrow().vdl()
    }

    /// The volume complete LSN now.
    pub fn vcl(&self) -> Lsn {
        self.inner.wm.borrow().vcl()
    }

    /// The shim's counters.
    pub fn stats(&self) -> ShimStats {
        let mut s = self.inner.stats.borrow().clone();
        s.records_dropped = self
            .inner
            .links
            .iter()
            .map(|l| l.dropped_records.get())
            .sum();
        s
    }

    /// The volume's configuration.
    pub fn volume(&self) -> &VolumeConfig {
        &self.inner.cfg.volume
    }

    /// Writes a mini-transaction and returns its CPL LSN once it is committed (at or
    /// below the VDL). Waits while the LSN allocation limit is reached. The same as
    /// [`Shim::submit`] then [`Shim::committed`].
    pub async fn write(&self, changes: &[PageChange]) -> Result<Lsn, ShimError> {
        let submitted = self.submit(changes).await?;
        self.committed(&submitted).await
    }

    /// Gives a mini-transaction its LSNs and sends its records to their segments, and
    /// returns its LSN range without waiting for it to commit (waits only while the
    /// LSN allocation limit is reached, or for pages whose LSN it must read first).
    /// A database that pipelines mini-transactions submits several and waits for the
    /// last ([`Shim::committed`]): commits complete in LSN order. Once this returns the
    /// records are handed out: whether they commit is decided by the VDL, or by the
    /// next volume recovery if this shim stops first.
    pub async fn submit(&self, changes: &[PageChange]) -> Result<Submitted, ShimError> {
        let inner = &self.inner;
        inner.check()?;
        // Pages whose LSN this shim does not know yet (after recovery) are read first.
        let unknown = inner.alloc.borrow().unknown_pages(changes);
        for page in unknown {
            let (page_lsn, _) = self.read_page(page).await?;
            inner.alloc.borrow_mut().learn_page(page, page_lsn);
        }
        let records = loop {
            let vdl = inner.wm.borrow().vdl();
            let allocated = inner.alloc.borrow_mut().allocate(vdl, changes);
            match allocated {
                Ok(r) => break r,
                Err(AllocError::Lal { vdl_needed }) => {
                    inner.stats.borrow_mut().lal_waits += 1;
                    inner.wait_vdl(vdl_needed).await?;
                }
                Err(AllocError::PageUnknown { page }) => {
                    let (page_lsn, _) = self.read_page(page).await?;
                    inner.alloc.borrow_mut().learn_page(page, page_lsn);
                }
                Err(e) => return Err(e.into()),
            }
        };
        let first = records.first().expect("a mini-transaction has records").lsn;
        let cpl = records.last().expect("a mini-transaction has records").lsn;
        {
            let mut wm = inner.wm.borrow_mut();
            for r in &records {
                wm.record(r.lsn, r.pg_id, r.cpl);
            }
        }
        let n = records.len() as u64;
        for r in records {
            let pg = r.pg_id.get() as usize;
            // Encoded once here and copied into each segment's frame. `allocate`
            // checked every change and gave valid LSNs, so this cannot fail.
            let r =
                Rc::new(EncodedRedo::new(&r).expect("the allocator hands out only valid records"));
            inner.unacked.borrow_mut().push(r.clone());
            for &l in &inner.pg_links[pg] {
                inner.links[l].queue(r.clone());
            }
        }
        Ok(Submitted {
            first,
            cpl,
            records: n,
        })
    }

    /// Waits until a submitted mini-transaction is committed (its CPL at or below the
    /// VDL) and returns its CPL LSN.
    pub async fn committed(&self, submitted: &Submitted) -> Result<Lsn, ShimError> {
        let inner = &self.inner;
        inner.wait_vdl(submitted.cpl).await?;
        let mut s = inner.stats.borrow_mut();
        s.commits += 1;
        s.records += submitted.records;
        Ok(submitted.cpl)
    }

    /// GetPage@LSN at read point = VDL: the page's LSN and payload.
    pub async fn read_page(&self, page: PageId) -> Result<(Lsn, Vec<u8>), ShimError> {
        let inner = &self.inner;
        inner.check()?;
        let pg = inner
            .cfg
            .volume
            .pg_of(page)
            .ok_or(ShimError::Alloc(AllocError::NoSuchPage {
                page,
                pages: inner.cfg.volume.pages(),
            }))?;
        let rp = inner.wm.borrow().read_point(pg);
        *inner.reads.borrow_mut()[pg.get() as usize]
            .entry(rp)
            .or_default() += 1;
        let r = self.read_at(pg, page, rp).await;
        {
            let mut reads = inner.reads.borrow_mut();
            let m = &mut reads[pg.get() as usize];
            if let Some(c) = m.get_mut(&rp) {
                *c -= 1;
                if *c == 0 {
                    m.remove(&rp);
                }
            }
        }
        inner.stats.borrow_mut().reads += 1;
        r
    }

    /// [`Shim::read_once`] again, a `read_point_interval` apart, until a segment
    /// answers or `request_timeout` has passed: right after a recovery or a heal the
    /// segments may still be catching up (gossip) and the links waiting out their
    /// reconnection pause, and a read that gave up at once there failed for nothing.
    async fn read_at(&self, pg: PgId, page: PageId, rp: Lsn) -> Result<(Lsn, Vec<u8>), ShimError> {
        let inner = &self.inner;
        let deadline = inner.io.now().saturating_add(inner.cfg.request_timeout);
        loop {
            match self.read_once(pg, page, rp).await {
                Err(ShimError::ReadFailed { .. })
                    if inner.io.now() < deadline && inner.check().is_ok() =>
                {
                    inner.stats.borrow_mut().read_retries += 1;
                    inner.io.sleep(inner.cfg.read_point_interval).await;
                }
                r => return r,
            }
        }
    }

    /// One pass over the segments of `pg`, those whose last SCL reached `rp` first,
    /// fastest first (`routing.rs`), each hedged after `hedge_after`; a refusal moves
    /// to the next.
    async fn read_once(
        &self,
        pg: PgId,
        page: PageId,
        rp: Lsn,
    ) -> Result<(Lsn, Vec<u8>), ShimError> {
        let inner = &self.inner;
        let segs = inner.pg_links[pg.get() as usize];
        let order: Vec<usize> = {
            let wm = inner.wm.borrow();
            let routes: Vec<SegmentRoute> = segs
                .iter()
                .enumerate()
                .map(|(s, &l)| SegmentRoute {
                    scl: wm.scl(pg, s),
                    latency_us: inner.links[l].read_latency_us.get(),
                })
                .collect();
            read_order(&routes, rp)
                .into_iter()
                .map(|s| segs[s])
                .collect()
        };
        let msg = Message::GetPage(GetPage {
            pg,
            page,
            read_point: rp,
        });
        let mut why = String::from("no segment reachable");
        let mut i = 0;
        while i < order.len() {
            let first = order[i];
            let second = hedge_partner(&order, i);
            i += 1;
            let Some(a) = inner.links[first].reconnect(inner).await else {
                continue;
            };
            let started = inner.io.now();
            let ida = a.next_id();
            a.expect(ida);
            let mut out = Vec::new();
            msg.encode(ida, &mut out).expect("GetPage encodes");
            if a.send(&out).await.is_err() {
                continue;
            }
            let hedge = inner.cfg.hedge_after;
            let mut got = boreal_engine::rt::timeout(hedge, a.reply(ida)).await;
            let mut from = first;
            if got.is_err()
                && let Some(second) = second
                && let Some(b) = inner.links[second].live()
            {
                inner.stats.borrow_mut().hedged_reads += 1;
                let idb = b.next_id();
                b.expect(idb);
                out.clear();
                msg.encode(idb, &mut out).expect("GetPage encodes");
                if b.send(&out).await.is_ok() {
                    let r = poll_fn(|cx| {
                        if let Poll::Ready(r) = a.poll_reply(ida, cx) {
                            return Poll::Ready((first, r));
                        }
                        if let Poll::Ready(r) = b.poll_reply(idb, cx) {
                            return Poll::Ready((second, r));
                        }
                        Poll::Pending
                    });
                    let (which, r) = boreal_engine::rt::timeout(inner.cfg.request_timeout, r)
                        .await
                        .unwrap_or((
                            first,
                            Err(crate::link::LinkError::Closed {
                                addr: a.addr(),
                                why: "timed out".into(),
                            }),
                        ));
                    a.forget(ida);
                    b.forget(idb);
                    from = which;
                    got = Ok(r);
                    i += 1;
                }
            }
            let r = match got {
                Ok(r) => r,
                Err(_) => {
                    match boreal_engine::rt::timeout(inner.cfg.request_timeout, a.reply(ida)).await
                    {
                        Ok(r) => r,
                        Err(_) => {
                            a.forget(ida);
                            why = format!("{} timed out", a.addr());
                            continue;
                        }
                    }
                }
            };
            match r {
                Ok(Reply::Page {
                    page_lsn, payload, ..
                }) => {
                    let took = inner.io.now().saturating_duration_since(started);
                    let cl = &inner.links[from];
                    let ewma = cl.read_latency_us.get() * 0.8 + took.as_micros() as f64 * 0.2;
                    cl.read_latency_us.set(ewma);
                    return Ok((page_lsn, payload));
                }
                Ok(Reply::Refused { reason, text }) => {
                    inner.stats.borrow_mut().read_refusals += 1;
                    if let Reason::StaleEpoch { current, .. } = reason {
                        inner.fenced(pg, current);
                    }
                    why = text;
                }
                Ok(other) => why = format!("unexpected answer {other:?}"),
                Err(e) => why = e.to_string(),
            }
        }
        Err(ShimError::ReadFailed {
            pg,
            page,
            read_point: rp,
            why,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ShimStats;

    #[test]
    fn stats_since_an_earlier_reading_subtract_every_counter_and_refusal() {
        let then = ShimStats {
            commits: 10,
            lal_waits: 2,
            append_refusals: [("stale_epoch".to_string(), 3)].into_iter().collect(),
            ..ShimStats::default()
        };
        let now = ShimStats {
            commits: 25,
            lal_waits: 2,
            records_dropped: 4,
            append_refusals: [("stale_epoch".to_string(), 3), ("truncated".to_string(), 1)]
                .into_iter()
                .collect(),
            ..ShimStats::default()
        };
        let d = now.since(&then);
        assert_eq!((d.commits, d.lal_waits, d.records_dropped), (15, 0, 4));
        assert_eq!(
            d.append_refusals.into_iter().collect::<Vec<_>>(),
            [("truncated".to_string(), 1)]
        );
        assert_eq!(then.since(&now).commits, 0, "a reading from another shim");
    }
}
