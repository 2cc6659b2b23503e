//! What a run measured: latency distributions, counters and per-interval series.
//!
//! Each job thread owns its [`JobStats`] (no sharing, no locks on the I/O path) and the
//! main thread merges them at the end. Latencies are nanoseconds in fixed-bounds
//! HdrHistograms ([`LAT_NS_MAX`], 3 significant digits), so histograms of different
//! jobs and cores merge exactly; exact min, max, mean and standard deviation are kept
//! beside each histogram (fio reports exact ones, and a bucketed mean would differ).
//! Values above the bound are recorded as the bound and counted in `saturated`.
//!
//! The series ([`IntervalSample`]) cut the measured time into fixed intervals (1 s by
//! default) and count I/Os, bytes and, when an HdrHistogram log is asked for, carry
//! each interval's latency histograms in their compact V2 encoding. An interval in which
//! nothing completed is still emitted, so a stall shows as a zero, never as a gap.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};

use crate::affinity::ThreadUsage;
use crate::workload::Dir;

/// Highest latency a histogram holds, ns (one hour).
pub const LAT_NS_MAX: u64 = 3_600_000_000_000;
/// Significant decimal digits of every histogram.
pub const LAT_SIGFIG: u8 = 3;

/// A new empty latency histogram with the crate's fixed bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LAT_NS_MAX, LAT_SIGFIG).expect("constant bounds are valid")
}

/// One latency distribution: histogram plus exact moments.
#[derive(Debug, Clone)]
pub struct LatStat {
    /// The distribution, ns.
    pub hist: Histogram<u64>,
    /// Exact smallest value, ns (0 when empty).
    pub min_ns: u64,
    /// Exact largest value, ns.
    pub max_ns: u64,
    /// Sum of values, ns.
    pub sum_ns: u128,
    /// Sum of squared values, ns².
    pub sum_sq_ns: f64,
    /// Values that exceeded [`LAT_NS_MAX`] and were recorded as it.
    pub saturated: u64,
}

impl Default for LatStat {
    fn default() -> Self {
        LatStat {
            hist: new_histogram(),
            min_ns: 0,
            max_ns: 0,
            sum_ns: 0,
            sum_sq_ns: 0.0,
            saturated: 0,
        }
    }
}

impl LatStat {
    /// Records one latency.
    pub fn record(&mut self, ns: u64) {
        let n = self.count();
        self.min_ns = if n == 0 { ns } else { self.min_ns.min(ns) };
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns += ns as u128;
        self.sum_sq_ns += (ns as f64) * (ns as f64);
        let clamped = ns.clamp(1, LAT_NS_MAX);
        if clamped != ns.max(1) {
            self.saturated += 1;
        }
        self.hist.record(clamped).expect("clamped into bounds");
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Exact mean, ns (0 when empty).
    pub fn mean_ns(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.sum_ns as f64 / n as f64,
        }
    }

    /// Sample standard deviation, ns (0 with fewer than 2 values), as fio computes it.
    pub fn stddev_ns(&self) -> f64 {
        let n = self.count();
        if n < 2 {
            return 0.0;
        }
        let mean = self.mean_ns();
        let var = (self.sum_sq_ns - n as f64 * mean * mean) / (n as f64 - 1.0);
        var.max(0.0).sqrt()
    }

    /// The value at percentile `p` (0..=100), ns: the highest value equivalent to the
    /// bucket holding it, so it is never below the true percentile.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        if self.count() == 0 {
            return 0;
        }
        self.hist
            .value_at_quantile(p / 100.0)
            .min(self.max_ns.max(1))
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &LatStat) {
        if other.count() == 0 {
            return;
        }
        self.min_ns = if self.count() == 0 {
            other.min_ns
        } else {
            self.min_ns.min(other.min_ns)
        };
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns += other.sum_ns;
        self.sum_sq_ns += other.sum_sq_ns;
        self.saturated += other.saturated;
        self.hist.add(&other.hist).expect("same bounds");
    }
}

/// Counters and latencies of one direction (reads or writes).
#[derive(Debug, Clone, Default)]
pub struct DirStats {
    /// Completed I/Os.
    pub ios: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Submission latency: from queue to the end of the commit that submitted it. Empty
    /// for synchronous engines.
    pub slat: LatStat,
    /// Completion latency: from submission (or, for synchronous engines, from the
    /// start of the call) to completion.
    pub clat: LatStat,
    /// Total latency: from the I/O's start — its scheduled start when `rate_iops` is set,
    /// so time spent waiting behind a stall is counted — to completion.
    pub lat: LatStat,
}

impl DirStats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &DirStats) {
        self.ios += other.ios;
        self.bytes += other.bytes;
        self.slat.merge(&other.slat);
        self.clat.merge(&other.clat);
        self.lat.merge(&other.lat);
    }
}

/// Which latency an interval histogram holds, and its tag in the HdrHistogram log:
/// one per direction ([`Dir::index`]), then syncs ([`SYNC_TAG`]).
pub const INTERVAL_TAGS: [&str; 4] = ["read.lat", "write.lat", "trim.lat", "sync.lat"];
/// Index of the sync histogram in [`INTERVAL_TAGS`].
pub const SYNC_TAG: usize = 3;

/// One interval of the measured time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalSample {
    /// Start of the interval from the start of measurement.
    pub start: Duration,
    /// Length of the interval (the last one may be shorter).
    pub duration: Duration,
    /// Completed reads, writes and trims.
    pub ios: [u64; 3],
    /// Bytes read, written and trimmed.
    pub bytes: [u64; 3],
    /// Completed syncs.
    pub sync_ios: u64,
    /// V2-encoded latency histograms per [`INTERVAL_TAGS`], one entry per job merged in
    /// (empty unless an HdrHistogram log was asked for).
    pub encoded: [Vec<Vec<u8>>; 4],
}

impl IntervalSample {
    /// Adds `other` (the same interval of another job) into `self`.
    pub fn merge(&mut self, other: &IntervalSample) {
        self.duration = self.duration.max(other.duration);
        for d in 0..3 {
            self.ios[d] += other.ios[d];
            self.bytes[d] += other.bytes[d];
        }
        self.sync_ios += other.sync_ios;
        for t in 0..4 {
            self.encoded[t].extend(other.encoded[t].iter().cloned());
        }
    }
}

/// Builds the interval series while a job runs.
#[derive(Debug)]
pub struct IntervalRecorder {
    start: Instant,
    len: Duration,
    current: IntervalSample,
    index: u64,
    hists: Option<[Histogram<u64>; 4]>,
    done: Vec<IntervalSample>,
}

impl IntervalRecorder {
    /// Starts recording at `start`, cutting every `len`; keeps histograms if `with_hdr`.
    pub fn new(start: Instant, len: Duration, with_hdr: bool) -> IntervalRecorder {
        assert!(!len.is_zero());
        IntervalRecorder {
            start,
            len,
            current: IntervalSample {
                duration: len,
                ..IntervalSample::default()
            },
            index: 0,
            hists: with_hdr.then(|| {
                [
                    new_histogram(),
                    new_histogram(),
                    new_histogram(),
                    new_histogram(),
                ]
            }),
            done: Vec::new(),
        }
    }

    /// Closes intervals up to the one containing `t`.
    fn advance_to(&mut self, t: Instant) {
        let index =
            (t.saturating_duration_since(self.start).as_nanos() / self.len.as_nanos()) as u64;
        while self.index < index {
            self.close_current(self.len);
        }
    }

    fn close_current(&mut self, duration: Duration) {
        let mut sample = std::mem::take(&mut self.current);
        sample.start = self.len * self.index as u32;
        sample.duration = duration;
        if let Some(hists) = self.hists.as_mut() {
            for (tag, hist) in hists.iter_mut().enumerate() {
                if hist.is_empty() {
                    continue;
                }
                let mut bytes = Vec::new();
                V2Serializer::new()
                    .serialize(hist, &mut bytes)
                    .expect("serializing into a Vec cannot fail");
                sample.encoded[tag].push(bytes);
                hist.reset();
            }
        }
        self.done.push(sample);
        self.index += 1;
    }

    /// Records a completed data I/O (its latency, if measured).
    pub fn record_io(&mut self, t: Instant, dir: Dir, bytes: u64, lat_ns: Option<u64>) {
        self.advance_to(t);
        self.current.ios[dir.index()] += 1;
        self.current.bytes[dir.index()] += bytes;
        if let (Some(hists), Some(ns)) = (self.hists.as_mut(), lat_ns) {
            hists[dir.index()].saturating_record(ns.clamp(1, LAT_NS_MAX));
        }
    }

    /// Records a completed sync.
    pub fn record_sync(&mut self, t: Instant, lat_ns: u64) {
        self.advance_to(t);
        self.current.sync_ios += 1;
        if let Some(hists) = self.hists.as_mut() {
            hists[SYNC_TAG].saturating_record(lat_ns.clamp(1, LAT_NS_MAX));
        }
    }

    /// Ends recording at `end` and returns the series.
    pub fn finish(mut self, end: Instant) -> Vec<IntervalSample> {
        self.advance_to(end);
        let tail = end
            .saturating_duration_since(self.start)
            .saturating_sub(self.len * self.index as u32);
        // A sliver of a tail (the I/Os that completed right at the deadline) would show
        // as an absurd rate; fold it into the last full interval instead.
        let sliver = tail < self.len / 100;
        match self.done.last_mut() {
            Some(last) if sliver => {
                let current = std::mem::take(&mut self.current);
                last.merge(&current);
                last.duration += tail;
                if let Some(hists) = self.hists.as_mut() {
                    for (tag, hist) in hists.iter_mut().enumerate() {
                        if !hist.is_empty() {
                            let mut bytes = Vec::new();
                            V2Serializer::new()
                                .serialize(hist, &mut bytes)
                                .expect("serializing into a Vec cannot fail");
                            last.encoded[tag].push(bytes);
                        }
                    }
                }
            }
            _ if !tail.is_zero() => self.close_current(tail),
            _ => {}
        }
        self.done
    }
}

/// The error that stopped a job while it measured (fio's per-job `error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The errno fio would report (`BenchError::errno`).
    pub errno: i32,
    /// The error, as printed.
    pub message: String,
}

/// Everything one job thread (or a merged group) measured.
#[derive(Debug, Clone, Default)]
pub struct JobStats {
    /// The error that stopped the job early, if one did: the rest holds what was
    /// measured until then.
    pub failed: Option<JobFailure>,
    /// Reads, writes and trims, indexed by [`Dir::index`].
    pub dirs: [DirStats; 3],
    /// fsync/fdatasync latency, from submission (or, for synchronous engines, from the
    /// call) to completion, as fio's `sync` section.
    pub sync: LatStat,
    /// Measured time (after ramp), the longest of the merged jobs.
    pub runtime: Duration,
    /// CPU usage of the thread(s) over the measured time.
    pub usage: ThreadUsage,
    /// Per-interval series.
    pub intervals: Vec<IntervalSample>,
    /// Engine-specific figures.
    pub engine_extra: serde_json::Map<String, serde_json::Value>,
    /// Figures of the harness itself (offset coverage, verify counts), for the JSON.
    pub harness_extra: serde_json::Map<String, serde_json::Value>,
    /// How many job threads were merged into this.
    pub jobs_merged: u32,
    /// The depth the job ran at: `min(iodepth, engine.depth_max())` (the largest of
    /// the merged jobs).
    pub iodepth_effective: u32,
    /// Where the per-I/O timestamps came from (`clocksource`, fio's spelling).
    pub clocksource: &'static str,
}

impl JobStats {
    /// Adds another job's stats into `self` (fio's `group_reporting`).
    pub fn merge(&mut self, other: &JobStats) {
        for d in 0..3 {
            self.dirs[d].merge(&other.dirs[d]);
        }
        self.sync.merge(&other.sync);
        self.runtime = self.runtime.max(other.runtime);
        self.usage.user_us += other.usage.user_us;
        self.usage.system_us += other.usage.system_us;
        self.usage.context_switches += other.usage.context_switches;
        self.usage.major_faults += other.usage.major_faults;
        self.usage.minor_faults += other.usage.minor_faults;
        for (i, sample) in other.intervals.iter().enumerate() {
            match self.intervals.get_mut(i) {
                Some(mine) => mine.merge(sample),
                None => self.intervals.push(sample.clone()),
            }
        }
        for (key, value) in &other.engine_extra {
            self.engine_extra
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        for (key, value) in &other.harness_extra {
            let merged = match (self.harness_extra.get(key), value) {
                (Some(serde_json::Value::Number(a)), serde_json::Value::Number(b)) => {
                    serde_json::Value::from(a.as_u64().unwrap_or(0) + b.as_u64().unwrap_or(0))
                }
                (Some(mine), _) => mine.clone(),
                (None, theirs) => theirs.clone(),
            };
            self.harness_extra.insert(key.clone(), merged);
        }
        self.jobs_merged += other.jobs_merged;
        self.iodepth_effective = self.iodepth_effective.max(other.iodepth_effective);
        if self.failed.is_none() {
            self.failed = other.failed.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lat_stat_moments_are_exact_and_merge() {
        let mut a = LatStat::default();
        let mut b = LatStat::default();
        for v in [100, 200, 300] {
            a.record(v);
        }
        b.record(1_000);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        assert_eq!(a.min_ns, 100);
        assert_eq!(a.max_ns, 1_000);
        assert_eq!(a.mean_ns(), 400.0);
        let expect = ((90_000.0 + 40_000.0 + 10_000.0 + 360_000.0) / 3.0f64).sqrt();
        assert!((a.stddev_ns() - expect).abs() < 1e-6);
        assert_eq!(a.percentile_ns(100.0), 1_000);
        assert!(a.percentile_ns(50.0) >= 200 && a.percentile_ns(50.0) <= 201);
    }

    #[test]
    fn huge_values_saturate_instead_of_failing() {
        let mut a = LatStat::default();
        a.record(LAT_NS_MAX * 2);
        assert_eq!(a.saturated, 1);
        assert_eq!(a.max_ns, LAT_NS_MAX * 2);
    }

    #[test]
    fn intervals_include_empty_ones_and_a_short_tail() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut rec = IntervalRecorder::new(t0, s, true);
        rec.record_io(t0 + Duration::from_millis(10), Dir::Read, 4096, Some(1000));
        rec.record_io(
            t0 + Duration::from_millis(2500),
            Dir::Write,
            4096,
            Some(1000),
        );
        let series = rec.finish(t0 + Duration::from_millis(2600));
        assert_eq!(series.len(), 3);
        assert_eq!(series[0].ios, [1, 0, 0]);
        assert_eq!(series[1].ios, [0, 0, 0]);
        assert_eq!(series[2].ios, [0, 1, 0]);
        assert_eq!(series[2].start, Duration::from_secs(2));
        assert_eq!(series[2].duration, Duration::from_millis(600));
        assert_eq!(series[0].encoded[0].len(), 1);
        assert!(series[1].encoded[0].is_empty());
    }
}
