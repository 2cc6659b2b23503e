//! What the storage nodes say about themselves: their Prometheus counters, read over
//! HTTP as an operator's scraper reads them (`GET /metrics`, text format 0.0.4), summed
//! over each node's cores.
//!
//! The engine takes one [`NodeCounters`] per node when the measurement starts and one
//! when it ends; the difference is what the measured window cost each node: device
//! flushes (the journal's fdatasync, linked sync or `RWF_DSYNC` write), journal
//! batches, `AppendBatch` frames and the bytes of the records they carried. A node
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

/// One node's counters, summed over its cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
}

impl NodeCounters {
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
        let field = match name {
            "boreal_device_flushes_total" => &mut c.device_flushes,
            "boreal_journal_batches_total" => &mut c.journal_batches,
            "boreal_append_requests_total" => &mut c.append_requests,
            "boreal_records_total" => &mut c.records,
            "boreal_record_bytes_total" => &mut c.record_bytes,
            "boreal_appends_waited_total" => &mut c.appends_waited,
            _ => continue,
        };
        *field += v;
    }
    c
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
            }
        );
        let later = NodeCounters {
            device_flushes: 20,
            ..c
        };
        assert_eq!(later.since(&c).device_flushes, 5);
        assert_eq!(c.since(&later).device_flushes, 0, "a restarted node");
    }
}
