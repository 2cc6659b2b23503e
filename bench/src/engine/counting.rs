//! [`CountingIo`]: boreal's `Io` seam with a byte counter on every write, split by what
//! the file is (journal or page store), and on every socket send and receive.
//!
//! Why it exists: the journal counts the bytes of its batches and headers
//! (`JournalStats`), but the page store has no byte counter of its own (the engine
//! counts pages written, not the zero-fill it does when a page file grows, nor its
//! metadata and catalog slots). Device bytes per redo byte must include all of them, so
//! the bench counts at the one place every write passes: the `Io` seam the engine is
//! generic over. The engine itself is untouched. The quorum shim is generic over the
//! same seam, so the `boreal-cluster` engine counts what the shim puts on the wire
//! (sends: the network messages; bytes) the same way, without a counter in the shim.
//!
//! Must never change what an operation does: every call is forwarded as is, and the
//! counters are bumped only for bytes the kernel reported moved. Counting is two
//! `Cell` additions per operation; nothing is allocated.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{
    Advice, Clock, FallocateMode, FileInfo, Instant, Io, OpenOptions, WriteFlags,
};
use boreal_engine::uring::{UringFile, UringIo};

/// What a file of the data directory is, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A journal file (`journal-NNNN.brj`).
    Journal = 0,
    /// Anything else: page files, segment metadata, the catalog.
    PageStore = 1,
}

impl FileKind {
    fn of(path: &Path) -> FileKind {
        let journal = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("journal-"));
        if journal {
            FileKind::Journal
        } else {
            FileKind::PageStore
        }
    }
}

/// Counters of one kind of file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoCounts {
    /// Bytes the kernel reported written.
    pub bytes_written: u64,
    /// Write operations (a linked write+sync counts once here and once in `syncs`).
    pub writes: u64,
    /// fdatasync/fsync operations, linked ones included (`RWF_DSYNC` writes are not).
    pub syncs: u64,
}

impl IoCounts {
    /// `self - earlier`, field by field.
    pub fn since(&self, earlier: &IoCounts) -> IoCounts {
        IoCounts {
            bytes_written: self.bytes_written - earlier.bytes_written,
            writes: self.writes - earlier.writes,
            syncs: self.syncs - earlier.syncs,
        }
    }
}

/// Counters of the sockets opened through a [`CountingIo`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NetCounts {
    /// `send` operations that moved bytes (one network message each: a send carries
    /// one or more whole frames, or the rest of a frame a short send left).
    pub sends: u64,
    /// Bytes the kernel reported sent.
    pub bytes_sent: u64,
    /// `recv` operations that brought bytes.
    pub recvs: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

impl NetCounts {
    /// `self - earlier`, field by field.
    pub fn since(&self, earlier: &NetCounts) -> NetCounts {
        NetCounts {
            sends: self.sends - earlier.sends,
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            recvs: self.recvs - earlier.recvs,
            bytes_received: self.bytes_received - earlier.bytes_received,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    bytes: [Cell<u64>; 2],
    writes: [Cell<u64>; 2],
    syncs: [Cell<u64>; 2],
    sends: Cell<u64>,
    bytes_sent: Cell<u64>,
    recvs: Cell<u64>,
    bytes_received: Cell<u64>,
}

fn bump(cell: &Cell<u64>, by: u64) {
    cell.set(cell.get() + by);
}

/// A file opened through [`CountingIo`].
#[derive(Debug)]
pub struct CountedFile {
    inner: UringFile,
    kind: FileKind,
}

/// [`UringIo`] with write counters. Clones share the counters.
#[derive(Clone)]
pub struct CountingIo {
    inner: UringIo,
    counters: Rc<Counters>,
}

impl std::fmt::Debug for CountingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingIo")
            .field("journal", &self.counts(FileKind::Journal))
            .field("page_store", &self.counts(FileKind::PageStore))
            .finish()
    }
}

impl CountingIo {
    /// Wraps `inner`, counters at zero.
    pub fn new(inner: UringIo) -> CountingIo {
        CountingIo {
            inner,
            counters: Rc::new(Counters::default()),
        }
    }

    /// The counters of one kind of file, since creation.
    pub fn counts(&self, kind: FileKind) -> IoCounts {
        let k = kind as usize;
        IoCounts {
            bytes_written: self.counters.bytes[k].get(),
            writes: self.counters.writes[k].get(),
            syncs: self.counters.syncs[k].get(),
        }
    }

    /// The socket counters, since creation.
    pub fn net(&self) -> NetCounts {
        let c = &self.counters;
        NetCounts {
            sends: c.sends.get(),
            bytes_sent: c.bytes_sent.get(),
            recvs: c.recvs.get(),
            bytes_received: c.bytes_received.get(),
        }
    }

    fn wrote(&self, file: &CountedFile, result: &io::Result<usize>) {
        let k = file.kind as usize;
        self.counters.writes[k].set(self.counters.writes[k].get() + 1);
        if let Ok(n) = result {
            self.counters.bytes[k].set(self.counters.bytes[k].get() + *n as u64);
        }
    }

    fn synced(&self, file: &CountedFile) {
        let k = file.kind as usize;
        self.counters.syncs[k].set(self.counters.syncs[k].get() + 1);
    }
}

impl Clock for CountingIo {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        self.inner.sleep_until(deadline).await
    }
}

impl Io for CountingIo {
    type File = CountedFile;
    type Listener = <UringIo as Io>::Listener;
    type Stream = <UringIo as Io>::Stream;

    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<CountedFile> {
        let inner = self.inner.open(path, opts).await?;
        Ok(CountedFile {
            inner,
            kind: FileKind::of(path),
        })
    }

    fn file_info(&self, file: &CountedFile) -> FileInfo {
        self.inner.file_info(&file.inner)
    }

    fn submit_queued(&self) {
        self.inner.submit_queued()
    }

    async fn read_at(
        &self,
        file: &CountedFile,
        buf: DmaBuf,
        len: usize,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        self.inner.read_at(&file.inner, buf, len, offset).await
    }

    async fn write_at(
        &self,
        file: &CountedFile,
        buf: DmaBuf,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, DmaBuf) {
        let (r, buf) = self.inner.write_at(&file.inner, buf, offset, flags).await;
        self.wrote(file, &r);
        (r, buf)
    }

    async fn writev_at(
        &self,
        file: &CountedFile,
        bufs: Vec<DmaBuf>,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, Vec<DmaBuf>) {
        let (r, bufs) = self.inner.writev_at(&file.inner, bufs, offset, flags).await;
        self.wrote(file, &r);
        (r, bufs)
    }

    async fn fdatasync(&self, file: &CountedFile) -> io::Result<()> {
        self.synced(file);
        self.inner.fdatasync(&file.inner).await
    }

    async fn fsync(&self, file: &CountedFile) -> io::Result<()> {
        self.synced(file);
        self.inner.fsync(&file.inner).await
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir).await
    }

    async fn fallocate(
        &self,
        file: &CountedFile,
        mode: FallocateMode,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        self.inner.fallocate(&file.inner, mode, offset, len).await
    }

    async fn fadvise(&self, file: &CountedFile, advice: Advice) -> io::Result<()> {
        self.inner.fadvise(&file.inner, advice).await
    }

    async fn write_then_fdatasync(
        &self,
        file: &CountedFile,
        buf: DmaBuf,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        let (r, buf) = self
            .inner
            .write_then_fdatasync(&file.inner, buf, offset)
            .await;
        self.wrote(file, &r);
        self.synced(file);
        (r, buf)
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
        let (r, buf) = self.inner.send(stream, buf).await;
        if let Ok(n @ 1..) = r {
            bump(&self.counters.sends, 1);
            bump(&self.counters.bytes_sent, n as u64);
        }
        (r, buf)
    }

    async fn recv(&self, stream: &Self::Stream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf) {
        let (r, buf) = self.inner.recv(stream, buf).await;
        if let Ok(n @ 1..) = r {
            bump(&self.counters.recvs, 1);
            bump(&self.counters.bytes_received, n as u64);
        }
        (r, buf)
    }
}
