//! One whole run: plan, check memory, lay out, start one thread per job copy, collect.
//!
//! Order matters for trustworthy numbers: every file is laid out and every engine is
//! opened before any thread starts measuring, and all threads start together (a
//! barrier), so no job's measurement overlaps another job's setup. Stonewall groups
//! (see [`crate::plan`]) run one after another: a group's threads start only after
//! every thread of the group before it has finished. A thread with a CPU set (see
//! [`crate::plan`] for when it has one) is pinned to it before the engine is opened,
//! so per-core engine state (an io_uring ring, a journal) is created where it is used.
//!
//! A SIGINT or SIGTERM ([`crate::interrupt`]) stops the run early: the running group's
//! threads stop issuing and finish what they have in flight, later groups do not
//! start, and the result holds what was measured (`RunResult::interrupted` says so).
//! A job that fails after it began measuring stops the run the same way (the rest
//! of its group runs to its end, later groups do not start), and the error
//! ([`BenchError::JobFailed`]) carries what was measured, the failed job's figures
//! marked with its error, so the reports are still written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use boreal_engine::io::Advice;

use crate::affinity;
use crate::coord::GroupShared;
use crate::engine::cluster::{ClusterTarget, NODE_JOURNAL_BYTES_DEFAULT};
use crate::engine::journal::{JOURNAL_BYTES_DEFAULT, JournalTarget};
use crate::engine::{EngineTarget, open_engine};
use crate::error::BenchError;
use crate::interrupt;
use crate::job::kinds::FadviseHint;
use crate::job::options::SyncMode;
use crate::job::{EngineName, JobSet};
use crate::joblog::LogFiles;
use crate::layout::lay_out;
use crate::plan::{JobInstance, plan};
use crate::progress::{GroupLength, JobProgress, Progress, RunLength};
use crate::runner::{JobError, RunnerConfig, ThreadContext, run_job};
use crate::stats::JobStats;

/// The outcome of a run: the jobs, their threads, and what each thread measured.
#[derive(Debug)]
pub struct RunResult {
    /// The jobs as given.
    pub set: JobSet,
    /// One per thread, in job then copy order.
    pub instances: Vec<JobInstance>,
    /// What each instance measured, same order.
    pub stats: Vec<JobStats>,
    /// Wall-clock time the run started (for report timestamps).
    pub started: SystemTime,
    /// Wall time of the whole run, layout excluded.
    pub elapsed: Duration,
    /// The signal that stopped the run early (SIGINT or SIGTERM), if one did: the
    /// stats then hold what was measured until it came, and `instances` only the
    /// threads that ran.
    pub interrupted: Option<i32>,
}

/// Runs every job of `set` and returns the per-thread results.
pub fn run(set: JobSet, config: RunnerConfig) -> Result<RunResult, BenchError> {
    let mut cpus =
        affinity::allowed_cpus().map_err(|source| BenchError::Affinity { cpu: 0, source })?;
    // Jobs with boreal_placement=quiet go round-robin over the allowed CPUs, those that
    // take none of the first job's device interrupts first (NVMe-NOTES "CPU
    // placement").
    if let Some(first) = plan(&set, &cpus)?.first()
        && let Some(p) = crate::placement::device_irqs(&first.path)
    {
        cpus = crate::placement::quiet_first(&cpus, &p.cpus);
    }
    let instances = plan(&set, &cpus)?;
    crate::memory::check(&instances, crate::memory::available_bytes())?;
    // A job that starts its own cluster runs boreal-node: found (or built, under
    // cargo) now, so a missing binary stops the run before anything is measured.
    if set
        .jobs
        .iter()
        .any(|j| j.ioengine == EngineName::BorealCluster && j.boreal_cluster.is_none())
    {
        crate::engine::cluster::local::node_bin()?;
    }
    // Every log file is created now: a log that cannot be written stops the run before
    // anything is laid out or measured.
    let mut logs = instances
        .iter()
        .enumerate()
        .map(|(n, inst)| LogFiles::create(&inst.options, n + 1))
        .collect::<Result<Vec<_>, _>>()?;
    note_engine_aliases(&set);

    let mut extents: BTreeMap<PathBuf, u64> = BTreeMap::new();
    // A boreal-journal or boreal-cluster job's path is its data directory: the engine
    // creates and pre-writes what it needs when it opens, before the start barrier. The null
    // engine has no files; create_on_open jobs are not laid out (fio's meaning).
    for inst in instances
        .iter()
        .filter(|i| i.options.ioengine.uses_files() && !i.options.create_on_open)
    {
        for (path, len) in inst.files.iter().zip(&inst.file_lens) {
            let end = inst.options.offset + len;
            let entry = extents.entry(path.clone()).or_insert(0);
            *entry = (*entry).max(end);
        }
    }
    for (path, len) in &extents {
        lay_out(path, *len)?;
        if let Some(signal) = interrupt::requested() {
            return Err(BenchError::Interrupted {
                signal: interrupt::signal_name(signal),
                during: "laying out files, before any job started: nothing was measured",
            });
        }
    }

    let progress: Vec<Arc<JobProgress>> = instances
        .iter()
        .map(|_| Arc::new(JobProgress::default()))
        .collect();
    let started = SystemTime::now();
    let t0 = Instant::now();
    let length = run_length(&instances);
    let meter = Progress::start(progress.clone(), length.clone());
    // One per instance that measured, in instance order: a group that did not run,
    // and a thread that failed before measuring, have none.
    let mut measured: Vec<Option<JobStats>> = Vec::with_capacity(instances.len());
    let mut first_error = None;
    // Stonewall groups run one after another; `plan` numbers them 0, 1, … in order.
    for (index, group) in length.groups.iter().enumerate() {
        if first_error.is_some() || interrupt::requested().is_some() {
            break;
        }
        meter.enter_group(index);
        let range = group.threads.clone();
        let group_logs: Vec<LogFiles> =
            logs[range.clone()].iter_mut().map(std::mem::take).collect();
        let outcome = run_group(
            &instances[range.clone()],
            &progress[range],
            group_logs,
            config,
        );
        measured.extend(outcome.stats);
        first_error = outcome.error;
    }
    meter.stop();
    measured.resize_with(instances.len(), || None);
    let (instances, stats): (Vec<JobInstance>, Vec<JobStats>) = instances
        .into_iter()
        .zip(measured)
        .filter_map(|(inst, stats)| Some((inst, stats?)))
        .unzip();
    let interrupted = interrupt::requested();
    let result = RunResult {
        set,
        instances,
        stats,
        started,
        elapsed: t0.elapsed(),
        interrupted,
    };
    if let Some(error) = first_error {
        if result.stats.is_empty() {
            return Err(error);
        }
        return Err(BenchError::JobFailed {
            error: Box::new(error),
            measured: Box::new(result),
        });
    }
    if let Some(signal) = interrupted
        && result.stats.is_empty()
    {
        return Err(BenchError::Interrupted {
            signal: interrupt::signal_name(signal),
            during: "setting up the first jobs: nothing was measured",
        });
    }
    Ok(result)
}

/// What the threads of one stonewall group left: each thread's figures (`None` for
/// one that failed before it measured), and the first error.
struct GroupOutcome {
    stats: Vec<Option<JobStats>>,
    error: Option<BenchError>,
}

/// Runs the instances of one stonewall group together: one pinned thread each, all
/// starting to measure at once. A thread that fails leaves the others running.
fn run_group(
    instances: &[JobInstance],
    progress: &[Arc<JobProgress>],
    logs: Vec<LogFiles>,
    config: RunnerConfig,
) -> GroupOutcome {
    let ready = Arc::new(Barrier::new(instances.len()));
    let shared = Arc::new(GroupShared::new(instances));
    let mut handles = Vec::new();
    for ((inst, counters), logs) in instances.iter().zip(progress).zip(logs) {
        let inst = inst.clone();
        let counters = Arc::clone(counters);
        let ready = Arc::clone(&ready);
        let shared = Arc::clone(&shared);
        let name = format!("{}.{}", inst.options.name, inst.copy);
        let spawned = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let result = job_thread(&inst, config, &counters, &ready, &shared, logs);
                // Whatever happened, a job waiting for this one must not wait forever.
                if let Some(latch) = shared.latch(inst.job_index) {
                    latch.count_down();
                }
                result
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(source) => {
                // Threads already started wait at the barrier for this one; they are
                // left parked (the process is about to report the error and exit).
                return GroupOutcome {
                    stats: Vec::new(),
                    error: Some(BenchError::Io {
                        op: "spawn job thread",
                        path: PathBuf::from(name),
                        offset: 0,
                        source,
                    }),
                };
            }
        }
    }
    let mut stats = Vec::new();
    let mut first_error = None;
    for (handle, inst) in handles.into_iter().zip(instances) {
        match handle.join() {
            Ok(Ok(s)) => stats.push(Some(s)),
            Ok(Err(JobError { error, measured })) => {
                stats.push(measured.map(|m| *m));
                first_error.get_or_insert(error);
            }
            Err(_) => {
                stats.push(None);
                first_error.get_or_insert(BenchError::ThreadPanicked {
                    job: inst.options.name.clone(),
                });
            }
        }
    }
    GroupOutcome {
        stats,
        error: first_error,
    }
}

fn job_thread(
    inst: &JobInstance,
    config: RunnerConfig,
    counters: &JobProgress,
    ready: &Barrier,
    group: &GroupShared,
    logs: LogFiles,
) -> Result<JobStats, JobError> {
    let job = &inst.options;
    let pinned = match &inst.cpus {
        Some(cpus) => {
            affinity::pin_current_thread_to(cpus).map_err(|source| BenchError::Affinity {
                cpu: cpus[0],
                source,
            })
        }
        None => Ok(()),
    };
    let setup = pinned.and_then(|()| {
        open_engine(
            job.ioengine,
            &EngineTarget {
                path: inst.path.clone(),
                paths: inst.files.clone(),
                create: job.create_on_open,
                dsync: job.sync == SyncMode::Dsync,
                osync: job.sync == SyncMode::Sync,
                direct: job.direct,
                copy_data: job.verify.is_some(),
                writes: job.rw.writes() || job.rw.trims() || job.end_fsync,
                trims: job.rw.trims(),
                reads: job.rw.reads(),
                advice: match job.fadvise_hint {
                    FadviseHint::Off => None,
                    FadviseHint::Workload if job.rw.is_random() => Some(Advice::Random),
                    FadviseHint::Workload | FadviseHint::Sequential => Some(Advice::Sequential),
                    FadviseHint::Random => Some(Advice::Random),
                },
                bs: job.bs,
                iodepth: job.iodepth,
                cpu: match inst.cpus.as_deref() {
                    Some(&[cpu]) => Some(cpu),
                    _ => None,
                },
                journal: JournalTarget {
                    record_size: job.record_size_or_bs(),
                    durability: job.boreal_durability,
                    pgs: job.boreal_pgs,
                    pipeline_depth: job.boreal_pipeline_depth,
                    coalesce_pace: job.boreal_coalesce_pace,
                    journal_bytes: job.size.unwrap_or(JOURNAL_BYTES_DEFAULT),
                },
                cluster: ClusterTarget {
                    records_per_txn: job.records_per_txn(),
                    record_size: job.cluster_record_size(),
                    pgs: job.boreal_pgs,
                    journal_bytes: job.size.unwrap_or(NODE_JOURNAL_BYTES_DEFAULT),
                    slow_node: std::time::Duration::from_millis(
                        job.boreal_slow_node_ms.unwrap_or(0),
                    ),
                    running: job.boreal_cluster.clone(),
                    stall_timeout: job.stall_timeout(),
                },
                park_spin: job.boreal_park_spin,
            },
        )
    });
    // fio's `invalidate` (on by default): drop the page cache of the job's regions, so
    // a buffered read of a file just laid out does not come from memory.
    let setup = setup.and_then(|engine| {
        if job.invalidate && job.ioengine.uses_files() {
            invalidate(inst)?;
        }
        Ok(engine)
    });
    // Read before the run (it only reads sysfs and /proc): where the device's
    // interrupts go, noted when this job's CPU is one of them.
    let placement = crate::placement::device_irqs(&inst.path);
    if let Some(p) = &placement
        && let Some(&[cpu]) = inst.cpus.as_deref()
        && p.cpus.contains(&cpu)
    {
        eprintln!(
            "note: job {} runs on cpu{}, which also takes the interrupts of {} ({}): a CPU-bound job there shares it with the device's completion work",
            job.name,
            cpu,
            p.device,
            p.irq_names.join(", ")
        );
    }
    match setup {
        Ok(mut engine) => {
            let ctx = ThreadContext {
                progress: counters,
                ready,
                group,
                logs,
            };
            let mut stats = run_job(inst, engine.as_mut(), config, ctx)?;
            if let Some(p) = placement {
                stats
                    .engine_extra
                    .insert("device".into(), serde_json::Value::from(p.device));
                stats
                    .engine_extra
                    .insert("device_irq_cpus".into(), serde_json::Value::from(p.cpus));
            }
            Ok(stats)
        }
        Err(e) => {
            // The others wait for everyone at the barrier; never leave them hanging.
            ready.wait();
            Err(e.into())
        }
    }
}

/// Drops the page cache of every file region of `inst` (`posix_fadvise(DONTNEED)`).
fn invalidate(inst: &JobInstance) -> Result<(), BenchError> {
    for (path, len) in inst.files.iter().zip(&inst.file_lens) {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            // A create_on_open file does not exist yet: nothing is cached.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(BenchError::Io {
                    op: "open to invalidate the page cache of",
                    path: path.clone(),
                    offset: 0,
                    source,
                });
            }
        };
        affinity::drop_page_cache(&file, inst.options.offset, *len).map_err(|source| {
            BenchError::Io {
                op: "invalidate the page cache of",
                path: path.clone(),
                offset: inst.options.offset,
                source,
            }
        })?;
    }
    Ok(())
}

/// Says once per run, on stderr, which engine runs a job that asked for another
/// (`ioengine=libaio` runs on boreal's io_uring engine).
fn note_engine_aliases(set: &JobSet) {
    let mut seen: Vec<&str> = Vec::new();
    for job in &set.jobs {
        if let Some(alias) = job.ioengine_alias.as_deref()
            && !seen.contains(&alias)
        {
            seen.push(alias);
            eprintln!("{}", engine_note(alias, job.ioengine));
        }
    }
}

/// The note for a job that asked for `alias` and runs on `engine`.
pub fn engine_note(alias: &str, engine: EngineName) -> String {
    match engine {
        EngineName::IoUring => format!(
            "note: ioengine={alias} runs on boreal's io_uring engine, with the same queue depth semantics: up to iodepth I/Os in flight, each submitted as it is queued (iodepth_batch_submit) and taken one completion at a time (iodepth_batch_complete_min/_max)"
        ),
        other => format!(
            "note: ioengine={alias} runs on boreal-bench's {} engine (the same system calls, one I/O at a time)",
            other.as_str()
        ),
    }
}

/// The run's length for the progress line: stonewall groups add up, the jobs of a
/// group overlap.
fn run_length(instances: &[JobInstance]) -> RunLength {
    let mut groups: Vec<GroupLength> = Vec::new();
    for range in crate::plan::group_ranges(instances) {
        let members = &instances[range.clone()];
        let time_bound = members
            .iter()
            .all(|i| i.options.runtime.is_some() && i.options.time_based);
        let time = time_bound.then(|| {
            members
                .iter()
                .map(|i| {
                    i.options.startdelay.1
                        + i.options.ramp_time
                        + i.options.runtime.unwrap_or_default()
                })
                .max()
                .unwrap_or_default()
        });
        let bytes = members
            .iter()
            .filter(|i| !i.options.time_based)
            .map(|i| i.options.io_size.unwrap_or(i.region_len))
            .sum();
        let mut names: Vec<&str> = members.iter().map(|i| i.options.name.as_str()).collect();
        names.dedup();
        let label = match names.len() {
            1 => names[0].to_string(),
            n => format!("{} +{}", names[0], n - 1),
        };
        groups.push(GroupLength {
            label,
            time,
            bytes,
            threads: range,
        });
    }
    RunLength { groups }
}
