//! The simulated network: TCP-like streams between nodes, listeners, partitions.
//!
//! Owns every listener and connection of the world (their buffered bytes, FINs, resets
//! and wakers) and the set of blocked links. Addresses exist only here: node `n` has
//! the IPv4 address `127.1.0.1 + n` ([`node_ip`]), in the loopback range so that even a
//! leaked address could never name another machine; `127.0.0.1` and `0.0.0.0` mean
//! "this node". Nothing here opens a real socket.
//!
//! Model, and what it deliberately does not do:
//! - A stream is two one-way byte queues. Bytes of one direction arrive in order and
//!   never duplicate (TCP): each segment gets `arrive = max(now + delay, previous
//!   arrive)`, so jitter shows up as bunching, never reordering. Duplication and
//!   reordering exist only below TCP, so there is no datagram layer to apply them to.
//! - Loss: TCP does not lose bytes silently; it retransmits, and if that keeps failing
//!   the connection is reset. So loss is modelled as a reset (`stream_reset_probability`
//!   per send), which both ends see as `ECONNRESET`, at once (the simulator does not
//!   model the retransmission time a real reset would take to notice).
//! - Partitions are per direction (`from -> to`; symmetric = both). A blocked link
//!   holds bytes and FINs in flight (retransmission), delivers them after healing, and
//!   resets every stream between the two nodes if it stands for longer than
//!   `partition_reset_after_ns`. A SYN over a blocked link makes `connect` time out.
//! - A crashed node's streams reset at once on both ends, its listeners vanish, and
//!   later connects to it time out (a dead host sends no RST) or, once it restarted
//!   without a listener, are refused.
//! - `send` returns as soon as the bytes are in the (bounded) buffer; it waits when the
//!   direction already buffers `stream_buffer_bytes`, and may be short at random.
//!   Sending after the peer closed its end fails with `EPIPE` (Linux would accept one
//!   more send and reset; the simulator fails earlier, which no correct caller can
//!   tell from a reset).
//!
//! Invariants: a connection is removed only when both of its ends are closed; a
//! connection, once reset, never delivers another byte; `buffered` equals the bytes
//! queued in its direction.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::task::{Context, Poll, Waker};

use super::disk::errno;
use super::trace::TraceOp;
use super::world::{Event, World};
use crate::io::Instant;

const NODE_IP_BASE: u32 = u32::from_be_bytes([127, 1, 0, 1]);
const EPHEMERAL_PORT_FIRST: u16 = 32768;
const EPHEMERAL_PORT_LAST: u16 = 60999;

/// The simulated IPv4 address of `node`.
pub fn node_ip(node: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(NODE_IP_BASE + node))
}

struct Listener {
    node: u32,
    addr: SocketAddr,
    backlog: VecDeque<(u64, SocketAddr)>,
    waker: Option<Waker>,
    /// The node crashed: `accept` fails; the handle is still to be dropped.
    dead: bool,
}

/// Bytes flowing into one end of a connection.
#[derive(Default)]
struct Half {
    segments: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes of the front segment already received.
    head_offset: usize,
    buffered: usize,
    /// The peer closed: end of stream once the queue drains and this time is reached.
    fin_at: Option<Instant>,
    last_arrive: Instant,
    recv_waker: Option<Waker>,
    /// The peer's `send`, waiting for room in this half.
    send_waker: Option<Waker>,
}

struct Conn {
    node: [u32; 2],
    addr: [SocketAddr; 2],
    /// `half[side]`: the bytes flowing into `side`.
    half: [Half; 2],
    reset: bool,
    closed: [bool; 2],
}

#[derive(Default)]
pub(crate) struct Net {
    listeners: BTreeMap<(u32, u16), u64>,
    listener_state: BTreeMap<u64, Listener>,
    conns: BTreeMap<u64, Conn>,
    /// Blocked `from -> to` links, with the partition epoch that blocked them.
    blocked: BTreeMap<(u32, u32), u64>,
    partition_epoch: u64,
    next_port: BTreeMap<u32, u16>,
}

fn peer(side: usize) -> usize {
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
        if !self.node(node).alive {
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
            self.conn_reset(conn);
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

    // ---- connections ---------------------------------------------------------------

    /// The SYN reached `to`: if a listener is there, queue a new connection on it and
    /// return its id (the client is side 0). `Err(ECONNREFUSED)` otherwise.
    pub(crate) fn conn_open(
        &mut self,
        from: u32,
        to: u32,
        port: u16,
    ) -> io::Result<(u64, SocketAddr)> {
        let Some(&lid) = self.net.listeners.get(&(to, port)) else {
            return Err(errno(libc::ECONNREFUSED));
        };
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
                reset: false,
                closed: [false, false],
            },
        );
        let l = self
            .net
            .listener_state
            .get_mut(&lid)
            .expect("listener map and state agree");
        l.backlog.push_back((id, client));
        if let Some(w) = l.waker.take() {
            self.wake_later.push(w);
        }
        self.trace.event(
            TraceOp::Connect,
            &[u64::from(from), u64::from(to), u64::from(port), id],
        );
        Ok((id, client))
    }

    pub(crate) fn conn_is_reset(&self, conn: u64) -> bool {
        self.net.conns.get(&conn).is_none_or(|c| c.reset)
    }

    pub(crate) fn conn_addr(&self, conn: u64, side: usize) -> Option<SocketAddr> {
        self.net.conns.get(&conn).map(|c| c.addr[side])
    }

    pub(crate) fn conn_reset(&mut self, conn: u64) {
        let now = self.now().as_nanos();
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        if c.reset {
            return;
        }
        c.reset = true;
        for h in &mut c.half {
            h.segments.clear();
            h.head_offset = 0;
            h.buffered = 0;
            self.wake_later.extend(h.recv_waker.take());
            self.wake_later.extend(h.send_waker.take());
        }
        self.trace.event(TraceOp::Reset, &[conn, now]);
    }

    /// One end's handle was dropped: send a FIN behind the bytes in flight.
    pub(crate) fn close_side(&mut self, conn: u64, side: usize) {
        let now = self.now();
        let delay = {
            let lat = self.config.net.delay;
            self.sample(lat)
        };
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        if c.closed[side] {
            return;
        }
        c.closed[side] = true;
        let p = peer(side);
        // Nothing more will be read on this side: a sender waiting for room must learn.
        self.wake_later.extend(c.half[side].send_waker.take());
        let both = c.closed[p];
        let mut arrive = None;
        if !c.reset && !both {
            let h = &mut c.half[p];
            let at = Instant::from_nanos(now.as_nanos().saturating_add(delay)).max(h.last_arrive);
            h.fin_at = Some(at);
            h.last_arrive = at;
            arrive = Some(at);
        }
        self.trace
            .event(TraceOp::Close, &[conn, side as u64, now.as_nanos()]);
        if both {
            self.net.conns.remove(&conn);
        } else if let Some(at) = arrive {
            self.schedule(at, Event::NetArrive { conn, side: p });
        }
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
        let faults = self.config.faults;
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return Poll::Ready(Err(errno(libc::ECONNRESET)));
        };
        if c.reset {
            return Poll::Ready(Err(errno(libc::ECONNRESET)));
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
        if self.rng.chance(faults.stream_reset_probability) {
            self.trace.event(TraceOp::Fault, &[conn, 1]);
            self.conn_reset(conn);
            return Poll::Ready(Err(errno(libc::ECONNRESET)));
        }
        let mut n = data.len().min(room);
        if n > 1 && self.rng.chance(faults.short_send_probability) {
            n = self.rng.range_inclusive(1, n as u64 - 1) as usize;
        }
        let delay = {
            let lat = self.config.net.delay;
            self.sample(lat)
        };
        let c = self.net.conns.get_mut(&conn).expect("checked above");
        let h = &mut c.half[p];
        let at = Instant::from_nanos(now.as_nanos().saturating_add(delay)).max(h.last_arrive);
        h.last_arrive = at;
        h.segments.push_back((at, data[..n].to_vec()));
        h.buffered += n;
        self.trace.event(
            TraceOp::Send,
            &[conn, side as u64, n as u64, now.as_nanos(), at.as_nanos()],
        );
        self.schedule(at, Event::NetArrive { conn, side: p });
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
        if c.reset {
            return Poll::Ready(Err(errno(libc::ECONNRESET)));
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

    // ---- partitions ----------------------------------------------------------------

    /// Blocks `from -> to` (one way).
    pub(crate) fn partition(&mut self, from: u32, to: u32) {
        if from == to || self.net.blocked.contains_key(&(from, to)) {
            return;
        }
        self.net.partition_epoch += 1;
        let epoch = self.net.partition_epoch;
        self.net.blocked.insert((from, to), epoch);
        let at = Instant::from_nanos(
            self.now()
                .as_nanos()
                .saturating_add(self.config.net.partition_reset_after_ns),
        );
        self.schedule(at, Event::PartitionTimeout { from, to, epoch });
        self.trace.event(
            TraceOp::Partition,
            &[u64::from(from), u64::from(to), self.now().as_nanos()],
        );
    }

    /// Unblocks `from -> to`; bytes held in flight arrive now.
    pub(crate) fn heal(&mut self, from: u32, to: u32) {
        if self.net.blocked.remove(&(from, to)).is_none() {
            return;
        }
        self.trace.event(
            TraceOp::Heal,
            &[u64::from(from), u64::from(to), self.now().as_nanos()],
        );
        for c in self.net.conns.values_mut() {
            for side in 0..2 {
                if c.node[peer(side)] == from && c.node[side] == to {
                    self.wake_later.extend(c.half[side].recv_waker.take());
                }
            }
        }
    }

    pub(crate) fn heal_all(&mut self) {
        let links: Vec<(u32, u32)> = self.net.blocked.keys().copied().collect();
        for (from, to) in links {
            self.heal(from, to);
        }
    }

    pub(crate) fn blocked_links(&self) -> Vec<(u32, u32)> {
        self.net.blocked.keys().copied().collect()
    }

    pub(crate) fn partition_timeout(&mut self, from: u32, to: u32, epoch: u64) {
        if self.net.blocked.get(&(from, to)) != Some(&epoch) {
            return;
        }
        let victims: Vec<u64> = self
            .net
            .conns
            .iter()
            .filter(|(_, c)| !c.reset && (c.node == [from, to] || c.node == [to, from]))
            .map(|(&id, _)| id)
            .collect();
        for id in victims {
            self.conn_reset(id);
        }
    }

    /// Resets every stream of `node`, in both directions.
    pub(crate) fn reset_node_streams(&mut self, node: u32) {
        let victims: Vec<u64> = self
            .net
            .conns
            .iter()
            .filter(|(_, c)| c.node.contains(&node))
            .map(|(&id, _)| id)
            .collect();
        for id in victims {
            self.conn_reset(id);
        }
    }

    pub(crate) fn net_crash_node(&mut self, node: u32) {
        self.reset_node_streams(node);
        let dead: Vec<u64> = self
            .net
            .listener_state
            .iter()
            .filter(|(_, l)| l.node == node)
            .map(|(&id, _)| id)
            .collect();
        for id in dead {
            let l = self.net.listener_state.get_mut(&id).expect("listed above");
            l.dead = true;
            let port = l.addr.port();
            let backlog = std::mem::take(&mut l.backlog);
            self.wake_later.extend(l.waker.take());
            self.net.listeners.remove(&(node, port));
            for (conn, _) in backlog {
                self.close_side(conn, 1);
            }
        }
    }
}
