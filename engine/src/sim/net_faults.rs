//! What goes wrong with the simulated network: partitions, slow and clogged links,
//! TCP's retransmission timeout per connection, and what a peer's crash or process
//! kill does to the connections it had.
//!
//! Owns no state of its own (the blocked links, link configs and per-connection timers
//! live in `net.rs`'s `Net` and `Conn`); it is the rules:
//! - Partitions are per direction (`from -> to`; symmetric = both). A blocked link
//!   holds bytes and FINs in flight (retransmission) and delivers them after healing.
//!   A connection with bytes in flight across a blocked link, or whose acknowledgements
//!   cannot come back, is reset (`ECONNRESET`, both ends) `partition_reset_after_ns`
//!   after its bytes were first held, if the partition still stands then. The timer is
//!   the connection's own (TCP's retransmission timeout), armed by its first held
//!   send; an idle connection survives any partition (TCP without keepalive).
//! - A crashed machine's connections are half-open: its end vanishes (no FIN, no
//!   reset: the host is dark) and the surviving end does not know. Its sends go into
//!   the void (they fill the buffer, then wait), its receives wait for ever (for the
//!   caller's own timeout); bytes sent that are never acknowledged fail the connection
//!   with `ETIMEDOUT` after `partition_reset_after_ns`. Once the peer machine is back
//!   up, the next segment that reaches it (a retransmission, or the next send) draws a
//!   reset: the survivor sees `ECONNRESET`.
//! - A killed process's kernel lives on: it closes the process's sockets (a FIN, or a
//!   reset where unread bytes were waiting), drops its listeners (later connects are
//!   refused), and the peers learn at once.
//! - A slow or clogged link multiplies its delays and adds a constant
//!   ([`LinkConfig`]); a stream's bytes still never overtake each other.

use super::config::LinkConfig;
use super::net::peer;
use super::trace::TraceOp;
use super::world::{Event, World};
use crate::io::Instant;

/// How often a survivor retransmits to a restarted peer across a partition, ns.
const RETRANSMIT_INTERVAL_NS: u64 = 200_000_000;

impl World {
    // ---- partitions and links --------------------------------------------------------

    /// Blocks `from -> to` (one way).
    pub(crate) fn partition(&mut self, from: u32, to: u32) {
        if from == to || self.net.blocked.contains_key(&(from, to)) {
            return;
        }
        self.net.blocked.insert((from, to), ());
        self.trace.event(
            TraceOp::Partition,
            &[u64::from(from), u64::from(to), self.now().as_nanos()],
        );
        // Connections with bytes in flight between the two start retransmitting.
        let held: Vec<u64> = self
            .net
            .conns
            .iter()
            .filter(|(_, c)| {
                c.reset.is_none()
                    && (c.node == [from, to] || c.node == [to, from])
                    && c.half.iter().any(|h| h.buffered > 0)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in held {
            self.arm_conn_timer(id);
        }
    }

    /// Unblocks `from -> to`; bytes held in flight arrive now. Connections between the
    /// two whose links are all open again stop their retransmission timers.
    pub(crate) fn heal(&mut self, from: u32, to: u32) {
        if self.net.blocked.remove(&(from, to)).is_none() {
            return;
        }
        self.trace.event(
            TraceOp::Heal,
            &[u64::from(from), u64::from(to), self.now().as_nanos()],
        );
        let both_open = self.link_open(to, from);
        for c in self.net.conns.values_mut() {
            for side in 0..2 {
                if c.node[peer(side)] == from && c.node[side] == to {
                    self.wake_later.extend(c.half[side].recv_waker.take());
                    if both_open && !c.dead.iter().any(|&d| d) {
                        c.timer = None;
                    }
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

    /// Sets the link `from -> to` (the default config restores a normal link).
    pub(crate) fn set_link(&mut self, from: u32, to: u32, link: LinkConfig) {
        if let Err(e) = link.validate() {
            panic!("link {from} -> {to}: {e}");
        }
        self.trace.event(
            TraceOp::Link,
            &[
                u64::from(from),
                u64::from(to),
                link.delay_factor.to_bits(),
                link.extra_delay_ns,
            ],
        );
        if link == LinkConfig::default() {
            self.net.links.remove(&(from, to));
        } else {
            self.net.links.insert((from, to), link);
        }
    }

    pub(crate) fn link(&self, from: u32, to: u32) -> LinkConfig {
        self.net.links.get(&(from, to)).copied().unwrap_or_default()
    }

    pub(crate) fn reset_links(&mut self) {
        self.net.links.clear();
    }

    // ---- retransmission ------------------------------------------------------------

    fn arm_conn_timer(&mut self, conn: u64) {
        let after = self.config.net.partition_reset_after_ns;
        let id = self.next_id();
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        if c.timer.is_some() || c.reset.is_some() {
            return;
        }
        c.timer = Some(id);
        let at = Instant::from_nanos(self.now().as_nanos().saturating_add(after));
        self.schedule(at, Event::ConnTimeout { conn, timer: id });
    }

    /// `side` sent bytes on `conn`: if nothing can acknowledge them (a blocked link
    /// either way, a dead peer), TCP starts retransmitting; a dead peer that is back up
    /// will answer with a reset.
    pub(crate) fn sent_unacknowledged(&mut self, conn: u64, side: usize) {
        let Some(c) = self.net.conns.get(&conn) else {
            return;
        };
        let (me, them) = (c.node[side], c.node[peer(side)]);
        let dead_peer = c.dead[peer(side)];
        let probing = c.probing;
        if dead_peer || !self.link_open(me, them) || !self.link_open(them, me) {
            self.arm_conn_timer(conn);
        }
        if dead_peer && !probing && self.node(them).kernel_up() {
            self.probe_peer(conn, side);
        }
    }

    /// Schedules the moment a segment of `side` reaches its restarted peer (one delay
    /// there, one back for the reset).
    fn probe_peer(&mut self, conn: u64, side: usize) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        c.probing = true;
        let (me, them) = (c.node[side], c.node[peer(side)]);
        let there = self.net_delay(me, them);
        let back = self.net_delay(them, me);
        let at = Instant::from_nanos(
            self.now()
                .as_nanos()
                .saturating_add(there)
                .saturating_add(back),
        );
        self.schedule(at, Event::PeerRst { conn });
    }

    pub(crate) fn conn_timeout(&mut self, conn: u64, timer: u64) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        if c.timer != Some(timer) || c.reset.is_some() {
            return;
        }
        c.timer = None;
        if let Some(d) = (0..2).find(|&s| c.dead[s]) {
            // Half-open: bytes the dead peer never acknowledged.
            if c.half[d].buffered > 0 {
                self.conn_reset(conn, libc::ETIMEDOUT);
            }
            return;
        }
        let [a, b] = c.node;
        if !self.link_open(a, b) || !self.link_open(b, a) {
            self.conn_reset(conn, libc::ECONNRESET);
        }
    }

    pub(crate) fn peer_rst(&mut self, conn: u64) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        c.probing = false;
        if c.reset.is_some() {
            return;
        }
        let Some(d) = (0..2).find(|&s| c.dead[s]) else {
            return;
        };
        let (them, me) = (c.node[d], c.node[peer(d)]);
        if !self.node(them).kernel_up() {
            // Down again: its next boot probes anew.
            return;
        }
        if self.link_open(me, them) && self.link_open(them, me) {
            self.conn_reset(conn, libc::ECONNRESET);
        } else {
            let at =
                Instant::from_nanos(self.now().as_nanos().saturating_add(RETRANSMIT_INTERVAL_NS));
            if let Some(c) = self.net.conns.get_mut(&conn) {
                c.probing = true;
            }
            self.schedule(at, Event::PeerRst { conn });
        }
    }

    // ---- nodes going down and up ---------------------------------------------------

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
            self.conn_reset(id, libc::ECONNRESET);
        }
    }

    fn listeners_of(&self, node: u32) -> Vec<u64> {
        self.net
            .listener_state
            .iter()
            .filter(|(_, l)| l.node == node)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Power loss of `node`: see the module docs (half-open connections).
    pub(crate) fn net_crash_node(&mut self, node: u32) {
        let now = self.now();
        let ids: Vec<u64> = self
            .net
            .conns
            .iter()
            .filter(|(_, c)| c.node.contains(&node))
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let c = self.net.conns.get_mut(&id).expect("listed above");
            if c.node == [node, node] || !c.established {
                // Both ends died, or a handshake nobody will finish.
                self.net.conns.remove(&id);
                continue;
            }
            let d = if c.node[0] == node { 0 } else { 1 };
            if c.gone(d) {
                continue;
            }
            c.dead[d] = true;
            // What reached the dead host's kernel was acknowledged, and is gone with
            // it; what was still on the wire is unacknowledged and retransmitted.
            let h = &mut c.half[d];
            h.segments.retain(|(at, _)| *at > now);
            h.head_offset = 0;
            h.buffered = h.segments.iter().map(|(_, s)| s.len()).sum();
            let unacked = h.buffered > 0;
            self.wake_later.extend(h.recv_waker.take());
            self.wake_later.extend(h.send_waker.take());
            if c.gone(peer(d)) {
                self.net.conns.remove(&id);
            } else if unacked {
                self.arm_conn_timer(id);
            }
        }
        for id in self.listeners_of(node) {
            let l = self.net.listener_state.get_mut(&id).expect("listed above");
            l.dead = true;
            let port = l.addr.port();
            let backlog = std::mem::take(&mut l.backlog);
            self.wake_later.extend(l.waker.take());
            self.net.listeners.remove(&(node, port));
            // Accepted by the kernel, never by the process: half-open for the clients.
            for (conn, _) in backlog {
                if let Some(c) = self.net.conns.get_mut(&conn) {
                    c.dead[1] = true;
                }
            }
        }
    }

    /// The process of `node` died; its kernel closes its sockets (see the module docs).
    pub(crate) fn net_kill_process(&mut self, node: u32) {
        let ids: Vec<u64> = self
            .net
            .conns
            .iter()
            .filter(|(_, c)| c.node.contains(&node))
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            for side in 0..2 {
                let Some(c) = self.net.conns.get(&id) else {
                    break;
                };
                if c.node[side] != node || c.gone(side) {
                    continue;
                }
                if c.half[side].buffered > 0 {
                    // Closing a socket with unread bytes sends a reset.
                    self.conn_reset(id, libc::ECONNRESET);
                }
                self.close_side(id, side);
            }
        }
        for id in self.listeners_of(node) {
            self.listener_close(id);
        }
    }

    /// `node`'s machine is up again: connections it left half-open whose survivor still
    /// retransmits get their reset.
    pub(crate) fn net_machine_booted(&mut self, node: u32) {
        let probes: Vec<(u64, usize)> = self
            .net
            .conns
            .iter()
            .filter_map(|(&id, c)| {
                let d = (0..2).find(|&s| c.dead[s] && c.node[s] == node)?;
                (c.reset.is_none() && !c.probing && c.half[d].buffered > 0).then_some((id, peer(d)))
            })
            .collect();
        for (id, survivor) in probes {
            self.probe_peer(id, survivor);
        }
    }
}
