//! The end of a seed: faults stop, every fenced shim ends, every storage node comes
//! back, and within bounds of virtual time (each an `await_live`, which fails naming
//! the seed): a shim opens the volume; every write still in flight completes; one more
//! mini-transaction over every PG commits; every segment reaches its PG's read point
//! at the VDL. Then the agreement is checked exactly: each segment holds precisely
//! the model's records of its PG up to the VDL (none of an annulled mini-transaction,
//! nothing above the VDL), each page read from each segment at the VDL is the model's,
//! and so is each page read through the shim.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::rt::timeout;
use boreal_engine::sim::SimIo;
use boreal_netlog::node::CoreCtx;
use boreal_segment::{Lsn, PageId, PgId};

use super::nodes::{Life, STORAGE_NODES};
use super::shims::{self, ShimState};
use super::{Cluster, PAGES_PER_PG, PGS};

/// Bounds of virtual time for each step of the heal.
const OPEN_BOUND: Duration = Duration::from_secs(120);
const WRITES_BOUND: Duration = Duration::from_secs(30);
const AGREE_BOUND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

pub async fn run(c: &Rc<Cluster>) {
    c.workload_stop.set(true);
    let newest = shims::current(c).map(|s| s.inc);
    let older: Vec<_> = c
        .shims
        .borrow()
        .iter()
        .filter(|s| Some(s.inc) != newest)
        .filter(|s| matches!(s.state.get(), ShimState::Open | ShimState::Opening))
        .cloned()
        .collect();
    for s in older {
        shims::take_down(c, &s, false);
    }
    c.ctl.stop_faults();
    let started = c.ctl.now();
    for n in &c.nodes {
        if n.life.get() == Life::Down {
            n.restart_at.set(started);
        }
    }
    let opened = c
        .ctl
        .await_live("a shim opens the volume", OPEN_BOUND, POLL, || {
            let ok = shims::current(c).is_some_and(|s| s.open().is_some());
            async move { ok }
        })
        .await;
    if let Err(e) = opened {
        c.violation(e.to_string());
        return;
    }
    let s = shims::current(c).expect("a shim opened");
    let shim = s.open().expect("a shim opened");
    let drained = c
        .ctl
        .await_live(
            "every write in flight completes",
            WRITES_BOUND,
            POLL,
            || {
                let ok = s.writes_in_flight.get() == 0;
                async move { ok }
            },
        )
        .await;
    if let Err(e) = drained {
        c.violation(e.to_string());
    }
    let pages: Vec<u64> = (0..u64::from(PGS)).map(|p| p * PAGES_PER_PG).collect();
    let changes = shims::new_changes(c, &s, &pages);
    match timeout(WRITES_BOUND, shims::write_one(c, &s, &shim, changes)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => c.violation(format!("the last write, after the heal, failed: {e}")),
        Err(_) => c.violation(format!(
            "the last write, after the heal, did not commit within {WRITES_BOUND:?}"
        )),
    }
    let vdl = shim.vdl();
    let found = c.model.borrow_mut().saw_vdl(s.inc, vdl);
    c.violations(found);
    let want: Vec<BTreeMap<Lsn, _>> = (0..PGS)
        .map(|p| c.model.borrow().pg_records(p, vdl))
        .collect();
    let rp: Vec<Lsn> = want
        .iter()
        .map(|w| w.keys().next_back().copied().unwrap_or(Lsn::ZERO))
        .collect();
    let agreed = c
        .ctl
        .await_live("every segment reaches the VDL", AGREE_BOUND, POLL, || {
            let ok = caught_up(c, &rp);
            async move { ok }
        })
        .await;
    c.stats.borrow_mut().heal_ns = c.ctl.now().saturating_duration_since(started).as_nanos() as u64;
    if let Err(e) = agreed {
        c.violation(format!("{e}: {}", lagging(c, &rp)));
        return;
    }
    for n in 0..STORAGE_NODES {
        let Some(ctx) = c.nodes[n as usize].serving() else {
            continue;
        };
        for p in 0..PGS {
            check_segment(c, n, &ctx, p, vdl, rp[p as usize], &want[p as usize]).await;
            let held = ctx
                .engine()
                .truncations(PgId::new(p))
                .map_or(0, |t| t.len());
            let mut st = c.stats.borrow_mut();
            st.truncations_max = st.truncations_max.max(held as u64);
        }
    }
    for page in 0..u64::from(PGS) * PAGES_PER_PG {
        if let Err(e) = shims::read_one(c, &s, &shim, PageId::new(page)).await {
            c.violation(format!("page {page} cannot be read after the heal: {e}"));
        }
    }
}

/// Whether every storage node not given up serves and every segment reached its PG's
/// read point.
fn caught_up(c: &Cluster, rp: &[Lsn]) -> bool {
    c.nodes.iter().all(|n| match n.life.get() {
        Life::Lost => true,
        Life::Serving => n.serving().is_some_and(|ctx| {
            (0..PGS).all(|p| {
                ctx.engine()
                    .status(PgId::new(p))
                    .is_ok_and(|st| st.scl >= rp[p as usize])
            })
        }),
        _ => false,
    })
}

/// Which segments lag, for the liveness violation's message.
fn lagging(c: &Cluster, rp: &[Lsn]) -> String {
    let mut out = Vec::new();
    for n in &c.nodes {
        let Some(ctx) = n.serving() else {
            out.push(format!(
                "node {} {:?} (last open error: {})",
                n.id,
                n.life.get(),
                n.last_open_error.borrow()
            ));
            continue;
        };
        for p in 0..PGS {
            match ctx.engine().status(PgId::new(p)) {
                Ok(st) if st.scl >= rp[p as usize] => {}
                Ok(st) => out.push(format!(
                    "node {} pg {p}: scl {} < {} (epoch {}, holes {:?}, hot {}, floor {}, truncations {:?})",
                    n.id,
                    st.scl,
                    rp[p as usize],
                    st.epoch,
                    st.holes,
                    st.hot_records,
                    st.materialized_lsn,
                    ctx.engine().truncations(PgId::new(p)).ok()
                )),
                Err(e) => out.push(format!("node {} pg {p}: {e}", n.id)),
            }
        }
    }
    out.join("; ")
}

/// Checks that node `n`'s segment of PG `p` holds exactly the model's records up to
/// the VDL and serves the model's pages at the read point.
async fn check_segment(
    c: &Cluster,
    n: u32,
    ctx: &CoreCtx<SimIo>,
    p: u32,
    vdl: Lsn,
    rp: Lsn,
    want: &BTreeMap<Lsn, (PageId, boreal_engine::hotlog::OwnedChange, bool)>,
) {
    let pg = PgId::new(p);
    let engine = ctx.engine();
    let floor = match engine.status(pg) {
        Ok(st) => st.materialized_lsn,
        Err(e) => {
            c.violation(format!("node {n} lost its segment of {pg}: {e}"));
            return;
        }
    };
    let mut from = floor;
    let mut held = BTreeMap::new();
    loop {
        match engine.fetch_records(pg, from, Lsn::MAX, 1 << 20) {
            Ok(recs) if recs.is_empty() => break,
            Ok(recs) => {
                from = recs.last().expect("not empty").lsn;
                for r in recs {
                    held.insert(r.lsn, r);
                }
            }
            Err(e) => {
                c.violation(format!("node {n} {pg}: fetching its records: {e}"));
                return;
            }
        }
    }
    for (lsn, r) in &held {
        match want.get(lsn) {
            Some((page, change, cpl)) => {
                if r.page_id != *page || r.change != *change || r.cpl != *cpl {
                    c.violation(format!(
                        "node {n} {pg}: record {lsn} differs from the one handed out"
                    ));
                }
            }
            None => {
                let owner = c.model.borrow().owner(*lsn);
                let scl = engine.status(pg).map(|st| st.scl).ok();
                c.violation(format!(
                    "node {n} {pg}: holds record {lsn} (prev {}, mtr and state {owner:?}; \
                     segment scl {scl:?}) that the volume does not hold at vdl {vdl}: \
                     written under a fenced epoch and not truncated",
                    r.prev_lsn_pg
                ));
            }
        }
    }
    for lsn in want.keys().filter(|&&l| l > floor) {
        if !held.contains_key(lsn) {
            c.violation(format!(
                "node {n} {pg}: lacks committed record {lsn} (floor {floor}, vdl {vdl})"
            ));
        }
    }
    for k in 0..PAGES_PER_PG {
        let page = PageId::new(u64::from(p) * PAGES_PER_PG + k);
        let model = c.model.borrow().page_at(page.get(), vdl);
        let got = engine.read_page(pg, page, rp).await;
        match (model, got) {
            (Ok((lsn, payload)), Ok(img)) => {
                if img.page_lsn != lsn || *img.payload != *payload {
                    c.violation(format!(
                        "node {n} {page} at {rp}: page lsn {} differs from the model ({lsn}) \
                         or its bytes do",
                        img.page_lsn
                    ));
                }
            }
            (Err(e), _) => c.violation(format!("cannot model {page}: {e}")),
            (_, Err(e)) => c.violation(format!("node {n} cannot read {page} at {rp}: {e}")),
        }
    }
}
