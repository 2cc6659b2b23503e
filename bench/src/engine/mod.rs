//! The engine seam: how an I/O reaches the device, and nothing else.
//!
//! The harness ([`crate::runner`]) decides what to issue, when, and what is counted;
//! an engine only moves bytes. The trait is shaped after fio's ioengine ops so that
//! submission latency means the same thing for every engine:
//!
//! 1. [`IoEngine::queue`] hands the engine one I/O. A synchronous engine (`psync`) does
//!    the I/O right there and returns [`Queued::Completed`]; an asynchronous one only
//!    prepares it and returns [`Queued::Queued`].
//! 2. [`IoEngine::commit`] submits everything queued since the last commit. The harness
//!    times this call: submission latency (`slat`) of each queued I/O ends here.
//! 3. [`IoEngine::getevents`] waits until at least `min` queued I/Os have completed and
//!    appends their [`Completion`]s. Completion latency (`clat`) ends when it returns.
//!
//! Syncs are I/Os too ([`IoKind::Sync`]), queued like reads and writes, so an async
//! engine can submit `fdatasync` on its ring (and even link it after a write). The
//! harness only queues a sync when no other I/O of the job is in flight, so a sync
//! always covers every write issued before it.
//!
//! Buffers are owned [`DmaBuf`]s (boreal-engine's aligned buffer, the one type the
//! runtime's I/O takes) that go into the engine with the I/O and come back with its
//! completion, because an io_uring engine must keep the memory alive until the kernel
//! is done with it; the io_uring engine hands them to the ring without a copy.
//! Engines are created on the job's own pinned thread by
//! [`open_engine`] and never cross threads (the trait does not require `Send`), which
//! fits boreal's thread-per-core runtime with `Rc`/`RefCell` state.
//!
//! Engines:
//! - `psync` ([`psync`]): pread/pwrite, synchronous, depth 1.
//! - `io_uring` ([`uring`]): boreal's own per-core runtime (`engine::rt`) and its
//!   `UringIo`; `queue` hands the I/O to a worker task, `commit` is one
//!   `io_uring_enter` that submits the batch, `getevents` drives the executor until
//!   enough completions are in.
//!
//! - `boreal-journal` ([`journal`]): each write is one durable append of
//!   `bs / record_size` redo records to a whole core of boreal's storage engine
//!   (`CoreEngine`: hot log, per-core group-commit journal, coalescer, page store) on
//!   the same runtime; `getevents` drives that executor until `min` appends are
//!   acknowledged. Writes only (GetPage@LSN reads come later).
//!
//! - `boreal-cluster` ([`cluster`]): each write is one mini-transaction committed
//!   through boreal's quorum shim on six storage nodes (4 of 6 durable), each read one
//!   GetPage@LSN at the VDL; the job starts its own six nodes in its directory.
//!
//! - `null` ([`null`]): no I/O; every I/O completes at `getevents` (fio's null
//!   engine: what the harness itself costs).
//!
//! - `tokio-uring` and `glommio` (modules of the same names, behind cargo features of
//!   the same names, off by default): the two best-known Rust io_uring runtimes, driven
//!   through the same worker slots ([`slots`]) as boreal's, for a side-by-side run.
//!
//! Trims ([`IoKind::Trim`]) are done synchronously inside `queue`, as fio's io_uring
//! engine does them: `BLKDISCARD` on a block device, a punched hole in a regular file
//! ([`trim_file`]).
//!
//! Access-pattern advice: as fio's `fadvise_hint` (default 1) does, `psync` and
//! `io_uring` (hence `libaio`) advise the kernel of the job's pattern on each regular
//! file or block device they open ([`EngineTarget::advice`], [`takes_access_advice`]):
//! by default `POSIX_FADV_RANDOM` for a random job, which turns the kernel's readahead
//! off, else `POSIX_FADV_SEQUENTIAL`; `fadvise_hint=0` advises nothing. Linux keeps
//! the advice per open file description, so each engine gives it on the descriptor
//! its reads go through. The other engines give none: `boreal-journal` and
//! `boreal-cluster` run boreal's storage engine on files of its own, `null` opens
//! nothing, `glommio` reads only with O_DIRECT (no readahead to turn off), and
//! `tokio-uring`'s files have no fadvise (so a buffered random job there still gets
//! readahead, unlike fio).
//!
//! Engine-specific figures (records/s, device bytes per redo byte, …) go into
//! [`IoEngine::extra_stats`] and appear in the JSON under each job's `"boreal"` object.
//! The harness calls [`IoEngine::measure_start`] just before it queues the first I/O it
//! counts (after `ramp_time`), so an engine can take its counters' baseline there.

pub mod cluster;
pub mod counting;
#[cfg(feature = "glommio")]
pub mod glommio;
pub mod journal;
pub mod null;
pub mod psync;
pub mod slots;
#[cfg(feature = "tokio-uring")]
pub mod tokio_uring;
pub mod uring;

use std::path::PathBuf;
use std::time::Duration;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::Advice;

use crate::error::BenchError;
use crate::job::EngineName;

/// Which kind of sync a sync I/O is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// fsync(2): data and metadata.
    Fsync,
    /// fdatasync(2): data, and metadata only as needed to read the data back.
    Fdatasync,
}

/// What an I/O does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    /// Read `buf.len()` bytes at `offset` into `buf` (an engine may leave `buf.len()`
    /// at the count read; the harness checks the count in [`Completion::result`]).
    Read,
    /// Write `buf` at `offset`.
    Write,
    /// Make every completed write durable; `offset` and `buf` are unused (`buf` is
    /// empty, `len() == 0`, and comes back with the completion).
    Sync(SyncKind),
    /// Discard `buf.len()` bytes at `offset` (`buf`'s contents are unused); the
    /// completion's count is that length.
    Trim,
}

/// One I/O handed to an engine.
#[derive(Debug)]
pub struct Io {
    /// The harness's name for this I/O, echoed in its completion (an SQE's `user_data`).
    pub token: u64,
    /// What to do.
    pub kind: IoKind,
    /// Which of the target's files ([`EngineTarget::paths`]).
    pub file: usize,
    /// Byte offset in the file.
    pub offset: u64,
    /// The data (writes) or the destination (reads); owned by the engine until completion.
    pub buf: DmaBuf,
}

/// One finished I/O, with its buffer handed back.
#[derive(Debug)]
pub struct Completion {
    /// The token of the [`Io`].
    pub token: u64,
    /// Bytes transferred (0 for syncs), or the OS error. The harness treats a short
    /// transfer as a failure of the run.
    pub result: std::io::Result<usize>,
    /// The buffer of the [`Io`].
    pub buf: DmaBuf,
}

/// What [`IoEngine::queue`] did with an I/O.
#[derive(Debug)]
pub enum Queued {
    /// The I/O is queued; it is submitted by the next [`IoEngine::commit`].
    Queued,
    /// The engine did the I/O synchronously; here is its completion.
    Completed(Completion),
}

/// What an engine is opened on. Built by the harness from the job.
#[derive(Debug, Clone)]
pub struct EngineTarget {
    /// The (laid-out) file; the first of `paths` (a `boreal-journal` job's data
    /// directory).
    pub path: PathBuf,
    /// Every file of the job, in the order [`Io::file`] numbers them.
    pub paths: Vec<PathBuf>,
    /// Create files that do not exist (`create_on_open`).
    pub create: bool,
    /// Every write durable when it completes (`sync=dsync`: O_DSYNC / RWF_DSYNC).
    pub dsync: bool,
    /// Open with O_SYNC (`sync=1`, psync only).
    pub osync: bool,
    /// Open with O_DIRECT.
    pub direct: bool,
    /// The bytes of each I/O's buffer matter (the job verifies data): an engine that
    /// does I/O on buffers of its own copies them in and out.
    pub copy_data: bool,
    /// The job writes (open read-write) or only reads (open read-only).
    pub writes: bool,
    /// The job trims (an async engine opens std handles for its synchronous trims).
    pub trims: bool,
    /// The job reads (the cluster engine lays its volume out first).
    pub reads: bool,
    /// What to advise on each regular file or block device the psync and io_uring
    /// engines open (`fadvise_hint`; fio's default advises the job's pattern), or
    /// nothing.
    pub advice: Option<Advice>,
    /// Block size of the job, bytes.
    pub bs: u64,
    /// `iodepth` as asked; an engine may support less (see [`IoEngine::depth_max`]).
    pub iodepth: u32,
    /// The one CPU the calling thread is pinned to, if it is pinned to one (an engine
    /// may set up per-core state); `None` when it may run on several.
    pub cpu: Option<usize>,
    /// `boreal-journal` settings (ignored by the other engines); `path` is then the
    /// job's data directory.
    pub journal: journal::JournalTarget,
    /// `boreal-cluster` settings (ignored by the other engines); `path` is then the
    /// directory the job's cluster runs in.
    pub cluster: cluster::ClusterTarget,
    /// `boreal_park_spin` of the runtime of the `io_uring` and `boreal-journal`
    /// engines; `None`: see [`EngineTarget::park_spin`].
    pub park_spin: Option<std::time::Duration>,
}

impl EngineTarget {
    /// The runtime config of a boreal engine: `ring_entries`, not pinned (the harness
    /// pinned the thread already), polling as [`EngineTarget::park_spin`] says.
    pub fn runtime_config(&self, ring_entries: u32) -> boreal_engine::rt::RuntimeConfig {
        boreal_engine::rt::RuntimeConfig {
            cpu: None,
            ring_entries,
            park_spin: self.park_spin(),
            ..boreal_engine::rt::RuntimeConfig::default()
        }
    }

    /// How long the runtime polls before it sleeps: the job's `boreal_park_spin`, or
    /// else the runtime's default on a thread pinned to one CPU and none on an unpinned
    /// one. A thread that polls never sleeps, so the scheduler never moves it to the CPU
    /// its completions wake it on: unpinned, polling cost `journal-4k-qd1` 20–25% of its
    /// commits/s on this VM (NVMe-NOTES "Polling before sleeping").
    pub fn park_spin(&self) -> std::time::Duration {
        self.park_spin.unwrap_or(match self.cpu {
            Some(_) => boreal_engine::rt::RuntimeConfig::default().park_spin,
            None => std::time::Duration::ZERO,
        })
    }
}

/// An I/O engine. See the module documentation for the contract.
pub trait IoEngine {
    /// fio-style engine name (`psync`, `io_uring`, …).
    fn name(&self) -> &'static str;

    /// How many I/Os may be queued or in flight at once. The harness uses
    /// `min(iodepth, depth_max())`; a synchronous engine returns 1.
    fn depth_max(&self) -> u32;

    /// Takes one I/O. Returns `Completed` if the engine did it synchronously.
    fn queue(&mut self, io: Io) -> Result<Queued, BenchError>;

    /// Submits every I/O queued since the last commit. No-op for synchronous engines.
    fn commit(&mut self) -> Result<(), BenchError>;

    /// Blocks until at least `min` submitted I/Os have completed (`min` never exceeds the
    /// number in flight) and appends their completions to `out`. May append more than `min`.
    fn getevents(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError>;

    /// Releases the engine's files and resources. Called once, with nothing in flight.
    fn close(&mut self) -> Result<(), BenchError>;

    /// The harness is about to queue the first I/O it counts: everything queued from
    /// now on is measured. Called at most once, with I/Os of the ramp possibly still in
    /// flight. Does nothing by default.
    fn measure_start(&mut self) {}

    /// Engine-specific figures for the job's `"boreal"` JSON object (e.g. records/s,
    /// device bytes per redo byte), over the measured `runtime`. Called once, after the
    /// last completion and before [`IoEngine::close`]. Empty by default.
    fn extra_stats(&self, runtime: Duration) -> serde_json::Map<String, serde_json::Value> {
        let _ = runtime;
        serde_json::Map::new()
    }
}

/// Opens the engine `name` on `target`. Call on the thread that will drive it.
pub fn open_engine(
    name: EngineName,
    target: &EngineTarget,
) -> Result<Box<dyn IoEngine>, BenchError> {
    match name {
        EngineName::Psync => Ok(Box::new(psync::PsyncEngine::open(target)?)),
        EngineName::IoUring => Ok(Box::new(uring::UringEngine::open(target)?)),
        EngineName::Null => Ok(Box::new(null::NullEngine::open(target))),
        EngineName::BorealJournal => Ok(Box::new(journal::JournalEngine::open(target)?)),
        EngineName::BorealCluster => Ok(Box::new(cluster::ClusterEngine::open(target)?)),
        #[cfg(feature = "tokio-uring")]
        EngineName::TokioUring => Ok(Box::new(tokio_uring::TokioUringEngine::open(target)?)),
        #[cfg(feature = "glommio")]
        EngineName::Glommio => Ok(Box::new(glommio::GlommioEngine::open(target)?)),
        #[allow(unreachable_patterns)]
        other => Err(unavailable(other)),
    }
}

/// The error for an engine this build does not have.
pub fn unavailable(name: EngineName) -> BenchError {
    BenchError::EngineUnavailable {
        engine: name.as_str().to_string(),
        reason: format!(
            "this boreal-bench was built without it; build with `cargo build --release -p boreal-bench --features {}`",
            name.as_str()
        ),
    }
}

/// True when `name` can run in this build.
pub fn available(name: EngineName) -> bool {
    let missing = (name == EngineName::TokioUring && !cfg!(feature = "tokio-uring"))
        || (name == EngineName::Glommio && !cfg!(feature = "glommio"));
    !missing
}

/// Whether a file of this type is advised of the job's access pattern: a regular file
/// or a block device, the files fio advises (not a character device or a pipe).
pub fn takes_access_advice(file_type: std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    file_type.is_file() || file_type.is_block_device()
}

/// What [`open_files`] opened: the files and whether each is a block device.
pub type OpenedFiles = Vec<(std::fs::File, bool)>;

/// Opens every file of `target` with std, as the synchronous engines (and the trims
/// of the others) use them.
pub fn open_files(target: &EngineTarget, writes: bool) -> Result<OpenedFiles, BenchError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let mut out = Vec::with_capacity(target.paths.len());
    for path in &target.paths {
        let mut options = std::fs::OpenOptions::new();
        options
            .read(true)
            .write(writes)
            .create(target.create && writes);
        let mut flags = 0;
        if target.direct {
            flags |= libc::O_DIRECT;
        }
        if target.dsync {
            flags |= libc::O_DSYNC;
        }
        if target.osync {
            flags |= libc::O_SYNC;
        }
        options.custom_flags(flags);
        let file = options.open(path).map_err(|source| BenchError::Io {
            op: "open",
            path: path.clone(),
            offset: 0,
            source,
        })?;
        let block = file
            .metadata()
            .map(|m| m.file_type().is_block_device())
            .unwrap_or(false);
        out.push((file, block));
    }
    Ok(out)
}

/// Trims `len` bytes at `offset` of a file from [`open_files`] (see the module docs).
pub fn trim_file(file: &(std::fs::File, bool), offset: u64, len: usize) -> std::io::Result<usize> {
    crate::affinity::trim(&file.0, file.1, offset, len as u64).map(|()| len)
}
