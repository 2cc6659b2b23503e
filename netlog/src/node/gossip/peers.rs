//! The connections of one core's gossip to its peers: one [`Link`] per peer core that
//! owns a PG this core gossips about, opened lazily, kept while they work, and dropped
//! with a back-off when they fail.
//!
//! A peer is configured by one address (any of its cores); its `HelloReply` gives the
//! node's id, every core's port and the PG → core rule, and `link_for` connects to the
//! core that owns a PG at that port. Any failure — a refused connect, a link that
//! broke, a request unanswered within `GOSSIP_CALL_TIMEOUT_MS`, an answer that breaks
//! the protocol — drops every link to the peer and its map (a restarted peer may
//! listen on other ports) and backs the peer off: one interval, doubling per failure
//! up to `GOSSIP_BACKOFF_MS_MAX`. A peer that turns out to be this node is ignored.
//!
//! Must never: wait on a peer without a deadline (a half-open connection looks like a
//! slow one); wait past the core's stop; hold more than one link per peer core.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use boreal_engine::io::{Instant, Io};
use boreal_segment::{NodeId, PgId};

use crate::limits::{GOSSIP_BACKOFF_MS_MAX, GOSSIP_CALL_TIMEOUT_MS};
use crate::link::{Link, NodeMap};
use crate::proto::Hello;
use crate::sync::{Either, either};

use super::super::core::CoreCtx;

/// How a bounded wait ended.
pub(super) enum Waited<T> {
    Done(T),
    /// No answer within `GOSSIP_CALL_TIMEOUT_MS`.
    TimedOut,
    /// The core is stopping.
    Stopping,
}

/// Runs `fut` until it completes, `deadline` passes, or the core stops.
pub(super) async fn until<I: Io + 'static, F: Future>(
    ctx: &CoreCtx<I>,
    deadline: Instant,
    fut: F,
) -> Waited<F::Output> {
    if ctx.stopping.is_raised() {
        return Waited::Stopping;
    }
    match either(
        fut,
        either(ctx.io.sleep_until(deadline), ctx.stopping.wait()),
    )
    .await
    {
        Either::Left(v) => Waited::Done(v),
        Either::Right(Either::Left(())) => Waited::TimedOut,
        Either::Right(Either::Right(())) => Waited::Stopping,
    }
}

/// The deadline of a gossip request started now.
pub(super) fn call_deadline<I: Io>(ctx: &CoreCtx<I>) -> Instant {
    ctx.io
        .now()
        .saturating_add(Duration::from_millis(GOSSIP_CALL_TIMEOUT_MS))
}

/// One configured peer and what this core holds of it.
pub(super) struct Peer<I: Io> {
    /// As configured: any core of the peer.
    pub(super) addr: SocketAddr,
    /// What its `Hello` announced, once connected.
    map: Option<NodeMap>,
    /// Open links, by the peer's core.
    links: HashMap<u16, Link<I>>,
    /// Failures since the last answer.
    failures: u32,
    /// Fetches answered with records it should not have sent (a bad checksum, outside
    /// the range asked) since the last sound fetch: answering status requests does not
    /// make a peer that serves damaged records trusted again.
    strikes: u32,
    /// Not tried before this.
    retry_at: Instant,
    /// It answered with this node's own id.
    is_self: bool,
    /// Its links hand out fetched records unchecked (a broken variant, see
    /// `GossipMutations`).
    skip_record_checks: bool,
}

impl<I: Io + 'static> Peer<I> {
    pub(super) fn new(addr: SocketAddr, skip_record_checks: bool) -> Peer<I> {
        Peer {
            addr,
            map: None,
            links: HashMap::new(),
            failures: 0,
            strikes: 0,
            retry_at: Instant::from_nanos(0),
            is_self: false,
            skip_record_checks,
        }
    }

    /// The peer's node id, once known.
    pub(super) fn node(&self) -> Option<NodeId> {
        self.map.as_ref().map(|m| m.node_id)
    }

    /// How the peer is named in logs.
    pub(super) fn name(&self) -> String {
        match self.node() {
            Some(n) => format!("peer {} ({n})", self.addr),
            None => format!("peer {}", self.addr),
        }
    }

    /// The peer answered a request.
    pub(super) fn answered(&mut self) {
        self.failures = 0;
    }

    /// The peer answered a fetch with records that all checked.
    pub(super) fn served_well(&mut self) {
        self.failures = 0;
        self.strikes = 0;
    }

    /// The peer answered a fetch with records it should not have sent: [`Peer::fail`],
    /// and the back-off keeps growing until it serves a sound fetch.
    pub(super) fn strike(&mut self, ctx: &CoreCtx<I>, interval: Duration, why: &str) {
        self.strikes = self.strikes.saturating_add(1);
        self.fail(ctx, interval, why);
    }

    /// Drops every link to the peer and backs it off (see the module docs).
    pub(super) fn fail(&mut self, ctx: &CoreCtx<I>, interval: Duration, why: &str) {
        self.links.clear();
        self.map = None;
        self.failures = self.failures.saturating_add(1);
        let in_a_row = self.failures.max(self.strikes);
        let wait = backoff(interval, in_a_row);
        self.retry_at = ctx.io.now().saturating_add(wait);
        ctx.metrics
            .gossip_peer_failures
            .get_or_create(&super::super::metrics::CoreLabels {
                core: ctx.id.core_index,
            })
            .inc();
        ctx.log(format_args!(
            "gossip: {}: {why}; trying it again in {wait:?} (failure {in_a_row} in a row)",
            self.name(),
        ));
    }

    /// A link to the core of the peer that owns `pg`, connecting (and saying hello)
    /// if needed; `None` when the peer is backed off, is this node, or failed now.
    pub(super) async fn link_for(
        &mut self,
        ctx: &CoreCtx<I>,
        interval: Duration,
        pg: PgId,
    ) -> Option<Link<I>> {
        if self.is_self || ctx.io.now() < self.retry_at {
            return None;
        }
        if self.map.is_none() {
            let (link, map) = self.connect(ctx, interval, self.addr).await?;
            if map.node_id == ctx.id.node_id {
                self.is_self = true;
                ctx.log(format_args!(
                    "gossip: peer {} is this node ({}); ignoring it",
                    self.addr, map.node_id
                ));
                return None;
            }
            self.links.insert(map.core_index, link);
            self.map = Some(map);
        }
        let map = self.map.as_ref()?;
        let core = map.core_of(pg);
        if let Some(link) = self.links.get(&core) {
            match link.dead() {
                None => return Some(link.clone()),
                Some(e) => {
                    self.fail(ctx, interval, &e.to_string());
                    return None;
                }
            }
        }
        let node = map.node_id;
        let Some(&port) = map.ports.get(usize::from(core)) else {
            self.fail(ctx, interval, "its map has no port for the PG's core");
            return None;
        };
        let addr = SocketAddr::new(self.addr.ip(), port);
        let (link, map) = self.connect(ctx, interval, addr).await?;
        if map.node_id != node || map.core_index != core {
            let why = format!(
                "{addr} answered as core {} of {}, not core {core} of {node}",
                map.core_index, map.node_id
            );
            self.fail(ctx, interval, &why);
            return None;
        }
        self.links.insert(core, link.clone());
        Some(link)
    }

    /// Connects to `addr` and says hello as a peer, within the call deadline.
    async fn connect(
        &mut self,
        ctx: &CoreCtx<I>,
        interval: Duration,
        addr: SocketAddr,
    ) -> Option<(Link<I>, NodeMap)> {
        let hello = Hello::peer(ctx.id.node_id);
        let deadline = call_deadline(ctx);
        let why = match until(ctx, deadline, Link::connect(ctx.io.clone(), addr, hello)).await {
            Waited::Done(Ok(x)) => {
                if self.skip_record_checks {
                    x.0.skip_record_checks();
                }
                return Some(x);
            }
            Waited::Done(Err(e)) => e.to_string(),
            Waited::TimedOut => {
                format!("{addr}: no answer to Hello within {GOSSIP_CALL_TIMEOUT_MS} ms")
            }
            Waited::Stopping => return None,
        };
        self.fail(ctx, interval, &why);
        None
    }
}

/// The wait before the `failures`-th retry: one interval, doubling, at most
/// `GOSSIP_BACKOFF_MS_MAX`.
pub(super) fn backoff(interval: Duration, failures: u32) -> Duration {
    let max = Duration::from_millis(GOSSIP_BACKOFF_MS_MAX);
    let doublings = failures.saturating_sub(1).min(20);
    interval.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_interval_to_its_bound() {
        let i = Duration::from_millis(100);
        assert_eq!(backoff(i, 1), i);
        assert_eq!(backoff(i, 2), 2 * i);
        assert_eq!(backoff(i, 4), 8 * i);
        assert_eq!(backoff(i, 30), Duration::from_millis(GOSSIP_BACKOFF_MS_MAX));
        assert_eq!(
            backoff(Duration::from_secs(60), 1),
            Duration::from_millis(GOSSIP_BACKOFF_MS_MAX)
        );
    }
}
