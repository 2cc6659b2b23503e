//! fio's random map without a map: a keyed permutation of `0..n`.
//!
//! By default fio's random I/O touches every block of the region once per pass (its
//! random map; `norandommap` turns that off). boreal-bench gets the same coverage with
//! no per-block memory: pass `p` visits blocks in the order of a pseudo-random
//! bijection of `0..n` keyed by the job's seed and `p` — a 4-round Feistel network over
//! the smallest even-bit domain that holds `n`, with cycle-walking to stay below `n`
//! (each value outside is mapped again; the walk ends because the network is a
//! permutation of its domain). Every block once per pass, any `n` up to 2^62.

/// A permutation of `0..n`.
#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Permutation {
    /// The permutation of `0..n` (`0 < n <= 2^62`) for `key`.
    pub fn new(n: u64, key: u64) -> Permutation {
        assert!(n > 0 && n <= 1 << 62);
        let bits = 64 - (n - 1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut keys = [0u64; 4];
        for (i, k) in keys.iter_mut().enumerate() {
            *k = mix(key ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        Permutation { n, half_bits, keys }
    }

    fn round_trip(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in self.keys {
            let next = left ^ (mix(right ^ key) & mask);
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }

    /// The `i`-th value of the permutation (`i < n`).
    pub fn at(&self, i: u64) -> u64 {
        debug_assert!(i < self.n);
        let mut x = self.round_trip(i);
        while x >= self.n {
            x = self.round_trip(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_once_for_awkward_sizes() {
        for n in [1u64, 2, 3, 5, 17, 100, 1000, 4097] {
            let p = Permutation::new(n, n * 31);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let v = p.at(i) as usize;
                assert!(!seen[v], "n={n}: {v} twice");
                seen[v] = true;
            }
        }
    }

    #[test]
    fn it_is_not_the_identity() {
        let p = Permutation::new(1000, 1);
        let fixed = (0..1000).filter(|&i| p.at(i) == i).count();
        assert!(fixed < 20, "{fixed} fixed points");
    }
}
