//! Backlog backpressure on the real journal (under the simulator): an append over the
//! byte bound or the age bound waits `backpressure_wait_max`, then is refused with a
//! `Backlogged` error that names the segment holding the backlog and what stops its
//! materialization; and the age bound holds after an idle gap, although a busy engine
//! takes its time from the journal's last durable batch instead of reading the clock
//! per append.

mod journal_support;

use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::journal::{Journal, JournalConfig};
use boreal_engine::node::{CoreEngine, EngineConfig, EngineError};
use boreal_engine::sim::SimIo;
use boreal_segment::{Lsn, PageSize, PgId};
use journal_support::{DIR, append_one, sim};

type Engine = CoreEngine<SimIo, Journal<SimIo>>;

const PG: PgId = PgId::new(1);

fn engine_config() -> EngineConfig {
    let mut cfg = EngineConfig::new("/data/core0");
    // Nothing materializes: the backlog only grows.
    cfg.background_coalescer = false;
    cfg.backlog_bytes_max = 1 << 20;
    cfg.backpressure_wait_max = Duration::from_millis(5);
    cfg
}

/// 16 MiB of journal: it never fills before the 1 MiB backlog bound.
fn journal_config() -> JournalConfig {
    JournalConfig {
        files: 8,
        file_bytes: 2 << 20,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(DIR)
    }
}

fn reason(err: &EngineError) -> &str {
    match err {
        EngineError::Backlogged { reason, .. } => reason,
        other => panic!("expected Backlogged, got {other}"),
    }
}

#[test]
fn an_append_over_the_byte_bound_is_refused_naming_what_holds_the_backlog() {
    let sim = sim(7);
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
            assert!(lsn < 1000, "the byte bound never held");
            if let Err(err) = append_one(&e, PG, lsn, 4000).await {
                break err;
            }
        };
        let reason = reason(&err);
        assert!(reason.contains("above backlog_bytes_max"), "{reason}");
        assert!(reason.contains("held by pg:1"), "{reason}");
        assert!(
            reason.contains("min read point lsn:0") && reason.contains("must raise it"),
            "{reason}"
        );
        assert!(
            e.failure().is_none(),
            "backpressure does not fail the engine"
        );
        // Once the min read point moves and the records are materialized, the reason
        // is gone.
        e.set_min_read_point(PG, Lsn::new(lsn - 1)).unwrap();
        assert!(e.coalesce_now().await.unwrap() > 0);
        append_one(&e, PG, lsn, 4000)
            .await
            .expect("under the bound again");
    });
}

#[test]
fn the_age_bound_holds_after_an_idle_gap() {
    let sim = sim(8);
    let io = sim.io(0, 0);
    sim.run(async move {
        let mut cfg = engine_config();
        cfg.backlog_age_max = Duration::from_millis(10);
        let (e, _) = Engine::open_dir(io.clone(), cfg, journal_config())
            .await
            .unwrap();
        e.create_segment(PG, PageSize::new(4096).unwrap(), 0, 4)
            .await
            .unwrap();
        append_one(&e, PG, 1, 100).await.unwrap();
        append_one(&e, PG, 2, 100).await.unwrap();
        // The journal is idle now; its last durable batch is what the engine would
        // take for "now" if it did not check that the journal is busy.
        io.sleep(Duration::from_millis(20)).await;
        let err = append_one(&e, PG, 3, 100)
            .await
            .expect_err("the oldest append is 20 ms old, above backlog_age_max");
        let reason = reason(&err);
        assert!(reason.contains("above backlog_age_max"), "{reason}");
        assert!(reason.contains("held by pg:1"), "{reason}");
    });
}
