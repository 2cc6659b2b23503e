//! The names of the job options boreal-bench takes, aliases included: what an unknown
//! option is checked against (and its "did you mean" found in), kept apart from what
//! each option means ([`super::options`]). A name added here must also be handled by
//! `JobOptions::apply` (the test below checks that none is refused as unknown).

/// Every option name boreal-bench accepts (aliases included), for suggestions.
pub const SUPPORTED_OPTIONS: &[&str] = &[
    "name",
    "description",
    "filename",
    "directory",
    "filename_format",
    "rw",
    "readwrite",
    "rw_sequencer",
    "rwmixread",
    "rwmixwrite",
    "bs",
    "blocksize",
    "bsrange",
    "blocksize_range",
    "bssplit",
    "size",
    "filesize",
    "nrfiles",
    "openfiles",
    "file_service_type",
    "io_size",
    "io_limit",
    "offset",
    "loops",
    "iodepth",
    "iodepth_batch_submit",
    "iodepth_batch",
    "iodepth_batch_complete_min",
    "iodepth_batch_complete",
    "iodepth_batch_complete_max",
    "numjobs",
    "runtime",
    "timeout",
    "time_based",
    "ramp_time",
    "startdelay",
    "direct",
    "buffered",
    "sync",
    "invalidate",
    "fadvise_hint",
    "ioengine",
    "fsync",
    "fdatasync",
    "end_fsync",
    "rate",
    "rate_iops",
    "rate_process",
    "norandommap",
    "random_generator",
    "random_distribution",
    "randseed",
    "randrepeat",
    "allrandrepeat",
    "percentile_list",
    "clat_percentiles",
    "lat_percentiles",
    "group_reporting",
    "cpus_allowed",
    "cpus_allowed_policy",
    "boreal_placement",
    "stonewall",
    "wait_for_previous",
    "wait_for",
    "exitall",
    "flow",
    "flow_id",
    "flow_sleep",
    "thread",
    "threads",
    "clocksource",
    "gtod_reduce",
    "disable_lat",
    "disable_clat",
    "disable_slat",
    "disable_bw_measurement",
    "disable_bw",
    "disk_util",
    "kb_base",
    "create_on_open",
    "verify",
    "verify_pattern",
    "verify_backlog",
    "do_verify",
    "write_lat_log",
    "write_bw_log",
    "write_iops_log",
    "log_avg_msec",
    "record_size",
    "boreal_durability",
    "boreal_pgs",
    "boreal_pipeline_depth",
    "boreal_coalesce_pace",
    "boreal_park_spin",
    "boreal_records_per_txn",
    "boreal_slow_node_ms",
    "boreal_cluster",
    "boreal_stall_timeout",
];

#[cfg(test)]
mod tests {
    use super::SUPPORTED_OPTIONS;
    use crate::error::{BenchError, Origin};
    use crate::job::options::JobOptions;
    use crate::job::parse::RawOption;

    /// Every listed name is one `JobOptions::apply` handles: given any value it may
    /// refuse the value, never the name (a name listed here but not handled would be
    /// suggested to a user and then refused as unknown).
    #[test]
    fn every_listed_option_is_handled() {
        for &name in SUPPORTED_OPTIONS {
            for value in [None, Some("1"), Some("x")] {
                let mut job = JobOptions::new("j");
                let r = job.apply(&RawOption {
                    key: name.to_string(),
                    value: value.map(str::to_string),
                    origin: Origin::Derived,
                });
                assert!(
                    !matches!(r, Err(BenchError::UnsupportedOption { .. })),
                    "{name}={value:?} refused as an unknown option: {r:?}"
                );
            }
        }
        let mut job = JobOptions::new("j");
        let r = job.apply(&RawOption {
            key: "no_such_option".into(),
            value: Some("1".into()),
            origin: Origin::Derived,
        });
        assert!(matches!(r, Err(BenchError::UnsupportedOption { .. })));
    }
}
