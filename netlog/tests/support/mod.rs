//! Shared by the node tests: a node started in-process on free ports in a temporary
//! directory, records with honest backlinks, and frame builders.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support"
)]

use std::net::SocketAddr;
use std::time::Duration;

use boreal_netlog::client::Client;
use boreal_netlog::node::{NodeConfig, process};
use boreal_netlog::proto::{AppendEncoder, CreateSegment, Message, Role};
use boreal_segment::{Change, Epoch, Lsn, NodeId, PageId, PageSize, PgId, Redo};

pub const PAGES: u64 = 16;

/// A node config for tests: free ports, not pinned, small journals.
pub fn config(dir: &std::path::Path, cores: u16) -> NodeConfig {
    let mut c = NodeConfig {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        cores,
        pin: false,
        shutdown_timeout_ms: 1000,
        ..NodeConfig::default()
    };
    c.journal.files = 4;
    c.journal.file_mib = 16;
    c.engine.backlog_mib = 16;
    c
}

pub fn start(cfg: NodeConfig) -> process::Running {
    process::start(cfg).expect("the node starts")
}

/// A client of `port` on loopback, hello said as a shim.
pub fn shim(port: u16) -> Client {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Client::connect(addr, Duration::from_secs(5)).expect("connect");
    c.set_timeout(Some(Duration::from_secs(20))).unwrap();
    c.hello(Role::Shim, NodeId::new(0)).expect("hello");
    c
}

/// The port of the core that owns `pg`.
pub fn port_of(ports: &[u16], pg: PgId) -> u16 {
    ports[(pg.get() % ports.len() as u32) as usize]
}

/// Creates the segment of `pg` (pages `0..PAGES` of 4 KiB) at `epoch`.
pub fn create(c: &mut Client, pg: PgId, epoch: u64) {
    let m = c
        .call(&Message::CreateSegment(CreateSegment {
            epoch: Epoch::new(epoch),
            pg,
            page_size: PageSize::new(4096).unwrap(),
            first_page: PageId::new(0),
            page_count: PAGES,
        }))
        .expect("create");
    assert!(matches!(m, Message::SegmentCreated(_)), "{m:?}");
}

/// The body of record `lsn`: 32 bytes that name it.
pub fn body(lsn: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (lsn as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    b
}

/// Record `lsn` of `pg`: chained to `lsn - 1` in the PG and to `lsn - PAGES` on page
/// `lsn % PAGES`, writing `body(lsn)` at offset 64.
pub fn redo(pg: PgId, lsn: u64, bytes: &[u8]) -> Redo<'_> {
    Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(lsn - 1),
        prev_lsn_page: Lsn::new(lsn.saturating_sub(PAGES)),
        pg_id: pg,
        page_id: PageId::new(lsn % PAGES),
        cpl: true,
        change: Change::Delta { offset: 64, bytes },
    }
}

/// Appends the frame of records `first..=last` of `pg` at `epoch` to `out`; returns
/// its request id (`id`).
pub fn append_frame(out: &mut Vec<u8>, id: u64, pg: PgId, epoch: u64, first: u64, last: u64) {
    let bodies: Vec<[u8; 32]> = (first..=last).map(body).collect();
    let mut enc = AppendEncoder::new(out, Epoch::new(epoch), pg);
    for (k, lsn) in (first..=last).enumerate() {
        enc.push(&redo(pg, lsn, &bodies[k])).unwrap();
    }
    enc.finish(id).unwrap();
}
