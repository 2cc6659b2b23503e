//! Volume recovery's decision, sans-I/O: from what a write quorum of every PG's
//! segments hold, the new VCL and VDL, and the truncation that annuls everything
//! above. No redo is replayed: the decision only reads LSNs, backlinks and CPL flags.
//!
//! The inputs, gathered by the driver after it fenced every PG with the new epoch on a
//! write quorum (so no older shim can append any more): for each PG, for each segment
//! that acknowledged the fence, its materialized LSN (`floor`), its SCL, the
//! truncations it holds, and every record it holds above the base `B` (below).
//!
//! Why it is right (each step a test below, and the property test over random
//! histories):
//! 1. **Base.** A node materializes only up to its PG's min read point, and the shim
//!    never sets a read point above the VDL. So every segment's floor is at or below
//!    some VDL the old shim reached, and every LSN at or below `B` = the highest floor
//!    of any responder is committed: complete, and kept.
//! 2. **Coverage.** The shim hands out one LSN per record, densely, so every LSN above
//!    `B` is either a record of exactly one PG, or inside a truncation range (an earlier
//!    recovery's: never used). A record of PG `p` above `B` is *covered* when the union
//!    of `p`'s responders holds `p`'s whole backlink chain from `B` up to it. A record
//!    that was durable on a write quorum (4 of 6) is held by at least one of any 4
//!    responders (4 + 4 > 6), and so is every record below it in its PG if it
//!    committed. So every committed record is covered. A record inside a truncation
//!    range any responder holds is annulled and never counts, even where a segment
//!    that missed that truncation still holds it (its backlink may be the very one
//!    the next shim's first record of the PG has: counting it would fork the chain
//!    and cut the next shim's commits).
//! 3. **VCL.** The new VCL is the end of the prefix of LSNs above `B` that are covered
//!    or truncated: the first LSN that is neither may be a record no responder holds
//!    whole, and nothing at or above it may be kept. It is at least the old VDL (every
//!    LSN at or below the old VDL is committed).
//! 4. **VDL.** The highest CPL record at or below the new VCL, or `B` if there is none
//!    (then the old VDL was `B` itself, a CPL). Mini-transactions get contiguous LSNs,
//!    so a CPL is a boundary between whole mini-transactions.
//! 5. **Truncation.** `(VDL, T + LAL]` is annulled on every PG under the new epoch,
//!    where `T` is the higher of the VDL and the end of the latest earlier truncation
//!    any responder holds: a shim hands out no LSN above max(its VDL, the end of the
//!    truncation it resumed after) + LAL (`alloc.rs`), and the old VDL is at most the
//!    new one. Records above the new VDL are covered-but-incomplete mini-transactions
//!    or never durable on a quorum: none was committed. The next shim allocates above
//!    `T + LAL`. The earlier truncations that end above the base are written again
//!    under the new epoch ([`Decision::earlier`]), before the new one: a segment that
//!    missed one still holds what it annulled, and once fenced by the new epoch it
//!    can no longer take a truncation of an older one.

use std::collections::{BTreeMap, BTreeSet};

use boreal_segment::{Epoch, Lsn, PgId};

use super::mutations::Mutations;
use super::watermarks::WRITE_QUORUM;

/// A record as recovery sees it: where it is in its PG's chain, and whether it ends a
/// mini-transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMark {
    pub lsn: Lsn,
    pub prev_lsn_pg: Lsn,
    pub cpl: bool,
}

/// What one segment that acknowledged the fence holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentView {
    /// Its materialized LSN.
    pub floor: Lsn,
    pub scl: Lsn,
    /// Truncation ranges `(start, end]` it holds, with their epochs.
    pub truncations: Vec<(Epoch, Lsn, Lsn)>,
    /// Every record it holds above the base, any order.
    pub records: Vec<RecordMark>,
}

/// The responders of one PG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgView {
    pub pg: PgId,
    pub segments: Vec<SegmentView>,
}

/// Why recovery cannot decide.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    #[error(
        "{pg}: {got} segments answered, a write quorum is {WRITE_QUORUM}: the volume cannot be recovered until more of them are reachable"
    )]
    NoQuorum { pg: PgId, got: usize },
    #[error(
        "{pg}: two records at {lsn} with different backlinks ({a} and {b}): a segment holds another writer's record"
    )]
    Conflict { pg: PgId, lsn: Lsn, a: Lsn, b: Lsn },
    #[error(
        "no responder holds {missing}, below {decided}, the VDL an earlier recovery kept: recovering now would take the VDL back and lose commits; the volume cannot be recovered until the segments that hold it are reachable"
    )]
    BelowEarlierVdl { missing: Lsn, decided: Lsn },
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Every LSN at or below it is committed (the highest responder floor).
    pub base: Lsn,
    pub vcl: Lsn,
    pub vdl: Lsn,
    /// The end of the truncation range `(vdl, truncate_end]`; the next LSN handed out
    /// is above it, and the allocation limit counts from it until the VDL passes it.
    pub truncate_end: Lsn,
    /// Per PG (input order): its last record at or below the VDL when it has one
    /// above the base (else `None`: its segments' SCLs after the truncation say it).
    pub last_above_base: Vec<Option<Lsn>>,
    /// The earlier truncations `(start, end]` some responder holds that end above the
    /// base, sorted: written again under the new epoch before the new range.
    pub earlier: Vec<(Lsn, Lsn)>,
}

/// The highest floor of any responder: every LSN at or below it is committed.
pub fn base(pgs: &[PgView]) -> Lsn {
    pgs.iter()
        .flat_map(|p| p.segments.iter().map(|s| s.floor))
        .max()
        .unwrap_or(Lsn::ZERO)
}

/// The truncation ranges `(start, end]` any responder of any PG holds that end above
/// `b`, sorted.
fn truncated_above(pgs: &[PgView], b: Lsn) -> Vec<(Lsn, Lsn)> {
    let mut out: Vec<(Lsn, Lsn)> = pgs
        .iter()
        .flat_map(|p| &p.segments)
        .flat_map(|s| &s.truncations)
        .filter(|t| t.2 > b)
        .map(|t| (t.1, t.2))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Decides the new VCL, VDL and truncation (see the module docs). `lal` is the LSN
/// allocation limit the old shim ran with (and the new one will).
pub fn decide(pgs: &[PgView], lal: u64) -> Result<Decision, RecoveryError> {
    decide_mutated(pgs, lal, &Mutations::NONE)
}

/// [`decide`] with the rules `m` names broken (the cluster simulation's broken
/// variants).
#[doc(hidden)]
pub fn decide_mutated(pgs: &[PgView], lal: u64, m: &Mutations) -> Result<Decision, RecoveryError> {
    for p in pgs {
        if p.segments.len() < m.write_quorum() {
            return Err(RecoveryError::NoQuorum {
                pg: p.pg,
                got: p.segments.len(),
            });
        }
    }
    let b = base(pgs);
    // LSNs above the base that are fine to pass: covered records, and LSNs inside a
    // truncation range some responder holds.
    let mut covered: BTreeSet<Lsn> = BTreeSet::new();
    let truncated = truncated_above(pgs, b);
    let annulled = |l: Lsn| truncated.iter().any(|&(s, e)| s < l && l <= e);
    let mut cpl: BTreeSet<Lsn> = BTreeSet::new();
    let mut chains: Vec<Vec<Lsn>> = Vec::with_capacity(pgs.len());
    for p in pgs {
        let mut by_lsn: BTreeMap<Lsn, RecordMark> = BTreeMap::new();
        for s in &p.segments {
            // A record inside a truncation some responder holds is annulled: a
            // segment that missed that truncation may still hold it (and it may share
            // its backlink with the next shim's first record of the PG).
            for r in s.records.iter().filter(|r| r.lsn > b && !annulled(r.lsn)) {
                match by_lsn.get(&r.lsn) {
                    Some(held) if held.prev_lsn_pg != r.prev_lsn_pg => {
                        return Err(RecoveryError::Conflict {
                            pg: p.pg,
                            lsn: r.lsn,
                            a: held.prev_lsn_pg,
                            b: r.prev_lsn_pg,
                        });
                    }
                    _ => {
                        by_lsn.insert(r.lsn, *r);
                    }
                }
            }
        }
        // The chain above the base: from the record whose backlink is at or below it
        // (the PG's first record above the base), then successor by successor.
        let mut next_of: BTreeMap<Lsn, Lsn> = BTreeMap::new();
        let mut start = None;
        for r in by_lsn.values() {
            if r.prev_lsn_pg <= b {
                start = Some(start.map_or(r.lsn, |s: Lsn| s.min(r.lsn)));
            } else {
                next_of.entry(r.prev_lsn_pg).or_insert(r.lsn);
            }
        }
        let mut chain = Vec::new();
        let mut at = start;
        while let Some(l) = at {
            chain.push(l);
            covered.insert(l);
            if by_lsn[&l].cpl {
                cpl.insert(l);
            }
            at = next_of.get(&l).copied();
        }
        chains.push(chain);
    }
    // The first LSN above the base that is neither covered nor truncated.
    let mut u = b.get() + 1;
    let mut ti = 0;
    loop {
        let l = Lsn::new(u);
        while ti < truncated.len() && truncated[ti].1 < l {
            ti += 1;
        }
        if let Some(&(s, e)) = truncated.get(ti)
            && s < l
            && l <= e
        {
            u = e.get() + 1;
            continue;
        }
        if covered.contains(&l) {
            u += 1;
            continue;
        }
        break;
    }
    let vcl = Lsn::new(u - 1);
    let vdl = if m.vdl_without_cpl {
        vcl.max(b)
    } else {
        cpl.range(..=vcl).next_back().copied().unwrap_or(b).max(b)
    };
    // A truncation's start is the VDL of the recovery that wrote it: everything at or
    // below it was decided committed. If the responders miss a record below it (it
    // may be on fewer segments than a write quorum: that recovery kept what a single
    // responder held), deciding now would take the VDL back.
    if let Some(decided) = truncated.iter().map(|t| t.0).max()
        && vdl < decided
    {
        return Err(RecoveryError::BelowEarlierVdl {
            missing: Lsn::new(u),
            decided,
        });
    }
    let resumed_after = truncated.iter().map(|t| t.1).max().unwrap_or(Lsn::ZERO);
    let last_above_base = chains
        .iter()
        .map(|c| c.iter().rev().find(|&&l| l <= vdl).copied())
        .collect();
    Ok(Decision {
        base: b,
        vcl,
        vdl,
        truncate_end: Lsn::new(vdl.max(resumed_after).get().saturating_add(lal)),
        last_above_base,
        earlier: truncated,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::quorum::watermarks::{SEGMENTS, Watermarks};

    fn mark(lsn: u64, prev: u64, cpl: bool) -> RecordMark {
        RecordMark {
            lsn: Lsn::new(lsn),
            prev_lsn_pg: Lsn::new(prev),
            cpl,
        }
    }

    fn seg(floor: u64, records: Vec<RecordMark>) -> SegmentView {
        SegmentView {
            floor: Lsn::new(floor),
            scl: Lsn::ZERO,
            truncations: Vec::new(),
            records,
        }
    }

    #[test]
    fn a_record_no_responder_holds_whole_ends_the_vcl() {
        // PG 0: 1, 2(cpl), 4(cpl); PG 1: 3 (cpl) held by nobody, 5(cpl).
        let p0 = PgView {
            pg: PgId::new(0),
            segments: vec![
                seg(
                    0,
                    vec![mark(1, 0, false), mark(2, 1, true), mark(4, 2, true)]
                );
                4
            ],
        };
        let p1 = PgView {
            pg: PgId::new(1),
            segments: vec![seg(0, vec![mark(5, 3, true)]); 4],
        };
        let d = decide(&[p0, p1], 100).unwrap();
        assert_eq!((d.vcl, d.vdl), (Lsn::new(2), Lsn::new(2)));
        assert_eq!(d.truncate_end, Lsn::new(102));
        assert_eq!(d.last_above_base, vec![Some(Lsn::new(2)), None]);
    }

    #[test]
    fn the_union_of_responders_completes_a_chain() {
        // PG 0's record 1 is on segments 0..2 only, 2 on 2..4: no one segment holds
        // both, the union does.
        let mut segs = Vec::new();
        for s in 0..4 {
            let mut r = Vec::new();
            if s < 2 {
                r.push(mark(1, 0, false));
            }
            if s >= 2 {
                r.push(mark(2, 1, true));
            }
            segs.push(seg(0, r));
        }
        let d = decide(
            &[PgView {
                pg: PgId::new(0),
                segments: segs,
            }],
            10,
        )
        .unwrap();
        assert_eq!((d.vcl, d.vdl), (Lsn::new(2), Lsn::new(2)));
    }

    #[test]
    fn an_earlier_truncation_is_no_gap() {
        // A first recovery truncated (2, 12]; the second shim wrote 13, 14 (cpl).
        let mut s = seg(
            0,
            vec![
                mark(1, 0, false),
                mark(2, 1, true),
                mark(13, 2, false),
                mark(14, 13, true),
            ],
        );
        s.truncations
            .push((Epoch::new(1), Lsn::new(2), Lsn::new(12)));
        let d = decide(
            &[PgView {
                pg: PgId::new(0),
                segments: vec![s; 4],
            }],
            10,
        )
        .unwrap();
        assert_eq!((d.vcl, d.vdl), (Lsn::new(14), Lsn::new(14)));
    }

    #[test]
    fn records_a_segment_kept_inside_an_earlier_truncation_are_not_the_chain() {
        // A first recovery truncated (2, 12]; one segment was unreachable then and
        // still holds 3, an uncommitted record of the first shim, whose backlink (2) is
        // the same as the second shim's first record 13. The chain goes 2 -> 13 -> 14:
        // 3 is annulled, and 13 and 14 were committed.
        let mut old = seg(
            0,
            vec![
                mark(1, 0, false),
                mark(2, 1, true),
                mark(3, 2, true),
                mark(13, 2, false),
                mark(14, 13, true),
            ],
        );
        old.truncations.clear();
        let mut fine = seg(
            0,
            vec![
                mark(1, 0, false),
                mark(2, 1, true),
                mark(13, 2, false),
                mark(14, 13, true),
            ],
        );
        fine.truncations
            .push((Epoch::new(1), Lsn::new(2), Lsn::new(12)));
        let d = decide(
            &[PgView {
                pg: PgId::new(0),
                segments: vec![old, fine.clone(), fine.clone(), fine],
            }],
            10,
        )
        .unwrap();
        assert_eq!((d.vcl, d.vdl), (Lsn::new(14), Lsn::new(14)), "{d:?}");
        assert_eq!(d.last_above_base, vec![Some(Lsn::new(14))]);
    }

    #[test]
    fn responders_missing_records_below_an_earlier_recoverys_vdl_are_refused() {
        // A first recovery kept 1..=4 (VDL 4, truncation (4, 14]) from what one
        // responder held; the responders of the second one hold 1 and 2 only, and
        // the truncation. Deciding VDL 2 would lose the commit of 3 and 4.
        let mut s = seg(0, vec![mark(1, 0, false), mark(2, 1, true)]);
        s.truncations
            .push((Epoch::new(2), Lsn::new(4), Lsn::new(14)));
        let e = decide(
            &[PgView {
                pg: PgId::new(0),
                segments: vec![s.clone(), s.clone(), s.clone(), s],
            }],
            10,
        )
        .unwrap_err();
        assert_eq!(
            e,
            RecoveryError::BelowEarlierVdl {
                missing: Lsn::new(3),
                decided: Lsn::new(4)
            }
        );
    }

    #[test]
    fn fewer_than_a_write_quorum_is_refused() {
        let e = decide(
            &[PgView {
                pg: PgId::new(3),
                segments: vec![seg(0, vec![]); 3],
            }],
            10,
        )
        .unwrap_err();
        assert_eq!(
            e,
            RecoveryError::NoQuorum {
                pg: PgId::new(3),
                got: 3
            }
        );
    }

    /// PGs, mini-transactions (first PG, length, segment draw), floor draws,
    /// responders per PG, and a read-point draw.
    type History = (usize, Vec<(u32, u8, u64)>, Vec<u64>, Vec<Vec<usize>>, u64);

    /// A random history: mini-transactions of 1..=3 records with contiguous LSNs over
    /// `pgs` PGs, each record written to a random subset of the six segments (in LSN
    /// order per segment, so a segment's chain may have holes), the old shim's VDL as
    /// its watermarks computed it from every segment's SCL, floors at or below both
    /// the segment's SCL and the VDL, and random responders (4..=6 per PG).
    fn history() -> impl Strategy<Value = History> {
        (1usize..4).prop_flat_map(|pgs| {
            (
                Just(pgs),
                // (pg, mtr length, 6-bit segment mask) per mini-transaction
                prop::collection::vec((0u32..4, 1u8..=3, 0u64..100_000), 1..25),
                prop::collection::vec(0u64..1000, SEGMENTS * 4),
                prop::collection::vec(
                    prop::sample::subsequence((0..SEGMENTS).collect::<Vec<_>>(), 4..=SEGMENTS),
                    4,
                ),
                0u64..1000,
            )
        })
    }

    /// The segments a record reaches, from a draw: usually most of them (a write
    /// quorum or more), sometimes only a few (a shim that crashed mid-send).
    fn segments_of(draw: u64) -> u64 {
        let missing = match draw % 10 {
            0..=3 => 0,
            4..=6 => 1,
            7..=8 => 2,
            _ => 3 + (draw / 10) % 3,
        };
        let mut mask = 0x3Fu64;
        let mut x = draw / 40;
        for _ in 0..missing {
            mask &= !(1 << (x % SEGMENTS as u64));
            x = x / 6 + 7;
        }
        mask
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn recovery_keeps_every_commit_and_nothing_unsound((pgs, mtrs, floor_draws, responders, mrp_draw) in history()) {
            // Build the history.
            let mut records: Vec<(u64, usize, u64, bool, u64)> = Vec::new(); // lsn, pg, prev, cpl, mask
            let mut last = vec![0u64; pgs];
            let mut lsn = 0u64;
            for &(pg, len, mask) in &mtrs {
                for k in 0..len {
                    lsn += 1;
                    // A record's PG: the mtr's PG for its first record, then rotating.
                    let p = (pg as usize + k as usize) % pgs;
                    let m = segments_of(mask.wrapping_add(u64::from(k) * 0x9E37));
                    records.push((lsn, p, last[p], k + 1 == len, m));
                    last[p] = lsn;
                }
            }
            // Each segment's SCL: its chain is complete up to the first record of its
            // PG it does not hold.
            let mut scl = vec![[0u64; SEGMENTS]; pgs];
            let mut hole = vec![[false; SEGMENTS]; pgs];
            for &(l, p, _, _, m) in &records {
                for s in 0..SEGMENTS {
                    if m & (1 << s) == 0 {
                        hole[p][s] = true;
                    } else if !hole[p][s] {
                        scl[p][s] = l;
                    }
                }
            }
            let mut w = Watermarks::new(pgs, Lsn::ZERO, &vec![Lsn::ZERO; pgs]);
            for &(l, p, _, cpl, _) in &records {
                w.record(Lsn::new(l), PgId::new(p as u32), cpl);
            }
            for (p, row) in scl.iter().enumerate() {
                for (s, &v) in row.iter().enumerate() {
                    w.ack(PgId::new(p as u32), s, Lsn::new(v));
                }
            }
            let vdl_old = w.vdl().get();
            // The read point the old shim set, at or below its VDL; floors at or below
            // it and the segment's SCL (the coalescer stops at min(SCL, read point), at
            // a record of the PG).
            let mrp = if vdl_old == 0 { 0 } else { mrp_draw % (vdl_old + 1) };
            let mut views = Vec::new();
            for p in 0..pgs {
                let chain: Vec<u64> = records.iter().filter(|r| r.1 == p).map(|r| r.0).collect();
                let mut segments = Vec::new();
                for &s in &responders[p] {
                    let cap = scl[p][s].min(mrp);
                    let draw = floor_draws[p * SEGMENTS + s];
                    let candidates: Vec<u64> = chain.iter().copied().filter(|&l| l <= cap).collect();
                    let floor = if candidates.is_empty() || draw % 3 == 0 { 0 } else { candidates[draw as usize % candidates.len()] };
                    segments.push(SegmentView {
                        floor: Lsn::new(floor),
                        scl: Lsn::new(scl[p][s]),
                        truncations: Vec::new(),
                        records: Vec::new(),
                    });
                }
                views.push(PgView { pg: PgId::new(p as u32), segments });
            }
            let b = base(&views).get();
            for (p, view) in views.iter_mut().enumerate() {
                for (i, &s) in responders[p].iter().enumerate() {
                    view.segments[i].records = records
                        .iter()
                        .filter(|r| r.1 == p && r.0 > b && r.4 & (1 << s) != 0)
                        .map(|r| mark(r.0, r.2, r.3))
                        .collect();
                }
            }
            let lal = 50;
            let d = decide(&views, lal).unwrap();
            // No committed mini-transaction lost; the VDL never regresses.
            prop_assert!(d.vdl.get() >= vdl_old, "vdl {} < old {vdl_old}", d.vdl);
            // The new VDL is a boundary between whole mini-transactions.
            prop_assert!(d.vdl.get() == 0 || records.iter().any(|r| r.0 == d.vdl.get() && r.3), "vdl {} not a CPL", d.vdl);
            // Every record at or below the new VCL is held whole by the responders of
            // its PG (or is below the base, committed).
            for &(l, p, _, _, _) in records.iter().filter(|r| r.0 <= d.vcl.get() && r.0 > b) {
                let mut need: Vec<u64> = records.iter().filter(|r| r.1 == p && r.0 > b && r.0 <= l).map(|r| r.0).collect();
                need.retain(|&x| !responders[p].iter().any(|&s| records.iter().any(|r| r.0 == x && r.4 & (1 << s) != 0)));
                prop_assert!(need.is_empty(), "record {l} below vcl {} not held whole: {need:?}", d.vcl);
            }
            // Everything ever handed out is at or below the truncation's end.
            prop_assert!(d.truncate_end.get() >= lsn.min(vdl_old + lal));
        }
    }
}
