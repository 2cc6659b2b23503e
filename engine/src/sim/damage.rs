//! What destroys data at rest on a simulated disk: bad sectors (latent sector errors,
//! set by decay over virtual time or by the test), corruption on demand, and the log
//! of every data-destroying fault ([`Damage`]).
//!
//! Owns the disk's bad-sector map and damage log (fields of [`Disk`], kept here as one
//! concept). Must never: let a bad sector heal except by a write covering the whole
//! sector (the drive remaps it), a zeroing fallocate over it, or its file being cut or
//! removed; decay a sector nobody wrote (nothing is stored there to lose); inject a
//! random fault the atlas refuses. Explicit controls (corrupt, bad sectors) are always
//! applied and charged to the atlas.
//!
//! Decay is lazy: a disk with `sector_decay_mean_ns > 0` has the time of its next decay;
//! at each operation of the node, every decay due by then happens first (a random
//! written sector of a random allocated block goes bad). So decay draws only from the
//! node's own stream, at the node's own operations, and a node nobody touches decays
//! when it is next used, which no reader can tell apart.

use std::io;
use std::path::{Path, PathBuf};

use super::disk::{Disk, DiskCtx, Ino, SECTOR_BYTES, errno};
use super::image::Change;
use super::rng::SimRng;

/// What destroyed data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamageKind {
    /// A write stored one flipped bit.
    StoredBitFlip,
    /// A write reported success and never landed.
    LostWrite,
    /// A write landed at `landed_offset` instead of its own offset.
    MisdirectedWrite { landed_offset: u64 },
    /// A sector went bad (reads touching it fail with `EIO`).
    LatentSector,
    /// The test corrupted the range (`SimControl::corrupt`).
    Corrupt,
    /// The whole disk was wiped (`SimControl::wipe_disk`); path `/`, length 0.
    Wipe,
}

/// One data-destroying fault: what, where (file, offset, length of the range it hit,
/// for a misdirected write the intended range) and when (virtual ns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub kind: DamageKind,
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
    pub at_ns: u64,
}

/// The sector indexes `[offset, offset + len)` touches.
fn sectors(offset: u64, len: u64) -> std::ops::Range<u64> {
    if len == 0 {
        return 0..0;
    }
    offset / SECTOR_BYTES..(offset + len).div_ceil(SECTOR_BYTES)
}

impl Disk {
    pub(super) fn log_damage(
        &mut self,
        kind: DamageKind,
        path: &Path,
        offset: u64,
        len: u64,
        at_ns: u64,
    ) {
        self.damage.push(Damage {
            kind,
            path: path.to_path_buf(),
            offset,
            len,
            at_ns,
        });
    }

    pub(super) fn touches_bad_sector(&self, ino: Ino, offset: u64, len: u64) -> bool {
        let r = sectors(offset, len);
        self.bad
            .range((ino, r.start)..(ino, r.end))
            .next()
            .is_some()
    }

    /// A write (or zeroing) covered `[offset, offset + len)`: sectors it covers whole
    /// are remapped and good again.
    pub(super) fn clear_bad_sectors(&mut self, ino: Ino, offset: u64, len: u64) {
        let first = offset.div_ceil(SECTOR_BYTES);
        let end = (offset + len) / SECTOR_BYTES;
        if first < end {
            let gone: Vec<_> = self.bad.range((ino, first)..(ino, end)).copied().collect();
            for k in gone {
                self.bad.remove(&k);
            }
        }
    }

    /// Marks every sector of `[offset, offset + len)` of `path` bad. `ENOENT` if there
    /// is no such file.
    pub(crate) fn add_bad_sectors(
        &mut self,
        path: &Path,
        offset: u64,
        len: u64,
        now_ns: u64,
    ) -> io::Result<()> {
        let ino = *self.names.get(path).ok_or_else(|| errno(libc::ENOENT))?;
        for sector in sectors(offset, len) {
            if self.bad.insert((ino, sector)) {
                self.stats.latent_sectors += 1;
            }
        }
        self.log_damage(DamageKind::LatentSector, path, offset, len, now_ns);
        Ok(())
    }

    /// XORs every byte of `[offset, offset + len)` of `path` (clipped at its end) with a
    /// non-zero random byte, in every copy the disk holds (the page cache, the medium,
    /// writes a crash would replay): every byte changes, for good.
    /// `ENOENT` if there is no such file. Returns the bytes corrupted.
    pub(crate) fn corrupt(
        &mut self,
        rng: &mut SimRng,
        path: &Path,
        offset: u64,
        len: u64,
        now_ns: u64,
    ) -> io::Result<u64> {
        let ino = *self.names.get(path).ok_or_else(|| errno(libc::ENOENT))?;
        let inode = self.inode_mut(ino)?;
        let end = offset
            .saturating_add(len)
            .min(inode.written.len().max(inode.durable.len()));
        let n = end.saturating_sub(offset);
        let mask: Vec<u8> = (0..n).map(|_| 1 + rng.below(255) as u8).collect();
        inode.written.xor(offset, &mask);
        inode.durable.xor(offset, &mask);
        // Writes not yet folded into the durable image (un-synced, or `RWF_DSYNC` ones
        // a crash replays) hold their own copy of the bytes: they rot too, or a crash
        // would bring the old bytes back.
        for p in &mut inode.pending {
            if let Change::Write { offset: at, data } = &mut p.change {
                let lo = offset.max(*at);
                let hi = end.min(*at + data.len() as u64);
                for pos in lo..hi {
                    data[(pos - *at) as usize] ^= mask[(pos - offset) as usize];
                }
            }
        }
        self.stats.corruptions += 1;
        self.log_damage(DamageKind::Corrupt, path, offset, n, now_ns);
        Ok(n)
    }

    /// Applies every sector decay due by `cx.now_ns` (see the module docs).
    pub(super) fn decay(&mut self, cx: &mut DiskCtx<'_>) {
        let mean = cx.faults.sector_decay_mean_ns;
        if mean == 0 {
            self.next_decay_ns = None;
            return;
        }
        let mut next = match self.next_decay_ns {
            Some(t) => t,
            None => cx.now_ns.saturating_add(cx.rng.exp_ns(mean).max(1)),
        };
        while next <= cx.now_ns {
            self.decay_one(cx, next);
            next = next.saturating_add(cx.rng.exp_ns(mean).max(1));
        }
        self.next_decay_ns = Some(next);
    }

    /// One sector of a random allocated block, inside its file, goes bad (if the atlas
    /// admits it).
    fn decay_one(&mut self, cx: &mut DiskCtx<'_>, at_ns: u64) {
        let total: u64 = self
            .inodes
            .values()
            .map(|i| i.written.allocated_blocks())
            .sum();
        if total == 0 {
            return;
        }
        let mut pick = cx.rng.below(total);
        let in_block = cx.rng.below(super::disk::BLOCK_BYTES / SECTOR_BYTES);
        let mut found = None;
        for (&ino, inode) in &self.inodes {
            let n = inode.written.allocated_blocks();
            if pick < n {
                let block = inode
                    .written
                    .block_indexes()
                    .nth(pick as usize)
                    .expect("pick is below the block count");
                let sector = block * (super::disk::BLOCK_BYTES / SECTOR_BYTES) + in_block;
                if sector * SECTOR_BYTES < inode.written.len() {
                    found = Some((ino, sector, inode.path.clone()));
                }
                break;
            }
            pick -= n;
        }
        let Some((ino, sector, path)) = found else {
            return;
        };
        if !cx.admit(&path, sector * SECTOR_BYTES, SECTOR_BYTES) {
            self.stats.atlas_suppressed += 1;
            return;
        }
        if self.bad.insert((ino, sector)) {
            self.stats.latent_sectors += 1;
            self.log_damage(
                DamageKind::LatentSector,
                &path,
                sector * SECTOR_BYTES,
                SECTOR_BYTES,
                at_ns,
            );
        }
    }
}
