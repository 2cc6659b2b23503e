//! fio's per-job logs: `write_lat_log`, `write_bw_log`, `write_iops_log` and
//! `log_avg_msec`, in fio's file names and line format.
//!
//! Files are `PREFIX_lat.N.log`, `PREFIX_clat.N.log`, `PREFIX_slat.N.log` (latency,
//! ns), `PREFIX_bw.N.log` (KiB/s) and `PREFIX_iops.N.log`, where N is the job thread's
//! number in the run, from 1, as fio numbers them. Each line is
//! `time_ms, value, direction, block_size, 0` (fio 3's default columns: direction 0
//! read, 1 write, 2 trim; the last column is fio's priority, 0). With
//! `log_avg_msec=0` every measured I/O is a line (the bandwidth of one I/O is its
//! bytes over its latency, an I/O per line in the IOPS log); otherwise one line per
//! direction per window, at the window's end, with the window's mean latency, its
//! bandwidth and its IOPS (block size 0). Times are from the start of measurement;
//! the ramp is not logged.
//!
//! Every file is created before the run starts ([`LogFiles::create`]), so a path that
//! cannot be written stops the run before anything is measured. A job thread writes
//! its own files through a buffer of [`LOG_BUFFER_BYTES`]: memory stays bounded
//! however long the run is.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::BenchError;
use crate::job::JobOptions;
use crate::workload::Dir;

/// Bytes buffered per log file before it is written out.
pub const LOG_BUFFER_BYTES: usize = 256 << 10;

/// The kinds of log, in fio's file-name spelling.
const KINDS: [&str; 5] = ["lat", "clat", "slat", "bw", "iops"];

/// The log files of one job thread (open, created before the run).
#[derive(Debug, Default)]
pub struct LogFiles {
    files: [Option<(PathBuf, File)>; 5],
}

impl LogFiles {
    /// Creates the files of `job`'s thread number `n` (from 1), or says which cannot be.
    pub fn create(job: &JobOptions, n: usize) -> Result<LogFiles, BenchError> {
        let prefixes = [
            &job.write_lat_log,
            &job.write_lat_log,
            &job.write_lat_log,
            &job.write_bw_log,
            &job.write_iops_log,
        ];
        let mut files: [Option<(PathBuf, File)>; 5] = Default::default();
        for (i, (kind, prefix)) in KINDS.iter().zip(prefixes).enumerate() {
            if let Some(prefix) = prefix {
                let path = PathBuf::from(format!("{prefix}_{kind}.{n}.log"));
                let file = File::create(&path).map_err(|source| BenchError::Output {
                    what: "job log",
                    path: path.clone(),
                    source,
                })?;
                files[i] = Some((path, file));
            }
        }
        Ok(LogFiles { files })
    }

    /// True when the job logs nothing.
    pub fn is_empty(&self) -> bool {
        self.files.iter().all(Option::is_none)
    }
}

/// One window's sums of one direction.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    ios: u64,
    bytes: u64,
    lat_sum: [u128; 3],
    lat_n: [u64; 3],
}

/// What one measured I/O contributes to the logs.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Completion time from the start of measurement.
    pub at: Duration,
    /// Its direction.
    pub dir: Dir,
    /// Bytes.
    pub bytes: u64,
    /// Total, completion and submission latency, ns (`None`: not measured).
    pub lat: [Option<u64>; 3],
}

/// A job thread's log writer.
#[derive(Debug)]
pub struct JobLog {
    writers: [Option<(PathBuf, BufWriter<File>)>; 5],
    window: Option<Duration>,
    window_end: Duration,
    sums: [Window; 3],
}

impl JobLog {
    /// A writer over `files`, averaging over `log_avg_msec` (0: every I/O).
    pub fn new(files: LogFiles, log_avg_msec: u32) -> JobLog {
        let writers = files.files.map(|f| {
            f.map(|(path, file)| (path, BufWriter::with_capacity(LOG_BUFFER_BYTES, file)))
        });
        let window = (log_avg_msec > 0).then(|| Duration::from_millis(u64::from(log_avg_msec)));
        JobLog {
            writers,
            window,
            window_end: window.unwrap_or_default(),
            sums: [Window::default(); 3],
        }
    }

    fn line(
        &mut self,
        kind: usize,
        at: Duration,
        value: u64,
        dir: Dir,
        bs: u64,
    ) -> Result<(), BenchError> {
        if let Some((path, w)) = self.writers[kind].as_mut() {
            writeln!(w, "{}, {value}, {}, {bs}, 0", at.as_millis(), dir.index()).map_err(
                |source| BenchError::Output {
                    what: "job log",
                    path: path.clone(),
                    source,
                },
            )?;
        }
        Ok(())
    }

    /// Logs one measured I/O.
    pub fn record(&mut self, s: Sample) -> Result<(), BenchError> {
        let Some(window) = self.window else {
            for (kind, lat) in s.lat.iter().enumerate() {
                if let Some(ns) = lat {
                    self.line(kind, s.at, *ns, s.dir, s.bytes)?;
                }
            }
            if let Some(ns) = s.lat[0] {
                let kib_per_sec = (s.bytes as f64 / 1024.0) / (ns.max(1) as f64 / 1e9);
                self.line(3, s.at, kib_per_sec as u64, s.dir, s.bytes)?;
            }
            return self.line(4, s.at, 1, s.dir, s.bytes);
        };
        while s.at >= self.window_end {
            self.flush_window()?;
            self.window_end += window;
        }
        let w = &mut self.sums[s.dir.index()];
        w.ios += 1;
        w.bytes += s.bytes;
        for (k, lat) in s.lat.iter().enumerate() {
            if let Some(ns) = lat {
                w.lat_sum[k] += u128::from(*ns);
                w.lat_n[k] += 1;
            }
        }
        Ok(())
    }

    fn flush_window(&mut self) -> Result<(), BenchError> {
        let Some(window) = self.window else {
            return Ok(());
        };
        let at = self.window_end;
        let secs = window.as_secs_f64();
        for dir in Dir::ALL {
            let w = std::mem::take(&mut self.sums[dir.index()]);
            if w.ios == 0 {
                continue;
            }
            for k in 0..3 {
                if w.lat_n[k] > 0 {
                    self.line(
                        k,
                        at,
                        (w.lat_sum[k] / u128::from(w.lat_n[k])) as u64,
                        dir,
                        0,
                    )?;
                }
            }
            self.line(3, at, (w.bytes as f64 / 1024.0 / secs) as u64, dir, 0)?;
            self.line(4, at, (w.ios as f64 / secs) as u64, dir, 0)?;
        }
        Ok(())
    }

    /// Writes the last (partial) window and flushes every file.
    pub fn finish(mut self) -> Result<(), BenchError> {
        if self.sums.iter().any(|w| w.ios > 0) {
            self.flush_window()?;
        }
        for (path, w) in self.writers.iter_mut().flatten() {
            w.flush().map_err(|source| BenchError::Output {
                what: "job log",
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_io_and_averaged_lines_follow_fio() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("j").display().to_string();
        let mut job = JobOptions::new("j");
        job.write_lat_log = Some(prefix.clone());
        job.write_iops_log = Some(prefix.clone());
        let files = LogFiles::create(&job, 1).unwrap();
        let mut log = JobLog::new(files, 0);
        let sample = |ms: u64, lat: u64| Sample {
            at: Duration::from_millis(ms),
            dir: Dir::Write,
            bytes: 4096,
            lat: [Some(lat), Some(lat - 100), None],
        };
        log.record(sample(3, 1000)).unwrap();
        log.finish().unwrap();
        let read = |kind: &str| std::fs::read_to_string(format!("{prefix}_{kind}.1.log")).unwrap();
        assert_eq!(read("lat"), "3, 1000, 1, 4096, 0\n");
        assert_eq!(read("clat"), "3, 900, 1, 4096, 0\n");
        assert_eq!(read("slat"), "");
        assert_eq!(read("iops"), "3, 1, 1, 4096, 0\n");

        let files = LogFiles::create(&job, 2).unwrap();
        let mut log = JobLog::new(files, 10);
        for ms in [1, 2, 3, 12] {
            log.record(sample(ms, 2000)).unwrap();
        }
        log.finish().unwrap();
        let iops = std::fs::read_to_string(format!("{prefix}_iops.2.log")).unwrap();
        assert_eq!(iops, "10, 300, 1, 0, 0\n20, 100, 1, 0, 0\n");
    }
}
