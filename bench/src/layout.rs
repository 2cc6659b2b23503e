//! Laying files out before anything is timed.
//!
//! fio writes a job's file fully before the job starts, and so do we: on this VM an
//! fdatasync after writing into fresh or sparse blocks costs about twice as much as
//! over blocks that are already allocated and written, and a read of a hole never
//! reaches the device. A file is (re)written from byte 0 to the end of the job region
//! when it is shorter than that or has fewer allocated blocks than bytes (sparse). The
//! written data is a pseudo-random pattern, then the file is fsynced. Layout runs on the
//! main thread before the job threads start; it never runs while anything is measured.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::BenchError;
use crate::workload::patterned_buf;

/// Bytes written per layout write.
const LAYOUT_CHUNK_BYTES: usize = 1 << 20;

/// What layout did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutOutcome {
    /// The file was already long enough and fully allocated.
    AlreadyLaidOut,
    /// The file was written from 0 to this many bytes and synced.
    Written(u64),
}

/// Makes sure `path` holds `len_needed` written, allocated bytes.
pub fn lay_out(path: &Path, len_needed: u64) -> Result<LayoutOutcome, BenchError> {
    let io_err = |op, offset, source| BenchError::Io {
        op,
        path: path.to_path_buf(),
        offset,
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create directory for", 0, e))?;
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            // Block devices and the like are used as they are.
            return Ok(LayoutOutcome::AlreadyLaidOut);
        }
        if meta.len() >= len_needed && meta.blocks() * 512 >= len_needed {
            return Ok(LayoutOutcome::AlreadyLaidOut);
        }
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io_err("open for layout", 0, e))?;
    let pattern = patterned_buf(LAYOUT_CHUNK_BYTES, 0x1a40);
    let mut written = 0u64;
    while written < len_needed {
        let n = (len_needed - written).min(LAYOUT_CHUNK_BYTES as u64) as usize;
        file.write_all(&pattern.as_slice()[..n])
            .map_err(|e| io_err("layout write", written, e))?;
        written += n as u64;
    }
    file.sync_all()
        .map_err(|e| io_err("layout fsync", written, e))?;
    Ok(LayoutOutcome::Written(written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_and_sparse_files_are_written_and_full_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/f");
        assert_eq!(
            lay_out(&path, 3 << 20).unwrap(),
            LayoutOutcome::Written(3 << 20)
        );
        assert_eq!(
            lay_out(&path, 3 << 20).unwrap(),
            LayoutOutcome::AlreadyLaidOut
        );

        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        assert_eq!(
            lay_out(&sparse, 1 << 20).unwrap(),
            LayoutOutcome::Written(1 << 20)
        );
        assert!(std::fs::metadata(&sparse).unwrap().blocks() * 512 >= 1 << 20);
    }
}
