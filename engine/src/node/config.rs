//! Configuration of one core's engine (`CoreEngine`): limits of the backlog, the page
//! cache and the coalescer. Every field says its default, minimum and unit;
//! [`EngineConfig::validate`] refuses unsafe values with a message naming the fix.

use std::path::PathBuf;
use std::time::Duration;

use boreal_segment::limits::PAGE_SIZE_MAX;

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
    /// How often the background coalescer looks for work when nobody wakes it.
    /// Default 10 ms, minimum 1 ms.
    pub coalesce_interval: Duration,
    /// Most redo bytes one coalescer pass materializes for one segment (bounds the
    /// memory a pass copies out of the hot log). Default 8 MiB, minimum 64 KiB, bytes.
    pub coalesce_pass_bytes_max: usize,
    /// Run the coalescer as a background task. Default true. Tests that drive
    /// materialization by hand (`CoreEngine::coalesce_now`) turn it off.
    pub background_coalescer: bool,
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
            coalesce_pass_bytes_max: 8 << 20,
            background_coalescer: true,
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
