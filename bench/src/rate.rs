//! Rate limits (`rate`, `rate_iops`, `rate_process`): when each I/O of a direction is
//! due.
//!
//! Each direction with a limit has its own schedule, as fio keeps one per direction.
//! I/O k of a direction is due `gap` after I/O k-1 was due: `len / rate` seconds with
//! `rate` (bytes/s), `1 / rate_iops` with `rate_iops` (`rate` wins where both are
//! set), and with `rate_process=poisson` an exponentially distributed gap with that
//! mean. The schedule is open-loop: an I/O is due when the schedule says, whatever
//! happened to the one before, and the harness charges its latency from that time, so
//! a stall is not hidden (no coordinated omission; fio measures from the issue time).
//! In a mixed job a direction that is ahead of its schedule gives way to the other
//! (fio's `rate_ddir`), so one direction's limit does not hold the other back.

use std::time::{Duration, Instant};

use crate::job::JobOptions;
use crate::job::kinds::RateProcess;
use crate::workload::{Dir, Rng};

/// The schedules of one job copy.
#[derive(Debug, Clone)]
pub struct RateSchedule {
    bytes_per_sec: [Option<u64>; 3],
    ios_per_sec: [Option<u64>; 3],
    poisson: bool,
    next_due: [Option<Instant>; 3],
    rng: Rng,
}

impl RateSchedule {
    /// The schedule of `job`, starting at `start`; `None` when no direction is limited.
    pub fn new(job: &JobOptions, start: Instant, seed: u64) -> Option<RateSchedule> {
        if !job.rate_limited() {
            return None;
        }
        let mut next_due = [None; 3];
        for (d, due) in next_due.iter_mut().enumerate() {
            if job.rate[d].is_some() || job.rate_iops[d].is_some() {
                *due = Some(start);
            }
        }
        Some(RateSchedule {
            bytes_per_sec: job.rate,
            ios_per_sec: job.rate_iops,
            poisson: job.rate_process == RateProcess::Poisson,
            next_due,
            rng: Rng::new(seed ^ 0x005E_ED0F_2A7E),
        })
    }

    /// When the next I/O of `dir` is due; `None` if `dir` is not limited.
    pub fn due(&self, dir: Dir) -> Option<Instant> {
        self.next_due[dir.index()]
    }

    /// Takes the next slot of `dir` for an I/O of `len` bytes: returns when it was due
    /// and moves the schedule on by one gap.
    pub fn take(&mut self, dir: Dir, len: u64) -> Option<Instant> {
        let d = dir.index();
        let due = self.next_due[d]?;
        let mean_secs = match (self.bytes_per_sec[d], self.ios_per_sec[d]) {
            (Some(bps), _) => len as f64 / bps as f64,
            (None, Some(iops)) => 1.0 / iops as f64,
            (None, None) => return Some(due),
        };
        let gap = if self.poisson {
            -self.rng.unit().ln() * mean_secs
        } else {
            mean_secs
        };
        self.next_due[d] = Some(due + Duration::from_secs_f64(gap.max(1e-9)));
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_poisson_keep_the_mean() {
        let start = Instant::now();
        let mut job = JobOptions::new("t");
        job.rate_iops[0] = Some(1000);
        let mut s = RateSchedule::new(&job, start, 1).unwrap();
        for _ in 0..1000 {
            s.take(Dir::Read, 4096);
        }
        let after = s.due(Dir::Read).unwrap() - start;
        assert_eq!(after, Duration::from_secs(1));
        assert!(s.due(Dir::Write).is_none(), "writes are not limited");

        job.rate_process = RateProcess::Poisson;
        job.rate[0] = Some(4096 * 1000);
        let mut s = RateSchedule::new(&job, start, 1).unwrap();
        let mut gaps = Vec::new();
        let mut last = start;
        for _ in 0..20_000 {
            s.take(Dir::Read, 4096);
            let due = s.due(Dir::Read).unwrap();
            gaps.push((due - last).as_secs_f64());
            last = due;
        }
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.001).abs() < 0.00005, "mean gap {mean}");
        let short = gaps.iter().filter(|&&g| g < 0.001).count() as f64 / gaps.len() as f64;
        // Exponential: P(gap < mean) = 1 - 1/e = 0.632.
        assert!((short - 0.632).abs() < 0.02, "{short}");
    }
}
