//! `boreal cluster load`: a shim on boreal's runtime, on the cluster of a directory,
//! with `clients` tasks committing mini-transactions (the checkable workload of
//! `workload`) and `readers` tasks reading slots back through the shim, for a given
//! time; a progress line every interval and a summary (commits/s, latencies) at the end.
//!
//! With an acked file, every commit is appended to it (one `write` of its whole line)
//! before it is counted or the client starts its next: the file never claims more than
//! was acknowledged, and misses at most one committed mini-transaction per client (the
//! one whose line a crash cut). Each load appends its `run` line first; `check` reads
//! the file.
//!
//! Readers check what they read against what this process acknowledged so far: a slot
//! shows at least its last acknowledged value and never one its client did not issue.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use boreal_engine::rt::{Runtime, RuntimeConfig, SplitMix64};
use boreal_engine::uring::UringIo;
use boreal_netlog::cluster::ClusterFile;
use boreal_netlog::cluster::scrape::{Buckets, NodeCounters, scrape_all};
use boreal_netlog::quorum::{Shim, ShimConfig, ShimStats};
use boreal_segment::PageId;
use hdrhistogram::Histogram;

use super::workload::{self, Acked, Layout, SLOT_BYTES};
use super::{CmdError, write_open_report};
use crate::numfmt::grouped;

/// Errors kept for the summary (the count goes on).
const ERRORS_KEPT: usize = 10;
/// How long the end waits for a client's write in flight before it gives up on it.
const END_WAIT: Duration = Duration::from_secs(5);
/// Pause of a reader after a failed read, so a lost quorum does not spin.
const READ_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub dir: PathBuf,
    pub seconds: f64,
    pub clients: u32,
    pub slots_per_client: u32,
    pub records: u32,
    pub readers: u32,
    pub acked: Option<PathBuf>,
    pub interval: Duration,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct LoadSummary {
    pub commits: u64,
    pub seconds: f64,
    pub reads: u64,
    pub read_failures: u64,
    pub read_violations: u64,
    pub errors: Vec<String>,
    pub error_count: u64,
    pub shim: ShimStats,
}

impl LoadSummary {
    /// Nothing went wrong: no client failed, no read showed what it must not.
    pub fn clean(&self) -> bool {
        self.error_count == 0 && self.read_violations == 0
    }
}

struct State {
    layout: Layout,
    stop: Cell<bool>,
    commits: Cell<u64>,
    /// Per global slot, the seq of its last acknowledged write in this run.
    acked_seq: RefCell<Vec<u64>>,
    /// Per client, the highest seq it issued.
    issued: RefCell<Vec<u64>>,
    commit_us: RefCell<Histogram<u64>>,
    read_us: RefCell<Histogram<u64>>,
    reads: Cell<u64>,
    read_failures: Cell<u64>,
    read_violations: Cell<u64>,
    errors: RefCell<Vec<String>>,
    error_count: Cell<u64>,
    acked: RefCell<Option<(PathBuf, File)>>,
}

impl State {
    fn error(&self, e: String) {
        self.error_count.set(self.error_count.get() + 1);
        let mut v = self.errors.borrow_mut();
        if v.len() < ERRORS_KEPT {
            v.push(e);
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// Runs the load (see the module docs), printing progress and the summary to `out`.
pub fn run(opts: &LoadOptions, out: &mut dyn Write) -> Result<LoadSummary, CmdError> {
    let file = ClusterFile::load(&opts.dir)?;
    let vol = file.volume();
    let (run, acked) = match &opts.acked {
        Some(path) => {
            let prior = match std::fs::read_to_string(path) {
                Ok(text) => Acked::parse(&text).map_err(|why| CmdError::Acked {
                    path: path.clone(),
                    why,
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Acked::default(),
                Err(source) => return Err(CmdError::io("read the acked file", path, source)),
            };
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| CmdError::io("open the acked file", path, e))?;
            (prior.layouts.len() as u32 + 1, Some((path.clone(), f)))
        }
        None => (1, None),
    };
    let layout = Layout {
        run,
        clients: opts.clients,
        slots_per_client: opts.slots_per_client,
        records: opts.records,
        page_size: vol.page_size,
        pages_per_pg: vol.pages_per_pg,
        pgs: vol.pgs,
    };
    layout.validate().map_err(CmdError::Workload)?;
    let slots = (layout.clients * layout.slots_per_client) as usize;
    let st = Rc::new(State {
        layout,
        stop: Cell::new(false),
        commits: Cell::new(0),
        acked_seq: RefCell::new(vec![0; slots]),
        issued: RefCell::new(vec![0; layout.clients as usize]),
        commit_us: RefCell::new(histogram()),
        read_us: RefCell::new(histogram()),
        reads: Cell::new(0),
        read_failures: Cell::new(0),
        read_violations: Cell::new(0),
        errors: RefCell::new(Vec::new()),
        error_count: Cell::new(0),
        acked: RefCell::new(acked),
    });
    let rt = Runtime::new(RuntimeConfig::default())
        .map_err(|e| CmdError::Runtime(format!("cannot start boreal's io_uring runtime: {e}")))?;
    let io = rt.io().clone();
    let started = Instant::now();
    let (shim, report) = rt
        .block_on(Shim::open(io, ShimConfig::new(vol)))
        .map_err(CmdError::Shim)?;
    let took = started.elapsed();
    write_open_report(out, &report, took).map_err(CmdError::Output)?;
    if let Some((path, f)) = &mut *st.acked.borrow_mut() {
        f.write_all(layout.header().as_bytes())
            .map_err(|e| CmdError::io("append to the acked file", path, e))?;
    }
    writeln!(
        out,
        "load: run {run}, {} clients × {}-record mini-transactions, {} readers, for {} s",
        opts.clients, opts.records, opts.readers, opts.seconds
    )
    .and_then(|()| out.flush())
    .map_err(CmdError::Output)?;
    let shim = Rc::new(shim);
    let metrics: Vec<_> = file.nodes.iter().map(|n| Some(n.metrics)).collect();
    let nodes_before = scrape_all(&metrics);
    let began = Instant::now();
    let secs = rt.block_on(drive(&shim, &st, opts, out, began));
    let nodes_after = scrape_all(&metrics);
    let summary = LoadSummary {
        commits: st.commits.get(),
        seconds: secs,
        reads: st.reads.get(),
        read_failures: st.read_failures.get(),
        read_violations: st.read_violations.get(),
        errors: st.errors.borrow().clone(),
        error_count: st.error_count.get(),
        shim: shim.stats(),
    };
    write_summary(out, &summary, &st, opts).map_err(CmdError::Output)?;
    write_node_latency(out, &nodes_before, &nodes_after).map_err(CmdError::Output)?;
    Ok(summary)
}

/// Spawns the clients and readers, prints progress, stops them at the end.
async fn drive(
    shim: &Rc<Shim<UringIo>>,
    st: &Rc<State>,
    opts: &LoadOptions,
    out: &mut dyn Write,
    began: Instant,
) -> f64 {
    let mut tasks = Vec::new();
    for c in 0..opts.clients {
        tasks.push(boreal_engine::rt::spawn(client(
            shim.clone(),
            st.clone(),
            c,
        )));
    }
    for r in 0..opts.readers {
        tasks.push(boreal_engine::rt::spawn(reader(
            shim.clone(),
            st.clone(),
            r,
        )));
    }
    let end = Duration::from_secs_f64(opts.seconds);
    let mut next = opts.interval;
    while began.elapsed() < end && !st.stop.get() {
        let wait = next.min(end).saturating_sub(began.elapsed());
        boreal_engine::rt::sleep(wait).await;
        if began.elapsed() >= next {
            let _ = writeln!(
                out,
                "progress t_ms={} commits={} reads={} read_failures={} read_violations={} errors={} vdl={}",
                began.elapsed().as_millis(),
                st.commits.get(),
                st.reads.get(),
                st.read_failures.get(),
                st.read_violations.get(),
                st.error_count.get(),
                shim.vdl().get()
            );
            let _ = out.flush();
            next += opts.interval;
        }
        if st.error_count.get() > 0 && st.error_count.get() >= u64::from(opts.clients) {
            break;
        }
    }
    let secs = began.elapsed().as_secs_f64();
    st.stop.set(true);
    let deadline = Instant::now() + END_WAIT;
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        if boreal_engine::rt::timeout(left, t).await.is_err() {
            st.error(format!(
                "a task was still waiting (for a commit or a read) {END_WAIT:?} after the end"
            ));
        }
    }
    secs
}

/// One client: mini-transactions one after another until told to stop or one fails.
async fn client(shim: Rc<Shim<UringIo>>, st: Rc<State>, c: u32) {
    let l = st.layout;
    let mut seq = 0u64;
    while !st.stop.get() {
        seq += 1;
        st.issued.borrow_mut()[c as usize] = seq;
        let t = Instant::now();
        let cpl = match shim.write(&l.changes(c, seq)).await {
            Ok(cpl) => cpl,
            Err(e) => {
                // Its fate is unknown: it must not write another (see `workload`).
                st.error(format!("client {c} seq {seq}: {e}"));
                return;
            }
        };
        let txn = l.txn(c, seq);
        if let Some((path, f)) = &mut *st.acked.borrow_mut() {
            let line = workload::ack_line(l.run, c, seq, cpl.get(), &txn);
            if let Err(e) = f.write_all(line.as_bytes()) {
                st.error(format!("{}: cannot append: {e}", path.display()));
                st.stop.set(true);
                return;
            }
        }
        let _ = st
            .commit_us
            .borrow_mut()
            .record(t.elapsed().as_micros().max(1) as u64);
        st.commits.set(st.commits.get() + 1);
        let mut acked = st.acked_seq.borrow_mut();
        for s in l.slots(c, seq) {
            acked[(c * l.slots_per_client + s) as usize] = seq;
        }
    }
}

/// One reader: a random slot's page, checked against what was acknowledged.
async fn reader(shim: Rc<Shim<UringIo>>, st: Rc<State>, r: u32) {
    let l = st.layout;
    let mut rng = SplitMix64::new(0x5EED ^ u64::from(r) ^ (u64::from(l.run) << 32));
    while !st.stop.get() {
        let c = (rng.next_u64() % u64::from(l.clients)) as u32;
        let s = (rng.next_u64() % u64::from(l.slots_per_client)) as u32;
        let loc = l.loc(c, s);
        let floor = st.acked_seq.borrow()[(c * l.slots_per_client + s) as usize];
        let t = Instant::now();
        match shim.read_page(PageId::new(loc.page)).await {
            Ok((_, payload)) => {
                let _ = st
                    .read_us
                    .borrow_mut()
                    .record(t.elapsed().as_micros().max(1) as u64);
                st.reads.set(st.reads.get() + 1);
                let at = loc.offset as usize;
                let issued = st.issued.borrow()[c as usize];
                let verdict = match payload.get(at..at + SLOT_BYTES).map(workload::decode) {
                    None => Err(format!("the page has {} bytes", payload.len())),
                    Some(Err(e)) => Err(e),
                    Some(Ok(None)) if floor == 0 => Ok(()),
                    Some(Ok(Some(v))) if v.run < l.run && floor == 0 => Ok(()),
                    Some(Ok(Some(v)))
                        if v.run == l.run
                            && v.client == c
                            && v.slot == s
                            && (floor..=issued).contains(&v.seq) =>
                    {
                        Ok(())
                    }
                    Some(Ok(v)) => Err(format!("{v:?}")),
                };
                if let Err(e) = verdict {
                    st.read_violations.set(st.read_violations.get() + 1);
                    st.error(format!(
                        "read of client {c} slot {s} (page {}, offset {}): acknowledged seq {floor}, issued {issued}, found {e}",
                        loc.page, loc.offset
                    ));
                }
            }
            Err(e) => {
                st.read_failures.set(st.read_failures.get() + 1);
                if st.read_failures.get() == 1 {
                    let mut v = st.errors.borrow_mut();
                    if v.len() < ERRORS_KEPT {
                        v.push(format!("first failed read (not counted as an error): {e}"));
                    }
                }
                boreal_engine::rt::sleep(READ_RETRY_PAUSE).await;
            }
        }
    }
}

/// The nodes' side of the commits: their appends' latency over the run, from the
/// histograms their metrics endpoints serve (scraped before and after), so the commit
/// latency above splits into the nodes' part and the rest.
fn write_node_latency(
    out: &mut dyn Write,
    before: &[Option<NodeCounters>],
    after: &[Option<NodeCounters>],
) -> std::io::Result<()> {
    let mut all = Buckets::default();
    let mut read = 0;
    for (b, a) in before.iter().zip(after) {
        if let (Some(b), Some(a)) = (b, a) {
            all.merge(&a.append_seconds.since(&b.append_seconds));
            read += 1;
        }
    }
    let us = |q: f64| {
        all.quantile(q)
            .map_or("-".to_string(), |s| format!("{:.0}", s * 1e6))
    };
    writeln!(
        out,
        "nodes: {} appends acknowledged ({read} of {} nodes' metrics read); append latency µs (arrival to durable acknowledgement, estimated from their histograms' doubling buckets) p50 {} p90 {} p99 {}",
        grouped(all.count()),
        after.len(),
        us(0.5),
        us(0.9),
        us(0.99)
    )
}

fn write_summary(
    out: &mut dyn Write,
    s: &LoadSummary,
    st: &State,
    opts: &LoadOptions,
) -> std::io::Result<()> {
    let rate = s.commits as f64 / s.seconds.max(1e-9);
    let h = st.commit_us.borrow();
    writeln!(
        out,
        "commits: {} in {:.1} s: {:.0} commits/s; latency µs p50 {} p90 {} p99 {} max {}",
        grouped(s.commits),
        s.seconds,
        rate,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.max()
    )?;
    if opts.readers > 0 {
        let h = st.read_us.borrow();
        writeln!(
            out,
            "reads: {} ({:.0}/s), {} failed, {} violations; latency µs p50 {} p99 {} max {}",
            grouped(s.reads),
            s.reads as f64 / s.seconds.max(1e-9),
            s.read_failures,
            s.read_violations,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        )?;
    }
    let sh = &s.shim;
    writeln!(
        out,
        "shim: {} records, {} LAL waits, {} hedged reads, {} read refusals, {} records dropped for unreachable segments, append refusals {:?}",
        grouped(sh.records),
        sh.lal_waits,
        sh.hedged_reads,
        sh.read_refusals,
        sh.records_dropped,
        sh.append_refusals
    )?;
    if let Some(p) = &opts.acked {
        writeln!(
            out,
            "acked: {} commits appended to {}",
            grouped(s.commits),
            p.display()
        )?;
    }
    for e in &s.errors {
        writeln!(out, "error: {e}")?;
    }
    if s.error_count > s.errors.len() as u64 {
        writeln!(out, "... {} errors in all", s.error_count)?;
    }
    out.flush()
}
