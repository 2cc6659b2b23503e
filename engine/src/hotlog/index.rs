//! The hot log's held records: their bodies in an arena, their headers in an
//! LSN-sorted deque, and two indexes (by backlink `prev_lsn_pg`, by page). Plain
//! collections, no policy: [`HotLog`](super::HotLog) decides what is held.
//!
//! Why not three B-trees and a `Box` per body: every appended record used to cost a
//! heap allocation, three B-tree inserts, a range probe and, at materialization, three
//! B-tree removals and a free (several thousand instructions per record, and malloc
//! growing and trimming its heap under a steady stream). Records arrive almost in LSN
//! order and leave strictly in LSN order (the floor moves up), so:
//! - bodies: copied into [`Bodies`], 256 KiB chunks filled front to back; a chunk is
//!   recycled once every record in it is gone and every older chunk is too. No
//!   allocation per record; a body is read back as a slice of its chunk, so the hot
//!   log hands out borrowed `segment::Redo` views, never owned copies.
//! - by LSN: a `VecDeque` of fixed-size [`Entry`]s sorted by LSN. An arrival above the
//!   newest is a `push_back`, materialization is `pop_front`; a late arrival is a
//!   binary search and an insert near the back; lookups are binary searches. Walks
//!   ([`Walk`], and the drop in [`Held::pop_through_counted`]) ask for the entry
//!   [`WALK_PREFETCH_AHEAD`] places on: a coalescer pass reads tens of MB of entries.
//! - by backlink: a `VecDeque` of `(prev_lsn_pg, lsn)` pairs, sorted, that the SCL's
//!   question ("who names the SCL?") is asked of. Only records above the SCL can be
//!   an answer, so [`Held::settle`] drops the pairs at or below it from the front as
//!   the SCL moves: the index stays about as long as the records waiting above the SCL
//!   (in practice the appends in flight), not the whole backlog, and its searches
//!   stay in cache. The usual arrival (the SCL's successor, nothing waiting above the
//!   SCL) becomes the SCL at once and never enters it. A truncation moves the SCL
//!   down and rebuilds it ([`Held::reindex_successors`]).
//! - by page: a hash map from page to the LSNs of its held records ([`PageList`]):
//!   the newest inline in the map's slot, the older ones in a sorted `VecDeque`. An
//!   arrival newer than the page's newest (the usual case) compares against the slot
//!   and pushes the old newest at the back of the deque: a store, no load from the
//!   deque's buffer, which for a page touched once per thousand records is a cache
//!   miss. Materialization pops in bulk: [`Held::pop_through_counted`] takes the
//!   number of dropped records per page (a coalescer pass knows them) and trims each
//!   page's list once, so a pass of N records over P pages costs P slot probes and P
//!   deque operations ([`Held::pop_through`] counts them first, a probe per record). A
//!   page whose records are all gone leaves the map.
//!
//! What an insert still misses (cachegrind, `netlog/examples/append_cost`: 1,024 pages
//! touched in turn, 48 KiB D1): about 1.9 D1 read misses and 2.0 write misses per
//! record, the page's map slot (read), the tail of its deque and the new `Entry`
//! (written), and one last-level write miss (the `Entry`'s new line). Chaining each
//! page's records through their `Entry`s instead of a deque would save the deque's
//! line, but a late arrival (a gossip repair below newer records of its page) would
//! then walk the page's chain with a search of `by_lsn` per step.
//!
//! Invariants (checked by [`Held::check`]): the LSN and page indexes hold exactly the
//! held records; the successor index holds only held records, and every one above the
//! SCL it was last settled at; `by_lsn` and `successors` are strictly increasing; each
//! page's LSN list is strictly increasing and non-empty; each arena chunk's live count
//! is the number of held records whose body is in it.

use std::collections::VecDeque;
use std::collections::hash_map::Entry as MapEntry;

use boreal_segment::limits::RECORD_HEADER_SIZE;
use boreal_segment::{Change, Lsn, PageId, PgId, Redo};

use crate::buf::prefetch_value;
use crate::idmap::IdMap;

/// Bytes of a standard arena chunk. A body larger than this gets a chunk of its own.
const CHUNK_BYTES: usize = 256 << 10;
/// Emptied standard chunks kept for reuse instead of freed.
const SPARE_CHUNKS_MAX: usize = 4;

/// Where a held record's body is in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BodyRef {
    /// Sequence number of the chunk (never reused).
    chunk: u64,
    start: u32,
    len: u32,
}

/// One arena chunk: bodies end to end in `buf`, whose length is the bytes used and whose
/// capacity is fixed when the chunk is made (so slices handed out never move). Bytes
/// past the length are never read, so a chunk is never zeroed: a fresh one is
/// allocated without initialising it, and a recycled one is cleared.
#[derive(Clone, Debug)]
struct Chunk {
    buf: Vec<u8>,
    /// Held records whose body is in this chunk.
    live: u32,
}

/// The body arena: chunks in the order they were filled. See the module docs.
#[derive(Clone, Debug, Default)]
struct Bodies {
    chunks: VecDeque<Chunk>,
    /// Sequence number of `chunks[0]`.
    first: u64,
    spare: Vec<Vec<u8>>,
}

impl Bodies {
    fn push(&mut self, bytes: &[u8]) -> BodyRef {
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.buf.capacity() - c.buf.len() >= bytes.len());
        if !fits {
            let buf = if bytes.len() <= CHUNK_BYTES {
                self.spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(CHUNK_BYTES))
            } else {
                Vec::with_capacity(bytes.len())
            };
            self.chunks.push_back(Chunk { buf, live: 0 });
        }
        let chunk = self.first + self.chunks.len() as u64 - 1;
        let c = self
            .chunks
            .back_mut()
            .expect("a chunk with room was just ensured");
        let start = c.buf.len();
        // Within the capacity (checked above): the buffer never reallocates, so the
        // bodies already handed out as slices stay where they are.
        let capacity = c.buf.capacity();
        c.buf.extend_from_slice(bytes);
        debug_assert_eq!(c.buf.capacity(), capacity, "an arena chunk moved");
        c.live += 1;
        BodyRef {
            chunk,
            start: u32::try_from(start).expect("chunk offsets fit u32"),
            len: u32::try_from(bytes.len()).expect("record bodies fit u32"),
        }
    }

    fn chunk_index(&self, r: BodyRef) -> usize {
        let i = r.chunk.checked_sub(self.first).map(|i| i as usize);
        match i {
            Some(i) if i < self.chunks.len() => i,
            _ => panic!("body in chunk {} outside the arena", r.chunk),
        }
    }

    fn get(&self, r: BodyRef) -> &[u8] {
        let c = &self.chunks[self.chunk_index(r)];
        &c.buf[r.start as usize..r.start as usize + r.len as usize]
    }

    /// The record whose body is `r` is gone; recycles the chunks nothing uses any more
    /// from the oldest on.
    fn release(&mut self, r: BodyRef) {
        let i = self.chunk_index(r);
        let c = &mut self.chunks[i];
        assert!(
            c.live > 0,
            "chunk {} released more often than filled",
            r.chunk
        );
        c.live -= 1;
        while self.chunks.front().is_some_and(|c| c.live == 0) {
            if self.chunks.len() == 1 {
                // The chunk being filled: start it over.
                self.chunks[0].buf.clear();
                break;
            }
            let c = self.chunks.pop_front().expect("checked above");
            self.first += 1;
            if c.buf.capacity() == CHUNK_BYTES && self.spare.len() < SPARE_CHUNKS_MAX {
                let mut buf = c.buf;
                buf.clear();
                self.spare.push(buf);
            }
        }
    }
}

/// How many entries ahead of the one being read a walk over `by_lsn` asks for (see
/// [`Walk`]): 1 KiB of entries, several memory latencies at a pass's pace.
const WALK_PREFETCH_AHEAD: usize = 16;

/// `by_lsn[next..end]` front to back (or back to front), asking at each step for the
/// entry [`WALK_PREFETCH_AHEAD`] places on. A coalescer pass walks tens of megabytes of
/// entries that left the cache long ago, three times (choose, apply, drop); the hint
/// took its CPU per record from 122 to 114 ns (NVMe-NOTES "A coalescer pass's CPU").
struct Walk<'a> {
    by_lsn: &'a VecDeque<Entry>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Walk<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        if self.next >= self.end {
            return None;
        }
        // `end` is at most the deque's length, so the entry ahead is in it.
        if self.next + WALK_PREFETCH_AHEAD < self.end {
            prefetch_value(&self.by_lsn[self.next + WALK_PREFETCH_AHEAD]);
        }
        let e = &self.by_lsn[self.next];
        self.next += 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.saturating_sub(self.next);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Walk<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        self.end -= 1;
        Some(&self.by_lsn[self.end])
    }
}

/// A held record without its PG (the hot log's) and with its body in the arena.
#[derive(Clone, Copy, Debug)]
struct Entry {
    lsn: Lsn,
    prev_lsn_pg: Lsn,
    prev_lsn_page: Lsn,
    page_id: PageId,
    body: BodyRef,
    /// `Some(offset)` for a delta, `None` for a whole-page image.
    delta_offset: Option<u32>,
    cpl: bool,
}

/// The held records and their indexes. See the module docs.
#[derive(Clone, Debug)]
pub(super) struct Held {
    pg: PgId,
    by_lsn: VecDeque<Entry>,
    /// `(prev_lsn_pg, lsn)` of held records, increasing: every one above the SCL, and
    /// possibly some at or below it that [`Held::settle`] has not reached.
    successors: VecDeque<(Lsn, Lsn)>,
    /// Page → LSNs of its held records.
    by_page: IdMap<PageId, PageList>,
    bodies: Bodies,
}

/// The LSNs of one page's held records: `older` (increasing) then `newest`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PageList {
    newest: Lsn,
    older: VecDeque<Lsn>,
}

impl PageList {
    fn new(lsn: Lsn) -> PageList {
        PageList {
            newest: lsn,
            older: VecDeque::new(),
        }
    }

    fn len(&self) -> usize {
        self.older.len() + 1
    }

    /// The `i`-th oldest LSN (0-based).
    fn nth(&self, i: usize) -> Option<Lsn> {
        match i.cmp(&self.older.len()) {
            std::cmp::Ordering::Less => Some(self.older[i]),
            std::cmp::Ordering::Equal => Some(self.newest),
            std::cmp::Ordering::Greater => None,
        }
    }

    fn iter(&self) -> impl Iterator<Item = Lsn> + '_ {
        self.older
            .iter()
            .copied()
            .chain(std::iter::once(self.newest))
    }

    fn insert(&mut self, lsn: Lsn) {
        if lsn > self.newest {
            self.older
                .push_back(std::mem::replace(&mut self.newest, lsn));
        } else {
            let i = self.older.partition_point(|&l| l < lsn);
            self.older.insert(i, lsn);
        }
    }

    /// Drops `lsn`; false if it was the only one (the caller drops the list).
    fn remove(&mut self, lsn: Lsn) -> bool {
        if lsn == self.newest {
            match self.older.pop_back() {
                Some(l) => self.newest = l,
                None => return false,
            }
        } else {
            let i = self
                .older
                .binary_search(&lsn)
                .unwrap_or_else(|_| panic!("{lsn}: not in its page's list"));
            self.older.remove(i);
        }
        true
    }
}

/// What one held record costs in the backlog: its encoded size (header + body), so
/// backlog limits read like journal bytes.
pub fn backlog_bytes(r: &Redo<'_>) -> usize {
    RECORD_HEADER_SIZE + r.change.bytes().len()
}

impl Held {
    pub(super) fn new(pg: PgId) -> Held {
        Held {
            pg,
            by_lsn: VecDeque::new(),
            successors: VecDeque::new(),
            by_page: IdMap::default(),
            bodies: Bodies::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.by_lsn.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_lsn.is_empty()
    }

    /// The highest LSN held.
    pub(super) fn max_lsn(&self) -> Option<Lsn> {
        self.by_lsn.back().map(|r| r.lsn)
    }

    /// Always inlined: out of line, the `Redo` came back through the stack, and the
    /// caller's wide loads of it waited on the callee's narrower stores (no store
    /// forwarding). In the cluster job three quarters of a coalescer pass's samples sat
    /// on that wait; inlined, the pass costs half (NVMe-NOTES "A coalescer pass's CPU").
    #[inline(always)]
    fn view(&self, e: &Entry) -> Redo<'_> {
        let bytes = self.bodies.get(e.body);
        Redo {
            lsn: e.lsn,
            prev_lsn_pg: e.prev_lsn_pg,
            prev_lsn_page: e.prev_lsn_page,
            pg_id: self.pg,
            page_id: e.page_id,
            cpl: e.cpl,
            change: match e.delta_offset {
                Some(offset) => Change::Delta { offset, bytes },
                None => Change::Image(bytes),
            },
        }
    }

    /// Where `lsn` is in `by_lsn` (`Err`: where it would go). Arrivals are mostly
    /// above everything held, so that is checked before searching.
    fn position(&self, lsn: Lsn) -> Result<usize, usize> {
        match self.by_lsn.back() {
            None => Err(0),
            Some(last) if last.lsn < lsn => Err(self.by_lsn.len()),
            _ => self.by_lsn.binary_search_by_key(&lsn, |r| r.lsn),
        }
    }

    /// Index of the first held record above `lsn`.
    fn first_above(&self, lsn: Lsn) -> usize {
        self.by_lsn.partition_point(|r| r.lsn <= lsn)
    }

    pub(super) fn get(&self, lsn: Lsn) -> Option<Redo<'_>> {
        self.position(lsn).ok().map(|i| self.view(&self.by_lsn[i]))
    }

    pub(super) fn contains(&self, lsn: Lsn) -> bool {
        self.position(lsn).is_ok()
    }

    /// The lowest held LSN whose `prev_lsn_pg` is `prev`, for `prev` at or above the
    /// SCL the index was last settled at (below it the answer may have been dropped).
    pub(super) fn successor(&self, prev: Lsn) -> Option<Lsn> {
        // The usual question is about the newest record: nothing names it yet.
        if self.successors.back().is_none_or(|&(p, _)| p < prev) {
            return None;
        }
        let i = self.successors.partition_point(|&(p, _)| p < prev);
        self.successors
            .get(i)
            .and_then(|&(p, lsn)| (p == prev).then_some(lsn))
    }

    /// The SCL is now `scl`: drops from the front of the successor index the records
    /// at or below it (no successor question can be answered by them any more). Stops
    /// at the first one above it, so a stray record with an old backlink (a fork) can
    /// keep some below it in the index; that costs room, never an answer.
    pub(super) fn settle(&mut self, scl: Lsn) {
        while self.successors.front().is_some_and(|&(_, lsn)| lsn <= scl) {
            self.successors.pop_front();
        }
    }

    /// Rebuilds the successor index from every held record (after the SCL moved down).
    pub(super) fn reindex_successors(&mut self) {
        let mut pairs: Vec<(Lsn, Lsn)> =
            self.by_lsn.iter().map(|e| (e.prev_lsn_pg, e.lsn)).collect();
        pairs.sort_unstable();
        self.successors = pairs.into();
    }

    /// Whether the successor index holds any record (every record above the SCL it
    /// was last settled at is in it).
    pub(super) fn waiting(&self) -> bool {
        !self.successors.is_empty()
    }

    /// Holds a copy of `r` (of this PG); panics if its LSN is held already (the caller
    /// checked). `successor` false leaves it out of the successor index: only for a
    /// record that becomes the SCL as it arrives, with nothing held above the SCL.
    pub(super) fn insert(&mut self, r: &Redo<'_>, successor: bool) {
        assert_eq!(r.pg_id, self.pg, "{}: a record of another PG", r.lsn);
        let (lsn, prev, page) = (r.lsn, r.prev_lsn_pg, r.page_id);
        let (delta_offset, bytes) = match r.change {
            Change::Delta { offset, bytes } => (Some(offset), bytes),
            Change::Image(bytes) => (None, bytes),
        };
        let position = self.position(lsn);
        if position.is_ok() {
            panic!("{lsn} is held already");
        }
        let entry = Entry {
            lsn,
            prev_lsn_pg: prev,
            prev_lsn_page: r.prev_lsn_page,
            page_id: page,
            body: self.bodies.push(bytes),
            delta_offset,
            cpl: r.cpl,
        };
        match position {
            Err(i) if i == self.by_lsn.len() => self.by_lsn.push_back(entry),
            Err(i) => self.by_lsn.insert(i, entry),
            Ok(_) => unreachable!("checked above"),
        }
        let pair = (prev, lsn);
        match self.successors.back() {
            _ if !successor => {}
            Some(&last) if last > pair => {
                let i = self.successors.partition_point(|&x| x < pair);
                self.successors.insert(i, pair);
            }
            _ => self.successors.push_back(pair),
        }
        match self.by_page.entry(page) {
            MapEntry::Occupied(mut o) => o.get_mut().insert(lsn),
            MapEntry::Vacant(v) => {
                v.insert(PageList::new(lsn));
            }
        }
    }

    /// Forgets `e` (already out of `by_lsn`) in the successor index and the arena;
    /// returns its backlog bytes. (The page index is the caller's.)
    fn unindex_but_page(&mut self, e: &Entry) -> usize {
        let pair = (e.prev_lsn_pg, e.lsn);
        if self.successors.front() == Some(&pair) {
            self.successors.pop_front();
        } else if let Ok(i) = self.successors.binary_search(&pair) {
            self.successors.remove(i);
        }
        // (Absent from the successor index: settled away, at or below the SCL.)
        self.bodies.release(e.body);
        RECORD_HEADER_SIZE + e.body.len as usize
    }

    /// Drops the record at `lsn` and returns its backlog bytes; panics if it is not
    /// held.
    pub(super) fn remove(&mut self, lsn: Lsn) -> usize {
        let i = self
            .position(lsn)
            .unwrap_or_else(|_| panic!("dropping {lsn}, which is not held"));
        let e = self.by_lsn.remove(i).expect("the position is in range");
        let MapEntry::Occupied(mut o) = self.by_page.entry(e.page_id) else {
            panic!("{lsn}: the page index does not hold {}", e.page_id);
        };
        if !o.get_mut().remove(lsn) {
            o.remove();
        }
        self.unindex_but_page(&e)
    }

    /// Drops every record at or below `to`; returns their backlog bytes. Counts the
    /// dropped records of each page (a page-index lookup per record) and hands over to
    /// [`pop_through_counted`](Self::pop_through_counted); a coalescer pass, which
    /// knows the counts, calls that directly.
    pub(super) fn pop_through(&mut self, to: Lsn) -> usize {
        let mut counts: IdMap<PageId, u32> = IdMap::default();
        for e in self.by_lsn.iter().take_while(|e| e.lsn <= to) {
            *counts.entry(e.page_id).or_default() += 1;
        }
        let per_page: Vec<(PageId, u32)> = counts.into_iter().collect();
        self.pop_through_counted(to, &per_page)
    }

    /// [`pop_through`](Self::pop_through) for a caller that knows how many of the
    /// dropped records each page has (a coalescer pass counted them when it chose its
    /// records): one page lookup per page instead of one per record (a pass drops
    /// ~180 k records of ~1 k pages, in steps of `coalesce_step_records`). `per_page` must name each page
    /// once; panics unless it matches the records at or below `to` exactly (the total,
    /// and per page: its `n` oldest at or below `to`, the next above it), so a wrong count
    /// cannot leave the page index out of step.
    pub(super) fn pop_through_counted(&mut self, to: Lsn, per_page: &[(PageId, u32)]) -> usize {
        let mut released = 0;
        let mut dropped = 0u64;
        while self.by_lsn.front().is_some_and(|r| r.lsn <= to) {
            if let Some(ahead) = self.by_lsn.get(WALK_PREFETCH_AHEAD) {
                prefetch_value(ahead);
            }
            let e = self.by_lsn.pop_front().expect("checked above");
            released += self.unindex_but_page(&e);
            dropped += 1;
        }
        let counted: u64 = per_page.iter().map(|&(_, n)| u64::from(n)).sum();
        assert_eq!(
            dropped, counted,
            "{}: {dropped} records at or below {to}, the page counts say {counted}",
            self.pg
        );
        for &(page, n) in per_page {
            let n = n as usize;
            if n == 0 {
                continue;
            }
            let MapEntry::Occupied(mut o) = self.by_page.entry(page) else {
                panic!("{}: the page index does not hold {page}", self.pg);
            };
            let list = o.get_mut();
            assert!(
                list.nth(n - 1).is_some_and(|l| l <= to) && list.nth(n).is_none_or(|l| l > to),
                "{}: {page} does not hold exactly {n} records at or below {to}",
                self.pg
            );
            if n == list.len() {
                o.remove();
            } else {
                list.older.drain(..n);
            }
        }
        released
    }

    /// LSNs held in `(after, upto]`, lowest first.
    pub(super) fn lsns_in(&self, after: Lsn, upto: Lsn) -> Vec<Lsn> {
        self.entries(after, upto).map(|e| e.lsn).collect()
    }

    fn entries(&self, after: Lsn, upto: Lsn) -> Walk<'_> {
        let start = self.first_above(after);
        let end = self.first_above(upto).max(start);
        Walk {
            by_lsn: &self.by_lsn,
            next: start,
            end,
        }
    }

    /// Held records in `(after, upto]`, lowest first (empty if `after >= upto`).
    pub(super) fn range(
        &self,
        after: Lsn,
        upto: Lsn,
    ) -> impl DoubleEndedIterator<Item = Redo<'_>> + '_ {
        self.entries(after, upto).map(|e| self.view(e))
    }

    /// Held records above `after`, lowest first.
    pub(super) fn above(&self, after: Lsn) -> impl DoubleEndedIterator<Item = Redo<'_>> + '_ {
        self.entries(after, Lsn::MAX).map(|e| self.view(e))
    }

    /// The highest held LSN in `(after, upto]`.
    pub(super) fn last_in(&self, after: Lsn, upto: Lsn) -> Option<Lsn> {
        self.entries(after, upto).next_back().map(|e| e.lsn)
    }

    /// Held records of `page` in `(after, upto]`, lowest first.
    pub(super) fn page_range(
        &self,
        page: PageId,
        after: Lsn,
        upto: Lsn,
    ) -> impl Iterator<Item = Redo<'_>> + '_ {
        let list = self.by_page.get(&page);
        let start = list.map_or(0, |l| l.older.partition_point(|&x| x <= after));
        list.into_iter()
            .flat_map(move |l| l.iter().skip(start))
            .skip_while(move |&l| l <= after)
            .take_while(move |&l| l <= upto)
            .map(move |l| self.get(l).expect("the page index names held records"))
    }

    /// Arena chunks in use (tests: the arena holds the backlog, not its history).
    #[cfg(test)]
    pub(super) fn arena_chunks(&self) -> usize {
        self.bodies.chunks.len()
    }

    /// Asserts the invariants of the module docs, for an index last settled at `scl`.
    pub(super) fn check(&self, scl: Lsn) {
        assert!(
            self.by_lsn
                .iter()
                .zip(self.by_lsn.iter().skip(1))
                .all(|(a, b)| a.lsn < b.lsn),
            "the LSN index is not strictly increasing"
        );
        assert!(
            self.successors
                .iter()
                .zip(self.successors.iter().skip(1))
                .all(|(a, b)| a < b),
            "the successor index is not strictly increasing"
        );
        let mut above: Vec<(Lsn, Lsn)> = Vec::new();
        let mut pages: IdMap<PageId, VecDeque<Lsn>> = IdMap::default();
        let mut live: IdMap<u64, u32> = IdMap::default();
        for e in &self.by_lsn {
            if e.lsn > scl {
                above.push((e.prev_lsn_pg, e.lsn));
            }
            pages.entry(e.page_id).or_default().push_back(e.lsn);
            *live.entry(e.body.chunk).or_default() += 1;
        }
        above.sort_unstable();
        for pair in &above {
            assert!(
                self.successors.binary_search(pair).is_ok(),
                "the successor index lacks {} (above the SCL {scl})",
                pair.1
            );
        }
        for pair in &self.successors {
            assert!(
                self.get(pair.1).is_some_and(|r| r.prev_lsn_pg == pair.0),
                "the successor index names {}, which is not held",
                pair.1
            );
        }
        assert_eq!(pages.len(), self.by_page.len(), "the page index disagrees");
        for (page, lsns) in &pages {
            let list = self.by_page.get(page);
            assert!(
                list.is_some_and(|l| l.iter().eq(lsns.iter().copied())),
                "the page index disagrees on {page}"
            );
        }
        for (i, c) in self.bodies.chunks.iter().enumerate() {
            let id = self.bodies.first + i as u64;
            assert_eq!(
                c.live,
                live.get(&id).copied().unwrap_or(0),
                "arena chunk {id}: live count"
            );
        }
    }
}

#[cfg(test)]
mod walk_tests {
    use super::*;

    /// An entry whose LSN is `lsn` and nothing else of interest.
    fn entry(lsn: u64) -> Entry {
        Entry {
            lsn: Lsn::new(lsn),
            prev_lsn_pg: Lsn::new(lsn - 1),
            prev_lsn_page: Lsn::new(0),
            page_id: PageId::new(0),
            body: BodyRef {
                chunk: 0,
                start: 0,
                len: 0,
            },
            delta_offset: None,
            cpl: false,
        }
    }

    #[test]
    fn a_walk_yields_what_the_range_holds_from_both_ends() {
        // A deque that wraps around its buffer, as `by_lsn` does once its front is
        // popped: a walk must index it as the deque does, not as the buffer lies.
        let mut by_lsn: VecDeque<Entry> = VecDeque::with_capacity(64);
        for lsn in 1..=60 {
            by_lsn.push_back(entry(lsn));
        }
        by_lsn.drain(..40);
        for lsn in 61..=100 {
            by_lsn.push_back(entry(lsn));
        }
        assert!(!by_lsn.as_slices().1.is_empty(), "the deque wraps");
        for (start, end) in [(0, by_lsn.len()), (3, 37), (10, 10), (59, 60)] {
            let want: Vec<u64> = by_lsn.range(start..end).map(|e| e.lsn.get()).collect();
            let walk = || Walk {
                by_lsn: &by_lsn,
                next: start,
                end,
            };
            let fwd: Vec<u64> = walk().map(|e| e.lsn.get()).collect();
            assert_eq!(fwd, want, "{start}..{end} forwards");
            let mut back: Vec<u64> = walk().rev().map(|e| e.lsn.get()).collect();
            back.reverse();
            assert_eq!(back, want, "{start}..{end} backwards");
            // Both ends at once meet in the middle, each entry once.
            let mut w = walk();
            let mut front = Vec::new();
            let mut tail = Vec::new();
            loop {
                match (w.next(), w.next_back()) {
                    (Some(a), Some(b)) => {
                        front.push(a.lsn.get());
                        tail.push(b.lsn.get());
                    }
                    (Some(a), None) => front.push(a.lsn.get()),
                    (None, Some(b)) => tail.push(b.lsn.get()),
                    (None, None) => break,
                }
            }
            front.extend(tail.into_iter().rev());
            assert_eq!(front, want, "{start}..{end} from both ends");
            assert_eq!(walk().size_hint(), (want.len(), Some(want.len())));
        }
    }
}
