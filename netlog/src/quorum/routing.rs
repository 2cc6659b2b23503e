//! Read routing, sans-I/O: which of a PG's six segments a GetPage goes to, and which
//! one it is hedged to (DESIGN §3: reads go to one segment, no quorum read).
//!
//! Owns the order only; `shim.rs` sends, hedges and times the requests. Invariants of
//! [`read_order`]:
//! - it is a permutation of the segments;
//! - every segment whose last known SCL is at or above the read point comes before every
//!   segment below it (those are a last resort: the shim's view of an SCL may be stale,
//!   gossip may have caught the segment up, and a node whose SCL is below the read point
//!   refuses the read instead of answering it wrongly);
//! - within each of those two groups, lowest recent latency first, ties by placement
//!   order (so the same inputs give the same order);
//! - the hedge of the attempt at position `i` goes to position `i + 1`
//!   ([`hedge_partner`]).

use boreal_segment::Lsn;

/// What routing knows of one segment of the PG.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentRoute {
    /// The segment's last SCL the shim heard of.
    pub scl: Lsn,
    /// Its recent GetPage latency (a moving average), µs.
    pub latency_us: f64,
}

/// The segments (indices into `segments`, placement order) in the order a GetPage at
/// read point `rp` tries them. See the module docs.
pub fn read_order(segments: &[SegmentRoute], rp: Lsn) -> Vec<usize> {
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (&segments[a], &segments[b]);
        (sa.scl < rp)
            .cmp(&(sb.scl < rp))
            .then(sa.latency_us.total_cmp(&sb.latency_us))
            .then(a.cmp(&b))
    });
    order
}

/// The segment the attempt at position `i` of `order` is hedged to when it is slow:
/// the next one, if there is one.
pub fn hedge_partner(order: &[usize], i: usize) -> Option<usize> {
    order.get(i + 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: pick, again and again, the best segment left by scanning all of
    /// them (caught up beats behind, then lower latency, then lower index).
    fn model(segments: &[SegmentRoute], rp: Lsn) -> Vec<usize> {
        let better = |a: usize, b: usize| -> bool {
            let (sa, sb) = (&segments[a], &segments[b]);
            let (ca, cb) = (sa.scl >= rp, sb.scl >= rp);
            if ca != cb {
                return ca;
            }
            if sa.latency_us != sb.latency_us {
                return sa.latency_us < sb.latency_us;
            }
            a < b
        };
        let mut left: Vec<usize> = (0..segments.len()).collect();
        let mut out = Vec::new();
        while !left.is_empty() {
            let mut best = 0;
            for k in 1..left.len() {
                if better(left[k], left[best]) {
                    best = k;
                }
            }
            out.push(left.remove(best));
        }
        out
    }

    fn segments() -> impl Strategy<Value = Vec<SegmentRoute>> {
        // Few distinct values, so ties in SCL and latency are common.
        proptest::collection::vec(
            (
                0u64..8,
                prop_oneof![Just(100.0), Just(500.0), 0.0f64..5000.0],
            ),
            0..=6,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(scl, latency_us)| SegmentRoute {
                    scl: Lsn::new(scl),
                    latency_us,
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn read_order_is_the_models(segs in segments(), rp in 0u64..8) {
            let rp = Lsn::new(rp);
            let order = read_order(&segs, rp);
            prop_assert_eq!(&order, &model(&segs, rp));
            // The properties the module docs promise, checked directly too.
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..segs.len()).collect::<Vec<_>>());
            let caught_up = segs.iter().filter(|s| s.scl >= rp).count();
            for (pos, &s) in order.iter().enumerate() {
                prop_assert_eq!(segs[s].scl >= rp, pos < caught_up);
            }
            if let Some(&first) = order.first()
                && segs[first].scl >= rp
            {
                let fastest = segs
                    .iter()
                    .filter(|s| s.scl >= rp)
                    .map(|s| s.latency_us)
                    .fold(f64::INFINITY, f64::min);
                prop_assert_eq!(segs[first].latency_us, fastest);
            }
            for i in 0..order.len() {
                prop_assert_eq!(hedge_partner(&order, i), order.get(i + 1).copied());
            }
            if caught_up >= 2 {
                let second = hedge_partner(&order, 0).expect("two segments");
                prop_assert!(segs[second].scl >= rp, "a hedge goes to a caught-up segment when there is one");
            }
        }
    }

    #[test]
    fn a_slow_caught_up_segment_beats_a_fast_one_behind() {
        let segs = [
            SegmentRoute {
                scl: Lsn::new(3),
                latency_us: 10.0,
            },
            SegmentRoute {
                scl: Lsn::new(9),
                latency_us: 900.0,
            },
            SegmentRoute {
                scl: Lsn::new(9),
                latency_us: 400.0,
            },
        ];
        let order = read_order(&segs, Lsn::new(9));
        assert_eq!(order, vec![2, 1, 0]);
        assert_eq!(hedge_partner(&order, 0), Some(1));
        assert_eq!(hedge_partner(&order, 2), None);
    }
}
