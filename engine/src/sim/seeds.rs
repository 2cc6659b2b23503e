//! [`SeedPlan`]: which seeds a simulation test runs, from the environment, so that a
//! fixed batch runs in CI, a long run can start anywhere, and any failure replays.
//!
//! - `SEED=<n>`: only seed `n` (a replay).
//! - `SIM_SEEDS=<count>`: how many seeds (else the test's default).
//! - `SIM_SEED_BASE=<n>`: the first seed (default 0, so CI runs the same batch every
//!   time); `SIM_SEED_BASE=random`: a base drawn from the process's randomness, for
//!   long runs that explore new seeds. [`SeedPlan::describe`] prints it, and every
//!   failing seed prints its own `SEED=<n>`, so a random run replays exactly.
//!
//! This is the only place the simulator reads real randomness, and only to choose the
//! seeds before any run: a run itself is a function of its seed alone.

use std::hash::{BuildHasher, Hasher};
use std::ops::Range;

/// The seeds to run. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedPlan {
    pub base: u64,
    pub count: u64,
    /// `SEED` was set: a replay of one seed.
    pub replay: bool,
    /// The base was drawn at random (`SIM_SEED_BASE=random`).
    pub random_base: bool,
}

impl SeedPlan {
    /// The plan the environment asks for, with `default_count` seeds unless
    /// `SIM_SEEDS` says otherwise. Panics (a usage error) on a value that is not a
    /// number.
    pub fn from_env(default_count: u64) -> SeedPlan {
        let var = |name: &str| std::env::var(name).ok();
        SeedPlan::from_vars(
            default_count,
            var("SEED").as_deref(),
            var("SIM_SEEDS").as_deref(),
            var("SIM_SEED_BASE").as_deref(),
        )
    }

    fn from_vars(
        default_count: u64,
        seed: Option<&str>,
        seeds: Option<&str>,
        base: Option<&str>,
    ) -> SeedPlan {
        let number = |name: &str, v: &str| -> u64 {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        };
        if let Some(v) = seed {
            return SeedPlan {
                base: number("SEED", v),
                count: 1,
                replay: true,
                random_base: false,
            };
        }
        let count = seeds.map_or(default_count, |v| number("SIM_SEEDS", v));
        let (base, random_base) = match base {
            None => (0, false),
            Some("random") => (random_u64(), true),
            Some(v) => (number("SIM_SEED_BASE", v), false),
        };
        SeedPlan {
            base,
            count,
            replay: false,
            random_base,
        }
    }

    pub fn seeds(&self) -> Range<u64> {
        self.base..self.base.saturating_add(self.count)
    }

    /// One line for the log: which seeds, and how to run the same batch again.
    pub fn describe(&self) -> String {
        if self.replay {
            return format!("replaying seed {}", self.base);
        }
        format!(
            "seeds {}..{} ({}; rerun with SIM_SEED_BASE={} SIM_SEEDS={})",
            self.base,
            self.base.saturating_add(self.count),
            if self.random_base {
                "random base"
            } else {
                "fixed base"
            },
            self.base,
            self.count
        )
    }
}

/// A random `u64` from the process's hash keys (the OS's randomness), kept below 2^53
/// so that seed ranges never wrap and print as plain numbers.
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish() >> 11
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_pick_the_seeds() {
        let p = SeedPlan::from_vars(100, None, None, None);
        assert_eq!(p.seeds(), 0..100);
        assert!(!p.replay && !p.random_base);
        let p = SeedPlan::from_vars(100, Some("42"), Some("5"), Some("7"));
        assert_eq!(p.seeds(), 42..43);
        assert!(p.replay);
        let p = SeedPlan::from_vars(100, None, Some("5"), Some("7"));
        assert_eq!(p.seeds(), 7..12);
        let a = SeedPlan::from_vars(3, None, None, Some("random"));
        let b = SeedPlan::from_vars(3, None, None, Some("random"));
        assert!(a.random_base && a.base < 1 << 53);
        assert_ne!(a.base, b.base, "two random bases in a row");
        assert!(a.describe().contains(&format!("SIM_SEED_BASE={}", a.base)));
    }
}
