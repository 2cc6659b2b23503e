//! The journal's file lifecycle: `create` (pre-allocate and pre-write every file) and
//! `open` (read every header, rebuild or re-zero unreadable ones, scan, decide, rebuild
//! the file set and the pins, and resume at the tail).
//!
//! Owns the on-disk life of a file outside the append path: it is the only place that
//! creates files, and it never unlinks one. Pre-writing is real zeros written with
//! O_DIRECT (NVMe-NOTES fact 4: fallocate alone leaves unwritten extents that cost ~3x
//! per sync). A file whose header cannot be read gets its header rebuilt from its
//! first batch when its batches are live (see `open_streaming`), and is re-zeroed
//! otherwise, so batches of an unknown generation can never come back to life when the
//! file is reused. Appends go only to files of the current format version: a tail
//! found in an older-version file is closed and appends continue in the next file
//! (`close_older_version`); in a current-version file, three largest batches' worth of
//! bytes at the tail are zeroed and synced before anything is appended
//! (`zero_after_tail`: a pipelined batch that landed behind one that did not must never
//! read as a later batch).

use boreal_segment::error::Error as FormatError;
use boreal_segment::limits::JOURNAL_FILE_HEADER_SIZE;
use boreal_segment::{
    Alignment, BatchHeader, BatchSeq, Generation, JournalFileHeader, JournalFileId, JournalVersion,
    Lsn,
};

use super::config::{JOURNAL_ALIGN_BYTES as JOURNAL_ALIGN, JournalConfig, PIPELINE_DEPTH_MAX};
use super::decide::{FileItems, MissingRange, decide_all};
use super::error::JournalError;
use super::files::FileSet;
use super::scan::{KeepBatch, RecoveredRecords, Stream, scan_file};
use super::writer::Journal;
use crate::io::{DmaBuf, Io, OpenOptions, WriteFlags};

/// Bytes written per request when pre-writing a new file with zeros.
const PREWRITE_CHUNK_BYTES: usize = 1 << 20;
/// Reads of a file header, or of a damaged journal region, before the damage is
/// believed: a transient read error (a bit flipped on the way) must never make recovery
/// re-zero a file or cut an acknowledged batch.
pub(super) const DAMAGED_READ_ATTEMPTS: u32 = 3;

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
        version: JournalVersion::CURRENT,
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
    write_durably(io, file, id, "header write", hbuf, 0).await
}

/// Writes all of `buf` at `offset` and syncs it; `op` names the write in errors.
async fn write_durably<I: Io>(
    io: &I,
    file: &I::File,
    id: JournalFileId,
    op: &'static str,
    buf: DmaBuf,
    offset: u64,
) -> Result<(), JournalError> {
    let len = buf.len();
    let (r, _) = io.write_at(file, buf, offset, WriteFlags::NONE).await;
    match r {
        Ok(n) if n == len => {}
        Ok(n) => {
            return Err(JournalError::Io {
                op,
                file: id,
                offset,
                errno: None,
                cause: format!("short write: {n} of {len} bytes"),
            });
        }
        Err(e) => return Err(JournalError::io(op, id, offset, &e)),
    }
    io.fdatasync(file)
        .await
        .map_err(|e| JournalError::io("fdatasync", id, offset, &e))
}

/// The generation and version claimed by the batch header at the first batch offset of
/// `file`, if one is readable there and names this file at that offset (read up to
/// `DAMAGED_READ_ATTEMPTS` times).
async fn first_batch_generation<I: Io>(
    io: &I,
    file: &I::File,
    id: JournalFileId,
) -> Result<Option<(Generation, JournalVersion)>, JournalError> {
    let at = JOURNAL_FILE_HEADER_SIZE as u64;
    for _ in 0..DAMAGED_READ_ATTEMPTS {
        let (r, buf) = io
            .read_at(file, DmaBuf::zeroed(JOURNAL_ALIGN), JOURNAL_ALIGN, at)
            .await;
        full_read(r, JOURNAL_ALIGN, "first batch header read", id, at)?;
        if let Ok(h) = BatchHeader::decode(buf.as_slice())
            && h.file_id == id
            && h.file_offset == at
        {
            return Ok(Some((h.generation, h.version)));
        }
    }
    Ok(None)
}

/// A read that must return `len` bytes: the files are pre-written to their full size
/// (checked at open), so a short read is the device or kernel failing, never the end of
/// the file. Taken as what it is, an I/O error; read as bytes, the zeros after it would
/// make a whole header or batch look unwritten, and the file could be re-zeroed.
fn full_read(
    r: std::io::Result<usize>,
    len: usize,
    op: &'static str,
    id: JournalFileId,
    offset: u64,
) -> Result<(), JournalError> {
    match r {
        Ok(n) if n == len => Ok(()),
        Ok(n) => Err(JournalError::Io {
            op,
            file: id,
            offset,
            errno: None,
            cause: format!("short read: {n} of {len} bytes inside the file"),
        }),
        Err(e) => Err(JournalError::io(op, id, offset, &e)),
    }
}

/// Writes `header` at offset 0 and syncs it.
async fn write_header_durably<I: Io>(
    io: &I,
    file: &I::File,
    id: JournalFileId,
    header: &JournalFileHeader,
) -> Result<(), JournalError> {
    let mut hbuf = DmaBuf::zeroed(JOURNAL_FILE_HEADER_SIZE);
    encode_header(&mut hbuf, header);
    write_durably(io, file, id, "header rebuild", hbuf, 0).await
}

/// Ends appends to file `index`, whose batches are of an older `version`: the journal
/// appends only batches of the current version, and only to files of that version
/// (every batch of a file has the file's version). Zeroes (durably) the block at
/// `offset`, where appends would have resumed, so that a torn batch cut there cannot
/// later look like a batch completed before the newer file that follows it (a newer
/// file proves that everything in the older files completed); the caller then resumes
/// with no room left in this file, so the writer takes the next free file, which it
/// writes as the current version.
async fn close_older_version<I: Io>(
    io: &I,
    file: &I::File,
    cfg: &JournalConfig,
    index: usize,
    offset: u64,
    version: JournalVersion,
) -> Result<(), JournalError> {
    debug_assert!(version != JournalVersion::CURRENT);
    let op = "older-version tail zeroing";
    zero_durably(io, file, cfg, index, offset, JOURNAL_ALIGN, op)
        .await
        .map(drop)
}

/// Writes zeros over the largest batches' worth of bytes that can be in flight at once
/// (`PIPELINE_DEPTH_MAX` of them; less at the end of the file) at the tail and syncs
/// them, before anything is appended: every byte there was cut (recovery moves the tail
/// past anything it keeps). With several batch writes in flight, a later one can land
/// behind one that did not, where the scan may not see it (it steps over an older
/// generation's batch as a whole) or where a new, shorter batch would end just before
/// it; zeroed, it can never read as a later batch of the file. The sync also makes
/// durable whatever the recovered tail still had only in the device's cache after a
/// process crash. Returns the bytes zeroed.
async fn zero_after_tail<I: Io>(
    io: &I,
    file: &I::File,
    cfg: &JournalConfig,
    index: usize,
    offset: u64,
) -> Result<usize, JournalError> {
    let len = PIPELINE_DEPTH_MAX * cfg.batch_bytes_max;
    zero_durably(io, file, cfg, index, offset, len, "tail zeroing").await
}

/// Writes zeros over `len` bytes at `offset` of file `index` (fewer at the end of the
/// file) and syncs them; `op` names the write in errors. Returns the bytes zeroed.
async fn zero_durably<I: Io>(
    io: &I,
    file: &I::File,
    cfg: &JournalConfig,
    index: usize,
    offset: u64,
    len: usize,
    op: &'static str,
) -> Result<usize, JournalError> {
    let room = cfg.file_bytes.saturating_sub(offset);
    let len = (len as u64).min(room) as usize;
    if len == 0 {
        return Ok(0);
    }
    let mut zeros = DmaBuf::zeroed(len);
    zeros.set_len(len);
    write_durably(io, file, FileSet::id(index), op, zeros, offset).await?;
    Ok(len)
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
    /// syncs it, then syncs the directory so that every file's name is durable. Must
    /// run inside the runtime (it spawns the flusher task).
    pub async fn create(io: I, cfg: JournalConfig) -> Result<Journal<I>, JournalError> {
        Self::create_with(io, cfg, true).await
    }

    /// [`create`](Self::create), except that journal files that already exist are
    /// overwritten (pre-written with zeros like new ones). Only for a directory whose
    /// journal holds nothing of value: a creation that crashed before its owner
    /// committed it (the engine's catalog is that commit point). Never for a journal
    /// that was ever opened for appends.
    pub async fn create_over(io: I, cfg: JournalConfig) -> Result<Journal<I>, JournalError> {
        Self::create_with(io, cfg, false).await
    }

    async fn create_with(
        io: I,
        cfg: JournalConfig,
        create_new: bool,
    ) -> Result<Journal<I>, JournalError> {
        cfg.validate()?;
        let mut files = Vec::with_capacity(cfg.files as usize);
        for index in 0..cfg.files as usize {
            let path = cfg.file_path(index as u32);
            let opts = OpenOptions {
                create: true,
                ..direct_rw(create_new)
            };
            let file = io
                .open(&path, opts)
                .await
                .map_err(|e| JournalError::io("create", FileSet::id(index), 0, &e))?;
            prewrite(&io, &file, &cfg, index).await?;
            files.push(file);
        }
        // The files' names are durable only once their directory is synced: without
        // this, a crash after the catalog commits could leave a core with journal files
        // missing (POSIX does not make a new name durable with the file's own fsync).
        let last = FileSet::id(files.len().saturating_sub(1));
        io.sync_dir(&cfg.dir).await.map_err(|e| {
            JournalError::io(
                "fsync of the journal directory, after creating",
                last,
                0,
                &e,
            )
        })?;
        let set = FileSet::new(files.len());
        Ok(Journal::start(io, cfg, files, set, 0, BatchSeq::ZERO))
    }

    /// Opens an existing journal and recovers it (see `decide.rs` for the rules and the
    /// guarantee). Must run inside the runtime (it spawns the flusher task). After it
    /// returns, call `release` for every PG with its materialized LSN: recovery pins
    /// every file by the records it still holds.
    pub async fn open(io: I, cfg: JournalConfig) -> Result<(Journal<I>, Recovered), JournalError> {
        let (journal, recovered, _) = Self::open_streaming(io, cfg, &|_| true, &mut |_| {}).await?;
        Ok((journal, recovered))
    }

    /// [`open`](Self::open), keeping for replay only the bodies of the batches `keep`
    /// accepts (see [`KeepBatch`]): every batch still counts for recovery's decisions
    /// and pins its file, but the records of the others are not returned and their
    /// read windows are reused during the scan instead of being held until replay.
    /// Each kept batch that the decisions will accept is also handed to `visit` as soon
    /// as the scan has checked it (see [`Stream`]), so the caller can replay while the
    /// scan reads on. The `bool` says whether the batches `visit` saw are exactly the
    /// kept batches the decisions accepted, in order; if not, the caller replays from
    /// `Recovered::records` instead. That happens only after damage: a pipelined batch
    /// after one that did not complete is held back (it is cut when nothing follows it,
    /// the case a crash leaves), and accepted only when a later batch proves the one
    /// before it completed and was damaged since.
    pub(crate) async fn open_streaming(
        io: I,
        cfg: JournalConfig,
        keep: KeepBatch<'_>,
        visit: &mut dyn FnMut(&[u8]),
    ) -> Result<(Journal<I>, Recovered, bool), JournalError> {
        cfg.validate()?;
        let mut files = Vec::with_capacity(cfg.files as usize);
        let mut headers = Vec::with_capacity(cfg.files as usize);
        let mut unreadable: Vec<(usize, String)> = Vec::new();
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
            let mut attempt = 1;
            let decoded = loop {
                let (r, buf) = io
                    .read_at(
                        &file,
                        DmaBuf::zeroed(JOURNAL_FILE_HEADER_SIZE),
                        JOURNAL_FILE_HEADER_SIZE,
                        0,
                    )
                    .await;
                full_read(r, JOURNAL_FILE_HEADER_SIZE, "header read", id, 0)?;
                let decoded = JournalFileHeader::decode(buf.as_slice());
                if decoded.is_ok() || attempt >= DAMAGED_READ_ATTEMPTS {
                    break decoded;
                }
                attempt += 1;
            };
            let header = match decoded {
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
                // A whole, checksummed header of a version this build does not read
                // (a newer build wrote it): refuse, touching nothing. Treating it as
                // unreadable would zero a file full of batches this build cannot read.
                Err(e @ FormatError::BadVersion { .. }) => {
                    return Err(JournalError::BadFile {
                        file: id,
                        what: format!(
                            "{e}: written by another build of boreal; refusing to open the journal (nothing was changed; open it with a build that reads this version)"
                        ),
                    });
                }
                Err(e) => {
                    unreadable.push((index, e.to_string()));
                    None
                }
            };
            headers.push(header);
            files.push(file);
        }
        // An unreadable header: either a recycling header write torn by a crash (the
        // body still holds the previous generation's batches, all released: the file
        // is free) or damage to a live file's header. The first batch tells them
        // apart, with the segments' floors where that is not enough:
        // - batches newer than every readable header: the newest file, whose loss
        //   nothing else would reveal; rebuilt;
        // - batches of a generation between two live files: a live file (files are
        //   recycled oldest first, so a released file is older than every live one);
        //   rebuilt;
        // - batches older than every live file: the oldest live file, or a released
        //   file whose recycling or free-marking header tore or was damaged. Live
        //   files hold consecutive generations (files are taken with the next
        //   generation and freed oldest first), so a generation below the live ones
        //   with a generation between them that no file holds (freed, its header
        //   rewritten) was freed before that one: zeroed and made free. Otherwise
        //   nothing older shows a sequence gap, so the batches themselves decide: if
        //   any holds redo above its segment's floor or a control record (`keep`), the
        //   file is live and is rebuilt; otherwise nothing in it is needed and it is
        //   zeroed and made free.
        // A header is rebuilt from the config and that generation (every other field
        // is known). A file that is zeroed cannot bring its batches back to life when
        // it is reused with their generation.
        let readable_max = headers
            .iter()
            .flatten()
            .map(|h| h.generation)
            .max()
            .unwrap_or(Generation::ZERO);
        let live_min = headers
            .iter()
            .flatten()
            .map(|h| h.generation)
            .filter(|&g| g > Generation::ZERO)
            .min();
        let mut firsts = Vec::with_capacity(unreadable.len());
        for &(index, _) in &unreadable {
            firsts.push(first_batch_generation(&io, &files[index], FileSet::id(index)).await?);
        }
        let damaged_gens: Vec<Generation> = firsts.iter().flatten().map(|f| f.0).collect();
        // Whether every generation strictly between `g` and the oldest live file is
        // held by a file (one whose header is damaged too): only then may `g`'s file
        // be the oldest live one.
        let adjacent_to_live = |g: Generation| {
            live_min.is_some_and(|m| {
                (g.get() + 1..m.get()).all(|h| damaged_gens.contains(&Generation::new(h)))
            })
        };
        for ((index, why), first) in unreadable.into_iter().zip(firsts) {
            let id = FileSet::id(index);
            let rebuilt = |generation, version| JournalFileHeader {
                version,
                ..header_of(&cfg, index, generation)
            };
            let taken = headers
                .iter()
                .flatten()
                .any(|h| Some(h.generation) == first.map(|f| f.0));
            let verdict = match first {
                Some((g, v)) if !taken && g > readable_max => Some((g, v, "newer than every file")),
                Some((g, v)) if !taken && live_min.is_some_and(|m| m < g) => {
                    Some((g, v, "between live files"))
                }
                Some((g, v)) if !taken && g > Generation::ZERO && adjacent_to_live(g) => {
                    let probe = rebuilt(g, v);
                    let mut ignore = |_: &[u8]| {};
                    let mut stream = Stream::new(keep, &mut ignore);
                    let mut records = RecoveredRecords::default();
                    let mut pool = Vec::new();
                    scan_file(
                        &io,
                        &files[index],
                        &probe,
                        &mut pool,
                        cfg.recovery_read_bytes,
                        &mut records,
                        &mut stream,
                    )
                    .await?;
                    (!stream.streamed.is_empty()).then_some((
                        g,
                        v,
                        "older than every live file, holding redo not yet materialized",
                    ))
                }
                _ => None,
            };
            match verdict {
                Some((generation, version, why_live)) => {
                    // The file's version is its batches' (an older file keeps its own).
                    let header = rebuilt(generation, version);
                    write_header_durably(&io, &files[index], id, &header).await?;
                    report.push(format!(
                        "{id}: header unreadable ({why}): rebuilt from its first batch (generation {generation}, {why_live})"
                    ));
                    headers[index] = Some(header);
                }
                None => {
                    report.push(format!(
                        "{id}: header unreadable ({why}): file re-zeroed and made free"
                    ));
                    prewrite(&io, &files[index], &cfg, index).await?;
                }
            }
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

        // The read windows become the records' storage (no copy); windows that held no
        // valid batch are reused for the next reads.
        let mut records = RecoveredRecords::default();
        let mut pool = Vec::new();
        let mut scanned = Vec::with_capacity(used.len());
        let mut stream = Stream::new(keep, visit);
        for &(index, _) in &used {
            let header = headers[index].expect("used files have a readable header");
            let items = scan_file(
                &io,
                &files[index],
                &header,
                &mut pool,
                cfg.recovery_read_bytes,
                &mut records,
                &mut stream,
            )
            .await?;
            scanned.push(FileItems {
                file: header.file_id,
                items,
            });
        }
        drop(pool);
        // What the scan read may be a killed process's writes that never reached the
        // disk: still in the page cache, lost at the next power cut. Recovery builds on
        // them (the SCL, appends after them), so they are made durable first; a sync of
        // a file with nothing dirty costs next to nothing. (The tail zeroing below syncs
        // only the tail file.)
        for &(index, _) in &used {
            io.fdatasync(&files[index]).await.map_err(|e| {
                JournalError::io("fdatasync of a recovered file", FileSet::id(index), 0, &e)
            })?;
        }
        let decisions = decide_all(&scanned, JOURNAL_FILE_HEADER_SIZE as u64);
        report.extend(decisions.report.iter().cloned());
        let streamed_as_decided = decisions
            .accepted
            .iter()
            .copied()
            .filter(|&i| records.has_body(i))
            .eq(stream.streamed.iter().copied());
        records.retain_order(&decisions.accepted);

        let mut set = FileSet::restore(files.len(), used.clone(), free, generation_max);
        // Pins come from the per-batch summaries the scan gathered while it checked
        // each body, so the records are not decoded again here.
        for batch in records.batches() {
            let index = batch.file.get() as usize;
            for p in records.pins_of(batch) {
                if p.redo_max != Lsn::ZERO {
                    set.pin_redo(index, p.pg, p.redo_max);
                }
                if p.meta {
                    set.pin_meta(index, p.pg);
                }
            }
        }
        let (tail, tail_offset) = match decisions.tail {
            Some((pos, offset)) => {
                let (index, generation) = used[pos];
                let version = headers[index].map_or(JournalVersion::CURRENT, |h| h.version);
                let offset = if version == JournalVersion::CURRENT {
                    let zeroed = zero_after_tail(&io, &files[index], &cfg, index, offset).await?;
                    if let Some((zpos, zoff, zlen)) = decisions.zero {
                        debug_assert!(zpos == pos && zoff == offset && zlen <= zeroed as u64);
                        report.push(format!(
                            "{}: zeroed {zlen} bytes at offset {zoff}: batches written while an earlier one was in flight that never completed",
                            FileSet::id(index)
                        ));
                    }
                    offset
                } else {
                    close_older_version(&io, &files[index], &cfg, index, offset, version).await?;
                    report.push(format!(
                        "{}: a version {} file: appends continue in a new version {} file",
                        FileSet::id(index),
                        version.get(),
                        JournalVersion::CURRENT.get()
                    ));
                    cfg.file_bytes
                };
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
            streamed_as_decided,
        ))
    }
}
