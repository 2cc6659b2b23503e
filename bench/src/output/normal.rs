//! fio's human-readable report (`--output-format=normal`).
//!
//! The layout follows fio's so a reader's eye finds the same lines: a header per job,
//! then per direction `IOPS=…, BW=…`, the `slat`/`clat`/`lat` summaries, the `clat`
//! percentiles, the sync summary and percentiles, CPU usage, and the run-status line.
//! Latency units are picked per line (nsec, usec or msec) from the mean, as fio does.

use std::fmt::Write;

use crate::job::JobOptions;
use crate::output::{ReportEntry, rate_per_sec};
use crate::run::RunResult;
use crate::stats::LatStat;

fn unit_for(mean_ns: f64) -> (&'static str, f64) {
    if mean_ns < 10_000.0 {
        ("nsec", 1.0)
    } else if mean_ns < 10_000_000.0 {
        ("usec", 1_000.0)
    } else {
        ("msec", 1_000_000.0)
    }
}

fn bytes_human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 10_000.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.0}{}", UNITS[unit])
}

fn decimal_human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 10_000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.0}{}", UNITS[unit])
}

fn lat_line(out: &mut String, label: &str, stat: &LatStat) {
    if stat.count() == 0 {
        return;
    }
    let (unit, div) = unit_for(stat.mean_ns());
    let _ = writeln!(
        out,
        "    {label:>4} ({unit}): min={:.0}, max={:.0}, avg={:.2}, stdev={:.2}",
        stat.min_ns as f64 / div,
        stat.max_ns as f64 / div,
        stat.mean_ns() / div,
        stat.stddev_ns() / div
    );
}

fn percentile_lines(out: &mut String, label: &str, stat: &LatStat, list: &[f64]) {
    if stat.count() == 0 {
        return;
    }
    let (unit, div) = unit_for(stat.mean_ns());
    let _ = writeln!(out, "    {label} percentiles ({unit}):");
    for row in list.chunks(4) {
        let cells: Vec<String> = row
            .iter()
            .map(|&p| format!("{:>5.2}th=[{:>6.0}]", p, stat.percentile_ns(p) as f64 / div))
            .collect();
        let _ = writeln!(out, "     | {},", cells.join(", "));
    }
}

/// A block size as fio's job line shows it (`num2str` with 4 digits, base 1024):
/// `4096B`, `16.0KiB`, `128KiB`, `1024KiB`, `64.0MiB`.
pub fn fio_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 10_000 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 10_000.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let digits = (value.trunc() as u64).to_string().len();
    let decimals = 3usize.saturating_sub(digits);
    format!("{value:.decimals$}{}", UNITS[unit])
}

/// fio's line announcing a job
/// (`name: (g=0): rw=randread, bs=(R) 4096B-4096B, (W) ..., ioengine=psync, iodepth=1`),
/// as it prints one per job when a run starts (and `--parse-only` prints them alone).
pub fn job_line(o: &JobOptions, group: u32) -> String {
    let range =
        |b: &crate::job::kinds::BlockSize| format!("{}-{}", fio_size(b.min()), fio_size(b.max()));
    let [r, w, t] = &o.block_sizes;
    let rw = match o.rw_modifier {
        Some(m) => format!("{}:{m}", o.rw.as_str()),
        None => o.rw.as_str().to_string(),
    };
    format!(
        "{}: (g={group}): rw={rw}, bs=(R) {}, (W) {}, (T) {}, ioengine={}, iodepth={}",
        o.name,
        range(r),
        range(w),
        range(t),
        o.ioengine_alias.as_deref().unwrap_or(o.ioengine.as_str()),
        o.iodepth
    )
}

/// Renders the whole report.
pub fn render(result: &RunResult, entries: &[ReportEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(out, "{}", job_line(&e.options, e.group));
    }
    let _ = writeln!(out, "{}", crate::VERSION);
    for e in entries {
        let s = &e.stats;
        let _ = writeln!(
            out,
            "\n{}: (groupid={}, jobs={}): err={:2}: cpus={}",
            e.name,
            e.group,
            s.jobs_merged,
            s.failed.as_ref().map_or(0, |f| f.errno),
            e.cpus
                .as_ref()
                .map_or_else(|| "unpinned".to_string(), |c| format!("{c:?}"))
        );
        if let Some(f) = &s.failed {
            let _ = writeln!(
                out,
                "  error: {} (the figures below are what it measured until then)",
                f.message
            );
        }
        for (d, name) in ["read", "write", "trim"].iter().enumerate() {
            let dir = &s.dirs[d];
            if dir.ios == 0 {
                continue;
            }
            let bw = rate_per_sec(dir.bytes, s);
            let _ = writeln!(
                out,
                "  {name}: IOPS={:.0}, BW={}/s ({}/s)({}/{}msec)",
                rate_per_sec(dir.ios, s),
                bytes_human(bw),
                decimal_human(bw),
                bytes_human(dir.bytes as f64),
                s.runtime.as_millis()
            );
            lat_line(&mut out, "slat", &dir.slat);
            lat_line(&mut out, "clat", &dir.clat);
            lat_line(&mut out, "lat", &dir.lat);
            percentile_lines(&mut out, "clat", &dir.clat, &e.options.percentile_list);
        }
        if s.sync.count() > 0 {
            let _ = writeln!(out, "  fsync/fdatasync/sync_file_range:");
            lat_line(&mut out, "sync", &s.sync);
            percentile_lines(&mut out, "sync", &s.sync, &e.options.percentile_list);
        }
        let runtime_us = s.runtime.as_micros().max(1) as f64;
        let _ = writeln!(
            out,
            "  cpu          : usr={:.2}%, sys={:.2}%, ctx={}, majf={}, minf={}",
            100.0 * s.usage.user_us as f64 / runtime_us,
            100.0 * s.usage.system_us as f64 / runtime_us,
            s.usage.context_switches,
            s.usage.major_faults,
            s.usage.minor_faults
        );
        let _ = writeln!(
            out,
            "     issued rwts: total={},{},{},0",
            s.dirs[0].ios, s.dirs[1].ios, s.dirs[2].ios
        );
    }
    let mut groups: Vec<u32> = entries.iter().map(|e| e.group).collect();
    groups.dedup();
    for group in groups {
        let members: Vec<&ReportEntry> = entries.iter().filter(|e| e.group == group).collect();
        let _ = writeln!(out, "\nRun status group {group} (all jobs):");
        for (d, name) in ["READ", "WRITE", "TRIM"].iter().enumerate() {
            let bytes: u64 = members.iter().map(|e| e.stats.dirs[d].bytes).sum();
            if bytes == 0 {
                continue;
            }
            let runtime = members
                .iter()
                .map(|e| e.stats.runtime)
                .max()
                .unwrap_or_default();
            let bw = bytes as f64 / runtime.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "  {name}: bw={}/s ({}/s), io={} ({}), run={}msec",
                bytes_human(bw),
                decimal_human(bw),
                bytes_human(bytes as f64),
                decimal_human(bytes as f64),
                runtime.as_millis()
            );
        }
    }
    let _ = result;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_print_as_fio_prints_them() {
        let cases = [
            (4096, "4096B"),
            (1500, "1500B"),
            (16 << 10, "16.0KiB"),
            (12 << 10, "12.0KiB"),
            (100 << 10, "100KiB"),
            (128 << 10, "128KiB"),
            (1 << 20, "1024KiB"),
            (4 << 20, "4096KiB"),
            (64 << 20, "64.0MiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(fio_size(bytes), text);
        }
    }
}
