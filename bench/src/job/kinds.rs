//! The enumerated and structured values of job options, with fio's spellings.
//!
//! Each type here is one option's value after parsing (or a part of one): no I/O, no
//! defaults beyond what a variant itself means. Parsing the text lives in
//! [`super::value`]; what a combination of them means for a run, in
//! [`super::validate`].

/// The I/O pattern (`rw=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rw {
    /// `read`: sequential reads.
    Read,
    /// `write`: sequential writes.
    Write,
    /// `trim`: sequential trims.
    Trim,
    /// `randread`: random reads.
    RandRead,
    /// `randwrite`: random writes.
    RandWrite,
    /// `randtrim`: random trims.
    RandTrim,
    /// `rw` / `readwrite`: sequential mixed reads and writes.
    ReadWrite,
    /// `randrw`: random mixed reads and writes.
    RandRw,
    /// `trimwrite`: each block trimmed, then written, sequentially.
    TrimWrite,
    /// `randtrimwrite`: each block trimmed, then written, at random offsets.
    RandTrimWrite,
}

impl Rw {
    /// Every pattern with its fio spellings (the first is the canonical one).
    pub const ALL: [(Rw, &'static [&'static str]); 10] = [
        (Rw::Read, &["read"]),
        (Rw::Write, &["write"]),
        (Rw::Trim, &["trim"]),
        (Rw::RandRead, &["randread"]),
        (Rw::RandWrite, &["randwrite"]),
        (Rw::RandTrim, &["randtrim"]),
        (Rw::ReadWrite, &["rw", "readwrite"]),
        (Rw::RandRw, &["randrw"]),
        (Rw::TrimWrite, &["trimwrite"]),
        (Rw::RandTrimWrite, &["randtrimwrite"]),
    ];

    /// fio's spelling.
    pub fn as_str(self) -> &'static str {
        Rw::ALL
            .iter()
            .find(|(rw, _)| *rw == self)
            .map_or("read", |(_, names)| names[0])
    }

    /// The pattern named `text`, if it is one.
    pub fn from_name(text: &str) -> Option<Rw> {
        Rw::ALL
            .iter()
            .find(|(_, names)| names.contains(&text))
            .map(|(rw, _)| *rw)
    }

    /// True when offsets are random.
    pub fn is_random(self) -> bool {
        matches!(
            self,
            Rw::RandRead | Rw::RandWrite | Rw::RandRw | Rw::RandTrim | Rw::RandTrimWrite
        )
    }

    /// True when the job reads at all.
    pub fn reads(self) -> bool {
        matches!(self, Rw::Read | Rw::RandRead | Rw::ReadWrite | Rw::RandRw)
    }

    /// True when the job writes at all.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Rw::Write
                | Rw::RandWrite
                | Rw::ReadWrite
                | Rw::RandRw
                | Rw::TrimWrite
                | Rw::RandTrimWrite
        )
    }

    /// True when the job trims at all.
    pub fn trims(self) -> bool {
        matches!(
            self,
            Rw::Trim | Rw::RandTrim | Rw::TrimWrite | Rw::RandTrimWrite
        )
    }
}

/// How an offset modifier (`rw=randread:8`) is used for random patterns
/// (`rw_sequencer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RwSequencer {
    /// `sequential` (fio's default): the I/Os after a random one follow it.
    Sequential,
    /// `identical`: the same offset repeats.
    Identical,
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
    /// `io_uring`: boreal's per-core io_uring runtime (also what `libaio` runs on).
    IoUring,
    /// `null`: no I/O at all; every I/O completes at once (measures the harness).
    Null,
    /// `boreal-journal`: durable appends of redo records to a core of boreal's storage
    /// engine (journal, hot log, coalescer, page store). boreal-specific.
    BorealJournal,
    /// `boreal-cluster`: mini-transactions committed through boreal's quorum shim on
    /// six storage nodes, and GetPage@LSN reads. boreal-specific.
    BorealCluster,
    /// `tokio-uring`: the tokio-uring crate's runtime (cargo feature `tokio-uring`).
    TokioUring,
    /// `glommio`: the glommio crate's runtime (cargo feature `glommio`).
    Glommio,
}

impl EngineName {
    /// fio's (or boreal's) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineName::Psync => "psync",
            EngineName::IoUring => "io_uring",
            EngineName::Null => "null",
            EngineName::BorealJournal => "boreal-journal",
            EngineName::BorealCluster => "boreal-cluster",
            EngineName::TokioUring => "tokio-uring",
            EngineName::Glommio => "glommio",
        }
    }

    /// True when the engine does each I/O inside `queue` (depth 1 whatever iodepth).
    pub fn is_synchronous(self) -> bool {
        self == EngineName::Psync
    }

    /// True when the engine reads and writes a file of the job (null does no I/O; the
    /// journal and cluster engines' path is a data directory).
    pub fn uses_files(self) -> bool {
        !matches!(
            self,
            EngineName::Null | EngineName::BorealJournal | EngineName::BorealCluster
        )
    }

    /// True when each of the job's `iodepth` I/Os stands for an independent writer
    /// or client of boreal (`boreal-journal`'s appenders, `boreal-cluster`'s
    /// transactions), so a completion is timed when the engine delivers it: the
    /// default `iodepth_batch_complete_max` is then `iodepth`, not fio's 1.
    pub fn ios_are_clients(self) -> bool {
        matches!(self, EngineName::BorealJournal | EngineName::BorealCluster)
    }

    /// True when the job's path is a data directory the engine owns (one job copy at a
    /// time): `boreal-journal` and `boreal-cluster`.
    pub fn owns_data_dir(self) -> bool {
        matches!(self, EngineName::BorealJournal | EngineName::BorealCluster)
    }
}

/// One direction's block sizes: `bs`, `bsrange` or `bssplit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSize {
    /// Every I/O is this many bytes.
    Fixed(u64),
    /// `bsrange=lo-hi`: each I/O picks a size in `lo..=hi`, a multiple of `lo` (fio's
    /// default without `bs_unaligned`).
    Range {
        /// Smallest size, bytes.
        min: u64,
        /// Largest size, bytes.
        max: u64,
    },
    /// `bssplit=4k/10:64k/90`: each I/O picks a size with the given weights (percent;
    /// an entry written without one shares what the others leave).
    Split(Vec<(u64, u32)>),
}

impl BlockSize {
    /// The smallest size an I/O can have.
    pub fn min(&self) -> u64 {
        match self {
            BlockSize::Fixed(bs) => *bs,
            BlockSize::Range { min, .. } => *min,
            BlockSize::Split(parts) => parts.iter().map(|p| p.0).min().unwrap_or(0),
        }
    }

    /// The largest size an I/O can have.
    pub fn max(&self) -> u64 {
        match self {
            BlockSize::Fixed(bs) => *bs,
            BlockSize::Range { max, .. } => *max,
            BlockSize::Split(parts) => parts.iter().map(|p| p.0).max().unwrap_or(0),
        }
    }

    /// Every size it can produce (the ends of a range).
    pub fn sizes(&self) -> Vec<u64> {
        match self {
            BlockSize::Fixed(bs) => vec![*bs],
            BlockSize::Range { min, max } => vec![*min, *max],
            BlockSize::Split(parts) => parts.iter().map(|p| p.0).collect(),
        }
    }

    /// A size for one I/O, from a uniform value `r` in `0..1<<32`.
    pub fn pick(&self, r: u64) -> u64 {
        match self {
            BlockSize::Fixed(bs) => *bs,
            BlockSize::Range { min, max } => {
                let steps = max / min;
                min * (1 + ((r * steps) >> 32))
            }
            BlockSize::Split(parts) => {
                let point = ((r * 100) >> 32) as u32;
                let mut sum = 0;
                for (bs, weight) in parts {
                    sum += weight;
                    if point < sum {
                        return *bs;
                    }
                }
                parts.last().map_or(0, |p| p.0)
            }
        }
    }
}

/// `random_distribution`: how random offsets are spread over the region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// `random`: uniform (fio's default).
    Uniform,
    /// `zipf:theta[:center]`.
    Zipf { theta: f64, center: Option<f64> },
    /// `pareto:h[:center]`.
    Pareto { h: f64, center: Option<f64> },
    /// `normal:dev[:center]` (alias `gauss`): deviation in percent of the region.
    Normal {
        dev_percent: f64,
        center: Option<f64>,
    },
}

/// `random_generator`: the generator behind random offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomGenerator {
    /// `tausworthe` (fio's default).
    Tausworthe,
    /// `lfsr`: a full-period sequence, no random map needed.
    Lfsr,
    /// `tausworthe64`.
    Tausworthe64,
}

impl RandomGenerator {
    /// fio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RandomGenerator::Tausworthe => "tausworthe",
            RandomGenerator::Lfsr => "lfsr",
            RandomGenerator::Tausworthe64 => "tausworthe64",
        }
    }
}

/// `file_service_type`: which file of a multi-file job the next I/O goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileService {
    /// `roundrobin[:n]` (fio's default, n = 1): each file in turn, n I/Os each.
    RoundRobin(u32),
    /// `sequential[:n]`: one file until its region is done, then the next.
    Sequential(u32),
    /// `random[:n]`: a random file, n I/Os at a time.
    Random(u32),
}

/// `fadvise_hint`: what the kernel is told of how the job's files will be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FadviseHint {
    /// `0`: nothing.
    Off,
    /// `1` (fio's default): the job's pattern, `POSIX_FADV_RANDOM` for a random job
    /// (no readahead), `POSIX_FADV_SEQUENTIAL` otherwise.
    Workload,
    /// `sequential`: `POSIX_FADV_SEQUENTIAL` whatever the pattern.
    Sequential,
    /// `random`: `POSIX_FADV_RANDOM` whatever the pattern.
    Random,
}

/// `rate_process`: how a rate-limited job spaces its I/Os.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateProcess {
    /// `linear` (fio's default): evenly.
    Linear,
    /// `poisson`: exponentially distributed gaps with the same mean.
    Poisson,
}

/// `verify`: how written blocks are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyKind {
    /// `crc32c` (and fio's `crc32c-intel`): a header with the CRC-32C of the block.
    Crc32c,
    /// `md5`: a header with the MD5 of the block.
    Md5,
    /// `pattern`: the block is `verify_pattern` repeated; no header.
    Pattern,
}

impl VerifyKind {
    /// fio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyKind::Crc32c => "crc32c",
            VerifyKind::Md5 => "md5",
            VerifyKind::Pattern => "pattern",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rw_names_round_trip() {
        for (rw, names) in Rw::ALL {
            for name in names {
                assert_eq!(Rw::from_name(name), Some(rw));
            }
            assert_eq!(Rw::from_name(rw.as_str()), Some(rw));
        }
        assert_eq!(Rw::from_name("readwrite"), Some(Rw::ReadWrite));
        assert!(Rw::TrimWrite.writes() && Rw::TrimWrite.trims() && !Rw::TrimWrite.reads());
    }

    #[test]
    fn block_sizes_pick_within_their_spec() {
        let range = BlockSize::Range {
            min: 4096,
            max: 16384,
        };
        let picks: Vec<u64> = [0, 1 << 30, 2 << 30, 3 << 30, (1 << 32) - 1]
            .iter()
            .map(|&r| range.pick(r))
            .collect();
        assert_eq!(picks, [4096, 8192, 12288, 16384, 16384]);
        let split = BlockSize::Split(vec![(4096, 10), (65536, 90)]);
        assert_eq!(split.pick(0), 4096);
        assert_eq!(split.pick((1u64 << 32) / 100 * 11), 65536);
        assert_eq!((split.min(), split.max()), (4096, 65536));
    }
}
