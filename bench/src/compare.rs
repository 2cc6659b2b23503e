//! `--compare-fio`: the same job through fio and through boreal-bench, side by side.
//!
//! Both tools run the same job on the same file (boreal-bench names files as fio does),
//! alternating for the given number of rounds, fio first in even rounds and boreal-bench
//! first in odd ones ([`fio_first`]), so that drift of the machine (page cache, device
//! state, neighbours) and whatever the previous run left behind hit both alike.
//! fio gets a job file written from the parsed sections plus the command-line
//! overrides (saved next to the results so the comparison can be replayed). Each
//! round's JSON from both tools is kept; the table shows medians and the ratio
//! boreal-bench / fio. Both JSONs are read with the same code, which is also a running
//! check that ours keeps fio's field names.
//!
//! What is compared, from fio-format JSON: IOPS and bandwidth summed over all jobs and
//! both directions; completion-latency percentiles p50/p99/p99.9 of the first job's
//! busier direction; the first job's sync p99. Use `group_reporting` for multi-job jobs.
//!
//! Placement: by default neither tool is pinned (each job runs where the scheduler
//! puts it, as fio runs a job without `cpus_allowed`; the job file's own
//! `cpus_allowed` applies to both alike). With `--compare-cpu=N` every job of both
//! tools gets `cpus_allowed=N`: a machine's CPUs are not alike (on the dev VM one CPU
//! takes every interrupt of the disk's one request queue, see NVMe-NOTES), and pinning
//! both to the same one takes that difference out.
//!
//! `ioengine=boreal-journal` jobs have no fio twin: fio runs their device peer instead,
//! a job doing what a plain file journal would (same `bs`, `iodepth`, `rw=write`,
//! `ioengine=io_uring`, `direct=1`, `fdatasync=1`) on `fio-peer.data` in the job's data
//! directory, laid out before the first round. O_DIRECT cannot write less than a
//! logical block, and boreal's journal writes whole 4 KiB blocks, so the peer's `bs` is
//! `bs` rounded up to a multiple of 4096 ([`peer_bs`]; a 128-byte commit costs a plain
//! journal one 4 KiB write). A commit costs fio a write and then a
//! sync, so its commit latency is `clat p99 + sync p99`; boreal-bench's is the append's
//! `clat` (durable when acknowledged). The table says which fio job was the peer.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::engine::journal::JOURNAL_BYTES_DEFAULT;
use crate::error::BenchError;
use crate::job::options::format_time;
use crate::job::{EngineName, JobOptions, JobSet, RawOption, RawSection};
use crate::layout::lay_out;
use crate::output::{self, json};
use crate::plan::plan;
use crate::run;
use crate::runner::RunnerConfig;

/// The figures compared, in table order: (label, unit, JSON extractor).
pub const METRICS: [&str; 6] = [
    "IOPS",
    "bandwidth MiB/s",
    "clat p50 us",
    "clat p99 us",
    "clat p99.9 us",
    "sync p99 us",
];

/// The compared figures of one fio-format JSON report (`None` where absent).
pub fn metrics(report: &Value) -> [Option<f64>; 6] {
    let jobs = report["jobs"].as_array().cloned().unwrap_or_default();
    let sum = |field: &str| -> Option<f64> {
        let mut total = 0.0;
        for job in &jobs {
            for dir in ["read", "write"] {
                total += job[dir][field].as_f64()?;
            }
        }
        Some(total)
    };
    let first = jobs.first();
    let busier = first.map(|job| {
        let reads = job["read"]["total_ios"].as_u64().unwrap_or(0);
        let writes = job["write"]["total_ios"].as_u64().unwrap_or(0);
        if writes > reads {
            &job["write"]
        } else {
            &job["read"]
        }
    });
    let pct = |lat: Option<&Value>, p: f64| -> Option<f64> {
        let value = lat?.get("percentile")?.get(json::percentile_key(p))?;
        Some(value.as_f64()? / 1000.0)
    };
    let clat = busier.map(|d| &d["clat_ns"]);
    let sync = first.map(|job| &job["sync"]["lat_ns"]);
    [
        sum("iops"),
        sum("bw_bytes").map(|b| b / (1 << 20) as f64),
        pct(clat, 50.0),
        pct(clat, 99.0),
        pct(clat, 99.9),
        pct(sync, 99.0),
    ]
}

/// Median of the values present.
pub fn median(values: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The comparison table from each tool's per-round reports.
pub fn table(fio: &[Value], boreal: &[Value]) -> String {
    let fio_m: Vec<[Option<f64>; 6]> = fio.iter().map(metrics).collect();
    let ours_m: Vec<[Option<f64>; 6]> = boreal.iter().map(metrics).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>14} {:>14} {:>12}",
        "median of rounds", "fio", "boreal-bench", "boreal/fio"
    );
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    for (i, label) in METRICS.iter().enumerate() {
        let a = median(&fio_m.iter().map(|m| m[i]).collect::<Vec<_>>());
        let b = median(&ours_m.iter().map(|m| m[i]).collect::<Vec<_>>());
        let ratio = match (a, b) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.3}", b / a),
            _ => "-".to_string(),
        };
        let _ = writeln!(out, "{label:<18} {:>14} {:>14} {ratio:>12}", fmt(a), fmt(b));
    }
    out
}

/// The journal comparison's table: fio's device peer (write + fdatasync) against
/// boreal-bench's appends, medians of the rounds, then `note`.
pub fn journal_table(fio: &[Value], boreal: &[Value], note: &str) -> String {
    let fio_m: Vec<[Option<f64>; 6]> = fio.iter().map(metrics).collect();
    let ours_m: Vec<[Option<f64>; 6]> = boreal.iter().map(metrics).collect();
    let pct = |report: &Value, dir: &str, p: f64| -> Option<f64> {
        let lat = &report["jobs"][0][dir];
        let lat = if dir == "sync" {
            &lat["lat_ns"]
        } else {
            &lat["clat_ns"]
        };
        Some(
            lat.get("percentile")?
                .get(json::percentile_key(p))?
                .as_f64()?
                / 1000.0,
        )
    };
    let sum = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
    let fio_commit = |p: f64| -> Vec<Option<f64>> {
        fio.iter()
            .map(|r| sum(pct(r, "write", p), pct(r, "sync", p)))
            .collect()
    };
    let ours_commit =
        |p: f64| -> Vec<Option<f64>> { boreal.iter().map(|r| pct(r, "write", p)).collect() };
    let records: Vec<Option<f64>> = boreal
        .iter()
        .map(|r| r["jobs"][0]["boreal"]["engine_stats"]["records_per_sec"].as_f64())
        .collect();
    let rows: [(&str, Option<f64>, Option<f64>); 4] = [
        (
            "IOPS (commits/s)",
            median(&fio_m.iter().map(|m| m[0]).collect::<Vec<_>>()),
            median(&ours_m.iter().map(|m| m[0]).collect::<Vec<_>>()),
        ),
        (
            "commit p50 us",
            median(&fio_commit(50.0)),
            median(&ours_commit(50.0)),
        ),
        (
            "commit p99 us",
            median(&fio_commit(99.0)),
            median(&ours_commit(99.0)),
        ),
        ("records/s", None, median(&records)),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>14} {:>14} {:>12}",
        "median of rounds", "fio (peer)", "boreal-bench", "boreal/fio"
    );
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    for (label, a, b) in rows {
        let ratio = match (a, b) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.3}", b / a),
            _ => "-".to_string(),
        };
        let _ = writeln!(out, "{label:<18} {:>14} {:>14} {ratio:>12}", fmt(a), fmt(b));
    }
    out.push_str(note);
    out
}

/// The block size of the device peer of a `boreal-journal` job of block size `bs`: `bs`
/// rounded up to whole 4 KiB blocks (see the module docs).
pub fn peer_bs(bs: u64) -> u64 {
    bs.div_ceil(4096) * 4096
}

/// The file fio's device peer of a `boreal-journal` job writes, in its data directory.
pub fn peer_file(data_dir: &Path) -> PathBuf {
    data_dir.join("fio-peer.data")
}

/// fio's device peer of one `boreal-journal` job (see the module docs), as a job
/// section writing `file`, pinned to `cpu` if given.
pub fn render_peer_job(job: &JobOptions, file: &Path, cpu: Option<usize>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n[{}]", job.name);
    let _ = writeln!(out, "filename={}", file.display());
    out.push_str("rw=write\nioengine=io_uring\ndirect=1\nfdatasync=1\n");
    let _ = writeln!(out, "bs={}", peer_bs(job.bs));
    let _ = writeln!(out, "iodepth={}", job.iodepth);
    let _ = writeln!(out, "size={}", job.size.unwrap_or(JOURNAL_BYTES_DEFAULT));
    if let Some(io_size) = job.io_size {
        let _ = writeln!(out, "io_size={io_size}");
    }
    if job.numjobs > 1 {
        let _ = writeln!(out, "numjobs={}", job.numjobs);
    }
    if job.time_based {
        out.push_str("time_based\n");
    }
    if let Some(runtime) = job.runtime {
        let _ = writeln!(out, "runtime={}", format_time(runtime));
    }
    if !job.ramp_time.is_zero() {
        let _ = writeln!(out, "ramp_time={}", format_time(job.ramp_time));
    }
    if let Some(rate) = job.rate_iops[1] {
        let _ = writeln!(out, "rate_iops={rate}");
    }
    let list: Vec<String> = job.percentile_list.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(out, "percentile_list={}", list.join(":"));
    if job.stonewall {
        out.push_str("stonewall\n");
    }
    if let Some(cpu) = cpu {
        let _ = writeln!(out, "cpus_allowed={cpu}");
    }
    out
}

/// The fio job file of a run of `boreal-journal` jobs: each job's device peer on a file
/// in its (copy 0) data directory, every job pinned to `cpu` if given. Returns the text
/// and, per job, the peer file and its size (to lay out before the first round).
pub fn render_peer_job_file(
    set: &JobSet,
    cpu: Option<usize>,
) -> Result<(String, Vec<(PathBuf, u64)>), BenchError> {
    let instances = plan(set, &[cpu.unwrap_or(0)])?;
    let mut out = String::from(
        "; written by boreal-bench --compare-fio: the device peer of each ioengine=boreal-journal job\n; (bs-byte O_DIRECT write + fdatasync at the same depth, in the job's data directory)\n",
    );
    let mut files = Vec::new();
    for (index, job) in set.jobs.iter().enumerate() {
        let dir = &instances
            .iter()
            .find(|i| i.job_index == index)
            .expect("every job plans at least one copy")
            .path;
        let file = peer_file(dir);
        out.push_str(&render_peer_job(job, &file, cpu));
        files.push((file, job.size.unwrap_or(JOURNAL_BYTES_DEFAULT)));
    }
    Ok((out, files))
}

/// Writes sections (with overrides appended to every job section) as a fio job file,
/// every job pinned to `cpu` if given (`cpus_allowed`, after the overrides so it wins),
/// without boreal's own `boreal_*` options.
pub fn render_job_file(
    sections: &[RawSection],
    overrides: &[RawOption],
    cpu: Option<usize>,
) -> String {
    let mut out = String::from("; written by boreal-bench --compare-fio\n");
    let line = |o: &RawOption| match &o.value {
        Some(v) => format!("{}={}\n", o.key, v),
        None => format!("{}\n", o.key),
    };
    // fio does not know boreal's own options (`boreal_park_spin` on an io_uring job).
    let fio_knows = |o: &&RawOption| !o.key.starts_with("boreal_");
    for section in sections {
        let _ = writeln!(out, "\n[{}]", section.name);
        for option in section.options.iter().filter(fio_knows) {
            out.push_str(&line(option));
        }
        if !section.is_global() {
            for option in overrides.iter().filter(fio_knows) {
                out.push_str(&line(option));
            }
            if let Some(cpu) = cpu {
                let _ = writeln!(out, "cpus_allowed={cpu}");
            }
        }
    }
    out
}

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct CompareSettings {
    /// fio binary to run.
    pub fio: PathBuf,
    /// Rounds of (fio, boreal-bench).
    pub rounds: u32,
    /// Where the job file and both tools' JSONs go.
    pub out_dir: PathBuf,
    /// Harness settings for boreal-bench's runs.
    pub runner: RunnerConfig,
    /// The CPU both tools run every job on; `None`: neither is pinned.
    pub cpu: Option<usize>,
}

/// Fails with a clear message if fio cannot be run.
pub fn check_fio(fio: &Path) -> Result<String, BenchError> {
    match Command::new(fio).arg("--version").output() {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(out) => Err(BenchError::Fio(format!(
            "`{} --version` failed: {}",
            fio.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BenchError::Fio(format!(
            "`{}` is not installed or not on PATH; install fio (e.g. `apt-get install fio`) to compare, or run without --compare-fio",
            fio.display()
        ))),
        Err(e) => Err(BenchError::Fio(format!(
            "cannot run `{}`: {e}",
            fio.display()
        ))),
    }
}

/// Runs the comparison and returns the table.
pub fn compare(
    sections: &[RawSection],
    overrides: &[RawOption],
    set: &JobSet,
    settings: &CompareSettings,
) -> Result<String, BenchError> {
    let version = check_fio(&settings.fio)?;
    let out_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| BenchError::Output { what, path, source }
    };
    std::fs::create_dir_all(&settings.out_dir)
        .map_err(out_err("comparison directory", &settings.out_dir))?;
    let cpu = settings.cpu;
    let mut set = set.clone();
    if let Some(cpu) = cpu {
        for job in &mut set.jobs {
            job.cpus_allowed = Some(vec![cpu]);
        }
    }
    if set
        .jobs
        .iter()
        .any(|j| j.ioengine == EngineName::BorealCluster)
    {
        return Err(BenchError::Fio(
            "--compare-fio has no fio twin for ioengine=boreal-cluster jobs (a commit through six storage nodes); scripts/measure.sh --peers runs them beside their peers (fio's write+fdatasync and random reads, PostgreSQL, etcd)".to_string(),
        ));
    }
    let journal_jobs = set
        .jobs
        .iter()
        .filter(|j| j.ioengine == EngineName::BorealJournal)
        .count();
    let journal = journal_jobs > 0;
    if journal && journal_jobs < set.jobs.len() {
        return Err(BenchError::Fio(
            "--compare-fio cannot mix ioengine=boreal-journal jobs (compared with a device peer) with other jobs (compared with themselves); compare them in separate runs".to_string(),
        ));
    }
    let mut peer_file_shown = String::new();
    let text = if journal {
        let (text, files) = render_peer_job_file(&set, cpu)?;
        for (file, size) in &files {
            lay_out(file, *size)?;
        }
        if let Some((file, _)) = files.first() {
            peer_file_shown = file.display().to_string();
        }
        text
    } else {
        render_job_file(sections, overrides, cpu)
    };
    let job_path = settings.out_dir.join("job.fio");
    std::fs::write(&job_path, &text).map_err(out_err("fio job file", &job_path))?;
    let mut fio_reports = Vec::new();
    let mut ours = Vec::new();
    let run_fio = |round: u32| -> Result<serde_json::Value, BenchError> {
        let fio_json = settings.out_dir.join(format!("fio-round{round}.json"));
        // Each tool starts on a quiet page cache (`settle`): a lay-out or a build left
        // dirty would slow whichever runs next.
        crate::settle::before_measuring();
        let out = Command::new(&settings.fio)
            .arg("--output-format=json")
            .arg(format!("--output={}", fio_json.display()))
            .arg(&job_path)
            .output()
            .map_err(|e| BenchError::Fio(format!("cannot run fio: {e}")))?;
        if !out.status.success() {
            return Err(BenchError::Fio(format!(
                "round {round} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = std::fs::read_to_string(&fio_json)
            .map_err(|e| BenchError::Fio(format!("reading {}: {e}", fio_json.display())))?;
        parse_fio_json(&text)
    };
    let run_ours = |round: u32| -> Result<serde_json::Value, BenchError> {
        crate::settle::before_measuring();
        let result = run::run(set.clone(), settings.runner)?;
        if let Some(signal) = result.interrupted {
            return Err(BenchError::Interrupted {
                signal: crate::interrupt::signal_name(signal),
                during: "comparing with fio; the finished rounds' JSONs are kept",
            });
        }
        let entries = output::entries(&result);
        let text = json::to_string(&json::report(&result, &entries, false));
        let ours_json = settings.out_dir.join(format!("boreal-round{round}.json"));
        std::fs::write(&ours_json, &text).map_err(out_err("JSON report", &ours_json))?;
        Ok(serde_json::from_str(&text).expect("our own JSON parses"))
    };
    for round in 0..settings.rounds {
        if fio_first(round) {
            fio_reports.push(run_fio(round)?);
            ours.push(run_ours(round)?);
        } else {
            ours.push(run_ours(round)?);
            fio_reports.push(run_fio(round)?);
        }
    }
    let placement = match cpu {
        Some(cpu) => format!("both pinned to cpu {cpu}"),
        None => "neither pinned".to_string(),
    };
    let mut out = format!(
        "{} vs {} ({} rounds, alternating, fio first in even rounds and boreal-bench in odd ones, {placement}; JSONs in {})\n",
        crate::VERSION,
        version,
        settings.rounds,
        settings.out_dir.display()
    );
    if journal {
        let job = &set.jobs[0];
        let note = format!(
            "peer: fio job `{}` from {}: rw=write bs={} (bs={} rounded up to whole 4 KiB blocks) iodepth={} ioengine=io_uring direct=1 fdatasync=1 on {} (laid out first); fio's commit = clat + sync (write, then fdatasync), boreal-bench's = clat of an append of {} records (durable when acknowledged)\n",
            job.name,
            job_path.display(),
            peer_bs(job.bs),
            job.bs,
            job.iodepth,
            peer_file_shown,
            job.bs / job.record_size_or_bs(),
        );
        out.push_str(&journal_table(&fio_reports, &ours, &note));
    } else {
        out.push_str(&table(&fio_reports, &ours));
    }
    Ok(out)
}

/// Whether fio runs before boreal-bench in `round` (from 0): in even rounds, so that
/// over an even number of rounds each tool goes first equally often. Whichever runs
/// second meets what the first left behind (a host still writing back the first run's
/// writes, its warm cache); with a fixed order that would count against one tool only.
pub fn fio_first(round: u32) -> bool {
    round.is_multiple_of(2)
}

/// Parses fio's JSON output, skipping any text fio printed before it (warnings).
pub fn parse_fio_json(text: &str) -> Result<Value, BenchError> {
    let start = text.find('{').unwrap_or(0);
    serde_json::from_str(&text[start..])
        .map_err(|e| BenchError::Fio(format!("fio's JSON does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::parse::parse_job_file;

    #[test]
    fn each_tool_goes_first_in_half_of_an_even_number_of_rounds() {
        let fio_leads = (0..8).filter(|&r| fio_first(r)).count();
        assert_eq!(fio_leads, 4);
        assert!(fio_first(0), "round 0 starts with fio, as before");
        assert!((0..7).all(|r| fio_first(r) != fio_first(r + 1)));
    }

    #[test]
    fn median_of_odd_even_and_missing() {
        assert_eq!(median(&[Some(3.0), Some(1.0), Some(2.0)]), Some(2.0));
        assert_eq!(median(&[Some(4.0), None, Some(1.0)]), Some(2.5));
        assert_eq!(median(&[None]), None);
    }

    #[test]
    fn job_file_for_fio_appends_overrides_to_jobs_only() {
        let sections = parse_job_file("[global]\nbs=4k\n[a]\nrw=read\n", Path::new("t")).unwrap();
        let overrides = crate::job::parse::parse_job_args(&["--size=1m", "--time_based"])
            .unwrap()
            .global;
        let text = render_job_file(&sections, &overrides, Some(3));
        assert_eq!(
            text,
            "; written by boreal-bench --compare-fio\n\n[global]\nbs=4k\n\n[a]\nrw=read\nsize=1m\ntime_based\ncpus_allowed=3\n"
        );
    }

    #[test]
    fn job_file_for_fio_leaves_out_boreal_options() {
        let sections = parse_job_file(
            "[global]\nboreal_park_spin=0\n[a]\nioengine=io_uring\nboreal_park_spin=20us\n",
            Path::new("t"),
        )
        .unwrap();
        let overrides = crate::job::parse::parse_job_args(&["--boreal_park_spin=0"])
            .unwrap()
            .global;
        let text = render_job_file(&sections, &overrides, Some(1));
        assert_eq!(
            text,
            "; written by boreal-bench --compare-fio\n\n[global]\n\n[a]\nioengine=io_uring\ncpus_allowed=1\n"
        );
    }

    #[test]
    fn journal_peer_job_is_the_device_job_pinned_to_the_cpu() {
        let sections = parse_job_file(
            "[global]\nioengine=boreal-journal\nrw=write\ndirectory=/data/j\n[j]\nbs=128\nrecord_size=128\niodepth=256\ntime_based\nruntime=10s\nramp_time=1500ms\npercentile_list=50:99\n",
            Path::new("t"),
        )
        .unwrap();
        let set = crate::job::build_jobs(&sections, &[]).unwrap();
        let (text, files) = render_peer_job_file(&set, Some(1)).unwrap();
        assert_eq!(
            files,
            [(
                PathBuf::from("/data/j/j.0.0/fio-peer.data"),
                JOURNAL_BYTES_DEFAULT
            )]
        );
        let body = text.split_once("\n[j]\n").expect("one job section").1;
        assert_eq!(
            body,
            "filename=/data/j/j.0.0/fio-peer.data\nrw=write\nioengine=io_uring\ndirect=1\nfdatasync=1\nbs=4096\niodepth=256\nsize=268435456\ntime_based\nruntime=10s\nramp_time=1500ms\npercentile_list=50:99\ncpus_allowed=1\n"
        );
        // fio reads it back as one job with those options.
        let parsed = parse_job_file(&text, Path::new("peer.fio")).unwrap();
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn journal_table_adds_sync_to_fio_commit_latency() {
        let fio: Value = serde_json::from_str(
            r#"{"jobs":[{"write":{"iops":1000.0,"bw_bytes":0,"total_ios":10,"clat_ns":{"percentile":{"50.000000":10000,"99.000000":20000}}},"read":{"iops":0.0,"bw_bytes":0,"total_ios":0},"sync":{"lat_ns":{"percentile":{"50.000000":30000,"99.000000":40000}}}}]}"#,
        )
        .unwrap();
        let ours: Value = serde_json::from_str(
            r#"{"jobs":[{"write":{"iops":2000.0,"bw_bytes":0,"total_ios":20,"clat_ns":{"percentile":{"50.000000":20000,"99.000000":30000}}},"read":{"iops":0.0,"bw_bytes":0,"total_ios":0},"boreal":{"engine_stats":{"records_per_sec":64000.0}}}]}"#,
        )
        .unwrap();
        let t = journal_table(&[fio], &[ours], "peer: x\n");
        let row = |label: &str| {
            t.lines()
                .find(|l| l.starts_with(label))
                .unwrap()
                .split_whitespace()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
        };
        assert_eq!(row("commit p99 us"), ["0.500", "30.0", "60.0"]);
        assert_eq!(row("IOPS"), ["2.000", "2000.0", "1000.0"]);
        assert_eq!(row("records/s"), ["-", "64000.0", "-"]);
        assert!(t.ends_with("peer: x\n"));
    }
}
