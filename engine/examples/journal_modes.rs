//! journal_modes: measures the journal's three durability modes on a real file with
//! `UringIo`, at 1, 16 and 256 concurrent appenders, with 128 B and 4 KiB records, and
//! prints commits/s (durable batches), records/s and p50/p99 commit latency.
//!
//! Run on a quiet machine (NVMe-NOTES "Dirty pages": wait for `Dirty` to drain first):
//!
//! ```text
//! cargo run --release -p boreal-engine --example journal_modes -- DIR [--secs 3] [--smoke]
//! ```
//!
//! `DIR` must be on the device under test (not tmpfs: O_DIRECT). Each mode creates its
//! own journal (4 files of 16 MiB, pre-written) in `DIR/<mode>` and removes it after.
//! `--smoke` runs every combination for 50 ms: a check that the benchmark still works.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Io;
use boreal_engine::journal::{DurabilityMode, Journal, JournalConfig};
use boreal_engine::rt::{Runtime, RuntimeConfig, spawn};
use boreal_segment::{Change, Lsn, PageId, PgId, Record, Redo};
use hdrhistogram::Histogram;

const MODES: [DurabilityMode; 3] = [
    DurabilityMode::WriteThenFdatasync,
    DurabilityMode::Linked,
    DurabilityMode::DsyncWrite,
];
const CONCURRENCY: [usize; 3] = [1, 16, 256];
const RECORD_BYTES: [usize; 2] = [128, 4096];

struct Args {
    dir: PathBuf,
    run: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut run = Duration::from_secs(3);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => run = Duration::from_millis(50),
            "--secs" => {
                let v = it.next().ok_or("--secs needs a value")?;
                run = Duration::from_secs_f64(
                    v.parse::<f64>().map_err(|e| format!("--secs {v}: {e}"))?,
                );
            }
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    Ok(Args {
        dir: dir.ok_or("usage: journal_modes DIR [--secs N] [--smoke]")?,
        run,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = Runtime::new(RuntimeConfig::default()).expect("io_uring runtime");
    let io = rt.io().clone();
    println!(
        "{:<20} {:>7} {:>5} {:>10} {:>11} {:>9} {:>9} {:>8}",
        "mode", "rec_B", "conc", "commits/s", "records/s", "p50_us", "p99_us", "rec/batch"
    );
    for mode in MODES {
        let dir = args.dir.join(format!("{mode:?}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the journal directory");
        rt.block_on(bench_mode(io.clone(), &dir, mode, args.run));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

async fn bench_mode<I: Io>(io: I, dir: &Path, mode: DurabilityMode, run: Duration) {
    let cfg = JournalConfig {
        files: 4,
        file_bytes: 16 << 20,
        durability: mode,
        ..JournalConfig::new(dir)
    };
    let j = Rc::new(
        Journal::create(io.clone(), cfg)
            .await
            .expect("create the journal"),
    );
    let next_lsn = Rc::new(Cell::new(1u64));
    for record_bytes in RECORD_BYTES {
        for concurrency in CONCURRENCY {
            let hist = Rc::new(RefCell::new(
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            ));
            let before = j.stats();
            let start = io.now();
            let deadline = start.saturating_add(run);
            let mut tasks = Vec::with_capacity(concurrency);
            for _ in 0..concurrency {
                let (j, io, hist, next_lsn) =
                    (j.clone(), io.clone(), hist.clone(), next_lsn.clone());
                tasks.push(spawn(async move {
                    let body = vec![0x5Au8; record_bytes];
                    while io.now() < deadline {
                        let lsn = next_lsn.get();
                        next_lsn.set(lsn + 1);
                        let record = Record::Redo(Redo {
                            lsn: Lsn::new(lsn),
                            prev_lsn_pg: Lsn::new(lsn - 1),
                            prev_lsn_page: Lsn::ZERO,
                            pg_id: PgId::new(1),
                            page_id: PageId::new(lsn % 1024),
                            cpl: true,
                            change: Change::Delta {
                                offset: 0,
                                bytes: &body,
                            },
                        });
                        let t0 = io.now();
                        j.append(&[record]).await.expect("append");
                        let us = io.now().saturating_duration_since(t0).as_micros() as u64;
                        hist.borrow_mut().saturating_record(us.max(1));
                        // Everything acknowledged counts as materialized, so files recycle.
                        // (Holding back a fixed number of records would deadlock: at depth 1
                        // every record costs a whole 4 KiB batch, and a full journal waits
                        // for a release that only these appenders could make.)
                        j.release(PgId::new(1), Lsn::new(lsn));
                    }
                }));
            }
            for t in tasks {
                t.await.expect("appender task");
            }
            let secs = io.now().saturating_duration_since(start).as_secs_f64();
            let after = j.stats();
            let batches = after.batches - before.batches;
            let records = after.records - before.records;
            let h = hist.borrow();
            println!(
                "{:<20} {:>7} {:>5} {:>10.0} {:>11.0} {:>9} {:>9} {:>8.1}",
                format!("{mode:?}"),
                record_bytes,
                concurrency,
                batches as f64 / secs,
                records as f64 / secs,
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                records as f64 / batches.max(1) as f64
            );
            j.release(PgId::new(1), Lsn::new(next_lsn.get()));
        }
    }
}
