//! The progress line printed on a terminal during a run.
//!
//! Job threads count completions locally ([`ProgressTally`]) and add them to relaxed
//! atomic counters ([`JobProgress`]) once per round of completions; a separate
//! thread reads them once a second and rewrites one line on stderr: elapsed time, time
//! left in the whole run (what is left of the running stonewall group, from its
//! `runtime` or estimated from its bytes done when it is size-bound, plus every later
//! group), the running job's name, and the last second's IOPS and bandwidth per
//! direction. Nothing is
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
    /// Completed reads, writes and trims.
    pub ios: [AtomicU64; 3],
    /// Bytes read and written.
    pub bytes: [AtomicU64; 3],
}

impl JobProgress {
    /// Adds what a job thread tallied since it last published, and empties the tally.
    pub fn publish(&self, tally: &mut ProgressTally) {
        for dir in 0..3 {
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
    ios: [u64; 3],
    bytes: [u64; 3],
}

impl ProgressTally {
    /// Counts one completed data I/O.
    pub fn add(&mut self, dir: usize, bytes: u64) {
        self.ios[dir] += 1;
        self.bytes[dir] += bytes;
    }
}

impl JobProgress {
    fn snapshot(&self) -> ([u64; 3], [u64; 3]) {
        (
            [0, 1, 2].map(|d| self.ios[d].load(Ordering::Relaxed)),
            [0, 1, 2].map(|d| self.bytes[d].load(Ordering::Relaxed)),
        )
    }
}

/// One stonewall group as the progress line sees it.
#[derive(Debug, Clone)]
pub struct GroupLength {
    /// The names of the group's jobs, for the line (`a`, or `a +2` for three jobs).
    pub label: String,
    /// Ramp plus runtime if every job of the group is time-bound (the longest job).
    pub time: Option<Duration>,
    /// Bytes the group's size-bound jobs will do.
    pub bytes: u64,
    /// Indexes into the run's [`JobProgress`] list of the group's threads.
    pub threads: std::ops::Range<usize>,
}

/// The groups of a run, in the order they run; [`Progress::enter_group`] says which one
/// is running.
#[derive(Debug, Clone)]
pub struct RunLength {
    /// Every stonewall group, in order.
    pub groups: Vec<GroupLength>,
}

/// A running progress thread; [`Progress::stop`] ends it and erases the line.
#[derive(Debug)]
pub struct Progress {
    stop: Arc<AtomicBool>,
    group: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts printing if stderr is a terminal; otherwise does nothing.
    pub fn start(jobs: Vec<Arc<JobProgress>>, length: RunLength) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let group = Arc::new(AtomicU64::new(0));
        if !std::io::stderr().is_terminal() {
            return Progress {
                stop,
                group,
                handle: None,
            };
        }
        let flag = Arc::clone(&stop);
        let current = Arc::clone(&group);
        let handle = std::thread::Builder::new()
            .name("progress".to_string())
            .spawn(move || progress_loop(&jobs, &length, &flag, &current))
            .ok();
        Progress {
            stop,
            group,
            handle,
        }
    }

    /// The run moves on to group `index` (0-based, in [`RunLength::groups`] order).
    pub fn enter_group(&self, index: usize) {
        self.group.store(index as u64, Ordering::Relaxed);
    }

    /// Stops the thread and erases the line.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn progress_loop(
    jobs: &[Arc<JobProgress>],
    length: &RunLength,
    stop: &AtomicBool,
    current: &AtomicU64,
) {
    let start = Instant::now();
    let mut last = (start, [0u64; 3], [0u64; 3]);
    let mut group_seen = (usize::MAX, start);
    let mut stderr = std::io::stderr();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        let index = (current.load(Ordering::Relaxed) as usize).min(length.groups.len() - 1);
        if index != group_seen.0 {
            group_seen = (index, now);
        }
        if now.duration_since(last.0) < Duration::from_secs(1) {
            continue;
        }
        let (mut ios, mut bytes) = ([0u64; 3], [0u64; 3]);
        for job in jobs {
            let (i, b) = job.snapshot();
            for d in 0..3 {
                ios[d] += i[d];
                bytes[d] += b[d];
            }
        }
        let group = &length.groups[index];
        let group_bytes: u64 = jobs[group.threads.clone()]
            .iter()
            .map(|j| {
                let (_, b) = j.snapshot();
                b.iter().sum::<u64>()
            })
            .sum();
        let secs = now.duration_since(last.0).as_secs_f64();
        let left = remaining(length, index, now.duration_since(group_seen.1), group_bytes);
        let running = format!("{} ({}/{})", group.label, index + 1, length.groups.len());
        let line = format_line(now.duration_since(start), left, &running, |d| {
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

/// Time left in the run: what is left of group `index` (from its runtime, or estimated
/// from the bytes it did in `in_group`) plus every later group's length. `None` when
/// nothing can be said yet; the flag is true when later groups are size-bound, so
/// their time is not known and the figure is a lower bound.
fn remaining(
    length: &RunLength,
    index: usize,
    in_group: Duration,
    group_bytes: u64,
) -> Option<(Duration, bool)> {
    let group = &length.groups[index];
    let here = match group.time {
        Some(total) => total.saturating_sub(in_group),
        None => {
            if group_bytes == 0 || group.bytes == 0 {
                return None;
            }
            let fraction = (group_bytes as f64 / group.bytes as f64).min(1.0);
            in_group.mul_f64((1.0 - fraction) / fraction)
        }
    };
    let later = &length.groups[index + 1..];
    let known: Duration = later.iter().filter_map(|g| g.time).sum();
    let open = later.iter().any(|g| g.time.is_none());
    Some((here + known, open))
}

/// One progress line, e.g.
/// `[0:03 elapsed, 0:07 left] randread (2/4): read 12.3k IOPS 48.1 MiB/s`; a `+` after
/// the time left says later groups are size-bound (their time is not known yet).
pub fn format_line(
    elapsed: Duration,
    remaining: Option<(Duration, bool)>,
    running: &str,
    rate: impl Fn(usize) -> (f64, f64),
) -> String {
    let clock = |d: Duration| {
        let s = d.as_secs();
        format!("{}:{:02}", s / 60, s % 60)
    };
    let left = match remaining {
        None => "?".to_string(),
        Some((d, false)) => clock(d),
        Some((d, true)) => format!("{}+", clock(d)),
    };
    let mut line = format!("[{} elapsed, {left} left] {running}:", clock(elapsed));
    for (d, name) in ["read", "write", "trim"].iter().enumerate() {
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
    fn line_shows_time_job_and_rates() {
        let line = format_line(
            Duration::from_secs(63),
            Some((Duration::from_secs(7), false)),
            "randread (2/4)",
            |d| {
                if d == 0 {
                    (12_345.0, 48.0 * 1048576.0)
                } else {
                    (0.0, 0.0)
                }
            },
        );
        assert_eq!(
            line,
            "[1:03 elapsed, 0:07 left] randread (2/4): read 12.3k IOPS 48.0 MiB/s"
        );
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
        assert_eq!(p.snapshot(), ([1, 3, 0], [4096, 320, 0]));
    }

    fn group(time: Option<u64>, bytes: u64) -> GroupLength {
        GroupLength {
            label: "g".to_string(),
            time: time.map(Duration::from_secs),
            bytes,
            threads: 0..1,
        }
    }

    #[test]
    fn remaining_is_estimated_from_bytes_when_not_time_bound() {
        let length = RunLength {
            groups: vec![group(None, 100)],
        };
        let left = remaining(&length, 0, Duration::from_secs(10), 25).unwrap();
        assert_eq!(left, (Duration::from_secs(30), false));
    }

    #[test]
    fn remaining_adds_the_groups_still_to_run() {
        let length = RunLength {
            groups: vec![group(Some(8), 0), group(Some(8), 0), group(Some(8), 0)],
        };
        let left = remaining(&length, 0, Duration::from_secs(3), 0).unwrap();
        assert_eq!(left, (Duration::from_secs(21), false));
        let left = remaining(&length, 2, Duration::from_secs(3), 0).unwrap();
        assert_eq!(left, (Duration::from_secs(5), false));
        let open = RunLength {
            groups: vec![group(Some(8), 0), group(None, 100)],
        };
        let left = remaining(&open, 0, Duration::from_secs(3), 0).unwrap();
        assert_eq!(left, (Duration::from_secs(5), true));
    }
}
