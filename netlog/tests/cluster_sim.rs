//! The whole cluster under the simulator: six storage nodes (two per AZ, each the
//! code `boreal-node` runs on one core: `CoreEngine`, the node server, gossip with its
//! five peers) and the quorum shim, in one thread on `SimIo`, through disk faults,
//! network faults, crashes and restarts, checked against a model at every step.
//!
//! What a seed does (`cluster_sim_support`): a volume of 3 PGs of 4 pages; shims on
//! two nodes of their own, three writers and a reader each; mini-transactions of 1 to
//! 4 changes on random pages of random PGs (deltas that name the mtr, now and then a
//! whole page image). For 1.5–3 s of virtual time the faults go on: storage nodes lose
//! power or are killed and come back (sometimes during their boot); the shim crashes
//! and a new one opens the volume (volume recovery: epoch, fencing, truncation), or a
//! new one opens while the old one still runs, cut off from some nodes (it must be
//! fenced); partitions of pairs (one way or both) and of whole AZs from the shim; slow
//! and clogged links; connection resets; on one storage node only (the fault atlas:
//! one node's disk may lose data, so no more replicas are destroyed than the quorum
//! tolerates), stored bit flips, lost and misdirected writes, sector decay, corrupted
//! journal ranges and bad sectors; on every node EIO on reads, writes and syncs
//! (a failed write or sync stops that node's log; it is power-cycled, never killed
//! then: a known engine limit), read bit flips, short reads, torn writes at crashes;
//! in the network delays with jitter, short sends, stream resets. One storage node's
//! peers reach it through a relay that flips a bit in a fetched record now and then
//! (a peer with bad memory). Then faults stop, everything heals and restarts, and the
//! checks of the heal run (`heal.rs`).
//!
//! The model (`model.rs`) knows every mini-transaction (mtr) a shim handed out, its
//! LSNs (`Shim::submit` returns them as it hands them out) and its changes. An mtr is
//! pending until decided: committed once a VDL of its own shim reaches its CPL
//! (acknowledged or not), or by the first volume recovery of a later shim when its CPL
//! is at or below the recovered VDL; annulled when it lies in that recovery's
//! truncation `(VDL, end]`. An mtr handed out by a shim after a newer shim's recovery
//! (a fenced shim that runs on) is decided by that recovery at once.
//!
//! **The read rule.** A read through a shim whose VDL was `V` when the read started
//! (its read point is its PG's last record at or below `V`) must return exactly the
//! page made of every non-annulled mtr's changes to that page with LSN at or below
//! `V`, applied in LSN order, and that page's LSN. This is exact, not a range: every
//! mtr at or below `V` is decided when the read starts (those of the reading shim by
//! `V` itself: everything at or below a VDL is committed; those of older shims by the
//! recovery that started the reading shim, which annuls everything above its VDL up to
//! where any older shim could have handed out LSNs; those of a fenced shim still
//! running lie above the newer recovery's VDL and inside its truncation). So a read may
//! show an unacknowledged mtr only if it committed (its CPL is at or below a VDL:
//! acknowledged later, or kept by a recovery), and must never show an annulled one, nor
//! half of one (mtrs get contiguous LSNs and a VDL is always a CPL).
//!
//! **Invariants**, checked at every acknowledgement, read, recovery and fault step:
//! no acknowledged mtr is lost (every recovery's VDL is at or above every acknowledged
//! CPL, and no acknowledged mtr is ever annulled); the VDL never goes back (within a
//! shim, and across recoveries; a fenced shim's VDL never passes the newer recovery's);
//! every read obeys the read rule; every LSN an older shim handed out is at or below
//! the newer recovery's truncation end. After the heal: a shim opens, every write in
//! flight completes, one more mtr over every PG commits, and every segment reaches its
//! PG's read point, each within a bound of virtual time (`SimControl::await_live`);
//! then every segment of each PG agrees up to the VDL: it holds exactly the model's
//! records of its PG (none of an annulled mtr: nothing written under a fenced epoch
//! survives a truncation; nothing above the VDL), and each page read from each segment
//! at the read point, and through the shim, is the model's. The fault atlas must not
//! have been breached, and no node may fail to open unless its disk was damaged.
//!
//! **Running it.** Every seed prints `seed=<n> trace=<hash>`; the same seed gives the
//! same trace. `SEED=n` replays one seed (with `--nocapture` to see it); `SEEDS=n` (or
//! `SIM_SEEDS=n`) runs n seeds from `SIM_SEED_BASE` (default 0; `random` for a new
//! batch) and the run ends with `cluster seeds=<n> violations=<v>` and its figures.
//! The default is 1,000 seeds in a release build (`cargo test --release -p
//! boreal-netlog --test cluster_sim`) and 8 in a debug build (`cargo test
//! --workspace`), where the simulator runs about twenty times slower. Seeds run on
//! every core the test process may use, one simulation per thread.
//!
//! The deliberately broken variants (`quorum::Mutations`, `GossipMutations`) each have
//! a named seed below that catches them, and every bug the simulation found has a
//! regression seed.

mod cluster_sim_support;
mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use boreal_engine::sim::SeedPlan;
use cluster_sim_support::{Outcome, Stats, Variant, run_seed};

const SEEDS_RELEASE: u64 = 1000;
const SEEDS_DEBUG: u64 = 8;

/// Seeds that catch each broken variant, the first ones of 0..200 that do (found
/// with `SEARCH=<variant> SEEDS=200`; over those 200 seeds acking at 3 of 6 is caught
/// by 4, the VDL without the CPL rule by 41, recovery without truncation by 177,
/// gossip keeping a bad record by 52). Any change to the code under test moves the
/// traces: when a test below fails, search again before suspecting the checks (one
/// seed at a time is quicker: `SEED=<n> SEARCH=<variant>` prints `violations=`).
/// Acking at 3 of 6 was searched again when the shim's frames changed (session 19):
/// 69, 140 and 199 are the seeds of 0..200 that catch it.
const WRITE_QUORUM_3_SEEDS: &[u64] = &[69, 140, 199];
const VDL_WITHOUT_CPL_SEEDS: &[u64] = &[6, 15, 16];
const SKIP_TRUNCATION_SEEDS: &[u64] = &[0, 1, 2];
const BAD_CHECKSUM_SEEDS: &[u64] = &[4, 5, 6];

/// Seeds that failed on the way, each with the bug it found (all fixed: they must
/// pass). 2, 8, 327, 676 and 825 were found by running the seeds with that fix taken
/// out; 1394, 5034, 5303 and 7741 by the first run of 10,000 seeds, 6134 and 8431 by
/// the second.
const REGRESSION_SEEDS: &[(u64, &str)] = &[
    (
        2,
        "the last writes before a quiet spell waited for ever: segments gossip repaired \
         never acknowledged them (the shim's SCL poll)",
    ),
    (
        8,
        "a node down while a shim opened the volume missed its truncation and segment \
         creation, and never caught up (setup frames on every new connection)",
    ),
    (
        327,
        "after the heal no page could be read: reads used only live connections and \
         never reconnected (reads reconnect)",
    ),
    (
        676,
        "recovery followed an annulled record a segment kept from before an earlier \
         truncation and cut committed mtrs (records inside a truncation are annulled)",
    ),
    (
        1394,
        "the last write after the heal failed at once: its page read found no segment \
         caught up yet (reads are tried again until request_timeout)",
    ),
    (
        5034,
        "a recovery kept records one responder held and wrote its truncation; that node \
         lost its disk and the next recovery took the VDL back (the kept records must be \
         on a write quorum first; a recovery below an earlier one's VDL refuses)",
    ),
    (
        5303,
        "a node down when the last writes went out never got its segment created: the \
         shim reconnected only with records queued (links reconnect when idle)",
    ),
    (
        7741,
        "a segment creation the node failed with EIO was taken as done (a failed setup \
         frame is sent again)",
    ),
    (
        6134,
        "after the heal the writes in flight never committed: records the shim had \
         dropped for unreachable segments were on fewer than a write quorum and held \
         nowhere else (the SCL poller sends unacknowledged records again)",
    ),
    (8431, "the same as 6134"),
    (
        825,
        "an earlier truncation a segment missed was never applied once a newer epoch \
         fenced it (recovery writes earlier truncations again under its epoch)",
    ),
];

fn variant(name: &str) -> Variant {
    let mut v = Variant::default();
    match name {
        "none" => {}
        "write_quorum_3" => v.shim.write_quorum_3 = true,
        "vdl_without_cpl" => v.shim.vdl_without_cpl = true,
        "skip_truncation" => v.shim.skip_truncation = true,
        "bad_checksum" => v.gossip_accepts_bad_checksums = true,
        other => panic!(
            "no variant {other:?}: none, write_quorum_3, vdl_without_cpl, skip_truncation, \
             bad_checksum"
        ),
    }
    v
}

/// The seeds the environment asks for (`SEEDS` is the same as `SIM_SEEDS`).
fn plan() -> SeedPlan {
    let default = if cfg!(debug_assertions) {
        SEEDS_DEBUG
    } else {
        SEEDS_RELEASE
    };
    let mut p = SeedPlan::from_env(default);
    if !p.replay
        && let Ok(v) = std::env::var("SEEDS")
    {
        p.count = v.parse().expect("SEEDS is a number");
    }
    p
}

/// One seed, a panic in it turned into a violation.
fn one(seed: u64, v: Variant) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| run_seed(seed, v))) {
        Ok(o) => o,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            Outcome {
                seed,
                trace: 0,
                violations: vec![format!("panicked: {what}")],
                notes: Vec::new(),
                stats: Stats::default(),
            }
        }
    }
}

/// Runs `seeds` on every core the process may use; prints each seed's line as it
/// ends; returns the outcomes in seed order.
fn run_all(seeds: std::ops::Range<u64>, v: Variant, replay: bool) -> Vec<Outcome> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicU64::new(seeds.start);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..workers.min(seeds.clone().count().max(1)) {
            let (tx, next, end) = (tx.clone(), &next, seeds.end);
            s.spawn(move || {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        return;
                    }
                    let o = one(seed, v);
                    println!("seed={} trace={:016x}", o.seed, o.trace);
                    for x in &o.violations {
                        println!("seed={} VIOLATION {x}", o.seed);
                    }
                    if replay {
                        for x in &o.notes {
                            println!("seed={} note {x}", o.seed);
                        }
                    }
                    if tx.send(o).is_err() {
                        return;
                    }
                }
            });
        }
    });
    drop(tx);
    let mut out: Vec<Outcome> = rx.into_iter().collect();
    out.sort_by_key(|o| o.seed);
    out
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() - 1) * p / 100]
}

/// The run's figures, one paragraph.
fn figures(outcomes: &[Outcome], wall: std::time::Duration) -> String {
    let mut t = Stats::default();
    for o in outcomes {
        t.add(&o.stats);
    }
    let mut rec = t.recovery_ns.clone();
    rec.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    format!(
        "crashes: {} power losses, {} kills, {} fail-stops, {} failed opens, {} nodes lost to \
         damage, {} node boots; shims: {} crashes, {} fenced while running, {} opens ({} \
         failed), {} recoveries, recovery (open) in virtual time min {:.1} ms, median {:.1} \
         ms, p99 {:.1} ms, max {:.1} ms; network: {} partitions, {} slow links, {} resets; \
         disk: {} damage events, {} corruptions, {} bad-sector ranges, {} records damaged \
         in the relay; workload: {} mtrs, {} commits, {} annulled, {} write errors, {} reads \
         checked, {} read errors; longest heal {:.0} ms virtual; most recoveries in a seed {}, \
         most truncations a segment held {}; wall {:.1} s",
        t.power_losses,
        t.kills,
        t.fail_stops,
        t.open_failures,
        t.nodes_lost,
        t.node_boots,
        t.shim_crashes,
        t.zombies,
        t.shim_opens,
        t.shim_open_failures,
        rec.len(),
        ms(rec.first().copied().unwrap_or(0)),
        ms(percentile(&rec, 50)),
        ms(percentile(&rec, 99)),
        ms(rec.last().copied().unwrap_or(0)),
        t.partitions,
        t.slow_links,
        t.resets,
        t.damage_events,
        t.corruptions,
        t.bad_sectors,
        t.records_damaged_in_relay,
        t.mtrs,
        t.commits,
        t.annulled,
        t.write_errors,
        t.reads,
        t.read_errors,
        ms(t.heal_ns),
        t.recoveries_max,
        t.truncations_max,
        wall.as_secs_f64()
    )
}

#[test]
fn the_cluster_keeps_every_commit_through_faults_and_crashes() {
    let plan = plan();
    let name = std::env::var("SEARCH").unwrap_or_else(|_| "none".into());
    let v = variant(&name);
    println!("cluster_sim: variant {name}, {}", plan.describe());
    let started = Instant::now();
    let outcomes = run_all(plan.seeds(), v, plan.replay);
    let bad: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.violations.is_empty())
        .collect();
    println!("{}", figures(&outcomes, started.elapsed()));
    println!(
        "cluster seeds={} violations={}",
        outcomes.len(),
        bad.iter().map(|o| o.violations.len()).sum::<usize>()
    );
    for o in &bad {
        println!(
            "seed {} failed ({} violations); replay: SEED={} cargo test --release -p \
             boreal-netlog --test cluster_sim -- --nocapture",
            o.seed,
            o.violations.len(),
            o.seed
        );
    }
    if name == "none" {
        assert!(bad.is_empty(), "{} seeds broke an invariant", bad.len());
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let (a, b) = (one(7, Variant::default()), one(7, Variant::default()));
    assert_eq!(a.trace, b.trace, "seed 7 ran two different ways");
    assert_eq!(a.violations, b.violations);
    assert!(a.stats.commits > 0 && a.stats.power_losses + a.stats.kills > 0);
    assert_ne!(a.trace, one(8, Variant::default()).trace);
}

/// Runs `seeds` with the broken variant `name` and asserts that at least one of them
/// breaks an invariant.
fn caught(name: &str, seeds: &[u64]) {
    for &seed in seeds {
        let o = one(seed, variant(name));
        println!("{name}: seed={seed} trace={:016x}", o.trace);
        for x in &o.violations {
            println!("  {x}");
        }
        if !o.violations.is_empty() {
            return;
        }
    }
    panic!("the broken variant {name} passed seeds {seeds:?}: the simulation no longer catches it");
}

#[test]
fn acking_at_3_of_6_is_caught() {
    caught("write_quorum_3", WRITE_QUORUM_3_SEEDS);
}

#[test]
fn a_vdl_without_the_cpl_rule_is_caught() {
    caught("vdl_without_cpl", VDL_WITHOUT_CPL_SEEDS);
}

#[test]
fn recovery_without_truncation_is_caught() {
    caught("skip_truncation", SKIP_TRUNCATION_SEEDS);
}

#[test]
fn gossip_keeping_a_record_with_a_wrong_checksum_is_caught() {
    caught("bad_checksum", BAD_CHECKSUM_SEEDS);
}

#[test]
fn regression_seeds_pass() {
    let mut failed = Vec::new();
    for &(seed, what) in REGRESSION_SEEDS {
        let o = one(seed, Variant::default());
        println!("seed={seed} trace={:016x}", o.trace);
        for x in &o.violations {
            println!("seed={seed} VIOLATION {x}");
        }
        if !o.violations.is_empty() {
            failed.push(format!("seed {seed} ({what})"));
        }
    }
    assert!(
        failed.is_empty(),
        "regression seeds failed again: {failed:?}"
    );
}
