//! Behaviour: the harness runs end to end in well under a second per job (the smoke mode
//! of STYLE.md habit 10): file layout, the psync engine, open-loop rate, ramp discard,
//! group reporting, every output format, the HdrHistogram log, and --compare-fio.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use boreal_bench::job::{build_jobs, parse::parse_job_args};
use boreal_bench::output::{self, json, normal};
use boreal_bench::run::{RunResult, run};
use boreal_bench::runner::RunnerConfig;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;
use support::bench_in;

fn run_args(dir: &Path, args: &[&str], config: RunnerConfig) -> RunResult {
    let mut all = vec![format!("--directory={}", dir.display())];
    all.extend(args.iter().map(|a| a.to_string()));
    let cli = parse_job_args(&all).unwrap();
    run(build_jobs(&cli.sections, &cli.global).unwrap(), config).unwrap()
}

fn json_of(result: &RunResult, bins: bool) -> Value {
    let entries = output::entries(result);
    serde_json::from_str(&json::to_string(&json::report(result, &entries, bins))).unwrap()
}

#[test]
fn size_bound_write_with_fdatasync_lays_out_and_counts_every_io() {
    let dir = tempfile::tempdir().unwrap();
    let result = run_args(
        dir.path(),
        &[
            "--name=w",
            "--rw=write",
            "--size=1m",
            "--io_size=256k",
            "--direct=1",
            "--fdatasync=2",
        ],
        RunnerConfig::default(),
    );
    let file = dir.path().join("w.0.0");
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        1 << 20,
        "laid out to size"
    );
    let report = json_of(&result, false);
    let job = &report["jobs"][0];
    assert_eq!(job["write"]["total_ios"], 64);
    assert_eq!(job["write"]["io_bytes"], 256 * 1024);
    assert_eq!(job["sync"]["total_ios"], 32);
    assert_eq!(job["read"]["total_ios"], 0);
    assert!(job["write"]["clat_ns"]["min"].as_u64().unwrap() > 0);
    let text = normal::render(&result, &output::entries(&result));
    assert!(text.contains("write: IOPS="), "{text}");
    assert!(text.contains("sync percentiles"), "{text}");
}

#[test]
fn time_based_randread_with_ramp_and_hdr_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = RunnerConfig {
        interval: Duration::from_millis(100),
        hdr_log: true,
    };
    let result = run_args(
        dir.path(),
        &[
            "--name=r",
            "--rw=randread",
            "--size=2m",
            "--direct=1",
            "--time_based",
            "--runtime=300ms",
            "--ramp_time=100ms",
        ],
        config,
    );
    let report = json_of(&result, true);
    let job = &report["jobs"][0];
    let runtime = job["read"]["runtime"].as_u64().unwrap();
    assert!(
        (300..1000).contains(&runtime),
        "ramp excluded from runtime: {runtime}"
    );
    let ios = job["read"]["total_ios"].as_u64().unwrap();
    let series: u64 = job["boreal"]["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["read_ios"].as_u64().unwrap())
        .sum();
    assert_eq!(series, ios, "the series accounts for every counted I/O");
    assert!(job["read"]["clat_ns"]["bins"].as_object().unwrap().len() > 1);

    let mut log = Vec::new();
    let entries = output::entries(&result);
    boreal_bench::hdrlog::write_log(&mut log, &result, &entries).unwrap();
    let mut total = 0;
    let mut intervals = 0;
    // The log's interval starts are the JSON's (from the start of measurement, ramp
    // left out of both), so a report lines them up.
    let json_starts: Vec<u64> = job["boreal"]["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["t_ms"].as_u64().unwrap())
        .collect();
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(h) = entry.unwrap() {
            assert_eq!(h.tag().unwrap().as_str(), "r/read.lat");
            assert_eq!(
                h.start_timestamp().as_millis() as u64,
                json_starts[intervals],
                "interval {intervals} starts where the JSON's does"
            );
            let bytes = decode_base64(h.encoded_histogram());
            let hist: hdrhistogram::Histogram<u64> =
                hdrhistogram::serialization::Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .unwrap();
            total += hist.len();
            intervals += 1;
        }
    }
    assert!(intervals >= 3, "{intervals}");
    assert_eq!(total, ios);
}

#[test]
fn rate_iops_is_open_loop_and_group_reporting_merges() {
    let dir = tempfile::tempdir().unwrap();
    let result = run_args(
        dir.path(),
        &[
            "--name=rated",
            "--rw=randwrite",
            "--size=1m",
            "--time_based",
            "--runtime=500ms",
            "--rate_iops=200",
            "--numjobs=2",
            "--group_reporting",
        ],
        RunnerConfig::default(),
    );
    let report = json_of(&result, false);
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "group_reporting merges the copies");
    let ios = jobs[0]["write"]["total_ios"].as_u64().unwrap();
    // 2 jobs x 200/s x 0.5 s = 200; allow scheduling slack.
    assert!((180..=210).contains(&ios), "{ios}");
    assert_eq!(jobs[0]["boreal"]["threads"], 2);
    assert_eq!(jobs[0]["boreal"]["rate_iops"][1], 200);
    // lat (from the scheduled start) is never below clat.
    let lat = jobs[0]["write"]["lat_ns"]["max"].as_u64().unwrap();
    let clat = jobs[0]["write"]["clat_ns"]["max"].as_u64().unwrap();
    assert!(lat >= clat);
}

#[test]
fn binary_refuses_bad_options_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("bad.fio");
    std::fs::write(&job, "[global]\nsize=1m\n[a]\nrw=randread\nthinktime=10\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .arg(&job)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.fio:5: option `thinktime` is not supported"),
        "{stderr}"
    );
}

#[test]
fn binary_help_explains_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_boreal-bench"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--output-format") && text.contains("rate_iops"),
        "{text}"
    );
}

#[test]
fn compare_fio_smoke_or_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("cmp.fio");
    std::fs::write(
        &job,
        "[global]\nioengine=psync\ndirect=1\nsize=1m\nbs=4k\n[cmp]\nrw=randread\nruntime=200ms\ntime_based\n",
    )
    .unwrap();
    let fio_present = Command::new("fio").arg("--version").output().is_ok();
    let out = bench_in(dir.path())
        .args(["--compare-fio", "--rounds=1", "--compare-dir=cmp-out"])
        .arg(&job)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !fio_present {
        assert!(!out.status.success());
        assert!(stderr.contains("not installed"), "{stderr}");
        eprintln!("fio is not installed: checked the message only");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("boreal/fio"), "{stdout}");
    assert!(stdout.contains("clat p99.9 us"), "{stdout}");
    for file in ["job.fio", "fio-round0.json", "boreal-round0.json"] {
        assert!(dir.path().join("cmp-out").join(file).exists(), "{file}");
    }
    // Both tools used the same file, named as fio names it.
    assert!(dir.path().join("cmp.0.0").exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "cmp.fio, cmp.0.0, cmp-out"
    );

    let missing = bench_in(dir.path())
        .args(["--compare-fio", "--fio=/nonexistent/fio"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not installed"));
}

/// Standard base64 decoding (the log's histograms), kept here to need no extra crate.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, &d) in chunk.iter().enumerate() {
            acc |= (d as u32) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// `clocksource`: fio's default (`cpu` where the kernel keeps time with the TSC, else
/// `clock_gettime`) is reported in the JSON, and a job timed on the cycle clock lasts
/// as long by the OS clock (a miscalibrated rate would end it early or late).
#[test]
fn clocksource_is_reported_and_the_cycle_clock_keeps_time() {
    let tsc =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|s| s.trim() == "tsc");
    for (arg, want) in [
        (None, if tsc { "cpu" } else { "clock_gettime" }),
        (Some("--clocksource=clock_gettime"), "clock_gettime"),
        (Some("--clocksource=cpu"), "cpu"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--name=c",
            "--rw=read",
            "--size=1m",
            "--time_based",
            "--runtime=300ms",
        ];
        args.extend(arg);
        if arg == Some("--clocksource=cpu") && !tsc {
            let mut all = vec![format!("--directory={}", dir.path().display())];
            all.extend(args.iter().map(|a| a.to_string()));
            let cli = parse_job_args(&all).unwrap();
            let err = run(
                build_jobs(&cli.sections, &cli.global).unwrap(),
                RunnerConfig::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("clocksource=clock_gettime"), "{err}");
            continue;
        }
        let wall = std::time::Instant::now();
        let result = run_args(dir.path(), &args, RunnerConfig::default());
        let wall = wall.elapsed();
        let report = json_of(&result, false);
        let job = &report["jobs"][0];
        assert_eq!(job["boreal"]["clocksource"], want, "{arg:?}");
        let runtime = Duration::from_millis(job["read"]["runtime"].as_u64().unwrap());
        assert!(
            runtime >= Duration::from_millis(300) && wall >= runtime.mul_f64(0.98),
            "{arg:?}: the job measured {runtime:?} in {wall:?} of wall time"
        );
    }
}
