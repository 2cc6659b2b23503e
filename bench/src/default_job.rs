//! The embedded default job: what `boreal-bench` runs when it is given no job.
//!
//! `cargo run --release -p boreal-bench` with no arguments is the project's "main job":
//! the four standard device checks (`bench/jobs/default.fio`, compiled in) through
//! `ioengine=io_uring`, the single-node engine and the six-node cluster, one after
//! another, in about a minute and a half, on a scratch directory
//! [`SCRATCH_DIR`] under the current directory. It needs no setup: the directory is
//! created, the file laid out, and the reports written there ([`JSON_FILE`],
//! [`HDR_FILE`]). This module owns the job text, the scratch directory and the
//! environment variable [`SCALE_ENV`] that shrinks the job for tests; it runs nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{BenchError, Origin};
use crate::job::JobSet;
use crate::job::parse::{RawOption, RawSection, parse_job_args, parse_job_file};

/// The job file, as shipped in `bench/jobs/default.fio`.
pub const JOB_TEXT: &str = include_str!("../jobs/default.fio");

/// The name messages give the embedded job file (it is compiled in, not read).
pub const JOB_PATH: &str = "bench/jobs/default.fio";

/// Where the default job works, relative to the current directory (the job file's
/// `directory`).
pub const SCRATCH_DIR: &str = "target/boreal-bench";

/// The JSON report (`json+`: fio's JSON with histogram bins), in [`SCRATCH_DIR`].
pub const JSON_FILE: &str = "default.json";

/// The HdrHistogram interval log, in [`SCRATCH_DIR`].
pub const HDR_FILE: &str = "default.hdr";

/// The HTML report the closing hint renders, in [`SCRATCH_DIR`].
pub const HTML_FILE: &str = "report.html";

/// Environment variable that scales the default job: unset or `full` runs it as
/// shipped; `smoke` shrinks every job to 8 MiB (the smallest journal an engine job accepts is ~4 MiB) and 150 ms (for tests).
pub const SCALE_ENV: &str = "BOREAL_BENCH_DEFAULT_SCALE";

/// The job's sections.
pub fn sections() -> Result<Vec<RawSection>, BenchError> {
    parse_job_file(JOB_TEXT, Path::new(JOB_PATH))
}

/// Options that override every job for `scale` (the value of [`SCALE_ENV`]).
pub fn scale_overrides(scale: Option<&str>) -> Result<Vec<RawOption>, BenchError> {
    match scale {
        None | Some("") | Some("full") => Ok(Vec::new()),
        Some("smoke") => {
            Ok(parse_job_args(&["--size=8m", "--runtime=150ms", "--ramp_time=0"])?.global)
        }
        Some(other) => Err(BenchError::BadValue {
            option: SCALE_ENV.to_string(),
            value: other.to_string(),
            origin: Origin::Derived,
            reason: "expected `full` (the default) or `smoke`".to_string(),
        }),
    }
}

/// Creates `dir` if missing and checks that a file can be written in it; returns its
/// absolute path. The error says what to do about it.
pub fn prepare_scratch_dir(dir: &Path) -> Result<PathBuf, BenchError> {
    let err = |source| BenchError::ScratchDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(".boreal-bench-write-probe");
    std::fs::write(&probe, b"").map_err(err)?;
    std::fs::remove_file(&probe).map_err(err)?;
    std::path::absolute(dir).map_err(err)
}

/// Ramp plus runtime of every job, added up (the default job's jobs run one after
/// another).
pub fn length(set: &JobSet) -> Duration {
    set.jobs
        .iter()
        .map(|j| j.ramp_time + j.runtime.unwrap_or_default())
        .sum()
}

/// What the default job runs, one line per job, for `--help` (built from the parsed
/// job, so the help never says something the job does not do).
pub fn describe(set: &JobSet) -> String {
    let mut out = String::new();
    for j in &set.jobs {
        let mut what = format!(
            "ioengine={} rw={} bs={} iodepth={}",
            j.ioengine.as_str(),
            j.rw.as_str(),
            j.bs,
            j.iodepth
        );
        if j.direct {
            what.push_str(" direct=1");
        }
        if j.fdatasync > 0 {
            what.push_str(&format!(" fdatasync={}", j.fdatasync));
        }
        if let Some(r) = j.record_size {
            what.push_str(&format!(" record_size={r}"));
        }
        let _ = writeln!(
            out,
            "      {:<24} {what}, {:?} ramp + {:?}",
            j.name,
            j.ramp_time,
            j.runtime.unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "    {} jobs, {:?} of ramp and runtime in all, plus setup (layout, journal pre-writing).",
        set.jobs.len(),
        length(set)
    );
    out
}

/// The command that renders the default job's JSON as an HTML report.
pub fn render_hint() -> String {
    format!(
        "cargo run -p boreal-tools -- report {SCRATCH_DIR}/{JSON_FILE} -o {SCRATCH_DIR}/{HTML_FILE}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{EngineName, build_jobs};

    #[test]
    fn the_job_works_in_the_scratch_dir() {
        let set = build_jobs(&sections().unwrap(), &[]).unwrap();
        assert!(
            set.jobs
                .iter()
                .all(|j| j.directory.as_deref() == Some(Path::new(SCRATCH_DIR)) && j.stonewall)
        );
        // Every layer shows against the device: the device checks through boreal's
        // io_uring runtime first, then the same durable writes through the engine,
        // then over the wire to six nodes.
        let engines: Vec<EngineName> = set.jobs.iter().map(|j| j.ioengine).collect();
        assert_eq!(
            engines
                .iter()
                .filter(|e| **e == EngineName::IoUring)
                .count(),
            4
        );
        assert_eq!(
            engines
                .iter()
                .filter(|e| **e == EngineName::BorealJournal)
                .count(),
            2
        );
        assert_eq!(
            engines
                .iter()
                .filter(|e| **e == EngineName::BorealCluster)
                .count(),
            3
        );
        assert_eq!(engines.last(), Some(&EngineName::BorealCluster));
    }

    #[test]
    fn unknown_scale_is_refused() {
        let err = scale_overrides(Some("huge")).unwrap_err().to_string();
        assert!(err.contains(SCALE_ENV) && err.contains("smoke"), "{err}");
        assert_eq!(scale_overrides(Some("smoke")).unwrap().len(), 3);
        assert!(scale_overrides(None).unwrap().is_empty());
    }

    #[test]
    fn scratch_dir_that_is_a_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("target");
        std::fs::write(&blocker, b"").unwrap();
        let err = prepare_scratch_dir(&blocker.join("boreal-bench"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("writable directory"), "{err}");
    }
}
