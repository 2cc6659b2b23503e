//! The `psync` engine: pread(2)/pwrite(2)/fsync(2)/fdatasync(2), one at a time.
//!
//! This is the baseline every other engine is compared with, and it behaves like fio's
//! psync: synchronous, so the effective depth is 1 whatever `iodepth` says, every I/O
//! completes inside [`IoEngine::queue`], and there is no submission latency. It uses
//! safe std calls (`FileExt::read_at`/`write_at`, `File::sync_all`/`sync_data`); a trim
//! goes through [`super::trim_file`]. fio's `sync`, `pvsync` and `vsync` engines run
//! here too (the same system calls, one I/O at a time).
//!
//! As fio does by default (`fadvise_hint=1`), each file's descriptor is advised of the
//! job's pattern at open: `POSIX_FADV_RANDOM` for a random job, which turns the
//! kernel's readahead off, else `POSIX_FADV_SEQUENTIAL`. Without it a buffered random
//! read pulls in pages around the block it asked for (a 1 MiB randread of a cold 4 MiB
//! file fetched 1,097,728 bytes) and later reads hit them in memory: not what fio
//! measures. The `io_uring` engine gives the same advice through boreal's ring; the
//! engine module docs say which engines give none.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::affinity::advise_access_pattern;
use crate::engine::{
    Completion, EngineTarget, Io, IoEngine, IoKind, Queued, SyncKind, open_files,
    takes_access_advice, trim_file,
};
use crate::error::BenchError;

/// pread/pwrite on a job's files.
#[derive(Debug)]
pub struct PsyncEngine {
    files: Vec<(File, bool)>,
    path: PathBuf,
}

impl PsyncEngine {
    /// Opens every file of `target`, with O_DIRECT (and O_DSYNC / O_SYNC) if asked, and
    /// advises the kernel of the job's access pattern on each regular file or block
    /// device (what fio advises).
    pub fn open(target: &EngineTarget) -> Result<PsyncEngine, BenchError> {
        let files = open_files(target, target.writes)?;
        if let Some(advice) = target.advice {
            for ((file, _), path) in files.iter().zip(&target.paths) {
                let io_err = |op, source| BenchError::Io {
                    op,
                    path: path.clone(),
                    offset: 0,
                    source,
                };
                let meta = file.metadata().map_err(|e| io_err("stat", e))?;
                if takes_access_advice(meta.file_type()) {
                    advise_access_pattern(file, advice)
                        .map_err(|e| io_err("advise the access pattern (posix_fadvise) of", e))?;
                }
            }
        }
        Ok(PsyncEngine {
            files,
            path: target.path.clone(),
        })
    }
}

impl IoEngine for PsyncEngine {
    fn name(&self) -> &'static str {
        "psync"
    }

    fn depth_max(&self) -> u32 {
        1
    }

    fn queue(&mut self, mut io: Io) -> Result<Queued, BenchError> {
        let Some(file) = self.files.get(io.file) else {
            return Err(BenchError::Io {
                op: "queue on a closed engine or a file it does not have",
                path: self.path.clone(),
                offset: io.offset,
                source: std::io::Error::from(std::io::ErrorKind::NotConnected),
            });
        };
        let result = match io.kind {
            IoKind::Read => file.0.read_at(io.buf.as_mut_slice(), io.offset),
            IoKind::Write => file.0.write_at(io.buf.as_slice(), io.offset),
            IoKind::Trim => trim_file(file, io.offset, io.buf.len()),
            IoKind::Sync(SyncKind::Fsync) => file.0.sync_all().map(|()| 0),
            IoKind::Sync(SyncKind::Fdatasync) => file.0.sync_data().map(|()| 0),
        };
        Ok(Queued::Completed(Completion {
            token: io.token,
            result,
            buf: io.buf,
        }))
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        Ok(())
    }

    fn getevents(&mut self, min: usize, _out: &mut Vec<Completion>) -> Result<(), BenchError> {
        // Nothing is ever in flight, so the harness never asks for more than 0.
        assert_eq!(min, 0, "psync has no I/O in flight");
        Ok(())
    }

    fn close(&mut self) -> Result<(), BenchError> {
        self.files.clear();
        Ok(())
    }
}
