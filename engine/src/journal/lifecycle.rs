//! The journal's file lifecycle: `create` (pre-allocate and pre-write every file) and
//! `open` (read every header, re-zero unreadable files, scan, decide, rebuild the file
//! set and the pins, and resume at the tail).
//!
//! Owns the on-disk life of a file outside the append path: it is the only place that
//! creates files, and it never unlinks one. Pre-writing is real zeros written with
//! O_DIRECT (NVMe-NOTES fact 4: fallocate alone leaves unwritten extents that cost ~3x
//! per sync). A file whose header cannot be read is re-zeroed before use, so batches of
//! an unknown generation can never come back to life when the file is reused.

use boreal_segment::limits::JOURNAL_FILE_HEADER_SIZE;
use boreal_segment::{Alignment, BatchSeq, Generation, JournalFileHeader, JournalFileId};

use super::config::JournalConfig;
use super::decide::{FileItems, MissingRange, decide_all};
use super::error::JournalError;
use super::files::FileSet;
use super::scan::{RecoveredRecords, scan_file};
use super::writer::{Journal, pin};
use crate::io::{DmaBuf, Io, OpenOptions, WriteFlags};

/// Bytes written per request when pre-writing a new file with zeros.
const PREWRITE_CHUNK_BYTES: usize = 1 << 20;

/// Where appends resume after recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TailPos {
    pub file: JournalFileId,
    pub generation: Generation,
    pub offset: u64,
    pub next_seq: BatchSeq,
}

/// What `open` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// Every valid batch still in the journal, in journal order (released ones
    /// included: skip what is already materialized).
    pub records: RecoveredRecords,
    /// Acknowledged ranges that are damaged: holes to repair from peers.
    pub missing: Vec<MissingRange>,
    /// Where appends resume; `None` if no file was ever written.
    pub tail: Option<TailPos>,
    /// One line per decision that was not "replay this batch", and per repaired file.
    pub report: Vec<String>,
}

fn direct_rw(create_new: bool) -> OpenOptions {
    OpenOptions {
        read: true,
        write: true,
        create: create_new,
        create_new,
        direct: true,
        ..OpenOptions::default()
    }
}

pub(super) fn header_of(
    cfg: &JournalConfig,
    index: usize,
    generation: Generation,
) -> JournalFileHeader {
    JournalFileHeader {
        file_id: FileSet::id(index),
        generation,
        alignment: Alignment::JOURNAL,
        file_size: cfg.file_bytes,
    }
}

/// Writes zeros over the whole file, then a generation-0 header, then syncs
/// (NVMe-NOTES fact 4: fallocate alone leaves unwritten extents that cost ~3x per sync).
async fn prewrite<I: Io>(
    io: &I,
    file: &I::File,
    cfg: &JournalConfig,
    index: usize,
) -> Result<(), JournalError> {
    let id = FileSet::id(index);
    let mut zeros = DmaBuf::zeroed(PREWRITE_CHUNK_BYTES);
    let mut offset = 0u64;
    while offset < cfg.file_bytes {
        let n = (cfg.file_bytes - offset).min(PREWRITE_CHUNK_BYTES as u64) as usize;
        zeros.set_len(n);
        let (r, buf) = io.write_at(file, zeros, offset, WriteFlags::NONE).await;
        zeros = buf;
        let written = r.map_err(|e| JournalError::io("pre-write", id, offset, &e))?;
        if written != n {
            return Err(JournalError::Io {
                op: "pre-write",
                file: id,
                offset,
                errno: None,
                cause: format!("short write: {written} of {n} bytes"),
            });
        }
        offset += n as u64;
    }
    let mut hbuf = DmaBuf::zeroed(JOURNAL_FILE_HEADER_SIZE);
    encode_header(&mut hbuf, &header_of(cfg, index, Generation::ZERO));
    let (r, _) = io.write_at(file, hbuf, 0, WriteFlags::NONE).await;
    match r {
        Ok(n) if n == JOURNAL_FILE_HEADER_SIZE => {}
        Ok(n) => {
            return Err(JournalError::Io {
                op: "header write",
                file: id,
                offset: 0,
                errno: None,
                cause: format!("short write: {n} of {JOURNAL_FILE_HEADER_SIZE} bytes"),
            });
        }
        Err(e) => return Err(JournalError::io("header write", id, 0, &e)),
    }
    io.fdatasync(file)
        .await
        .map_err(|e| JournalError::io("fdatasync", id, 0, &e))
}

pub(super) fn encode_header(buf: &mut DmaBuf, header: &JournalFileHeader) {
    buf.set_len(JOURNAL_FILE_HEADER_SIZE);
    header
        .encode_into(buf.as_mut_slice())
        .expect("validated config gives a valid journal file header");
}

impl<I: Io> Journal<I> {
    /// Creates a fresh journal in `cfg.dir` (which must exist and hold no journal
    /// files): pre-allocates and pre-writes every file with zeros, writes its header,
    /// syncs it. Must run inside the runtime (it spawns the flusher task).
    pub async fn create(io: I, cfg: JournalConfig) -> Result<Journal<I>, JournalError> {
        cfg.validate()?;
        let mut files = Vec::with_capacity(cfg.files as usize);
        for index in 0..cfg.files as usize {
            let path = cfg.file_path(index as u32);
            let file = io
                .open(&path, direct_rw(true))
                .await
                .map_err(|e| JournalError::io("create", FileSet::id(index), 0, &e))?;
            prewrite(&io, &file, &cfg, index).await?;
            files.push(file);
        }
        let set = FileSet::new(files.len());
        Ok(Journal::start(io, cfg, files, set, 0, BatchSeq::ZERO))
    }

    /// Opens an existing journal and recovers it (see `decide.rs` for the rules and the
    /// guarantee). Must run inside the runtime (it spawns the flusher task). After it
    /// returns, call `release` for every PG with its materialized LSN: recovery pins
    /// every file by the records it still holds.
    pub async fn open(io: I, cfg: JournalConfig) -> Result<(Journal<I>, Recovered), JournalError> {
        cfg.validate()?;
        let mut files = Vec::with_capacity(cfg.files as usize);
        let mut headers = Vec::with_capacity(cfg.files as usize);
        let mut report = Vec::new();
        for index in 0..cfg.files as usize {
            let id = FileSet::id(index);
            let path = cfg.file_path(index as u32);
            let file = io
                .open(&path, direct_rw(false))
                .await
                .map_err(|e| JournalError::io("open", id, 0, &e))?;
            let info = io.file_info(&file);
            if info.size != cfg.file_bytes {
                return Err(JournalError::BadFile {
                    file: id,
                    what: format!(
                        "size {} differs from file_bytes {}",
                        info.size, cfg.file_bytes
                    ),
                });
            }
            let (r, buf) = io
                .read_at(
                    &file,
                    DmaBuf::zeroed(JOURNAL_FILE_HEADER_SIZE),
                    JOURNAL_FILE_HEADER_SIZE,
                    0,
                )
                .await;
            r.map_err(|e| JournalError::io("header read", id, 0, &e))?;
            let header = match JournalFileHeader::decode(buf.as_slice()) {
                Ok(h)
                    if h.file_id != id
                        || h.file_size != cfg.file_bytes
                        || h.alignment != Alignment::JOURNAL =>
                {
                    return Err(JournalError::BadFile {
                        file: id,
                        what: format!("header {h:?} does not match the config"),
                    });
                }
                Ok(h) => Some(h),
                Err(e) => {
                    // Its batches cannot be placed (the generation is unknown) and would
                    // come back to life if the file were reused with their generation:
                    // zero it. Acknowledged batches it held show up as a sequence gap.
                    report.push(format!(
                        "{id}: header unreadable ({e}): file re-zeroed and made free"
                    ));
                    prewrite(&io, &file, &cfg, index).await?;
                    None
                }
            };
            headers.push(header);
            files.push(file);
        }
        let generation_max = headers
            .iter()
            .flatten()
            .map(|h| h.generation)
            .max()
            .unwrap_or(Generation::ZERO);
        let mut used: Vec<(usize, Generation)> = headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                h.filter(|h| h.generation > Generation::ZERO)
                    .map(|h| (i, h.generation))
            })
            .collect();
        used.sort_by_key(|&(i, g)| (g, i));
        if let Some(w) = used.windows(2).find(|w| w[0].1 == w[1].1) {
            return Err(JournalError::BadFile {
                file: FileSet::id(w[1].0),
                what: format!(
                    "generation {} is also the generation of {}",
                    w[1].1,
                    FileSet::id(w[0].0)
                ),
            });
        }
        let free: Vec<usize> = (0..files.len())
            .filter(|i| !used.iter().any(|(u, _)| u == i))
            .collect();

        let mut records = RecoveredRecords::default();
        let mut window = None;
        let mut scanned = Vec::with_capacity(used.len());
        for &(index, _) in &used {
            let header = headers[index].expect("used files have a readable header");
            let items = scan_file(
                &io,
                &files[index],
                &header,
                &mut window,
                cfg.recovery_read_bytes,
                &mut records,
            )
            .await?;
            scanned.push(FileItems {
                file: header.file_id,
                items,
            });
        }
        drop(window);
        let decisions = decide_all(&scanned, JOURNAL_FILE_HEADER_SIZE as u64);
        report.extend(decisions.report.iter().cloned());
        records.retain_order(&decisions.accepted);

        let mut set = FileSet::restore(files.len(), used.clone(), free, generation_max);
        for batch in records.batches() {
            let index = batch.file.get() as usize;
            for record in records.batch_records(batch) {
                pin(&mut set, index, &record);
            }
        }
        let (tail, tail_offset) = match decisions.tail {
            Some((pos, offset)) => {
                let (index, generation) = used[pos];
                (
                    Some(TailPos {
                        file: FileSet::id(index),
                        generation,
                        offset,
                        next_seq: decisions.next_seq,
                    }),
                    offset,
                )
            }
            None => (None, 0),
        };
        let journal = Journal::start(io, cfg, files, set, tail_offset, decisions.next_seq);
        Ok((
            journal,
            Recovered {
                records,
                missing: decisions.missing,
                tail,
                report,
            },
        ))
    }
}
