//! Skewed random offsets (`random_distribution`): zipf, pareto and normal, with fio's
//! formulas (lib/zipf.c, lib/gauss.c), so a job file asks boreal-bench for the same
//! access skew it asks fio for.
//!
//! Each picks a block index in `0..n`. As fio, the rank it draws is scattered over the
//! region by a multiplicative hash (so the hot blocks are not all at the start) and
//! shifted by a random offset, or by `center × n` when a center is given. The
//! sequences differ from fio's (a different generator), the distributions do not.
//! Zipf's normalisation sums at most [`ZIPF_TERMS_MAX`] terms, as fio caps it.

use crate::job::kinds::Distribution;
use crate::workload::Rng;

/// Terms of zipf's normalising sum (fio's `ZIPF_MAX_GEN`).
pub const ZIPF_TERMS_MAX: u64 = 10_000_000;
/// fio's `GOLDEN_RATIO_64` hash multiplier.
const GOLDEN_RATIO_64: u64 = 0x61C8_8646_80B5_83EB;
/// Uniform values fio draws are 32-bit.
const FRAND32_MAX: f64 = u32::MAX as f64;

/// A skewed generator over `0..n`.
#[derive(Debug, Clone)]
pub struct Skewed {
    n: u64,
    offset: u64,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Zipf { theta: f64, zetan: f64, zeta2: f64 },
    Pareto { power: f64 },
    Normal { stddev: u64 },
}

impl Skewed {
    /// The generator of `dist` over `n` blocks (`n > 0`); `None` for the uniform one.
    pub fn new(dist: Distribution, n: u64, rng: &mut Rng) -> Option<Skewed> {
        assert!(n > 0);
        let random_offset = rng.next_u64() >> 32;
        let (kind, center) = match dist {
            Distribution::Uniform => return None,
            Distribution::Zipf { theta, center } => {
                let terms = n.min(ZIPF_TERMS_MAX);
                let zetan: f64 = (1..=terms).map(|i| (1.0 / i as f64).powf(theta)).sum();
                let zeta2 = 1.0 + 0.5f64.powf(theta);
                (
                    Kind::Zipf {
                        theta,
                        zetan,
                        zeta2,
                    },
                    center,
                )
            }
            Distribution::Pareto { h, center } => (
                Kind::Pareto {
                    power: h.ln() / (1.0 - h).ln(),
                },
                center,
            ),
            Distribution::Normal {
                dev_percent,
                center,
            } => {
                let stddev = ((n as f64 * dev_percent) / 100.0).ceil() as u64;
                return Some(Skewed {
                    n,
                    // fio centres normal on 0.5 unless told, and hashes the sum.
                    offset: center.map_or(0, |c| (n as f64 * (c - 0.5)) as i64 as u64),
                    kind: Kind::Normal {
                        stddev: stddev.min(n / 2),
                    },
                });
            }
        };
        Some(Skewed {
            n,
            offset: center.map_or(random_offset, |c| (n as f64 * c) as u64),
            kind,
        })
    }

    fn uniform(rng: &mut Rng) -> f64 {
        (rng.next_u64() >> 32) as f64 / FRAND32_MAX
    }

    /// The next block index, in `0..n`.
    pub fn next(&self, rng: &mut Rng) -> u64 {
        let n = self.n;
        let rank = match &self.kind {
            Kind::Zipf {
                theta,
                zetan,
                zeta2,
            } => {
                let alpha = 1.0 / (1.0 - theta);
                let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
                let u = Skewed::uniform(rng);
                let z = u * zetan;
                let value = if z < 1.0 {
                    1
                } else if z < 1.0 + 0.5f64.powf(*theta) {
                    2
                } else {
                    1 + (n as f64 * (eta * u - eta + 1.0).powf(alpha)) as u64
                };
                value - 1
            }
            Kind::Pareto { power } => ((n - 1) as f64 * Skewed::uniform(rng).powf(*power)) as u64,
            Kind::Normal { stddev } => {
                const ITERS: u64 = 12;
                let mut sum = 0u64;
                for _ in 0..ITERS {
                    sum += (rng.next_u64() >> 32) % (n + 1);
                }
                let mut sum = sum.div_ceil(ITERS);
                if *stddev > 0 {
                    let r = (rng.next_u64() >> 32) as f64 / (FRAND32_MAX + 1.0);
                    let mut dev = (*stddev as f64 * r) as i64 - (*stddev / 2) as i64;
                    while dev + sum as i64 >= n as i64 {
                        dev /= 2;
                    }
                    sum = (sum as i64 + dev).max(0) as u64;
                }
                sum
            }
        };
        rank.wrapping_mul(GOLDEN_RATIO_64).wrapping_add(self.offset) % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Share of draws that land on the most-drawn tenth of the blocks.
    fn top_decile_share(dist: Distribution, n: u64, draws: usize) -> f64 {
        let mut rng = Rng::new(7);
        let skew = Skewed::new(dist, n, &mut rng).unwrap();
        let mut counts = vec![0u64; n as usize];
        for _ in 0..draws {
            let b = skew.next(&mut rng);
            assert!(b < n);
            counts[b as usize] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        counts[..(n / 10) as usize].iter().sum::<u64>() as f64 / draws as f64
    }

    #[test]
    fn zipf_and_pareto_concentrate_and_normal_less() {
        let n = 10_000;
        let zipf = top_decile_share(
            Distribution::Zipf {
                theta: 1.2,
                center: None,
            },
            n,
            200_000,
        );
        let pareto = top_decile_share(
            Distribution::Pareto {
                h: 0.9,
                center: None,
            },
            n,
            200_000,
        );
        let normal = top_decile_share(
            Distribution::Normal {
                dev_percent: 10.0,
                center: None,
            },
            n,
            200_000,
        );
        assert!(
            zipf > 0.75,
            "zipf:1.2 puts most draws on a tenth of the blocks: {zipf}"
        );
        assert!(pareto > 0.75, "pareto:0.9 (fio's 90/10 rule): {pareto}");
        assert!(normal > 0.2 && normal < zipf, "normal:10: {normal}");
    }
}
