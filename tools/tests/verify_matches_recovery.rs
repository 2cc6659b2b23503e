//! Behaviour: `boreal verify` and the engine's open agree on what a crash left: the
//! same regions cut as a torn tail (or by the pipeline window), the same ranges
//! reported missing, the same place where appends resume, and the same refusal to
//! open a core whose journal lost what may have held a control record.
//!
//! The crashed data dirs come from the simulator: a core's engine (`CoreEngine` on the
//! real journal, `SimIo`) runs a few lives of appends from concurrent tasks, coalescer
//! passes and, at every open, what a volume recovery does (a higher epoch and a
//! truncation above the SCL, so batches hold control records too), each life ended by
//! a power loss at a random moment (torn and lost un-synced writes, three batch writes
//! in flight); odd seeds also have stored bit flips. After the last crash the node's
//! disk (`SimControl::durable_files`) is written to a real directory, and three things
//! read it: `verify::run`, `Journal::open` on a copy (with `UringIo`) and
//! `CoreEngine::open_dir` on another copy.
//!
//! Replay: `SEED=<n> cargo test -p boreal-tools --test verify_matches_recovery --
//! --nocapture` runs one seed and prints what each side said. Without `SEED`,
//! `SIM_SEEDS` seeds (default 60) run.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::journal::decide::Action;
use boreal_engine::journal::{Journal, JournalConfig, Recovered, RegionKind};
use boreal_engine::node::{CoreEngine, EngineConfig, EngineError};
use boreal_engine::rt::{Runtime, RuntimeConfig, spawn};
use boreal_engine::sim::{FaultConfig, Sim, SimConfig, SimControl, SimIo};
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};
use boreal_tools::verify::{self, JournalRecovery};

const DIR: &str = "/data/core0";
const PGS: u32 = 3;
const PAGES: u64 = 8;
const LIVES: u32 = 4;
const APPENDERS: u32 = 3;
const SEEDS_DEFAULT: u64 = 60;
/// Seeds beyond the default range run every time for a verdict the default range
/// does not produce: 213 refuses the open (1 of the first 240 seeds does, with the
/// simulator's per-node fault streams).
const NAMED_SEEDS: &[u64] = &[213];
/// LSNs a volume recovery annuls above a segment's SCL at every open.
const TRUNCATE_SPAN: u64 = 64;

fn pg(i: u32) -> PgId {
    PgId::new(i + 1)
}

fn engine_config(dir: &Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.page_file_grow_bytes = 128 << 10;
    cfg.coalesce_pass_bytes_max = 64 << 10;
    cfg.coalesce_interval = Duration::from_millis(2);
    cfg.backlog_bytes_max = 1 << 20;
    cfg
}

fn journal_config(dir: &Path) -> JournalConfig {
    JournalConfig {
        // Small files, so recycling (and its header writes) happen; 4 MiB in all, so a
        // quarter holds the 1 MiB backlog bound.
        files: 32,
        file_bytes: 128 << 10,
        batch_bytes_max: 16 << 10,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(dir)
    }
}

/// What the workload keeps across lives: every record it handed out that may still
/// count (its LSN and page, per PG), and what chains the next ones continue.
struct State {
    next_lsn: u64,
    /// Per PG: `(lsn, page)` of the records handed out, in LSN order.
    issued: Vec<Vec<(u64, u64)>>,
    /// Per PG: the LSN the next record's `prev_lsn_pg` names.
    last_pg: Vec<u64>,
    /// Per page (`pg * 100 + index`): the LSN the next record's `prev_lsn_page` names.
    last_page: std::collections::HashMap<u64, u64>,
    booted: bool,
    stopped: bool,
}

impl State {
    /// After an open: records above the SCL of PG `i` are annulled by the truncation
    /// the life journals; the chains continue from what is left.
    fn recover(&mut self, i: usize, scl: u64) {
        self.issued[i].retain(|&(lsn, _)| lsn <= scl);
        self.last_pg[i] = scl;
        for page in (0..PAGES).map(|k| i as u64 * 100 + k) {
            let last = self.issued[i]
                .iter()
                .filter(|r| r.1 == page)
                .map(|r| r.0)
                .max();
            self.last_page.insert(page, last.unwrap_or(0));
        }
    }

    /// The next record of PG `i` on page index `k`: `(lsn, prev_lsn_pg, prev_lsn_page,
    /// page)`.
    fn next(&mut self, i: usize, k: u64) -> (u64, u64, u64, u64) {
        self.next_lsn += 1;
        let lsn = self.next_lsn;
        let page = i as u64 * 100 + k;
        let prev_pg = std::mem::replace(&mut self.last_pg[i], lsn);
        let prev_page = self.last_page.insert(page, lsn).unwrap_or(0);
        self.issued[i].push((lsn, page));
        (lsn, prev_pg, prev_page, page)
    }
}

type S = Rc<RefCell<State>>;
type Engine = CoreEngine<SimIo>;

/// One life of the node: open (or create), recover the volume's way, then append and
/// coalesce until the power goes.
async fn life(io: SimIo, ctl: SimControl, st: S) {
    let dir = Path::new(DIR);
    let Ok((e, _)) = Engine::open_dir(io, engine_config(dir), journal_config(dir)).await else {
        // A refused open (or an injected error): this node's story ends here.
        return stop(&st);
    };
    let e = Rc::new(e);
    let mut epochs = Vec::new();
    for i in 0..PGS {
        match e
            .create_segment(
                pg(i),
                PageSize::new(4096).unwrap(),
                u64::from(i) * 100,
                PAGES,
            )
            .await
        {
            Ok(()) | Err(EngineError::SegmentExists { .. }) => {}
            Err(_) => return stop(&st),
        }
        // What a volume recovery does: a higher epoch, and everything above the SCL
        // annulled (a truncation record journaled, and written to the metadata).
        let Ok(status) = e.status(pg(i)) else {
            return stop(&st);
        };
        let epoch = Epoch::new(status.epoch.get() + 1);
        let end = st.borrow().next_lsn + TRUNCATE_SPAN;
        if e.truncate(pg(i), epoch, status.scl, Lsn::new(end))
            .await
            .is_err()
        {
            return stop(&st);
        }
        st.borrow_mut().recover(i as usize, status.scl.get());
        epochs.push(epoch);
    }
    st.borrow_mut().next_lsn += TRUNCATE_SPAN + 1;
    st.borrow_mut().booted = true;
    for a in 0..APPENDERS {
        let (e, st, ctl, epochs) = (e.clone(), st.clone(), ctl.clone(), epochs.clone());
        spawn(async move {
            loop {
                let i = ctl.random_below(u64::from(PGS)) as usize;
                let records: Vec<(u64, u64, u64, u64)> = (0..1 + ctl.random_below(4))
                    .map(|_| {
                        let k = ctl.random_below(PAGES);
                        st.borrow_mut().next(i, k)
                    })
                    .collect();
                let redos: Vec<Redo<'_>> = records
                    .iter()
                    .map(|&(lsn, prev_pg, prev_page, page)| Redo {
                        lsn: Lsn::new(lsn),
                        prev_lsn_pg: Lsn::new(prev_pg),
                        prev_lsn_page: Lsn::new(prev_page),
                        pg_id: pg(i as u32),
                        page_id: PageId::new(page),
                        cpl: true,
                        change: Change::Delta {
                            offset: a * 8,
                            bytes: b"recovery",
                        },
                    })
                    .collect();
                if e.append(pg(i as u32), epochs[i], &redos).await.is_err() {
                    return stop(&st);
                }
            }
        });
    }
    // Materialize now and then, up to what every reader may read.
    loop {
        ctl.sleep(Duration::from_micros(300 + ctl.random_below(3_000)))
            .await;
        for i in 0..PGS {
            if let Ok(s) = e.status(pg(i)) {
                let _ = e.set_min_read_point(pg(i), s.scl);
            }
        }
        if e.coalesce_now().await.is_err() || st.borrow().stopped {
            return stop(&st);
        }
    }
}

fn stop(st: &S) {
    let mut s = st.borrow_mut();
    s.stopped = true;
    s.booted = true;
}

/// Runs the node's lives under the simulator and returns the files of its disk after
/// the last power loss.
fn crashed_disk(seed: u64) -> Vec<(PathBuf, Vec<u8>)> {
    let mut faults = FaultConfig {
        read_eio_probability: 0.0,
        read_bit_flip_probability: 0.0,
        ..FaultConfig::default()
    };
    if seed % 2 == 1 {
        // Faults that destroy durable data: what recovery reports missing.
        faults.stored_bit_flip_probability = 0.002;
    }
    let sim = Sim::new(SimConfig {
        seed,
        faults,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_node(), 0);
    let (ctl, io) = (sim.control(), sim.io(0, 0));
    let st: S = Rc::new(RefCell::new(State {
        next_lsn: 0,
        issued: vec![Vec::new(); PGS as usize],
        last_pg: vec![0; PGS as usize],
        last_page: Default::default(),
        booted: false,
        stopped: false,
    }));
    for _ in 0..LIVES {
        {
            let mut s = st.borrow_mut();
            s.booted = false;
            s.stopped = false;
        }
        sim.spawn_on(0, 0, life(io.clone(), ctl.clone(), st.clone()));
        let (c, s) = (ctl.clone(), st.clone());
        sim.run(async move {
            while !s.borrow().booted {
                c.sleep(Duration::from_micros(100)).await;
            }
            let wait = 100_000 + c.random_below(20_000_000);
            let deadline = c.now().saturating_add(Duration::from_nanos(wait));
            while c.now() < deadline && !s.borrow().stopped {
                c.sleep(Duration::from_micros(200)).await;
            }
            c.crash_node(0);
            c.restart_node(0);
        });
        if st.borrow().stopped && !st.borrow().booted {
            break;
        }
    }
    ctl.durable_files(0)
}

/// Writes the simulated disk's files of `DIR` under `root` (as `root/core0/...`), and
/// returns that core dir.
fn write_out(files: &[(PathBuf, Vec<u8>)], root: &Path) -> PathBuf {
    let core = root.join("core0");
    std::fs::create_dir_all(&core).unwrap();
    for (path, bytes) in files {
        if let Ok(rest) = path.strip_prefix(DIR) {
            std::fs::write(core.join(rest), bytes).unwrap();
        }
    }
    core
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// The journal file id in a shown name (`journal-0003.brj`).
fn file_id(name: &str) -> u64 {
    name.trim_start_matches("journal-")
        .trim_end_matches(".brj")
        .parse()
        .unwrap_or_else(|_| panic!("not a journal file name: {name}"))
}

/// What happened, counted over the seeds, so the comparison is never vacuous.
#[derive(Debug, Default)]
struct Tally {
    compared: u64,
    /// Seeds where recovery cut a region that is not free space.
    cut: u64,
    /// Seeds where it reported a range missing.
    missing: u64,
    /// Seeds where the engine refused to open the core for what its journal lost.
    refused: u64,
    /// Seeds skipped because a journal file header is unreadable and the engine
    /// rebuilt it from the file's first batch (`verify` reports it and leaves it out).
    header_rebuilt: u64,
    /// Seeds whose last crash left no journal file in use.
    empty: u64,
}

fn check_seed(seed: u64, seen: &mut Tally) {
    let files = crashed_disk(seed);
    let tmp = tempfile::tempdir().unwrap();
    let core = write_out(&files, &tmp.path().join("verify"));
    if !core.join("catalog").exists() {
        seen.empty += 1;
        return;
    }
    let report = verify::run(&core).unwrap_or_else(|e| panic!("seed {seed}: verify: {e}"));
    let verbose = std::env::var("SEED").is_ok();
    if verbose {
        let mut out = Vec::new();
        report.write_text(&mut out).unwrap();
        println!("verify:\n{}", String::from_utf8_lossy(&out));
    }
    let Some(j) = report.journals.first() else {
        seen.empty += 1;
        return;
    };

    // The journal alone, as the engine opens it.
    let journal_dir = tmp.path().join("journal");
    copy_dir(&core, &journal_dir);
    let rt = Runtime::new(RuntimeConfig::default()).expect("io_uring runtime");
    let io = rt.io().clone();
    let jcfg = journal_config(&journal_dir);
    let (_, recovered) = rt
        .block_on(async move { Journal::open(io, jcfg).await })
        .unwrap_or_else(|e| panic!("seed {seed}: Journal::open: {e}"));
    if verbose {
        println!("Journal::open:\n  {}", recovered.report.join("\n  "));
    }
    if recovered
        .report
        .iter()
        .any(|l| l.contains("rebuilt from its first batch"))
    {
        // The engine rebuilt an unreadable file header from the file's first batch
        // and scanned the file; verify reports the header and leaves the file out.
        seen.header_rebuilt += 1;
        return;
    }
    same_decisions(seed, j, &recovered);

    // The whole core, as a node starts it.
    let core_dir = tmp.path().join("core");
    copy_dir(&core, &core_dir);
    let io = rt.io().clone();
    let (ecfg, jcfg) = (engine_config(&core_dir), journal_config(&core_dir));
    let opened = rt.block_on(async move {
        CoreEngine::open_dir(io, ecfg, jcfg)
            .await
            .map(|(_, report)| report)
    });
    let refused = matches!(&opened, Err(EngineError::Recovery(why))
        if why.starts_with("the journal lost acknowledged batches"));
    assert_eq!(
        refused,
        j.refuses(),
        "seed {seed}: open_dir {:?}, verify says the engine refuses: {}",
        opened.as_ref().map(|r| r.summary()),
        j.refuses()
    );
    match &opened {
        Ok(r) => assert_eq!(r.missing, j.decisions.missing, "seed {seed}"),
        Err(e) if !refused => assert!(
            report.errors > 0,
            "seed {seed}: open_dir refused ({e}) a core verify finds clean"
        ),
        Err(_) => {}
    }

    seen.compared += 1;
    let cut = j.decisions.actions.iter().enumerate().any(|(f, acts)| {
        acts.iter().enumerate().any(|(i, a)| {
            *a == Action::Cut
                && !matches!(
                    j.decisions.observed[f][i].kind,
                    RegionKind::Zeros | RegionKind::Stale
                )
        })
    });
    seen.cut += u64::from(cut);
    seen.missing += u64::from(!j.decisions.missing.is_empty());
    seen.refused += u64::from(refused);
}

/// `verify`'s decisions are the ones `Journal::open` made: the same missing ranges,
/// the same tail, and the same line for every region not replayed.
fn same_decisions(seed: u64, j: &JournalRecovery, recovered: &Recovered) {
    let d = &j.decisions;
    assert_eq!(recovered.missing, d.missing, "seed {seed}: missing ranges");
    let tail = d
        .tail
        .map(|(pos, offset)| (file_id(&j.files[pos]), offset, d.next_seq));
    let engine_tail = recovered.tail.map(|t| (t.file.get(), t.offset, t.next_seq));
    assert_eq!(engine_tail, tail, "seed {seed}: where appends resume");
    let decided = |l: &&String| l.contains(" -> ") || l.contains("flipped bit");
    let engine: Vec<&String> = recovered.report.iter().filter(decided).collect();
    let tools: Vec<&String> = d.report.iter().filter(decided).collect();
    assert_eq!(engine, tools, "seed {seed}: decisions");
    // And every valid batch verify saw replayed is one the engine replays.
    let accepted = d
        .actions
        .iter()
        .flatten()
        .filter(|a| **a == Action::Accept)
        .count();
    assert_eq!(accepted, recovered.records.batches().len(), "seed {seed}");
}

#[test]
fn verify_and_the_engines_open_agree_on_crashed_disks() {
    let mut seen = Tally::default();
    if let Some(seed) = std::env::var("SEED").ok().and_then(|s| s.parse().ok()) {
        check_seed(seed, &mut seen);
        println!("seed={seed} {seen:?}");
        return;
    }
    let seeds = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS_DEFAULT);
    let named = NAMED_SEEDS.iter().copied().filter(|&s| s >= seeds);
    for seed in (0..seeds).chain(named) {
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_seed(seed, &mut seen)));
        if r.is_err() {
            panic!(
                "seed={seed} FAILED; replay with: SEED={seed} cargo test -p boreal-tools --test \
                 verify_matches_recovery -- --nocapture"
            );
        }
    }
    println!("{seeds} seeds: {seen:?}");
    if seeds >= SEEDS_DEFAULT {
        // Measured over the default seeds and the named ones: 14 seeds with a region
        // cut, 5 with ranges missing, 1 refused open. None of them may vanish: a
        // comparison of clean journals proves nothing.
        assert!(
            seen.cut > 0 && seen.missing > 0 && seen.refused > 0,
            "the crashes no longer produce every verdict: {seen:?}"
        );
    }
}
