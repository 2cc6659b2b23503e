//! The faults one seed injects while the workload runs, one action every few tens of
//! milliseconds of virtual time, each undone after a while: storage nodes crash (power
//! loss) or are killed, and come back; the shim crashes and a new one opens (volume
//! recovery), or a new one opens while the old one still runs (it is fenced);
//! partitions (a pair, one way or both, or a whole AZ), slow and clogged links,
//! connection resets; and on the one storage node the atlas lets lose data, corrupted
//! journal ranges and bad sectors. The simulator adds its own: delays and jitter,
//! resets and short sends, EIO, bit flips, torn and lost writes, sector decay.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::{Clock, Instant};
use boreal_engine::sim::LinkConfig;

use super::nodes::{self, JOURNAL_DIR, Life, STORAGE_NODES};
use super::shims::{self, ShimState};
use super::{Cluster, SHIM_NODES};

/// How long the faults go on, ms: at least, and at most more.
const CHAOS_MS_MIN: u64 = 1500;
const CHAOS_MS_SPREAD: u64 = 1500;
/// Pause between two actions, ms.
const STEP_MS_MIN: u64 = 20;
const STEP_MS_SPREAD: u64 = 200;
/// Storage nodes down at once, at most (with three down no write quorum is left;
/// writes wait for one to come back).
const DOWN_MAX: usize = 3;

/// What undoes an action later.
#[derive(Debug)]
enum Undo {
    Heal(u32, u32),
    HealOneWay(u32, u32),
    RestoreLink(u32, u32),
    /// Heals a shim node's partition from an AZ's two nodes.
    EndAzCut(u32, u32),
    /// The three storage nodes that stayed up through an AZ+1 outage go down in turn
    /// (the others are back by now), and the shim crashes.
    RollOver(Vec<u32>),
    /// Ends a fenced shim (its node goes down), and heals what cut it off.
    EndZombie(usize, Vec<u32>),
}

/// The nodes a partition may cut: the storage nodes and the shim nodes.
fn any_node(c: &Cluster) -> u32 {
    let all = STORAGE_NODES as u64 + SHIM_NODES.len() as u64;
    let k = c.ctl.random_below(all) as u32;
    if k < STORAGE_NODES {
        k
    } else {
        SHIM_NODES[(k - STORAGE_NODES) as usize]
    }
}

fn ms(c: &Cluster, min: u64, spread: u64) -> Duration {
    Duration::from_millis(min + c.ctl.random_below(spread + 1))
}

pub async fn run(c: &Rc<Cluster>) {
    let end = c
        .ctl
        .now()
        .saturating_add(ms(c, CHAOS_MS_MIN, CHAOS_MS_SPREAD));
    let mut undo: Vec<(Instant, Undo)> = Vec::new();
    while c.ctl.now() < end {
        c.ctl.sleep(ms(c, STEP_MS_MIN, STEP_MS_SPREAD)).await;
        let now = c.ctl.now();
        let (due, later): (Vec<_>, Vec<_>) = undo.into_iter().partition(|(at, _)| *at <= now);
        undo = later;
        for (_, u) in due {
            apply(c, u);
        }
        if let Some(u) = act(c) {
            c.note(format!("until {:?}: {:?}", u.0, u.1));
            undo.push(u);
        }
        check_step(c);
    }
    for (_, u) in undo {
        if let Undo::EndZombie(..) = u {
            apply(c, u);
        }
    }
}

fn apply(c: &Rc<Cluster>, u: Undo) {
    c.note(format!("undo {u:?}"));
    match u {
        Undo::Heal(a, b) => c.ctl.heal(a, b),
        Undo::HealOneWay(a, b) => c.ctl.heal_one_way(a, b),
        Undo::RestoreLink(a, b) => c.ctl.set_link(a, b, LinkConfig::default()),
        Undo::EndAzCut(shim, az) => {
            c.ctl.heal(shim, az);
            c.ctl.heal(shim, az + 3);
        }
        Undo::RollOver(stayed) => {
            let back = c.ctl.now().saturating_add(ms(c, 600, 900));
            for n in stayed {
                let power = c.ctl.chance(0.5);
                nodes::take_down(c, n, power, back);
            }
            if let Some(s) = shims::current(c)
                && s.state.get() == ShimState::Open
            {
                shims::take_down(c, &s, true);
            }
        }
        Undo::EndZombie(inc, cut) => {
            let s = c.shims.borrow()[inc].clone();
            if matches!(s.state.get(), ShimState::Open | ShimState::Opening) {
                shims::take_down(c, &s, false);
            }
            for n in cut {
                c.ctl.heal(s.node, n);
            }
        }
    }
}

/// Picks and does one action; returns what undoes it, if anything.
fn act(c: &Rc<Cluster>) -> Option<(Instant, Undo)> {
    let now = c.ctl.now();
    let later = |min, spread| now.saturating_add(ms(c, min, spread));
    match c.ctl.random_below(100) {
        // A storage node goes down (power loss or a kill) and comes back later.
        0..=17 => {
            let down = c
                .nodes
                .iter()
                .filter(|n| n.life.get() != Life::Serving)
                .count();
            if down >= DOWN_MAX {
                return None;
            }
            let n = c.ctl.random_below(u64::from(STORAGE_NODES)) as u32;
            if matches!(
                c.nodes[n as usize].life.get(),
                Life::Serving | Life::Booting
            ) {
                let power = c.ctl.chance(0.6);
                nodes::take_down(c, n, power, later(20, 700));
            }
            None
        }
        // The shim crashes; the keeper opens a new one (volume recovery).
        18..=25 => {
            let s = shims::current(c)?;
            if s.state.get() == ShimState::Open {
                shims::take_down(c, &s, c.ctl.chance(0.5));
            }
            None
        }
        // A new shim opens while the old one runs on, maybe cut off from some nodes.
        26..=29 => {
            let old = shims::current(c)?;
            if old.state.get() != ShimState::Open {
                return None;
            }
            let mut cut = Vec::new();
            for n in 0..STORAGE_NODES {
                if c.ctl.chance(0.4) {
                    c.ctl.partition(old.node, n);
                    cut.push(n);
                }
            }
            shims::start(c)?;
            c.stats.borrow_mut().zombies += 1;
            Some((later(100, 1500), Undo::EndZombie(old.inc, cut)))
        }
        // A partition between two nodes, both ways or one.
        30..=49 => {
            let (a, b) = (any_node(c), any_node(c));
            if a == b {
                return None;
            }
            c.stats.borrow_mut().partitions += 1;
            if c.ctl.chance(0.3) {
                c.ctl.partition_one_way(a, b);
                Some((later(30, 1500), Undo::HealOneWay(a, b)))
            } else {
                c.ctl.partition(a, b);
                Some((later(30, 1500), Undo::Heal(a, b)))
            }
        }
        // An AZ is cut off from the shim.
        50..=54 => {
            let s = shims::current(c)?;
            let az = c.ctl.random_below(3) as u32;
            c.stats.borrow_mut().partitions += 1;
            c.ctl.partition(s.node, az);
            c.ctl.partition(s.node, az + 3);
            Some((later(50, 1000), Undo::EndAzCut(s.node, az)))
        }
        // A slow or clogged link.
        55..=64 => {
            let (a, b) = (any_node(c), any_node(c));
            if a == b {
                return None;
            }
            c.stats.borrow_mut().slow_links += 1;
            let link = if c.ctl.chance(0.5) {
                LinkConfig {
                    delay_factor: 2.0 + c.ctl.random_below(40) as f64,
                    extra_delay_ns: 0,
                }
            } else {
                LinkConfig {
                    delay_factor: 1.0,
                    extra_delay_ns: 1_000_000 + c.ctl.random_below(30_000_000),
                }
            };
            c.ctl.set_link(a, b, link);
            Some((later(50, 2000), Undo::RestoreLink(a, b)))
        }
        // Every connection of a node resets.
        65..=69 => {
            c.stats.borrow_mut().resets += 1;
            c.ctl.reset_streams(any_node(c));
            None
        }
        // A rolling AZ+1 outage: an AZ and one more node go down; when they are back,
        // the three that stayed up go down and the shim crashes (a write quorum of 3
        // would have committed on those three alone).
        75..=77 => {
            if c.nodes.iter().any(|n| n.life.get() != Life::Serving) {
                return None;
            }
            let az = c.ctl.random_below(3) as u32;
            let extra =
                (az + 1 + c.ctl.random_below(2) as u32) % 3 + 3 * c.ctl.random_below(2) as u32;
            let down = [az, az + 3, extra];
            let back = later(100, 300);
            for n in down {
                let power = c.ctl.chance(0.5);
                nodes::take_down(c, n, power, back);
            }
            let stayed = (0..STORAGE_NODES).filter(|n| !down.contains(n)).collect();
            Some((back, Undo::RollOver(stayed)))
        }
        // Damage on the disk of the node the atlas charges (or a first one).
        70..=74 => {
            damage(c);
            None
        }
        _ => None,
    }
}

/// Corrupts a range, or makes sectors bad, in a journal file of the one storage node
/// allowed data-destroying faults.
fn damage(c: &Cluster) {
    let atlas = c.ctl.atlas();
    let charged = atlas
        .faulty_at(std::path::Path::new("/"), 0)
        .into_iter()
        .flatten()
        .next();
    let victim = charged.unwrap_or_else(|| c.ctl.random_below(u64::from(STORAGE_NODES)) as u32);
    let file = c.ctl.random_below(16);
    let path = PathBuf::from(format!("{JOURNAL_DIR}/journal-{file:04}.brj"));
    let start = c.ctl.random_below(256 << 10) & !511;
    let len = 512 * (1 + c.ctl.random_below(8));
    if c.ctl.chance(0.5) {
        if c.ctl.corrupt(victim, &path, start..start + len).is_ok() {
            c.stats.borrow_mut().corruptions += 1;
        }
    } else if c
        .ctl
        .add_bad_sectors(victim, &path, start..start + len)
        .is_ok()
    {
        c.stats.borrow_mut().bad_sectors += 1;
    }
}

/// The invariants checked after every action: every live shim's VDL.
pub fn check_step(c: &Cluster) {
    let live: Vec<_> = c.shims.borrow().iter().cloned().collect();
    for s in live {
        if let Some(shim) = s.open() {
            let found = c.model.borrow_mut().saw_vdl(s.inc, shim.vdl());
            c.violations(found);
        }
    }
}
