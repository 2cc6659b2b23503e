//! The job's clock (`clocksource`): every timestamp of a job comes from it, so its
//! latencies, deadlines and intervals agree with each other. Like fio's default
//! `clocksource=cpu`, it reads the CPU's time-stamp counter (`rt::cycles`, calibrated
//! against `CLOCK_MONOTONIC` once per process) where the kernel keeps time with it,
//! else `clock_gettime`.

use std::sync::OnceLock;
use std::time::Instant;

use boreal_engine::rt::cycles::CycleClock;

use crate::error::BenchError;
use crate::job::JobOptions;
use crate::job::kinds::ClockSource;

/// The job's clock (`clocksource`): every timestamp of the job comes from it, so its
/// latencies, deadlines and intervals agree with each other.
#[derive(Clone, Copy, Debug)]
pub enum JobClock {
    /// The time-stamp counter, calibrated once per process.
    Cycles(CycleClock),
    /// `CLOCK_MONOTONIC` (`Instant::now`).
    Os,
}

impl JobClock {
    /// The job's `clocksource`; without one, fio's default: `cpu` where the kernel keeps
    /// time with the TSC. Calibrating takes `rt::cycles::CALIBRATION` once per process.
    pub fn for_job(job: &JobOptions) -> Result<JobClock, BenchError> {
        static CYCLES: OnceLock<Option<CycleClock>> = OnceLock::new();
        let cycles = || *CYCLES.get_or_init(CycleClock::calibrate);
        match job.clocksource {
            Some(ClockSource::ClockGettime) => Ok(JobClock::Os),
            Some(ClockSource::Cpu) => cycles().map(JobClock::Cycles).ok_or_else(|| BenchError::Job {
                job: job.name.clone(),
                message: "clocksource=cpu needs a time-stamp counter the kernel keeps time with (/sys/devices/system/clocksource/clocksource0/current_clocksource is not `tsc` here); use clocksource=clock_gettime".to_string(),
            }),
            None => Ok(cycles().map_or(JobClock::Os, JobClock::Cycles)),
        }
    }

    #[inline]
    pub fn now(&self) -> Instant {
        match self {
            JobClock::Cycles(c) => c.now(),
            JobClock::Os => Instant::now(),
        }
    }

    /// fio's name of the clock.
    pub fn name(&self) -> &'static str {
        match self {
            JobClock::Cycles(_) => ClockSource::Cpu.as_str(),
            JobClock::Os => ClockSource::ClockGettime.as_str(),
        }
    }
}
