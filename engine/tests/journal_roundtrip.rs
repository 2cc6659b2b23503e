//! Append, acknowledge, recover: every acknowledged record comes back, in journal
//! order, with its content; appends resume at the tail; a crash loses nothing that was
//! acknowledged (several seeds, fault-free disk whose un-synced writes tear at crash).

mod journal_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::journal::{DurabilityMode, Journal};
use boreal_engine::rt::spawn;
use boreal_segment::Record;
use journal_support::{payload, redo, sim, small_config};

fn lsns_and_check(recovered: &boreal_engine::journal::RecoveredRecords) -> Vec<u64> {
    recovered
        .iter()
        .map(|(_, r)| {
            let Record::Redo(r) = r else {
                panic!("only redo was appended")
            };
            let lsn = r.lsn.get();
            assert_eq!(
                r.change.bytes(),
                payload(lsn, r.change.bytes().len()),
                "content of lsn {lsn}"
            );
            lsn
        })
        .collect()
}

#[test]
fn append_ack_reopen_round_trip_in_every_mode() {
    for mode in [
        DurabilityMode::WriteThenFdatasync,
        DurabilityMode::Linked,
        DurabilityMode::DsyncWrite,
    ] {
        let sim = sim(1);
        let io = sim.io(0, 0);
        sim.run(async move {
            let j = Journal::create(io.clone(), small_config(mode))
                .await
                .unwrap();
            for lsn in 1..=50u64 {
                let body = payload(lsn, 100 + lsn as usize);
                let a = j.append(&[redo(1, lsn, &body)]).await.unwrap();
                assert_eq!(a.records, 1);
            }
            let s = j.stats();
            assert_eq!((s.records, s.batches), (50, 50), "{s:?}");
            assert!(s.failed.is_none());
            drop(j);
            let (j, rec) = Journal::open(io.clone(), small_config(mode)).await.unwrap();
            assert_eq!(
                lsns_and_check(&rec.records),
                (1..=50).collect::<Vec<_>>(),
                "{mode:?}: {:?}",
                rec.report
            );
            assert!(rec.missing.is_empty(), "{:?}", rec.missing);
            let tail = rec.tail.unwrap();
            assert_eq!(tail.next_seq.get(), 50);
            // Appends resume at the tail and are recovered after the old ones.
            let body = payload(51, 10);
            j.append(&[redo(1, 51, &body)]).await.unwrap();
            drop(j);
            let (_j, rec) = Journal::open(io, small_config(mode)).await.unwrap();
            assert_eq!(lsns_and_check(&rec.records), (1..=51).collect::<Vec<_>>());
            let seqs: Vec<u64> = rec.records.batches().iter().map(|b| b.seq.get()).collect();
            assert_eq!(seqs, (0..=50).collect::<Vec<_>>());
        });
    }
}

#[derive(Default)]
struct Acked {
    lsns: Vec<u64>,
    /// Highest LSN released (its records may be recycled away).
    released: u64,
}

#[test]
fn crash_loses_no_acknowledged_record() {
    let mut recycled_runs = 0;
    for seed in 0..20u64 {
        let sim = sim(seed);
        let ctl = sim.control();
        let io = sim.io(0, 0);
        let acked: Rc<RefCell<Acked>> = Rc::default();
        let (io2, acked2) = (io.clone(), acked.clone());
        sim.spawn_on(0, 0, async move {
            let j = Rc::new(
                Journal::create(io2, small_config(DurabilityMode::WriteThenFdatasync))
                    .await
                    .unwrap(),
            );
            let mut tasks = Vec::new();
            for t in 0..8u64 {
                let (j, acked) = (j.clone(), acked2.clone());
                tasks.push(spawn(async move {
                    for i in 0..100_000u64 {
                        let lsn = 1 + i * 8 + t;
                        let body = payload(lsn, 64 + (lsn % 300) as usize);
                        if j.append(&[redo(1, lsn, &body)]).await.is_err() {
                            return;
                        }
                        let mut a = acked.borrow_mut();
                        a.lsns.push(lsn);
                        // The engine materializes and releases behind the acks, so the
                        // journal recycles its files.
                        let upto = lsn.saturating_sub(400);
                        if upto > a.released {
                            a.released = upto;
                            j.release(boreal_segment::PgId::new(1), boreal_segment::Lsn::new(upto));
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
        let recycled = sim.run(async move {
            let wait = 2_000_000 + ctl.random_below(100_000_000);
            ctl.sleep(Duration::from_nanos(wait)).await;
            ctl.crash_node(0);
            ctl.restart_node(0);
            let (_j, rec) = Journal::open(io, small_config(DurabilityMode::WriteThenFdatasync))
                .await
                .unwrap();
            let got: std::collections::HashSet<u64> =
                lsns_and_check(&rec.records).into_iter().collect();
            assert!(rec.missing.is_empty(), "seed {seed}: {:?}", rec.missing);
            let acked = acked.borrow();
            assert!(
                !acked.lsns.is_empty(),
                "seed {seed}: nothing acknowledged before the crash"
            );
            for lsn in acked.lsns.iter().filter(|&&l| l > acked.released) {
                assert!(
                    got.contains(lsn),
                    "seed {seed}: acknowledged lsn {lsn} lost; {} acked; report {:?}",
                    acked.lsns.len(),
                    rec.report
                );
            }
            rec.tail.is_some_and(|t| t.generation.get() > 3)
        });
        recycled_runs += usize::from(recycled);
    }
    assert!(
        recycled_runs >= 5,
        "only {recycled_runs} runs recycled a file before the crash"
    );
}
