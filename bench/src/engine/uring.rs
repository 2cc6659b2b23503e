//! The `io_uring` engine: every I/O goes through boreal's own per-core runtime
//! (`boreal_engine::rt::Runtime`, one ring) and its [`UringIo`] backend, the same path
//! the storage node uses, so what this engine measures is what the node gets.
//!
//! Shape. The engine owns one [`Runtime`] on the job's (already pinned) thread and a
//! fixed pool of `iodepth` worker tasks spawned once at open. Each worker has a slot;
//! [`IoEngine::queue`] puts the I/O in an idle worker's slot and does nothing else (no
//! syscall, no wake-up: waking a task from outside `block_on` would go through the
//! executor's cross-thread inbox and its eventfd, a syscall per batch).
//! [`IoEngine::commit`] runs the executor once: it wakes the workers it handed I/O to,
//! they push their SQEs (`read_at`/`write_at`/`fdatasync`/`fsync` of the engine's `Io`
//! trait; pushing is no syscall), and then `UringIo::submit_now` makes one
//! `io_uring_enter` that submits the whole batch and reaps what is already complete.
//! [`IoEngine::getevents`] runs the executor until `min` completions are collected; the
//! executor's blocking park is `io_uring_enter(min_complete = 1)`. That is fio's
//! io_uring engine's syscall pattern: one enter per commit, one per wait.
//!
//! Must never: allocate per I/O (tasks, buffers, completion queue and the ring's
//! operation slab are all reused; a waker clone is a reference count); submit from
//! `queue`; let a buffer go while the kernel may still use it (buffers travel inside
//! the runtime's operations and come back with their completions).
//!
//! Several files (`nrfiles`) are opened through the ring at open; an I/O names its file
//! by index. Each regular file or block device is advised of the job's access pattern
//! right after it opens (`Io::fadvise`, `IORING_OP_FADVISE` on the ring's own
//! descriptor), as fio's default `fadvise_hint=1` does: a random job's buffered reads
//! get no readahead (see the engine module docs). Trims are done inside `queue`,
//! synchronously, on std handles of the same files (as fio's io_uring engine does
//! them); `sync=dsync` makes every write `RWF_DSYNC`.
//!
//! Invariants: at most `depth` I/Os are queued or in flight (the harness keeps to
//! [`IoEngine::depth_max`]; an I/O beyond it is refused, not queued); a worker index
//! is either in `idle` or holds/executes exactly one I/O; every completion is handed to
//! the harness exactly once.

use std::path::PathBuf;
use std::rc::Rc;

use boreal_engine::io::{Io as _, OpenOptions, WriteFlags};
use boreal_engine::rt::{Runtime, yield_now};
use boreal_engine::uring::{RING_ENTRIES_MAX, RING_ENTRIES_MIN, UringFile, UringIo};

use crate::engine::slots::{Slots, finish_unknown_file, queue_io};
use crate::engine::{
    Completion, EngineTarget, Io, IoEngine, IoKind, OpenedFiles, Queued, SyncKind, open_files,
    takes_access_advice,
};
use crate::error::BenchError;

/// Deepest queue the engine takes: the ring must hold every I/O plus the runtime's
/// own eventfd read, and its completion queue (twice the submission queue) never
/// overflows at this depth.
pub const DEPTH_MAX: u32 = RING_ENTRIES_MAX / 2;

/// Submission queue entries for `depth` I/Os: room for all of them and the eventfd
/// read, rounded up to a power of two as the kernel does.
fn ring_entries_for(depth: u32) -> u32 {
    (depth + 1)
        .next_power_of_two()
        .clamp(RING_ENTRIES_MIN, RING_ENTRIES_MAX)
}

/// The io_uring engine over boreal's runtime. See the module docs.
pub struct UringEngine {
    // Field order is drop order: the runtime (its tasks, then its ring, which drains
    // anything in flight) goes before the file and the shared state.
    rt: Option<Runtime>,
    files: Option<Rc<Vec<UringFile>>>,
    /// std handles for trims (only when the job trims).
    trim_files: OpenedFiles,
    shared: Rc<Slots>,
    depth: u32,
    path: PathBuf,
    /// I/Os submitted so far, for the `enters per I/O` figure.
    ios_submitted: u64,
}

impl std::fmt::Debug for UringEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringEngine")
            .field("path", &self.path)
            .field("depth", &self.depth)
            .field(
                "ring",
                &self.rt.as_ref().map(|rt| rt.ring_info().to_string()),
            )
            .finish()
    }
}

impl UringEngine {
    /// Builds the ring on the calling thread (which the harness has pinned), opens every
    /// file of `target` through it and advises the kernel of the job's access pattern
    /// on each regular file or block device (what fio advises), and spawns `iodepth`
    /// workers.
    pub fn open(target: &EngineTarget) -> Result<UringEngine, BenchError> {
        let depth = target.iodepth.clamp(1, DEPTH_MAX);
        let io_err = |op, source| BenchError::Io {
            op,
            path: target.path.clone(),
            offset: 0,
            source,
        };
        let rt = Runtime::new(target.runtime_config(ring_entries_for(depth)))
            .map_err(|e| io_err("create io_uring runtime for", e))?;
        let io = rt.io().clone();
        let opts = OpenOptions {
            read: true,
            write: target.writes,
            create: target.create && target.writes,
            direct: target.direct,
            ..OpenOptions::default()
        };
        let mut opened = Vec::with_capacity(target.paths.len());
        for path in &target.paths {
            let io_err = |op, source| BenchError::Io {
                op,
                path: path.clone(),
                offset: 0,
                source,
            };
            let file = rt
                .block_on(io.open(path, opts))
                .map_err(|e| io_err("open", e))?;
            // The ring's file has no descriptor to fstat; the path names the same file
            // unless it was replaced in between, which a benchmark's files are not.
            if let Some(advice) = target.advice
                && takes_access_advice(
                    std::fs::metadata(path)
                        .map_err(|e| io_err("stat", e))?
                        .file_type(),
                )
            {
                rt.block_on(io.fadvise(&file, advice))
                    .map_err(|e| io_err("advise the access pattern (IORING_OP_FADVISE) of", e))?;
            }
            opened.push(file);
        }
        let files = Rc::new(opened);
        let trim_files = if target.trims {
            open_files(target, true)?
        } else {
            Vec::new()
        };
        let flags = if target.dsync {
            WriteFlags::DSYNC
        } else {
            WriteFlags::NONE
        };
        let shared = Rc::new(Slots::new(depth as usize));
        for index in 0..depth as usize {
            rt.executor().spawn(worker(
                io.clone(),
                files.clone(),
                shared.clone(),
                index,
                flags,
            ));
        }
        // Let every worker run to its first wait, so each has a waker in its slot.
        rt.block_on(yield_now());
        Ok(UringEngine {
            rt: Some(rt),
            files: Some(files),
            trim_files,
            shared,
            depth,
            path: target.path.clone(),
            ios_submitted: 0,
        })
    }

    fn runtime(&self, offset: u64) -> Result<&Runtime, BenchError> {
        self.rt.as_ref().ok_or_else(|| BenchError::Io {
            op: "use of closed io_uring engine on",
            path: self.path.clone(),
            offset,
            source: std::io::Error::from(std::io::ErrorKind::NotConnected),
        })
    }
}

/// One worker: waits for an I/O in its slot, does it through [`UringIo`], posts the
/// completion, goes idle again. Lives as long as the runtime.
async fn worker(
    io: UringIo,
    files: Rc<Vec<UringFile>>,
    shared: Rc<Slots>,
    index: usize,
    flags: WriteFlags,
) {
    loop {
        let Some(job) = shared.next(index).await else {
            return;
        };
        let Some(file) = files.get(job.file) else {
            finish_unknown_file(&shared, index, job);
            continue;
        };
        let (result, buf) = match job.kind {
            IoKind::Read => {
                let len = job.buf.len();
                io.read_at(file, job.buf, len, job.offset).await
            }
            IoKind::Write => io.write_at(file, job.buf, job.offset, flags).await,
            IoKind::Trim => {
                // Trims never reach a worker (`queue` does them); refuse rather than guess.
                let err = std::io::Error::from(std::io::ErrorKind::Unsupported);
                (Err(err), job.buf)
            }
            IoKind::Sync(kind) => {
                let result = match kind {
                    SyncKind::Fdatasync => io.fdatasync(file).await,
                    SyncKind::Fsync => io.fsync(file).await,
                };
                (result.map(|()| 0), job.buf)
            }
        };
        shared.finish(
            index,
            Completion {
                token: job.token,
                result,
                buf,
            },
        );
    }
}

impl IoEngine for UringEngine {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn depth_max(&self) -> u32 {
        self.depth
    }

    fn queue(&mut self, io: Io) -> Result<Queued, BenchError> {
        self.runtime(io.offset)?;
        queue_io(&self.shared, &self.trim_files, io, &self.path)
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        let rt = self.runtime(0)?;
        let shared = &self.shared;
        let handed = shared.handed() as u64;
        rt.block_on(async {
            // Wake inside the executor, so the wake is a push on its ready queue.
            shared.wake_handed();
            // The woken workers were queued before this future, so they run (each
            // pushing its SQE, no syscall) before it is polled again.
            yield_now().await;
            // One io_uring_enter submits the whole batch (and reaps what is already
            // done), without waiting.
            rt.io().submit_now();
        });
        self.ios_submitted += handed;
        Ok(())
    }

    fn getevents(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError> {
        let rt = self.runtime(0)?;
        let shared = &self.shared;
        if !shared.has_done(min) {
            rt.block_on(shared.wait_done(min));
        }
        shared.drain(out);
        Ok(())
    }

    fn close(&mut self) -> Result<(), BenchError> {
        // Dropping the runtime drops the idle workers and their handles on the file;
        // nothing is in flight (the harness closes only then).
        self.rt = None;
        self.files = None;
        self.trim_files.clear();
        Ok(())
    }

    fn extra_stats(
        &self,
        _runtime: std::time::Duration,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        if let Some(rt) = &self.rt {
            let stats = rt.io().stats();
            map.insert("ring".into(), rt.ring_info().to_string().into());
            map.insert("io_uring_enter_calls".into(), stats.enters.into());
            map.insert("ios_submitted".into(), self.ios_submitted.into());
            if self.ios_submitted > 0 {
                let per_io = stats.enters as f64 / self.ios_submitted as f64;
                map.insert("io_uring_enter_per_io".into(), per_io.into());
            }
        }
        map
    }
}
