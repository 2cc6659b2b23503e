//! `Unacked`: the shim's records that are handed out and not yet at or below the VDL,
//! in LSN order, kept so that the SCL poller can send them again to a segment that is
//! behind (`links.rs`).
//!
//! Shape: a queue, not a search tree. The shim hands LSNs out in increasing order and
//! files each record as it hands it out, so a record nearly always goes at the back
//! ([`Unacked::push`]); the VDL only rises, so what it passes leaves from the front
//! ([`Unacked::drop_through`]); a resend takes everything above a segment's SCL
//! ([`Unacked::above`], a binary search). Every step per record is O(1) and allocates
//! nothing once the queue has grown (a `BTreeMap` searched from its root for every
//! record and allocated and freed nodes as it grew and split: a measurable share of
//! the shim's CPU per commit).
//!
//! Invariant: LSNs strictly increase from front to back. A record filed out of order
//! (not done by the shim today) is put in its place, so the invariant holds anyway.

use std::collections::VecDeque;
use std::rc::Rc;

use boreal_segment::Lsn;

use crate::proto::EncodedRedo;

/// Records above the VDL, in LSN order. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Unacked {
    records: VecDeque<Rc<EncodedRedo>>,
}

impl Unacked {
    /// Files a record handed out; one whose LSN is filed already is not filed again.
    pub(crate) fn push(&mut self, rec: Rc<EncodedRedo>) {
        match self.records.back() {
            Some(last) if last.lsn() >= rec.lsn() => {
                let i = self.records.partition_point(|r| r.lsn() < rec.lsn());
                if self.records.get(i).is_none_or(|r| r.lsn() != rec.lsn()) {
                    self.records.insert(i, rec);
                }
            }
            _ => self.records.push_back(rec),
        }
    }

    /// Drops every record at or below `vdl` (durable on a write quorum: never resent).
    pub(crate) fn drop_through(&mut self, vdl: Lsn) {
        let n = self.records.partition_point(|r| r.lsn() <= vdl);
        self.records.drain(..n);
    }

    /// The records above `lsn`, in LSN order.
    pub(crate) fn above(&self, lsn: Lsn) -> impl Iterator<Item = &Rc<EncodedRedo>> {
        let i = self.records.partition_point(|r| r.lsn() <= lsn);
        self.records.range(i..)
    }

    /// Records filed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use boreal_segment::{Change, PageId, PgId, Redo};
    use proptest::prelude::*;

    use super::*;

    fn rec(lsn: u64, pg: u32) -> Rc<EncodedRedo> {
        let redo = Redo {
            lsn: Lsn::new(lsn),
            prev_lsn_pg: Lsn::new(lsn - 1),
            prev_lsn_page: Lsn::ZERO,
            pg_id: PgId::new(pg),
            page_id: PageId::new(lsn),
            cpl: true,
            change: Change::Delta {
                offset: 0,
                bytes: b"x",
            },
        };
        Rc::new(EncodedRedo::new(&redo).expect("a valid record"))
    }

    fn lsns<'a>(it: impl Iterator<Item = &'a Rc<EncodedRedo>>) -> Vec<u64> {
        it.map(|r| r.lsn().get()).collect()
    }

    #[test]
    fn the_vdl_takes_records_off_the_front_and_a_resend_sees_what_is_above() {
        let mut u = Unacked::default();
        for l in 1..=10 {
            u.push(rec(l, (l % 2) as u32));
        }
        assert_eq!(lsns(u.above(Lsn::new(7))), vec![8, 9, 10]);
        u.drop_through(Lsn::new(4));
        assert_eq!(lsns(u.above(Lsn::ZERO)), vec![5, 6, 7, 8, 9, 10]);
        u.drop_through(Lsn::new(3));
        assert_eq!(u.len(), 6, "a VDL below the front drops nothing");
        u.drop_through(Lsn::new(10));
        assert_eq!(u.len(), 0);
        assert_eq!(lsns(u.above(Lsn::ZERO)), Vec::<u64>::new());
    }

    proptest! {
        /// Whatever the order records are filed in, and wherever the VDL goes, the
        /// queue holds exactly the distinct LSNs above the highest VDL seen, in order
        /// (the model: a sorted set).
        #[test]
        fn matches_a_sorted_set(
            steps in prop::collection::vec((1u64..200, any::<bool>()), 1..300),
        ) {
            let mut u = Unacked::default();
            let mut model = std::collections::BTreeSet::new();
            let mut vdl = 0u64;
            for (n, drop) in steps {
                if drop {
                    vdl = vdl.max(n / 2);
                    u.drop_through(Lsn::new(vdl));
                    model.retain(|&l| l > vdl);
                } else if n > vdl {
                    u.push(rec(n, 0));
                    model.insert(n);
                }
                prop_assert_eq!(lsns(u.above(Lsn::ZERO)), model.iter().copied().collect::<Vec<_>>());
                let probe = n / 3;
                prop_assert_eq!(
                    lsns(u.above(Lsn::new(probe))),
                    model.range(probe + 1..).copied().collect::<Vec<_>>()
                );
            }
        }
    }
}
