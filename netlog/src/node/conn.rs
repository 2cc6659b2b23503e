//! One client connection of a core: a reader that turns frames into engine calls and a
//! writer that sends the answers.
//!
//! Batched ingestion. The reader receives a buffer-full at a time and handles every
//! whole frame in it. An `AppendBatch` is decoded zero-copy (its records borrow the
//! receive buffer), checked and journaled by `CoreEngine::try_append`, which copies
//! the records it took into the pending append: no task and no allocation per frame,
//! and the buffer is free again at once. The pending appends wait in the connection's
//! ordered queue; the writer polls the oldest with `CoreEngine::poll_append` and, as
//! each turns durable, encodes its `AppendAck` into one send buffer, so one device
//! flush acknowledges every frame (of every connection) that joined its journal batch
//! and one `send` carries as many acknowledgements as are ready.
//!
//! Ordering (`PROTOCOL.md`, "A connection"): requests that change a segment are
//! answered in the order they arrived, through the ordered queue; an append that must
//! wait (backpressure, a raised epoch, a full batch) and the control requests are
//! carried out by the reader itself, which then reads nothing more until they are done,
//! so what follows them is applied after them. Reads, status and fetch are answered as
//! soon as they are ready and may overtake.
//!
//! Bounds: at most `requests_in_flight_max` requests in flight per connection (the
//! reader stops receiving at the bound: TCP backpressure), a receive buffer of
//! `RECV_BYTES` plus at most one frame (`FRAME_BODY_BYTES_MAX`), one send buffer.
//!
//! Bad input: a frame that does not decode (checksum, length over the cap, unknown
//! tag, a body that breaks its message's rules), or an `AppendBatch` record whose own
//! checksums do not hold (checked as the record is taken for the journal, which keeps
//! its bytes as its author encoded them), is answered with `Refusal { Malformed }`
//! after everything before it, logged with the peer's address, and the connection is
//! closed; a peer that hangs up mid-frame is logged. Nothing else is touched.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{Instant, Io};
use boreal_engine::node::{EngineError, PendingAppend};
use boreal_segment::{Frame, PgId, ValidRecord};

use super::core::CoreCtx;
use super::refuse::reason_of;
use crate::proto::{
    AppendAck, AppendBatch, FetchRecords, FetchedEncoder, FrameReader, GetPage, HelloReply,
    Message, PgRule, Reason, Refusal, Role, Seq, Step, clip_text, negotiate,
};
use crate::sync::{Either, WakeSlot, either};

/// Bytes one receive asks for.
const RECV_BYTES: usize = 256 << 10;
/// Bytes of answers gathered before a send.
const SEND_BYTES: usize = 256 << 10;

/// An answer waiting its turn in the ordered queue.
enum Entry {
    /// An append the journal took, acknowledged once durable.
    Append {
        id: u64,
        pg: PgId,
        pending: PendingAppend,
        started: Instant,
        records: u32,
        bytes: u64,
    },
    /// An encoded answer frame.
    Ready(Vec<u8>),
    /// An append's encoded acknowledgement, held back until `release` (the node's
    /// `ack_delay_us`: a slow node made on purpose); counted in the metrics when sent.
    Delayed {
        frame: Vec<u8>,
        release: Instant,
        started: Instant,
        records: u32,
        bytes: u64,
    },
}

/// What the reader and the writer of one connection share.
#[derive(Default)]
struct Conn {
    ordered: RefCell<VecDeque<Entry>>,
    /// Encoded answers that may overtake the ordered ones.
    unordered: RefCell<Vec<u8>>,
    reads_in_flight: Cell<u32>,
    writer: WakeSlot,
    reader: WakeSlot,
    /// The reader ended: the writer ends once everything is answered.
    reader_done: Cell<bool>,
    /// A send failed: nothing more can reach the peer.
    dead: Cell<bool>,
}

impl Conn {
    fn in_flight(&self) -> usize {
        self.ordered.borrow().len() + self.reads_in_flight.get() as usize
    }

    fn push(&self, e: Entry) {
        self.ordered.borrow_mut().push_back(e);
        self.writer.wake();
    }

    fn push_unordered(&self, frame: &[u8]) {
        self.unordered.borrow_mut().extend_from_slice(frame);
        self.writer.wake();
    }
}

/// Serves one accepted connection until the peer leaves, it breaks a rule, or the
/// core stops.
pub(crate) async fn serve_connection<I: Io + 'static>(
    ctx: Rc<CoreCtx<I>>,
    stream: I::Stream,
    peer: SocketAddr,
) {
    let stream = Rc::new(stream);
    let conn = Rc::new(Conn::default());
    let writer = boreal_engine::rt::spawn(write_loop(ctx.clone(), conn.clone(), stream.clone()));
    let mut reader = Reader {
        ctx: ctx.clone(),
        conn: conn.clone(),
        peer,
        role: None,
        scratch: Vec::new(),
    };
    reader.run(&stream).await;
    conn.reader_done.set(true);
    conn.writer.wake();
    let _ = writer.await;
}

/// Why the reader stops after a frame.
enum Flow {
    Go,
    Close,
}

struct Reader<I: Io> {
    ctx: Rc<CoreCtx<I>>,
    conn: Rc<Conn>,
    peer: SocketAddr,
    /// Set by `Hello`.
    role: Option<Role>,
    /// The records of the frame being handled (kept empty between frames).
    scratch: Vec<ValidRecord<'static>>,
}

impl<I: Io + 'static> Reader<I> {
    async fn run(&mut self, stream: &I::Stream) {
        let io = self.ctx.io.clone();
        let mut acc: Vec<u8> = Vec::with_capacity(RECV_BYTES);
        let mut rbuf = Some(DmaBuf::zeroed(RECV_BYTES));
        loop {
            // Backpressure: no more requests from this peer while it has its most in
            // flight (or its answers cannot be sent).
            let bound = self.ctx.limits.requests_in_flight_max as usize;
            poll_fn(|cx| {
                if self.conn.in_flight() < bound || self.conn.dead.get() {
                    Poll::Ready(())
                } else {
                    self.conn.reader.register(cx.waker());
                    Poll::Pending
                }
            })
            .await;
            if self.conn.dead.get() || self.ctx.stopping.is_raised() {
                return;
            }
            let buf = rbuf.take().expect("the receive buffer is back");
            let (got, buf) = match either(io.recv(stream, buf), self.ctx.stopping.wait()).await {
                Either::Left(r) => r,
                Either::Right(()) => return,
            };
            match got {
                Ok(0) => {
                    if !acc.is_empty() {
                        self.ctx.log(format_args!(
                            "{}: hung up in the middle of a frame ({} bytes of it received)",
                            self.peer,
                            acc.len()
                        ));
                        self.ctx.count_refusal(&Reason::Malformed { tag: 0 });
                    }
                    return;
                }
                Ok(n) => acc.extend_from_slice(&buf.as_slice()[..n]),
                Err(e) => {
                    self.ctx
                        .log(format_args!("{}: receive failed: {e}", self.peer));
                    return;
                }
            }
            rbuf = Some(buf);
            let mut frames = FrameReader::new(&acc);
            let flow = loop {
                match frames.next_step() {
                    Ok(Step::Frame(f)) => {
                        if let Flow::Close = self.handle(f).await {
                            break Flow::Close;
                        }
                    }
                    Ok(Step::Need { .. }) => break Flow::Go,
                    Err(e) => {
                        self.malformed(0, 0, &format!("frame: {e}"));
                        break Flow::Close;
                    }
                }
            };
            if let Flow::Close = flow {
                return;
            }
            let used = frames.consumed();
            acc.drain(..used);
        }
    }

    /// Answers with `Refusal { Malformed }` and logs; the caller closes.
    fn malformed(&self, tag: u16, id: u64, why: &str) {
        self.ctx.log(format_args!(
            "closing connection from {}: malformed frame: {why}",
            self.peer
        ));
        self.refuse(id, Reason::Malformed { tag }, why);
    }

    /// Queues a refusal of request `id` in order.
    fn refuse(&self, id: u64, reason: Reason, text: &str) {
        self.ctx.count_refusal(&reason);
        self.conn.push(Entry::Ready(encode(
            Message::Refusal(Refusal {
                reason,
                text: clip_text(text),
            }),
            id,
        )));
    }

    async fn handle(&mut self, frame: Frame<'_>) -> Flow {
        let id = frame.header.request_id;
        let tag = frame.header.tag;
        let msg = match Message::decode_request(frame) {
            Ok(m) => m,
            Err(e) => {
                self.malformed(tag, id, &e.to_string());
                return Flow::Close;
            }
        };
        let Some(role) = self.role else {
            return self.hello(id, msg);
        };
        if !role.may_send(msg.tag()) {
            self.refuse(
                id,
                Reason::RoleRefused { role, tag },
                "this role may not send this request",
            );
            return Flow::Go;
        }
        match msg {
            Message::Hello(_) => {
                self.refuse(id, Reason::HelloOrder, "Hello was sent already");
                return Flow::Close;
            }
            Message::AppendBatch(b) => return self.append(id, tag, b).await,
            Message::GetPage(g) => self.get_page(id, g),
            Message::FetchRecords(f) => self.fetch(id, f),
            other => {
                let answer = super::dispatch::control(&self.ctx, other).await;
                match answer {
                    Ok(reply) => self.conn.push(Entry::Ready(encode(reply.message(), id))),
                    Err((reason, text)) => self.refuse(id, reason, &text),
                }
            }
        }
        Flow::Go
    }

    fn hello(&mut self, id: u64, msg: Message<'_>) -> Flow {
        let Message::Hello(h) = msg else {
            self.refuse(id, Reason::HelloOrder, "the first request must be Hello");
            return Flow::Close;
        };
        match negotiate(&h) {
            Ok(version) => {
                self.role = Some(h.role);
                self.conn
                    .push(Entry::Ready(hello_reply(&self.ctx, version, id)));
                Flow::Go
            }
            Err(reason) => {
                self.refuse(id, reason, "no protocol version in common");
                Flow::Close
            }
        }
    }

    /// Journals an append. Each record's own checksums are checked here, as it is
    /// taken for the journal (`Redos::valid`), and its bytes are journaled as they
    /// came: a record whose checksum does not hold is a malformed frame.
    async fn append(&mut self, id: u64, tag: u16, b: AppendBatch<'_>) -> Flow {
        let started = self.ctx.io.now();
        if let Err(r) = self.ctx.owns(b.pg) {
            self.refuse(id, r, "another core of this node owns the PG");
            return Flow::Go;
        }
        let mut scratch = recycle(std::mem::take(&mut self.scratch));
        for record in b.records.valid() {
            match record {
                Ok(r) => scratch.push(r),
                Err(e) => {
                    self.scratch = recycle(scratch);
                    self.malformed(tag, id, &format!("AppendBatch: {e}"));
                    return Flow::Close;
                }
            }
        }
        let records = scratch.len() as u32;
        let bytes = b.records.wire_bytes().map_or(0, |w| w.len() as u64);
        let engine = &self.ctx.engine;
        match engine.try_append(b.pg, b.epoch, &scratch) {
            Ok(Some(pending)) => self.conn.push(Entry::Append {
                id,
                pg: b.pg,
                pending,
                started,
                records,
                bytes,
            }),
            // It must wait (backpressure, a raised epoch, a full batch): carried out
            // here, so nothing after it on this connection is applied before it.
            Ok(None) => {
                self.ctx.handles.appends_waited.inc();
                let appended = engine.append(b.pg, b.epoch, &scratch).await;
                match appended {
                    Ok(ack) => {
                        let frame = encode(Message::AppendAck(wire_ack(b.pg, &ack)), id);
                        let delay = self.ctx.ack_delay.get();
                        if delay.is_zero() {
                            self.count_append(started, records, bytes);
                            self.conn.push(Entry::Ready(frame));
                        } else {
                            self.conn.push(Entry::Delayed {
                                frame,
                                release: self.ctx.io.now().saturating_add(delay),
                                started,
                                records,
                                bytes,
                            });
                        }
                    }
                    Err(e) => self.refuse_engine(id, b.pg, &e),
                }
            }
            Err(e) => self.refuse_engine(id, b.pg, &e),
        }
        self.scratch = recycle(scratch);
        Flow::Go
    }

    fn count_append(&self, started: Instant, records: u32, bytes: u64) {
        count_append(&self.ctx, started, records, bytes);
    }

    fn refuse_engine(&self, id: u64, pg: PgId, e: &EngineError) {
        self.refuse(id, reason_of(e, pg), &e.to_string());
    }

    /// GetPage runs as a task of its own (it may read the page store) and is answered
    /// whenever it is done.
    fn get_page(&self, id: u64, g: GetPage) {
        if let Err(r) = self.ctx.owns(g.pg) {
            self.refuse(id, r, "another core of this node owns the PG");
            return;
        }
        self.conn
            .reads_in_flight
            .set(self.conn.reads_in_flight.get() + 1);
        let (ctx, conn) = (self.ctx.clone(), self.conn.clone());
        drop(boreal_engine::rt::spawn(async move {
            let started = ctx.io.now();
            let frame = match ctx.engine.read_page(g.pg, g.page, g.read_point).await {
                Ok(img) => encode(
                    Message::PageReply(crate::proto::PageReply {
                        pg: g.pg,
                        page: g.page,
                        page_lsn: img.page_lsn,
                        payload: &img.payload,
                    }),
                    id,
                ),
                Err(e) => {
                    let reason = reason_of(&e, g.pg);
                    ctx.count_refusal(&reason);
                    encode(
                        Message::Refusal(Refusal {
                            reason,
                            text: clip_text(&e.to_string()),
                        }),
                        id,
                    )
                }
            };
            let took = ctx.io.now().saturating_duration_since(started);
            ctx.handles.getpage_seconds.observe(took.as_secs_f64());
            conn.reads_in_flight.set(conn.reads_in_flight.get() - 1);
            conn.push_unordered(&frame);
            conn.reader.wake();
        }));
    }

    /// The records of a range, for gossip and repair: as many as one frame holds.
    fn fetch(&self, id: u64, f: FetchRecords) {
        if let Err(r) = self.ctx.owns(f.pg) {
            self.refuse(id, r, "another core of this node owns the PG");
            return;
        }
        let engine = &self.ctx.engine;
        let (records, scl) = match engine
            .fetch_records(f.pg, f.from, f.to, f.byte_limit as usize)
            .and_then(|r| Ok((r, engine.status(f.pg)?.scl)))
        {
            Ok(x) => x,
            Err(e) => {
                self.refuse_engine(id, f.pg, &e);
                return;
            }
        };
        let mut out = Vec::new();
        let mut enc = FetchedEncoder::new(&mut out, f.pg, scl);
        let mut more = false;
        for r in &records {
            if enc.push(&r.as_redo()).is_err() {
                more = true;
                break;
            }
        }
        // The engine stops at about `byte_limit`: records may remain after its last.
        if !more && let Some(last) = records.last() {
            more = last.lsn < f.to
                && engine
                    .fetch_records(f.pg, last.lsn, f.to, 1)
                    .is_ok_and(|r| !r.is_empty());
        }
        match enc.finish(id, more) {
            Ok(_) => self.conn.push_unordered(&out),
            Err(e) => self.refuse(id, Reason::Failed, &format!("encoding the records: {e}")),
        }
    }
}

/// Counts an acknowledged append in the metrics.
fn count_append<I: Io + 'static>(ctx: &CoreCtx<I>, started: Instant, records: u32, bytes: u64) {
    let h = &ctx.handles;
    h.append_requests.inc();
    h.records.inc_by(u64::from(records));
    h.record_bytes.inc_by(bytes);
    let took = ctx.io.now().saturating_duration_since(started);
    h.append_seconds.observe(took.as_secs_f64());
}

fn wire_ack(pg: PgId, ack: &boreal_engine::node::AppendAck) -> AppendAck {
    AppendAck {
        pg,
        epoch: ack.epoch,
        scl: ack.scl,
        accepted: ack.accepted as u32,
        duplicates: ack.duplicates as u32,
    }
}

/// The `HelloReply` frame of this core.
fn hello_reply<I: Io>(ctx: &CoreCtx<I>, version: u16, id: u64) -> Vec<u8> {
    let ports = ctx.ports.borrow();
    encode(
        Message::HelloReply(HelloReply {
            version,
            node_id: ctx.id.node_id,
            az: &ctx.id.az,
            pg_rule: PgRule::Modulo,
            core_index: ctx.id.core_index,
            ports: Seq::from_slice(&ports),
        }),
        id,
    )
}

/// One encoded frame. Encoding what the node builds from its own values cannot fail
/// but for a bug, which is a panic.
pub(crate) fn encode(msg: Message<'_>, id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = msg.encode(id, &mut out) {
        panic!(
            "the node built an answer it cannot encode ({:?}): {e}",
            msg.tag()
        );
    }
    out
}

/// Empties a record list and gives it back with another lifetime, keeping its
/// allocation (an in-place `collect` of an empty list reuses the buffer).
fn recycle<'b>(mut v: Vec<ValidRecord<'_>>) -> Vec<ValidRecord<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| -> ValidRecord<'b> { unreachable!("the list is empty") })
        .collect()
}

/// Behind an acknowledgement held back (`ack_delay_us`), turns every append that is
/// durable by now into its held acknowledgement, released the delay from now, so each
/// waits the delay from when it turned durable rather than from when the one before it
/// left (which would let one connection acknowledge only one append per delay). An
/// append that failed becomes its refusal, sent in its turn. Stops at the first append
/// still pending (its waker is registered).
fn stamp_durable<I: Io + 'static>(
    ctx: &CoreCtx<I>,
    q: &mut VecDeque<Entry>,
    cx: &mut std::task::Context<'_>,
) {
    let release = ctx.io.now().saturating_add(ctx.ack_delay.get());
    for entry in q.iter_mut().skip(1) {
        let Entry::Append {
            id,
            pg,
            pending,
            started,
            records,
            bytes,
        } = entry
        else {
            continue;
        };
        let (id, pg, started, records, bytes) = (*id, *pg, *started, *records, *bytes);
        *entry = match ctx.engine.poll_append(pending, cx) {
            Poll::Pending => return,
            Poll::Ready(Ok(ack)) => Entry::Delayed {
                frame: encode(Message::AppendAck(wire_ack(pg, &ack)), id),
                release,
                started,
                records,
                bytes,
            },
            Poll::Ready(Err(e)) => {
                let reason = reason_of(&e, pg);
                ctx.count_refusal(&reason);
                let text = e.to_string();
                Entry::Ready(encode(
                    Message::Refusal(Refusal {
                        reason,
                        text: clip_text(&text),
                    }),
                    id,
                ))
            }
        };
    }
}

/// What the writer does next.
enum Next {
    /// Send what was gathered.
    Send,
    /// Nothing to send until this time: the acknowledgement at the front is held back
    /// (`ack_delay_us`).
    Hold(Instant),
    /// The reader ended and everything is answered.
    Finished,
}

/// Sends the connection's answers: the ordered ones as they complete (oldest first),
/// the others as they come; ends once the reader ended and everything is answered, or
/// a send fails. With `ack_delay_us` set, an acknowledgement leaves no earlier than that
/// long after its append turned durable, and what is ordered behind it waits for it.
async fn write_loop<I: Io + 'static>(ctx: Rc<CoreCtx<I>>, conn: Rc<Conn>, stream: Rc<I::Stream>) {
    let mut out: Vec<u8> = Vec::with_capacity(SEND_BYTES);
    let mut sbuf = Some(DmaBuf::zeroed(SEND_BYTES));
    loop {
        let next = poll_fn(|cx| {
            let mut hold = None;
            {
                let mut q = conn.ordered.borrow_mut();
                while out.len() < SEND_BYTES {
                    let Some(entry) = q.front_mut() else { break };
                    match entry {
                        Entry::Append {
                            id,
                            pg,
                            pending,
                            started,
                            records,
                            bytes,
                        } => {
                            let polled = ctx.engine.poll_append(pending, cx);
                            let (id, pg, started, records, bytes) =
                                (*id, *pg, *started, *records, *bytes);
                            let delay = ctx.ack_delay.get();
                            let frame = match polled {
                                Poll::Pending => break,
                                Poll::Ready(Ok(ack)) if !delay.is_zero() => {
                                    // Held back: it waits at the front, in order.
                                    *entry = Entry::Delayed {
                                        frame: encode(Message::AppendAck(wire_ack(pg, &ack)), id),
                                        release: ctx.io.now().saturating_add(delay),
                                        started,
                                        records,
                                        bytes,
                                    };
                                    continue;
                                }
                                Poll::Ready(Ok(ack)) => {
                                    count_append(&ctx, started, records, bytes);
                                    Message::AppendAck(wire_ack(pg, &ack))
                                        .encode(id, &mut out)
                                        .map(|_| ())
                                }
                                Poll::Ready(Err(e)) => {
                                    let reason = reason_of(&e, pg);
                                    ctx.count_refusal(&reason);
                                    let text = e.to_string();
                                    Message::Refusal(Refusal {
                                        reason,
                                        text: clip_text(&text),
                                    })
                                    .encode(id, &mut out)
                                    .map(|_| ())
                                }
                            };
                            if let Err(e) = frame {
                                panic!("the node built an answer it cannot encode: {e}");
                            }
                            q.pop_front();
                        }
                        Entry::Ready(frame) => {
                            out.extend_from_slice(frame);
                            q.pop_front();
                        }
                        Entry::Delayed {
                            frame,
                            release,
                            started,
                            records,
                            bytes,
                        } => {
                            if ctx.io.now() < *release {
                                hold = Some(*release);
                                break;
                            }
                            count_append(&ctx, *started, *records, *bytes);
                            out.extend_from_slice(frame);
                            q.pop_front();
                        }
                    }
                }
                if hold.is_some() {
                    stamp_durable(&ctx, &mut q, cx);
                }
            }
            {
                let mut u = conn.unordered.borrow_mut();
                if !u.is_empty() {
                    out.extend_from_slice(&u);
                    u.clear();
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Next::Send);
            }
            if let Some(at) = hold {
                return Poll::Ready(Next::Hold(at));
            }
            if conn.reader_done.get()
                && conn.ordered.borrow().is_empty()
                && conn.reads_in_flight.get() == 0
            {
                return Poll::Ready(Next::Finished);
            }
            conn.writer.register(cx.waker());
            Poll::Pending
        })
        .await;
        match next {
            Next::Send => {}
            Next::Finished => return,
            Next::Hold(at) => {
                // Meanwhile every append turning durable behind the held one is stamped
                // when it does (each wake of this task polls them), so it waits its
                // own delay, not the rest of this one's too.
                let stamp = poll_fn(|cx| {
                    stamp_durable(&ctx, &mut conn.ordered.borrow_mut(), cx);
                    Poll::<()>::Pending
                });
                either(ctx.io.sleep_until(at), stamp).await;
                continue;
            }
        }
        // Answers were taken off the queue: the reader may read again.
        conn.reader.wake();
        if conn.dead.get() {
            out.clear();
            continue;
        }
        let mut sent = 0;
        while sent < out.len() {
            let mut buf = sbuf.take().expect("the send buffer is back");
            buf.clear();
            let n = (out.len() - sent).min(buf.capacity());
            buf.extend_from_slice(&out[sent..sent + n]);
            let (r, back) = ctx.io.send(&stream, buf).await;
            sbuf = Some(back);
            match r {
                Ok(0) | Err(_) => {
                    conn.dead.set(true);
                    conn.reader.wake();
                    break;
                }
                Ok(k) => sent += k,
            }
        }
        out.clear();
    }
}
