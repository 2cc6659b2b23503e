//! `boreal-bench`: run fio-style jobs and report like fio.
//!
//! The command line is sorted by `boreal_bench::cli`; with no job at all it runs the
//! embedded default job (`boreal_bench::default_job`). Every output file is created
//! before the run starts, so a path that cannot be written fails in the first second,
//! not after the measurement; a SIGINT or SIGTERM ends the run early and the report
//! and logs are written from what was measured. Errors are printed once, as a chain of
//! contexts, never with a backtrace (they are the user's input or the machine's state,
//! not a bug).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use boreal_bench::cli::{self, Cli, Request};
use boreal_bench::compare::{self, CompareSettings};
use boreal_bench::default_job;
use boreal_bench::job::{self, RawOption, RawSection};
use boreal_bench::output::{self, OutputFormat, json, normal};
use boreal_bench::runner::RunnerConfig;
use boreal_bench::{BenchError, hdrlog, interrupt, run};

/// Exit status of a run whose jobs failed or were refused.
const EXIT_FAILED: u8 = 1;
/// Exit status of a command line that cannot be understood.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let request = match cli::parse(std::env::args().skip(1).collect()) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("boreal-bench: {e}\n(boreal-bench --help lists the options)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match request {
        Request::Help => {
            print!("{}", help_text());
            ExitCode::SUCCESS
        }
        Request::Version => {
            println!("{}", boreal_bench::VERSION);
            ExitCode::SUCCESS
        }
        Request::Run(cli) => match run_cli(&cli) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("boreal-bench: error: {}", error_chain(&e));
                ExitCode::from(EXIT_FAILED)
            }
        },
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message
/// before it already holds (our errors name their OS error in their own text).
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `--help`: the fixed text, then what the default job runs (read from the job itself,
/// so the two never disagree).
fn help_text() -> String {
    let mut text = HELP.to_string();
    match default_job::sections().and_then(|s| job::build_jobs(&s, &[])) {
        Ok(set) => text.push_str(&default_job::describe(&set)),
        Err(e) => text.push_str(&format!(
            "    (the embedded default job does not parse: {e})\n"
        )),
    }
    text.push_str(HELP_TAIL);
    text
}

/// A file opened for writing before the run, with what it is for.
struct OutputFile {
    what: &'static str,
    path: PathBuf,
    file: File,
}

impl OutputFile {
    /// Creates (truncates) `path` now, so an unwritable path fails before the run.
    fn create(what: &'static str, path: &Path) -> Result<OutputFile> {
        let file = File::create(path)
            .with_context(|| format!("cannot write the {what} to {}", path.display()))?;
        Ok(OutputFile {
            what,
            path: path.to_path_buf(),
            file,
        })
    }

    fn write(self, bytes: &[u8]) -> Result<()> {
        let mut w = BufWriter::new(self.file);
        w.write_all(bytes)
            .and_then(|()| w.flush())
            .with_context(|| format!("writing the {} to {}", self.what, self.path.display()))
    }
}

fn run_cli(cli: &Cli) -> Result<ExitCode> {
    let default = cli.job_files.is_empty() && cli.job_args.is_empty();
    let mut sections: Vec<RawSection> = Vec::new();
    let mut overrides: Vec<RawOption> = Vec::new();
    if default {
        sections = default_job::sections()?;
        let scale = std::env::var(default_job::SCALE_ENV).ok();
        overrides = default_job::scale_overrides(scale.as_deref())?;
    }
    for path in &cli.job_files {
        sections.extend(job::read_job_file(path)?);
    }
    let command_line = job::parse::parse_job_args(&cli.job_args)?;
    sections.extend(command_line.sections.iter().cloned());
    overrides.extend(command_line.global.iter().cloned());
    // fio's --section: the skipped sections are gone before anything reads them, so
    // --parse-only, the run and --compare-fio's job file for fio hold the same jobs.
    let sections = job::select_sections(sections, &cli.sections)?;
    let set = job::build_jobs(&sections, &overrides)?;
    if cli.parse_only {
        for (job, group) in set.jobs.iter().zip(set.groups()) {
            println!("{}", normal::job_line(job, group));
        }
        return Ok(ExitCode::SUCCESS);
    }

    let scratch = if default {
        let dir = default_job::prepare_scratch_dir(Path::new(default_job::SCRATCH_DIR))?;
        eprintln!(
            "boreal-bench: no job given, running the embedded default job {}: {} jobs one after another, {:?} of ramp and runtime in all, in {}",
            default_job::JOB_PATH,
            set.jobs.len(),
            default_job::length(&set),
            dir.display()
        );
        Some(PathBuf::from(default_job::SCRATCH_DIR))
    } else {
        None
    };
    let hdr_path = match (&cli.hdr_log, &scratch) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(dir)) => Some(dir.join(default_job::HDR_FILE)),
        (None, None) => None,
    };
    // Every output is created before anything runs: results are never lost to a
    // path that cannot be written.
    let report_file = match &cli.output {
        Some(path) => Some(OutputFile::create("report", path)?),
        None => None,
    };
    let hdr_file = match &hdr_path {
        Some(path) => Some(OutputFile::create("HdrHistogram log", path)?),
        None => None,
    };
    let default_json = match &scratch {
        Some(dir) => Some(OutputFile::create(
            "JSON report",
            &dir.join(default_job::JSON_FILE),
        )?),
        None => None,
    };
    let runner = RunnerConfig {
        interval: cli.interval,
        hdr_log: hdr_file.is_some(),
    };
    interrupt::install().context("installing the SIGINT/SIGTERM handler")?;

    if cli.compare {
        let allowed = boreal_bench::affinity::allowed_cpus()
            .context("reading the CPUs this process may use")?;
        if let Some(cpu) = cli.compare_cpu
            && !allowed.contains(&cpu)
        {
            anyhow::bail!(
                "--compare-cpu={cpu}: this process may only use CPUs {allowed:?}; pick one of them"
            );
        }
        let table = compare::compare(
            &sections,
            &overrides,
            &set,
            &CompareSettings {
                fio: cli.fio.clone(),
                rounds: cli.rounds,
                out_dir: cli.compare_dir.clone(),
                runner,
                cpu: cli.compare_cpu,
            },
        )?;
        emit(report_file, &table)?;
        return Ok(ExitCode::SUCCESS);
    }

    // The main job (as shipped, not the tests' smoke scale) measures durable writes
    // right after a build: its boreal-node is built first, then write-back of what the
    // builds left dirty is waited for (`settle`), as --compare-fio does per round.
    if default && std::env::var(default_job::SCALE_ENV).is_err() {
        if set
            .jobs
            .iter()
            .any(|j| j.ioengine == job::EngineName::BorealCluster && j.boreal_cluster.is_none())
        {
            boreal_bench::engine::cluster::local::node_bin()?;
        }
        boreal_bench::settle::before_measuring();
    }
    // A job that failed while measuring leaves what was measured: the reports are
    // written from it, then the error ends the run (exit status 1).
    let (result, failure) = match run::run(set, runner) {
        Ok(result) => (result, None),
        Err(BenchError::JobFailed { error, measured }) => (*measured, Some(*error)),
        Err(e) => return Err(e.into()),
    };
    let entries = output::entries(&result);
    if let Some(file) = hdr_file {
        let mut log = Vec::new();
        hdrlog::write_log(&mut log, &result, &entries).with_context(|| {
            format!("encoding the HdrHistogram log for {}", file.path.display())
        })?;
        file.write(&log)?;
    }
    let text = match cli.format {
        OutputFormat::Normal => normal::render(&result, &entries),
        OutputFormat::Json => json::to_string(&json::report(&result, &entries, false)),
        OutputFormat::JsonPlus => json::to_string(&json::report(&result, &entries, true)),
    };
    emit(report_file, &text)?;
    if let Some(file) = default_json {
        let path = file.path.clone();
        file.write(json::to_string(&json::report(&result, &entries, true)).as_bytes())?;
        if let Some(hdr) = &hdr_path {
            eprintln!("\nHdrHistogram log: {}", hdr.display());
        }
        eprintln!("JSON report (json+): {}", path.display());
        eprintln!("Render the report: {}", default_job::render_hint());
    }
    if let Some(error) = failure {
        eprintln!(
            "boreal-bench: a job failed after {:.1}s; the report covers what was measured until then",
            result.elapsed.as_secs_f64()
        );
        return Err(error.into());
    }
    if let Some(signal) = result.interrupted {
        eprintln!(
            "boreal-bench: stopped early by {} after {:.1}s; the report covers what was measured until then",
            interrupt::signal_name(signal),
            result.elapsed.as_secs_f64()
        );
        return Ok(ExitCode::from((128 + signal) as u8));
    }
    Ok(ExitCode::SUCCESS)
}

fn emit(file: Option<OutputFile>, text: &str) -> Result<()> {
    match file {
        Some(file) => file.write(text.as_bytes()),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing the report to stdout")
        }
    }
}

const HELP: &str = "\
boreal-bench: a fio-style benchmark harness for boreal

USAGE:
    boreal-bench [HARNESS OPTIONS] [JOBFILE...] [--JOBOPTION=VALUE...]
    boreal-bench                  (no job: run the embedded default job, see DEFAULT)

Jobs come from fio job files ([global] and [job] sections; as in fio, any section
named global... is a global one) and/or the command line, fio style: `--name=NAME`
starts a job, the options after it belong to it. Job options
given before any --name apply to every job, including those of job files, and override
them (handy to shrink a shipped job: `boreal-bench jobs/x.fio --size=16m --runtime=2`).
fio differs here: a job file's [global] section overrides what the command line set
before it, so `fio --runtime=2 x.fio` runs x.fio's own runtime; --compare-fio writes
the overrides into fio's job file, so both tools run the same job.
In job files `;` and `#` start a comment anywhere on a line, as in fio.

JOB OPTIONS (meanings and defaults as in fio's HOWTO):
  what and where   name description filename (a:b:c) directory filename_format nrfiles
                   filesize (or a range) openfiles file_service_type (roundrobin
                   sequential random, :N) size io_size loops offset create_on_open
                   invalidate (default 1: the files' page cache is dropped first)
                   fadvise_hint (0, 1 the default: the job's pattern, sequential,
                   random; psync and io_uring)
  pattern          rw (read write trim randread randwrite randtrim rw/readwrite randrw
                   trimwrite randtrimwrite, with fio's :N offset modifier) rw_sequencer
                   rwmixread rwmixwrite bs (read,write,trim) bsrange bssplit
                   norandommap random_generator random_distribution (random zipf:T
                   pareto:H normal:D, :CENTER) randseed randrepeat
  engine           ioengine (psync io_uring null boreal-journal boreal-cluster
                   tokio-uring glommio;
                   libaio and posixaio run on io_uring, sync/pvsync/vsync on psync)
                   iodepth iodepth_batch_submit iodepth_batch_complete_min/_max
                   direct buffered sync (0 dsync 1) thread
  timing           runtime/timeout time_based ramp_time startdelay (or a range)
                   numjobs stonewall wait_for exitall flow flow_id flow_sleep
                   cpus_allowed cpus_allowed_policy (shared split) clocksource (cpu
                   clock_gettime)
  durability       fsync fdatasync end_fsync
  rates            rate rate_iops (read,write,trim) rate_process (linear poisson)
  verify           verify (crc32c md5 pattern) verify_pattern verify_backlog do_verify
  reporting        percentile_list clat_percentiles lat_percentiles group_reporting
                   gtod_reduce disable_lat disable_clat disable_slat
                   disable_bw_measurement write_lat_log write_bw_log write_iops_log
                   log_avg_msec
  Sizes use fio's suffixes with base 1024 (4k = 4096); times take us/ms/s/m/h/d.
  ${VAR} in a value is the environment variable (an unset one is refused: fio would
  put an empty string there); $pagesize, $ncpus, $mb_memory are fio's keywords.
  `include FILE` in a section reads FILE's options there. An fio option boreal-bench
  does not do is refused with the file, the line and why; an unknown one with the
  closest option's name. Trims are BLKDISCARD on a block device (as fio) and a
  punched hole in a regular file (where fio's trim fails). Verify headers are
  boreal-bench's own (fio cannot verify them, nor boreal-bench fio's).
  boreal-specific:
    boreal_park_spin=TIME (io_uring, boreal-journal, boreal-cluster) how long the
                          job's runtime polls for completions before it sleeps in the
                          kernel, while I/O is in flight; 0 never polls (fio does not
                          poll). At most 10ms. Default 50us on a job pinned to one CPU
                          (cpus_allowed, boreal_placement=quiet), 0 unpinned: a
                          thread that polls is not moved to the CPU its completions
                          wake it on. --compare-fio leaves it out of fio's job file.
    boreal_placement=P    unpinned (default, as fio) or quiet: pin each copy of a job
                          without cpus_allowed to its own CPU, those that take none of
                          the device's interrupts first (see MEASUREMENT)

BOREAL-JOURNAL (ioengine=boreal-journal, boreal-specific):
    Each write I/O is one durable append of bs/record_size redo records to a core of
    boreal's storage engine (per-core journal with group commit, hot log, coalescer,
    page store) on the job's io_uring runtime; iodepth appends in flight. clat
    is the commit latency. rw must be write (GetPage@LSN reads are not implemented
    yet); fsync/fdatasync/end_fsync are refused (appends are durable when acked).
    directory/filename names the job's data directory (created; reused and recycled
    if it holds an earlier run's core); size is the journal's size (default 256m,
    4 files). Setup (journal pre-writing, recovery) is done before timing.
    record_size=SIZE      change payload bytes per redo record (Change::Delta inside
                          an 8 KiB page, 1..=8160); bs must be a multiple. Default: bs
    boreal_durability=M   dsync (one RWF_DSYNC write), fdatasync (write, then
                          fdatasync) or linked (write linked to fdatasync). Default:
                          the journal's default (dsync)
    boreal_pgs=N          protection groups (1..=64), round-robin per I/O, each with
                          its own LSN chain over 1024 pages. Default 1
    boreal_pipeline_depth=N  batch writes in flight, 1 to 3: with 2 (3) a batch may be
                          written while the one (two) before it are in flight. Default 3
    boreal_coalesce_pace=P  below P% of its backlog bound the coalescer writes its
                          pages behind the journal's batches, a few at a time, so
                          commits never queue behind a burst of page writes; 0
                          writes at full depth. Default 75
    The JSON's per-job boreal.engine_stats has records_acknowledged, records_per_sec,
    redo_payload_bytes, device_bytes_per_redo_byte, journal_batches, journal_syncs,
    records_per_batch, backpressure_waits and more.

BOREAL-CLUSTER (ioengine=boreal-cluster, boreal-specific):
    Each write I/O is one mini-transaction of boreal_records_per_txn redo records of
    record_size bytes, committed through boreal's quorum shim on six storage nodes
    (boreal-node processes on loopback, two per AZ, durable on 4 of 6); it completes
    when the shim says it committed. iodepth is the number of concurrent transactions
    (clients). rw=randread (read) is GetPage@LSN at the VDL, the first bs bytes of a
    page (a volume never written is laid out first, before timing); randrw mixes. bs
    defaults to records x record_size. fsync/fdatasync/end_fsync are refused.
    Without boreal_cluster the job starts its own cluster in its directory (DIR/
    cluster.toml, DIR/nodeN/; size is each node's journal, default 256m as a
    storage node's, 4 files; nodes from an earlier run keep the journal they were
    created with; the volume is boreal_pgs PGs of 1024 pages of 8 KiB) and stops
    it at the end; under cargo it builds boreal-node first, else boreal-node must
    be beside boreal-bench or on PATH. A node materializes once its backlog (a
    quarter of its journal) is half full, writing every page the backlog touched:
    a smaller size, or more PGs, and each page write carries fewer records (1 PG:
    64m did 50-54k commits/s here, 256m 58k; 6 PGs: 64m 31-33k, 256m 41k).
    boreal_cluster=FILE   a running cluster's cluster.toml (or its directory), from
                          `boreal cluster up`: the job uses its volume and leaves it
                          running. One job at a time per cluster
    boreal_records_per_txn=N  records per transaction, 1..=1024. Default 4
    record_size=SIZE      payload bytes per record, at most a page payload. Default
                          128 (or bs / records when bs is given)
    boreal_slow_node_ms=MS  the job's own cluster starts node 6 holding each
                          acknowledgement back MS ms after it is durable (a running
                          cluster: `boreal cluster up --slow-node 6:MS`). Default 0
    boreal_stall_timeout=TIME  the job fails (exit status 1, the report keeps what
                          was measured) when none of its I/Os completed for TIME
                          while some were in flight, naming how long, how many
                          were in flight and each node's state (process, metrics
                          endpoint); its own cluster is stopped. 0 waits for ever;
                          else at least 100ms. Default 10s
    The JSON's per-job boreal.engine_stats has commits_per_sec, shim_sends_per_commit
    (network messages the shim sent per transaction), node_device_flushes_per_commit
    (per node), shim_wire_bytes_per_redo_byte, node_append_latency_us (the nodes'
    own append latency, p50/p90/p99 from their histograms), each node's figures
    (per_node, from its metrics endpoint), the disk's flushes, and the layer it
    measured.

HARNESS OPTIONS:
    --output-format=FMT   normal (default), json, or json+ (json with histogram bins);
                          with json on stdout, stdout holds the JSON and nothing else
    --output=FILE         write the report to FILE instead of stdout
    --hdr-log=FILE        also write an HdrHistogram interval log (ns) to FILE
    --log-interval=TIME   interval of the log and of the JSON's per-interval series
                          (default 1s)
    --parse-only          read and check the jobs, print fio's line for each, do no I/O
    --section=NAME        run only the job sections named NAME (fio's), of job files
                          and --name jobs alike; give it again for more sections.
                          [global] sections still apply. A NAME no job section has
                          is refused, naming the sections (fio refuses only when no
                          job is left); --compare-fio gives fio the same jobs
    --compare-fio         run the jobs through fio and boreal-bench alternately and
                          print medians and ratios (fio must be installed); fio goes
                          first in even rounds, boreal-bench in odd ones
    --rounds=N            rounds of the comparison (default 3; an even number lets
                          each tool go first equally often)
    --compare-dir=DIR     where the comparison writes its job file and JSONs
                          (default ./compare-out)
    --fio=PATH            the fio binary for --compare-fio (default: fio on PATH)
    --compare-cpu=N       pin every job of both tools to CPU N in --compare-fio
                          (cpus_allowed=N); default: neither is pinned
    -h, --help            this text
    -V, --version         the version
  Output files (--output, --hdr-log, the default job's files) are created before the
  run starts, so a path that cannot be written is refused at once.

DEFAULT:
    Given no job file and no --name, boreal-bench runs its embedded default job
    (bench/jobs/default.fio) in target/boreal-bench/ under the current directory
    (created if missing; run it from the workspace root: `cargo run --release -p
    boreal-bench`), prints the fio-style report, writes target/boreal-bench/default.json
    (json+) and target/boreal-bench/default.hdr (HdrHistogram log), and ends (on stderr)
    with the command that renders them as HTML. Harness options (--compare-fio,
    --output-format, ...) apply to it too; --section=NAME runs only its job NAME.
    Its jobs, one after another:
";

const HELP_TAIL: &str = "
MEASUREMENT:
    One thread per job copy (numjobs). As in fio, a job without cpus_allowed is not
    pinned: it runs where the scheduler puts it. cpus_allowed=LIST limits it to those
    CPUs (cpus_allowed_policy=shared, the default: every copy on the whole list;
    split: copy k on the k-th CPU); boreal_placement=quiet pins each copy to its own
    CPU, those that take none of the device's interrupts first (a job pinned onto one
    is noted). Before anything is written the run's I/O buffers (bs x iodepth per
    thread) are checked against the memory available, and a job that cannot fit is
    refused. Files are laid out (written fully) before timing. clat is from
    submission to completion (a sync's too, as fio), slat is the submit call, lat is
    from the I/O's start; completions are taken one per wait as fio's defaults do
    (iodepth_batch_complete_min/_max), each timed when taken;
    with rate or rate_iops the load is open-loop and lat is from each I/O's scheduled
    start, so stalls are not hidden. ramp_time results are discarded. psync runs at depth 1
    whatever iodepth says, like fio's psync. psync and io_uring (so libaio) advise
    the kernel of the job's pattern on each file as fio's default fadvise_hint=1
    does (a random job's buffered reads get no readahead; fadvise_hint=0 gives
    none); the other engines give no advice. Timestamps come from the CPU's
    time-stamp counter (clocksource=cpu, ~10 ns a reading, calibrated for 20 ms at
    start) where the kernel keeps time with it, as fio's default does, else from
    clock_gettime (~23 ns); the JSON's boreal.clocksource says which.
    SIGINT or SIGTERM (Ctrl-C) stops the run as fio does: every job stops issuing,
    the report and logs are written from what was measured so far; a second signal
    ends the process at once. A job that fails while it measures (an I/O error, a
    verify mismatch, a stalled cluster) ends the run the same way, with exit status
    1: its group's other jobs finish, later groups do not start, the report and logs
    hold what was measured, and the failed job shows its errno as err= (JSON
    `error`) and its message (JSON `boreal.error`).

EXIT STATUS:
    0    every job ran (or, with --parse-only, every job parsed)
    1    a job was refused or failed, or an output could not be written
    2    the command line could not be understood (unknown flag, missing value)
    130  stopped by SIGINT, 143 by SIGTERM, after writing what was measured
";
