//! The node's Prometheus metrics: what each core counts, and the HTTP endpoint that
//! serves them (`GET /metrics`, Prometheus text format 0.0.4, encoded by the
//! Prometheus organisation's `prometheus-client` crate).
//!
//! Off the ring threads' hot path: a core bumps atomic counters (one relaxed add per
//! frame, not per record) and records a latency into a histogram once per request; its
//! journal and segment figures (flushes, SCLs, backlog) are copied in by a small task
//! every [`PUBLISH_INTERVAL`]. Scrapes are served by a plain thread of their own, which
//! reads those atomics and never touches a core.
//!
//! Names follow Prometheus conventions (`boreal_` prefix, base units: seconds, bytes;
//! counters end in `_total`), and `promtool check metrics` passes on the output (a test
//! runs it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How often a core copies its journal and segment figures into the gauges.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(250);
/// Most bytes of an HTTP request the endpoint reads before it answers.
const REQUEST_BYTES_MAX: usize = 8192;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CoreLabels {
    pub core: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PgLabels {
    pub core: u16,
    pub pg: u32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub core: u16,
    pub reason: String,
}

/// Every metric of the node, shared by its cores and the endpoint.
#[derive(Debug, Clone)]
pub struct NodeMetrics {
    pub append_requests: Family<CoreLabels, Counter>,
    pub records: Family<CoreLabels, Counter>,
    pub record_bytes: Family<CoreLabels, Counter>,
    pub journal_batches: Family<CoreLabels, Counter>,
    pub device_flushes: Family<CoreLabels, Counter>,
    pub scl: Family<PgLabels, Gauge>,
    pub materialized_lsn: Family<PgLabels, Gauge>,
    pub backlog_bytes: Family<CoreLabels, Gauge>,
    pub backlog_age_seconds: Family<CoreLabels, Gauge<f64, AtomicU64>>,
    pub page_cache_hits: Family<CoreLabels, Counter>,
    pub page_cache_misses: Family<CoreLabels, Counter>,
    pub append_seconds: Family<CoreLabels, Histogram, fn() -> Histogram>,
    pub appends_waited: Family<CoreLabels, Counter>,
    pub getpage_seconds: Family<CoreLabels, Histogram, fn() -> Histogram>,
    pub connections: Family<CoreLabels, Gauge>,
    pub connections_accepted: Family<CoreLabels, Counter>,
    pub frames_refused: Family<RefusedLabels, Counter>,
    pub gossip_records_repaired: Family<CoreLabels, Counter>,
    pub gossip_fetches: Family<CoreLabels, Counter>,
    pub gossip_fetch_failures: Family<RefusedLabels, Counter>,
    pub gossip_records_refused: Family<RefusedLabels, Counter>,
    pub gossip_peer_failures: Family<CoreLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 10 µs to ~10 s.
    Histogram::new(exponential_buckets(10e-6, 2.0, 21))
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

impl NodeMetrics {
    pub fn new() -> NodeMetrics {
        NodeMetrics {
            append_requests: Family::default(),
            records: Family::default(),
            record_bytes: Family::default(),
            journal_batches: Family::default(),
            device_flushes: Family::default(),
            scl: Family::default(),
            materialized_lsn: Family::default(),
            backlog_bytes: Family::default(),
            backlog_age_seconds: Family::default(),
            page_cache_hits: Family::default(),
            page_cache_misses: Family::default(),
            append_seconds: Family::new_with_constructor(latency_histogram),
            appends_waited: Family::default(),
            getpage_seconds: Family::new_with_constructor(latency_histogram),
            connections: Family::default(),
            connections_accepted: Family::default(),
            frames_refused: Family::default(),
            gossip_records_repaired: Family::default(),
            gossip_fetches: Family::default(),
            gossip_fetch_failures: Family::default(),
            gossip_records_refused: Family::default(),
            gossip_peer_failures: Family::default(),
        }
    }

    /// A registry holding every metric, named and described.
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("boreal");
        r.register(
            "append_requests",
            "AppendBatch requests acknowledged durably, per core",
            self.append_requests.clone(),
        );
        r.register(
            "records",
            "Redo records acknowledged durably (new or duplicate), per core",
            self.records.clone(),
        );
        r.register(
            "record_bytes",
            "Bytes of redo records acknowledged durably (as encoded on the wire), per core",
            self.record_bytes.clone(),
        );
        r.register(
            "journal_batches",
            "Journal batches made durable, per core",
            self.journal_batches.clone(),
        );
        r.register(
            "device_flushes",
            "Device flushes issued by the journal (fdatasync, linked sync or RWF_DSYNC write), per core",
            self.device_flushes.clone(),
        );
        r.register(
            "segment_complete_lsn",
            "The segment's SCL: every record of its PG up to it is durable here",
            self.scl.clone(),
        );
        r.register(
            "segment_materialized_lsn",
            "The segment's materialized LSN: redo up to it is in the page store",
            self.materialized_lsn.clone(),
        );
        r.register(
            "backlog_bytes",
            "Unmaterialized redo bytes held by the core",
            self.backlog_bytes.clone(),
        );
        r.register(
            "backlog_age_seconds",
            "Age of the core's oldest unmaterialized append",
            self.backlog_age_seconds.clone(),
        );
        r.register(
            "page_cache_hits",
            "Page images found in the core's page cache (coalescer passes and GetPage), per core",
            self.page_cache_hits.clone(),
        );
        r.register(
            "page_cache_misses",
            "Page images not in the core's page cache, read from the page store instead, per core",
            self.page_cache_misses.clone(),
        );
        r.register(
            "append_seconds",
            "Time from an AppendBatch's arrival to its durable acknowledgement being queued",
            self.append_seconds.clone(),
        );
        r.register(
            "appends_waited",
            "AppendBatch requests that could not be journaled at once (backpressure, a raised epoch, no room in the open batch) and held up their connection until done",
            self.appends_waited.clone(),
        );
        r.register(
            "getpage_seconds",
            "Time to serve a GetPage request",
            self.getpage_seconds.clone(),
        );
        r.register(
            "connections",
            "Connections open now, per core",
            self.connections.clone(),
        );
        r.register(
            "connections_accepted",
            "Connections accepted, per core",
            self.connections_accepted.clone(),
        );
        r.register(
            "requests_refused",
            "Requests refused (Refusal sent), per core and reason",
            self.frames_refused.clone(),
        );
        r.register(
            "gossip_records_repaired",
            "Records a core fetched from peers and made durable here (new to its segments), per core",
            self.gossip_records_repaired.clone(),
        );
        r.register(
            "gossip_fetches",
            "FetchRecords requests a core sent to peers, per core",
            self.gossip_fetches.clone(),
        );
        r.register(
            "gossip_fetch_failures",
            "FetchRecords requests that brought nothing usable, per core and reason (the peer's refusal, no_answer, link, protocol)",
            self.gossip_fetch_failures.clone(),
        );
        r.register(
            "gossip_records_refused",
            "Records fetched from peers and not kept, per core and reason (checksum, out_of_range, or what the segment refused)",
            self.gossip_records_refused.clone(),
        );
        r.register(
            "gossip_peer_failures",
            "Connections to peers that failed, broke or went unanswered (each backs the peer off), per core",
            self.gossip_peer_failures.clone(),
        );
        r
    }
}

/// The running metrics endpoint; dropping it stops the thread.
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Exporter {
    /// Binds `addr` and serves `registry` from a thread of its own.
    pub fn start(addr: SocketAddr, registry: Registry) -> std::io::Result<Exporter> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = thread::Builder::new()
            .name("boreal-metrics".into())
            .spawn(move || serve(listener, registry, &stop2))?;
        Ok(Exporter {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, registry: Registry, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, &registry) {
                    eprintln!("boreal-node: metrics request failed: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                eprintln!("boreal-node: metrics endpoint accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads one request (up to its blank line) and answers it: the metrics for
/// `GET /metrics`, 404 for any other path, 405 for any other method.
fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut req = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < REQUEST_BYTES_MAX {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&chunk[..n]);
    }
    let line = req.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = if method != "GET" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        )
    } else if path != "/metrics" && !path.starts_with("/metrics?") {
        ("404 Not Found", "text/plain", "try /metrics\n".to_string())
    } else {
        let mut body = String::with_capacity(16 << 10);
        match prometheus_client::encoding::prometheus_text::encode(&mut body, registry) {
            Ok(()) => (
                "200 OK",
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                body,
            ),
            Err(_) => (
                "500 Internal Server Error",
                "text/plain",
                "encoding failed\n".to_string(),
            ),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    Ok(())
}
