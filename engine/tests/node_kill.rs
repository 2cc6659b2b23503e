//! SIGKILL on the real backend: a child process appends through `CoreEngine` on
//! `UringIo` (the journal and page store in a temp dir) and prints every acknowledged
//! record the moment its ack arrives; the parent kills it with SIGKILL 5–80 ms after it
//! started (seeded), at least 50 times, and after each kill reopens the core in-process
//! and checks:
//! - every acknowledged record is present: each PG's SCL is at least the longest
//!   acknowledged prefix of its chain, and every acknowledged record above the SCL is
//!   held in the hot log;
//! - the SCL is a chain point of the true log;
//! - GetPage@LSN equals the model for every page at the SCL and at a random LSN between
//!   the materialized LSN and the SCL.
//!
//! The child is this test binary itself (`child_appender`, which does nothing unless
//! `BOREAL_NODE_KILL_CHILD` is set), so no extra binary is needed. Records are a pure
//! function of their LSN (the "true log"), so parent and child agree on the model and a
//! child continues where the last acknowledged prefix ended.
//!
//! `SEED=<n>` changes the kill times; `KILLS=<n>` the number of kills (default 50).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{CoreEngine, EngineConfig};
use boreal_engine::rt::{Runtime, RuntimeConfig, SplitMix64, spawn};
use boreal_engine::uring::UringIo;
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};

const CHILD_ENV: &str = "BOREAL_NODE_KILL_CHILD";
const PGS: u64 = 3;
const PAGES: u64 = 4;
const PAGE_SIZE: u32 = 4096;
const PAYLOAD: usize = PAGE_SIZE as usize - 32;
const KILLS_DEFAULT: u64 = 50;
const CHILD_TASKS: u64 = 6;
/// A child that was not killed stops by itself after this long.
const CHILD_LIFE_MAX: Duration = Duration::from_secs(10);

fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pg_of(lsn: u64) -> u64 {
    mix(lsn) % PGS + 1
}

fn first_page(pg: u64) -> u64 {
    pg * 100
}

fn page_of(lsn: u64) -> u64 {
    first_page(pg_of(lsn)) + (mix(lsn) >> 8) % PAGES
}

fn change_of(lsn: u64) -> (u32, Vec<u8>) {
    let h = mix(lsn);
    let len = 16 + ((h >> 32) % 32) as usize;
    let offset = ((h >> 16) % (PAYLOAD as u64 - 64)) as u32;
    let bytes = (0..len)
        .map(|i| ((h >> ((i % 8) * 8)) as u8) ^ i as u8)
        .collect();
    (offset, bytes)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The true log: every LSN `1..` is one record of `pg_of(lsn)`, with honest backlinks.
#[derive(Default)]
struct TrueLog {
    /// `prev[lsn] = (prev_lsn_pg, prev_lsn_page)`; index 0 unused.
    prev: Vec<(u64, u64)>,
    last_pg: BTreeMap<u64, u64>,
    last_page: BTreeMap<u64, u64>,
}

impl TrueLog {
    fn backlinks(&mut self, lsn: u64) -> (u64, u64) {
        while self.prev.len() as u64 <= lsn {
            let n = self.prev.len() as u64;
            if n == 0 {
                self.prev.push((0, 0));
                continue;
            }
            let pg = self.last_pg.insert(pg_of(n), n).unwrap_or(0);
            let page = self.last_page.insert(page_of(n), n).unwrap_or(0);
            self.prev.push((pg, page));
        }
        self.prev[lsn as usize]
    }

    /// LSNs of `pg`'s chain up to `upto`, in order.
    fn chain(&mut self, pg: u64, upto: u64) -> Vec<u64> {
        self.backlinks(upto);
        (1..=upto).filter(|&n| pg_of(n) == pg).collect()
    }

    fn page_at(&mut self, page: u64, lsn: u64) -> (Vec<u8>, u64) {
        self.backlinks(lsn);
        let mut payload = vec![0u8; PAYLOAD];
        let mut page_lsn = 0;
        for n in (1..=lsn).filter(|&n| page_of(n) == page) {
            let (offset, bytes) = change_of(n);
            payload[offset as usize..offset as usize + bytes.len()].copy_from_slice(&bytes);
            page_lsn = n;
        }
        (payload, page_lsn)
    }
}

fn engine_config(dir: &Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.page_cache_bytes_max = 4 * PAYLOAD;
    cfg.page_file_grow_bytes = 128 << 10;
    cfg.coalesce_interval = Duration::from_millis(2);
    // The smallest backlog bound; the 4 MiB journal holds it (`check_backlog`).
    cfg.backlog_bytes_max = 1 << 20;
    cfg
}

fn journal_config(dir: &Path) -> JournalConfig {
    JournalConfig {
        files: 4,
        file_bytes: 1 << 20,
        batch_bytes_max: 64 << 10,
        recovery_read_bytes: 256 << 10,
        ..JournalConfig::new(dir)
    }
}

type Engine = CoreEngine<UringIo>;

/// One record a child appends: LSN, backlinks (pg, page), change (offset, bytes).
type ChildRec = (u64, (u64, u64), (u32, Vec<u8>));

async fn open(io: UringIo, dir: &Path) -> Engine {
    let (e, _report) = Engine::open_dir(io, engine_config(dir), journal_config(dir))
        .await
        .expect("open_dir");
    e
}

/// The child: append the true log from `start` with several tasks, print each ack.
#[test]
fn child_appender() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    // `dir:resume:gap,gap,...`: append the unacknowledged LSNs below `resume` first.
    let mut parts = spec.rsplitn(3, ':');
    let gaps: Vec<u64> = parts
        .next()
        .expect("gaps")
        .split(',')
        .filter(|g| !g.is_empty())
        .map(|g| g.parse().expect("gap lsn"))
        .collect();
    let start: u64 = parts.next().expect("resume").parse().expect("resume lsn");
    let dir = Path::new(parts.next().expect("dir")).to_path_buf();
    let gaps = Rc::new(std::cell::RefCell::new(std::collections::VecDeque::from(
        gaps,
    )));
    let rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let io = rt.io().clone();
    rt.block_on(async move {
        let e = Rc::new(open(io, &dir).await);
        let held: BTreeSet<PgId> = e.segments().into_iter().collect();
        for pg in 1..=PGS {
            let id = PgId::new(pg as u32);
            if !held.contains(&id) {
                e.create_segment(id, PageSize::new(PAGE_SIZE).unwrap(), first_page(pg), PAGES)
                    .await
                    .expect("create segment");
            }
        }
        let next = Rc::new(Cell::new(start));
        let began = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CHILD_TASKS {
            let (e, next, gaps) = (e.clone(), next.clone(), gaps.clone());
            tasks.push(spawn(async move {
                let mut log = TrueLog::default();
                while began.elapsed() < CHILD_LIFE_MAX {
                    let mut lsns: Vec<u64> = Vec::with_capacity(4);
                    {
                        let mut gaps = gaps.borrow_mut();
                        while lsns.len() < 4 {
                            let Some(g) = gaps.pop_front() else { break };
                            lsns.push(g);
                        }
                    }
                    if lsns.is_empty() {
                        let base = next.get();
                        next.set(base + 4);
                        lsns.extend(base..base + 4);
                    }
                    let mut by_pg: BTreeMap<u64, Vec<ChildRec>> = BTreeMap::new();
                    for lsn in lsns {
                        by_pg.entry(pg_of(lsn)).or_default().push((
                            lsn,
                            log.backlinks(lsn),
                            change_of(lsn),
                        ));
                    }
                    for (pg, recs) in &by_pg {
                        let redo: Vec<Redo<'_>> = recs
                            .iter()
                            .map(|(lsn, (prev_pg, prev_page), (offset, bytes))| Redo {
                                lsn: Lsn::new(*lsn),
                                prev_lsn_pg: Lsn::new(*prev_pg),
                                prev_lsn_page: Lsn::new(*prev_page),
                                pg_id: PgId::new(*pg as u32),
                                page_id: PageId::new(page_of(*lsn)),
                                cpl: true,
                                change: Change::Delta {
                                    offset: *offset,
                                    bytes,
                                },
                            })
                            .collect();
                        let ack = match e.append(PgId::new(*pg as u32), Epoch::ZERO, &redo).await {
                            Ok(ack) => ack,
                            Err(err) => {
                                eprintln!("child: append failed: {err}");
                                return;
                            }
                        };
                        let mut out = std::io::stdout().lock();
                        for (lsn, _, (_, bytes)) in recs {
                            let _ = writeln!(out, "ack {pg} {lsn} {:016x}", fnv(bytes));
                        }
                        let _ = out.flush();
                        drop(out);
                        let _ = e.set_min_read_point(PgId::new(*pg as u32), ack.scl);
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

/// Reopens the core in-process and checks the invariants; returns (records checked,
/// reads checked).
fn verify(dir: &Path, acked: &BTreeSet<u64>, log: &mut TrueLog, kill: u64) -> (u64, u64) {
    let max = acked.iter().next_back().copied().unwrap_or(0);
    let rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let io = rt.io().clone();
    let mut rng = SplitMix64::new(kill ^ 0x5eed);
    rt.block_on(async {
        let e = open(io, dir).await;
        let held: BTreeSet<PgId> = e.segments().into_iter().collect();
        let (mut records, mut reads) = (0, 0);
        for pg in 1..=PGS {
            let id = PgId::new(pg as u32);
            let chain = log.chain(pg, max);
            let mut prefix = 0;
            for &n in &chain {
                if !acked.contains(&n) {
                    break;
                }
                prefix = n;
            }
            if !held.contains(&id) {
                assert!(
                    chain.iter().all(|n| !acked.contains(n)),
                    "kill {kill}: pg {pg} vanished with acknowledged records"
                );
                continue;
            }
            let st = e.status(id).unwrap();
            let scl = st.scl.get();
            assert!(
                scl >= prefix,
                "kill {kill}: pg {pg} scl {scl} below the acknowledged prefix {prefix}; {st:?}"
            );
            assert!(
                scl == 0 || pg_of(scl) == pg,
                "kill {kill}: pg {pg} scl {scl} is not a record of the PG"
            );
            let above: BTreeSet<u64> = e
                .fetch_records(id, st.scl, Lsn::MAX, usize::MAX)
                .unwrap()
                .iter()
                .map(|r| r.lsn.get())
                .collect();
            for &n in chain.iter().filter(|&&n| n > scl && acked.contains(&n)) {
                assert!(
                    above.contains(&n),
                    "kill {kill}: pg {pg} acknowledged lsn {n} above scl {scl} is not held"
                );
            }
            records += chain.iter().filter(|n| acked.contains(n)).count() as u64;
            let floor = st.materialized_lsn.get().max(st.min_read_point.get());
            for page in first_page(pg)..first_page(pg) + PAGES {
                let mut lsns = vec![scl];
                if scl > floor {
                    lsns.push(floor + rng.next_u64() % (scl - floor + 1));
                }
                for lsn in lsns {
                    let got = e
                        .read_page(id, PageId::new(page), Lsn::new(lsn))
                        .await
                        .unwrap_or_else(|err| panic!("kill {kill}: read {page} at {lsn}: {err}"));
                    let (payload, page_lsn) = log.page_at(page, lsn);
                    assert_eq!(got.page_lsn.get(), page_lsn, "kill {kill}: {page} at {lsn}");
                    assert!(
                        got.payload[..] == payload[..],
                        "kill {kill}: {page} at {lsn}: payload differs"
                    );
                    reads += 1;
                }
            }
        }
        (records, reads)
    })
}

#[test]
fn sigkill_loses_no_acknowledged_record() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let started = Instant::now();
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let kills: u64 = std::env::var("KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KILLS_DEFAULT);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let exe = std::env::current_exe().unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut log = TrueLog::default();
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let (mut acks, mut records_checked, mut reads_checked) = (0u64, 0u64, 0u64);
    for kill in 0..kills {
        let resume = acked.iter().next_back().map_or(1, |m| m + 1);
        let gaps: Vec<String> = (1..resume)
            .filter(|l| !acked.contains(l))
            .map(|l| l.to_string())
            .collect();
        let spec = format!("{}:{resume}:{}", dir.display(), gaps.join(","));
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        let delay = Duration::from_millis(5 + rng.next_u64() % 76);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for line in lines.iter().filter(|l| l.starts_with("ack ")) {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 4, "bad line {line:?}");
            let (pg, lsn): (u64, u64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            assert_eq!(pg, pg_of(lsn), "{line}");
            assert_eq!(
                f[3],
                format!("{:016x}", fnv(&change_of(lsn).1)),
                "child and parent disagree on {line}"
            );
            acked.insert(lsn);
            acks += 1;
        }
        let (r, n) = verify(&dir, &acked, &mut log, kill);
        records_checked += r;
        reads_checked += n;
    }
    println!(
        "node_kill: {kills} SIGKILLs in {:.1?}: {acks} acknowledgements read from children, {} distinct records acknowledged, {records_checked} record checks, {reads_checked} page reads equal to the model",
        started.elapsed(),
        acked.len()
    );
    assert!(!acked.is_empty(), "no child acknowledged anything");
}
