//! `CoreEngine` and the state its parts share (`Inner`): the segments, the journal, the
//! page cache, the backlog totals and the fail-stop flag. See the `node` module docs.
//!
//! The API is split by what a call does: `append.rs` (appends), `control.rs`
//! (segments, fence, truncate, read points), `read.rs` (GetPage@LSN, fetch, status),
//! `open.rs` (create, open and recover a core). This file holds what they all use.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use boreal_segment::{PgId, ValidRecord};

use super::api::CoreStats;
use super::append::StagingPool;
use super::backlog::Backlog;
use super::cache::PageCache;
use super::coalescer;
use super::config::EngineConfig;
use super::error::{EngineError, Failure};
use super::notify::Notify;
use super::segment::Segment;
use crate::io::{Instant, Io};
use crate::journal::{Journal, JournalError};
use crate::pages::{Catalog, CatalogEntry, PageStoreError};
use crate::rt::JoinHandle;

pub(crate) struct Inner<I: Io> {
    pub(crate) io: I,
    pub(crate) journal: Journal<I>,
    pub(crate) cfg: EngineConfig,
    pub(crate) catalog: Catalog<I>,
    pub(crate) entries: RefCell<Vec<CatalogEntry>>,
    pub(crate) segments: RefCell<BTreeMap<PgId, Rc<Segment<I>>>>,
    pub(crate) cache: RefCell<PageCache>,
    /// Signalled after every coalescer pass that moved a floor.
    pub(crate) progress: Notify,
    /// Wakes the coalescer early.
    pub(crate) wake: Notify,
    failed: RefCell<Option<Failure>>,
    pub(crate) stats: RefCell<CoreStats>,
    /// Emptied journal record lists and staged-record buffers, so an append allocates
    /// neither.
    pub(crate) staging: StagingPool,
    /// The core's backlog, kept as segments change (`backlog.rs`).
    pub(crate) backlog: Backlog,
}

impl<I: Io> Inner<I> {
    pub(crate) fn new(
        io: I,
        journal: Journal<I>,
        cfg: EngineConfig,
        catalog: Catalog<I>,
        entries: Vec<CatalogEntry>,
        segments: BTreeMap<PgId, Rc<Segment<I>>>,
        stats: CoreStats,
    ) -> Inner<I> {
        let bytes = segments.values().map(|s| s.st.borrow().hot.bytes()).sum();
        Inner {
            io,
            journal,
            cache: RefCell::new(PageCache::new(cfg.page_cache_bytes_max)),
            cfg,
            catalog,
            entries: RefCell::new(entries),
            segments: RefCell::new(segments),
            progress: Notify::default(),
            wake: Notify::default(),
            failed: RefCell::new(None),
            stats: RefCell::new(stats),
            staging: StagingPool::default(),
            backlog: Backlog::starting_at(bytes),
        }
    }

    /// Stops the core (fail-stop): the first failure is kept, every later call gets it.
    pub(crate) fn fail(&self, failure: Failure) {
        let mut f = self.failed.borrow_mut();
        if f.is_none() {
            *f = Some(failure);
        }
        self.progress.notify_all();
    }

    /// Stops the core after a page store write of `pg` failed.
    pub(crate) fn fail_store(&self, pg: PgId, what: &str, e: &PageStoreError) {
        let errno = match e {
            PageStoreError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        };
        self.fail(Failure {
            why: format!("{pg}: {what} failed: {e}"),
            errno,
        });
    }

    /// The error for a journal append that did not acknowledge. A full journal is
    /// backpressure (the call may be retried once the coalescer releases files), as
    /// long as no control record (`control`: the call journals one) may have been
    /// written without being applied; anything else stops the engine (fail-stop).
    pub(crate) fn journal_refused(&self, e: JournalError, control: bool) -> EngineError {
        match e {
            JournalError::Full {
                waited_ms, encoded, ..
            } if encoded == 0 || !control => {
                let reason = format!("{e}; {}", self.holdup(self.io.now()));
                let mut stats = self.stats.borrow_mut();
                stats.backpressure_refusals += 1;
                stats.backpressure_reason = Some(reason.clone());
                EngineError::Backlogged { reason, waited_ms }
            }
            e => {
                let errno = match &e {
                    JournalError::Failed { errno, .. } | JournalError::Io { errno, .. } => *errno,
                    _ => None,
                };
                self.fail(Failure {
                    why: format!("journal append failed: {e}"),
                    errno,
                });
                EngineError::Journal(e)
            }
        }
    }

    pub(crate) fn check_alive(&self) -> Result<(), EngineError> {
        match &*self.failed.borrow() {
            Some(f) => Err(EngineError::Failed(f.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn failure(&self) -> Option<Failure> {
        self.failed.borrow().clone()
    }

    pub(crate) fn segment(&self, pg: PgId) -> Result<Rc<Segment<I>>, EngineError> {
        self.segments
            .borrow()
            .get(&pg)
            .cloned()
            .ok_or(EngineError::NoSegment { pg })
    }

    /// Backlog bytes and the age at `now` of the oldest unmaterialized append, over all
    /// segments. Constant time but after the coalescer dropped arrivals (then once
    /// per segment).
    pub(crate) fn backlog(&self, now: Instant) -> (usize, Duration) {
        let bytes = self.backlog.bytes();
        debug_assert_eq!(bytes, self.backlog_bytes_summed(), "backlog bytes drifted");
        let age = self.backlog.age(now, || {
            self.segments
                .borrow()
                .values()
                .filter_map(|seg| seg.st.borrow().arrivals.oldest())
                .min()
        });
        (bytes, age)
    }

    fn backlog_bytes_summed(&self) -> usize {
        self.segments
            .borrow()
            .values()
            .map(|seg| seg.st.borrow().hot.bytes())
            .sum()
    }

    /// Why appends must wait at `now`, if they must. (The caller reads the clock: an
    /// append reads it once per phase, not once per question.)
    pub(crate) fn over_bound(&self, now: Instant) -> Option<String> {
        let (bytes, age) = self.backlog(now);
        if bytes > self.cfg.backlog_bytes_max {
            return Some(format!(
                "backlog {bytes} bytes above backlog_bytes_max {}; {}",
                self.cfg.backlog_bytes_max,
                self.holdup(now)
            ));
        }
        if age > self.cfg.backlog_age_max {
            return Some(format!(
                "oldest unmaterialized append is {age:?} old, above backlog_age_max {:?}; {}",
                self.cfg.backlog_age_max,
                self.holdup(now)
            ));
        }
        None
    }

    /// What holds the backlog (and so the journal's oldest files): the segment with the
    /// oldest unmaterialized append (or, if none has one, the most backlog bytes), its
    /// watermarks, and which of them stops materialization. For an operator reading a
    /// `Backlogged` error: only a raised min read point, a filled hole or a running
    /// coalescer frees the journal.
    pub(crate) fn holdup(&self, now: Instant) -> String {
        let segments = self.segments.borrow();
        let oldest = segments
            .values()
            .filter_map(|seg| Some((seg.st.borrow().arrivals.oldest()?, seg)))
            .min_by_key(|&(at, _)| at);
        let seg = match oldest {
            Some((_, seg)) => seg,
            None => match segments.values().max_by_key(|s| s.st.borrow().hot.bytes()) {
                Some(seg) => seg,
                None => return "no segment holds a backlog".into(),
            },
        };
        let st = seg.st.borrow();
        let (floor, scl, mrp) = (st.hot.floor(), st.hot.scl(), st.min_read_point);
        let age = st.arrivals.age(now);
        let cause = if scl > floor && mrp <= floor {
            "materialization stops at the min read point: the compute side must raise it (set_min_read_point) before this redo can be materialized and its journal files reused"
        } else if scl <= floor {
            "the SCL is held below a hole (missing records): gossip or repair must fill it before the redo above can be materialized"
        } else if !self.cfg.background_coalescer {
            "the background coalescer is off (EngineConfig::background_coalescer)"
        } else {
            "the coalescer is behind"
        };
        format!(
            "held by {}: {} bytes unmaterialized, oldest {age:?}; materialized LSN {floor}, min read point {mrp}, SCL {scl}: {cause}",
            seg.pg,
            st.hot.bytes()
        )
    }
}

/// The engine of one core. See the `node` module docs. `!Send`: it lives on its core.
pub struct CoreEngine<I: Io> {
    pub(crate) inner: Rc<Inner<I>>,
    coalescer: Option<JoinHandle<()>>,
}

impl<I: Io> std::fmt::Debug for CoreEngine<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreEngine")
            .field("dir", &self.inner.cfg.dir)
            .field("segments", &self.inner.segments.borrow().len())
            .finish()
    }
}

impl<I: Io> Drop for CoreEngine<I> {
    fn drop(&mut self) {
        if let Some(h) = self.coalescer.take() {
            h.abort();
        }
    }
}

impl<I: Io + 'static> CoreEngine<I> {
    /// Starts a core on its shared state: spawns the background coalescer if the
    /// config asks for one. A journal with no free file makes appends wait as long as
    /// backlog backpressure does, then refuses them (`Backlogged`), never forever.
    pub(crate) fn start(inner: Inner<I>) -> CoreEngine<I> {
        inner
            .journal
            .set_space_wait_max(Some(inner.cfg.backpressure_wait_max));
        let background = inner.cfg.background_coalescer;
        let inner = Rc::new(inner);
        let coalescer = background.then(|| crate::rt::spawn(coalescer::run(Rc::downgrade(&inner))));
        CoreEngine { inner, coalescer }
    }

    /// The PGs this core holds.
    pub fn segments(&self) -> Vec<PgId> {
        self.inner.segments.borrow().keys().copied().collect()
    }

    /// The core's counters.
    pub fn stats(&self) -> CoreStats {
        let mut s = self.inner.stats.borrow().clone();
        let cache = self.inner.cache.borrow();
        s.cache_hits = cache.hits;
        s.cache_misses = cache.misses;
        s.cache_bytes = cache.bytes();
        s.backlog_bytes = self.inner.backlog.bytes();
        s
    }

    /// Runs one coalescer pass over every segment now; returns the records
    /// materialized. (Tests and shutdown; the background task does the same.)
    pub async fn coalesce_now(&self) -> Result<usize, EngineError> {
        self.inner.check_alive()?;
        coalescer::pass(&self.inner).await
    }

    /// The core's journal.
    pub fn journal(&self) -> &Journal<I> {
        &self.inner.journal
    }

    /// Why the core stopped, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.inner.failure()
    }
}

/// Empties a record list and gives it back with another lifetime, keeping its
/// allocation (an in-place `collect` into a type of the same layout reuses the buffer;
/// the test below checks it), so appends reuse their journal lists.
pub(crate) fn recycle<'b>(mut v: Vec<ValidRecord<'_>>) -> Vec<ValidRecord<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| -> ValidRecord<'b> { unreachable!("the list is empty") })
        .collect()
}

#[cfg(test)]
mod tests {
    use boreal_segment::{Change, Lsn, PageId, Record, Redo};

    use super::*;

    #[test]
    fn recycle_keeps_the_allocation() {
        let bytes = vec![1u8; 8];
        let mut v: Vec<ValidRecord<'_>> = Vec::with_capacity(32);
        let r = Record::Redo(Redo {
            lsn: Lsn::new(1),
            prev_lsn_pg: Lsn::ZERO,
            prev_lsn_page: Lsn::ZERO,
            pg_id: PgId::new(0),
            page_id: PageId::new(0),
            cpl: true,
            change: Change::Delta {
                offset: 0,
                bytes: &bytes,
            },
        });
        v.push(r.validated().unwrap());
        let ptr = v.as_ptr() as usize;
        let back: Vec<ValidRecord<'static>> = recycle(v);
        assert!(back.is_empty());
        assert_eq!(back.capacity(), 32);
        assert_eq!(back.as_ptr() as usize, ptr);
    }
}
