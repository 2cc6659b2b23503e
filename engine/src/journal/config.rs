//! Journal configuration: where the files live, how many, how big, how big a batch may
//! grow, how a batch is made durable, and how recovery reads.
//!
//! Owns plain data and its validation only; it never touches a file. Every field says
//! its default, its minimum and its unit, and [`JournalConfig::validate`] refuses values
//! that would be unsafe or that the formats cannot express, saying what to change.

use std::path::{Path, PathBuf};

use boreal_segment::limits::{BATCH_BYTES_MAX, JOURNAL_FILE_BYTES_MAX, JOURNAL_FILE_HEADER_SIZE};

use super::error::JournalError;

pub use crate::limits::{
    JOURNAL_ALIGN_BYTES, JOURNAL_FILES_MAX, JOURNAL_FILES_MIN, PIPELINE_DEPTH_MAX,
    RECOVERY_READ_BYTES_MAX, RECOVERY_READ_BYTES_MIN,
};

/// How a batch write is made durable before its appenders are acknowledged
/// (NVMe-NOTES fact 5: all three cost one device flush; which is fastest under group
/// commit is measured by `examples/journal_modes.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DurabilityMode {
    /// `write`, then `fdatasync` once the write completed in full: two round trips.
    WriteThenFdatasync,
    /// `write` linked to `fdatasync` (`Io::write_then_fdatasync`, `IOSQE_IO_LINK`): one
    /// submission, the sync runs only if the write completed in full.
    Linked,
    /// One write with `RWF_DSYNC`: durable when it completes. Default: under group
    /// commit on the dev VM it beat both others at every small-batch concurrency
    /// (10,809 vs 9,521 linked vs 9,110 write+fdatasync commits/s at one appender;
    /// 1.28 M vs 1.18 M vs 1.15 M records/s at 256; NVMe-NOTES "The journal's
    /// durability mode").
    #[default]
    DsyncWrite,
}

/// Configuration of one core's journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// Directory holding the journal files (`journal-0000.brj`, ...). Must exist.
    /// No default.
    pub dir: PathBuf,
    /// Number of pre-allocated files. Default 4, minimum 2, maximum 4096.
    pub files: u32,
    /// Size of every file in bytes, header included; a multiple of 4096. Default
    /// 64 MiB. Minimum: the 4 KiB header plus one largest batch (`batch_bytes_max`).
    pub file_bytes: u64,
    /// Largest batch (one write), bytes, padding and sector stamps included; a
    /// multiple of 4096. Default and maximum 1 MiB (`BATCH_BYTES_MAX`), minimum 4096.
    /// A record larger than `boreal_segment::body_capacity(JournalVersion::CURRENT,
    /// batch_bytes_max)` is refused: 504 of every 512 bytes hold records, less the
    /// 72-byte batch header (1,032,120 bytes at 1 MiB, 3,960 at 4096).
    pub batch_bytes_max: usize,
    /// How a batch is made durable. Default [`DurabilityMode::DsyncWrite`].
    pub durability: DurabilityMode,
    /// Batch writes in flight at once: 1, 2 or 3 (default 3). With more than 1, a batch
    /// may be written while the ones before it are still in flight (once the batch
    /// before those is durable, inside one file, and once it holds at least as many
    /// records as the newest in flight); appends are still acknowledged in sequence
    /// order, and the batch's header carries its pipeline window so recovery knows
    /// which batches before it the header does not prove durable. Under group commit
    /// with many appenders this keeps the device busy while the next group forms
    /// (NVMe-NOTES, "Group commit's ceiling", "Three batch writes in flight"); with one
    /// appender it changes nothing.
    pub pipeline_depth: usize,
    /// Bytes recovery reads per O_DIRECT read (reads never overlap; two are in flight,
    /// and the windows that hold valid batches are kept as the recovered records'
    /// storage); a multiple of 4096. Default 4 MiB, minimum 64 KiB, maximum 64 MiB.
    pub recovery_read_bytes: usize,
}

impl JournalConfig {
    /// The defaults, in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> JournalConfig {
        JournalConfig {
            dir: dir.into(),
            files: 4,
            file_bytes: 64 << 20,
            batch_bytes_max: BATCH_BYTES_MAX,
            durability: DurabilityMode::default(),
            pipeline_depth: PIPELINE_DEPTH_MAX,
            recovery_read_bytes: 4 << 20,
        }
    }

    /// Bytes of all files together (headers included).
    pub fn capacity_bytes(&self) -> u64 {
        u64::from(self.files).saturating_mul(self.file_bytes)
    }

    /// The largest engine backlog bound (`EngineConfig::backlog_bytes_max`) this journal
    /// holds well: a quarter of its capacity. The backlog bound is what stops appends
    /// before the journal fills (only materialization frees journal space), so the
    /// journal must hold the whole backlog and still have room for: the file being
    /// written and the oldest file, which is freed only once every PG materialized all
    /// of it; batch headers and padding (the backlog counts encoded records only); and
    /// the `Truncate` and `SegmentMeta` records a restart must journal before anything
    /// can be materialized (a pending truncation caps the min read point). A backlog
    /// bound above this lets the journal fill with records nothing may materialize yet,
    /// and then an append (or the truncation that volume recovery re-applies at boot)
    /// waits for space that never comes.
    pub fn backlog_bytes_fit(&self) -> u64 {
        self.capacity_bytes() / 4
    }

    /// Refuses an engine backlog bound of `backlog_bytes_max` that does not fit well
    /// inside this journal ([`backlog_bytes_fit`](Self::backlog_bytes_fit)), saying what
    /// to change.
    pub fn check_backlog(&self, backlog_bytes_max: u64) -> Result<(), JournalError> {
        let fit = self.backlog_bytes_fit();
        if backlog_bytes_max <= fit {
            return Ok(());
        }
        let files_needed = backlog_bytes_max
            .saturating_mul(4)
            .div_ceil(self.file_bytes.max(1));
        Err(JournalError::Config(format!(
            "backlog_bytes_max = {backlog_bytes_max} does not fit well inside the journal ({} files of {} bytes = {} bytes; at most a quarter, {fit} bytes, may be backlog): appends could fill the journal with records nothing may materialize yet and then wait for space forever; lower backlog_bytes_max to at most {fit}, or raise files to at least {files_needed} (or file_bytes)",
            self.files,
            self.file_bytes,
            self.capacity_bytes()
        )))
    }

    /// The path of file `index`.
    pub fn file_path(&self, index: u32) -> PathBuf {
        file_path(&self.dir, index)
    }

    /// Refuses unsafe or unrepresentable values, saying what to change.
    pub fn validate(&self) -> Result<(), JournalError> {
        let align = JOURNAL_ALIGN_BYTES as u64;
        let bad = |m: String| Err(JournalError::Config(m));
        if !(JOURNAL_FILES_MIN..=JOURNAL_FILES_MAX).contains(&self.files) {
            return bad(format!(
                "files = {}: use {JOURNAL_FILES_MIN}..={JOURNAL_FILES_MAX} (one file is written while another is recycled)",
                self.files
            ));
        }
        if self.batch_bytes_max < JOURNAL_ALIGN_BYTES
            || self.batch_bytes_max > BATCH_BYTES_MAX
            || !self.batch_bytes_max.is_multiple_of(JOURNAL_ALIGN_BYTES)
        {
            return bad(format!(
                "batch_bytes_max = {}: use a multiple of 4096 in 4096..={BATCH_BYTES_MAX}",
                self.batch_bytes_max
            ));
        }
        let file_min = (JOURNAL_FILE_HEADER_SIZE + self.batch_bytes_max) as u64;
        if self.file_bytes < file_min
            || self.file_bytes > JOURNAL_FILE_BYTES_MAX
            || !self.file_bytes.is_multiple_of(align)
        {
            return bad(format!(
                "file_bytes = {}: use a multiple of 4096 in {file_min}..={JOURNAL_FILE_BYTES_MAX} (the 4 KiB header plus at least one batch_bytes_max)",
                self.file_bytes
            ));
        }
        if !(1..=PIPELINE_DEPTH_MAX).contains(&self.pipeline_depth) {
            return bad(format!(
                "pipeline_depth = {}: use 1 (one batch write in flight) to {PIPELINE_DEPTH_MAX}",
                self.pipeline_depth
            ));
        }
        if !(RECOVERY_READ_BYTES_MIN..=RECOVERY_READ_BYTES_MAX).contains(&self.recovery_read_bytes)
            || !self.recovery_read_bytes.is_multiple_of(JOURNAL_ALIGN_BYTES)
        {
            return bad(format!(
                "recovery_read_bytes = {}: use a multiple of 4096 in {RECOVERY_READ_BYTES_MIN}..={RECOVERY_READ_BYTES_MAX}",
                self.recovery_read_bytes
            ));
        }
        Ok(())
    }
}

/// The path of journal file `index` in `dir`.
pub fn file_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("journal-{index:04}.brj"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_say_what_to_change() {
        JournalConfig::new("/j").validate().unwrap();
        let mut c = JournalConfig::new("/j");
        c.files = 1;
        assert!(c.validate().unwrap_err().to_string().contains("files = 1"));
        let mut c = JournalConfig::new("/j");
        c.file_bytes = 4096 + 4096;
        assert!(c.validate().unwrap_err().to_string().contains("file_bytes"));
        let mut c = JournalConfig::new("/j");
        c.batch_bytes_max = 5000;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("batch_bytes_max")
        );
        let mut c = JournalConfig::new("/j");
        c.pipeline_depth = 4;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("pipeline_depth = 4")
        );
        let mut c = JournalConfig::new("/j");
        c.recovery_read_bytes = 4097;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("recovery_read_bytes")
        );
        assert_eq!(c.file_path(3), PathBuf::from("/j/journal-0003.brj"));
    }

    #[test]
    fn a_backlog_bound_must_fit_well_inside_the_journal() {
        let c = JournalConfig::new("/j");
        assert_eq!(c.backlog_bytes_fit(), 64 << 20);
        c.check_backlog(64 << 20).unwrap();
        let msg = c.check_backlog((64 << 20) + 1).unwrap_err().to_string();
        assert!(
            msg.contains("lower backlog_bytes_max to at most 67108864"),
            "{msg}"
        );
        assert!(msg.contains("raise files to at least 5"), "{msg}");
    }
}
