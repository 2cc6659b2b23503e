//! The measurement loop of one job thread.
//!
//! The loop keeps up to `depth = min(iodepth, engine.depth_max())` I/Os in flight:
//! it queues I/Os while there is room, committing every `iodepth_batch_submit` of
//! them (fio's default 1: each I/O is submitted as soon as it is queued), commits any
//! rest, then waits for at least one completion (fio's `iodepth_batch_complete_min=1`). Timestamps per I/O, all from the monotonic clock:
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

use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use boreal_engine::buf::{DMA_ALIGN, DmaBuf};
use boreal_engine::rt::cycles::CycleClock;

use crate::affinity;
use crate::engine::{Completion, Io, IoEngine, IoKind, Queued, SyncKind};
use crate::error::BenchError;
use crate::interrupt;
use crate::job::JobOptions;
use crate::job::options::ClockSource;
use crate::plan::JobInstance;
use crate::progress::{JobProgress, ProgressTally};
use crate::stats::{IntervalRecorder, JobStats};
use crate::workload::{Dir, Workload, patterned_buf};

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
    // fio's iodepth_batch_submit: commit once this many are queued (0: the depth).
    let batch_submit = match job.iodepth_batch_submit {
        0 => depth,
        n => (n as usize).min(depth),
    };
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
    let bs = job.bs as usize;
    let mut free_bufs: Vec<DmaBuf> = (0..depth)
        .map(|i| patterned_buf(bs, job.randseed ^ i as u64))
        .collect();
    // Syncs carry an empty buffer; one is enough (a sync is never in flight beside
    // another I/O) and it is reused, so the sync path allocates nothing.
    let mut sync_buf = Some(DmaBuf::zeroed(DMA_ALIGN));
    let mut slots: Vec<Option<Slot>> = vec![None; depth + 1];
    let mut free_tokens: Vec<usize> = (0..depth + 1).rev().collect();
    let mut uncommitted: Vec<usize> = Vec::with_capacity(depth + 1);
    let mut completions: Vec<Completion> = Vec::with_capacity(depth + 1);
    let mut stats = JobStats {
        jobs_merged: 1,
        clocksource: "",
        iodepth_effective: depth as u32,
        ..JobStats::default()
    };

    let clock = JobClock::for_job(job)?;
    ready.wait();
    let t0 = clock.now();
    let measure_start = t0 + job.ramp_time;
    let deadline = job.runtime.map(|r| measure_start + r);
    let mut usage_at_start = None;
    let mut recorder = IntervalRecorder::new(measure_start, config.interval, config.hdr_log);
    let mut next_scheduled = t0;
    let mut counted_bytes_issued = 0u64;
    let mut writes_since_sync = 0u32;
    let mut sync_pending = false;
    let mut inflight = 0usize;
    let mut measuring = false;

    let complete = |c: Completion,
                    done: Instant,
                    slots: &mut Vec<Option<Slot>>,
                    free_tokens: &mut Vec<usize>,
                    free_bufs: &mut Vec<DmaBuf>,
                    sync_buf: &mut Option<DmaBuf>,
                    stats: &mut JobStats,
                    recorder: &mut IntervalRecorder,
                    tally: &mut ProgressTally|
     -> Result<(), BenchError> {
        let token = c.token as usize;
        let slot = slots[token]
            .take()
            .expect("completion for a token in flight");
        free_tokens.push(token);
        let (op, expected) = match slot.kind {
            IoKind::Read => ("read", bs),
            IoKind::Write => ("write", bs),
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
        let mut buf = c.buf;
        if matches!(slot.kind, IoKind::Sync(_)) {
            buf.clear();
            *sync_buf = Some(buf);
        } else {
            // A read may have set the length to the count read; it was checked above.
            buf.set_len(bs);
            free_bufs.push(buf);
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
                tally.add(dir.index(), got as u64);
            }
        }
        Ok(())
    };

    let mut tally = ProgressTally::default();
    loop {
        progress.publish(&mut tally);
        let now = clock.now();
        if usage_at_start.is_none() && now >= measure_start {
            usage_at_start = affinity::thread_usage().ok();
        }
        // A SIGINT/SIGTERM ends the job as its deadline would (see `crate::interrupt`).
        let out_of_time = deadline.is_some_and(|d| now >= d) || interrupt::requested().is_some();
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
                let buf = sync_buf.take().expect("one sync at a time");
                (IoKind::Sync(sync_kind), 0, None, buf)
            } else {
                if stop_issuing || (!job.time_based && counted_bytes_issued >= io_limit_bytes) {
                    break;
                }
                // With a rate, an I/O starts when it was scheduled; without one, when it
                // is queued (stamped below: one clock read per I/O, as fio does).
                let start = match rate_step {
                    Some(step) => {
                        if next_scheduled > clock.now() {
                            waiting_for_schedule = true;
                            break;
                        }
                        let start = next_scheduled;
                        next_scheduled += step;
                        Some(start)
                    }
                    None => None,
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
            let queued = clock.now();
            let start = start.unwrap_or(queued);
            let counted = start >= measure_start;
            if counted && !measuring {
                measuring = true;
                engine.measure_start();
            }
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
                Queued::Queued => {
                    uncommitted.push(token);
                    if uncommitted.len() >= batch_submit {
                        commit(engine, &clock, &mut uncommitted, &mut slots, &mut inflight)?;
                    }
                }
                Queued::Completed(c) => {
                    complete(
                        c,
                        clock.now(),
                        &mut slots,
                        &mut free_tokens,
                        &mut free_bufs,
                        &mut sync_buf,
                        &mut stats,
                        &mut recorder,
                        &mut tally,
                    )?;
                    // A synchronous engine never fills the depth; go back to the top
                    // so the deadline and the ramp are checked after every I/O.
                    break;
                }
            }
        }
        if !uncommitted.is_empty() {
            commit(engine, &clock, &mut uncommitted, &mut slots, &mut inflight)?;
        }
        if inflight > 0 {
            completions.clear();
            engine.getevents(1, &mut completions)?;
            let done = clock.now();
            inflight -= completions.len();
            for c in completions.drain(..) {
                complete(
                    c,
                    done,
                    &mut slots,
                    &mut free_tokens,
                    &mut free_bufs,
                    &mut sync_buf,
                    &mut stats,
                    &mut recorder,
                    &mut tally,
                )?;
            }
        } else if waiting_for_schedule {
            let mut until = next_scheduled;
            if let Some(d) = deadline {
                until = until.min(d);
            }
            let wait = until.saturating_duration_since(clock.now());
            // Sleeping overshoots by tens of µs; spin the last stretch.
            if wait > Duration::from_micros(200) {
                std::thread::sleep(wait - Duration::from_micros(100));
            } else {
                std::hint::spin_loop();
            }
        }
    }
    let end = clock.now();
    stats.clocksource = clock.name();
    stats.runtime = end.saturating_duration_since(measure_start);
    stats.intervals = recorder.finish(end);
    if let (Some(before), Ok(after)) = (usage_at_start, affinity::thread_usage()) {
        stats.usage = after.since(&before);
    }
    if job.end_fsync && job.rw.writes() {
        end_fsync(engine, instance)?;
    }
    stats.engine_extra = engine.extra_stats(stats.runtime);
    engine.close()?;
    Ok(stats)
}

/// Submits the queued I/Os and stamps their submission time.
fn commit(
    engine: &mut dyn IoEngine,
    clock: &JobClock,
    uncommitted: &mut Vec<usize>,
    slots: &mut [Option<Slot>],
    inflight: &mut usize,
) -> Result<(), BenchError> {
    engine.commit()?;
    let submitted = clock.now();
    for &token in uncommitted.iter() {
        if let Some(slot) = slots[token].as_mut() {
            slot.submitted = Some(submitted);
        }
    }
    *inflight += uncommitted.len();
    uncommitted.clear();
    Ok(())
}

/// fsyncs once after the measured run (`end_fsync=1`); not counted in the stats.
fn end_fsync(engine: &mut dyn IoEngine, instance: &JobInstance) -> Result<(), BenchError> {
    let io = Io {
        token: u64::MAX,
        kind: IoKind::Sync(SyncKind::Fsync),
        offset: 0,
        buf: DmaBuf::zeroed(DMA_ALIGN),
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

/// The job's clock (`clocksource`): every timestamp of the job comes from it, so its
/// latencies, deadlines and intervals agree with each other.
#[derive(Clone, Copy, Debug)]
enum JobClock {
    /// The time-stamp counter, calibrated once per process.
    Cycles(CycleClock),
    /// `CLOCK_MONOTONIC` (`Instant::now`).
    Os,
}

impl JobClock {
    /// The job's `clocksource`; without one, fio's default: `cpu` where the kernel keeps
    /// time with the TSC. Calibrating takes `rt::cycles::CALIBRATION` once per process.
    fn for_job(job: &JobOptions) -> Result<JobClock, BenchError> {
        static CYCLES: OnceLock<Option<CycleClock>> = OnceLock::new();
        let cycles = || *CYCLES.get_or_init(CycleClock::calibrate);
        match job.clocksource {
            Some(ClockSource::ClockGettime) => Ok(JobClock::Os),
            Some(ClockSource::Cpu) => cycles().map(JobClock::Cycles).ok_or_else(|| BenchError::Job {
                job: job.name.clone(),
                message: "clocksource=cpu needs a time-stamp counter the kernel keeps time with (/sys/devices/system/clocksource/clocksource0/current_clocksource is not `tsc` here); use clocksource=clock_gettime".to_string(),
            }),
            None => Ok(cycles().map_or(JobClock::Os, JobClock::Cycles)),
        }
    }

    #[inline]
    fn now(&self) -> Instant {
        match self {
            JobClock::Cycles(c) => c.now(),
            JobClock::Os => Instant::now(),
        }
    }

    /// fio's name of the clock.
    fn name(&self) -> &'static str {
        match self {
            JobClock::Cycles(_) => ClockSource::Cpu.as_str(),
            JobClock::Os => ClockSource::ClockGettime.as_str(),
        }
    }
}
