//! LSN allocation and record building, sans-I/O: a mini-transaction's page changes in,
//! its redo records out, with LSNs and both backlinks.
//!
//! Invariants (the property test checks each): LSNs are handed out densely, strictly
//! increasing, and a mini-transaction's records get contiguous LSNs (so a CPL is a
//! boundary between whole mini-transactions, which volume recovery relies on); no LSN
//! above max(VDL, resume point) + LAL is handed out, where the resume point is the end
//! of the truncation volume recovery wrote (the LSNs in it are never used, so they do
//! not count against the limit; the caller waits for the VDL to move); each record's
//! `prev_lsn_pg` is the previous record of its PG and `prev_lsn_page` the previous
//! record of its page; the last record of a mini-transaction carries the CPL flag.
//!
//! What it must learn from outside: the LSN of a page it has not written since it
//! started (after volume recovery; a fresh volume's pages are all at zero). The driver
//! reads those pages at the VDL first ([`Allocator::unknown_pages`],
//! [`Allocator::learn_page`]).

use boreal_engine::hotlog::{OwnedChange, change_fits_payload};
use boreal_engine::idmap::IdMap;
use boreal_segment::{Lsn, PageId, PgId, Record, Redo};

use super::volume::VolumeConfig;

/// One change of a mini-transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageChange {
    pub page: PageId,
    pub change: OwnedChange,
}

/// Why a mini-transaction was not given LSNs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// It would end above VDL + LAL: wait until the VDL reaches `vdl_needed`.
    #[error("the LSN allocation limit is reached: waiting for the VDL to reach {vdl_needed}")]
    Lal { vdl_needed: Lsn },
    #[error("page {page} is not in the volume ({pages} pages)")]
    NoSuchPage { page: PageId, pages: u64 },
    #[error("an empty mini-transaction")]
    Empty,
    #[error("page {page}'s LSN is not known yet: read it first")]
    PageUnknown { page: PageId },
    /// A change that no segment could hold (nothing was allocated).
    #[error("change {index} (page {page}) cannot be a redo record of this volume: {why}")]
    BadChange {
        index: usize,
        page: PageId,
        why: String,
    },
}

/// Why `change` cannot be a redo record of a volume whose pages hold `payload` bytes:
/// the record format's rules (checked on a record with placeholder LSNs) and the fit
/// inside the volume's page.
fn change_fault(change: &OwnedChange, page: PageId, payload: usize) -> Option<String> {
    let change = change.as_change();
    let probe = Redo {
        lsn: Lsn::new(2),
        prev_lsn_pg: Lsn::new(1),
        prev_lsn_page: Lsn::new(1),
        pg_id: PgId::new(0),
        page_id: page,
        cpl: true,
        change,
    };
    if let Err(e) = Record::Redo(probe).validate() {
        return Some(e.to_string());
    }
    // The segments' own rule: they refuse such a record, and every commit behind it
    // would wait for it forever.
    (!change_fits_payload(&change, payload)).then(|| {
        format!(
            "it does not fit a page payload of {payload} bytes (a delta inside it, an image exactly it)"
        )
    })
}

/// The allocator. See the module docs.
#[derive(Debug, Clone)]
pub struct Allocator {
    /// The last LSN handed out.
    last: Lsn,
    /// Where allocation resumed (the end of recovery's truncation): the LAL counts
    /// from it until the VDL passes it.
    resume: Lsn,
    lal: u64,
    pg_last: Vec<Lsn>,
    page_last: IdMap<PageId, Lsn>,
    /// Every page not in `page_last` is at LSN zero (a fresh volume).
    fresh: bool,
    pages: u64,
    pages_per_pg: u64,
    /// Bytes a page's change may cover (page size minus its header).
    payload: usize,
}

impl Allocator {
    /// After start or recovery: the next LSN is `last + 1`; `pg_last` is each PG's last
    /// record; `fresh` says every page is still at zero.
    pub fn new(volume: &VolumeConfig, last: Lsn, pg_last: Vec<Lsn>, fresh: bool) -> Allocator {
        assert_eq!(pg_last.len(), volume.pgs as usize, "one last LSN per PG");
        Allocator {
            last,
            resume: last,
            lal: volume.lal,
            pg_last,
            page_last: IdMap::default(),
            fresh,
            pages: volume.pages(),
            pages_per_pg: volume.pages_per_pg,
            payload: volume.page_size().payload_len(),
        }
    }

    /// The last LSN handed out.
    pub fn last(&self) -> Lsn {
        self.last
    }

    /// Pages of `changes` whose LSN must be read before the mini-transaction can be
    /// given LSNs.
    pub fn unknown_pages(&self, changes: &[PageChange]) -> Vec<PageId> {
        if self.fresh {
            return Vec::new();
        }
        let mut v: Vec<PageId> = changes
            .iter()
            .map(|c| c.page)
            .filter(|p| !self.page_last.contains_key(p))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The page's LSN as read at the VDL; kept unless a record of the page was handed
    /// out since (that one is newer).
    pub fn learn_page(&mut self, page: PageId, lsn: Lsn) {
        self.page_last.entry(page).or_insert(lsn);
    }

    /// Gives the mini-transaction's changes their records, or says why not. The records
    /// borrow their changes from `changes` (the shim encodes them, the one copy).
    pub fn allocate<'c>(
        &mut self,
        vdl: Lsn,
        changes: &'c [PageChange],
    ) -> Result<Vec<Redo<'c>>, AllocError> {
        if changes.is_empty() {
            return Err(AllocError::Empty);
        }
        let n = changes.len() as u64;
        let end = self.last.get() + n;
        if end > vdl.max(self.resume).get().saturating_add(self.lal) {
            return Err(AllocError::Lal {
                vdl_needed: Lsn::new(end - self.lal),
            });
        }
        for (index, c) in changes.iter().enumerate() {
            if c.page.get() >= self.pages {
                return Err(AllocError::NoSuchPage {
                    page: c.page,
                    pages: self.pages,
                });
            }
            if let Some(why) = change_fault(&c.change, c.page, self.payload) {
                return Err(AllocError::BadChange {
                    index,
                    page: c.page,
                    why,
                });
            }
            if !self.fresh && !self.page_last.contains_key(&c.page) {
                return Err(AllocError::PageUnknown { page: c.page });
            }
        }
        let mut out = Vec::with_capacity(changes.len());
        for (k, c) in changes.iter().enumerate() {
            let lsn = Lsn::new(self.last.get() + 1 + k as u64);
            let pg = (c.page.get() / self.pages_per_pg) as usize;
            let prev_pg = std::mem::replace(&mut self.pg_last[pg], lsn);
            let prev_page = self.page_last.insert(c.page, lsn).unwrap_or(Lsn::ZERO);
            out.push(Redo {
                lsn,
                prev_lsn_pg: prev_pg,
                prev_lsn_page: prev_page,
                pg_id: PgId::new(pg as u32),
                page_id: c.page,
                cpl: k + 1 == changes.len(),
                change: c.change.as_change(),
            });
        }
        self.last = Lsn::new(end);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use boreal_engine::hotlog::OwnedRedo;
    use proptest::prelude::*;

    use super::*;
    use crate::quorum::volume::Member;

    fn volume(lal: u64) -> VolumeConfig {
        VolumeConfig {
            page_size: 4096,
            pages_per_pg: 4,
            pgs: 3,
            lal,
            members: (0..6)
                .map(|n| Member {
                    node_id: n + 1,
                    az: format!("az{}", n % 3),
                    addr: "127.0.0.1:1".parse().unwrap(),
                })
                .collect(),
        }
    }

    fn change(page: u64) -> PageChange {
        PageChange {
            page: PageId::new(page),
            change: OwnedChange::Delta {
                offset: 0,
                bytes: vec![page as u8].into(),
            },
        }
    }

    #[test]
    fn a_change_no_page_can_hold_is_refused_before_any_lsn_is_handed_out() {
        let v = volume(100);
        let mut a = Allocator::new(&v, Lsn::ZERO, vec![Lsn::ZERO; 3], true);
        let payload = v.page_size().payload_len();
        let past_the_page = PageChange {
            page: PageId::new(1),
            change: OwnedChange::Delta {
                offset: (payload - 2) as u32,
                bytes: vec![1, 2, 3].into(),
            },
        };
        let short_image = PageChange {
            page: PageId::new(2),
            change: OwnedChange::Image(vec![0; payload - 1].into()),
        };
        for bad in [past_the_page, short_image] {
            let page = bad.page;
            let err = a.allocate(Lsn::ZERO, &[change(0), bad]).unwrap_err();
            assert!(
                matches!(&err, AllocError::BadChange { index: 1, page: p, .. } if *p == page),
                "{err}"
            );
            assert_eq!(a.last(), Lsn::ZERO, "nothing allocated");
        }
        let fits = PageChange {
            page: PageId::new(1),
            change: OwnedChange::Delta {
                offset: (payload - 3) as u32,
                bytes: vec![1, 2, 3].into(),
            },
        };
        let whole = PageChange {
            page: PageId::new(2),
            change: OwnedChange::Image(vec![0; payload].into()),
        };
        let changes = [fits, whole];
        let recs = a.allocate(Lsn::ZERO, &changes).unwrap();
        assert_eq!(recs.len(), 2);
        for r in recs {
            crate::proto::EncodedRedo::new(&r).unwrap();
        }
    }

    proptest! {
        #[test]
        fn records_are_dense_contiguous_and_chained(
            mtrs in prop::collection::vec(prop::collection::vec(0u64..12, 1..4), 1..40),
            vdl_steps in prop::collection::vec(0u64..10, 40),
        ) {
            let v = volume(8);
            let mut a = Allocator::new(&v, Lsn::ZERO, vec![Lsn::ZERO; 3], true);
            let mut vdl = 0u64;
            let mut all: Vec<OwnedRedo> = Vec::new();
            for (i, pages) in mtrs.iter().enumerate() {
                let changes: Vec<PageChange> = pages.iter().map(|&p| change(p)).collect();
                match a.allocate(Lsn::new(vdl), &changes) {
                    Ok(recs) => {
                        prop_assert_eq!(recs.len(), changes.len());
                        prop_assert!(recs.last().unwrap().cpl);
                        prop_assert!(recs.iter().rev().skip(1).all(|r| !r.cpl));
                        for r in &recs {
                            prop_assert_eq!(r.lsn.get(), all.len() as u64 + 1, "dense");
                            prop_assert!(r.lsn.get() <= vdl + 8, "within LAL");
                            all.push(OwnedRedo::from_redo(r));
                        }
                    }
                    Err(AllocError::Lal { vdl_needed }) => {
                        prop_assert!(all.len() as u64 + changes.len() as u64 > vdl + 8);
                        prop_assert!(vdl_needed.get() > vdl);
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                }
                vdl = (vdl + vdl_steps[i]).min(all.len() as u64);
            }
            for (i, r) in all.iter().enumerate() {
                let prev_pg = all[..i].iter().rev().find(|x| x.pg_id == r.pg_id).map_or(0, |x| x.lsn.get());
                let prev_page = all[..i].iter().rev().find(|x| x.page_id == r.page_id).map_or(0, |x| x.lsn.get());
                prop_assert_eq!(r.prev_lsn_pg.get(), prev_pg);
                prop_assert_eq!(r.prev_lsn_page.get(), prev_page);
                prop_assert_eq!(u64::from(r.pg_id.get()), r.page_id.get() / 4);
            }
        }
    }

    #[test]
    fn after_recovery_unknown_pages_are_read_first() {
        let v = volume(100);
        let mut a = Allocator::new(&v, Lsn::new(50), vec![Lsn::new(20); 3], false);
        let changes = vec![change(1), change(5), change(1)];
        assert_eq!(
            a.unknown_pages(&changes),
            vec![PageId::new(1), PageId::new(5)]
        );
        assert_eq!(
            a.allocate(Lsn::new(40), &changes),
            Err(AllocError::PageUnknown {
                page: PageId::new(1)
            })
        );
        a.learn_page(PageId::new(1), Lsn::new(17));
        a.learn_page(PageId::new(5), Lsn::new(0));
        let recs = a.allocate(Lsn::new(40), &changes).unwrap();
        let lsns: Vec<(u64, u64, u64)> = recs
            .iter()
            .map(|r| (r.lsn.get(), r.prev_lsn_pg.get(), r.prev_lsn_page.get()))
            .collect();
        // Page 1 (PG 0) at 17 before; page 5 (PG 1).
        assert_eq!(lsns, vec![(51, 20, 17), (52, 20, 0), (53, 51, 51)]);
        // A late read of a page written since does not go back.
        a.learn_page(PageId::new(1), Lsn::new(17));
        assert_eq!(
            a.allocate(Lsn::new(100), &[change(1)]).unwrap()[0].prev_lsn_page,
            Lsn::new(53)
        );
    }
}
