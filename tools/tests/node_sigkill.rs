//! A real `boreal-node` process, killed with SIGKILL at random moments under load, 20
//! times. After each kill `boreal verify` passes on its data dir (warnings, such as a
//! torn journal tail, allowed) and, after each restart, every acknowledged record is
//! there (its page through GetPage, and through FetchRecords when it is still in the
//! hot log) and no segment's SCL is below what an acknowledgement reported.
//!
//! Two PGs on the node's two cores, one shim connection each, 16 frames of 4 records in
//! flight, the read point raised as it goes so the coalescer materializes and the
//! journal recycles. Replay a run: `SEED=<n>` (the seed is printed).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boreal_netlog::client::Client;
use boreal_netlog::proto::{
    AppendEncoder, CreateSegment, FetchRecords, GetPage, Message, Role, SegmentStatus, SetReadPoint,
};
use boreal_segment::{Change, Epoch, Lsn, NodeId, PageId, PageSize, PgId, Redo};

const KILLS: u32 = 20;
const PAGES: u64 = 64;
const PGS: [u32; 2] = [1, 2];
const IN_FLIGHT: u64 = 16;
const PER_FRAME: u64 = 4;

/// `target/<profile>/<name>` next to this test's binary, built if missing.
fn bin(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let path = profile.join(name);
    if !path.exists() {
        let mut b = Command::new(env!("CARGO"));
        b.args(["build", "-p", package, "--bin", name]);
        if profile.file_name().is_some_and(|n| n == "release") {
            b.arg("--release");
        }
        assert!(b.status().unwrap().success(), "building {name} failed");
    }
    path
}

struct Node {
    child: Child,
    ports: Vec<u16>,
}

impl Drop for Node {
    /// A failing test must not leave a node running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_node(dir: &Path, config: &Path) -> Node {
    let mut child = Command::new(bin("boreal-node", "boreal-netlog"))
        .args(["--config"])
        .arg(config)
        .args(["--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--cores", "2", "--pin", "false"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start boreal-node");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let ports = loop {
        let line = lines
            .next()
            .expect("boreal-node exited before it was ready")
            .unwrap();
        if let Some(rest) = line.strip_prefix("boreal-node ready: ") {
            let ports = rest
                .split(" ports ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .expect("the ready line names the ports");
            break ports
                .split(',')
                .map(|p| p.parse::<u16>().unwrap())
                .collect::<Vec<_>>();
        }
        assert!(
            !line.contains("error") && !line.contains("cannot"),
            "boreal-node: {line}"
        );
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Node { child, ports }
}

fn connect(ports: &[u16], pg: u32, role: Role) -> Client {
    let port = ports[(pg as usize) % ports.len()];
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Client::connect(addr, Duration::from_secs(5)).unwrap();
    c.set_timeout(Some(Duration::from_secs(30))).unwrap();
    c.hello(role, NodeId::new(if role == Role::Peer { 9 } else { 0 }))
        .unwrap();
    c
}

fn body(pg: u32, lsn: u64) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(&lsn.to_le_bytes());
    b[8..12].copy_from_slice(&pg.to_le_bytes());
    b[12..].fill(lsn as u8 ^ 0x5A);
    b
}

fn redo(pg: u32, lsn: u64, bytes: &[u8]) -> Redo<'_> {
    Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(lsn - 1),
        prev_lsn_page: Lsn::new(lsn.saturating_sub(PAGES)),
        pg_id: PgId::new(pg),
        page_id: PageId::new(lsn % PAGES),
        cpl: true,
        change: Change::Delta { offset: 100, bytes },
    }
}

/// Appends from `next` on until the node goes away; returns the highest LSN
/// acknowledged and the highest SCL an acknowledgement reported.
fn load(ports: Vec<u16>, pg: u32, mut next: u64, stop: Arc<AtomicBool>) -> (u64, u64) {
    let mut c = connect(&ports, pg, Role::Shim);
    let (mut acked, mut scl) = (next - 1, 0u64);
    let mut sent_frames: u64 = 0;
    let mut in_flight = 0u64;
    let mut out = Vec::new();
    loop {
        while in_flight < IN_FLIGHT && !stop.load(Ordering::Relaxed) {
            out.clear();
            let bodies: Vec<[u8; 24]> = (next..next + PER_FRAME).map(|l| body(pg, l)).collect();
            let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), PgId::new(pg));
            for (k, lsn) in (next..next + PER_FRAME).enumerate() {
                enc.push(&redo(pg, lsn, &bodies[k])).unwrap();
            }
            enc.finish(c.next_id()).unwrap();
            if c.send_raw(&out).is_err() {
                return (acked, scl);
            }
            next += PER_FRAME;
            in_flight += 1;
            sent_frames += 1;
            if sent_frames.is_multiple_of(32) && scl > 0 {
                let msg = Message::SetReadPoint(SetReadPoint {
                    pg: PgId::new(pg),
                    epoch: Epoch::new(1),
                    min_read_point: Lsn::new(scl),
                });
                if c.send(&msg).is_err() {
                    return (acked, scl);
                }
                in_flight += 1;
            }
        }
        if in_flight == 0 {
            return (acked, scl);
        }
        match c.recv_message() {
            Ok((_, Message::AppendAck(a))) => {
                assert!(a.scl.get() >= scl, "pg {pg}: SCL went down in acks");
                scl = a.scl.get();
                acked = acked.max(a.scl.get());
                in_flight -= 1;
            }
            Ok((_, Message::ReadPointSet(_))) => in_flight -= 1,
            Ok((_, m)) => panic!("pg {pg}: unexpected answer {m:?}"),
            Err(_) => return (acked, scl),
        }
    }
}

fn check(ports: &[u16], pg: u32, acked: u64, scl_seen: u64, round: u32, seed: u64) {
    let mut c = connect(ports, pg, Role::Shim);
    let m = c
        .call(&Message::SegmentStatus(SegmentStatus { pg: PgId::new(pg) }))
        .unwrap();
    let Message::StatusReply(s) = m else {
        panic!("{m:?}")
    };
    let (scl, floor) = (s.scl.get(), s.materialized_lsn.get());
    assert!(
        scl >= acked && scl >= scl_seen,
        "seed {seed} round {round}: pg {pg} scl {scl} below acknowledged {acked} / reported {scl_seen}"
    );
    // The last few acknowledged records' pages, read at the acknowledged point.
    for lsn in acked.saturating_sub(8).max(1)..=acked {
        let m = c
            .call(&Message::GetPage(GetPage {
                pg: PgId::new(pg),
                page: PageId::new(lsn % PAGES),
                read_point: Lsn::new(acked),
            }))
            .unwrap();
        let Message::PageReply(p) = m else {
            panic!("seed {seed} round {round}: pg {pg} page of {lsn}: {m:?}")
        };
        // The newest record of that page at or below `acked`.
        let newest = lsn + (acked - lsn) / PAGES * PAGES;
        assert_eq!(
            p.page_lsn.get(),
            newest,
            "seed {seed} round {round}: pg {pg}"
        );
        assert_eq!(&p.payload[100..124], &body(pg, newest));
    }
    // What is still in the hot log, through a peer's fetch.
    let from = floor.max(acked.saturating_sub(16));
    if from < acked {
        let mut peer = connect(ports, pg, Role::Peer);
        let m = peer
            .call(&Message::FetchRecords(FetchRecords {
                pg: PgId::new(pg),
                from: Lsn::new(from),
                to: Lsn::new(acked),
                byte_limit: boreal_netlog::limits::RECORD_BATCH_BYTES_MAX as u32,
            }))
            .unwrap();
        let Message::FetchedRecords(f) = m else {
            panic!("seed {seed} round {round}: pg {pg}: {m:?}")
        };
        let got: Vec<u64> = f.records.iter().map(|r| r.lsn.get()).collect();
        assert_eq!(got, (from + 1..=acked).collect::<Vec<_>>());
        for r in f.records.iter() {
            assert_eq!(r.change.bytes(), &body(pg, r.lsn.get()));
        }
    }
}

fn verify(dir: &Path, round: u32, seed: u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .arg("verify")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "seed {seed} round {round}: boreal verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed={seed} (replay: SEED={seed})");
    let mut rng = boreal_engine::rt::SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let config = dir.path().join("node.toml");
    std::fs::File::create(&config)
        .unwrap()
        .write_all(
            b"shutdown_timeout_ms = 500\n[journal]\nfiles = 4\nfile_mib = 4\n[engine]\nbacklog_mib = 4\n",
        )
        .unwrap();
    let mut node = spawn_node(&data, &config);
    for &pg in &PGS {
        let mut c = connect(&node.ports, pg, Role::Shim);
        let m = c
            .call(&Message::CreateSegment(CreateSegment {
                epoch: Epoch::new(1),
                pg: PgId::new(pg),
                page_size: PageSize::new(4096).unwrap(),
                first_page: PageId::new(0),
                page_count: PAGES,
            }))
            .unwrap();
        assert!(matches!(m, Message::SegmentCreated(_)), "{m:?}");
    }
    let acked = Arc::new(Mutex::new([0u64; 2]));
    let scl_seen = Arc::new(Mutex::new([0u64; 2]));
    for round in 1..=KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = PGS
            .iter()
            .enumerate()
            .map(|(i, &pg)| {
                let (ports, stop) = (node.ports.clone(), stop.clone());
                let next = acked.lock().unwrap()[i] + 1;
                std::thread::spawn(move || load(ports, pg, next, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rng.next_u64() % 400));
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for (i, t) in threads.into_iter().enumerate() {
            let (a, s) = t.join().unwrap();
            let mut acked = acked.lock().unwrap();
            acked[i] = acked[i].max(a);
            let mut seen = scl_seen.lock().unwrap();
            seen[i] = seen[i].max(s);
        }
        verify(&data, round, seed);
        node = spawn_node(&data, &config);
        for (i, &pg) in PGS.iter().enumerate() {
            let a = acked.lock().unwrap()[i];
            let s = scl_seen.lock().unwrap()[i];
            check(&node.ports, pg, a, s, round, seed);
        }
    }
    let total: u64 = acked.lock().unwrap().iter().sum();
    println!(
        "{KILLS} kills, {total} records acknowledged in all, every one found after each restart"
    );
    assert!(total > 0, "nothing was ever acknowledged");
}

/// SIGTERM under load: the node stops within 2 s of the signal, exits 0, and every
/// append it acknowledged before it stopped is there after a restart (an in-flight
/// append is acknowledged once durable, or not at all). It also starts in under a
/// second on an empty data dir.
#[test]
fn sigterm_under_load_stops_within_two_seconds_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let config = dir.path().join("node.toml");
    std::fs::File::create(&config)
        .unwrap()
        .write_all(b"[journal]\nfiles = 4\nfile_mib = 4\n[engine]\nbacklog_mib = 4\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut node = spawn_node(&data, &config);
    let boot = started.elapsed();
    assert!(
        boot < Duration::from_secs(1),
        "an empty data dir took {boot:?} to be ready"
    );
    for &pg in &PGS {
        let mut c = connect(&node.ports, pg, Role::Shim);
        let m = c
            .call(&Message::CreateSegment(CreateSegment {
                epoch: Epoch::new(1),
                pg: PgId::new(pg),
                page_size: PageSize::new(4096).unwrap(),
                first_page: PageId::new(0),
                page_count: PAGES,
            }))
            .unwrap();
        assert!(matches!(m, Message::SegmentCreated(_)), "{m:?}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = PGS
        .iter()
        .map(|&pg| {
            let (ports, stop) = (node.ports.clone(), stop.clone());
            std::thread::spawn(move || load(ports, pg, 1, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let pid = node.child.id();
    let signalled = std::time::Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = node.child.wait().unwrap();
    let took = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(exit.success(), "boreal-node exited {exit:?} after SIGTERM");
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM took {took:?} to stop the node"
    );
    let acked: Vec<(u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!("SIGTERM: stopped in {took:?}; boot {boot:?}; acknowledged {acked:?}");
    verify(&data, 0, 0);
    let node = spawn_node(&data, &config);
    for (i, &pg) in PGS.iter().enumerate() {
        check(&node.ports, pg, acked[i].0, acked[i].1, 0, 0);
    }
}
