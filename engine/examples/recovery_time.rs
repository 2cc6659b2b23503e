//! recovery_time: how long `Journal::open` takes to recover a full journal.
//!
//! Fills a journal of `--mib` MiB (64 MiB files, pre-written, O_DIRECT) with redo
//! records of `--record-bytes` bytes until it is ~95% full, with nothing released, so
//! recovery must read and check every batch; then drops it and times `Journal::open`
//! on the same directory, three times, printing the records recovered and the time,
//! then how long `CoreEngine::open_dir` takes to prepare its replay from them and to
//! walk them (damage ranges, the set of PGs named, and one pass over every record
//! borrowed from the journal's read windows, as `CoreEngine::open_replaying` reads them;
//! the hot-log work per record is not included).
//!
//! ```text
//! cargo run --release -p boreal-engine --example recovery_time -- DIR [--mib 1024] [--record-bytes 128] [--reuse]
//! ```
//!
//! `--reuse` skips the fill and recovers the journal a previous run left in
//! `DIR/journal` (same `--mib`), so a profile sees only recovery. Each open also prints
//! the CPU time the process spent (user + system), which is less noisy than wall time
//! on a shared machine.
//!
//! `DIR` must be on the device under test (O_DIRECT). Run on a quiet machine
//! (NVMe-NOTES "Dirty pages"). The journal is left in `DIR/journal` for inspection.

#[allow(dead_code, reason = "each example uses part of it")]
mod support;

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::{Clock, Io};
use boreal_engine::journal::{Journal, JournalConfig};
use boreal_engine::rt::{Runtime, RuntimeConfig, spawn};
use boreal_segment::{Change, Lsn, PageId, PgId, Record, Redo};
use support::cpu_seconds;

const FILE_BYTES: u64 = 64 << 20;
const APPENDERS: u64 = 4;

struct Args {
    dir: PathBuf,
    mib: u64,
    record_bytes: usize,
    reuse: bool,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: recovery_time DIR [--mib N] [--record-bytes N] [--reuse]";
    let (mut dir, mut mib, mut record_bytes, mut reuse) = (None, 1024, 128, false);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse::<u64>().map_err(|e| format!("{name} {v}: {e}"))
        };
        match a.as_str() {
            "--mib" => mib = value("--mib")?,
            "--record-bytes" => record_bytes = value("--record-bytes")? as usize,
            "--reuse" => reuse = true,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}\n{usage}")),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    if mib < 128 {
        return Err("--mib must be at least 128 (two 64 MiB files)".into());
    }
    if !(1..=4096).contains(&record_bytes) {
        return Err("--record-bytes must be in 1..=4096".into());
    }
    Ok(Args {
        dir: dir.ok_or(usage)?,
        mib,
        record_bytes,
        reuse,
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
    let dir = args.dir.join("journal");
    if !args.reuse {
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("cannot create {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
    let cfg = JournalConfig {
        files: u32::try_from(args.mib.div_ceil(64)).expect("file count fits u32"),
        file_bytes: FILE_BYTES,
        ..JournalConfig::new(&dir)
    };
    let rt = Runtime::new(RuntimeConfig::default()).expect("io_uring runtime");
    let io = rt.io().clone();
    rt.block_on(async move {
        let mut filled = if args.reuse {
            None
        } else {
            let t0 = io.now();
            let filled = fill(io.clone(), cfg.clone(), args.record_bytes).await;
            let fill_s = io.now().saturating_duration_since(t0).as_secs_f64();
            println!(
                "filled {:.0} MiB of journal with {} records of {} B in {:.1} s",
                filled.0 as f64 / (1u64 << 20) as f64,
                filled.1,
                args.record_bytes,
                fill_s
            );
            Some(filled)
        };
        // With --reuse the journal's size is what the files hold.
        let journal_bytes = u64::from(cfg.files) * cfg.file_bytes;
        for attempt in 1..=3 {
            let cpu = cpu_seconds();
            let t = io.now();
            let (j, rec) = Journal::open(io.clone(), cfg.clone())
                .await
                .expect("recover the journal");
            let took = io.now().saturating_duration_since(t);
            let cpu = cpu_seconds() - cpu;
            let records = rec.records.len() as u64;
            let bytes = filled.map_or(journal_bytes, |f| f.0);
            println!(
                "open #{attempt}: recovered {records} records, {} missing ranges, in {:.3} s ({:.2} GB/s of batches, {:.2} GB/s of journal), cpu {cpu:.3} s",
                rec.missing.len(),
                took.as_secs_f64(),
                bytes as f64 / took.as_secs_f64() / 1e9,
                journal_bytes as f64 / took.as_secs_f64() / 1e9,
            );
            let expected = filled.get_or_insert((journal_bytes, records)).1;
            assert_eq!(records, expected, "every record recovered");
            // What `CoreEngine::open_dir` adds around its hot-log work: the damage
            // ranges, and one walk of the borrowed records gathering the PGs they name.
            let t = io.now();
            let damage = boreal_engine::node::wal_damage(&rec);
            let mut pgs = std::collections::BTreeSet::new();
            let (mut walked, mut max_lsn) = (0u64, Lsn::ZERO);
            for (_, r) in rec.records.iter() {
                walked += 1;
                pgs.insert(r.pg_id());
                if let Record::Redo(r) = r {
                    max_lsn = max_lsn.max(r.lsn);
                }
            }
            println!(
                "  replay input: {walked} borrowed records of {} PGs (max LSN {max_lsn}), {} damage ranges, in {:.3} s",
                pgs.len(),
                damage.0.len() + damage.1.len(),
                io.now().saturating_duration_since(t).as_secs_f64()
            );
            drop(rec);
            drop(j);
            // Let the dropped journal's flusher task finish before the next open.
            boreal_engine::rt::sleep(Duration::from_millis(10)).await;
        }
    });
}

/// Appends until the journal holds ~95% of its capacity; returns (bytes, records).
async fn fill<I: Io>(io: I, cfg: JournalConfig, record_bytes: usize) -> (u64, u64) {
    let capacity = u64::from(cfg.files) * cfg.file_bytes;
    let target = capacity / 100 * 95;
    let batch_records = (cfg.batch_bytes_max / (record_bytes + 56)).clamp(1, 4096) / 2;
    let j = Rc::new(Journal::create(io, cfg).await.expect("create the journal"));
    let mut tasks = Vec::new();
    for worker in 0..APPENDERS {
        let j = j.clone();
        tasks.push(spawn(async move {
            let body = vec![0xA5u8; record_bytes];
            let mut round = 0u64;
            loop {
                if j.stats().bytes >= target {
                    return;
                }
                // LSNs interleave across workers: worker w owns w+1, w+1+APPENDERS, ...
                // Each worker is its own PG so its backlink chain is exact.
                let base = (round * batch_records as u64) * APPENDERS;
                let records: Vec<Record<'_>> = (0..batch_records as u64)
                    .map(|i| {
                        let lsn = base + i * APPENDERS + worker + 1;
                        Record::Redo(Redo {
                            lsn: Lsn::new(lsn),
                            prev_lsn_pg: Lsn::new(lsn.saturating_sub(APPENDERS)),
                            prev_lsn_page: Lsn::ZERO,
                            pg_id: PgId::new(worker as u32 + 1),
                            page_id: PageId::new(lsn % 1024),
                            cpl: true,
                            change: Change::Delta {
                                offset: 0,
                                bytes: &body,
                            },
                        })
                    })
                    .collect();
                j.append(&records).await.expect("append");
                round += 1;
            }
        }));
    }
    for t in tasks {
        t.await.expect("appender");
    }
    let s = j.stats();
    (s.bytes, s.records)
}
