//! The journal's write pipeline as plain rules: which batch may be written now and with
//! which pipeline window, and which batches a completion acknowledges. Sans-I/O: no
//! buffers, no wakers, no clock; the writer (`writer.rs`) asks and does what it is
//! told, carrying its own per-batch data (`T`: the written buffer, the waiting
//! appenders) through the pipeline.
//!
//! The rules (each checked by the property test below against a model):
//! - at most `depth` (≤ [`PIPELINE_DEPTH_MAX`]) batches are in flight;
//! - a batch is written while `k > 0` others are in flight (or written and not yet
//!   acknowledged) only if all of them and it are in one file, the oldest of them is
//!   not the first batch of its file (so the batch before them is in that file too,
//!   where recovery looks for it), it does not start a file, and it holds at least as
//!   many records as the newest in flight (or is full): taken at its first record it
//!   would be a group of one, and the appenders the batch in flight releases would
//!   wait for the next. It then carries the window `k` in its header;
//! - a batch that starts a file is written only when nothing is in flight (a newer
//!   generation proves every older batch complete), and not while a freed file's
//!   header is being rewritten (it may be that file, taken again);
//! - acknowledgements go in sequence order: a batch is durable once its write and
//!   every older batch's write completed; `durable` only grows;
//! - after the first failed write nothing more is acknowledged, ever (fail-stop).

use boreal_segment::BatchSeq;
use boreal_segment::limits::JOURNAL_FILE_HEADER_SIZE;

use super::config::PIPELINE_DEPTH_MAX;

/// A batch being written, oldest first in the pipeline.
#[derive(Debug)]
pub(super) struct Flight<T> {
    pub(super) seq: BatchSeq,
    /// Index of its journal file.
    pub(super) file: usize,
    /// Its offset in that file.
    pub(super) offset: u64,
    pub(super) records: u32,
    /// Its write completed successfully (acknowledged once every older one did too).
    pub(super) done: bool,
    /// The writer's data of this batch.
    pub(super) data: T,
}

/// The batch being filled, as far as the rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Filling {
    pub(super) records: u32,
    /// No more records fit.
    pub(super) full: bool,
    pub(super) file: usize,
    /// It is the first batch of a new file generation.
    pub(super) starts_file: bool,
}

/// What a completion did to a batch that left the pipeline.
#[derive(Debug)]
pub(super) enum Retired<T> {
    /// Durable, with every batch before it: acknowledge its appenders.
    Durable(Flight<T>),
    /// Never acknowledged: its write failed, or an older one did.
    Failed(Flight<T>),
}

/// The batches in flight and the acknowledgement point. See the module docs.
#[derive(Debug)]
pub(super) struct Pipeline<T> {
    depth: usize,
    flights: Vec<Flight<T>>,
    durable: Option<BatchSeq>,
    failed: bool,
}

impl<T> Pipeline<T> {
    pub(super) fn new(depth: usize) -> Pipeline<T> {
        let depth = depth.clamp(1, PIPELINE_DEPTH_MAX);
        Pipeline {
            depth,
            flights: Vec::with_capacity(depth),
            durable: None,
            failed: false,
        }
    }

    /// Highest batch durable with every batch before it.
    pub(super) fn durable(&self) -> Option<BatchSeq> {
        self.durable
    }

    pub(super) fn failed(&self) -> bool {
        self.failed
    }

    /// The journal failed elsewhere (a freed file's header write): nothing more is
    /// acknowledged, as after a failed batch write.
    pub(super) fn fail(&mut self) {
        self.failed = true;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.flights.is_empty()
    }

    /// The batch `seq` if it is in flight.
    pub(super) fn get_mut(&mut self, seq: BatchSeq) -> Option<&mut Flight<T>> {
        self.flights.iter_mut().find(|f| f.seq == seq)
    }

    /// Every batch in flight, oldest first.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Flight<T>> {
        self.flights.iter_mut()
    }

    /// Whether the batch being filled may be written now, and with which window:
    /// `None` not yet; `Some(0)` nothing is in flight; `Some(k)` written while the `k`
    /// batches before it are in flight. `marking`: a freed file's header is being
    /// rewritten. An empty batch is never written.
    pub(super) fn window(&self, next: Filling, marking: bool) -> Option<u8> {
        if next.records == 0 || self.failed {
            return None;
        }
        let (Some(oldest), Some(newest)) = (self.flights.first(), self.flights.last()) else {
            return (!(next.starts_file && marking)).then_some(0);
        };
        let may = self.flights.len() < self.depth
            && !next.starts_file
            && next.file == oldest.file
            && next.file == newest.file
            && oldest.offset > JOURNAL_FILE_HEADER_SIZE as u64
            && (next.full || next.records >= newest.records);
        may.then(|| u8::try_from(self.flights.len()).expect("depth is at most 3"))
    }

    /// The batch `seq` (at `offset` of file `file`, holding `records`) goes to the
    /// device, as [`Pipeline::window`] allowed.
    pub(super) fn launch(
        &mut self,
        seq: BatchSeq,
        file: usize,
        offset: u64,
        records: u32,
        data: T,
    ) {
        assert!(!self.failed, "no batch is written after a failure");
        assert!(self.flights.len() < self.depth, "pipeline over its depth");
        assert!(
            self.flights.last().is_none_or(|f| f.seq < seq),
            "batches are written in sequence order"
        );
        self.flights.push(Flight {
            seq,
            file,
            offset,
            records,
            done: false,
            data,
        });
    }

    /// The write of batch `seq` completed (`ok`, or failed). Hands `retire` every batch
    /// that leaves the pipeline now, oldest first: the durable ones in sequence order
    /// while nothing failed; after a failure every completed one as failed (a batch
    /// still being written stays until its own completion). Returns the new durable
    /// point if it moved. (The caller puts what came back with the completion, the
    /// buffer, into the batch's data first.)
    pub(super) fn complete(
        &mut self,
        seq: BatchSeq,
        ok: bool,
        mut retire: impl FnMut(Retired<T>),
    ) -> Option<BatchSeq> {
        let at = self
            .flights
            .iter()
            .position(|f| f.seq == seq)
            .expect("completing a batch in flight");
        if ok {
            self.flights[at].done = true;
        } else {
            self.failed = true;
            retire(Retired::Failed(self.flights.remove(at)));
        }
        let mut moved = None;
        while let Some(first) = self.flights.first() {
            if !first.done {
                break;
            }
            let f = self.flights.remove(0);
            if self.failed {
                retire(Retired::Failed(f));
            } else {
                assert!(self.durable.is_none_or(|d| d < f.seq), "durable only grows");
                self.durable = Some(f.seq);
                moved = Some(f.seq);
                retire(Retired::Durable(f));
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const HEADER: u64 = JOURNAL_FILE_HEADER_SIZE as u64;

    /// One step of a random journal life.
    #[derive(Clone, Debug)]
    enum Step {
        /// Add records to the batch being filled (opening one, maybe in a new file).
        Fill {
            records: u32,
            new_file: bool,
            full: bool,
        },
        /// Try to write the batch being filled.
        Take { marking: bool },
        /// Complete the `k`-th batch in flight (modulo), successfully or not.
        Complete { k: usize, ok: bool },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (
                1u32..40,
                prop::bool::weighted(0.15),
                prop::bool::weighted(0.2)
            )
                .prop_map(|(records, new_file, full)| Step::Fill {
                    records,
                    new_file,
                    full
                }),
            prop::bool::weighted(0.1).prop_map(|marking| Step::Take { marking }),
            (0usize..3, prop::bool::weighted(0.97)).prop_map(|(k, ok)| Step::Complete { k, ok }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every rule of the module docs, over random fills, takes and completions in
        /// any order, at every depth.
        #[test]
        fn the_pipeline_keeps_its_rules(depth in 1usize..=3, steps in prop::collection::vec(step(), 1..120)) {
            let mut p: Pipeline<u64> = Pipeline::new(depth);
            // The model: the batch being filled, where the tail is, what was written.
            let mut filling: Option<(Filling, u64)> = None;
            let (mut file, mut tail, mut next_seq) = (0usize, HEADER, 1u64);
            let mut written: Vec<(u64, usize, u64)> = Vec::new();
            let mut completed_ok: BTreeSet<u64> = BTreeSet::new();
            let mut acked: Vec<u64> = Vec::new();
            let mut failed_at: Option<u64> = None;
            let mut retired: BTreeSet<u64> = BTreeSet::new();
            for s in steps {
                match s {
                    Step::Fill { records, new_file, full } => match &mut filling {
                        Some((f, _)) if !f.full => {
                            f.records += records;
                            f.full = full;
                        }
                        Some(_) => {}
                        None => {
                            let starts_file = new_file;
                            if starts_file {
                                file += 1;
                                tail = HEADER;
                            }
                            filling = Some((Filling { records, full, file, starts_file }, tail));
                            tail += 4096;
                        }
                    },
                    Step::Take { marking } => {
                        let Some((f, offset)) = filling else { continue };
                        let in_flight = p.flights.len();
                        if let Some(window) = p.window(f, marking) {
                            prop_assert_eq!(usize::from(window), in_flight);
                            prop_assert!(in_flight < depth);
                            if in_flight > 0 {
                                prop_assert!(!f.starts_file);
                                prop_assert!(p.flights.iter().all(|g| g.file == f.file));
                                prop_assert!(p.flights[0].offset > HEADER);
                                prop_assert!(f.full || f.records >= p.flights.last().unwrap().records);
                            } else if f.starts_file {
                                prop_assert!(!marking);
                            }
                            p.launch(BatchSeq::new(next_seq), f.file, offset, f.records, next_seq);
                            written.push((next_seq, f.file, offset));
                            next_seq += 1;
                            filling = None;
                        } else if in_flight == 0 && !p.failed() {
                            // Nothing in flight: only a file start behind a marking waits.
                            prop_assert!(f.starts_file && marking);
                        }
                    }
                    Step::Complete { k, ok } => {
                        if p.is_empty() {
                            continue;
                        }
                        // Only a batch whose write is still outstanding completes.
                        let pending: Vec<u64> = p.flights.iter().filter(|f| !f.done).map(|f| f.seq.get()).collect();
                        if pending.is_empty() {
                            continue;
                        }
                        let seq = pending[k % pending.len()];
                        if ok {
                            completed_ok.insert(seq);
                        } else {
                            failed_at.get_or_insert(seq);
                        }
                        let before = p.durable();
                        let moved = p.complete(BatchSeq::new(seq), ok, |r| match r {
                            Retired::Durable(f) => {
                                assert!(retired.insert(f.seq.get()), "retired twice");
                                acked.push(f.seq.get());
                            }
                            Retired::Failed(f) => {
                                assert!(retired.insert(f.seq.get()), "retired twice");
                            }
                        });
                        prop_assert!(p.durable() >= before, "durable went back");
                        if let Some(m) = moved {
                            prop_assert_eq!(Some(m), p.durable());
                        }
                    }
                }
                prop_assert!(p.flights.len() <= depth);
            }
            // Acknowledged in sequence order, each only after every older batch
            // completed successfully, and none at or after the first failure.
            for (i, &a) in acked.iter().enumerate() {
                prop_assert_eq!(a, written[i].0, "acknowledged out of order");
                prop_assert!((1..=a).all(|s| completed_ok.contains(&s)));
                prop_assert!(failed_at.is_none_or(|f| a < f));
            }
        }
    }

    #[test]
    fn a_failure_retires_every_completed_batch_unacknowledged() {
        let mut p: Pipeline<()> = Pipeline::new(3);
        p.launch(BatchSeq::new(1), 0, 8192, 4, ());
        p.launch(BatchSeq::new(2), 0, 12288, 4, ());
        p.launch(BatchSeq::new(3), 0, 16384, 4, ());
        let mut seen = Vec::new();
        assert_eq!(p.complete(BatchSeq::new(2), true, |_| {}), None);
        assert_eq!(p.complete(BatchSeq::new(1), false, |r| seen.push(r)), None);
        // 1 failed; 2 had completed and goes unacknowledged; 3 is still being written.
        assert!(
            matches!(&seen[..], [Retired::Failed(a), Retired::Failed(b)] if a.seq.get() == 1 && b.seq.get() == 2)
        );
        assert_eq!(p.flights.len(), 1);
        assert_eq!(p.durable(), None);
        let mut last = Vec::new();
        p.complete(BatchSeq::new(3), true, |r| last.push(r));
        assert!(matches!(&last[..], [Retired::Failed(f)] if f.seq.get() == 3));
        assert!(p.is_empty());
        let f = Filling {
            records: 1,
            full: false,
            file: 0,
            starts_file: false,
        };
        assert_eq!(
            p.window(f, false),
            None,
            "nothing is written after a failure"
        );
    }
}
