//! A cycle clock: the CPU's time-stamp counter, calibrated against `CLOCK_MONOTONIC`
//! and read as `std::time::Instant`s, for a caller that stamps every operation (the
//! benchmark harness, as fio does with its default `clocksource=cpu`). A vDSO
//! `clock_gettime` costs ~23 ns on the dev VM, `rdtsc` plus the scaling ~10 ns.
//!
//! Offered only where the kernel itself keeps time with the TSC (its current
//! clocksource is `tsc`): the kernel switches away from a TSC that is not invariant or
//! not synchronized across CPUs, so this clock is monotonic and runs at the same rate
//! on every CPU wherever it is offered. Elsewhere [`CycleClock::calibrate`] returns
//! `None` and callers read the OS clock.
//!
//! Calibration counts ticks over [`CALIBRATION`] between two `Instant::now()`
//! readings, each paired with the tick count by the best of 16 tries (a preemption
//! inside one pairing would skew the rate); each pairing is off by tens of ns, so the
//! rate is off by about 1e-6, and an instant read from this clock after a minute is
//! within ~100 µs of `Instant::now()` (the drift does not matter to durations measured
//! on this clock).

use std::time::{Duration, Instant};

/// How long [`CycleClock::calibrate`] counts ticks.
pub const CALIBRATION: Duration = Duration::from_millis(20);

/// See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct CycleClock {
    base: Instant,
    base_ticks: u64,
    /// Nanoseconds per tick, as a 32.32 fixed-point number.
    ns_per_tick_q32: u64,
}

impl CycleClock {
    /// Calibrates a cycle clock, or `None` when the kernel does not keep time with the
    /// TSC (not x86-64, a virtual machine without a stable TSC, …). Takes
    /// [`CALIBRATION`].
    pub fn calibrate() -> Option<CycleClock> {
        if !kernel_trusts_tsc() {
            return None;
        }
        let (t0, c0) = paired_reading()?;
        std::thread::sleep(CALIBRATION);
        let (t1, c1) = paired_reading()?;
        let ns = t1.saturating_duration_since(t0).as_nanos();
        let elapsed = u128::from(c1.checked_sub(c0)?);
        if elapsed == 0 || ns == 0 {
            return None;
        }
        let ns_per_tick_q32 = u64::try_from((ns << 32) / elapsed).ok()?;
        Some(CycleClock {
            base: t1,
            base_ticks: c1,
            ns_per_tick_q32,
        })
    }

    /// Now, on this clock.
    #[inline]
    pub fn now(&self) -> Instant {
        let t = ticks().unwrap_or(self.base_ticks);
        let elapsed = u128::from(t.saturating_sub(self.base_ticks));
        let ns = (elapsed * u128::from(self.ns_per_tick_q32)) >> 32;
        self.base + Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Nanoseconds per tick (the calibrated rate).
    pub fn ns_per_tick(&self) -> f64 {
        self.ns_per_tick_q32 as f64 / (1u64 << 32) as f64
    }
}

/// An `Instant` and the tick count at the same moment: the best of a few tries, each
/// an `Instant::now()` between two tick readings, keeping the try with the fewest
/// ticks between them (the thread was not preempted there) and the middle of them.
/// One reading off by a preemption would skew the calibrated rate by its length.
fn paired_reading() -> Option<(Instant, u64)> {
    let mut best: Option<(u64, Instant, u64)> = None;
    for _ in 0..16 {
        let before = ticks()?;
        let at = Instant::now();
        let after = ticks()?;
        let gap = after.checked_sub(before)?;
        if best.is_none_or(|(g, _, _)| gap < g) {
            best = Some((gap, at, before + gap / 2));
        }
    }
    best.map(|(_, at, ticks)| (at, ticks))
}

/// Whether the kernel's clocksource is the TSC (so it found it invariant and in sync).
fn kernel_trusts_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn ticks() -> Option<u64> {
    // SAFETY: `rdtsc` reads the time-stamp counter; it has no memory operands and no
    // preconditions on x86-64 (CR4.TSD is not set for user space on Linux).
    Some(unsafe { std::arch::x86_64::_rdtsc() })
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn ticks() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_os_clock_where_offered() {
        let Some(clock) = CycleClock::calibrate() else {
            return; // no TSC clocksource here: nothing to compare
        };
        let rate = clock.ns_per_tick();
        assert!(
            rate > 0.01 && rate < 10.0,
            "implausible rate {rate} ns/tick"
        );
        for _ in 0..5 {
            let os0 = Instant::now();
            let c0 = clock.now();
            std::thread::sleep(Duration::from_millis(10));
            let c1 = clock.now();
            let os1 = Instant::now();
            let on_cycles = c1.saturating_duration_since(c0).as_nanos() as i128;
            let on_os = os1.saturating_duration_since(os0).as_nanos() as i128;
            // The cycle interval lies inside the OS interval, up to the rate error.
            assert!(
                on_cycles <= on_os + 20_000 && on_cycles >= 10_000_000 - 20_000,
                "cycle clock measured {on_cycles} ns inside an OS interval of {on_os} ns"
            );
        }
        let (a, b) = (clock.now(), clock.now());
        assert!(b >= a, "monotonic");
        let drift = clock.now().saturating_duration_since(Instant::now())
            + Instant::now().saturating_duration_since(clock.now());
        assert!(
            drift < Duration::from_millis(1),
            "drift {drift:?} right after calibration"
        );
    }
}
