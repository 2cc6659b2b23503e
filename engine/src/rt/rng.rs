//! A small deterministic PRNG (SplitMix64) for the scheduler's seeded-random policy and
//! for benchmarks that need reproducible offsets.
//!
//! Owns: 64 bits of state. Must never: read an outside source of randomness (the seed
//! is the only input, so a simulator run replays exactly from its seed).
//! Invariant: the sequence is a pure function of the seed.

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, full period 2^64.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`), by Lemire's multiply-shift (bias below
    /// 2^-32 for the bounds we use, which is fine for scheduling and offsets).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "SplitMix64::below(0)");
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sequence() {
        // Reference values for seed 0 from the SplitMix64 paper's C code.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_in_range() {
        let mut r = SplitMix64::new(7);
        for b in [1u64, 2, 3, 1000] {
            for _ in 0..100 {
                assert!(r.below(b) < b);
            }
        }
    }
}
