//! Two-slot files: the mechanism the catalog and the metadata file share (and, for a
//! page pair, the page file's re-read policy).
//!
//! A two-slot file holds two fixed-size slots, slot `k` at byte `k * slot_bytes`. It is
//! created with both slots present (slot 0 zeros, slot 1 the initial state with
//! sequence 1) in one write, then `fsync`ed (and its directory, so that its name is
//! durable too), so later writes never extend it. The write
//! with sequence `s` goes to slot `s % 2` with `RWF_DSYNC`, so a torn write damages only
//! the slot being written and the other keeps the previous state. Open reads both slots
//! in one O_DIRECT read and keeps the valid one with the highest sequence.
//!
//! Invariant: a damaged slot (neither valid nor all zeros) is read again, up to
//! [`DAMAGED_READ_ATTEMPTS`] reads in all, before it is believed, so a transient read
//! error cannot make the older slot win. This module owns no layout: the caller encodes
//! and decodes slots, and every I/O error names the caller's op, the file and the offset.

use std::path::Path;

use boreal_segment::checksum::is_all_zero;

use super::error::{PageStoreError, full_write, io_err};
use crate::buf::DmaBuf;
use crate::io::{Io, OpenOptions, WriteFlags};

/// Reads of a slot pair when a slot is damaged (see the module docs).
pub(crate) const DAMAGED_READ_ATTEMPTS: u32 = 3;

/// One kind of two-slot file: its slot size and the op names its errors carry.
pub(crate) struct SlotFile {
    pub slot_bytes: usize,
    /// Op of creating (or emptying) the file.
    pub create: &'static str,
    /// Op of opening an existing file.
    pub open: &'static str,
    /// Op of reading both slots.
    pub read: &'static str,
    /// Op of writing a slot (or both, at creation).
    pub write: &'static str,
    /// Op of the `fsync` that makes a new file durable.
    pub fsync_new: &'static str,
    /// Op of the `fsync` of the directory that makes a new file's name durable.
    pub fsync_dir: &'static str,
}

/// Syncs the directory holding `path`, so that a file just created there is found
/// after a crash (its own fsync does not promise that). Errors name `op` and the
/// directory.
pub(crate) async fn sync_parent<I: Io>(
    io: &I,
    path: &Path,
    op: &'static str,
) -> Result<(), PageStoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    io.sync_dir(dir).await.map_err(io_err(op, dir, 0))
}

/// Opens `path` read-write O_DIRECT; with `create`, creates or empties it. Errors name
/// `op`.
pub(crate) async fn open_file<I: Io>(
    io: &I,
    path: &Path,
    create: bool,
    op: &'static str,
) -> Result<I::File, PageStoreError> {
    let opts = OpenOptions {
        read: true,
        write: true,
        create,
        truncate: create,
        direct: true,
        ..OpenOptions::default()
    };
    io.open(path, opts).await.map_err(io_err(op, path, 0))
}

/// Runs `read` (one read of a slot pair: its outcome, and whether a slot was damaged)
/// until no slot is damaged or [`DAMAGED_READ_ATTEMPTS`] reads were made, and returns
/// the last outcome.
pub(crate) async fn reread_damaged<T, Fut>(
    mut read: impl FnMut() -> Fut,
) -> Result<T, PageStoreError>
where
    Fut: Future<Output = Result<(T, bool), PageStoreError>>,
{
    let mut attempt = 1;
    loop {
        let (outcome, damaged) = read().await?;
        if !damaged || attempt >= DAMAGED_READ_ATTEMPTS {
            return Ok(outcome);
        }
        attempt += 1;
    }
}

impl SlotFile {
    /// Creates (or empties) the file with slot 0 zeros and slot 1 filled by `initial`
    /// (sequence 1), in one write, then `fsync`s it and its directory.
    pub(crate) async fn create<I: Io>(
        &self,
        io: &I,
        path: &Path,
        initial: impl FnOnce(&mut [u8]),
    ) -> Result<I::File, PageStoreError> {
        let file = open_file(io, path, true, self.create).await?;
        let len = 2 * self.slot_bytes;
        let mut buf = DmaBuf::zeroed(len);
        buf.set_len(len);
        initial(&mut buf.as_mut_slice()[self.slot_bytes..]);
        let (res, _buf) = io.write_at(&file, buf, 0, WriteFlags::NONE).await;
        full_write(self.write, path, 0, len, res)?;
        io.fsync(&file)
            .await
            .map_err(io_err(self.fsync_new, path, 0))?;
        sync_parent(io, path, self.fsync_dir).await?;
        Ok(file)
    }

    /// Opens the file and decodes both slots in one read, re-reading while a slot is
    /// damaged (`decode` fails on bytes that are not all zeros). Bytes past the end of
    /// the file decode as zeros (the file is created whole, so only damage leaves it
    /// shorter); a read that ends before the file's size is
    /// [`PageStoreError::Short`].
    pub(crate) async fn open<I: Io, T>(
        &self,
        io: &I,
        path: &Path,
        decode: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<(I::File, [Result<T, String>; 2]), PageStoreError> {
        let file = open_file(io, path, false, self.open).await?;
        let size = io.file_info(&file).size;
        let (file_ref, decode) = (&file, &decode);
        let len = 2 * self.slot_bytes;
        let slots = reread_damaged(move || async move {
            let (res, buf) = io.read_at(file_ref, DmaBuf::zeroed(len), len, 0).await;
            let got = res.map_err(io_err(self.read, path, 0))?;
            // Short of the file's size: the read ended early, not the file; zeros in its
            // place would let the older slot win.
            let expected = (len as u64).min(size) as usize;
            if got < expected {
                return Err(PageStoreError::Short {
                    op: self.read,
                    path: path.to_path_buf(),
                    offset: 0,
                    expected,
                    got,
                });
            }
            let mut bytes = vec![0u8; len];
            bytes[..got].copy_from_slice(&buf.as_slice()[..got]);
            let slots = [
                decode(&bytes[..self.slot_bytes]),
                decode(&bytes[self.slot_bytes..]),
            ];
            let damaged = slots
                .iter()
                .zip(bytes.chunks(self.slot_bytes))
                .any(|(s, b)| s.is_err() && !is_all_zero(b));
            Ok((slots, damaged))
        })
        .await?;
        Ok((file, slots))
    }

    /// Writes the slot of `sequence` (filled by `encode`) with `RWF_DSYNC`.
    pub(crate) async fn write<I: Io>(
        &self,
        io: &I,
        file: &I::File,
        path: &Path,
        sequence: u64,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<(), PageStoreError> {
        let offset = (sequence % 2) * self.slot_bytes as u64;
        let mut buf = DmaBuf::zeroed(self.slot_bytes);
        buf.set_len(self.slot_bytes);
        encode(buf.as_mut_slice());
        let (res, _buf) = io.write_at(file, buf, offset, WriteFlags::DSYNC).await;
        full_write(self.write, path, offset, self.slot_bytes, res)
    }
}

/// The valid slot with the highest `sequence` (the later slot on a tie), or why each
/// slot is invalid (empty for a valid one).
pub(crate) fn newest<T: Clone>(
    slots: &[Result<T, String>; 2],
    sequence: impl Fn(&T) -> u64,
) -> Result<T, [String; 2]> {
    let best = slots
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .max_by_key(|t| sequence(t))
        .cloned();
    best.ok_or_else(|| slots.clone().map(|s| s.err().unwrap_or_default()))
}
