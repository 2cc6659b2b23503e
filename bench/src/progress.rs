//! The progress line printed on a terminal during a run.
//!
//! Job threads count completions locally ([`ProgressTally`]) and add them to relaxed
//! atomic counters ([`JobProgress`]) once per round of completions; a separate
//! thread reads them once a second and rewrites one line on stderr: elapsed time,
//! remaining time (from `runtime`, or estimated from bytes done when the job is
//! size-bound), and the last second's IOPS and bandwidth per direction. Nothing is
//! printed when stderr is not a terminal (CI logs, pipes, `--output`-only runs), and the
//! line is erased when the run ends, so reports are never interleaved with it.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Counters one job thread updates as I/Os complete.
#[derive(Debug, Default)]
pub struct JobProgress {
    /// Completed reads and writes.
    pub ios: [AtomicU64; 2],
    /// Bytes read and written.
    pub bytes: [AtomicU64; 2],
}

impl JobProgress {
    /// Adds what a job thread tallied since it last published, and empties the tally.
    pub fn publish(&self, tally: &mut ProgressTally) {
        for dir in 0..2 {
            if tally.ios[dir] > 0 {
                self.ios[dir].fetch_add(tally.ios[dir], Ordering::Relaxed);
                self.bytes[dir].fetch_add(tally.bytes[dir], Ordering::Relaxed);
            }
        }
        *tally = ProgressTally::default();
    }
}

/// Completions a job thread counts locally and publishes ([`JobProgress::publish`])
/// once per round of completions: two atomic adds per I/O cost ~3% of a core at a
/// million I/Os per second, and the line is redrawn once a second anyway.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProgressTally {
    ios: [u64; 2],
    bytes: [u64; 2],
}

impl ProgressTally {
    /// Counts one completed data I/O.
    pub fn add(&mut self, dir: usize, bytes: u64) {
        self.ios[dir] += 1;
        self.bytes[dir] += bytes;
    }
}

impl JobProgress {
    fn snapshot(&self) -> ([u64; 2], [u64; 2]) {
        (
            [
                self.ios[0].load(Ordering::Relaxed),
                self.ios[1].load(Ordering::Relaxed),
            ],
            [
                self.bytes[0].load(Ordering::Relaxed),
                self.bytes[1].load(Ordering::Relaxed),
            ],
        )
    }
}

/// What the progress thread knows about the run's length.
#[derive(Debug, Clone, Copy)]
pub struct RunLength {
    /// Total time if every job is time-bound (ramp plus runtime, the longest job).
    pub time: Option<Duration>,
    /// Total bytes the size-bound jobs will do.
    pub bytes: u64,
}

/// A running progress thread; [`Progress::stop`] ends it and erases the line.
#[derive(Debug)]
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts printing if stderr is a terminal; otherwise does nothing.
    pub fn start(jobs: Vec<Arc<JobProgress>>, length: RunLength) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Progress { stop, handle: None };
        }
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("progress".to_string())
            .spawn(move || progress_loop(&jobs, length, &flag))
            .ok();
        Progress { stop, handle }
    }

    /// Stops the thread and erases the line.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn progress_loop(jobs: &[Arc<JobProgress>], length: RunLength, stop: &AtomicBool) {
    let start = Instant::now();
    let mut last = (start, [0u64; 2], [0u64; 2]);
    let mut stderr = std::io::stderr();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        if now.duration_since(last.0) < Duration::from_secs(1) {
            continue;
        }
        let (mut ios, mut bytes) = ([0u64; 2], [0u64; 2]);
        for job in jobs {
            let (i, b) = job.snapshot();
            for d in 0..2 {
                ios[d] += i[d];
                bytes[d] += b[d];
            }
        }
        let secs = now.duration_since(last.0).as_secs_f64();
        let elapsed = now.duration_since(start);
        let line = format_line(elapsed, remaining(elapsed, &bytes, length), |d| {
            (
                (ios[d] - last.1[d]) as f64 / secs,
                (bytes[d] - last.2[d]) as f64 / secs,
            )
        });
        let _ = write!(stderr, "\r{line}\x1b[K");
        let _ = stderr.flush();
        last = (now, ios, bytes);
    }
    let _ = write!(stderr, "\r\x1b[K");
    let _ = stderr.flush();
}

fn remaining(elapsed: Duration, bytes: &[u64; 2], length: RunLength) -> Option<Duration> {
    if let Some(total) = length.time {
        return Some(total.saturating_sub(elapsed));
    }
    let done = bytes[0] + bytes[1];
    if done == 0 || length.bytes == 0 {
        return None;
    }
    let fraction = (done as f64 / length.bytes as f64).min(1.0);
    Some(elapsed.mul_f64((1.0 - fraction) / fraction))
}

/// One progress line, e.g. `[0:03 elapsed, 0:07 left] read 12.3k IOPS 48.1 MiB/s`.
pub fn format_line(
    elapsed: Duration,
    remaining: Option<Duration>,
    rate: impl Fn(usize) -> (f64, f64),
) -> String {
    let clock = |d: Duration| {
        let s = d.as_secs();
        format!("{}:{:02}", s / 60, s % 60)
    };
    let mut line = format!(
        "[{} elapsed, {} left]",
        clock(elapsed),
        remaining.map_or_else(|| "?".to_string(), clock)
    );
    for (d, name) in ["read", "write"].iter().enumerate() {
        let (iops, bw) = rate(d);
        if iops > 0.0 {
            line.push_str(&format!(
                " {name} {} IOPS {:.1} MiB/s",
                si(iops),
                bw / (1 << 20) as f64
            ));
        }
    }
    line
}

fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_time_and_rates() {
        let line = format_line(Duration::from_secs(63), Some(Duration::from_secs(7)), |d| {
            if d == 0 {
                (12_345.0, 48.0 * 1048576.0)
            } else {
                (0.0, 0.0)
            }
        });
        assert_eq!(line, "[1:03 elapsed, 0:07 left] read 12.3k IOPS 48.0 MiB/s");
    }

    #[test]
    fn a_tally_is_published_whole_and_emptied() {
        let p = JobProgress::default();
        let mut t = ProgressTally::default();
        p.publish(&mut t);
        t.add(1, 128);
        t.add(1, 128);
        t.add(0, 4096);
        p.publish(&mut t);
        assert_eq!(t, ProgressTally::default());
        t.add(1, 64);
        p.publish(&mut t);
        assert_eq!(p.snapshot(), ([1, 3], [4096, 320]));
    }

    #[test]
    fn remaining_is_estimated_from_bytes_when_not_time_bound() {
        let length = RunLength {
            time: None,
            bytes: 100,
        };
        let left = remaining(Duration::from_secs(10), &[25, 0], length).unwrap();
        assert_eq!(left, Duration::from_secs(30));
    }
}
