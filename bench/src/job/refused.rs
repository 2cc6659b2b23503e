//! fio options boreal-bench knows and does not do, each with why.
//!
//! A job file that uses one of these is refused at its line with the reason, never run
//! with the option ignored (a result measured without the option the user wrote is a
//! wrong result). Options fio does not have at all get a "did you mean" instead
//! ([`crate::cli::closest`]). Nothing here parses values.

/// `(option names, why boreal-bench does not do it)`.
pub const REFUSED: &[(&[&str], &str)] = &[
    (
        &[
            "thinktime",
            "thinktime_blocks",
            "thinktime_spin",
            "thinktime_blocks_type",
            "thinktime_iotime",
        ],
        "pauses between I/Os are not implemented; use rate or rate_iops to slow a job down",
    ),
    (
        &[
            "rate_min",
            "rate_iops_min",
            "rate_cycle",
            "rate_ignore_thinktime",
        ],
        "minimum-rate checks are not implemented (rate and rate_iops are)",
    ),
    (
        &["iodepth_low"],
        "boreal-bench refills to iodepth at once, as fio does by default; a low-water mark is not implemented",
    ),
    (
        &[
            "zero_buffers",
            "refill_buffers",
            "scramble_buffers",
            "buffer_compress_percentage",
            "buffer_compress_chunk",
            "dedupe_percentage",
            "buffer_pattern",
        ],
        "write buffers hold a fixed pseudo-random pattern per slot (incompressible, as fio's default); other buffer contents are not implemented",
    ),
    (
        &[
            "fallocate",
            "overwrite",
            "pre_read",
            "fill_device",
            "fill_fs",
            "create_only",
            "create_serialize",
            "create_fsync",
            "unlink",
            "unlink_each_loop",
            "file_append",
            "allow_file_create",
        ],
        "files are laid out by writing them fully before timing (fio's default for a new file); other layout and file-lifetime policies are not implemented",
    ),
    (
        &[
            "verify_offset",
            "verify_interval",
            "verify_dump",
            "verify_async",
            "verify_async_cpus",
            "verify_fatal",
            "verify_state_save",
            "verify_state_load",
            "verify_only",
            "verify_header_seed",
            "verify_write_sequence",
            "experimental_verify",
            "trim_percentage",
            "trim_verify_zero",
            "trim_backlog",
            "trim_backlog_batch",
        ],
        "verify supports crc32c, md5 and pattern with verify_pattern, verify_backlog and do_verify; a failed check stops the job",
    ),
    (
        &["continue_on_error", "ignore_error", "error_dump"],
        "a failed or short I/O stops the job with an error naming the operation, file and offset (fio's continue_on_error=none)",
    ),
    (
        &[
            "log_offset",
            "log_prio",
            "log_issue_time",
            "log_hist_msec",
            "log_hist_coarseness",
            "write_hist_log",
            "log_max_value",
            "log_window_value",
            "log_compression",
            "log_store_compressed",
            "log_unix_epoch",
            "log_alternate_epoch",
            "per_job_logs",
            "log_entries",
        ],
        "logs are written as fio writes them by default (time, value, direction, block size, 0); use --hdr-log for full latency histograms",
    ),
    (
        &[
            "unified_rw_reporting",
            "significant_figures",
            "disable_slat_percentiles",
            "slat_percentiles",
            "stats",
            "steadystate",
            "ss",
            "steadystate_duration",
            "ss_dur",
            "steadystate_ramp_time",
            "ss_ramp",
        ],
        "reporting is fio's default per direction; these variants are not implemented",
    ),
    (
        &[
            "latency_target",
            "latency_window",
            "latency_percentile",
            "latency_run",
            "max_latency",
        ],
        "latency targets and limits are not implemented",
    ),
    (
        &[
            "prio",
            "prioclass",
            "cmdprio",
            "cmdprio_percentage",
            "cmdprio_class",
            "cmdprio_bssplit",
            "nice",
            "ioscheduler",
            "cpumask",
            "cpus_allowed_policy_fixed",
            "numa_cpu_nodes",
            "numa_mem_policy",
            "cgroup",
            "cgroup_weight",
            "cgroup_nodelete",
            "uid",
            "gid",
        ],
        "process priority, scheduling, NUMA and cgroup settings are not implemented (cpus_allowed is)",
    ),
    (
        &[
            "mem",
            "iomem",
            "lockmem",
            "hugepage-size",
            "mem_align",
            "iomem_align",
        ],
        "I/O buffers are boreal's aligned DmaBufs (4 KiB-aligned heap memory); other memory types are not implemented",
    ),
    (
        &[
            "hipri",
            "fixedbufs",
            "registerfiles",
            "sqthread_poll",
            "sqthread_poll_cpu",
            "nonvectored",
            "uncached",
            "cmd_type",
            "force_async",
            "atomic",
            "userspace_reap",
        ],
        "io_uring tuning flags are not implemented by boreal's runtime (IOPOLL, SQPOLL, registered buffers and files); io_uring here is boreal's own engine",
    ),
    (
        &[
            "number_ios",
            "io_submit_mode",
            "bs_unaligned",
            "blockalign",
            "ba",
            "bs_is_seq_rand",
            "percentage_random",
            "random_center",
            "offset_increment",
            "offset_align",
            "zonemode",
            "zonerange",
            "zonesize",
            "zoneskip",
            "zonecapacity",
            "rw_sequencer_identical",
            "serialize_overlap",
            "replay_no_stall",
            "read_iolog",
            "write_iolog",
            "iolog",
            "replay_redirect",
        ],
        "not implemented by boreal-bench",
    ),
    (
        &[
            "exec_prerun",
            "exec_postrun",
            "new_group",
            "clat_percentiles_stall",
            "unit_base",
            "allow_mounted_write",
            "exitall_on_error",
        ],
        "not implemented by boreal-bench",
    ),
];

/// Why boreal-bench does not do the fio option `name`, if it is one it knows.
pub fn refusal(name: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_refusals_have_reasons_and_no_name_twice() {
        assert!(refusal("thinktime").unwrap().contains("rate"));
        assert_eq!(refusal("iodepth"), None);
        let mut names: Vec<&str> = REFUSED
            .iter()
            .flat_map(|(n, _)| n.iter().copied())
            .collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total, "an option listed twice");
        for name in names {
            assert!(
                !crate::job::options::SUPPORTED_OPTIONS.contains(&name),
                "{name} is both supported and refused"
            );
        }
    }
}
