//! The flusher side of the journal: the tasks that take the next batch the pipeline
//! allows, write it durably by the configured mode (after a recycled file's new header,
//! if it starts one), and record the outcome in order (`pipeline.rs`).
//!
//! Must never: acknowledge a batch whose write or sync failed or was short, or anything
//! after the first failure (fail-stop: the error is kept and every waiter sees it);
//! write a batch before its file's new header is durable; rewrite a freed file's
//! header out of the order the files were freed.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::Poll;

use boreal_segment::batch::BatchBuilder;
use boreal_segment::limits::JOURNAL_FILE_HEADER_SIZE;
use boreal_segment::{BatchSeq, Generation};

use super::config::DurabilityMode;
use super::error::{FailedOp, JournalError};
use super::files::FileSet;
use super::lifecycle::{encode_header, header_of};
use super::pipeline::Retired;
use super::writer::{BATCH_BUFFERS, FlightData, Inner, Job, State, Work, wake_all};
use crate::io::{DmaBuf, Io, WriteFlags, submit_urgently};

impl<I: Io> Inner<I> {
    /// The flusher's wait: a freed file to mark, else the next batch that may be
    /// written; `None` once failed or closed.
    fn take_job(&self, cx: &mut std::task::Context<'_>) -> Poll<Option<Work>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        if st.failed.is_some() {
            return Poll::Ready(None);
        }
        // Once per freed file (every 64 MiB of journal by default): a header write
        // next to the batches, so restarts read only what is still needed. Also after
        // close, while the runtime still polls the flusher.
        // One at a time, in the order the files were freed (journal order): a crash
        // must never leave a newer file marked free while an older one still reads as
        // live, or the sequence gap between them would read as lost batches.
        if st.marking == 0
            && let Some(index) = st.set.take_unmarked()
        {
            st.marking += 1;
            return Poll::Ready(Some(Work::MarkFree(index)));
        }
        if st.closed {
            return Poll::Ready(None);
        }
        let Some(window) = self.take_mode(st) else {
            if !st.flushers.iter().any(|w| w.will_wake(cx.waker())) {
                st.flushers.push(cx.waker().clone());
            }
            return Poll::Pending;
        };
        let mut f = st.filling.take().expect("take_mode saw a batch");
        let offset = f.progress.place().file_offset;
        assert_eq!(offset, st.tail_offset, "the open batch starts at the tail");
        let mut builder = BatchBuilder::resume(&mut f.buf.as_full_mut()[..f.limit], f.progress)
            .expect("the paused batch resumes in its own buffer");
        if window > 0 {
            builder
                .set_window(window)
                .expect("appends go to files of the current version, whose window fits the depth");
            st.stats.pipelined += 1;
            st.stats.pipelined_behind_two += u64::from(window == 2);
        }
        let header = builder.seal();
        let padded = header.padded_len();
        f.buf.set_len(padded);
        st.tail_offset += padded as u64;
        let spare = st.spare_lists.pop().unwrap_or_default();
        let data = FlightData {
            buf: None,
            wakers: std::mem::replace(&mut st.filling_wakers, spare),
        };
        st.pipeline
            .launch(header.sequence, f.file, offset, header.record_count, data);
        // Appenders waiting for the next batch to open (theirs was full) may go on now
        // if a buffer is spare (a batch can be filled while two are written).
        wake_all(&mut st.room_wakers);
        Poll::Ready(Some(Work::Batch(Job {
            buf: f.buf,
            file: f.file,
            offset,
            seq: header.sequence,
            new_generation: f.new_generation,
        })))
    }

    /// Writes `buf` at `offset` of file `index` and makes it durable, per the mode.
    async fn durable_write(
        &self,
        index: usize,
        buf: DmaBuf,
        offset: u64,
        header: bool,
    ) -> (Result<(), JournalError>, DmaBuf) {
        let file = &self.files[index];
        let len = buf.len();
        let fail =
            |op: FailedOp, e: Option<&io::Error>, short: Option<usize>| JournalError::Failed {
                op,
                file: FileSet::id(index),
                offset,
                errno: e.and_then(io::Error::raw_os_error),
                cause: match (e, short) {
                    (Some(e), _) => e.to_string(),
                    (None, Some(n)) => format!("short write: {n} of {len} bytes"),
                    (None, None) => "unknown".into(),
                },
            };
        let check = |r: io::Result<usize>, op: FailedOp| match r {
            Ok(n) if n == len => Ok(()),
            Ok(n) => Err(fail(op, None, Some(n))),
            Err(e) => Err(fail(op, Some(&e), None)),
        };
        match self.cfg.durability {
            DurabilityMode::WriteThenFdatasync => {
                let op = if header {
                    FailedOp::HeaderWrite
                } else {
                    FailedOp::Write
                };
                let (r, buf) = submit_urgently(
                    &self.io,
                    self.io.write_at(file, buf, offset, WriteFlags::NONE),
                )
                .await;
                if let Err(e) = check(r, op) {
                    return (Err(e), buf);
                }
                let op = if header {
                    FailedOp::HeaderSync
                } else {
                    FailedOp::Sync
                };
                let r = submit_urgently(&self.io, self.io.fdatasync(file))
                    .await
                    .map_err(|e| fail(op, Some(&e), None));
                (r, buf)
            }
            DurabilityMode::Linked => {
                let op = if header {
                    FailedOp::HeaderWrite
                } else {
                    FailedOp::LinkedWriteSync
                };
                let (r, buf) =
                    submit_urgently(&self.io, self.io.write_then_fdatasync(file, buf, offset))
                        .await;
                (check(r, op), buf)
            }
            DurabilityMode::DsyncWrite => {
                let op = if header {
                    FailedOp::HeaderWrite
                } else {
                    FailedOp::DsyncWrite
                };
                let (r, buf) = submit_urgently(
                    &self.io,
                    self.io.write_at(file, buf, offset, WriteFlags::DSYNC),
                )
                .await;
                (check(r, op), buf)
            }
        }
    }

    /// Writes file `index`'s header with `generation` durably, through the flusher's
    /// one header buffer (taken from `slot` and put back).
    async fn write_header(
        &self,
        slot: &mut Option<DmaBuf>,
        index: usize,
        generation: Generation,
    ) -> Result<(), JournalError> {
        let mut hbuf = slot
            .take()
            .expect("the header buffer is returned after each use");
        encode_header(&mut hbuf, &header_of(&self.cfg, index, generation));
        let (r, hbuf) = self.durable_write(index, hbuf, 0, true).await;
        *slot = Some(hbuf);
        r
    }

    /// Records the outcome of the batch write `seq` and acknowledges, in sequence
    /// order, every batch whose write and every older batch's write completed. After a
    /// failure nothing more is acknowledged: everyone waiting is woken to see it.
    fn complete(&self, seq: BatchSeq, mut buf: DmaBuf, result: Result<(), JournalError>) {
        let mut list = {
            let mut guard = self.st.borrow_mut();
            let st = &mut *guard;
            let written = buf.len() as u64;
            let flight = st
                .pipeline
                .get_mut(seq)
                .expect("completing a batch in flight");
            buf.clear();
            flight.data.buf = Some(buf);
            st.set.batch_done(flight.file);
            let mut list = st.spare_lists.pop().unwrap_or_default();
            let ok = result.is_ok();
            match result {
                Ok(()) => {
                    st.stats.bytes += written;
                    st.stats.syncs += 1;
                }
                Err(e) => {
                    if st.failed.is_none() {
                        st.failed = Some(e);
                    }
                    list.append(&mut st.filling_wakers);
                }
            }
            let State {
                pipeline,
                spares,
                spare_lists,
                stats,
                ..
            } = st;
            let acked = pipeline.complete(seq, ok, |retired| {
                let mut f = match retired {
                    Retired::Durable(f) => {
                        stats.batches += 1;
                        f
                    }
                    Retired::Failed(f) => f,
                };
                if let Some(buf) = f.data.buf.take() {
                    assert!(spares.len() < BATCH_BUFFERS, "a batch buffer too many");
                    spares.push(buf);
                }
                list.append(&mut f.data.wakers);
                spare_lists.push(f.data.wakers);
            });
            if pipeline.failed() {
                // Everyone still waiting on a batch in flight sees the failure now.
                for f in pipeline.iter_mut() {
                    list.append(&mut f.data.wakers);
                }
            }
            if acked.is_some() {
                st.durable_at = Some(self.io.now());
                st.set.collect_free();
            }
            list.append(&mut st.room_wakers);
            list
        };
        wake_all(&mut list);
        self.st.borrow_mut().spare_lists.push(list);
    }

    fn fail_header(&self, job: Job, e: JournalError) {
        self.complete(job.seq, job.buf, Err(e));
    }
}

/// A flusher task (one per allowed write in flight): takes the next batch that may be
/// written, writes it durably, and records the outcome.
pub(super) async fn flusher<I: Io>(inner: Rc<Inner<I>>) {
    let mut header_buf = Some(DmaBuf::zeroed(JOURNAL_FILE_HEADER_SIZE));
    loop {
        let Some(work) = poll_fn(|cx| inner.take_job(cx)).await else {
            // Failed or closed: release anyone still waiting for room, and the other
            // flusher.
            let mut st = inner.st.borrow_mut();
            let mut list = std::mem::take(&mut st.room_wakers);
            list.append(&mut st.filling_wakers);
            list.append(&mut st.flushers);
            drop(st);
            wake_all(&mut list);
            return;
        };
        let job = match work {
            Work::Batch(job) => job,
            Work::MarkFree(index) => {
                let r = inner
                    .write_header(&mut header_buf, index, Generation::ZERO)
                    .await;
                let mut st = inner.st.borrow_mut();
                st.marking -= 1;
                // A batch that starts a file may have waited for this write.
                if let Some(w) = st.flushers.pop() {
                    w.wake();
                }
                match r {
                    Ok(()) => {
                        st.stats.syncs += 1;
                        st.stats.files_marked_free += 1;
                    }
                    // Fail-stop, as for any write: nobody waits on this write, so
                    // wake everyone waiting on the journal to see the failure.
                    Err(e) => {
                        if st.failed.is_none() {
                            st.failed = Some(e);
                        }
                        st.pipeline.fail();
                        let mut list = std::mem::take(&mut st.room_wakers);
                        list.append(&mut st.filling_wakers);
                        list.append(&mut st.flushers);
                        for f in st.pipeline.iter_mut() {
                            list.append(&mut f.data.wakers);
                        }
                        drop(st);
                        wake_all(&mut list);
                    }
                }
                continue;
            }
        };
        if let Some(generation) = job.new_generation {
            let r = inner
                .write_header(&mut header_buf, job.file, generation)
                .await;
            inner.st.borrow_mut().stats.header_writes += 1;
            if let Err(e) = r {
                inner.fail_header(job, e);
                continue;
            }
            inner.st.borrow_mut().stats.syncs += 1;
        }
        let (r, buf) = inner
            .durable_write(job.file, job.buf, job.offset, false)
            .await;
        inner.complete(job.seq, buf, r);
    }
}
