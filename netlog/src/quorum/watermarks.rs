//! The shim's watermarks as one sans-I/O state machine: SCLs in, PGCL, VCL and VDL out
//! (GLOSSARY.md has each definition; DESIGN.md §3 the protocol).
//!
//! What it owns: the last SCL each segment of each PG reported (six per PG), and the
//! records handed out but not yet below the VCL, in LSN order, each with its PG and
//! whether it ends a mini-transaction (CPL). What it guarantees, checked by the
//! property test against a brute-force model over random acknowledgement orders:
//! - PGCL(pg) is the 4th highest SCL of the PG's six segments (the highest LSN on a
//!   write quorum);
//! - VCL is the highest LSN `L` such that every record with LSN ≤ `L` is at or below
//!   its PG's PGCL; records are known to the tracker in LSN order (the shim hands LSNs
//!   out in order, and LSNs are dense: one per record), so VCL is the end of the
//!   prefix of outstanding records whose PGs have caught up;
//! - VDL is the highest CPL at or below VCL, and never moves backwards: an SCL report
//!   lower than one seen before from the same segment is ignored (a segment's SCL only
//!   drops by a truncation, which volume recovery accounts for by starting a new
//!   tracker at the recovered VDL).
//!
//! It never reads a clock or does I/O; it panics only on the shim's own bugs (a
//! record handed in out of LSN order, an unknown segment index).

use std::collections::VecDeque;

use boreal_segment::{Lsn, PgId};

/// Segments per PG.
pub const SEGMENTS: usize = 6;
/// Segments whose SCL a record must be below for the PG to count it durable.
pub const WRITE_QUORUM: usize = 4;
/// Segments a recovering shim must hear from to see every durable record.
pub const READ_QUORUM: usize = 3;

const _: () = assert!(WRITE_QUORUM + READ_QUORUM > SEGMENTS);
const _: () = assert!(2 * WRITE_QUORUM > SEGMENTS);

/// One outstanding record: handed out, not yet at or below the VCL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Outstanding {
    lsn: Lsn,
    pg: u32,
    cpl: bool,
}

/// The watermarks of a volume. See the module docs.
#[derive(Debug, Clone)]
pub struct Watermarks {
    /// `scl[pg][segment]`: the highest SCL that segment reported.
    scl: Vec<[Lsn; SEGMENTS]>,
    pgcl: Vec<Lsn>,
    outstanding: VecDeque<Outstanding>,
    /// The highest LSN handed in so far.
    last: Lsn,
    vcl: Lsn,
    vdl: Lsn,
    /// Per PG, its last record at or below the VDL: where a read of the PG at the VDL
    /// reads (its segments cannot tell that no record of theirs lies between it and
    /// the VDL, and refuse a read above their SCL).
    read_point: Vec<Lsn>,
    /// Records passed by the VCL since the last CPL, not yet below the VDL.
    passed: Vec<(u32, Lsn)>,
    /// Segments whose SCL a record must be below ([`WRITE_QUORUM`] unless mutated).
    quorum: usize,
    /// The VDL stops at CPL records (true unless mutated).
    cpl_rule: bool,
}

impl Watermarks {
    /// A volume of `pgs` PGs whose VCL and VDL are `start` (a fresh volume: zero; after
    /// volume recovery: the recovered VDL, every segment then at or above it), each PG's
    /// last record at or below it being `pg_last`.
    pub fn new(pgs: usize, start: Lsn, pg_last: &[Lsn]) -> Watermarks {
        assert_eq!(pg_last.len(), pgs, "one last record per PG");
        Watermarks {
            scl: vec![[start; SEGMENTS]; pgs],
            pgcl: vec![start; pgs],
            outstanding: VecDeque::new(),
            last: start,
            vcl: start,
            vdl: start,
            read_point: pg_last.to_vec(),
            passed: Vec::new(),
            quorum: WRITE_QUORUM,
            cpl_rule: true,
        }
    }

    /// Breaks the rules `m` names (the cluster simulation's broken variants).
    #[doc(hidden)]
    pub fn mutate(&mut self, m: &super::Mutations) {
        self.quorum = m.write_quorum();
        self.cpl_rule = !m.vdl_without_cpl;
    }

    /// Where a read of `pg` at the VDL reads: the PG's last record at or below the VDL.
    pub fn read_point(&self, pg: PgId) -> Lsn {
        self.read_point[pg.get() as usize]
    }

    pub fn vcl(&self) -> Lsn {
        self.vcl
    }

    pub fn vdl(&self) -> Lsn {
        self.vdl
    }

    /// The highest LSN handed in.
    pub fn last(&self) -> Lsn {
        self.last
    }

    pub fn pgcl(&self, pg: PgId) -> Lsn {
        self.pgcl[pg.get() as usize]
    }

    /// The last SCL segment `segment` of `pg` reported.
    pub fn scl(&self, pg: PgId, segment: usize) -> Lsn {
        self.scl[pg.get() as usize][segment]
    }

    /// Records handed out and not yet at or below the VCL.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// The segments `(pg, segment)` that last reported an SCL below their PG's newest
    /// outstanding record: those whose acknowledgement the VCL may be waiting for.
    pub fn behind(&self) -> Vec<(PgId, usize)> {
        let mut newest: Vec<Option<Lsn>> = vec![None; self.scl.len()];
        for o in &self.outstanding {
            newest[o.pg as usize] = Some(o.lsn);
        }
        let mut out = Vec::new();
        for (pg, n) in newest.iter().enumerate() {
            let Some(n) = n else { continue };
            for (seg, &scl) in self.scl[pg].iter().enumerate() {
                if scl < *n {
                    out.push((PgId::new(pg as u32), seg));
                }
            }
        }
        out
    }

    /// A record of `pg` was handed out at `lsn` (`cpl`: it ends its mini-transaction).
    /// LSNs come in increasing order.
    pub fn record(&mut self, lsn: Lsn, pg: PgId, cpl: bool) {
        assert!(
            lsn > self.last,
            "records are handed in in LSN order: {lsn} after {}",
            self.last
        );
        assert!((pg.get() as usize) < self.scl.len(), "no such PG {pg}");
        self.last = lsn;
        self.outstanding.push_back(Outstanding {
            lsn,
            pg: pg.get(),
            cpl,
        });
        // A PG that reported a higher SCL already (a duplicate, or a record that raced
        // its ack) may let the VCL move at once.
        self.advance();
    }

    /// Segment `segment` of `pg` reported `scl`. Returns the new VDL if it moved.
    pub fn ack(&mut self, pg: PgId, segment: usize, scl: Lsn) -> Option<Lsn> {
        let row = &mut self.scl[pg.get() as usize];
        if scl <= row[segment] {
            return None;
        }
        row[segment] = scl;
        let mut sorted = *row;
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let pgcl = sorted[self.quorum - 1];
        let slot = &mut self.pgcl[pg.get() as usize];
        if pgcl <= *slot {
            return None;
        }
        *slot = pgcl;
        let before = self.vdl;
        self.advance();
        (self.vdl > before).then_some(self.vdl)
    }

    /// Moves the VCL over the outstanding records whose PGs caught up, and the VDL to
    /// the last CPL passed.
    fn advance(&mut self) {
        while let Some(front) = self.outstanding.front() {
            if front.lsn > self.pgcl[front.pg as usize] {
                break;
            }
            self.vcl = front.lsn;
            self.passed.push((front.pg, front.lsn));
            if front.cpl || !self.cpl_rule {
                self.vdl = front.lsn;
                for (pg, lsn) in self.passed.drain(..) {
                    self.read_point[pg as usize] = lsn;
                }
            }
            self.outstanding.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The definitions, computed the slow way from everything that happened.
    fn model(records: &[(u64, u32, bool)], scl: &[[u64; SEGMENTS]]) -> (Vec<u64>, u64, u64) {
        let pgcl: Vec<u64> = scl
            .iter()
            .map(|row| {
                let mut s = *row;
                s.sort_unstable_by(|a, b| b.cmp(a));
                s[WRITE_QUORUM - 1]
            })
            .collect();
        let mut vcl = 0;
        for &(lsn, pg, _) in records {
            if lsn <= pgcl[pg as usize] {
                vcl = lsn;
            } else {
                break;
            }
        }
        let vdl = records
            .iter()
            .filter(|&&(lsn, _, cpl)| cpl && lsn <= vcl)
            .map(|&(lsn, _, _)| lsn)
            .max()
            .unwrap_or(0);
        (pgcl, vcl, vdl)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Against the model, over random records (dense LSNs, random PGs and CPLs) and
        /// random acknowledgement orders, where each segment's SCL only rises along its
        /// PG's chain: PGCL, VCL and VDL match the definitions at every step, and VDL
        /// never moves backwards.
        #[test]
        fn watermarks_match_the_definitions(
            pgs in 1usize..4,
            kinds in prop::collection::vec((0u32..4, prop::bool::weighted(0.3)), 1..60),
            acks in prop::collection::vec((0usize..4, 0usize..SEGMENTS, 0usize..60), 0..200),
        ) {
            let records: Vec<(u64, u32, bool)> = kinds
                .iter()
                .enumerate()
                .map(|(i, &(pg, cpl))| (i as u64 + 1, pg % pgs as u32, cpl))
                .collect();
            let mut w = Watermarks::new(pgs, Lsn::ZERO, &vec![Lsn::ZERO; pgs]);
            let mut scl = vec![[0u64; SEGMENTS]; pgs];
            // Records are handed in first, half of them before any ack, the rest
            // interleaved with the acks.
            let split = records.len() / 2;
            for &(lsn, pg, cpl) in &records[..split] {
                w.record(Lsn::new(lsn), PgId::new(pg), cpl);
            }
            let mut handed = split;
            let mut last_vdl = 0;
            for (k, &(pg, seg, upto)) in acks.iter().enumerate() {
                if handed < records.len() && k % 3 == 0 {
                    let (lsn, pg, cpl) = records[handed];
                    w.record(Lsn::new(lsn), PgId::new(pg), cpl);
                    handed += 1;
                }
                let pg = pg % pgs;
                // The segment's SCL can reach any record of its PG handed out so far.
                let chain: Vec<u64> = records[..handed]
                    .iter()
                    .filter(|r| r.1 as usize == pg)
                    .map(|r| r.0)
                    .collect();
                if chain.is_empty() {
                    continue;
                }
                let target = chain[upto % chain.len()];
                w.ack(PgId::new(pg as u32), seg, Lsn::new(target));
                scl[pg][seg] = scl[pg][seg].max(target);
                let (pgcl, vcl, vdl) = model(&records[..handed], &scl);
                for (p, &c) in pgcl.iter().enumerate() {
                    prop_assert_eq!(w.pgcl(PgId::new(p as u32)).get(), c);
                }
                prop_assert_eq!(w.vcl().get(), vcl);
                prop_assert_eq!(w.vdl().get(), vdl);
                for p in 0..pgs {
                    let rp = records[..handed]
                        .iter()
                        .filter(|r| r.1 as usize == p && r.0 <= vdl)
                        .map(|r| r.0)
                        .max()
                        .unwrap_or(0);
                    prop_assert_eq!(w.read_point(PgId::new(p as u32)).get(), rp);
                }
                prop_assert!(vdl >= last_vdl, "VDL went back");
                last_vdl = vdl;
            }
        }
    }

    #[test]
    fn the_glossary_example() {
        // PG 0 only; SCLs 120, 118, 118, 110, 95, 60: PGCL 110; CPLs at 100 and 108.
        let mut w = Watermarks::new(1, Lsn::ZERO, &[Lsn::ZERO]);
        for lsn in [60, 95, 100, 108, 110, 112, 118, 120] {
            w.record(Lsn::new(lsn), PgId::new(0), matches!(lsn, 100 | 108 | 112));
        }
        for (seg, scl) in [120, 118, 118, 110, 95, 60].into_iter().enumerate() {
            w.ack(PgId::new(0), seg, Lsn::new(scl));
        }
        assert_eq!(w.pgcl(PgId::new(0)), Lsn::new(110));
        assert_eq!(w.vcl(), Lsn::new(110));
        assert_eq!(w.vdl(), Lsn::new(108));
        // A lower report from a segment is ignored.
        assert_eq!(w.ack(PgId::new(0), 0, Lsn::new(60)), None);
        assert_eq!(w.vdl(), Lsn::new(108));
    }
}
