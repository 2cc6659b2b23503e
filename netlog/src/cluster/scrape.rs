//! What the storage nodes say about themselves: their Prometheus counters and their
//! append-latency histogram, read over HTTP as an operator's scraper reads them
//! (`GET /metrics`, text format 0.0.4), summed over each node's cores. Used by
//! boreal-bench's cluster engine and by `boreal cluster load`.
//!
//! A caller takes one [`NodeCounters`] per node when the measurement starts and one
//! when it ends; the difference is what the measured window cost each node: device
//! flushes (the journal's fdatasync, linked sync or `RWF_DSYNC` write), journal
//! batches, `AppendBatch` frames and the bytes of the records they carried, and how
//! long its appends took from arrival to their durable acknowledgement being queued
//! ([`Buckets`], `boreal_append_seconds`): set beside a commit's latency, that splits
//! it into the node's part and the rest (shim, network, waiting for a CPU). A node
//! publishes its journal figures every 250 ms (`node::metrics::PUBLISH_INTERVAL`), so
//! flushes and batches read at the start may lag by that much; frames and record bytes
//! are counted as they happen.
//!
//! A node's endpoint polls for connections every 20 ms, so a scrape lands up to that
//! long after it was asked for: the start figures of a run may include its first tens
//! of ms (a share that only matters for runs well under a second).
//!
//! Must never: block the measurement (the start scrape runs on a thread of its own);
//! trust the text (a line that does not parse is skipped; a node that cannot be read
//! gives `None`, and the figures built on it say so).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest a scrape waits for a node.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer read from a node's endpoint, bytes.
const SCRAPE_BYTES_MAX: u64 = 4 << 20;

/// A Prometheus histogram's cumulative buckets (`le` in seconds, ascending, the last
/// `+Inf`), summed over the series scraped into it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// `(le, cumulative count)`, `le` ascending.
    cumulative: Vec<(f64, u64)>,
}

impl Buckets {
    /// Adds `count` to the bucket `le` (a bound not seen yet is inserted in order).
    fn add(&mut self, le: f64, count: u64) {
        let i = self.cumulative.partition_point(|&(b, _)| b < le);
        match self.cumulative.get_mut(i) {
            Some((b, c)) if *b == le => *c += count,
            _ => self.cumulative.insert(i, (le, count)),
        }
    }

    /// Adds every bucket of `other` (another node's histogram).
    pub fn merge(&mut self, other: &Buckets) {
        for &(le, c) in &other.cumulative {
            self.add(le, c);
        }
    }

    /// What was observed after `earlier` was scraped (saturating per bucket: a node
    /// restarted in between starts again).
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        let before = |le: f64| {
            earlier
                .cumulative
                .iter()
                .find(|&&(b, _)| b == le)
                .map_or(0, |&(_, c)| c)
        };
        Buckets {
            cumulative: self
                .cumulative
                .iter()
                .map(|&(le, c)| (le, c.saturating_sub(before(le))))
                .collect(),
        }
    }

    /// Observations in all (the `+Inf` bucket, or the highest bound scraped).
    pub fn count(&self) -> u64 {
        self.cumulative.iter().map(|&(_, c)| c).max().unwrap_or(0)
    }

    /// The `q`-quantile (0 < q ≤ 1) in seconds, estimated as Prometheus'
    /// `histogram_quantile` does: linearly inside the bucket it falls in, from the
    /// bucket below's bound (0 for the first); in the `+Inf` bucket, the highest finite
    /// bound. So the figure is only as fine as the buckets (doubling from 10 µs on a
    /// node). `None` when nothing was observed.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 || !(q > 0.0 && q <= 1.0) {
            return None;
        }
        let rank = q * total as f64;
        let mut lower = (0.0, 0u64);
        for &(le, c) in &self.cumulative {
            if c as f64 >= rank {
                if le.is_infinite() {
                    return Some(lower.0);
                }
                let in_bucket = c.saturating_sub(lower.1) as f64;
                let into = if in_bucket > 0.0 {
                    (rank - lower.1 as f64) / in_bucket
                } else {
                    1.0
                };
                return Some(lower.0 + (le - lower.0) * into.clamp(0.0, 1.0));
            }
            if le.is_finite() {
                lower = (le, c);
            }
        }
        Some(lower.0)
    }
}

/// One node's counters, summed over its cores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeCounters {
    /// `boreal_device_flushes_total`.
    pub device_flushes: u64,
    /// `boreal_journal_batches_total`.
    pub journal_batches: u64,
    /// `boreal_append_requests_total`: `AppendBatch` frames acknowledged durably.
    pub append_requests: u64,
    /// `boreal_records_total`.
    pub records: u64,
    /// `boreal_record_bytes_total`: record bytes as encoded on the wire.
    pub record_bytes: u64,
    /// `boreal_appends_waited_total`.
    pub appends_waited: u64,
    /// `boreal_page_cache_hits_total`.
    pub page_cache_hits: u64,
    /// `boreal_page_cache_misses_total`: page images read back from the page store.
    pub page_cache_misses: u64,
    /// `boreal_append_seconds`: arrival to durable acknowledgement queued.
    pub append_seconds: Buckets,
}

impl NodeCounters {
    /// Adds `other`, field by field (a cluster's sum over its nodes).
    pub fn add(&mut self, other: &NodeCounters) {
        self.device_flushes += other.device_flushes;
        self.journal_batches += other.journal_batches;
        self.append_requests += other.append_requests;
        self.records += other.records;
        self.record_bytes += other.record_bytes;
        self.appends_waited += other.appends_waited;
        self.page_cache_hits += other.page_cache_hits;
        self.page_cache_misses += other.page_cache_misses;
        self.append_seconds.merge(&other.append_seconds);
    }

    /// `self - earlier`, field by field (saturating: a node restarted in between
    /// starts its counters again).
    pub fn since(&self, earlier: &NodeCounters) -> NodeCounters {
        NodeCounters {
            device_flushes: self.device_flushes.saturating_sub(earlier.device_flushes),
            journal_batches: self.journal_batches.saturating_sub(earlier.journal_batches),
            append_requests: self.append_requests.saturating_sub(earlier.append_requests),
            records: self.records.saturating_sub(earlier.records),
            record_bytes: self.record_bytes.saturating_sub(earlier.record_bytes),
            appends_waited: self.appends_waited.saturating_sub(earlier.appends_waited),
            page_cache_hits: self.page_cache_hits.saturating_sub(earlier.page_cache_hits),
            page_cache_misses: self
                .page_cache_misses
                .saturating_sub(earlier.page_cache_misses),
            append_seconds: self.append_seconds.since(&earlier.append_seconds),
        }
    }
}

/// The counters in a Prometheus text exposition: every sample of each family, summed
/// (over its `core` labels).
pub fn parse(text: &str) -> NodeCounters {
    let mut c = NodeCounters::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        if !(v.is_finite() && v >= 0.0) {
            continue;
        }
        let v = v as u64;
        if name == "boreal_append_seconds_bucket" {
            if let Some(le) = label(series, "le").and_then(parse_le) {
                c.append_seconds.add(le, v);
            }
            continue;
        }
        let field = match name {
            "boreal_device_flushes_total" => &mut c.device_flushes,
            "boreal_journal_batches_total" => &mut c.journal_batches,
            "boreal_append_requests_total" => &mut c.append_requests,
            "boreal_records_total" => &mut c.records,
            "boreal_record_bytes_total" => &mut c.record_bytes,
            "boreal_appends_waited_total" => &mut c.appends_waited,
            "boreal_page_cache_hits_total" => &mut c.page_cache_hits,
            "boreal_page_cache_misses_total" => &mut c.page_cache_misses,
            _ => continue,
        };
        *field += v;
    }
    c
}

/// The value of label `key` in a series `name{k="v",...}` (no escapes: boreal's labels
/// are numbers and bounds).
fn label<'a>(series: &'a str, key: &str) -> Option<&'a str> {
    let labels = series.split_once('{')?.1.strip_suffix('}')?;
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// A bucket bound: a non-negative number of seconds, or `+Inf`.
fn parse_le(v: &str) -> Option<f64> {
    if v == "+Inf" {
        return Some(f64::INFINITY);
    }
    v.parse::<f64>().ok().filter(|b| b.is_finite() && *b >= 0.0)
}

/// Reads `http://addr/metrics`; `None` when the node does not answer with metrics.
pub fn scrape(addr: SocketAddr) -> Option<NodeCounters> {
    let mut s = TcpStream::connect_timeout(&addr, SCRAPE_TIMEOUT).ok()?;
    s.set_read_timeout(Some(SCRAPE_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(SCRAPE_TIMEOUT)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: boreal\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut bytes = Vec::new();
    s.take(SCRAPE_BYTES_MAX).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| parse(body))
}

/// Every node's counters (`None` for a node without an endpoint or that did not
/// answer), node order. The nodes are read at once, each from a thread of its own (a
/// node's endpoint may take a few tens of ms to accept: read one after the other, the
/// last would be read that much later than the first).
pub fn scrape_all(addrs: &[Option<SocketAddr>]) -> Vec<Option<NodeCounters>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|a| s.spawn(move || a.and_then(scrape)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_cores_and_skips_what_does_not_parse() {
        let text = "\
# HELP boreal_device_flushes Device flushes
# TYPE boreal_device_flushes counter
boreal_device_flushes_total{core=\"0\"} 10
boreal_device_flushes_total{core=\"1\"} 5
boreal_record_bytes_total{core=\"0\"} 1.5e3
boreal_records_total{core=\"0\"} NaN
boreal_records_total{core=\"1\"} -4
boreal_append_requests_total{core=\"0\"} 7
boreal_journal_batches_total 3
boreal_page_cache_hits_total{core=\"0\"} 40
boreal_page_cache_misses_total{core=\"1\"} 2
garbage
boreal_segment_complete_lsn{core=\"0\",pg=\"1\"} 99
";
        let c = parse(text);
        assert_eq!(
            c,
            NodeCounters {
                device_flushes: 15,
                journal_batches: 3,
                append_requests: 7,
                records: 0,
                record_bytes: 1500,
                appends_waited: 0,
                page_cache_hits: 40,
                page_cache_misses: 2,
                append_seconds: Buckets::default(),
            }
        );
        let later = NodeCounters {
            device_flushes: 20,
            ..c.clone()
        };
        assert_eq!(later.since(&c).device_flushes, 5);
        let mut sum = c.clone();
        sum.add(&later);
        assert_eq!(
            (
                sum.device_flushes,
                sum.page_cache_hits,
                sum.page_cache_misses
            ),
            (35, 80, 4)
        );
        assert_eq!(c.since(&later).device_flushes, 0, "a restarted node");
    }

    #[test]
    fn append_latency_buckets_sum_over_cores_and_give_interpolated_quantiles() {
        let text = "\
boreal_append_seconds_bucket{core=\"0\",le=\"0.0001\"} 10
boreal_append_seconds_bucket{core=\"0\",le=\"0.0002\"} 50
boreal_append_seconds_bucket{core=\"0\",le=\"0.0004\"} 90
boreal_append_seconds_bucket{core=\"0\",le=\"+Inf\"} 100
boreal_append_seconds_bucket{core=\"1\",le=\"0.0001\"} 0
boreal_append_seconds_bucket{core=\"1\",le=\"+Inf\"} 0
boreal_append_seconds_bucket{core=\"1\",le=\"nonsense\"} 5
boreal_append_seconds_sum{core=\"0\"} 0.02
boreal_append_seconds_count{core=\"0\"} 100
";
        let b = parse(text).append_seconds;
        assert_eq!(b.count(), 100);
        // Rank 50 is the top of the (100, 200] µs bucket.
        assert!((b.quantile(0.5).unwrap() - 200e-6).abs() < 1e-12);
        // Rank 30: halfway through the 40 observations of (100, 200] µs.
        assert!((b.quantile(0.3).unwrap() - 150e-6).abs() < 1e-12);
        // Rank 5 in the first bucket, interpolated from zero.
        assert!((b.quantile(0.05).unwrap() - 50e-6).abs() < 1e-12);
        // Rank 99 is in +Inf: the highest finite bound, not a made-up value.
        assert!((b.quantile(0.99).unwrap() - 400e-6).abs() < 1e-12);
        assert_eq!(b.quantile(0.0), None);
        assert_eq!(Buckets::default().quantile(0.5), None);

        // Two nodes merged; the window is the later scrape minus the earlier one.
        let mut both = b.clone();
        both.merge(&b);
        assert_eq!(both.count(), 200);
        let window = both.since(&b);
        assert_eq!(window, b);
        assert_eq!(b.since(&both).count(), 0, "a restarted node");
    }
}
