//! The min read point (PGMRPL) may run ahead of a segment's SCL: the shim computes it
//! from the volume, and a segment that lags its peers (a hole not yet filled by gossip)
//! sees a read point above what it holds. The coalescer must then stop at the SCL:
//! materializing past a hole would write pages missing records, and the engine's own
//! check (the SCL never falls below a pass's target) would stop the core after the
//! pages were written.

mod journal_support;

use boreal_engine::journal::{DurabilityMode, JournalConfig};
use boreal_engine::node::{CoreEngine, EngineConfig};
use boreal_engine::sim::SimIo;
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};
use journal_support::{DIR, payload, sim};

const PG: PgId = PgId::new(5);
const PAGES: u64 = 4;

fn record(lsn: u64, prev: u64, body: &[u8]) -> Redo<'_> {
    Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(prev),
        // Every record on its own page's chain: page `lsn % PAGES`.
        prev_lsn_page: Lsn::new(lsn.saturating_sub(PAGES)),
        pg_id: PG,
        page_id: PageId::new(lsn % PAGES),
        cpl: true,
        change: Change::Delta {
            offset: 0,
            bytes: body,
        },
    }
}

#[test]
fn the_coalescer_stops_at_the_scl_when_the_read_point_is_above_it() {
    let sim = sim(31);
    let io = sim.io(0, 0);
    sim.run(async move {
        let mut cfg = EngineConfig::new("/data/core0");
        cfg.background_coalescer = false;
        cfg.backlog_bytes_max = 1 << 20;
        let journal = JournalConfig {
            files: 16,
            file_bytes: 1 << 20,
            batch_bytes_max: 64 << 10,
            durability: DurabilityMode::DsyncWrite,
            recovery_read_bytes: 64 << 10,
            ..JournalConfig::new(DIR)
        };
        let (e, _) = CoreEngine::<SimIo>::open_dir(io, cfg, journal)
            .await
            .unwrap();
        e.create_segment(PG, PageSize::new(4096).unwrap(), 0, PAGES)
            .await
            .unwrap();
        let bodies: Vec<Vec<u8>> = (0..=8u64).map(|l| payload(l, 64)).collect();
        // 1, 2, then 4 and 5: record 3 is missing, the SCL stays at 2.
        for (lsn, prev) in [(1, 0), (2, 1), (4, 3), (5, 4)] {
            e.append(PG, Epoch::ZERO, &[record(lsn, prev, &bodies[lsn as usize])])
                .await
                .unwrap();
        }
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(2));
        e.set_min_read_point(PG, Lsn::new(5)).unwrap();
        let done = e.coalesce_now().await.unwrap();
        assert_eq!(done, 2, "only the records up to the SCL");
        let st = e.status(PG).unwrap();
        assert_eq!(st.materialized_lsn, Lsn::new(2));
        assert!(e.failure().is_none(), "{:?}", e.failure());
        // The missing record arrives (gossip): the SCL and materialization move on.
        e.append(PG, Epoch::ZERO, &[record(3, 2, &bodies[3])])
            .await
            .unwrap();
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(5));
        assert_eq!(e.coalesce_now().await.unwrap(), 3);
        assert_eq!(e.status(PG).unwrap().materialized_lsn, Lsn::new(5));
        let page = e.read_page(PG, PageId::new(3), Lsn::new(5)).await.unwrap();
        assert_eq!(page.page_lsn, Lsn::new(3));
        assert_eq!(&page.payload[..64], &bodies[3][..]);
    });
}
