//! `CoreEngine::truncations`: the truncation ranges a segment holds, which volume
//! recovery reads so that an LSN inside an earlier recovery's range is not taken for a
//! lost record. A truncation is listed once applied, is still listed after a restart
//! (it is durable in the segment's metadata file, not only in the journal), and is
//! forgotten once the materialized LSN passes its end.

mod journal_support;

use boreal_engine::hotlog::{LsnRange, Truncation};
use boreal_engine::node::{CoreEngine, EngineError};
use boreal_engine::pages::{META_TRUNCATIONS_MAX, MetaFile, PageStoreError, meta_file_path};
use boreal_engine::sim::SimIo;
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};
use journal_support::{CORE, engine_config, engine_journal_config, sim};

type Engine = CoreEngine<SimIo>;

const PG: PgId = PgId::new(3);

async fn open(io: &SimIo) -> Engine {
    Engine::open_dir(io.clone(), engine_config(), engine_journal_config())
        .await
        .unwrap()
        .0
}

/// A new core holding one segment, of `PG`.
async fn with_segment(io: &SimIo) -> Engine {
    let e = open(io).await;
    e.create_segment(PG, PageSize::new(4096).unwrap(), 0, 64)
        .await
        .unwrap();
    e
}

/// A redo at `lsn` chained to `prev` in the PG, alone on page `lsn` (its page chain
/// starts there), under `epoch`.
async fn append(e: &Engine, lsn: u64, prev: u64, epoch: u64) {
    let body = [lsn as u8; 64];
    let r = Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(prev),
        prev_lsn_page: Lsn::ZERO,
        pg_id: PG,
        page_id: PageId::new(lsn),
        cpl: true,
        change: Change::Delta {
            offset: 0,
            bytes: &body,
        },
    };
    e.append(PG, Epoch::new(epoch), &[r]).await.unwrap();
}

fn truncation(epoch: u64, start: u64, end: u64) -> Truncation {
    Truncation {
        epoch: Epoch::new(epoch),
        range: LsnRange::new(Lsn::new(start), Lsn::new(end)),
    }
}

/// The truncations the segment's metadata file holds, read from the file itself.
async fn in_meta_file(io: &SimIo) -> Vec<Truncation> {
    let path = meta_file_path(CORE.as_ref(), PG);
    let (_, durable, damage) = MetaFile::open(io.clone(), &path, PG).await.unwrap();
    assert!(damage.is_none(), "{damage:?}");
    durable.truncations
}

#[test]
fn a_truncation_is_listed_kept_across_a_restart_and_forgotten_below_the_floor() {
    let sim = sim(41);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = with_segment(&io).await;
        assert_eq!(e.truncations(PG).unwrap(), []);
        for lsn in 1..=6 {
            append(&e, lsn, lsn - 1, 0).await;
        }
        e.truncate(PG, Epoch::new(1), Lsn::new(4), Lsn::new(10))
            .await
            .unwrap();
        assert_eq!(e.truncations(PG).unwrap(), [truncation(1, 4, 10)]);
        // A second recovery's range: both listed, in the order applied.
        append(&e, 11, 4, 1).await;
        e.truncate(PG, Epoch::new(2), Lsn::new(11), Lsn::new(20))
            .await
            .unwrap();
        let both = [truncation(1, 4, 10), truncation(2, 11, 20)];
        assert_eq!(e.truncations(PG).unwrap(), both);
        assert_eq!(
            e.truncations(PgId::new(99)).unwrap_err().to_string(),
            EngineError::NoSegment { pg: PgId::new(99) }.to_string()
        );
        drop(e);

        // Durable in the metadata file, and listed again after the restart.
        assert_eq!(in_meta_file(&io).await, both);
        let e = open(&io).await;
        assert_eq!(e.truncations(PG).unwrap(), both);

        // The materialized LSN passes the first range's end (10), not the second's.
        append(&e, 21, 11, 2).await;
        e.set_min_read_point(PG, Lsn::new(11)).unwrap();
        assert!(e.coalesce_now().await.unwrap() > 0);
        assert_eq!(e.status(PG).unwrap().materialized_lsn, Lsn::new(11));
        let second = [truncation(2, 11, 20)];
        assert_eq!(e.truncations(PG).unwrap(), second);
        assert_eq!(in_meta_file(&io).await, second);

        // Then past both: nothing is listed, before or after a restart.
        e.set_min_read_point(PG, Lsn::new(21)).unwrap();
        assert!(e.coalesce_now().await.unwrap() > 0);
        assert_eq!(e.status(PG).unwrap().materialized_lsn, Lsn::new(21));
        assert_eq!(e.truncations(PG).unwrap(), []);
        drop(e);
        assert_eq!(in_meta_file(&io).await, []);
        let e = open(&io).await;
        assert_eq!(e.truncations(PG).unwrap(), []);
    });
}

/// More truncations than the metadata file keeps are never listed. Today the engine
/// journals and applies a truncation past `META_TRUNCATIONS_MAX` before its metadata
/// write refuses it and stops the core; from then on the list is refused with that
/// write's error, so the node never sends a list its own metadata could not hold (and
/// the wire's `TRUNCATIONS_MAX` may equal `META_TRUNCATIONS_MAX`).
#[test]
fn a_list_past_what_the_metadata_file_keeps_is_refused() {
    let sim = sim(42);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = with_segment(&io).await;
        let max = META_TRUNCATIONS_MAX as u64;
        for k in 0..=max {
            let res = e
                .truncate(PG, Epoch::new(1), Lsn::new(2 * k), Lsn::new(2 * k + 1))
                .await;
            if k < max {
                res.unwrap();
                assert_eq!(e.truncations(PG).unwrap().len() as u64, k + 1);
            } else {
                assert!(res.is_err(), "truncation {} of {max}", k + 1);
            }
        }
        let err = e.truncations(PG).unwrap_err();
        assert!(
            matches!(
                err,
                EngineError::Store(PageStoreError::TooManyTruncations { count, max, .. })
                    if count == META_TRUNCATIONS_MAX + 1 && max == META_TRUNCATIONS_MAX
            ),
            "{err:?}"
        );
    });
}
