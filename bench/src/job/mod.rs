//! Jobs: from job files and command-line options to validated [`JobOptions`].
//!
//! fio's inheritance rules: a global section (`[global]`, or any name that starts with
//! `global`, see [`RawSection::is_global`]) sets defaults for the job sections that
//! follow it (a later one adds to them for later jobs only); a job section
//! starts from those defaults and overrides them. Command-line options given before any
//! `--name` override every job, so a shipped job file can be shrunk for a smoke run
//! (`boreal-bench jobs/x.fio --size=1m --runtime=1`); `--section=NAME` keeps only the
//! named job sections ([`select`]). Nothing here does I/O except reading the job file.

pub mod cluster;
pub mod expand;
pub mod kinds;
pub mod options;
pub mod parse;
pub mod refused;
pub mod select;
pub mod supported;
pub mod validate;
pub mod value;

use std::path::{Path, PathBuf};

pub use kinds::{EngineName, Rw};
pub use options::JobOptions;
pub use parse::{CommandLineJobs, RawOption, RawSection};
pub use select::select_sections;

use crate::error::{BenchError, Origin};

/// Deepest chain of `include`s followed (a file including itself would loop).
pub const INCLUDE_DEPTH_MAX: usize = 16;

/// The jobs of one run, plus the global options as written (for the JSON echo).
#[derive(Debug, Clone, PartialEq)]
pub struct JobSet {
    /// `global options` echo: every option from `[global]` sections and global
    /// command-line options, as written.
    pub global_echo: Vec<(String, String)>,
    /// The jobs in order, validated.
    pub jobs: Vec<JobOptions>,
}

impl JobSet {
    /// Each job's stonewall group (fio's `groupid`): 0 for the first job, one more at
    /// every later job with `stonewall`.
    pub fn groups(&self) -> Vec<u32> {
        let mut group = 0;
        self.jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                if i > 0 && j.stonewall {
                    group += 1;
                }
                group
            })
            .collect()
    }
}

/// Reads and parses a job file, with the files it `include`s.
pub fn read_job_file(path: &Path) -> Result<Vec<RawSection>, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::JobFile {
        path: path.to_path_buf(),
        source,
    })?;
    let mut resolver = |file: &str, origin: &Origin| read_included(file, path, origin, 1);
    parse::parse_job_file_with(&text, path, &mut resolver)
}

/// The options of `file`, included from `from` at `origin` (`depth` includes deep).
/// As fio: the name is tried as written, then relative to the including file's folder.
fn read_included(
    file: &str,
    from: &Path,
    origin: &Origin,
    depth: usize,
) -> Result<Vec<RawOption>, BenchError> {
    if depth > INCLUDE_DEPTH_MAX {
        return Err(BenchError::Syntax {
            origin: origin.clone(),
            message: format!(
                "`include {file}` is more than {INCLUDE_DEPTH_MAX} includes deep (does a file include itself?)"
            ),
        });
    }
    let as_written = PathBuf::from(file);
    let path = if as_written.exists() || as_written.is_absolute() {
        as_written
    } else {
        from.parent()
            .map_or(as_written.clone(), |dir| dir.join(&as_written))
    };
    let text = std::fs::read_to_string(&path).map_err(|source| BenchError::Syntax {
        origin: origin.clone(),
        message: format!("cannot read included file {}: {source}", path.display()),
    })?;
    let mut resolver = |inner: &str, at: &Origin| read_included(inner, &path, at, depth + 1);
    parse::parse_included(&text, &path, &mut resolver)
}

/// Builds validated jobs from sections (of files or the command line, in order) and the
/// command-line global options that override every job.
pub fn build_jobs(sections: &[RawSection], overrides: &[RawOption]) -> Result<JobSet, BenchError> {
    let mut global = JobOptions::new("global");
    let mut global_echo: Vec<(String, String)> = Vec::new();
    let mut jobs = Vec::new();
    let echo = |option: &RawOption, echo: &mut Vec<(String, String)>| {
        echo.retain(|(key, _)| key != &option.key);
        echo.push((
            option.key.clone(),
            option.value.clone().unwrap_or_else(|| "1".to_string()),
        ));
    };
    for section in sections {
        if section.is_global() {
            for option in &section.options {
                let option = expand::expand(option)?;
                global.apply(&option)?;
                echo(&option, &mut global_echo);
            }
            continue;
        }
        let mut job = global.clone();
        job.name = section.name.clone();
        job.echo.clear();
        for option in &section.options {
            job.apply(&expand::expand(option)?)?;
        }
        jobs.push(job);
    }
    let overrides = overrides
        .iter()
        .map(expand::expand)
        .collect::<Result<Vec<_>, _>>()?;
    // Overrides are checked even when there is no job, so a typo is never silent.
    let mut probe = global.clone();
    for option in &overrides {
        probe.apply(option)?;
        echo(option, &mut global_echo);
    }
    for job in &mut jobs {
        for option in &overrides {
            job.apply(option)?;
        }
        // Overrides are reported under global options, not as job options.
        job.echo
            .retain(|(key, _)| !overrides.iter().any(|o| &o.key == key));
    }
    if jobs.is_empty() {
        return Err(BenchError::Job {
            job: "(none)".to_string(),
            message: "no job given: name one in a job file section or with --name=NAME".to_string(),
        });
    }
    for job in &mut jobs {
        job.apply_cluster_defaults();
    }
    for (index, job) in jobs.iter().enumerate() {
        job.validate()?;
        if let Some(target) = &job.wait_for
            && !jobs[..index].iter().any(|j| &j.name == target)
        {
            return Err(BenchError::Job {
                job: job.name.clone(),
                message: format!(
                    "wait_for={target}: no job named {target} comes before this one (fio waits only for an earlier job)"
                ),
            });
        }
    }
    Ok(JobSet { global_echo, jobs })
}
