//! The `tokio-uring` engine (cargo feature `tokio-uring`): the same job through the
//! tokio-uring crate's runtime, so a user can see what boreal's runtime buys over it.
//!
//! Shape: boreal's `io_uring` engine's ([`super::slots`]): one tokio-uring `Runtime` on
//! the job's thread, `iodepth` worker tasks spawned once at open, `queue` hands an I/O
//! to an idle worker, `commit` runs the runtime until the woken workers have pushed
//! their operations, `getevents` runs it until enough completions are in. Differences
//! that are tokio-uring's, not ours:
//! - tokio-uring submits pushed operations when its thread parks (or its submission
//!   queue fills), so `commit` does not enter the kernel; the submission happens in
//!   `getevents`, and `slat` measures only the hand-off.
//! - its I/O takes owned buffers of its own kinds; each worker keeps one aligned
//!   buffer (a `Vec` sliced at a 4 KiB boundary, so O_DIRECT works) and the harness's
//!   buffer travels beside it. Its bytes are copied in (writes) or out (reads) only
//!   when the job verifies data; otherwise a write sends the worker's own
//!   pseudo-random pattern, which a device cannot tell from the harness's.
//! - trims are done inside `queue` with std, as the other engines do them.
//!
//! Must never: let a buffer go while the kernel may use it (tokio-uring owns it until
//! the operation completes); allocate per I/O.

use std::path::PathBuf;
use std::rc::Rc;

use tokio_uring::buf::BoundedBuf;

use crate::engine::slots::{Driver, Slots, commit_on, getevents_on, queue_io, yield_once};
use crate::engine::{
    Completion, EngineTarget, Io, IoEngine, IoKind, OpenedFiles, Queued, SyncKind, open_files,
};
use crate::error::BenchError;
use crate::workload::patterned_buf;

/// Alignment of the workers' buffers (O_DIRECT needs the logical block, 512 or 4096).
const ALIGN: usize = 4096;

/// The tokio-uring engine. See the module docs.
pub struct TokioUringEngine {
    // Drop order: the runtime (its tasks and their buffers) before the files.
    rt: Option<tokio_uring::Runtime>,
    files: Option<Rc<Vec<tokio_uring::fs::File>>>,
    trim_files: OpenedFiles,
    shared: Rc<Slots>,
    depth: u32,
    path: PathBuf,
}

impl std::fmt::Debug for TokioUringEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioUringEngine")
            .field("path", &self.path)
            .field("depth", &self.depth)
            .finish()
    }
}

impl Driver for tokio_uring::Runtime {
    fn drive<F: std::future::Future>(&self, future: F) -> F::Output {
        self.block_on(future)
    }
}

impl TokioUringEngine {
    /// Builds the runtime on the calling thread, opens the files, spawns the workers.
    pub fn open(target: &EngineTarget) -> Result<TokioUringEngine, BenchError> {
        let depth = target.iodepth.clamp(1, 4096);
        let err = |op, path: &PathBuf, source| BenchError::Io {
            op,
            path: path.clone(),
            offset: 0,
            source,
        };
        let entries = (depth + 1).next_power_of_two().max(8);
        let rt = tokio_uring::Runtime::new(tokio_uring::builder().entries(entries))
            .map_err(|e| err("create tokio-uring runtime for", &target.path, e))?;
        let mut flags = 0;
        if target.direct {
            flags |= libc::O_DIRECT;
        }
        if target.dsync {
            flags |= libc::O_DSYNC;
        }
        let mut files = Vec::with_capacity(target.paths.len());
        for path in &target.paths {
            let mut options = tokio_uring::fs::OpenOptions::new();
            options
                .read(true)
                .write(target.writes)
                .create(target.create && target.writes);
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, flags);
            let file = rt
                .block_on(options.open(path))
                .map_err(|e| err("open", path, e))?;
            files.push(file);
        }
        let files = Rc::new(files);
        let trim_files = if target.trims {
            open_files(target, true)?
        } else {
            Vec::new()
        };
        let shared = Rc::new(Slots::new(depth as usize));
        let bs = target.bs as usize;
        rt.block_on(async {
            for index in 0..depth as usize {
                tokio_uring::spawn(worker(
                    files.clone(),
                    shared.clone(),
                    index,
                    bs,
                    target.copy_data,
                ));
            }
            // Let every worker run to its first wait.
            yield_once().await;
        });
        Ok(TokioUringEngine {
            rt: Some(rt),
            files: Some(files),
            trim_files,
            shared,
            depth,
            path: target.path.clone(),
        })
    }

    fn runtime(&self) -> Result<&tokio_uring::Runtime, BenchError> {
        self.rt.as_ref().ok_or_else(|| BenchError::Io {
            op: "use of a closed tokio-uring engine on",
            path: self.path.clone(),
            offset: 0,
            source: std::io::Error::from(std::io::ErrorKind::NotConnected),
        })
    }
}

/// One worker: takes an I/O from its slot, does it through tokio-uring on its own
/// aligned buffer, posts the completion.
async fn worker(
    files: Rc<Vec<tokio_uring::fs::File>>,
    shared: Rc<Slots>,
    index: usize,
    bs: usize,
    copy_data: bool,
) {
    let mut mem: Vec<u8> = patterned_buf(bs + ALIGN, index as u64 ^ 0x70C1)
        .as_slice()
        .to_vec();
    let pad = (ALIGN - mem.as_ptr() as usize % ALIGN) % ALIGN;
    loop {
        let Some(mut job) = shared.next(index).await else {
            return;
        };
        let len = job.buf.len();
        let result = match (files.get(job.file), job.kind) {
            (None, _) => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            (Some(file), IoKind::Read) => {
                let (result, slice) = file.read_at(mem.slice(pad..pad + len), job.offset).await;
                mem = slice.into_inner();
                if copy_data && result.is_ok() {
                    job.buf.as_mut_slice().copy_from_slice(&mem[pad..pad + len]);
                }
                result
            }
            (Some(file), IoKind::Write) => {
                if copy_data {
                    mem[pad..pad + len].copy_from_slice(job.buf.as_slice());
                }
                let (result, slice) = file
                    .write_at(mem.slice(pad..pad + len), job.offset)
                    .submit()
                    .await;
                mem = slice.into_inner();
                result
            }
            (Some(file), IoKind::Sync(SyncKind::Fdatasync)) => file.sync_data().await.map(|()| 0),
            (Some(file), IoKind::Sync(SyncKind::Fsync)) => file.sync_all().await.map(|()| 0),
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

impl IoEngine for TokioUringEngine {
    fn name(&self) -> &'static str {
        "tokio-uring"
    }

    fn depth_max(&self) -> u32 {
        self.depth
    }

    fn queue(&mut self, io: Io) -> Result<Queued, BenchError> {
        self.runtime()?;
        queue_io(&self.shared, &self.trim_files, io, &self.path)
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        commit_on(self.runtime()?, &self.shared);
        Ok(())
    }

    fn getevents(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError> {
        getevents_on(self.runtime()?, &self.shared, min, out);
        Ok(())
    }

    fn close(&mut self) -> Result<(), BenchError> {
        self.rt = None;
        self.files = None;
        self.trim_files.clear();
        Ok(())
    }
}
