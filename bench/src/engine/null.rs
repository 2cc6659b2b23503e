//! The `null` engine: fio's engine that does no I/O.
//!
//! Every queued I/O completes, successfully and in full, at the next `getevents`; a
//! job on it measures the harness alone (the loop, the clock reads, the histograms),
//! which is what fio's null engine is for. It opens no file and touches no buffer.

use crate::engine::{Completion, EngineTarget, Io, IoEngine, IoKind, Queued};
use crate::error::BenchError;

/// Completes everything, does nothing.
#[derive(Debug)]
pub struct NullEngine {
    depth: u32,
    queued: Vec<Completion>,
    submitted: Vec<Completion>,
}

impl NullEngine {
    /// An engine of the target's depth.
    pub fn open(target: &EngineTarget) -> NullEngine {
        NullEngine::with_depth(target.iodepth)
    }

    /// An engine that takes up to `depth` I/Os at once (at least one).
    pub fn with_depth(depth: u32) -> NullEngine {
        let depth = depth.max(1);
        NullEngine {
            depth,
            queued: Vec::with_capacity(depth as usize),
            submitted: Vec::with_capacity(depth as usize),
        }
    }
}

impl IoEngine for NullEngine {
    fn name(&self) -> &'static str {
        "null"
    }

    fn depth_max(&self) -> u32 {
        self.depth
    }

    fn queue(&mut self, io: Io) -> Result<Queued, BenchError> {
        let done = match io.kind {
            IoKind::Sync(_) => 0,
            _ => io.buf.len(),
        };
        self.queued.push(Completion {
            token: io.token,
            result: Ok(done),
            buf: io.buf,
        });
        Ok(Queued::Queued)
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        self.submitted.append(&mut self.queued);
        Ok(())
    }

    fn getevents(&mut self, _min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError> {
        out.append(&mut self.submitted);
        Ok(())
    }

    fn close(&mut self) -> Result<(), BenchError> {
        Ok(())
    }
}
