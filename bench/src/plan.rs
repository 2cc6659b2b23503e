//! From jobs to threads: one [`JobInstance`] per copy of each job (`numjobs`), each with
//! its file, its region and where it may run.
//!
//! File names follow fio, so fio and boreal-bench run on the same files when compared:
//! `filename` if given (a `:`-separated list, `\:` for a colon in a name; every copy
//! shares them), else `nrfiles` names from `filename_format` (default
//! `$jobname.$jobnum.$filenum`), in `directory`. Each file's region starts at `offset`
//! and is `filesize` long (a size picked per file when it is a range), else `size /
//! nrfiles`, else the existing file's size minus `offset`, as fio does; regions are
//! whole blocks of the smallest block size.
//!
//! Placement follows fio: a job without `cpus_allowed` is not pinned and runs wherever
//! the scheduler puts it (pinning a job fio would let float changes what it measures:
//! on the dev VM a depth-1 fdatasync job ran at 0.63x fio's IOPS pinned where fio
//! floated). `cpus_allowed` limits the job's threads to a set of CPUs, every copy to the
//! whole set (`cpus_allowed_policy=shared`, fio's default) or copy k to the k-th CPU of
//! the set (`split`). The boreal-specific `boreal_placement=quiet` pins each copy to one
//! CPU, dealt round-robin over the CPUs this process may use, those that take none of
//! the device's interrupts first (NVMe-NOTES "CPU placement"); CPUs are dealt afresh
//! for each stonewall group. Jobs are split into stonewall groups (a job with
//! `stonewall` starts a new one), which run one after another. Planning reads file
//! metadata but writes nothing.
//!
//! `ioengine=boreal-journal` jobs: the same name is the copy's data directory (journal
//! and page store), `size` is the journal's size (default
//! [`JOURNAL_BYTES_DEFAULT`]) and, as for files, the bytes of redo a job without
//! `io_size` or `time_based` writes. `ioengine=boreal-cluster` jobs likewise: the
//! directory holds the job's six nodes, `size` is each node's journal (default
//! [`NODE_JOURNAL_BYTES_DEFAULT`]). Two copies running together never share a
//! directory.

use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::cluster::NODE_JOURNAL_BYTES_DEFAULT;
use crate::engine::journal::JOURNAL_BYTES_DEFAULT;
use crate::error::BenchError;
use crate::job::kinds::{BorealPlacement, CpusAllowedPolicy};
use crate::job::{EngineName, JobOptions, JobSet};

/// One thread's worth of work.
#[derive(Debug, Clone)]
pub struct JobInstance {
    /// The job's options (shared by its copies).
    pub options: Arc<JobOptions>,
    /// Index of the job in the job set.
    pub job_index: usize,
    /// Which copy of the job this is, `0..numjobs`.
    pub copy: u32,
    /// The first file (a `boreal-journal` job's data directory).
    pub path: PathBuf,
    /// Every file of the thread, in the order I/Os number them.
    pub files: Vec<PathBuf>,
    /// Bytes of each file's region, starting at `options.offset`; whole blocks.
    pub file_lens: Vec<u64>,
    /// Bytes of all the regions together (the default `io_size`).
    pub region_len: u64,
    /// The CPUs this thread may run on; `None`: not pinned (the process's CPUs, where
    /// the scheduler puts it).
    pub cpus: Option<Vec<usize>>,
    /// `wait_for`: the index of the (earlier) job this one waits for.
    pub wait_for: Option<usize>,
    /// The stonewall group: groups run one after another, in order, and the jobs of a
    /// group run together. 0 for the first job; each later job with `stonewall`
    /// starts the next group (fio's `groupid`).
    pub group: u32,
}

/// Expands a job set into instances, in job order then copy order.
pub fn plan(set: &JobSet, available_cpus: &[usize]) -> Result<Vec<JobInstance>, BenchError> {
    assert!(!available_cpus.is_empty());
    let mut instances = Vec::new();
    let mut next_cpu = 0usize;
    let mut group = 0u32;
    for (job_index, job) in set.jobs.iter().enumerate() {
        if job.stonewall && job_index > 0 {
            group += 1;
            // A group runs alone: deal its CPUs from the start again, so a job is
            // placed the same whether it runs alone or after others.
            next_cpu = 0;
        }
        let options = Arc::new(job.clone());
        for copy in 0..job.numjobs {
            let files = file_names(job, copy);
            let file_lens = if job.ioengine == EngineName::BorealJournal {
                vec![job.size.unwrap_or(JOURNAL_BYTES_DEFAULT)]
            } else if job.ioengine == EngineName::BorealCluster {
                vec![job.size.unwrap_or(NODE_JOURNAL_BYTES_DEFAULT)]
            } else {
                region_lens(job, copy, &files)?
            };
            let region_len: u64 = file_lens.iter().sum();
            let cpus = match (&job.cpus_allowed, job.boreal_placement) {
                (Some(set), _) => Some(match job.cpus_allowed_policy {
                    CpusAllowedPolicy::Shared => set.clone(),
                    CpusAllowedPolicy::Split => vec![set[copy as usize % set.len()]],
                }),
                (None, BorealPlacement::Quiet) => {
                    let cpu = available_cpus[next_cpu % available_cpus.len()];
                    next_cpu += 1;
                    Some(vec![cpu])
                }
                (None, BorealPlacement::Unpinned) => None,
            };
            instances.push(JobInstance {
                options: Arc::clone(&options),
                job_index,
                copy,
                path: files[0].clone(),
                wait_for: job
                    .wait_for
                    .as_ref()
                    .and_then(|name| set.jobs[..job_index].iter().rposition(|j| &j.name == name)),
                files,
                file_lens,
                region_len,
                cpus,
                group,
            });
        }
    }
    for (i, a) in instances.iter().enumerate() {
        let clash = instances[..i].iter().find(|b| {
            b.group == a.group
                && b.path == a.path
                && (a.options.ioengine.owns_data_dir() || b.options.ioengine.owns_data_dir())
        });
        // Two shims on one running cluster's volume: each open fences the other.
        let shared_cluster = a.options.boreal_cluster.as_ref().and_then(|c| {
            instances[..i]
                .iter()
                .find(|b| b.group == a.group && b.options.boreal_cluster.as_ref() == Some(c))
                .map(|b| (c, b))
        });
        if let Some((c, b)) = shared_cluster {
            return Err(BenchError::Job {
                job: a.options.name.clone(),
                message: format!(
                    "the cluster {} is also used by job `{}` at the same time; each job opens the volume with a shim of its own and the later open fences the earlier: run them one after another (stonewall)",
                    c.display(),
                    b.options.name
                ),
            });
        }
        if let Some(b) = clash {
            return Err(BenchError::Job {
                job: a.options.name.clone(),
                message: format!(
                    "{} is also used by job `{}` at the same time; a boreal-journal or boreal-cluster data directory belongs to one job copy: give each job its own `directory` or `filename`",
                    a.path.display(),
                    b.options.name
                ),
            });
        }
    }
    Ok(instances)
}

/// The index ranges of `instances` (as [`plan`] returns them) that make up each
/// stonewall group, in order.
pub fn group_ranges(instances: &[JobInstance]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < instances.len() {
        let group = instances[start].group;
        let end = instances[start..]
            .iter()
            .position(|i| i.group != group)
            .map_or(instances.len(), |n| start + n);
        ranges.push(start..end);
        start = end;
    }
    ranges
}

/// Splits `filename` on `:` (`\\:` is a colon in a name).
fn split_filenames(list: &str) -> Vec<String> {
    let mut names = vec![String::new()];
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&':') => {
                names.last_mut().expect("one name at least").push(':');
                chars.next();
            }
            ':' => names.push(String::new()),
            c => names.last_mut().expect("one name at least").push(c),
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// The files of copy `copy` of `job` (see the module docs).
fn file_names(job: &JobOptions, copy: u32) -> Vec<PathBuf> {
    let names: Vec<String> = match &job.filename {
        Some(list) => split_filenames(list),
        None => (0..job.nrfiles)
            .map(|n| {
                job.filename_format
                    .replace("$jobname", &job.name)
                    .replace("$jobnum", &copy.to_string())
                    .replace("$filenum", &n.to_string())
            })
            .collect(),
    };
    names
        .into_iter()
        .map(|name| {
            let path = PathBuf::from(name);
            match (&job.directory, path.is_relative()) {
                (Some(dir), true) => dir.join(path),
                _ => path,
            }
        })
        .collect()
}

/// Each file's region length (see the module docs), whole blocks of the smallest size.
fn region_lens(job: &JobOptions, copy: u32, files: &[PathBuf]) -> Result<Vec<u64>, BenchError> {
    let fail = |message: String| BenchError::Job {
        job: job.name.clone(),
        message,
    };
    let count = files.len() as u64;
    let mut rng = crate::workload::Rng::new(job.randseed ^ 0xF11E_51CE ^ u64::from(copy));
    let mut lens = Vec::with_capacity(files.len());
    for path in files {
        let len = match (job.filesize, job.size) {
            (Some((lo, hi)), _) => lo + if hi > lo { rng.below(hi - lo + 1) } else { 0 },
            (None, Some(size)) => size / count,
            (None, None) if !job.ioengine.uses_files() => {
                return Err(fail(format!(
                    "ioengine={} needs `size` (there is no file to take it from)",
                    job.ioengine.as_str()
                )));
            }
            (None, None) => {
                let existing = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                if existing <= job.offset {
                    return Err(fail(format!(
                        "no `size` given and {} does not exist or is not larger than `offset`; set `size`",
                        path.display()
                    )));
                }
                existing - job.offset
            }
        };
        let unit = job.min_bs().max(1);
        let region = len / unit * unit;
        if region < job.bs {
            return Err(fail(format!(
                "the region of {} ({len} bytes) holds no whole block of bs={}",
                path.display(),
                job.bs
            )));
        }
        lens.push(region);
    }
    Ok(lens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{build_jobs, parse::parse_job_file};
    use std::path::Path;

    fn set(text: &str) -> JobSet {
        build_jobs(&parse_job_file(text, Path::new("t.fio")).unwrap(), &[]).unwrap()
    }

    fn cpus(inst: &[JobInstance]) -> Vec<Option<Vec<usize>>> {
        inst.iter().map(|i| i.cpus.clone()).collect()
    }

    #[test]
    fn numjobs_expands_with_fio_file_names_and_no_pinning() {
        let s = set("[global]\nsize=1m\ndirectory=/tmp/d\n[a]\nnumjobs=3\n[b]\nfilename=f\n");
        let inst = plan(&s, &[0, 1]).unwrap();
        assert_eq!(inst.len(), 4);
        assert_eq!(inst[1].path, PathBuf::from("/tmp/d/a.1.0"));
        assert_eq!(inst[3].path, PathBuf::from("/tmp/d/f"));
        assert_eq!(cpus(&inst), [None, None, None, None]);
    }

    #[test]
    fn quiet_placement_deals_cpus_round_robin_per_group() {
        let s =
            set("[global]\nsize=1m\nboreal_placement=quiet\n[a]\nnumjobs=3\n[b]\n[c]\nstonewall\n");
        let inst = plan(&s, &[0, 1]).unwrap();
        let got: Vec<usize> = inst.iter().map(|i| i.cpus.as_ref().unwrap()[0]).collect();
        assert_eq!(got, [0, 1, 0, 1, 0]);
    }

    #[test]
    fn stonewall_starts_a_new_group_after_the_first_job() {
        let s = set("[global]\nsize=1m\n[a]\nstonewall\n[b]\nnumjobs=2\n[c]\nstonewall\n[d]\n");
        let groups: Vec<u32> = plan(&s, &[0]).unwrap().iter().map(|i| i.group).collect();
        assert_eq!(groups, [0, 0, 0, 1, 1]);
        let all = set("[global]\nsize=1m\nstonewall\n[a]\n[b]\n[c]\n");
        let groups: Vec<u32> = plan(&all, &[0]).unwrap().iter().map(|i| i.group).collect();
        assert_eq!(groups, [0, 1, 2]);
    }

    #[test]
    fn cpus_allowed_is_shared_by_default_and_split_on_request() {
        let s = set("[a]\nsize=1m\nnumjobs=2\ncpus_allowed=4-5\n");
        let shared = Some(vec![4, 5]);
        assert_eq!(cpus(&plan(&s, &[0]).unwrap()), [shared.clone(), shared]);
        let s = set("[a]\nsize=1m\nnumjobs=3\ncpus_allowed=4-5\ncpus_allowed_policy=split\n");
        assert_eq!(
            cpus(&plan(&s, &[0]).unwrap()),
            [Some(vec![4]), Some(vec![5]), Some(vec![4])]
        );
    }

    #[test]
    fn journal_jobs_default_their_size_and_never_share_a_directory() {
        let s =
            set("[a]\nioengine=boreal-journal\nrw=write\ndirectory=/nonexistent/d\nnumjobs=2\n");
        let inst = plan(&s, &[0]).unwrap();
        assert_eq!(inst[0].region_len, JOURNAL_BYTES_DEFAULT);
        assert_eq!(inst[1].path, PathBuf::from("/nonexistent/d/a.1.0"));
        let s =
            set("[global]\nioengine=boreal-journal\nrw=write\nfilename=/nonexistent/x\n[a]\n[b]\n");
        let err = plan(&s, &[0]).unwrap_err().to_string();
        assert!(err.contains("belongs to one job copy"), "{err}");
        let s = set(
            "[global]\nioengine=boreal-journal\nrw=write\nfilename=/nonexistent/x\n[a]\n[b]\nstonewall\n",
        );
        assert_eq!(plan(&s, &[0]).unwrap().len(), 2);
    }

    #[test]
    fn nrfiles_filename_format_and_filename_lists() {
        let s = set("[a]\nsize=4m\nnrfiles=4\nnumjobs=2\ndirectory=/d\n");
        let inst = plan(&s, &[0]).unwrap();
        assert_eq!(inst[1].files.len(), 4);
        assert_eq!(inst[1].files[3], PathBuf::from("/d/a.1.3"));
        assert_eq!(inst[1].file_lens, [1 << 20; 4]);
        assert_eq!(inst[1].region_len, 4 << 20);
        let s = set("[a]\nsize=2m\nfilename_format=f.$filenum.$jobname\nnrfiles=2\n");
        assert_eq!(plan(&s, &[0]).unwrap()[0].files[1], PathBuf::from("f.1.a"));
        let s = set("[a]\nfilesize=1m\nfilename=x:y\\:z\n");
        let inst = plan(&s, &[0]).unwrap();
        assert_eq!(inst[0].files, [PathBuf::from("x"), PathBuf::from("y:z")]);
        assert_eq!(inst[0].region_len, 2 << 20);
    }

    #[test]
    fn missing_size_and_file_is_an_error_that_says_so() {
        let s = set("[a]\nfilename=/nonexistent/zzz\n");
        let err = plan(&s, &[0]).unwrap_err().to_string();
        assert!(err.contains("set `size`"), "{err}");
    }
}
