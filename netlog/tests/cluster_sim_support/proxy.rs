//! A storage node with damaged memory, as its peers see it: a relay on a node of its
//! own that every other storage node's gossip uses to reach one storage node (the
//! "proxied" one). It passes every byte both ways, except that now and then it flips
//! one bit in the last record of a `FetchedRecords` answer and seals the frame again:
//! the frame checksum holds, the record's own checksum does not (what a peer whose
//! memory went bad sends). Gossip must refuse that record; the broken variant that
//! keeps it is caught by the model.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{Clock, Io};
use boreal_engine::sim::{SimIo, SimStream, node_ip};
use boreal_netlog::proto::{FrameReader, Message, Step};
use boreal_netlog::sync::either;

use super::Cluster;
use super::nodes::PORT;

/// The relay's simulated node.
pub const PROXY: u32 = 8;
/// Share of `FetchedRecords` answers (with records) that get a bit flipped.
const DAMAGE_PROBABILITY: f64 = 0.25;
const RECV_BYTES: usize = 64 << 10;

pub fn addr() -> SocketAddr {
    SocketAddr::new(node_ip(PROXY), PORT)
}

/// Accepts peers' connections and relays each to the proxied node.
pub async fn run(c: Rc<Cluster>) {
    let io = c.io(PROXY);
    let listener = io.bind(addr()).await.expect("the proxy listens");
    loop {
        match io.accept(&listener).await {
            Ok((down, _)) => drop(boreal_engine::rt::spawn(relay(c.clone(), down))),
            Err(_) => io.sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn relay(c: Rc<Cluster>, down: SimStream) {
    let io = c.io(PROXY);
    let target = c.nodes[c.proxied as usize].addr();
    let Ok(up) = io.connect(target).await else {
        return;
    };
    let _ = either(copy(&io, &down, &up), answers(&c, &io, &up, &down)).await;
}

/// Peer → node: every byte as it comes.
async fn copy(io: &SimIo, from: &SimStream, to: &SimStream) {
    let mut buf = DmaBuf::zeroed(RECV_BYTES);
    loop {
        let (r, b) = io.recv(from, buf).await;
        buf = b;
        let n = match r {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !send_all(io, to, &buf.as_slice()[..n]).await {
            return;
        }
    }
}

/// Node → peer: whole frames, some `FetchedRecords` damaged.
async fn answers(c: &Cluster, io: &SimIo, from: &SimStream, to: &SimStream) {
    let mut buf = DmaBuf::zeroed(RECV_BYTES);
    let mut acc: Vec<u8> = Vec::new();
    loop {
        let (r, b) = io.recv(from, buf).await;
        buf = b;
        match r {
            Ok(0) | Err(_) => return,
            Ok(n) => acc.extend_from_slice(&buf.as_slice()[..n]),
        }
        let mut out = Vec::new();
        let mut frames = FrameReader::new(&acc);
        let mut at = 0;
        loop {
            match frames.next_step() {
                Ok(Step::Frame(f)) => {
                    let end = frames.consumed();
                    let fetched = matches!(
                        Message::decode_response(f),
                        Ok(Message::FetchedRecords(r)) if !r.records.is_empty()
                    );
                    let start = out.len();
                    out.extend_from_slice(&acc[at..end]);
                    if fetched && c.ctl.chance(DAMAGE_PROBABILITY) {
                        let frame = &mut out[start..];
                        let last = frame.len() - 1;
                        frame[last] ^= 0x10;
                        crate::common::reseal(frame);
                        c.stats.borrow_mut().records_damaged_in_relay += 1;
                    }
                    at = end;
                }
                Ok(Step::Need { .. }) => break,
                // Not the protocol: pass the bytes on, the peer refuses them.
                Err(_) => {
                    out.extend_from_slice(&acc[at..]);
                    at = acc.len();
                    break;
                }
            }
        }
        acc.drain(..at);
        if !send_all(io, to, &out).await {
            return;
        }
    }
}

async fn send_all(io: &SimIo, to: &SimStream, bytes: &[u8]) -> bool {
    let mut sent = 0;
    while sent < bytes.len() {
        let n = (bytes.len() - sent).min(RECV_BYTES);
        let (r, _) = io
            .send(to, DmaBuf::from_slice(&bytes[sent..sent + n]))
            .await;
        match r {
            Ok(0) | Err(_) => return false,
            Ok(k) => sent += k,
        }
    }
    true
}
