//! The options boreal-bench understands: their meaning, default, allowed range and
//! value syntax, as fio's HOWTO defines them.
//!
//! [`JobOptions`] is one job's settings; [`JobOptions::apply`] sets one option from its
//! text and refuses an unknown option or a bad value with an error that names the
//! option, the value, the allowed range and where it was written. Value syntax:
//! - sizes (`bs`, `size`, `io_size`, `offset`) take fio's integer suffixes in fio's
//!   default `kb_base=1024` compatibility mode: `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb`,
//!   `p`/`pb` are powers of 1024, and — as in fio — the IEC spellings `kib`, `mib`, …
//!   are powers of 1000. Case does not matter; `0x` hexadecimal is accepted.
//! - times (`runtime`, `ramp_time`) take `us`/`usec`, `ms`/`msec`, `s`, `m`, `h`, `d`;
//!   a bare number is seconds.
//! - booleans take `0`/`1`, or a bare flag for `1`.
//!
//! Cross-option checks (a runnable combination) live in [`JobOptions::validate`].

use std::path::PathBuf;
use std::time::Duration;

use boreal_engine::journal::{DurabilityMode, PIPELINE_DEPTH_MAX};
use boreal_engine::uring::PARK_SPIN_MAX;

use crate::engine::journal::{
    JOURNAL_BYTES_MIN, PAGE_SIZE, PGS_MAX, RECORDS_PER_IO_MAX, durability_name,
};
use crate::error::BenchError;
use crate::job::parse::RawOption;

/// Every option name boreal-bench accepts (aliases included), for error messages.
pub const SUPPORTED_OPTIONS: &[&str] = &[
    "name",
    "description",
    "filename",
    "directory",
    "rw",
    "readwrite",
    "rwmixread",
    "rwmixwrite",
    "bs",
    "blocksize",
    "size",
    "io_size",
    "io_limit",
    "offset",
    "iodepth",
    "iodepth_batch_submit",
    "iodepth_batch",
    "numjobs",
    "runtime",
    "time_based",
    "ramp_time",
    "direct",
    "ioengine",
    "fsync",
    "fdatasync",
    "end_fsync",
    "rate_iops",
    "randseed",
    "percentile_list",
    "group_reporting",
    "cpus_allowed",
    "cpus_allowed_policy",
    "boreal_placement",
    "stonewall",
    "wait_for_previous",
    "clocksource",
    "record_size",
    "boreal_durability",
    "boreal_pgs",
    "boreal_pipeline_depth",
    "boreal_park_spin",
];

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
/// Longest `percentile_list` accepted (fio's limit).
pub const PERCENTILES_MAX: usize = 20;
/// fio's default random seed when `randrepeat=1` (its default) and no `randseed` is set.
pub const RANDSEED_DEFAULT: u64 = 0x89;

/// The I/O pattern (`rw=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rw {
    /// `read`: sequential reads.
    Read,
    /// `write`: sequential writes.
    Write,
    /// `randread`: random reads.
    RandRead,
    /// `randwrite`: random writes.
    RandWrite,
    /// `rw` / `readwrite`: sequential mixed reads and writes.
    ReadWrite,
    /// `randrw`: random mixed reads and writes.
    RandRw,
}

impl Rw {
    /// fio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Rw::Read => "read",
            Rw::Write => "write",
            Rw::RandRead => "randread",
            Rw::RandWrite => "randwrite",
            Rw::ReadWrite => "rw",
            Rw::RandRw => "randrw",
        }
    }

    /// True when offsets are random.
    pub fn is_random(self) -> bool {
        matches!(self, Rw::RandRead | Rw::RandWrite | Rw::RandRw)
    }

    /// True when the job reads at all.
    pub fn reads(self) -> bool {
        !matches!(self, Rw::Write | Rw::RandWrite)
    }

    /// True when the job writes at all.
    pub fn writes(self) -> bool {
        !matches!(self, Rw::Read | Rw::RandRead)
    }
}

/// Where the job's per-I/O timestamps come from (`clocksource=`, fio's option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// `cpu`: the CPU's time-stamp counter (`boreal_engine::rt::cycles`), ~10 ns a
    /// reading; offered where the kernel keeps time with the TSC.
    Cpu,
    /// `clock_gettime`: `CLOCK_MONOTONIC` through the vDSO, ~23 ns a reading on the dev
    /// VM.
    ClockGettime,
}

impl ClockSource {
    /// fio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockSource::Cpu => "cpu",
            ClockSource::ClockGettime => "clock_gettime",
        }
    }
}

/// How the threads of a job with `cpus_allowed` share its CPUs (`cpus_allowed_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpusAllowedPolicy {
    /// `shared` (fio's default): every copy may run on every CPU of the set.
    Shared,
    /// `split`: copy k runs on the k-th CPU of the set (mod its length).
    Split,
}

/// Where a job without `cpus_allowed` runs (`boreal_placement`, boreal-specific).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorealPlacement {
    /// `unpinned` (the default, as fio): wherever the scheduler puts it.
    Unpinned,
    /// `quiet`: each copy pinned to one CPU, round-robin over the CPUs allowed, those
    /// that take none of the device's interrupts first.
    Quiet,
}

/// The I/O engine (`ioengine=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineName {
    /// `psync`: pread(2)/pwrite(2), synchronous; the baseline.
    Psync,
    /// `io_uring`: boreal's per-core io_uring runtime.
    IoUring,
    /// `boreal-journal`: durable appends of redo records to a core of boreal's storage
    /// engine (journal, hot log, coalescer, page store). boreal-specific.
    BorealJournal,
}

impl EngineName {
    /// fio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineName::Psync => "psync",
            EngineName::IoUring => "io_uring",
            EngineName::BorealJournal => "boreal-journal",
        }
    }
}

/// One job's settings. Every field says its fio default.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOptions {
    /// `name`: the job's name (the section name). Used in reports and default file names.
    pub name: String,
    /// `filename`: the file to do I/O on. Default: `name.jobnum.0` in `directory`.
    pub filename: Option<String>,
    /// `directory`: where default file names are created. Default: the current directory.
    pub directory: Option<PathBuf>,
    /// `rw`: I/O pattern. Default: `read`.
    pub rw: Rw,
    /// `rwmixread` (or `100 - rwmixwrite`): percent of reads in a mixed job. Default 50.
    pub rwmixread: u8,
    /// `bs`: block size, bytes. Default 4096.
    pub bs: u64,
    /// `size`: bytes of the file region used. Default: the existing file's size.
    pub size: Option<u64>,
    /// `io_size`: bytes of I/O to do. Default: `size`.
    pub io_size: Option<u64>,
    /// `offset`: start of the region, bytes. Default 0.
    pub offset: u64,
    /// `iodepth`: I/Os kept in flight (async engines; `psync` always runs at 1). Default 1.
    pub iodepth: u32,
    /// `iodepth_batch_submit` (alias `iodepth_batch`): I/Os queued before they are
    /// submitted together; 0 means `iodepth`. Default 1, as fio: each I/O is submitted
    /// as soon as it is queued.
    pub iodepth_batch_submit: u32,
    /// `numjobs`: copies of this job, each on its own thread and core. Default 1.
    pub numjobs: u32,
    /// `runtime`: time limit. Default: none (run until `io_size` is done).
    pub runtime: Option<Duration>,
    /// `time_based`: run for `runtime` even if `io_size` is done, looping over the region.
    pub time_based: bool,
    /// `ramp_time`: run this long before measuring; those results are discarded. Default 0.
    pub ramp_time: Duration,
    /// `direct`: open with O_DIRECT. Default 0.
    pub direct: bool,
    /// `ioengine`: default `psync`.
    pub ioengine: EngineName,
    /// `fsync`: fsync after every N writes. Default 0 (never).
    pub fsync: u32,
    /// `fdatasync`: fdatasync after every N writes. Default 0 (never).
    pub fdatasync: u32,
    /// `end_fsync`: fsync once when the job's writes are done. Default 0.
    pub end_fsync: bool,
    /// `rate_iops`: open-loop I/O rate of the job, I/Os per second. Default: unlimited.
    pub rate_iops: Option<u64>,
    /// `randseed`: seed of offsets and read/write mix. Default 0x89 (fio's `randrepeat`).
    pub randseed: u64,
    /// `percentile_list`: percentiles reported. Default: fio's 17 percentiles.
    pub percentile_list: Vec<f64>,
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
    /// `clocksource`: `cpu` or `clock_gettime` (fio's `gettimeofday` is refused: it
    /// has microseconds only). Default: as fio, `cpu` where it is reliable (the kernel
    /// keeps time with the TSC), else `clock_gettime`. Every I/O is stamped when queued
    /// and once per reap; fio, with its default `cpu`, reads the clock as often.
    pub clocksource: Option<ClockSource>,
    /// `record_size` (boreal-specific, `boreal-journal` only): change payload bytes of
    /// each redo record; an I/O carries `bs / record_size` records. 1..=8160 (one 8 KiB
    /// page's payload), must divide `bs`. Default: `bs` (one record per I/O).
    pub record_size: Option<u64>,
    /// `boreal_durability` (boreal-specific, `boreal-journal` only): how the journal makes
    /// a batch durable: `dsync` (one `RWF_DSYNC` write), `fdatasync` (write, then
    /// fdatasync), `linked` (write linked to fdatasync). Default: the journal's default.
    pub boreal_durability: Option<DurabilityMode>,
    /// `boreal_pgs` (boreal-specific, `boreal-journal` only): protection groups the
    /// appends go to, round-robin per I/O, each with its own LSN chain and 1024 pages.
    /// 1..=64. Default 1.
    pub boreal_pgs: u32,
    /// `boreal_pipeline_depth` (boreal-specific, `boreal-journal` only): batch writes the
    /// journal keeps in flight, 1 to 3. Default: the journal's default (3).
    pub boreal_pipeline_depth: Option<usize>,
    /// `boreal_park_spin` (boreal-specific, `io_uring` and `boreal-journal`): how long
    /// the job's runtime polls for completions before it sleeps in the kernel, while
    /// I/O is in flight (`RuntimeConfig::park_spin`); 0 never polls, as fio does not.
    /// At most 10 ms. Default: the runtime's (50 µs).
    pub boreal_park_spin: Option<Duration>,
    /// The options as written (`key`, `value`), for the JSON's `job options` echo.
    pub echo: Vec<(String, String)>,
}

impl JobOptions {
    /// A job with fio's defaults.
    pub fn new(name: &str) -> JobOptions {
        JobOptions {
            name: name.to_string(),
            filename: None,
            directory: None,
            rw: Rw::Read,
            rwmixread: 50,
            bs: 4096,
            size: None,
            io_size: None,
            offset: 0,
            iodepth: 1,
            iodepth_batch_submit: 1,
            numjobs: 1,
            runtime: None,
            time_based: false,
            ramp_time: Duration::ZERO,
            direct: false,
            ioengine: EngineName::Psync,
            fsync: 0,
            fdatasync: 0,
            end_fsync: false,
            rate_iops: None,
            randseed: RANDSEED_DEFAULT,
            percentile_list: DEFAULT_PERCENTILES.to_vec(),
            group_reporting: false,
            cpus_allowed: None,
            cpus_allowed_policy: CpusAllowedPolicy::Shared,
            boreal_placement: BorealPlacement::Unpinned,
            stonewall: false,
            clocksource: None,
            record_size: None,
            boreal_durability: None,
            boreal_pgs: 1,
            boreal_pipeline_depth: None,
            boreal_park_spin: None,
            echo: Vec::new(),
        }
    }

    /// Sets one option from its text. Unknown options and bad values are refused.
    pub fn apply(&mut self, option: &RawOption) -> Result<(), BenchError> {
        let value = Value { option };
        if option.value.as_deref().is_some_and(|v| v.contains("${")) {
            return value.bad("environment variables (${VAR}) are not expanded by boreal-bench");
        }
        match option.key.as_str() {
            "name" => self.name = value.text()?.to_string(),
            "description" => {
                value.text()?;
            }
            "filename" => self.filename = Some(value.text()?.to_string()),
            "directory" => self.directory = Some(PathBuf::from(value.text()?)),
            "rw" | "readwrite" => self.rw = value.rw()?,
            "rwmixread" => self.rwmixread = value.int_in(0, 100)? as u8,
            "rwmixwrite" => self.rwmixread = 100 - value.int_in(0, 100)? as u8,
            "bs" | "blocksize" => self.bs = value.size_in(1, BS_MAX_BYTES)?,
            "size" => self.size = Some(value.size_in(1, u64::MAX)?),
            "io_size" | "io_limit" => self.io_size = Some(value.size_in(1, u64::MAX)?),
            "offset" => self.offset = value.size_in(0, u64::MAX)?,
            "iodepth" => self.iodepth = value.int_in(1, IODEPTH_MAX as u64)? as u32,
            "iodepth_batch_submit" | "iodepth_batch" => {
                self.iodepth_batch_submit = value.int_in(0, IODEPTH_MAX as u64)? as u32;
            }
            "numjobs" => self.numjobs = value.int_in(1, NUMJOBS_MAX as u64)? as u32,
            "runtime" => {
                let runtime = value.time()?;
                // fio: runtime=0 means no limit.
                self.runtime = (!runtime.is_zero()).then_some(runtime);
            }
            "time_based" => self.time_based = value.boolean()?,
            "ramp_time" => self.ramp_time = value.time()?,
            "direct" => self.direct = value.boolean()?,
            "ioengine" => self.ioengine = value.engine()?,
            "clocksource" => self.clocksource = Some(value.clocksource()?),
            "fsync" => self.fsync = value.int_in(0, u32::MAX as u64)? as u32,
            "fdatasync" => self.fdatasync = value.int_in(0, u32::MAX as u64)? as u32,
            "end_fsync" => self.end_fsync = value.boolean()?,
            "rate_iops" => {
                let rate = value.int_in(0, 100_000_000)?;
                // fio: 0 means no limit.
                self.rate_iops = (rate > 0).then_some(rate);
            }
            "randseed" => self.randseed = value.int_in(0, u64::MAX)?,
            "percentile_list" => self.percentile_list = value.percentiles()?,
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
            "record_size" => {
                self.record_size = Some(value.size_in(1, PAGE_SIZE.payload_len() as u64)?);
            }
            "boreal_durability" => self.boreal_durability = Some(value.durability()?),
            "boreal_pgs" => self.boreal_pgs = value.int_in(1, u64::from(PGS_MAX))? as u32,
            "boreal_pipeline_depth" => {
                self.boreal_pipeline_depth =
                    Some(value.int_in(1, PIPELINE_DEPTH_MAX as u64)? as usize);
            }
            "boreal_park_spin" => {
                let spin = value.time()?;
                if spin > PARK_SPIN_MAX {
                    return value.bad(format!("at most {}us", PARK_SPIN_MAX.as_micros()));
                }
                self.boreal_park_spin = Some(spin);
            }
            other => {
                let hint = match crate::cli::closest(other, SUPPORTED_OPTIONS.iter().copied()) {
                    Some(near) => format!("; did you mean `{near}`?"),
                    None => " (boreal-bench --help lists the options it takes)".to_string(),
                };
                return Err(BenchError::UnsupportedOption {
                    option: other.to_string(),
                    origin: option.origin.clone(),
                    hint,
                });
            }
        }
        let shown = option.value.clone().unwrap_or_else(|| "1".to_string());
        self.echo.retain(|(key, _)| key != &option.key);
        self.echo.push((option.key.clone(), shown));
        Ok(())
    }

    /// Checks that the options make a runnable job. Errors say what to change.
    pub fn validate(&self) -> Result<(), BenchError> {
        let fail = |message: String| {
            Err(BenchError::Job {
                job: self.name.clone(),
                message,
            })
        };
        if self.time_based && self.runtime.is_none() {
            return fail("`time_based` needs a `runtime` to know when to stop".to_string());
        }
        if self.direct && !self.bs.is_multiple_of(512) {
            return fail(format!(
                "`direct=1` needs `bs` to be a multiple of 512 bytes (the logical block); bs is {}",
                self.bs
            ));
        }
        if self.direct && !self.offset.is_multiple_of(512) {
            return fail(format!(
                "`direct=1` needs `offset` to be a multiple of 512 bytes; offset is {}",
                self.offset
            ));
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
        if self.boreal_park_spin.is_some() && self.ioengine == EngineName::Psync {
            return fail(
                "`boreal_park_spin` applies only to ioengine=io_uring and ioengine=boreal-journal (this job uses psync)"
                    .to_string(),
            );
        }
        if self.ioengine == EngineName::BorealJournal {
            return self.validate_journal();
        }
        if self.record_size.is_some()
            || self.boreal_durability.is_some()
            || self.boreal_pgs != 1
            || self.boreal_pipeline_depth.is_some()
        {
            return fail(format!(
                "`record_size`, `boreal_durability`, `boreal_pgs` and `boreal_pipeline_depth` apply only to ioengine=boreal-journal (this job uses {})",
                self.ioengine.as_str()
            ));
        }
        Ok(())
    }

    /// The `record_size` of a `boreal-journal` job: as given, else `bs`.
    pub fn record_size_or_bs(&self) -> u64 {
        self.record_size.unwrap_or(self.bs)
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
        if self.fsync > 0 || self.fdatasync > 0 || self.end_fsync {
            return fail(
                "fsync, fdatasync and end_fsync do not apply to ioengine=boreal-journal: every append is durable when acknowledged (choose how with boreal_durability)"
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

/// An option's value with its context, for parsing with good errors.
struct Value<'a> {
    option: &'a RawOption,
}

impl Value<'_> {
    fn bad<T>(&self, reason: impl Into<String>) -> Result<T, BenchError> {
        Err(BenchError::BadValue {
            option: self.option.key.clone(),
            value: self.option.value.clone().unwrap_or_default(),
            origin: self.option.origin.clone(),
            reason: reason.into(),
        })
    }

    /// The value text; a bare flag is an error for options that need a value.
    fn text(&self) -> Result<&str, BenchError> {
        match self.option.value.as_deref() {
            Some(text) if !text.is_empty() => Ok(text),
            _ => self.bad("this option needs a value: key=value"),
        }
    }

    fn boolean(&self) -> Result<bool, BenchError> {
        match self.option.value.as_deref() {
            None => Ok(true),
            Some("1") | Some("true") => Ok(true),
            Some("0") | Some("false") => Ok(false),
            Some(_) => self.bad("allowed values are 0 or 1 (or the bare option name for 1)"),
        }
    }

    fn int_in(&self, min: u64, max: u64) -> Result<u64, BenchError> {
        let text = self.text()?;
        let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse::<u64>().ok(),
        };
        match parsed {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(_) => self.bad(format!("allowed range is {min}..={max}")),
            None => self.bad(format!("expected a whole number in {min}..={max}")),
        }
    }

    fn size_in(&self, min: u64, max: u64) -> Result<u64, BenchError> {
        let text = self.text()?;
        if text.contains(',') || text.contains(':') {
            return self.bad(
                "per-direction values (`read,write`) and ranges are not supported; give one size",
            );
        }
        if text.ends_with('%') {
            return self.bad("percentages are not supported; give a size in bytes, e.g. 4k or 1g");
        }
        match parse_size(text) {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(_) => self.bad(format!("allowed range is {min}..={max} bytes")),
            None => self.bad("expected a size such as 4096, 4k, 128k, 1m, 10g"),
        }
    }

    fn time(&self) -> Result<Duration, BenchError> {
        match parse_time(self.text()?) {
            Some(d) => Ok(d),
            None => self.bad("expected a time such as 30, 30s, 500ms, 100us, 5m, 1h, 1d"),
        }
    }

    fn rw(&self) -> Result<Rw, BenchError> {
        match self.text()? {
            "read" => Ok(Rw::Read),
            "write" => Ok(Rw::Write),
            "randread" => Ok(Rw::RandRead),
            "randwrite" => Ok(Rw::RandWrite),
            "rw" | "readwrite" => Ok(Rw::ReadWrite),
            "randrw" => Ok(Rw::RandRw),
            other if other.contains(':') => self.bad(
                "offset modifiers (`rw=randread:8`) are not supported; allowed values are read, write, randread, randwrite, rw, readwrite, randrw",
            ),
            _ => self.bad("allowed values are read, write, randread, randwrite, rw, readwrite, randrw"),
        }
    }

    fn engine(&self) -> Result<EngineName, BenchError> {
        match self.text()? {
            "psync" => Ok(EngineName::Psync),
            "io_uring" => Ok(EngineName::IoUring),
            "boreal-journal" => Ok(EngineName::BorealJournal),
            _ => self.bad("allowed engines are psync, io_uring and boreal-journal"),
        }
    }

    fn clocksource(&self) -> Result<ClockSource, BenchError> {
        match self.text()? {
            "cpu" => Ok(ClockSource::Cpu),
            "clock_gettime" => Ok(ClockSource::ClockGettime),
            "gettimeofday" => self.bad(
                "gettimeofday has microseconds only; allowed values are cpu and clock_gettime",
            ),
            _ => self.bad("allowed values are cpu and clock_gettime"),
        }
    }

    fn durability(&self) -> Result<DurabilityMode, BenchError> {
        let modes = [
            DurabilityMode::DsyncWrite,
            DurabilityMode::WriteThenFdatasync,
            DurabilityMode::Linked,
        ];
        let text = self.text()?;
        match modes.into_iter().find(|m| durability_name(*m) == text) {
            Some(mode) => Ok(mode),
            None => self.bad("allowed values are dsync, fdatasync, linked"),
        }
    }

    fn percentiles(&self) -> Result<Vec<f64>, BenchError> {
        let text = self.text()?;
        let mut list = Vec::new();
        for part in text.split(':') {
            match part.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => list.push(p),
                Ok(_) => return self.bad(format!("percentile `{part}` is outside (0, 100]")),
                Err(_) => {
                    return self.bad(format!(
                        "`{part}` is not a number; write percentiles as 50:99:99.9"
                    ));
                }
            }
        }
        if list.len() > PERCENTILES_MAX {
            return self.bad(format!(
                "at most {PERCENTILES_MAX} percentiles are allowed, got {}",
                list.len()
            ));
        }
        Ok(list)
    }

    fn cpu_list(&self) -> Result<Vec<usize>, BenchError> {
        let text = self.text()?;
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let range = match part.split_once('-') {
                Some((lo, hi)) => lo.parse::<usize>().ok().zip(hi.parse::<usize>().ok()),
                None => part.parse::<usize>().ok().map(|cpu| (cpu, cpu)),
            };
            match range {
                Some((lo, hi)) if lo <= hi && hi < 1024 => cpus.extend(lo..=hi),
                _ => {
                    return self.bad(format!(
                        "`{part}` is not a CPU or range; write CPUs as 0,2,4-7 (CPUs 0..=1023)"
                    ));
                }
            }
        }
        cpus.dedup();
        Ok(cpus)
    }
}

/// Parses a size with fio's suffixes (see the module doc). `None` if malformed or overflowing.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, suffix, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
    {
        Some(hex) => (hex, "", 16),
        None => {
            let split = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            (&text[..split], &text[split..], 10)
        }
    };
    let number = u64::from_str_radix(digits, radix).ok()?;
    let lower = suffix.to_ascii_lowercase();
    let multiplier: u64 = match lower.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        "p" | "pb" => 1 << 50,
        // fio's kb_base=1024 compatibility mode reads IEC prefixes as powers of 10.
        "ki" | "kib" => 1_000,
        "mi" | "mib" => 1_000_000,
        "gi" | "gib" => 1_000_000_000,
        "ti" | "tib" => 1_000_000_000_000,
        "pi" | "pib" => 1_000_000_000_000_000,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// Parses a time with fio's suffixes; a bare number is seconds.
pub fn parse_time(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..split].parse().ok()?;
    let micros_per_unit: u64 = match text[split..].to_ascii_lowercase().as_str() {
        "" | "s" | "sec" => 1_000_000,
        "us" | "usec" => 1,
        "ms" | "msec" => 1_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    };
    Some(Duration::from_micros(number.checked_mul(micros_per_unit)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_fio_kb_base_1024() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("4K"), Some(4096));
        assert_eq!(parse_size("4KB"), Some(4096));
        assert_eq!(parse_size("128k"), Some(131072));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("10g"), Some(10 << 30));
        assert_eq!(parse_size("2t"), Some(2 << 40));
        assert_eq!(parse_size("4KiB"), Some(4000));
        assert_eq!(parse_size("0x1000"), Some(4096));
        assert_eq!(parse_size("4x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999p"), None);
    }

    #[test]
    fn times_default_to_seconds() {
        assert_eq!(parse_time("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_time("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_time("100us"), Some(Duration::from_micros(100)));
        assert_eq!(parse_time("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_time("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_time("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_time("1.5s"), None);
        assert_eq!(parse_time("s"), None);
    }
}
