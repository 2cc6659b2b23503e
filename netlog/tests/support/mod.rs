//! Shared by the node tests: a node started in-process on free ports in a temporary
//! directory, records with honest backlinks, and frame builders.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use boreal_netlog::client::Client;
use boreal_netlog::node::{NodeConfig, process};
use boreal_netlog::proto::{AppendEncoder, CreateSegment, Message, Role, SegmentStatus};
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

/// Appends records `first..=last` of `pg` at epoch 1 in one frame and waits for the
/// acknowledgement; returns the SCL it carries.
pub fn append(c: &mut Client, pg: PgId, first: u64, last: u64) -> Lsn {
    let mut out = Vec::new();
    let id = c.next_id();
    append_frame(&mut out, id, pg, 1, first, last);
    c.send_raw(&out).expect("send the append");
    match c.recv_message().expect("the append's answer") {
        (got, Message::AppendAck(a)) if got == id => a.scl,
        (_, other) => panic!("append {first}..={last} of {pg}: {other:?}"),
    }
}

/// The SCL of `pg`'s segment.
pub fn scl(c: &mut Client, pg: PgId) -> Lsn {
    match c
        .call(&Message::SegmentStatus(SegmentStatus { pg }))
        .expect("status")
    {
        Message::StatusReply(s) => s.scl,
        other => panic!("status of {pg}: {other:?}"),
    }
}

/// Polls `check` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The body of `GET /metrics` at `addr`, checking the status line and content type.
pub fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

/// The value of the sample `series` (name and labels, as printed) in a scrape.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Asserts `promtool check metrics` passes on `text`.
pub fn promtool_check(text: &str) {
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed (Debian package `prometheus`; .ci/run installs it)");
    promtool
        .stdin
        .as_ref()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
