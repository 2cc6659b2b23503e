//! Opening a volume: connect to its nodes, create what is missing, and run volume
//! recovery (DESIGN §3) before the first write.
//!
//! The steps, each a request to every reachable segment, bounded by
//! `request_timeout`:
//! 1. `Hello` to every member (any core's address) for its core map; connect to each
//!    core that owns one of its PGs.
//! 2. The new epoch: one above the highest any reachable segment holds
//!    (`CoreStatus`). Segments a member lacks are created (a fresh volume, or a node
//!    that was replaced), at that epoch.
//! 3. `Fence` every PG's segments with the new epoch: from then on no older shim can
//!    change anything. A PG fenced on fewer than a write quorum stops the open.
//! 4. From each fenced segment: its floor and SCL (`SegmentStatus`), its truncations,
//!    and every record above the base (`FetchRecords` as a peer would, paged).
//! 5. `recovery::decide`: the new VCL, VDL and truncation range.
//! 6. Wait until a write quorum of each PG holds the records the decision keeps
//!    (gossip copies a record only one responder held; [`kept_on_quorum`]).
//! 7. `Truncate` `(VDL, VDL + LAL]` under the new epoch on every segment reachable
//!    (a write quorum of each PG at least), after the earlier truncations the
//!    responders hold (again, under the new epoch), then start allocating above it.
//!
//! No redo is replayed: nodes keep their records and pages; the truncation annuls what
//! is above the VDL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

use boreal_engine::io::Io;
use boreal_segment::{Epoch, Lsn, NodeId, PgId};

use super::alloc::Allocator;
use super::links::{CoreLink, ack_loop, read_point_loop, scl_poll_loop, write_loop};
use super::recovery::{self, PgView, RecordMark, SegmentView};
use super::shim::{Inner, Shim, ShimConfig, ShimError};
use super::watermarks::{SEGMENTS, Watermarks};
use crate::limits::RECORD_BATCH_BYTES_MAX;
use crate::link::{Link, NodeMap, Reply};
use crate::proto::{
    CoreStatus, CreateSegment, Fence, FetchRecords, Hello, Message, SegmentStatus, Truncate,
};

/// What opening the volume found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub epoch: Epoch,
    /// Every LSN at or below it was committed before (the highest floor).
    pub base: Lsn,
    pub vcl: Lsn,
    pub vdl: Lsn,
    /// The range annulled under the new epoch.
    pub truncated: (Lsn, Lsn),
    /// Segments created now (a fresh volume, or a replaced node).
    pub segments_created: usize,
    /// Records read from segments to decide.
    pub records_read: usize,
    /// Members that did not answer, with why.
    pub unreachable: Vec<(u32, String)>,
}

impl<I: Io + 'static> Shim<I> {
    /// Opens the volume: connects, fences, recovers (see the module docs).
    pub async fn open(io: I, cfg: ShimConfig) -> Result<(Shim<I>, OpenReport), ShimError> {
        cfg.volume.validate().map_err(ShimError::Recovery)?;
        let vol = &cfg.volume;
        let quorum = cfg.mutations.write_quorum();
        let mut report = OpenReport::default();
        // 1. Every member's core map.
        let mut maps: Vec<Option<NodeMap>> = Vec::new();
        for m in &vol.members {
            match timed(&cfg, Link::connect(io.clone(), m.addr, Hello::shim())).await {
                Ok(Ok((_, map))) if map.node_id == NodeId::new(m.node_id) => maps.push(Some(map)),
                Ok(Ok((_, map))) => {
                    report.unreachable.push((
                        m.node_id,
                        format!("{} answers as node {}", m.addr, map.node_id),
                    ));
                    maps.push(None);
                }
                Ok(Err(e)) => {
                    report.unreachable.push((m.node_id, e.to_string()));
                    maps.push(None);
                }
                Err(()) => {
                    report.unreachable.push((m.node_id, "timed out".into()));
                    maps.push(None);
                }
            }
        }
        // The links: one per (member, core) some PG needs.
        let mut links: Vec<CoreLink<I>> = Vec::new();
        let mut by_core: BTreeMap<(usize, u16), usize> = BTreeMap::new();
        let mut pg_links: Vec<[usize; SEGMENTS]> = Vec::new();
        for p in 0..vol.pgs {
            let pg = PgId::new(p);
            let mut row = [0usize; SEGMENTS];
            for (s, &m) in vol.placement(pg).iter().enumerate() {
                let (core, port) = match &maps[m] {
                    Some(map) => {
                        let c = map.core_of(pg);
                        (c, map.ports[usize::from(c)])
                    }
                    // Unreachable: a link that will keep trying the address given.
                    None => (0, vol.members[m].addr.port()),
                };
                let idx = *by_core.entry((m, core)).or_insert_with(|| {
                    let addr = SocketAddr::new(vol.members[m].addr.ip(), port);
                    links.push(CoreLink::new(m, core, addr, None));
                    links.len() - 1
                });
                row[s] = idx;
            }
            pg_links.push(row);
        }
        for (i, cl) in links.iter().enumerate() {
            if maps[cl.member].is_some()
                && let Ok(Ok((link, _))) =
                    timed(&cfg, Link::connect(io.clone(), cl.addr, Hello::shim())).await
            {
                *links[i].link.borrow_mut() = Some(link);
            }
        }
        // 2. The new epoch, and what exists.
        let mut highest = Epoch::ZERO;
        let mut exists: BTreeMap<(usize, u32), Epoch> = BTreeMap::new();
        for (i, cl) in links.iter().enumerate() {
            let Some(link) = cl.live() else { continue };
            let mut first = PgId::new(0);
            loop {
                let m = Message::CoreStatus(CoreStatus { first_pg: first });
                match timed(&cfg, link.call(&m)).await {
                    Ok(Ok(Reply::CoreStatus { more, segments, .. })) => {
                        for s in &segments {
                            highest = highest.max(s.epoch);
                            exists.insert((i, s.pg.get()), s.epoch);
                        }
                        match (more, segments.last()) {
                            (true, Some(s)) => first = PgId::new(s.pg.get() + 1),
                            _ => break,
                        }
                    }
                    _ => break,
                }
            }
        }
        let epoch = highest.next();
        report.epoch = epoch;
        // Create what is missing, at the new epoch.
        for (p, row) in pg_links.iter().enumerate() {
            let pg = PgId::new(p as u32);
            for &l in row {
                if exists.contains_key(&(l, pg.get())) {
                    continue;
                }
                let Some(link) = links[l].live() else {
                    continue;
                };
                let m = Message::CreateSegment(CreateSegment {
                    epoch,
                    pg,
                    page_size: vol.page_size(),
                    first_page: vol.first_page(pg),
                    page_count: vol.pages_per_pg,
                });
                if let Ok(Ok(Reply::SegmentCreated { created, .. })) =
                    timed(&cfg, link.call(&m)).await
                {
                    report.segments_created += usize::from(created);
                }
            }
        }
        // 3. Fence every PG; 4. what the fenced segments hold.
        let mut views: Vec<PgView> = Vec::new();
        let mut fenced: Vec<Vec<usize>> = Vec::new();
        for (p, row) in pg_links.iter().enumerate() {
            let pg = PgId::new(p as u32);
            let mut segments = Vec::new();
            let mut who = Vec::new();
            for &l in row {
                let Some(link) = links[l].live() else {
                    continue;
                };
                let m = Message::Fence(Fence { pg, epoch });
                let Ok(Ok(Reply::Fenced { .. })) = timed(&cfg, link.call(&m)).await else {
                    continue;
                };
                let Ok(Ok(Reply::Status(st))) = timed(
                    &cfg,
                    link.call(&Message::SegmentStatus(SegmentStatus { pg })),
                )
                .await
                else {
                    continue;
                };
                let truncations = match timed(&cfg, truncations_of(&link, pg)).await {
                    Ok(Ok(t)) => t,
                    _ => continue,
                };
                segments.push(SegmentView {
                    floor: st.materialized_lsn,
                    scl: st.scl,
                    truncations,
                    records: Vec::new(),
                });
                who.push(l);
            }
            if who.len() < quorum {
                return Err(ShimError::Recovery(format!(
                    "{pg}: only {} of its segments could be fenced, a write quorum is {quorum}; unreachable: {:?}",
                    who.len(),
                    report.unreachable
                )));
            }
            views.push(PgView { pg, segments });
            fenced.push(who);
        }
        let base = recovery::base(&views);
        for (p, view) in views.iter_mut().enumerate() {
            let pg = PgId::new(p as u32);
            for (k, seg) in view.segments.iter_mut().enumerate() {
                let l = fenced[p][k];
                let Some(link) = links[l].live() else {
                    continue;
                };
                // The segment's coalescer may have moved its floor since its status was
                // read (up to the read point the old shim left, at or below a VDL it
                // reached): then its floor is that, and its records are read from there.
                // Floors only rise, each at most to the old VDL, so this ends.
                let mut from = base.max(seg.floor);
                seg.records = loop {
                    match fetch_above(&cfg, &link, pg, from).await {
                        Ok(records) => break records,
                        Err(Fetch::BelowFloor(floor)) if floor > from => {
                            seg.floor = floor;
                            from = floor;
                        }
                        Err(e) => {
                            return Err(ShimError::Recovery(format!(
                                "{pg}: reading records from {}: {e}",
                                link.addr()
                            )));
                        }
                    }
                };
                report.records_read += seg.records.len();
            }
        }
        // 5. Decide.
        let d = recovery::decide_mutated(&views, vol.lal, &cfg.mutations)
            .map_err(|e| ShimError::Recovery(e.to_string()))?;
        report.base = d.base;
        report.vcl = d.vcl;
        report.vdl = d.vdl;
        report.truncated = (d.vdl, d.truncate_end);
        // 6. What the decision keeps is on a write quorum before it is made final.
        kept_on_quorum(&io, &cfg, &links, &pg_links, &d.last_above_base, quorum).await?;
        // 7. Truncate above the VDL on every reachable segment.
        let mut pg_last = Vec::with_capacity(vol.pgs as usize);
        let mut truncated = vec![[false; SEGMENTS]; vol.pgs as usize];
        for (p, row) in pg_links.iter().enumerate() {
            let pg = PgId::new(p as u32);
            let mut acks = 0;
            let mut scl_max = Lsn::ZERO;
            for (k, &l) in row.iter().enumerate() {
                let Some(link) = links[l].live() else {
                    continue;
                };
                if !cfg.mutations.skip_truncation {
                    // The earlier ranges first (see `recovery.rs`, step 5), each unless
                    // the segment holds it already (under any epoch: writing it again
                    // would only lengthen its list); a segment that materialized past
                    // one refuses it, and needs it no more.
                    let held = fenced[p]
                        .iter()
                        .position(|&x| x == l)
                        .map_or(&[][..], |i| &views[p].segments[i].truncations[..]);
                    for &(start, end) in &d.earlier {
                        if held.iter().any(|t| (t.1, t.2) == (start, end)) {
                            continue;
                        }
                        let m = Message::Truncate(Truncate {
                            pg,
                            epoch,
                            start,
                            end,
                        });
                        let _ = timed(&cfg, link.call(&m)).await;
                    }
                }
                if cfg.mutations.skip_truncation {
                    acks += 1;
                    scl_max = views[p]
                        .segments
                        .iter()
                        .map(|s| s.scl)
                        .filter(|&s| s <= d.vdl)
                        .max()
                        .unwrap_or(Lsn::ZERO);
                    continue;
                }
                let m = Message::Truncate(Truncate {
                    pg,
                    epoch,
                    start: d.vdl,
                    end: d.truncate_end,
                });
                if let Ok(Ok(Reply::Truncated { scl, .. })) = timed(&cfg, link.call(&m)).await {
                    acks += 1;
                    scl_max = scl_max.max(scl);
                    truncated[p][k] = true;
                }
            }
            if acks < quorum {
                return Err(ShimError::Recovery(format!(
                    "{pg}: the truncation reached {acks} segments, a write quorum is {quorum}"
                )));
            }
            pg_last.push(d.last_above_base[p].unwrap_or(scl_max.min(d.vdl)));
        }
        let fresh = d.vdl == Lsn::ZERO;
        let mut wm = Watermarks::new(vol.pgs as usize, d.vdl, &pg_last);
        wm.mutate(&cfg.mutations);
        let alloc = Allocator::new(vol, d.truncate_end, pg_last, fresh);
        let inner = Rc::new(Inner::new(
            io,
            cfg.clone(),
            epoch,
            d.earlier
                .iter()
                .copied()
                .chain([(d.vdl, d.truncate_end)])
                .collect(),
            truncated,
            links,
            pg_links,
            wm,
            alloc,
        ));
        let mut tasks = Vec::new();
        for i in 0..inner.links.len() {
            tasks.push(boreal_engine::rt::spawn(write_loop(
                Rc::downgrade(&inner),
                i,
            )));
            tasks.push(boreal_engine::rt::spawn(ack_loop(Rc::downgrade(&inner), i)));
        }
        tasks.push(boreal_engine::rt::spawn(read_point_loop(Rc::downgrade(
            &inner,
        ))));
        tasks.push(boreal_engine::rt::spawn(scl_poll_loop(Rc::downgrade(
            &inner,
        ))));
        Ok((Shim { inner, tasks }, report))
    }
}

/// `fut` bounded by the config's request timeout.
async fn timed<F: Future>(cfg: &ShimConfig, fut: F) -> Result<F::Output, ()> {
    boreal_engine::rt::timeout(cfg.request_timeout, fut)
        .await
        .map_err(|_| ())
}

/// Waits until, in every PG, `quorum` segments hold the PG's records up to the last
/// one the decision keeps (`last[p]`: SCL at or above it), asking for their status
/// every `read_point_interval`. The decision keeps every record one responder holds
/// whole, and such a record may be on fewer segments than a write quorum (an mtr the
/// old shim never committed); gossip copies it. Writing the truncation before it is
/// on a quorum would record a VDL the loss of one node can take back (the next
/// recovery then finds no responder holding it, `BelowEarlierVdl`, for ever). Fails
/// after `request_timeout`, before anything is written: the next open decides again.
async fn kept_on_quorum<I: Io + 'static>(
    io: &I,
    cfg: &ShimConfig,
    links: &[CoreLink<I>],
    pg_links: &[[usize; SEGMENTS]],
    last: &[Option<Lsn>],
    quorum: usize,
) -> Result<(), ShimError> {
    let deadline = io.now().saturating_add(cfg.request_timeout);
    for (p, row) in pg_links.iter().enumerate() {
        let Some(target) = last[p] else { continue };
        let pg = PgId::new(p as u32);
        loop {
            let mut holding = 0;
            for &l in row {
                let Some(link) = links[l].live() else {
                    continue;
                };
                let m = Message::SegmentStatus(SegmentStatus { pg });
                if let Ok(Ok(Reply::Status(st))) = timed(cfg, link.call(&m)).await
                    && st.scl >= target
                {
                    holding += 1;
                }
            }
            if holding >= quorum {
                break;
            }
            if io.now() >= deadline {
                return Err(ShimError::Recovery(format!(
                    "{pg}: the records up to {target} that recovery keeps are on {holding} segments, a write quorum is {quorum}; gossip did not copy them within {:?}",
                    cfg.request_timeout
                )));
            }
            io.sleep(cfg.read_point_interval).await;
        }
    }
    Ok(())
}

/// The truncations a segment holds, `(epoch, start, end]`.
async fn truncations_of<I: Io + 'static>(
    link: &Link<I>,
    pg: PgId,
) -> Result<Vec<(Epoch, Lsn, Lsn)>, String> {
    match link
        .call(&Message::Truncations(crate::proto::Truncations { pg }))
        .await
    {
        Ok(Reply::Truncations { ranges, .. }) => Ok(ranges),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Why reading a segment's records stopped.
#[derive(Debug)]
enum Fetch {
    /// The segment materialized past the LSN asked: its floor is now this.
    BelowFloor(Lsn),
    Failed(String),
}

impl std::fmt::Display for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fetch::BelowFloor(l) => write!(f, "its records below {l} are materialized"),
            Fetch::Failed(e) => f.write_str(e),
        }
    }
}

/// Every record of `pg` a segment holds above `base`, as a peer's fetch reads them.
async fn fetch_above<I: Io + 'static>(
    cfg: &ShimConfig,
    link: &Link<I>,
    pg: PgId,
    base: Lsn,
) -> Result<Vec<RecordMark>, Fetch> {
    let mut out = Vec::new();
    let mut from = base;
    loop {
        let m = Message::FetchRecords(FetchRecords {
            pg,
            from,
            to: Lsn::MAX,
            byte_limit: RECORD_BATCH_BYTES_MAX as u32,
        });
        match timed(cfg, link.call(&m)).await {
            Ok(Ok(Reply::Fetched { more, records, .. })) => {
                let last = records.last().map(|r| r.lsn);
                out.extend(records.iter().map(|r| RecordMark {
                    lsn: r.lsn,
                    prev_lsn_pg: r.prev_lsn_pg,
                    cpl: r.cpl,
                }));
                match (more, last) {
                    (true, Some(l)) => from = l,
                    _ => return Ok(out),
                }
            }
            Ok(Ok(Reply::Refused {
                reason: crate::proto::Reason::BelowMaterialized { materialized, .. },
                ..
            })) => return Err(Fetch::BelowFloor(materialized)),
            Ok(Ok(other)) => return Err(Fetch::Failed(format!("unexpected answer {other:?}"))),
            Ok(Err(e)) => return Err(Fetch::Failed(e.to_string())),
            Err(()) => return Err(Fetch::Failed("timed out".into())),
        }
    }
}
