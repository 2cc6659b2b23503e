//! The values `CoreEngine` hands its callers: acknowledgements, page images, a
//! segment's status and the core's counters. Plain data, no behaviour: the network
//! layer turns each into a wire message.

use std::time::Duration;

use boreal_segment::{Epoch, Lsn, PageSize};

use super::recovery::RecoveryReport;
use crate::hotlog::{Hole, HotLogCounters};

/// The durable acknowledgement of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendAck {
    /// The segment's SCL after the append.
    pub scl: Lsn,
    /// The segment's epoch after the append.
    pub epoch: Epoch,
    /// Records new to the segment.
    pub accepted: usize,
    /// Records it already held or had materialized (re-acknowledged).
    pub duplicates: usize,
}

/// A page as of an LSN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageImage {
    /// The page payload (`page_size - 32` bytes).
    pub payload: Box<[u8]>,
    /// LSN of the last record applied (zero for a page never written).
    pub page_lsn: Lsn,
}

/// What a segment reports about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStatus {
    pub scl: Lsn,
    pub materialized_lsn: Lsn,
    pub min_read_point: Lsn,
    /// The lowest known holes above the SCL (at most `STATUS_HOLES_MAX`).
    pub holes: Vec<Hole>,
    pub backlog_bytes: usize,
    /// Age of the oldest unmaterialized append.
    pub backlog_age: Duration,
    pub epoch: Epoch,
    pub page_size: PageSize,
    /// Records in the hot log.
    pub hot_records: usize,
    pub counters: HotLogCounters,
}

/// Counters of one core's engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub appends: u64,
    pub records_accepted: u64,
    pub records_duplicate: u64,
    /// Appends that waited for the coalescer (backpressure).
    pub backpressure_waits: u64,
    /// Appends refused after waiting `backpressure_wait_max`.
    pub backpressure_refusals: u64,
    /// Why the last append had to wait, if one did.
    pub backpressure_reason: Option<String>,
    pub coalescer_passes: u64,
    pub pages_written: u64,
    pub records_materialized: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_bytes: usize,
    pub backlog_bytes: usize,
    pub recovery: RecoveryReport,
}
