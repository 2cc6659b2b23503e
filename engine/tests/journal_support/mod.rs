//! Shared helpers of the journal tests: a small journal config, record builders, a
//! fault-free simulator, and `FaultyIo`, an `Io` wrapper that fails chosen operations
//! on demand (EIO on the next write or sync, a short write), deterministically.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::{
    Advice, Clock, DmaBuf, FallocateMode, FileInfo, Instant, Io, OpenOptions, WriteFlags,
};
use boreal_engine::journal::{DurabilityMode, JournalConfig};
use boreal_engine::node::EngineConfig;
use boreal_engine::sim::{FaultConfig, Sim, SimConfig};
use boreal_segment::{Change, Lsn, PageId, PgId, Record, Redo};

pub const DIR: &str = "/journal";

/// 3 files of 256 KiB, 64 KiB batches.
pub fn small_config(mode: DurabilityMode) -> JournalConfig {
    JournalConfig {
        files: 3,
        file_bytes: 256 << 10,
        batch_bytes_max: 64 << 10,
        durability: mode,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(DIR)
    }
}

/// The page store directory of the one core the engine tests open.
pub const CORE: &str = "/data/core0";

/// An engine at [`CORE`] whose coalescer runs only when the test calls it, with a
/// 1 MiB backlog bound.
pub fn engine_config() -> EngineConfig {
    let mut cfg = EngineConfig::new(CORE);
    cfg.background_coalescer = false;
    cfg.backlog_bytes_max = 1 << 20;
    cfg
}

/// The journal for [`engine_config`]: 16 files of 256 KiB, a quarter of which hold
/// the 1 MiB backlog bound.
pub fn engine_journal_config() -> JournalConfig {
    JournalConfig {
        files: 16,
        file_bytes: 256 << 10,
        batch_bytes_max: 64 << 10,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(DIR)
    }
}

/// A core whose records never materialize: the backlog only grows, up to its 1 MiB
/// bound, and an append waits at most 100 ms for room.
pub fn growing_engine_config() -> EngineConfig {
    let mut cfg = EngineConfig::new("/data/core0");
    cfg.background_coalescer = false;
    cfg.backlog_bytes_max = 1 << 20;
    cfg.backpressure_wait_max = Duration::from_millis(100);
    cfg
}

/// 16 files of 1 MiB with `batch_bytes_max` batches, RWF_DSYNC writes.
pub fn node_journal_config(batch_bytes_max: usize) -> JournalConfig {
    JournalConfig {
        files: 16,
        file_bytes: 1 << 20,
        batch_bytes_max,
        durability: DurabilityMode::DsyncWrite,
        recovery_read_bytes: 64 << 10,
        ..JournalConfig::new(DIR)
    }
}

/// A fault-free world with one node (node 0).
pub fn sim(seed: u64) -> Sim {
    let sim = Sim::new(SimConfig {
        seed,
        faults: FaultConfig::none(),
        ..SimConfig::default()
    });
    assert_eq!(sim.add_node(), 0);
    sim
}

/// The payload of the record at `lsn`: derived from it, so recovery can be checked.
pub fn payload(lsn: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (lsn as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

/// Reads `len` bytes (whole 4 KiB blocks) at `offset` of the file at `path`, lets
/// `edit` change them, and writes them back durably (stored damage). Returns the bytes
/// as written.
pub async fn patch<I: Io>(
    io: &I,
    path: &std::path::Path,
    offset: u64,
    len: usize,
    edit: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let opts = OpenOptions {
        read: true,
        write: true,
        direct: true,
        ..OpenOptions::default()
    };
    let f = io.open(path, opts).await.unwrap();
    let (r, mut buf) = io.read_at(&f, DmaBuf::zeroed(len), len, offset).await;
    assert_eq!(r.unwrap(), len);
    edit(buf.as_mut_slice());
    let written = buf.as_slice().to_vec();
    let (r, _) = io.write_at(&f, buf, offset, WriteFlags::NONE).await;
    assert_eq!(r.unwrap(), len);
    io.fdatasync(&f).await.unwrap();
    written
}

pub fn redo<'a>(pg: u32, lsn: u64, bytes: &'a [u8]) -> Record<'a> {
    Record::Redo(Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(lsn - 1),
        prev_lsn_page: Lsn::ZERO,
        pg_id: PgId::new(pg),
        page_id: PageId::new(lsn % 7),
        cpl: false,
        change: Change::Delta { offset: 0, bytes },
    })
}

/// The redo record of `pg` at `lsn`: a delta of `body` at `offset` of page
/// `lsn % pages`, chained to `lsn - 1` in the PG and to `lsn - pages` on its page.
pub fn chained(pg: PgId, pages: u64, lsn: u64, offset: u32, body: &[u8], cpl: bool) -> Redo<'_> {
    Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(lsn - 1),
        prev_lsn_page: Lsn::new(lsn.saturating_sub(pages)),
        pg_id: pg,
        page_id: PageId::new(lsn % pages),
        cpl,
        change: Change::Delta {
            offset,
            bytes: body,
        },
    }
}

/// What to do to the next matching operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Fail the next write with this errno.
    pub write_errno: Option<i32>,
    /// Complete the next write short by this many bytes.
    pub write_short_by: Option<usize>,
    /// Fail the next fdatasync with this errno.
    pub sync_errno: Option<i32>,
    /// Fail the next linked write+sync with this errno (the sync's ECANCELED).
    pub linked_errno: Option<i32>,
    /// Complete every read of a file whose path ends with `.0` short, returning only
    /// its first `.2` bytes (as a failing device may, mid-file): every read if `.1` is
    /// empty, else reads at those offsets only.
    pub read_short: Option<(&'static str, &'static [u64], usize)>,
    pub armed: bool,
}

/// An `Io` that delegates to `inner` and injects `Faults` once armed.
#[derive(Clone, Debug)]
pub struct FaultyIo<I: Io> {
    pub inner: I,
    pub faults: Rc<RefCell<Faults>>,
}

/// A file of a [`FaultyIo`]: the inner file and the path it was opened at (for faults
/// aimed at one file).
#[derive(Debug)]
pub struct FaultyFile<F> {
    inner: F,
    path: std::path::PathBuf,
}

impl<I: Io> FaultyIo<I> {
    pub fn new(inner: I) -> Self {
        FaultyIo {
            inner,
            faults: Rc::new(RefCell::new(Faults::default())),
        }
    }

    pub fn arm(&self, f: Faults) {
        *self.faults.borrow_mut() = Faults { armed: true, ..f };
    }
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl<I: Io> Clock for FaultyIo<I> {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        self.inner.sleep_until(deadline).await
    }
}

impl<I: Io> Io for FaultyIo<I> {
    type File = FaultyFile<I::File>;
    type Listener = I::Listener;
    type Stream = I::Stream;

    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Self::File> {
        let inner = self.inner.open(path, opts).await?;
        Ok(FaultyFile {
            inner,
            path: path.to_path_buf(),
        })
    }

    fn file_info(&self, file: &Self::File) -> FileInfo {
        self.inner.file_info(&file.inner)
    }

    fn submit_queued(&self) {
        self.inner.submit_queued()
    }

    async fn read_at(
        &self,
        file: &Self::File,
        buf: DmaBuf,
        len: usize,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        let short = {
            let f = self.faults.borrow();
            f.read_short.filter(|_| f.armed)
        };
        let Some((suffix, offsets, keep)) = short else {
            return self.inner.read_at(&file.inner, buf, len, offset).await;
        };
        if !file.path.to_string_lossy().ends_with(suffix)
            || !(offsets.is_empty() || offsets.contains(&offset))
        {
            return self.inner.read_at(&file.inner, buf, len, offset).await;
        }
        let (r, mut buf) = self.inner.read_at(&file.inner, buf, len, offset).await;
        match r {
            Ok(n) => {
                let n = n.min(keep);
                buf.set_len(n);
                (Ok(n), buf)
            }
            e => (e, buf),
        }
    }

    async fn write_at(
        &self,
        file: &Self::File,
        buf: DmaBuf,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, DmaBuf) {
        let (errno, short) = {
            let mut f = self.faults.borrow_mut();
            if f.armed {
                (f.write_errno.take(), f.write_short_by.take())
            } else {
                (None, None)
            }
        };
        if let Some(code) = errno {
            return (Err(err(code)), buf);
        }
        if let Some(by) = short {
            // Write a prefix for real, report it: a short O_DIRECT write.
            let keep = buf.len().saturating_sub(by) / 512 * 512;
            let mut prefix = DmaBuf::zeroed(buf.capacity());
            prefix.extend_from_slice(&buf.as_slice()[..keep]);
            let (r, _) = self
                .inner
                .write_at(&file.inner, prefix, offset, flags)
                .await;
            return (r, buf);
        }
        self.inner.write_at(&file.inner, buf, offset, flags).await
    }

    async fn writev_at(
        &self,
        file: &Self::File,
        bufs: Vec<DmaBuf>,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, Vec<DmaBuf>) {
        self.inner.writev_at(&file.inner, bufs, offset, flags).await
    }

    async fn fdatasync(&self, file: &Self::File) -> io::Result<()> {
        let errno = {
            let mut f = self.faults.borrow_mut();
            if f.armed { f.sync_errno.take() } else { None }
        };
        if let Some(code) = errno {
            return Err(err(code));
        }
        self.inner.fdatasync(&file.inner).await
    }

    async fn fsync(&self, file: &Self::File) -> io::Result<()> {
        self.inner.fsync(&file.inner).await
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir).await
    }

    async fn fallocate(
        &self,
        file: &Self::File,
        mode: FallocateMode,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        self.inner.fallocate(&file.inner, mode, offset, len).await
    }

    async fn fadvise(&self, file: &Self::File, advice: Advice) -> io::Result<()> {
        self.inner.fadvise(&file.inner, advice).await
    }

    async fn write_then_fdatasync(
        &self,
        file: &Self::File,
        buf: DmaBuf,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        let errno = {
            let mut f = self.faults.borrow_mut();
            if f.armed { f.linked_errno.take() } else { None }
        };
        if let Some(code) = errno {
            // The write landed but the linked sync was cancelled: nothing is durable.
            let (_, buf) = self
                .inner
                .write_at(&file.inner, buf, offset, WriteFlags::NONE)
                .await;
            return (Err(err(code)), buf);
        }
        self.inner
            .write_then_fdatasync(&file.inner, buf, offset)
            .await
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        self.inner.bind(addr).await
    }

    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        self.inner.local_addr(listener)
    }

    async fn accept(&self, listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        self.inner.accept(listener).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        self.inner.connect(addr).await
    }

    async fn send(&self, stream: &Self::Stream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf) {
        self.inner.send(stream, buf).await
    }

    async fn recv(&self, stream: &Self::Stream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf) {
        self.inner.recv(stream, buf).await
    }
}
