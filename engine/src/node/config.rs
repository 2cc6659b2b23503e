//! Configuration of one core's engine (`CoreEngine`): limits of the backlog, the page
//! cache and the coalescer. Every field says its default, minimum and unit;
//! [`EngineConfig::validate`] refuses unsafe values with a message naming the fix.

use std::path::PathBuf;
use std::time::Duration;

use boreal_segment::limits::PAGE_SIZE_MAX;

pub use crate::limits::{COALESCE_IO_DEPTH_MAX, COALESCE_START_PERCENT_MAX};

/// Configuration of one core's engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Directory of the core's page store (catalog, page and metadata files). Must
    /// exist. No default.
    pub dir: PathBuf,
    /// Unmaterialized redo (hot log) bytes across the core's segments above which
    /// appends wait for the coalescer. Default 64 MiB, minimum 1 MiB, bytes.
    pub backlog_bytes_max: usize,
    /// Age of the oldest unmaterialized append above which appends wait for the
    /// coalescer. Default 10 s, minimum 10 ms.
    pub backlog_age_max: Duration,
    /// Longest an append waits for the backlog to drop under its bounds before it is
    /// refused with `EngineError::Backlogged`. Default 1 s, minimum 1 ms.
    pub backpressure_wait_max: Duration,
    /// Page cache size (materialized page payloads). Default 64 MiB, minimum 0 (no
    /// cache), bytes.
    pub page_cache_bytes_max: usize,
    /// How often the background coalescer checks whether a pass is due when nobody
    /// wakes it. Default 10 ms, minimum 1 ms.
    pub coalesce_interval: Duration,
    /// When a background pass is due: once the core's backlog passes this percentage
    /// of `backlog_bytes_max`, or its oldest unmaterialized append this percentage of
    /// `backlog_age_max`, or the journal runs short of free files, or an append waits
    /// at the bound. Waiting for a backlog lets one page write carry many records (a
    /// pass every few milliseconds rewrote every touched page for a handful of records
    /// each). 0: a pass whenever there is work (every `coalesce_interval`). Default 50
    /// (half the bound is left for what arrives while the pass runs), maximum 90 (a
    /// pass must start before appends have to wait), percent.
    pub coalesce_start_percent: u32,
    /// Most redo bytes one coalescer pass materializes for one segment (a pass that
    /// starts at `coalesce_start_percent` of the backlog takes all of it). Default
    /// 32 MiB, minimum 64 KiB, bytes.
    pub coalesce_pass_bytes_max: usize,
    /// Most page-image bytes (pages touched × page payload) one pass holds in memory
    /// for one segment; a pass that would touch more pages stops before them. Default
    /// 32 MiB, minimum 64 KiB (one page of the largest size), bytes.
    pub coalesce_pass_image_bytes_max: usize,
    /// Page reads and writes a pass keeps in flight (NVMe-NOTES fact 6: reads and
    /// unsynced writes scale with depth). Default 32, range 1..=64.
    pub coalesce_io_depth: usize,
    /// While the backlog is below this percentage of its bounds, a pass writes its
    /// pages behind the journal: `coalesce_paced_depth` page writes after each journal
    /// batch turns durable, instead of `coalesce_io_depth` at once, so the journal's
    /// durable writes never queue behind a burst of page writes (NVMe-NOTES, "The
    /// coalescer's page writes and the journal's p99"). Above it, the pass writes at
    /// full depth to keep the backlog from its bound. 0: never pace. Default 75,
    /// at most 100, percent.
    pub coalesce_pace_below_percent: u32,
    /// Page writes a paced pass issues per journal batch. Default 4, range 1..=64.
    pub coalesce_paced_depth: usize,
    /// Records a pass walks while choosing them, and drops from the hot log per step
    /// of its floor move, between two yields to the core's I/O: a pass's 180 k records
    /// in one stretch held the core for 2.3-2.7 ms choosing and 3.3-3.7 ms dropping
    /// (NVMe-NOTES "Yielding to the I/O"). Default 8,192 (~0.2 ms a step), minimum 1
    /// (tests use tiny steps to exercise them).
    pub coalesce_step_records: usize,
    /// Run the coalescer as a background task. Default true. Tests that drive
    /// materialization by hand (`CoreEngine::coalesce_now`) turn it off.
    pub background_coalescer: bool,
    /// `open_dir` replays each journal batch into the hot logs as soon as the
    /// recovery scan has checked it, while the next windows are read (instead of
    /// after the whole scan). Default true. False replays after the scan, from the
    /// records recovery kept: the same result, slower; the path `open_dir` falls back
    /// to if the scan streamed anything the recovery decisions did not accept.
    pub replay_during_scan: bool,
    /// A page file grows by pre-writing zeros in chunks of this size. Default 1 MiB,
    /// minimum 128 KiB (two slots of the largest page), a power of two, bytes.
    pub page_file_grow_bytes: u64,
}

impl EngineConfig {
    /// The defaults, with the page store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            dir: dir.into(),
            backlog_bytes_max: 64 << 20,
            backlog_age_max: Duration::from_secs(10),
            backpressure_wait_max: Duration::from_secs(1),
            page_cache_bytes_max: 64 << 20,
            coalesce_interval: Duration::from_millis(10),
            coalesce_start_percent: 50,
            coalesce_pass_bytes_max: 32 << 20,
            coalesce_pass_image_bytes_max: 32 << 20,
            coalesce_io_depth: 32,
            coalesce_pace_below_percent: 75,
            coalesce_paced_depth: 4,
            coalesce_step_records: 8 * 1024,
            background_coalescer: true,
            replay_during_scan: true,
            page_file_grow_bytes: 1 << 20,
        }
    }

    /// Refuses values the engine cannot run safely with.
    pub fn validate(&self) -> Result<(), String> {
        if self.backlog_bytes_max < 1 << 20 {
            return Err(format!(
                "backlog_bytes_max {} is below 1 MiB: raise it",
                self.backlog_bytes_max
            ));
        }
        if self.backlog_age_max < Duration::from_millis(10) {
            return Err(format!(
                "backlog_age_max {:?} is below 10 ms: raise it",
                self.backlog_age_max
            ));
        }
        if self.backpressure_wait_max < Duration::from_millis(1) {
            return Err(format!(
                "backpressure_wait_max {:?} is below 1 ms: raise it",
                self.backpressure_wait_max
            ));
        }
        if self.coalesce_interval < Duration::from_millis(1) {
            return Err(format!(
                "coalesce_interval {:?} is below 1 ms: raise it",
                self.coalesce_interval
            ));
        }
        if self.coalesce_pass_bytes_max < 64 << 10 {
            return Err(format!(
                "coalesce_pass_bytes_max {} is below 64 KiB: raise it",
                self.coalesce_pass_bytes_max
            ));
        }
        if self.coalesce_start_percent > COALESCE_START_PERCENT_MAX {
            return Err(format!(
                "coalesce_start_percent {} is above {COALESCE_START_PERCENT_MAX}: lower it (a pass must start before appends wait at the bound)",
                self.coalesce_start_percent
            ));
        }
        if self.coalesce_pass_image_bytes_max < PAGE_SIZE_MAX as usize {
            return Err(format!(
                "coalesce_pass_image_bytes_max {} is below one page of {PAGE_SIZE_MAX} bytes: raise it",
                self.coalesce_pass_image_bytes_max
            ));
        }
        if !(1..=COALESCE_IO_DEPTH_MAX).contains(&self.coalesce_io_depth) {
            return Err(format!(
                "coalesce_io_depth {} is outside 1..={COALESCE_IO_DEPTH_MAX}: use a value in range",
                self.coalesce_io_depth
            ));
        }
        if self.coalesce_pace_below_percent > 100 {
            return Err(format!(
                "coalesce_pace_below_percent {} is above 100: use 0..=100",
                self.coalesce_pace_below_percent
            ));
        }
        if !(1..=COALESCE_IO_DEPTH_MAX).contains(&self.coalesce_paced_depth) {
            return Err(format!(
                "coalesce_paced_depth {} is outside 1..={COALESCE_IO_DEPTH_MAX}: use a value in range",
                self.coalesce_paced_depth
            ));
        }
        if self.coalesce_step_records == 0 {
            return Err("coalesce_step_records is 0: use at least 1".into());
        }
        let grow_min = 2 * u64::from(PAGE_SIZE_MAX);
        if !self.page_file_grow_bytes.is_power_of_two() || self.page_file_grow_bytes < grow_min {
            return Err(format!(
                "page_file_grow_bytes {} must be a power of two of at least {grow_min}",
                self.page_file_grow_bytes
            ));
        }
        Ok(())
    }
}
