//! The `boreal-journal` engine: each write I/O is one durable append of redo records
//! through a whole core of boreal's storage engine (`CoreEngine::append`: hot log,
//! per-core journal with group commit, background coalescer, page store), on the job's
//! own pinned [`Runtime`] and its `UringIo`, so what it measures is what one storage
//! node core does for a stream of appends with no network in front.
//!
//! Shape (the `io_uring` engine's, see [`super::uring`]): one runtime on the job's
//! thread and a slot per in-flight I/O ([`Slots`]), as fio keeps `iodepth` I/Os in
//! flight from one thread with no task per I/O. [`IoEngine::queue`] claims a slot,
//! allocates the I/O's LSNs and backlinks ([`sequencer`]: one LSN counter per job, PGs
//! round-robin per I/O, chains per PG and per page) into the slot's reused plan and
//! starts the append with `CoreEngine::try_append`, which encodes its records into the
//! journal's open batch and returns a `PendingAppend`. [`IoEngine::commit`] runs the
//! executor (the journal's flusher pushes the batch write) and submits;
//! [`IoEngine::getevents`] runs the executor (flusher, coalescer) and polls the
//! pending appends in order with `CoreEngine::poll_append` until `min` are
//! acknowledged. An append that must wait (backpressure, a full batch) is handed to
//! the slot's worker task, spawned at open, which calls `CoreEngine::append`. Either
//! way the slot is busy until the append's completion is posted. The change payload
//! of record `i` is the `i`-th `record_size` piece of the I/O's buffer
//! (`Change::Delta` at an offset inside a page), so no record is copied before the
//! engine encodes it.
//!
//! Appends may complete in any order (the hot log accepts records above a hole; the
//! SCL catches up). The bench plays the shim's part for reads too: every
//! [`READ_POINT_INTERVAL`] a task of its own raises each PG's min read point (PGMRPL) to
//! the SCL it was last acknowledged, as a shim's read-point task does, which is what
//! lets the coalescer materialize and the journal recycle. A timer, not the
//! acknowledgements, drives it: when every append waits for the backlog to drain, none
//! is acknowledged, and only a raised read point lets the backlog drain. Nothing reads
//! pages yet (GetPage@LSN reads are a later engine mode).
//!
//! Setup, all before timing: the data directory is created if missing; the engine's
//! `open_dir` creates (pre-allocating and pre-writing the journal) or opens and
//! recovers it; missing segments are created; on a reused directory each PG's chains
//! continue from its SCL and each page's newest LSN (read back with GetPage@LSN).
//!
//! Must never: acknowledge an I/O the engine did not acknowledge durably (a
//! completion is `Ok` only for an `append` that accepted every record); allocate per
//! I/O in the harness's path (plans and record vectors are reused; the engine's own
//! allocations are the engine's); run two engines on one directory (the harness plans
//! one directory per job copy).
//!
//! Figures (JSON `boreal.engine_stats`) cover the measured part only: counters are
//! read when the first measured I/O is queued and again at the end. Records
//! acknowledged count exactly the measured I/Os; device-side counters (journal and
//! page store bytes, batches, syncs) are deltas over the same window, so they may
//! include the completion of up to `iodepth` I/Os queued during the ramp.

pub mod sequencer;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use boreal_engine::journal::{DurabilityMode, JournalConfig, JournalStats};
use boreal_engine::node::{
    AppendAck, CoreEngine, CoreStats, EngineConfig, EngineError, PendingAppend,
};
use boreal_engine::rt::{Runtime, sleep, yield_now};
use boreal_segment::limits::{BATCH_BYTES_MAX, JOURNAL_FILE_HEADER_SIZE};
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};
use serde_json::{Map, Value, json};

use self::sequencer::{PgCursor, PlannedRecord, Sequencer};
use crate::engine::counting::{CountingIo, FileKind, IoCounts};
use crate::engine::slots::{Slots, beyond_depth, close_workers};
use crate::engine::{Completion, EngineTarget, Io, IoEngine, IoKind, Queued};
use crate::error::BenchError;

/// Deepest queue the engine takes (concurrent appends; each is a task, not a ring entry).
pub const DEPTH_MAX: u32 = 4096;
/// Pages of each PG's range: bounded, so the coalescer rewrites the same pages.
pub const PAGES_PER_PG: u64 = 1024;
/// Page size of the job's segments (the volume default).
pub const PAGE_SIZE: PageSize = PageSize::DEFAULT;
/// Most PGs (`boreal_pgs`) a job spreads its appends over.
pub const PGS_MAX: u32 = 64;
/// Most records one I/O carries (`bs / record_size`).
pub const RECORDS_PER_IO_MAX: u64 = 16384;
/// Journal files of the job's core.
pub const JOURNAL_FILES: u32 = 4;
/// Journal size when the job gives no `size`: the journal's own default, 4 × 64 MiB.
pub const JOURNAL_BYTES_DEFAULT: u64 = 256 << 20;
/// Smallest `size`: every journal file must hold its header and one largest batch.
pub const JOURNAL_BYTES_MIN: u64 =
    JOURNAL_FILES as u64 * (BATCH_BYTES_MAX as u64 + JOURNAL_FILE_HEADER_SIZE as u64);
/// How often the bench, as the shim, raises each PG's min read point to its SCL.
pub const READ_POINT_INTERVAL: Duration = Duration::from_millis(10);
/// Submission queue entries: the journal keeps up to three batch writes (or
/// write+sync pairs) in flight, the coalescer up to `EngineConfig::coalesce_io_depth` (32 by default) page-store
/// I/Os, plus the runtime's eventfd read. A full queue is submitted and retried, so
/// this only has to be large enough not to force extra `io_uring_enter`s.
const RING_ENTRIES: u32 = 128;

/// The `boreal-journal` settings of a job (job options `record_size`,
/// `boreal_durability`, `boreal_pgs`, and `size` as the journal's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalTarget {
    /// Change payload bytes per record; divides `bs`.
    pub record_size: u64,
    /// How the journal makes a batch durable; `None`: the journal's default.
    pub durability: Option<DurabilityMode>,
    /// PGs the appends go to, round-robin per I/O.
    pub pgs: u32,
    /// Batch writes in flight (`JournalConfig::pipeline_depth`); `None`: the default.
    pub pipeline_depth: Option<usize>,
    /// `EngineConfig::coalesce_pace_below_percent`; `None`: the default.
    pub coalesce_pace: Option<u32>,
    /// Total journal bytes, split over [`JOURNAL_FILES`] files.
    pub journal_bytes: u64,
}

impl Default for JournalTarget {
    fn default() -> Self {
        JournalTarget {
            record_size: 4096,
            durability: None,
            pgs: 1,
            pipeline_depth: None,
            coalesce_pace: None,
            journal_bytes: JOURNAL_BYTES_DEFAULT,
        }
    }
}

/// The spelling of a durability mode in job files.
pub fn durability_name(mode: DurabilityMode) -> &'static str {
    match mode {
        DurabilityMode::DsyncWrite => "dsync",
        DurabilityMode::WriteThenFdatasync => "fdatasync",
        DurabilityMode::Linked => "linked",
    }
}

type Core = CoreEngine<CountingIo>;

/// One I/O of a slot: handed to the slot's worker, or started by `queue` ([`Started`]).
struct Job {
    io: Io,
    /// Index of the PG in [`Shared::pgs`].
    pg: usize,
    /// Queued after the measurement started: its records are counted.
    counted: bool,
}

/// An append `queue` started, waiting for its batch to be durable.
struct Started {
    index: usize,
    job: Job,
    /// Records of the append.
    count: usize,
    append: PendingAppend,
}

/// What the engine and its workers share (all on this thread).
struct Shared {
    slots: Slots<Job>,
    /// Each slot's planned records (reused).
    plans: Vec<RefCell<Vec<PlannedRecord>>>,
    /// The PGs and the epoch appends carry.
    pgs: Vec<(PgId, Epoch)>,
    record_size: usize,
    records_per_io: usize,
    /// Records of measured I/Os acknowledged.
    records_acked: Cell<u64>,
    /// Highest SCL acknowledged per PG (same order as `pgs`).
    scl: Vec<Cell<Lsn>>,
    /// Appends `queue` started, in journal order.
    pending: RefCell<VecDeque<Started>>,
    /// The record vector `queue` and `getevents` build appends in (kept empty).
    scratch: RefCell<Vec<Redo<'static>>>,
}

impl Shared {
    /// The records of the I/O in slot `index` (its plan, payloads cut from its
    /// buffer), built in `scratch` (returned empty by the caller with [`recycle`]).
    fn records<'b>(&self, scratch: Vec<Redo<'_>>, index: usize, job: &'b Job) -> Vec<Redo<'b>> {
        let mut records = recycle(scratch);
        let (pg, _) = self.pgs[job.pg];
        let plan = self.plans[index].borrow();
        let pieces = job.io.buf.as_slice().chunks_exact(self.record_size);
        for (p, bytes) in plan.iter().zip(pieces) {
            records.push(Redo {
                lsn: p.lsn,
                prev_lsn_pg: p.prev_lsn_pg,
                prev_lsn_page: p.prev_lsn_page,
                pg_id: pg,
                page_id: p.page,
                cpl: false,
                change: Change::Delta {
                    offset: p.offset,
                    bytes,
                },
            });
        }
        // The I/O is one mini-transaction: its last record is the consistency point.
        if let Some(last) = records.last_mut() {
            last.cpl = true;
        }
        records
    }

    /// The append of slot `index` (`count` records) ended with `appended`: posts the
    /// completion and frees the slot.
    fn complete(
        &self,
        index: usize,
        job: Job,
        count: usize,
        appended: Result<AppendAck, EngineError>,
    ) {
        let (pg, _) = self.pgs[job.pg];
        let result = match appended {
            Ok(ack) if ack.accepted == count => {
                self.acked(job.pg, ack.scl);
                if job.counted {
                    self.records_acked
                        .set(self.records_acked.get() + count as u64);
                }
                Ok(job.io.buf.len())
            }
            Ok(ack) => Err(std::io::Error::other(format!(
                "append of {count} records to {pg} accepted only {} ({} duplicates)",
                ack.accepted, ack.duplicates
            ))),
            Err(e) => Err(std::io::Error::other(format!("append to {pg}: {e}"))),
        };
        let completion = Completion {
            token: job.io.token,
            result,
            buf: job.io.buf,
        };
        self.slots.finish(index, completion);
    }

    /// Acknowledges the pending appends whose batch is durable, oldest first; the
    /// first that is not registers `cx` to be woken when its batch completes.
    fn poll_pending(&self, core: &Core, cx: &mut std::task::Context<'_>) {
        loop {
            let mut pending = self.pending.borrow_mut();
            let Some(front) = pending.front_mut() else {
                return;
            };
            let Poll::Ready(appended) = core.poll_append(&mut front.append, cx) else {
                return;
            };
            let started = pending.pop_front().expect("polled the front");
            drop(pending);
            self.complete(started.index, started.job, started.count, appended);
        }
    }

    /// An append of PG `index` was acknowledged with `scl`: remember it (the read-point
    /// task raises the PG's min read point to it).
    fn acked(&self, index: usize, scl: Lsn) {
        let cell = &self.scl[index];
        if scl > cell.get() {
            cell.set(scl);
        }
    }
}

/// The bench's part as a shim for reads: every [`READ_POINT_INTERVAL`], each PG's min
/// read point goes up to the SCL last acknowledged. Ends when the engine is dropped.
async fn raise_read_points(core: Rc<Core>, shared: std::rc::Weak<Shared>) {
    loop {
        sleep(READ_POINT_INTERVAL).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        for (i, (pg, _)) in shared.pgs.iter().enumerate() {
            // A PG this core holds (checked at open): cannot fail.
            let _ = core.set_min_read_point(*pg, shared.scl[i].get());
        }
    }
}

/// Counters read at the start of the measurement and at the end.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    journal: JournalStats,
    core: CoreStats,
    io_journal: IoCounts,
    io_pages: IoCounts,
    enters: u64,
    /// Parks that saw a completion while polling, and parks that slept.
    spins: (u64, u64),
    proc_thread: Option<u64>,
    proc_process: Option<u64>,
}

/// The `boreal-journal` engine. See the module docs.
pub struct JournalEngine {
    // Field order is drop order: the workers' runtime goes first.
    rt: Option<Runtime>,
    core: Option<Rc<Core>>,
    io: CountingIo,
    shared: Rc<Shared>,
    sequencer: Sequencer,
    depth: u32,
    path: PathBuf,
    target: JournalTarget,
    open_summary: String,
    measuring: bool,
    baseline: Snapshot,
}

impl std::fmt::Debug for JournalEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalEngine")
            .field("path", &self.path)
            .field("depth", &self.depth)
            .field("target", &self.target)
            .finish()
    }
}

fn engine_err<'p>(op: &'static str, path: &'p Path) -> impl Fn(EngineError) -> BenchError + 'p {
    move |e| BenchError::Engine {
        op,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl JournalEngine {
    /// Creates or opens the core in `target.path` (a directory, created if missing) on
    /// the calling (pinned) thread, makes sure its PGs exist, and spawns `iodepth`
    /// workers. Everything here happens before timing.
    pub fn open(target: &EngineTarget) -> Result<JournalEngine, BenchError> {
        let jt = target.journal;
        let dir = &target.path;
        let depth = target.iodepth.clamp(1, DEPTH_MAX);
        assert!(
            jt.record_size > 0 && target.bs.is_multiple_of(jt.record_size),
            "validated: record_size divides bs"
        );
        let records_per_io = (target.bs / jt.record_size) as usize;
        let io_err = |op, source| BenchError::Io {
            op,
            path: dir.clone(),
            offset: 0,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io_err("create data directory", e))?;
        let rt = Runtime::new(target.runtime_config(RING_ENTRIES))
            .map_err(|e| io_err("create io_uring runtime for", e))?;
        let io = CountingIo::new(rt.io().clone());
        let mut ecfg = EngineConfig::new(dir);
        let mut jcfg = JournalConfig::new(dir);
        jcfg.files = JOURNAL_FILES;
        jcfg.file_bytes = jt.journal_bytes / u64::from(JOURNAL_FILES) / 4096 * 4096;
        // `open_dir` refuses a backlog bound the journal cannot hold well
        // (`JournalConfig::check_backlog`): a small `size` gets a smaller bound.
        ecfg.backlog_bytes_max = ecfg
            .backlog_bytes_max
            .min(usize::try_from(jcfg.backlog_bytes_fit()).unwrap_or(usize::MAX));
        if let Some(mode) = jt.durability {
            jcfg.durability = mode;
        }
        if let Some(depth) = jt.pipeline_depth {
            jcfg.pipeline_depth = depth;
        }
        if let Some(pace) = jt.coalesce_pace {
            ecfg.coalesce_pace_below_percent = pace;
        }
        let durability = jcfg.durability;
        let (core, report, cursors, epochs, after) = rt.block_on(async {
            let (core, report) = CoreEngine::open_dir(io.clone(), ecfg, jcfg.clone())
                .await
                .map_err(|e| BenchError::Engine {
                    op: "open the storage engine core in",
                    path: dir.clone(),
                    message: format!(
                        "{e} (a reused directory must hold a journal of the same `size`, {} files of {} bytes; remove the directory to start afresh)",
                        jcfg.files, jcfg.file_bytes
                    ),
                })?;
            let (cursors, epochs, after) = prepare_pgs(&core, jt.pgs, dir).await?;
            Ok::<_, BenchError>((core, report, cursors, epochs, after))
        })?;
        let core = Rc::new(core);
        let pgs: Vec<(PgId, Epoch)> = cursors.iter().map(|c| c.pg).zip(epochs).collect();
        let scl = cursors.iter().map(|c| Cell::new(c.last_lsn)).collect();
        let shared = Rc::new(Shared {
            slots: Slots::new(depth as usize),
            plans: (0..depth)
                .map(|_| RefCell::new(Vec::with_capacity(records_per_io)))
                .collect(),
            pgs,
            record_size: jt.record_size as usize,
            records_per_io,
            records_acked: Cell::new(0),
            scl,
            pending: RefCell::new(VecDeque::with_capacity(depth as usize)),
            scratch: RefCell::new(Vec::with_capacity(records_per_io)),
        });
        for index in 0..depth as usize {
            rt.executor()
                .spawn(worker(core.clone(), shared.clone(), index));
        }
        rt.executor()
            .spawn(raise_read_points(core.clone(), Rc::downgrade(&shared)));
        rt.block_on(yield_now());
        let sequencer = Sequencer::new(
            cursors,
            after,
            jt.record_size as u32,
            PAGE_SIZE.payload_len(),
        );
        let open_summary = format!(
            "{}; durability {}; pipeline depth {}; {} PGs × {PAGES_PER_PG} pages of {} bytes",
            report.summary(),
            durability_name(durability),
            jcfg.pipeline_depth,
            jt.pgs,
            PAGE_SIZE.get()
        );
        let mut engine = JournalEngine {
            rt: Some(rt),
            core: Some(core),
            io,
            shared,
            sequencer,
            depth,
            path: dir.clone(),
            target: jt,
            open_summary,
            measuring: false,
            baseline: Snapshot::default(),
        };
        engine.baseline = engine.snapshot();
        Ok(engine)
    }

    fn core(&self, offset: u64) -> Result<(&Runtime, &Rc<Core>), BenchError> {
        match (&self.rt, &self.core) {
            (Some(rt), Some(core)) => Ok((rt, core)),
            _ => Err(BenchError::Io {
                op: "use of closed boreal-journal engine on",
                path: self.path.clone(),
                offset,
                source: std::io::Error::from(std::io::ErrorKind::NotConnected),
            }),
        }
    }

    fn snapshot(&self) -> Snapshot {
        let (journal, core) = match &self.core {
            Some(c) => (c.journal().stats(), c.stats()),
            None => (JournalStats::default(), CoreStats::default()),
        };
        let ring = self.rt.as_ref().map(|rt| rt.io().stats());
        let ring = ring.as_ref();
        Snapshot {
            journal,
            core,
            io_journal: self.io.counts(FileKind::Journal),
            io_pages: self.io.counts(FileKind::PageStore),
            enters: ring.map_or(0, |r| r.enters),
            spins: ring.map_or((0, 0), |r| (r.spins_woken, r.spins_slept)),
            proc_thread: proc_write_bytes("/proc/thread-self/io"),
            proc_process: proc_write_bytes("/proc/self/io"),
        }
    }
}

/// Creates the job's PGs that do not exist yet and reads where each one's chains
/// stand; raises every segment's min read point to its SCL (so what an earlier run
/// left, even in PGs this job does not use, is materialized and its journal files
/// recycle). Returns the cursors, the epochs, and the highest LSN of the core.
async fn prepare_pgs(
    core: &Core,
    pgs: u32,
    dir: &Path,
) -> Result<(Vec<PgCursor>, Vec<Epoch>, Lsn), BenchError> {
    let existing = core.segments();
    let mut cursors = Vec::with_capacity(pgs as usize);
    let mut epochs = Vec::with_capacity(pgs as usize);
    for index in 0..pgs {
        let pg = PgId::new(index);
        let first_page = u64::from(index) * PAGES_PER_PG;
        if !existing.contains(&pg) {
            core.create_segment(pg, PAGE_SIZE, first_page, PAGES_PER_PG)
                .await
                .map_err(engine_err("create segment in", dir))?;
        }
        let st = core
            .status(pg)
            .map_err(engine_err("read segment status in", dir))?;
        if !st.holes.is_empty() || st.page_size != PAGE_SIZE {
            return Err(BenchError::Engine {
                op: "reuse",
                path: dir.to_path_buf(),
                message: format!(
                    "{pg} has holes {:?} or a page size of {} (want {}): the directory holds data this job cannot continue; remove it",
                    st.holes,
                    st.page_size.get(),
                    PAGE_SIZE.get()
                ),
            });
        }
        let mut page_last = vec![Lsn::ZERO; PAGES_PER_PG as usize];
        if st.scl > Lsn::ZERO {
            for (i, last) in page_last.iter_mut().enumerate() {
                let page = PageId::new(first_page + i as u64);
                *last = core
                    .read_page(pg, page, st.scl)
                    .await
                    .map_err(engine_err("read back a page of a reused segment in", dir))?
                    .page_lsn;
            }
        }
        cursors.push(PgCursor {
            pg,
            first_page,
            last_lsn: st.scl,
            page_last,
            records: 0,
        });
        epochs.push(st.epoch);
    }
    let mut after = Lsn::ZERO;
    for pg in core.segments() {
        let scl = core
            .status(pg)
            .map_err(engine_err("read segment status in", dir))?
            .scl;
        core.set_min_read_point(pg, scl)
            .map_err(engine_err("set the min read point in", dir))?;
        after = after.max(scl);
    }
    Ok((cursors, epochs, after))
}

/// `write_bytes` of a `/proc/.../io` file, if readable.
fn proc_write_bytes(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Empties a record vector and gives it back with another lifetime, keeping its
/// allocation (an in-place `collect` of a same-layout type reuses the buffer), so the
/// workers build every append's records without allocating.
fn recycle<'b>(mut v: Vec<Redo<'_>>) -> Vec<Redo<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| -> Redo<'b> { unreachable!("the vector is empty") })
        .collect()
}

/// One worker: waits for an I/O in its slot (an append `try_append` could not start),
/// appends its planned records (cut from the I/O's buffer) durably with
/// `CoreEngine::append`, which waits as it must; posts the completion. Returns when
/// closing.
async fn worker(core: Rc<Core>, shared: Rc<Shared>, index: usize) {
    let mut scratch: Vec<Redo<'static>> = Vec::with_capacity(shared.records_per_io);
    loop {
        let Some(job) = shared.slots.next(index).await else {
            return;
        };
        let (pg, epoch) = shared.pgs[job.pg];
        let records = shared.records(std::mem::take(&mut scratch), index, &job);
        let count = records.len();
        let appended = core.append(pg, epoch, &records).await;
        scratch = recycle(records);
        shared.complete(index, job, count, appended);
    }
}

impl IoEngine for JournalEngine {
    fn name(&self) -> &'static str {
        "boreal-journal"
    }

    fn depth_max(&self) -> u32 {
        self.depth
    }

    fn queue(&mut self, io: Io) -> Result<Queued, BenchError> {
        self.core(io.offset)?;
        if io.kind != IoKind::Write {
            return Err(BenchError::Io {
                op: "boreal-journal takes only writes; refused an I/O on",
                path: self.path.clone(),
                offset: io.offset,
                source: std::io::Error::from(std::io::ErrorKind::Unsupported),
            });
        }
        let shared = &self.shared;
        let Some(index) = shared.slots.claim() else {
            return Err(beyond_depth(&self.path, io.offset));
        };
        let pg = self
            .sequencer
            .next_io(shared.records_per_io, &mut shared.plans[index].borrow_mut());
        let job = Job {
            io,
            pg,
            counted: self.measuring,
        };
        // Started here (encoded into the journal's open batch) unless it must wait
        // or fails: then its worker runs `append`, which waits or reports the error.
        let (started, count) = {
            let core = self.core.as_ref().expect("checked by core() above");
            let (pg, epoch) = shared.pgs[job.pg];
            let scratch = std::mem::take(&mut *shared.scratch.borrow_mut());
            let records = shared.records(scratch, index, &job);
            let started = core.try_append(pg, epoch, &records);
            let count = records.len();
            *shared.scratch.borrow_mut() = recycle(records);
            (started, count)
        };
        match started {
            Ok(Some(append)) => shared.pending.borrow_mut().push_back(Started {
                index,
                job,
                count,
                append,
            }),
            Ok(None) | Err(_) => shared.slots.hand_to(index, job),
        }
        Ok(Queued::Queued)
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        let (rt, _) = self.core(0)?;
        let shared = &self.shared;
        rt.block_on(async {
            shared.slots.wake_handed();
            // The appends `queue` started are in the open batch already. First the
            // woken workers run (appends that had to wait), then the flusher (it
            // pushes the batch write); then one io_uring_enter submits it.
            yield_now().await;
            yield_now().await;
            rt.io().submit_now();
        });
        Ok(())
    }

    fn getevents(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError> {
        let (rt, core) = self.core(0)?;
        let shared = &self.shared;
        if !shared.slots.has_done(min) {
            let complete = |cx: &mut std::task::Context<'_>| shared.poll_pending(core, cx);
            rt.block_on(shared.slots.wait_done_after(min, complete));
        }
        shared.slots.drain(out);
        Ok(())
    }

    fn measure_start(&mut self) {
        self.measuring = true;
        self.baseline = self.snapshot();
    }

    fn close(&mut self) -> Result<(), BenchError> {
        if let Some(rt) = &self.rt {
            // Once the workers are gone, dropping the last handle on the core stops the
            // coalescer and closes the journal (its flusher ends at its next poll).
            close_workers(rt, &self.shared.slots, &mut self.core);
        }
        self.rt = None;
        Ok(())
    }

    fn extra_stats(&self, runtime: Duration) -> Map<String, Value> {
        let now = self.snapshot();
        let base = &self.baseline;
        let secs = runtime.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        let records = self.shared.records_acked.get();
        let redo_bytes = records * self.target.record_size;
        let j = (&now.journal, &base.journal);
        let journal_bytes = (j.0.bytes - j.1.bytes)
            + (j.0.header_writes - j.1.header_writes + j.0.files_marked_free
                - j.1.files_marked_free)
                * JOURNAL_FILE_HEADER_SIZE as u64;
        let batches = j.0.batches - j.1.batches;
        let io_journal = now.io_journal.since(&base.io_journal);
        let io_pages = now.io_pages.since(&base.io_pages);
        let c = (&now.core, &base.core);
        let pages_written = c.0.pages_written - c.1.pages_written;
        let device_bytes = journal_bytes + io_pages.bytes_written;
        let proc_delta = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => json!(a.saturating_sub(b)),
            _ => Value::Null,
        };
        let mut map = Map::new();
        let mut put = |k: &str, v: Value| {
            map.insert(k.to_string(), v);
        };
        put("data_dir", json!(self.path.display().to_string()));
        put("open", json!(self.open_summary));
        put("record_size", json!(self.target.record_size));
        put("records_per_io", json!(self.shared.records_per_io));
        put("pgs", json!(self.target.pgs));
        put("records_acknowledged", json!(records));
        put("records_per_sec", json!(per_sec(records)));
        put("redo_payload_bytes", json!(redo_bytes));
        put("journal_bytes_written", json!(journal_bytes));
        put("page_store_bytes_written", json!(io_pages.bytes_written));
        put("device_bytes_written", json!(device_bytes));
        put(
            "device_bytes_per_redo_byte",
            json!(ratio(device_bytes, redo_bytes)),
        );
        put("journal_batches", json!(batches));
        put("journal_syncs", json!(j.0.syncs - j.1.syncs));
        put("journal_pipelined", json!(j.0.pipelined - j.1.pipelined));
        put(
            "journal_pipelined_behind_two",
            json!(j.0.pipelined_behind_two - j.1.pipelined_behind_two),
        );
        put(
            "records_per_batch",
            json!(ratio(j.0.records - j.1.records, batches)),
        );
        put(
            "journal_space_waits",
            json!(j.0.space_waits - j.1.space_waits),
        );
        put("journal_room_waits", json!(j.0.room_waits - j.1.room_waits));
        put(
            "backpressure_waits",
            json!(c.0.backpressure_waits - c.1.backpressure_waits),
        );
        put(
            "backpressure_refusals",
            json!(c.0.backpressure_refusals - c.1.backpressure_refusals),
        );
        put(
            "coalescer_passes",
            json!(c.0.coalescer_passes - c.1.coalescer_passes),
        );
        put("pages_written", json!(pages_written));
        put(
            "records_materialized",
            json!(c.0.records_materialized - c.1.records_materialized),
        );
        put("backlog_bytes_at_end", json!(now.core.backlog_bytes));
        put(
            "page_store_bytes_per_page_written",
            json!(ratio(io_pages.bytes_written, pages_written)),
        );
        put("page_store_syncs", json!(io_pages.syncs));
        put(
            "io_seam_journal_bytes_written",
            json!(io_journal.bytes_written),
        );
        put("io_uring_enter_calls", json!(now.enters - base.enters));
        put("park_spins_woken", json!(now.spins.0 - base.spins.0));
        put("park_spins_slept", json!(now.spins.1 - base.spins.1));
        put(
            "proc_thread_io_write_bytes",
            proc_delta(now.proc_thread, base.proc_thread),
        );
        put(
            "proc_process_io_write_bytes",
            proc_delta(now.proc_process, base.proc_process),
        );
        put(
            "note",
            json!(
                "journal bytes from the journal's own stats (batches + recycled-file headers + freed-file headers); page store bytes counted at the Io seam (the page store has no byte counter): page images, page-file zero-fill growth, segment metadata; proc_*_io_write_bytes: /proc write_bytes over the same window, for a cross-check (process-wide includes other job threads)"
            ),
        );
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycle_keeps_the_allocation() {
        let bytes = vec![1u8; 8];
        let mut v: Vec<Redo<'_>> = Vec::with_capacity(32);
        v.push(Redo {
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
        let ptr = v.as_ptr() as usize;
        let back: Vec<Redo<'static>> = recycle(v);
        assert!(back.is_empty());
        assert_eq!(back.capacity(), 32);
        assert_eq!(back.as_ptr() as usize, ptr);
    }

    #[test]
    fn journal_minimum_fits_a_batch_per_file() {
        let file_bytes = JOURNAL_BYTES_MIN / u64::from(JOURNAL_FILES);
        assert_eq!(
            file_bytes,
            (BATCH_BYTES_MAX + JOURNAL_FILE_HEADER_SIZE) as u64
        );
        let mut cfg = JournalConfig::new("/j");
        cfg.files = JOURNAL_FILES;
        cfg.file_bytes = file_bytes;
        cfg.validate().unwrap();
    }
}
