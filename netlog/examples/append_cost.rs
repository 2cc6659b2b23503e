//! append_cost: the CPU cost of a storage node's append path per record, for
//! callgrind and cachegrind (instructions and cache misses, not time: the machine is
//! shared and a count does not care).
//!
//! Runs the very server `boreal-node` runs (`node::serve` with its `CoreEngine`:
//! frame reading and decoding, judging, journaling, acknowledging, the hot log) on the
//! simulator (`SimIo`: no real disk or socket, so valgrind can run it and the same
//! arguments give the same run), and a shim-like client on a second simulated node
//! that sends `--records` redo records of one PG in `AppendBatch` frames of
//! `--per-frame` records, `--in-flight` frames outstanding. Records are as the cluster
//! benchmark's: 128-byte deltas, consecutive records on consecutive pages of 1,024
//! 8 KiB pages, honest backlinks, every 4th a CPL. Frames are encoded before the node
//! starts, as a shim encodes each record once (`EncodedRedo`). The coalescer is off,
//! so what is measured is the append path alone.
//!
//! ```text
//! cargo build --release -p boreal-netlog --example append_cost
//! valgrind --tool=callgrind target/release/examples/append_cost --records 16384
//! valgrind --tool=callgrind target/release/examples/append_cost --records 32768
//! ```
//!
//! Cost per record: the difference of the two runs' totals (or of one function's
//! inclusive cost) divided by the difference of their records, so the fixed costs
//! (start-up, opening the engine, the simulator's set-up) cancel.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Io;
use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{CoreEngine, EngineConfig};
use boreal_engine::rt::sleep;
use boreal_engine::sim::{FaultConfig, Sim, SimConfig, SimIo, node_ip};
use boreal_netlog::link::{Link, Reply};
use boreal_netlog::node::{CoreCtx, Identity, NodeMetrics, ServeLimits, serve};
use boreal_netlog::proto::{AppendEncoder, EncodedRedo, Hello, Role};
use boreal_segment::{Change, Epoch, Lsn, NodeId, PageId, PageSize, PgId, Redo};

const PORT: u16 = 7400;
const PG: PgId = PgId::new(0);
const PAGES: u64 = 1024;
const PAGE_SIZE: u32 = 8192;
const RECORD_BYTES: usize = 128;

struct Args {
    records: u64,
    per_frame: usize,
    in_flight: usize,
}

fn parse() -> Result<Args, String> {
    let usage = "usage: append_cost [--records 16384] [--per-frame 16] [--in-flight 16]";
    let mut a = Args {
        records: 16384,
        per_frame: 16,
        in_flight: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value\n{usage}"))?;
        let n: u64 = v.parse().map_err(|e| format!("{k} {v}: {e}\n{usage}"))?;
        match k.as_str() {
            "--records" => a.records = n,
            "--per-frame" => a.per_frame = n as usize,
            "--in-flight" => a.in_flight = n as usize,
            _ => return Err(format!("unknown option {k}\n{usage}")),
        }
    }
    if a.records == 0 || a.per_frame == 0 || a.in_flight == 0 {
        return Err(format!("every value must be at least 1\n{usage}"));
    }
    Ok(a)
}

/// The `AppendBatch` frames of the run, each without its request id's header yet
/// sealed (request ids are the frame's index + 1).
fn frames(a: &Args) -> Vec<Vec<u8>> {
    let slots = u64::from(PAGE_SIZE - 32) / RECORD_BYTES as u64;
    let mut page_last = vec![Lsn::ZERO; PAGES as usize];
    let mut body = [0u8; RECORD_BYTES];
    let mut out = Vec::new();
    let mut prev = Lsn::ZERO;
    let mut g = 0u64;
    while g < a.records {
        let mut frame = Vec::new();
        let mut enc = AppendEncoder::new(&mut frame, Epoch::ZERO, PG);
        while enc.len() < a.per_frame && g < a.records {
            let lsn = Lsn::new(g + 1);
            let page = (g % PAGES) as usize;
            body.fill((g % 251) as u8);
            let redo = Redo {
                lsn,
                prev_lsn_pg: prev,
                prev_lsn_page: page_last[page],
                pg_id: PG,
                page_id: PageId::new(page as u64),
                cpl: g % 4 == 3,
                change: Change::Delta {
                    offset: ((g / PAGES % slots) * RECORD_BYTES as u64) as u32,
                    bytes: &body,
                },
            };
            let encoded = EncodedRedo::new(&redo).expect("a valid record");
            enc.push_encoded(&encoded).expect("the frame has room");
            page_last[page] = lsn;
            prev = lsn;
            g += 1;
        }
        let id = out.len() as u64 + 1;
        enc.finish(id).expect("a frame of at least one record");
        out.push(frame);
    }
    out
}

async fn node(io: SimIo, ctx_out: Rc<std::cell::RefCell<Option<Rc<CoreCtx<SimIo>>>>>) {
    let mut e = EngineConfig::new("/data/core0/pages");
    e.background_coalescer = false;
    // Room for the largest run's records (184 bytes each in the backlog), a quarter
    // of the journal as the engine asks.
    e.backlog_bytes_max = 8 << 20;
    e.backlog_age_max = Duration::from_secs(24 * 3600);
    let j = JournalConfig {
        files: 16,
        file_bytes: 2 << 20,
        ..JournalConfig::new("/data/core0/journal")
    };
    let (engine, _) = CoreEngine::open_dir(io.clone(), e, j)
        .await
        .expect("the engine opens");
    let size = PageSize::new(PAGE_SIZE).expect("a valid page size");
    engine
        .create_segment(PG, size, 0, PAGES)
        .await
        .expect("the segment is created");
    let listener = io
        .bind(SocketAddr::new(node_ip(0), PORT))
        .await
        .expect("bind");
    let ctx = CoreCtx::new(
        io.clone(),
        engine,
        Identity {
            node_id: NodeId::new(1),
            az: "az1".into(),
            core_index: 0,
            core_count: 1,
        },
        ServeLimits {
            connections_max: 4,
            requests_in_flight_max: 1024,
        },
        NodeMetrics::new(),
    );
    ctx.set_ports(vec![PORT]);
    *ctx_out.borrow_mut() = Some(ctx.clone());
    serve(ctx, listener, Duration::from_secs(1)).await;
}

async fn client(io: SimIo, frames: Vec<Vec<u8>>, in_flight: usize) -> u64 {
    // The node binds after opening its engine.
    sleep(Duration::from_millis(100)).await;
    let hello = Hello {
        version_min: 1,
        version_max: 1,
        role: Role::Shim,
        node_id: NodeId::new(0),
    };
    let addr = SocketAddr::new(node_ip(0), PORT);
    let (link, _) = Link::connect(io, addr, hello).await.expect("connect");
    // Hello took request id 1: the frames' ids follow.
    let first_id = link.next_id();
    assert_eq!(first_id, 2, "the frames were sealed for ids from 2");
    let mut accepted = 0u64;
    let mut sent = 0usize;
    let mut acked = 0usize;
    while acked < frames.len() {
        while sent < frames.len() && sent - acked < in_flight {
            let id = sent as u64 + first_id;
            if sent > 0 {
                assert_eq!(link.next_id(), id);
            }
            link.expect(id);
            link.send(&frames[sent]).await.expect("send");
            sent += 1;
        }
        match link
            .reply(acked as u64 + first_id)
            .await
            .expect("an answer")
        {
            Reply::AppendAck { accepted: n, .. } => accepted += u64::from(n),
            other => panic!("frame {acked}: {other:?}"),
        }
        acked += 1;
    }
    accepted
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut frames = frames(&a);
    // Request id 1 is Hello's: reseal every frame one id on.
    for (i, f) in frames.iter_mut().enumerate() {
        reseal(f, i as u64 + 2);
    }
    let sim = Sim::new(SimConfig {
        seed: 1,
        faults: FaultConfig::none(),
        ..SimConfig::default()
    });
    let (n, c) = (sim.add_node(), sim.add_node());
    assert_eq!(n, 0, "the node is simulated node 0");
    let ctx = Rc::new(std::cell::RefCell::new(None));
    sim.spawn_on(n, 0, node(sim.io(n, 0), ctx.clone()));
    let in_flight = a.in_flight;
    let h = sim.spawn_on(c, 0, client(sim.io(c, 0), frames, in_flight));
    let accepted = sim.run(async {
        let accepted = h.await.expect("the client finished");
        if let Some(ctx) = ctx.borrow().as_ref() {
            ctx.stop();
        }
        sleep(Duration::from_secs(2)).await;
        accepted
    });
    println!(
        "records={} accepted={accepted} per_frame={} in_flight={} trace={:x}",
        a.records,
        a.per_frame,
        a.in_flight,
        sim.trace_hash()
    );
    assert_eq!(accepted, a.records, "every record was accepted");
}

/// Gives a sealed frame another request id (the header's checksum follows).
fn reseal(frame: &mut [u8], request_id: u64) {
    use boreal_segment::FrameHeader;
    use boreal_segment::limits::FRAME_HEADER_SIZE;
    let header = FrameHeader::decode(frame).expect("a sealed frame");
    let again = FrameHeader {
        request_id,
        ..header
    };
    frame[..FRAME_HEADER_SIZE].copy_from_slice(&again.encode());
}
