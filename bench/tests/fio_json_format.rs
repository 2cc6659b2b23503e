//! Behaviour: boreal-bench's JSON has fio's structure, field names and value types.
//!
//! `fixtures/fio-randrw-fdatasync.json` is what fio 3.33 wrote (`--output-format=json+`)
//! for `fixtures/fio-randrw-fdatasync.fio`. This test runs the same job file through
//! boreal-bench and walks fio's JSON field by field: every field must exist in ours
//! with the same JSON type, except the few listed in `NOT_PRODUCED` (which we do not
//! measure and do not fake) and the version key, which is renamed.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::bench_in;

/// fio fields boreal-bench leaves out, with why.
const NOT_PRODUCED: &[&str] = &[
    "fio version",          // renamed to "boreal-bench version"
    "disk_util",            // device statistics from /sys are not collected
    "jobs[].iodepth_level", // depth distributions are not tracked
    "jobs[].iodepth_submit",
    "jobs[].iodepth_complete",
    "jobs[].latency_ns", // fio's coarse latency buckets: the histograms say more
    "jobs[].latency_us",
    "jobs[].latency_ms",
    "jobs[].latency_depth", // latency_target mode is not implemented
    "jobs[].latency_target",
    "jobs[].latency_percentile",
    "jobs[].latency_window",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks that `ours` has every field of `fio` (recursively) with the same type.
fn walk(path: &str, fio: &Value, ours: &Value, checked: &mut usize, problems: &mut Vec<String>) {
    if NOT_PRODUCED.contains(&path) {
        return;
    }
    if kind(fio) != kind(ours) {
        problems.push(format!(
            "{path}: fio has {}, ours has {}",
            kind(fio),
            kind(ours)
        ));
        return;
    }
    *checked += 1;
    match (fio, ours) {
        (Value::Object(f), Value::Object(o)) => {
            let is_bins = path.ends_with(".bins");
            for (key, fv) in f {
                if is_bins {
                    // Bin keys are bucket values; ours are HdrHistogram buckets.
                    assert!(key.parse::<u64>().is_ok(), "{path}: fio bin key {key}");
                    continue;
                }
                let child = format!("{path}{}{key}", if path.is_empty() { "" } else { "." });
                let child = child.replace("jobs.", "jobs[].");
                match o.get(key) {
                    Some(ov) => walk(&child, fv, ov, checked, problems),
                    None if NOT_PRODUCED.contains(&child.as_str()) => {}
                    None => problems.push(format!("{child}: missing in ours")),
                }
            }
            if is_bins {
                assert!(!o.is_empty(), "{path}: ours has no bins");
                assert!(o.keys().all(|k| k.parse::<u64>().is_ok()), "{path}");
            }
        }
        (Value::Array(f), Value::Array(o)) => {
            if let (Some(fe), Some(oe)) = (f.first(), o.first()) {
                walk(path, fe, oe, checked, problems);
            }
        }
        _ => {}
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn our_json_plus_has_every_field_of_fios() {
    let fio: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("fio-randrw-fdatasync.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = bench_in(dir.path())
        .arg("--output-format=json+")
        .arg("--output=ours.json")
        .arg(fixture("fio-randrw-fdatasync.fio"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ours.json")).unwrap())
            .unwrap();

    let mut checked = 0;
    let mut problems = Vec::new();
    walk("", &fio, &ours, &mut checked, &mut problems);
    assert!(
        problems.is_empty(),
        "field mismatches:\n{}",
        problems.join("\n")
    );
    assert!(checked > 150, "only {checked} fields compared");

    // The renamed version key, and the same echo of options.
    assert!(
        ours["boreal-bench version"]
            .as_str()
            .unwrap()
            .starts_with("boreal-bench-")
    );
    assert_eq!(ours["global options"], fio["global options"]);
    assert_eq!(
        ours["jobs"][0]["job options"],
        fio["jobs"][0]["job options"]
    );
    assert_eq!(ours["jobs"][0]["jobname"], fio["jobs"][0]["jobname"]);

    // Same work done: io_size=512k of 4k blocks, split between reads and writes.
    for report in [&fio, &ours] {
        let job = &report["jobs"][0];
        let reads = job["read"]["total_ios"].as_u64().unwrap();
        let writes = job["write"]["total_ios"].as_u64().unwrap();
        assert_eq!(reads + writes, 128);
        assert_eq!(job["read"]["io_bytes"].as_u64().unwrap(), reads * 4096);
        assert_eq!(job["read"]["clat_ns"]["N"].as_u64().unwrap(), reads);
        assert!(job["sync"]["lat_ns"]["N"].as_u64().unwrap() > 0);
        // Percentile keys in fio's format and order.
        let keys: Vec<&String> = job["write"]["clat_ns"]["percentile"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| a.parse::<f64>().unwrap().total_cmp(&b.parse().unwrap()));
        assert_eq!(keys, sorted);
        assert_eq!(keys, ["50.000000", "99.000000", "99.900000"]);
        // bw is KiB/s, runtime ms, as in fio.
        let w = &job["write"];
        let bw_bytes = w["bw_bytes"].as_f64().unwrap();
        assert!((w["bw"].as_f64().unwrap() - bw_bytes / 1024.0).abs() <= 1.0);
        // runtime is whole milliseconds, so bw lies between io/(runtime+1) and io/runtime.
        let runtime_ms = w["runtime"].as_f64().unwrap();
        let io = w["io_bytes"].as_f64().unwrap();
        let (lo, hi) = (
            io / ((runtime_ms + 1.0) / 1000.0),
            io / (runtime_ms / 1000.0),
        );
        assert!(
            bw_bytes >= lo * 0.99 && bw_bytes <= hi * 1.01,
            "{bw_bytes} not in {lo}..{hi}"
        );
    }
    // Ours has boreal's own object, with the engine and the series.
    let boreal = &ours["jobs"][0]["boreal"];
    assert_eq!(boreal["engine"], "psync");
    assert!(boreal["intervals"].as_array().is_some());
}
