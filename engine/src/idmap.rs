//! `IdMap`: a `HashMap` for the integer ids boreal's hot paths are keyed by (`Lsn`,
//! `PageId`, `PgId`, file ids), with a one-multiply hasher instead of SipHash.
//!
//! Why: these maps are touched once per record or page (the hot log's page index, the
//! coalescer's page index, the journal's pins, the page cache, the shim's last LSN
//! per page), and SipHash costs more than the rest of such a step.
//!
//! Invariant, and the one condition of use: keys are not chosen by an adversary who
//! could aim at collisions. Every key here comes from a record that passed validation
//! or from the engine itself (LSNs, page and PG ids of a configured volume, file ids),
//! and a map holds at most a bounded backlog's (or cache's) worth of them. A map keyed by anything a peer
//! picks freely (a connection id, bytes off the wire) must keep the standard hasher.
//!
//! The mix is a 64×64→128-bit multiply by an odd constant, folded (high half XOR low
//! half), so consecutive ids, the common case, land in unrelated buckets.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by integer ids, hashed by [`IdHasher`]. See the module docs for
/// when it may be used.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A hasher for integer ids: one folded multiply per integer written. See the module
/// docs.
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

/// An odd 128-bit constant (the golden ratio's bits and more): the multiplier.
const MIX: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the id newtypes (they hash one integer); correct for anything.
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let m = u128::from(n ^ self.0).wrapping_mul(MIX);
        self.0 = (m >> 64) as u64 ^ m as u64;
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    use boreal_segment::{Lsn, PageId, PgId};

    use super::*;

    fn hash<T: Hash>(t: T) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(t)
    }

    #[test]
    fn consecutive_ids_spread_over_buckets_and_tags() {
        // hashbrown takes a bucket from the hash's low bits and a control tag from its
        // top 7: 1,024 consecutive pages must spread over both (a uniform hash gives
        // ~647 of 1,024 buckets and nearly all 128 tags; an identity hash, 1 tag).
        let hashes: Vec<u64> = (0..1024u64).map(|p| hash(PageId::new(p))).collect();
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(buckets.len() >= 600, "{} of 1,024 buckets", buckets.len());
        assert!(tags.len() >= 120, "{} of 128 tags", tags.len());
    }

    #[test]
    fn each_id_type_hashes_by_value() {
        assert_eq!(hash(Lsn::new(7)), hash(Lsn::new(7)));
        assert_ne!(hash(Lsn::new(7)), hash(Lsn::new(8)));
        assert_ne!(hash(PgId::new(1)), hash(PgId::new(2)));
        assert_ne!(hash(0u8), hash(1u8));
        assert_ne!(hash(0u16), hash(1u16));
        assert_ne!(hash(0usize), hash(1usize));
        assert_ne!(hash(&b"ab"[..]), hash(&b"ba"[..]));
    }

    #[test]
    fn a_map_keyed_by_ids_finds_what_it_holds() {
        let mut m: IdMap<PageId, u64> = IdMap::default();
        for p in (0..10_000u64).map(|i| i.wrapping_mul(0x1_0000_0001)) {
            m.insert(PageId::new(p), p);
        }
        for p in (0..10_000u64).map(|i| i.wrapping_mul(0x1_0000_0001)) {
            assert_eq!(m.get(&PageId::new(p)), Some(&p));
        }
        assert_eq!(m.get(&PageId::new(3)), None);
    }
}
