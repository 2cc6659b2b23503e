//! Unit tests of the hot log: SCL, holes, duplicates, conflicts, truncation, floor.

use boreal_segment::{Change, Epoch, Lsn, PageId, PgId, Redo};

use super::*;

const PG: PgId = PgId::new(7);

fn lsn(v: u64) -> Lsn {
    Lsn::new(v)
}

fn redo(l: u64, prev: u64, page: u64, prev_page: u64, bytes: &'static [u8]) -> Redo<'static> {
    Redo {
        lsn: lsn(l),
        prev_lsn_pg: lsn(prev),
        prev_lsn_page: lsn(prev_page),
        pg_id: PG,
        page_id: PageId::new(page),
        cpl: false,
        change: Change::Delta { offset: 0, bytes },
    }
}

fn put(h: &mut HotLog, l: u64, prev: u64) -> Result<Arrival, HotLogError> {
    let r = h.insert(&redo(l, prev, 1, 0, b"x"));
    h.check_invariants();
    r
}

fn range(a: u64, b: u64) -> LsnRange {
    LsnRange::new(lsn(a), lsn(b))
}

#[test]
fn scl_follows_backlinks_in_order() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    assert_eq!(put(&mut h, 10, 0), Ok(Arrival::Accepted));
    assert_eq!(h.scl(), lsn(10));
    put(&mut h, 20, 10).unwrap();
    put(&mut h, 35, 20).unwrap();
    assert_eq!(h.scl(), lsn(35));
    assert!(h.holes(10).is_empty());
}

#[test]
fn out_of_order_arrivals_wait_and_holes_are_named() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    put(&mut h, 40, 30).unwrap();
    put(&mut h, 60, 50).unwrap();
    assert_eq!(h.scl(), lsn(10));
    let holes: Vec<LsnRange> = h.holes(10).iter().map(|h| h.range).collect();
    assert_eq!(holes, vec![range(10, 30), range(40, 50)]);
    assert_eq!(h.hole_below(lsn(35)).map(|h| h.range), Some(range(10, 30)));
    put(&mut h, 30, 20).unwrap();
    assert_eq!(h.scl(), lsn(10), "20 is still missing");
    assert_eq!(h.holes(10)[0].range, range(10, 20));
    put(&mut h, 20, 10).unwrap();
    assert_eq!(h.scl(), lsn(40));
    put(&mut h, 50, 40).unwrap();
    assert_eq!(h.scl(), lsn(60));
    assert!(h.holes(10).is_empty());
}

#[test]
fn a_duplicate_is_reacknowledged_and_a_conflict_refused() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    assert_eq!(put(&mut h, 10, 0), Ok(Arrival::Duplicate));
    let other = redo(10, 0, 1, 0, b"y");
    assert!(matches!(
        h.insert(&other),
        Err(HotLogError::Conflict { .. })
    ));
    assert_eq!(h.counters().duplicates, 1);
    assert_eq!(h.counters().conflicts, 1);
    assert_eq!(
        h.get(lsn(10)).map(|r| r.change),
        Some(Change::Delta {
            offset: 0,
            bytes: b"x".as_slice()
        })
    );
}

#[test]
fn a_record_of_another_pg_is_refused() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    let mut r = redo(10, 0, 1, 0, b"x");
    r.pg_id = PgId::new(8);
    assert!(matches!(h.insert(&r), Err(HotLogError::WrongPg { .. })));
}

#[test]
fn a_record_below_the_scl_off_the_chain_is_refused() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    put(&mut h, 20, 10).unwrap();
    assert!(matches!(
        put(&mut h, 15, 10),
        Err(HotLogError::OffChain { .. })
    ));
}

#[test]
fn truncation_annuls_refuses_and_recomputes_the_scl() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    for (l, p) in [(10, 0), (20, 10), (30, 20), (40, 30)] {
        put(&mut h, l, p).unwrap();
    }
    assert_eq!(h.scl(), lsn(40));
    let out = h.truncate(Epoch::new(2), range(25, 1000)).unwrap();
    h.check_invariants();
    assert_eq!(out, TruncateOutcome::Applied { annulled: 2 });
    assert_eq!(h.scl(), lsn(20));
    assert!(matches!(
        put(&mut h, 30, 20),
        Err(HotLogError::Truncated { .. })
    ));
    assert_eq!(
        h.truncate(Epoch::new(2), range(25, 1000)),
        Ok(TruncateOutcome::AlreadyApplied)
    );
    assert!(matches!(
        h.truncate(Epoch::new(1), range(22, 500)),
        Err(HotLogError::StaleTruncation { .. })
    ));
    // The new epoch's writer links its first record to the last one kept.
    put(&mut h, 1001, 20).unwrap();
    assert_eq!(h.scl(), lsn(1001));
}

#[test]
fn a_new_epoch_record_that_arrives_before_the_truncation_waits_for_it() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    for (l, p) in [(10, 0), (20, 10), (30, 20)] {
        put(&mut h, l, p).unwrap();
    }
    put(&mut h, 1001, 20).unwrap();
    assert_eq!(h.counters().forks, 1);
    assert_eq!(h.scl(), lsn(30));
    h.truncate(Epoch::new(2), range(25, 1000)).unwrap();
    assert_eq!(h.scl(), lsn(1001));
}

#[test]
fn truncation_below_the_floor_is_refused() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    put(&mut h, 20, 10).unwrap();
    assert_eq!(h.advance_floor(lsn(20)), 2 * (56 + 1));
    h.check_invariants();
    assert!(matches!(
        h.truncate(Epoch::new(1), range(15, 30)),
        Err(HotLogError::BelowMaterialized { .. })
    ));
}

#[test]
fn the_floor_drops_records_and_later_arrivals_below_it_are_reacknowledged() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    for (l, p) in [(10, 0), (20, 10), (30, 20)] {
        put(&mut h, l, p).unwrap();
    }
    assert_eq!(h.chain_point_at_or_below(lsn(25)), lsn(20));
    h.advance_floor(lsn(20));
    h.check_invariants();
    assert_eq!(h.len(), 1);
    assert_eq!(put(&mut h, 10, 0), Ok(Arrival::AlreadyMaterialized));
    assert_eq!(h.scl(), lsn(30));
    assert_eq!(h.chain_point_at_or_below(lsn(5)), lsn(20));
}

#[test]
fn reported_ranges_are_holes_until_the_scl_passes_them() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    h.report_missing(range(15, 25));
    assert_eq!(
        h.holes(10),
        vec![Hole {
            range: range(15, 25),
            kind: HoleKind::Reported
        }]
    );
    put(&mut h, 30, 10).unwrap();
    assert!(h.holes(10).is_empty());
}

#[test]
fn page_records_and_fetch_select_by_range() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    h.insert(&redo(10, 0, 1, 0, b"a")).unwrap();
    h.insert(&redo(20, 10, 2, 0, b"b")).unwrap();
    h.insert(&redo(30, 20, 1, 10, b"c")).unwrap();
    let lsns: Vec<u64> = h
        .page_records(PageId::new(1), Lsn::ZERO, lsn(30))
        .map(|r| r.lsn.get())
        .collect();
    assert_eq!(lsns, vec![10, 30]);
    let lsns: Vec<u64> = h
        .page_records(PageId::new(1), lsn(10), lsn(29))
        .map(|r| r.lsn.get())
        .collect();
    assert!(lsns.is_empty());
    assert_eq!(h.page_records(PageId::new(1), lsn(30), lsn(10)).count(), 0);
    let got = h.fetch(Lsn::ZERO, lsn(100), 1);
    assert_eq!(got.len(), 1, "at least one record even past the limit");
    assert_eq!(h.fetch(lsn(10), lsn(30), 10_000).len(), 2);
}

#[test]
fn forks_follow_the_lowest_successor_through_truncation() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    // Three records name 20 (absent) as their predecessor, arriving out of order.
    put(&mut h, 60, 20).unwrap();
    put(&mut h, 50, 20).unwrap();
    put(&mut h, 55, 20).unwrap();
    assert_eq!(h.counters().forks, 2);
    assert_eq!(h.scl(), lsn(10));
    put(&mut h, 20, 10).unwrap();
    assert_eq!(h.scl(), lsn(50), "the lowest record naming 20");
    // Annulling 50 makes 55 the lowest successor of 20.
    h.truncate(Epoch::new(1), range(45, 52)).unwrap();
    h.check_invariants();
    assert_eq!(h.scl(), lsn(55));
    // Late arrivals below the newest record keep every index in order.
    put(&mut h, 58, 57).unwrap();
    assert_eq!(h.scl(), lsn(55));
    put(&mut h, 57, 55).unwrap();
    assert_eq!(h.scl(), lsn(58));
    let pages: Vec<u64> = h
        .page_records(PageId::new(1), Lsn::ZERO, Lsn::MAX)
        .map(|r| r.lsn.get())
        .collect();
    assert_eq!(pages, vec![10, 20, 55, 57, 58, 60]);
    assert_eq!(
        h.advance_floor(lsn(55)),
        3 * backlog_bytes(&h.get(lsn(58)).unwrap())
    );
    h.check_invariants();
    assert_eq!(h.len(), 3);
}

/// A record whose body is `len` bytes of a pattern derived from its LSN.
fn body_of(l: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (l as usize * 31 + i) as u8).collect()
}

#[test]
fn bodies_survive_arena_turnover_in_any_arrival_order() {
    // 4 KiB bodies: a 256 KiB chunk holds 64, so 2,000 records cross ~30 chunks, and
    // the floor moving up recycles them while later records keep arriving.
    let mut h = HotLog::new(PG, Lsn::ZERO);
    let len = 4096;
    let mut floor = 0u64;
    for block in 0..250u64 {
        // Each block of 8 arrives in a shuffled order: 3 7 1 5 0 4 2 6.
        for k in [3u64, 7, 1, 5, 0, 4, 2, 6] {
            let l = block * 8 + k + 1;
            let bytes = body_of(l, len);
            let r = Redo {
                change: Change::Delta {
                    offset: 0,
                    bytes: &bytes,
                },
                ..redo(l, l - 1, l % 5, 0, b"")
            };
            assert_eq!(h.insert(&r), Ok(Arrival::Accepted));
        }
        h.check_invariants();
        assert_eq!(h.scl(), lsn(block * 8 + 8));
        // Materialize all but the newest ~100 records.
        if block * 8 > floor + 100 {
            floor = block * 8 - 100;
            h.advance_floor(lsn(floor));
            h.check_invariants();
        }
        for l in (floor + 1)..=(block * 8 + 8) {
            let got = h.get(lsn(l)).expect("held");
            assert_eq!(got.change.bytes(), &body_of(l, len)[..], "body of {l}");
        }
    }
    // The arena holds what is held (~108 bodies of 4 KiB: 2 chunks, 3 when they
    // straddle) plus the chunk being filled, not the 2,000 records' history.
    assert!(h.len() <= 108);
    assert!(
        h.records.arena_chunks() <= 4,
        "{} chunks",
        h.records.arena_chunks()
    );
    h.advance_floor(h.scl());
    h.check_invariants();
    assert!(h.is_empty());
}

#[test]
fn a_large_image_and_truncation_in_the_middle_keep_the_arena_consistent() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    let image = vec![0xEEu8; 300 << 10];
    put(&mut h, 10, 0).unwrap();
    let big = Redo {
        change: Change::Image(&image),
        ..redo(20, 10, 2, 0, b"")
    };
    h.insert(&big).unwrap();
    put(&mut h, 30, 20).unwrap();
    put(&mut h, 40, 30).unwrap();
    h.check_invariants();
    assert_eq!(
        h.get(lsn(20)).map(|r| r.change.bytes().len()),
        Some(image.len())
    );
    // Truncating (25, 35] drops 30 from the middle; the SCL goes back to 20, and the
    // successor index, settled past 30, is rebuilt so 40 waits for its predecessor.
    h.truncate(Epoch::new(1), range(25, 35)).unwrap();
    h.check_invariants();
    assert_eq!(h.scl(), lsn(20));
    assert_eq!(
        h.get(lsn(40)).map(|r| r.change.bytes()),
        Some(b"x".as_slice())
    );
    h.advance_floor(lsn(20));
    h.check_invariants();
    assert_eq!(h.len(), 1);
}

#[test]
fn a_fork_keeps_the_successor_index_correct() {
    // 25 names 10 as its predecessor, as 20 does: a fork. It stays above the SCL while
    // the chain goes on past it; every later successor question is still answered.
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    put(&mut h, 20, 10).unwrap();
    put(&mut h, 25, 10).unwrap();
    assert_eq!(h.counters().forks, 1);
    for l in (30..=100).step_by(10) {
        put(&mut h, l, l - 10).unwrap();
    }
    assert_eq!(h.scl(), lsn(100));
    put(&mut h, 120, 110).unwrap();
    put(&mut h, 110, 100).unwrap();
    assert_eq!(h.scl(), lsn(120));
}

#[test]
fn a_counted_floor_move_drops_what_an_uncounted_one_does_and_refuses_wrong_counts() {
    // Records 1..=40 over pages 0..5 (page = lsn % 5); the floor moves to 23.
    let fill = || {
        let mut h = HotLog::new(PG, Lsn::ZERO);
        for l in 1..=40u64 {
            let prev_page = l.saturating_sub(5);
            let r = redo(l, l - 1, l % 5, prev_page, b"x");
            assert_eq!(h.insert(&r), Ok(Arrival::Accepted));
        }
        h
    };
    let counts: Vec<(PageId, u32)> = (0..5u64)
        .map(|p| {
            (
                PageId::new(p),
                (1..=23u64).filter(|l| l % 5 == p).count() as u32,
            )
        })
        .collect();
    let mut plain = fill();
    let mut counted = fill();
    let a = plain.advance_floor(lsn(23));
    let b = counted.advance_floor_counted(lsn(23), &counts);
    assert_eq!(a, b);
    counted.check_invariants();
    for p in 0..5u64 {
        let page = PageId::new(p);
        let want: Vec<Lsn> = plain
            .page_records(page, Lsn::ZERO, lsn(40))
            .map(|r| r.lsn)
            .collect();
        let got: Vec<Lsn> = counted
            .page_records(page, Lsn::ZERO, lsn(40))
            .map(|r| r.lsn)
            .collect();
        assert_eq!(got, want, "page {p}");
    }
    let refused = |counts: Vec<(PageId, u32)>| {
        std::panic::catch_unwind(move || fill().advance_floor_counted(lsn(23), &counts)).is_err()
    };
    // One record moved from page 1's count to page 2's: refused, whatever the total.
    let mut wrong = counts.clone();
    wrong[1].1 -= 1;
    wrong[2].1 += 1;
    assert!(refused(wrong));
    // A page named twice: refused.
    let mut twice = counts.clone();
    twice.push((PageId::new(0), 0));
    twice[0].1 -= 1;
    twice[5].1 += 1;
    assert!(refused(twice));
}

/// The usual arrival (the SCL's successor, nothing held above the SCL) becomes the SCL
/// without entering the successor index; one that names the SCL while others wait
/// above it takes the index and carries the SCL over them; and the two ways leave the
/// same hot log as arrivals in the order that takes only the index.
#[test]
fn an_arrival_at_the_scl_with_nothing_waiting_skips_the_successor_index() {
    let mut h = HotLog::new(PG, Lsn::ZERO);
    put(&mut h, 10, 0).unwrap();
    put(&mut h, 20, 10).unwrap();
    assert!(!h.records.waiting(), "in order: nothing waits");
    put(&mut h, 40, 30).unwrap();
    assert!(h.records.waiting(), "40 waits for 30");
    put(&mut h, 30, 20).unwrap();
    assert_eq!(h.scl(), lsn(40));
    assert!(!h.records.waiting(), "settled up to 40");
    put(&mut h, 50, 40).unwrap();
    assert_eq!(h.scl(), lsn(50));
    // A second record naming 40 is a fork, counted as one, and waits in the index.
    put(&mut h, 60, 40).unwrap();
    assert_eq!(h.counters().forks, 1);
    assert_eq!(h.scl(), lsn(50));

    let mut reversed = HotLog::new(PG, Lsn::ZERO);
    for (l, prev) in [(60, 40), (50, 40), (40, 30), (30, 20), (20, 10), (10, 0)] {
        put(&mut reversed, l, prev).unwrap();
    }
    assert_eq!(reversed.scl(), h.scl());
    assert_eq!(reversed.counters().forks, 1);
    assert_eq!(reversed.bytes(), h.bytes());
    assert_eq!(reversed.holes(10), h.holes(10));
    let all = |h: &HotLog| -> Vec<Redo<'static>> {
        h.records_in(Lsn::ZERO, lsn(100))
            .map(|r| redo(r.lsn.get(), r.prev_lsn_pg.get(), 1, 0, b"x"))
            .collect()
    };
    assert_eq!(all(&reversed), all(&h));
}
