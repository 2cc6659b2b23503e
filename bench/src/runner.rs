//! The measurement loop of one job thread.
//!
//! The loop keeps up to `depth = min(iodepth, engine.depth_max())` I/Os in flight:
//! it queues I/Os while there is room, commits them in one call, then waits for at
//! least one completion. Timestamps per I/O, all from the monotonic clock:
//! - `start`: when the I/O should start. Without `rate_iops` that is when it is queued.
//!   With `rate_iops` the job is open-loop: I/O number n is scheduled at
//!   `t0 + n / rate` whatever happened before, and `start` is that scheduled time, so an
//!   I/O that waited behind a stall is charged for the wait (no coordinated omission).
//! - `queued`: just before [`IoEngine::queue`].
//! - `submitted`: just after the [`IoEngine::commit`] that submitted it.
//! - `done`: just after the call that returned its completion.
//!
//! Then `slat = submitted - queued`, `clat = done - submitted` (or `done - queued` for
//! a synchronous engine, which has no slat), `lat = done - start`.
//!
//! Syncs (`fsync=N` / `fdatasync=N`) are queued after every N writes once the writes in
//! flight have completed, so each sync covers every write issued before it; its latency
//! goes to the job's `sync` distribution. I/Os started during `ramp_time` run but are
//! not counted. A failed or short I/O stops the job with an error naming the operation,
//! file and offset (fio's default `continue_on_error=none`).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::affinity;
use crate::buffer::AlignedBuf;
use crate::engine::{Completion, Io, IoEngine, IoKind, Queued, SyncKind};
use crate::error::BenchError;
use crate::plan::JobInstance;
use crate::progress::JobProgress;
use crate::stats::{IntervalRecorder, JobStats};
use crate::workload::{Dir, Workload};

/// Settings of the harness that are not job options.
#[derive(Debug, Clone, Copy)]
pub struct RunnerConfig {
    /// Length of one interval of the series and of the HdrHistogram log.
    pub interval: Duration,
    /// Keep per-interval histograms for an HdrHistogram log.
    pub hdr_log: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            interval: Duration::from_secs(1),
            hdr_log: false,
        }
    }
}

/// One I/O in flight.
#[derive(Debug, Clone, Copy)]
struct Slot {
    kind: IoKind,
    offset: u64,
    start: Instant,
    queued: Instant,
    submitted: Option<Instant>,
    counted: bool,
}

/// Runs one job instance to its end on the calling thread, using `engine`. `ready` is
/// waited on once everything is set up, so all jobs start measuring together.
pub fn run_job(
    instance: &JobInstance,
    engine: &mut dyn IoEngine,
    config: RunnerConfig,
    progress: &JobProgress,
    ready: &Barrier,
) -> Result<JobStats, BenchError> {
    let job = &*instance.options;
    let depth = job.iodepth.min(engine.depth_max()).max(1) as usize;
    let sync_every = job.fsync.max(job.fdatasync);
    let sync_kind = if job.fsync > 0 {
        SyncKind::Fsync
    } else {
        SyncKind::Fdatasync
    };
    let io_limit_bytes = job.io_size.unwrap_or(instance.region_len);
    let rate_step = job
        .rate_iops
        .map(|rate| Duration::from_nanos((1_000_000_000 / rate).max(1)));
    let mut workload = Workload::new(job, instance.copy, instance.region_len);
    let mut free_bufs: Vec<AlignedBuf> = (0..depth)
        .map(|i| AlignedBuf::patterned(job.bs as usize, job.randseed ^ i as u64))
        .collect();
    let mut slots: Vec<Option<Slot>> = vec![None; depth + 1];
    let mut free_tokens: Vec<usize> = (0..depth + 1).rev().collect();
    let mut uncommitted: Vec<usize> = Vec::with_capacity(depth + 1);
    let mut completions: Vec<Completion> = Vec::with_capacity(depth + 1);
    let mut stats = JobStats {
        jobs_merged: 1,
        ..JobStats::default()
    };

    ready.wait();
    let t0 = Instant::now();
    let measure_start = t0 + job.ramp_time;
    let deadline = job.runtime.map(|r| measure_start + r);
    let mut usage_at_start = None;
    let mut recorder = IntervalRecorder::new(measure_start, config.interval, config.hdr_log);
    let mut next_scheduled = t0;
    let mut counted_bytes_issued = 0u64;
    let mut writes_since_sync = 0u32;
    let mut sync_pending = false;
    let mut inflight = 0usize;

    let complete = |c: Completion,
                    done: Instant,
                    slots: &mut Vec<Option<Slot>>,
                    free_tokens: &mut Vec<usize>,
                    free_bufs: &mut Vec<AlignedBuf>,
                    stats: &mut JobStats,
                    recorder: &mut IntervalRecorder|
     -> Result<(), BenchError> {
        let token = c.token as usize;
        let slot = slots[token]
            .take()
            .expect("completion for a token in flight");
        free_tokens.push(token);
        let (op, expected) = match slot.kind {
            IoKind::Read => ("read", c.buf.len()),
            IoKind::Write => ("write", c.buf.len()),
            IoKind::Sync(SyncKind::Fsync) => ("fsync", 0),
            IoKind::Sync(SyncKind::Fdatasync) => ("fdatasync", 0),
        };
        let got = c.result.map_err(|source| BenchError::Io {
            op,
            path: instance.path.clone(),
            offset: slot.offset,
            source,
        })?;
        if got != expected {
            return Err(BenchError::ShortIo {
                op,
                path: instance.path.clone(),
                offset: slot.offset,
                got,
                expected,
            });
        }
        let is_data = !matches!(slot.kind, IoKind::Sync(_));
        if is_data {
            free_bufs.push(c.buf);
        }
        if !slot.counted {
            return Ok(());
        }
        let ns = |later: Instant, earlier: Instant| {
            later.saturating_duration_since(earlier).as_nanos() as u64
        };
        let lat_ns = ns(done, slot.start);
        match slot.kind {
            IoKind::Sync(_) => {
                stats.sync.record(lat_ns);
                recorder.record_sync(done, lat_ns);
            }
            IoKind::Read | IoKind::Write => {
                let dir = if slot.kind == IoKind::Read {
                    Dir::Read
                } else {
                    Dir::Write
                };
                let d = &mut stats.dirs[dir.index()];
                d.ios += 1;
                d.bytes += got as u64;
                match slot.submitted {
                    Some(submitted) => {
                        d.slat.record(ns(submitted, slot.queued));
                        d.clat.record(ns(done, submitted));
                    }
                    None => d.clat.record(ns(done, slot.queued)),
                }
                d.lat.record(lat_ns);
                recorder.record_io(done, dir, got as u64, lat_ns);
                progress.add(dir.index(), got as u64);
            }
        }
        Ok(())
    };

    loop {
        let now = Instant::now();
        if usage_at_start.is_none() && now >= measure_start {
            usage_at_start = affinity::thread_usage().ok();
        }
        let out_of_time = deadline.is_some_and(|d| now >= d);
        let out_of_bytes = !job.time_based && counted_bytes_issued >= io_limit_bytes;
        let stop_issuing = out_of_time || out_of_bytes;
        if stop_issuing && inflight == 0 && !sync_pending {
            break;
        }
        let mut waiting_for_schedule = false;
        while inflight + uncommitted.len() < depth
            || (sync_pending && inflight + uncommitted.len() == 0)
        {
            let (kind, offset, start, buf) = if sync_pending {
                if inflight + uncommitted.len() > 0 {
                    break;
                }
                sync_pending = false;
                let queued = Instant::now();
                (IoKind::Sync(sync_kind), 0, queued, AlignedBuf::zeroed(0))
            } else {
                if stop_issuing || (!job.time_based && counted_bytes_issued >= io_limit_bytes) {
                    break;
                }
                let start = match rate_step {
                    Some(step) => {
                        if next_scheduled > Instant::now() {
                            waiting_for_schedule = true;
                            break;
                        }
                        let start = next_scheduled;
                        next_scheduled += step;
                        start
                    }
                    None => Instant::now(),
                };
                let (dir, offset) = workload.next_io();
                let buf = free_bufs.pop().expect("a buffer per depth slot");
                let kind = match dir {
                    Dir::Read => IoKind::Read,
                    Dir::Write => {
                        writes_since_sync += 1;
                        if sync_every > 0 && writes_since_sync >= sync_every {
                            writes_since_sync = 0;
                            sync_pending = true;
                        }
                        IoKind::Write
                    }
                };
                (kind, offset, start, buf)
            };
            let token = free_tokens.pop().expect("a token per slot");
            let queued = Instant::now();
            let counted = start >= measure_start;
            if counted && !matches!(kind, IoKind::Sync(_)) {
                counted_bytes_issued += job.bs;
            }
            slots[token] = Some(Slot {
                kind,
                offset,
                start: start.min(queued),
                queued,
                submitted: None,
                counted,
            });
            let io = Io {
                token: token as u64,
                kind,
                offset,
                buf,
            };
            match engine.queue(io)? {
                Queued::Queued => uncommitted.push(token),
                Queued::Completed(c) => {
                    complete(
                        c,
                        Instant::now(),
                        &mut slots,
                        &mut free_tokens,
                        &mut free_bufs,
                        &mut stats,
                        &mut recorder,
                    )?;
                    // A synchronous engine never fills the depth; go back to the top
                    // so the deadline and the ramp are checked after every I/O.
                    break;
                }
            }
        }
        if !uncommitted.is_empty() {
            engine.commit()?;
            let submitted = Instant::now();
            for &token in &uncommitted {
                if let Some(slot) = slots[token].as_mut() {
                    slot.submitted = Some(submitted);
                }
            }
            inflight += uncommitted.len();
            uncommitted.clear();
        }
        if inflight > 0 {
            completions.clear();
            engine.getevents(1, &mut completions)?;
            let done = Instant::now();
            inflight -= completions.len();
            for c in completions.drain(..) {
                complete(
                    c,
                    done,
                    &mut slots,
                    &mut free_tokens,
                    &mut free_bufs,
                    &mut stats,
                    &mut recorder,
                )?;
            }
        } else if waiting_for_schedule {
            let mut until = next_scheduled;
            if let Some(d) = deadline {
                until = until.min(d);
            }
            let wait = until.saturating_duration_since(Instant::now());
            // Sleeping overshoots by tens of µs; spin the last stretch.
            if wait > Duration::from_micros(200) {
                std::thread::sleep(wait - Duration::from_micros(100));
            } else {
                std::hint::spin_loop();
            }
        }
    }
    let end = Instant::now();
    stats.runtime = end.saturating_duration_since(measure_start);
    stats.intervals = recorder.finish(end);
    if let (Some(before), Ok(after)) = (usage_at_start, affinity::thread_usage()) {
        stats.usage = after.since(&before);
    }
    if job.end_fsync && job.rw.writes() {
        end_fsync(engine, instance)?;
    }
    stats.engine_extra = engine.extra_stats();
    engine.close()?;
    Ok(stats)
}

/// fsyncs once after the measured run (`end_fsync=1`); not counted in the stats.
fn end_fsync(engine: &mut dyn IoEngine, instance: &JobInstance) -> Result<(), BenchError> {
    let io = Io {
        token: u64::MAX,
        kind: IoKind::Sync(SyncKind::Fsync),
        offset: 0,
        buf: AlignedBuf::zeroed(0),
    };
    let completion = match engine.queue(io)? {
        Queued::Completed(c) => c,
        Queued::Queued => {
            engine.commit()?;
            let mut out = Vec::with_capacity(1);
            engine.getevents(1, &mut out)?;
            out.pop()
                .expect("getevents returns at least min completions")
        }
    };
    completion
        .result
        .map(|_| ())
        .map_err(|source| BenchError::Io {
            op: "end_fsync",
            path: instance.path.clone(),
            offset: 0,
            source,
        })
}
