//! Reading report inputs into [`Run`]s.
//!
//! fio-format JSON (boreal-bench's or fio's, told apart by their version key): a [`Row`]
//! per job and direction with I/Os, the key figures from the `percentile` map, and a
//! latency [`Curve`] per job and direction (`clat`) plus one for syncs. With `json+`
//! the curve is drawn from every histogram bin, otherwise from the listed percentiles.
//! boreal-bench's `boreal.intervals` give IOPS over time; fio's JSON has no series.
//!
//! HdrHistogram interval logs: one curve per tag from the whole log's merged histogram,
//! and IOPS over time per tag from each interval's count. Times in both are seconds
//! from each job's start of measurement (boreal-bench's log leaves the ramp out, as
//! its JSON does), so the two line up on one time axis.
//!
//! Memory stays bounded whatever the file: the first [`SNIFF_BYTES`] are read and must
//! look like JSON or an interval log (a 2 GiB file of something else is refused after
//! them), and a file above [`INPUT_BYTES_MAX`] is refused before it is loaded.
//!
//! Each JSON run also carries the settings that tell runs apart ([`Run::attributes`]:
//! engine, bs, iodepth, rw, direct, numjobs, file), which label runs by what differs.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

use super::ReportError;
use super::base64;
use super::layers::Layer;

/// Key figures of one job and direction. Latencies in ns; `None` when not reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Job name (or log tag).
    pub job: String,
    /// `read`, `write`, or a log tag's kind.
    pub dir: String,
    /// Completed I/Os.
    pub ios: u64,
    /// I/Os per second.
    pub iops: Option<f64>,
    /// Bytes per second.
    pub bw_bytes: Option<f64>,
    /// Completion latency percentiles 50, 99, 99.9, and the maximum.
    pub clat_p50: Option<f64>,
    /// See `clat_p50`.
    pub clat_p99: Option<f64>,
    /// See `clat_p50`.
    pub clat_p999: Option<f64>,
    /// See `clat_p50`.
    pub clat_max: Option<f64>,
    /// The job's sync latency p99.
    pub sync_p99: Option<f64>,
}

/// A latency distribution as (percentile 0..=100, value ns) points, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// What it is, e.g. `randread read clat`.
    pub name: String,
    /// `clat` or `sync`: which plot it belongs to.
    pub metric: &'static str,
    /// Number of samples behind it (places the last point on the nines axis).
    pub count: u64,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// IOPS over time: (seconds from start, I/Os per second).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// What it is, e.g. `randread`.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// Bytes read to recognise an input before loading it.
pub const SNIFF_BYTES: usize = 64 << 10;
/// Largest input loaded, bytes (fio's json+ of a long multi-job run is tens of MiB).
pub const INPUT_BYTES_MAX: u64 = 512 << 20;

/// The settings that label runs, in label order, with fio's defaults.
pub const ATTRIBUTES: [(&str, &str); 7] = [
    ("engine", "psync"),
    ("bs", "4k"),
    ("iodepth", "1"),
    ("rw", "read"),
    ("direct", "0"),
    ("numjobs", "1"),
    ("file", ""),
];

/// One input file.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The file's name.
    pub label: String,
    /// The run's settings per [`ATTRIBUTES`] (values of its jobs joined by `|` when
    /// they differ); empty for an HdrHistogram log.
    pub attributes: Vec<(String, String)>,
    /// Which tool wrote it (`fio-3.33`, `boreal-bench-0.1.0`, `HdrHistogram log`).
    pub source: String,
    /// Table rows.
    pub rows: Vec<Row>,
    /// Latency curves.
    pub curves: Vec<Curve>,
    /// IOPS series.
    pub series: Vec<TimeSeries>,
    /// Each job as a layer of the stack ([`super::layers`]); none for an HdrHistogram
    /// log.
    pub layers: Vec<Layer>,
}

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    HdrLog,
}

/// Recognises an input from its first bytes: JSON starts with `{` (after any lines of
/// warnings fio prints before it), an interval log with `#`-comments, `Tag=` or a
/// histogram line.
fn sniff(head: &[u8]) -> Option<Kind> {
    let text = String::from_utf8_lossy(head);
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('{') {
            return Some(Kind::Json);
        }
        if line.starts_with('#') || line.starts_with("Tag=") || line.contains("HISTF") {
            return Some(Kind::HdrLog);
        }
        if line.starts_with("fio:") || line.starts_with("note:") || line.is_empty() {
            continue;
        }
        // Anything else before the JSON or the log's header is not an input.
        return None;
    }
    None
}

/// Reads one input file (see the module docs for the memory bound).
pub fn load(path: &Path) -> Result<Run, ReportError> {
    let read_err = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let format_err = |message: String| ReportError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    let Some(kind) = sniff(&head) else {
        return Err(format_err(format!(
            "not a report input: its first {} bytes are neither fio-format JSON nor an HdrHistogram interval log",
            head.len()
        )));
    };
    let len = file.metadata().map_err(read_err)?.len();
    if len > INPUT_BYTES_MAX {
        return Err(format_err(format!(
            "{len} bytes is more than the {INPUT_BYTES_MAX} bytes boreal report loads; report on a shorter run (or fewer jobs per file)"
        )));
    }
    let mut bytes = head;
    file.read_to_end(&mut bytes).map_err(read_err)?;
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match kind {
        Kind::Json => {
            let text = String::from_utf8_lossy(&bytes);
            let start = text.find('{').unwrap_or(0);
            let value: Value = serde_json::from_str(&text[start..])
                .map_err(|e| format_err(format!("not valid JSON: {e}")))?;
            from_json(label, &value).map_err(format_err)
        }
        Kind::HdrLog => from_hdr_log(label, &bytes).map_err(format_err),
    }
}

/// One job's settings per [`ATTRIBUTES`]: its options over the global ones, fio's
/// defaults, and boreal-bench's engine (what ran) over `ioengine` (what was asked).
fn job_attributes(global: &Value, job: &Value) -> Vec<String> {
    let option = |key: &str| -> Option<String> {
        job["job options"][key]
            .as_str()
            .or_else(|| global[key].as_str())
            .map(str::to_string)
    };
    ATTRIBUTES
        .iter()
        .map(|(name, default)| {
            let value = match *name {
                "engine" => job["boreal"]["engine"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| option("ioengine")),
                "rw" => option("rw").or_else(|| option("readwrite")),
                "bs" => option("bs").or_else(|| option("blocksize")),
                "direct" => option("direct").or_else(|| {
                    option("buffered").map(|b| if b == "0" { "1".into() } else { "0".into() })
                }),
                "file" => option("filename").or_else(|| option("directory")),
                other => option(other),
            };
            value.unwrap_or_else(|| (*default).to_string())
        })
        .collect()
}

fn pct(lat: &Value, p: &str) -> Option<f64> {
    lat.get("percentile")?.get(p)?.as_f64()
}

fn curve_from_lat(name: String, metric: &'static str, lat: &Value) -> Option<Curve> {
    let count = lat.get("N")?.as_u64()?;
    if count == 0 {
        return None;
    }
    let mut points = Vec::new();
    if let Some(bins) = lat.get("bins").and_then(Value::as_object) {
        let mut bins: Vec<(f64, f64)> = bins
            .iter()
            .filter_map(|(k, v)| Some((k.parse::<f64>().ok()?, v.as_f64()?)))
            .collect();
        bins.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = bins.iter().map(|b| b.1).sum();
        let mut seen = 0.0f64;
        for (value, n) in bins {
            // The first sample of the bin sits at the bin's lower percentile.
            points.push((100.0 * (seen + 1.0).min(total) / total, value));
            seen += n;
            points.push((100.0 * seen / total, value));
        }
    } else if let Some(map) = lat.get("percentile").and_then(Value::as_object) {
        if let Some(min) = lat.get("min").and_then(Value::as_f64) {
            points.push((0.0, min));
        }
        for (k, v) in map {
            if let (Ok(p), Some(v)) = (k.parse::<f64>(), v.as_f64()) {
                points.push((p, v));
            }
        }
        if let Some(max) = lat.get("max").and_then(Value::as_f64) {
            points.push((100.0, max));
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    points.dedup();
    (!points.is_empty()).then_some(Curve {
        name,
        metric,
        count,
        points,
    })
}

fn from_json(label: String, value: &Value) -> Result<Run, String> {
    let source = value
        .get("boreal-bench version")
        .or_else(|| value.get("fio version"))
        .or_else(|| value.get("boreal-measure version"))
        .and_then(Value::as_str)
        .ok_or("no \"fio version\" or \"boreal-bench version\" key: not fio-format JSON")?
        .to_string();
    let jobs = value
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or("no \"jobs\" array")?;
    let global = value.get("global options").cloned().unwrap_or(Value::Null);
    let mut per_job: Vec<Vec<String>> = jobs.iter().map(|j| job_attributes(&global, j)).collect();
    let attributes = ATTRIBUTES
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let mut values: Vec<String> = Vec::new();
            for a in per_job.iter_mut() {
                let v = std::mem::take(&mut a[i]);
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            (name.to_string(), values.join("|"))
        })
        .collect();
    let mut run = Run {
        label,
        attributes,
        source,
        rows: Vec::new(),
        curves: Vec::new(),
        series: Vec::new(),
        layers: Vec::new(),
    };
    for (index, job) in jobs.iter().enumerate() {
        let mut name = job
            .get("jobname")
            .and_then(Value::as_str)
            .unwrap_or("job")
            .to_string();
        // fio's job names need not be unique (numjobs copies share one): number them
        // only then.
        let same = jobs
            .iter()
            .filter(|j| j.get("jobname").and_then(Value::as_str) == Some(name.as_str()))
            .count();
        if same > 1 {
            name = format!("{name}#{index}");
        }
        run.layers.push(super::layers::of_job(&name, &global, job));
        let sync = &job["sync"]["lat_ns"];
        let sync_p99 = pct(sync, "99.000000");
        for dir in ["read", "write"] {
            let d = &job[dir];
            let ios = d["total_ios"].as_u64().unwrap_or(0);
            if ios == 0 {
                continue;
            }
            let clat = &d["clat_ns"];
            run.rows.push(Row {
                job: name.clone(),
                dir: dir.to_string(),
                ios,
                iops: d["iops"].as_f64(),
                bw_bytes: d["bw_bytes"].as_f64(),
                clat_p50: pct(clat, "50.000000"),
                clat_p99: pct(clat, "99.000000"),
                clat_p999: pct(clat, "99.900000"),
                clat_max: clat["max"].as_f64(),
                sync_p99,
            });
            if let Some(c) = curve_from_lat(format!("{name} {dir} clat"), "clat", clat) {
                run.curves.push(c);
            }
        }
        if let Some(c) = curve_from_lat(format!("{name} sync"), "sync", sync) {
            run.curves.push(c);
        }
        if let Some(intervals) = job["boreal"]["intervals"].as_array() {
            // A last partial interval shorter than half the others is left out: its
            // rate over a sliver of time is noise, not a stall.
            let full = intervals
                .iter()
                .filter_map(|i| i["duration_ms"].as_f64())
                .fold(0.0f64, f64::max);
            let points: Vec<(f64, f64)> = intervals
                .iter()
                .filter_map(|i| {
                    let t = i["t_ms"].as_f64()? / 1000.0;
                    let len_ms = i["duration_ms"].as_f64()?;
                    let len = len_ms / 1000.0;
                    let ios = i["read_ios"].as_f64()?
                        + i["write_ios"].as_f64()?
                        + i["trim_ios"].as_f64().unwrap_or(0.0);
                    (len > 0.0 && len_ms * 2.0 >= full).then_some((t + len, ios / len))
                })
                .collect();
            if !points.is_empty() {
                run.series.push(TimeSeries { name, points });
            }
        }
    }
    Ok(run)
}

fn from_hdr_log(label: String, bytes: &[u8]) -> Result<Run, String> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| format!("malformed interval log: {e:?}"))?;
        let LogEntry::Interval(interval) = entry else {
            continue;
        };
        let tag = interval
            .tag()
            .map_or_else(|| "untagged".to_string(), |t| t.as_str().to_string());
        let raw = base64::decode(interval.encoded_histogram())?;
        let hist: Histogram<u64> = deserializer
            .deserialize(&mut raw.as_slice())
            .map_err(|e| format!("bad histogram in tag {tag}: {e:?}"))?;
        let start = interval.start_timestamp().as_secs_f64();
        let len = interval.duration().as_secs_f64();
        if len > 0.0 {
            series
                .entry(tag.clone())
                .or_default()
                .push((start + len, hist.len() as f64 / len));
        }
        match merged.get_mut(&tag) {
            Some(total) => total
                .add(&hist)
                .map_err(|e| format!("tag {tag}: histograms do not merge: {e:?}"))?,
            None => {
                merged.insert(tag, hist);
            }
        }
    }
    if merged.is_empty() {
        return Err("the interval log holds no histogram".to_string());
    }
    let mut run = Run {
        label,
        attributes: Vec::new(),
        source: "HdrHistogram log".to_string(),
        rows: Vec::new(),
        curves: Vec::new(),
        series: Vec::new(),
        layers: Vec::new(),
    };
    for (tag, hist) in &merged {
        let (job, kind) = tag.rsplit_once('/').unwrap_or(("", tag.as_str()));
        let is_sync = kind.starts_with("sync");
        let q = |p: f64| Some(hist.value_at_quantile(p / 100.0) as f64);
        run.rows.push(Row {
            job: job.to_string(),
            dir: kind.to_string(),
            ios: hist.len(),
            iops: None,
            bw_bytes: None,
            clat_p50: q(50.0),
            clat_p99: q(99.0),
            clat_p999: q(99.9),
            clat_max: Some(hist.max() as f64),
            sync_p99: is_sync.then(|| hist.value_at_quantile(0.99) as f64),
        });
        let mut points = Vec::new();
        let total = hist.len() as f64;
        let mut seen = 0.0;
        for v in hist.iter_recorded() {
            points.push((100.0 * (seen + 1.0) / total, v.value_iterated_to() as f64));
            seen += v.count_at_value() as f64;
            points.push((100.0 * seen / total, v.value_iterated_to() as f64));
        }
        run.curves.push(Curve {
            name: tag.clone(),
            metric: if is_sync { "sync" } else { "clat" },
            count: hist.len(),
            points,
        });
    }
    for (tag, points) in series {
        if tag.ends_with("sync.lat") {
            continue;
        }
        run.series.push(TimeSeries { name: tag, points });
    }
    Ok(run)
}
