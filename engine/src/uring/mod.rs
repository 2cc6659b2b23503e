//! `UringIo`: the production [`Io`] + [`Clock`] backend, one io_uring ring per core.
//!
//! How it works. A [`UringIo`] is a cheap, clonable handle (`Rc`) to its core's ring
//! (`ring.rs`). Every operation builds its SQE(s), moves the owned buffer(s), the `Rc`
//! of the fd and (for sockets) the address into a slot of the ring's slab keyed by the
//! SQE's `user_data`, pushes the SQE(s) to the submission queue without a syscall, and
//! awaits the slot. The executor's run loop calls the ring's `Driver::park` when no
//! task is ready: one `io_uring_enter` submits everything queued since the last one and
//! waits for at least one completion (or a timer deadline), then every posted
//! completion is moved into its slot and its task woken. So a core makes one syscall
//! per batch, not per operation, and at queue depth 1 a write then an fdatasync cost
//! two `io_uring_enter`s, as fio's io_uring engine does (`write_then_fdatasync`
//! chains both with `IOSQE_IO_LINK`).
//!
//! Ring setup tries `SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN | TASKRUN_FLAG |
//! SUBMIT_ALL` and falls back step by step; [`RingInfo`] records what was obtained and
//! what was refused, and `Runtime::new` prints it to stderr when `BOREAL_LOG` is set.
//! Features the runtime cannot do without ([`REQUIRED_FEATURES`]: `EXT_ARG` for timed
//! parks, `NODROP`, `ASYNC_CANCEL_ANY` for a ring's drop; all in Linux 5.19) are
//! required, not recorded: [`check_kernel`] refuses a ring without them, naming each.
//! IOPOLL is never requested (on this VM reads return EOPNOTSUPP and fsync EINVAL).
//! Registered buffers and files are not used: every buffer is an ordinary [`DmaBuf`].
//!
//! Must never: free a buffer or close an fd the kernel may still use (a dropped future
//! orphans its slot; the slot is freed when the completion arrives; the ring's drop
//! cancels and drains); lose what a dropped operation produced (a new fd is closed,
//! received bytes go to the stream's next recv: `op.rs`, `net.rs`); submit a misaligned O_DIRECT request (refused with `EINVAL`
//! first); block the core thread except in `park`; be used from another thread
//! (everything here is `!Send`).
//!
//! Time: [`Clock::now`] reads `CLOCK_MONOTONIC` (since the process's first reading,
//! shared by all cores); [`Clock::sleep_until`] is the executor's timer
//! ([`rt::sleep_until`](crate::rt::sleep_until)), whose deadline the ring waits on.

#![allow(
    unsafe_code,
    reason = "io_uring submission and raw syscalls; every block has a SAFETY note"
)]

mod fs;
mod net;
mod op;
mod ring;
mod setup;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

pub use self::fs::UringFile;
pub use self::net::{UringListener, UringStream};
pub(crate) use self::ring::Ring;
pub use self::ring::{
    PARK_SPIN_DEFAULT, PARK_SPIN_MAX, RING_ENTRIES_DEFAULT, RING_ENTRIES_MAX, RING_ENTRIES_MIN,
    RingStats,
};
pub use self::setup::{KernelFeature, KernelTooOld, REQUIRED_FEATURES, RingInfo, check_kernel};
use crate::buf::DmaBuf;
use crate::io::{Advice, Clock, FallocateMode, FileInfo, Instant, Io, OpenOptions, WriteFlags};
use crate::rt::Driver;

/// The io_uring backend for one core. Clone it freely on that core; it cannot leave
/// the thread. Build it through [`Runtime`](crate::rt::Runtime).
#[derive(Clone, Debug)]
pub struct UringIo {
    ring: Rc<Ring>,
}

impl UringIo {
    pub(crate) fn from_ring(ring: Rc<Ring>) -> UringIo {
        UringIo { ring }
    }

    /// What ring setup obtained.
    pub fn ring_info(&self) -> &RingInfo {
        self.ring.info()
    }

    /// Counters: live and orphaned operation slots, SQEs in flight, syscalls made.
    pub fn stats(&self) -> RingStats {
        self.ring.stats()
    }

    /// Submits every operation queued on this ring and reaps the completions already
    /// posted, without waiting: one `io_uring_enter` if anything is queued or may have
    /// completed, none otherwise. Tasks whose operations completed are woken.
    ///
    /// The executor already submits whenever it parks, so tasks never need this. It is
    /// for a caller that drives the ring in explicit submit and wait steps, as fio's
    /// engines do (boreal-bench's `io_uring` engine: its `commit` must return with the
    /// batch submitted). Call it from inside `block_on` on this core, where wake-ups are
    /// plain pushes on the ready queue (outside, they would take the cross-thread path
    /// and its eventfd write).
    pub fn submit_now(&self) {
        self.ring.park(Some(Instant::ZERO));
    }
}

impl Clock for UringIo {
    fn now(&self) -> Instant {
        ring::now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        crate::rt::sleep_until(deadline).await
    }
}

impl Io for UringIo {
    type File = UringFile;
    type Listener = UringListener;
    type Stream = UringStream;

    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<UringFile> {
        fs::open(&self.ring, path, opts).await
    }

    fn file_info(&self, file: &UringFile) -> FileInfo {
        file.info
    }

    fn submit_queued(&self) {
        self.ring.submit_queued();
    }

    async fn read_at(
        &self,
        file: &UringFile,
        buf: DmaBuf,
        len: usize,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        fs::read_at(&self.ring, file, buf, len, offset).await
    }

    async fn write_at(
        &self,
        file: &UringFile,
        buf: DmaBuf,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, DmaBuf) {
        fs::write_at(&self.ring, file, buf, offset, flags).await
    }

    async fn writev_at(
        &self,
        file: &UringFile,
        bufs: Vec<DmaBuf>,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, Vec<DmaBuf>) {
        fs::writev_at(&self.ring, file, bufs, offset, flags).await
    }

    async fn fdatasync(&self, file: &UringFile) -> io::Result<()> {
        fs::sync(&self.ring, file, true).await
    }

    async fn fsync(&self, file: &UringFile) -> io::Result<()> {
        fs::sync(&self.ring, file, false).await
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fs::sync_dir(&self.ring, dir).await
    }

    async fn fallocate(
        &self,
        file: &UringFile,
        mode: FallocateMode,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        fs::fallocate(&self.ring, file, mode, offset, len).await
    }

    async fn fadvise(&self, file: &UringFile, advice: Advice) -> io::Result<()> {
        fs::fadvise(&self.ring, file, advice).await
    }

    async fn write_then_fdatasync(
        &self,
        file: &UringFile,
        buf: DmaBuf,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        fs::write_then_fdatasync(&self.ring, file, buf, offset).await
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<UringListener> {
        net::bind(addr)
    }

    fn local_addr(&self, listener: &UringListener) -> io::Result<SocketAddr> {
        net::local_addr(listener)
    }

    async fn accept(&self, listener: &UringListener) -> io::Result<(UringStream, SocketAddr)> {
        net::accept(&self.ring, listener).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<UringStream> {
        net::connect(&self.ring, addr).await
    }

    async fn send(&self, stream: &UringStream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf) {
        net::send(&self.ring, stream, buf).await
    }

    async fn recv(&self, stream: &UringStream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf) {
        net::recv(&self.ring, stream, buf).await
    }
}
