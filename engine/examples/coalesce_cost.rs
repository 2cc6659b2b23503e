//! coalesce_cost: the CPU cost of the coalescer per materialized record, for a profiler.
//!
//! Opens a core in `DIR` (`CoreEngine::open_dir` on `UringIo`, background coalescer
//! off), creates one segment of `--pages` pages of 8 KiB, and runs `--rounds` rounds:
//! append `--records` 128-byte delta records (64 per append, page `k mod pages`, like
//! the `boreal-journal` bench job), raise the min read point to the SCL, then one
//! coalescer pass (`coalesce_now`). Round 1 is named `pass_cold` (every page is read
//! from disk and is still zeros); later rounds are `pass_warm` (base images from the
//! page cache, or from disk when `--cache-bytes 0`: valid images in both slots).
//!
//! ```text
//! cargo build --release -p boreal-engine --example coalesce_cost
//! valgrind --tool=callgrind target/release/examples/coalesce_cost DIR
//! callgrind_annotate --inclusive=yes callgrind.out.* | grep pass_
//! ```
//!
//! Instructions per record: the inclusive cost of `pass_cold` / `pass_warm` divided by
//! the records each printed line says it materialized. Without a profiler, each line
//! also gives the pass's wall time and the thread's CPU time per record. `DIR` must allow O_DIRECT.

use std::path::PathBuf;

use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{CoreEngine, EngineConfig};
use boreal_engine::rt::{Runtime, RuntimeConfig};
use boreal_engine::uring::UringIo;
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};

type Engine = CoreEngine<UringIo>;

const RECORD_BYTES: usize = 128;
const RECORDS_PER_APPEND: u64 = 64;

struct Args {
    dir: PathBuf,
    pages: u64,
    records: u64,
    rounds: u32,
    cache_bytes: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage =
        "usage: coalesce_cost DIR [--pages 1024] [--records 65536] [--rounds 3] [--cache-bytes N]";
    let mut args = Args {
        dir: PathBuf::new(),
        pages: 1024,
        records: 65536,
        rounds: 3,
        cache_bytes: 64 << 20,
    };
    let mut dir = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse::<u64>().map_err(|e| format!("{name} {v}: {e}"))
        };
        match a.as_str() {
            "--pages" => args.pages = value("--pages")?.max(1),
            "--records" => args.records = value("--records")?.max(1),
            "--rounds" => args.rounds = value("--rounds")?.max(1) as u32,
            "--cache-bytes" => args.cache_bytes = value("--cache-bytes")? as usize,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}\n{usage}")),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    args.dir = dir.ok_or(usage)?;
    Ok(args)
}

/// CPU time the calling thread has run, in nanoseconds (`/proc/thread-self/schedstat`):
/// a pass waits on its paced page writes, so its wall time says little about its cost.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("read /proc/thread-self/schedstat");
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("schedstat starts with the thread's run time in ns")
}

#[inline(never)]
fn pass_cold(rt: &Runtime, e: &Engine) -> usize {
    rt.block_on(e.coalesce_now()).expect("coalesce")
}

#[inline(never)]
fn pass_warm(rt: &Runtime, e: &Engine) -> usize {
    rt.block_on(e.coalesce_now()).expect("coalesce")
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&args.dir).expect("create DIR");
    for entry in std::fs::read_dir(&args.dir).expect("read DIR").flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    let rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let mut cfg = EngineConfig::new(&args.dir);
    cfg.background_coalescer = false;
    cfg.page_cache_bytes_max = args.cache_bytes;
    cfg.coalesce_pass_bytes_max = usize::MAX / 2;
    // Appends under a profiler are slow; nothing here may count as a stalled backlog.
    cfg.backlog_age_max = std::time::Duration::from_secs(24 * 3600);
    let jcfg = JournalConfig {
        files: 4,
        file_bytes: 64 << 20,
        ..JournalConfig::new(&args.dir)
    };
    let pg = PgId::new(1);
    let page_size = PageSize::DEFAULT;
    let e: Engine = rt.block_on(async {
        let (e, _) = Engine::open_dir(rt.io().clone(), cfg, jcfg)
            .await
            .expect("open_dir");
        e.create_segment(pg, page_size, 0, args.pages)
            .await
            .expect("create_segment");
        e
    });
    let slots = (page_size.payload_len() / RECORD_BYTES) as u64;
    let body: Vec<u8> = (0..RECORD_BYTES).map(|i| i as u8 | 1).collect();
    let mut next = 1u64;
    for round in 0..args.rounds {
        let end = next + args.records;
        rt.block_on(async {
            let mut recs = Vec::with_capacity(RECORDS_PER_APPEND as usize);
            while next < end {
                recs.clear();
                for k in next..(next + RECORDS_PER_APPEND).min(end) {
                    let i = k - 1;
                    let page = i % args.pages;
                    let prev_page = if i >= args.pages { k - args.pages } else { 0 };
                    recs.push(Redo {
                        lsn: Lsn::new(k),
                        prev_lsn_pg: Lsn::new(k - 1),
                        prev_lsn_page: Lsn::new(prev_page),
                        pg_id: pg,
                        page_id: PageId::new(page),
                        cpl: true,
                        change: Change::Delta {
                            offset: (((i / args.pages) % slots) as usize * RECORD_BYTES) as u32,
                            bytes: &body,
                        },
                    });
                }
                next += recs.len() as u64;
                e.append(pg, Epoch::ZERO, &recs).await.expect("append");
            }
        });
        e.set_min_read_point(pg, Lsn::new(end - 1))
            .expect("min read point");
        let (started, cpu_started) = (std::time::Instant::now(), thread_cpu_ns());
        let n = if round == 0 {
            pass_cold(&rt, &e)
        } else {
            pass_warm(&rt, &e)
        };
        let (took, cpu) = (started.elapsed(), thread_cpu_ns() - cpu_started);
        let s = e.stats();
        println!(
            "round {round}: {} {n} records materialized in {:.1} ms, {:.1} ms CPU \
             ({:.0} ns CPU/record); pages_written {} cache hits {} misses {}",
            if round == 0 { "pass_cold" } else { "pass_warm" },
            took.as_secs_f64() * 1e3,
            cpu as f64 / 1e6,
            cpu as f64 / n.max(1) as f64,
            s.pages_written,
            s.cache_hits,
            s.cache_misses
        );
    }
}
