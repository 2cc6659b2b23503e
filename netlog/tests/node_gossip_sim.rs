//! Gossip under the simulator: two one-core nodes (the node server and its gossip
//! task, the very code `boreal-node` runs, on `SimIo`), each missing records the other
//! holds (one behind, one with a hole in its backlink chain), start partitioned from
//! each other; once the partition heals, both segments of both nodes reach the last
//! LSN, within a bound of virtual time. Deterministic: the run prints
//! `seed=<n> trace=<hash>`, `SEED=n` replays one seed, `SIM_SEEDS=n` runs n (default
//! 20).

mod support;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::{Clock, Io};
use boreal_engine::journal::JournalConfig;
use boreal_engine::node::{CoreEngine, EngineConfig};
use boreal_engine::rt::sleep;
use boreal_engine::sim::{FaultConfig, Sim, SimConfig, SimIo, node_ip};
use boreal_netlog::node::gossip::{self, GossipPeers};
use boreal_netlog::node::{CoreCtx, Identity, NodeMetrics, ServeLimits, serve};
use boreal_segment::{Epoch, NodeId, PageSize, PgId};
use support::{PAGES, body, redo};

const PORT: u16 = 7400;
const LAST: u64 = 30;
const SEEDS_DEFAULT: u64 = 20;
/// How long the nodes stay partitioned, then the most a catch-up may take after.
const PARTITION: Duration = Duration::from_secs(3);
const CATCH_UP: Duration = Duration::from_secs(30);

type Ctx = Rc<CoreCtx<SimIo>>;

/// Node `node`: opens its engine, writes the records `have` gives it, then serves and
/// gossips with `peer` every 10 ms. Puts its core in `slot`.
async fn node_main(
    io: SimIo,
    node: u32,
    peer: SocketAddr,
    have: fn(PgId, u64) -> bool,
    slot: Rc<RefCell<Option<Ctx>>>,
) {
    let mut e = EngineConfig::new("/data/core0/pages");
    e.backlog_bytes_max = 1 << 20;
    let j = JournalConfig {
        files: 16,
        file_bytes: 256 << 10,
        batch_bytes_max: 64 << 10,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new("/data/core0/journal")
    };
    let (engine, _) = CoreEngine::open_dir(io.clone(), e, j).await.unwrap();
    for pg in [PgId::new(1), PgId::new(2)] {
        engine
            .create_segment(pg, PageSize::new(4096).unwrap(), 0, PAGES)
            .await
            .unwrap();
        for lsn in (1..=LAST).filter(|&l| have(pg, l)) {
            let body = body(lsn);
            engine
                .append(pg, Epoch::ZERO, &[redo(pg, lsn, &body)])
                .await
                .unwrap();
        }
    }
    let listener = io.bind(SocketAddr::new(node_ip(node), PORT)).await.unwrap();
    let ctx = CoreCtx::new(
        io.clone(),
        engine,
        Identity {
            node_id: NodeId::new(node + 1),
            az: format!("az{node}"),
            core_index: 0,
            core_count: 1,
        },
        ServeLimits {
            connections_max: 16,
            requests_in_flight_max: 64,
        },
        NodeMetrics::new(),
    );
    ctx.set_ports(vec![PORT]);
    *slot.borrow_mut() = Some(ctx.clone());
    let peers = Rc::new(GossipPeers::new(vec![peer]));
    let g = boreal_engine::rt::spawn(gossip::run(ctx.clone(), Duration::from_millis(10), peers));
    serve(ctx, listener, Duration::from_secs(1)).await;
    let _ = g.await;
}

/// A: all of PG 1, PG 2 up to 10. B: PG 1 up to 10 and from 20 (a hole), all of PG 2.
fn a_has(pg: PgId, lsn: u64) -> bool {
    pg.get() == 1 || lsn <= 10
}

fn b_has(pg: PgId, lsn: u64) -> bool {
    pg.get() == 2 || !(11..20).contains(&lsn)
}

fn run_seed(seed: u64) -> u64 {
    let sim = Sim::new(SimConfig {
        seed,
        faults: FaultConfig::none(),
        ..SimConfig::default()
    });
    let (a, b) = (sim.add_node(), sim.add_node());
    let ctl = sim.control();
    ctl.partition(a, b);
    let slots: Vec<Rc<RefCell<Option<Ctx>>>> = (0..2).map(|_| Rc::default()).collect();
    let addr = |n: u32| SocketAddr::new(node_ip(n), PORT);
    sim.spawn_on(
        a,
        0,
        node_main(sim.io(a, 0), a, addr(b), a_has, slots[0].clone()),
    );
    sim.spawn_on(
        b,
        0,
        node_main(sim.io(b, 0), b, addr(a), b_has, slots[1].clone()),
    );
    let io = sim.io(a, 0);
    let scls = |slots: &[Rc<RefCell<Option<Ctx>>>]| -> Vec<u64> {
        let mut out = Vec::new();
        for s in slots {
            for pg in [1, 2] {
                let scl = s.borrow().as_ref().map_or(0, |c| {
                    c.engine()
                        .status(PgId::new(pg))
                        .map_or(0, |st| st.scl.get())
                });
                out.push(scl);
            }
        }
        out
    };
    sim.run(async {
        sleep(PARTITION).await;
        // Partitioned: nothing moved.
        assert_eq!(scls(&slots), [LAST, 10, 10, LAST], "seed {seed}");
        ctl.heal(a, b);
        let healed = io.now();
        while scls(&slots) != [LAST; 4] {
            let waited = io.now().saturating_duration_since(healed);
            assert!(
                waited < CATCH_UP,
                "seed {seed}: scls {:?} after {waited:?} healed",
                scls(&slots)
            );
            sleep(Duration::from_millis(10)).await;
        }
        for s in &slots {
            s.borrow().as_ref().unwrap().stop();
        }
        sleep(Duration::from_secs(2)).await;
    });
    sim.trace_hash()
}

#[test]
fn partitioned_nodes_catch_up_from_each_other_once_healed() {
    let seeds: Vec<u64> = match std::env::var("SEED") {
        Ok(s) => vec![s.parse().expect("SEED is a number")],
        Err(_) => {
            let n = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(SEEDS_DEFAULT);
            (0..n).collect()
        }
    };
    for seed in seeds {
        let trace = run_seed(seed);
        println!("seed={seed} trace={trace:x}");
    }
}
