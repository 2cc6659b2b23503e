//! Gossip inside a PG (DESIGN §3, "Nodes gossip inside a PG"): each core of a node
//! finds the records its segments miss and fetches them from the same PG's segments on
//! peer nodes, so an SCL catches up without the shim sending anything again.
//!
//! What it owns: one task per core ([`run`]), generic over `I: Io` like the rest of
//! the server (it runs on io_uring in `boreal-node` and on the simulator in cluster
//! tests: no thread, no socket and no clock but the core's `Io`). Every
//! `gossip_interval_ms` a round:
//! 1. asks each peer for the status of this core's segments (`SegmentStatus`, one
//!    pipelined batch per peer core, at most `GOSSIP_PROBE_SEGMENTS_MAX` segments per
//!    round, in turn);
//! 2. picks, per segment, a target: the end of its highest known hole (a backlink
//!    hole, or a range journal recovery reported missing after damage), or the SCL a
//!    peer reported one round earlier if this segment is still below it (waiting a
//!    round means an append merely in flight here is not fetched twice);
//! 3. fetches `(SCL, target]` from the peers, highest SCL first (`FetchRecords`,
//!    paging on `more`), and appends what comes back to the segment at its current
//!    epoch, like a shim's append (durable before it counts).
//!
//! Must never: keep a record whose own checksum does not match its bytes (the link
//! verifies each record where its bytes are and keeps none from the first bad one on;
//! the frame checksum only proves the bytes are what the peer sealed); keep a record
//! outside the range asked; fetch more than `GOSSIP_ROUND_BYTES_MAX` per round; spawn
//! a task per record or per peer; retry a refusal in a loop (a record the segment
//! refuses — inside one of its truncations, a conflicting duplicate — is counted,
//! logged and skipped, and a segment whose repair made no progress backs off like a
//! failed peer); wait on a peer past the core's stop.
//!
//! What it does not do (yet): repair from pages. A peer that materialized the records
//! asked into pages refuses with `BelowMaterialized`; that is logged as needing page
//! repair and another peer is tried.

mod peers;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use boreal_engine::hotlog::{HotLogError, OwnedRedo};
use boreal_engine::io::{Instant, Io};
use boreal_engine::node::{EngineError, SegmentStatus};
use boreal_segment::{Epoch, Lsn, PgId, Redo};
use prometheus_client::metrics::counter::Counter;

use self::peers::{Peer, Waited, backoff, call_deadline, until};
use super::core::{CoreCtx, reason_name};
use super::metrics::{CoreLabels, RefusedLabels};
use super::refuse::reason_of;
use crate::limits::{
    FETCH_BYTE_LIMIT_MIN, GOSSIP_PROBE_SEGMENTS_MAX, GOSSIP_ROUND_BYTES_MAX, RECORD_BATCH_BYTES_MAX,
};
use crate::link::{Link, Reply, Status};
use crate::proto::{FetchRecords, Message, Reason, SegmentStatus as StatusRequest};
use crate::sync::{Either, WakeSlot, either};

/// The peers a core gossips with, shared by its gossip task and whoever changes them
/// (`process::Running::set_peers`). The task picks a change up at its next round.
#[derive(Debug, Default)]
pub struct GossipPeers {
    list: RefCell<Vec<SocketAddr>>,
    generation: Cell<u64>,
    waiter: WakeSlot,
}

impl GossipPeers {
    pub fn new(list: Vec<SocketAddr>) -> GossipPeers {
        GossipPeers {
            list: RefCell::new(list),
            ..GossipPeers::default()
        }
    }

    /// Replaces the peer list (checked by the caller: `NodeConfig`'s rules).
    pub fn set(&self, list: Vec<SocketAddr>) {
        *self.list.borrow_mut() = list;
        self.generation.set(self.generation.get() + 1);
        self.waiter.wake();
    }

    /// Completes once the list changed after `generation`.
    async fn changed_since(&self, generation: u64) {
        poll_fn(|cx| {
            if self.generation.get() != generation {
                return Poll::Ready(());
            }
            self.waiter.register(cx.waker());
            Poll::Pending
        })
        .await;
    }
}

/// Deliberately broken variants of gossip, for the whole-cluster simulation to prove
/// that it catches each (`netlog/tests/cluster_sim.rs`). Default off; no
/// configuration file or command line can set them (`boreal-node` calls [`run`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipMutations {
    /// Keep fetched records whose own checksum does not match their bytes.
    pub accept_bad_checksums: bool,
}

/// Gossips for the core of `ctx` every `interval` until the core stops. Idle (no
/// wake-ups) while the peer list is empty.
pub async fn run<I: Io + 'static>(ctx: Rc<CoreCtx<I>>, interval: Duration, list: Rc<GossipPeers>) {
    run_mutated(ctx, interval, list, GossipMutations::default()).await;
}

/// [`run`] with the rules `mutations` names broken.
#[doc(hidden)]
pub async fn run_mutated<I: Io + 'static>(
    ctx: Rc<CoreCtx<I>>,
    interval: Duration,
    list: Rc<GossipPeers>,
    mutations: GossipMutations,
) {
    let mut g = Gossiper::new(ctx.clone(), interval, mutations);
    let mut seen = None;
    while !ctx.stopping.is_raised() {
        let generation = list.generation.get();
        if seen != Some(generation) {
            seen = Some(generation);
            g.set_peers(&list.list.borrow());
        }
        if g.peers.is_empty() {
            match either(list.changed_since(generation), ctx.stopping.wait()).await {
                Either::Left(()) => continue,
                Either::Right(()) => break,
            }
        }
        g.round().await;
        let pause = either(
            ctx.io.sleep(interval),
            either(ctx.stopping.wait(), list.changed_since(generation)),
        );
        if let Either::Right(Either::Left(())) = pause.await {
            break;
        }
    }
}

/// What one round learned from a peer: the status of each PG it answered for.
type PeerStatuses = HashMap<PgId, Status>;

/// What gossip remembers of one segment between rounds.
#[derive(Clone, Copy, Debug, Default)]
struct SegGossip {
    /// The highest SCL a peer reported for the PG at the last probe.
    peer_scl: Lsn,
    /// Repairs in a row that did not move the SCL.
    stalls: u32,
    /// No repair before this.
    retry_at: Instant,
}

/// How one fetch ended.
enum Fetched {
    /// Records of the range remain after this LSN at the same peer.
    More(Lsn),
    /// Nothing more from this peer now: try the next one.
    NextPeer,
    /// Stop repairing the segment this round (the core stops, or the segment refused
    /// the append as a whole).
    Stop,
}

struct Gossiper<I: Io> {
    ctx: Rc<CoreCtx<I>>,
    interval: Duration,
    mutations: GossipMutations,
    peers: Vec<Peer<I>>,
    segs: HashMap<PgId, SegGossip>,
    /// Where the next round's probe starts when the core has more segments than one
    /// round asks about.
    cursor: usize,
    repaired: Counter,
    fetches: Counter,
}

impl<I: Io + 'static> Gossiper<I> {
    fn new(ctx: Rc<CoreCtx<I>>, interval: Duration, mutations: GossipMutations) -> Gossiper<I> {
        let core = CoreLabels {
            core: ctx.id.core_index,
        };
        let m = &ctx.metrics;
        let repaired = m.gossip_records_repaired.get_or_create_owned(&core);
        let fetches = m.gossip_fetches.get_or_create_owned(&core);
        // Listed from the start (at zero), so a scrape shows gossip is on.
        drop(m.gossip_peer_failures.get_or_create_owned(&core));
        Gossiper {
            ctx,
            interval,
            mutations,
            peers: Vec::new(),
            segs: HashMap::new(),
            cursor: 0,
            repaired,
            fetches,
        }
    }

    /// Takes a new peer list, keeping the connections of peers still listed.
    fn set_peers(&mut self, list: &[SocketAddr]) {
        let mut old = std::mem::take(&mut self.peers);
        for &addr in list {
            match old.iter().position(|p| p.addr == addr) {
                Some(i) => self.peers.push(old.swap_remove(i)),
                None => self
                    .peers
                    .push(Peer::new(addr, self.mutations.accept_bad_checksums)),
            }
        }
        if list.is_empty() {
            return;
        }
        let names: Vec<String> = list.iter().map(SocketAddr::to_string).collect();
        self.ctx.log(format_args!(
            "gossip: every {:?} with {} peers [{}]",
            self.interval,
            list.len(),
            names.join(", ")
        ));
    }

    async fn round(&mut self) {
        let mut pgs = self.ctx.engine.segments();
        pgs.sort_unstable();
        self.segs.retain(|pg, _| pgs.binary_search(pg).is_ok());
        let chosen = self.choose(&pgs);
        if chosen.is_empty() {
            return;
        }
        let mut statuses = Vec::with_capacity(self.peers.len());
        for p in 0..self.peers.len() {
            statuses.push(self.probe(p, &chosen).await);
        }
        let mut budget = GOSSIP_ROUND_BYTES_MAX;
        for pg in chosen {
            if self.ctx.stopping.is_raised() || budget == 0 {
                return;
            }
            self.consider(pg, &statuses, &mut budget).await;
        }
    }

    /// The segments this round asks about: all, or the next `GOSSIP_PROBE_SEGMENTS_MAX`
    /// in turn.
    fn choose(&mut self, pgs: &[PgId]) -> Vec<PgId> {
        if pgs.len() <= GOSSIP_PROBE_SEGMENTS_MAX {
            return pgs.to_vec();
        }
        let start = self.cursor % pgs.len();
        self.cursor = start + GOSSIP_PROBE_SEGMENTS_MAX;
        pgs.iter()
            .cycle()
            .skip(start)
            .take(GOSSIP_PROBE_SEGMENTS_MAX)
            .copied()
            .collect()
    }

    /// Asks peer `p` for the status of `pgs`: one pipelined batch per peer core, then
    /// the answers, all within one call deadline.
    async fn probe(&mut self, p: usize, pgs: &[PgId]) -> PeerStatuses {
        let ctx = self.ctx.clone();
        let peer = &mut self.peers[p];
        let mut got = PeerStatuses::new();
        // (link, frames, (request id, pg) of each frame)
        type Batch<I> = (Link<I>, Vec<u8>, Vec<(u64, PgId)>);
        let mut batches: Vec<Batch<I>> = Vec::new();
        for &pg in pgs {
            let Some(link) = peer.link_for(&ctx, self.interval, pg).await else {
                return got;
            };
            let i = match batches.iter().position(|b| b.0.addr() == link.addr()) {
                Some(i) => i,
                None => {
                    batches.push((link, Vec::new(), Vec::new()));
                    batches.len() - 1
                }
            };
            let (link, frames, ids) = &mut batches[i];
            let id = link.next_id();
            link.expect(id);
            Message::SegmentStatus(StatusRequest { pg })
                .encode(id, frames)
                .expect("a SegmentStatus always encodes");
            ids.push((id, pg));
        }
        let deadline = call_deadline(&ctx);
        for (link, frames, _) in &batches {
            let why = match until(&ctx, deadline, link.send(frames)).await {
                Waited::Done(Ok(())) => continue,
                Waited::Done(Err(e)) => e.to_string(),
                Waited::TimedOut => "could not send the status requests in time".into(),
                Waited::Stopping => return got,
            };
            peer.fail(&ctx, self.interval, &why);
            return got;
        }
        for (link, _, ids) in &batches {
            for &(id, pg) in ids {
                let why = match until(&ctx, deadline, link.reply(id)).await {
                    Waited::Done(Ok(Reply::Status(s))) if s.pg == pg => {
                        got.insert(pg, s);
                        continue;
                    }
                    // The PG is not placed on that node, or its core is busy.
                    Waited::Done(Ok(Reply::Refused {
                        reason: Reason::NoSegment { .. } | Reason::Busy { .. },
                        ..
                    })) => continue,
                    Waited::Done(Ok(Reply::Refused { reason, text })) => {
                        format!("refused the status of {pg}: {reason:?}: {text}")
                    }
                    Waited::Done(Ok(other)) => {
                        format!("answered the status of {pg} with {}", brief(&other))
                    }
                    Waited::Done(Err(e)) => e.to_string(),
                    Waited::TimedOut => format!("no status of {pg} in time"),
                    Waited::Stopping => return got,
                };
                peer.fail(&ctx, self.interval, &why);
                return got;
            }
        }
        if !batches.is_empty() {
            peer.answered();
        }
        got
    }

    /// Decides whether segment `pg` misses records and, if so, fetches them.
    async fn consider(&mut self, pg: PgId, statuses: &[PeerStatuses], budget: &mut usize) {
        let Ok(st) = self.ctx.engine.status(pg) else {
            return;
        };
        let now = self.ctx.io.now();
        let peer_scl_now = statuses
            .iter()
            .filter_map(|s| s.get(&pg))
            .map(|s| s.scl)
            .max()
            .unwrap_or(Lsn::ZERO);
        let seg = self.segs.entry(pg).or_default();
        // A peer was ahead of this segment's SCL of now already one round ago.
        let lagging = seg.peer_scl;
        seg.peer_scl = peer_scl_now;
        let hole_end = st
            .holes
            .iter()
            .map(|h| h.range.end)
            .max()
            .unwrap_or(Lsn::ZERO);
        let target = hole_end.max(lagging);
        if target <= st.scl {
            seg.stalls = 0;
            return;
        }
        if now < seg.retry_at {
            return;
        }
        let mut candidates: Vec<(Lsn, usize)> = statuses
            .iter()
            .enumerate()
            .filter_map(|(p, s)| s.get(&pg).map(|s| (s.scl, p)))
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        if candidates.is_empty() {
            return;
        }
        self.repair(pg, &st, target, &candidates, budget).await;
        let after = self.ctx.engine.status(pg).map_or(st.scl, |s| s.scl);
        let seg = self.segs.entry(pg).or_default();
        if after > st.scl {
            seg.stalls = 0;
            seg.retry_at = now;
        } else {
            seg.stalls = seg.stalls.saturating_add(1);
            seg.retry_at = now.saturating_add(backoff(self.interval, seg.stalls));
        }
    }

    /// Fetches `(SCL, target]` of `pg` from `candidates` (peer SCL, peer index), in
    /// order, until the SCL reaches the target or the budget is spent.
    async fn repair(
        &mut self,
        pg: PgId,
        st: &SegmentStatus,
        target: Lsn,
        candidates: &[(Lsn, usize)],
        budget: &mut usize,
    ) {
        for &(_, p) in candidates {
            let Ok(now) = self.ctx.engine.status(pg) else {
                return;
            };
            let mut from = now.scl;
            while from < target && *budget > 0 {
                match self.fetch(p, pg, from, target, st.epoch, budget).await {
                    Fetched::More(last) => from = last,
                    Fetched::NextPeer => break,
                    Fetched::Stop => return,
                }
            }
            if *budget == 0 || self.ctx.engine.status(pg).is_ok_and(|s| s.scl >= target) {
                return;
            }
        }
    }

    /// One `FetchRecords` of `(from, to]` of `pg` from peer `p`, and what it brought
    /// appended to the segment at `epoch`.
    async fn fetch(
        &mut self,
        p: usize,
        pg: PgId,
        from: Lsn,
        to: Lsn,
        epoch: Epoch,
        budget: &mut usize,
    ) -> Fetched {
        let ctx = self.ctx.clone();
        let interval = self.interval;
        let peer = &mut self.peers[p];
        let Some(link) = peer.link_for(&ctx, interval, pg).await else {
            return Fetched::NextPeer;
        };
        let byte_limit = (*budget).clamp(FETCH_BYTE_LIMIT_MIN, RECORD_BATCH_BYTES_MAX);
        let msg = Message::FetchRecords(FetchRecords {
            pg,
            from,
            to,
            byte_limit: byte_limit as u32,
        });
        self.fetches.inc();
        let failed = |reason: &str| {
            ctx.metrics
                .gossip_fetch_failures
                .get_or_create(&RefusedLabels {
                    core: ctx.id.core_index,
                    reason: reason.into(),
                })
                .inc();
        };
        let (records, more, damaged) = match until(&ctx, call_deadline(&ctx), link.call(&msg)).await
        {
            Waited::Done(Ok(Reply::Fetched {
                pg: got,
                records,
                more,
                damaged,
                ..
            })) if got == pg => (records, more, damaged),
            Waited::Done(Ok(Reply::Refused { reason, text })) => {
                failed(reason_name(&reason));
                match reason {
                    Reason::BelowMaterialized { materialized, .. } => ctx.log(format_args!(
                        "gossip: {}: {pg} is materialized there up to {materialized}, so it \
                         cannot send records above {from}: page repair is needed (not built \
                         yet); trying other peers",
                        peer.name()
                    )),
                    Reason::WrongCore { .. } => {
                        peer.fail(&ctx, interval, &format!("the fetch of {pg}: {text}"));
                    }
                    _ => ctx.log(format_args!(
                        "gossip: {} refused the fetch of {pg} ({from}, {to}]: {reason:?}: {text}",
                        peer.name()
                    )),
                }
                return Fetched::NextPeer;
            }
            Waited::Done(Ok(other)) => {
                failed("protocol");
                let why = format!("answered the fetch of {pg} with {}", brief(&other));
                peer.fail(&ctx, interval, &why);
                return Fetched::NextPeer;
            }
            Waited::Done(Err(e)) => {
                failed("link");
                peer.fail(&ctx, interval, &e.to_string());
                return Fetched::NextPeer;
            }
            Waited::TimedOut => {
                failed("no_answer");
                peer.fail(&ctx, interval, &format!("no answer to the fetch of {pg}"));
                return Fetched::NextPeer;
            }
            Waited::Stopping => return Fetched::Stop,
        };
        let from_peer = peer.name();
        // Only records of the range asked: anything else is the peer's bug.
        if let Some(r) = records.iter().find(|r| r.lsn <= from || r.lsn > to) {
            self.refused("out_of_range", records.len());
            let why = format!(
                "answered a fetch of {pg} ({from}, {to}] with record {}: none of its {} records kept",
                r.lsn,
                records.len()
            );
            self.peers[p].strike(&ctx, interval, &why);
            return Fetched::NextPeer;
        }
        let bytes: usize = records.iter().map(OwnedRedo::backlog_bytes).sum();
        *budget = budget.saturating_sub(bytes);
        let last = records.last().map(|r| r.lsn);
        if !records.is_empty() && !self.keep(pg, epoch, &records, &from_peer).await {
            return Fetched::Stop;
        }
        if let Some(d) = damaged {
            self.refused("checksum", 1);
            let why = format!(
                "sent record {} of {pg} whose checksum does not match its bytes ({}): refused it \
                 and the rest of its frame",
                d.lsn, d.why
            );
            self.peers[p].strike(&ctx, interval, &why);
            return Fetched::NextPeer;
        }
        self.peers[p].served_well();
        match last {
            Some(last) if more => Fetched::More(last),
            _ => Fetched::NextPeer,
        }
    }

    /// Appends fetched records to segment `pg` at `epoch`, durably. A record the
    /// segment refuses (invalid, a conflicting duplicate, off its chain, inside a
    /// truncation) is counted and skipped, and the others are kept. Returns false when
    /// the segment refused the append as a whole (stale epoch, backlog, a stopped core):
    /// nothing more for it this round.
    async fn keep(&self, pg: PgId, epoch: Epoch, records: &[OwnedRedo], from_peer: &str) -> bool {
        let redos: Vec<Redo<'_>> = records.iter().map(OwnedRedo::as_redo).collect();
        let mut rest = &redos[..];
        let mut accepted = 0usize;
        let mut first_refusal: Option<String> = None;
        let mut refusals = 0usize;
        let mut whole = true;
        while !rest.is_empty() {
            let e = match self.ctx.engine.append(pg, epoch, rest).await {
                Ok(ack) => {
                    accepted += ack.accepted;
                    break;
                }
                Err(e) => e,
            };
            let skip = refused_record(&e)
                .and_then(|(lsn, reason)| Some((rest.iter().position(|r| r.lsn == lsn)?, reason)));
            let Some((i, reason)) = skip else {
                self.refused(reason_name(&reason_of(&e, pg)), rest.len());
                first_refusal.get_or_insert_with(|| e.to_string());
                refusals += rest.len();
                whole = false;
                break;
            };
            self.refused(reason, 1);
            first_refusal.get_or_insert_with(|| e.to_string());
            refusals += 1;
            if i > 0 {
                match self.ctx.engine.append(pg, epoch, &rest[..i]).await {
                    Ok(ack) => accepted += ack.accepted,
                    Err(e) => {
                        self.refused(reason_name(&reason_of(&e, pg)), rest.len() - 1);
                        refusals += rest.len() - 1;
                        whole = false;
                        break;
                    }
                }
            }
            rest = &rest[i + 1..];
        }
        self.repaired.inc_by(accepted as u64);
        if accepted > 0 {
            let scl = self.ctx.engine.status(pg).map_or(Lsn::ZERO, |s| s.scl);
            self.ctx.log(format_args!(
                "gossip: {pg}: kept {accepted} records fetched from {from_peer}; scl now {scl}"
            ));
        }
        if let Some(first) = first_refusal {
            self.ctx.log(format_args!(
                "gossip: {pg}: kept {accepted} of {} records fetched from {from_peer}, refused \
                 {refusals} (first: {first})",
                records.len()
            ));
        }
        whole
    }

    /// Counts `n` fetched records not kept, by reason.
    fn refused(&self, reason: &str, n: usize) {
        self.ctx
            .metrics
            .gossip_records_refused
            .get_or_create(&RefusedLabels {
                core: self.ctx.id.core_index,
                reason: reason.into(),
            })
            .inc_by(n as u64);
    }
}

/// The record an append refusal names, and the metric label of why, when the refusal
/// is about one record (the others of the append may be kept).
fn refused_record(e: &EngineError) -> Option<(Lsn, &'static str)> {
    match e {
        EngineError::InvalidRecord { lsn, .. } => Some((*lsn, "invalid_record")),
        EngineError::Refused(h) => match h {
            HotLogError::WrongPg { lsn, .. } => Some((*lsn, "wrong_pg")),
            HotLogError::Conflict { lsn, .. } => Some((*lsn, "conflict")),
            HotLogError::OffChain { lsn, .. } => Some((*lsn, "off_chain")),
            HotLogError::Truncated { lsn, .. } => Some((*lsn, "in_truncation")),
            HotLogError::StaleTruncation { .. } | HotLogError::BelowMaterialized { .. } => None,
        },
        _ => None,
    }
}

/// A short description of an unexpected answer, for a log line.
fn brief(r: &Reply) -> String {
    let mut s = format!("{r:?}");
    if s.len() > 120 {
        let mut cut = 120;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}
