//! The `boreal-cluster` engine's figures for the JSON (`boreal.engine_stats`): what a
//! measured window of commits cost the shim, the wire, each node and the disk.
//!
//! Counters are read when the measurement starts ([`Snapshot::start`]) and once more
//! at the end; every figure is a difference over that window, divided by the measured
//! commits (writes) or reads. Sources, each named in the JSON's `note`:
//! - commits and reads: the measured I/Os the engine completed;
//! - the shim's network messages and bytes: the `Io` seam under the shim
//!   (`CountingIo`: one `send` is one message, whatever frames it carries), and the
//!   shim's own counters (`Shim::stats`);
//! - each node's device flushes, journal batches, `AppendBatch` frames and record
//!   bytes: its Prometheus endpoint ([`super::scrape`]); the end scrape waits one
//!   publish interval so the journal figures of the last commits are in;
//! - the disk's flushes: its kernel counter (`/sys/block/DEV/stat`), the whole disk,
//!   as `scripts/measure.sh` counts them for PostgreSQL and etcd.

use std::cell::{OnceCell, RefCell};
use std::time::Duration;

use boreal_netlog::node::metrics::PUBLISH_INTERVAL;
use boreal_netlog::quorum::ShimStats;
use serde_json::{Map, Value, json};

use super::ClusterEngine;
use super::scrape::{Buckets, NodeCounters, scrape_all};
use crate::engine::counting::NetCounts;
use crate::placement::disk_flushes;

/// The nodes' counters, read on a thread of their own (`None`: not read).
type NodeScrape = Vec<Option<NodeCounters>>;

/// Counters at the start of the measurement.
#[derive(Debug)]
pub struct Snapshot {
    shim: ShimStats,
    net: NetCounts,
    disk_flushes: Option<u64>,
    /// The start scrape, joined when first asked for (it must not hold up the first
    /// I/Os).
    nodes: RefCell<Option<std::thread::JoinHandle<NodeScrape>>>,
    /// The start scrape once joined.
    joined: OnceCell<NodeScrape>,
}

impl Snapshot {
    /// Reads the engine's counters now and starts the nodes' scrape.
    pub(super) fn start(engine: &ClusterEngine) -> Snapshot {
        let addrs = engine
            .cluster
            .as_ref()
            .map(|c| c.metrics_addrs())
            .unwrap_or_default();
        let nodes = std::thread::Builder::new()
            .name("cluster-scrape".into())
            .spawn(move || scrape_all(&addrs))
            .ok();
        Snapshot {
            shim: engine.shim.as_ref().map(|s| s.stats()).unwrap_or_default(),
            net: engine.io.net(),
            disk_flushes: engine.disk.as_deref().and_then(disk_flushes),
            nodes: RefCell::new(nodes),
            joined: OnceCell::new(),
        }
    }

    /// Every node's counters when the measurement started (`None`: not read), node
    /// order; waits for the start scrape the first time.
    pub(super) fn nodes(&self) -> &[Option<NodeCounters>] {
        self.joined.get_or_init(|| {
            let handle = self.nodes.borrow_mut().take();
            handle.and_then(|h| h.join().ok()).unwrap_or_default()
        })
    }
}

fn ratio(a: u64, b: u64) -> Value {
    if b > 0 {
        json!(a as f64 / b as f64)
    } else {
        Value::Null
    }
}

/// A node append-latency histogram as JSON: appends, and p50/p90/p99 in µs estimated
/// from the buckets (see [`Buckets::quantile`]).
fn append_latency(b: &Buckets) -> Value {
    let us = |q: f64| {
        b.quantile(q)
            .map_or(Value::Null, |s| json!((s * 1e6).round()))
    };
    json!({
        "appends": b.count(),
        "p50": us(0.5),
        "p90": us(0.9),
        "p99": us(0.99),
    })
}

/// The figures of the measured window (see the module docs).
pub(super) fn extra_stats(engine: &ClusterEngine, runtime: Duration) -> Map<String, Value> {
    let shared = &engine.shared;
    let t = &engine.target;
    let commits = shared.counted.commits.get();
    let reads = shared.counted.reads.get();
    let records = commits * u64::from(t.records_per_txn);
    let redo_bytes = records * t.record_size;
    let secs = runtime.as_secs_f64();
    let per_sec = |n: u64| {
        if secs > 0.0 {
            json!(n as f64 / secs)
        } else {
            Value::Null
        }
    };
    let disk_now = engine.disk.as_deref().and_then(disk_flushes);
    let shim_now = engine.shim.as_ref().map(|s| s.stats()).unwrap_or_default();
    let net_now = engine.io.net();
    // The nodes publish journal figures every PUBLISH_INTERVAL: wait for the last one.
    std::thread::sleep(PUBLISH_INTERVAL + Duration::from_millis(50));
    let nodes_now = engine
        .cluster
        .as_ref()
        .map(|c| scrape_all(&c.metrics_addrs()))
        .unwrap_or_default();
    let base = engine.baseline.as_ref();
    let nodes_then = base.map(Snapshot::nodes).unwrap_or_default();
    let net = base.map_or(net_now, |b| net_now.since(&b.net));
    let shim = base.map_or_else(|| shim_now.clone(), |b| shim_now.since(&b.shim));
    let mut per_node = Vec::new();
    let mut sum = NodeCounters::default();
    let mut nodes_read = 0u64;
    for (i, now) in nodes_now.iter().enumerate() {
        let then = nodes_then.get(i).cloned().flatten();
        match (now, then) {
            (Some(now), Some(then)) => {
                let d = now.since(&then);
                nodes_read += 1;
                sum.add(&d);
                per_node.push(json!({
                    "node": i + 1,
                    "device_flushes": d.device_flushes,
                    "device_flushes_per_commit": ratio(d.device_flushes, commits),
                    "journal_batches": d.journal_batches,
                    "append_frames": d.append_requests,
                    "records": d.records,
                    "record_bytes": d.record_bytes,
                    "appends_waited": d.appends_waited,
                    "page_cache_hits": d.page_cache_hits,
                    "page_cache_misses": d.page_cache_misses,
                    "append_latency_us": append_latency(&d.append_seconds),
                }));
            }
            _ => per_node
                .push(json!({ "node": i + 1, "unread": "its metrics endpoint did not answer" })),
        }
    }
    let disk = match (disk_now, base.and_then(|b| b.disk_flushes)) {
        (Some(now), Some(then)) => Some(now.saturating_sub(then)),
        _ => None,
    };
    let mut map = Map::new();
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_string(), v);
    };
    let cluster = engine.cluster.as_ref();
    let slow = cluster.and_then(|c| c.slow_node);
    let slow_ms = slow.map_or(0.0, |(_, us)| us as f64 / 1000.0);
    let nodes = cluster.map_or(0, |c| c.summary.len());
    let what = match (commits, reads) {
        (0, r) if r > 0 => "GetPage@LSN through the shim at the VDL, from one segment",
        (_, 0) => "commit on 4 of 6",
        _ => "commits on 4 of 6 and GetPage@LSN",
    };
    let mut layer = format!(
        "full quorum: {nodes} storage nodes (boreal-node processes over loopback, 3 AZs), {what}"
    );
    if let Some((id, _)) = slow {
        layer.push_str(&format!(", node {id} slowed by {slow_ms} ms"));
    }
    if let Some(c) = cluster
        && !c.own()
    {
        layer.push_str(&format!(", a running cluster ({})", c.dir().display()));
    }
    put("layer", json!(layer));
    put("data_dir", json!(shared.path.display().to_string()));
    if let Some(c) = cluster {
        put("cluster_dir", json!(c.dir().display().to_string()));
        put("cluster_started_by_job", json!(c.own()));
        put("nodes", json!(c.summary));
    }
    let o = &engine.open;
    put(
        "open",
        json!(format!(
            "epoch {}, VDL {}, {} segments created, {} records read by volume recovery, truncated ({}, {}]",
            o.epoch.get(),
            o.vdl.get(),
            o.segments_created,
            o.records_read,
            o.truncated.0.get(),
            o.truncated.1.get()
        )),
    );
    put("records_per_txn", json!(t.records_per_txn));
    put("record_size", json!(t.record_size));
    put("pgs", json!(shared.shape.pgs));
    put("pages_per_pg", json!(shared.shape.pages_per_pg));
    if let Some(c) = cluster.filter(|c| c.own()) {
        put(
            "node_journal_size_bytes",
            json!(c.journal_bytes.unwrap_or(t.journal_bytes)),
        );
    }
    put("slow_node_ms", json!(slow_ms));
    put("commits", json!(commits));
    put("commits_per_sec", per_sec(commits));
    put("records_committed", json!(records));
    put("records_per_sec", per_sec(records));
    put("redo_payload_bytes", json!(redo_bytes));
    put("reads", json!(reads));
    put("reads_per_sec", per_sec(reads));
    put("shim_sends", json!(net.sends));
    put("shim_bytes_sent", json!(net.bytes_sent));
    put("shim_recvs", json!(net.recvs));
    put("shim_bytes_received", json!(net.bytes_received));
    put("shim_sends_per_commit", ratio(net.sends, commits));
    put("shim_sends_per_read", ratio(net.sends, reads));
    put(
        "shim_wire_bytes_per_redo_byte",
        ratio(net.bytes_sent, redo_bytes),
    );
    put("shim_lal_waits", json!(shim.lal_waits));
    put("shim_hedged_reads", json!(shim.hedged_reads));
    put("shim_read_refusals", json!(shim.read_refusals));
    put("shim_records_dropped", json!(shim.records_dropped));
    put("shim_append_refusals", json!(shim.append_refusals));
    put("nodes_read", json!(nodes_read));
    put("node_device_flushes", json!(sum.device_flushes));
    put(
        "node_device_flushes_per_commit",
        match nodes_read {
            0 => Value::Null,
            n => ratio(sum.device_flushes, commits * n),
        },
    );
    put("node_journal_batches", json!(sum.journal_batches));
    put("append_frames", json!(sum.append_requests));
    put(
        "append_frames_per_commit",
        ratio(sum.append_requests, commits),
    );
    put("node_appends_waited", json!(sum.appends_waited));
    // A node whose cache is smaller than its segments' pages reads them back on every
    // coalescer pass (NVMe-NOTES, "A page cache smaller than the pass").
    put("node_page_cache_hits", json!(sum.page_cache_hits));
    put("node_page_cache_misses", json!(sum.page_cache_misses));
    put(
        "node_append_latency_us",
        append_latency(&sum.append_seconds),
    );
    put("node_record_bytes", json!(sum.record_bytes));
    put(
        "node_record_bytes_per_redo_byte",
        ratio(sum.record_bytes, redo_bytes),
    );
    put("per_node", Value::Array(per_node));
    put("device", json!(engine.disk));
    put("device_flushes", json!(disk));
    put(
        "device_flushes_per_commit",
        disk.map_or(Value::Null, |d| ratio(d, commits)),
    );
    put(
        "note",
        json!(format!(
            "over the measured window. commits/reads: measured I/Os completed. shim_*: the Io seam under the shim (a send is one network message, however many frames it carries) and Shim::stats. node_*, append_frames, per_node: each node's Prometheus counters, summed over the nodes (node_device_flushes_per_commit is per node); node_append_latency_us: every node's appends from arrival to their durable acknowledgement queued, percentiles interpolated inside the histogram's doubling buckets (as Prometheus' histogram_quantile), so a commit's latency minus it is the shim, the network and the waits for a CPU; its journal figures are published every {} ms, so the start figure may lag by that much. device_flushes: the kernel's flush counter of the disk under the data directory, the whole disk (anything else writing to it counts too).",
            PUBLISH_INTERVAL.as_millis()
        )),
    );
    map
}
