//! The seam between boreal's logic and the outside world: files, sockets and time.
//!
//! Everything above this module (journal, page store, ingestion, the quorum shim, the
//! benchmark engines) does I/O and reads time only through [`Io`] and [`Clock`]. There
//! are exactly two implementations: `UringIo` (production, one io_uring ring per core)
//! and `SimIo` (a deterministic, fault-injecting simulator). Nothing else may call
//! `std::fs`, `std::net`, `Instant::now` or a random source on the data path.
//!
//! Contract, shared by both backends and checked by the conformance tests:
//! - Buffers are owned and travel with the operation: an operation takes a [`DmaBuf`]
//!   and hands it back with the result, so a buffer can never be freed or reused while
//!   the kernel (or the simulator) may still touch it — even if the future is dropped.
//! - Errors are plain `std::io::Error`s carrying the errno Linux would give (`EINVAL` for
//!   a misaligned O_DIRECT request, `EIO`, `ENOSPC`, ...), so the simulator promises no
//!   more than Linux does. The caller adds context (op, file, offset).
//! - A write or read may complete short; the caller decides what short means (the
//!   journal treats any short write as failure).
//! - Only a completed `fdatasync`/`fsync`, or a write with `WriteFlags::DSYNC`, makes
//!   bytes durable. `O_DIRECT` alone is not durable.
//! - A new file's name is durable only after its directory was synced
//!   ([`Io::sync_dir`]) once the file existed; syncing the file itself does not
//!   promise it (POSIX does not, and the simulator drops such a file at a crash).
//!
//! The traits use `async fn` and are not object-safe on purpose: callers are generic over
//! `I: Io`, everything is monomorphized, and futures are not `Send` (thread-per-core).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use crate::buf::DmaBuf;

/// A point on a backend's monotonic clock, in nanoseconds since the backend started.
/// Under `SimIo` this is virtual time and advances only by events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_add(n))
            .map(Instant)
    }

    /// `self + d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant(u64::MAX))
    }
}

/// Time, as the engine may see it. Production reads `CLOCK_MONOTONIC`; the simulator
/// returns virtual time.
#[allow(
    async_fn_in_trait,
    reason = "thread-per-core: futures are deliberately not Send"
)]
pub trait Clock {
    fn now(&self) -> Instant;

    /// Completes once `now() >= deadline`.
    async fn sleep_until(&self, deadline: Instant);

    /// Completes after `d` has passed on this clock.
    async fn sleep(&self, d: Duration) {
        let deadline = self.now().saturating_add(d);
        self.sleep_until(deadline).await
    }
}

/// How to open a file. Mirrors `open(2)` flags the engine uses; nothing more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    pub read: bool,
    pub write: bool,
    pub create: bool,
    /// Fail if the file exists (`O_EXCL`, only with `create`).
    pub create_new: bool,
    pub truncate: bool,
    /// `O_DIRECT`: buffer address, length and offset must be multiples of the file's
    /// [`FileInfo::dio_offset_align`] / [`FileInfo::dio_mem_align`], else `EINVAL`.
    pub direct: bool,
}

/// Facts about an open file, probed at open time (statx `STATX_DIOALIGN` on Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Size in bytes at open time.
    pub size: u64,
    /// Required alignment of file offsets and lengths for O_DIRECT (e.g. 512).
    /// 0 when the file was not opened with O_DIRECT.
    pub dio_offset_align: u32,
    /// Required alignment of buffer addresses for O_DIRECT.
    pub dio_mem_align: u32,
}

/// Per-write flags (`pwritev2` / `IORING_OP_WRITE` `rw_flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteFlags {
    /// `RWF_DSYNC`: the write is durable when it completes.
    pub dsync: bool,
}

impl WriteFlags {
    pub const NONE: WriteFlags = WriteFlags { dsync: false };
    pub const DSYNC: WriteFlags = WriteFlags { dsync: true };
}

/// `fallocate(2)` modes the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallocateMode {
    /// Allocate blocks and extend the size (mode 0).
    Allocate,
    /// Allocate blocks, keep the size (`FALLOC_FL_KEEP_SIZE`).
    KeepSize,
    /// Zero a range, allocating it (`FALLOC_FL_ZERO_RANGE`).
    ZeroRange,
}

/// How a file will be read, for [`Io::fadvise`] (`posix_fadvise(2)`'s access-pattern
/// advice). Linux keeps it per open file description (not per inode) and applies it to
/// the whole file whatever range is named, so only the descriptor advised reads
/// differently; it changes no byte read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// `POSIX_FADV_NORMAL`: the device's default readahead (undoes the others).
    Normal,
    /// `POSIX_FADV_SEQUENTIAL`: reads will be sequential; Linux doubles the readahead
    /// window.
    Sequential,
    /// `POSIX_FADV_RANDOM`: reads will be random; Linux turns readahead off, so a
    /// buffered read fetches from storage only the pages it asked for.
    Random,
}

impl Advice {
    /// The `POSIX_FADV_*` value of `posix_fadvise(2)` and `IORING_OP_FADVISE`.
    pub fn posix(self) -> libc::c_int {
        match self {
            Advice::Normal => libc::POSIX_FADV_NORMAL,
            Advice::Sequential => libc::POSIX_FADV_SEQUENTIAL,
            Advice::Random => libc::POSIX_FADV_RANDOM,
        }
    }
}

/// The error [`Io::write_then_fdatasync`] returns when the write completed short, on
/// every backend: `ErrorKind::WriteZero`, naming how much was written. Nothing of the
/// write is known to be durable.
pub fn short_linked_write(written: usize, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::WriteZero,
        format!("short write: {written} of {len} bytes; linked fdatasync cancelled"),
    )
}

/// Awaits `op`, an operation of `io`, handing it to the kernel as soon as its first
/// poll has queued it ([`Io::submit_queued`]) instead of when the core next parks.
pub async fn submit_urgently<I: Io, F: Future>(io: &I, op: F) -> F::Output {
    let mut op = std::pin::pin!(op);
    let mut first = true;
    std::future::poll_fn(|cx| {
        let r = op.as_mut().poll(cx);
        if std::mem::take(&mut first) && r.is_pending() {
            io.submit_queued();
        }
        r
    })
    .await
}

/// Files, sockets and timers, as the engine uses them. See the module docs for the
/// contract every implementation keeps.
#[allow(
    async_fn_in_trait,
    reason = "thread-per-core: futures are deliberately not Send"
)]
pub trait Io: Clock + Clone + 'static {
    /// An open file. Dropping it closes the descriptor once no operation uses it.
    type File: 'static;
    /// A listening TCP socket.
    type Listener: 'static;
    /// A connected TCP stream.
    type Stream: 'static;

    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Self::File>;
    fn file_info(&self, file: &Self::File) -> FileInfo;

    /// Reads up to `len` bytes (`len <= buf.capacity()`) at `offset` into the start of
    /// `buf`; returns how many were read (short at end of file) and the buffer, whose
    /// `len()` is then that count.
    async fn read_at(
        &self,
        file: &Self::File,
        buf: DmaBuf,
        len: usize,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf);

    /// Writes `buf[..buf.len()]` at `offset`; returns how many bytes were written.
    async fn write_at(
        &self,
        file: &Self::File,
        buf: DmaBuf,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, DmaBuf);

    /// Writes the buffers back to back starting at `offset` (`pwritev2`).
    async fn writev_at(
        &self,
        file: &Self::File,
        bufs: Vec<DmaBuf>,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, Vec<DmaBuf>);

    async fn fdatasync(&self, file: &Self::File) -> io::Result<()>;
    async fn fsync(&self, file: &Self::File) -> io::Result<()>;

    /// `fsync(2)` of the directory `dir` (opened `O_RDONLY | O_DIRECTORY`): makes
    /// durable the entries created in it before the call. Whoever creates a file calls
    /// this before anything relies on finding the file after a crash. `ENOTDIR` if
    /// `dir` is not a directory, `ENOENT` if it does not exist.
    async fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    async fn fallocate(
        &self,
        file: &Self::File,
        mode: FallocateMode,
        offset: u64,
        len: u64,
    ) -> io::Result<()>;

    /// Advises the kernel how `file` will be read (`posix_fadvise(2)` over the whole
    /// file; `IORING_OP_FADVISE` on io_uring). Advice only: it changes how a later
    /// buffered read uses the page cache (readahead), never what it returns. Fails with
    /// the errno Linux gives (`ESPIPE` on a pipe, `EBADF` on a closed descriptor).
    async fn fadvise(&self, file: &Self::File, advice: Advice) -> io::Result<()>;

    /// Writes `buf` at `offset` and, only if the write completed in full, `fdatasync`s
    /// (an `IOSQE_IO_LINK` chain on io_uring). A failed write fails the whole call with
    /// its errno; a short write fails it with [`short_linked_write`] (the kernel cancels
    /// the linked sync); the sync never runs on its own.
    async fn write_then_fdatasync(
        &self,
        file: &Self::File,
        buf: DmaBuf,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf);

    /// Hands the operations queued so far to the kernel now rather than at the
    /// executor's next park. A backend may queue submissions until its core has no
    /// task left to run (io_uring batches them into one `io_uring_enter`); an issuer
    /// whose I/O is on everyone's critical path and that goes on to wake many tasks
    /// (the journal flusher: the next batch's write, then its waiters' wake-ups) calls
    /// this so the device works while those tasks run. See [`submit_urgently`].
    /// Backends that start every operation at once do nothing. Never waits and never
    /// runs completions. Wrappers must forward it.
    fn submit_queued(&self);

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener>;
    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr>;
    async fn accept(&self, listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)>;
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream>;
    /// Sends `buf[..buf.len()]`; returns how many bytes were sent (may be short).
    async fn send(&self, stream: &Self::Stream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf);
    /// Receives up to `buf.capacity()` bytes into the start of `buf` and sets `len()` to
    /// the count; `Ok(0)` means the peer closed. Dropping the future loses no bytes:
    /// whatever it may already have received goes to the stream's next `recv`.
    async fn recv(&self, stream: &Self::Stream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf);
}
