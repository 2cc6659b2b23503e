//! Shim incarnations: each runs on a shim node of its own, opens the volume (volume
//! recovery: a new epoch, fencing, truncation), then runs the workload — writers
//! handing out mini-transactions of several records over several pages and PGs, and
//! a reader checking pages against the model at the VDL it read at. A shim dies with
//! its node (a crash or a kill); a newer one may open while an older one still runs
//! (then the older is fenced: it must commit nothing more).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::hotlog::OwnedChange;
use boreal_engine::io::{Clock, Instant};
use boreal_engine::rt::{Domain, spawn_in};
use boreal_engine::sim::SimIo;
use boreal_netlog::quorum::{AllocError, PageChange, Shim, ShimConfig, ShimError};
use boreal_segment::PageId;

use super::{Cluster, PAGES_PER_PG, PAYLOAD_BYTES, PGS, SHIM_NODES};

const WRITERS: u32 = 3;
/// Changes per mini-transaction, at most.
const MTR_CHANGES_MAX: u64 = 4;
/// Mini-transactions a seed hands out, at most (keeps every journal far from full, so
/// nothing is materialized).
pub const MTRS_MAX: usize = 240;
/// Pause between two operations of a writer or the reader, at most.
const PAUSE_MAX_US: u64 = 30_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShimState {
    Opening,
    Open,
    /// Its open failed.
    Failed,
    /// Its node went down.
    Dead,
}

/// One shim incarnation.
pub struct ShimInc {
    pub inc: usize,
    pub node: u32,
    pub state: Cell<ShimState>,
    pub shim: RefCell<Option<Rc<Shim<SimIo>>>>,
    pub writes_in_flight: Cell<u32>,
    started: Instant,
}

impl ShimInc {
    /// Whether it is open (and its node up).
    pub fn open(&self) -> Option<Rc<Shim<SimIo>>> {
        if self.state.get() == ShimState::Open {
            self.shim.borrow().clone()
        } else {
            None
        }
    }
}

/// The newest incarnation.
pub fn current(c: &Cluster) -> Option<Rc<ShimInc>> {
    c.shims.borrow().last().cloned()
}

/// Starts a new shim incarnation on a shim node that hosts no live shim (restarting
/// its machine if it is down). Returns `None` when both shim nodes are busy.
pub fn start(c: &Rc<Cluster>) -> Option<Rc<ShimInc>> {
    let busy = |n: u32| {
        c.shims
            .borrow()
            .iter()
            .any(|s| s.node == n && matches!(s.state.get(), ShimState::Opening | ShimState::Open))
    };
    let node = SHIM_NODES.into_iter().find(|&n| !busy(n))?;
    if c.ctl.is_alive(node) {
        // Left from a failed open: a fresh process.
        c.ctl.kill_process(node);
    }
    c.ctl.restart_node(node);
    let s = Rc::new(ShimInc {
        inc: c.shims.borrow().len(),
        node,
        state: Cell::new(ShimState::Opening),
        shim: RefCell::new(None),
        writes_in_flight: Cell::new(0),
        started: c.ctl.now(),
    });
    c.shims.borrow_mut().push(s.clone());
    drop(spawn_in(
        Domain { node, core: 0 },
        shim_main(c.clone(), s.clone()),
    ));
    Some(s)
}

/// Takes a shim's node down (a crash or a kill: no disk, so the same to it).
pub fn take_down(c: &Cluster, s: &ShimInc, power: bool) {
    c.note(format!(
        "shim {} on node {} goes down (power {power})",
        s.inc, s.node
    ));
    if power {
        c.ctl.crash_node(s.node);
    } else {
        c.ctl.kill_process(s.node);
    }
    for other in c.shims.borrow().iter().filter(|o| o.node == s.node) {
        if matches!(other.state.get(), ShimState::Opening | ShimState::Open) {
            other.state.set(ShimState::Dead);
            *other.shim.borrow_mut() = None;
        }
    }
    c.stats.borrow_mut().shim_crashes += 1;
}

/// When the newest shim failed to open or died, starts another.
pub fn keep(c: &Rc<Cluster>) {
    let need =
        current(c).is_none_or(|s| matches!(s.state.get(), ShimState::Failed | ShimState::Dead));
    if need {
        start(c);
    }
}

fn shim_config(c: &Cluster) -> ShimConfig {
    let mut cfg = ShimConfig::new(c.volume.clone());
    cfg.connect_timeout = Duration::from_millis(300);
    cfg.request_timeout = Duration::from_millis(500);
    cfg.mutations = c.variant.shim;
    cfg
}

async fn shim_main(c: Rc<Cluster>, s: Rc<ShimInc>) {
    let io = c.io(s.node);
    let opened = Shim::open(io, shim_config(&c)).await;
    let (shim, report) = match opened {
        Ok(x) => x,
        Err(e) => {
            c.note(format!(
                "shim {} on node {}: open failed: {e}",
                s.inc, s.node
            ));
            c.stats.borrow_mut().shim_open_failures += 1;
            s.state.set(ShimState::Failed);
            return;
        }
    };
    let took = c.ctl.now().saturating_duration_since(s.started);
    {
        let recovered = !c.model.borrow().opens.is_empty();
        let mut st = c.stats.borrow_mut();
        st.shim_opens += 1;
        if recovered {
            st.recovery_ns.push(took.as_nanos() as u64);
        }
    }
    c.note(format!(
        "shim {} on node {} opened: {report:?}",
        s.inc, s.node
    ));
    let found = c.model.borrow_mut().opened(s.inc, &report);
    c.violations(found);
    let shim = Rc::new(shim);
    *s.shim.borrow_mut() = Some(shim.clone());
    s.state.set(ShimState::Open);
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        tasks.push(boreal_engine::rt::spawn(writer(
            c.clone(),
            s.clone(),
            shim.clone(),
        )));
    }
    tasks.push(boreal_engine::rt::spawn(reader(
        c.clone(),
        s.clone(),
        shim.clone(),
    )));
    for t in tasks {
        let _ = t.await;
    }
}

/// The changes of a new mini-transaction: deltas that name it (and now and then a
/// whole page image), on random pages of random PGs.
pub fn new_changes(c: &Cluster, s: &ShimInc, pages: &[u64]) -> Vec<PageChange> {
    let tag = c.next_tag.get();
    c.next_tag.set(tag + 1);
    pages
        .iter()
        .enumerate()
        .map(|(k, &page)| {
            let mut word = [0u8; 8];
            word[..4].copy_from_slice(&tag.to_le_bytes());
            word[4] = k as u8;
            word[5] = s.inc as u8;
            word[6] = 0xA5;
            word[7] = page as u8;
            let change = if c.ctl.chance(0.05) {
                OwnedChange::Image(word.iter().copied().cycle().take(PAYLOAD_BYTES).collect())
            } else {
                OwnedChange::Delta {
                    offset: 8 * c.ctl.random_below(64) as u32,
                    bytes: word.to_vec().into(),
                }
            };
            PageChange {
                page: PageId::new(page),
                change,
            }
        })
        .collect()
}

fn random_pages(c: &Cluster) -> Vec<u64> {
    let n = 1 + c.ctl.random_below(MTR_CHANGES_MAX);
    (0..n)
        .map(|_| c.ctl.random_below(u64::from(PGS) * PAGES_PER_PG))
        .collect()
}

/// Whether the shim can do nothing more.
fn fatal(e: &ShimError) -> bool {
    matches!(e, ShimError::Fenced { .. } | ShimError::Closed)
}

/// Submits one mini-transaction and waits for it: the model learns its LSNs the
/// moment they are handed out and its acknowledgement the moment it comes. Returns
/// the error, if any.
pub async fn write_one(
    c: &Cluster,
    s: &ShimInc,
    shim: &Shim<SimIo>,
    changes: Vec<PageChange>,
) -> Result<(), ShimError> {
    let submitted = match shim.submit(&changes).await {
        Ok(x) => x,
        Err(e) => {
            if let ShimError::Alloc(a) = &e
                && !matches!(a, AllocError::Lal { .. })
            {
                c.violation(format!(
                    "shim {} refused a valid mini-transaction: {e}",
                    s.inc
                ));
            }
            return Err(e);
        }
    };
    let (i, found) = c
        .model
        .borrow_mut()
        .allocated(s.inc, changes, submitted.first, submitted.cpl);
    c.violations(found);
    shim.committed(&submitted).await?;
    let mut found = c.model.borrow_mut().acked(i);
    found.extend(c.model.borrow_mut().saw_vdl(s.inc, shim.vdl()));
    if shim.vdl() < submitted.cpl {
        found.push(format!(
            "shim {} acknowledged {} with its VDL at {}",
            s.inc,
            submitted.cpl,
            shim.vdl()
        ));
    }
    c.violations(found);
    c.stats.borrow_mut().commits += 1;
    Ok(())
}

async fn writer(c: Rc<Cluster>, s: Rc<ShimInc>, shim: Rc<Shim<SimIo>>) {
    loop {
        if c.workload_stop.get() || c.model.borrow().mtrs.len() >= MTRS_MAX {
            return;
        }
        let changes = new_changes(&c, &s, &random_pages(&c));
        s.writes_in_flight.set(s.writes_in_flight.get() + 1);
        let r = write_one(&c, &s, &shim, changes).await;
        s.writes_in_flight.set(s.writes_in_flight.get() - 1);
        if let Err(e) = r {
            c.stats.borrow_mut().write_errors += 1;
            if fatal(&e) {
                return;
            }
        }
        c.ctl
            .sleep(Duration::from_micros(c.ctl.random_below(PAUSE_MAX_US)))
            .await;
    }
}

/// Reads random pages at the VDL and checks each against the model.
async fn reader(c: Rc<Cluster>, s: Rc<ShimInc>, shim: Rc<Shim<SimIo>>) {
    while !c.workload_stop.get() {
        let page = PageId::new(c.ctl.random_below(u64::from(PGS) * PAGES_PER_PG));
        if let Err(e) = read_one(&c, &s, &shim, page).await
            && fatal(&e)
        {
            return;
        }
        c.ctl
            .sleep(Duration::from_micros(c.ctl.random_below(PAUSE_MAX_US)))
            .await;
    }
}

/// Reads `page` through the shim and checks it against the model at the VDL the read
/// started at.
pub async fn read_one(
    c: &Cluster,
    s: &ShimInc,
    shim: &Shim<SimIo>,
    page: PageId,
) -> Result<(), ShimError> {
    let vdl = shim.vdl();
    let found = c.model.borrow_mut().saw_vdl(s.inc, vdl);
    c.violations(found);
    match shim.read_page(page).await {
        Ok((lsn, payload)) => {
            c.stats.borrow_mut().reads += 1;
            let what = format!("a read through shim {}", s.inc);
            let found = c
                .model
                .borrow_mut()
                .check_read(page, vdl, (lsn, &payload), &what);
            c.violations(found);
            Ok(())
        }
        Err(e) => {
            c.stats.borrow_mut().read_errors += 1;
            Err(e)
        }
    }
}
