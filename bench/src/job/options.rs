//! The options boreal-bench understands: their meaning, default and allowed range, as
//! fio's HOWTO defines them.
//!
//! [`JobOptions`] is one job's settings; [`JobOptions::apply`] sets one option from its
//! text (after `${VAR}` expansion, [`super::expand`]) and refuses an unknown option or
//! a bad value with an error that names the option, the value, the allowed range and
//! where it was written; an fio option boreal-bench does not do is refused with why
//! ([`super::refused`]). Value syntax is in [`super::value`]; cross-option checks (a
//! runnable combination) in [`super::validate`].

use std::path::PathBuf;
use std::time::Duration;

use boreal_engine::journal::{DurabilityMode, PIPELINE_DEPTH_MAX};
use boreal_engine::uring::PARK_SPIN_MAX;

use crate::engine::journal::{PAGE_SIZE, PGS_MAX};
use crate::error::BenchError;
use crate::job::kinds::{
    BlockSize, BorealPlacement, ClockSource, CpusAllowedPolicy, Distribution, EngineName,
    FadviseHint, FileService, RandomGenerator, RateProcess, Rw, RwSequencer, VerifyKind,
};
use crate::job::parse::RawOption;
use crate::job::value::{
    Value, clocksource, distribution, durability, file_service, log_prefix, parse_int,
    verify_pattern,
};

pub use crate::job::value::{format_time, parse_size, parse_time};

pub use crate::job::supported::SUPPORTED_OPTIONS;

/// fio's default `percentile_list`.
pub const DEFAULT_PERCENTILES: &[f64] = &[
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95,
    99.99,
];

/// Largest block size accepted, bytes (128 MiB).
pub const BS_MAX_BYTES: u64 = 128 << 20;
/// Largest `iodepth` accepted.
pub const IODEPTH_MAX: u32 = 65536;
/// Largest `numjobs` accepted.
pub const NUMJOBS_MAX: u32 = 1024;
/// Largest `nrfiles` accepted (every file of a job stays open).
pub const NRFILES_MAX: u32 = 4096;
/// Longest `percentile_list` accepted (fio's limit).
pub const PERCENTILES_MAX: usize = 20;
/// Largest `verify_backlog` accepted (the backlog's offsets are kept in memory).
pub const VERIFY_BACKLOG_MAX: u64 = 1 << 20;
/// Longest `verify_pattern`, bytes (fio's limit).
pub const VERIFY_PATTERN_MAX: usize = 512;
/// fio's default random seed when `randrepeat=1` (its default) and no `randseed` is set.
pub const RANDSEED_DEFAULT: u64 = 0x89;
/// fio's default `filename_format`.
pub const FILENAME_FORMAT_DEFAULT: &str = "$jobname.$jobnum.$filenum";

/// One job's settings. Every field says its fio default.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOptions {
    /// `name`: the job's name (the section name). Used in reports and default file names.
    pub name: String,
    /// `filename`: the file(s) to do I/O on, `:`-separated (`\:` is a colon in a name).
    /// Default: `nrfiles` files named by `filename_format` in `directory`.
    pub filename: Option<String>,
    /// `directory`: where file names are created. Default: the current directory.
    pub directory: Option<PathBuf>,
    /// `filename_format`: names of generated files; `$jobname`, `$jobnum` (the copy),
    /// `$filenum`. Default `$jobname.$jobnum.$filenum`.
    pub filename_format: String,
    /// `rw`: I/O pattern. Default: `read`.
    pub rw: Rw,
    /// The offset modifier of `rw=PATTERN:N`: for sequential patterns bytes added to
    /// each offset (negative: backwards); for random ones, I/Os per random offset.
    pub rw_modifier: Option<i64>,
    /// `rw_sequencer`: how a random pattern's modifier is used. Default `sequential`.
    pub rw_sequencer: RwSequencer,
    /// `rwmixread` (or `100 - rwmixwrite`): percent of reads in a mixed job. Default 50.
    pub rwmixread: u8,
    /// Block sizes of reads, writes and trims (`bs`, `bsrange`, `bssplit`).
    /// Default 4096 each.
    pub block_sizes: [BlockSize; 3],
    /// The largest block any I/O of the job has, bytes (`bs` when it is one size).
    pub bs: u64,
    /// `size`: bytes of I/O region over all the job's files. Default: the existing
    /// files' size.
    pub size: Option<u64>,
    /// `filesize`: each file's size, or a range each file's size is picked from.
    /// Default: `size / nrfiles`.
    pub filesize: Option<(u64, u64)>,
    /// `nrfiles`: files per job copy. Default 1.
    pub nrfiles: u32,
    /// `openfiles`: files open at once. Default: `nrfiles` (every file stays open).
    pub openfiles: Option<u32>,
    /// `file_service_type`: which file the next I/O goes to. Default `roundrobin`.
    pub file_service: FileService,
    /// `io_size`: bytes of I/O to do. Default: `size`.
    pub io_size: Option<u64>,
    /// `loops`: passes over the region of a size-bound job. Default 1.
    pub loops: u32,
    /// `offset`: start of the region in each file, bytes. Default 0.
    pub offset: u64,
    /// `iodepth`: I/Os kept in flight (async engines; `psync` always runs at 1). Default 1.
    pub iodepth: u32,
    /// `iodepth_batch_submit` (alias `iodepth_batch`): I/Os queued before they are
    /// submitted together; 0 means `iodepth`. Default 1, as fio: each I/O is submitted
    /// as soon as it is queued.
    pub iodepth_batch_submit: u32,
    /// `iodepth_batch_complete_min` (alias `iodepth_batch_complete`): completions a
    /// wait reaps at least. Default 1 (0 is taken as 1, as fio's wait does).
    pub iodepth_batch_complete_min: u32,
    /// `iodepth_batch_complete_max`: completions handed to the job per wait at most;
    /// 0 (the default) means `iodepth_batch_complete_min`, as in fio, except on
    /// `boreal-journal` and `boreal-cluster`, where it means `iodepth`
    /// ([`EngineName::ios_are_clients`]).
    pub iodepth_batch_complete_max: u32,
    /// `numjobs`: copies of this job, each on its own thread. Default 1.
    pub numjobs: u32,
    /// `runtime` (alias `timeout`): time limit. Default: none (run until `io_size` is done).
    pub runtime: Option<Duration>,
    /// `time_based`: run for `runtime` even if `io_size` is done, looping over the region.
    pub time_based: bool,
    /// `ramp_time`: run this long before measuring; those results are discarded. Default 0.
    pub ramp_time: Duration,
    /// `startdelay`: wait this long (or a time picked in the range) after the job's
    /// group starts, before the job starts. Default 0.
    pub startdelay: (Duration, Duration),
    /// `direct` (or `buffered=0`): open with O_DIRECT. Default 0.
    pub direct: bool,
    /// `sync`: `0` (default), `dsync` (every write durable: O_DSYNC / RWF_DSYNC) or `1`
    /// / `sync` (O_SYNC, psync only).
    pub sync: SyncMode,
    /// `invalidate`: drop the page cache of the job's file regions before it starts
    /// (`posix_fadvise(POSIX_FADV_DONTNEED)`). Default 1.
    pub invalidate: bool,
    /// `fadvise_hint`: `0`, `1` (the default: the job's pattern), `sequential` or
    /// `random`, advised on each regular file or block device the `psync` and
    /// `io_uring` engines open.
    pub fadvise_hint: FadviseHint,
    /// `ioengine`: default `psync`.
    pub ioengine: EngineName,
    /// `ioengine` as written, when boreal runs it on another engine (`libaio` runs on
    /// `io_uring`; `sync`, `pvsync` on `psync`).
    pub ioengine_alias: Option<String>,
    /// `fsync`: fsync after every N writes. Default 0 (never).
    pub fsync: u32,
    /// `fdatasync`: fdatasync after every N writes. Default 0 (never).
    pub fdatasync: u32,
    /// `end_fsync`: fsync once when the job's writes are done. Default 0.
    pub end_fsync: bool,
    /// `rate`: bytes per second per direction (read, write, trim). Default: unlimited.
    pub rate: [Option<u64>; 3],
    /// `rate_iops`: I/Os per second per direction. Default: unlimited. `rate` wins
    /// where both are set.
    pub rate_iops: [Option<u64>; 3],
    /// `rate_process`: `linear` (default) or `poisson` spacing of rate-limited I/Os.
    pub rate_process: RateProcess,
    /// `norandommap`: random offsets may repeat before every block was touched.
    /// Default 0: each pass over the region touches every block once.
    pub norandommap: bool,
    /// `random_generator`: default `tausworthe` (boreal-bench's offsets come from its
    /// own generator whatever this says; `lfsr`, like the default with a random map,
    /// touches each block once per pass).
    pub random_generator: RandomGenerator,
    /// `random_distribution`: default `random` (uniform).
    pub distribution: Distribution,
    /// `randseed`: seed of offsets and read/write mix. Default 0x89 (fio's `randrepeat`).
    pub randseed: u64,
    /// `percentile_list`: percentiles reported. Default: fio's 17 percentiles.
    pub percentile_list: Vec<f64>,
    /// `clat_percentiles`: report clat percentiles. Default 1.
    pub clat_percentiles: bool,
    /// `lat_percentiles`: report lat percentiles too. Default 0.
    pub lat_percentiles: bool,
    /// `group_reporting`: report all jobs as one. Default 0.
    pub group_reporting: bool,
    /// `cpus_allowed`: CPUs this job's threads may run on (see `cpus_allowed_policy`).
    /// Default: not pinned, as fio: the threads run where the scheduler puts them.
    pub cpus_allowed: Option<Vec<usize>>,
    /// `cpus_allowed_policy`: `shared` (every copy on the whole set) or `split` (copy k
    /// on the k-th CPU). Default `shared`, as fio.
    pub cpus_allowed_policy: CpusAllowedPolicy,
    /// `boreal_placement` (boreal-specific): `unpinned` or `quiet` (each copy pinned to
    /// a CPU that takes none of the device's interrupts, where there is one). Ignored
    /// when `cpus_allowed` is set. Default `unpinned`.
    pub boreal_placement: BorealPlacement,
    /// `stonewall` (alias `wait_for_previous`): start this job only after every job
    /// before it has finished, and report it in a new group (fio's meaning; set in
    /// `[global]` it runs every job on its own, one after another). Default 0.
    pub stonewall: bool,
    /// `wait_for`: start only after the named (earlier) job has finished. Default none.
    pub wait_for: Option<String>,
    /// `exitall`: when this job finishes, the other jobs of its group stop. Default 0.
    pub exitall: bool,
    /// `flow`: weight of this job in its `flow_id` group; the group's jobs do I/O in
    /// proportion to their weights. Default 0 (no flow control).
    pub flow: u32,
    /// `flow_id`: the flow group. Default 0.
    pub flow_id: u32,
    /// `flow_sleep`: how long a job ahead of its share waits before trying again.
    /// Default 0 (it waits for its own I/O in flight, or yields).
    pub flow_sleep: Duration,
    /// `clocksource`: `cpu` or `clock_gettime` (fio's `gettimeofday` is refused: it
    /// has microseconds only). Default: as fio, `cpu` where it is reliable (the kernel
    /// keeps time with the TSC), else `clock_gettime`.
    pub clocksource: Option<ClockSource>,
    /// `gtod_reduce` (or all of `disable_lat`, `disable_clat`, `disable_slat`,
    /// `disable_bw_measurement`): no latencies are recorded, only counts. Default 0.
    pub latency_off: LatencyOff,
    /// `create_on_open`: do not lay the job's files out; create them empty when the job
    /// opens them. Default 0.
    pub create_on_open: bool,
    /// `verify`: check written data (`crc32c`, `md5`, `pattern`). Default none.
    pub verify: Option<VerifyKind>,
    /// `verify_pattern`: the bytes of `verify=pattern`. Default: none (required).
    pub verify_pattern: Vec<u8>,
    /// `verify_backlog`: verify the last N written blocks after every N writes, during
    /// the run. Default 0 (verify once the writes are done).
    pub verify_backlog: u64,
    /// `do_verify`: run the verify phase. Default 1 (with `do_verify=0` the data is
    /// written verifiable but not read back).
    pub do_verify: bool,
    /// `write_lat_log`: prefix of the job's latency logs (`PREFIX_lat.N.log`,
    /// `_clat`, `_slat`). Default none.
    pub write_lat_log: Option<String>,
    /// `write_bw_log`: prefix of its bandwidth log (`PREFIX_bw.N.log`, KiB/s).
    pub write_bw_log: Option<String>,
    /// `write_iops_log`: prefix of its IOPS log (`PREFIX_iops.N.log`).
    pub write_iops_log: Option<String>,
    /// `log_avg_msec`: average log entries over windows of this many ms; 0 logs every
    /// I/O. Default 0.
    pub log_avg_msec: u32,
    /// `record_size` (boreal-specific, `boreal-journal` only): change payload bytes of
    /// each redo record; an I/O carries `bs / record_size` records. 1..=8160 (one 8 KiB
    /// page's payload), must divide `bs`. Default: `bs` (one record per I/O).
    pub record_size: Option<u64>,
    /// `boreal_durability` (boreal-specific, `boreal-journal` only): how the journal makes
    /// a batch durable: `dsync` (one `RWF_DSYNC` write), `fdatasync` (write, then
    /// fdatasync), `linked` (write linked to fdatasync). Default: the journal's default.
    pub boreal_durability: Option<DurabilityMode>,
    /// `boreal_pgs` (boreal-specific, `boreal-journal` and `boreal-cluster`):
    /// protection groups the appends go to, each with its own LSN chain and 1024 pages
    /// (`boreal-journal`: round-robin per I/O; `boreal-cluster`: the volume of the
    /// job's own cluster). 1..=64. Default 1.
    pub boreal_pgs: u32,
    /// `boreal_pipeline_depth` (boreal-specific, `boreal-journal` only): batch writes the
    /// journal keeps in flight, 1 to 3. Default: the journal's default (3).
    pub boreal_pipeline_depth: Option<usize>,
    /// `boreal_coalesce_pace` (boreal-specific, `boreal-journal` only): the backlog
    /// percentage below which the coalescer paces its page writes behind the journal
    /// (`EngineConfig::coalesce_pace_below_percent`); 0 never paces. `None`: the default.
    pub boreal_coalesce_pace: Option<u32>,
    /// `boreal_park_spin` (boreal-specific, `io_uring` and `boreal-journal`): how long
    /// the job's runtime polls for completions before it sleeps in the kernel, while
    /// I/O is in flight (`RuntimeConfig::park_spin`); 0 never polls, as fio does not.
    /// At most 10 ms. Default: the runtime's (50 µs).
    pub boreal_park_spin: Option<Duration>,
    /// `boreal_records_per_txn` (boreal-specific, `boreal-cluster` only): redo records
    /// of each write transaction, 1..=1024. Default 4.
    pub boreal_records_per_txn: Option<u32>,
    /// `boreal_slow_node_ms` (boreal-specific, `boreal-cluster` only): one of the six
    /// nodes holds its acknowledgements back this many ms after each append is
    /// durable, 0..=1000. Default 0 (no slow node).
    pub boreal_slow_node_ms: Option<u64>,
    /// `boreal_cluster` (boreal-specific, `boreal-cluster` only): a running cluster's
    /// `cluster.toml` (or its directory), from `boreal cluster up`; the job uses it and
    /// leaves it running. Default: the job starts its own in its directory.
    pub boreal_cluster: Option<PathBuf>,
    /// `boreal_stall_timeout` (boreal-specific, `boreal-cluster` only): the job fails
    /// when no I/O of it completed for this long while I/Os were in flight; zero
    /// disables the watchdog. `None`: not given (10 s,
    /// `engine::cluster::stall::STALL_TIMEOUT_DEFAULT`).
    pub boreal_stall_timeout: Option<Duration>,
    /// `bs`, `bsrange` or `bssplit` was given (a `boreal-cluster` job without it gets
    /// `bs` = records × `record_size`).
    pub bs_given: bool,
    /// The options as written (`key`, `value`), for the JSON's `job options` echo.
    pub echo: Vec<(String, String)>,
}

/// `sync=`: how writes are made durable by the open file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `0`/`none`: they are not.
    None,
    /// `dsync`: O_DSYNC (RWF_DSYNC per write on io_uring).
    Dsync,
    /// `1`/`sync`: O_SYNC.
    Sync,
}

/// Which latencies a job does not record (`gtod_reduce` and the `disable_*` options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyOff {
    /// `disable_lat`.
    pub lat: bool,
    /// `disable_clat`.
    pub clat: bool,
    /// `disable_slat`.
    pub slat: bool,
    /// `disable_bw_measurement`: no per-interval series or bandwidth logs.
    pub bw: bool,
}

impl JobOptions {
    /// A job with fio's defaults.
    pub fn new(name: &str) -> JobOptions {
        JobOptions {
            name: name.to_string(),
            filename: None,
            directory: None,
            filename_format: FILENAME_FORMAT_DEFAULT.to_string(),
            rw: Rw::Read,
            rw_modifier: None,
            rw_sequencer: RwSequencer::Sequential,
            rwmixread: 50,
            block_sizes: [
                BlockSize::Fixed(4096),
                BlockSize::Fixed(4096),
                BlockSize::Fixed(4096),
            ],
            bs: 4096,
            size: None,
            filesize: None,
            nrfiles: 1,
            openfiles: None,
            file_service: FileService::RoundRobin(1),
            io_size: None,
            loops: 1,
            offset: 0,
            iodepth: 1,
            iodepth_batch_submit: 1,
            iodepth_batch_complete_min: 1,
            iodepth_batch_complete_max: 0,
            numjobs: 1,
            runtime: None,
            time_based: false,
            ramp_time: Duration::ZERO,
            startdelay: (Duration::ZERO, Duration::ZERO),
            direct: false,
            sync: SyncMode::None,
            invalidate: true,
            fadvise_hint: FadviseHint::Workload,
            ioengine: EngineName::Psync,
            ioengine_alias: None,
            fsync: 0,
            fdatasync: 0,
            end_fsync: false,
            rate: [None; 3],
            rate_iops: [None; 3],
            rate_process: RateProcess::Linear,
            norandommap: false,
            random_generator: RandomGenerator::Tausworthe,
            distribution: Distribution::Uniform,
            randseed: RANDSEED_DEFAULT,
            percentile_list: DEFAULT_PERCENTILES.to_vec(),
            clat_percentiles: true,
            lat_percentiles: false,
            group_reporting: false,
            cpus_allowed: None,
            cpus_allowed_policy: CpusAllowedPolicy::Shared,
            boreal_placement: BorealPlacement::Unpinned,
            stonewall: false,
            wait_for: None,
            exitall: false,
            flow: 0,
            flow_id: 0,
            flow_sleep: Duration::ZERO,
            clocksource: None,
            latency_off: LatencyOff::default(),
            create_on_open: false,
            verify: None,
            verify_pattern: Vec::new(),
            verify_backlog: 0,
            do_verify: true,
            write_lat_log: None,
            write_bw_log: None,
            write_iops_log: None,
            log_avg_msec: 0,
            record_size: None,
            boreal_durability: None,
            boreal_pgs: 1,
            boreal_pipeline_depth: None,
            boreal_coalesce_pace: None,
            boreal_park_spin: None,
            boreal_records_per_txn: None,
            boreal_slow_node_ms: None,
            boreal_cluster: None,
            boreal_stall_timeout: None,
            bs_given: false,
            echo: Vec::new(),
        }
    }

    /// True when every read, write and trim has the same size (`bs`).
    pub fn is_fixed_bs(&self) -> bool {
        self.block_sizes
            .iter()
            .all(|b| *b == BlockSize::Fixed(self.bs))
    }

    /// The smallest block any I/O of the job has, bytes (offsets are multiples of it).
    pub fn min_bs(&self) -> u64 {
        self.block_sizes
            .iter()
            .map(BlockSize::min)
            .min()
            .unwrap_or(self.bs)
    }

    /// True when some direction is rate-limited.
    pub fn rate_limited(&self) -> bool {
        self.rate.iter().chain(&self.rate_iops).any(Option::is_some)
    }

    /// True when no latency at all is recorded (`gtod_reduce`).
    pub fn gtod_reduce(&self) -> bool {
        let o = self.latency_off;
        o.lat && o.clat && o.slat && o.bw
    }

    fn set_block_sizes(&mut self, sizes: [Option<BlockSize>; 3]) {
        self.bs_given = true;
        for (slot, size) in self.block_sizes.iter_mut().zip(sizes) {
            if let Some(size) = size {
                *slot = size;
            }
        }
        self.bs = self
            .block_sizes
            .iter()
            .map(BlockSize::max)
            .max()
            .unwrap_or(4096);
    }

    /// Sets one option from its text. Unknown options and bad values are refused.
    pub fn apply(&mut self, option: &RawOption) -> Result<(), BenchError> {
        let value = Value { option };
        match option.key.as_str() {
            "name" => self.name = value.text()?.to_string(),
            "description" => {
                value.text()?;
            }
            "thread" | "threads" | "disk_util" => {
                // boreal-bench runs every job copy as a thread already (`thread`), and
                // reports no disk utilisation (`disk_util`): nothing to change.
                value.boolean()?;
            }
            "kb_base" => {
                if value.int_in(1000, 1024)? != 1024 {
                    return value.bad("only kb_base=1024 (fio's default) is supported");
                }
            }
            "filename" => self.filename = Some(value.text()?.to_string()),
            "directory" => self.directory = Some(PathBuf::from(value.text()?)),
            "filename_format" => self.filename_format = value.text()?.to_string(),
            "rw" | "readwrite" => {
                let (rw, modifier) = self.parse_rw(&value)?;
                self.rw = rw;
                self.rw_modifier = modifier;
            }
            "rw_sequencer" => {
                self.rw_sequencer = match value.text()? {
                    "sequential" => RwSequencer::Sequential,
                    "identical" => RwSequencer::Identical,
                    _ => return value.bad("allowed values are sequential and identical"),
                }
            }
            "rwmixread" => self.rwmixread = value.int_in(0, 100)? as u8,
            "rwmixwrite" => self.rwmixread = 100 - value.int_in(0, 100)? as u8,
            "bs" | "blocksize" => {
                let sizes = value.block_sizes(BS_MAX_BYTES)?;
                self.set_block_sizes(sizes);
            }
            "bsrange" | "blocksize_range" => {
                let sizes = value.block_ranges(BS_MAX_BYTES)?;
                self.set_block_sizes(sizes);
            }
            "bssplit" => {
                let sizes = value.block_splits(BS_MAX_BYTES)?;
                self.set_block_sizes(sizes);
            }
            "size" => self.size = Some(value.size_in(1, u64::MAX)?),
            "filesize" => {
                let text = value.text()?.to_string();
                self.filesize = Some(value.size_range(&text, 1, u64::MAX)?);
            }
            "nrfiles" => self.nrfiles = value.int_in(1, u64::from(NRFILES_MAX))? as u32,
            "openfiles" => self.openfiles = Some(value.int_in(1, u64::from(NRFILES_MAX))? as u32),
            "file_service_type" => self.file_service = file_service(&value)?,
            "io_size" | "io_limit" => self.io_size = Some(value.size_in(1, u64::MAX)?),
            "loops" => self.loops = value.int_in(1, 1_000_000)? as u32,
            "offset" => self.offset = value.size_in(0, u64::MAX)?,
            "iodepth" => self.iodepth = value.int_in(1, IODEPTH_MAX as u64)? as u32,
            "iodepth_batch_submit" | "iodepth_batch" => {
                self.iodepth_batch_submit = value.int_in(0, IODEPTH_MAX as u64)? as u32;
            }
            "iodepth_batch_complete_min" | "iodepth_batch_complete" => {
                self.iodepth_batch_complete_min = value.int_in(0, IODEPTH_MAX as u64)? as u32;
            }
            "iodepth_batch_complete_max" => {
                self.iodepth_batch_complete_max = value.int_in(0, IODEPTH_MAX as u64)? as u32;
            }
            "numjobs" => self.numjobs = value.int_in(1, NUMJOBS_MAX as u64)? as u32,
            "runtime" | "timeout" => {
                let runtime = value.time()?;
                // fio: runtime=0 means no limit.
                self.runtime = (!runtime.is_zero()).then_some(runtime);
            }
            "time_based" => self.time_based = value.boolean()?,
            "ramp_time" => self.ramp_time = value.time()?,
            "startdelay" => self.startdelay = value.time_range()?,
            "direct" => self.direct = value.boolean()?,
            "buffered" => self.direct = !value.boolean()?,
            "sync" => {
                self.sync = match value.option.value.as_deref() {
                    None | Some("1") | Some("sync") => SyncMode::Sync,
                    Some("0") | Some("none") => SyncMode::None,
                    Some("dsync") => SyncMode::Dsync,
                    Some(_) => return value.bad("allowed values are 0 (none), dsync, 1 (sync)"),
                }
            }
            "invalidate" => self.invalidate = value.boolean()?,
            "fadvise_hint" => {
                self.fadvise_hint = match value.text()? {
                    "0" => FadviseHint::Off,
                    "1" => FadviseHint::Workload,
                    "sequential" => FadviseHint::Sequential,
                    "random" => FadviseHint::Random,
                    "noreuse" => {
                        return value.bad(
                            "noreuse (Linux 6.3's POSIX_FADV_NOREUSE) is not implemented: use 0, 1, sequential or random",
                        );
                    }
                    _ => return value.bad("allowed values are 0, 1, sequential and random"),
                }
            }
            "ioengine" => self.set_engine(&value)?,
            "clocksource" => self.clocksource = Some(clocksource(&value)?),
            "fsync" => self.fsync = value.int_in(0, u32::MAX as u64)? as u32,
            "fdatasync" => self.fdatasync = value.int_in(0, u32::MAX as u64)? as u32,
            "end_fsync" => self.end_fsync = value.boolean()?,
            "rate" => {
                for (d, part) in value.per_direction()?.iter().enumerate() {
                    if let Some(text) = part {
                        let rate = parse_size(text).filter(|&r| r <= 1 << 50);
                        match rate {
                            // fio: 0 means no limit.
                            Some(r) => self.rate[d] = (r > 0).then_some(r),
                            None => {
                                return value.bad(format!(
                                    "`{text}` is not a rate in bytes/s such as 500k or 1m"
                                ));
                            }
                        }
                    }
                }
            }
            "rate_iops" => {
                for (d, part) in value.per_direction()?.iter().enumerate() {
                    if let Some(text) = part {
                        match parse_int(text).filter(|&r| r <= 100_000_000) {
                            Some(r) => self.rate_iops[d] = (r > 0).then_some(r),
                            None => {
                                return value.bad("expected a whole number in 0..=100000000");
                            }
                        }
                    }
                }
            }
            "rate_process" => {
                self.rate_process = match value.text()? {
                    "linear" => RateProcess::Linear,
                    "poisson" => RateProcess::Poisson,
                    _ => return value.bad("allowed values are linear and poisson"),
                }
            }
            "norandommap" => self.norandommap = value.boolean()?,
            "random_generator" => {
                self.random_generator = match value.text()? {
                    "tausworthe" => RandomGenerator::Tausworthe,
                    "lfsr" => RandomGenerator::Lfsr,
                    "tausworthe64" => RandomGenerator::Tausworthe64,
                    _ => return value.bad("allowed values are tausworthe, lfsr, tausworthe64"),
                }
            }
            "random_distribution" => self.distribution = distribution(&value)?,
            "randseed" => self.randseed = value.int_in(0, u64::MAX)?,
            "randrepeat" | "allrandrepeat" => {
                if !value.boolean()? {
                    // fio: a seed that differs from run to run.
                    self.randseed = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(RANDSEED_DEFAULT, |d| d.as_nanos() as u64);
                }
            }
            "percentile_list" => self.percentile_list = value.percentiles(PERCENTILES_MAX)?,
            "clat_percentiles" => self.clat_percentiles = value.boolean()?,
            "lat_percentiles" => self.lat_percentiles = value.boolean()?,
            "group_reporting" => self.group_reporting = value.boolean()?,
            "cpus_allowed" => self.cpus_allowed = Some(value.cpu_list()?),
            "cpus_allowed_policy" => {
                self.cpus_allowed_policy = match value.text()? {
                    "shared" => CpusAllowedPolicy::Shared,
                    "split" => CpusAllowedPolicy::Split,
                    _ => return value.bad("allowed values are shared and split"),
                }
            }
            "boreal_placement" => {
                self.boreal_placement = match value.text()? {
                    "unpinned" => BorealPlacement::Unpinned,
                    "quiet" => BorealPlacement::Quiet,
                    _ => return value.bad("allowed values are unpinned and quiet"),
                }
            }
            "stonewall" | "wait_for_previous" => self.stonewall = value.boolean()?,
            "wait_for" => self.wait_for = Some(value.text()?.to_string()),
            "exitall" => self.exitall = value.boolean()?,
            "flow" => self.flow = value.int_in(0, 1_000_000)? as u32,
            "flow_id" => self.flow_id = value.int_in(0, u32::MAX as u64)? as u32,
            "flow_sleep" => {
                self.flow_sleep = Duration::from_micros(value.int_in(0, 10_000_000)?);
            }
            "gtod_reduce" => {
                let on = value.boolean()?;
                self.latency_off = LatencyOff {
                    lat: on,
                    clat: on,
                    slat: on,
                    bw: on,
                };
            }
            "disable_lat" => self.latency_off.lat = value.boolean()?,
            "disable_clat" => self.latency_off.clat = value.boolean()?,
            "disable_slat" => self.latency_off.slat = value.boolean()?,
            "disable_bw_measurement" | "disable_bw" => self.latency_off.bw = value.boolean()?,
            "create_on_open" => self.create_on_open = value.boolean()?,
            "verify" => {
                self.verify = match value.text()? {
                    "0" | "none" => None,
                    "crc32c" | "crc32c-intel" => Some(VerifyKind::Crc32c),
                    "md5" => Some(VerifyKind::Md5),
                    "pattern" => Some(VerifyKind::Pattern),
                    _ => {
                        return value.bad(
                            "allowed values are crc32c, md5, pattern and none (fio's other checksums are not implemented)",
                        );
                    }
                }
            }
            "verify_pattern" => self.verify_pattern = verify_pattern(&value)?,
            "verify_backlog" => self.verify_backlog = value.int_in(0, VERIFY_BACKLOG_MAX)?,
            "do_verify" => self.do_verify = value.boolean()?,
            "write_lat_log" => self.write_lat_log = Some(log_prefix(&value)?),
            "write_bw_log" => self.write_bw_log = Some(log_prefix(&value)?),
            "write_iops_log" => self.write_iops_log = Some(log_prefix(&value)?),
            "log_avg_msec" => self.log_avg_msec = value.int_in(0, 3_600_000)? as u32,
            "record_size" => {
                self.record_size = Some(value.size_in(1, PAGE_SIZE.payload_len() as u64)?);
            }
            "boreal_durability" => self.boreal_durability = Some(durability(&value)?),
            "boreal_pgs" => self.boreal_pgs = value.int_in(1, u64::from(PGS_MAX))? as u32,
            "boreal_pipeline_depth" => {
                self.boreal_pipeline_depth =
                    Some(value.int_in(1, PIPELINE_DEPTH_MAX as u64)? as usize);
            }
            "boreal_coalesce_pace" => {
                self.boreal_coalesce_pace = Some(value.int_in(0, 100)? as u32);
            }
            "boreal_records_per_txn" => {
                let max = u64::from(crate::engine::cluster::RECORDS_PER_TXN_MAX);
                self.boreal_records_per_txn = Some(value.int_in(1, max)? as u32);
            }
            "boreal_slow_node_ms" => {
                let max = crate::engine::cluster::SLOW_NODE_MS_MAX;
                self.boreal_slow_node_ms = Some(value.int_in(0, max)?);
            }
            "boreal_cluster" => self.boreal_cluster = Some(PathBuf::from(value.text()?)),
            "boreal_stall_timeout" => {
                let min = crate::engine::cluster::stall::STALL_TIMEOUT_MIN;
                let limit = value.time()?;
                if !limit.is_zero() && limit < min {
                    return value.bad(format!(
                        "0 (no watchdog) or at least {}ms: a commit through six nodes can take tens of ms",
                        min.as_millis()
                    ));
                }
                self.boreal_stall_timeout = Some(limit);
            }
            "boreal_park_spin" => {
                let spin = value.time()?;
                if spin > PARK_SPIN_MAX {
                    return value.bad(format!("at most {}us", PARK_SPIN_MAX.as_micros()));
                }
                self.boreal_park_spin = Some(spin);
            }
            other => return Err(unknown(other, option)),
        }
        let shown = option.value.clone().unwrap_or_else(|| "1".to_string());
        self.echo.retain(|(key, _)| key != &option.key);
        self.echo.push((option.key.clone(), shown));
        Ok(())
    }

    fn parse_rw(&self, value: &Value<'_>) -> Result<(Rw, Option<i64>), BenchError> {
        let text = value.text()?;
        let (name, modifier) = match text.split_once(':') {
            Some((name, m)) => (name, Some(m.trim())),
            None => (text, None),
        };
        let Some(rw) = Rw::from_name(name.trim()) else {
            let names: Vec<&str> = Rw::ALL
                .iter()
                .flat_map(|(_, n)| n.iter().copied())
                .collect();
            return value.bad(format!("allowed values are {}", names.join(", ")));
        };
        let modifier = match modifier {
            None => None,
            Some(m) => {
                let (negative, digits) = match m.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, m),
                };
                let Some(n) = parse_size(digits).filter(|&n| n <= i64::MAX as u64) else {
                    return value.bad(format!("`{m}` is not an offset modifier such as 8 or -8k"));
                };
                if rw.is_random() && (negative || n == 0 || n > u64::from(u32::MAX)) {
                    return value.bad("a random pattern's modifier is a count of I/Os per random offset, 1..=4294967295");
                }
                Some(if negative { -(n as i64) } else { n as i64 })
            }
        };
        Ok((rw, modifier))
    }

    fn set_engine(&mut self, value: &Value<'_>) -> Result<(), BenchError> {
        let text = value.text()?;
        let (engine, alias) = match text {
            "psync" => (EngineName::Psync, None),
            "sync" | "pvsync" | "vsync" => (EngineName::Psync, Some(text)),
            "io_uring" => (EngineName::IoUring, None),
            "libaio" | "posixaio" => (EngineName::IoUring, Some(text)),
            "null" => (EngineName::Null, None),
            "boreal-journal" => (EngineName::BorealJournal, None),
            "boreal-cluster" => (EngineName::BorealCluster, None),
            "tokio-uring" => (EngineName::TokioUring, None),
            "glommio" => (EngineName::Glommio, None),
            _ => {
                return value.bad(
                    "allowed engines are psync (also for sync, pvsync, vsync), io_uring (also for libaio, posixaio), null, boreal-journal, boreal-cluster, tokio-uring and glommio",
                );
            }
        };
        self.ioengine = engine;
        self.ioengine_alias = alias.map(str::to_string);
        Ok(())
    }
}

/// The error for an option name boreal-bench does not take.
fn unknown(name: &str, option: &RawOption) -> BenchError {
    let hint = match crate::job::refused::refusal(name) {
        Some(why) => format!(": {why}"),
        None => match crate::cli::closest(name, SUPPORTED_OPTIONS.iter().copied()) {
            Some(near) => format!("; did you mean `{near}`?"),
            None => " (boreal-bench --help lists the options it takes)".to_string(),
        },
    };
    BenchError::UnsupportedOption {
        option: name.to_string(),
        origin: option.origin.clone(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Origin;

    fn apply(job: &mut JobOptions, key: &str, value: &str) -> Result<(), BenchError> {
        job.apply(&RawOption {
            key: key.to_string(),
            value: Some(value.to_string()),
            origin: Origin::Derived,
        })
    }

    #[test]
    fn rw_modifiers_follow_fio() {
        let mut j = JobOptions::new("t");
        apply(&mut j, "rw", "read:-8k").unwrap();
        assert_eq!((j.rw, j.rw_modifier), (Rw::Read, Some(-8192)));
        apply(&mut j, "rw", "randread:8").unwrap();
        assert_eq!((j.rw, j.rw_modifier), (Rw::RandRead, Some(8)));
        assert!(apply(&mut j, "rw", "randread:-8").is_err());
        apply(&mut j, "rw", "write").unwrap();
        assert_eq!(j.rw_modifier, None);
    }

    #[test]
    fn engines_and_their_aliases() {
        let mut j = JobOptions::new("t");
        apply(&mut j, "ioengine", "libaio").unwrap();
        assert_eq!(j.ioengine, EngineName::IoUring);
        assert_eq!(j.ioengine_alias.as_deref(), Some("libaio"));
        apply(&mut j, "ioengine", "io_uring").unwrap();
        assert_eq!(j.ioengine_alias, None);
        assert!(apply(&mut j, "ioengine", "spdk").is_err());
    }

    #[test]
    fn patterns_and_distributions() {
        let mut j = JobOptions::new("t");
        apply(&mut j, "verify_pattern", "0xdeadbeef").unwrap();
        assert_eq!(j.verify_pattern, [0xde, 0xad, 0xbe, 0xef]);
        apply(&mut j, "verify_pattern", "\"ab\"").unwrap();
        assert_eq!(j.verify_pattern, b"ab");
        apply(&mut j, "random_distribution", "zipf:1.2").unwrap();
        assert_eq!(
            j.distribution,
            Distribution::Zipf {
                theta: 1.2,
                center: None
            }
        );
        apply(&mut j, "random_distribution", "normal:10:0.25").unwrap();
        assert_eq!(
            j.distribution,
            Distribution::Normal {
                dev_percent: 10.0,
                center: Some(0.25)
            }
        );
        assert!(apply(&mut j, "random_distribution", "zipf:1").is_err());
        assert!(apply(&mut j, "random_distribution", "zoned:50/50:50/50").is_err());
    }

    #[test]
    fn refused_fio_options_say_why() {
        let mut j = JobOptions::new("t");
        let err = apply(&mut j, "thinktime", "10").unwrap_err().to_string();
        assert!(
            err.contains("not supported by boreal-bench: pauses"),
            "{err}"
        );
        let err = apply(&mut j, "iodpeth", "1").unwrap_err().to_string();
        assert!(err.contains("did you mean `iodepth`"), "{err}");
    }
}
