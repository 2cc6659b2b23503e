//! Reports of a finished run, in fio's formats.
//!
//! [`entries`] turns per-thread results into report entries the way fio does: one entry
//! per job thread, or — when any job sets `group_reporting` — one entry per group (jobs
//! between stonewalls; without `stonewall` there is one group), named after its first
//! job, with histograms merged.
//! [`json`] writes fio's JSON (and `json+`), [`normal`] fio's human-readable text.

pub mod json;
pub mod normal;

use std::str::FromStr;
use std::sync::Arc;

use crate::job::JobOptions;
use crate::run::RunResult;
use crate::stats::JobStats;

/// `--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// fio's human-readable text.
    Normal,
    /// fio's JSON.
    Json,
    /// fio's JSON plus latency histogram bins.
    JsonPlus,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(OutputFormat::Normal),
            "json" => Ok(OutputFormat::Json),
            "json+" => Ok(OutputFormat::JsonPlus),
            other => Err(format!(
                "output format `{other}` is not one of normal, json, json+"
            )),
        }
    }
}

/// One reported job (a thread, or a merged group).
#[derive(Debug, Clone)]
pub struct ReportEntry {
    /// The job's name.
    pub name: String,
    /// Options of the (first) job.
    pub options: Arc<JobOptions>,
    /// The merged measurements.
    pub stats: JobStats,
    /// CPUs the threads merged here were pinned to (sorted, each once); `None` when
    /// any of them was not pinned (it ran where the scheduler put it).
    pub cpus: Option<Vec<usize>>,
    /// The stonewall group (fio's `groupid`).
    pub group: u32,
}

/// The report entries of a run (see the module doc).
pub fn entries(result: &RunResult) -> Vec<ReportEntry> {
    let grouped = result.set.jobs.iter().any(|j| j.group_reporting);
    let mut out: Vec<ReportEntry> = Vec::new();
    for (inst, stats) in result.instances.iter().zip(&result.stats) {
        match out.last_mut() {
            Some(entry) if grouped && entry.group == inst.group => {
                entry.stats.merge(stats);
                entry.cpus = match (entry.cpus.take(), &inst.cpus) {
                    (Some(mut mine), Some(theirs)) => {
                        mine.extend(theirs);
                        mine.sort_unstable();
                        mine.dedup();
                        Some(mine)
                    }
                    _ => None,
                };
            }
            _ => out.push(ReportEntry {
                name: inst.options.name.clone(),
                options: Arc::clone(&inst.options),
                stats: stats.clone(),
                cpus: inst.cpus.clone(),
                group: inst.group,
            }),
        }
    }
    out
}

/// Bytes per second of a direction over the measured time.
pub(crate) fn rate_per_sec(count: u64, stats: &JobStats) -> f64 {
    let secs = stats.runtime.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}
