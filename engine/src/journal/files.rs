//! The journal's file set, as bookkeeping: which files hold live records (in journal
//! order), which are free, each file's generation, and what pins each file.
//!
//! Sans-I/O: plain state with methods; the writer does the I/O these decisions call for
//! (rewriting a recycled file's header before its first batch).
//!
//! Release rule (what makes a file reusable):
//! - a redo record of PG `p` with LSN `l` pins its file until `release(p, upto)` with
//!   `upto >= l` (the engine calls it when the segment's materialized LSN passes `upto`);
//! - a `Truncate` or `SegmentMeta` record of PG `p` pins its file until
//!   `release_meta(p)`, which releases every such record of `p` appended before the call
//!   (the engine calls it once the segment's state they carry is durable elsewhere, or
//!   superseded by a later meta record that is itself durable);
//! - a file is reusable when nothing pins it, no batch in it is still being written, it
//!   is not the file being written, and every older file is reusable too: files are
//!   recycled strictly in journal (FIFO) order, so batch sequence numbers stay
//!   contiguous from the oldest live file to the tail and recovery can tell a lost batch
//!   from a recycled one.
//!
//! Invariants: the active queue is in increasing generation order; every generation
//! handed out is larger than any generation ever seen on disk; a file is in exactly one
//! of `active` and `free`.

use std::collections::VecDeque;

use boreal_segment::{Generation, JournalFileId, Lsn, PgId, Record};

use crate::idmap::IdMap;

type PinMap = IdMap<PgId, Pin>;

/// What one PG pins in one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pin {
    /// Highest redo LSN of the PG in the file; `Lsn::ZERO` once released.
    redo_max: Lsn,
    /// The file holds a `Truncate` or `SegmentMeta` record of the PG not yet released.
    meta: bool,
}

impl Pin {
    fn is_clear(&self) -> bool {
        self.redo_max == Lsn::ZERO && !self.meta
    }
}

#[derive(Debug)]
struct FileState {
    generation: Generation,
    pins: PinMap,
    /// PGs whose pin is not clear.
    pinned: usize,
    /// Batches encoded into the file and not yet durable (or failed).
    busy: usize,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct FileSet {
    files: Vec<FileState>,
    /// Live files, oldest first; the last one is the file being written.
    active: VecDeque<usize>,
    free: VecDeque<usize>,
    generation_max: Generation,
    /// Files freed since their header last said so on disk, with the generation they
    /// were freed at: the flusher rewrites each header with generation 0 (free), so a
    /// restart reads only the files still holding something (see `take_unmarked`).
    unmarked: VecDeque<(usize, Generation)>,
}

impl FileSet {
    /// A set of `count` files, all free, none ever used.
    pub(crate) fn new(count: usize) -> FileSet {
        FileSet {
            files: (0..count)
                .map(|_| FileState {
                    generation: Generation::ZERO,
                    pins: PinMap::default(),
                    pinned: 0,
                    busy: 0,
                })
                .collect(),
            active: VecDeque::new(),
            unmarked: VecDeque::new(),
            free: (0..count).collect(),
            generation_max: Generation::ZERO,
        }
    }

    /// The set recovery found: `active` in journal order (increasing generation),
    /// `free` in the order they will be reused; `generation_max` the largest generation
    /// seen on disk.
    pub(crate) fn restore(
        count: usize,
        active: Vec<(usize, Generation)>,
        free: Vec<usize>,
        generation_max: Generation,
    ) -> FileSet {
        let mut set = FileSet::new(count);
        set.free = free.into();
        for &(index, generation) in &active {
            assert!(
                generation <= generation_max,
                "file {index} generation above the maximum"
            );
            set.files[index].generation = generation;
        }
        assert!(
            active.windows(2).all(|w| w[0].1 < w[1].1),
            "active files out of generation order"
        );
        set.active = active.into_iter().map(|(i, _)| i).collect();
        set.generation_max = generation_max;
        assert_eq!(
            set.active.len() + set.free.len(),
            count,
            "every file is active or free"
        );
        set
    }

    pub(crate) fn id(index: usize) -> JournalFileId {
        JournalFileId::new(index as u64)
    }

    /// The file being written, if any.
    pub(crate) fn current(&self) -> Option<usize> {
        self.active.back().copied()
    }

    pub(crate) fn generation(&self, index: usize) -> Generation {
        self.files[index].generation
    }

    pub(crate) fn active_count(&self) -> usize {
        self.active.len()
    }

    pub(crate) fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Takes the next free file, gives it a new generation and makes it the file being
    /// written. `None`: no file is free (backpressure).
    pub(crate) fn take_next(&mut self) -> Option<(usize, Generation)> {
        let index = self.free.pop_front()?;
        self.generation_max = self.generation_max.next();
        let f = &mut self.files[index];
        assert!(f.pinned == 0 && f.busy == 0, "a free file holds pins");
        f.generation = self.generation_max;
        f.pins.clear();
        self.active.push_back(index);
        Some((index, self.generation_max))
    }

    /// A redo record of `pg` at `lsn` now lives in file `index`.
    pub(crate) fn pin_redo(&mut self, index: usize, pg: PgId, lsn: Lsn) {
        let f = &mut self.files[index];
        let pin = f.pins.entry(pg).or_default();
        if pin.is_clear() {
            f.pinned += 1;
        }
        pin.redo_max = pin.redo_max.max(lsn);
    }

    /// A truncate or segment-meta record of `pg` now lives in file `index`.
    pub(crate) fn pin_meta(&mut self, index: usize, pg: PgId) {
        let f = &mut self.files[index];
        let pin = f.pins.entry(pg).or_default();
        if pin.is_clear() {
            f.pinned += 1;
        }
        pin.meta = true;
    }

    pub(crate) fn batch_started(&mut self, index: usize) {
        self.files[index].busy += 1;
    }

    pub(crate) fn batch_done(&mut self, index: usize) {
        let f = &mut self.files[index];
        assert!(f.busy > 0, "batch_done without batch_started");
        f.busy -= 1;
    }

    /// Redo of `pg` up to `upto` is materialized. Returns how many files became free.
    pub(crate) fn release(&mut self, pg: PgId, upto: Lsn) -> usize {
        for &index in &self.active {
            let f = &mut self.files[index];
            if let Some(pin) = f.pins.get_mut(&pg)
                && pin.redo_max != Lsn::ZERO
                && pin.redo_max <= upto
            {
                pin.redo_max = Lsn::ZERO;
                if pin.is_clear() {
                    f.pinned -= 1;
                }
            }
        }
        self.collect_free()
    }

    /// Every truncate/meta record of `pg` appended so far is released.
    pub(crate) fn release_meta(&mut self, pg: PgId) -> usize {
        for &index in &self.active {
            let f = &mut self.files[index];
            if let Some(pin) = f.pins.get_mut(&pg)
                && pin.meta
            {
                pin.meta = false;
                if pin.is_clear() {
                    f.pinned -= 1;
                }
            }
        }
        self.collect_free()
    }

    /// Moves reusable files from the front of the active queue to the free list.
    pub(crate) fn collect_free(&mut self) -> usize {
        let mut freed = 0;
        while self.active.len() > 1 {
            let index = self.active[0];
            let f = &self.files[index];
            if f.pinned != 0 || f.busy != 0 {
                break;
            }
            self.active.pop_front();
            self.free.push_back(index);
            self.unmarked.push_back((index, f.generation));
            freed += 1;
        }
        freed
    }

    /// The next file freed since its header last said so, if it is still free (not
    /// reused meanwhile: then its new header is already what counts).
    pub(crate) fn take_unmarked(&mut self) -> Option<usize> {
        while let Some((index, generation)) = self.unmarked.pop_front() {
            if self.files[index].generation == generation && self.free.contains(&index) {
                return Some(index);
            }
        }
        None
    }
}

/// The pins of the records one fill encodes into file `index`: a run of redo records
/// of one PG (an append's records) pins the file once, with its highest LSN, instead of
/// one pin-map lookup per record. Pins only ever grow (a PG's highest LSN, a flag), so
/// pinning once at the end of the run leaves what pinning each record leaves.
pub(crate) struct Pins {
    index: usize,
    /// The run of redo records not pinned yet: their PG and highest LSN.
    run: Option<(PgId, Lsn)>,
}

impl Pins {
    pub(crate) fn new(index: usize) -> Pins {
        Pins { index, run: None }
    }

    /// Pins what `record`, just encoded into the file, needs.
    pub(crate) fn add(&mut self, set: &mut FileSet, record: &Record<'_>) {
        match record {
            Record::Redo(r) => match &mut self.run {
                Some((pg, max)) if *pg == r.pg_id => *max = (*max).max(r.lsn),
                _ => {
                    self.finish(set);
                    self.run = Some((r.pg_id, r.lsn));
                }
            },
            Record::Truncate(_) | Record::SegmentMeta(_) => {
                set.pin_meta(self.index, record.pg_id());
            }
        }
    }

    /// Pins the run not pinned yet (call once the fill is done).
    pub(crate) fn finish(&mut self, set: &mut FileSet) {
        if let Some((pg, lsn)) = self.run.take() {
            set.pin_redo(self.index, pg, lsn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_recycle_in_order_once_released_with_new_generations() {
        let mut set = FileSet::new(3);
        let (a, ga) = set.take_next().unwrap();
        set.pin_redo(a, PgId::new(1), Lsn::new(10));
        set.pin_meta(a, PgId::new(2));
        let (b, gb) = set.take_next().unwrap();
        set.pin_redo(b, PgId::new(1), Lsn::new(20));
        let (_c, gc) = set.take_next().unwrap();
        assert!(ga < gb && gb < gc);
        assert!(set.take_next().is_none(), "all files live: backpressure");
        // b released first: still behind a (FIFO), nothing freed.
        assert_eq!(set.release(PgId::new(1), Lsn::new(20)), 0);
        assert_eq!(set.release_meta(PgId::new(2)), 2, "a then b");
        let (again, g) = set.take_next().unwrap();
        assert_eq!(again, a);
        assert!(g > gc);
        // The file being written is never freed.
        assert_eq!(set.collect_free(), 1);
        assert_eq!(set.current(), Some(a));
    }

    /// Every file's pins, PG by PG, and its count of pinning PGs.
    fn pins_of(set: &FileSet) -> Vec<(usize, Vec<(PgId, Pin)>)> {
        set.files
            .iter()
            .map(|f| {
                let mut pins: Vec<(PgId, Pin)> = f.pins.iter().map(|(&pg, &p)| (pg, p)).collect();
                pins.sort_by_key(|&(pg, _)| pg.get());
                (f.pinned, pins)
            })
            .collect()
    }

    #[test]
    fn a_fill_s_runs_pin_what_its_records_pin_one_by_one() {
        use boreal_segment::{Change, Epoch, PageId, Redo, Truncate};
        let redo = |pg: u32, lsn: u64| {
            Record::Redo(Redo {
                lsn: Lsn::new(lsn),
                prev_lsn_pg: Lsn::ZERO,
                prev_lsn_page: Lsn::ZERO,
                pg_id: PgId::new(pg),
                page_id: PageId::new(0),
                cpl: false,
                change: Change::Delta {
                    offset: 0,
                    bytes: b"x",
                },
            })
        };
        let truncate = Record::Truncate(Truncate {
            pg_id: PgId::new(1),
            epoch: Epoch::new(2),
            start: Lsn::new(1),
            end: Lsn::new(4),
        });
        let records = [
            redo(1, 5),
            redo(1, 9),
            redo(1, 7),
            redo(2, 3),
            truncate,
            redo(1, 12),
            redo(3, 30),
            redo(3, 20),
        ];
        let mut each = FileSet::new(2);
        let mut runs = FileSet::new(2);
        let (a, _) = each.take_next().unwrap();
        assert_eq!(runs.take_next().unwrap().0, a);
        for r in &records {
            match r {
                Record::Redo(r) => each.pin_redo(a, r.pg_id, r.lsn),
                other => each.pin_meta(a, other.pg_id()),
            }
        }
        let mut pins = Pins::new(a);
        for r in &records {
            pins.add(&mut runs, r);
        }
        pins.finish(&mut runs);
        assert_eq!(pins_of(&runs), pins_of(&each));
        assert_eq!(pins_of(&each)[a].0, 3, "three PGs pin the file");
    }

    #[test]
    fn a_busy_file_is_not_freed() {
        let mut set = FileSet::new(2);
        let (a, _) = set.take_next().unwrap();
        set.batch_started(a);
        let _ = set.take_next().unwrap();
        assert_eq!(set.collect_free(), 0);
        set.batch_done(a);
        assert_eq!(set.collect_free(), 1);
    }
}
