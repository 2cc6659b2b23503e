//! The core's page cache: materialized page images, least recently used evicted first,
//! bounded in bytes.
//!
//! It holds base images only (what the page store holds, or a newer image the coalescer
//! just wrote), never images with hot-log records applied, so a cached entry is valid
//! for any read at or above the segment's floor. It never does I/O.

use std::collections::BTreeMap;
use std::rc::Rc;

use boreal_segment::{Lsn, PageId, PgId};

use crate::idmap::IdMap;

/// A cached base image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedPage {
    pub payload: Rc<[u8]>,
    pub page_lsn: Lsn,
    /// The page-file slot holding this image (`None`: never written).
    pub slot: Option<u8>,
}

type Key = (PgId, PageId);

#[derive(Debug)]
pub(crate) struct PageCache {
    bytes_max: usize,
    bytes: usize,
    tick: u64,
    entries: IdMap<Key, (u64, CachedPage)>,
    lru: BTreeMap<u64, Key>,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

impl PageCache {
    pub(crate) fn new(bytes_max: usize) -> PageCache {
        PageCache {
            bytes_max,
            bytes: 0,
            tick: 0,
            entries: IdMap::default(),
            lru: BTreeMap::new(),
            hits: 0,
            misses: 0,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn get(&mut self, key: Key) -> Option<CachedPage> {
        self.tick += 1;
        let tick = self.tick;
        match self.entries.get_mut(&key) {
            Some((t, page)) => {
                self.lru.remove(t);
                *t = tick;
                self.lru.insert(tick, key);
                self.hits += 1;
                Some(page.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    pub(crate) fn insert(&mut self, key: Key, page: CachedPage) {
        self.remove(key);
        if page.payload.len() > self.bytes_max {
            return;
        }
        self.tick += 1;
        self.bytes += page.payload.len();
        self.lru.insert(self.tick, key);
        self.entries.insert(key, (self.tick, page));
        while self.bytes > self.bytes_max {
            let Some((_, victim)) = self.lru.pop_first() else {
                break;
            };
            if let Some((_, p)) = self.entries.remove(&victim) {
                self.bytes -= p.payload.len();
            }
        }
    }

    pub(crate) fn remove(&mut self, key: Key) {
        if let Some((t, p)) = self.entries.remove(&key) {
            self.lru.remove(&t);
            self.bytes -= p.payload.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> CachedPage {
        CachedPage {
            payload: vec![0u8; n].into(),
            page_lsn: Lsn::ZERO,
            slot: None,
        }
    }

    #[test]
    fn evicts_least_recently_used_by_bytes() {
        let mut c = PageCache::new(300);
        let k = |p| (PgId::new(1), PageId::new(p));
        c.insert(k(1), page(100));
        c.insert(k(2), page(100));
        c.insert(k(3), page(100));
        assert!(c.get(k(1)).is_some());
        c.insert(k(4), page(100));
        assert!(c.get(k(2)).is_none(), "2 was least recently used");
        assert!(c.get(k(1)).is_some());
        assert_eq!(c.bytes(), 300);
        c.insert(k(5), page(1000));
        assert!(c.get(k(5)).is_none(), "larger than the cache: not kept");
    }
}
