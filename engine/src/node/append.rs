//! Appends: records in, a durable acknowledgement with the segment's SCL out.
//!
//! Two ways in. [`CoreEngine::append`] is one future per append. A caller with many
//! appends in flight and no task per append (the network layer, one connection's
//! frames; the bench, fio's iodepth) uses [`CoreEngine::try_append`], which checks
//! the records, journals them into the open batch and copies them into a
//! [`PendingAppend`] without waiting, then [`CoreEngine::poll_append`] until the
//! batch is durable. The pending append owns its records from then on, so the caller's
//! buffer (a connection's receive buffer) is free at once, and `poll_append` needs
//! nothing back from the caller. Both take any [`AppendRecord`]: `Redo`s, checked here
//! against the format, or a node's records off the wire as `ValidRecord`s whose
//! checksums the protocol verified, whose bytes the journal copies instead of encoding
//! and checksumming them again.
//!
//! Must never: add a record to a hot log before the journal says it is durable;
//! journal a record the segment would refuse (every check runs before anything is
//! journaled, and the whole append is refused if one record is); allocate per append
//! on the steady path (journal record lists and staged copies come from a bounded
//! pool, [`StagingPool`]).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Context, Poll};

use boreal_segment::{BatchSeq, Change, Epoch, Lsn, PageId, PgId, Record, Redo, ValidRecord};

use super::api::AppendAck;
use super::engine::{CoreEngine, Inner, recycle};
use super::error::EngineError;
use super::segment::{SegState, Segment, write_meta_now};
use crate::hotlog::Arrival;
use crate::io::{Instant, Io};
use crate::limits::{
    APPEND_POOL_BYTES_MAX, APPEND_POOLED_MAX, APPEND_RECORD_LIST_CAPACITY_MAX,
    APPEND_STAGED_BODY_BYTES_MAX,
};

/// One staged record: a redo record's fields, its body in [`Staged::bodies`].
#[derive(Clone, Copy, Debug)]
struct StagedHead {
    lsn: Lsn,
    prev_lsn_pg: Lsn,
    prev_lsn_page: Lsn,
    page_id: PageId,
    cpl: bool,
    /// `None`: a full page image; else the offset of a delta.
    delta_offset: Option<u32>,
    body_end: u32,
}

/// The records of a pending append, copied out of the caller's buffer when the journal
/// took them (the hot log copies them once more when they land, as it copies every
/// record into its arena).
#[derive(Debug, Default)]
pub(crate) struct Staged {
    heads: Vec<StagedHead>,
    bodies: Vec<u8>,
}

impl Staged {
    fn push(&mut self, r: &Redo<'_>) {
        let (delta_offset, bytes) = match r.change {
            Change::Delta { offset, bytes } => (Some(offset), bytes),
            Change::Image(bytes) => (None, bytes),
        };
        self.bodies.extend_from_slice(bytes);
        self.heads.push(StagedHead {
            lsn: r.lsn,
            prev_lsn_pg: r.prev_lsn_pg,
            prev_lsn_page: r.prev_lsn_page,
            page_id: r.page_id,
            cpl: r.cpl,
            delta_offset,
            body_end: u32::try_from(self.bodies.len()).expect("a batch's bodies fit u32"),
        });
    }

    fn records(&self, pg: PgId) -> impl Iterator<Item = Redo<'_>> + '_ {
        let mut start = 0usize;
        self.heads.iter().map(move |h| {
            let end = h.body_end as usize;
            let bytes = &self.bodies[start..end];
            start = end;
            Redo {
                lsn: h.lsn,
                prev_lsn_pg: h.prev_lsn_pg,
                prev_lsn_page: h.prev_lsn_page,
                pg_id: pg,
                page_id: h.page_id,
                cpl: h.cpl,
                change: match h.delta_offset {
                    Some(offset) => Change::Delta { offset, bytes },
                    None => Change::Image(bytes),
                },
            }
        })
    }

    fn clear(&mut self) {
        self.heads.clear();
        self.bodies.clear();
    }
}

/// Emptied journal record lists and staged-record buffers, reused by the next
/// appends. Bounded: `APPEND_POOLED_MAX` of each, oversized ones freed, and at most
/// `APPEND_POOL_BYTES_MAX` of capacity kept in all.
#[derive(Debug, Default)]
pub(crate) struct StagingPool {
    lists: RefCell<Vec<Vec<ValidRecord<'static>>>>,
    staged: RefCell<Vec<Staged>>,
    /// Capacity kept in both pools, in bytes.
    kept_bytes: Cell<usize>,
}

fn list_bytes(list: &Vec<ValidRecord<'_>>) -> usize {
    list.capacity() * std::mem::size_of::<ValidRecord<'static>>()
}

fn staged_bytes(s: &Staged) -> usize {
    s.bodies.capacity() + s.heads.capacity() * std::mem::size_of::<StagedHead>()
}

impl StagingPool {
    fn list<'r>(&self) -> Vec<ValidRecord<'r>> {
        let list = self.lists.borrow_mut().pop().unwrap_or_default();
        self.kept_bytes
            .set(self.kept_bytes.get() - list_bytes(&list));
        recycle(list)
    }

    fn give_list(&self, list: Vec<ValidRecord<'_>>) {
        let bytes = list_bytes(&list);
        if list.capacity() <= APPEND_RECORD_LIST_CAPACITY_MAX && self.may_keep(bytes) {
            let mut lists = self.lists.borrow_mut();
            if lists.len() < APPEND_POOLED_MAX {
                lists.push(recycle(list));
                self.kept_bytes.set(self.kept_bytes.get() + bytes);
            }
        }
    }

    fn staged(&self) -> Staged {
        let s = self.staged.borrow_mut().pop().unwrap_or_default();
        self.kept_bytes
            .set(self.kept_bytes.get() - staged_bytes(&s));
        s
    }

    fn give_staged(&self, mut s: Staged) {
        let bytes = staged_bytes(&s);
        if s.bodies.capacity() <= APPEND_STAGED_BODY_BYTES_MAX
            && s.heads.capacity() <= APPEND_RECORD_LIST_CAPACITY_MAX
            && self.may_keep(bytes)
        {
            let mut pool = self.staged.borrow_mut();
            if pool.len() < APPEND_POOLED_MAX {
                s.clear();
                pool.push(s);
                self.kept_bytes.set(self.kept_bytes.get() + bytes);
            }
        }
    }

    fn may_keep(&self, bytes: usize) -> bool {
        self.kept_bytes.get() + bytes <= APPEND_POOL_BYTES_MAX
    }
}

/// An append [`CoreEngine::try_append`] started: its records are in the journal and
/// not yet acknowledged, and it holds its own copy of them. Poll it with
/// [`CoreEngine::poll_append`]. Dropped unpolled, it is an append whose caller went
/// away: its records become durable (a restart replays them) but are not acknowledged
/// or added to the segment now; the shim sends them again.
#[derive(Debug)]
#[must_use = "an append is acknowledged only through CoreEngine::poll_append"]
pub struct PendingAppend {
    pg: PgId,
    /// The journal batch holding the records; `None` when nothing was journaled
    /// (every record was held already): acknowledged at the first poll.
    at: Option<BatchSeq>,
    /// When it started: the arrival stamp, unless the journal's durable time is later.
    started: Instant,
    /// The records journaled, to land in the hot log once durable.
    staged: Staged,
    /// Records judged already held when the append started.
    duplicates: usize,
    finished: bool,
}

impl PendingAppend {
    /// The PG appended to.
    pub fn pg(&self) -> PgId {
        self.pg
    }

    /// The journal batch holding the records (`None` if none was journaled).
    pub fn batch(&self) -> Option<BatchSeq> {
        self.at
    }
}

/// A record an append takes: a [`Redo`], checked against the format here, or a
/// [`ValidRecord`] of a redo record, checked once already by its maker. A
/// `ValidRecord` that carries its verified encoding (`Record::decode_valid`: a node's
/// records off the wire) is journaled by copying those bytes, so nothing checksums or
/// encodes it again. A record of another kind is refused as invalid.
pub trait AppendRecord<'r>: Copy {
    /// The record.
    fn record(&self) -> Record<'r>;
    /// The record checked against the format's rules.
    fn valid(&self) -> Result<ValidRecord<'r>, boreal_segment::Error>;
}

impl<'r> AppendRecord<'r> for Redo<'r> {
    fn record(&self) -> Record<'r> {
        Record::Redo(*self)
    }

    fn valid(&self) -> Result<ValidRecord<'r>, boreal_segment::Error> {
        Record::Redo(*self).validated()
    }
}

impl<'r> AppendRecord<'r> for ValidRecord<'r> {
    fn record(&self) -> Record<'r> {
        *self.get()
    }

    fn valid(&self) -> Result<ValidRecord<'r>, boreal_segment::Error> {
        Ok(*self)
    }
}

impl<I: Io> Inner<I> {
    /// An append's checks against its segment: refuses the whole append if `epoch`
    /// is stale or any record is invalid, outside the segment, inside a truncation or
    /// a conflicting duplicate; else returns the records new to the segment, as
    /// journal records in a pooled list with room for `extra` more, how many were
    /// already held, and whether any of them fills a gap below the hot log's newest
    /// record.
    fn judge_records<'r, R: AppendRecord<'r>>(
        &self,
        seg: &Segment<I>,
        st: &SegState,
        epoch: Epoch,
        records: &[R],
        extra: usize,
    ) -> Result<Judged<'r>, EngineError> {
        if epoch < st.epoch {
            return Err(EngineError::StaleEpoch {
                pg: seg.pg,
                got: epoch,
                current: st.epoch,
            });
        }
        let mut journal = self.staging.list();
        journal.reserve(records.len() + extra);
        let mut judged = Judged {
            fills_gap: false,
            duplicates: 0,
            journal: Vec::new(),
        };
        for r in records {
            let (r, valid) = seg.check_record(r)?;
            if st.hot.judge(&r)? == Arrival::Accepted {
                judged.fills_gap |= r.lsn <= st.hot.max_lsn();
                journal.push(valid);
            } else {
                judged.duplicates += 1;
            }
        }
        judged.journal = journal;
        Ok(judged)
    }
}

/// What [`Inner::judge_records`] found.
struct Judged<'r> {
    fills_gap: bool,
    duplicates: usize,
    /// The records new to the segment, as journal records, checked.
    journal: Vec<ValidRecord<'r>>,
}

impl<I: Io + 'static> CoreEngine<I> {
    /// Appends redo records of `pg` at `epoch` and returns once they are durable, with
    /// the segment's SCL. The whole append is refused (nothing journaled) if any record
    /// is invalid, of another PG, outside the PG's pages, inside a truncation, or a
    /// conflicting duplicate, or if `epoch` is stale. Records already held are
    /// re-acknowledged. A higher epoch is made durable with the records.
    ///
    /// The records are any [`AppendRecord`]: `Redo`s, or `ValidRecord`s a node took off
    /// the wire with their checksums verified, which are journaled by copying their bytes.
    pub async fn append<'r, R: AppendRecord<'r>>(
        &self,
        pg: PgId,
        epoch: Epoch,
        records: &[R],
    ) -> Result<AppendAck, EngineError> {
        if let Some(mut pending) = self.try_append(pg, epoch, records)? {
            return poll_fn(|cx| self.poll_append(&mut pending, cx)).await;
        }
        self.append_waiting(pg, epoch, records).await
    }

    /// Starts an append that need not wait, without waiting: the records are checked
    /// as [`CoreEngine::append`] checks them (the same errors), encoded into the
    /// journal's open batch and copied into the returned [`PendingAppend`], which is
    /// then polled with [`CoreEngine::poll_append`] until it is acknowledged. The
    /// caller's records are not needed again. An append whose every record is held
    /// already journals nothing and is acknowledged at its first poll.
    ///
    /// `Ok(None)` (nothing journaled, nothing changed) when the append would have to
    /// wait or do more than journal its records: the backlog is over a bound, `epoch`
    /// raises the segment's epoch, or the journal has no room for all of them in its
    /// open batch. Call `append` then.
    pub fn try_append<'r, R: AppendRecord<'r>>(
        &self,
        pg: PgId,
        epoch: Epoch,
        records: &[R],
    ) -> Result<Option<PendingAppend>, EngineError> {
        let inner = &self.inner;
        inner.check_alive()?;
        let seg = inner.segment(pg)?;
        let judged = {
            let st = seg.st.borrow();
            if epoch > st.epoch {
                return Ok(None);
            }
            inner.judge_records(&seg, &st, epoch, records, 0)?
        };
        // As in `append_waiting`: the journal's last durable time, not a clock read.
        let started = inner.journal.durable_at().unwrap_or_else(|| inner.io.now());
        let Judged {
            fills_gap,
            duplicates,
            journal,
        } = judged;
        if journal.is_empty() {
            inner.staging.give_list(journal);
            return Ok(Some(PendingAppend {
                pg,
                at: None,
                started,
                staged: Staged::default(),
                duplicates,
                finished: false,
            }));
        }
        let taken = if !fills_gap && inner.over_bound(started).is_some() {
            Ok(None)
        } else {
            inner.journal.try_append(&journal)
        };
        let at = match taken {
            Ok(Some(at)) => at,
            Ok(None) => {
                inner.staging.give_list(journal);
                return Ok(None);
            }
            Err(e) => {
                inner.staging.give_list(journal);
                return Err(inner.journal_refused(e, false));
            }
        };
        let mut staged = inner.staging.staged();
        for r in &journal {
            if let Record::Redo(r) = r.get() {
                staged.push(r);
            }
        }
        inner.staging.give_list(journal);
        Ok(Some(PendingAppend {
            pg,
            at: Some(at),
            started,
            staged,
            duplicates,
            finished: false,
        }))
    }

    /// Polls an append [`CoreEngine::try_append`] started: `Ready(Ok(ack))` once its
    /// records are durable, after they were added to the segment (what `append`
    /// returns); `Ready(Err)` if the journal failed first (the engine has stopped);
    /// else `Pending`, and `cx`'s waker is woken when the journal's batch completes.
    /// Pending appends may be polled in any order.
    ///
    /// # Panics
    ///
    /// If it is polled again after it was `Ready`.
    pub fn poll_append(
        &self,
        pending: &mut PendingAppend,
        cx: &mut Context<'_>,
    ) -> Poll<Result<AppendAck, EngineError>> {
        assert!(
            !pending.finished,
            "{pending:?} polled after it was acknowledged"
        );
        let inner = &self.inner;
        if let Some(at) = pending.at {
            match inner.journal.poll_durable(at, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    pending.finished = true;
                    return Poll::Ready(Err(inner.journal_refused(e, false)));
                }
                Poll::Ready(Ok(())) => {}
            }
        }
        pending.finished = true;
        let seg = match inner.segment(pending.pg) {
            Ok(seg) => seg,
            Err(e) => return Poll::Ready(Err(e)),
        };
        // The arrival stamp: when the batch holding these records was found durable.
        let now = inner
            .journal
            .durable_at()
            .map_or(pending.started, |at| pending.started.max(at));
        let staged = std::mem::take(&mut pending.staged);
        let landed = self.land(&seg, staged.records(pending.pg), pending.duplicates, now);
        inner.staging.give_staged(staged);
        Poll::Ready(landed)
    }

    /// `append` for everything `try_append` leaves: waits for the backlog, raises the
    /// epoch, waits for journal room, spans batches.
    async fn append_waiting<'r, R: AppendRecord<'r>>(
        &self,
        pg: PgId,
        epoch: Epoch,
        records: &[R],
    ) -> Result<AppendAck, EngineError> {
        let inner = &self.inner;
        inner.check_alive()?;
        let seg = inner.segment(pg)?;
        let Judged {
            fills_gap,
            mut journal,
            ..
        } = {
            let st = seg.st.borrow();
            // Room for the epoch record `append_waiting` may put first.
            inner.judge_records(&seg, &st, epoch, records, 1)?
        };
        // No clock read per append on a busy core: the backlog check uses the
        // journal's time of its last durable batch, at most one write+sync old (ages
        // are in milliseconds), and a wait reads the clock itself. An idle journal
        // costs one clock read.
        let mut now = inner.journal.durable_at().unwrap_or_else(|| inner.io.now());
        // Records that fill a gap never wait: they are what lets the coalescer move.
        if !fills_gap && !journal.is_empty() {
            now = self.wait_for_backlog(now).await?;
        }
        let raise = {
            let mut st = seg.st.borrow_mut();
            (epoch > st.epoch).then(|| {
                st.meta_generation += 1;
                st.epoch_changes_in_flight += 1;
                seg.epoch_record(&st, epoch)
            })
        };
        let raising = raise.is_some();
        if let Some(m) = raise {
            let valid = Record::SegmentMeta(m)
                .validated()
                .expect("the segment's own epoch record is valid");
            journal.insert(0, valid);
        }
        let res = if journal.is_empty() {
            Ok(())
        } else {
            inner.journal.append(&journal).await.map(|_| ())
        };
        if raising {
            seg.st.borrow_mut().epoch_changes_in_flight -= 1;
        }
        inner.staging.give_list(journal);
        if let Err(e) = res {
            return Err(inner.journal_refused(e, raising));
        }
        // The arrival stamp: when the batch holding these records was found durable
        // (or, if the journal is idle now, when the append started).
        if let Some(at) = inner.journal.durable_at() {
            now = now.max(at);
        }
        if raising {
            let raised = {
                let mut st = seg.st.borrow_mut();
                let raised = epoch > st.epoch;
                if raised {
                    st.epoch = epoch;
                    st.meta_generation += 1;
                }
                raised
            };
            if raised {
                write_meta_now(inner, &seg).await?;
            }
        }
        // Every record is redo: `judge_records` refused the append otherwise.
        let redos = records.iter().filter_map(|r| match r.record() {
            Record::Redo(r) => Some(r),
            Record::Truncate(_) | Record::SegmentMeta(_) => None,
        });
        self.land(&seg, redos, 0, now)
    }

    /// Adds an append's durable records to the segment (arriving at `now`) and
    /// returns the acknowledgement; `held` more of its records were found held
    /// already when it started (re-acknowledged, not journaled).
    fn land<'r>(
        &self,
        seg: &Segment<I>,
        records: impl Iterator<Item = Redo<'r>>,
        held: usize,
        now: Instant,
    ) -> Result<AppendAck, EngineError> {
        let inner = &self.inner;
        let mut guard = seg.st.borrow_mut();
        let st = &mut *guard;
        let bytes_before = st.hot.bytes();
        let (mut accepted, mut duplicates, mut first_err, mut top) = (0, held, None, Lsn::ZERO);
        for r in records {
            match st.hot.insert(&r) {
                Ok(Arrival::Accepted) => {
                    accepted += 1;
                    top = top.max(r.lsn);
                }
                Ok(_) => duplicates += 1,
                // Only a truncation that landed while the journal write was in flight.
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        inner.backlog.hot_moved(bytes_before, st.hot.bytes());
        if accepted > 0 {
            inner.backlog.landed(&mut st.arrivals, top, now);
        }
        let ack = AppendAck {
            scl: st.hot.scl(),
            epoch: st.epoch,
            accepted,
            duplicates,
        };
        drop(guard);
        let mut stats = inner.stats.borrow_mut();
        stats.appends += 1;
        stats.records_accepted += accepted as u64;
        stats.records_duplicate += duplicates as u64;
        drop(stats);
        if inner.over_bound(now).is_some() {
            inner.wake.notify_all();
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(ack),
        }
    }

    /// Waits while the backlog is over its bounds (at most `backpressure_wait_max`);
    /// returns when it is not, with the time then. `seen` may lag the clock (the
    /// journal's last durable batch); only when it shows the backlog over a bound is
    /// the clock read, and the wait is timed from that reading.
    async fn wait_for_backlog(&self, seen: Instant) -> Result<Instant, EngineError> {
        let inner = &self.inner;
        if inner.over_bound(seen).is_none() {
            return Ok(seen);
        }
        let start = inner.io.now();
        let Some(reason) = inner.over_bound(start) else {
            return Ok(start);
        };
        let deadline = start.saturating_add(inner.cfg.backpressure_wait_max);
        {
            let mut stats = inner.stats.borrow_mut();
            stats.backpressure_waits += 1;
            stats.backpressure_reason = Some(reason.clone());
        }
        let mut reason = reason;
        while inner.cfg.background_coalescer && inner.io.now() < deadline {
            inner.wake.notify_all();
            let _ = crate::rt::timeout_at(deadline, inner.progress.notified()).await;
            inner.check_alive()?;
            let now = inner.io.now();
            match inner.over_bound(now) {
                None => return Ok(now),
                Some(r) => reason = r,
            }
        }
        inner.stats.borrow_mut().backpressure_refusals += 1;
        let waited_ms = inner.io.now().saturating_duration_since(start).as_millis() as u64;
        Err(EngineError::Backlogged { reason, waited_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_records_come_back_as_given() {
        let (a, b) = (vec![7u8; 5], vec![9u8; 32]);
        let pg = PgId::new(3);
        let given = [
            Redo {
                lsn: Lsn::new(4),
                prev_lsn_pg: Lsn::new(2),
                prev_lsn_page: Lsn::ZERO,
                pg_id: pg,
                page_id: PageId::new(11),
                cpl: false,
                change: Change::Delta {
                    offset: 17,
                    bytes: &a,
                },
            },
            Redo {
                lsn: Lsn::new(6),
                prev_lsn_pg: Lsn::new(4),
                prev_lsn_page: Lsn::new(4),
                pg_id: pg,
                page_id: PageId::new(11),
                cpl: true,
                change: Change::Image(&b),
            },
        ];
        let mut s = Staged::default();
        for r in &given {
            s.push(r);
        }
        assert_eq!(s.heads.len(), 2);
        let back: Vec<Redo<'_>> = s.records(pg).collect();
        assert_eq!(back, given);
    }
}
