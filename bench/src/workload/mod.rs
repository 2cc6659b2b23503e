//! What each I/O of a job is: its direction, file, offset and length.
//!
//! A [`Workload`] turns `rw` (with its offset modifier), `rwmixread`, the block sizes
//! (`bs`, `bsrange`, `bssplit`), the files (`nrfiles`, `file_service_type`), `offset`,
//! `norandommap` and `random_distribution` into a stream of [`NextIo`]s, as fio's
//! io_u.c does:
//! - Sequential patterns start each file at its region's start and go on from the end
//!   of the last I/O, plus the modifier of `rw=read:4k` (skip) or `rw=read:-8k`
//!   (backwards); past an end they wrap (forwards to the start, backwards to
//!   `end + modifier`), as fio does for time-based and looping jobs.
//! - Random patterns pick offsets in blocks of the smallest block size. By default
//!   each pass over a file touches every block once, in a seeded pseudo-random order
//!   ([`permute`]: fio's random map without the map); `norandommap` draws blocks
//!   uniformly, so some repeat; `random_distribution=zipf|pareto|normal` skews them
//!   ([`distribution`]; as in fio this turns the random map off). `rw=randread:8`
//!   takes a new random offset every 8 I/Os, the ones between following on
//!   (`rw_sequencer=sequential`) or repeating it (`identical`).
//! - `trimwrite` trims a block, then writes the same block.
//!
//! The generator is a seeded splitmix64, so a `randseed` replays exactly (fio's
//! sequences differ: another generator, the same distributions). The workload also
//! counts the distinct blocks its I/Os touched, for the JSON, in a bitmap of at most
//! [`TOUCHED_BLOCKS_MAX`] bits (larger regions are not counted).

pub mod distribution;
pub mod permute;

use boreal_engine::buf::DmaBuf;

use crate::job::JobOptions;
use crate::job::kinds::{BlockSize, FileService, Rw, RwSequencer};
use distribution::Skewed;
use permute::Permutation;

/// Largest number of blocks whose touches are counted (an 8 MiB bitmap).
pub const TOUCHED_BLOCKS_MAX: u64 = 1 << 26;

/// A buffer of `len` bytes (`len() == len`, `len > 0`) filled with a deterministic
/// pseudo-random pattern: fio also writes random data by default, so compressing or
/// deduplicating devices are not flattered.
pub fn patterned_buf(len: usize, seed: u64) -> DmaBuf {
    let mut buf = DmaBuf::zeroed(len);
    buf.set_len(len);
    let mut rng = Rng::new(seed);
    for chunk in buf.as_mut_slice().chunks_mut(8) {
        let word = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    buf
}

/// Direction of a data I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// A read.
    Read,
    /// A write.
    Write,
    /// A trim (discard).
    Trim,
}

impl Dir {
    /// Every direction, in index order.
    pub const ALL: [Dir; 3] = [Dir::Read, Dir::Write, Dir::Trim];

    /// 0 reads, 1 writes, 2 trims (fio's DDIR numbering), for per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Dir::Read => 0,
            Dir::Write => 1,
            Dir::Trim => 2,
        }
    }

    /// fio's name.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Read => "read",
            Dir::Write => "write",
            Dir::Trim => "trim",
        }
    }
}

/// splitmix64: small, fast, good enough for offsets, and reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..n` (`n > 0`), by Lemire's multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A uniform value in `(0, 1]`.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// One I/O to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextIo {
    /// Its direction.
    pub dir: Dir,
    /// Index of its file among the job's files.
    pub file: usize,
    /// Byte offset in the file.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
}

/// Where one file's stream stands.
#[derive(Debug, Clone)]
struct FileState {
    /// Bytes of the file's region.
    len: u64,
    /// Blocks of the smallest block size in the region.
    blocks: u64,
    /// End of the last I/O, from the region's start.
    next_pos: Option<u64>,
    /// Start of the last I/O, from the region's start.
    last_pos: u64,
    /// I/Os left before a random pattern with a modifier takes a new offset.
    same_left: u64,
    /// Pass over the region (keys the random map) and the place in it.
    pass: u64,
    pass_index: u64,
    perm: Option<Permutation>,
    skew: Option<Skewed>,
    /// Bytes issued since the file was chosen (`file_service_type=sequential`).
    bytes_this_turn: u64,
    /// Blocks touched, when counted.
    touched: Option<Vec<u64>>,
}

/// The I/O stream of one job copy.
#[derive(Debug, Clone)]
pub struct Workload {
    rw: Rw,
    rwmixread: u8,
    block_sizes: [BlockSize; 3],
    min_bs: u64,
    region_start: u64,
    modifier: Option<i64>,
    sequencer: RwSequencer,
    random_map: bool,
    service: FileService,
    files: Vec<FileState>,
    current: usize,
    ios_on_current: u32,
    rng: Rng,
    seed: u64,
    after_trim: Option<NextIo>,
    issued: u64,
}

impl Workload {
    /// The workload of copy `copy` of `job` over files whose regions (from
    /// `job.offset`) are `file_lens` bytes. Copies get different seeds, so numjobs
    /// copies do not hit the same blocks in step.
    pub fn new(job: &JobOptions, copy: u32, file_lens: &[u64]) -> Workload {
        assert!(!file_lens.is_empty());
        let min_bs = job.min_bs().max(1);
        let seed = job
            .randseed
            .wrapping_add((copy as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut rng = Rng::new(seed);
        let skewed = !matches!(job.distribution, crate::job::kinds::Distribution::Uniform);
        let random_map = job.rw.is_random() && !job.norandommap && !skewed;
        let total_blocks: u64 = file_lens.iter().map(|l| l / min_bs).sum();
        let count = total_blocks <= TOUCHED_BLOCKS_MAX;
        let files = file_lens
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let blocks = (len / min_bs).max(1);
                FileState {
                    len,
                    blocks,
                    next_pos: None,
                    last_pos: 0,
                    same_left: 0,
                    pass: 0,
                    pass_index: 0,
                    perm: random_map.then(|| Permutation::new(blocks, seed ^ (i as u64) << 32)),
                    skew: Skewed::new(job.distribution, blocks, &mut rng),
                    bytes_this_turn: 0,
                    touched: count.then(|| vec![0u64; blocks.div_ceil(64) as usize]),
                }
            })
            .collect();
        Workload {
            rw: job.rw,
            rwmixread: job.rwmixread,
            block_sizes: job.block_sizes.clone(),
            min_bs,
            region_start: job.offset,
            modifier: job.rw_modifier,
            sequencer: job.rw_sequencer,
            random_map,
            service: job.file_service,
            files,
            current: 0,
            ios_on_current: 0,
            rng,
            seed,
            after_trim: None,
            issued: 0,
        }
    }

    /// The next I/O.
    pub fn next_io(&mut self) -> NextIo {
        self.next_io_with(|dir| dir)
    }

    /// The next I/O, letting `steer` change the direction a mixed pattern drew (fio's
    /// `rate_ddir`: a direction ahead of its rate gives way to the other).
    pub fn next_io_with(&mut self, steer: impl Fn(Dir) -> Dir) -> NextIo {
        if let Some(write) = self.after_trim.take() {
            return write;
        }
        let dir = match self.rw {
            Rw::Read | Rw::RandRead => Dir::Read,
            Rw::Write | Rw::RandWrite => Dir::Write,
            Rw::Trim | Rw::RandTrim | Rw::TrimWrite | Rw::RandTrimWrite => Dir::Trim,
            Rw::ReadWrite | Rw::RandRw => steer(if self.rng.below(100) < self.rwmixread as u64 {
                Dir::Read
            } else {
                Dir::Write
            }),
        };
        let len = self.block_sizes[dir.index()].pick(self.rng.next_u64() >> 32);
        let file = self.choose_file();
        let pos = if self.rw.is_random() {
            self.random_pos(file, len)
        } else {
            self.sequential_pos(file, len)
        };
        let state = &mut self.files[file];
        state.last_pos = pos;
        state.next_pos = Some(pos + len);
        state.bytes_this_turn += len;
        if let Some(bits) = state.touched.as_mut() {
            let first = pos / self.min_bs;
            let last = ((pos + len).div_ceil(self.min_bs)).min(state.blocks);
            for b in first..last {
                bits[(b / 64) as usize] |= 1 << (b % 64);
            }
        }
        self.issued += 1;
        let io = NextIo {
            dir,
            file,
            offset: self.region_start + pos,
            len,
        };
        if matches!(self.rw, Rw::TrimWrite | Rw::RandTrimWrite) {
            self.after_trim = Some(NextIo {
                dir: Dir::Write,
                ..io
            });
        }
        io
    }

    /// True when a trimwrite's trim was issued and its write not yet.
    pub fn owes_write(&self) -> bool {
        self.after_trim.is_some()
    }

    /// `(blocks in the regions, blocks touched so far, I/Os issued)`, when counted.
    pub fn coverage(&self) -> Option<(u64, u64, u64)> {
        let mut blocks = 0;
        let mut touched = 0;
        for f in &self.files {
            blocks += f.blocks;
            touched += f
                .touched
                .as_ref()?
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>();
        }
        Some((blocks, touched, self.issued))
    }

    fn choose_file(&mut self) -> usize {
        let count = self.files.len();
        if count == 1 {
            return 0;
        }
        match self.service {
            FileService::RoundRobin(n) => {
                if self.ios_on_current >= n {
                    self.current = (self.current + 1) % count;
                    self.ios_on_current = 0;
                }
            }
            FileService::Sequential(_) => {
                if self.files[self.current].bytes_this_turn >= self.files[self.current].len {
                    self.files[self.current].bytes_this_turn = 0;
                    self.current = (self.current + 1) % count;
                }
            }
            FileService::Random(n) => {
                if self.ios_on_current >= n || self.issued == 0 {
                    self.current = self.rng.below(count as u64) as usize;
                    self.ios_on_current = 0;
                }
            }
        }
        self.ios_on_current += 1;
        self.current
    }

    /// fio's `get_next_seq_offset`, from the region's start (see the module docs).
    fn sequential_pos(&mut self, file: usize, len: u64) -> u64 {
        let f = &self.files[file];
        let add = self.modifier.unwrap_or(0);
        let size = f.len as i64;
        let len = len as i64;
        let pos = match f.next_pos {
            None => 0,
            Some(end) => {
                let mut pos = end as i64 + if end > 0 { add } else { 0 };
                if pos < 0 || pos >= size {
                    pos = if add >= 0 { 0 } else { size + add };
                }
                pos
            }
        };
        let pos = if pos < 0 || pos + len > size {
            if add >= 0 { 0 } else { (size - len).max(0) }
        } else {
            pos
        };
        pos as u64 / self.min_bs * self.min_bs
    }

    fn random_pos(&mut self, file: usize, len: u64) -> u64 {
        let min_bs = self.min_bs;
        let per_offset = self.modifier.map_or(1, |m| m.max(1) as u64);
        let state = &mut self.files[file];
        if state.same_left > 0 {
            state.same_left -= 1;
            let pos = match self.sequencer {
                RwSequencer::Identical => state.last_pos,
                RwSequencer::Sequential => state.next_pos.unwrap_or(0),
            };
            if pos + len <= state.len {
                return pos;
            }
        } else {
            state.same_left = per_offset - 1;
        }
        let block = if let Some(skew) = &state.skew {
            skew.next(&mut self.rng)
        } else if self.random_map {
            if state.pass_index >= state.blocks {
                state.pass += 1;
                state.pass_index = 0;
                state.perm = Some(Permutation::new(
                    state.blocks,
                    self.seed
                        ^ (file as u64) << 32
                        ^ state.pass.wrapping_mul(0xA24B_AED4_963E_E407),
                ));
            }
            let i = state.pass_index;
            state.pass_index += 1;
            state.perm.as_ref().map_or(0, |p| p.at(i))
        } else {
            self.rng.below(state.blocks)
        };
        let pos = block * min_bs;
        if pos + len > state.len {
            state.len.saturating_sub(len) / min_bs * min_bs
        } else {
            pos
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(rw: Rw) -> JobOptions {
        let mut job = JobOptions::new("t");
        job.rw = rw;
        job.offset = 8192;
        job
    }

    fn offsets(w: &mut Workload, n: usize) -> Vec<u64> {
        (0..n).map(|_| w.next_io().offset).collect()
    }

    #[test]
    fn sequential_walks_and_wraps() {
        let mut w = Workload::new(&job(Rw::Write), 0, &[3 * 4096]);
        assert_eq!(offsets(&mut w, 4), [8192, 12288, 16384, 8192]);
    }

    #[test]
    fn sequential_modifiers_skip_and_go_backwards() {
        let mut j = job(Rw::Write);
        j.offset = 0;
        j.rw_modifier = Some(4096);
        let mut w = Workload::new(&j, 0, &[8 * 4096]);
        assert_eq!(offsets(&mut w, 5), [0, 8192, 16384, 24576, 0]);
        j.rw = Rw::Read;
        j.rw_modifier = Some(-8192);
        let mut w = Workload::new(&j, 0, &[8 * 4096]);
        // fio's backwards read: the first block, then from the end back one block a time.
        assert_eq!(offsets(&mut w, 4), [0, 24576, 20480, 16384]);
    }

    #[test]
    fn random_map_touches_every_block_once_per_pass() {
        let mut w = Workload::new(&job(Rw::RandRead), 0, &[100 * 4096]);
        let mut first: Vec<u64> = offsets(&mut w, 100);
        first.sort_unstable();
        let expect: Vec<u64> = (0..100).map(|b| 8192 + b * 4096).collect();
        assert_eq!(first, expect);
        assert_eq!(w.coverage(), Some((100, 100, 100)));
        let mut j = job(Rw::RandRead);
        j.norandommap = true;
        let mut w = Workload::new(&j, 0, &[100 * 4096]);
        offsets(&mut w, 100);
        let (_, touched, _) = w.coverage().unwrap();
        assert!(touched < 80, "uniform draws repeat: {touched}");
    }

    #[test]
    fn random_replays_from_the_seed_and_stays_aligned() {
        let mut j = job(Rw::RandRead);
        j.norandommap = true;
        let mut a = Workload::new(&j, 0, &[100 * 4096]);
        let mut b = Workload::new(&j, 0, &[100 * 4096]);
        for _ in 0..1000 {
            let io = a.next_io();
            assert_eq!(io, b.next_io());
            assert_eq!(io.dir, Dir::Read);
            assert!((8192..8192 + 100 * 4096).contains(&io.offset));
            assert_eq!(io.offset % 4096, 0);
        }
    }

    #[test]
    fn random_modifier_runs_sequentially_or_repeats() {
        let mut j = job(Rw::RandRead);
        j.offset = 0;
        j.rw_modifier = Some(4);
        let mut w = Workload::new(&j, 0, &[1024 * 4096]);
        let o = offsets(&mut w, 4);
        assert_eq!([o[1] - o[0], o[2] - o[1], o[3] - o[2]], [4096; 3]);
        j.rw_sequencer = RwSequencer::Identical;
        let mut w = Workload::new(&j, 0, &[1024 * 4096]);
        let o = offsets(&mut w, 4);
        assert!(o.iter().all(|&x| x == o[0]), "{o:?}");
    }

    #[test]
    fn mix_follows_rwmixread_and_trimwrite_pairs() {
        let mut j = job(Rw::RandRw);
        j.rwmixread = 70;
        let mut w = Workload::new(&j, 0, &[64 * 4096]);
        let reads = (0..10_000).filter(|_| w.next_io().dir == Dir::Read).count();
        assert!((6700..7300).contains(&reads), "{reads}");
        let mut w = Workload::new(&job(Rw::TrimWrite), 0, &[4 * 4096]);
        let a = w.next_io();
        let b = w.next_io();
        assert_eq!((a.dir, b.dir), (Dir::Trim, Dir::Write));
        assert_eq!((a.offset, a.len), (b.offset, b.len));
    }

    #[test]
    fn files_round_robin_and_block_sizes_vary() {
        let mut j = job(Rw::Read);
        j.offset = 0;
        j.block_sizes[0] = BlockSize::Range {
            min: 4096,
            max: 16384,
        };
        j.bs = 16384;
        let mut w = Workload::new(&j, 0, &[1 << 20, 1 << 20, 1 << 20]);
        let ios: Vec<NextIo> = (0..6).map(|_| w.next_io()).collect();
        let files: Vec<usize> = ios.iter().map(|io| io.file).collect();
        assert_eq!(files, [0, 1, 2, 0, 1, 2]);
        assert!(ios.iter().all(|io| io.len % 4096 == 0 && io.len <= 16384));
        assert_eq!(
            ios[3].offset, ios[0].len,
            "file 0 continues where it stopped"
        );
    }
}
