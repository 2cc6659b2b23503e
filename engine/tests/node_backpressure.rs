//! Backpressure on the real journal (under the simulator). A core refuses appends with a
//! `Backlogged` error after `backpressure_wait_max`, naming the segment holding the
//! backlog and what stops its materialization, and is not failed: once the records are
//! materialized, appends go on. Three ways to get there:
//! - the backlog passes its byte bound;
//! - the journal fills before the backlog bound (tiny batches: each 100-byte record
//!   takes a 4 KiB batch) while the min read point holds every record;
//! - the oldest append passes the age bound after an idle gap, although a busy engine
//!   takes its time from the journal's last durable batch instead of reading the clock
//!   per append.

mod journal_support;

use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{CoreEngine, EngineConfig, EngineError};
use boreal_engine::sim::SimIo;
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};
use journal_support::{DIR, sim};

type Engine = CoreEngine<SimIo>;

const PG: PgId = PgId::new(1);

/// Nothing materializes unless a test asks (`coalesce_now`): the backlog only grows.
fn engine_config(backpressure_wait_max: Duration) -> EngineConfig {
    let mut cfg = EngineConfig::new("/data/core0");
    cfg.background_coalescer = false;
    cfg.backlog_bytes_max = 1 << 20;
    cfg.backpressure_wait_max = backpressure_wait_max;
    cfg
}

/// 16 MiB of journal: it never fills before the 1 MiB backlog bound.
fn roomy_journal() -> JournalConfig {
    JournalConfig {
        files: 8,
        file_bytes: 2 << 20,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(DIR)
    }
}

/// 16 files of 256 KiB (a quarter holds the 1 MiB backlog bound): ~1,000 single-record
/// batches fill it, with ~156 KB of backlog, far below the bound.
fn small_journal() -> JournalConfig {
    JournalConfig {
        files: 16,
        file_bytes: 256 << 10,
        batch_bytes_max: 64 << 10,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(DIR)
    }
}

/// A new core with segment `PG`.
async fn open(io: &SimIo, cfg: EngineConfig, journal: JournalConfig) -> Engine {
    let (e, _) = Engine::open_dir(io.clone(), cfg, journal).await.unwrap();
    e.create_segment(PG, PageSize::new(4096).unwrap(), 0, 4)
        .await
        .unwrap();
    e
}

/// Appends records of `len` bytes at LSNs 1, 2, ... until one is refused (before
/// `limit`); returns that LSN and the error.
async fn append_until_refused(e: &Engine, len: usize, limit: u64) -> (u64, EngineError) {
    let mut lsn = 0;
    loop {
        lsn += 1;
        assert!(lsn < limit, "no append was refused below lsn {limit}");
        if let Err(err) = append_one(e, PG, lsn, len).await {
            return (lsn, err);
        }
    }
}

/// Appends one redo record of `len` bytes at `lsn` to `pg` through the engine: page
/// `lsn % 4`, chained to `lsn - 1` in the PG and to `lsn - 4` on the page.
async fn append_one(e: &Engine, pg: PgId, lsn: u64, len: usize) -> Result<(), EngineError> {
    let body = vec![lsn as u8; len];
    let r = Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(lsn - 1),
        prev_lsn_page: Lsn::new(lsn.saturating_sub(4)),
        pg_id: pg,
        page_id: PageId::new(lsn % 4),
        cpl: true,
        change: Change::Delta {
            offset: 0,
            bytes: &body,
        },
    };
    e.append(pg, Epoch::new(0), &[r]).await.map(|_| ())
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
        let e = open(
            &io,
            engine_config(Duration::from_millis(5)),
            roomy_journal(),
        )
        .await;
        let (lsn, err) = append_until_refused(&e, 4000, 1000).await;
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
fn a_full_journal_refuses_appends_clearly_and_recovers_once_released() {
    let sim = sim(41);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = open(&io, engine_config(Duration::from_secs(1)), small_journal()).await;
        let (lsn, err) = append_until_refused(&e, 100, 10_000).await;
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

#[test]
fn the_age_bound_holds_after_an_idle_gap() {
    let sim = sim(8);
    let io = sim.io(0, 0);
    sim.run(async move {
        let mut cfg = engine_config(Duration::from_millis(5));
        cfg.backlog_age_max = Duration::from_millis(10);
        let e = open(&io, cfg, roomy_journal()).await;
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
