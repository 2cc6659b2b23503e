//! node_load: durable appends to a running `boreal-node` over loopback, as a shim sends
//! them, to measure what the node's network path costs against the same engine in
//! process (`boreal-bench`'s `ioengine=boreal-journal`).
//!
//! ```text
//! boreal-node --data-dir D --listen 127.0.0.1:7400 --cores 1 --cpus 0 &
//! cargo run --release -p boreal-netlog --example node_load -- --addr 127.0.0.1:7400 \
//!     [--appenders 256] [--records-per-frame 1] [--record-bytes 128] [--pgs 4] \
//!     [--secs 10] [--ramp 2] [--node-pid PID] [--cpu 1]
//! ```
//!
//! It says `Hello` to the address given, learns every core's port, and opens one
//! connection per core (shard-aware, as the shim will). `--appenders` appends are in
//! flight at all times, spread over the cores by their PGs; each is one `AppendBatch`
//! frame of `--records-per-frame` records of `--record-bytes` bytes, for the PGs
//! round-robin, with honest backlinks (per PG, and per page of 1,024 pages of 8 KiB).
//! The min read point follows the acknowledged SCL every 20 ms, so the node's
//! coalescer materializes and its journal recycles, as in the in-process bench. One
//! thread per connection writes frames and another reads the acknowledgements.
//!
//! Prints records/s and frames/s over `--secs` after `--ramp`, the append latency
//! (frame sent to acknowledgement received) p50/p99/p99.9/max, and with `--node-pid`
//! the node's CPU time per record (from /proc; the node's whole process).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use boreal_netlog::client::Client;
use boreal_netlog::proto::{
    AppendEncoder, CreateSegment, FrameReader, Message, Role, SetReadPoint, Step,
};
use boreal_segment::{Change, Epoch, Lsn, NodeId, PageId, PageSize, PgId, Redo};
use hdrhistogram::Histogram;

const PAGES: u64 = 1024;
const PAGE_SIZE: u32 = 8192;

#[derive(Debug, Clone)]
struct Args {
    addr: SocketAddr,
    appenders: usize,
    per_frame: usize,
    record_bytes: usize,
    pgs: u32,
    secs: u64,
    ramp: u64,
    node_pid: Option<u32>,
    cpu: Option<usize>,
}

fn parse() -> Result<Args, String> {
    let usage = "usage: node_load --addr HOST:PORT [--appenders N] [--records-per-frame N] [--record-bytes N] [--pgs N] [--secs S] [--ramp S] [--node-pid PID] [--cpu N]";
    let mut a = Args {
        addr: "127.0.0.1:7400".parse().unwrap(),
        appenders: 256,
        per_frame: 1,
        record_bytes: 128,
        pgs: 4,
        secs: 10,
        ramp: 2,
        node_pid: None,
        cpu: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value\n{usage}"));
        match k.as_str() {
            "--addr" => a.addr = v()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--appenders" => a.appenders = v()?.parse().map_err(|e| format!("{e}"))?,
            "--records-per-frame" => a.per_frame = v()?.parse().map_err(|e| format!("{e}"))?,
            "--record-bytes" => a.record_bytes = v()?.parse().map_err(|e| format!("{e}"))?,
            "--pgs" => a.pgs = v()?.parse().map_err(|e| format!("{e}"))?,
            "--secs" => a.secs = v()?.parse().map_err(|e| format!("{e}"))?,
            "--ramp" => a.ramp = v()?.parse().map_err(|e| format!("{e}"))?,
            "--node-pid" => a.node_pid = Some(v()?.parse().map_err(|e| format!("{e}"))?),
            "--cpu" => a.cpu = Some(v()?.parse().map_err(|e| format!("{e}"))?),
            _ => return Err(format!("unknown option {k}\n{usage}")),
        }
    }
    if a.appenders == 0 || a.per_frame == 0 || a.pgs == 0 {
        return Err("--appenders, --records-per-frame and --pgs must be at least 1".into());
    }
    Ok(a)
}

/// The LSN chains of one PG (the writer owns them).
struct Chain {
    pg: PgId,
    last: u64,
    page_last: Vec<u64>,
}

/// What a connection's writer and reader share.
struct Shared {
    in_flight: Mutex<usize>,
    room: Condvar,
    /// Send time of each request id in flight.
    sent: Mutex<HashMap<u64, Instant>>,
    /// Highest acknowledged SCL per PG (index into the connection's PGs).
    scl: Vec<AtomicU64>,
    hist: Mutex<Histogram<u64>>,
    records: AtomicU64,
    frames: AtomicU64,
    measuring: AtomicBool,
}

fn node_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("node_load: {e}");
            std::process::exit(2);
        }
    };
    if let Some(cpu) = args.cpu {
        boreal_engine::rt::pin_current_thread(cpu).expect("pin");
    }
    let mut first = Client::connect(args.addr, Duration::from_secs(5)).expect("connect");
    let map = first.hello(Role::Shim, NodeId::new(0)).expect("hello");
    let cores = map.ports.len() as u32;
    // Create the PGs on their cores.
    for p in 1..=args.pgs {
        let port = map.ports[(p % cores) as usize];
        let mut c = Client::connect(
            SocketAddr::new(args.addr.ip(), port),
            Duration::from_secs(5),
        )
        .unwrap();
        c.hello(Role::Shim, NodeId::new(0)).unwrap();
        let m = c
            .call(&Message::CreateSegment(CreateSegment {
                epoch: Epoch::new(1),
                pg: PgId::new(p),
                page_size: PageSize::new(PAGE_SIZE).unwrap(),
                first_page: PageId::new(0),
                page_count: PAGES,
            }))
            .unwrap();
        assert!(matches!(m, Message::SegmentCreated(_)), "{m:?}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut shareds = Vec::new();
    let mut threads = Vec::new();
    for core in 0..cores {
        let pgs: Vec<u32> = (1..=args.pgs).filter(|p| p % cores == core).collect();
        if pgs.is_empty() {
            continue;
        }
        let appenders = (args.appenders * pgs.len() / args.pgs as usize).max(1);
        let addr = SocketAddr::new(args.addr.ip(), map.ports[core as usize]);
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let shared = Arc::new(Shared {
            in_flight: Mutex::new(0),
            room: Condvar::new(),
            sent: Mutex::new(HashMap::new()),
            scl: pgs.iter().map(|_| AtomicU64::new(0)).collect(),
            hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()),
            records: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
        });
        shareds.push(shared.clone());
        let (mut w, mut r) = (stream.try_clone().unwrap(), stream);
        // Hello on this stream.
        let mut hello = Vec::new();
        Message::Hello(boreal_netlog::proto::Hello::shim())
            .encode(1, &mut hello)
            .unwrap();
        w.write_all(&hello).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0);
        let (args2, stop2, sh) = (args.clone(), stop.clone(), shared.clone());
        let pg_list = pgs.clone();
        threads.push(std::thread::spawn(move || {
            writer(&mut w, &args2, &pg_list, appenders, &sh, &stop2)
        }));
        let (sh, stop2, pg_list, per) = (shared.clone(), stop.clone(), pgs, args.per_frame);
        threads.push(std::thread::spawn(move || {
            reader(&mut r, &pg_list, per, &sh, &stop2)
        }));
    }
    std::thread::sleep(Duration::from_secs(args.ramp));
    let cpu0 = args.node_pid.and_then(node_cpu_ticks);
    let base: Vec<(u64, u64)> = shareds
        .iter()
        .map(|s| {
            s.measuring.store(true, Ordering::Relaxed);
            s.hist.lock().unwrap().reset();
            (
                s.records.load(Ordering::Relaxed),
                s.frames.load(Ordering::Relaxed),
            )
        })
        .collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.secs));
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = args.node_pid.and_then(node_cpu_ticks);
    let (mut records, mut frames) = (0u64, 0u64);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for (s, (r0, f0)) in shareds.iter().zip(base) {
        records += s.records.load(Ordering::Relaxed) - r0;
        frames += s.frames.load(Ordering::Relaxed) - f0;
        hist.add(&*s.hist.lock().unwrap()).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "node_load: {} cores, {} appenders, {} records/frame of {} B, {} PGs: {:.0} records/s, {:.0} frames/s; append latency p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        cores,
        args.appenders,
        args.per_frame,
        args.record_bytes,
        args.pgs,
        records as f64 / secs,
        frames as f64 / secs,
        us(0.5),
        us(0.99),
        us(0.999),
        hist.max() as f64 / 1000.0
    );
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let hz = 100.0; // USER_HZ on Linux
        let cpu_s = (b - a) as f64 / hz;
        println!(
            "node_load: node CPU {:.2} s over {:.1} s ({:.0}%), {:.3} us per record",
            cpu_s,
            secs,
            100.0 * cpu_s / secs,
            cpu_s * 1e6 / records.max(1) as f64
        );
    }
    // The threads block on sockets; the process exit ends them.
    std::process::exit(0);
}

fn writer(
    w: &mut TcpStream,
    args: &Args,
    pgs: &[u32],
    appenders: usize,
    sh: &Shared,
    stop: &AtomicBool,
) {
    let mut chains: Vec<Chain> = pgs
        .iter()
        .map(|&p| Chain {
            pg: PgId::new(p),
            last: 0,
            page_last: vec![0; PAGES as usize],
        })
        .collect();
    let body = vec![0x5Au8; args.record_bytes];
    let mut next_id = 2u64;
    let mut k = 0usize;
    let mut out = Vec::with_capacity(1 << 20);
    let mut last_rp = Instant::now();
    let mut lsn_alloc = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let room = {
            let mut inf = sh.in_flight.lock().unwrap();
            while *inf >= appenders && !stop.load(Ordering::Relaxed) {
                inf = sh
                    .room
                    .wait_timeout(inf, Duration::from_millis(50))
                    .unwrap()
                    .0;
            }
            appenders - *inf
        };
        out.clear();
        let now = Instant::now();
        let mut ids = Vec::with_capacity(room);
        for _ in 0..room {
            let i = k % chains.len();
            k += 1;
            let c = &mut chains[i];
            let mut enc = AppendEncoder::new(&mut out, Epoch::new(1), c.pg);
            for _ in 0..args.per_frame {
                lsn_alloc += 1;
                let lsn = lsn_alloc;
                let page = lsn % PAGES;
                let r = Redo {
                    lsn: Lsn::new(lsn),
                    prev_lsn_pg: Lsn::new(c.last),
                    prev_lsn_page: Lsn::new(c.page_last[page as usize]),
                    pg_id: c.pg,
                    page_id: PageId::new(page),
                    cpl: true,
                    change: Change::Delta {
                        offset: ((lsn * 64) % (u64::from(PAGE_SIZE) - 32 - 256)) as u32,
                        bytes: &body,
                    },
                };
                enc.push(&r).unwrap();
                c.last = lsn;
                c.page_last[page as usize] = lsn;
            }
            enc.finish(next_id).unwrap();
            ids.push(next_id);
            next_id += 1;
        }
        {
            let mut sent = sh.sent.lock().unwrap();
            for id in ids {
                sent.insert(id, now);
            }
        }
        *sh.in_flight.lock().unwrap() += room;
        if w.write_all(&out).is_err() {
            return;
        }
        if last_rp.elapsed() >= Duration::from_millis(20) {
            last_rp = Instant::now();
            out.clear();
            for (i, &p) in pgs.iter().enumerate() {
                let scl = sh.scl[i].load(Ordering::Relaxed);
                if scl > 0 {
                    Message::SetReadPoint(SetReadPoint {
                        pg: PgId::new(p),
                        epoch: Epoch::new(1),
                        min_read_point: Lsn::new(scl),
                    })
                    .encode(next_id, &mut out)
                    .unwrap();
                    next_id += 1;
                }
            }
            if w.write_all(&out).is_err() {
                return;
            }
        }
    }
}

fn reader(r: &mut TcpStream, pgs: &[u32], per_frame: usize, sh: &Shared, stop: &AtomicBool) {
    let mut acc: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut buf = vec![0u8; 1 << 18];
    while !stop.load(Ordering::Relaxed) {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        acc.extend_from_slice(&buf[..n]);
        let mut frames = FrameReader::new(&acc);
        let now = Instant::now();
        let mut done = 0usize;
        let mut lat = Vec::new();
        {
            let mut sent = sh.sent.lock().unwrap();
            while let Ok(Step::Frame(f)) = frames.next_step() {
                let id = f.header.request_id;
                match Message::decode_response(f) {
                    Ok(Message::AppendAck(a)) => {
                        if let Some(i) = pgs.iter().position(|&p| p == a.pg.get()) {
                            sh.scl[i].fetch_max(a.scl.get(), Ordering::Relaxed);
                        }
                        if let Some(t) = sent.remove(&id) {
                            lat.push(now.duration_since(t).as_nanos() as u64);
                        }
                        done += 1;
                    }
                    Ok(Message::ReadPointSet(_)) => {}
                    Ok(m) => panic!("unexpected answer {m:?}"),
                    Err(e) => panic!("undecodable answer: {e}"),
                }
            }
        }
        let used = frames.consumed();
        acc.drain(..used);
        if done > 0 {
            sh.records
                .fetch_add((done * per_frame) as u64, Ordering::Relaxed);
            sh.frames.fetch_add(done as u64, Ordering::Relaxed);
            if sh.measuring.load(Ordering::Relaxed) {
                let mut h = sh.hist.lock().unwrap();
                for l in lat {
                    let _ = h.record(l.max(1));
                }
            }
            *sh.in_flight.lock().unwrap() -= done;
            sh.room.notify_one();
        }
    }
}
