//! fio-compatible JSON (`--output-format=json` and `json+`).
//!
//! Field names, nesting and units follow fio 3.x so that tools which read fio JSON read
//! ours: `jobs[].read|write|trim` with `io_bytes`, `io_kbytes`, `bw_bytes`, `bw` (KiB/s),
//! `iops`, `runtime` (ms), `total_ios`, and `slat_ns`/`clat_ns`/`lat_ns` objects with
//! `min`, `max`, `mean`, `stddev`, `N` and, for `clat_ns` with samples, `percentile`
//! keyed like fio (`"99.900000"`); `jobs[].sync.lat_ns` for fsync/fdatasync. The top-level
//! `"fio version"` is replaced by `"boreal-bench version"`. `json+` adds `bins`
//! (value → count, value being the highest ns value of the histogram bucket) to every
//! latency object with samples. Fields fio has that we do not measure (`iodepth_level`,
//! `latency_us` buckets, `disk_util`) are left out rather than faked. Each job has a
//! `"boreal"` object: engine, placement (`unpinned`, or `pinned` to `cpus`), effective depth, the per-interval series, and the
//! engine's own figures under `engine_stats`.

use std::time::UNIX_EPOCH;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::job::JobOptions;
use crate::job::kinds::RateProcess;
use crate::output::{ReportEntry, rate_per_sec};
use crate::run::RunResult;
use crate::stats::{DirStats, IntervalSample, JobStats, LatStat};

/// A JSON object whose keys keep the order given (fio lists percentiles in order).
#[derive(Debug, Clone, Default)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(rename = "boreal-bench version")]
    version: &'static str,
    timestamp: u64,
    timestamp_ms: u64,
    time: String,
    #[serde(rename = "global options")]
    global_options: Ordered<String>,
    jobs: Vec<JobJson>,
}

#[derive(Debug, Serialize)]
struct JobJson {
    jobname: String,
    groupid: u32,
    error: i32,
    eta: u64,
    elapsed: u64,
    #[serde(rename = "job options")]
    job_options: Ordered<String>,
    read: DirJson,
    write: DirJson,
    trim: DirJson,
    sync: SyncJson,
    job_runtime: u64,
    usr_cpu: f64,
    sys_cpu: f64,
    ctx: u64,
    majf: u64,
    minf: u64,
    boreal: BorealJson,
}

#[derive(Debug, Serialize)]
struct DirJson {
    io_bytes: u64,
    io_kbytes: u64,
    bw_bytes: u64,
    bw: u64,
    iops: f64,
    runtime: u64,
    total_ios: u64,
    short_ios: u64,
    drop_ios: u64,
    slat_ns: LatJson,
    clat_ns: LatJson,
    lat_ns: LatJson,
    bw_min: u64,
    bw_max: u64,
    bw_agg: f64,
    bw_mean: f64,
    bw_dev: f64,
    bw_samples: u64,
    iops_min: u64,
    iops_max: u64,
    iops_mean: f64,
    iops_stddev: f64,
    iops_samples: u64,
}

#[derive(Debug, Serialize)]
struct LatJson {
    min: u64,
    max: u64,
    mean: f64,
    stddev: f64,
    #[serde(rename = "N")]
    n: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    percentile: Option<Ordered<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bins: Option<Ordered<u64>>,
}

#[derive(Debug, Serialize)]
struct SyncJson {
    total_ios: u64,
    lat_ns: LatJson,
}

#[derive(Debug, Serialize)]
struct BorealJson {
    engine: &'static str,
    /// `unpinned` (ran where the scheduler put it, as fio does without
    /// `cpus_allowed`) or `pinned` (to `cpus`).
    placement: &'static str,
    cpus: Vec<usize>,
    threads: u32,
    iodepth_effective: u32,
    /// The job's `rate` (bytes/s) and `rate_iops` limits: read, write, trim.
    rate: [Option<u64>; 3],
    rate_iops: [Option<u64>; 3],
    rate_process: &'static str,
    /// How a job that asked for another engine ran (`ioengine=libaio`).
    #[serde(skip_serializing_if = "Option::is_none")]
    engine_note: Option<String>,
    clocksource: &'static str,
    latency_note: &'static str,
    saturated_latencies: u64,
    interval_ms: u64,
    intervals: Vec<IntervalJson>,
    engine_stats: serde_json::Map<String, serde_json::Value>,
    /// The harness's own figures: `offsets` (blocks in the regions, blocks the I/Os
    /// touched, I/Os issued; ramp included), `verified_blocks`, and
    /// `storage_read_bytes` (what the job's reads fetched from storage rather than the
    /// page cache, from /proc/thread-self/io).
    harness: serde_json::Map<String, serde_json::Value>,
    /// The error that stopped the job early (`error` holds its errno); the figures
    /// are what it measured until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct IntervalJson {
    t_ms: u64,
    duration_ms: u64,
    read_ios: u64,
    write_ios: u64,
    read_bytes: u64,
    write_bytes: u64,
    trim_ios: u64,
    sync_ios: u64,
}

/// fio's key for a percentile: `%f` formatting, e.g. `99.900000`.
pub fn percentile_key(p: f64) -> String {
    format!("{p:.6}")
}

fn lat_json(stat: &LatStat, percentiles: Option<&[f64]>, bins: bool) -> LatJson {
    let n = stat.count();
    LatJson {
        min: stat.min_ns,
        max: stat.max_ns,
        mean: stat.mean_ns(),
        stddev: stat.stddev_ns(),
        n,
        percentile: percentiles.filter(|_| n > 0).map(|list| {
            Ordered(
                list.iter()
                    .map(|&p| (percentile_key(p), stat.percentile_ns(p)))
                    .collect(),
            )
        }),
        bins: (bins && n > 0).then(|| {
            Ordered(
                stat.hist
                    .iter_recorded()
                    .map(|v| (v.value_iterated_to().to_string(), v.count_at_value()))
                    .collect(),
            )
        }),
    }
}

/// min, max, mean, sample stddev, count.
fn sample_stats(samples: &[f64]) -> (f64, f64, f64, f64, u64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0, 0.0, 0);
    }
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = if samples.len() > 1 {
        samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(0.0, f64::max);
    (min, max, mean, var.sqrt(), samples.len() as u64)
}

/// Intervals at least half a full interval long (a short tail would distort min/max).
fn full_intervals(intervals: &[IntervalSample]) -> impl Iterator<Item = &IntervalSample> {
    let full = intervals
        .iter()
        .map(|s| s.duration)
        .max()
        .unwrap_or_default();
    intervals
        .iter()
        .filter(move |s| s.duration * 2 >= full && !s.duration.is_zero())
}

fn dir_json(
    d: &DirStats,
    dir: usize,
    stats: &JobStats,
    o: &JobOptions,
    bins: bool,
    group_bw_bytes: f64,
) -> DirJson {
    let clat_percentiles = o.clat_percentiles.then_some(o.percentile_list.as_slice());
    let lat_percentiles = o.lat_percentiles.then_some(o.percentile_list.as_slice());
    let bw_bytes = rate_per_sec(d.bytes, stats);
    let runtime_ms = if d.ios > 0 {
        stats.runtime.as_millis() as u64
    } else {
        0
    };
    let bw_samples: Vec<f64> = full_intervals(&stats.intervals)
        .map(|s| s.bytes[dir] as f64 / 1024.0 / s.duration.as_secs_f64())
        .collect();
    let iops_samples: Vec<f64> = full_intervals(&stats.intervals)
        .map(|s| s.ios[dir] as f64 / s.duration.as_secs_f64())
        .collect();
    let (bw_min, bw_max, bw_mean, bw_dev, bw_n) = if d.ios > 0 {
        sample_stats(&bw_samples)
    } else {
        (0.0, 0.0, 0.0, 0.0, 0)
    };
    let (iops_min, iops_max, iops_mean, iops_dev, iops_n) = if d.ios > 0 {
        sample_stats(&iops_samples)
    } else {
        (0.0, 0.0, 0.0, 0.0, 0)
    };
    DirJson {
        io_bytes: d.bytes,
        io_kbytes: d.bytes / 1024,
        bw_bytes: bw_bytes as u64,
        bw: (bw_bytes / 1024.0) as u64,
        iops: rate_per_sec(d.ios, stats),
        runtime: runtime_ms,
        total_ios: d.ios,
        short_ios: 0,
        drop_ios: 0,
        slat_ns: lat_json(&d.slat, None, bins),
        clat_ns: lat_json(&d.clat, clat_percentiles, bins),
        lat_ns: lat_json(&d.lat, lat_percentiles, bins),
        bw_min: bw_min as u64,
        bw_max: bw_max as u64,
        bw_agg: if group_bw_bytes > 0.0 {
            100.0 * bw_bytes / group_bw_bytes
        } else {
            0.0
        },
        bw_mean,
        bw_dev,
        bw_samples: bw_n,
        iops_min: iops_min as u64,
        iops_max: iops_max as u64,
        iops_mean,
        iops_stddev: iops_dev,
        iops_samples: iops_n,
    }
}

/// Builds the report of a run; `bins` for `json+`.
pub fn report(result: &RunResult, entries: &[ReportEntry], bins: bool) -> Report {
    let since_epoch = result
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let group_bw: [f64; 3] = [0, 1, 2].map(|d| {
        entries
            .iter()
            .map(|e| rate_per_sec(e.stats.dirs[d].bytes, &e.stats))
            .sum()
    });
    let jobs = entries
        .iter()
        .map(|e| {
            let s = &e.stats;
            let o = &e.options;
            let runtime_us = s.runtime.as_micros().max(1) as f64;
            let interval_ms = s
                .intervals
                .first()
                .map(|i| i.duration.as_millis() as u64)
                .unwrap_or(0);
            JobJson {
                jobname: e.name.clone(),
                groupid: e.group,
                error: s.failed.as_ref().map_or(0, |f| f.errno),
                eta: 0,
                elapsed: result.elapsed.as_secs().max(1),
                job_options: Ordered(o.echo.clone()),
                read: dir_json(&s.dirs[0], 0, s, o, bins, group_bw[0]),
                write: dir_json(&s.dirs[1], 1, s, o, bins, group_bw[1]),
                trim: dir_json(&s.dirs[2], 2, s, o, bins, group_bw[2]),
                sync: SyncJson {
                    total_ios: s.sync.count(),
                    lat_ns: lat_json(&s.sync, Some(&o.percentile_list), bins),
                },
                job_runtime: s.runtime.as_millis() as u64,
                usr_cpu: 100.0 * s.usage.user_us as f64 / runtime_us,
                sys_cpu: 100.0 * s.usage.system_us as f64 / runtime_us,
                ctx: s.usage.context_switches,
                majf: s.usage.major_faults,
                minf: s.usage.minor_faults,
                boreal: BorealJson {
                    engine: o.ioengine.as_str(),
                    placement: if e.cpus.is_some() { "pinned" } else { "unpinned" },
                    cpus: e.cpus.clone().unwrap_or_default(),
                    threads: s.jobs_merged,
                    iodepth_effective: s.iodepth_effective,
                    rate: o.rate,
                    rate_iops: o.rate_iops,
                    rate_process: match o.rate_process {
                        RateProcess::Linear => "linear",
                        RateProcess::Poisson => "poisson",
                    },
                    engine_note: o
                        .ioengine_alias
                        .as_deref()
                        .map(|alias| crate::run::engine_note(alias, o.ioengine)),
                    clocksource: s.clocksource,
                    latency_note: "clat_ns: submission to completion; lat_ns: from the I/O's start (its scheduled start when rate or rate_iops is set) to completion",
                    saturated_latencies: s
                        .dirs
                        .iter()
                        .map(|d| d.lat.saturated + d.clat.saturated)
                        .sum::<u64>()
                        + s.sync.saturated,
                    interval_ms,
                    intervals: s
                        .intervals
                        .iter()
                        .map(|i| IntervalJson {
                            t_ms: i.start.as_millis() as u64,
                            duration_ms: i.duration.as_millis() as u64,
                            read_ios: i.ios[0],
                            write_ios: i.ios[1],
                            read_bytes: i.bytes[0],
                            write_bytes: i.bytes[1],
                            trim_ios: i.ios[2],
                            sync_ios: i.sync_ios,
                        })
                        .collect(),
                    engine_stats: s.engine_extra.clone(),
                    harness: s.harness_extra.clone(),
                    error: s.failed.as_ref().map(|f| f.message.clone()),
                },
            }
        })
        .collect();
    Report {
        version: crate::VERSION,
        timestamp: since_epoch.as_secs(),
        timestamp_ms: since_epoch.as_millis() as u64,
        time: ctime_utc(since_epoch.as_secs()),
        global_options: Ordered(result.set.global_echo.clone()),
        jobs,
    }
}

/// Renders a report as pretty JSON with a trailing newline.
pub fn to_string(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("report serializes");
    text.push('\n');
    text
}

/// `ctime`-style time (`Thu Nov 26 14:48:08 2026`), in UTC.
pub fn ctime_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's public-domain method.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize;
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[weekday],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_keys_match_fio() {
        assert_eq!(percentile_key(99.9), "99.900000");
        assert_eq!(percentile_key(50.0), "50.000000");
        assert_eq!(percentile_key(99.99), "99.990000");
    }

    #[test]
    fn ctime_matches_a_known_date() {
        // fio printed "Thu Nov 26 14:48:08 2026" for timestamp 1795704488 (UTC machine).
        assert_eq!(ctime_utc(1_795_704_488), "Thu Nov 26 14:48:08 2026");
        assert_eq!(ctime_utc(0), "Thu Jan  1 00:00:00 1970");
    }
}
