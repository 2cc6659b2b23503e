//! The hot log's indexes of held records: by LSN, by backlink (`prev_lsn_pg`), and by
//! page. Plain collections, no policy: [`HotLog`](super::HotLog) decides what is held.
//!
//! Why not three B-trees: every appended record used to cost three B-tree inserts, a
//! range probe and, at materialization, three B-tree removals (several thousand
//! instructions per record, a fifth of a core at a million records a second). Records
//! arrive almost in LSN order and leave strictly in LSN order (the floor moves up), so:
//! - by LSN: a `VecDeque` sorted by LSN. An arrival above the newest is a `push_back`,
//!   materialization is `pop_front`; a late arrival is a binary search and an insert
//!   near the back (the deque shifts the shorter side); lookups are binary searches.
//! - by backlink: a `VecDeque` of `(prev_lsn_pg, lsn)` pairs, sorted. On an honest
//!   chain `prev_lsn_pg` grows with `lsn`, so the pairs too are pushed at the back and
//!   popped at the front, and the SCL's question ("who names the SCL?") is answered
//!   at the back without a search. Forks and late arrivals search and shift. (A hash
//!   map keyed by `prev_lsn_pg` costs a cache miss per insert and per removal once the
//!   backlog outgrows the cache; the deque's accesses are sequential.)
//! - by page: a hash map from page to the LSNs of its held records, each a sorted
//!   `VecDeque` (pushed at the back, popped at the front, like the LSN index). A page
//!   whose records are all gone leaves the map.
//!
//! Invariants (checked by [`Held::check`]): the three indexes hold exactly the same
//! records; `by_lsn` and `successors` are strictly increasing; each page's LSN list is
//! strictly increasing and non-empty.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use boreal_segment::{Lsn, PageId};

use super::record::OwnedRedo;

/// A hasher for the `u64` newtypes (`Lsn`, `PageId`) the indexes are keyed by: one
/// folded multiply. SipHash would cost more than the rest of an insert; the keys are
/// not chosen by an adversary who could aim at collisions (LSNs and pages of records
/// that passed validation, at most the backlog's worth).
#[derive(Default, Clone, Copy, Debug)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let m = u128::from(n ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
        self.0 = (m >> 64) as u64 ^ m as u64;
    }
}

type U64Map<K, V> = HashMap<K, V, BuildHasherDefault<U64Hasher>>;

/// The held records and their indexes. See the module docs.
#[derive(Clone, Debug, Default)]
pub(super) struct Held {
    by_lsn: VecDeque<OwnedRedo>,
    /// `(prev_lsn_pg, lsn)` of every held record, increasing.
    successors: VecDeque<(Lsn, Lsn)>,
    /// Page → LSNs of its held records, increasing.
    by_page: U64Map<PageId, VecDeque<Lsn>>,
}

impl Held {
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

    pub(super) fn get(&self, lsn: Lsn) -> Option<&OwnedRedo> {
        self.position(lsn).ok().map(|i| &self.by_lsn[i])
    }

    pub(super) fn contains(&self, lsn: Lsn) -> bool {
        self.position(lsn).is_ok()
    }

    /// The lowest held LSN whose `prev_lsn_pg` is `prev`.
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

    /// Holds `r`; panics if its LSN is held already (the caller checked).
    pub(super) fn insert(&mut self, r: OwnedRedo) {
        let (lsn, prev, page) = (r.lsn, r.prev_lsn_pg, r.page_id);
        match self.position(lsn) {
            Ok(_) => panic!("{lsn} is held already"),
            Err(i) if i == self.by_lsn.len() => self.by_lsn.push_back(r),
            Err(i) => self.by_lsn.insert(i, r),
        }
        let pair = (prev, lsn);
        match self.successors.back() {
            Some(&last) if last > pair => {
                let i = self.successors.partition_point(|&x| x < pair);
                self.successors.insert(i, pair);
            }
            _ => self.successors.push_back(pair),
        }
        let lsns = self.by_page.entry(page).or_default();
        match lsns.back() {
            Some(&last) if last > lsn => {
                let i = lsns.partition_point(|&l| l < lsn);
                lsns.insert(i, lsn);
            }
            _ => lsns.push_back(lsn),
        }
    }

    /// Drops the record at `lsn` from the successor and page indexes (not from
    /// `by_lsn`: the callers remove it there, one at a time or a run at once).
    fn unindex(&mut self, r: &OwnedRedo) {
        let lsn = r.lsn;
        let pair = (r.prev_lsn_pg, lsn);
        if self.successors.front() == Some(&pair) {
            self.successors.pop_front();
        } else {
            let i = self
                .successors
                .binary_search(&pair)
                .unwrap_or_else(|_| panic!("{lsn}: the successor index does not hold it"));
            self.successors.remove(i);
        }
        let Entry::Occupied(mut o) = self.by_page.entry(r.page_id) else {
            panic!("{lsn}: the page index does not hold {}", r.page_id);
        };
        let lsns = o.get_mut();
        if lsns.front() == Some(&lsn) {
            lsns.pop_front();
        } else {
            let i = lsns
                .binary_search(&lsn)
                .unwrap_or_else(|_| panic!("{lsn}: not in the list of {}", r.page_id));
            lsns.remove(i);
        }
        if lsns.is_empty() {
            o.remove();
        }
    }

    /// Drops the record at `lsn`; panics if it is not held.
    pub(super) fn remove(&mut self, lsn: Lsn) -> OwnedRedo {
        let i = self
            .position(lsn)
            .unwrap_or_else(|_| panic!("dropping {lsn}, which is not held"));
        let r = self.by_lsn.remove(i).expect("the position is in range");
        self.unindex(&r);
        r
    }

    /// Drops every record at or below `to`; calls `dropped` with each, lowest first.
    pub(super) fn pop_through(&mut self, to: Lsn, mut dropped: impl FnMut(&OwnedRedo)) {
        while self.by_lsn.front().is_some_and(|r| r.lsn <= to) {
            let r = self.by_lsn.pop_front().expect("checked above");
            self.unindex(&r);
            dropped(&r);
        }
    }

    /// LSNs held in `(after, upto]`, lowest first.
    pub(super) fn lsns_in(&self, after: Lsn, upto: Lsn) -> Vec<Lsn> {
        self.range(after, upto).map(|r| r.lsn).collect()
    }

    /// Held records in `(after, upto]`, lowest first (empty if `after >= upto`).
    pub(super) fn range(
        &self,
        after: Lsn,
        upto: Lsn,
    ) -> std::collections::vec_deque::Iter<'_, OwnedRedo> {
        let start = self.first_above(after);
        let end = self.first_above(upto).max(start);
        self.by_lsn.range(start..end)
    }

    /// Held records above `after`, lowest first.
    pub(super) fn above(&self, after: Lsn) -> std::collections::vec_deque::Iter<'_, OwnedRedo> {
        self.by_lsn.range(self.first_above(after)..)
    }

    /// The highest held LSN in `(after, upto]`.
    pub(super) fn last_in(&self, after: Lsn, upto: Lsn) -> Option<Lsn> {
        self.range(after, upto).next_back().map(|r| r.lsn)
    }

    /// Held records of `page` in `(after, upto]`, lowest first.
    pub(super) fn page_range(
        &self,
        page: PageId,
        after: Lsn,
        upto: Lsn,
    ) -> impl Iterator<Item = &OwnedRedo> + '_ {
        let lsns = self.by_page.get(&page);
        let start = lsns.map_or(0, |l| l.partition_point(|&x| x <= after));
        lsns.into_iter()
            .flat_map(move |l| l.range(start..))
            .take_while(move |&&l| l <= upto)
            .map(move |&l| self.get(l).expect("the page index names held records"))
    }

    /// Asserts the invariants of the module docs.
    pub(super) fn check(&self) {
        assert!(
            self.by_lsn
                .iter()
                .zip(self.by_lsn.iter().skip(1))
                .all(|(a, b)| a.lsn < b.lsn),
            "the LSN index is not strictly increasing"
        );
        let mut successors: Vec<(Lsn, Lsn)> = Vec::with_capacity(self.by_lsn.len());
        let mut pages: U64Map<PageId, VecDeque<Lsn>> = U64Map::default();
        for r in &self.by_lsn {
            successors.push((r.prev_lsn_pg, r.lsn));
            pages.entry(r.page_id).or_default().push_back(r.lsn);
        }
        successors.sort_unstable();
        assert!(
            self.successors.iter().eq(successors.iter()),
            "the successor index disagrees"
        );
        assert_eq!(pages, self.by_page, "the page index disagrees");
    }
}
