//! A volume's shape: its pages split into protection groups by range, and where each
//! PG's six segments live (two storage nodes in each of three AZs).
//!
//! Placement: with exactly six nodes, two per AZ, every PG is on every node. With more,
//! each AZ's two nodes for a PG are the two with the highest rendezvous hash of (PG,
//! node id), so adding a node moves only the PGs it now wins and every node carries
//! about the same share. Sans-I/O: plain data and pure functions.

use std::net::SocketAddr;

use boreal_segment::{PageId, PageSize, PgId};
use serde::{Deserialize, Serialize};

use super::watermarks::SEGMENTS;

/// One storage node of the volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub node_id: u32,
    /// Its availability zone label (what the node announces in `Hello`).
    pub az: String,
    /// Any core's address: `Hello` answers with every core's port.
    pub addr: SocketAddr,
}

/// A volume: pages, PGs, nodes, and the shim's limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    /// Page size, bytes (a power of two, 4 KiB..=64 KiB). Default 8 KiB.
    pub page_size: u32,
    /// Pages per protection group (10 GiB of pages in production, a few in tests).
    pub pages_per_pg: u64,
    /// Protection groups of the volume; the volume has `pgs × pages_per_pg` pages.
    pub pgs: u32,
    /// LSN allocation limit: no LSN above VDL + `lal` is handed out (writers wait),
    /// and volume recovery truncates `(VDL, VDL + lal]`. Default 1,000,000.
    pub lal: u64,
    /// The storage nodes: at least six, two or more in each of three AZs.
    pub members: Vec<Member>,
}

impl VolumeConfig {
    /// Refuses a volume the shim cannot place, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        PageSize::new(self.page_size).map_err(|e| format!("page_size {}: {e}", self.page_size))?;
        if self.pages_per_pg == 0 || self.pgs == 0 {
            return Err("pages_per_pg and pgs must be at least 1".into());
        }
        if self.lal == 0 {
            return Err("lal must be at least 1".into());
        }
        let mut azs: Vec<&str> = self.members.iter().map(|m| m.az.as_str()).collect();
        azs.sort_unstable();
        azs.dedup();
        if azs.len() != 3 {
            return Err(format!(
                "the members are in {} AZs ({}): a volume needs exactly three, two segments of each PG in each",
                azs.len(),
                azs.join(", ")
            ));
        }
        for az in &azs {
            let n = self.members.iter().filter(|m| m.az == *az).count();
            if n < 2 {
                return Err(format!("AZ {az} has {n} member: it needs at least two"));
            }
        }
        let mut ids: Vec<u32> = self.members.iter().map(|m| m.node_id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err("two members share a node_id".into());
        }
        Ok(())
    }

    pub fn page_size(&self) -> PageSize {
        PageSize::new(self.page_size).expect("validated")
    }

    /// Pages of the volume.
    pub fn pages(&self) -> u64 {
        self.pages_per_pg * u64::from(self.pgs)
    }

    /// The PG of `page`, if the page is in the volume.
    pub fn pg_of(&self, page: PageId) -> Option<PgId> {
        (page.get() < self.pages()).then(|| PgId::new((page.get() / self.pages_per_pg) as u32))
    }

    /// The first page of `pg`.
    pub fn first_page(&self, pg: PgId) -> PageId {
        PageId::new(u64::from(pg.get()) * self.pages_per_pg)
    }

    /// The members holding `pg`'s six segments (indexes into `members`), two per AZ,
    /// in AZ order then rank.
    pub fn placement(&self, pg: PgId) -> [usize; SEGMENTS] {
        let mut azs: Vec<&str> = self.members.iter().map(|m| m.az.as_str()).collect();
        azs.sort_unstable();
        azs.dedup();
        let mut out = [0usize; SEGMENTS];
        let mut k = 0;
        for az in azs {
            let mut ranked: Vec<(u64, usize)> = self
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.az == az)
                .map(|(i, m)| (rendezvous(pg, m.node_id), i))
                .collect();
            ranked.sort_unstable_by(|a, b| b.cmp(a));
            for &(_, i) in ranked.iter().take(2) {
                out[k] = i;
                k += 1;
            }
        }
        out
    }
}

/// The rendezvous weight of (PG, node): SplitMix64 of both.
fn rendezvous(pg: PgId, node: u32) -> u64 {
    let mut x = (u64::from(pg.get()) << 32 | u64::from(node)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(nodes: u32) -> VolumeConfig {
        VolumeConfig {
            page_size: 8192,
            pages_per_pg: 16,
            pgs: 64,
            lal: 1000,
            members: (0..nodes)
                .map(|n| Member {
                    node_id: n + 1,
                    az: format!("az{}", n % 3),
                    addr: format!("127.0.0.1:{}", 7000 + n).parse().unwrap(),
                })
                .collect(),
        }
    }

    #[test]
    fn six_nodes_hold_every_pg_two_per_az() {
        let v = volume(6);
        v.validate().unwrap();
        for pg in 0..v.pgs {
            let mut p = v.placement(PgId::new(pg));
            p.sort_unstable();
            assert_eq!(p, [0, 1, 2, 3, 4, 5]);
        }
        assert_eq!(v.pg_of(PageId::new(33)), Some(PgId::new(2)));
        assert_eq!(v.pg_of(PageId::new(64 * 16)), None);
        assert_eq!(v.first_page(PgId::new(2)), PageId::new(32));
    }

    #[test]
    fn more_nodes_spread_pgs_two_per_az() {
        let v = volume(9);
        v.validate().unwrap();
        let mut load = vec![0; 9];
        for pg in 0..v.pgs {
            let p = v.placement(PgId::new(pg));
            for pair in p.chunks(2) {
                assert_ne!(pair[0], pair[1]);
                assert_eq!(v.members[pair[0]].az, v.members[pair[1]].az);
            }
            for i in p {
                load[i] += 1;
            }
        }
        // 64 PGs × 6 segments over 9 nodes: ~43 each.
        assert!(load.iter().all(|&l| (25..=60).contains(&l)), "{load:?}");
    }

    #[test]
    fn a_volume_that_cannot_be_placed_is_refused() {
        let mut v = volume(6);
        v.members[0].az = "az1".into();
        assert!(v.validate().unwrap_err().contains("az0 has 1"));
        let mut v = volume(6);
        v.members.truncate(4);
        assert!(v.validate().is_err());
    }
}
