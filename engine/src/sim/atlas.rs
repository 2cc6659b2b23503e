//! The fault atlas: a budget that keeps data-destroying faults off more replicas of the
//! same data than the replication can repair, so that "no committed loss, ever" is a
//! checkable invariant of a cluster simulation instead of something a destroyed disk
//! excuses.
//!
//! The idea is TigerBeetle's `ClusterFaultAtlas` (`src/testing/storage.zig`): random
//! faults on one replica are harmless as long as enough other replicas hold a clean
//! copy to repair from. TigerBeetle assigns faulty areas up front, because its
//! replicas share one layout. Boreal's do not (a record sits at a different journal
//! offset on each node), so the atlas here decides as faults happen, first come first
//! charged, and lets the test choose how coarse an extent is:
//!
//! - [`AtlasExtent::Range`]: `(file path, offset / bytes)`. "At most 2 of these 6 nodes
//!   may get data-destroying faults in the same 64 KiB of the same file." Right for
//!   files whose layout is the same on every replica (a page file, when every node
//!   holds the same pages); for the journal it bounds damage per place, not per record.
//! - [`AtlasExtent::File`]: the whole path. At most `faulty_max` nodes ever damage the
//!   same file.
//! - [`AtlasExtent::Disk`]: the whole disk. At most `faulty_max` nodes of the group
//!   ever get any data-destroying fault: the budget that makes "no acknowledged record
//!   is lost on more than `faulty_max` nodes" hold for any layout.
//!
//! A node is charged for an extent by its first fault there; further faults of the same
//! node in that extent are free. Charges last until the test says the node was repaired
//! ([`FaultAtlas::release`], e.g. after a heal when every segment agrees again), so a
//! long run can go on injecting faults. A random fault the budget refuses is not
//! injected (the operation completes cleanly) and is counted as suppressed; the draws
//! that decided it are made either way, so a node's fault stream does not shift.
//! Explicit controls (`SimControl::corrupt`, bad sectors, `wipe_disk`) are always
//! applied and charged; if that takes an extent over its budget, [`FaultAtlas::breaches`]
//! names it, so the test knows the invariant no longer binds there.
//!
//! Which faults it counts: stored bit flips, lost and misdirected writes (both the
//! intended and the landing range), sectors that go bad, corruption and wipes. Not the
//! ones a crash causes by contract (un-synced writes dropped or torn): those never
//! touch acknowledged data of a correct engine.
//!
//! Owns plain bookkeeping; never draws a number, never touches a disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How coarse one extent of a group is. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtlasExtent {
    /// `(path, offset / bytes)`; `bytes >= 1`.
    Range { bytes: u64 },
    /// The whole file at a path.
    File,
    /// The whole disk.
    Disk,
}

/// Nodes that hold replicas of the same data, and how many of them may get
/// data-destroying faults in one extent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtlasGroup {
    pub nodes: Vec<u32>,
    /// Most nodes of the group with data-destroying faults in one extent (the quorum's
    /// tolerance: 2 for 6 replicas written 4 of 6).
    pub faulty_max: u32,
    pub extent: AtlasExtent,
}

/// An extent over its budget, through explicit controls: the budget no longer binds
/// there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtlasBreach {
    /// Index of the group in the atlas.
    pub group: usize,
    /// The extent: `None` for the whole disk, else the path and, for a range extent,
    /// the range's index (`offset / bytes`).
    pub path: Option<PathBuf>,
    pub range: Option<u64>,
    /// The nodes charged there.
    pub nodes: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Range(PathBuf, u64),
    File(PathBuf),
    Disk,
}

#[derive(Clone, Debug)]
struct Group {
    spec: AtlasGroup,
    charged: BTreeMap<Key, BTreeSet<u32>>,
    /// Nodes charged in every extent (their disk was wiped).
    whole: BTreeSet<u32>,
}

impl Group {
    fn keys(&self, path: &Path, offset: u64, len: u64) -> Vec<Key> {
        match self.spec.extent {
            AtlasExtent::Range { bytes } => {
                let first = offset / bytes;
                let last = offset.saturating_add(len.max(1) - 1) / bytes;
                (first..=last)
                    .map(|i| Key::Range(path.to_path_buf(), i))
                    .collect()
            }
            AtlasExtent::File => vec![Key::File(path.to_path_buf())],
            AtlasExtent::Disk => vec![Key::Disk],
        }
    }

    fn faulty(&self, key: &Key) -> BTreeSet<u32> {
        let mut set = self.whole.clone();
        if let Some(c) = self.charged.get(key) {
            set.extend(c);
        }
        set
    }
}

/// The budget. Empty by default: no group, every fault allowed. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct FaultAtlas {
    groups: Vec<Group>,
}

impl FaultAtlas {
    /// An atlas with no group (nothing is bounded).
    pub fn new() -> FaultAtlas {
        FaultAtlas::default()
    }

    /// Adds a group. Panics (a test bug) on an empty group, a node listed twice, or a
    /// range extent of 0 bytes.
    pub fn group(mut self, spec: AtlasGroup) -> FaultAtlas {
        let distinct: BTreeSet<u32> = spec.nodes.iter().copied().collect();
        assert!(
            !spec.nodes.is_empty() && distinct.len() == spec.nodes.len(),
            "an atlas group needs distinct nodes, got {:?}",
            spec.nodes
        );
        assert!(
            spec.extent != AtlasExtent::Range { bytes: 0 },
            "an atlas range extent needs at least 1 byte"
        );
        self.groups.push(Group {
            spec,
            charged: BTreeMap::new(),
            whole: BTreeSet::new(),
        });
        self
    }

    /// Whether a random data-destroying fault on `node` over `[offset, offset + len)`
    /// of `path` fits the budget; if so, it is charged.
    pub(crate) fn admit(&mut self, node: u32, path: &Path, offset: u64, len: u64) -> bool {
        let fits = self
            .groups
            .iter()
            .filter(|g| g.spec.nodes.contains(&node))
            .all(|g| {
                g.keys(path, offset, len).iter().all(|k| {
                    let set = g.faulty(k);
                    set.contains(&node) || (set.len() as u64) < u64::from(g.spec.faulty_max)
                })
            });
        if fits {
            self.charge(node, path, offset, len);
        }
        fits
    }

    /// Charges an explicit fault, within the budget or not.
    pub(crate) fn charge(&mut self, node: u32, path: &Path, offset: u64, len: u64) {
        for g in self.groups.iter_mut() {
            if g.spec.nodes.contains(&node) {
                for k in g.keys(path, offset, len) {
                    g.charged.entry(k).or_default().insert(node);
                }
            }
        }
    }

    /// Charges `node` in every extent of its groups (its disk was wiped).
    pub(crate) fn charge_whole(&mut self, node: u32) {
        for g in self.groups.iter_mut() {
            if g.spec.nodes.contains(&node) {
                g.whole.insert(node);
            }
        }
    }

    /// Forgets every charge of `node`: the test verified that its damage was repaired.
    pub fn release(&mut self, node: u32) {
        for g in self.groups.iter_mut() {
            g.whole.remove(&node);
            g.charged.retain(|_, set| {
                set.remove(&node);
                !set.is_empty()
            });
        }
    }

    /// The nodes charged in the extent holding `offset` of `path`, per group (in group
    /// order; groups without `node`s charged there give an empty list).
    pub fn faulty_at(&self, path: &Path, offset: u64) -> Vec<Vec<u32>> {
        self.groups
            .iter()
            .map(|g| {
                let key = g.keys(path, offset, 1).swap_remove(0);
                g.faulty(&key).into_iter().collect()
            })
            .collect()
    }

    /// Every extent whose charged nodes exceed its group's budget.
    pub fn breaches(&self) -> Vec<AtlasBreach> {
        let mut out = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let mut keys: Vec<Key> = g.charged.keys().cloned().collect();
            if !g.whole.is_empty() && g.charged.is_empty() {
                keys.push(Key::Disk);
            }
            for k in keys {
                let set = g.faulty(&k);
                if set.len() as u64 > u64::from(g.spec.faulty_max) {
                    let (path, range) = match k {
                        Key::Range(p, r) => (Some(p), Some(r)),
                        Key::File(p) => (Some(p), None),
                        Key::Disk => (None, None),
                    };
                    out.push(AtlasBreach {
                        group: i,
                        path,
                        range,
                        nodes: set.into_iter().collect(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn six(extent: AtlasExtent) -> FaultAtlas {
        FaultAtlas::new().group(AtlasGroup {
            nodes: (0..6).collect(),
            faulty_max: 2,
            extent,
        })
    }

    #[test]
    fn at_most_faulty_max_nodes_per_range() {
        let mut a = six(AtlasExtent::Range { bytes: 4096 });
        let p = Path::new("/d/pages");
        assert!(a.admit(0, p, 0, 512));
        assert!(a.admit(1, p, 1024, 512));
        assert!(!a.admit(2, p, 2048, 512), "a third node in the same range");
        assert!(a.admit(0, p, 3072, 512), "a charged node may fault again");
        assert!(a.admit(2, p, 4096, 512), "the next range is free");
        assert!(
            !a.admit(3, p, 4000, 200),
            "a fault spanning two ranges needs room in both"
        );
        assert!(a.admit(2, Path::new("/d/other"), 0, 512));
        assert_eq!(a.faulty_at(p, 100), vec![vec![0, 1]]);
        a.release(1);
        assert!(a.admit(2, p, 0, 512), "room again once node 1 was repaired");
        assert!(a.breaches().is_empty());
    }

    #[test]
    fn disk_extent_bounds_faulty_nodes_and_wipes_count_everywhere() {
        let mut a = six(AtlasExtent::Disk);
        a.charge_whole(5);
        assert!(a.admit(0, Path::new("/x"), 0, 1));
        assert!(!a.admit(1, Path::new("/y"), 1 << 40, 1));
        assert!(a.breaches().is_empty());
        // An explicit control goes over the budget and says so.
        a.charge(3, Path::new("/z"), 0, 1);
        let b = a.breaches();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].nodes, vec![0, 3, 5]);
        // Nodes outside every group are not bounded.
        assert!(a.admit(9, Path::new("/x"), 0, 1));
    }
}
