//! `Link`: one client connection to one core of a storage node, on boreal's runtime
//! (generic over `I: Io`, so it runs on io_uring and under the simulator). The quorum
//! shim keeps one per node core; a node keeps one per peer core for gossip.
//!
//! What it owns: the stream, a reader task that decodes every answer into an owned
//! [`Reply`] and hands it to the request that waits for it (by request id), and the
//! send side, one sender at a time. Requests are pipelined: a caller registers an id
//! ([`Link::expect`]), writes frames of its own making ([`Link::send`], many at once),
//! and waits for each answer ([`Link::reply`]); [`Link::call`] does the three for one
//! message.
//!
//! Must never: block its core (every wait is a future); hand an answer to the wrong
//! request; keep waiters forever once the connection is gone (a closed or failed
//! connection fails every waiting request with [`LinkError::Closed`]); trust the
//! node's bytes (an undecodable answer closes the link, naming why; a fetched record
//! whose own checksum is wrong is not handed out, see [`Reply::Fetched`]); keep its
//! socket and reader task once the last clone is dropped. Deadlines are the
//! caller's (`rt::timeout`): a half-open connection looks like a slow one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use boreal_engine::buf::DmaBuf;
use boreal_engine::hotlog::OwnedRedo;
use boreal_engine::io::Io;
use boreal_engine::rt::JoinHandle;
use boreal_segment::{Epoch, Lsn, NodeId, PageId, PageSize, PgId};

use crate::proto::{
    FrameReader, Hello, HoleKind, Message, PgRule, ProtoError, Reason, SegmentSummary, Step,
};
use crate::sync::AsyncLock;

/// Bytes one receive asks for.
const RECV_BYTES: usize = 256 << 10;

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("{addr}: connect failed: {why}")]
    Connect { addr: SocketAddr, why: String },
    #[error("{addr}: connection closed: {why}")]
    Closed { addr: SocketAddr, why: String },
    #[error("{addr}: the node answered Hello with {got}")]
    Hello { addr: SocketAddr, got: String },
}

/// An answer, owned (the receive buffer is reused at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Refused {
        reason: Reason,
        text: String,
    },
    SegmentCreated {
        pg: PgId,
        created: bool,
        epoch: Epoch,
        scl: Lsn,
    },
    AppendAck {
        pg: PgId,
        epoch: Epoch,
        scl: Lsn,
        accepted: u32,
        duplicates: u32,
    },
    Page {
        pg: PgId,
        page: PageId,
        page_lsn: Lsn,
        payload: Vec<u8>,
    },
    ReadPointSet {
        pg: PgId,
        min_read_point: Lsn,
    },
    Fenced {
        pg: PgId,
        epoch: Epoch,
        scl: Lsn,
    },
    Truncated {
        pg: PgId,
        epoch: Epoch,
        scl: Lsn,
    },
    /// `FetchedRecords`. Each record's own checksums are verified here, where its
    /// bytes still are (the frame checksum only proves the bytes are what the peer
    /// sealed, and a peer's damaged memory seals damaged records): `records` holds
    /// those that passed, in order, up to the first that did not, which `damaged`
    /// names.
    Fetched {
        pg: PgId,
        scl: Lsn,
        more: bool,
        records: Vec<OwnedRedo>,
        damaged: Option<DamagedRecord>,
    },
    Status(Status),
    CoreStatus {
        core_index: u16,
        more: bool,
        segments: Vec<SegmentSummary>,
    },
    /// `(epoch, start, end]` ranges the segment holds.
    Truncations {
        pg: PgId,
        ranges: Vec<(Epoch, Lsn, Lsn)>,
    },
    Hello(NodeMap),
    /// Anything else a node may send that this link does not unpack.
    Other(String),
}

/// A fetched record whose own checksum did not match its bytes: it and the records
/// after it in its frame were not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Its index in the frame.
    pub index: u32,
    /// The LSN its (unproven) header claims.
    pub lsn: Lsn,
    /// What the check found.
    pub why: String,
}

/// `StatusReply`, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub pg: PgId,
    pub page_size: PageSize,
    pub epoch: Epoch,
    pub scl: Lsn,
    pub materialized_lsn: Lsn,
    pub min_read_point: Lsn,
    pub backlog_bytes: u64,
    pub backlog_age_us: u64,
    pub hot_records: u64,
    /// `(start, end, reported)`: reported = journal recovery found it damaged.
    pub holes: Vec<(Lsn, Lsn, bool)>,
}

impl Reply {
    /// The owned answer; `verify_records` false hands out fetched records unchecked
    /// (a broken variant for the cluster simulation, see [`Link::skip_record_checks`]).
    fn from_message(m: Message<'_>, verify_records: bool) -> Reply {
        match m {
            Message::Refusal(r) => Reply::Refused {
                reason: r.reason,
                text: r.text.to_string(),
            },
            Message::SegmentCreated(c) => Reply::SegmentCreated {
                pg: c.pg,
                created: c.created,
                epoch: c.epoch,
                scl: c.scl,
            },
            Message::AppendAck(a) => Reply::AppendAck {
                pg: a.pg,
                epoch: a.epoch,
                scl: a.scl,
                accepted: a.accepted,
                duplicates: a.duplicates,
            },
            Message::PageReply(p) => Reply::Page {
                pg: p.pg,
                page: p.page,
                page_lsn: p.page_lsn,
                payload: p.payload.to_vec(),
            },
            Message::ReadPointSet(r) => Reply::ReadPointSet {
                pg: r.pg,
                min_read_point: r.min_read_point,
            },
            Message::FenceAck(f) => Reply::Fenced {
                pg: f.pg,
                epoch: f.epoch,
                scl: f.scl,
            },
            Message::TruncateAck(t) => Reply::Truncated {
                pg: t.pg,
                epoch: t.epoch,
                scl: t.scl,
            },
            Message::FetchedRecords(f) => {
                let checked = if verify_records {
                    f.records.verify_checksums()
                } else {
                    Ok(())
                };
                let damaged = checked.err().map(|e| {
                    let index = match &e {
                        ProtoError::Record { index, .. } => *index,
                        _ => 0,
                    };
                    DamagedRecord {
                        index,
                        lsn: f
                            .records
                            .iter()
                            .nth(index as usize)
                            .map_or(Lsn::ZERO, |r| r.lsn),
                        why: e.to_string(),
                    }
                });
                let good = damaged
                    .as_ref()
                    .map_or(f.records.len(), |d| d.index as usize);
                Reply::Fetched {
                    pg: f.pg,
                    scl: f.scl,
                    more: f.more,
                    records: f
                        .records
                        .iter()
                        .take(good)
                        .map(|r| OwnedRedo::from_redo(&r))
                        .collect(),
                    damaged,
                }
            }
            Message::StatusReply(s) => Reply::Status(Status {
                pg: s.pg,
                page_size: s.page_size,
                epoch: s.epoch,
                scl: s.scl,
                materialized_lsn: s.materialized_lsn,
                min_read_point: s.min_read_point,
                backlog_bytes: s.backlog_bytes,
                backlog_age_us: s.backlog_age_us,
                hot_records: s.hot_records,
                holes: s
                    .holes
                    .iter()
                    .map(|h| (h.start, h.end, h.kind == HoleKind::Reported))
                    .collect(),
            }),
            Message::CoreStatusReply(c) => Reply::CoreStatus {
                core_index: c.core_index,
                more: c.more,
                segments: c.segments.iter().collect(),
            },
            Message::TruncationsReply(t) => Reply::Truncations {
                pg: t.pg,
                ranges: t.ranges.iter().map(|r| (r.epoch, r.start, r.end)).collect(),
            },
            Message::HelloReply(h) => Reply::Hello(NodeMap {
                node_id: h.node_id,
                az: h.az.to_string(),
                core_index: h.core_index,
                ports: h.ports.iter().collect(),
                pg_rule: h.pg_rule,
            }),
            other => Reply::Other(format!("{other:?}")),
        }
    }
}

/// What a node announced in `HelloReply`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeMap {
    pub node_id: NodeId,
    pub az: String,
    pub core_index: u16,
    /// Every core's port, core order.
    pub ports: Vec<u16>,
    pub pg_rule: PgRule,
}

impl NodeMap {
    /// The core of the node that owns `pg`.
    pub fn core_of(&self, pg: PgId) -> u16 {
        self.pg_rule.core_of(pg, self.ports.len() as u16)
    }
}

enum Slot {
    Waiting(Option<Waker>),
    Done(Result<Reply, LinkError>),
}

struct Inner<I: Io> {
    io: I,
    addr: SocketAddr,
    stream: I::Stream,
    slots: RefCell<HashMap<u64, Slot>>,
    next_id: Cell<u64>,
    dead: RefCell<Option<LinkError>>,
    send_lock: AsyncLock,
    spare: RefCell<Option<DmaBuf>>,
    /// Fetched records' own checksums are verified (always, unless mutated).
    verify_records: Cell<bool>,
}

/// One connection to one node core. Cheap to clone (shared). See the module docs.
/// When the last clone is dropped the connection closes (its reader task ends).
pub struct Link<I: Io> {
    inner: Rc<Inner<I>>,
    _reader: Rc<ReaderTask>,
}

/// The reader task, aborted with the last clone of its link: a dropped link whose
/// node never answers again (half-open) must not keep its socket and task for ever.
struct ReaderTask(JoinHandle<()>);

impl Drop for ReaderTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<I: Io> Clone for Link<I> {
    fn clone(&self) -> Self {
        Link {
            inner: self.inner.clone(),
            _reader: self._reader.clone(),
        }
    }
}

impl<I: Io> std::fmt::Debug for Link<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("addr", &self.inner.addr)
            .field("dead", &self.inner.dead.borrow())
            .finish()
    }
}

impl<I: Io + 'static> Link<I> {
    /// Connects to `addr`, says `hello`, and returns the link and the node's map.
    pub async fn connect(
        io: I,
        addr: SocketAddr,
        hello: Hello,
    ) -> Result<(Link<I>, NodeMap), LinkError> {
        let stream = io.connect(addr).await.map_err(|e| LinkError::Connect {
            addr,
            why: e.to_string(),
        })?;
        let inner = Rc::new(Inner {
            io,
            addr,
            stream,
            slots: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            dead: RefCell::new(None),
            send_lock: AsyncLock::default(),
            spare: RefCell::new(None),
            verify_records: Cell::new(true),
        });
        // Hello is read by the reader task like any answer.
        let reader = boreal_engine::rt::spawn(read_loop(inner.clone()));
        let link = Link {
            inner,
            _reader: Rc::new(ReaderTask(reader)),
        };
        match link.call(&Message::Hello(hello)).await? {
            Reply::Hello(map) => Ok((link, map)),
            other => Err(LinkError::Hello {
                addr,
                got: format!("{other:?}"),
            }),
        }
    }

    /// From now on hands out fetched records without checking their own checksums:
    /// a deliberately broken variant, for the cluster simulation to prove it catches
    /// a node that keeps a damaged record. Never called outside tests.
    #[doc(hidden)]
    pub fn skip_record_checks(&self) {
        self.inner.verify_records.set(false);
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Why the link is gone, if it is.
    pub fn dead(&self) -> Option<LinkError> {
        self.inner.dead.borrow().clone()
    }

    /// A fresh request id.
    pub fn next_id(&self) -> u64 {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        id
    }

    /// Registers request `id` as waiting for its answer (before its frame is sent).
    pub fn expect(&self, id: u64) {
        let mut slots = self.inner.slots.borrow_mut();
        match &*self.inner.dead.borrow() {
            Some(e) => {
                slots.insert(id, Slot::Done(Err(e.clone())));
            }
            None => {
                slots.insert(id, Slot::Waiting(None));
            }
        }
    }

    /// Sends `frames` (whole encoded frames, any number), after any send in progress.
    pub async fn send(&self, frames: &[u8]) -> Result<(), LinkError> {
        self.send_slices(&[frames]).await
    }

    /// Sends the bytes of `slices`, one after another, as one stream of whole frames
    /// (a frame may span slices), after any send in progress. Each byte is copied once,
    /// into the link's send buffer: a caller with a frame in pieces (its own header, a
    /// body shared with other links) need not join them first.
    pub async fn send_slices(&self, slices: &[&[u8]]) -> Result<(), LinkError> {
        let _held = self.inner.send_lock.lock().await;
        if let Some(e) = self.dead() {
            return Err(e);
        }
        let mut at = SliceCursor::default();
        while !at.done(slices) {
            let mut buf = self
                .inner
                .spare
                .borrow_mut()
                .take()
                .unwrap_or_else(|| DmaBuf::zeroed(RECV_BYTES));
            buf.clear();
            at.fill(slices, &mut buf);
            let (r, back) = self.inner.io.send(&self.inner.stream, buf).await;
            *self.inner.spare.borrow_mut() = Some(back);
            match r {
                Ok(0) => {
                    return Err(die(&self.inner, "the node stopped taking bytes".into()));
                }
                // A short send: the rest of the buffer is copied again next time round.
                Ok(k) => at.advance(slices, k),
                Err(e) => return Err(die(&self.inner, format!("send failed: {e}"))),
            }
        }
        Ok(())
    }

    /// Polls the answer to request `id` (registered with [`Link::expect`]).
    pub fn poll_reply(
        &self,
        id: u64,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<Reply, LinkError>> {
        let mut slots = self.inner.slots.borrow_mut();
        match slots.get_mut(&id) {
            Some(Slot::Waiting(w)) => {
                *w = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(Slot::Done(_)) => match slots.remove(&id) {
                Some(Slot::Done(r)) => Poll::Ready(r),
                _ => unreachable!("the slot was done"),
            },
            None => Poll::Ready(Err(LinkError::Closed {
                addr: self.inner.addr,
                why: format!("request {id} was never registered"),
            })),
        }
    }

    /// Waits for the answer to request `id`.
    pub async fn reply(&self, id: u64) -> Result<Reply, LinkError> {
        poll_fn(|cx| self.poll_reply(id, cx)).await
    }

    /// Forgets request `id` (its caller gave up; a late answer is dropped).
    pub fn forget(&self, id: u64) {
        self.inner.slots.borrow_mut().remove(&id);
    }

    /// Sends `msg` and waits for its answer.
    pub async fn call(&self, msg: &Message<'_>) -> Result<Reply, LinkError> {
        let id = self.next_id();
        self.expect(id);
        let mut out = Vec::new();
        if let Err(e) = msg.encode(id, &mut out) {
            self.forget(id);
            return Err(LinkError::Closed {
                addr: self.inner.addr,
                why: format!("cannot encode {}: {e}", msg.tag().name()),
            });
        }
        if let Err(e) = self.send(&out).await {
            self.forget(id);
            return Err(e);
        }
        self.reply(id).await
    }
}

/// Marks the link dead and fails every waiting request.
fn die<I: Io>(inner: &Inner<I>, why: String) -> LinkError {
    let e = LinkError::Closed {
        addr: inner.addr,
        why,
    };
    let mut dead = inner.dead.borrow_mut();
    if dead.is_none() {
        *dead = Some(e.clone());
    }
    let e = dead.clone().expect("set above");
    drop(dead);
    let mut wakers = Vec::new();
    for slot in inner.slots.borrow_mut().values_mut() {
        if let Slot::Waiting(w) = slot {
            wakers.extend(w.take());
            *slot = Slot::Done(Err(e.clone()));
        }
    }
    for w in wakers {
        w.wake();
    }
    e
}

async fn read_loop<I: Io>(inner: Rc<Inner<I>>) {
    let mut acc: Vec<u8> = Vec::with_capacity(RECV_BYTES);
    let mut buf = Some(DmaBuf::zeroed(RECV_BYTES));
    loop {
        if inner.dead.borrow().is_some() {
            return;
        }
        let (got, b) = inner
            .io
            .recv(&inner.stream, buf.take().expect("the buffer is back"))
            .await;
        match got {
            Ok(0) => {
                die(&inner, "the node closed the connection".into());
                return;
            }
            Ok(n) => acc.extend_from_slice(&b.as_slice()[..n]),
            Err(e) => {
                die(&inner, format!("receive failed: {e}"));
                return;
            }
        }
        buf = Some(b);
        let mut frames = FrameReader::new(&acc);
        let mut wakers = Vec::new();
        loop {
            match frames.next_step() {
                Ok(Step::Frame(f)) => {
                    let id = f.header.request_id;
                    let reply = match Message::decode_response(f) {
                        Ok(m) => Reply::from_message(m, inner.verify_records.get()),
                        Err(e) => {
                            die(&inner, format!("undecodable answer: {e}"));
                            return;
                        }
                    };
                    if id == 0 {
                        // About the connection: the node closes it next.
                        die(
                            &inner,
                            format!("the node refused the connection: {reply:?}"),
                        );
                        return;
                    }
                    let mut slots = inner.slots.borrow_mut();
                    if let Some(slot) = slots.get_mut(&id)
                        && let Slot::Waiting(w) = slot
                    {
                        wakers.extend(w.take());
                        *slot = Slot::Done(Ok(reply));
                    }
                }
                Ok(Step::Need { .. }) => break,
                Err(e) => {
                    die(&inner, format!("undecodable frame: {e}"));
                    return;
                }
            }
        }
        let used = frames.consumed();
        acc.drain(..used);
        for w in wakers {
            w.wake();
        }
    }
}

/// A position in a sequence of slices: slice `i`, byte `off` of it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SliceCursor {
    i: usize,
    off: usize,
}

impl SliceCursor {
    /// Whether every byte of `slices` is behind the cursor.
    fn done(&self, slices: &[&[u8]]) -> bool {
        let mut c = *self;
        c.skip_ended(slices);
        c.i >= slices.len()
    }

    fn skip_ended(&mut self, slices: &[&[u8]]) {
        while self.i < slices.len() && self.off >= slices[self.i].len() {
            self.i += 1;
            self.off = 0;
        }
    }

    /// Copies bytes from the cursor into `buf` until it is full or the slices end; the
    /// cursor does not move (see [`SliceCursor::advance`]).
    fn fill(&self, slices: &[&[u8]], buf: &mut DmaBuf) {
        let mut c = *self;
        loop {
            c.skip_ended(slices);
            let room = buf.capacity() - buf.len();
            if c.i >= slices.len() || room == 0 {
                return;
            }
            let rest = &slices[c.i][c.off..];
            let n = rest.len().min(room);
            buf.extend_from_slice(&rest[..n]);
            c.off += n;
        }
    }

    /// Moves the cursor `n` bytes on.
    fn advance(&mut self, slices: &[&[u8]], mut n: usize) {
        while n > 0 {
            self.skip_ended(slices);
            let Some(s) = slices.get(self.i) else {
                return;
            };
            let step = (s.len() - self.off).min(n);
            self.off += step;
            n -= step;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Sends of any buffer size, each taking any part of what it was given, carry
        /// the slices' bytes in order, once each (what `send_slices` does).
        #[test]
        fn a_cursor_over_slices_sends_every_byte_once_in_order(
            slices in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..50), 0..8),
            capacity in 1usize..64,
            takes in prop::collection::vec(0.0f64..=1.0, 1..200),
        ) {
            let slices: Vec<&[u8]> = slices.iter().map(Vec::as_slice).collect();
            let want: Vec<u8> = slices.concat();
            let mut got = Vec::new();
            let mut at = SliceCursor::default();
            let mut buf = DmaBuf::zeroed(capacity);
            let mut turns = takes.iter().cycle();
            while !at.done(&slices) {
                buf.clear();
                at.fill(&slices, &mut buf);
                prop_assert!(!buf.is_empty());
                // The kernel takes at least one byte of a non-empty send (zero is an
                // error the link reports).
                let part = turns.next().expect("cycles");
                let k = ((buf.len() as f64 * part).ceil() as usize).clamp(1, buf.len());
                got.extend_from_slice(&buf.as_slice()[..k]);
                at.advance(&slices, k);
            }
            prop_assert_eq!(got, want);
        }
    }
}
