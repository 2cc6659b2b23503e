//! What each redo record of a `boreal-journal` job is: its LSN, its backlinks, its page
//! and where in the page it writes. Plain data, no I/O, so it is unit-tested alone.
//!
//! The job plays the compute node's shim for one volume: LSNs are allocated at
//! `queue` time from one counter per job, strictly increasing across all of the job's
//! PGs, as the shim allocates them across a volume. Each I/O is one append to one PG,
//! the PGs taken round-robin per I/O, and the I/O's records are a mini-transaction (the
//! last one is flagged CPL). Within a PG, record `k` changes page `k mod pages_per_pg`
//! of the PG's page range, at slot `(k / pages_per_pg) mod slots` of the page, so the
//! page range is bounded (the coalescer has real, bounded work) and every page is
//! touched in turn.
//!
//! Invariants: LSNs are handed out once each, increasing; `prev_lsn_pg` is the LSN of
//! the PG's previous record and `prev_lsn_page` that of the page's previous record (the
//! chains the hot log and the coalescer check), whatever order the appends complete in;
//! a change never leaves the page payload.

use boreal_segment::{Lsn, PageId, PgId};

/// One planned redo record (its bytes are the I/O's buffer, cut in `record_size` pieces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRecord {
    pub lsn: Lsn,
    pub prev_lsn_pg: Lsn,
    pub prev_lsn_page: Lsn,
    pub page: PageId,
    /// Offset of the change in the page payload, bytes.
    pub offset: u32,
}

/// Where one PG of the job stands.
#[derive(Debug, Clone)]
pub struct PgCursor {
    /// The PG.
    pub pg: PgId,
    /// First page of the PG's range.
    pub first_page: u64,
    /// LSN of the PG's newest record (`Lsn::ZERO` before the first).
    pub last_lsn: Lsn,
    /// LSN of each page's newest record, by page index in the range.
    pub page_last: Vec<Lsn>,
    /// Records planned for this PG so far (picks the page and slot).
    pub records: u64,
}

/// The LSN allocator and chain keeper of one job. See the module docs.
#[derive(Debug, Clone)]
pub struct Sequencer {
    next_lsn: u64,
    pgs: Vec<PgCursor>,
    next_pg: usize,
    record_size: u32,
    /// Change slots per page: `payload_len / record_size` (at least 1).
    slots: u64,
}

impl Sequencer {
    /// A sequencer over `pgs` (each with its range and chain heads, e.g. recovered from
    /// an existing data directory), allocating LSNs above `after`. `record_size` must be
    /// in `1..=payload_len`.
    pub fn new(pgs: Vec<PgCursor>, after: Lsn, record_size: u32, payload_len: usize) -> Sequencer {
        assert!(!pgs.is_empty(), "at least one PG");
        assert!(
            record_size >= 1 && record_size as usize <= payload_len,
            "a record of {record_size} bytes fits a {payload_len}-byte payload"
        );
        for c in &pgs {
            assert!(!c.page_last.is_empty(), "{}: a non-empty page range", c.pg);
            assert!(
                c.last_lsn <= after,
                "{}: LSNs above its newest record",
                c.pg
            );
        }
        Sequencer {
            next_lsn: after.get() + 1,
            pgs,
            next_pg: 0,
            record_size,
            slots: (payload_len / record_size as usize) as u64,
        }
    }

    /// Plans the next I/O: `count` records of the next PG (round-robin), written into
    /// `out` (cleared first; reuse it to avoid allocating). Returns the PG's index.
    pub fn next_io(&mut self, count: usize, out: &mut Vec<PlannedRecord>) -> usize {
        out.clear();
        let index = self.next_pg;
        self.next_pg = (self.next_pg + 1) % self.pgs.len();
        let slots = self.slots;
        let record_size = u64::from(self.record_size);
        let c = &mut self.pgs[index];
        let pages = c.page_last.len() as u64;
        for _ in 0..count {
            let lsn = Lsn::new(self.next_lsn);
            self.next_lsn += 1;
            let page_index = (c.records % pages) as usize;
            let slot = (c.records / pages) % slots;
            out.push(PlannedRecord {
                lsn,
                prev_lsn_pg: c.last_lsn,
                prev_lsn_page: c.page_last[page_index],
                page: PageId::new(c.first_page + page_index as u64),
                offset: (slot * record_size) as u32,
            });
            c.last_lsn = lsn;
            c.page_last[page_index] = lsn;
            c.records += 1;
        }
        index
    }

    /// The PGs, in order.
    pub fn pgs(&self) -> &[PgCursor] {
        &self.pgs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(pg: u32, first_page: u64, pages: usize) -> PgCursor {
        PgCursor {
            pg: PgId::new(pg),
            first_page,
            last_lsn: Lsn::ZERO,
            page_last: vec![Lsn::ZERO; pages],
            records: 0,
        }
    }

    #[test]
    fn lsns_increase_across_pgs_and_chains_link_per_pg_and_per_page() {
        let mut s = Sequencer::new(vec![cursor(0, 0, 3), cursor(1, 3, 3)], Lsn::ZERO, 100, 250);
        let mut out = Vec::new();
        let mut all = Vec::new();
        for _ in 0..6 {
            let pg = s.next_io(2, &mut out);
            all.extend(out.iter().map(|r| (pg, *r)));
        }
        let lsns: Vec<u64> = all.iter().map(|(_, r)| r.lsn.get()).collect();
        assert_eq!(lsns, (1..=12).collect::<Vec<_>>());
        // PG 0 got I/Os 0, 2, 4: LSNs 1,2, 5,6, 9,10.
        let pg0: Vec<&PlannedRecord> = all
            .iter()
            .filter(|(p, _)| *p == 0)
            .map(|(_, r)| r)
            .collect();
        let mut prev = Lsn::ZERO;
        for r in &pg0 {
            assert_eq!(r.prev_lsn_pg, prev);
            prev = r.lsn;
        }
        // Page 0 of PG 0: records 0 and 3 of the PG (LSNs 1 and 6), slot 0 then 1.
        assert_eq!(pg0[0].page, PageId::new(0));
        assert_eq!(pg0[3].page, PageId::new(0));
        assert_eq!(pg0[3].prev_lsn_page, Lsn::new(1));
        assert_eq!((pg0[0].offset, pg0[3].offset), (0, 100));
        // Two slots of 100 bytes fit 250: the third visit wraps to slot 0.
        assert_eq!(pg0[6 % pg0.len()].offset, 0);
        // PG 1 pages are 3..6.
        let pg1_pages: Vec<u64> = all
            .iter()
            .filter(|(p, _)| *p == 1)
            .map(|(_, r)| r.page.get())
            .collect();
        assert_eq!(pg1_pages, [3, 4, 5, 3, 4, 5]);
        for (_, r) in &all {
            assert!(r.prev_lsn_page <= r.prev_lsn_pg && r.prev_lsn_pg < r.lsn);
            assert!(r.offset + 100 <= 250);
        }
    }

    #[test]
    fn continues_recovered_chains() {
        let mut c = cursor(0, 0, 2);
        c.last_lsn = Lsn::new(40);
        c.page_last = vec![Lsn::new(39), Lsn::new(40)];
        let mut s = Sequencer::new(vec![c], Lsn::new(50), 8, 64);
        let mut out = Vec::new();
        s.next_io(2, &mut out);
        assert_eq!(out[0].lsn, Lsn::new(51));
        assert_eq!(out[0].prev_lsn_pg, Lsn::new(40));
        assert_eq!(out[0].prev_lsn_page, Lsn::new(39));
        assert_eq!(out[1].prev_lsn_pg, Lsn::new(51));
        assert_eq!(out[1].prev_lsn_page, Lsn::new(40));
    }
}
