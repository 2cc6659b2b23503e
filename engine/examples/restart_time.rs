//! restart_time: how long a whole storage-engine restart takes, from the start of
//! `CoreEngine::open_dir` to an engine ready to serve, on a data directory holding as
//! much un-materialized redo as a core can be left with.
//!
//! The fill creates a core in `DIR` with `CoreEngine::open_dir` (`UringIo`), creates
//! `--pgs` segments of 1024 pages of 8 KiB (page-store catalog, page and metadata
//! files), and appends `--record-bytes` delta records, 64 per append from 64 concurrent
//! tasks, PGs round-robin per append, LSNs increasing across the core and honest
//! `prev_lsn_pg` / `prev_lsn_page` chains per PG and per page (as the `boreal-journal`
//! bench's sequencer builds them), into a journal of `--mib` MiB (64 MiB files). The
//! engine's backlog bound (`backlog_bytes_max`) is the largest `open_dir` accepts for
//! the journal: a quarter of it (`JournalConfig::backlog_bytes_fit`, checked by
//! `JournalConfig::check_backlog`); the age bound is a day, so only the bytes bound
//! stops appends. Two fills:
//!
//! * Realistic (the default): the engine's real worst case. Everything goes through
//!   `CoreEngine::append`, with the background coalescer on as in production, and the
//!   fill plays the shim's part: every 10 ms it raises each PG's min read point to the
//!   SCL it was last acknowledged (as the `boreal-journal` bench does,
//!   `READ_POINT_INTERVAL`), so records are materialized and journal files recycled.
//!   Once the journal has been written through end to end (at least 1.2 × its size
//!   written and as many recycled-file headers as it has files), the fill stops raising
//!   the min read points: nothing more can be materialized, and the backlog grows until
//!   appends wait at the bound and are refused (`EngineError::Backlogged`). The fill
//!   stops there. Appends refused below an acknowledged LSN of their PG (holes a
//!   concurrent append jumped over) are retried (a gap-filling append never waits);
//!   the others, above everything acknowledged, are dropped, never acknowledged. The
//!   core then holds as much un-materialized redo as it ever can: one backlog bound
//!   (a quarter of the journal) above the materialized LSN, everything older
//!   materialized and its journal files recycled. A crash at that moment is the worst
//!   restart a core running within its bounds can face: the journal scan reads every
//!   file (all have been written), and the hot-log replay is one backlog bound.
//! * `--overfill`: more un-materialized records than the engine can hold; an upper
//!   bound. The coalescer never runs (`background_coalescer` off); the fill appends
//!   through `CoreEngine::append` until the hot logs are one round of appends short of
//!   the backlog bound (past it, with no coalescer, an append is refused), drops the
//!   engine, and writes the rest through `Journal::append` on the same journal
//!   (`Journal::open`), continuing the same chains, until the journal is ~95% full: the
//!   directory holds what a core would hold had its backlog been allowed to reach the
//!   whole journal (nearly four backlog bounds), which the engine never allows.
//!
//! Either fill keeps the last acknowledged LSN of each PG in `DIR/restart_time.lsns`
//! (with the fill's name).
//!
//! Then, three times: time `open_dir` (wall, and CPU of the process: user + system,
//! less noisy on a shared machine), print the records it recovered and replayed into
//! the hot logs, each PG's SCL, materialized LSN and hot-log records, and the process's
//! resident memory, check that every PG's SCL is the last LSN acknowledged to it
//! (nothing acknowledged lost), drop the engine; then time `Journal::open` alone on the
//! same journal (`open_dir` reports no breakdown), so the output shows the journal scan
//! apart from the rest (catalog, segments, hot-log replay, release). The timed opens
//! run with the coalescer off, so the directory stays as the fill left it (the
//! coalescer is only spawned by `open_dir`: it costs nothing before the engine is
//! ready).
//!
//! ```text
//! cargo run --release -p boreal-engine --example restart_time -- DIR [--mib 1024] [--record-bytes 128] [--pgs 4] [--overfill] [--reuse]
//! ```
//!
//! `--reuse` skips the fill and re-times the open of the data directory a previous
//! run (either fill) left in `DIR` (same `--mib`; `--record-bytes`, `--pgs` and
//! `--overfill` are ignored), so a profile sees only the restart. The data directory is
//! left in `DIR` (`DIR/pages`, `DIR/journal`) for inspection.
//!
//! `DIR` must be on the device under test (O_DIRECT) with room for the journal and the
//! page files (8 MiB per PG). Run on a quiet machine (NVMe-NOTES "Dirty pages"); an
//! `--overfill` 1 GiB journal needs ~2.3 GiB of memory at the peak of an open (the
//! journal's read windows and the hot logs they are replayed into).

#[allow(dead_code, reason = "each example uses part of it")]
mod support;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::journal::{Journal, JournalConfig};
use boreal_engine::node::{CoreEngine, EngineConfig, EngineError};
use boreal_engine::rt::{Runtime, RuntimeConfig, sleep, spawn};
use boreal_engine::uring::UringIo;
use boreal_segment::limits::RECORD_HEADER_SIZE;
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Record, Redo};
use support::{cpu_seconds, rss_mib};

type Engine = CoreEngine<UringIo>;

const FILE_BYTES: u64 = 64 << 20;
const PAGE_SIZE: PageSize = PageSize::DEFAULT;
const PAGES_PER_PG: u64 = 1024;
const PGS_MAX: u64 = 64;
/// Concurrent appender tasks.
const APPENDERS: usize = 64;
/// Records per append.
const RECORDS_PER_APPEND: usize = 64;
/// How full the `--overfill` fill leaves the journal, percent.
const FULL_PERCENT: u64 = 95;
/// Journal bytes the realistic fill writes before it stops raising the min read
/// points, in tenths of the journal's size.
const WRITE_THROUGH_TENTHS: u64 = 12;
/// How often the realistic fill, as the shim, raises each PG's min read point to its
/// acknowledged SCL (the `boreal-journal` bench's `READ_POINT_INTERVAL`).
const READ_POINT_INTERVAL: Duration = Duration::from_millis(10);
/// Longest the final phase of the realistic fill may take before it is given up.
const FINAL_PHASE_MAX: Duration = Duration::from_secs(300);
/// Name of the file (in `DIR`) holding each PG's last acknowledged LSN.
const LSNS_FILE: &str = "restart_time.lsns";

struct Args {
    dir: PathBuf,
    mib: u64,
    record_bytes: usize,
    pgs: u64,
    overfill: bool,
    reuse: bool,
}

fn parse_args() -> Result<Args, String> {
    let usage =
        "usage: restart_time DIR [--mib N] [--record-bytes N] [--pgs N] [--overfill] [--reuse]";
    let (mut dir, mut mib, mut record_bytes, mut pgs) = (None, 1024, 128, 4);
    let (mut overfill, mut reuse) = (false, false);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value\n{usage}"))?;
            v.parse::<u64>()
                .map_err(|e| format!("{name} {v}: {e}\n{usage}"))
        };
        match a.as_str() {
            "--mib" => mib = value("--mib")?,
            "--record-bytes" => record_bytes = value("--record-bytes")? as usize,
            "--pgs" => pgs = value("--pgs")?,
            "--overfill" => overfill = true,
            "--reuse" => reuse = true,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}\n{usage}")),
            _ if dir.is_some() => return Err(format!("more than one DIR: {a}\n{usage}")),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    if mib < 128 {
        return Err("--mib must be at least 128 (two 64 MiB files)".into());
    }
    if !(1..=4096).contains(&record_bytes) {
        return Err("--record-bytes must be in 1..=4096".into());
    }
    if !(1..=PGS_MAX).contains(&pgs) {
        return Err(format!("--pgs must be in 1..={PGS_MAX}"));
    }
    Ok(Args {
        dir: dir.ok_or(usage)?,
        mib,
        record_bytes,
        pgs,
        overfill,
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
    let pages_dir = args.dir.join("pages");
    let journal_dir = args.dir.join("journal");
    let lsns_path = args.dir.join(LSNS_FILE);
    if !args.reuse {
        let _ = std::fs::remove_file(&lsns_path);
        for d in [&pages_dir, &journal_dir] {
            let _ = std::fs::remove_dir_all(d);
            if let Err(e) = std::fs::create_dir_all(d) {
                eprintln!("cannot create {}: {e}", d.display());
                std::process::exit(1);
            }
        }
    }
    let jcfg = JournalConfig {
        files: u32::try_from(args.mib.div_ceil(64)).expect("file count fits u32"),
        file_bytes: FILE_BYTES,
        ..JournalConfig::new(&journal_dir)
    };
    // The timed opens (and the `--overfill` fill) run without the coalescer.
    let mut ecfg = EngineConfig::new(&pages_dir);
    ecfg.background_coalescer = false;
    // The largest bound `open_dir` accepts for this journal; no age bound to speak of.
    ecfg.backlog_bytes_max = usize::try_from(jcfg.backlog_bytes_fit()).expect("fits usize");
    ecfg.backlog_age_max = Duration::from_secs(24 * 3600);
    let rt = Runtime::new(RuntimeConfig::default()).expect("io_uring runtime");
    let io = rt.io().clone();
    rt.block_on(async move {
        let expected = if args.reuse {
            match read_lsns(&lsns_path) {
                Ok((mode, l)) => {
                    println!("reuse: the data directory left by the {mode} fill");
                    l
                }
                Err(e) => {
                    eprintln!(
                        "--reuse: cannot read {}: {e} (run once without --reuse first)",
                        lsns_path.display()
                    );
                    std::process::exit(1);
                }
            }
        } else {
            let (mode, last) = if args.overfill {
                ("overfill", fill_overfill(&io, &ecfg, &jcfg, &args).await)
            } else {
                ("realistic", fill_realistic(&io, &ecfg, &jcfg, &args).await)
            };
            write_lsns(&lsns_path, mode, &last).expect("write DIR/restart_time.lsns");
            last
        };
        for attempt in 1..=3 {
            let (whole, whole_cpu) = time_open_dir(&io, &ecfg, &jcfg, &expected, attempt).await;
            let (scan, scan_cpu) = time_journal_open(&io, &jcfg).await;
            println!(
                "  rest of open_dir (catalog, segments, hot-log replay, release) ~ {:.3} s, cpu {:.3} s",
                whole - scan,
                whole_cpu - scan_cpu
            );
        }
    });
}

/// One timed `open_dir`, its checks and its lines of output; the engine is dropped.
/// Returns the wall and CPU seconds of the open.
async fn time_open_dir(
    io: &UringIo,
    ecfg: &EngineConfig,
    jcfg: &JournalConfig,
    expected: &BTreeMap<PgId, Lsn>,
    attempt: u32,
) -> (f64, f64) {
    let cpu = cpu_seconds();
    let t = io.now();
    let (core, report) = Engine::open_dir(io.clone(), ecfg.clone(), jcfg.clone())
        .await
        .expect("open_dir on the data directory");
    let took = io.now().saturating_duration_since(t).as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let rss = rss_mib();
    assert!(!report.created, "DIR held no committed catalog");
    let (mut hot_records, mut hot_bytes) = (0usize, 0usize);
    let mut lines = Vec::new();
    let segments = core.segments();
    assert_eq!(
        segments,
        expected.keys().copied().collect::<Vec<_>>(),
        "the catalog names the PGs the fill created"
    );
    for pg in segments {
        let st = core.status(pg).expect("segment status");
        hot_records += st.hot_records;
        hot_bytes += st.backlog_bytes;
        assert_eq!(
            st.scl, expected[&pg],
            "{pg}: recovered SCL is the last LSN acknowledged (holes {:?})",
            st.holes
        );
        assert!(st.holes.is_empty(), "{pg}: holes {:?}", st.holes);
        lines.push(format!(
            "  {pg}: SCL {} (= last acknowledged), materialized {}, {} hot-log records",
            st.scl, st.materialized_lsn, st.hot_records
        ));
    }
    println!(
        "open_dir #{attempt}: {} journal records recovered, {} damaged ranges, {hot_records} records ({:.0} MiB) replayed into the hot logs of {} PGs, ready in {took:.3} s, cpu {cpu:.3} s, rss {rss:.0} MiB",
        report.records_recovered,
        report.missing.len(),
        hot_bytes as f64 / (1u64 << 20) as f64,
        expected.len(),
    );
    if attempt == 1 {
        for l in &lines {
            println!("{l}");
        }
    }
    let t = io.now();
    drop(core);
    let dropped = io.now().saturating_duration_since(t).as_secs_f64();
    // Let the dropped journal's flusher task finish before the next open.
    sleep(Duration::from_millis(10)).await;
    println!("  engine dropped in {dropped:.3} s");
    (took, cpu)
}

/// One timed `Journal::open` alone on the data directory's journal. Returns the wall
/// and CPU seconds of the open.
async fn time_journal_open(io: &UringIo, jcfg: &JournalConfig) -> (f64, f64) {
    let cpu = cpu_seconds();
    let t = io.now();
    let (j, rec) = Journal::open(io.clone(), jcfg.clone())
        .await
        .expect("recover the journal");
    let took = io.now().saturating_duration_since(t).as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    println!(
        "  Journal::open alone (the scan inside open_dir): {} records, {} missing ranges, in {took:.3} s, cpu {cpu:.3} s",
        rec.records.len(),
        rec.missing.len()
    );
    drop(rec);
    drop(j);
    sleep(Duration::from_millis(10)).await;
    (took, cpu)
}

/// Where one PG's chains stand.
struct PgChain {
    pg: PgId,
    first_page: u64,
    /// LSN of the PG's newest record.
    last: Lsn,
    /// LSN of each page's newest record, by page index in the range.
    page_last: Vec<Lsn>,
    /// Records planned for this PG so far (picks the page and slot).
    records: u64,
}

/// One planned record.
#[derive(Clone, Copy)]
struct Planned {
    lsn: Lsn,
    prev_lsn_pg: Lsn,
    prev_lsn_page: Lsn,
    page: PageId,
    offset: u32,
}

/// The LSN allocator and chain keeper of the fill (the `boreal-journal` bench's
/// sequencer): one LSN counter for the core, PGs round-robin per append, record `k` of
/// a PG on page `k mod 1024` of its range, at slot `(k / 1024) mod slots` of the page.
struct Chains {
    next_lsn: u64,
    next_pg: usize,
    pgs: Vec<PgChain>,
    record_bytes: u64,
    slots: u64,
}

impl Chains {
    fn new(pgs: &[PgId], record_bytes: usize) -> Chains {
        Chains {
            next_lsn: 1,
            next_pg: 0,
            pgs: pgs
                .iter()
                .enumerate()
                .map(|(i, &pg)| PgChain {
                    pg,
                    first_page: i as u64 * PAGES_PER_PG,
                    last: Lsn::ZERO,
                    page_last: vec![Lsn::ZERO; PAGES_PER_PG as usize],
                    records: 0,
                })
                .collect(),
            record_bytes: record_bytes as u64,
            slots: (PAGE_SIZE.payload_len() / record_bytes) as u64,
        }
    }

    /// Plans the next append of `count` records into `out`; returns its PG and the
    /// PG's index (in the order given to `new`).
    fn next(&mut self, count: usize, out: &mut Vec<Planned>) -> (usize, PgId) {
        out.clear();
        let (slots, record_bytes) = (self.slots, self.record_bytes);
        let index = self.next_pg;
        self.next_pg = (index + 1) % self.pgs.len();
        let c = &mut self.pgs[index];
        for _ in 0..count {
            let lsn = Lsn::new(self.next_lsn);
            self.next_lsn += 1;
            let page_index = (c.records % PAGES_PER_PG) as usize;
            let slot = (c.records / PAGES_PER_PG) % slots;
            out.push(Planned {
                lsn,
                prev_lsn_pg: c.last,
                prev_lsn_page: c.page_last[page_index],
                page: PageId::new(c.first_page + page_index as u64),
                offset: u32::try_from(slot * record_bytes).expect("offset fits u32"),
            });
            c.last = lsn;
            c.page_last[page_index] = lsn;
            c.records += 1;
        }
        (index, c.pg)
    }

    fn last_lsns(&self) -> BTreeMap<PgId, Lsn> {
        self.pgs.iter().map(|c| (c.pg, c.last)).collect()
    }
}

fn redo<'a>(pg: PgId, p: &Planned, body: &'a [u8]) -> Redo<'a> {
    Redo {
        lsn: p.lsn,
        prev_lsn_pg: p.prev_lsn_pg,
        prev_lsn_page: p.prev_lsn_page,
        pg_id: pg,
        page_id: p.page,
        cpl: true,
        change: Change::Delta {
            offset: p.offset,
            bytes: body,
        },
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// Creates the data directory with `open_dir` and the fill's segments.
async fn create_core(
    io: &UringIo,
    ecfg: &EngineConfig,
    jcfg: &JournalConfig,
    args: &Args,
) -> (Engine, Vec<PgId>) {
    let (core, report) = Engine::open_dir(io.clone(), ecfg.clone(), jcfg.clone())
        .await
        .expect("create the data directory with open_dir");
    assert!(report.created, "a fresh directory is created");
    let pgs: Vec<PgId> = (0..args.pgs).map(|i| PgId::new(i as u32)).collect();
    for (i, &pg) in pgs.iter().enumerate() {
        core.create_segment(pg, PAGE_SIZE, i as u64 * PAGES_PER_PG, PAGES_PER_PG)
            .await
            .expect("create segment");
    }
    (core, pgs)
}

/// What the realistic fill's appenders and its shim share.
struct Realistic {
    chains: RefCell<Chains>,
    /// Highest SCL acknowledged per PG (by index).
    scl: Vec<Cell<Lsn>>,
    /// Highest LSN acknowledged per PG (by index).
    acked: Vec<Cell<Lsn>>,
    /// The shim raises the min read points (every phase but the last).
    raising: Cell<bool>,
    /// An append was refused in the last phase: the appenders return.
    stop: Cell<bool>,
    /// Appends refused in the last phase, with their PG's index.
    refused: RefCell<Vec<(usize, Vec<Planned>)>>,
    /// Appends refused while the min read points were being raised (retried).
    early_refusals: Cell<u64>,
}

impl Realistic {
    fn acked(&self, index: usize, scl: Lsn, top: Lsn) {
        let (s, a) = (&self.scl[index], &self.acked[index]);
        s.set(s.get().max(scl));
        a.set(a.get().max(top));
    }
}

/// The realistic fill (see the module docs): through the engine only, coalescer on,
/// min read points raised until the journal has been written through, then left
/// where they are until appends are refused at the backlog bound. Returns each PG's
/// last acknowledged LSN.
async fn fill_realistic(
    io: &UringIo,
    ecfg: &EngineConfig,
    jcfg: &JournalConfig,
    args: &Args,
) -> BTreeMap<PgId, Lsn> {
    let capacity = jcfg.capacity_bytes();
    let write_through = capacity / 10 * WRITE_THROUGH_TENTHS;
    let mut fcfg = ecfg.clone();
    fcfg.background_coalescer = true;
    let t0 = io.now();
    let (core, pgs) = create_core(io, &fcfg, jcfg, args).await;
    let core = Rc::new(core);
    let shared = Rc::new(Realistic {
        chains: RefCell::new(Chains::new(&pgs, args.record_bytes)),
        scl: pgs.iter().map(|_| Cell::new(Lsn::ZERO)).collect(),
        acked: pgs.iter().map(|_| Cell::new(Lsn::ZERO)).collect(),
        raising: Cell::new(true),
        stop: Cell::new(false),
        refused: RefCell::new(Vec::new()),
        early_refusals: Cell::new(0),
    });
    let mut tasks = Vec::new();
    for _ in 0..APPENDERS {
        let (core, shared) = (core.clone(), shared.clone());
        let record_bytes = args.record_bytes;
        tasks.push(spawn(async move {
            let body = vec![0xA5u8; record_bytes];
            let mut plan = Vec::with_capacity(RECORDS_PER_APPEND);
            let mut records: Vec<Redo<'_>> = Vec::with_capacity(RECORDS_PER_APPEND);
            while !shared.stop.get() {
                let (index, pg) = shared
                    .chains
                    .borrow_mut()
                    .next(RECORDS_PER_APPEND, &mut plan);
                records.clear();
                records.extend(plan.iter().map(|p| redo(pg, p, &body)));
                loop {
                    match core.append(pg, Epoch::ZERO, &records).await {
                        Ok(ack) => {
                            assert_eq!(ack.accepted, records.len(), "every record is new");
                            let top = plan.last().expect("a planned append").lsn;
                            shared.acked(index, ack.scl, top);
                            break;
                        }
                        // The coalescer fell behind while it could still materialize:
                        // nothing was journaled, send the same records again.
                        Err(EngineError::Backlogged { .. }) if shared.raising.get() => {
                            shared.early_refusals.set(shared.early_refusals.get() + 1);
                        }
                        Err(EngineError::Backlogged { .. }) => {
                            shared.refused.borrow_mut().push((index, plan.clone()));
                            shared.stop.set(true);
                            break;
                        }
                        Err(e) => panic!("append through the engine: {e}"),
                    }
                }
            }
        }));
    }

    // The shim: raise the min read points until the journal has been written through.
    let mut t1 = t0;
    while shared.raising.get() {
        sleep(READ_POINT_INTERVAL).await;
        for (i, &pg) in pgs.iter().enumerate() {
            core.set_min_read_point(pg, shared.scl[i].get())
                .expect("a PG of this core");
        }
        let js = core.journal().stats();
        if js.bytes >= write_through && js.header_writes >= u64::from(jcfg.files) {
            shared.raising.set(false);
            t1 = io.now();
            let (cs, st) = (core.stats(), core_status(&core, &pgs));
            println!(
                "fill: {} PGs, records of {} B, coalescer on, min read points raised every {} ms: journal written through ({:.0} MiB written of {:.0} MiB, {} files recycled, {} free) in {:.1} s; {} records acknowledged, {} materialized in {} coalescer passes ({} pages written), backlog {:.1} MiB of the {:.0} MiB bound, materialized LSNs {}, {} backpressure waits, {} refusals (retried)",
                pgs.len(),
                args.record_bytes,
                READ_POINT_INTERVAL.as_millis(),
                mib(js.bytes),
                mib(capacity),
                js.header_writes,
                js.files_free,
                t1.saturating_duration_since(t0).as_secs_f64(),
                cs.records_accepted,
                cs.records_materialized,
                cs.coalescer_passes,
                cs.pages_written,
                mib(cs.backlog_bytes as u64),
                mib(ecfg.backlog_bytes_max as u64),
                st,
                cs.backpressure_waits,
                shared.early_refusals.get(),
            );
        }
    }
    // The last phase: the min read points stay; the backlog grows to the bound.
    let before = (core.stats(), core.journal().stats());
    let mut watched = Duration::ZERO;
    while !shared.stop.get() {
        sleep(Duration::from_millis(100)).await;
        watched += Duration::from_millis(100);
        let js = core.journal().stats();
        assert!(
            watched < FINAL_PHASE_MAX,
            "no append refused after {FINAL_PHASE_MAX:?} of the last phase: core {:?}, journal {js:?}",
            core.stats()
        );
    }
    for t in tasks {
        t.await.expect("engine appender");
    }
    let at_stop = core.stats();
    let t2 = io.now();

    // Appends refused below an acknowledged LSN of their PG left holes: they fill gaps,
    // which never wait. The others are above everything acknowledged: dropped.
    let mut refused = shared.refused.take();
    refused.sort_by_key(|(_, plan)| plan[0].lsn);
    let (mut retried, mut dropped) = (0usize, 0usize);
    let body = vec![0xA5u8; args.record_bytes];
    for (index, plan) in &refused {
        let top = plan.last().expect("a planned append").lsn;
        if top > shared.acked[*index].get() {
            dropped += 1;
            continue;
        }
        let records: Vec<Redo<'_>> = plan.iter().map(|p| redo(pgs[*index], p, &body)).collect();
        let ack = core
            .append(pgs[*index], Epoch::ZERO, &records)
            .await
            .expect("an append filling a hole never waits");
        assert_eq!(ack.accepted, records.len(), "every record is new");
        shared.acked(*index, ack.scl, top);
        retried += 1;
    }
    let cs = core.stats();
    let js = core.journal().stats();
    let mut last = BTreeMap::new();
    for (i, &pg) in pgs.iter().enumerate() {
        let st = core.status(pg).expect("segment status");
        let acked = shared.acked[i].get();
        assert!(
            st.holes.is_empty(),
            "{pg}: holes {:?} after the fill",
            st.holes
        );
        assert_eq!(st.scl, acked, "{pg}: SCL is the last LSN acknowledged");
        assert_eq!(
            shared.scl[i].get(),
            acked,
            "{pg}: the last acknowledged SCL"
        );
        last.insert(pg, acked);
    }
    println!(
        "fill: min read points left where they are: {} more records acknowledged in {:.1} s ({:.0} MiB more journal), until appends waited at the bound ({} waits, {} refused: {} retried as hole fills, {} above every acknowledged LSN dropped); backlog {:.1} MiB of the {:.0} MiB bound, materialized LSNs {}, journal {:.0} MiB written in all, {} files recycled, {} free; whole fill {:.1} s",
        cs.records_accepted - before.0.records_accepted,
        t2.saturating_duration_since(t1).as_secs_f64(),
        mib(js.bytes - before.1.bytes),
        at_stop.backpressure_waits - before.0.backpressure_waits,
        refused.len(),
        retried,
        dropped,
        mib(cs.backlog_bytes as u64),
        mib(ecfg.backlog_bytes_max as u64),
        core_status(&core, &pgs),
        mib(js.bytes),
        js.header_writes,
        js.files_free,
        io.now().saturating_duration_since(t0).as_secs_f64(),
    );
    let core = Rc::into_inner(core).expect("the appenders are done");
    drop(core);
    sleep(Duration::from_millis(10)).await;
    last
}

/// Each PG's materialized LSN, as `pg=lsn` words.
fn core_status(core: &Engine, pgs: &[PgId]) -> String {
    pgs.iter()
        .map(|&pg| {
            let st = core.status(pg).expect("segment status");
            format!("{}={}", pg.get(), st.materialized_lsn.get())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `--overfill` fill: creates the data directory and fills its journal to ~95%
/// with records nothing materializes; returns each PG's last LSN.
async fn fill_overfill(
    io: &UringIo,
    ecfg: &EngineConfig,
    jcfg: &JournalConfig,
    args: &Args,
) -> BTreeMap<PgId, Lsn> {
    let capacity = jcfg.capacity_bytes();
    let target = capacity / 100 * FULL_PERCENT;
    let append_bytes = RECORDS_PER_APPEND * (RECORD_HEADER_SIZE + args.record_bytes);
    // Stop the engine's appends one round of appenders short of the backlog bound, so
    // no append meets it (without a coalescer it would be refused).
    let backlog_stop = ecfg
        .backlog_bytes_max
        .saturating_sub(APPENDERS * append_bytes);
    let t0 = io.now();
    let (core, pgs) = create_core(io, ecfg, jcfg, args).await;
    let chains = Rc::new(RefCell::new(Chains::new(&pgs, args.record_bytes)));

    // Phase 1: through the engine, up to its backlog bound.
    let core = Rc::new(core);
    let mut tasks = Vec::new();
    for _ in 0..APPENDERS {
        let (core, chains) = (core.clone(), chains.clone());
        let record_bytes = args.record_bytes;
        tasks.push(spawn(async move {
            let body = vec![0xA5u8; record_bytes];
            let mut plan = Vec::with_capacity(RECORDS_PER_APPEND);
            let mut records: Vec<Redo<'_>> = Vec::with_capacity(RECORDS_PER_APPEND);
            let mut appended = 0u64;
            while core.stats().backlog_bytes <= backlog_stop
                && core.journal().stats().bytes < target
            {
                let (_, pg) = chains.borrow_mut().next(RECORDS_PER_APPEND, &mut plan);
                records.clear();
                records.extend(plan.iter().map(|p| redo(pg, p, &body)));
                let ack = core
                    .append(pg, Epoch::ZERO, &records)
                    .await
                    .expect("append through the engine");
                assert_eq!(ack.accepted, records.len(), "every record is new");
                appended += records.len() as u64;
            }
            appended
        }));
    }
    let mut engine_records = 0;
    for t in tasks {
        engine_records += t.await.expect("engine appender");
    }
    let core = Rc::into_inner(core).expect("the appenders are done");
    let stats = core.stats();
    let engine_bytes = core.journal().stats().bytes;
    assert_eq!(stats.coalescer_passes, 0, "nothing materialized");
    assert_eq!(stats.backpressure_refusals, 0, "no append refused");
    println!(
        "fill (--overfill): {} PGs; {engine_records} records of {} B through CoreEngine::append (hot logs {:.1} MiB of the {:.0} MiB backlog bound, journal {:.1} MiB) in {:.1} s",
        pgs.len(),
        args.record_bytes,
        mib(stats.backlog_bytes as u64),
        mib(ecfg.backlog_bytes_max as u64),
        mib(engine_bytes),
        io.now().saturating_duration_since(t0).as_secs_f64()
    );
    drop(core);
    sleep(Duration::from_millis(10)).await;

    // Phase 2: the rest through the journal alone, continuing the same chains.
    let t1 = io.now();
    let (j, rec) = Journal::open(io.clone(), jcfg.clone())
        .await
        .expect("reopen the journal");
    assert_eq!(
        rec.records.len() as u64,
        engine_records,
        "phase 1 recovered"
    );
    drop(rec);
    let j = Rc::new(j);
    let mut tasks = Vec::new();
    for _ in 0..APPENDERS {
        let (j, chains) = (j.clone(), chains.clone());
        let record_bytes = args.record_bytes;
        tasks.push(spawn(async move {
            let body = vec![0xA5u8; record_bytes];
            let mut plan = Vec::with_capacity(RECORDS_PER_APPEND);
            let mut records: Vec<Record<'_>> = Vec::with_capacity(RECORDS_PER_APPEND);
            let mut appended = 0u64;
            loop {
                let s = j.stats();
                // Nothing is ever released: an append that had to wait for space would
                // wait forever. The 5% left is far more than what is in flight.
                assert!(!s.waiting_for_space, "the journal ran out of space");
                if engine_bytes + s.bytes >= target {
                    return appended;
                }
                let (_, pg) = chains.borrow_mut().next(RECORDS_PER_APPEND, &mut plan);
                records.clear();
                records.extend(plan.iter().map(|p| Record::Redo(redo(pg, p, &body))));
                j.append(&records).await.expect("append to the journal");
                appended += records.len() as u64;
            }
        }));
    }
    let mut journal_records = 0;
    for t in tasks {
        journal_records += t.await.expect("journal appender");
    }
    let j = Rc::into_inner(j).expect("the appenders are done");
    let s = j.stats();
    println!(
        "fill (--overfill): {journal_records} more records through Journal::append in {:.1} s; journal {:.0} MiB of {:.0} MiB ({:.1}%), {} records in all, {} files free",
        io.now().saturating_duration_since(t1).as_secs_f64(),
        mib(engine_bytes + s.bytes),
        mib(capacity),
        (engine_bytes + s.bytes) as f64 * 100.0 / capacity as f64,
        engine_records + journal_records,
        s.files_free
    );
    drop(j);
    sleep(Duration::from_millis(10)).await;
    chains.borrow().last_lsns()
}

fn write_lsns(path: &Path, mode: &str, last: &BTreeMap<PgId, Lsn>) -> std::io::Result<()> {
    let mut text = format!("# {mode}\n");
    text.extend(
        last.iter()
            .map(|(pg, lsn)| format!("{} {}\n", pg.get(), lsn.get())),
    );
    std::fs::write(path, text)
}

/// The fill's name and each PG's last acknowledged LSN.
fn read_lsns(path: &Path) -> Result<(String, BTreeMap<PgId, Lsn>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut mode = String::from("(unnamed)");
    let mut last = BTreeMap::new();
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("# ") {
            mode = m.to_string();
            continue;
        }
        let parsed = line
            .split_once(' ')
            .and_then(|(pg, lsn)| Some((PgId::new(pg.parse().ok()?), Lsn::new(lsn.parse().ok()?))));
        let (pg, lsn) = parsed.ok_or(format!("bad line {line:?}"))?;
        last.insert(pg, lsn);
    }
    if last.is_empty() {
        return Err("no PGs".into());
    }
    Ok((mode, last))
}
