//! `boreal-bench`: run fio-style jobs and report like fio.
//!
//! Arguments are fio's: job files, and job options as `--key=value` (a `--name=NAME`
//! starts a job on the command line; options before any `--name` apply to every job
//! and override job files). A handful of harness options (see `--help`) are taken
//! out first. With no job at all it runs the embedded default job (see
//! `boreal_bench::default_job`). Errors from the library are printed with their
//! context via `anyhow`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use boreal_bench::compare::{self, CompareSettings};
use boreal_bench::default_job;
use boreal_bench::job::{self, RawOption, RawSection};
use boreal_bench::output::{self, OutputFormat, json, normal};
use boreal_bench::runner::RunnerConfig;
use boreal_bench::{hdrlog, run};

const HELP: &str = "\
boreal-bench: a fio-style benchmark harness for boreal

USAGE:
    boreal-bench [HARNESS OPTIONS] [JOBFILE...] [--JOBOPTION=VALUE...]
    boreal-bench                  (no job: run the embedded default job, see DEFAULT)

Jobs come from fio job files ([global] and [job] sections) and/or the command line,
fio style: `--name=NAME` starts a job, the options after it belong to it. Job options
given before any --name apply to every job, including those of job files, and override
them (handy to shrink a shipped job: `boreal-bench jobs/x.fio --size=16m --runtime=2`).

JOB OPTIONS (meanings and defaults as in fio's HOWTO):
    name filename directory rw (read write randread randwrite rw/readwrite randrw)
    rwmixread rwmixwrite bs size io_size offset iodepth iodepth_batch_submit numjobs
    runtime time_based ramp_time direct ioengine (psync io_uring boreal-journal) fsync
    fdatasync end_fsync rate_iops randseed percentile_list group_reporting cpus_allowed
    stonewall clocksource (cpu clock_gettime)
  Sizes use fio's suffixes with base 1024 (4k = 4096); times take us/ms/s/m/h/d.
  Any other option is refused with the file and line it is on.
    boreal_park_spin=TIME (io_uring and boreal-journal, boreal-specific) how long the
                          job's runtime polls for completions before it sleeps in the
                          kernel, while I/O is in flight; 0 never polls (fio does not
                          poll). At most 10ms. Default 50us. --compare-fio leaves it out
                          of fio's job file.

BOREAL-JOURNAL (ioengine=boreal-journal, boreal-specific):
    Each write I/O is one durable append of bs/record_size redo records to a core of
    boreal's storage engine (per-core journal with group commit, hot log, coalescer,
    page store) on the job's pinned io_uring runtime; iodepth appends in flight. clat
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
    The JSON's per-job boreal.engine_stats has records_acknowledged, records_per_sec,
    redo_payload_bytes, device_bytes_per_redo_byte, journal_batches, journal_syncs,
    records_per_batch, backpressure_waits and more.

HARNESS OPTIONS:
    --output-format=FMT   normal (default), json, or json+ (json with histogram bins)
    --output=FILE         write the report to FILE instead of stdout
    --hdr-log=FILE        also write an HdrHistogram interval log (ns) to FILE
    --log-interval=TIME   interval of the log and of the JSON's per-interval series
                          (default 1s)
    --compare-fio         run the jobs through fio and boreal-bench alternately and
                          print medians and ratios (fio must be installed)
    --rounds=N            rounds of the comparison (default 3)
    --compare-dir=DIR     where the comparison writes its job file and JSONs
                          (default ./compare-out)
    --fio=PATH            the fio binary for --compare-fio (default: fio on PATH)
    --compare-cpu=N       the CPU both tools run every job on in --compare-fio (both
                          get cpus_allowed=N; default: the last CPU this process may
                          use)
    -h, --help            this text
    -V, --version         the version

DEFAULT:
    Given no job file and no --name, boreal-bench runs its embedded default job
    (bench/jobs/default.fio): the four standard device checks (4k write+fdatasync
    depth 1, 4k randread depth 32, 4k write depth 32, 128k write depth 32), one after
    another, each 2 s ramp + 6 s measured on a 256 MiB file through ioengine=io_uring,
    about 35 s in all. It works in target/boreal-bench/ under the current directory
    (created if missing; run it from the workspace root: `cargo run --release -p
    boreal-bench`), prints the fio-style report, writes target/boreal-bench/default.json
    (json+) and target/boreal-bench/default.hdr (HdrHistogram log), and ends with the
    command that renders them as HTML. Harness options (--compare-fio, --output-format,
    ...) apply to it too.

MEASUREMENT:
    One thread per job copy (numjobs), pinned per cpus_allowed or round-robin over
    the CPUs allowed, those that take none of the device's interrupts first (a
    job pinned onto one is noted). Files are laid out (written fully) before timing. clat is from
    submission to completion, slat is the submit call, lat is from the I/O's start;
    with rate_iops the load is open-loop and lat is from each I/O's scheduled start,
    so stalls are not hidden. ramp_time results are discarded. psync runs at depth 1
    whatever iodepth says, like fio's psync. Timestamps come from the CPU's
    time-stamp counter (clocksource=cpu, ~10 ns a reading, calibrated for 20 ms at
    start) where the kernel keeps time with it, as fio's default does, else from
    clock_gettime (~23 ns); the JSON's boreal.clocksource says which.
";

#[derive(Debug)]
struct Cli {
    format: OutputFormat,
    output: Option<PathBuf>,
    hdr_log: Option<PathBuf>,
    interval: Duration,
    compare: bool,
    rounds: u32,
    compare_dir: PathBuf,
    fio: PathBuf,
    compare_cpu: Option<usize>,
    job_files: Vec<PathBuf>,
    job_args: Vec<String>,
}

fn parse_cli(args: Vec<String>) -> Result<Option<Cli>> {
    let mut cli = Cli {
        format: OutputFormat::Normal,
        output: None,
        hdr_log: None,
        interval: Duration::from_secs(1),
        compare: false,
        rounds: 3,
        compare_dir: PathBuf::from("compare-out"),
        fio: PathBuf::from("fio"),
        compare_cpu: None,
        job_files: Vec::new(),
        job_args: Vec::new(),
    };
    const TAKES_VALUE: [&str; 8] = [
        "output-format",
        "output",
        "hdr-log",
        "log-interval",
        "rounds",
        "compare-dir",
        "fio",
        "compare-cpu",
    ];
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-V" | "--version" => {
                println!("{}", boreal_bench::VERSION);
                std::process::exit(0);
            }
            "--compare-fio" => {
                cli.compare = true;
                continue;
            }
            _ => {}
        }
        let Some(body) = arg.strip_prefix("--") else {
            cli.job_files.push(PathBuf::from(arg));
            continue;
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (body, None),
        };
        if !TAKES_VALUE.contains(&key) {
            cli.job_args.push(arg);
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => iter
                .next()
                .with_context(|| format!("--{key} needs a value (--{key}=VALUE)"))?,
        };
        match key {
            "output-format" => cli.format = value.parse().map_err(anyhow::Error::msg)?,
            "output" => cli.output = Some(PathBuf::from(value)),
            "hdr-log" => cli.hdr_log = Some(PathBuf::from(value)),
            "log-interval" => {
                cli.interval = job::options::parse_time(&value)
                    .filter(|d| *d >= Duration::from_millis(1))
                    .with_context(|| {
                        format!("--log-interval={value}: expected a time of at least 1ms, e.g. 500ms or 1s")
                    })?;
            }
            "rounds" => {
                cli.rounds = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .with_context(|| format!("--rounds={value}: expected 1..=1000"))?;
            }
            "compare-dir" => cli.compare_dir = PathBuf::from(value),
            "fio" => cli.fio = PathBuf::from(value),
            "compare-cpu" => {
                cli.compare_cpu =
                    Some(value.parse().ok().with_context(|| {
                        format!("--compare-cpu={value}: expected a CPU number")
                    })?);
            }
            _ => unreachable!("listed in TAKES_VALUE"),
        }
    }
    Ok(Some(cli))
}

fn main() -> Result<()> {
    let Some(cli) = parse_cli(std::env::args().skip(1).collect())? else {
        print!("{HELP}");
        return Ok(());
    };
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
    let set = job::build_jobs(&sections, &overrides)?;
    let scratch = if default {
        let dir = default_job::prepare_scratch_dir(Path::new(default_job::SCRATCH_DIR))?;
        println!(
            "boreal-bench: no job given, running the embedded default job {}: {} checks one after another, {:?} of ramp and runtime in all, in {}",
            default_job::JOB_PATH,
            set.jobs.len(),
            default_length(&set),
            dir.display()
        );
        Some(PathBuf::from(default_job::SCRATCH_DIR))
    } else {
        None
    };
    let hdr_log = match (&cli.hdr_log, &scratch) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(dir)) => Some(dir.join(default_job::HDR_FILE)),
        (None, None) => None,
    };
    let runner = RunnerConfig {
        interval: cli.interval,
        hdr_log: hdr_log.is_some(),
    };

    if cli.compare {
        let allowed = boreal_bench::affinity::allowed_cpus()
            .context("reading the CPUs this process may use")?;
        let cpu = match cli.compare_cpu {
            Some(cpu) if allowed.contains(&cpu) => cpu,
            Some(cpu) => anyhow::bail!(
                "--compare-cpu={cpu}: this process may only use CPUs {allowed:?}; pick one of them"
            ),
            None => *allowed.last().context("no CPU is allowed")?,
        };
        let table = compare::compare(
            &sections,
            &overrides,
            &set,
            &CompareSettings {
                fio: cli.fio.clone(),
                rounds: cli.rounds,
                out_dir: cli.compare_dir.clone(),
                runner,
                cpu,
            },
        )?;
        return emit(&cli, &table);
    }

    let result = run::run(set, runner)?;
    let entries = output::entries(&result);
    if let Some(path) = &hdr_log {
        hdrlog::write_log_file(path, &result, &entries)?;
    }
    let text = match cli.format {
        OutputFormat::Normal => normal::render(&result, &entries),
        OutputFormat::Json => json::to_string(&json::report(&result, &entries, false)),
        OutputFormat::JsonPlus => json::to_string(&json::report(&result, &entries, true)),
    };
    emit(&cli, &text)?;
    if let Some(dir) = &scratch {
        let json_path = dir.join(default_job::JSON_FILE);
        std::fs::write(
            &json_path,
            json::to_string(&json::report(&result, &entries, true)),
        )
        .with_context(|| format!("writing the JSON report to {}", json_path.display()))?;
        if let Some(hdr) = &hdr_log {
            println!("\nHdrHistogram log: {}", hdr.display());
        }
        println!("JSON report (json+): {}", json_path.display());
        println!("Render the report: {}", default_job::render_hint());
    }
    Ok(())
}

/// Ramp plus runtime of every job, added up (the default job's groups run in turn).
fn default_length(set: &job::JobSet) -> Duration {
    set.jobs
        .iter()
        .map(|j| j.ramp_time + j.runtime.unwrap_or_default())
        .sum()
}

fn emit(cli: &Cli, text: &str) -> Result<()> {
    match &cli.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("writing the report to {}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}
