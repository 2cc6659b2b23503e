//! The shim's connections: one per storage-node core it needs, each with a writer task
//! (boxcarring: whatever records arrived while the previous send was on the wire go
//! out together, one `AppendBatch` frame per PG, no fixed wait) and an acker task
//! (answers in order, each `AppendAck`'s SCL into the watermarks).
//!
//! A connection that breaks is reconnected with a growing pause; records queued for it
//! meanwhile are dropped, not held: its segments then miss them, which is what a slow
//! or failed segment looks like to the protocol anyway, and gossip between the PG's
//! nodes fills the hole (DESIGN §3). So the shim's memory never grows with an
//! unreachable node.
//!
//! Two things follow, each done here:
//! - A segment that gossip repaired has nothing to acknowledge: no append of the shim
//!   reaches it. So while records are outstanding and the VDL stands still for a
//!   `read_point_interval`, the SCL poller ([`scl_poll_loop`]) asks the segments that
//!   last reported an SCL below their PG's newest outstanding record for their status,
//!   and takes the SCL as an acknowledgement. Without it the last writes before a
//!   quiet spell could wait for ever once their records were dropped for some
//!   segments.
//! - A node the shim could not reach while it opened the volume missed the segment
//!   creations (a fresh volume) and the truncations of volume recovery; a node that was
//!   down then still holds what an older shim left above the recovered VDL. So the
//!   first frames on every new connection create the core's segments (a no-op where
//!   they exist) and apply this shim's truncations (idempotent), before any append;
//!   and a connection that is down is made again (with backoff) even when nothing is
//!   queued for it, since a shim that stopped writing would otherwise never bring a
//!   node those frames.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::task::Poll;
use std::time::Duration;

use boreal_engine::io::{Instant, Io};
use boreal_segment::{Lsn, PgId};

use super::frames::FramePiece;
use super::shim::Inner;
use crate::link::{Link, LinkError, Reply};
use crate::proto::{
    CreateSegment, EncodedRedo, Hello, Message, Reason, SegmentStatus, SetReadPoint, Truncate,
};
use crate::sync::WakeSlot;

/// Longest pause between two reconnection attempts.
const RECONNECT_PAUSE_MAX: Duration = Duration::from_secs(1);
/// First pause after a connection failed.
const RECONNECT_PAUSE_MIN: Duration = Duration::from_millis(20);

/// A connection's records to send, per PG. A PG's vector stays in the map once
/// emptied (its room is reused), so "nothing to send" is [`nothing_queued`], not an
/// empty map.
type Queue = BTreeMap<PgId, Vec<Rc<EncodedRedo>>>;

fn nothing_queued(q: &Queue) -> bool {
    q.values().all(Vec::is_empty)
}

/// What an answer in flight is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    Append {
        pg: PgId,
    },
    ReadPoint,
    /// A `SegmentStatus` of the SCL poller: its SCL counts as an acknowledgement.
    Status {
        pg: PgId,
    },
    /// A segment creation or an earlier truncation sent first on a connection.
    Setup,
    /// This shim's own truncation of `pg`, sent first on a connection: once applied,
    /// the segment (`segment` of the PG) has all of them.
    Truncated {
        pg: PgId,
        segment: usize,
    },
}

/// One connection to one node core.
pub(crate) struct CoreLink<I: Io> {
    pub(crate) member: usize,
    pub(crate) core: u16,
    pub(crate) addr: SocketAddr,
    pub(crate) link: RefCell<Option<Link<I>>>,
    /// Records to send, per PG, in LSN order (a PG's vector may be empty).
    queue: RefCell<Queue>,
    writer: WakeSlot,
    /// Answers awaited, in the order their requests were sent.
    inflight: RefCell<VecDeque<(u64, Expect)>>,
    acker: WakeSlot,
    /// Smoothed GetPage latency, µs (read routing).
    pub(crate) read_latency_us: Cell<f64>,
    /// When the connection may be tried again after a failure.
    retry_at: Cell<Instant>,
    pause: Cell<Duration>,
    pub(crate) dropped_records: Cell<u64>,
    /// The current connection got its segments created and the truncation applied.
    set_up: Cell<bool>,
    /// A setup frame the node failed to apply (an I/O error): the setup is sent again
    /// on this connection from then on.
    setup_retry_at: Cell<Instant>,
}

impl<I: Io + 'static> CoreLink<I> {
    pub(crate) fn new(
        member: usize,
        core: u16,
        addr: SocketAddr,
        link: Option<Link<I>>,
    ) -> CoreLink<I> {
        CoreLink {
            member,
            core,
            addr,
            link: RefCell::new(link),
            queue: RefCell::new(BTreeMap::new()),
            writer: WakeSlot::default(),
            inflight: RefCell::new(VecDeque::new()),
            acker: WakeSlot::default(),
            read_latency_us: Cell::new(500.0),
            retry_at: Cell::new(Instant::ZERO),
            pause: Cell::new(RECONNECT_PAUSE_MIN),
            dropped_records: Cell::new(0),
            set_up: Cell::new(false),
            setup_retry_at: Cell::new(Instant::ZERO),
        }
    }

    fn queue_is_empty(&self) -> bool {
        nothing_queued(&self.queue.borrow())
    }

    /// The live connection, if there is one.
    pub(crate) fn live(&self) -> Option<Link<I>> {
        let l = self.link.borrow();
        l.as_ref().filter(|l| l.dead().is_none()).cloned()
    }

    /// Queues a record for this core; the writer sends it with whatever else is queued.
    pub(crate) fn queue(&self, rec: Rc<EncodedRedo>) {
        self.queue
            .borrow_mut()
            .entry(rec.pg_id())
            .or_default()
            .push(rec);
        self.writer.wake();
    }

    /// Queues a record sent before again (the SCL poller), in LSN order among what is
    /// queued, unless it is queued already.
    pub(crate) fn requeue(&self, rec: Rc<EncodedRedo>) {
        {
            let mut q = self.queue.borrow_mut();
            let v = q.entry(rec.pg_id()).or_default();
            match v.binary_search_by_key(&rec.lsn(), |r| r.lsn()) {
                Ok(_) => return,
                Err(i) => v.insert(i, rec),
            }
        }
        self.writer.wake();
    }

    /// Sends a `SetReadPoint` on this connection (its answer is awaited by the acker).
    pub(crate) async fn set_read_point(&self, msg: SetReadPoint) -> Result<(), LinkError> {
        let Some(link) = self.live() else {
            return Ok(());
        };
        self.request(&link, &Message::SetReadPoint(msg), Expect::ReadPoint)
            .await
    }

    /// Sends one request whose answer the acker takes.
    async fn request(
        &self,
        link: &Link<I>,
        msg: &Message<'_>,
        what: Expect,
    ) -> Result<(), LinkError> {
        let id = link.next_id();
        link.expect(id);
        let mut out = Vec::new();
        msg.encode(id, &mut out)
            .expect("the shim's own requests always encode");
        self.inflight.borrow_mut().push_back((id, what));
        self.acker.wake();
        link.send(&out).await
    }

    /// Encodes into `out` what a new connection sends first (see the module docs):
    /// for each PG whose segment this core holds, `CreateSegment` at the shim's epoch
    /// and, unless the segment applied them already, the truncations of the shim's
    /// volume recovery in the order it wrote them.
    fn setup_frames(&self, inner: &Inner<I>, me: usize, link: &Link<I>, out: &mut Vec<u8>) {
        let vol = &inner.cfg.volume;
        let skip = inner.cfg.mutations.skip_truncation;
        for (p, row) in inner.pg_links.iter().enumerate() {
            if !row.contains(&me) {
                continue;
            }
            let pg = PgId::new(p as u32);
            let segment = row.iter().position(|&l| l == me).expect("checked above");
            let create = Message::CreateSegment(CreateSegment {
                epoch: inner.epoch,
                pg,
                page_size: vol.page_size(),
                first_page: vol.first_page(pg),
                page_count: vol.pages_per_pg,
            });
            let done = skip || inner.truncated.borrow()[p][segment];
            let last = inner.truncations.len();
            let truncations =
                inner
                    .truncations
                    .iter()
                    .enumerate()
                    .filter(|_| !done)
                    .map(|(i, &(start, end))| {
                        let what = if i + 1 == last {
                            Expect::Truncated { pg, segment }
                        } else {
                            Expect::Setup
                        };
                        let m = Message::Truncate(Truncate {
                            pg,
                            epoch: inner.epoch,
                            start,
                            end,
                        });
                        (m, what)
                    });
            for (m, what) in std::iter::once((create, Expect::Setup)).chain(truncations) {
                let id = link.next_id();
                link.expect(id);
                m.encode(id, out)
                    .expect("the shim's own requests always encode");
                self.inflight.borrow_mut().push_back((id, what));
            }
        }
        self.set_up.set(true);
    }

    /// The live connection, or a new one if the pause after the last failure is over
    /// (writes, reads and the SCL poller all reconnect: a shim that only reads must
    /// find its way back to a node too).
    pub(crate) async fn reconnect(&self, inner: &Inner<I>) -> Option<Link<I>> {
        if let Some(l) = self.live() {
            return Some(l);
        }
        let now = inner.io.now();
        if now < self.retry_at.get() {
            return None;
        }
        let attempt = boreal_engine::rt::timeout(
            inner.cfg.connect_timeout,
            Link::connect(inner.io.clone(), self.addr, Hello::shim()),
        )
        .await;
        match attempt {
            // A node that came back with another core layout is not the core this link
            // was opened for: it stays unreachable until the volume is reopened.
            Ok(Ok((link, map))) if map.core_index == self.core => {
                self.pause.set(RECONNECT_PAUSE_MIN);
                *self.link.borrow_mut() = Some(link.clone());
                self.set_up.set(false);
                Some(link)
            }
            _ => {
                let pause = self.pause.get();
                self.retry_at.set(inner.io.now().saturating_add(pause));
                self.pause.set((pause * 2).min(RECONNECT_PAUSE_MAX));
                None
            }
        }
    }
}

/// The writer of one connection: boxcars the queued records into one frame per PG and
/// sends them together. Ends when the shim is dropped.
pub(crate) async fn write_loop<I: Io + 'static>(shim: Weak<Inner<I>>, idx: usize) {
    // What a round sends: first the setup frames (encoded here), then one piece per
    // append frame (its header, and a body shared with the PG's other links).
    let mut out: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut pieces: Vec<FramePiece> = Vec::new();
    let mut batch: Queue = BTreeMap::new();
    loop {
        // Waits holding only the weak handle: a parked writer must not keep the shim
        // alive.
        let ready = poll_fn(|cx| {
            let Some(inner) = shim.upgrade() else {
                return Poll::Ready(false);
            };
            let cl = &inner.links[idx];
            if inner.closing.get() {
                return Poll::Ready(false);
            }
            // A connection that is down or not set up yet is worked on even with
            // nothing to send: its node may miss a segment creation or a truncation
            // (see the module docs) that no later append would bring.
            let idle = cl.queue_is_empty() && cl.set_up.get() && cl.live().is_some();
            if idle {
                cl.writer.register(cx.waker());
                return Poll::Pending;
            }
            Poll::Ready(true)
        })
        .await;
        if !ready {
            return;
        }
        let Some(inner) = shim.upgrade() else { return };
        let cl = &inner.links[idx];
        let link = match cl.reconnect(&inner).await {
            Some(l) => l,
            None => {
                // Unreachable: drop what is queued (gossip repairs the segment), and wait.
                let dropped: usize = cl.queue.borrow().values().map(Vec::len).sum();
                cl.queue.borrow_mut().clear();
                cl.dropped_records
                    .set(cl.dropped_records.get() + dropped as u64);
                let wait = cl.retry_at.get();
                inner.io.sleep_until(wait).await;
                continue;
            }
        };
        // The queue and `batch` swap maps: each keeps its PGs' vectors (emptied, their
        // room kept), so a steady stream allocates nothing per round here.
        std::mem::swap(&mut batch, &mut *cl.queue.borrow_mut());
        out.clear();
        if !cl.set_up.get() {
            if inner.io.now() >= cl.setup_retry_at.get() {
                cl.setup_frames(&inner, idx, &link, &mut out);
            } else if nothing_queued(&batch) {
                let wait = cl.setup_retry_at.get();
                inner.io.sleep_until(wait).await;
                continue;
            }
        }
        let epoch = inner.epoch;
        {
            // The frames are built once per PG and round, by whichever writer sends
            // the records first (`frames.rs`).
            let mut kept = inner.frames.borrow_mut();
            let mut inflight = cl.inflight.borrow_mut();
            for (&pg, recs) in batch.iter_mut() {
                let mut at = 0;
                while at < recs.len() {
                    let id = link.next_id();
                    at += kept.put(&mut pieces, epoch, pg, &recs[at..], id);
                    link.expect(id);
                    inflight.push_back((id, Expect::Append { pg }));
                }
                recs.clear();
            }
        }
        cl.acker.wake();
        let mut slices: Vec<&[u8]> = Vec::with_capacity(1 + 2 * pieces.len());
        slices.push(&out);
        slices.extend(pieces.iter().flat_map(FramePiece::slices));
        let sent = link.send_slices(&slices).await;
        drop(slices);
        // The kept frames' buffers are free to be built into again.
        pieces.clear();
        if sent.is_err() {
            // The link is dead: its waiters fail, the acker clears them.
            cl.acker.wake();
        }
    }
}

/// The acker of one connection: takes the answers in order and applies them.
pub(crate) async fn ack_loop<I: Io + 'static>(shim: Weak<Inner<I>>, idx: usize) {
    loop {
        let next = poll_fn(|cx| {
            let Some(inner) = shim.upgrade() else {
                return Poll::Ready(None);
            };
            let cl = &inner.links[idx];
            if inner.closing.get() {
                return Poll::Ready(None);
            }
            match cl.inflight.borrow().front() {
                Some(&x) => Poll::Ready(Some(x)),
                None => {
                    cl.acker.register(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await;
        let Some((id, what)) = next else {
            return;
        };
        let Some(inner) = shim.upgrade() else { return };
        let cl = &inner.links[idx];
        let link = cl.link.borrow().clone();
        let reply = match link {
            Some(l) => l.reply(id).await,
            None => Err(LinkError::Closed {
                addr: cl.addr,
                why: "not connected".into(),
            }),
        };
        cl.inflight.borrow_mut().pop_front();
        match (what, reply) {
            (Expect::Append { pg }, Ok(Reply::AppendAck { scl, .. })) => {
                inner.segment_ack(pg, idx, scl);
            }
            (
                _,
                Ok(Reply::Refused {
                    reason: Reason::StaleEpoch { pg, current },
                    ..
                }),
            ) => inner.fenced(pg, current),
            // The node failed to create a segment or apply a truncation (an I/O
            // error): set the connection up again after a pause.
            (
                Expect::Setup | Expect::Truncated { .. },
                Ok(Reply::Refused {
                    reason: Reason::Failed,
                    ..
                }),
            ) => {
                cl.set_up.set(false);
                cl.setup_retry_at
                    .set(inner.io.now().saturating_add(RECONNECT_PAUSE_MIN));
                cl.writer.wake();
            }
            (Expect::Append { pg }, Ok(Reply::Refused { reason, text })) => {
                inner.count_refusal(pg, cl.member, &reason, &text);
            }
            // Only an SCL at this shim's epoch is about its records: a segment a newer
            // shim wrote to has an SCL that may pass over records of this shim that
            // the newer one truncated.
            (Expect::Truncated { pg, segment }, Ok(Reply::Truncated { .. })) => {
                inner.truncated.borrow_mut()[pg.get() as usize][segment] = true;
            }
            (Expect::Status { pg }, Ok(Reply::Status(st))) if st.pg == pg => {
                if st.epoch > inner.epoch {
                    inner.fenced(pg, st.epoch);
                } else if st.epoch == inner.epoch {
                    inner.segment_ack(pg, idx, st.scl);
                }
            }
            (_, Ok(_)) => {}
            (_, Err(_)) => {
                // The link died: the rest of its answers will not come.
                let dead: Vec<u64> = cl.inflight.borrow_mut().drain(..).map(|x| x.0).collect();
                if let Some(l) = cl.link.borrow().as_ref() {
                    for id in dead {
                        l.forget(id);
                    }
                }
            }
        }
    }
}

/// Sends the PG's min read point to every segment whose last one was lower.
pub(crate) async fn read_point_loop<I: Io + 'static>(shim: Weak<Inner<I>>) {
    let mut sent: Vec<Lsn> = Vec::new();
    loop {
        let Some(inner) = shim.upgrade() else { return };
        if inner.closing.get() {
            return;
        }
        let interval = inner.cfg.read_point_interval;
        let pgs = inner.cfg.volume.pgs as usize;
        sent.resize(pgs, Lsn::ZERO);
        for (p, last) in sent.iter_mut().enumerate() {
            let pg = PgId::new(p as u32);
            let mrp = inner.min_read_point(pg);
            if mrp <= *last {
                continue;
            }
            *last = mrp;
            for &l in &inner.pg_links[p] {
                let msg = SetReadPoint {
                    pg,
                    epoch: inner.epoch,
                    min_read_point: mrp,
                };
                let _ = inner.links[l].set_read_point(msg).await;
            }
        }
        // A connection that died since its writer last ran is made again (and set up)
        // by that writer, even with nothing queued (see `write_loop`).
        for cl in &inner.links {
            if cl.live().is_none() {
                cl.writer.wake();
            }
        }
        let io = inner.io.clone();
        drop(inner);
        io.sleep(interval).await;
    }
}

/// The SCL poller (see the module docs): while records are outstanding and the VDL did
/// not move for a `read_point_interval`, asks each segment that reported an SCL below
/// its PG's newest outstanding record for its status. Ends when the shim is dropped.
pub(crate) async fn scl_poll_loop<I: Io + 'static>(shim: Weak<Inner<I>>) {
    let mut last_vdl = Lsn::ZERO;
    loop {
        let Some(inner) = shim.upgrade() else { return };
        if inner.closing.get() {
            return;
        }
        let interval = inner.cfg.read_point_interval;
        let (vdl, behind) = {
            let wm = inner.wm.borrow();
            (wm.vdl(), wm.behind())
        };
        {
            // What is at or below the VDL is durable on a write quorum: no resend.
            inner.unacked.borrow_mut().drop_through(vdl);
        }
        if vdl == last_vdl {
            for (pg, seg) in behind {
                let l = inner.pg_links[pg.get() as usize][seg];
                let cl = &inner.links[l];
                // Its records above its SCL again: those it missed may be nowhere
                // else (dropped while it was unreachable, lost by a power loss
                // elsewhere before they were synced), and gossip only copies what a
                // peer holds. A duplicate is acknowledged like the first.
                let scl = inner.wm.borrow().scl(pg, seg);
                let again: Vec<Rc<EncodedRedo>> = inner
                    .unacked
                    .borrow()
                    .above(scl)
                    .filter(|r| r.pg_id() == pg)
                    .cloned()
                    .collect();
                for r in again {
                    cl.requeue(r);
                }
                if let Some(link) = cl.reconnect(&inner).await {
                    let msg = Message::SegmentStatus(SegmentStatus { pg });
                    let _ = cl.request(&link, &msg, Expect::Status { pg }).await;
                }
            }
        }
        last_vdl = vdl;
        let io = inner.io.clone();
        drop(inner);
        io.sleep(interval).await;
    }
}
