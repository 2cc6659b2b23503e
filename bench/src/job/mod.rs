//! Jobs: from job files and command-line options to validated [`JobOptions`].
//!
//! fio's inheritance rules: a `[global]` section sets defaults for the job sections
//! that follow it (a later `[global]` adds to them for later jobs only); a job section
//! starts from those defaults and overrides them. Command-line options given before any
//! `--name` override every job, so a shipped job file can be shrunk for a smoke run
//! (`boreal-bench jobs/x.fio --size=1m --runtime=1`). Nothing here does I/O except
//! reading the job file.

pub mod options;
pub mod parse;

use std::path::Path;

pub use options::{EngineName, JobOptions, Rw};
pub use parse::{CommandLineJobs, RawOption, RawSection};

use crate::error::BenchError;

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

/// Reads and parses a job file.
pub fn read_job_file(path: &Path) -> Result<Vec<RawSection>, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::JobFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse::parse_job_file(&text, path)
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
                global.apply(option)?;
                echo(option, &mut global_echo);
            }
            continue;
        }
        let mut job = global.clone();
        job.name = section.name.clone();
        job.echo.clear();
        for option in &section.options {
            job.apply(option)?;
        }
        jobs.push(job);
    }
    // Overrides are checked even when there is no job, so a typo is never silent.
    let mut probe = global.clone();
    for option in overrides {
        probe.apply(option)?;
        echo(option, &mut global_echo);
    }
    for job in &mut jobs {
        for option in overrides {
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
    for job in &jobs {
        job.validate()?;
    }
    Ok(JobSet { global_echo, jobs })
}
