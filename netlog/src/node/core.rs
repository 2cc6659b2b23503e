//! One core of a storage node: its engine, its listener, the connections it serves,
//! and the task that publishes its figures to the metrics.
//!
//! Generic over `I: Io`, so the same server runs on io_uring in `boreal-node` and on
//! the simulator in the whole-cluster tests. It owns no thread and reads no clock but
//! its `Io`'s; the process around it (`process.rs`) pins threads, binds nothing
//! itself, and handles signals.
//!
//! Must never: let one connection's failure (a malformed frame, a peer that hangs up
//! mid-frame) touch another connection or a segment; serve more than
//! `connections_max` connections; acknowledge an append before the engine says it is
//! durable (acknowledgements come only from `CoreEngine::poll_append`).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Io;
use boreal_engine::node::CoreEngine;
use boreal_segment::{NodeId, PgId};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::conn;
use super::metrics::{CoreLabels, NodeMetrics, PUBLISH_INTERVAL, PgLabels, RefusedLabels};
use crate::proto::{PgRule, Reason};
use crate::sync::{Either, Signal, either};

/// Limits of what one core serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    pub connections_max: u32,
    pub requests_in_flight_max: u32,
}

/// Who this core is, as `HelloReply` announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub node_id: NodeId,
    pub az: String,
    pub core_index: u16,
    pub core_count: u16,
}

/// The metric handles of one core, resolved once (no label lookup per request).
#[derive(Debug, Clone)]
pub(crate) struct CoreHandles {
    pub(crate) append_requests: Counter,
    pub(crate) records: Counter,
    pub(crate) record_bytes: Counter,
    pub(crate) append_seconds: Histogram,
    pub(crate) appends_waited: Counter,
    pub(crate) getpage_seconds: Histogram,
    pub(crate) connections: Gauge,
    pub(crate) connections_accepted: Counter,
}

/// What every task of the core shares.
pub struct CoreCtx<I: Io> {
    pub(crate) io: I,
    pub(crate) engine: CoreEngine<I>,
    pub(crate) id: Identity,
    /// Every core's port, core order (set before the first `Hello` is answered).
    pub(crate) ports: RefCell<Vec<u16>>,
    pub(crate) limits: ServeLimits,
    pub(crate) metrics: NodeMetrics,
    pub(crate) handles: CoreHandles,
    /// Raised to stop: no more connections or requests; in-flight work finishes.
    pub(crate) stopping: Signal,
    pub(crate) conns_open: Cell<u32>,
    /// Every connection ended (checked once `stopping`).
    pub(crate) drained: Signal,
    /// How long append acknowledgements are held back (`NodeConfig::ack_delay_us`).
    pub(crate) ack_delay: Cell<Duration>,
}

impl<I: Io> std::fmt::Debug for CoreCtx<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreCtx")
            .field("id", &self.id)
            .field("conns_open", &self.conns_open.get())
            .finish()
    }
}

impl<I: Io + 'static> CoreCtx<I> {
    pub fn new(
        io: I,
        engine: CoreEngine<I>,
        id: Identity,
        limits: ServeLimits,
        metrics: NodeMetrics,
    ) -> Rc<CoreCtx<I>> {
        let core = CoreLabels {
            core: id.core_index,
        };
        let handles = CoreHandles {
            append_requests: metrics.append_requests.get_or_create_owned(&core),
            records: metrics.records.get_or_create_owned(&core),
            record_bytes: metrics.record_bytes.get_or_create_owned(&core),
            append_seconds: metrics.append_seconds.get_or_create_owned(&core),
            appends_waited: metrics.appends_waited.get_or_create_owned(&core),
            getpage_seconds: metrics.getpage_seconds.get_or_create_owned(&core),
            connections: metrics.connections.get_or_create_owned(&core),
            connections_accepted: metrics.connections_accepted.get_or_create_owned(&core),
        };
        Rc::new(CoreCtx {
            io,
            engine,
            id,
            ports: RefCell::new(Vec::new()),
            limits,
            metrics,
            handles,
            stopping: Signal::default(),
            conns_open: Cell::new(0),
            drained: Signal::default(),
            ack_delay: Cell::new(Duration::ZERO),
        })
    }

    /// The engine of this core.
    pub fn engine(&self) -> &CoreEngine<I> {
        &self.engine
    }

    /// Holds every append acknowledgement back `delay` after the append is durable (a
    /// slow node made on purpose, `NodeConfig::ack_delay_us`); zero holds none back.
    pub fn set_ack_delay(&self, delay: Duration) {
        self.ack_delay.set(delay);
    }

    /// Sets every core's port (announced in `HelloReply`).
    pub fn set_ports(&self, ports: Vec<u16>) {
        *self.ports.borrow_mut() = ports;
    }

    /// Stops serving: the listener closes, connections stop reading and end once
    /// their in-flight requests are answered.
    pub fn stop(&self) {
        self.stopping.raise();
        if self.conns_open.get() == 0 {
            self.drained.raise();
        }
    }

    /// The core that owns `pg`: this one, or the refusal that names the owner.
    pub(crate) fn owns(&self, pg: PgId) -> Result<(), Reason> {
        let core = PgRule::Modulo.core_of(pg, self.id.core_count);
        if core == self.id.core_index {
            Ok(())
        } else {
            Err(Reason::WrongCore { pg, core })
        }
    }

    /// Counts a refusal by its reason.
    pub(crate) fn count_refusal(&self, reason: &Reason) {
        self.metrics
            .frames_refused
            .get_or_create(&RefusedLabels {
                core: self.id.core_index,
                reason: reason_name(reason).into(),
            })
            .inc();
    }

    /// One log line, naming node and core.
    pub(crate) fn log(&self, what: std::fmt::Arguments<'_>) {
        eprintln!(
            "boreal-node {} core {}: {what}",
            self.id.node_id, self.id.core_index
        );
    }
}

/// Serves `listener` until the core is stopped, then waits (at most `drain_max`) for
/// its connections to answer what they have in flight.
pub async fn serve<I: Io + 'static>(
    ctx: Rc<CoreCtx<I>>,
    listener: I::Listener,
    drain_max: Duration,
) {
    let publisher = boreal_engine::rt::spawn(publish(ctx.clone()));
    loop {
        let accepted = match either(ctx.io.accept(&listener), ctx.stopping.wait()).await {
            Either::Left(a) => a,
            Either::Right(()) => break,
        };
        match accepted {
            Ok((stream, peer)) => admit(&ctx, stream, peer),
            Err(e) => {
                ctx.log(format_args!("accept failed: {e}"));
                // Out of descriptors or memory: let connections end before trying again.
                ctx.io.sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    if ctx.conns_open.get() > 0 {
        let deadline = ctx.io.now().saturating_add(drain_max);
        let _ = either(ctx.drained.wait(), ctx.io.sleep_until(deadline)).await;
        if ctx.conns_open.get() > 0 {
            ctx.log(format_args!(
                "stopping with {} connections still open after {drain_max:?}",
                ctx.conns_open.get()
            ));
        }
    }
    publisher.abort();
}

fn admit<I: Io + 'static>(ctx: &Rc<CoreCtx<I>>, stream: I::Stream, peer: SocketAddr) {
    ctx.handles.connections_accepted.inc();
    if ctx.conns_open.get() >= ctx.limits.connections_max {
        ctx.log(format_args!(
            "refusing connection from {peer}: {} connections open (connections_max)",
            ctx.conns_open.get()
        ));
        drop(stream);
        return;
    }
    ctx.conns_open.set(ctx.conns_open.get() + 1);
    ctx.handles.connections.inc();
    let ctx2 = ctx.clone();
    drop(boreal_engine::rt::spawn(async move {
        conn::serve_connection(ctx2.clone(), stream, peer).await;
        ctx2.conns_open.set(ctx2.conns_open.get() - 1);
        ctx2.handles.connections.dec();
        if ctx2.stopping.is_raised() && ctx2.conns_open.get() == 0 {
            ctx2.drained.raise();
        }
    }));
}

/// A Prometheus counter fed from an engine total that the publisher reads now and
/// then: each reading adds what the total grew by since the last one.
struct Feed {
    counter: Counter,
    seen: u64,
}

impl Feed {
    fn new(counter: Counter) -> Feed {
        Feed { counter, seen: 0 }
    }

    fn to(&mut self, total: u64) {
        self.counter.inc_by(total.saturating_sub(self.seen));
        self.seen = total;
    }
}

/// Copies the journal's and the segments' figures into the metrics every
/// [`PUBLISH_INTERVAL`].
async fn publish<I: Io + 'static>(ctx: Rc<CoreCtx<I>>) {
    let core = CoreLabels {
        core: ctx.id.core_index,
    };
    let m = &ctx.metrics;
    let mut batches = Feed::new(m.journal_batches.get_or_create_owned(&core));
    let mut flushes = Feed::new(m.device_flushes.get_or_create_owned(&core));
    let mut hits = Feed::new(m.page_cache_hits.get_or_create_owned(&core));
    let mut misses = Feed::new(m.page_cache_misses.get_or_create_owned(&core));
    let backlog = m.backlog_bytes.get_or_create_owned(&core);
    let age = m.backlog_age_seconds.get_or_create_owned(&core);
    loop {
        let j = ctx.engine.journal().stats();
        batches.to(j.batches);
        flushes.to(j.syncs);
        let e = ctx.engine.stats();
        hits.to(e.cache_hits);
        misses.to(e.cache_misses);
        let mut oldest = Duration::ZERO;
        let mut bytes = 0usize;
        for pg in ctx.engine.segments() {
            let Ok(s) = ctx.engine.status(pg) else {
                continue;
            };
            let labels = PgLabels {
                core: ctx.id.core_index,
                pg: pg.get(),
            };
            m.scl
                .get_or_create(&labels)
                .set(i64::try_from(s.scl.get()).unwrap_or(i64::MAX));
            m.materialized_lsn
                .get_or_create(&labels)
                .set(i64::try_from(s.materialized_lsn.get()).unwrap_or(i64::MAX));
            oldest = oldest.max(s.backlog_age);
            bytes += s.backlog_bytes;
        }
        backlog.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        age.set(oldest.as_secs_f64());
        ctx.io.sleep(PUBLISH_INTERVAL).await;
    }
}

/// The reason's name, as metrics label it.
pub(crate) fn reason_name(r: &Reason) -> &'static str {
    match r {
        Reason::UnsupportedVersion { .. } => "unsupported_version",
        Reason::HelloOrder => "hello_order",
        Reason::RoleRefused { .. } => "role_refused",
        Reason::Malformed { .. } => "malformed",
        Reason::WrongCore { .. } => "wrong_core",
        Reason::NoSegment { .. } => "no_segment",
        Reason::SegmentExists { .. } => "segment_exists",
        Reason::TooManySegments { .. } => "too_many_segments",
        Reason::StaleEpoch { .. } => "stale_epoch",
        Reason::InvalidRecord { .. } => "invalid_record",
        Reason::InTruncation { .. } => "in_truncation",
        Reason::AboveScl { .. } => "above_scl",
        Reason::BelowMinReadPoint { .. } => "below_min_read_point",
        Reason::Hole { .. } => "hole",
        Reason::PageOutOfRange { .. } => "page_out_of_range",
        Reason::Damaged { .. } => "damaged",
        Reason::BelowMaterialized { .. } => "below_materialized",
        Reason::Backlogged { .. } => "backlogged",
        Reason::Busy { .. } => "busy",
        Reason::Failed => "failed",
        Reason::ShuttingDown => "shutting_down",
    }
}
