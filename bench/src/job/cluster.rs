//! The options of `ioengine=boreal-cluster` jobs: their defaults, which depend on each
//! other (`bs` is the transaction's records × `record_size` unless given), and the
//! checks that make a runnable cluster job, with errors that say what to change.
//!
//! Nothing here does I/O; the engine is [`crate::engine::cluster`].

use std::time::Duration;

use crate::engine::cluster::local::NODE_JOURNAL_BYTES_MIN;
use crate::engine::cluster::stall::STALL_TIMEOUT_DEFAULT;
use crate::engine::cluster::{PAGE_SIZE, RECORD_SIZE_DEFAULT, RECORDS_PER_TXN_DEFAULT};
use crate::error::BenchError;
use crate::job::kinds::{BlockSize, EngineName, Rw};
use crate::job::options::{JobOptions, SyncMode};

impl JobOptions {
    /// Records per write transaction of a `boreal-cluster` job.
    pub fn records_per_txn(&self) -> u32 {
        self.boreal_records_per_txn
            .unwrap_or(RECORDS_PER_TXN_DEFAULT)
    }

    /// The `record_size` of a `boreal-cluster` job: as given; else the write block size
    /// over the records per transaction when `bs` was given; else 128 bytes.
    pub fn cluster_record_size(&self) -> u64 {
        match (self.record_size, self.bs_given) {
            (Some(r), _) => r,
            (None, true) => (self.block_sizes[1].max() / u64::from(self.records_per_txn())).max(1),
            (None, false) => RECORD_SIZE_DEFAULT,
        }
    }

    /// The stall watchdog's limit of a `boreal-cluster` job: `boreal_stall_timeout`,
    /// 10 s when not given, `None` (no watchdog) for 0.
    pub fn stall_timeout(&self) -> Option<Duration> {
        match self.boreal_stall_timeout {
            None => Some(STALL_TIMEOUT_DEFAULT),
            Some(limit) => (!limit.is_zero()).then_some(limit),
        }
    }

    /// A `boreal-cluster` job that gave no block size gets `bs` = records per
    /// transaction × `record_size` (its reads too). Other jobs are left alone.
    pub fn apply_cluster_defaults(&mut self) {
        if self.ioengine != EngineName::BorealCluster || self.bs_given {
            return;
        }
        let bs = u64::from(self.records_per_txn()) * self.cluster_record_size();
        self.block_sizes = [
            BlockSize::Fixed(bs),
            BlockSize::Fixed(bs),
            BlockSize::Fixed(bs),
        ];
        self.bs = bs;
    }

    /// The checks specific to `ioengine=boreal-cluster`.
    pub(super) fn validate_cluster(&self) -> Result<(), BenchError> {
        let fail = |message: String| {
            Err(BenchError::Job {
                job: self.name.clone(),
                message,
            })
        };
        if !matches!(
            self.rw,
            Rw::Write | Rw::RandWrite | Rw::Read | Rw::RandRead | Rw::ReadWrite | Rw::RandRw
        ) {
            return fail(format!(
                "ioengine=boreal-cluster commits transactions (writes) and reads pages (GetPage@LSN); rw={} trims, which it cannot: use write, randwrite, read, randread, rw or randrw",
                self.rw.as_str()
            ));
        }
        if self.is_mixed_size() {
            return fail(
                "ioengine=boreal-cluster needs fixed block sizes (a write is records x record_size bytes, a read the first bs bytes of a page); bsrange and bssplit do not apply"
                    .to_string(),
            );
        }
        self.refuse_file_options("boreal-cluster")?;
        if self.fsync > 0 || self.fdatasync > 0 || self.end_fsync || self.sync != SyncMode::None {
            return fail(
                "fsync, fdatasync, end_fsync and sync do not apply to ioengine=boreal-cluster: a transaction is durable on four of six nodes when it commits"
                    .to_string(),
            );
        }
        if self.boreal_durability.is_some()
            || self.boreal_pipeline_depth.is_some()
            || self.boreal_coalesce_pace.is_some()
        {
            return fail(
                "`boreal_durability`, `boreal_pipeline_depth` and `boreal_coalesce_pace` apply only to ioengine=boreal-journal; the cluster's nodes run their defaults"
                    .to_string(),
            );
        }
        let payload = PAGE_SIZE.payload_len() as u64;
        let record_size = self.cluster_record_size();
        let records = u64::from(self.records_per_txn());
        if record_size > payload {
            return fail(format!(
                "record_size {record_size} does not fit a page payload ({payload} bytes of an {}-byte page); set record_size to at most {payload}",
                PAGE_SIZE.get()
            ));
        }
        let write_bs = self.block_sizes[1].max();
        if self.rw.writes() && write_bs != records * record_size {
            return fail(format!(
                "a write is one transaction of boreal_records_per_txn x record_size = {records} x {record_size} = {} bytes, but bs is {write_bs}: drop bs (it then defaults to that), or make record_size = bs / {records}",
                records * record_size
            ));
        }
        let read_bs = self.block_sizes[0].max();
        if self.rw.reads() && read_bs > payload {
            return fail(format!(
                "a read returns the first bs bytes of one page, whose payload is {payload} bytes; bs (for reads) {read_bs} is larger: use bs=4k, or bs=READ,WRITE"
            ));
        }
        if let Some(size) = self.size
            && size < NODE_JOURNAL_BYTES_MIN
        {
            return fail(format!(
                "with ioengine=boreal-cluster `size` is each node's journal; {size} bytes is below the minimum {NODE_JOURNAL_BYTES_MIN} (4 files of 2 MiB)"
            ));
        }
        if let Some(file) = &self.boreal_cluster {
            if self.boreal_slow_node_ms.is_some() {
                return fail(format!(
                    "boreal_slow_node_ms slows a node of the cluster the job starts itself; the running cluster {} keeps its nodes as they were started: drop boreal_cluster, or start that cluster with `boreal cluster up --slow-node ID:MS`",
                    file.display()
                ));
            }
            if self.numjobs > 1 {
                return fail(format!(
                    "numjobs={}: each copy would open the volume of {} through a shim of its own, and each open fences the one before; use numjobs=1 and iodepth for more clients",
                    self.numjobs,
                    file.display()
                ));
            }
        }
        if self.numjobs > 1 && self.filename.is_some() {
            return fail(
                "with ioengine=boreal-cluster each job copy runs its own cluster in its own directory: drop `filename` (copies get directory/NAME.COPY.0) or use numjobs=1"
                    .to_string(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::job::parse::parse_job_args;
    use crate::job::{JobOptions, build_jobs};

    fn job(args: &[&str]) -> Result<JobOptions, String> {
        let mut all = vec!["--name=c", "--ioengine=boreal-cluster"];
        all.extend_from_slice(args);
        let cli = parse_job_args(&all).map_err(|e| e.to_string())?;
        build_jobs(&cli.sections, &cli.global)
            .map(|s| s.jobs[0].clone())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn bs_defaults_to_the_transaction_and_record_size_to_bs_over_the_records() {
        let j = job(&["--rw=write"]).unwrap();
        assert_eq!(
            (j.records_per_txn(), j.cluster_record_size(), j.bs),
            (4, 128, 512)
        );
        let j = job(&[
            "--rw=write",
            "--boreal_records_per_txn=8",
            "--record_size=64",
        ])
        .unwrap();
        assert_eq!(j.bs, 512);
        let j = job(&["--rw=write", "--bs=4k"]).unwrap();
        assert_eq!(j.cluster_record_size(), 1024);
        let j = job(&["--rw=randread", "--bs=4k", "--iodepth=32"]).unwrap();
        assert_eq!(j.bs, 4096);
        let j = job(&["--rw=randrw", "--bs=4k,512"]).unwrap();
        assert_eq!(j.cluster_record_size(), 128);
    }

    #[test]
    fn what_the_engine_cannot_do_is_refused_with_the_fix() {
        let cases: &[(&[&str], &str)] = &[
            (&["--rw=trim"], "use write, randwrite"),
            (&["--rw=write", "--bs=1000", "--record_size=128"], "drop bs"),
            (&["--rw=write", "--record_size=9000"], "1..=8160"),
            (&["--rw=write", "--bs=64k"], "does not fit a page payload"),
            (&["--rw=randread", "--bs=16k"], "use bs=4k"),
            (&["--rw=write", "--fdatasync=1"], "durable on four of six"),
            (&["--rw=write", "--size=1m"], "each node's journal"),
            (
                &["--rw=write", "--boreal_durability=dsync"],
                "the cluster's nodes run their defaults",
            ),
            (&["--rw=write", "--bsrange=512-1k"], "fixed block sizes"),
            (
                &["--rw=write", "--numjobs=2", "--filename=x"],
                "its own cluster",
            ),
            (
                &["--rw=write", "--boreal_slow_node_ms=5000"],
                "boreal_slow_node_ms",
            ),
            (
                &["--rw=write", "--boreal_records_per_txn=0"],
                "boreal_records_per_txn",
            ),
            (
                &[
                    "--rw=write",
                    "--boreal_cluster=/c/cluster.toml",
                    "--boreal_slow_node_ms=5",
                ],
                "boreal cluster up --slow-node",
            ),
            (
                &["--rw=write", "--boreal_cluster=/c", "--numjobs=2"],
                "fences the one before",
            ),
        ];
        for (args, want) in cases {
            let err = job(args).unwrap_err();
            assert!(err.contains(want), "{args:?}: {err}");
        }
        for option in ["--boreal_records_per_txn=4", "--boreal_stall_timeout=5s"] {
            let cli = parse_job_args(&["--name=u", option]).unwrap();
            let err = build_jobs(&cli.sections, &cli.global)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("apply only to ioengine=boreal-cluster"),
                "{option}: {err}"
            );
        }
        let j = job(&["--rw=randrw", "--boreal_slow_node_ms=5", "--boreal_pgs=4"]).unwrap();
        assert_eq!((j.boreal_slow_node_ms, j.boreal_pgs), (Some(5), 4));
    }

    #[test]
    fn the_stall_timeout_defaults_to_10s_and_0_turns_it_off() {
        use std::time::Duration;
        let j = job(&["--rw=write"]).unwrap();
        assert_eq!(j.stall_timeout(), Some(Duration::from_secs(10)));
        let j = job(&["--rw=write", "--boreal_stall_timeout=2s"]).unwrap();
        assert_eq!(j.stall_timeout(), Some(Duration::from_secs(2)));
        let j = job(&["--rw=write", "--boreal_stall_timeout=0"]).unwrap();
        assert_eq!(j.stall_timeout(), None);
        for (value, want) in [("soon", "expected a time"), ("50ms", "at least 100ms")] {
            let err = job(&["--rw=write", &format!("--boreal_stall_timeout={value}")]).unwrap_err();
            assert!(
                err.contains("boreal_stall_timeout") && err.contains(want),
                "{value}: {err}"
            );
        }
    }
}
