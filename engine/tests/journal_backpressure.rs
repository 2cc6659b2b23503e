//! Backpressure and recycling: when every file holds unreleased records, appends wait
//! and `stats()` says why; releasing lets them go on in a recycled file with a new
//! generation, and the recycled file's leftovers (older generation) are never replayed.

mod journal_support;

use std::rc::Rc;

use boreal_engine::journal::{DurabilityMode, Journal};
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
