//! The layers side by side: one row per job saying which layer of the stack it
//! measured (the raw device, the single-node engine, the full quorum, or a peer such as
//! PostgreSQL or etcd from `scripts/measure.sh --peers`), its operations per second,
//! p50/p99 and what each operation cost: disk flushes, and for the cluster the shim's
//! network messages, each node's flushes, the bytes on the wire per redo byte, and the
//! nodes' own append latency (so a commit's p99 reads against the nodes' part of it).
//!
//! Read from a job's JSON only: `boreal.engine_stats` where the engine wrote one
//! (`layer`, `device_flushes_per_commit`, `shim_sends_per_commit`, ...), else the
//! job's own options (engine, rw, bs, iodepth, fdatasync) for a device job. A figure
//! the input does not have is shown as `-`, never guessed.

use std::fmt::Write;

use serde_json::Value;

use super::input::Run;
use super::text::{run_labels, sig3};

/// One job as a layer of the stack. Latencies in ns.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Job name.
    pub job: String,
    /// What it measured, in words.
    pub layer: String,
    /// Operations (commits, appends, I/Os) per second, both directions.
    pub rate: Option<f64>,
    /// p50 and p99 completion latency of the direction with the most operations.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// Disk flushes per operation.
    pub flushes_per_op: Option<f64>,
    /// The cluster's: network messages the shim sent per transaction.
    pub shim_msgs_per_txn: Option<f64>,
    /// The cluster's: device flushes per transaction, per node.
    pub node_flushes_per_txn: Option<f64>,
    /// The cluster's: bytes the shim sent per byte of redo.
    pub wire_per_redo_byte: Option<f64>,
    /// The cluster's: the nodes' own append latency (arrival to durable
    /// acknowledgement), p50 and p99 in µs, from their histograms.
    pub node_append_us: Option<(f64, f64)>,
}

/// Column headers of the layers table.
pub const HEADERS: [&str; COLUMNS] = [
    "run",
    "job",
    "layer",
    "ops/s",
    "p50 µs",
    "p99 µs",
    "disk flushes/op",
    "shim msgs/txn",
    "node flushes/txn/node",
    "wire B/redo B",
    "nodes' append p50/p99 µs",
];

/// Columns of the layers table.
pub const COLUMNS: usize = 11;

fn option(global: &Value, job: &Value, key: &str) -> Option<String> {
    job["job options"][key]
        .as_str()
        .or_else(|| global[key].as_str())
        .map(str::to_string)
}

fn pct(lat: &Value, p: &str) -> Option<f64> {
    lat.get("percentile")?.get(p)?.as_f64()
}

/// The layer of one job of a fio-format JSON (`global` is its `global options`).
pub fn of_job(name: &str, global: &Value, job: &Value) -> Layer {
    let stats = &job["boreal"]["engine_stats"];
    let engine = job["boreal"]["engine"]
        .as_str()
        .map(str::to_string)
        .or_else(|| option(global, job, "ioengine"))
        .unwrap_or_else(|| "psync".to_string());
    let ios = |dir: &str| job[dir]["total_ios"].as_u64().unwrap_or(0);
    let (reads, writes) = (ios("read"), ios("write"));
    let main = if writes >= reads { "write" } else { "read" };
    let rate = ["read", "write"]
        .iter()
        .filter_map(|d| job[*d]["iops"].as_f64())
        .reduce(|a, b| a + b);
    let clat = &job[main]["clat_ns"];
    let flushes_per_op = stats["device_flushes_per_commit"].as_f64().or_else(|| {
        let ops = reads + writes;
        let syncs = match stats["journal_syncs"].as_u64() {
            Some(s) => s,
            None => job["sync"]["total_ios"].as_u64().unwrap_or(0),
        };
        (ops > 0 && (syncs > 0 || engine == "boreal-journal")).then(|| syncs as f64 / ops as f64)
    });
    let layer = match stats["layer"].as_str() {
        Some(l) => l.to_string(),
        None if engine == "boreal-journal" => {
            "single node: one engine core (journal group commit, hot log, coalescer)".to_string()
        }
        None => {
            let o = |k: &str, d: &str| option(global, job, k).unwrap_or_else(|| d.to_string());
            let mut l = format!(
                "device: {engine} {} bs={} depth {}",
                o("rw", "read"),
                o("bs", "4k"),
                o("iodepth", "1")
            );
            for sync in ["fdatasync", "fsync"] {
                if let Some(n) = option(global, job, sync).filter(|n| n != "0") {
                    let _ = write!(l, ", {sync} every {n}");
                }
            }
            l
        }
    };
    Layer {
        job: name.to_string(),
        layer,
        rate,
        p50: pct(clat, "50.000000"),
        p99: pct(clat, "99.000000"),
        flushes_per_op,
        shim_msgs_per_txn: stats["shim_sends_per_commit"].as_f64(),
        node_flushes_per_txn: stats["node_device_flushes_per_commit"].as_f64(),
        wire_per_redo_byte: stats["shim_wire_bytes_per_redo_byte"].as_f64(),
        node_append_us: {
            let lat = &stats["node_append_latency_us"];
            lat["p50"].as_f64().zip(lat["p99"].as_f64())
        },
    }
}

fn num(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

/// The cells of one layer, in [`HEADERS`] order.
pub fn cells(run_label: &str, l: &Layer) -> [String; COLUMNS] {
    [
        run_label.to_string(),
        l.job.clone(),
        l.layer.clone(),
        num(l.rate, |v| format!("{v:.0}")),
        num(l.p50, |ns| sig3(ns / 1000.0)),
        num(l.p99, |ns| sig3(ns / 1000.0)),
        num(l.flushes_per_op, |v| format!("{v:.3}")),
        num(l.shim_msgs_per_txn, |v| format!("{v:.3}")),
        num(l.node_flushes_per_txn, |v| format!("{v:.3}")),
        num(l.wire_per_redo_byte, sig3),
        l.node_append_us.map_or_else(
            || "-".to_string(),
            |(p50, p99)| format!("{} / {}", sig3(p50), sig3(p99)),
        ),
    ]
}

/// Every layer of every run as cells, and the columns worth showing (the run column
/// only with several runs; a figure column only where some row has it).
pub fn all_cells(runs: &[Run]) -> (Vec<[String; COLUMNS]>, Vec<usize>) {
    let labels = run_labels(runs);
    let rows: Vec<[String; COLUMNS]> = runs
        .iter()
        .zip(&labels)
        .flat_map(|(run, label)| run.layers.iter().map(move |l| cells(label, l)))
        .collect();
    let shown = (0..HEADERS.len())
        .filter(|&i| i > 0 || runs.len() > 1)
        .filter(|&i| i < 3 || rows.iter().any(|r| r[i] != "-"))
        .collect();
    (rows, shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn device_engine_cluster_and_peer_jobs_each_say_their_layer() {
        let global = json!({"bs": "4k"});
        let device = json!({
            "job options": {"ioengine": "io_uring", "rw": "write", "iodepth": "1", "fdatasync": "1"},
            "write": {"total_ios": 1000, "iops": 500.0, "clat_ns": {"percentile": {"50.000000": 1000.0, "99.000000": 3000.0}}},
            "read": {"total_ios": 0},
            "sync": {"total_ios": 1000},
        });
        let l = of_job("w", &global, &device);
        assert_eq!(
            l.layer,
            "device: io_uring write bs=4k depth 1, fdatasync every 1"
        );
        assert_eq!(
            (l.rate, l.p99, l.flushes_per_op),
            (Some(500.0), Some(3000.0), Some(1.0))
        );
        let cluster = json!({
            "job options": {"ioengine": "boreal-cluster"},
            "write": {"total_ios": 100, "iops": 50.0, "clat_ns": {}},
            "boreal": {"engine": "boreal-cluster", "engine_stats": {
                "layer": "full quorum", "device_flushes_per_commit": 0.5,
                "shim_sends_per_commit": 0.1, "node_device_flushes_per_commit": 0.25,
                "shim_wire_bytes_per_redo_byte": 8.5,
                "node_append_latency_us": {"appends": 40, "p50": 423.0, "p90": 920.0, "p99": 2320.0}}},
        });
        let l = of_job("c", &global, &cluster);
        assert_eq!(l.layer, "full quorum");
        assert_eq!(l.flushes_per_op, Some(0.5));
        let c = cells("r", &l);
        assert_eq!(&c[6..], ["0.500", "0.100", "0.250", "8.50", "423 / 2320"]);
        assert_eq!(c[4], "-", "no percentile: not guessed");
        let journal = json!({
            "job options": {"ioengine": "boreal-journal"},
            "write": {"total_ios": 100, "iops": 50.0},
            "boreal": {"engine": "boreal-journal", "engine_stats": {"journal_syncs": 10}},
        });
        let l = of_job("j", &global, &journal);
        assert!(l.layer.starts_with("single node"), "{}", l.layer);
        assert_eq!(l.flushes_per_op, Some(0.1));
    }
}
