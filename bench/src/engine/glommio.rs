//! The `glommio` engine (cargo feature `glommio`): the same job through glommio's
//! runtime and its `DmaFile`, so a user can see what boreal's runtime buys over it.
//!
//! Shape: boreal's `io_uring` engine's ([`super::slots`]): one glommio `LocalExecutor`
//! (unbound: the harness places the thread) on the job's thread, `iodepth` worker tasks
//! spawned once, `queue` hands an I/O to an idle worker, `commit` runs the executor
//! until the woken workers have pushed their operations (glommio submits them from its
//! reactor loop), `getevents` runs it until enough completions are in. What is
//! glommio's and not ours:
//! - `DmaFile` is O_DIRECT only: jobs need `direct=1` (validated), and it has
//!   `fdatasync` but no `fsync` (validated).
//! - I/O buffers are glommio's `DmaBuffer`s from its own pool: each worker keeps one of
//!   `bs` bytes for writes of that size (allocating another for a different size), and
//!   reads come back in a `ReadResult`. The harness's buffer travels beside them and is
//!   copied in (writes) or out (reads) only when the job verifies data; otherwise a
//!   write sends the worker's own pseudo-random pattern.
//! - trims are done inside `queue` with std, as the other engines do them.
//!
//! - glommio decides per device whether to poll for completions by probing the first
//!   file it opens there; an empty file fools the probe and reads then fail on this VM,
//!   so a one-block probe file is opened first ([`prime_iopoll_probe`]).
//!
//! NVMe-NOTES.md "glommio and tokio-uring on this VM" says what glommio needs on the
//! dev VM (its IOPOLL probe, its locked memory).

use std::path::PathBuf;
use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile};
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};

use crate::engine::slots::{Driver, Slots, commit_on, getevents_on, queue_io, yield_once};
use crate::engine::{
    Completion, EngineTarget, Io, IoEngine, IoKind, OpenedFiles, Queued, SyncKind, open_files,
};
use crate::error::BenchError;

/// Memory glommio registers for its I/O buffers, bytes. glommio registers it with each
/// of its three rings and the kernel charges each registration against
/// RLIMIT_MEMLOCK (8 MiB on the dev VM) for a user without CAP_IPC_LOCK: its default
/// 10 MiB fails there with ENOMEM (glommio then logs a warning and runs on unregistered
/// buffers, it does not refuse to start), and 3 x 2 MiB is what fits.
pub const IO_MEMORY_BYTES: usize = 2 << 20;

/// The glommio engine. See the module docs.
pub struct GlommioEngine {
    ex: Option<LocalExecutor>,
    files: Option<Rc<Vec<DmaFile>>>,
    trim_files: OpenedFiles,
    shared: Rc<Slots>,
    depth: u32,
    path: PathBuf,
}

impl std::fmt::Debug for GlommioEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlommioEngine")
            .field("path", &self.path)
            .field("depth", &self.depth)
            .finish()
    }
}

fn io_error(e: glommio::GlommioError<()>) -> std::io::Error {
    std::io::Error::from(e)
}

impl Driver for LocalExecutor {
    fn drive<F: std::future::Future>(&self, future: F) -> F::Output {
        self.run(future)
    }
}

impl GlommioEngine {
    /// Builds the executor on the calling thread, opens the files, spawns the workers.
    pub fn open(target: &EngineTarget) -> Result<GlommioEngine, BenchError> {
        let depth = target.iodepth.clamp(1, 4096);
        let err = |op, path: &PathBuf, source| BenchError::Io {
            op,
            path: path.clone(),
            offset: 0,
            source,
        };
        let ex = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(IO_MEMORY_BYTES)
            .ring_depth((depth as usize + 1).next_power_of_two().max(128))
            .make()
            .map_err(|e| err("create glommio executor for", &target.path, io_error(e)))?;
        prime_iopoll_probe(&ex, &target.paths)?;
        let mut flags = 0;
        if target.dsync {
            flags |= libc::O_DSYNC;
        }
        let mut files = Vec::with_capacity(target.paths.len());
        for path in &target.paths {
            let file = ex
                .run(
                    glommio::io::OpenOptions::new()
                        .read(true)
                        .write(target.writes)
                        .create(target.create && target.writes)
                        .custom_flags(flags)
                        .dma_open(path),
                )
                .map_err(|e| err("open", path, io_error(e)))?;
            files.push(file);
        }
        let files = Rc::new(files);
        let trim_files = if target.trims {
            open_files(target, true)?
        } else {
            Vec::new()
        };
        let shared = Rc::new(Slots::new(depth as usize));
        ex.run(async {
            for index in 0..depth as usize {
                glommio::spawn_local(worker(
                    files.clone(),
                    shared.clone(),
                    index,
                    target.copy_data,
                ))
                .detach();
            }
            yield_once().await;
        });
        Ok(GlommioEngine {
            ex: Some(ex),
            files: Some(files),
            trim_files,
            shared,
            depth,
            path: target.path.clone(),
        })
    }

    fn executor(&self) -> Result<&LocalExecutor, BenchError> {
        self.ex.as_ref().ok_or_else(|| BenchError::Io {
            op: "use of a closed glommio engine on",
            path: self.path.clone(),
            offset: 0,
            source: std::io::Error::from(std::io::ErrorKind::NotConnected),
        })
    }
}

/// Makes glommio's IOPOLL probe see a file with data on each files' device, before a
/// job file is opened.
///
/// glommio probes a device's polled I/O with a 512-byte read of the first file it
/// opens there, and caches the answer per thread. On an empty file (a job file created
/// by `create_on_open`) that read returns 0 bytes, which glommio takes for success: it
/// marks the device pollable and every later read fails with EOPNOTSUPP on this VM
/// (NVMe-NOTES "glommio and tokio-uring on this VM"). Opening a one-block probe file
/// in the same folder first gets the real answer cached; the probe file is removed.
fn prime_iopoll_probe(ex: &LocalExecutor, paths: &[PathBuf]) -> Result<(), BenchError> {
    let mut seen: Vec<PathBuf> = Vec::new();
    for path in paths {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if seen.contains(&dir) {
            continue;
        }
        seen.push(dir.clone());
        let probe = dir.join(format!(
            ".boreal-bench-glommio-probe.{}",
            std::process::id()
        ));
        let err = |op, source| BenchError::Io {
            op,
            path: probe.clone(),
            offset: 0,
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|e| err("create the folder of", e))?;
        std::fs::write(&probe, [0u8; 4096]).map_err(|e| err("write glommio's probe file", e))?;
        let opened = ex.run(async {
            let file = glommio::io::DmaFile::open(&probe).await?;
            file.close().await
        });
        let removed = std::fs::remove_file(&probe);
        opened.map_err(|e| err("open glommio's probe file", io_error(e)))?;
        removed.map_err(|e| err("remove glommio's probe file", e))?;
    }
    Ok(())
}

/// One worker: takes an I/O from its slot, does it through glommio, posts it.
async fn worker(files: Rc<Vec<DmaFile>>, shared: Rc<Slots>, index: usize, copy_data: bool) {
    let mut own: Option<DmaBuffer> = None;
    loop {
        let Some(mut job) = shared.next(index).await else {
            return;
        };
        let len = job.buf.len();
        let result = match (files.get(job.file), job.kind) {
            (None, _) => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            (Some(file), IoKind::Read) => match file.read_at_aligned(job.offset, len).await {
                Ok(read) => {
                    if copy_data && read.len() == len {
                        job.buf.as_mut_slice().copy_from_slice(&read[..len]);
                    }
                    Ok(read.len())
                }
                Err(e) => Err(io_error(e)),
            },
            (Some(file), IoKind::Write) => {
                let mut buf = match own.take() {
                    Some(buf) if buf.len() == len => buf,
                    _ => {
                        let mut buf = file.alloc_dma_buffer(len);
                        let pattern = crate::workload::patterned_buf(len, index as u64 ^ 0x61);
                        buf.as_bytes_mut().copy_from_slice(pattern.as_slice());
                        buf
                    }
                };
                if copy_data {
                    buf.as_bytes_mut().copy_from_slice(job.buf.as_slice());
                }
                let rc = Rc::new(buf);
                let result = file
                    .write_rc_at(rc.clone(), job.offset)
                    .await
                    .map_err(io_error);
                own = Rc::try_unwrap(rc).ok();
                result
            }
            (Some(file), IoKind::Sync(_)) => file.fdatasync().await.map(|()| 0).map_err(io_error),
            (Some(_), IoKind::Trim) => Err(std::io::Error::from(std::io::ErrorKind::Unsupported)),
        };
        shared.finish(
            index,
            Completion {
                token: job.token,
                result,
                buf: job.buf,
            },
        );
    }
}

impl IoEngine for GlommioEngine {
    fn name(&self) -> &'static str {
        "glommio"
    }

    fn depth_max(&self) -> u32 {
        self.depth
    }

    fn queue(&mut self, io: Io) -> Result<Queued, BenchError> {
        self.executor()?;
        if io.kind == IoKind::Sync(SyncKind::Fsync) {
            // DmaFile has no fsync (refused when the job is built; never guess).
            return Ok(Queued::Completed(Completion {
                token: io.token,
                result: Err(std::io::Error::from(std::io::ErrorKind::Unsupported)),
                buf: io.buf,
            }));
        }
        queue_io(&self.shared, &self.trim_files, io, &self.path)
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        commit_on(self.executor()?, &self.shared);
        Ok(())
    }

    fn getevents(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError> {
        getevents_on(self.executor()?, &self.shared, min, out);
        Ok(())
    }

    fn close(&mut self) -> Result<(), BenchError> {
        self.files = None;
        self.ex = None;
        self.trim_files.clear();
        Ok(())
    }
}
