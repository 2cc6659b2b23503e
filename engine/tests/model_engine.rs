//! Model-based test of one core's engine under the simulator: random appends (in and
//! out of order, duplicates), a truncation, reads, min-read-point moves, coalescer
//! passes and crash-restarts of a `CoreEngine`, compared with an in-memory model.
//!
//! The model is the PG's true redo log (what a writer produced, with honest backlinks)
//! and the set of records the engine acknowledged. GetPage@LSN must equal the model's
//! page at that LSN (zero payload plus every kept record of the page up to it), and the
//! SCL must equal the longest acknowledged prefix of the true chain, at every step and
//! after every restart. The engine runs on the real per-core journal on the simulated
//! disk (`CoreEngine::open_dir`), so the model also checks the journal's recovery,
//! recycling and release rules; the page store runs on the simulated disk too, whose
//! crashes drop or tear un-synced writes.
//!
//! Replay: `SEED=<n> cargo test -p boreal-engine --test model_engine -- --nocapture`.
//! Without `SEED`, `MODEL_SEEDS` seeds (default 24) run.

use std::path::Path;

use boreal_engine::hotlog::HotLogError;
use boreal_engine::io::Clock;
use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{CoreEngine, EngineConfig, EngineError};
use boreal_engine::sim::{FaultConfig, Sim, SimConfig, SimControl, SimIo};
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};

const PG: PgId = PgId::new(1);
const PAGES: u64 = 6;
const PAGE_SIZE: u32 = 4096;
const PAYLOAD: usize = PAGE_SIZE as usize - 32;
const OPS: usize = 160;

#[derive(Clone, Debug)]
struct Rec {
    lsn: u64,
    prev_pg: u64,
    prev_page: u64,
    page: u64,
    offset: u32,
    bytes: Vec<u8>,
    image: bool,
}

impl Rec {
    fn redo(&self) -> Redo<'_> {
        Redo {
            lsn: Lsn::new(self.lsn),
            prev_lsn_pg: Lsn::new(self.prev_pg),
            prev_lsn_page: Lsn::new(self.prev_page),
            pg_id: PG,
            page_id: PageId::new(self.page),
            cpl: true,
            change: if self.image {
                Change::Image(&self.bytes)
            } else {
                Change::Delta {
                    offset: self.offset,
                    bytes: &self.bytes,
                }
            },
        }
    }
}

#[derive(Default)]
struct Model {
    /// The true log: kept records, in LSN order.
    log: Vec<Rec>,
    /// Records annulled by the truncation, never delivered.
    annulled: Vec<Rec>,
    acked: std::collections::BTreeSet<u64>,
    next_lsn: u64,
    epoch: u64,
    mrp: u64,
    truncated: bool,
}

impl Model {
    fn scl(&self) -> u64 {
        let mut scl = 0;
        for r in &self.log {
            if !self.acked.contains(&r.lsn) {
                break;
            }
            scl = r.lsn;
        }
        scl
    }

    fn page_at(&self, page: u64, lsn: u64) -> (Vec<u8>, u64) {
        let mut payload = vec![0u8; PAYLOAD];
        let mut page_lsn = 0;
        for r in self.log.iter().filter(|r| r.page == page && r.lsn <= lsn) {
            if r.image {
                payload.copy_from_slice(&r.bytes);
            } else {
                let at = r.offset as usize;
                payload[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
            }
            page_lsn = r.lsn;
        }
        (payload, page_lsn)
    }

    fn generate(&mut self, ctl: &SimControl) {
        let lsn = self.next_lsn + 1 + ctl.random_below(3);
        self.next_lsn = lsn;
        let page = ctl.random_below(PAGES);
        let prev_pg = self.log.last().map_or(0, |r| r.lsn);
        let prev_page = self
            .log
            .iter()
            .rev()
            .find(|r| r.page == page)
            .map_or(0, |r| r.lsn);
        let image = ctl.chance(0.1);
        let (offset, bytes) = if image {
            let fill = ctl.random_below(256) as u8;
            (0, vec![fill; PAYLOAD])
        } else {
            let len = 1 + ctl.random_below(24) as usize;
            let offset = ctl.random_below((PAYLOAD - len) as u64) as u32;
            (
                offset,
                (0..len).map(|_| ctl.random_below(256) as u8).collect(),
            )
        };
        self.log.push(Rec {
            lsn,
            prev_pg,
            prev_page,
            page,
            offset,
            bytes,
            image,
        });
    }
}

fn config() -> EngineConfig {
    let mut cfg = EngineConfig::new("/data/core0");
    cfg.page_cache_bytes_max = 3 * PAYLOAD;
    cfg.page_file_grow_bytes = 128 << 10;
    cfg.coalesce_pass_bytes_max = 64 << 10;
    // Passes choose and drop their records three at a time, yielding between.
    cfg.coalesce_step_records = 3;
    // The smallest backlog bound; `open_dir` refuses one the journal cannot hold well.
    cfg.backlog_bytes_max = 1 << 20;
    cfg
}

/// The real journal on the simulated disk, through `CoreEngine::open_dir`.
struct Real;

fn journal_config() -> JournalConfig {
    JournalConfig {
        // 4 MiB: a quarter of it holds the 1 MiB backlog bound (`check_backlog`).
        files: 16,
        file_bytes: 256 << 10,
        batch_bytes_max: 64 << 10,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new("/data/core0")
    }
}

impl Real {
    async fn create(&self, io: SimIo) -> CoreEngine<SimIo> {
        let (e, report) = CoreEngine::open_dir(io, config(), journal_config())
            .await
            .unwrap();
        assert!(report.created);
        e
    }
    async fn reopen(&self, io: SimIo) -> CoreEngine<SimIo> {
        let (e, report) = CoreEngine::open_dir(io, config(), journal_config())
            .await
            .unwrap();
        assert!(!report.created);
        assert!(report.missing.is_empty(), "{}", report.summary());
        e
    }
}

async fn check_reads(e: &CoreEngine<SimIo>, m: &Model, ctl: &SimControl, reads: usize) {
    let status = e.status(PG).unwrap();
    assert_eq!(status.scl.get(), m.scl(), "scl");
    let scl = status.scl.get();
    let low = status.min_read_point.get().max(m.mrp);
    for _ in 0..reads {
        if scl < low {
            break;
        }
        let lsn = low + ctl.random_below(scl - low + 1);
        let page = ctl.random_below(PAGES);
        let got = e
            .read_page(PG, PageId::new(page), Lsn::new(lsn))
            .await
            .unwrap();
        let (payload, page_lsn) = m.page_at(page, lsn);
        assert_eq!(
            got.page_lsn.get(),
            page_lsn,
            "page {page} at {lsn}: page_lsn"
        );
        assert!(
            got.payload[..] == payload[..],
            "page {page} at {lsn}: payload differs"
        );
    }
}

async fn workload(io: SimIo, ctl: SimControl, backend: Real) {
    let mut e = backend.create(io.clone()).await;
    e.create_segment(PG, PageSize::new(PAGE_SIZE).unwrap(), 0, PAGES)
        .await
        .unwrap();
    let mut m = Model::default();
    for _ in 0..OPS {
        match ctl.random_below(100) {
            // Append a batch: new records, out-of-order picks from the unacknowledged
            // ones, and sometimes a duplicate of an acknowledged one.
            0..=49 => {
                for _ in 0..ctl.random_below(4) {
                    m.generate(&ctl);
                }
                let pending: Vec<&Rec> = m
                    .log
                    .iter()
                    .filter(|r| !m.acked.contains(&r.lsn))
                    .take(8)
                    .collect();
                let mut batch: Vec<Rec> = Vec::new();
                for r in &pending {
                    if ctl.chance(0.5) {
                        batch.push((*r).clone());
                    }
                }
                if ctl.chance(0.2) && !m.acked.is_empty() {
                    let acked: Vec<u64> = m.acked.iter().copied().collect();
                    let lsn = acked[ctl.random_below(acked.len() as u64) as usize];
                    batch.push(m.log.iter().find(|r| r.lsn == lsn).unwrap().clone());
                }
                let redo: Vec<Redo<'_>> = batch.iter().map(Rec::redo).collect();
                let ack = e.append(PG, Epoch::new(m.epoch), &redo).await.unwrap();
                m.acked.extend(batch.iter().map(|r| r.lsn));
                assert_eq!(ack.scl.get(), m.scl(), "ack scl");
            }
            50..=69 => check_reads(&e, &m, &ctl, 3).await,
            70..=77 => {
                let scl = m.scl();
                if scl > m.mrp {
                    m.mrp += ctl.random_below(scl - m.mrp + 1);
                    e.set_min_read_point(PG, Lsn::new(m.mrp)).unwrap();
                }
            }
            78..=85 => {
                e.coalesce_now().await.unwrap();
            }
            86..=91 => {
                // Crash and restart: the page store keeps only what was synced.
                drop(e);
                ctl.crash_node(0);
                ctl.restart_node(0);
                e = backend.reopen(io.clone()).await;
                e.set_min_read_point(PG, Lsn::new(m.mrp)).unwrap();
                check_reads(&e, &m, &ctl, 4).await;
            }
            _ => {
                if m.truncated {
                    continue;
                }
                // Volume recovery: cut (start, end] at a chain point at or above the
                // materialized LSN and the min read point, then write above it.
                let floor = e.status(PG).unwrap().materialized_lsn.get().max(m.mrp);
                let kept: Vec<u64> = m
                    .log
                    .iter()
                    .map(|r| r.lsn)
                    .filter(|&l| l >= floor && l <= m.scl())
                    .collect();
                let start = if kept.is_empty() {
                    floor
                } else {
                    kept[ctl.random_below(kept.len() as u64) as usize]
                };
                if m.log.iter().all(|r| r.lsn <= start) && !m.log.is_empty() && start != floor {
                    continue;
                }
                let end = m.next_lsn + 10;
                m.epoch = 1;
                let got = e
                    .truncate(PG, Epoch::new(1), Lsn::new(start), Lsn::new(end))
                    .await;
                if let Err(EngineError::TruncateBelowMaterialized { .. }) = got {
                    // The coalescer moved past `start` meanwhile: pick again later.
                    m.epoch = 0;
                    continue;
                }
                got.unwrap();
                m.truncated = true;
                let (kept, gone): (Vec<Rec>, Vec<Rec>) =
                    m.log.drain(..).partition(|r| r.lsn <= start);
                m.log = kept;
                m.acked.retain(|&l| l <= start);
                m.annulled = gone;
                m.next_lsn = end;
                if let Some(r) = m.annulled.first() {
                    let got = e.append(PG, Epoch::new(1), &[r.redo()]).await;
                    assert!(
                        matches!(
                            got,
                            Err(EngineError::Refused(HotLogError::Truncated { .. }))
                        ),
                        "{got:?}"
                    );
                }
                let stale = e.append::<Redo>(PG, Epoch::new(0), &[]).await;
                assert!(
                    matches!(stale, Err(EngineError::StaleEpoch { .. })),
                    "{stale:?}"
                );
                // The writer of the new epoch continues from the last kept record: the
                // model's generate() links new records to `m.log`'s tail.
            }
        }
        assert!(e.failure().is_none());
    }
    // Deliver everything, materialize everything, and check once more after a crash.
    let pending: Vec<Rec> = m
        .log
        .iter()
        .filter(|r| !m.acked.contains(&r.lsn))
        .cloned()
        .collect();
    for chunk in pending.chunks(16) {
        let redo: Vec<Redo<'_>> = chunk.iter().map(Rec::redo).collect();
        e.append(PG, Epoch::new(m.epoch), &redo).await.unwrap();
        m.acked.extend(chunk.iter().map(|r| r.lsn));
    }
    m.mrp = m.scl();
    e.set_min_read_point(PG, Lsn::new(m.mrp)).unwrap();
    for _ in 0..1000 {
        if e.status(PG).unwrap().materialized_lsn.get() == m.scl() {
            break;
        }
        if e.coalesce_now().await.unwrap() == 0 {
            // The background pass holds the segment: let it finish.
            ctl.sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    assert_eq!(e.status(PG).unwrap().materialized_lsn.get(), m.scl());
    let st = e.stats();
    eprintln!(
        "records {} truncated {} scl {} passes {} pages written {} materialized {} cache hits {} misses {}",
        m.log.len(),
        m.truncated,
        m.scl(),
        st.coalescer_passes,
        st.pages_written,
        st.records_materialized,
        st.cache_hits,
        st.cache_misses
    );
    drop(e);
    ctl.crash_node(0);
    ctl.restart_node(0);
    let e = backend.reopen(io.clone()).await;
    for page in 0..PAGES {
        let got = e
            .read_page(PG, PageId::new(page), Lsn::new(m.mrp))
            .await
            .unwrap();
        let (payload, page_lsn) = m.page_at(page, m.mrp);
        assert_eq!(got.page_lsn.get(), page_lsn);
        assert!(got.payload[..] == payload[..], "final page {page}");
    }
}

fn run_seed(seed: u64) {
    eprintln!(
        "seed={seed} (replay: SEED={seed} cargo test -p boreal-engine --test model_engine -- --nocapture)"
    );
    {
        let mut cfg = SimConfig::with_seed(seed);
        cfg.faults = FaultConfig::none();
        let sim = Sim::new(cfg);
        let node = sim.add_node();
        let io = sim.io(node, 0);
        let ctl = sim.control();
        let _ = Path::new("/data/core0");
        sim.run(workload(io, ctl, Real));
        eprintln!("seed={seed} trace={:#x}", sim.trace_hash());
    }
}

#[test]
fn engine_matches_the_model() {
    if let Ok(seed) = std::env::var("SEED") {
        run_seed(seed.parse().expect("SEED is a number"));
        return;
    }
    let seeds: u64 = std::env::var("MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    for seed in 0..seeds {
        run_seed(seed);
    }
}
