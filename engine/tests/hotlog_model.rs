//! Property test: the hot log's SCL, holes, duplicate handling, truncation and floor
//! agree with a naive model that knows the PG's true record chain.
//!
//! The model holds the chain the writer produced (LSNs with backlinks to the previous
//! one), which records were delivered, the floor and at most one truncation. Its SCL is
//! the longest delivered prefix of the true chain above the floor; its holes are the
//! undelivered predecessors of delivered records above the SCL. After every operation
//! the hot log must agree with it exactly and keep its own invariants.

use std::collections::BTreeSet;

use boreal_engine::hotlog::{Arrival, HotLog, HotLogError, LsnRange, TruncateOutcome};
use boreal_segment::{Change, Epoch, Lsn, PageId, PgId, Redo};
use proptest::prelude::*;

const PG: PgId = PgId::new(3);

#[derive(Clone, Debug)]
enum Op {
    Deliver(usize),
    Corrupt(usize),
    Materialize(u64),
    Truncate { cut: usize, new_records: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => any::<usize>().prop_map(Op::Deliver),
        1 => any::<usize>().prop_map(Op::Corrupt),
        2 => (0u64..200).prop_map(Op::Materialize),
        1 => (any::<usize>(), 1usize..8).prop_map(|(cut, new_records)| Op::Truncate { cut, new_records }),
    ]
}

struct Model {
    /// Every record ever generated: (lsn, prev_lsn_pg, page).
    universe: Vec<(u64, u64, u64)>,
    /// The true chain now (LSNs in order).
    chain: Vec<u64>,
    delivered: BTreeSet<u64>,
    floor: u64,
    truncation: Option<(u64, u64)>,
}

impl Model {
    fn scl(&self) -> u64 {
        let mut scl = self.floor;
        for &l in self.chain.iter().filter(|&&l| l > self.floor) {
            if !self.delivered.contains(&l) {
                break;
            }
            scl = l;
        }
        scl
    }

    fn prev_of(&self, lsn: u64) -> u64 {
        self.universe
            .iter()
            .find(|r| r.0 == lsn)
            .map(|r| r.1)
            .unwrap_or(0)
    }

    fn holes(&self) -> Vec<(u64, u64)> {
        let scl = self.scl();
        let mut out = BTreeSet::new();
        for &l in self.delivered.iter().filter(|&&l| l > scl) {
            let p = self.prev_of(l);
            if p > scl && !self.delivered.contains(&p) {
                let below = self
                    .delivered
                    .range(scl + 1..p)
                    .next_back()
                    .copied()
                    .unwrap_or(scl);
                out.insert((below, p));
            }
        }
        out.into_iter().collect()
    }

    fn truncated(&self, lsn: u64) -> bool {
        self.truncation.is_some_and(|(a, b)| a < lsn && lsn <= b)
    }
}

fn redo(rec: (u64, u64, u64), body: &[u8]) -> Redo<'_> {
    Redo {
        lsn: Lsn::new(rec.0),
        prev_lsn_pg: Lsn::new(rec.1),
        prev_lsn_page: Lsn::ZERO,
        pg_id: PG,
        page_id: PageId::new(rec.2),
        cpl: false,
        change: Change::Delta {
            offset: 0,
            bytes: body,
        },
    }
}

fn run(gaps: Vec<u64>, ops: Vec<Op>) {
    let mut universe = Vec::new();
    let mut l = 0u64;
    for (i, g) in gaps.iter().enumerate() {
        let prev = l;
        l += g;
        universe.push((l, prev, i as u64 % 3));
    }
    let mut m = Model {
        chain: universe.iter().map(|r| r.0).collect(),
        universe,
        delivered: BTreeSet::new(),
        floor: 0,
        truncation: None,
    };
    let mut h = HotLog::new(PG, Lsn::ZERO);
    for op in ops {
        match op {
            Op::Deliver(i) => {
                let rec = m.universe[i % m.universe.len()];
                let got = h.insert(&redo(rec, b"ok"));
                let expected = if rec.0 <= m.floor {
                    Ok(Arrival::AlreadyMaterialized)
                } else if m.truncated(rec.0) {
                    Err("truncated")
                } else if m.delivered.contains(&rec.0) {
                    Ok(Arrival::Duplicate)
                } else {
                    Ok(Arrival::Accepted)
                };
                match (&got, expected) {
                    (Err(HotLogError::Truncated { .. }), Err("truncated")) => {}
                    (Ok(a), Ok(b)) => assert_eq!(*a, b, "deliver {rec:?}"),
                    (got, want) => panic!("deliver {rec:?}: got {got:?}, want {want:?}"),
                }
                if got == Ok(Arrival::Accepted) {
                    m.delivered.insert(rec.0);
                }
            }
            Op::Corrupt(i) => {
                let held: Vec<u64> = m
                    .delivered
                    .iter()
                    .copied()
                    .filter(|&l| l > m.floor)
                    .collect();
                if held.is_empty() {
                    continue;
                }
                let lsn = held[i % held.len()];
                let rec = *m.universe.iter().find(|r| r.0 == lsn).unwrap();
                assert!(matches!(
                    h.insert(&redo(rec, b"bad")),
                    Err(HotLogError::Conflict { .. })
                ));
            }
            Op::Materialize(x) => {
                let scl = m.scl();
                let want = m
                    .chain
                    .iter()
                    .copied()
                    .filter(|&l| l > m.floor && l <= x.min(scl))
                    .max()
                    .unwrap_or(m.floor);
                assert_eq!(h.chain_point_at_or_below(Lsn::new(x)), Lsn::new(want));
                h.advance_floor(Lsn::new(want));
                m.floor = want;
                m.delivered.retain(|&l| l > want);
            }
            Op::Truncate { cut, new_records } => {
                if m.truncation.is_some() {
                    continue;
                }
                let old_top = *m.chain.last().unwrap();
                let keep = cut % (m.chain.len() + 1);
                let start = if keep == 0 { 0 } else { m.chain[keep - 1] };
                let end = old_top + 5;
                let got = h.truncate(Epoch::new(1), LsnRange::new(Lsn::new(start), Lsn::new(end)));
                if start < m.floor {
                    assert!(
                        matches!(got, Err(HotLogError::BelowMaterialized { .. })),
                        "{got:?}"
                    );
                    continue;
                }
                let annulled = m
                    .delivered
                    .iter()
                    .filter(|&&l| start < l && l <= end)
                    .count();
                assert_eq!(got, Ok(TruncateOutcome::Applied { annulled }));
                m.truncation = Some((start, end));
                m.delivered.retain(|&l| !(start < l && l <= end));
                m.chain.truncate(keep);
                let mut prev = start;
                for k in 0..new_records {
                    let lsn = end + 1 + 2 * k as u64;
                    m.universe.push((lsn, prev, k as u64 % 3));
                    m.chain.push(lsn);
                    prev = lsn;
                }
            }
        }
        h.check_invariants();
        assert_eq!(h.scl(), Lsn::new(m.scl()), "scl");
        assert_eq!(h.floor(), Lsn::new(m.floor));
        let holes: Vec<(u64, u64)> = h
            .holes(usize::MAX)
            .iter()
            .map(|h| (h.range.start.get(), h.range.end.get()))
            .collect();
        assert_eq!(holes, m.holes(), "holes");
        assert_eq!(h.len(), m.delivered.len(), "held records");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hot_log_matches_the_chain_model(
        gaps in prop::collection::vec(1u64..4, 1..40),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        run(gaps, ops);
    }
}
