//! The `boreal-cluster` engine: each write I/O is one mini-transaction committed
//! through boreal's quorum shim on six storage nodes (two per AZ, 4-of-6 write quorum),
//! complete when the shim says it committed (its CPL record is at or below the VDL);
//! each read I/O is one GetPage@LSN at read point = VDL from one segment. What it
//! measures is what a database linking the shim would see: a commit's whole path
//! (LSN allocation, boxcarred sends to six nodes, their journals' group commit, the
//! fourth acknowledgement, the VDL) under `iodepth` concurrent transactions.
//!
//! Shape (the journal engine's, [`super::journal`]): one io_uring runtime on the job's
//! thread, the shim on it (`Shim<CountingIo>`), and a worker task per slot of
//! `iodepth`, handed I/Os through [`Slots`] as the file engines' workers are.
//! [`IoEngine::queue`] hands the I/O to an idle slot; [`IoEngine::commit`] does
//! nothing more; [`IoEngine::getevents`] wakes the slots handed since the last call
//! (inside the runtime: a push on its ready queue) and runs the
//! runtime (the woken workers, which queue their records on the shim's links, then
//! the links' writers and ackers) until `min` transactions committed or reads
//! returned. A write's changes are the I/O's
//! buffer cut into `record_size` pieces ([`pages`] says which page each goes to).
//!
//! The cluster ([`local`]): a running one (`boreal_cluster=DIR/cluster.toml`, from
//! `boreal cluster up`; its volume, and it keeps running), else the job's own six
//! `boreal-node` processes, started in the job's directory before timing and stopped
//! when the job ends. `boreal_slow_node_ms` starts the own cluster's node 6 with its
//! acknowledgements held back that long (`NodeConfig::ack_delay_us`), so the same job
//! file can show a commit with one slow member against the baseline. A read job on a
//! volume never written lays it out first (every page written once, before timing), as
//! fio lays out a file before reading it.
//!
//! A job whose I/Os stop completing (nodes hung or gone, no 4-of-6 quorum) fails
//! after `boreal_stall_timeout` instead of waiting for ever ([`stall`]): `getevents`
//! waits on a runtime timer whose deadline moves with every completion.
//!
//! Must never: complete a write the shim has not committed, or a read that did not
//! return a whole page; leave a node running when the job ends, fails to open or
//! stalls.
//!
//! Figures (JSON `boreal.engine_stats`, [`figures`]) cover the measured window: commits
//! and records of the measured I/Os; the shim's sends and bytes at the `Io` seam
//! ([`crate::engine::counting`]); each node's flushes, batches and frames from its
//! metrics endpoint ([`scrape`]); the disk's flush counter.

pub mod figures;
pub mod local;
pub mod pages;
pub use boreal_netlog::cluster::scrape;
pub mod stall;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Instant as RtInstant;
use boreal_engine::rt::{Runtime, timeout_at, yield_now};
use boreal_netlog::cluster::VolumeShape as ClusterVolume;
use boreal_netlog::quorum::{OpenReport, PageChange, Shim, ShimConfig};
use boreal_segment::{Lsn, PageId, PageSize};
use serde_json::{Map, Value};

use self::figures::Snapshot;
use self::local::{Cluster, LocalSpec};
use self::pages::VolumeShape;
use crate::engine::counting::CountingIo;
use crate::engine::slots::{Slots, beyond_depth, close_workers};
use crate::engine::{Completion, EngineTarget, Io, IoEngine, IoKind, Queued};
use crate::error::BenchError;

/// Deepest queue the engine takes (concurrent transactions; each a task).
pub const DEPTH_MAX: u32 = 4096;
/// Most records one transaction carries (`boreal_records_per_txn`).
pub const RECORDS_PER_TXN_MAX: u32 = 1024;
/// Records per transaction when the job does not say.
pub const RECORDS_PER_TXN_DEFAULT: u32 = 4;
/// `record_size` when the job gives neither it nor `bs`.
pub const RECORD_SIZE_DEFAULT: u64 = 128;
/// Pages of each PG of the job's own cluster's volume.
pub const PAGES_PER_PG: u64 = 1024;
/// Page size of the job's own cluster's volume (the volume default).
pub const PAGE_SIZE: PageSize = PageSize::DEFAULT;
/// Most PGs (`boreal_pgs`) of the job's volume.
pub const PGS_MAX: u32 = 64;
/// The shim's LSN allocation limit (its default): writers wait past VDL + this.
pub const LAL: u64 = 1_000_000;
/// Each node's journal when the job gives no `size`: a storage node's own default
/// (4 files of 64 MiB, `boreal_netlog::node::NodeConfig`), so its backlog (a quarter of
/// the journal) is the node's default 64 MiB too. With 16 MiB of backlog the nodes'
/// coalescers rewrote every page of the volume four times as often (NVMe-NOTES, "The
/// cluster job's journal").
pub const NODE_JOURNAL_BYTES_DEFAULT: u64 = 256 << 20;
/// Longest slow-node delay (`boreal_slow_node_ms`), ms: the node's own limit.
pub const SLOW_NODE_MS_MAX: u64 = boreal_netlog::limits::ACK_DELAY_US_MAX / 1000;
/// Submission queue entries of the job's ring: the shim's sends and receives, a few
/// per node connection.
const RING_ENTRIES: u32 = 256;

/// The `boreal-cluster` settings of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTarget {
    /// Records per transaction (`boreal_records_per_txn`).
    pub records_per_txn: u32,
    /// Change payload bytes of each record (`record_size`).
    pub record_size: u64,
    /// PGs of the volume (`boreal_pgs`).
    pub pgs: u32,
    /// Each node's journal, bytes (`size`).
    pub journal_bytes: u64,
    /// Node 6's acknowledgements held back this long (`boreal_slow_node_ms`).
    pub slow_node: Duration,
    /// A running cluster to use (`boreal_cluster`: its `cluster.toml` or directory);
    /// `None`: the job starts its own. A running cluster brings its own volume, journal
    /// sizes and slow node: `pgs`, `journal_bytes` and `slow_node` then do not apply.
    pub running: Option<PathBuf>,
    /// Fail the job when no I/O completed for this long with I/Os in flight
    /// (`boreal_stall_timeout`, [`stall`]); `None`: wait for ever.
    pub stall_timeout: Option<Duration>,
}

impl Default for ClusterTarget {
    fn default() -> Self {
        ClusterTarget {
            records_per_txn: RECORDS_PER_TXN_DEFAULT,
            record_size: RECORD_SIZE_DEFAULT,
            pgs: 1,
            journal_bytes: NODE_JOURNAL_BYTES_DEFAULT,
            slow_node: Duration::ZERO,
            running: None,
            stall_timeout: Some(stall::STALL_TIMEOUT_DEFAULT),
        }
    }
}

type ShimIo = Shim<CountingIo>;

/// One I/O handed to a worker.
struct Job {
    io: Io,
    /// Queued after the measurement started: it is counted.
    counted: bool,
}

/// Measured I/Os that completed.
#[derive(Debug, Default)]
struct Counted {
    commits: Cell<u64>,
    reads: Cell<u64>,
}

/// What the engine and its workers share (all on this thread).
struct Shared {
    slots: Slots<Job>,
    shape: VolumeShape,
    path: PathBuf,
    counted: Counted,
    /// When an I/O last completed, or I/Os went in flight after none were: the stall
    /// watchdog's start ([`stall`]), on the runtime's clock.
    progress_at: Cell<RtInstant>,
}

/// The `boreal-cluster` engine. See the module docs.
pub struct ClusterEngine {
    // Field order is drop order: the workers' runtime and the shim go before the nodes.
    rt: Option<Runtime>,
    shim: Option<Rc<ShimIo>>,
    cluster: Option<Cluster>,
    io: CountingIo,
    shared: Rc<Shared>,
    depth: u32,
    target: ClusterTarget,
    open: OpenReport,
    disk: Option<String>,
    measuring: bool,
    baseline: Option<Snapshot>,
}

impl std::fmt::Debug for ClusterEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterEngine")
            .field("path", &self.shared.path)
            .field("depth", &self.depth)
            .field("target", &self.target)
            .finish()
    }
}

impl ClusterEngine {
    /// Starts the job's cluster in `target.path`, opens the volume through the shim
    /// (volume recovery on a reused directory), lays the volume out for a job that
    /// reads, and spawns `iodepth` workers. Everything here happens before timing.
    pub fn open(target: &EngineTarget) -> Result<ClusterEngine, BenchError> {
        let ct = target.cluster.clone();
        let dir = target.path.clone();
        let depth = target.iodepth.clamp(1, DEPTH_MAX);
        let engine_err = |op: &'static str, message: String| BenchError::Engine {
            op,
            path: dir.clone(),
            message,
        };
        let cluster = match &ct.running {
            Some(file) => Cluster::attach(file)?,
            None => Cluster::start(&LocalSpec {
                dir: dir.clone(),
                journal_bytes: ct.journal_bytes,
                slow_node: ct.slow_node,
                volume: ClusterVolume {
                    page_size: PAGE_SIZE.get(),
                    pages_per_pg: PAGES_PER_PG,
                    pgs: ct.pgs,
                    lal: LAL,
                },
            })?,
        };
        let volume = cluster.volume();
        let page_size = PageSize::new(volume.page_size)
            .map_err(|e| engine_err("use the volume of the cluster in", e.to_string()))?;
        let payload_len = page_size.payload_len();
        if ct.record_size > payload_len as u64 {
            return Err(engine_err(
                "fit the job's records in the pages of the cluster in",
                format!(
                    "record_size {} is larger than a page payload ({payload_len} bytes of a {}-byte page): lower record_size",
                    ct.record_size, volume.page_size
                ),
            ));
        }
        let rt = Runtime::new(target.runtime_config(RING_ENTRIES)).map_err(|e| BenchError::Io {
            op: "create io_uring runtime for",
            path: dir.clone(),
            offset: 0,
            source: e,
        })?;
        let io = CountingIo::new(rt.io().clone());
        let cfg = ShimConfig::new(volume.clone());
        let (shim, open) = rt.block_on(Shim::open(io.clone(), cfg)).map_err(|e| {
            engine_err(
                "open the volume through the shim on the cluster in",
                e.to_string(),
            )
        })?;
        let shim = Rc::new(shim);
        let shape = VolumeShape {
            pgs: volume.pgs,
            pages_per_pg: volume.pages_per_pg,
            payload_len,
            record_size: ct.record_size as usize,
            records_per_txn: ct.records_per_txn as usize,
        };
        if target.reads && open.vdl == Lsn::ZERO {
            lay_out(&rt, &shim, &shape, depth as usize, ct.stall_timeout)
                .map_err(|e| engine_err("lay the volume out (write every page once) on", e))?;
        }
        let shared = Rc::new(Shared {
            slots: Slots::new(depth as usize),
            shape,
            path: dir.clone(),
            counted: Counted::default(),
            progress_at: Cell::new(rt.executor().now()),
        });
        for index in 0..depth as usize {
            rt.executor()
                .spawn(worker(shim.clone(), shared.clone(), index));
        }
        rt.block_on(yield_now());
        Ok(ClusterEngine {
            rt: Some(rt),
            shim: Some(shim),
            disk: crate::placement::disk_of(cluster.dir()),
            cluster: Some(cluster),
            io,
            shared,
            depth,
            target: ct,
            open,
            measuring: false,
            baseline: None,
        })
    }

    /// The stall watchdog fired ([`stall`]): reads what can be seen of the nodes, then
    /// drops the workers and the shim and stops the job's own cluster (the I/Os in
    /// flight are abandoned), and returns the error saying all of it.
    fn stalled(&mut self, idle: Duration, limit: Duration) -> BenchError {
        let in_flight = self.shared.slots.busy();
        let mut detail = match &self.shim {
            Some(shim) => format!(
                "the shim's VDL is {} (VCL {}); a commit needs 4 of the 6 nodes of its PG: ",
                shim.vdl().get(),
                shim.vcl().get()
            ),
            None => String::new(),
        };
        if let Some(cluster) = &self.cluster {
            let then = self.baseline.as_ref().map_or(&[][..], Snapshot::nodes);
            detail.push_str(&stall::nodes_report(cluster.nodes(), then));
        }
        self.shim = None;
        self.rt = None;
        match self.cluster.take() {
            Some(cluster) if cluster.own() => {
                let dir = cluster.dir().display().to_string();
                match cluster.stop() {
                    Ok(()) => detail.push_str(&format!("; the job's cluster in {dir} is stopped")),
                    Err(e) => detail.push_str(&format!("; stopping the job's cluster: {e}")),
                }
            }
            Some(cluster) => detail.push_str(&format!(
                "; the cluster in {} is left running (`boreal cluster status --dir {}` shows more)",
                cluster.dir().display(),
                cluster.dir().display()
            )),
            None => {}
        }
        BenchError::Stalled {
            path: self.shared.path.clone(),
            idle,
            limit,
            in_flight,
            detail,
        }
    }

    fn live(&self, offset: u64) -> Result<&Runtime, BenchError> {
        match (&self.rt, &self.shim) {
            (Some(rt), Some(_)) => Ok(rt),
            _ => Err(BenchError::Io {
                op: "use of closed boreal-cluster engine on",
                path: self.shared.path.clone(),
                offset,
                source: std::io::Error::from(std::io::ErrorKind::NotConnected),
            }),
        }
    }
}

/// Writes every page of the volume once (a full image), `depth` transactions at a time.
/// A transaction that does not commit within `stall` (nodes hung or gone) fails the
/// lay-out, as the watchdog fails a stalled job ([`stall`]): it would otherwise wait
/// for ever, before the job's timing even starts.
fn lay_out(
    rt: &Runtime,
    shim: &Rc<ShimIo>,
    shape: &VolumeShape,
    depth: usize,
    stall: Option<Duration>,
) -> Result<(), String> {
    let payload = shape.payload_len;
    let txns = Rc::new(RefCell::new(
        shape
            .fill_txns(|page| page_image(page, payload))
            .into_iter()
            .collect::<VecDeque<_>>(),
    ));
    rt.block_on(async {
        let tasks: Vec<_> = (0..depth.max(1))
            .map(|_| {
                let (shim, txns) = (shim.clone(), txns.clone());
                boreal_engine::rt::spawn(async move {
                    loop {
                        let next = txns.borrow_mut().pop_front();
                        let Some(changes) = next else { return Ok(()) };
                        let mut write = std::pin::pin!(shim.write(&changes));
                        let written = loop {
                            let Some(limit) = stall else {
                                break write.as_mut().await;
                            };
                            let deadline = boreal_engine::rt::now().saturating_add(limit);
                            match timeout_at(deadline, write.as_mut()).await {
                                Ok(w) => break w,
                                // Woken well after the deadline: this process did not
                                // run (stopped, starved); judge again from now.
                                Err(_) if stall::woke_late(deadline, boreal_engine::rt::now()) => {}
                                Err(_) => {
                                    return Err(format!(
                                        "a transaction did not commit within {:.1}s \
                                         (boreal_stall_timeout; the VDL is {}): are 4 of the \
                                         6 nodes of its PG up and answering?",
                                        limit.as_secs_f64(),
                                        shim.vdl().get()
                                    ));
                                }
                            }
                        };
                        written.map_err(|e| e.to_string())?;
                    }
                })
            })
            .collect();
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("a layout task was cancelled".to_string()),
            }
        }
        Ok(())
    })
}

/// The payload a laid-out page starts with: its id, repeated.
pub fn page_image(page: PageId, len: usize) -> Vec<u8> {
    page.get()
        .to_le_bytes()
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

/// One worker: waits for an I/O in its slot, commits it through the shim (a write) or
/// reads its page (a read), posts the completion. Returns when closing.
async fn worker(shim: Rc<ShimIo>, shared: Rc<Shared>, index: usize) {
    let mut changes: Vec<PageChange> = Vec::with_capacity(shared.shape.records_per_txn);
    loop {
        let Some(Job { mut io, counted }) = shared.slots.next(index).await else {
            return;
        };
        let len = io.buf.len();
        let result = match io.kind {
            IoKind::Write => {
                shared.shape.txn(io.offset, io.buf.as_slice(), &mut changes);
                // `changes` is kept: the next transaction rewrites its buffers.
                let written = shim.write(&changes).await;
                match written {
                    Ok(_) => {
                        if counted {
                            let c = &shared.counted.commits;
                            c.set(c.get() + 1);
                        }
                        Ok(len)
                    }
                    Err(e) => Err(std::io::Error::other(format!("commit: {e}"))),
                }
            }
            IoKind::Read => {
                let page = shared.shape.read_page(io.offset, len as u64);
                match shim.read_page(page).await {
                    Ok((_, payload)) if payload.len() >= len => {
                        io.buf.as_mut_slice().copy_from_slice(&payload[..len]);
                        if counted {
                            let c = &shared.counted.reads;
                            c.set(c.get() + 1);
                        }
                        Ok(len)
                    }
                    Ok((_, payload)) => Err(std::io::Error::other(format!(
                        "GetPage of {page} returned {} bytes, fewer than the {len} asked",
                        payload.len()
                    ))),
                    Err(e) => Err(std::io::Error::other(format!("GetPage of {page}: {e}"))),
                }
            }
            IoKind::Sync(_) | IoKind::Trim => {
                Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
            }
        };
        shared.progress_at.set(boreal_engine::rt::now());
        let completion = Completion {
            token: io.token,
            result,
            buf: io.buf,
        };
        shared.slots.finish(index, completion);
    }
}

impl IoEngine for ClusterEngine {
    fn name(&self) -> &'static str {
        "boreal-cluster"
    }

    fn depth_max(&self) -> u32 {
        self.depth
    }

    fn queue(&mut self, io: Io) -> Result<Queued, BenchError> {
        self.live(io.offset)?;
        if !matches!(io.kind, IoKind::Write | IoKind::Read) {
            return Err(BenchError::Io {
                op: "boreal-cluster takes only reads and writes; refused an I/O on",
                path: self.shared.path.clone(),
                offset: io.offset,
                source: std::io::Error::from(std::io::ErrorKind::Unsupported),
            });
        }
        let job = Job {
            io,
            counted: self.measuring,
        };
        match self.shared.slots.hand(job) {
            Ok(()) => Ok(Queued::Queued),
            Err(job) => Err(beyond_depth(&self.shared.path, job.io.offset)),
        }
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        let rt = self.live(0)?;
        let shared = &self.shared;
        // The stall clock starts again when these are the only I/Os in flight: a job
        // that waited with nothing in flight (a rate, a flow) has not stalled.
        if shared.slots.busy() == shared.slots.handed() {
            shared.progress_at.set(rt.executor().now());
        }
        // Not even woken here: the workers run in the next `getevents`, together with
        // every other I/O queued meanwhile, so what they queue on the shim's links
        // leaves in one send per link, as when many clients of one shim wake on one
        // acknowledgement. Running them here, one I/O at a time (fio's default
        // `iodepth_batch_submit=1`), would give every transaction sends of its own; and
        // a wake from outside the runtime takes the cross-thread path (an eventfd write
        // per commit), where `getevents` wakes them inside it.
        Ok(())
    }

    fn getevents(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError> {
        let rt = self.live(0)?;
        let shared = &self.shared;
        if shared.slots.handed() > 0 {
            // Queued on the executor's ready queue (a push, no syscall); they run in the
            // wait below, or in the next call's.
            rt.block_on(async { shared.slots.wake_handed() });
        }
        while !shared.slots.has_done(min) {
            let enough = shared.slots.wait_done(min);
            let Some(limit) = self.target.stall_timeout else {
                rt.block_on(enough);
                continue;
            };
            // A timer of the runtime: the thread sleeps until a completion or the
            // deadline, which moves with every completion.
            let deadline = shared.progress_at.get().saturating_add(limit);
            if rt.block_on(timeout_at(deadline, enough)).is_ok() {
                continue;
            }
            let now = rt.executor().now();
            if stall::woke_late(deadline, now) {
                // This thread did not run for a while (the process was stopped, or
                // starved): answers may be waiting unread. Judge again from now.
                shared.progress_at.set(now);
                continue;
            }
            let idle = now.saturating_duration_since(shared.progress_at.get());
            if idle >= limit {
                let error = self.stalled(idle, limit);
                return Err(error);
            }
        }
        shared.slots.drain(out);
        Ok(())
    }

    fn measure_start(&mut self) {
        self.measuring = true;
        self.baseline = Some(Snapshot::start(self));
    }

    fn close(&mut self) -> Result<(), BenchError> {
        if let Some(rt) = &self.rt {
            // Once the workers are gone, dropping the shim aborts its links' tasks.
            close_workers(rt, &self.shared.slots, &mut self.shim);
        }
        self.rt = None;
        match self.cluster.take() {
            Some(cluster) => cluster.stop(),
            None => Ok(()),
        }
    }

    fn extra_stats(&self, runtime: Duration) -> Map<String, Value> {
        figures::extra_stats(self, runtime)
    }
}
