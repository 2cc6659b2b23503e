//! The simulator's pseudo-random number generator: xoshiro256** seeded by SplitMix64.
//!
//! Owns nothing but its 256-bit state. It never reads a real random source, the clock or
//! the environment: the same seed yields the same stream on every machine, which is the
//! whole point (a failing seed must replay exactly). Floating point is used only in
//! [`SimRng::exp_ns`], through `f64::ln`, which is deterministic for a given binary.
//!
//! Invariant: the state is never all zero (SplitMix64 seeding guarantees it in practice,
//! and [`SimRng::new`] asserts it).

/// SplitMix64 step: the seeding function and a good 64-bit mixer.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix64(*state)
}

/// The SplitMix64 finalizer: a bijective 64-bit mixer (also used by the trace hasher).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small deterministic PRNG (xoshiro256**). Not cryptographic; not `Clone`, so a
/// stream cannot be forked by accident (use [`SimRng::fork`] to derive one on purpose).
#[derive(Debug)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// A generator whose whole stream is decided by `seed`.
    pub fn new(seed: u64) -> SimRng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        assert!(
            s.iter().any(|&w| w != 0),
            "xoshiro state must not be all zero"
        );
        SimRng { s }
    }

    /// A new, independent generator derived from this one's next output and `salt`.
    pub fn fork(&mut self, salt: u64) -> SimRng {
        SimRng::new(self.next_u64() ^ mix64(salt))
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n`; `n` must be positive. Uses Lemire's multiply-shift with
    /// rejection, so there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "SimRng::below(0)");
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `lo..=hi` (`lo <= hi`).
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "SimRng::range_inclusive({lo}, {hi})");
        if hi - lo == u64::MAX {
            return self.next_u64();
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p` (clamped to `0.0..=1.0`). `p <= 0` and `p >= 1` do not
    /// draw, so determinism holds per configuration, not across configurations.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.unit_f64() < p
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// An exponentially distributed duration with the given mean, in nanoseconds.
    pub fn exp_ns(&mut self, mean_ns: u64) -> u64 {
        if mean_ns == 0 {
            return 0;
        }
        // 1 - u is in (0, 1], so ln is finite.
        let u = 1.0 - self.unit_f64();
        let x = -u.ln() * mean_ns as f64;
        if x >= u64::MAX as f64 {
            u64::MAX
        } else {
            x as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SimRng::new(42);
        let mut b = SimRng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = SimRng::new(43);
        assert_ne!(SimRng::new(42).next_u64(), c.next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SimRng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = r.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(r.range_inclusive(5, 5), 5);
    }

    #[test]
    fn exp_has_roughly_the_mean() {
        let mut r = SimRng::new(1);
        let n = 20_000u64;
        let sum: u64 = (0..n).map(|_| r.exp_ns(1000)).sum();
        let mean = sum / n;
        assert!((900..1100).contains(&mean), "mean {mean}");
    }
}
