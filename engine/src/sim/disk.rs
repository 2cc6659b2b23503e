//! The simulated disk of one node: files with a "written" and a "durable" image.
//!
//! Owns every file of one node: its name, the image reads see (`written`, the page
//! cache plus the device's volatile cache), the image that survives a crash
//! (`durable`), and the ordered list of changes made since the last sync (`pending`).
//! It is a pure state machine: it takes a [`DiskCtx`] (the node's fault stream, its
//! [`FaultConfig`], the cluster's [`FaultAtlas`] and the time) and never touches wakers,
//! timers or the trace (the world does that around it), so its crash semantics are
//! unit-tested directly. What destroys data at rest (bad sectors, decay, corruption, a
//! wipe) is in `damage.rs`; the byte images in `image.rs`.
//!
//! Invariants:
//! - `durable` replayed with every `pending` change, in order, equals `written`, except
//!   for changes a failed sync dropped (see below) and faults that, by definition, make
//!   the two disagree (lost and misdirected writes are never in `written` at the
//!   intended place).
//! - Only a completed sync (`sync_complete`) or a DSYNC write moves bytes into the
//!   durable path. A sync covers exactly the changes made before it was submitted
//!   (`sync_begin`), never the ones that completed while it was in flight: Linux does
//!   not promise more.
//! - A crash keeps `durable` plus, independently, each pending change with
//!   `crash_keep_unsynced_probability`, replayed in its own order; a kept write may be
//!   torn at 512-byte sector granularity. DSYNC writes always survive, in their order.
//!   After the crash, what is on the disk is durable.
//! - Failed sync (Linux semantics, documented because the engine depends on it): since
//!   Linux 4.13 a writeback error marks the dirty pages clean and reports the error once;
//!   the data stays in the page cache (reads still see it) but may never reach the disk,
//!   and a later `fsync` may succeed without writing it. The simulator does exactly
//!   that: each change the failed sync covered is made durable or dropped from the
//!   durable path (it stays in `written` until a crash), at random. A later sync
//!   succeeds normally. This is why the journal must fail-stop on a sync error.
//! - Directory entries: a file's name survives a crash only if its directory was synced
//!   ([`Disk::sync_dir_complete`]) after the file was created; otherwise the crash
//!   removes the file with `crash_drop_unsynced_file_probability`, whatever was synced
//!   in it (POSIX promises nothing more; ext4 often does better, which no caller may
//!   count on).
//! - Data-destroying faults drawn at random (stored bit flips, lost and misdirected
//!   writes) are injected only if the atlas admits them on this node; refused ones are
//!   counted (`atlas_suppressed`) and the write lands cleanly. Every one injected is in
//!   the damage log (`damage`).
//! - Reads see the written image, except that a read touching a bad sector fails with
//!   `EIO` (until a write covers the whole sector) and a misdirected read returns
//!   another offset's bytes.
//! - Short reads (`short_read_probability`, default 0): a read may return a prefix of
//!   what the file holds, in whole sectors, as Linux allows anywhere in a file; the
//!   image is untouched.
//! - Space: a disk has a capacity in 4 KiB blocks counted over all `written` images; a
//!   write that needs more completes short (whole blocks that fit) or fails `ENOSPC`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::atlas::FaultAtlas;
use super::config::FaultConfig;
use super::damage::{Damage, DamageKind};
use super::image::{Change, Image};
use super::rng::SimRng;
use crate::io::FallocateMode;

/// Allocation unit of the simulated disk and of its in-memory images, bytes.
pub(crate) const BLOCK_BYTES: u64 = 4096;
/// Granularity at which a write can tear, bytes (the logical sector).
pub(crate) const SECTOR_BYTES: u64 = 512;

pub(crate) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// What a disk operation draws on: the node's own fault stream and faults, the budget
/// for data-destroying faults, and the time (for the damage log and decay).
pub(crate) struct DiskCtx<'a> {
    pub(crate) rng: &'a mut SimRng,
    pub(crate) faults: &'a FaultConfig,
    pub(crate) atlas: &'a mut FaultAtlas,
    pub(crate) node: u32,
    pub(crate) now_ns: u64,
}

impl DiskCtx<'_> {
    /// Whether the atlas lets a random data-destroying fault land here (charged if so).
    pub(super) fn admit(&mut self, path: &Path, offset: u64, len: u64) -> bool {
        self.atlas.admit(self.node, path, offset, len)
    }
}

#[derive(Clone, Debug)]
pub(super) struct Pending {
    seq: u64,
    pub(super) change: Change,
    /// A DSYNC write: already durable, survives every crash.
    durable: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Inode {
    pub(super) path: PathBuf,
    pub(super) written: Image,
    pub(super) durable: Image,
    pub(super) pending: Vec<Pending>,
    next_seq: u64,
    /// The directory entry survives a crash: its directory was synced after the file
    /// was created (or the file survived a crash, after which its entry is on disk).
    dirent_durable: bool,
    /// When the file was created, on the disk's creation counter: a directory sync
    /// covers the entries created before it was submitted.
    created: u64,
}

impl Inode {
    fn record(&mut self, change: Change, durable: bool) {
        change.apply(&mut self.written);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(Pending {
            seq,
            change,
            durable,
        });
    }
}

/// How a write is issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WriteHow {
    /// The O_DIRECT alignment (1 for buffered files): where a misdirected write lands.
    pub(crate) align: u64,
    /// `RWF_DSYNC`: durable on completion.
    pub(crate) dsync: bool,
}

impl WriteHow {
    #[cfg(test)]
    const PLAIN: WriteHow = WriteHow {
        align: 512,
        dsync: false,
    };
    #[cfg(test)]
    const DSYNC: WriteHow = WriteHow {
        align: 512,
        dsync: true,
    };
}

/// An inode number: identifies a file for as long as the disk lives (names may be
/// reused after a crash dropped a file, inode numbers never are).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ino(pub(crate) u64);

/// Counters of what a disk did, including every injected fault. Tests use them to tell
/// "the engine lost data" from "the disk destroyed data".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub reads: u64,
    pub writes: u64,
    pub syncs: u64,
    pub crashes: u64,
    pub read_eio: u64,
    pub read_bit_flips: u64,
    /// Reads completed short before the end of the file
    /// (`FaultConfig::short_read_probability`).
    pub short_reads: u64,
    pub write_eio: u64,
    pub sync_eio: u64,
    /// Un-synced changes a failed sync dropped from the durable path.
    pub sync_eio_dropped_changes: u64,
    pub enospc: u64,
    pub short_writes: u64,
    pub stored_bit_flips: u64,
    pub lost_writes: u64,
    pub misdirected_writes: u64,
    /// Un-synced changes a crash dropped.
    pub crash_dropped_changes: u64,
    /// Un-synced writes a crash tore.
    pub crash_torn_writes: u64,
    /// Directory syncs completed (successfully or not).
    pub dir_syncs: u64,
    /// Files a crash removed because their directory was not synced after their
    /// creation.
    pub crash_dropped_files: u64,
    /// Reads that returned another offset's bytes.
    pub misdirected_reads: u64,
    /// Sectors that went bad (decay at rest, or `SimControl::add_bad_sectors`).
    pub latent_sectors: u64,
    /// Reads that failed with `EIO` on a bad sector.
    pub latent_read_eio: u64,
    /// Ranges corrupted through `SimControl::corrupt`.
    pub corruptions: u64,
    /// Times the disk was wiped (the node replaced).
    pub wipes: u64,
    /// Random data-destroying faults the atlas refused (not injected).
    pub atlas_suppressed: u64,
}

/// Where a stored bit flip landed: the write it damaged (its file, offset and length
/// where it landed) and the byte of that write. Tests use it to say which structure
/// the disk destroyed, and so which loss the engine may not be able to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFlip {
    pub path: PathBuf,
    pub write_offset: u64,
    pub write_len: usize,
    /// Byte of the write that holds the flipped bit.
    pub index: usize,
}

impl DiskStats {
    /// Faults that destroy data that was reported written: after one of these, even an
    /// acknowledged, synced record may be damaged (and must be detected).
    pub fn data_destroying_faults(&self) -> u64 {
        self.stored_bit_flips
            + self.lost_writes
            + self.misdirected_writes
            + self.latent_sectors
            + self.corruptions
            + self.wipes
    }
}

/// The disk of one node. See the module docs.
#[derive(Debug)]
pub(crate) struct Disk {
    pub(super) names: BTreeMap<PathBuf, Ino>,
    pub(super) inodes: BTreeMap<Ino, Inode>,
    next_ino: u64,
    /// Files created so far: the creation counter directory syncs mark.
    created: u64,
    capacity_blocks: u64,
    pub(crate) stats: DiskStats,
    /// Every stored bit flip, in order.
    pub(crate) stored_flips: Vec<StoredFlip>,
    /// Every data-destroying fault, in order.
    pub(crate) damage: Vec<Damage>,
    /// Bad sectors: `(inode, sector index)`. They outlive crashes (the medium).
    pub(super) bad: BTreeSet<(Ino, u64)>,
    /// When the next sector decays, virtual ns; `None` until decay is first checked
    /// with a decay rate.
    pub(super) next_decay_ns: Option<u64>,
}

impl Disk {
    pub(crate) fn new(capacity_bytes: u64) -> Disk {
        Disk {
            names: BTreeMap::new(),
            inodes: BTreeMap::new(),
            next_ino: 1,
            created: 0,
            capacity_blocks: capacity_bytes / BLOCK_BYTES,
            stats: DiskStats::default(),
            stored_flips: Vec::new(),
            damage: Vec::new(),
            bad: BTreeSet::new(),
            next_decay_ns: None,
        }
    }

    /// Replaces every file with nothing (the node's disk is swapped for a new one).
    /// Inode numbers go on counting, so a handle from before can never name a new file;
    /// counters and the damage log are kept.
    pub(crate) fn wipe(&mut self, now_ns: u64) {
        self.names.clear();
        self.inodes.clear();
        self.bad.clear();
        self.next_decay_ns = None;
        self.stats.wipes += 1;
        self.damage.push(Damage {
            kind: DamageKind::Wipe,
            path: PathBuf::from("/"),
            offset: 0,
            len: 0,
            at_ns: now_ns,
        });
    }

    pub(super) fn inode(&self, ino: Ino) -> io::Result<&Inode> {
        // A file handle outliving a crash that removed its file: the descriptor is bad.
        self.inodes.get(&ino).ok_or_else(|| errno(libc::EBADF))
    }

    pub(super) fn inode_mut(&mut self, ino: Ino) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or_else(|| errno(libc::EBADF))
    }

    fn used_blocks(&self) -> u64 {
        self.inodes
            .values()
            .map(|i| i.written.allocated_blocks())
            .sum()
    }

    fn free_blocks(&self) -> u64 {
        self.capacity_blocks.saturating_sub(self.used_blocks())
    }

    /// `open(2)`: `ENOENT` without `create`, `EEXIST` with `create_new`; `truncate` is an
    /// un-synced size change. Returns the inode and its size.
    pub(crate) fn open(
        &mut self,
        path: &Path,
        create: bool,
        create_new: bool,
        truncate: bool,
    ) -> io::Result<(Ino, u64)> {
        let ino = match self.names.get(path) {
            Some(&ino) if create && create_new => {
                let _ = ino;
                return Err(errno(libc::EEXIST));
            }
            Some(&ino) => ino,
            None if create || create_new => {
                let ino = Ino(self.next_ino);
                self.next_ino += 1;
                let created = self.created;
                self.created += 1;
                self.names.insert(path.to_path_buf(), ino);
                self.inodes.insert(
                    ino,
                    Inode {
                        path: path.to_path_buf(),
                        written: Image::default(),
                        durable: Image::default(),
                        pending: Vec::new(),
                        next_seq: 0,
                        dirent_durable: false,
                        created,
                    },
                );
                ino
            }
            None => return Err(errno(libc::ENOENT)),
        };
        let inode = self.inode_mut(ino)?;
        if truncate && inode.written.len() != 0 {
            inode.record(Change::SetLen(0), false);
            // The sectors left the file: a new write there gets fresh ones.
            self.bad.retain(|&(i, _)| i != ino);
        }
        Ok((ino, self.inode(ino)?.written.len()))
    }

    #[cfg(test)]
    pub(crate) fn size(&self, ino: Ino) -> io::Result<u64> {
        Ok(self.inode(ino)?.written.len())
    }

    /// Reads from the written image (what the page cache shows), short at EOF; `align`
    /// is the O_DIRECT alignment (1 for buffered files), where a misdirected read goes.
    pub(crate) fn read(
        &mut self,
        cx: &mut DiskCtx<'_>,
        ino: Ino,
        offset: u64,
        len: usize,
        align: u64,
    ) -> io::Result<Vec<u8>> {
        self.stats.reads += 1;
        self.decay(cx);
        if cx.rng.chance(cx.faults.read_eio_probability) {
            self.stats.read_eio += 1;
            return Err(errno(libc::EIO));
        }
        let mut data = self.inode(ino)?.written.read(offset, len);
        if self.touches_bad_sector(ino, offset, data.len() as u64) {
            self.stats.latent_read_eio += 1;
            return Err(errno(libc::EIO));
        }
        if !data.is_empty() && cx.rng.chance(cx.faults.misdirected_read_probability) {
            self.stats.misdirected_reads += 1;
            let target = shifted(cx.rng, offset, align);
            let other = self.inode(ino)?.written.read(target, data.len());
            data.fill(0);
            data[..other.len()].copy_from_slice(&other);
        }
        if !data.is_empty() && cx.rng.chance(cx.faults.short_read_probability) {
            // A whole number of sectors, at least one fewer than the file holds here.
            let sectors = (data.len() as u64).div_ceil(SECTOR_BYTES);
            data.truncate((cx.rng.below(sectors) * SECTOR_BYTES) as usize);
            self.stats.short_reads += 1;
        }
        if !data.is_empty() && cx.rng.chance(cx.faults.read_bit_flip_probability) {
            self.stats.read_bit_flips += 1;
            flip_bit(cx.rng, &mut data);
        }
        Ok(data)
    }

    /// Writes `data` at `offset`, with every write fault. Returns the bytes written
    /// (short when the disk fills up).
    pub(crate) fn write(
        &mut self,
        cx: &mut DiskCtx<'_>,
        ino: Ino,
        offset: u64,
        data: &[u8],
        how: WriteHow,
    ) -> io::Result<usize> {
        let WriteHow { align, dsync } = how;
        self.stats.writes += 1;
        self.inode(ino)?;
        self.decay(cx);
        let rng = &mut *cx.rng;
        let faults = cx.faults;
        if data.is_empty() {
            return Ok(0);
        }
        if rng.chance(faults.write_eio_probability) {
            self.stats.write_eio += 1;
            // Some sectors may have reached the page cache before the error; none is
            // durable.
            if self.free_blocks()
                >= self
                    .inode(ino)?
                    .written
                    .missing_blocks(offset, data.len() as u64)
            {
                for (at, piece) in sector_subset(rng, offset, data) {
                    self.inode_mut(ino)?.record(
                        Change::Write {
                            offset: at,
                            data: piece,
                        },
                        false,
                    );
                }
            }
            return Err(errno(libc::EIO));
        }
        // Space: write the prefix whose blocks fit.
        let mut len = data.len() as u64;
        let free = self.free_blocks();
        let written = &self.inode(ino)?.written;
        if written.missing_blocks(offset, len) > free {
            let mut fit = 0u64;
            let mut missing = 0u64;
            let mut index = offset / BLOCK_BYTES;
            while fit < len {
                if !written.has_block(index) {
                    missing += 1;
                    if missing > free {
                        break;
                    }
                }
                let block_end = (index + 1) * BLOCK_BYTES;
                fit = (block_end - offset).min(len);
                index += 1;
            }
            if fit == 0 {
                self.stats.enospc += 1;
                return Err(errno(libc::ENOSPC));
            }
            self.stats.short_writes += 1;
            len = fit;
        }
        let reported = len as usize;
        let path = self.inode(ino)?.path.clone();
        // Every draw is made before the atlas is asked, so a refused fault shifts no
        // later draw of this node's stream.
        let lost = rng.chance(faults.lost_write_probability);
        let misdirected = !lost && rng.chance(faults.misdirected_write_probability);
        let target = if misdirected {
            shifted(rng, offset, align)
        } else {
            offset
        };
        let mut bytes = data[..reported].to_vec();
        let flip = !lost && rng.chance(faults.stored_bit_flip_probability);
        let flip_index = flip.then(|| flip_bit(rng, &mut bytes));
        let mut damage = None;
        if lost {
            if cx.admit(&path, offset, len) {
                self.stats.lost_writes += 1;
                self.log_damage(DamageKind::LostWrite, &path, offset, len, cx.now_ns);
                return Ok(reported);
            }
            self.stats.atlas_suppressed += 1;
        }
        let mut target = target;
        if misdirected {
            let (lo, hi) = (offset.min(target), offset.max(target) + len);
            if cx.admit(&path, lo, hi - lo) {
                self.stats.misdirected_writes += 1;
                damage = Some(DamageKind::MisdirectedWrite {
                    landed_offset: target,
                });
            } else {
                self.stats.atlas_suppressed += 1;
                target = offset;
            }
        }
        if let Some(index) = flip_index {
            if cx.admit(&path, target, len) {
                self.stats.stored_bit_flips += 1;
                self.stored_flips.push(StoredFlip {
                    path: path.clone(),
                    write_offset: target,
                    write_len: bytes.len(),
                    index,
                });
                self.log_damage(DamageKind::StoredBitFlip, &path, target, len, cx.now_ns);
            } else {
                self.stats.atlas_suppressed += 1;
                bytes.copy_from_slice(&data[..reported]);
            }
        }
        if let Some(kind) = damage {
            self.log_damage(kind, &path, offset, len, cx.now_ns);
        }
        self.clear_bad_sectors(ino, target, len);
        self.inode_mut(ino)?.record(
            Change::Write {
                offset: target,
                data: bytes,
            },
            dsync,
        );
        Ok(reported)
    }

    /// An in-flight write caught by a crash: it may or may not have reached the device.
    /// Recorded as an un-synced change, so the crash that follows decides.
    pub(crate) fn write_in_flight_at_crash(&mut self, ino: Ino, offset: u64, data: &[u8]) {
        if let Ok(inode) = self.inode_mut(ino)
            && !data.is_empty()
        {
            inode.record(
                Change::Write {
                    offset,
                    data: data.to_vec(),
                },
                false,
            );
        }
    }

    /// `fallocate(2)`. All or nothing: `ENOSPC` if the blocks do not fit.
    pub(crate) fn fallocate(
        &mut self,
        ino: Ino,
        mode: FallocateMode,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        if len == 0 {
            return Err(errno(libc::EINVAL));
        }
        let missing = self.inode(ino)?.written.missing_blocks(offset, len);
        if missing > self.free_blocks() {
            self.stats.enospc += 1;
            return Err(errno(libc::ENOSPC));
        }
        let change = match mode {
            FallocateMode::Allocate => Change::Allocate {
                offset,
                len,
                keep_size: false,
            },
            FallocateMode::KeepSize => Change::Allocate {
                offset,
                len,
                keep_size: true,
            },
            FallocateMode::ZeroRange => Change::ZeroRange { offset, len },
        };
        if mode == FallocateMode::ZeroRange {
            self.clear_bad_sectors(ino, offset, len);
        }
        self.inode_mut(ino)?.record(change, false);
        Ok(())
    }

    /// A sync is submitted: it will cover the changes made so far. Returns the mark to
    /// pass to [`Disk::sync_complete`].
    pub(crate) fn sync_begin(&self, ino: Ino) -> io::Result<u64> {
        Ok(self.inode(ino)?.next_seq)
    }

    /// A sync completes. `Ok`: every change before `upto` is durable. `EIO` (drawn
    /// here): see the module docs.
    pub(crate) fn sync_complete(
        &mut self,
        cx: &mut DiskCtx<'_>,
        ino: Ino,
        upto: u64,
    ) -> io::Result<()> {
        self.stats.syncs += 1;
        self.decay(cx);
        let rng = &mut *cx.rng;
        let eio = rng.chance(cx.faults.sync_eio_probability);
        let inode = self
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| errno(libc::EBADF))?;
        let covered = inode.pending.iter().take_while(|p| p.seq < upto).count();
        let mut dropped = 0;
        for p in inode.pending.drain(..covered) {
            if !eio || p.durable || rng.chance(0.5) {
                p.change.apply(&mut inode.durable);
            } else {
                dropped += 1;
            }
        }
        if eio {
            self.stats.sync_eio += 1;
            self.stats.sync_eio_dropped_changes += dropped;
            return Err(errno(libc::EIO));
        }
        Ok(())
    }

    /// A directory sync is submitted: it will cover the entries created in `dir` so
    /// far. Returns the mark to pass to [`Disk::sync_dir_complete`]. `ENOTDIR` if `dir`
    /// names a file. Every other path is a directory that exists: the simulated disk
    /// has no directory objects (the `Io` seam cannot create one), so directories are
    /// implicit, and durable.
    pub(crate) fn sync_dir_begin(&self, dir: &Path) -> io::Result<u64> {
        if self.names.contains_key(dir) {
            return Err(errno(libc::ENOTDIR));
        }
        Ok(self.created)
    }

    /// A directory sync completes. `Ok`: the entry of every file created in `dir`
    /// before `upto` is durable. `EIO` (drawn here, with the sync probability): each
    /// such entry is made durable or not, at random, as a failed metadata writeback
    /// may have written some.
    pub(crate) fn sync_dir_complete(
        &mut self,
        cx: &mut DiskCtx<'_>,
        dir: &Path,
        upto: u64,
    ) -> io::Result<()> {
        self.stats.dir_syncs += 1;
        self.decay(cx);
        let eio = cx.rng.chance(cx.faults.sync_eio_probability);
        for inode in self.inodes.values_mut() {
            if inode.dirent_durable || inode.created >= upto || inode.path.parent() != Some(dir) {
                continue;
            }
            if !eio || cx.rng.chance(0.5) {
                inode.dirent_durable = true;
            }
        }
        if eio {
            self.stats.sync_eio += 1;
            return Err(errno(libc::EIO));
        }
        Ok(())
    }

    /// Power loss: see the module docs for exactly what survives.
    pub(crate) fn crash(&mut self, cx: &mut DiskCtx<'_>) {
        self.stats.crashes += 1;
        let rng = &mut *cx.rng;
        let faults = cx.faults;
        let mut gone = Vec::new();
        for (&ino, inode) in self.inodes.iter_mut() {
            if !inode.dirent_durable && rng.chance(faults.crash_drop_unsynced_file_probability) {
                gone.push(ino);
                continue;
            }
            let mut image = inode.durable.clone();
            for p in inode.pending.drain(..) {
                if !p.durable && !rng.chance(faults.crash_keep_unsynced_probability) {
                    self.stats.crash_dropped_changes += 1;
                    continue;
                }
                match &p.change {
                    Change::Write { offset, data }
                        if !p.durable && rng.chance(faults.crash_torn_write_probability) =>
                    {
                        self.stats.crash_torn_writes += 1;
                        for (at, piece) in sector_subset(rng, *offset, data) {
                            image.write(at, &piece);
                        }
                    }
                    change => change.apply(&mut image),
                }
            }
            inode.written = image.clone();
            inode.durable = image;
            inode.dirent_durable = true;
        }
        for ino in gone {
            self.stats.crash_dropped_files += 1;
            if let Some(inode) = self.inodes.remove(&ino) {
                self.names.remove(&inode.path);
            }
            self.bad.retain(|&(i, _)| i != ino);
        }
    }

    /// The written and durable images of `path`, for tests and inspection.
    pub(crate) fn images(&self, path: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
        let inode = self.inodes.get(self.names.get(path)?)?;
        Some((inode.written.to_vec(), inode.durable.to_vec()))
    }

    /// Every file whose directory entry survives a crash, by path, with its durable
    /// image: what a crash now leaves at the least (right after a crash, exactly what
    /// the disk holds).
    pub(crate) fn durable_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        self.names
            .iter()
            .filter_map(|(path, ino)| self.inodes.get(ino).map(|i| (path, i)))
            .filter(|(_, inode)| inode.dirent_durable)
            .map(|(path, inode)| (path.clone(), inode.durable.to_vec()))
            .collect()
    }
}

/// Splits `data` (at `offset`) into 512-byte sectors and keeps each with probability
/// 1/2, as the pieces a torn write leaves behind.
fn sector_subset(rng: &mut SimRng, offset: u64, data: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = offset;
    let mut rest = data;
    while !rest.is_empty() {
        // Sector boundaries are absolute (offset-aligned), as the device sees them.
        let n = ((SECTOR_BYTES - at % SECTOR_BYTES) as usize).min(rest.len());
        if rng.chance(0.5) {
            out.push((at, rest[..n].to_vec()));
        }
        at += n as u64;
        rest = &rest[n..];
    }
    out
}

/// Where a misdirected read or write goes: 1..=8 alignment units (at least a sector)
/// before or after `offset`, never below 0.
fn shifted(rng: &mut SimRng, offset: u64, align: u64) -> u64 {
    let shift = rng.range_inclusive(1, 8) * align.max(SECTOR_BYTES);
    if offset >= shift && rng.chance(0.5) {
        offset - shift
    } else {
        offset + shift
    }
}

/// Flips one random bit of `data`; returns its byte.
fn flip_bit(rng: &mut SimRng, data: &mut [u8]) -> usize {
    let bit = rng.below(data.len() as u64 * 8);
    data[(bit / 8) as usize] ^= 1 << (bit % 8);
    (bit / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> FaultConfig {
        FaultConfig::none()
    }

    /// A context with no atlas (every fault allowed), at time 0.
    fn c<'a>(rng: &'a mut SimRng, faults: &'a FaultConfig) -> DiskCtx<'a> {
        DiskCtx {
            rng,
            faults,
            atlas: Box::leak(Box::default()),
            node: 0,
            now_ns: 0,
        }
    }

    /// A disk holding the empty file `f`, whose directory entry is durable.
    fn setup() -> (Disk, Ino, SimRng) {
        let mut d = Disk::new(1 << 20);
        let (ino, size) = d.open(Path::new("f"), true, false, false).unwrap();
        assert_eq!(size, 0);
        let mut rng = SimRng::new(9);
        let mark = d.sync_dir_begin(Path::new("")).unwrap();
        d.sync_dir_complete(&mut c(&mut rng, &quiet()), Path::new(""), mark)
            .unwrap();
        (d, ino, rng)
    }

    #[test]
    fn image_sparse_read_write_truncate() {
        let mut i = Image::default();
        i.write(5000, b"hello");
        assert_eq!(i.len(), 5005);
        assert_eq!(i.read(4999, 10), b"\0hello");
        assert_eq!(i.read(6000, 10), b"");
        assert_eq!(i.allocated_blocks(), 1);
        i.set_len(5002);
        i.set_len(8192);
        assert_eq!(i.read(5000, 5), b"he\0\0\0");
    }

    #[test]
    fn synced_data_survives_every_crash() {
        for seed in 0..50 {
            let (mut d, ino, _) = setup();
            let mut rng = SimRng::new(seed);
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[7u8; 4096],
                WriteHow::PLAIN,
            )
            .unwrap();
            let mark = d.sync_begin(ino).unwrap();
            d.sync_complete(&mut c(&mut rng, &quiet()), ino, mark)
                .unwrap();
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                4096,
                &[8u8; 4096],
                WriteHow::PLAIN,
            )
            .unwrap();
            d.crash(&mut c(&mut rng, &quiet()));
            let (w, dur) = d.images(Path::new("f")).unwrap();
            assert_eq!(w, dur);
            assert_eq!(&w[..4096], &[7u8; 4096][..]);
        }
    }

    #[test]
    fn durable_files_are_what_a_crash_leaves() {
        let mut d = Disk::new(1 << 20);
        let mut rng = SimRng::new(5);
        let (kept, _) = d.open(Path::new("/d/kept"), true, false, false).unwrap();
        // Only `kept`'s name is made durable (a directory sync after its creation).
        let m = d.sync_dir_begin(Path::new("/d")).unwrap();
        d.sync_dir_complete(&mut c(&mut rng, &quiet()), Path::new("/d"), m)
            .unwrap();
        let (gone, _) = d.open(Path::new("/d/gone"), true, false, false).unwrap();
        for ino in [kept, gone] {
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[7u8; 512],
                WriteHow::PLAIN,
            )
            .unwrap();
        }
        let mark = d.sync_begin(kept).unwrap();
        d.sync_complete(&mut c(&mut rng, &quiet()), kept, mark)
            .unwrap();
        d.write(
            &mut c(&mut rng, &quiet()),
            kept,
            512,
            &[8u8; 512],
            WriteHow::PLAIN,
        )
        .unwrap();
        // Never synced: not listed; synced: its durable image only.
        assert_eq!(
            d.durable_files(),
            vec![(PathBuf::from("/d/kept"), vec![7u8; 512])]
        );
        // After a crash (which keeps or drops the never-synced file): exactly what the
        // disk holds.
        d.crash(&mut c(&mut rng, &quiet()));
        let after = d.durable_files();
        assert!(after.iter().any(|(p, _)| p == Path::new("/d/kept")));
        for (path, bytes) in after {
            assert_eq!(bytes, d.images(&path).unwrap().0, "{path:?}");
        }
    }

    #[test]
    fn unsynced_writes_vanish_or_survive_and_tear_at_sectors() {
        let (mut kept, mut dropped, mut torn) = (0, 0, 0);
        for seed in 0..200 {
            let (mut d, ino, _) = setup();
            let mut rng = SimRng::new(seed);
            let mark = d.sync_begin(ino).unwrap();
            d.sync_complete(&mut c(&mut rng, &quiet()), ino, mark)
                .unwrap();
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[1u8; 4096],
                WriteHow::PLAIN,
            )
            .unwrap();
            d.crash(&mut c(&mut rng, &quiet()));
            let (w, _) = d.images(Path::new("f")).unwrap();
            if w.is_empty() {
                dropped += 1;
                continue;
            }
            // Every 512-byte sector is either all old (zero) or all new.
            let ones = w.chunks(512).filter(|s| s.iter().all(|&b| b == 1)).count();
            let zeros = w.chunks(512).filter(|s| s.iter().all(|&b| b == 0)).count();
            assert_eq!(ones + zeros, w.len().div_ceil(512));
            if ones == 8 { kept += 1 } else { torn += 1 }
        }
        assert!(
            kept > 0 && dropped > 0 && torn > 0,
            "{kept} {dropped} {torn}"
        );
    }

    #[test]
    fn dsync_write_survives_and_is_not_undone_by_older_pending_changes() {
        for seed in 0..50 {
            let (mut d, ino, _) = setup();
            let mut rng = SimRng::new(seed);
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[1u8; 512],
                WriteHow::PLAIN,
            )
            .unwrap();
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[2u8; 512],
                WriteHow::DSYNC,
            )
            .unwrap();
            d.crash(&mut c(&mut rng, &quiet()));
            let (w, _) = d.images(Path::new("f")).unwrap();
            assert_eq!(w, vec![2u8; 512]);
        }
    }

    #[test]
    fn sync_covers_only_changes_before_it_was_submitted() {
        let mut faults = quiet();
        faults.crash_keep_unsynced_probability = 0.0;
        let (mut d, ino, mut rng) = setup();
        d.write(
            &mut c(&mut rng, &faults),
            ino,
            0,
            &[1u8; 512],
            WriteHow::PLAIN,
        )
        .unwrap();
        let mark = d.sync_begin(ino).unwrap();
        d.write(
            &mut c(&mut rng, &faults),
            ino,
            512,
            &[2u8; 512],
            WriteHow::PLAIN,
        )
        .unwrap();
        d.sync_complete(&mut c(&mut rng, &faults), ino, mark)
            .unwrap();
        d.crash(&mut c(&mut rng, &faults));
        assert_eq!(d.images(Path::new("f")).unwrap().0, vec![1u8; 512]);
    }

    #[test]
    fn failed_sync_keeps_data_readable_but_may_drop_it_from_disk() {
        let mut faults = quiet();
        faults.crash_keep_unsynced_probability = 0.0;
        let mut lost = 0;
        for seed in 0..40 {
            let (mut d, ino, _) = setup();
            let mut rng = SimRng::new(seed);
            let mark = d.sync_begin(ino).unwrap();
            d.sync_complete(&mut c(&mut rng, &faults), ino, mark)
                .unwrap();
            d.write(
                &mut c(&mut rng, &faults),
                ino,
                0,
                &[3u8; 512],
                WriteHow::PLAIN,
            )
            .unwrap();
            let mark = d.sync_begin(ino).unwrap();
            faults.sync_eio_probability = 1.0;
            assert_eq!(
                d.sync_complete(&mut c(&mut rng, &faults), ino, mark)
                    .unwrap_err()
                    .raw_os_error(),
                Some(libc::EIO)
            );
            faults.sync_eio_probability = 0.0;
            assert_eq!(
                d.read(&mut c(&mut rng, &faults), ino, 0, 512, 512).unwrap(),
                vec![3u8; 512]
            );
            // The retry "succeeds" but does not bring the dropped data back.
            let mark = d.sync_begin(ino).unwrap();
            d.sync_complete(&mut c(&mut rng, &faults), ino, mark)
                .unwrap();
            d.crash(&mut c(&mut rng, &faults));
            if d.images(Path::new("f")).unwrap().0.is_empty() {
                lost += 1;
            }
        }
        assert!(lost > 0 && lost < 40, "{lost}");
    }

    #[test]
    fn a_short_read_returns_whole_sectors_short_of_what_the_file_holds() {
        let mut d = Disk::new(1 << 20);
        let (ino, _) = d.open(Path::new("f"), true, false, false).unwrap();
        let mut rng = SimRng::new(3);
        d.write(
            &mut c(&mut rng, &quiet()),
            ino,
            0,
            &[7u8; 8192],
            WriteHow::PLAIN,
        )
        .unwrap();
        let faults = FaultConfig {
            short_read_probability: 1.0,
            ..quiet()
        };
        for _ in 0..64 {
            let got = d
                .read(&mut c(&mut rng, &faults), ino, 4096, 8192, 512)
                .unwrap();
            assert!(got.len() < 4096, "{}", got.len());
            assert_eq!(got.len() % SECTOR_BYTES as usize, 0);
            assert!(got.iter().all(|&b| b == 7));
        }
        // At the end of the file a read stays as it is: nothing to shorten.
        assert!(
            d.read(&mut c(&mut rng, &faults), ino, 8192, 512, 512)
                .unwrap()
                .is_empty()
        );
        assert_eq!(d.stats.short_reads, 64);
    }

    #[test]
    fn enospc_is_short_then_fails() {
        let mut d = Disk::new(2 * BLOCK_BYTES);
        let (ino, _) = d.open(Path::new("f"), true, false, false).unwrap();
        let mut rng = SimRng::new(1);
        let n = d
            .write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[1u8; 3 * 4096],
                WriteHow::PLAIN,
            )
            .unwrap();
        assert_eq!(n, 2 * 4096);
        let e = d
            .write(
                &mut c(&mut rng, &quiet()),
                ino,
                8192,
                &[1u8; 512],
                WriteHow::PLAIN,
            )
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        // Overwriting allocated blocks needs no space.
        assert_eq!(
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[2u8; 512],
                WriteHow::PLAIN
            )
            .unwrap(),
            512
        );
        assert_eq!(
            d.fallocate(ino, FallocateMode::Allocate, 8192, 4096)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOSPC)
        );
    }

    #[test]
    fn lost_and_misdirected_writes_are_counted_and_do_not_land() {
        let mut faults = quiet();
        faults.lost_write_probability = 1.0;
        let (mut d, ino, mut rng) = setup();
        assert_eq!(
            d.write(
                &mut c(&mut rng, &faults),
                ino,
                0,
                &[1u8; 512],
                WriteHow::PLAIN
            )
            .unwrap(),
            512
        );
        assert_eq!(d.size(ino).unwrap(), 0);
        faults.lost_write_probability = 0.0;
        faults.misdirected_write_probability = 1.0;
        d.write(
            &mut c(&mut rng, &faults),
            ino,
            4096,
            &[1u8; 512],
            WriteHow::PLAIN,
        )
        .unwrap();
        let (w, _) = d.images(Path::new("f")).unwrap();
        assert_ne!(w.get(4096..4608), Some(&[1u8; 512][..]));
        assert_eq!(d.stats.data_destroying_faults(), 2);
    }

    #[test]
    fn a_file_survives_a_crash_only_once_its_directory_was_synced() {
        let mut gone = 0;
        for seed in 0..40 {
            let mut d = Disk::new(1 << 20);
            let mut rng = SimRng::new(seed);
            let (ino, _) = d.open(Path::new("/d/f"), true, false, false).unwrap();
            // Synced data does not make the name durable.
            d.write(
                &mut c(&mut rng, &quiet()),
                ino,
                0,
                &[1u8; 512],
                WriteHow::DSYNC,
            )
            .unwrap();
            let mark = d.sync_begin(ino).unwrap();
            d.sync_complete(&mut c(&mut rng, &quiet()), ino, mark)
                .unwrap();
            // A sync of another directory does not either.
            let mark = d.sync_dir_begin(Path::new("/e")).unwrap();
            d.sync_dir_complete(&mut c(&mut rng, &quiet()), Path::new("/e"), mark)
                .unwrap();
            // A directory sync submitted before the creation does not cover it.
            let early = d.sync_dir_begin(Path::new("/d")).unwrap();
            let (_, _) = d.open(Path::new("/d/g"), true, false, false).unwrap();
            d.sync_dir_complete(&mut c(&mut rng, &quiet()), Path::new("/d"), early)
                .unwrap();
            d.crash(&mut c(&mut rng, &quiet()));
            // The early sync covered /d/f (created before it), never /d/g.
            assert_eq!(
                d.images(Path::new("/d/f")).map(|(w, _)| w),
                Some(vec![1u8; 512])
            );
            if d.images(Path::new("/d/g")).is_none() {
                gone += 1;
            }
            let e = d.sync_dir_begin(Path::new("/d/f")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
        }
        assert!(gone > 0 && gone < 40, "{gone}");
        let (mut kept, mut dropped) = (0, 0);
        for seed in 0..40 {
            let mut d = Disk::new(1 << 20);
            let mut rng = SimRng::new(seed);
            let (ino, _) = d.open(Path::new("/d/f"), true, false, false).unwrap();
            let mark = d.sync_begin(ino).unwrap();
            d.sync_complete(&mut c(&mut rng, &quiet()), ino, mark)
                .unwrap();
            d.crash(&mut c(&mut rng, &quiet()));
            if d.images(Path::new("/d/f")).is_some() {
                kept += 1;
                // What a crash kept is on disk for good, entry included.
                d.crash(&mut c(&mut rng, &quiet()));
                assert!(d.images(Path::new("/d/f")).is_some());
            } else {
                dropped += 1;
            }
        }
        assert!(kept > 0 && dropped > 0, "kept {kept} dropped {dropped}");
        assert_eq!(
            Disk::new(1 << 20)
                .sync_dir_begin(Path::new("/nothing/here"))
                .unwrap(),
            0
        );
    }
}
