//! The journal of one core: group commit over pre-written, recycled files.
//!
//! Owns the open files, the batch buffers (one being filled, up to
//! `pipeline_depth` — three by default — being written), the waiters and the flusher
//! tasks (`flusher.rs`). Every `append` encodes its records into the batch
//! being filled before it first waits, so records may borrow from the caller; then it
//! waits for that batch to be durable. Flusher tasks (one per allowed write in flight,
//! `pipeline_depth`) write and sync batches: whatever arrived while a write was in
//! flight is the next batch (no fixed wait, bounded by `batch_bytes_max`). With depth 2
//! or 3, the next batch may be written while the ones before it are still in flight,
//! once it holds at least as many records as the newest of them: the device then works
//! on one or two groups while the next forms, and a batch written so carries its
//! pipeline window in its header.
//!
//! Must never: acknowledge a record before a sync that covers it completed; retry or
//! acknowledge anything after the first write or sync error (fail-stop: the journal
//! stays failed, every waiter and every later append gets [`JournalError::Failed`]);
//! unlink or create a file after `create`; allocate per record (at most
//! [`BATCH_BUFFERS`] `DmaBuf`s, each allocated once and reused; one waker per waiting
//! append, in reused lists).
//!
//! Invariants: which batch may be written when, with which pipeline window, and which
//! completion acknowledges what, are the rules of `pipeline.rs` (sans-I/O, property
//! tested): at most `pipeline_depth` (≤ 3) batch writes in flight, pipelined only
//! within one file and never for a batch that starts a file, acknowledged in sequence
//! order, nothing after a failure. Here: batches get consecutive sequence numbers and
//! are written back to back in a file generation; a recycled file's new header is
//! durable before its first batch is written. (Creating and opening files is
//! `lifecycle.rs`.)

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use boreal_segment::batch::{BatchBuilder, BatchProgress};
use boreal_segment::limits::JOURNAL_FILE_HEADER_SIZE;
use boreal_segment::{
    Alignment, BatchPlace, BatchSeq, Generation, JournalVersion, Lsn, PgId, Record, ValidRecord,
    batch_len, body_capacity,
};

use super::config::{JournalConfig, PIPELINE_DEPTH_MAX};
use super::error::JournalError;
use super::files::{FileSet, Pins};
use super::pipeline::{self, Pipeline};
use crate::io::{DmaBuf, Instant, Io};
use crate::rt::timeout_at;

/// Batch buffers a journal allocates, at most (each `batch_bytes_max` bytes,
/// allocated zeroed once and kept: a buffer returned while another is still spare is
/// kept too, never freed and allocated again).
pub(super) const BATCH_BUFFERS: usize = crate::limits::JOURNAL_BATCH_BUFFERS;

/// What a successful `append` covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Records appended (all of them).
    pub records: usize,
    /// First and last batch holding them; `None` for an empty call.
    pub batches: Option<(BatchSeq, BatchSeq)>,
}

/// Counters and state for metrics and for explaining a stall.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// `append` calls that encoded at least one record.
    pub appends: u64,
    pub records: u64,
    /// Batches made durable.
    pub batches: u64,
    /// Bytes of durable batches, padding included.
    pub bytes: u64,
    /// Device flushes issued (fdatasync, linked sync or DSYNC write), headers included.
    pub syncs: u64,
    /// Recycled-file headers written (a new generation).
    pub header_writes: u64,
    /// Freed files whose header was rewritten with generation 0 to say so, so a
    /// restart does not read them (one header write each).
    pub files_marked_free: u64,
    /// A batch write is in flight.
    pub inflight: bool,
    /// Batches written while the batch before them was still in flight (a pipeline
    /// window of one or two).
    pub pipelined: u64,
    /// Of those, batches written while the two before them were in flight (a window of
    /// two, `PIPELINED_TWO`).
    pub pipelined_behind_two: u64,
    /// Records in the batch being filled.
    pub filling_records: u32,
    /// Times appends had to wait because no journal file was free.
    pub space_waits: u64,
    /// Appends are waiting now because every file holds unreleased records.
    pub waiting_for_space: bool,
    /// Times an append waited for the next batch to open (its batch was full).
    pub room_waits: u64,
    pub files_active: usize,
    pub files_free: usize,
    /// Highest durable batch.
    pub durable_seq: Option<BatchSeq>,
    /// The fail-stop error, once failed.
    pub failed: Option<JournalError>,
}

pub(super) struct Filling {
    pub(super) buf: DmaBuf,
    /// Bytes of `buf` the batch may use (`batch_bytes_max`, or less at a file's end).
    pub(super) limit: usize,
    pub(super) progress: BatchProgress,
    pub(super) file: usize,
    /// The file was just taken for recycling: write this header first.
    pub(super) new_generation: Option<Generation>,
    /// No more records fit: the next append waits for the next batch.
    pub(super) full: bool,
}

pub(super) struct Job {
    pub(super) buf: DmaBuf,
    pub(super) file: usize,
    pub(super) offset: u64,
    pub(super) seq: BatchSeq,
    pub(super) new_generation: Option<Generation>,
}

/// What the writer keeps with a batch in the pipeline.
#[derive(Debug, Default)]
pub(super) struct FlightData {
    /// The buffer, once its write completed.
    pub(super) buf: Option<DmaBuf>,
    /// Appends waiting for it.
    pub(super) wakers: Vec<Waker>,
}

/// What the flusher does next.
pub(super) enum Work {
    /// Write a batch (after the new header of its file, if it starts one).
    Batch(Job),
    /// Rewrite the header of file `0`, freed (every record in it released), with
    /// generation 0: recovery then treats it as free and does not read it.
    MarkFree(usize),
}

pub(super) struct State {
    pub(super) set: FileSet,
    /// Where the next batch goes in the current file.
    pub(super) tail_offset: u64,
    pub(super) next_seq: BatchSeq,
    pub(super) filling: Option<Filling>,
    /// Buffers neither being filled nor written (at most [`BATCH_BUFFERS`]).
    pub(super) spares: Vec<DmaBuf>,
    /// Buffers allocated so far (at most [`BATCH_BUFFERS`]).
    pub(super) buffers: usize,
    /// Batches being written, in sequence order (at most `pipeline_depth`), and the
    /// acknowledgement point.
    pub(super) pipeline: Pipeline<FlightData>,
    /// When the newest batch was found durable: one clock read per batch, which the
    /// engine uses instead of one per append (see [`Journal::durable_at`]).
    pub(super) durable_at: Option<Instant>,
    pub(super) failed: Option<JournalError>,
    pub(super) filling_wakers: Vec<Waker>,
    pub(super) room_wakers: Vec<Waker>,
    /// Empty waker lists kept for reuse (no allocation per batch).
    pub(super) spare_lists: Vec<Vec<Waker>>,
    /// Flushers waiting for work.
    pub(super) flushers: Vec<Waker>,
    /// Freed files' headers being rewritten (`Work::MarkFree`) now: 0 or 1, one at a
    /// time in the order the files were freed. A batch that starts a file waits for
    /// it: the file may be that one, taken again for recycling since, and its new
    /// header must land after the one that marks it free.
    pub(super) marking: u32,
    pub(super) closed: bool,
    pub(super) stats: JournalStats,
}

pub(super) struct Inner<I: Io> {
    pub(super) io: I,
    pub(super) cfg: JournalConfig,
    pub(super) files: Vec<I::File>,
    pub(super) st: RefCell<State>,
    /// How long an append waits for a free file before it gives up with
    /// `JournalError::Full`; `None`: as long as it takes.
    pub(super) space_wait_max: std::cell::Cell<Option<std::time::Duration>>,
}

/// One core's journal. See the module docs. Not `Send`: one per core.
pub struct Journal<I: Io> {
    inner: Rc<Inner<I>>,
}

impl<I: Io> std::fmt::Debug for Journal<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.inner.cfg.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

enum Fill {
    Encoded { count: usize, seq: BatchSeq },
    Wait,
}

impl<I: Io> Journal<I> {
    pub(super) fn start(
        io: I,
        cfg: JournalConfig,
        files: Vec<I::File>,
        set: FileSet,
        tail_offset: u64,
        next_seq: BatchSeq,
    ) -> Journal<I> {
        let st = State {
            set,
            tail_offset,
            next_seq,
            filling: None,
            spares: vec![DmaBuf::zeroed(cfg.batch_bytes_max)],
            buffers: 1,
            pipeline: Pipeline::new(cfg.pipeline_depth),
            durable_at: None,
            failed: None,
            filling_wakers: Vec::new(),
            room_wakers: Vec::new(),
            spare_lists: Vec::new(),
            flushers: Vec::new(),
            marking: 0,
            closed: false,
            stats: JournalStats::default(),
        };
        let depth = cfg.pipeline_depth.clamp(1, PIPELINE_DEPTH_MAX);
        let inner = Rc::new(Inner {
            io,
            cfg,
            files,
            space_wait_max: std::cell::Cell::new(None),
            st: RefCell::new(st),
        });
        for _ in 0..depth {
            drop(crate::rt::spawn(super::flusher::flusher(inner.clone())));
        }
        Journal { inner }
    }

    /// Appends `records` and returns once all of them are durable. Records are
    /// encoded into the batch being filled before the first wait; a call whose records
    /// do not fit in one batch spans batches. Invalid or oversized records are refused
    /// before anything is encoded.
    pub async fn append<R: ToJournal>(&self, records: &[R]) -> Result<Appended, JournalError> {
        self.check_records(records)?;
        let mut next = 0;
        let mut batches: Option<(BatchSeq, BatchSeq)> = None;
        let mut counted = false;
        let mut space_since: Option<Instant> = None;
        while next < records.len() {
            let fill = self.inner.fill(&records[next..], &mut counted, None)?;
            match fill {
                Fill::Encoded { count, seq } => {
                    next += count;
                    batches = Some((batches.map_or(seq, |b| b.0), seq));
                }
                Fill::Wait => {
                    let no_space = self.inner.st.borrow().stats.waiting_for_space;
                    match self.inner.space_wait_max.get().filter(|_| no_space) {
                        // Waiting for a batch buffer or the batch in flight: soon over.
                        None => self.inner.wait_room().await,
                        // Waiting for a file to be released: bounded.
                        Some(max) => {
                            let since = *space_since.get_or_insert_with(|| self.inner.io.now());
                            let deadline = since.saturating_add(max);
                            if timeout_at(deadline, self.inner.wait_room()).await.is_err() {
                                let waited = self.inner.io.now().saturating_duration_since(since);
                                return Err(JournalError::Full {
                                    files: self.inner.cfg.files,
                                    waited_ms: waited.as_millis() as u64,
                                    encoded: next,
                                });
                            }
                        }
                    }
                }
            }
        }
        let Some((_, last)) = batches else {
            return Ok(Appended {
                records: 0,
                batches: None,
            });
        };
        self.inner.wait_durable(last).await?;
        Ok(Appended {
            records: records.len(),
            batches,
        })
    }

    /// Encodes all of `records` into the batch being filled (opening one if none is)
    /// and returns that batch's sequence, or encodes nothing and returns `None` if they
    /// do not all fit there now (the batch is full or too small for them, or no batch
    /// buffer or file space is free): [`Journal::append`] then waits for room, and may
    /// split them over batches. Never waits. Invalid or oversized records are refused
    /// as `append` refuses them. The records are durable once
    /// [`Journal::poll_durable`] says that batch is.
    pub fn try_append<R: ToJournal>(
        &self,
        records: &[R],
    ) -> Result<Option<BatchSeq>, JournalError> {
        if records.is_empty() {
            return Ok(None);
        }
        let bytes = self.check_records(records)?;
        let mut counted = false;
        match self.inner.fill(records, &mut counted, Some(bytes))? {
            Fill::Encoded { count, seq } => {
                debug_assert_eq!(count, records.len(), "all or nothing");
                Ok(Some(seq))
            }
            Fill::Wait => Ok(None),
        }
    }

    /// `Ready(Ok)` once batch `seq` (from [`Journal::try_append`]) is durable;
    /// `Ready(Err)` if the journal failed before it was; otherwise `Pending`, and
    /// `cx`'s waker is woken when that changes.
    pub fn poll_durable(
        &self,
        seq: BatchSeq,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), JournalError>> {
        self.inner.poll_durable(seq, cx)
    }

    /// Refuses an invalid or oversized record; returns the records' encoded bytes.
    fn check_records<R: ToJournal>(&self, records: &[R]) -> Result<usize, JournalError> {
        let body_max = body_capacity(JournalVersion::CURRENT, self.inner.cfg.batch_bytes_max);
        let mut bytes = 0;
        for (index, record) in records.iter().enumerate() {
            let valid = record
                .to_valid()
                .map_err(|source| JournalError::InvalidRecord { index, source })?;
            let needed = valid.get().encoded_len();
            if needed > body_max {
                return Err(JournalError::RecordTooLarge {
                    index,
                    needed,
                    max: body_max,
                });
            }
            bytes += needed;
        }
        Ok(bytes)
    }

    /// Bounds how long an append waits for a free journal file (every file holding
    /// unreleased records) before it returns `JournalError::Full`; `None` (the
    /// default) waits as long as it takes. Waits for a batch buffer or for the batch in
    /// flight are not bounded: they end with the next write.
    pub fn set_space_wait_max(&self, max: Option<std::time::Duration>) {
        self.inner.space_wait_max.set(max);
    }

    /// Redo of `pg` up to and including `upto` is materialized: files holding nothing
    /// newer become reusable (in journal order).
    pub fn release(&self, pg: PgId, upto: Lsn) {
        let freed = self.inner.st.borrow_mut().set.release(pg, upto);
        if freed > 0 {
            self.inner.wake_room();
            self.inner.wake_flusher();
        }
    }

    /// Every `Truncate`/`SegmentMeta` record of `pg` appended before this call is
    /// durable elsewhere or superseded: it no longer pins its file.
    pub fn release_meta(&self, pg: PgId) {
        let freed = self.inner.st.borrow_mut().set.release_meta(pg);
        if freed > 0 {
            self.inner.wake_room();
            self.inner.wake_flusher();
        }
    }

    /// When the newest batch was found durable (the journal's clock, read once per
    /// batch as its write completes), while a batch is in flight: then it is at most
    /// that one write+sync old, a stamp a busy caller can use instead of reading the
    /// clock per append. `None` when the journal is idle (the stamp could be any age)
    /// or before the first batch.
    pub fn durable_at(&self) -> Option<Instant> {
        let st = self.inner.st.borrow();
        st.durable_at.filter(|_| !st.pipeline.is_empty())
    }

    /// The highest batch durable with every batch before it (`None` before the first).
    pub fn durable_seq(&self) -> Option<BatchSeq> {
        self.inner.st.borrow().pipeline.durable()
    }

    /// The journal is running short of free space: the coalescer should materialize
    /// (and so release) now rather than wait for its backlog trigger. True when
    /// appends wait for space already, or at most half the files are free (so the
    /// files in use are released before the last free one fills). Never blocks.
    pub fn wants_release(&self) -> bool {
        let st = self.inner.st.borrow();
        st.stats.waiting_for_space || st.set.free_count() * 2 < self.inner.cfg.files as usize
    }

    pub fn stats(&self) -> JournalStats {
        let st = self.inner.st.borrow();
        let mut s = st.stats.clone();
        s.inflight = !st.pipeline.is_empty();
        s.filling_records = st.filling.as_ref().map_or(0, |f| f.progress.record_count());
        s.files_active = st.set.active_count();
        s.files_free = st.set.free_count();
        s.durable_seq = st.pipeline.durable();
        s.failed = st.failed.clone();
        s
    }

    /// The journal's configuration.
    pub fn config(&self) -> &JournalConfig {
        &self.inner.cfg
    }
}

impl<I: Io> Drop for Journal<I> {
    fn drop(&mut self) {
        let mut list = {
            let mut st = self.inner.st.borrow_mut();
            st.closed = true;
            std::mem::take(&mut st.flushers)
        };
        wake_all(&mut list);
    }
}

/// A record the journal takes: a [`Record`], whose format rules the journal checks,
/// or a [`ValidRecord`], checked once already by its maker (the engine checks every
/// record of an append once, and the journal does not check it again).
pub trait ToJournal {
    /// The record, checked.
    fn to_valid(&self) -> Result<ValidRecord<'_>, boreal_segment::Error>;
}

impl ToJournal for Record<'_> {
    fn to_valid(&self) -> Result<ValidRecord<'_>, boreal_segment::Error> {
        self.validated()
    }
}

impl ToJournal for ValidRecord<'_> {
    fn to_valid(&self) -> Result<ValidRecord<'_>, boreal_segment::Error> {
        Ok(*self)
    }
}

/// A record `check_records` accepted.
fn checked<R: ToJournal>(r: &R) -> ValidRecord<'_> {
    r.to_valid().expect("check_records accepted every record")
}

pub(super) fn wake_all(wakers: &mut Vec<Waker>) {
    for w in wakers.drain(..) {
        w.wake();
    }
}

impl<I: Io> Inner<I> {
    /// Encodes as many of `records` as fit into the batch being filled, opening one if
    /// needed. Never waits. With `whole` (the records' encoded bytes), all or nothing:
    /// if they do not all fit, nothing is encoded or counted and the answer is `Wait`.
    fn fill<R: ToJournal>(
        &self,
        records: &[R],
        counted: &mut bool,
        whole: Option<usize>,
    ) -> Result<Fill, JournalError> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        if st.filling.as_ref().is_some_and(|f| f.full) {
            if whole.is_none() {
                st.stats.room_waits += 1;
            }
            return Ok(Fill::Wait);
        }
        if st.filling.is_none() && !self.open_batch(st, checked(&records[0]).get().encoded_len()) {
            return Ok(Fill::Wait);
        }
        let State {
            filling,
            set,
            stats,
            ..
        } = &mut *st;
        let f = filling.as_mut().expect("a batch is open");
        let seq = f.progress.sequence();
        let mut builder = BatchBuilder::resume(&mut f.buf.as_full_mut()[..f.limit], f.progress)
            .expect("the paused batch resumes in its own buffer");
        if whole.is_some_and(|bytes| builder.remaining() < bytes) {
            // Nothing encoded: the batch stays as it was.
            return Ok(Fill::Wait);
        }
        let mut count = 0;
        let mut pins = Pins::new(f.file);
        for record in records {
            let valid = checked(record);
            if !builder.fits(valid.get()) {
                break;
            }
            builder
                .push_valid(&valid)
                .expect("validated records that fit are encoded");
            pins.add(set, valid.get());
            count += 1;
        }
        pins.finish(set);
        f.progress = builder.pause();
        if count < records.len() {
            f.full = true;
        }
        if count == 0 {
            stats.room_waits += 1;
            // The batch just became full: it may go out now, pipelined.
            if !st.flushers.is_empty() && self.batch_ready(st) {
                let w = st.flushers.pop().expect("checked");
                w.wake();
            }
            return Ok(Fill::Wait);
        }
        stats.records += count as u64;
        if !*counted {
            *counted = true;
            stats.appends += 1;
        }
        if !st.flushers.is_empty() && self.batch_ready(st) {
            let w = st.flushers.pop().expect("checked");
            w.wake();
        }
        Ok(Fill::Encoded { count, seq })
    }

    /// Opens the next batch; false if no buffer or no file space is available now.
    fn open_batch(&self, st: &mut State, first_record_len: usize) -> bool {
        let mut buf = match st.spares.pop() {
            Some(buf) => buf,
            None if st.buffers < BATCH_BUFFERS => {
                st.buffers += 1;
                DmaBuf::zeroed(self.cfg.batch_bytes_max)
            }
            None => {
                st.stats.room_waits += 1;
                return false;
            }
        };
        let needed = batch_len(
            JournalVersion::CURRENT,
            Alignment::JOURNAL,
            first_record_len,
        ) as u64;
        let file_bytes = self.cfg.file_bytes;
        let room = st
            .set
            .current()
            .map_or(0, |_| file_bytes.saturating_sub(st.tail_offset));
        let (file, new_generation) = match st.set.current() {
            Some(current) if room >= needed => (current, None),
            _ => match st.set.take_next() {
                Some((index, generation)) => {
                    st.tail_offset = JOURNAL_FILE_HEADER_SIZE as u64;
                    (index, Some(generation))
                }
                None => {
                    st.spares.push(buf);
                    if !st.stats.waiting_for_space {
                        st.stats.space_waits += 1;
                    }
                    st.stats.waiting_for_space = true;
                    return false;
                }
            },
        };
        st.stats.waiting_for_space = false;
        let limit = (file_bytes - st.tail_offset).min(self.cfg.batch_bytes_max as u64) as usize;
        let place = BatchPlace {
            file_id: FileSet::id(file),
            generation: st.set.generation(file),
            alignment: Alignment::JOURNAL,
            file_offset: st.tail_offset,
            // Appends go only to files of the current version (`open` moves a tail found
            // in an older file to a new one).
            version: JournalVersion::CURRENT,
        };
        let progress = BatchBuilder::new(&mut buf.as_full_mut()[..limit], place, st.next_seq)
            .expect("an aligned buffer and offset make a batch")
            .pause();
        st.next_seq = st.next_seq.next();
        st.set.batch_started(file);
        st.filling = Some(Filling {
            buf,
            limit,
            progress,
            file,
            new_generation,
            full: false,
        });
        true
    }

    /// Waits once: until a batch is taken or completes (the next batch may open), space
    /// is released, or the journal fails. The caller re-checks.
    async fn wait_room(&self) {
        let mut registered = false;
        poll_fn(|cx| {
            if registered {
                return Poll::Ready(());
            }
            registered = true;
            self.st.borrow_mut().room_wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    async fn wait_durable(&self, seq: BatchSeq) -> Result<(), JournalError> {
        poll_fn(|cx| self.poll_durable(seq, cx)).await
    }

    fn poll_durable(
        &self,
        seq: BatchSeq,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), JournalError>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        if st.pipeline.durable().is_some_and(|d| d >= seq) {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = &st.failed {
            return Poll::Ready(Err(e.clone()));
        }
        match st.pipeline.get_mut(seq) {
            Some(f) => f.data.wakers.push(cx.waker().clone()),
            None => st.filling_wakers.push(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Wakes one flusher if one waits for work (a freed file now needs marking).
    fn wake_flusher(&self) {
        let w = self.st.borrow_mut().flushers.pop();
        if let Some(w) = w {
            w.wake();
        }
    }

    fn wake_room(&self) {
        let mut list = {
            let mut st = self.st.borrow_mut();
            let spare = st.spare_lists.pop().unwrap_or_default();
            std::mem::replace(&mut st.room_wakers, spare)
        };
        wake_all(&mut list);
        self.st.borrow_mut().spare_lists.push(list);
    }

    /// Whether the batch being filled may be written now, and with which pipeline
    /// window (`pipeline.rs` says when).
    pub(super) fn take_mode(&self, st: &State) -> Option<u8> {
        let f = st.filling.as_ref()?;
        let next = pipeline::Filling {
            records: f.progress.record_count(),
            full: f.full,
            file: f.file,
            starts_file: f.new_generation.is_some(),
        };
        st.pipeline.window(next, st.marking > 0)
    }

    fn batch_ready(&self, st: &State) -> bool {
        self.take_mode(st).is_some()
    }
}
