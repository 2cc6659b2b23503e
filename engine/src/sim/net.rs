//! The simulated network: TCP-like streams between nodes, listeners, the handshake.
//! What goes wrong with them (partitions, slow links, retransmission timeouts, crashed
//! and killed peers) is in `net_faults.rs`.
//!
//! Owns every listener and connection of the world (their buffered bytes, FINs, resets
//! and wakers). Addresses exist only here: node `n` has the IPv4 address
//! `127.1.0.1 + n` ([`node_ip`]), in the loopback range so that even a leaked address
//! could never name another machine; `127.0.0.1` and `0.0.0.0` mean "this node".
//! Nothing here opens a real socket.
//!
//! Model, and what it deliberately does not do:
//! - A stream is two one-way byte queues. Bytes of one direction arrive in order and
//!   never duplicate (TCP): each segment gets `arrive = max(now + delay, previous
//!   arrive)`, so jitter shows up as bunching, never reordering. Duplication and
//!   reordering exist only below TCP, so there is no datagram layer to apply them to.
//! - Every delay is drawn from the sending node's own net stream, scaled by the link's
//!   [`LinkConfig`](super::LinkConfig).
//! - Loss: TCP does not lose bytes silently; it retransmits, and if that keeps failing
//!   the connection is reset. So loss is modelled as a reset (`stream_reset_probability`
//!   per send), which both ends see as `ECONNRESET`, at once.
//! - The handshake: the SYN needs the link client → server, a live server machine and
//!   a listener (else `ECONNREFUSED` once the reset gets back); the SYN-ACK needs the
//!   link server → client. A lost SYN or SYN-ACK makes `connect` time out
//!   (`ETIMEDOUT` after `connect_timeout_ns`), and the server never accepts that
//!   connection: it is queued on the listener only once the SYN-ACK got through.
//! - `send` returns as soon as the bytes are in the (bounded) buffer; it waits when the
//!   direction already buffers `stream_buffer_bytes`, and may be short at random.
//!   Sending after the peer closed its end fails with `EPIPE` (Linux would accept one
//!   more send and reset; the simulator fails earlier, which no correct caller can
//!   tell from a reset).
//!
//! Invariants: a connection is removed only when both of its ends are gone (closed, or
//! dead with their host); a connection, once reset, never delivers another byte;
//! `buffered` equals the bytes queued in its direction; a handle of a process that
//! died (crash or kill) is a closed descriptor (`EBADF`) and closing it sends nothing.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::task::{Context, Poll, Waker};

use super::config::LinkConfig;
use super::disk::errno;
use super::trace::{TraceOp, bytes_word};
use super::world::{Event, World, sample};
use crate::io::Instant;

const NODE_IP_BASE: u32 = u32::from_be_bytes([127, 1, 0, 1]);
const EPHEMERAL_PORT_FIRST: u16 = 32768;
const EPHEMERAL_PORT_LAST: u16 = 60999;

/// The simulated IPv4 address of `node`.
pub fn node_ip(node: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(NODE_IP_BASE + node))
}

pub(super) struct Listener {
    pub(super) node: u32,
    pub(super) addr: SocketAddr,
    pub(super) backlog: VecDeque<(u64, SocketAddr)>,
    pub(super) waker: Option<Waker>,
    /// The process died: `accept` fails; the handle is still to be dropped.
    pub(super) dead: bool,
}

/// Bytes flowing into one end of a connection.
#[derive(Default)]
pub(super) struct Half {
    pub(super) segments: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes of the front segment already received.
    pub(super) head_offset: usize,
    pub(super) buffered: usize,
    /// The peer closed: end of stream once the queue drains and this time is reached.
    pub(super) fin_at: Option<Instant>,
    pub(super) last_arrive: Instant,
    pub(super) recv_waker: Option<Waker>,
    /// The peer's `send`, waiting for room in this half.
    pub(super) send_waker: Option<Waker>,
}

pub(super) struct Conn {
    pub(super) node: [u32; 2],
    pub(super) addr: [SocketAddr; 2],
    /// `half[side]`: the bytes flowing into `side`.
    pub(super) half: [Half; 2],
    /// The errno both ends see once the connection was reset or timed out.
    pub(super) reset: Option<i32>,
    pub(super) closed: [bool; 2],
    /// `side`'s host lost power: its end vanished without a FIN or a reset, and the
    /// other end does not know (a half-open connection).
    pub(super) dead: [bool; 2],
    /// The SYN-ACK got through and the server end is queued on its listener.
    pub(super) established: bool,
    /// The armed retransmission timer (stale `ConnTimeout` events carry another id).
    pub(super) timer: Option<u64>,
    /// A `PeerRst` probe is scheduled.
    pub(super) probing: bool,
}

impl Conn {
    pub(super) fn gone(&self, side: usize) -> bool {
        self.closed[side] || self.dead[side]
    }
}

#[derive(Default)]
pub(crate) struct Net {
    pub(super) listeners: BTreeMap<(u32, u16), u64>,
    pub(super) listener_state: BTreeMap<u64, Listener>,
    pub(super) conns: BTreeMap<u64, Conn>,
    /// Blocked `from -> to` links.
    pub(super) blocked: BTreeMap<(u32, u32), ()>,
    /// Slow or clogged `from -> to` links (absent: default).
    pub(super) links: BTreeMap<(u32, u32), LinkConfig>,
    next_port: BTreeMap<u32, u16>,
}

pub(super) fn peer(side: usize) -> usize {
    1 - side
}

impl World {
    /// The node an address names, seen from `from`; `None` for an unknown host.
    pub(crate) fn resolve(&self, from: u32, ip: IpAddr) -> Option<u32> {
        if let IpAddr::V4(v4) = ip
            && let Some(n) = u32::from(v4).checked_sub(NODE_IP_BASE)
            && (n as usize) < self.nodes.len()
        {
            return Some(n);
        }
        // Node addresses sit inside 127/8; any other loopback address means "this node".
        (ip.is_loopback() || ip.is_unspecified()).then_some(from)
    }

    pub(crate) fn link_open(&self, from: u32, to: u32) -> bool {
        from == to || !self.net.blocked.contains_key(&(from, to))
    }

    /// One delay of the link `from -> to`, drawn from `from`'s net stream.
    pub(crate) fn net_delay(&mut self, from: u32, to: u32) -> u64 {
        let lat = self.config.net.delay;
        let d = sample(&mut self.node_mut(from).net_rng, lat);
        match self.net.links.get(&(from, to)) {
            Some(l) if from != to => {
                ((d as f64 * l.delay_factor) as u64).saturating_add(l.extra_delay_ns)
            }
            _ => d,
        }
    }

    /// `now` plus one delay of `from -> to`.
    pub(crate) fn net_after(&mut self, from: u32, to: u32) -> Instant {
        let d = self.net_delay(from, to);
        Instant::from_nanos(self.now().as_nanos().saturating_add(d))
    }

    fn ephemeral_port(&mut self, node: u32) -> u16 {
        for _ in EPHEMERAL_PORT_FIRST..=EPHEMERAL_PORT_LAST {
            let p = self
                .net
                .next_port
                .entry(node)
                .or_insert(EPHEMERAL_PORT_FIRST);
            let port = *p;
            *p = if port == EPHEMERAL_PORT_LAST {
                EPHEMERAL_PORT_FIRST
            } else {
                port + 1
            };
            if !self.net.listeners.contains_key(&(node, port)) {
                return port;
            }
        }
        panic!("node {node} ran out of ephemeral ports");
    }

    // ---- listeners -----------------------------------------------------------------

    pub(crate) fn net_bind(&mut self, node: u32, addr: SocketAddr) -> io::Result<u64> {
        if !self.node(node).is_up() {
            return Err(errno(libc::ENETDOWN));
        }
        if self.resolve(node, addr.ip()) != Some(node) {
            return Err(errno(libc::EADDRNOTAVAIL));
        }
        let port = if addr.port() == 0 {
            self.ephemeral_port(node)
        } else {
            addr.port()
        };
        if self.net.listeners.contains_key(&(node, port)) {
            return Err(errno(libc::EADDRINUSE));
        }
        let id = self.next_id();
        let addr = SocketAddr::new(addr.ip(), port);
        self.net.listeners.insert((node, port), id);
        self.net.listener_state.insert(
            id,
            Listener {
                node,
                addr,
                backlog: VecDeque::new(),
                waker: None,
                dead: false,
            },
        );
        self.trace.event(
            TraceOp::Bind,
            &[u64::from(node), u64::from(port), self.now().as_nanos()],
        );
        Ok(id)
    }

    pub(crate) fn listener_addr(&self, id: u64) -> io::Result<SocketAddr> {
        self.net
            .listener_state
            .get(&id)
            .map(|l| l.addr)
            .ok_or_else(|| errno(libc::EBADF))
    }

    pub(crate) fn listener_close(&mut self, id: u64) {
        let Some(l) = self.net.listener_state.remove(&id) else {
            return;
        };
        if self.net.listeners.get(&(l.node, l.addr.port())) == Some(&id) {
            self.net.listeners.remove(&(l.node, l.addr.port()));
        }
        // Connections nobody accepted: the client sees a reset; the accept side's end
        // never existed, so it counts as closed.
        for (conn, _) in l.backlog {
            self.conn_reset(conn, libc::ECONNRESET);
            self.close_side(conn, 1);
        }
    }

    pub(crate) fn poll_accept(
        &mut self,
        id: u64,
        cx: &Context<'_>,
    ) -> Poll<io::Result<(u64, SocketAddr)>> {
        let now = self.now().as_nanos();
        let Some(l) = self.net.listener_state.get_mut(&id) else {
            return Poll::Ready(Err(errno(libc::EBADF)));
        };
        if l.dead {
            return Poll::Ready(Err(errno(libc::ECONNABORTED)));
        }
        match l.backlog.pop_front() {
            Some((conn, from)) => {
                self.trace.event(TraceOp::Accept, &[conn, now]);
                Poll::Ready(Ok((conn, from)))
            }
            None => {
                l.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    // ---- the handshake -------------------------------------------------------------

    /// Whether `to` has a listener on `port`.
    pub(crate) fn listening(&self, to: u32, port: u16) -> bool {
        self.net.listeners.contains_key(&(to, port))
    }

    /// The SYN reached `to`, which listens on `port`: a connection, not yet
    /// established (the client is side 0).
    pub(crate) fn conn_open(&mut self, from: u32, to: u32, port: u16) -> u64 {
        let local_port = self.ephemeral_port(from);
        let client = SocketAddr::new(node_ip(from), local_port);
        let server = SocketAddr::new(node_ip(to), port);
        let id = self.next_id();
        self.net.conns.insert(
            id,
            Conn {
                node: [from, to],
                addr: [client, server],
                half: [Half::default(), Half::default()],
                reset: None,
                closed: [false, false],
                dead: [false, false],
                established: false,
                timer: None,
                probing: false,
            },
        );
        self.trace.event(
            TraceOp::Connect,
            &[u64::from(from), u64::from(to), u64::from(port), id],
        );
        id
    }

    /// The SYN-ACK of `conn` reached the client: queue the server end on its listener.
    /// `Err(ECONNREFUSED)` if the listener is gone (the server reset the connection),
    /// `Err(ECONNRESET)` if the connection was reset meanwhile.
    pub(crate) fn conn_establish(&mut self, conn: u64) -> io::Result<()> {
        let Some(c) = self.net.conns.get(&conn) else {
            return Err(errno(libc::ECONNRESET));
        };
        if let Some(e) = c.reset {
            return Err(errno(e));
        }
        let (to, port, client) = (c.node[1], c.addr[1].port(), c.addr[0]);
        let Some(&lid) = self.net.listeners.get(&(to, port)) else {
            self.net.conns.remove(&conn);
            return Err(errno(libc::ECONNREFUSED));
        };
        let l = self
            .net
            .listener_state
            .get_mut(&lid)
            .expect("listener map and state agree");
        l.backlog.push_back((conn, client));
        if let Some(w) = l.waker.take() {
            self.wake_later.push(w);
        }
        if let Some(c) = self.net.conns.get_mut(&conn) {
            c.established = true;
        }
        Ok(())
    }

    /// A handshake that will not complete (lost SYN-ACK): the server forgets it.
    pub(crate) fn conn_abandon(&mut self, conn: u64) {
        if self.net.conns.get(&conn).is_some_and(|c| !c.established) {
            self.net.conns.remove(&conn);
        }
    }

    // ---- streams -------------------------------------------------------------------

    pub(crate) fn conn_addr(&self, conn: u64, side: usize) -> Option<SocketAddr> {
        self.net.conns.get(&conn).map(|c| c.addr[side])
    }

    /// Resets `conn`: both ends see `code` from now on, and nothing more arrives.
    pub(crate) fn conn_reset(&mut self, conn: u64, code: i32) {
        let now = self.now().as_nanos();
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        if c.reset.is_some() {
            return;
        }
        c.reset = Some(code);
        c.timer = None;
        for h in &mut c.half {
            h.segments.clear();
            h.head_offset = 0;
            h.buffered = 0;
            self.wake_later.extend(h.recv_waker.take());
            self.wake_later.extend(h.send_waker.take());
        }
        self.trace.event(TraceOp::Reset, &[conn, code as u64, now]);
        if c.gone(0) && c.gone(1) {
            self.net.conns.remove(&conn);
        }
    }

    /// One end's handle was dropped (or its process died): send a FIN behind the bytes
    /// in flight. Nothing for an end that is already gone.
    pub(crate) fn close_side(&mut self, conn: u64, side: usize) {
        let now = self.now();
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        if c.gone(side) {
            return;
        }
        c.closed[side] = true;
        let p = peer(side);
        // Nothing more will be read on this side: a sender waiting for room must learn.
        self.wake_later.extend(c.half[side].send_waker.take());
        self.trace
            .event(TraceOp::Close, &[conn, side as u64, now.as_nanos()]);
        if !c.established || (c.gone(0) && c.gone(1)) {
            // A handshake the server never saw ends here; so does a stream both of
            // whose ends are gone.
            self.net.conns.remove(&conn);
            return;
        }
        if c.reset.is_some() || c.dead[p] {
            return;
        }
        let (from, to) = (c.node[side], c.node[p]);
        let delay = self.net_delay(from, to);
        let c = self.net.conns.get_mut(&conn).expect("checked above");
        let h = &mut c.half[p];
        let at = Instant::from_nanos(now.as_nanos().saturating_add(delay)).max(h.last_arrive);
        h.fin_at = Some(at);
        h.last_arrive = at;
        self.schedule(at, Event::NetArrive { conn, side: p });
    }

    pub(crate) fn poll_send(
        &mut self,
        conn: u64,
        side: usize,
        data: &[u8],
        cx: &Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let now = self.now();
        let max = self.config.net.stream_buffer_bytes;
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return Poll::Ready(Err(errno(libc::ECONNRESET)));
        };
        if let Some(e) = c.reset {
            return Poll::Ready(Err(errno(e)));
        }
        let p = peer(side);
        if c.closed[p] {
            return Poll::Ready(Err(errno(libc::EPIPE)));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = max.saturating_sub(c.half[p].buffered);
        if room == 0 {
            c.half[p].send_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let (from, to) = (c.node[side], c.node[p]);
        let faults = self.node(from).config.faults;
        if self
            .node_mut(from)
            .net_rng
            .chance(faults.stream_reset_probability)
        {
            self.trace.event(TraceOp::Fault, &[conn, 1]);
            self.conn_reset(conn, libc::ECONNRESET);
            return Poll::Ready(Err(errno(libc::ECONNRESET)));
        }
        let mut n = data.len().min(room);
        let rng = &mut self.node_mut(from).net_rng;
        if n > 1 && rng.chance(faults.short_send_probability) {
            n = rng.range_inclusive(1, n as u64 - 1) as usize;
        }
        let delay = self.net_delay(from, to);
        let c = self.net.conns.get_mut(&conn).expect("checked above");
        let h = &mut c.half[p];
        let at = Instant::from_nanos(now.as_nanos().saturating_add(delay)).max(h.last_arrive);
        h.last_arrive = at;
        h.segments.push_back((at, data[..n].to_vec()));
        h.buffered += n;
        self.trace.event(
            TraceOp::Send,
            &[
                conn,
                side as u64,
                n as u64,
                bytes_word(&data[..n]),
                now.as_nanos(),
                at.as_nanos(),
            ],
        );
        self.schedule(at, Event::NetArrive { conn, side: p });
        self.sent_unacknowledged(conn, side);
        Poll::Ready(Ok(n))
    }

    pub(crate) fn poll_recv(
        &mut self,
        conn: u64,
        side: usize,
        out: &mut [u8],
        cx: &Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let now = self.now();
        let Some(c) = self.net.conns.get(&conn) else {
            return Poll::Ready(Err(errno(libc::ECONNRESET)));
        };
        if let Some(e) = c.reset {
            return Poll::Ready(Err(errno(e)));
        }
        let open = self.link_open(c.node[peer(side)], c.node[side]);
        let c = self.net.conns.get_mut(&conn).expect("checked above");
        let h = &mut c.half[side];
        let mut n = 0;
        while open && n < out.len() {
            let Some((at, seg)) = h.segments.front() else {
                break;
            };
            if *at > now {
                break;
            }
            let take = (seg.len() - h.head_offset).min(out.len() - n);
            out[n..n + take].copy_from_slice(&seg[h.head_offset..h.head_offset + take]);
            n += take;
            h.head_offset += take;
            if h.head_offset == seg.len() {
                h.segments.pop_front();
                h.head_offset = 0;
            }
        }
        if n > 0 {
            h.buffered -= n;
            // Room again in this direction: the peer's waiting send may go on.
            self.wake_later.extend(c.half[side].send_waker.take());
            self.trace.event(
                TraceOp::Recv,
                &[conn, side as u64, n as u64, now.as_nanos()],
            );
            return Poll::Ready(Ok(n));
        }
        if open && h.segments.is_empty() && h.fin_at.is_some_and(|at| at <= now) {
            self.trace
                .event(TraceOp::Recv, &[conn, side as u64, 0, now.as_nanos()]);
            return Poll::Ready(Ok(0));
        }
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        h.recv_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(crate) fn net_arrive(&mut self, conn: u64, side: usize) {
        if let Some(c) = self.net.conns.get_mut(&conn) {
            self.wake_later.extend(c.half[side].recv_waker.take());
        }
    }
}
