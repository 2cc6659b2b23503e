//! What each I/O of a job is: its direction and its offset.
//!
//! A [`Workload`] turns `rw`, `rwmixread`, `bs`, `offset` and `size` into a stream of
//! `(direction, offset)`. Sequential jobs walk the region block by block and wrap at
//! its end. Random jobs pick a uniformly random block of the region each time; unlike
//! fio's default random map they may revisit a block before covering every block (as
//! fio's `norandommap=1`), which changes nothing for latency but means a random job
//! with `io_size=size` does not touch every block exactly once. The generator is a
//! seeded splitmix64, so a `randseed` replays exactly.

use boreal_engine::buf::DmaBuf;

use crate::job::{JobOptions, Rw};

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
}

impl Dir {
    /// 0 for reads, 1 for writes (fio's DDIR numbering), for indexing per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Dir::Read => 0,
            Dir::Write => 1,
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
}

/// The I/O stream of one job copy.
#[derive(Debug, Clone)]
pub struct Workload {
    rw: Rw,
    rwmixread: u8,
    bs: u64,
    region_start: u64,
    region_blocks: u64,
    next_block: u64,
    rng: Rng,
}

impl Workload {
    /// The workload of copy `copy` of `job` over `region_len` bytes from `job.offset`.
    /// Copies get different seeds, so numjobs copies do not hit the same blocks in step.
    pub fn new(job: &JobOptions, copy: u32, region_len: u64) -> Workload {
        let region_blocks = region_len / job.bs;
        assert!(region_blocks > 0, "validated: size >= bs");
        Workload {
            rw: job.rw,
            rwmixread: job.rwmixread,
            bs: job.bs,
            region_start: job.offset,
            region_blocks,
            next_block: 0,
            rng: Rng::new(
                job.randseed
                    .wrapping_add((copy as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)),
            ),
        }
    }

    /// The next I/O: its direction and byte offset.
    pub fn next_io(&mut self) -> (Dir, u64) {
        let dir = match self.rw {
            Rw::Read | Rw::RandRead => Dir::Read,
            Rw::Write | Rw::RandWrite => Dir::Write,
            Rw::ReadWrite | Rw::RandRw => {
                if self.rng.below(100) < self.rwmixread as u64 {
                    Dir::Read
                } else {
                    Dir::Write
                }
            }
        };
        let block = if self.rw.is_random() {
            self.rng.below(self.region_blocks)
        } else {
            let block = self.next_block;
            self.next_block = (self.next_block + 1) % self.region_blocks;
            block
        };
        (dir, self.region_start + block * self.bs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(rw: Rw) -> JobOptions {
        let mut job = JobOptions::new("t");
        job.rw = rw;
        job.bs = 4096;
        job.offset = 8192;
        job
    }

    #[test]
    fn sequential_walks_and_wraps() {
        let mut w = Workload::new(&job(Rw::Write), 0, 3 * 4096);
        let offsets: Vec<u64> = (0..4).map(|_| w.next_io().1).collect();
        assert_eq!(offsets, [8192, 12288, 16384, 8192]);
    }

    #[test]
    fn random_stays_in_region_aligned_and_replays() {
        let mut a = Workload::new(&job(Rw::RandRead), 0, 100 * 4096);
        let mut b = Workload::new(&job(Rw::RandRead), 0, 100 * 4096);
        for _ in 0..1000 {
            let (dir, off) = a.next_io();
            assert_eq!((dir, off), b.next_io());
            assert_eq!(dir, Dir::Read);
            assert!((8192..8192 + 100 * 4096).contains(&off));
            assert_eq!(off % 4096, 0);
        }
    }

    #[test]
    fn mix_follows_rwmixread() {
        let mut j = job(Rw::RandRw);
        j.rwmixread = 70;
        let mut w = Workload::new(&j, 0, 64 * 4096);
        let reads = (0..10_000).filter(|_| w.next_io().0 == Dir::Read).count();
        assert!((6700..7300).contains(&reads), "{reads}");
    }
}
