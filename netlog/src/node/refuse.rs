//! How the node turns an engine refusal into a wire `Refusal`: the reason a client acts
//! on (code and numbers, `PROTOCOL.md` "Reason registry") and the engine's own message
//! as the text, for logs. The table of which engine error maps to which reason is
//! written in `PROTOCOL.md` ("How a node maps its engine's refusals"); this is that
//! table, and the test below holds one case of each row.

use boreal_engine::hotlog::HotLogError;
use boreal_engine::node::EngineError;
use boreal_segment::PgId;

use crate::proto::Reason;

/// The reason for `e`, an engine error answering a request about `pg`.
pub(crate) fn reason_of(e: &EngineError, pg: PgId) -> Reason {
    use EngineError as E;
    match *e {
        E::NoSegment { pg } => Reason::NoSegment { pg },
        // Only when two creates of one PG race (the dispatcher answers a create of an
        // existing segment itself, with its geometry): the client retries and gets
        // that answer.
        E::SegmentExists { pg } => Reason::Busy { pg },
        E::TooManySegments { max } => Reason::TooManySegments {
            pg,
            max: max as u64,
        },
        E::StaleEpoch { pg, current, .. } => Reason::StaleEpoch { pg, current },
        E::InvalidRecord { pg, lsn, .. } => Reason::InvalidRecord { pg, lsn },
        E::Refused(ref h) => hot_reason(h),
        E::InvalidRange { pg, start, .. } => Reason::InvalidRecord { pg, lsn: start },
        E::TruncateBelowMaterialized {
            pg,
            range,
            materialized,
        } => Reason::BelowMaterialized {
            pg,
            lsn: range.start,
            materialized,
        },
        E::AboveScl { pg, lsn, scl } => Reason::AboveScl { pg, lsn, scl },
        E::Hole { pg, lsn, hole, .. } => Reason::Hole {
            pg,
            lsn,
            start: hole.range.start,
            end: hole.range.end,
        },
        E::BelowMinReadPoint {
            pg,
            lsn,
            min_read_point,
        } => Reason::BelowMinReadPoint {
            pg,
            lsn,
            min_read_point,
        },
        E::PageOutOfRange { pg, page } => Reason::PageOutOfRange { pg, page },
        E::PageChainBroken { pg, page, lsn, .. } => Reason::Damaged {
            pg,
            page,
            page_lsn: lsn,
        },
        E::PageNewerThanRead {
            pg, page, page_lsn, ..
        }
        | E::PageDamaged { pg, page, page_lsn } => Reason::Damaged { pg, page, page_lsn },
        E::FetchBelowFloor { pg, from, floor } => Reason::BelowMaterialized {
            pg,
            lsn: from,
            materialized: floor,
        },
        E::ReadRetries { pg, .. } => Reason::Busy { pg },
        E::Backlogged { waited_ms, .. } => Reason::Backlogged { pg, waited_ms },
        E::Journal(_) | E::Store(_) | E::Recovery(_) | E::Failed(_) | E::Config(_) => {
            Reason::Failed
        }
    }
}

fn hot_reason(h: &HotLogError) -> Reason {
    match *h {
        HotLogError::WrongPg { pg, lsn, .. }
        | HotLogError::Conflict { pg, lsn, .. }
        | HotLogError::OffChain { pg, lsn, .. } => Reason::InvalidRecord { pg, lsn },
        HotLogError::Truncated { pg, lsn, range, .. } => Reason::InTruncation {
            pg,
            lsn,
            start: range.start,
            end: range.end,
        },
        HotLogError::StaleTruncation { pg, applied, .. } => Reason::StaleEpoch {
            pg,
            current: applied.epoch,
        },
        HotLogError::BelowMaterialized {
            pg,
            range,
            materialized,
        } => Reason::BelowMaterialized {
            pg,
            lsn: range.start,
            materialized,
        },
    }
}

#[cfg(test)]
mod tests {
    use boreal_engine::hotlog::{Hole, HoleKind, LsnRange};
    use boreal_engine::node::Failure;
    use boreal_segment::Epoch;

    use boreal_segment::{Lsn, PageId};

    use super::*;

    #[test]
    fn each_engine_refusal_maps_to_its_reason() {
        let pg = PgId::new(7);
        let page = PageId::new(3);
        let l = Lsn::new;
        let cases = [
            (EngineError::NoSegment { pg }, 6),
            (
                EngineError::StaleEpoch {
                    pg,
                    got: Epoch::new(1),
                    current: Epoch::new(2),
                },
                9,
            ),
            (
                EngineError::AboveScl {
                    pg,
                    lsn: l(9),
                    scl: l(5),
                },
                12,
            ),
            (
                EngineError::Hole {
                    pg,
                    lsn: l(9),
                    scl: l(5),
                    hole: Hole {
                        range: LsnRange::new(l(5), l(7)),
                        kind: HoleKind::Backlink,
                    },
                },
                14,
            ),
            (
                EngineError::BelowMinReadPoint {
                    pg,
                    lsn: l(1),
                    min_read_point: l(4),
                },
                13,
            ),
            (EngineError::PageOutOfRange { pg, page }, 15),
            (
                EngineError::PageDamaged {
                    pg,
                    page,
                    page_lsn: l(3),
                },
                16,
            ),
            (
                EngineError::FetchBelowFloor {
                    pg,
                    from: l(1),
                    floor: l(4),
                },
                17,
            ),
            (
                EngineError::ReadRetries {
                    pg,
                    lsn: l(1),
                    attempts: 8,
                },
                19,
            ),
            (
                EngineError::Backlogged {
                    reason: "x".into(),
                    waited_ms: 5,
                },
                18,
            ),
            (
                EngineError::Failed(Failure {
                    why: "EIO".into(),
                    errno: Some(5),
                }),
                20,
            ),
            (
                EngineError::Refused(HotLogError::Truncated {
                    pg,
                    lsn: l(6),
                    range: LsnRange::new(l(5), l(9)),
                    epoch: Epoch::new(1),
                }),
                11,
            ),
            (
                EngineError::Refused(HotLogError::Conflict {
                    pg,
                    lsn: l(6),
                    held_prev: l(5),
                    got_prev: l(4),
                }),
                10,
            ),
        ];
        for (e, code) in cases {
            let r = reason_of(&e, pg);
            assert_eq!(r.code(), code, "{e}: {r:?}");
            if code != 20 {
                assert_eq!(r.pg(), Some(pg), "{e}");
            }
        }
    }
}
