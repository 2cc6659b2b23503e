//! `--compare-fio`: the same job through fio and through boreal-bench, side by side.
//!
//! Both tools run the same job on the same file (boreal-bench names files as fio does),
//! alternating fio, boreal-bench, fio, boreal-bench … for the given number of rounds so
//! that drift of the machine (page cache, device state, neighbours) hits both alike.
//! fio gets a job file written from the parsed sections plus the command-line
//! overrides (saved next to the results so the comparison can be replayed). Each
//! round's JSON from both tools is kept; the table shows medians and the ratio
//! boreal-bench / fio. Both JSONs are read with the same code, which is also a running
//! check that ours keeps fio's field names.
//!
//! What is compared, from fio-format JSON: IOPS and bandwidth summed over all jobs and
//! both directions; completion-latency percentiles p50/p99/p99.9 of the first job's
//! busier direction; the first job's sync p99. Use `group_reporting` for multi-job jobs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::error::BenchError;
use crate::job::{JobSet, RawOption, RawSection};
use crate::output::{self, json};
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

/// Writes sections (with overrides appended to every job section) as a fio job file.
pub fn render_job_file(sections: &[RawSection], overrides: &[RawOption]) -> String {
    let mut out = String::from("; written by boreal-bench --compare-fio\n");
    let line = |o: &RawOption| match &o.value {
        Some(v) => format!("{}={}\n", o.key, v),
        None => format!("{}\n", o.key),
    };
    for section in sections {
        let _ = writeln!(out, "\n[{}]", section.name);
        for option in &section.options {
            out.push_str(&line(option));
        }
        if !section.is_global() {
            for option in overrides {
                out.push_str(&line(option));
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
    let job_path = settings.out_dir.join("job.fio");
    std::fs::write(&job_path, render_job_file(sections, overrides))
        .map_err(out_err("fio job file", &job_path))?;
    let mut fio_reports = Vec::new();
    let mut ours = Vec::new();
    for round in 0..settings.rounds {
        let fio_json = settings.out_dir.join(format!("fio-round{round}.json"));
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
        fio_reports.push(parse_fio_json(&text)?);

        let result = run::run(set.clone(), settings.runner)?;
        let entries = output::entries(&result);
        let text = json::to_string(&json::report(&result, &entries, false));
        let ours_json = settings.out_dir.join(format!("boreal-round{round}.json"));
        std::fs::write(&ours_json, &text).map_err(out_err("JSON report", &ours_json))?;
        ours.push(serde_json::from_str(&text).expect("our own JSON parses"));
    }
    let mut out = format!(
        "{} vs {} ({} rounds, alternating; JSONs in {})\n",
        crate::VERSION,
        version,
        settings.rounds,
        settings.out_dir.display()
    );
    out.push_str(&table(&fio_reports, &ours));
    Ok(out)
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
        let text = render_job_file(&sections, &overrides);
        assert_eq!(
            text,
            "; written by boreal-bench --compare-fio\n\n[global]\nbs=4k\n\n[a]\nrw=read\nsize=1m\ntime_based\n"
        );
    }
}
