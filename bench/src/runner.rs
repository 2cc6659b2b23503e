//! The measurement loop of one job thread.
//!
//! The loop keeps up to `depth = min(iodepth, engine.depth_max())` I/Os in flight:
//! it queues I/Os while there is room, committing every `iodepth_batch_submit` of
//! them (fio's default 1: each I/O is submitted as soon as it is queued), commits any
//! rest, then waits for at least `iodepth_batch_complete_min` completions and takes
//! at most `iodepth_batch_complete_max` of them (fio's defaults, 1 and 1: one
//! completion is taken, its slot refilled, then the next; the others wait, still
//! counted in flight, as in fio's completion queue).
//! Timestamps per I/O, all from the job's clock ([`crate::clock`]):
//! - `start`: when the I/O should start. Without a rate that is when it is queued.
//!   With `rate`/`rate_iops` the job is open-loop ([`crate::rate`]): the I/O starts
//!   when its direction's schedule says, whatever happened before, so an I/O that
//!   waited behind a stall is charged for the wait (no coordinated omission).
//! - `queued`: just before [`IoEngine::queue`].
//! - `submitted`: just after the [`IoEngine::commit`] that submitted it.
//! - `done`: just after the call that returned its completion.
//!
//! Then `slat = submitted - queued`, `clat = done - submitted` (or `done - queued` for
//! a synchronous engine, which has no slat), `lat = done - start`; `gtod_reduce` and
//! the `disable_*` options leave them unrecorded.
//!
//! Syncs (`fsync=N` / `fdatasync=N`) are queued after every N writes once the writes in
//! flight have completed, so each sync covers every write issued before it; its latency
//! goes to the job's `sync` distribution, measured as fio does, like `clat` (from
//! `submitted`, or `queued` for a synchronous engine). I/Os started during `ramp_time` run but are
//! not counted. A failed or short I/O stops the job with an error naming the operation,
//! file and offset (fio's default `continue_on_error=none`); the error comes back with
//! what the job measured until then ([`JobError`]), as fio still reports a failed job.
//!
//! With `verify`, each write carries a verify header (or the pattern,
//! [`crate::verify`]); after the job's writes (or every `verify_backlog` writes, once
//! the writes in flight are done) the written blocks are read back and checked, and
//! those reads count as reads, as in fio. The job stops issuing when its time or
//! bytes are done, its group's `exitall` fired, or a SIGINT/SIGTERM came; a `flow`
//! job ahead of its share waits ([`crate::coord`]).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use boreal_engine::buf::{DMA_ALIGN, DmaBuf};

use crate::affinity;
use crate::clock::JobClock;
use crate::coord::GroupShared;
use crate::engine::{Completion, Io, IoEngine, IoKind, Queued, SyncKind};
use crate::error::BenchError;
use crate::interrupt;
use crate::joblog::{JobLog, LogFiles, Sample};
use crate::plan::JobInstance;
use crate::progress::{JobProgress, ProgressTally};
use crate::rate::RateSchedule;
use crate::stats::{IntervalRecorder, JobFailure, JobStats};
use crate::verify::{self, Expect, VerifyTracker};
use crate::workload::{Dir, NextIo, Rng, Workload, patterned_buf};

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

/// What a job thread shares with the run: its progress counters, the start barrier,
/// its group's coordination, and its log files.
#[derive(Debug)]
pub struct ThreadContext<'a> {
    /// Progress counters for the progress line.
    pub progress: &'a JobProgress,
    /// Waited on once everything is set up, so all jobs start measuring together.
    pub ready: &'a Barrier,
    /// `exitall`, `wait_for`, `flow`.
    pub group: &'a GroupShared,
    /// The thread's fio logs, created before the run.
    pub logs: LogFiles,
}

/// One I/O in flight.
#[derive(Debug, Clone, Copy)]
struct Slot {
    kind: IoKind,
    file: usize,
    offset: u64,
    len: usize,
    start: Instant,
    queued: Instant,
    submitted: Option<Instant>,
    counted: bool,
    /// A read-back of `verify`.
    verify_read: bool,
}

/// Where the job stands, beside the I/Os in flight.
struct Loop<'a> {
    instance: &'a JobInstance,
    slots: Vec<Option<Slot>>,
    free_tokens: Vec<usize>,
    free_bufs: Vec<DmaBuf>,
    sync_buf: Option<DmaBuf>,
    stats: JobStats,
    recorder: IntervalRecorder,
    tally: ProgressTally,
    tracker: Option<VerifyTracker>,
    log: Option<JobLog>,
    measure_start: Instant,
    writes_in_flight: usize,
}

impl Loop<'_> {
    fn complete(&mut self, c: Completion, done: Instant) -> Result<(), BenchError> {
        let job = &*self.instance.options;
        let token = c.token as usize;
        let slot = self.slots[token]
            .take()
            .expect("completion for a token in flight");
        self.free_tokens.push(token);
        let (op, expected) = match slot.kind {
            IoKind::Read => ("read", slot.len),
            IoKind::Write => ("write", slot.len),
            IoKind::Trim => ("trim", slot.len),
            IoKind::Sync(SyncKind::Fsync) => ("fsync", 0),
            IoKind::Sync(SyncKind::Fdatasync) => ("fdatasync", 0),
        };
        let path = || self.instance.files[slot.file].clone();
        let got = c.result.map_err(|source| BenchError::Io {
            op,
            path: path(),
            offset: slot.offset,
            source,
        })?;
        if got != expected {
            return Err(BenchError::ShortIo {
                op,
                path: path(),
                offset: slot.offset,
                got,
                expected,
            });
        }
        let mut buf = c.buf;
        if let IoKind::Sync(_) = slot.kind {
            buf.clear();
            self.sync_buf = Some(buf);
        } else {
            buf.set_len(slot.len);
            if slot.kind == IoKind::Write {
                self.writes_in_flight -= 1;
                if let Some(t) = self.tracker.as_mut() {
                    t.written(slot.file, slot.offset);
                }
            }
            if slot.verify_read
                && let (Some(t), Some(kind)) = (self.tracker.as_mut(), job.verify)
            {
                let expect = Expect {
                    kind,
                    pattern: &job.verify_pattern,
                };
                verify::check(buf.as_slice(), &expect, slot.file as u32, slot.offset).map_err(
                    |reason| BenchError::Verify {
                        path: path(),
                        offset: slot.offset,
                        reason,
                    },
                )?;
                t.verified += 1;
            }
            self.free_bufs.push(buf);
        }
        if !slot.counted {
            return Ok(());
        }
        let ns = |later: Instant, earlier: Instant| {
            later.saturating_duration_since(earlier).as_nanos() as u64
        };
        let off = job.latency_off;
        let lat_ns = ns(done, slot.start);
        let dir = match slot.kind {
            IoKind::Sync(_) => {
                // fio's `sync` latency is a completion latency: from the I/O's issue
                // (after the commit that submitted it) to its completion, like `clat`
                // (fio's account_io_completion: `issue_time` to completion).
                let sync_ns = ns(done, slot.submitted.unwrap_or(slot.queued));
                self.stats.sync.record(sync_ns);
                if !off.bw {
                    self.recorder.record_sync(done, sync_ns);
                }
                return Ok(());
            }
            IoKind::Read => Dir::Read,
            IoKind::Write => Dir::Write,
            IoKind::Trim => Dir::Trim,
        };
        let (slat, clat) = match slot.submitted {
            Some(submitted) => (Some(ns(submitted, slot.queued)), ns(done, submitted)),
            None => (None, ns(done, slot.queued)),
        };
        let lat = [
            (!off.lat).then_some(lat_ns),
            (!off.clat).then_some(clat),
            slat.filter(|_| !off.slat),
        ];
        let d = &mut self.stats.dirs[dir.index()];
        d.ios += 1;
        d.bytes += got as u64;
        if let Some(v) = lat[0] {
            d.lat.record(v);
        }
        if let Some(v) = lat[1] {
            d.clat.record(v);
        }
        if let Some(v) = lat[2] {
            d.slat.record(v);
        }
        if !off.bw {
            self.recorder.record_io(done, dir, got as u64, lat[0]);
        }
        if let Some(log) = self.log.as_mut() {
            log.record(Sample {
                at: done.saturating_duration_since(self.measure_start),
                dir,
                bytes: got as u64,
                lat,
            })?;
        }
        self.tally.add(dir.index(), got as u64);
        Ok(())
    }
}

/// Sleeps until `until` (spinning the last stretch: sleeping overshoots by tens of
/// µs), or less when the run is asked to stop.
fn wait_until(clock: &JobClock, until: Instant) {
    let wait = until.saturating_duration_since(clock.now());
    if wait > Duration::from_micros(200) {
        std::thread::sleep((wait - Duration::from_micros(100)).min(Duration::from_millis(50)));
    } else {
        std::hint::spin_loop();
    }
}

/// A job that stopped on an error, with what it measured before the error when it
/// had started measuring.
#[derive(Debug)]
pub struct JobError {
    /// What stopped it.
    pub error: BenchError,
    /// Its figures until then, [`JobStats::failed`] set; `None` when it failed
    /// before its I/O loop began (setup, open).
    pub measured: Option<Box<JobStats>>,
}

impl From<BenchError> for JobError {
    fn from(error: BenchError) -> JobError {
        JobError {
            error,
            measured: None,
        }
    }
}

/// Runs one job instance to its end on the calling thread, using `engine`. An error
/// of an I/O (queue, submit, completion, verify, log) ends the job at once; the
/// error comes back with what was measured until then.
pub fn run_job(
    instance: &JobInstance,
    engine: &mut dyn IoEngine,
    config: RunnerConfig,
    ctx: ThreadContext<'_>,
) -> Result<JobStats, JobError> {
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
    let io_limit_bytes = job
        .io_size
        .unwrap_or(instance.region_len)
        .saturating_mul(u64::from(job.loops));
    let mut workload = Workload::new(job, instance.copy, &instance.file_lens);
    let tracker = match job.verify {
        Some(_) => Some(
            VerifyTracker::new(job.bs, job.offset, &instance.file_lens, job.verify_backlog)
                .ok_or_else(|| BenchError::Job {
                    job: job.name.clone(),
                    message: format!(
                        "verify keeps a bit per written block; this job's regions hold more than {} blocks of bs={}: shrink size or raise bs",
                        verify::VERIFY_BLOCKS_MAX,
                        job.bs
                    ),
                })?,
        ),
        None => None,
    };
    let expect = job.verify.map(|kind| Expect {
        kind,
        pattern: &job.verify_pattern,
    });
    let bs_max = job.bs as usize;
    let free_bufs: Vec<DmaBuf> = (0..depth)
        .map(|i| patterned_buf(bs_max, job.randseed ^ i as u64))
        .collect();
    let clock = JobClock::for_job(job)?;
    let mut rng = Rng::new(job.randseed ^ 0x57A2_7DE1 ^ u64::from(instance.copy));
    let delay_fraction = rng.unit().min(1.0);
    let (lo, hi) = job.startdelay;
    let startdelay = lo + (hi - lo).mul_f64(delay_fraction);
    let log = (!ctx.logs.is_empty()).then(|| JobLog::new(ctx.logs, job.log_avg_msec));
    let flow = (job.flow > 0)
        .then(|| ctx.group.flow(job.flow_id))
        .flatten();
    let stopping = || interrupt::requested().is_some() || ctx.group.exiting();

    ctx.ready.wait();
    if let Some(latch) = instance.wait_for.and_then(|i| ctx.group.latch(i)) {
        latch.wait(stopping);
    }
    if !startdelay.is_zero() {
        let until = clock.now() + startdelay;
        while clock.now() < until && !stopping() {
            wait_until(&clock, until);
        }
    }
    let t0 = clock.now();
    let measure_start = t0 + job.ramp_time;
    let deadline = job.runtime.map(|r| measure_start + r);
    let mut rates = RateSchedule::new(job, t0, job.randseed ^ u64::from(instance.copy));
    let mut lp = Loop {
        instance,
        slots: vec![None; depth + 1],
        free_tokens: (0..depth + 1).rev().collect(),
        free_bufs,
        // Syncs carry an empty buffer; one is enough (a sync is never in flight beside
        // another I/O) and it is reused, so the sync path allocates nothing.
        sync_buf: Some(DmaBuf::zeroed(DMA_ALIGN)),
        stats: JobStats {
            jobs_merged: 1,
            clocksource: "",
            iodepth_effective: depth as u32,
            ..JobStats::default()
        },
        recorder: IntervalRecorder::new(measure_start, config.interval, config.hdr_log),
        tally: ProgressTally::default(),
        tracker,
        log,
        measure_start,
        writes_in_flight: 0,
    };
    let mut uncommitted: Vec<usize> = Vec::with_capacity(depth + 1);
    let mut completions: Vec<Completion> = Vec::with_capacity(depth + 1);
    // fio's iodepth_batch_complete_min/_max: a wait reaps at least `reap_min` and
    // hands at most `reap_max` to the job (fio's defaults: 1 and 1, so after a
    // burst of completions the job takes one, refills its slot, takes the next: each
    // is timed when it is taken). boreal's client engines take all by default.
    let reap_min = (job.iodepth_batch_complete_min.max(1) as usize).min(depth);
    let reap_max = match job.iodepth_batch_complete_max {
        0 if job.ioengine.ios_are_clients() => depth,
        n => (n as usize).max(reap_min),
    };
    let mut reaped: std::collections::VecDeque<Completion> =
        std::collections::VecDeque::with_capacity(depth + 1);
    let mut usage_at_start = None;
    let mut storage_read_at_start = None;
    let mut counted_bytes_issued = 0u64;
    let mut writes_since_sync = 0u32;
    let mut sync_pending = false;
    let mut inflight = 0usize;
    let mut measuring = false;
    let mut pending: Option<NextIo> = None;
    let mut flow_own = 0u64;
    let verify_at_end = job.verify.is_some() && job.do_verify;
    let mut final_verify_done = !verify_at_end;
    // The error that ends the loop early; what was measured until then is kept.
    let mut failure: Option<BenchError> = None;

    'run: loop {
        ctx.progress.publish(&mut lp.tally);
        let now = clock.now();
        if usage_at_start.is_none() && now >= measure_start {
            usage_at_start = affinity::thread_usage().ok();
            storage_read_at_start = thread_storage_read_bytes();
        }
        let interrupted = interrupt::requested().is_some();
        let out_of_time = deadline.is_some_and(|d| now >= d) || interrupted || ctx.group.exiting();
        let out_of_bytes = !job.time_based && counted_bytes_issued >= io_limit_bytes;
        let writes_done = out_of_time || (out_of_bytes && !workload.owes_write());
        if interrupted {
            final_verify_done = true;
        }
        if writes_done && inflight == 0 && !sync_pending && final_verify_done {
            break;
        }
        let mut waiting_until: Option<Instant> = None;
        while inflight + uncommitted.len() < depth
            || (sync_pending && inflight + uncommitted.len() == 0)
        {
            let backlog = lp.tracker.as_ref().is_some_and(VerifyTracker::backlog_due);
            let (kind, file, offset, len, start, verify_read) = if sync_pending {
                if inflight + uncommitted.len() > 0 {
                    break;
                }
                sync_pending = false;
                (IoKind::Sync(sync_kind), 0, 0, 0, None, false)
            } else if backlog || (writes_done && !final_verify_done) {
                // Read-backs wait for the writes in flight, so none can race a write.
                if lp.writes_in_flight > 0 {
                    break;
                }
                let tracker = lp.tracker.as_mut().expect("verify has a tracker");
                let next = if backlog {
                    tracker.next_backlog()
                } else {
                    tracker.next_final()
                };
                let Some((file, offset)) = next else {
                    if !backlog {
                        final_verify_done = true;
                    }
                    break;
                };
                (IoKind::Read, file, offset, job.bs as usize, None, true)
            } else {
                let bytes_done = !job.time_based && counted_bytes_issued >= io_limit_bytes;
                // A trimwrite's trim is followed by its write even at the end.
                if (writes_done || bytes_done) && !(bytes_done && workload.owes_write()) {
                    break;
                }
                let io = match pending.take() {
                    Some(io) => io,
                    None => match rates.as_ref() {
                        Some(r) => {
                            let now = clock.now();
                            let ahead = |d: Dir| r.due(d).is_some_and(|due| due > now);
                            workload.next_io_with(|d| {
                                let other = if d == Dir::Read {
                                    Dir::Write
                                } else {
                                    Dir::Read
                                };
                                if ahead(d) && !ahead(other) { other } else { d }
                            })
                        }
                        None => workload.next_io(),
                    },
                };
                if let Some(flow) = flow
                    && flow.ahead(flow_own, job.flow)
                {
                    pending = Some(io);
                    if inflight + uncommitted.len() == 0 {
                        waiting_until =
                            Some(clock.now() + job.flow_sleep.max(Duration::from_micros(50)));
                    }
                    break;
                }
                let start = match rates.as_mut() {
                    Some(r) => match r.due(io.dir) {
                        Some(due) if due > clock.now() => {
                            pending = Some(io);
                            waiting_until = Some(due);
                            break;
                        }
                        Some(_) => r.take(io.dir, io.len),
                        None => None,
                    },
                    None => None,
                };
                if let Some(flow) = flow {
                    flow.count();
                    flow_own += 1;
                }
                let kind = match io.dir {
                    Dir::Read => IoKind::Read,
                    Dir::Trim => IoKind::Trim,
                    Dir::Write => {
                        writes_since_sync += 1;
                        if sync_every > 0 && writes_since_sync >= sync_every {
                            writes_since_sync = 0;
                            sync_pending = true;
                        }
                        IoKind::Write
                    }
                };
                (kind, io.file, io.offset, io.len as usize, start, false)
            };
            let mut buf = match kind {
                IoKind::Sync(_) => lp.sync_buf.take().expect("one sync at a time"),
                _ => {
                    let mut buf = lp.free_bufs.pop().expect("a buffer per depth slot");
                    buf.set_len(len);
                    buf
                }
            };
            if kind == IoKind::Write {
                lp.writes_in_flight += 1;
                if let Some(expect) = &expect {
                    verify::prepare(buf.as_mut_slice(), expect, file as u32, offset);
                }
            }
            let token = lp.free_tokens.pop().expect("a token per slot");
            let queued = clock.now();
            let start = start.unwrap_or(queued);
            let counted = start >= measure_start;
            if counted && !measuring {
                measuring = true;
                engine.measure_start();
            }
            // trimwrite's writes repeat its trims' blocks: fio counts the bytes once
            // (io_size=64k trims 64 KiB and writes the same 64 KiB).
            let repeat = kind == IoKind::Write && job.rw.trims();
            if counted && !verify_read && !repeat && !matches!(kind, IoKind::Sync(_)) {
                counted_bytes_issued += len as u64;
            }
            lp.slots[token] = Some(Slot {
                kind,
                file,
                offset,
                len,
                start: start.min(queued),
                queued,
                submitted: None,
                counted,
                verify_read,
            });
            let io = Io {
                token: token as u64,
                kind,
                file,
                offset,
                buf,
            };
            let queued = engine.queue(io).and_then(|q| match q {
                Queued::Queued => {
                    uncommitted.push(token);
                    if uncommitted.len() >= batch_submit {
                        commit(
                            engine,
                            &clock,
                            &mut uncommitted,
                            &mut lp.slots,
                            &mut inflight,
                        )?;
                    }
                    Ok(false)
                }
                Queued::Completed(c) => lp.complete(c, clock.now()).map(|()| true),
            });
            match queued {
                Ok(false) => {}
                // A synchronous engine never fills the depth; go back to the top so
                // the deadline and the ramp are checked after every I/O.
                Ok(true) => break,
                Err(e) => {
                    failure = Some(e);
                    break 'run;
                }
            }
        }
        if !uncommitted.is_empty()
            && let Err(e) = commit(
                engine,
                &clock,
                &mut uncommitted,
                &mut lp.slots,
                &mut inflight,
            )
        {
            failure = Some(e);
            break;
        }
        if inflight > 0 {
            // Wait for `reap_min` (fewer if fewer are in flight), take at most
            // `reap_max`; the rest stay reaped-but-unseen (still in flight, as they
            // would be in fio's completion queue) and are taken, and timed, at the
            // next waits.
            let want = reap_min.min(inflight);
            if reaped.len() < want {
                completions.clear();
                if let Err(e) = engine.getevents(want - reaped.len(), &mut completions) {
                    failure = Some(e);
                    break;
                }
                reaped.extend(completions.drain(..));
            }
            let done = clock.now();
            let take = reaped.len().min(reap_max);
            inflight -= take;
            for c in reaped.drain(..take) {
                if let Err(e) = lp.complete(c, done) {
                    failure = Some(e);
                    break 'run;
                }
            }
        } else if let Some(until) = waiting_until {
            let until = deadline.map_or(until, |d| until.min(d));
            wait_until(&clock, until);
        }
    }
    let end = clock.now();
    let mut stats = lp.stats;
    stats.clocksource = clock.name();
    stats.runtime = end.saturating_duration_since(measure_start);
    stats.intervals = lp.recorder.finish(end);
    if let (Some(before), Ok(after)) = (usage_at_start, affinity::thread_usage()) {
        stats.usage = after.since(&before);
    }
    if let (Some(before), Some(after)) = (storage_read_at_start, thread_storage_read_bytes()) {
        stats.harness_extra.insert(
            "storage_read_bytes".into(),
            after.saturating_sub(before).into(),
        );
    }
    if let Some(error) = failure {
        // I/Os may still be in flight: no end_fsync, no engine figures, no close (the
        // engine is dropped, which releases it). The logs get what was measured.
        if let Some(log) = lp.log {
            let _ = log.finish();
        }
        stats.failed = Some(JobFailure {
            errno: error.errno(),
            message: error.to_string(),
        });
        return Err(JobError {
            error,
            measured: Some(Box::new(stats)),
        });
    }
    if job.end_fsync && job.rw.writes() {
        end_fsync(engine, instance)?;
    }
    if let Some(log) = lp.log {
        log.finish()?;
    }
    if let Some((blocks, touched, ios)) = workload.coverage() {
        let offsets = serde_json::json!({
            "blocks_in_regions": blocks,
            "blocks_touched": touched,
            "ios_issued": ios,
            "block_bytes": job.min_bs(),
        });
        stats.harness_extra.insert("offsets".into(), offsets);
    }
    if let Some(t) = &lp.tracker {
        stats
            .harness_extra
            .insert("verified_blocks".into(), t.verified.into());
    }
    stats.engine_extra = engine.extra_stats(stats.runtime);
    engine.close()?;
    if job.exitall {
        ctx.group
            .exit_all
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(stats)
}

/// Bytes this thread's reads fetched from storage so far (`read_bytes` of
/// `/proc/thread-self/io`): what the page cache did not serve. `None` where the kernel
/// does not account it.
fn thread_storage_read_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("read_bytes:"))?
        .trim()
        .parse()
        .ok()
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

/// fsyncs every file once after the measured run (`end_fsync=1`); not counted.
fn end_fsync(engine: &mut dyn IoEngine, instance: &JobInstance) -> Result<(), BenchError> {
    for (file, path) in instance.files.iter().enumerate() {
        let io = Io {
            token: u64::MAX,
            kind: IoKind::Sync(SyncKind::Fsync),
            file,
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
        completion.result.map_err(|source| BenchError::Io {
            op: "end_fsync",
            path: path.clone(),
            offset: 0,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::null::NullEngine;
    use crate::job::{build_jobs, parse::parse_job_file};
    use crate::plan::plan;
    use std::path::Path;

    /// fio's null engine, with a slow submission: every commit takes `COMMIT`.
    struct SlowCommit(NullEngine);

    const COMMIT: Duration = Duration::from_millis(2);

    impl IoEngine for SlowCommit {
        fn name(&self) -> &'static str {
            "slow-commit"
        }
        fn depth_max(&self) -> u32 {
            self.0.depth_max()
        }
        fn queue(&mut self, io: Io) -> Result<Queued, BenchError> {
            self.0.queue(io)
        }
        fn commit(&mut self) -> Result<(), BenchError> {
            std::thread::sleep(COMMIT);
            self.0.commit()
        }
        fn getevents(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<(), BenchError> {
            self.0.getevents(min, out)
        }
        fn close(&mut self) -> Result<(), BenchError> {
            self.0.close()
        }
    }

    /// Runs the one job of `text` on a [`SlowCommit`] engine.
    fn run_slow_commit(text: &str) -> JobStats {
        let set = build_jobs(&parse_job_file(text, Path::new("t.fio")).unwrap(), &[]).unwrap();
        let instances = plan(&set, &[0]).unwrap();
        let inst = &instances[0];
        let mut engine = SlowCommit(NullEngine::with_depth(inst.options.iodepth));
        let progress = JobProgress::default();
        let ready = Barrier::new(1);
        let group = GroupShared::new(&instances);
        let ctx = ThreadContext {
            progress: &progress,
            ready: &ready,
            group: &group,
            logs: LogFiles::default(),
        };
        run_job(inst, &mut engine, RunnerConfig::default(), ctx).unwrap()
    }

    #[test]
    fn completions_are_taken_one_per_wait_by_default_as_fios() {
        // Depth 4 on an engine that completes everything at once: each wait finds
        // all four done. fio's default (iodepth_batch_complete_max = min = 1) takes
        // one, refills its slot (a commit), takes the next: every completion is taken
        // three commits after its own, and timed then.
        let job = "[w]\nioengine=null\nrw=write\nbs=4k\nsize=128k\niodepth=4\nfilename=x\n";
        let commit = COMMIT.as_nanos() as u64;
        let one_by_one = run_slow_commit(job);
        let clat = &one_by_one.dirs[Dir::Write.index()].clat;
        assert_eq!(clat.count(), 32);
        // (The last three, drained at the end with no refills between, are quicker.)
        let median = clat.percentile_ns(50.0);
        assert!(median >= 3 * commit, "clat median {median} ns");
        // Taking all four at each wait times them together: three, two, one and no
        // commits after their own.
        let all = run_slow_commit(&format!("{job}iodepth_batch_complete_max=4\n"));
        let clat = &all.dirs[Dir::Write.index()].clat;
        assert_eq!(clat.count(), 32);
        assert!(clat.min_ns < commit, "clat min {} ns", clat.min_ns);
        let median = clat.percentile_ns(50.0);
        assert!(median < 5 * commit / 2, "clat median {median} ns");
    }

    #[test]
    fn a_syncs_latency_is_measured_from_its_submission_as_fios() {
        let stats = run_slow_commit(
            "[w]\nioengine=null\nrw=write\nbs=4k\nsize=64k\nfdatasync=1\nfilename=x\n",
        );
        assert_eq!(stats.sync.count(), 16);
        // Each write's and sync's submission took COMMIT: it is slat, and in `lat`, but
        // not in the completion latencies (fio: `issue_time` to completion).
        let write = &stats.dirs[Dir::Write.index()];
        assert!(
            write.lat.min_ns >= COMMIT.as_nanos() as u64,
            "{}",
            write.lat.min_ns
        );
        assert!(
            write.clat.max_ns < COMMIT.as_nanos() as u64,
            "{}",
            write.clat.max_ns
        );
        assert!(
            stats.sync.max_ns < COMMIT.as_nanos() as u64,
            "sync latency {} ns includes the submission",
            stats.sync.max_ns
        );
    }
}
