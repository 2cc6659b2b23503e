//! Whether one job's options make a runnable job, with errors that say what to change.
//!
//! Each option was checked on its own when it was set ([`super::options`]); this is
//! where combinations are judged: a flag that needs another, sizes that must fit each
//! other, and what an engine cannot do. Nothing here does I/O.

use crate::engine::journal::{JOURNAL_BYTES_MIN, PAGE_SIZE, RECORDS_PER_IO_MAX};
use crate::error::BenchError;
use crate::job::kinds::{BlockSize, EngineName, Rw, VerifyKind};
use crate::job::options::{JobOptions, SyncMode};
use crate::verify::HEADER_LEN;

impl JobOptions {
    /// Checks that the options make a runnable job. Errors say what to change.
    pub fn validate(&self) -> Result<(), BenchError> {
        let fail = |message: String| {
            Err(BenchError::Job {
                job: self.name.clone(),
                message,
            })
        };
        if !crate::engine::available(self.ioengine) {
            return fail(crate::engine::unavailable(self.ioengine).to_string());
        }
        if self.time_based && self.runtime.is_none() {
            return fail("`time_based` needs a `runtime` to know when to stop".to_string());
        }
        for spec in &self.block_sizes {
            if let BlockSize::Range { min, max } = spec
                && !max.is_multiple_of(*min)
            {
                return fail(format!(
                    "bsrange {min}-{max}: sizes are picked as multiples of {min}, so {max} must be one"
                ));
            }
        }
        let sizes: Vec<u64> = self.block_sizes.iter().flat_map(BlockSize::sizes).collect();
        if self.direct {
            if let Some(bs) = sizes.iter().find(|bs| !bs.is_multiple_of(512)) {
                return fail(format!(
                    "`direct=1` needs every block size to be a multiple of 512 bytes (the logical block); {bs} is not"
                ));
            }
            if !self.offset.is_multiple_of(512) {
                return fail(format!(
                    "`direct=1` needs `offset` to be a multiple of 512 bytes; offset is {}",
                    self.offset
                ));
            }
        }
        if let Some(size) = self.size
            && size < self.bs
        {
            return fail(format!(
                "`size` ({size} bytes) is smaller than one block (`bs` = {} bytes)",
                self.bs
            ));
        }
        if self.fsync > 0 && self.fdatasync > 0 {
            return fail("give either `fsync` or `fdatasync`, not both".to_string());
        }
        if let Some(open) = self.openfiles
            && open < self.nrfiles
        {
            return fail(format!(
                "openfiles={open} is below nrfiles={}: boreal-bench keeps every file of a job open (closing and reopening files between I/Os is not implemented); drop openfiles or set it to nrfiles",
                self.nrfiles
            ));
        }
        if self.sync == SyncMode::Sync && self.ioengine != EngineName::Psync {
            return fail(format!(
                "sync=1 (O_SYNC) needs ioengine=psync: {} can make each write durable with sync=dsync (O_DSYNC) but not O_SYNC",
                self.ioengine.as_str()
            ));
        }
        if self.ioengine == EngineName::Glommio {
            if !self.direct {
                return fail(
                    "ioengine=glommio does I/O through glommio's DmaFile, which is O_DIRECT only: set direct=1"
                        .to_string(),
                );
            }
            if self.fsync > 0 || self.end_fsync || self.sync == SyncMode::Sync {
                return fail(
                    "ioengine=glommio's DmaFile has fdatasync but no fsync: use fdatasync=N (and no end_fsync or sync=1)"
                        .to_string(),
                );
            }
        }
        if self.boreal_park_spin.is_some()
            && !matches!(
                self.ioengine,
                EngineName::IoUring | EngineName::BorealJournal | EngineName::BorealCluster
            )
        {
            return fail(format!(
                "`boreal_park_spin` applies only to ioengine=io_uring, boreal-journal and boreal-cluster (this job uses {})",
                self.ioengine.as_str()
            ));
        }
        if self.rw_modifier.is_some() && self.is_mixed_size() {
            return fail(
                "an offset modifier (rw=PATTERN:N) needs one block size: bsrange and bssplit are not implemented with it"
                    .to_string(),
            );
        }
        self.validate_verify()?;
        if self.ioengine != EngineName::BorealCluster
            && (self.boreal_records_per_txn.is_some()
                || self.boreal_slow_node_ms.is_some()
                || self.boreal_cluster.is_some()
                || self.boreal_stall_timeout.is_some())
        {
            return fail(format!(
                "`boreal_records_per_txn`, `boreal_slow_node_ms`, `boreal_cluster` and `boreal_stall_timeout` apply only to ioengine=boreal-cluster (this job uses {})",
                self.ioengine.as_str()
            ));
        }
        if self.ioengine == EngineName::BorealCluster {
            return self.validate_cluster();
        }
        if self.ioengine == EngineName::BorealJournal {
            return self.validate_journal();
        }
        if self.record_size.is_some()
            || self.boreal_durability.is_some()
            || self.boreal_pgs != 1
            || self.boreal_pipeline_depth.is_some()
            || self.boreal_coalesce_pace.is_some()
        {
            return fail(format!(
                "`record_size`, `boreal_durability`, `boreal_pgs`, `boreal_pipeline_depth` and `boreal_coalesce_pace` apply only to ioengine=boreal-journal (`record_size` and `boreal_pgs` to boreal-cluster too; this job uses {})",
                self.ioengine.as_str()
            ));
        }
        Ok(())
    }

    /// True when an I/O's size is picked per I/O (`bsrange`, `bssplit`).
    pub(crate) fn is_mixed_size(&self) -> bool {
        self.block_sizes
            .iter()
            .any(|b| !matches!(b, BlockSize::Fixed(_)))
    }

    fn validate_verify(&self) -> Result<(), BenchError> {
        let fail = |message: String| {
            Err(BenchError::Job {
                job: self.name.clone(),
                message,
            })
        };
        let Some(kind) = self.verify else {
            if self.verify_backlog > 0 {
                return fail("`verify_backlog` needs `verify`".to_string());
            }
            return Ok(());
        };
        if !self.rw.writes() || self.rw.trims() {
            return fail(format!(
                "verify={} checks what the job writes: it needs rw=write, randwrite, rw or randrw (rw={})",
                kind.as_str(),
                self.rw.as_str()
            ));
        }
        if !self.ioengine.uses_files() {
            return fail(format!(
                "verify checks data on files; ioengine={} has none",
                self.ioengine.as_str()
            ));
        }
        if self.is_mixed_size() || self.block_sizes[0] != self.block_sizes[1] {
            return fail(
                "verify needs one block size for reads and writes (bsrange, bssplit and per-direction bs are not implemented with it)"
                    .to_string(),
            );
        }
        if kind == VerifyKind::Pattern && self.verify_pattern.is_empty() {
            return fail(
                "verify=pattern needs verify_pattern=0x... (the bytes to write and check)"
                    .to_string(),
            );
        }
        if kind != VerifyKind::Pattern && self.bs < HEADER_LEN as u64 {
            return fail(format!(
                "verify={} writes a {HEADER_LEN}-byte header in each block; bs={} is smaller",
                kind.as_str(),
                self.bs
            ));
        }
        if self.verify_backlog > 0 && !self.do_verify {
            return fail(
                "`verify_backlog` verifies during the run; it cannot go with do_verify=0"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// The `record_size` of a `boreal-journal` job: as given, else `bs`.
    pub fn record_size_or_bs(&self) -> u64 {
        self.record_size.unwrap_or(self.bs)
    }

    /// Refuses the file-shaped options a boreal engine (`engine`: its name) has no
    /// meaning for: nrfiles, offset modifiers, verify, and rate in bytes/s.
    pub(super) fn refuse_file_options(&self, engine: &str) -> Result<(), BenchError> {
        if self.nrfiles > 1
            || self.rw_modifier.is_some()
            || self.verify.is_some()
            || self.rate.iter().any(Option::is_some)
        {
            return Err(BenchError::Job {
                job: self.name.clone(),
                message: format!(
                    "nrfiles, offset modifiers, verify and rate (bytes/s) do not apply to ioengine={engine} (rate_iops does)"
                ),
            });
        }
        Ok(())
    }

    /// The checks specific to `ioengine=boreal-journal`.
    fn validate_journal(&self) -> Result<(), BenchError> {
        let fail = |message: String| {
            Err(BenchError::Job {
                job: self.name.clone(),
                message,
            })
        };
        if self.rw != Rw::Write {
            return fail(format!(
                "ioengine=boreal-journal only writes (each I/O is a durable append of redo records); set rw=write, not rw={} (reads through GetPage@LSN are not implemented in this engine yet)",
                self.rw.as_str()
            ));
        }
        if self.is_mixed_size() || !self.is_fixed_bs() {
            return fail(
                "ioengine=boreal-journal needs one block size (each I/O is bs/record_size records); bsrange and bssplit do not apply"
                    .to_string(),
            );
        }
        self.refuse_file_options("boreal-journal")?;
        let record_size = self.record_size_or_bs();
        let payload = PAGE_SIZE.payload_len() as u64;
        if record_size > payload {
            return fail(format!(
                "record_size {record_size} does not fit a page payload ({payload} bytes of an {}-byte page); set record_size (bs must be a multiple of it) to at most {payload}",
                PAGE_SIZE.get()
            ));
        }
        if !self.bs.is_multiple_of(record_size) {
            return fail(format!(
                "bs ({}) must be a multiple of record_size ({record_size}): each I/O is bs/record_size whole records",
                self.bs
            ));
        }
        let per_io = self.bs / record_size;
        if per_io > RECORDS_PER_IO_MAX {
            return fail(format!(
                "bs/record_size = {per_io} records per I/O is above {RECORDS_PER_IO_MAX}; raise record_size or lower bs"
            ));
        }
        if self.fsync > 0 || self.fdatasync > 0 || self.end_fsync || self.sync != SyncMode::None {
            return fail(
                "fsync, fdatasync, end_fsync and sync do not apply to ioengine=boreal-journal: every append is durable when acknowledged (choose how with boreal_durability)"
                    .to_string(),
            );
        }
        if let Some(size) = self.size
            && size < JOURNAL_BYTES_MIN
        {
            return fail(format!(
                "with ioengine=boreal-journal `size` is the journal's size; {size} bytes is below the minimum {JOURNAL_BYTES_MIN} (4 files, each a 4 KiB header plus one 1 MiB batch)"
            ));
        }
        if self.numjobs > 1 && self.filename.is_some() {
            return fail(
                "with ioengine=boreal-journal each job copy needs its own data directory: drop `filename` (copies get directory/NAME.COPY.0) or use numjobs=1"
                    .to_string(),
            );
        }
        Ok(())
    }
}
