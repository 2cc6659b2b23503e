//! Appends in two steps on the real journal (under the simulator):
//! `CoreEngine::try_append` encodes the records into the journal's open batch without
//! waiting, and `CoreEngine::poll_append` acknowledges them once their batch is
//! durable, exactly as `append` would. The pending append owns a copy of its records:
//! the caller's buffer may be reused at once. What must wait or do more than journal
//! records (a raised epoch, a backlog over its bound, records that do not fit the open
//! batch) is declined with nothing journaled; records all held already journal nothing
//! and are acknowledged at the first poll; refusals are the same errors as `append`'s;
//! a journal failure fails the pending appends and stops the engine.

mod journal_support;

use std::future::poll_fn;
use std::task::{Context, Waker};

use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{AppendAck, CoreEngine, EngineConfig, EngineError, PendingAppend};
use boreal_engine::sim::SimIo;
use boreal_segment::{Epoch, Lsn, PageId, PageSize, PgId, Redo};
use journal_support::{
    Faults, FaultyIo, chained, growing_engine_config, node_journal_config, payload, sim,
};

type Engine = CoreEngine<FaultyIo<SimIo>>;

const PG: PgId = PgId::new(3);
const PAGES: u64 = 8;

/// Nothing materializes: the backlog only grows, up to its 1 MiB bound.
fn engine_config() -> EngineConfig {
    growing_engine_config()
}

/// 16 files of 1 MiB, 64 KiB batches: a batch holds about 400 records of 128 bytes.
fn journal_config() -> JournalConfig {
    node_journal_config(64 << 10)
}

/// Runs `test` on a new core with segment `PG`, in a fault-free world of seed `seed`,
/// with the `FaultyIo` under it (for faults the test arms).
fn with_engine(seed: u64, test: impl AsyncFnOnce(&Engine, &FaultyIo<SimIo>)) {
    let sim = sim(seed);
    let io = FaultyIo::new(sim.io(0, 0));
    sim.run(async {
        let (e, _) = Engine::open_dir(io.clone(), engine_config(), journal_config())
            .await
            .unwrap();
        e.create_segment(PG, PageSize::new(4096).unwrap(), 0, PAGES)
            .await
            .unwrap();
        test(&e, &io).await;
    });
}

/// The redo record at `lsn` (a delta of `body` on page `lsn % PAGES`), chained to
/// `lsn - 1` in the PG and to `lsn - PAGES` on its page.
fn record(lsn: u64, body: &[u8]) -> Redo<'_> {
    chained(PG, PAGES, lsn, 0, body, true)
}

/// Polls `pending` until it is acknowledged.
async fn acknowledged(e: &Engine, pending: &mut PendingAppend) -> Result<AppendAck, EngineError> {
    poll_fn(|cx| e.poll_append(pending, cx)).await
}

fn noop() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

#[test]
fn pending_appends_are_acknowledged_once_their_batch_is_durable() {
    with_engine(21, async |e, _| {
        let bodies: Vec<Vec<u8>> = (1..=40u64).map(|lsn| payload(lsn, 128)).collect();
        let records: Vec<Redo<'_>> = (1..=40u64)
            .map(|lsn| record(lsn, &bodies[lsn as usize - 1]))
            .collect();
        let journal_before = e.journal().stats();
        let mut pending = Vec::new();
        for r in &records {
            let p = e
                .try_append(PG, Epoch::ZERO, std::slice::from_ref(r))
                .unwrap()
                .expect("a record that fits the open batch is taken");
            assert_eq!(p.pg(), PG);
            pending.push(p);
        }
        let journal_after = e.journal().stats();
        assert_eq!(journal_after.records - journal_before.records, 40);
        // Nothing has been written yet: nothing is acknowledged, nothing is in the
        // segment.
        for p in pending.iter_mut() {
            assert!(e.poll_append(p, &mut noop()).is_pending());
        }
        assert_eq!(e.status(PG).unwrap().scl, Lsn::ZERO);
        // Acknowledged in any order, each with the SCL `append` would report.
        for i in (0..40).rev() {
            let ack = acknowledged(e, &mut pending[i]).await.unwrap();
            assert_eq!((ack.accepted, ack.duplicates), (1, 0));
            assert_eq!(ack.epoch, Epoch::ZERO);
            let want_scl = if i == 0 { Lsn::new(40) } else { Lsn::ZERO };
            assert_eq!(ack.scl, want_scl, "record {}", i + 1);
        }
        let st = e.status(PG).unwrap();
        assert_eq!(st.scl, Lsn::new(40));
        assert!(st.holes.is_empty(), "{:?}", st.holes);
        let page = e
            .read_page(PG, PageId::new(40 % PAGES), Lsn::new(40))
            .await
            .unwrap();
        assert_eq!(page.page_lsn, Lsn::new(40));
        assert_eq!(&page.payload[..128], &bodies[39][..]);
        // The same records again: nothing new to journal, re-acknowledged as
        // duplicates at the first poll, by either path.
        let mut again = e
            .try_append(PG, Epoch::ZERO, &records)
            .unwrap()
            .expect("held records need no wait");
        assert_eq!(again.batch(), None);
        let ack = acknowledged(e, &mut again).await.unwrap();
        assert_eq!(
            (ack.accepted, ack.duplicates, ack.scl),
            (0, 40, Lsn::new(40))
        );
        assert_eq!(e.journal().stats().records, journal_after.records);
        let again = e.append(PG, Epoch::ZERO, &records).await.unwrap();
        assert_eq!((again.accepted, again.duplicates), (0, 40));
    });
}

#[test]
fn what_must_wait_is_declined_with_nothing_journaled() {
    with_engine(22, async |e, _| {
        let body = payload(1, 128);
        let first = [record(1, &body)];
        e.append(PG, Epoch::ZERO, &first).await.unwrap();
        let records_then = e.journal().stats().records;

        // A raised epoch is journaled with the records by `append`.
        let second = [record(2, &body)];
        assert!(e.try_append(PG, Epoch::new(1), &second).unwrap().is_none());
        assert_eq!(e.journal().stats().records, records_then);
        let ack = e.append(PG, Epoch::new(1), &second).await.unwrap();
        assert_eq!((ack.epoch, ack.scl), (Epoch::new(1), Lsn::new(2)));

        // A stale epoch and a record outside the PG's pages: `append`'s errors.
        let third = [record(3, &body)];
        assert!(matches!(
            e.try_append(PG, Epoch::ZERO, &third),
            Err(EngineError::StaleEpoch { .. })
        ));
        let mut outside = record(3, &body);
        outside.page_id = PageId::new(PAGES);
        let want = e
            .append(PG, Epoch::new(1), &[outside])
            .await
            .unwrap_err()
            .to_string();
        let got = e
            .try_append(PG, Epoch::new(1), &[outside])
            .unwrap_err()
            .to_string();
        assert_eq!(got, want);

        // More than the open batch holds (64 KiB batches, 600 records of 128 bytes):
        // declined whole; `append` spans batches.
        let bodies: Vec<Vec<u8>> = (3..603u64).map(|lsn| payload(lsn, 128)).collect();
        let many: Vec<Redo<'_>> = (3..603u64)
            .map(|lsn| record(lsn, &bodies[lsn as usize - 3]))
            .collect();
        let records_then = e.journal().stats().records;
        assert!(e.try_append(PG, Epoch::new(1), &many).unwrap().is_none());
        assert_eq!(e.journal().stats().records, records_then);
        let ack = e.append(PG, Epoch::new(1), &many).await.unwrap();
        assert_eq!(ack.scl, Lsn::new(602));

        // Grow the backlog (nothing materializes) with 4000-byte records taken and
        // acknowledged in two steps, until one is declined: the backlog is then over
        // its 1 MiB bound, and `append` waits and refuses, naming the backlog.
        let mut lsn = 603;
        let body = payload(lsn, 4000);
        loop {
            assert!(lsn < 1000, "nothing declined below lsn {lsn}");
            let next = [record(lsn, &body)];
            let Some(mut p) = e.try_append(PG, Epoch::new(1), &next).unwrap() else {
                break;
            };
            acknowledged(e, &mut p).await.unwrap();
            lsn += 1;
        }
        assert!(e.stats().backlog_bytes > 1 << 20, "{:?}", e.stats());
        let next = [record(lsn, &body)];
        assert!(matches!(
            e.append(PG, Epoch::new(1), &next).await,
            Err(EngineError::Backlogged { .. })
        ));
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(lsn - 1));
    });
}

#[test]
fn a_journal_failure_fails_pending_appends_and_stops_the_engine() {
    with_engine(23, async |e, io| {
        let body = payload(1, 128);
        let records = [record(1, &body)];
        let mut pending = e.try_append(PG, Epoch::ZERO, &records).unwrap().unwrap();
        io.arm(Faults {
            write_errno: Some(libc::EIO),
            ..Faults::default()
        });
        let err = acknowledged(e, &mut pending).await.unwrap_err();
        assert!(matches!(err, EngineError::Journal(_)), "{err:?}");
        assert_eq!(e.status(PG).unwrap().scl, Lsn::ZERO, "nothing acknowledged");
        // Fail-stop: nothing is taken afterwards, by either path.
        *io.faults.borrow_mut() = Faults::default();
        let body = payload(2, 128);
        let later = [record(2, &body)];
        assert!(e.try_append(PG, Epoch::ZERO, &later).is_err());
        assert!(e.append(PG, Epoch::ZERO, &later).await.is_err());
    });
}

#[test]
#[should_panic(expected = "polled after it was acknowledged")]
fn a_pending_append_is_acknowledged_once() {
    with_engine(24, async |e, _| {
        let body = payload(1, 128);
        let records = [record(1, &body)];
        let mut pending = e.try_append(PG, Epoch::ZERO, &records).unwrap().unwrap();
        acknowledged(e, &mut pending).await.unwrap();
        let _ = e.poll_append(&mut pending, &mut noop());
    });
}

#[test]
fn a_pending_append_owns_its_records() {
    with_engine(25, async |e, _| {
        // The caller's buffer is overwritten right after the append was taken, as a
        // connection reuses its receive buffer: what lands is what was taken.
        let mut bodies: Vec<Vec<u8>> = (1..=3u64).map(|lsn| payload(lsn, 64)).collect();
        let want = bodies.clone();
        let mut pending = {
            let records: Vec<Redo<'_>> = (1..=3u64)
                .map(|l| record(l, &bodies[l as usize - 1]))
                .collect();
            e.try_append(PG, Epoch::ZERO, &records).unwrap().unwrap()
        };
        for b in &mut bodies {
            b.fill(0xEE);
        }
        let ack = acknowledged(e, &mut pending).await.unwrap();
        assert_eq!((ack.accepted, ack.scl), (3, Lsn::new(3)));
        for lsn in 1..=3u64 {
            let page = e
                .read_page(PG, PageId::new(lsn % PAGES), Lsn::new(3))
                .await
                .unwrap();
            assert_eq!(&page.payload[..64], &want[lsn as usize - 1][..]);
        }
    });
}

#[test]
fn a_journal_failure_keeps_its_errno() {
    // ENOSPC and EIO stop the core alike, and the caller can tell them apart: from the
    // failed append's error and from every later call's `Failed`.
    for (seed, errno) in [(26, libc::ENOSPC), (27, libc::EIO)] {
        with_engine(seed, async |e, io| {
            let body = payload(1, 128);
            let records = [record(1, &body)];
            let mut pending = e.try_append(PG, Epoch::ZERO, &records).unwrap().unwrap();
            io.arm(Faults {
                write_errno: Some(errno),
                ..Faults::default()
            });
            let err = acknowledged(e, &mut pending).await.unwrap_err();
            assert_eq!(err.errno(), Some(errno), "{err:?}");
            let later = e.append(PG, Epoch::ZERO, &records).await.unwrap_err();
            assert!(matches!(later, EngineError::Failed(_)), "{later:?}");
            assert_eq!(later.errno(), Some(errno), "{later:?}");
            assert_eq!(e.failure().and_then(|f| f.errno), Some(errno));
        });
    }
}

#[test]
fn a_pending_append_first_polled_while_its_batch_is_written_waits_for_it() {
    // The network layer polls a connection's appends when it gets to them, often for
    // the first time while their batch is on its way to the device: that is not
    // durable yet.
    with_engine(28, async |e, _| {
        let body = payload(1, 128);
        let records = [record(1, &body)];
        let mut pending = e.try_append(PG, Epoch::ZERO, &records).unwrap().unwrap();
        let seq = pending.batch().expect("journaled");
        // Let the flusher take the batch and hand it to the (simulated) device; no
        // virtual time passes, so the write cannot complete.
        for _ in 0..8 {
            boreal_engine::rt::yield_now().await;
        }
        let stats = e.journal().stats();
        assert!(stats.inflight, "the batch is being written: {stats:?}");
        assert!(stats.durable_seq.is_none_or(|d| d < seq), "{stats:?}");
        assert!(e.poll_append(&mut pending, &mut noop()).is_pending());
        assert_eq!(e.status(PG).unwrap().scl, Lsn::ZERO, "nothing acknowledged");
        let ack = acknowledged(e, &mut pending).await.unwrap();
        assert_eq!(ack.scl, Lsn::new(1));
        assert!(e.journal().stats().durable_seq >= Some(seq));
    });
}

/// A short read of a committed catalog (a failing device returning fewer bytes than
/// the file holds, even none) must stop the open with an error: read as an
/// uncommitted catalog, it made `open_dir` create a new core over the old one.
#[test]
fn a_short_read_of_the_catalog_refuses_the_open_and_touches_nothing() {
    for keep in [0, 512, 4096] {
        let sim = sim(40 + keep as u64);
        let io = FaultyIo::new(sim.io(0, 0));
        sim.run(async {
            let (e, _) = Engine::open_dir(io.clone(), engine_config(), journal_config())
                .await
                .unwrap();
            e.create_segment(PG, PageSize::new(4096).unwrap(), 0, PAGES)
                .await
                .unwrap();
            let body = payload(1, 128);
            e.append(PG, Epoch::ZERO, &[record(1, &body)])
                .await
                .unwrap();
            drop(e);
            io.arm(Faults {
                read_short: Some(("/catalog", &[], keep)),
                ..Faults::default()
            });
            let err = Engine::open_dir(io.clone(), engine_config(), journal_config())
                .await
                .expect_err("a short catalog read fails the open");
            assert!(err.to_string().contains("short"), "{err}");
            *io.faults.borrow_mut() = Faults::default();
            let (e, report) = Engine::open_dir(io.clone(), engine_config(), journal_config())
                .await
                .unwrap();
            assert!(!report.created, "the core was created again over its data");
            assert_eq!(e.status(PG).unwrap().scl, Lsn::new(1));
        });
    }
}

/// The same for a journal file's header and its first batch's header: a short read
/// is an I/O error, never an unreadable header. Read as unreadable, both made the open
/// re-zero the file as free, losing its acknowledged records.
#[test]
fn a_short_read_of_a_journal_header_refuses_the_open() {
    let sim = sim(45);
    let io = FaultyIo::new(sim.io(0, 0));
    sim.run(async {
        let (e, _) = Engine::open_dir(io.clone(), engine_config(), journal_config())
            .await
            .unwrap();
        e.create_segment(PG, PageSize::new(4096).unwrap(), 0, PAGES)
            .await
            .unwrap();
        let body = payload(1, 128);
        e.append(PG, Epoch::ZERO, &[record(1, &body)])
            .await
            .unwrap();
        drop(e);
        io.arm(Faults {
            read_short: Some(("journal-0000.brj", &[0, 4096], 0)),
            ..Faults::default()
        });
        let err = Engine::open_dir(io.clone(), engine_config(), journal_config())
            .await
            .expect_err("a short header read fails the open");
        assert!(err.to_string().contains("short read"), "{err}");
        *io.faults.borrow_mut() = Faults::default();
        let (e, _) = Engine::open_dir(io.clone(), engine_config(), journal_config())
            .await
            .unwrap();
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(1));
    });
}
