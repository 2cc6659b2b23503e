//! `CoreEngine`: the API of one core's segments. See the `node` module docs.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use boreal_segment::{
    BatchSeq, Epoch, Lsn, PageId, PageSize, PgId, Record, Redo, SegmentMeta, Truncate,
};

use super::cache::{CachedPage, PageCache};
use super::coalescer;
use super::config::EngineConfig;
use super::error::EngineError;
use super::notify::{Lock, Notify};
use super::recovery::{self, RecoveryReport, ReplayAction};
use super::wal::{Wal, WalError, WalRecord, WalRecovery};
use crate::hotlog::{
    Arrival, Hole, HotLog, HotLogCounters, LsnRange, OwnedRedo, apply_change, change_fits_payload,
};
use crate::io::{Instant, Io};
use crate::pages::{
    CATALOG_SEGMENTS_MAX, Catalog, CatalogEntry, DamagedState, DurableMeta, MetaDamage, MetaFile,
    PageFile, catalog_path, meta_file_path, page_file_path,
};
use crate::rt::JoinHandle;

/// Most holes [`SegmentStatus`] lists.
const STATUS_HOLES_MAX: usize = 16;
/// Most times a read retries after the coalescer moved the floor under it.
const READ_ATTEMPTS_MAX: u32 = 8;
/// Most emptied journal record lists the core keeps for reuse (one per append in
/// flight is what a steady load needs; more is never kept).
const RECORD_LISTS_MAX: usize = 4096;
/// A record list whose capacity grew beyond this is freed instead of kept.
const RECORD_LIST_CAPACITY_MAX: usize = 1024;

/// An append [`CoreEngine::try_append`] started: its records are in the journal and
/// not yet acknowledged. Poll it with [`CoreEngine::poll_append`]. Dropped unpolled,
/// it is an append whose caller went away: its records become durable (a restart
/// replays them) but are not acknowledged or added to the segment now; the shim sends
/// them again.
#[derive(Debug)]
#[must_use = "an append is acknowledged only through CoreEngine::poll_append"]
pub struct PendingAppend {
    pg: PgId,
    /// The journal batch holding the records.
    at: BatchSeq,
    /// When it started: the arrival stamp, unless the journal's durable time is later.
    started: Instant,
    /// Which records (checked when polled).
    count: usize,
    first: Lsn,
    last: Lsn,
    finished: bool,
}

impl PendingAppend {
    /// The PG appended to.
    pub fn pg(&self) -> PgId {
        self.pg
    }
}

/// The durable acknowledgement of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendAck {
    /// The segment's SCL after the append.
    pub scl: Lsn,
    /// The segment's epoch after the append.
    pub epoch: Epoch,
    /// Records new to the segment.
    pub accepted: usize,
    /// Records it already held or had materialized (re-acknowledged).
    pub duplicates: usize,
}

/// A page as of an LSN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageImage {
    /// The page payload (`page_size - 32` bytes).
    pub payload: Box<[u8]>,
    /// LSN of the last record applied (zero for a page never written).
    pub page_lsn: Lsn,
}

/// What a segment reports about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStatus {
    pub scl: Lsn,
    pub materialized_lsn: Lsn,
    pub min_read_point: Lsn,
    /// The lowest known holes above the SCL (at most 16).
    pub holes: Vec<Hole>,
    pub backlog_bytes: usize,
    /// Age of the oldest unmaterialized append.
    pub backlog_age: Duration,
    pub epoch: Epoch,
    pub page_size: PageSize,
    /// Records in the hot log.
    pub hot_records: usize,
    pub counters: HotLogCounters,
}

/// Counters of one core's engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub appends: u64,
    pub records_accepted: u64,
    pub records_duplicate: u64,
    /// Appends that waited for the coalescer (backpressure).
    pub backpressure_waits: u64,
    /// Appends refused after waiting `backpressure_wait_max`.
    pub backpressure_refusals: u64,
    /// Why the last append had to wait, if one did.
    pub backpressure_reason: Option<String>,
    pub coalescer_passes: u64,
    pub pages_written: u64,
    pub records_materialized: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_bytes: usize,
    pub backlog_bytes: usize,
    pub recovery: RecoveryReport,
}

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
    /// `(highest LSN, arrival time)` of each unmaterialized append, oldest first.
    pub(crate) arrivals: VecDeque<(Lsn, Instant)>,
}

pub(crate) struct Inner<I: Io, W: Wal> {
    pub(crate) io: I,
    pub(crate) wal: W,
    pub(crate) cfg: EngineConfig,
    catalog: Catalog<I>,
    entries: RefCell<Vec<CatalogEntry>>,
    pub(crate) segments: RefCell<BTreeMap<PgId, Rc<Segment<I>>>>,
    pub(crate) cache: RefCell<PageCache>,
    /// Signalled after every coalescer pass that moved a floor.
    pub(crate) progress: Notify,
    /// Wakes the coalescer early.
    pub(crate) wake: Notify,
    failed: RefCell<Option<String>>,
    pub(crate) stats: RefCell<CoreStats>,
    /// Emptied journal record lists, so an append does not allocate one.
    record_lists: RefCell<Vec<Vec<Record<'static>>>>,
    /// The core's backlog, kept as segments change so that an append's backlog check
    /// costs the same with one segment or thousands (see [`Inner::backlog`]).
    backlog: BacklogTotals,
}

/// Sums over every segment of the core, maintained where they change: hot log bytes
/// (each change of a segment's hot log reports its before/after bytes) and the
/// oldest unmaterialized arrival (known exactly, or unknown after arrivals were
/// dropped, and then recomputed once).
#[derive(Debug, Default)]
struct BacklogTotals {
    bytes: Cell<usize>,
    /// `Some(x)`: the oldest front of every segment's `arrivals` is `x` (`None`: all
    /// empty). `None`: unknown (arrivals were dropped since).
    oldest: Cell<Option<Option<Instant>>>,
}

impl<I: Io, W: Wal> Inner<I, W> {
    pub(crate) fn fail(&self, why: String) {
        let mut f = self.failed.borrow_mut();
        if f.is_none() {
            *f = Some(why);
        }
        self.progress.notify_all();
    }

    /// The error for a journal append that did not acknowledge. A full journal is
    /// backpressure (the call may be retried once the coalescer releases files), as
    /// long as no control record (`control`: the call journals one) may have been
    /// written without being applied; anything else stops the engine (fail-stop).
    fn wal_refused(&self, e: WalError, control: bool) -> EngineError {
        match e {
            WalError::Full {
                reason,
                waited_ms,
                encoded,
            } if encoded == 0 || !control => {
                let reason = format!("{reason}; {}", self.holdup(self.io.now()));
                let mut stats = self.stats.borrow_mut();
                stats.backpressure_refusals += 1;
                stats.backpressure_reason = Some(reason.clone());
                EngineError::Backlogged { reason, waited_ms }
            }
            e => {
                self.fail(format!("journal append failed: {e}"));
                EngineError::Journal(e.to_string())
            }
        }
    }

    fn check_alive(&self) -> Result<(), EngineError> {
        match &*self.failed.borrow() {
            Some(why) => Err(EngineError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    fn segment(&self, pg: PgId) -> Result<Rc<Segment<I>>, EngineError> {
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
        let bytes = self.backlog.bytes.get();
        debug_assert_eq!(bytes, self.backlog_bytes_summed(), "backlog bytes drifted");
        let oldest = match self.backlog.oldest.get() {
            Some(known) => known,
            None => {
                let oldest = self
                    .segments
                    .borrow()
                    .values()
                    .filter_map(|seg| seg.st.borrow().arrivals.front().map(|&(_, at)| at))
                    .min();
                self.backlog.oldest.set(Some(oldest));
                oldest
            }
        };
        (
            bytes,
            oldest.map_or(Duration::ZERO, |o| now.saturating_duration_since(o)),
        )
    }

    fn backlog_bytes_summed(&self) -> usize {
        self.segments
            .borrow()
            .values()
            .map(|seg| seg.st.borrow().hot.bytes())
            .sum()
    }

    /// An append's checks against its segment: refuses the whole append if `epoch`
    /// is stale or any record is invalid, outside the segment, inside a truncation or
    /// a conflicting duplicate; else returns the records new to the segment, as
    /// journal records in a kept list with room for `extra` more, and whether any of
    /// them fills a gap below the hot log's newest record.
    fn judge_records<'r>(
        &self,
        seg: &Segment<I>,
        st: &SegState,
        epoch: Epoch,
        records: &[Redo<'r>],
        extra: usize,
    ) -> Result<(bool, Vec<Record<'r>>), EngineError> {
        if epoch < st.epoch {
            return Err(EngineError::StaleEpoch {
                pg: seg.pg,
                got: epoch,
                current: st.epoch,
            });
        }
        let list = self.record_lists.borrow_mut().pop().unwrap_or_default();
        let mut journal: Vec<Record<'r>> = recycle(list);
        journal.reserve(records.len() + extra);
        let mut fills_gap = false;
        for r in records {
            check_record(seg, r)?;
            if st.hot.judge(r)? == Arrival::Accepted {
                fills_gap |= r.lsn <= st.hot.max_lsn();
                journal.push(Record::Redo(*r));
            }
        }
        Ok((fills_gap, journal))
    }

    /// Keeps an append's record list for the next append, unless it grew large or
    /// enough are kept.
    fn recycle_record_list(&self, list: Vec<Record<'_>>) {
        if list.capacity() <= RECORD_LIST_CAPACITY_MAX {
            let mut lists = self.record_lists.borrow_mut();
            if lists.len() < RECORD_LISTS_MAX {
                lists.push(recycle(list));
            }
        }
    }

    /// A segment's hot log went from `before` to `after` bytes.
    pub(crate) fn backlog_moved(&self, before: usize, after: usize) {
        let total = &self.backlog.bytes;
        total.set(total.get() + after - before);
    }

    /// An append arrived at `at` in a segment whose arrivals were `was_empty`.
    fn arrived(&self, was_empty: bool, at: Instant) {
        if let (true, Some(known)) = (was_empty, self.backlog.oldest.get()) {
            self.backlog
                .oldest
                .set(Some(Some(known.map_or(at, |o| o.min(at)))));
        }
    }

    /// Arrivals were dropped (materialized or annulled): the oldest is recomputed when
    /// next asked.
    pub(crate) fn arrivals_dropped(&self) {
        self.backlog.oldest.set(None);
    }

    /// Why appends must wait at `now`, if they must. (The caller reads the clock: an
    /// append reads it once per phase, not once per question.)
    fn over_bound(&self, now: Instant) -> Option<String> {
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
    fn holdup(&self, now: Instant) -> String {
        let segments = self.segments.borrow();
        let oldest = segments
            .values()
            .filter_map(|seg| {
                let at = seg.st.borrow().arrivals.front().map(|&(_, at)| at)?;
                Some((at, seg))
            })
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
        let age = st
            .arrivals
            .front()
            .map_or(Duration::ZERO, |&(_, at)| now.saturating_duration_since(at));
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
pub struct CoreEngine<I: Io, W: Wal> {
    inner: Rc<Inner<I, W>>,
    coalescer: Option<JoinHandle<()>>,
}

impl<I: Io, W: Wal> std::fmt::Debug for CoreEngine<I, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreEngine")
            .field("dir", &self.inner.cfg.dir)
            .field("segments", &self.inner.segments.borrow().len())
            .finish()
    }
}

impl<I: Io, W: Wal> Drop for CoreEngine<I, W> {
    fn drop(&mut self) {
        if let Some(h) = self.coalescer.take() {
            h.abort();
        }
    }
}

impl<I: Io + 'static, W: Wal + 'static> CoreEngine<I, W> {
    /// A fresh core with no segments: writes an empty catalog in `cfg.dir` (which must
    /// exist) over whatever was there. `wal` must be a freshly created journal.
    pub async fn create(io: I, wal: W, cfg: EngineConfig) -> Result<CoreEngine<I, W>, EngineError> {
        cfg.validate().map_err(EngineError::Config)?;
        let catalog = Catalog::create(io.clone(), &catalog_path(&cfg.dir)).await?;
        Ok(Self::start(
            io,
            wal,
            cfg,
            catalog,
            Vec::new(),
            BTreeMap::new(),
            RecoveryReport::default(),
        ))
    }

    /// Rebuilds the core after a restart or crash: catalog → each segment's metadata
    /// (floor, epoch, truncations) → the journal's recovered records, replayed through
    /// the decision table of `recovery` → missing ranges as reported holes → SCLs.
    pub async fn open(
        io: I,
        wal: W,
        recovered: WalRecovery,
        cfg: EngineConfig,
    ) -> Result<CoreEngine<I, W>, EngineError> {
        Self::open_replaying(
            io,
            wal,
            recovered.records.iter().map(WalRecord::as_record),
            &recovered.missing,
            &recovered.missing_unplaced,
            cfg,
        )
        .await
    }

    /// [`open`](Self::open) over records borrowed from wherever recovery found them
    /// (the journal's read windows), in journal order: each is classified in place and
    /// only those the table inserts are copied (into the hot log). `missing` and
    /// `missing_unplaced` are [`WalRecovery`]'s fields of the same names.
    pub async fn open_replaying<'r>(
        io: I,
        wal: W,
        records: impl IntoIterator<Item = Record<'r>>,
        missing: &[LsnRange],
        missing_unplaced: &[String],
        cfg: EngineConfig,
    ) -> Result<CoreEngine<I, W>, EngineError> {
        cfg.validate().map_err(EngineError::Config)?;
        let opened = open_segments(&io, &cfg).await?;
        Self::replay_opened(io, wal, opened, records, missing, missing_unplaced, cfg)
    }

    /// The replay half of [`open_replaying`](Self::open_replaying), on segments already
    /// opened (`open_dir` opens them first, to tell the journal scan which batches are
    /// already materialized).
    pub(crate) fn replay_opened<'r>(
        io: I,
        wal: W,
        mut opened: OpenedSegments<I>,
        records: impl IntoIterator<Item = Record<'r>>,
        missing: &[LsnRange],
        missing_unplaced: &[String],
        cfg: EngineConfig,
    ) -> Result<CoreEngine<I, W>, EngineError> {
        for record in records {
            opened.replay(&record)?;
        }
        Self::finish_opened(io, wal, opened, missing, missing_unplaced, cfg)
    }

    /// After replay: notes the journal's missing ranges in every segment they may
    /// touch and starts the engine.
    pub(crate) fn finish_opened(
        io: I,
        wal: W,
        opened: OpenedSegments<I>,
        missing: &[LsnRange],
        missing_unplaced: &[String],
        cfg: EngineConfig,
    ) -> Result<CoreEngine<I, W>, EngineError> {
        let OpenedSegments {
            catalog,
            entries,
            segments,
            meta_damage,
            mut report,
        } = opened;
        // A metadata slot that is neither valid nor zeros: a torn write (its coalescer
        // pass never released the journal, so every record above the older floor the
        // file fell back to is still there) or damage. If the damaged slot held a newer
        // state, the journal may have released records up to that state's materialized
        // LSN; whatever of them the replay did not bring back is reported missing, so
        // reads that need it fail naming the damage and peers repair it. Its own
        // `SegmentMeta` says how far that state went; if it does not decode, everything
        // above the SCL up to the highest record held is reported.
        for (pg, damage) in &meta_damage {
            let Some(seg) = segments.get(pg) else {
                continue;
            };
            let mut st = seg.st.borrow_mut();
            let scl = st.hot.scl();
            let upto = match damage.state {
                DamagedState::Older => None,
                DamagedState::Newer { materialized_lsn } => Some(materialized_lsn),
                DamagedState::Unknown => Some(st.hot.max_lsn()),
            };
            let line = match upto.filter(|&u| u > scl) {
                Some(u) => {
                    let range = LsnRange::new(scl, u);
                    st.hot.report_missing(range);
                    format!(
                        "{pg}: {}: records in {range} may have been released: reported missing",
                        damage.why
                    )
                }
                None => format!("{pg}: {}: nothing missing above its SCL {scl}", damage.why),
            };
            report.meta_damage.push(line);
        }
        for range in missing {
            let mut touched = 0;
            for seg in segments.values() {
                let mut st = seg.st.borrow_mut();
                if range.end > st.hot.floor() {
                    st.hot.report_missing(*range);
                    touched += 1;
                }
            }
            report.missing.push((*range, touched));
        }
        // Damage the journal could not place: any record above the SCL may be in it.
        // Every segment reports a hole from its SCL up, so a read above the SCL fails
        // naming the damage, and gossip asks peers for everything above the SCL.
        for what in missing_unplaced {
            for seg in segments.values() {
                let mut st = seg.st.borrow_mut();
                let scl = st.hot.scl();
                st.hot.report_missing(LsnRange::new(scl, Lsn::MAX));
            }
            report.missing_unplaced.push(what.clone());
        }
        Ok(Self::start(
            io, wal, cfg, catalog, entries, segments, report,
        ))
    }

    fn start(
        io: I,
        wal: W,
        cfg: EngineConfig,
        catalog: Catalog<I>,
        entries: Vec<CatalogEntry>,
        segments: BTreeMap<PgId, Rc<Segment<I>>>,
        report: RecoveryReport,
    ) -> CoreEngine<I, W> {
        let background = cfg.background_coalescer;
        // A journal with no free file makes appends wait as long as backlog
        // backpressure does, then refuses them (`Backlogged`), never forever.
        wal.set_space_wait_max(cfg.backpressure_wait_max);
        let inner = Rc::new(Inner {
            io,
            wal,
            cache: RefCell::new(PageCache::new(cfg.page_cache_bytes_max)),
            cfg,
            catalog,
            entries: RefCell::new(entries),
            segments: RefCell::new(segments),
            progress: Notify::default(),
            wake: Notify::default(),
            failed: RefCell::new(None),
            record_lists: RefCell::new(Vec::new()),
            backlog: BacklogTotals::default(),
            stats: RefCell::new(CoreStats {
                recovery: report,
                ..CoreStats::default()
            }),
        });
        inner.backlog.bytes.set(inner.backlog_bytes_summed());
        let coalescer = background.then(|| crate::rt::spawn(coalescer::run(Rc::downgrade(&inner))));
        CoreEngine { inner, coalescer }
    }

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
            st: RefCell::new(new_state(HotLog::new(pg, Lsn::ZERO), Epoch::ZERO)),
        };
        inner.segments.borrow_mut().insert(pg, Rc::new(seg));
        Ok(())
    }

    /// The PGs this core holds.
    pub fn segments(&self) -> Vec<PgId> {
        self.inner.segments.borrow().keys().copied().collect()
    }

    /// Appends redo records of `pg` at `epoch` and returns once they are durable, with
    /// the segment's SCL. The whole append is refused (nothing journaled) if any record
    /// is invalid, of another PG, outside the PG's pages, inside a truncation, or a
    /// conflicting duplicate, or if `epoch` is stale. Records already held are
    /// re-acknowledged. A higher epoch is made durable with the records.
    pub async fn append(
        &self,
        pg: PgId,
        epoch: Epoch,
        records: &[Redo<'_>],
    ) -> Result<AppendAck, EngineError> {
        if let Some(mut pending) = self.try_append(pg, epoch, records)? {
            return poll_fn(|cx| self.poll_append(&mut pending, records, cx)).await;
        }
        self.append_waiting(pg, epoch, records).await
    }

    /// Starts an append that need not wait, without waiting: the records are checked
    /// as [`CoreEngine::append`] checks them (the same errors) and encoded into the
    /// journal's open batch, and the returned [`PendingAppend`] is then polled with
    /// [`CoreEngine::poll_append`] until it is acknowledged. So a caller with many
    /// appends in flight (the network layer, one connection's frames; the bench, fio's
    /// iodepth) needs no task or future per append.
    ///
    /// `Ok(None)` (nothing journaled, nothing changed) when the append would have to
    /// wait or do more than journal its records: the backlog is over a bound, `epoch`
    /// raises the segment's epoch, the journal has no room for all of them in its open
    /// batch, or every record is already held. Call `append` then.
    pub fn try_append(
        &self,
        pg: PgId,
        epoch: Epoch,
        records: &[Redo<'_>],
    ) -> Result<Option<PendingAppend>, EngineError> {
        let inner = &self.inner;
        inner.check_alive()?;
        let seg = inner.segment(pg)?;
        let (fills_gap, journal) = {
            let st = seg.st.borrow();
            if epoch > st.epoch {
                return Ok(None);
            }
            inner.judge_records(&seg, &st, epoch, records, 0)?
        };
        // As in `append_waiting`: the WAL's last durable time, not a clock read.
        let started = inner.wal.durable_at().unwrap_or_else(|| inner.io.now());
        let taken = if journal.is_empty() || (!fills_gap && inner.over_bound(started).is_some()) {
            Ok(None)
        } else {
            inner.wal.try_append(&journal)
        };
        inner.recycle_record_list(journal);
        let at = match taken {
            Ok(Some(at)) => at,
            Ok(None) => return Ok(None),
            Err(e) => return Err(inner.wal_refused(e, false)),
        };
        let (first, last) = match (records.first(), records.last()) {
            (Some(f), Some(l)) => (f.lsn, l.lsn),
            _ => unreachable!("an append that journaled a record holds one"),
        };
        Ok(Some(PendingAppend {
            pg,
            at,
            started,
            count: records.len(),
            first,
            last,
            finished: false,
        }))
    }

    /// Polls an append [`CoreEngine::try_append`] started, with the same `records`:
    /// `Ready(Ok(ack))` once they are durable, after they were added to the segment
    /// (what `append` returns); `Ready(Err)` if the journal failed first (the engine
    /// has stopped); else `Pending`, and `cx`'s waker is woken when the journal's batch
    /// completes. Pending appends may be polled in any order.
    ///
    /// # Panics
    ///
    /// If `records` are not the ones the append started with (count, first and last
    /// LSN), or if it is polled again after it was `Ready`.
    pub fn poll_append(
        &self,
        pending: &mut PendingAppend,
        records: &[Redo<'_>],
        cx: &mut Context<'_>,
    ) -> Poll<Result<AppendAck, EngineError>> {
        assert!(
            !pending.finished,
            "{pending:?} polled after it was acknowledged"
        );
        assert!(
            records.len() == pending.count
                && records.first().map(|r| r.lsn) == Some(pending.first)
                && records.last().map(|r| r.lsn) == Some(pending.last),
            "{pending:?} polled with other records ({} of them)",
            records.len()
        );
        let inner = &self.inner;
        let durable = match inner.wal.poll_durable(pending.at, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        pending.finished = true;
        if let Err(e) = durable {
            return Poll::Ready(Err(inner.wal_refused(e, false)));
        }
        let seg = match inner.segment(pending.pg) {
            Ok(seg) => seg,
            Err(e) => return Poll::Ready(Err(e)),
        };
        // The arrival stamp: when the batch holding these records was found durable.
        let now = inner
            .wal
            .durable_at()
            .map_or(pending.started, |at| pending.started.max(at));
        Poll::Ready(self.land(&seg, records, now))
    }

    /// `append` for everything `try_append` leaves: waits for the backlog, raises the
    /// epoch, waits for journal room, spans batches.
    async fn append_waiting(
        &self,
        pg: PgId,
        epoch: Epoch,
        records: &[Redo<'_>],
    ) -> Result<AppendAck, EngineError> {
        let inner = &self.inner;
        inner.check_alive()?;
        let seg = inner.segment(pg)?;
        let (fills_gap, mut journal) = {
            let st = seg.st.borrow();
            // Room for the epoch record `append_waiting` may put first.
            inner.judge_records(&seg, &st, epoch, records, 1)?
        };
        // No clock read per append on a busy core: the backlog check uses the WAL's
        // time of its last durable batch, at most one write+sync old (ages are in
        // milliseconds), and a wait reads the clock itself. An idle journal, or a WAL
        // without such a time (`MemWal`), costs one clock read.
        let mut now = inner.wal.durable_at().unwrap_or_else(|| inner.io.now());
        // Records that fill a gap never wait: they are what lets the coalescer move.
        if !fills_gap && !journal.is_empty() {
            now = self.wait_for_backlog(now).await?;
        }
        let raise = {
            let mut st = seg.st.borrow_mut();
            (epoch > st.epoch).then(|| {
                st.meta_generation += 1;
                st.epoch_changes_in_flight += 1;
                epoch_record(&seg, &st, epoch)
            })
        };
        let raising = raise.is_some();
        if let Some(m) = raise {
            journal.insert(0, Record::SegmentMeta(m));
        }
        let res = if journal.is_empty() {
            Ok(())
        } else {
            inner.wal.append(&journal).await
        };
        if raising {
            seg.st.borrow_mut().epoch_changes_in_flight -= 1;
        }
        inner.recycle_record_list(journal);
        if let Err(e) = res {
            return Err(inner.wal_refused(e, raising));
        }
        // The arrival stamp: when the batch holding these records was found durable
        // (or, if the journal is idle now, when the append started).
        if let Some(at) = inner.wal.durable_at() {
            now = now.max(at);
        }
        if raising {
            let raised = {
                let mut st = seg.st.borrow_mut();
                let raised = epoch > st.epoch;
                if raised {
                    st.epoch = epoch;
                    st.meta_generation += 1;
                }
                raised
            };
            if raised {
                write_meta_now(inner, &seg).await?;
            }
        }
        self.land(&seg, records, now)
    }

    /// Adds an append's durable records to the segment (arriving at `now`) and
    /// returns the acknowledgement.
    fn land(
        &self,
        seg: &Segment<I>,
        records: &[Redo<'_>],
        now: Instant,
    ) -> Result<AppendAck, EngineError> {
        let inner = &self.inner;
        let mut st = seg.st.borrow_mut();
        let bytes_before = st.hot.bytes();
        let (mut accepted, mut duplicates, mut first_err, mut top) = (0, 0, None, Lsn::ZERO);
        for r in records {
            match st.hot.insert(r) {
                Ok(Arrival::Accepted) => {
                    accepted += 1;
                    top = top.max(r.lsn);
                }
                Ok(_) => duplicates += 1,
                // Only a truncation that landed while the journal write was in flight.
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        inner.backlog_moved(bytes_before, st.hot.bytes());
        if accepted > 0 {
            inner.arrived(st.arrivals.is_empty(), now);
            st.arrivals.push_back((top, now));
        }
        let ack = AppendAck {
            scl: st.hot.scl(),
            epoch: st.epoch,
            accepted,
            duplicates,
        };
        drop(st);
        let mut stats = inner.stats.borrow_mut();
        stats.appends += 1;
        stats.records_accepted += accepted as u64;
        stats.records_duplicate += duplicates as u64;
        drop(stats);
        if inner.over_bound(now).is_some() {
            inner.wake.notify_all();
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(ack),
        }
    }

    /// Waits while the backlog is over its bounds (at most `backpressure_wait_max`);
    /// returns when it is not, with the time then. `seen` may lag the clock (the WAL's
    /// last durable batch); only when it shows the backlog over a bound is the clock
    /// read, and the wait is timed from that reading.
    async fn wait_for_backlog(&self, seen: Instant) -> Result<Instant, EngineError> {
        let inner = &self.inner;
        if inner.over_bound(seen).is_none() {
            return Ok(seen);
        }
        let start = inner.io.now();
        let Some(reason) = inner.over_bound(start) else {
            return Ok(start);
        };
        let deadline = start.saturating_add(inner.cfg.backpressure_wait_max);
        {
            let mut stats = inner.stats.borrow_mut();
            stats.backpressure_waits += 1;
            stats.backpressure_reason = Some(reason.clone());
        }
        let mut reason = reason;
        while inner.cfg.background_coalescer && inner.io.now() < deadline {
            inner.wake.notify_all();
            let _ = crate::rt::timeout_at(deadline, inner.progress.notified()).await;
            inner.check_alive()?;
            let now = inner.io.now();
            match inner.over_bound(now) {
                None => return Ok(now),
                Some(r) => reason = r,
            }
        }
        inner.stats.borrow_mut().backpressure_refusals += 1;
        let waited_ms = inner.io.now().saturating_duration_since(start).as_millis() as u64;
        Err(EngineError::Backlogged { reason, waited_ms })
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
            epoch_record(&seg, &st, epoch)
        };
        let res = inner.wal.append(&[Record::SegmentMeta(m)]).await;
        seg.st.borrow_mut().epoch_changes_in_flight -= 1;
        if let Err(e) = res {
            return Err(inner.wal_refused(e, true));
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
        let res = inner.wal.append(&[rec]).await;
        {
            let mut st = seg.st.borrow_mut();
            if let Some(i) = st.truncation_caps.iter().position(|&c| c == start) {
                st.truncation_caps.swap_remove(i);
            }
            st.meta_generation += 1;
            if let Err(e) = res {
                drop(st);
                return Err(inner.wal_refused(e, true));
            }
            let bytes_before = st.hot.bytes();
            let truncated = st.hot.truncate(epoch, range);
            inner.backlog_moved(bytes_before, st.hot.bytes());
            truncated?;
            st.epoch = st.epoch.max(epoch);
            // Appends whose newest record was annulled no longer age the backlog.
            st.arrivals.retain(|&(l, _)| !range.contains(l));
            if st.hot.is_empty() {
                st.arrivals.clear();
            }
            inner.arrivals_dropped();
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

    /// GetPage@LSN: the page `page` of `pg` as of `lsn` (base image from the page cache
    /// or store, plus the hot log's records of the page up to `lsn`).
    pub async fn read_page(
        &self,
        pg: PgId,
        page: PageId,
        lsn: Lsn,
    ) -> Result<PageImage, EngineError> {
        let inner = &self.inner;
        let seg = inner.segment(pg)?;
        if !seg.pages.holds(page) {
            return Err(EngineError::PageOutOfRange { pg, page });
        }
        for _ in 0..READ_ATTEMPTS_MAX {
            let (generation, floor) = {
                let st = seg.st.borrow();
                check_read_point(pg, &st, lsn)?;
                (st.floor_generation, st.hot.floor())
            };
            let cached = inner.cache.borrow_mut().get((pg, page));
            let (base, from_disk, damaged) = match cached {
                Some(c) => (c, false, false),
                None => {
                    let s = seg.pages.read_at_most(page, floor).await?;
                    (
                        CachedPage {
                            payload: s.payload,
                            page_lsn: s.page_lsn,
                            slot: s.slot,
                        },
                        true,
                        s.other_slot_damaged,
                    )
                }
            };
            let st = seg.st.borrow();
            if st.floor_generation != generation {
                continue;
            }
            check_read_point(pg, &st, lsn)?;
            if base.page_lsn > lsn {
                return Err(EngineError::PageNewerThanRead {
                    pg,
                    page,
                    lsn,
                    page_lsn: base.page_lsn,
                });
            }
            // The page's other slot is damaged: this image is the right base only if it
            // is a write torn by a crash before the metadata covered it, and then the
            // hot log holds the records that follow this image. Otherwise the newest
            // image was destroyed and this one is stale: refuse, never serve it.
            if damaged
                && st
                    .hot
                    .page_records(page, base.page_lsn, Lsn::MAX)
                    .next()
                    .is_none_or(|r| r.prev_lsn_page != base.page_lsn)
            {
                return Err(EngineError::PageDamaged {
                    pg,
                    page,
                    page_lsn: base.page_lsn,
                });
            }
            if from_disk && !st.pass_in_flight {
                inner.cache.borrow_mut().insert((pg, page), base.clone());
            }
            let mut payload: Box<[u8]> = base.payload.as_ref().into();
            let mut page_lsn = base.page_lsn;
            for r in st.hot.page_records(page, base.page_lsn, lsn) {
                if r.prev_lsn_page != page_lsn {
                    return Err(EngineError::PageChainBroken {
                        pg,
                        page,
                        lsn,
                        record: r.lsn,
                        expected: page_lsn,
                        got: r.prev_lsn_page,
                    });
                }
                apply_change(&r, &mut payload);
                page_lsn = r.lsn;
            }
            return Ok(PageImage { payload, page_lsn });
        }
        Err(EngineError::ReadRetries {
            pg,
            lsn,
            attempts: READ_ATTEMPTS_MAX,
        })
    }

    /// Owned copies of the records of `pg` in `(from, to]`, lowest first, up to about
    /// `byte_limit` backlog bytes (at least one record): for gossip and repair. Refused
    /// when `from` is below the materialized LSN (those records live only in pages).
    pub fn fetch_records(
        &self,
        pg: PgId,
        from: Lsn,
        to: Lsn,
        byte_limit: usize,
    ) -> Result<Vec<OwnedRedo>, EngineError> {
        let seg = self.inner.segment(pg)?;
        let st = seg.st.borrow();
        if from < st.hot.floor() {
            return Err(EngineError::FetchBelowFloor {
                pg,
                from,
                floor: st.hot.floor(),
            });
        }
        Ok(st.hot.fetch(from, to, byte_limit))
    }

    /// The segment's watermarks, holes and backlog.
    pub fn status(&self, pg: PgId) -> Result<SegmentStatus, EngineError> {
        let seg = self.inner.segment(pg)?;
        let st = seg.st.borrow();
        let now = self.inner.io.now();
        Ok(SegmentStatus {
            scl: st.hot.scl(),
            materialized_lsn: st.hot.floor(),
            min_read_point: st.min_read_point,
            holes: st.hot.holes(STATUS_HOLES_MAX),
            backlog_bytes: st.hot.bytes(),
            backlog_age: st
                .arrivals
                .front()
                .map_or(Duration::ZERO, |&(_, at)| now.saturating_duration_since(at)),
            epoch: st.epoch,
            page_size: seg.page_size,
            hot_records: st.hot.len(),
            counters: st.hot.counters(),
        })
    }

    /// The core's counters.
    pub fn stats(&self) -> CoreStats {
        let mut s = self.inner.stats.borrow().clone();
        let cache = self.inner.cache.borrow();
        s.cache_hits = cache.hits;
        s.cache_misses = cache.misses;
        s.cache_bytes = cache.bytes();
        s.backlog_bytes = self.inner.backlog(self.inner.io.now()).0;
        s
    }

    /// Runs one coalescer pass over every segment now; returns the records
    /// materialized. (Tests and shutdown; the background task does the same.)
    pub async fn coalesce_now(&self) -> Result<usize, EngineError> {
        self.inner.check_alive()?;
        coalescer::pass(&self.inner).await
    }

    /// The core's journal.
    pub fn wal(&self) -> &W {
        &self.inner.wal
    }

    /// Why the core stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.inner.failed.borrow().clone()
    }
}

fn new_state(hot: HotLog, epoch: Epoch) -> SegState {
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
        arrivals: VecDeque::new(),
    }
}

/// The catalog and every segment it names, each hot log empty at the segment's
/// materialized LSN (its floor), before any journal record is replayed.
pub(crate) struct OpenedSegments<I: Io> {
    catalog: Catalog<I>,
    entries: Vec<CatalogEntry>,
    segments: BTreeMap<PgId, Rc<Segment<I>>>,
    /// Segments whose metadata file had a slot that is neither valid nor zeros (see
    /// `MetaFile::open`).
    meta_damage: Vec<(PgId, MetaDamage)>,
    /// What replay did so far.
    report: RecoveryReport,
}

impl<I: Io> OpenedSegments<I> {
    /// Replays one recovered journal record, in journal order, through
    /// `node::recovery`'s table.
    pub(crate) fn replay(&mut self, record: &Record<'_>) -> Result<(), EngineError> {
        let report = &mut self.report;
        let seg = self.segments.get(&record.pg_id());
        let mut st = seg.map(|s| s.st.borrow_mut());
        let case = recovery::classify(st.as_deref().map(|s| &s.hot), record);
        report.cases[case.index()] += 1;
        match (recovery::action(case), record, st.as_deref_mut()) {
            (ReplayAction::Skip | ReplayAction::SkipAndReport, _, _) => {}
            (ReplayAction::Insert, Record::Redo(r), Some(st)) => {
                report.max_lsn = report.max_lsn.max(r.lsn);
                st.hot.insert(r)?;
            }
            (ReplayAction::ApplyTruncation, Record::Truncate(t), Some(st)) => {
                st.hot.truncate(t.epoch, LsnRange::new(t.start, t.end))?;
                st.epoch = st.epoch.max(t.epoch);
            }
            (ReplayAction::RaiseEpoch, Record::SegmentMeta(m), Some(st)) => {
                st.epoch = st.epoch.max(m.epoch)
            }
            // Owned for the message, so it reads as it always did.
            (ReplayAction::Fail, r, _) => {
                let r = WalRecord::from_record(r);
                return Err(EngineError::Recovery(format!("{case:?}: {r:?}")));
            }
            (a, r, _) => {
                let r = WalRecord::from_record(r);
                panic!("recovery table gave {a:?} for {case:?} on {r:?}")
            }
        }
        Ok(())
    }

    /// Each segment's floor: journal records at or below it are in the page store.
    pub(crate) fn floors(&self) -> BTreeMap<PgId, Lsn> {
        self.segments
            .iter()
            .map(|(pg, s)| (*pg, s.st.borrow().hot.floor()))
            .collect()
    }
}

pub(crate) async fn open_segments<I: Io>(
    io: &I,
    cfg: &EngineConfig,
) -> Result<OpenedSegments<I>, EngineError> {
    let (catalog, entries) = Catalog::open(io.clone(), &catalog_path(&cfg.dir)).await?;
    let mut segments = BTreeMap::new();
    let mut meta_damage = Vec::new();
    for e in &entries {
        let (seg, damage) = open_segment(io, cfg, e).await?;
        if let Some(why) = damage {
            meta_damage.push((e.pg, why));
        }
        segments.insert(e.pg, Rc::new(seg));
    }
    Ok(OpenedSegments {
        catalog,
        entries,
        segments,
        meta_damage,
        report: RecoveryReport::default(),
    })
}

async fn open_segment<I: Io>(
    io: &I,
    cfg: &EngineConfig,
    e: &CatalogEntry,
) -> Result<(Segment<I>, Option<MetaDamage>), EngineError> {
    let (meta, durable, damage) =
        MetaFile::open(io.clone(), &meta_file_path(&cfg.dir, e.pg), e.pg).await?;
    let pages = PageFile::open(
        io.clone(),
        &page_file_path(&cfg.dir, e.pg),
        e.pg,
        e.page_size,
        e.first_page,
        e.page_count,
        cfg.page_file_grow_bytes,
    )
    .await?;
    let mut hot = HotLog::new(e.pg, durable.meta.materialized_lsn);
    for t in &durable.truncations {
        hot.truncate(t.epoch, t.range)?;
    }
    let seg = Segment {
        pg: e.pg,
        page_size: e.page_size,
        pages,
        meta,
        meta_lock: Lock::default(),
        st: RefCell::new(new_state(hot, durable.meta.epoch)),
    };
    Ok((seg, damage))
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
async fn write_meta_now<I: Io, W: Wal>(
    inner: &Inner<I, W>,
    seg: &Segment<I>,
) -> Result<(), EngineError> {
    let _held = seg.meta_lock.lock().await;
    let durable = {
        let st = seg.st.borrow();
        durable_meta(seg, &st, st.hot.floor())
    };
    if let Err(e) = seg.meta.write(&durable).await {
        inner.fail(format!("{}: metadata write failed: {e}", seg.pg));
        return Err(e.into());
    }
    Ok(())
}

fn epoch_record<I: Io>(seg: &Segment<I>, st: &SegState, epoch: Epoch) -> SegmentMeta {
    SegmentMeta {
        pg_id: seg.pg,
        epoch,
        materialized_lsn: st.hot.floor(),
        scl: st.hot.scl(),
        sequence: 0,
        page_size: seg.page_size,
    }
}

fn check_record<I: Io>(seg: &Segment<I>, r: &Redo<'_>) -> Result<(), EngineError> {
    let invalid = |why: String| EngineError::InvalidRecord {
        pg: seg.pg,
        lsn: r.lsn,
        why,
    };
    Record::Redo(*r)
        .validate()
        .map_err(|e| invalid(e.to_string()))?;
    if r.pg_id != seg.pg {
        return Err(invalid(format!("belongs to {}", r.pg_id)));
    }
    if !seg.pages.holds(r.page_id) {
        return Err(invalid(format!("{} is not in this PG", r.page_id)));
    }
    if !change_fits_payload(&r.change, seg.page_size.payload_len()) {
        return Err(invalid(format!(
            "change does not fit a {}-byte page",
            seg.page_size.get()
        )));
    }
    Ok(())
}

/// Empties a record list and gives it back with another lifetime, keeping its
/// allocation (an in-place `collect` into a type of the same layout reuses the buffer;
/// the test below checks it), so appends reuse their journal lists.
fn recycle<'b>(mut v: Vec<Record<'_>>) -> Vec<Record<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| -> Record<'b> { unreachable!("the list is empty") })
        .collect()
}

fn check_read_point(pg: PgId, st: &SegState, lsn: Lsn) -> Result<(), EngineError> {
    let scl = st.hot.scl();
    if lsn > scl {
        return Err(match st.hot.hole_below(lsn) {
            Some(hole) => EngineError::Hole { pg, lsn, scl, hole },
            None => EngineError::AboveScl { pg, lsn, scl },
        });
    }
    if lsn < st.min_read_point {
        return Err(EngineError::BelowMinReadPoint {
            pg,
            lsn,
            min_read_point: st.min_read_point,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use boreal_segment::{Change, PageId};

    use super::*;

    #[test]
    fn recycle_keeps_the_allocation() {
        let bytes = vec![1u8; 8];
        let mut v: Vec<Record<'_>> = Vec::with_capacity(32);
        v.push(Record::Redo(Redo {
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
        }));
        let ptr = v.as_ptr() as usize;
        let back: Vec<Record<'static>> = recycle(v);
        assert!(back.is_empty());
        assert_eq!(back.capacity(), 32);
        assert_eq!(back.as_ptr() as usize, ptr);
    }
}
