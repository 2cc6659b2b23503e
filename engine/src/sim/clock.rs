//! One node's monotonic clock against the world's virtual time: an offset and a drift.
//!
//! Owns three numbers: an anchor (a virtual instant and the node's reading then) and a
//! rate. `local(t) = anchor_local + (t - anchor_global) * (1e6 + drift_ppm) / 1e6`,
//! rounded down. A change of drift or a forward jump re-anchors at the current
//! instant, so the clock never jumps backwards (it is `CLOCK_MONOTONIC`).
//!
//! Invariants: `local` is non-decreasing in `t` (the drift is above -1e6 ppm, refused
//! otherwise by `ClockConfig`); [`NodeClock::global_for`] is the first virtual instant
//! at which the node's clock reads at least the deadline, so a timer armed there fires
//! neither early nor late by the node's own clock.

use super::config::ClockConfig;

const PPM: i128 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeClock {
    anchor_global: u64,
    anchor_local: u64,
    drift_ppm: i32,
}

impl NodeClock {
    pub(crate) fn new(cfg: ClockConfig) -> NodeClock {
        NodeClock {
            anchor_global: 0,
            anchor_local: cfg.offset_ns,
            drift_ppm: cfg.drift_ppm,
        }
    }

    fn rate(&self) -> i128 {
        PPM + i128::from(self.drift_ppm)
    }

    /// The node's reading at virtual time `global` (at or after the anchor).
    pub(crate) fn local(&self, global: u64) -> u64 {
        let elapsed = i128::from(global.saturating_sub(self.anchor_global));
        let local = i128::from(self.anchor_local) + elapsed * self.rate() / PPM;
        u64::try_from(local).unwrap_or(u64::MAX)
    }

    /// The first virtual instant at which the node's clock reads at least `deadline`
    /// (the anchor, if it already did there).
    pub(crate) fn global_for(&self, deadline: u64) -> u64 {
        if deadline <= self.anchor_local {
            return self.anchor_global;
        }
        let need = i128::from(deadline - self.anchor_local);
        // Smallest e with floor(e * rate / PPM) >= need: e = ceil(need * PPM / rate).
        let rate = self.rate();
        let elapsed = (need * PPM + rate - 1) / rate;
        u64::try_from(i128::from(self.anchor_global) + elapsed).unwrap_or(u64::MAX)
    }

    /// From virtual time `now` on, the clock runs at `drift_ppm`.
    pub(crate) fn set_drift(&mut self, now: u64, drift_ppm: i32) {
        self.anchor_local = self.local(now);
        self.anchor_global = now;
        self.drift_ppm = drift_ppm;
    }

    /// The clock steps forward by `ns` at virtual time `now`.
    pub(crate) fn jump(&mut self, now: u64, ns: u64) {
        self.anchor_local = self.local(now).saturating_add(ns);
        self.anchor_global = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_drift_and_deadlines_agree() {
        for drift_ppm in [-300_000, -7, 0, 1, 250, 100_000] {
            let mut c = NodeClock::new(ClockConfig {
                offset_ns: 5_000,
                drift_ppm,
            });
            assert_eq!(c.local(0), 5_000);
            for deadline in [0, 5_000, 5_001, 1_000_000_007, 3_333_333_333] {
                let t = c.global_for(deadline);
                assert!(c.local(t) >= deadline, "{drift_ppm} {deadline}");
                assert!(
                    t == 0 || c.local(t - 1) < deadline,
                    "{drift_ppm} {deadline}"
                );
            }
            let before = c.local(1_000_000);
            c.set_drift(1_000_000, 50);
            assert_eq!(c.local(1_000_000), before, "re-anchoring keeps the reading");
            c.jump(2_000_000, 10);
            assert!(c.local(2_000_000) >= before + 10);
        }
        let fast = NodeClock::new(ClockConfig {
            offset_ns: 0,
            drift_ppm: 100_000,
        });
        assert_eq!(fast.local(1_000_000_000), 1_100_000_000);
    }
}
