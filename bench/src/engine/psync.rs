//! The `psync` engine: pread(2)/pwrite(2)/fsync(2)/fdatasync(2), one at a time.
//!
//! This is the baseline every other engine is compared with, and it behaves like fio's
//! psync: synchronous, so the effective depth is 1 whatever `iodepth` says, every I/O
//! completes inside [`IoEngine::queue`], and there is no submission latency. It uses
//! only safe std calls (`FileExt::read_at`/`write_at`, `File::sync_all`/`sync_data`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::engine::{Completion, EngineTarget, Io, IoEngine, IoKind, Queued, SyncKind};
use crate::error::BenchError;

/// pread/pwrite on one file.
#[derive(Debug)]
pub struct PsyncEngine {
    file: Option<File>,
    path: PathBuf,
}

impl PsyncEngine {
    /// Opens `target.path`, with O_DIRECT if asked.
    pub fn open(target: &EngineTarget) -> Result<PsyncEngine, BenchError> {
        let mut options = OpenOptions::new();
        options.read(true).write(target.writes);
        if target.direct {
            options.custom_flags(libc::O_DIRECT);
        }
        let file = options
            .open(&target.path)
            .map_err(|source| BenchError::Io {
                op: "open",
                path: target.path.clone(),
                offset: 0,
                source,
            })?;
        Ok(PsyncEngine {
            file: Some(file),
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
        let Some(file) = self.file.as_ref() else {
            return Err(BenchError::Io {
                op: "queue on closed engine",
                path: self.path.clone(),
                offset: io.offset,
                source: std::io::Error::from(std::io::ErrorKind::NotConnected),
            });
        };
        let result = match io.kind {
            IoKind::Read => file.read_at(io.buf.as_mut_slice(), io.offset),
            IoKind::Write => file.write_at(io.buf.as_slice(), io.offset),
            IoKind::Sync(SyncKind::Fsync) => file.sync_all().map(|()| 0),
            IoKind::Sync(SyncKind::Fdatasync) => file.sync_data().map(|()| 0),
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
        self.file = None;
        Ok(())
    }
}
