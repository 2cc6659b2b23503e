//! The whole-cluster simulation's machinery (what it checks and why is in
//! `cluster_sim.rs`'s module docs): the cluster one seed runs, and the run itself.
//!
//! - `model`: every mini-transaction handed out and what became of it; the checks.
//! - `nodes`: six storage nodes booting the code `boreal-node` runs, and their
//!   supervisor.
//! - `shims`: shim incarnations, each opening the volume (volume recovery), with its
//!   writers and reader.
//! - `chaos`: the faults a seed injects while the workload runs.
//! - `heal`: faults stop, everything restarts, and the cluster must agree.
//! - `proxy`: a relay that damages records the way a peer with bad memory would.

pub mod chaos;
pub mod heal;
pub mod model;
pub mod nodes;
pub mod proxy;
pub mod shims;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Clock;
use boreal_engine::rt::{Domain, spawn_in};
use boreal_engine::sim::{
    AtlasExtent, AtlasGroup, ClockConfig, DiskConfig, FaultAtlas, FaultConfig, NodeConfig, Sim,
    SimConfig, SimControl, SimIo,
};
use boreal_netlog::quorum::{Member, Mutations, VolumeConfig};

use self::model::Model;
use self::nodes::{Node, STORAGE_NODES};
use self::shims::ShimInc;

/// Pages of the volume: tiny PGs, so that mini-transactions cross PGs.
pub const PGS: u32 = 3;
pub const PAGES_PER_PG: u64 = 4;
pub const PAGE_SIZE: u32 = 4096;
pub const PAYLOAD_BYTES: usize = PAGE_SIZE as usize - 32;
/// The simulated nodes that host shims (two, so a new shim can open while an older
/// one still runs, fenced).
pub const SHIM_NODES: [u32; 2] = [6, 7];

/// Which rules the system under test breaks (all kept by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    pub shim: Mutations,
    pub gossip_accepts_bad_checksums: bool,
}

/// What a seed did, for the run's figures.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub power_losses: u64,
    pub kills: u64,
    pub node_boots: u64,
    pub fail_stops: u64,
    pub open_failures: u64,
    pub nodes_lost: u64,
    pub shim_crashes: u64,
    pub zombies: u64,
    pub shim_opens: u64,
    pub shim_open_failures: u64,
    /// Virtual time of each volume open that recovered a used volume, ns.
    pub recovery_ns: Vec<u64>,
    pub partitions: u64,
    pub slow_links: u64,
    pub resets: u64,
    pub corruptions: u64,
    pub bad_sectors: u64,
    pub commits: u64,
    pub write_errors: u64,
    pub reads: u64,
    pub read_errors: u64,
    pub records_damaged_in_relay: u64,
    pub mtrs: u64,
    pub annulled: u64,
    pub damage_events: u64,
    /// Virtual time from faults stopping to every segment agreeing, ns.
    pub heal_ns: u64,
    /// The most volume recoveries of one seed.
    pub recoveries_max: u64,
    /// The longest list of truncations a segment held at the end of a seed (the
    /// engine stops a core past 167).
    pub truncations_max: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        sum!(
            power_losses,
            kills,
            node_boots,
            fail_stops,
            open_failures,
            nodes_lost,
            shim_crashes,
            zombies,
            shim_opens,
            shim_open_failures,
            partitions,
            slow_links,
            resets,
            corruptions,
            bad_sectors,
            commits,
            write_errors,
            reads,
            read_errors,
            records_damaged_in_relay,
            mtrs,
            annulled,
            damage_events
        );
        self.recovery_ns.extend_from_slice(&o.recovery_ns);
        self.heal_ns = self.heal_ns.max(o.heal_ns);
        self.recoveries_max = self.recoveries_max.max(o.recovery_ns.len() as u64);
        self.truncations_max = self.truncations_max.max(o.truncations_max);
    }
}

/// What one seed found.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub trace: u64,
    pub violations: Vec<String>,
    /// What happened that is worth a line in a replay (not a violation).
    pub notes: Vec<String>,
    pub stats: Stats,
}

/// The simulated cluster of one seed: what every task shares.
pub struct Cluster {
    pub ctl: SimControl,
    pub variant: Variant,
    ios: Vec<SimIo>,
    pub nodes: Vec<Node>,
    /// The storage node whose peers reach it through the damaging relay.
    pub proxied: u32,
    pub volume: VolumeConfig,
    pub model: RefCell<Model>,
    pub shims: RefCell<Vec<Rc<ShimInc>>>,
    pub stats: RefCell<Stats>,
    violations: RefCell<Vec<String>>,
    notes: RefCell<Vec<String>>,
    /// Writers hand out no new mini-transaction once set (the heal).
    pub workload_stop: Cell<bool>,
    pub next_tag: Cell<u32>,
}

impl Cluster {
    pub fn io(&self, node: u32) -> SimIo {
        self.ios[node as usize].clone()
    }

    /// Notes a broken invariant (the run goes on).
    pub fn violation(&self, what: String) {
        let at = self.ctl.now().as_nanos() / 1_000_000;
        self.violations
            .borrow_mut()
            .push(format!("t={at}ms {what}"));
    }

    pub fn violations(&self, found: Vec<String>) {
        for v in found {
            self.violation(v);
        }
    }

    /// Notes something a replay should show.
    pub fn note(&self, what: String) {
        let at = self.ctl.now().as_nanos() / 1_000_000;
        self.notes.borrow_mut().push(format!("t={at}ms {what}"));
    }

    /// The addresses node `n` gossips with: its five peers, the proxied one through
    /// the relay.
    pub fn peers_of(&self, n: u32) -> Vec<SocketAddr> {
        (0..STORAGE_NODES)
            .filter(|&m| m != n)
            .map(|m| {
                if m == self.proxied {
                    proxy::addr()
                } else {
                    self.nodes[m as usize].addr()
                }
            })
            .collect()
    }
}

/// Faults of a storage node: the simulator's transient ones, a little more EIO, and
/// data-destroying ones (the atlas keeps those to one node).
fn storage_faults() -> FaultConfig {
    FaultConfig {
        read_eio_probability: 0.001,
        write_eio_probability: 0.0005,
        sync_eio_probability: 0.0005,
        short_read_probability: 0.001,
        stored_bit_flip_probability: 0.0005,
        lost_write_probability: 0.0003,
        misdirected_write_probability: 0.0002,
        sector_decay_mean_ns: 2_000_000_000,
        ..FaultConfig::default()
    }
}

/// Runs one seed with `variant` and returns what it found.
pub fn run_seed(seed: u64, variant: Variant) -> Outcome {
    let sim = Sim::new(SimConfig {
        seed,
        faults: FaultConfig::none(),
        clock_offset_ns_max: 1_000_000_000,
        clock_drift_ppm_max: 200,
        ..SimConfig::default()
    });
    let ctl = sim.control();
    let mut ios = Vec::new();
    for n in 0..=proxy::PROXY {
        let faults = if n < STORAGE_NODES {
            storage_faults()
        } else if n == proxy::PROXY {
            FaultConfig::none()
        } else {
            FaultConfig::default().without_data_loss()
        };
        let id = sim.add_node_with(NodeConfig {
            disk: DiskConfig::default(),
            faults,
            clock: ClockConfig {
                offset_ns: ctl.random_below(1_000_000_000),
                drift_ppm: ctl.random_below(401) as i32 - 200,
            },
        });
        ios.push(sim.io(id, 0));
    }
    ctl.set_atlas(FaultAtlas::new().group(AtlasGroup {
        nodes: (0..STORAGE_NODES).collect(),
        faulty_max: 1,
        extent: AtlasExtent::Disk,
    }));
    let lal = [12, 40, 400][ctl.random_below(3) as usize];
    let volume = VolumeConfig {
        page_size: PAGE_SIZE,
        pages_per_pg: PAGES_PER_PG,
        pgs: PGS,
        lal,
        members: (0..STORAGE_NODES)
            .map(|n| Member {
                node_id: n + 1,
                az: format!("az{}", n % 3),
                addr: SocketAddr::new(boreal_engine::sim::node_ip(n), nodes::PORT),
            })
            .collect(),
    };
    let c = Rc::new(Cluster {
        proxied: ctl.random_below(u64::from(STORAGE_NODES)) as u32,
        ctl: ctl.clone(),
        variant,
        ios,
        nodes: (0..STORAGE_NODES).map(Node::new).collect(),
        volume,
        model: RefCell::new(Model::new(PAYLOAD_BYTES, PAGES_PER_PG)),
        shims: RefCell::new(Vec::new()),
        stats: RefCell::new(Stats::default()),
        violations: RefCell::new(Vec::new()),
        notes: RefCell::new(Vec::new()),
        workload_stop: Cell::new(false),
        next_tag: Cell::new(1),
    });
    sim.run(main(c.clone()));
    let mut stats = c.stats.borrow().clone();
    let (mtrs, _, _, annulled) = c.model.borrow().counts();
    stats.mtrs = mtrs as u64;
    stats.annulled = annulled as u64;
    stats.damage_events = (0..STORAGE_NODES).map(|n| ctl.damage(n).len() as u64).sum();
    for b in ctl.atlas_breaches() {
        c.violation(format!("the fault atlas was breached: {b:?}"));
    }
    let violations = c.violations.borrow().clone();
    let notes = c.notes.borrow().clone();
    Outcome {
        seed,
        trace: sim.trace_hash(),
        violations,
        notes,
        stats,
    }
}

async fn main(c: Rc<Cluster>) {
    for n in 0..STORAGE_NODES {
        nodes::start(&c, n);
    }
    drop(spawn_in(
        Domain {
            node: proxy::PROXY,
            core: 0,
        },
        proxy::run(c.clone()),
    ));
    let keeper = {
        let c = c.clone();
        boreal_engine::rt::spawn(async move {
            loop {
                nodes::supervise(&c);
                shims::keep(&c);
                c.ctl.sleep(Duration::from_millis(20)).await;
            }
        })
    };
    chaos::run(&c).await;
    heal::run(&c).await;
    keeper.abort();
}
