//! Repeated crashes under write and sync EIO: every seed runs several incarnations of
//! one node (create or open, append from concurrent tasks, crash at a random time),
//! and after every crash every acknowledged, unreleased record is recovered, nothing is
//! reported missing (the disk destroys no durable data here), and a failed journal
//! acknowledges nothing after its failure. Across the seeds, crashes must have torn
//! writes and dropped un-synced changes: a disk that made every write durable at once
//! would pass every check above and prove nothing.
//!
//! Replay one seed: `SEED=<n> cargo test -p boreal-engine --test journal_sim_crashes -- --nocapture`.

mod journal_support;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::journal::{DurabilityMode, Journal};
use boreal_engine::rt::spawn;
use boreal_engine::sim::{DiskStats, FaultConfig, Sim, SimConfig};
use boreal_segment::{Lsn, PgId, Record};
use journal_support::{payload, redo, small_config};

const INCARNATIONS: u64 = 4;

#[derive(Default)]
struct Model {
    acked: Vec<u64>,
    released: u64,
    failed: bool,
    fail_stops: u64,
}

fn run_seed(seed: u64) -> (u64, DiskStats) {
    let faults = FaultConfig {
        write_eio_probability: 0.002,
        sync_eio_probability: 0.002,
        ..FaultConfig::none()
    };
    let sim = Sim::new(SimConfig {
        seed,
        faults,
        ..SimConfig::default()
    });
    sim.add_node();
    let ctl = sim.control();
    let io = sim.io(0, 0);
    let mode = [
        DurabilityMode::WriteThenFdatasync,
        DurabilityMode::Linked,
        DurabilityMode::DsyncWrite,
    ][(seed % 3) as usize];
    let model: Rc<RefCell<Model>> = Rc::default();
    for incarnation in 0..INCARNATIONS {
        let (io2, m) = (io.clone(), model.clone());
        sim.spawn_on(0, 0, async move {
            let cfg = small_config(mode);
            let j = if incarnation == 0 {
                // Creation syncs too, so an injected EIO can fail it; nothing was
                // acknowledged yet, so a failed creation is simply made again over
                // what it left.
                let mut created = Journal::create(io2.clone(), cfg.clone()).await;
                for _ in 0..20 {
                    match &created {
                        Err(e) if e.to_string().contains("Input/output error") => {
                            created = Journal::create_over(io2.clone(), cfg.clone()).await;
                        }
                        _ => break,
                    }
                }
                created.unwrap()
            } else {
                // The open zeroes and syncs the tail, so an injected EIO can fail it:
                // then this incarnation appends nothing.
                let Ok((j, _)) = Journal::open(io2, cfg).await else {
                    m.borrow_mut().failed = true;
                    return;
                };
                let upto = m.borrow().released;
                j.release(PgId::new(1), Lsn::new(upto));
                j
            };
            let j = Rc::new(j);
            let mut tasks = Vec::new();
            for t in 0..6u64 {
                let (j, m) = (j.clone(), m.clone());
                tasks.push(spawn(async move {
                    for i in 0..100_000u64 {
                        let lsn = incarnation * 10_000_000 + 1 + i * 6 + t;
                        let body = payload(lsn, 32 + (lsn % 500) as usize);
                        let r = j.append(&[redo(1, lsn, &body)]).await;
                        let mut m = m.borrow_mut();
                        match r {
                            Ok(_) => {
                                m.acked.push(lsn);
                            }
                            Err(_) => {
                                m.failed = true;
                                return;
                            }
                        }
                        let upto = lsn.saturating_sub(300);
                        if upto > m.released {
                            m.released = upto;
                            j.release(PgId::new(1), Lsn::new(upto));
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
        let (io3, m, c) = (io.clone(), model.clone(), ctl.clone());
        sim.run(async move {
            let wait = 1_000_000 + c.random_below(60_000_000);
            c.sleep(Duration::from_nanos(wait)).await;
            c.crash_node(0);
            c.restart_node(0);
            // An open that an injected EIO failed (it writes at the tail) changed
            // nothing acknowledged: crash and open again.
            let mut attempts = 0;
            let (j, rec) = loop {
                match Journal::open(io3.clone(), small_config(mode)).await {
                    Ok(opened) => break opened,
                    Err(e) => {
                        attempts += 1;
                        assert!(
                            attempts < 20 && e.to_string().contains("Input/output error"),
                            "seed {seed}: open failed: {e}"
                        );
                        c.crash_node(0);
                        c.restart_node(0);
                    }
                }
            };
            drop(j);
            let got: HashSet<u64> = rec
                .records
                .iter()
                .filter_map(|(_, r)| {
                    if let Record::Redo(r) = r {
                        Some(r.lsn.get())
                    } else {
                        None
                    }
                })
                .collect();
            let mut m = m.borrow_mut();
            assert!(
                rec.missing.is_empty(),
                "seed {seed}: {:?}\n{:?}",
                rec.missing,
                rec.report
            );
            for lsn in m.acked.iter().filter(|&&l| l > m.released) {
                assert!(
                    got.contains(lsn),
                    "seed {seed} incarnation {incarnation}: acknowledged lsn {lsn} lost\n{:?}",
                    rec.report
                );
            }
            m.fail_stops += u64::from(m.failed);
            m.failed = false;
        });
    }
    let fail_stops = model.borrow().fail_stops;
    (fail_stops, ctl.disk_stats(0))
}

#[test]
fn crashes_and_io_errors_lose_no_acknowledged_record() {
    if let Some(seed) = std::env::var("SEED").ok().and_then(|s| s.parse().ok()) {
        let (fail_stops, disk) = run_seed(seed);
        println!("seed={seed} fail_stops={fail_stops} {disk:?}");
        return;
    }
    let (mut fail_stops, mut torn, mut dropped) = (0, 0, 0);
    for seed in 0..30 {
        match std::panic::catch_unwind(|| run_seed(seed)) {
            Ok((n, disk)) => {
                fail_stops += n;
                torn += disk.crash_torn_writes;
                dropped += disk.crash_dropped_changes;
            }
            Err(_) => panic!(
                "seed {seed} failed; replay: SEED={seed} cargo test -p boreal-engine --test journal_sim_crashes -- --nocapture"
            ),
        }
    }
    assert!(fail_stops > 0, "no seed exercised a fail-stop");
    assert!(
        torn > 0 && dropped > 0,
        "no crash tore a write ({torn}) or dropped an un-synced change ({dropped})"
    );
}
