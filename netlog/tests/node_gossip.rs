//! Gossip between storage nodes (`node::gossip`), with real nodes in-process on
//! loopback: a node that missed records (a shim's partial write quorum: behind, or with
//! a hole in its backlink chain) catches up from its peers; a range journal recovery
//! reported missing after damage on disk is repaired from a peer; a record whose own
//! checksum is wrong, served by a peer whose frame checksum is right, is refused and
//! counted, and the SCL does not pass it.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use boreal_netlog::node::NodeConfig;
use boreal_netlog::proto::{
    FetchedEncoder, FrameReader, GetPage, HelloReply, Message, PgRule, Seq, StatusReply, Step,
};
use boreal_segment::{Epoch, Lsn, NodeId, PageId, PageSize, PgId, Record};
use support::{
    PAGES, append, body, config, create, eventually, port_of, promtool_check, redo, sample, scl,
    scrape, shim, start,
};

/// Longest a catch-up may take here (rounds every 20 ms; loopback).
const CATCH_UP: Duration = Duration::from_secs(20);

/// A node config with gossip every 20 ms and metrics on.
fn gossiping(dir: &Path, cores: u16) -> NodeConfig {
    let mut c = config(dir, cores);
    c.gossip_interval_ms = 20;
    c.metrics = Some("127.0.0.1:0".parse().unwrap());
    c
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The payload of `page` of `pg` at `read_point`, from the node whose ports are given.
fn page(ports: &[u16], pg: PgId, page: u64, read_point: u64) -> Vec<u8> {
    let mut c = shim(port_of(ports, pg));
    match c
        .call(&Message::GetPage(GetPage {
            pg,
            page: PageId::new(page),
            read_point: Lsn::new(read_point),
        }))
        .unwrap()
    {
        Message::PageReply(p) => p.payload.to_vec(),
        other => panic!("page {page} of {pg}: {other:?}"),
    }
}

/// Waits until `pg`'s SCL on the node reaches `want`; panics naming where it stopped,
/// or if it went past.
fn wait_scl(ports: &[u16], pg: PgId, want: u64, who: &str) {
    let mut c = shim(port_of(ports, pg));
    let mut last = Lsn::ZERO;
    let reached = eventually(CATCH_UP, || {
        last = scl(&mut c, pg);
        last >= Lsn::new(want)
    });
    assert!(
        reached,
        "{who}: {pg} stayed at {last} instead of reaching lsn:{want} in {CATCH_UP:?}"
    );
    assert_eq!(last, Lsn::new(want), "{who}: {pg} went past lsn:{want}");
}

fn repaired(text: &str, core: u16) -> f64 {
    sample(
        text,
        &format!("boreal_gossip_records_repaired_total{{core=\"{core}\"}}"),
    )
    .unwrap_or(0.0)
}

#[test]
fn nodes_behind_or_with_a_hole_catch_up_from_their_peers() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Different core counts: a PG lives on a different core number on each node.
    let mut nodes = Vec::new();
    for (i, cores) in [2u16, 1, 2].into_iter().enumerate() {
        let mut c = gossiping(dirs[i].path(), cores);
        c.node_id = i as u32 + 1;
        nodes.push(start(c));
    }
    let (pg1, pg2) = (PgId::new(1), PgId::new(2));
    for n in &nodes {
        for pg in [pg1, pg2] {
            create(&mut shim(port_of(n.ports(), pg)), pg, 1);
        }
    }
    let ports: Vec<Vec<u16>> = nodes.iter().map(|n| n.ports().to_vec()).collect();
    // A shim's writes that reached a quorum without B and C: A has 1..=40 of both
    // PGs; B has 1..=10 of PG 1 (behind), and of PG 2 1..=10 and 30..=40 (a hole
    // (10, 29] in its backlink chain); C has nothing.
    for pg in [pg1, pg2] {
        append(&mut shim(port_of(&ports[0], pg)), pg, 1, 40);
        append(&mut shim(port_of(&ports[1], pg)), pg, 1, 10);
    }
    append(&mut shim(port_of(&ports[1], pg2)), pg2, 30, 40);
    // Peers known only now that every node runs (ports were picked at start).
    for (i, n) in nodes.iter().enumerate() {
        let others = (0..3)
            .filter(|&j| j != i)
            .map(|j| addr(ports[j][0]))
            .collect();
        n.set_peers(others).unwrap();
    }
    for (who, p) in [("B", &ports[1]), ("C", &ports[2])] {
        for pg in [pg1, pg2] {
            wait_scl(p, pg, 40, who);
        }
    }
    // The records are the writer's: every page reads the same as on A.
    for pg in [pg1, pg2] {
        for pg_page in 0..PAGES {
            let want = page(&ports[0], pg, pg_page, 40);
            assert_eq!(
                page(&ports[1], pg, pg_page, 40),
                want,
                "B {pg} page {pg_page}"
            );
            assert_eq!(
                page(&ports[2], pg, pg_page, 40),
                want,
                "C {pg} page {pg_page}"
            );
        }
    }
    // Each missing record was kept once: B missed 30 + 19, C 80 (its cores 1 and 0
    // own PGs 1 and 2).
    let b = scrape(nodes[1].metrics_addr().unwrap());
    assert_eq!(repaired(&b, 0), 49.0, "{b}");
    let c = scrape(nodes[2].metrics_addr().unwrap());
    assert_eq!(repaired(&c, 0) + repaired(&c, 1), 80.0, "{c}");
    promtool_check(&b);
    for n in nodes {
        assert_eq!(n.stop(), 0);
    }
}

/// A test peer speaking the protocol: it claims `PG`'s SCL is `FAKE_SCL` and serves
/// records from `FAKE_SCL` down, record `BAD` with one body bit flipped after its
/// checksum was computed (its frame checksum, computed over the damaged bytes, is
/// right). Counts the fetches it answered.
struct FakePeer {
    addr: SocketAddr,
    fetches: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

const PG: PgId = PgId::new(1);
const FAKE_SCL: u64 = 20;
const BAD: u64 = 13;

impl FakePeer {
    fn start() -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let fetches = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (fetches.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let f = f.clone();
                        thread::spawn(move || serve_fake(stream, addr.port(), &f));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakePeer {
            addr,
            fetches,
            stop,
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_fake(mut stream: TcpStream, port: u16, fetches: &AtomicUsize) {
    stream.set_nonblocking(false).unwrap();
    let mut acc = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        acc.extend_from_slice(&buf[..n]);
        let mut out = Vec::new();
        let mut frames = FrameReader::new(&acc);
        while let Ok(Step::Frame(f)) = frames.next_step() {
            let id = f.header.request_id;
            match Message::decode_request(f).unwrap() {
                Message::Hello(_) => {
                    let ports = [port];
                    Message::HelloReply(HelloReply {
                        version: 1,
                        node_id: NodeId::new(9),
                        az: "az9",
                        pg_rule: PgRule::Modulo,
                        core_index: 0,
                        ports: Seq::from_slice(&ports),
                    })
                    .encode(id, &mut out)
                    .unwrap();
                }
                Message::SegmentStatus(s) => {
                    Message::StatusReply(StatusReply {
                        pg: s.pg,
                        page_size: PageSize::new(4096).unwrap(),
                        epoch: Epoch::new(1),
                        scl: Lsn::new(FAKE_SCL),
                        materialized_lsn: Lsn::ZERO,
                        min_read_point: Lsn::ZERO,
                        backlog_bytes: 0,
                        backlog_age_us: 0,
                        hot_records: FAKE_SCL,
                        holes: Seq::from_slice(&[]),
                    })
                    .encode(id, &mut out)
                    .unwrap();
                }
                Message::FetchRecords(f) => {
                    fetches.fetch_add(1, Ordering::Relaxed);
                    damaged_records(&mut out, id, f.from.get(), f.to.get().min(FAKE_SCL));
                }
                other => panic!("the fake peer got {other:?}"),
            }
        }
        let used = frames.consumed();
        acc.drain(..used);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// A `FetchedRecords` frame of records `(from, to]` of `PG`, record `BAD` damaged.
fn damaged_records(out: &mut Vec<u8>, id: u64, from: u64, to: u64) {
    let start = out.len();
    let bodies: Vec<[u8; 32]> = (from + 1..=to).map(body).collect();
    let mut enc = FetchedEncoder::new(out, PG, Lsn::new(FAKE_SCL));
    for (k, lsn) in (from + 1..=to).enumerate() {
        enc.push(&redo(PG, lsn, &bodies[k])).unwrap();
    }
    enc.finish(id, false).unwrap();
    if !(from + 1..=to).contains(&BAD) {
        return;
    }
    let frame = &mut out[start..];
    let bad = body(BAD);
    let at = frame
        .windows(bad.len())
        .position(|w| w == bad)
        .expect("the bad record's body is in the frame");
    frame[at + 5] ^= 0x04;
    common::reseal(frame);
}

#[test]
fn a_record_with_a_wrong_checksum_is_refused_and_the_scl_stays_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakePeer::start();
    let mut cfg = gossiping(dir.path(), 1);
    cfg.peers = vec![fake.addr];
    let node = start(cfg);
    let ports = node.ports().to_vec();
    let mut c = shim(ports[0]);
    create(&mut c, PG, 1);
    append(&mut c, PG, 1, 10);
    // Records 11 and 12 are sound and kept; 13's checksum is wrong.
    wait_scl(&ports, PG, BAD - 1, "the node");
    let metrics = node.metrics_addr().unwrap();
    let series = "boreal_gossip_records_refused_total{core=\"0\",reason=\"checksum\"}";
    let mut text = String::new();
    let counted = eventually(CATCH_UP, || {
        text = scrape(metrics);
        sample(&text, series).is_some_and(|v| v >= 1.0)
    });
    assert!(counted, "no {series} in:\n{text}");
    // Several more rounds (the fake peer is backed off, then asked again): the SCL
    // never passes the damaged record.
    let asked = fake.fetches.load(Ordering::Relaxed);
    assert!(eventually(CATCH_UP, || fake
        .fetches
        .load(Ordering::Relaxed)
        > asked));
    thread::sleep(Duration::from_millis(200));
    assert_eq!(scl(&mut c, PG), Lsn::new(BAD - 1));
    let text = scrape(metrics);
    assert_eq!(repaired(&text, 0), 2.0, "{text}");
    promtool_check(&text);
    assert_eq!(node.stop(), 0);
}

/// Flips one bit in the body of record `lsn` of `pg` in the node's journal (found by
/// its encoding), on disk, while the node is stopped.
fn damage_journal_record(data: &Path, pg: PgId, lsn: u64) {
    let b = body(lsn);
    let mut encoded = Vec::new();
    Record::Redo(redo(pg, lsn, &b))
        .encode_to_vec(&mut encoded)
        .unwrap();
    let journal = data.join("core-0").join("journal");
    let mut found = 0;
    for entry in std::fs::read_dir(&journal).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let mut changed = false;
        let mut at = 0;
        while let Some(k) = bytes[at..]
            .windows(encoded.len())
            .position(|w| w == encoded.as_slice())
        {
            let pos = at + k;
            bytes[pos + encoded.len() - 3] ^= 0x10;
            changed = true;
            found += 1;
            at = pos + encoded.len();
        }
        if changed {
            std::fs::write(&path, &bytes).unwrap();
        }
    }
    assert_eq!(found, 1, "record {lsn} is in {} once", journal.display());
}

#[test]
fn a_range_damaged_on_disk_below_the_acknowledged_point_is_repaired_from_a_peer() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let small = |dir: &Path, id: u32| {
        let mut c = gossiping(dir, 1);
        c.node_id = id;
        c.journal.file_mib = 4;
        c.engine.backlog_mib = 4;
        c
    };
    let a = start(small(da.path(), 1));
    let b = start(small(db.path(), 2));
    let (pa, pb) = (a.ports().to_vec(), b.ports().to_vec());
    let mut ca = shim(pa[0]);
    let mut cb = shim(pb[0]);
    create(&mut ca, PG, 1);
    create(&mut cb, PG, 1);
    // One record per append: each is its own journal batch, holding redo only.
    for lsn in 1..=12 {
        append(&mut ca, PG, lsn, lsn);
        assert_eq!(append(&mut cb, PG, lsn, lsn), Lsn::new(lsn));
    }
    drop(cb);
    assert_eq!(b.stop(), 0);
    damage_journal_record(db.path(), PG, 7);
    // B restarts knowing A: it finds record 7's batch damaged below what it had
    // acknowledged, starts with the range reported missing, and gossip fills it.
    let mut cfg = small(db.path(), 2);
    cfg.peers = vec![addr(pa[0])];
    let b = start(cfg);
    assert!(
        b.open_reports[0].contains("1 damaged ranges"),
        "{:?}",
        b.open_reports
    );
    let pb = b.ports().to_vec();
    wait_scl(&pb, PG, 12, "B after the damage");
    let text = scrape(b.metrics_addr().unwrap());
    assert_eq!(
        repaired(&text, 0),
        1.0,
        "only record 7 was missing:\n{text}"
    );
    for p in 0..PAGES {
        assert_eq!(page(&pb, PG, p, 12), page(&pa, PG, p, 12), "page {p}");
    }
    assert_eq!(b.stop(), 0);
    assert_eq!(a.stop(), 0);
}
