//! Where a `boreal-cluster` job's I/Os land in the volume: which pages a write
//! transaction changes and where in them, and which page a read reads. Plain data, no
//! I/O, so it is unit-tested alone.
//!
//! The harness hands each I/O an offset in the job's region (sequential or random as
//! `rw` says). A write at offset `o` is one mini-transaction of `records_per_txn`
//! records; record `i` is the volume's record number `g = o / record_size + i`, and it
//! writes its `record_size` bytes (the `i`-th piece of the I/O's buffer) into page
//! `spread(g mod pages)` at slot `(g / pages) mod slots` of the page payload, so
//! consecutive records touch different pages and, page by page, every slot in turn.
//! A read at offset `o` of `bs` bytes reads page `spread((o / bs) mod pages)`.
//! `spread` deals the volume's pages out PG by PG (page `k` is in PG `k mod pgs`), so
//! consecutive records and reads go to every PG in turn.
//!
//! Invariants: every page is in the volume; a change never leaves the page payload.

use boreal_engine::hotlog::OwnedChange;
use boreal_netlog::quorum::PageChange;
use boreal_segment::PageId;

/// The payload slot record number `g` writes (see the module docs).
fn slot_of(g: u64, pages: u64, slots: u64) -> u64 {
    (g / pages) % slots
}

/// The volume's shape and the job's transaction shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeShape {
    /// Protection groups.
    pub pgs: u32,
    /// Pages per PG.
    pub pages_per_pg: u64,
    /// Bytes of a page's payload (what GetPage returns).
    pub payload_len: usize,
    /// Bytes each record changes; at most `payload_len`.
    pub record_size: usize,
    /// Records of each write transaction.
    pub records_per_txn: usize,
}

impl VolumeShape {
    /// Pages of the volume.
    pub fn pages(&self) -> u64 {
        u64::from(self.pgs) * self.pages_per_pg
    }

    /// The `k`-th page (`k < pages()`) in PG-by-PG order (see the module docs).
    pub fn spread(&self, k: u64) -> PageId {
        let pgs = u64::from(self.pgs);
        let pg = k % pgs;
        let index = (k / pgs) % self.pages_per_pg;
        PageId::new(pg * self.pages_per_pg + index)
    }

    /// The changes of the write transaction at `offset`: `records_per_txn` records cut
    /// from `buf` (which holds at least that many `record_size` pieces), into `out`.
    /// A change already in `out` is rewritten in place, its bytes copied into its own
    /// buffer, so a worker that keeps `out` between transactions allocates nothing per
    /// record (a client's redo lives in its own buffers; a box per record was a
    /// sixth of the job thread's CPU, in malloc and free); extra changes are dropped.
    pub fn txn(&self, offset: u64, buf: &[u8], out: &mut Vec<PageChange>) {
        let pages = self.pages();
        let slots = (self.payload_len / self.record_size).max(1) as u64;
        let first = offset / self.record_size as u64;
        let mut n = 0;
        for (i, bytes) in buf
            .chunks_exact(self.record_size)
            .take(self.records_per_txn)
            .enumerate()
        {
            let g = first + i as u64;
            let page = self.spread(g % pages);
            let at = (slot_of(g, pages, slots) * self.record_size as u64) as u32;
            match out.get_mut(i) {
                Some(PageChange {
                    page: p,
                    change: OwnedChange::Delta { offset, bytes: b },
                }) if b.len() == bytes.len() => {
                    *p = page;
                    *offset = at;
                    b.copy_from_slice(bytes);
                }
                _ => {
                    let c = PageChange {
                        page,
                        change: OwnedChange::Delta {
                            offset: at,
                            bytes: bytes.into(),
                        },
                    };
                    if i < out.len() {
                        out[i] = c;
                    } else {
                        out.push(c);
                    }
                }
            }
            n = i + 1;
        }
        out.truncate(n);
    }

    /// The page a read of `bs` bytes at `offset` reads.
    pub fn read_page(&self, offset: u64, bs: u64) -> PageId {
        self.spread((offset / bs.max(1)) % self.pages())
    }

    /// The transactions that give every page of the volume an image (a read job's
    /// layout, before timing): `records_per_txn` pages each, each page's payload
    /// `fill(page)`.
    pub fn fill_txns(&self, fill: impl Fn(PageId) -> Vec<u8>) -> Vec<Vec<PageChange>> {
        let pages: Vec<PageId> = (0..self.pages()).map(|k| self.spread(k)).collect();
        pages
            .chunks(self.records_per_txn.max(1))
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&page| PageChange {
                        page,
                        change: OwnedChange::Image(fill(page).into()),
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> VolumeShape {
        VolumeShape {
            pgs: 2,
            pages_per_pg: 3,
            payload_len: 250,
            record_size: 100,
            records_per_txn: 4,
        }
    }

    fn delta(c: &PageChange) -> (u64, u32, u8) {
        match &c.change {
            OwnedChange::Delta { offset, bytes } => (c.page.get(), *offset, bytes[0]),
            OwnedChange::Image(_) => panic!("a delta"),
        }
    }

    #[test]
    fn a_kept_transaction_is_rewritten_in_its_own_buffers() {
        let s = shape();
        let mut out = Vec::new();
        s.txn(0, &[7u8; 400], &mut out);
        let buffers: Vec<*const u8> = out
            .iter()
            .map(|c| match &c.change {
                OwnedChange::Delta { bytes, .. } => bytes.as_ptr(),
                OwnedChange::Image(_) => panic!("a delta"),
            })
            .collect();
        let buf: Vec<u8> = (0..4u8).flat_map(|i| [i + 10; 100]).collect();
        s.txn(400, &buf, &mut out);
        for (i, c) in out.iter().enumerate() {
            let OwnedChange::Delta { bytes, .. } = &c.change else {
                panic!("a delta")
            };
            assert_eq!(bytes.as_ptr(), buffers[i], "record {i} got a new buffer");
            assert!(
                bytes.iter().all(|&b| b == i as u8 + 10),
                "record {i}'s bytes"
            );
        }
        // A shorter buffer gives fewer records: the extra changes go.
        s.txn(800, &buf[..200], &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn pages_are_dealt_pg_by_pg_and_cover_the_volume() {
        let s = shape();
        let pages: Vec<u64> = (0..s.pages()).map(|k| s.spread(k).get()).collect();
        assert_eq!(pages, [0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn a_transaction_cuts_its_buffer_into_records_on_successive_pages() {
        let s = shape();
        let buf: Vec<u8> = (0..4u8).flat_map(|i| [i; 100]).collect();
        let mut out = Vec::new();
        s.txn(0, &buf, &mut out);
        let got: Vec<(u64, u32, u8)> = out.iter().map(delta).collect();
        assert_eq!(got, [(0, 0, 0), (3, 0, 1), (1, 0, 2), (4, 0, 3)]);
        // The next transaction (offset 400: records 4..8) wraps past the 6 pages into
        // the second slot (two 100-byte slots fit 250 bytes), then the third wraps to 0.
        s.txn(400, &buf, &mut out);
        let got: Vec<(u64, u32, u8)> = out.iter().map(delta).collect();
        assert_eq!(got, [(2, 0, 0), (5, 0, 1), (0, 100, 2), (3, 100, 3)]);
        s.txn(1200, &buf, &mut out);
        assert!(
            out.iter().all(|c| delta(c).1 == 0),
            "slot 2 of 2 wraps to 0"
        );
        for c in &out {
            assert!(c.page.get() < s.pages());
        }
    }

    #[test]
    fn reads_and_fills_stay_in_the_volume() {
        let s = shape();
        assert_eq!(s.read_page(0, 512).get(), 0);
        assert_eq!(s.read_page(512, 512).get(), 3);
        assert_eq!(s.read_page(6 * 512, 512).get(), 0, "wraps");
        let fills = s.fill_txns(|p| vec![p.get() as u8; 250]);
        assert_eq!(fills.len(), 2);
        let mut pages: Vec<u64> = fills.iter().flatten().map(|c| c.page.get()).collect();
        pages.sort_unstable();
        assert_eq!(pages, [0, 1, 2, 3, 4, 5]);
    }
}
