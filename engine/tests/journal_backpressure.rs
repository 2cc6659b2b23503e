//! Backpressure and recycling: when every file holds unreleased records, appends wait
//! and `stats()` says why; releasing lets them go on in a recycled file with a new
//! generation, and the recycled file's leftovers (older generation) are never replayed.

mod journal_support;

use std::rc::Rc;

use boreal_engine::journal::{DurabilityMode, Journal, JournalError};
use boreal_engine::rt::{spawn, yield_now};
use boreal_segment::{Lsn, PgId, Record};
use journal_support::{payload, redo, sim, small_config};

#[test]
fn full_journal_waits_until_released_then_recycles() {
    let sim = sim(3);
    let io = sim.io(0, 0);
    sim.run(async move {
        let cfg = small_config(DurabilityMode::WriteThenFdatasync);
        let j = Rc::new(Journal::create(io.clone(), cfg.clone()).await.unwrap());
        // 3 files x 252 KiB of batches; each append is one ~8 KiB batch.
        let mut lsn = 0u64;
        let blocked = loop {
            lsn += 1;
            let jj = j.clone();
            let l = lsn;
            let task = spawn(async move {
                let body = payload(l, 8000);
                jj.append(&[redo(1, l, &body)]).await.unwrap()
            });
            for _ in 0..200 {
                if task.is_finished() {
                    break;
                }
                yield_now().await;
                boreal_engine::io::Clock::sleep(&io, std::time::Duration::from_micros(50)).await;
            }
            if !task.is_finished() {
                break (l, task);
            }
        };
        let s = j.stats();
        assert!(s.waiting_for_space && s.space_waits >= 1, "{s:?}");
        assert_eq!(s.files_free, 0);
        // Release everything but the blocked record: the oldest file is recycled.
        j.release(PgId::new(1), Lsn::new(blocked.0 - 1));
        blocked.1.await.unwrap();
        let s = j.stats();
        assert!(!s.waiting_for_space, "{s:?}");
        assert!(s.header_writes >= 4, "3 first uses + 1 recycle: {s:?}");
        let last = blocked.0;
        drop(j);

        // Reopen: every record still in a live file comes back, nothing from the
        // recycled file's older generation does, and sequences are contiguous.
        let (_j, rec) = Journal::open(io, cfg).await.unwrap();
        assert!(rec.missing.is_empty(), "{:?}", rec.missing);
        let lsns: Vec<u64> = rec
            .records
            .iter()
            .map(|(_, r)| {
                if let Record::Redo(r) = r {
                    r.lsn.get()
                } else {
                    0
                }
            })
            .collect();
        assert_eq!(*lsns.last().unwrap(), last);
        assert!(
            lsns.windows(2).all(|w| w[1] == w[0] + 1),
            "contiguous, no stale batch replayed: {lsns:?}"
        );
        assert!(lsns[0] > 1, "the oldest file was recycled");
        let seqs: Vec<u64> = rec.records.batches().iter().map(|b| b.seq.get()).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        let tail = rec.tail.unwrap();
        assert_eq!(
            tail.generation.get(),
            4,
            "the recycled file is the newest: {tail:?}"
        );
    });
}

/// With a space wait bound, an append that finds every file holding unreleased
/// records waits that long, then returns `JournalError::Full` (nothing of it written),
/// and the journal is not failed: once something is released, appends go on.
#[test]
fn a_full_journal_refuses_after_the_space_wait_and_recovers_after_release() {
    let sim = sim(4);
    let io = sim.io(0, 0);
    sim.run(async move {
        let cfg = small_config(DurabilityMode::WriteThenFdatasync);
        let j = Journal::create(io.clone(), cfg.clone()).await.unwrap();
        let wait = std::time::Duration::from_millis(20);
        j.set_space_wait_max(Some(wait));
        let mut lsn = 0u64;
        let err = loop {
            lsn += 1;
            let body = payload(lsn, 8000);
            let started = boreal_engine::io::Clock::now(&io);
            match j.append(&[redo(1, lsn, &body)]).await {
                Ok(_) => continue,
                Err(e) => {
                    let waited =
                        boreal_engine::io::Clock::now(&io).saturating_duration_since(started);
                    assert!(waited >= wait, "refused only after the wait: {waited:?}");
                    break e;
                }
            }
        };
        assert!(
            matches!(
                err,
                JournalError::Full {
                    encoded: 0,
                    files: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("journal full"), "{err}");
        let s = j.stats();
        assert!(
            s.failed.is_none(),
            "a full journal is not a failed one: {s:?}"
        );
        assert!(s.waiting_for_space, "{s:?}");
        // Release everything appended: the refused record goes in on retry.
        j.release(PgId::new(1), Lsn::new(lsn - 1));
        let body = payload(lsn, 8000);
        j.append(&[redo(1, lsn, &body)]).await.unwrap();
        assert!(!j.stats().waiting_for_space);
    });
}
