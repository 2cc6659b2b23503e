//! A core whose journal fills before its backlog bound (tiny batches: each 100-byte
//! record takes a 4 KiB batch) and whose records cannot be materialized (the min read
//! point holds them) refuses appends with a clear `Backlogged` error after
//! `backpressure_wait_max`, instead of making them wait forever, and is not failed:
//! once the coalescer materializes and the journal releases files, appends go on.

mod journal_support;

use boreal_engine::journal::{Journal, JournalConfig};
use boreal_engine::node::{CoreEngine, EngineConfig, EngineError};
use boreal_engine::sim::SimIo;
use boreal_segment::{Lsn, PageSize, PgId};
use journal_support::{DIR, append_one, sim};

type Engine = CoreEngine<SimIo, Journal<SimIo>>;

const PG: PgId = PgId::new(1);

fn engine_config() -> EngineConfig {
    let mut cfg = EngineConfig::new("/data/core0");
    cfg.background_coalescer = false;
    cfg.backlog_bytes_max = 1 << 20;
    cfg
}

/// 16 files of 256 KiB (a quarter holds the 1 MiB backlog bound): ~1,000 single-record
/// batches fill it, with ~156 KB of backlog, far below the bound.
fn journal_config() -> JournalConfig {
    JournalConfig {
        files: 16,
        file_bytes: 256 << 10,
        batch_bytes_max: 64 << 10,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(DIR)
    }
}

#[test]
fn a_full_journal_refuses_appends_clearly_and_recovers_once_released() {
    let sim = sim(41);
    let io = sim.io(0, 0);
    sim.run(async move {
        let (e, _) = Engine::open_dir(io.clone(), engine_config(), journal_config())
            .await
            .unwrap();
        e.create_segment(PG, PageSize::new(4096).unwrap(), 0, 4)
            .await
            .unwrap();
        let mut lsn = 0;
        let err = loop {
            lsn += 1;
            assert!(lsn < 10_000, "the journal never filled");
            if let Err(err) = append_one(&e, PG, lsn, 100).await {
                break err;
            }
        };
        let EngineError::Backlogged { reason, waited_ms } = &err else {
            panic!("expected Backlogged, got {err}");
        };
        assert!(reason.contains("journal full"), "{reason}");
        // It names the segment holding the journal and what stops it: here the min
        // read point, which the shim never raised.
        assert!(reason.contains("held by pg:1"), "{reason}");
        assert!(
            reason.contains("min read point lsn:0") && reason.contains("must raise it"),
            "{reason}"
        );
        assert!(
            *waited_ms >= 1000,
            "waited backpressure_wait_max: {waited_ms} ms"
        );
        assert!(
            e.failure().is_none(),
            "a full journal does not fail the engine"
        );
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(lsn - 1));
        assert!(e.stats().backpressure_refusals >= 1);
        // The shim lets the records go: they are materialized, files are released.
        e.set_min_read_point(PG, Lsn::new(lsn - 1)).unwrap();
        assert!(e.coalesce_now().await.unwrap() > 0);
        append_one(&e, PG, lsn, 100)
            .await
            .expect("room again after materialization");
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(lsn));
    });
}
