//! [`SimIo`]: the simulator's implementation of [`Io`] and [`Clock`], and its handles
//! ([`SimFile`], [`SimListener`], [`SimStream`]).
//!
//! Owns only handles: a `SimIo` is a cheap clone (one `Rc`) bound to one node and core;
//! all state lives in the world. It never applies an operation's effect itself: it
//! checks the request exactly as Linux would (bad descriptor, O_DIRECT alignment,
//! access mode), then submits it to the world, whose event loop completes it.
//!
//! Linux rules it enforces, held to the real backend by `tests/conformance.rs`:
//! - O_DIRECT: file offset and every buffer length must be multiples of the file's
//!   `dio_offset_align` (`EINVAL` otherwise); buffers are always aligned ([`DmaBuf`]).
//! - reads at or past end of file are short (`Ok(0)` at or beyond EOF), and with
//!   `FaultConfig::short_read_probability` a read may end short anywhere (as Linux
//!   allows);
//! - writing to a file opened read-only, or reading one opened write-only, is `EBADF`;
//! - `fallocate` with length 0 is `EINVAL`;
//! - `fadvise` is advice and the simulator has no page cache to read ahead into: it is
//!   checked (a dead handle is `EBADF`), folded into the trace hash, and otherwise
//!   ignored. It takes no virtual time and draws no random number, so it shifts no
//!   latency, fault or scheduling choice of the run;
//! - a handle (file, listener, stream) from before its node crashed or its process was
//!   killed is a closed descriptor: `EBADF`, and dropping it does nothing.
//!
//! Time: [`Clock`] on a `SimIo` is its node's clock (offset and drift against virtual
//! time, `clock.rs`); latencies and network delays are virtual time.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::disk::{Ino, errno};
use super::wait::{OpFuture, Sleep};
use super::world::{OpKind, OpOut, World, WorldRef, with_world};
use crate::buf::DmaBuf;
use crate::io::{Advice, Clock, FallocateMode, FileInfo, Instant, Io, OpenOptions, WriteFlags};
use crate::rt::Domain;

/// The simulator's [`Io`] for one node and core. See the module docs.
#[derive(Clone)]
pub struct SimIo {
    pub(crate) world: WorldRef,
    pub(crate) node: u32,
    pub(crate) core: u32,
}

impl fmt::Debug for SimIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimIo")
            .field("node", &self.node)
            .field("core", &self.core)
            .finish()
    }
}

/// An open simulated file. Plain data: closing is dropping.
#[derive(Debug)]
pub struct SimFile {
    node: u32,
    incarnation: u64,
    ino: Ino,
    read: bool,
    write: bool,
    info: FileInfo,
    path: PathBuf,
}

impl SimFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A listening simulated socket. Dropping it closes it (queued connections reset).
pub struct SimListener {
    world: WorldRef,
    id: u64,
    node: u32,
    incarnation: u64,
}

impl fmt::Debug for SimListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimListener").field("id", &self.id).finish()
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        if let Ok(mut w) = self.world.try_borrow_mut() {
            if !handle_live(&w, self.node, self.incarnation) {
                // Its process died; the kernel already closed it.
                return;
            }
            w.listener_close(self.id);
            let wakers = w.take_wakers();
            drop(w);
            wakers.into_iter().for_each(std::task::Waker::wake);
        }
    }
}

/// One end of a simulated TCP stream. Dropping it closes the end: the peer reads the
/// remaining bytes, then `Ok(0)`.
pub struct SimStream {
    world: WorldRef,
    conn: u64,
    side: usize,
    node: u32,
    incarnation: u64,
}

impl SimStream {
    /// The address of this end.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.world.borrow().conn_addr(self.conn, self.side)
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.world.borrow().conn_addr(self.conn, 1 - self.side)
    }
}

impl fmt::Debug for SimStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStream")
            .field("conn", &self.conn)
            .field("side", &self.side)
            .finish()
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        if let Ok(mut w) = self.world.try_borrow_mut() {
            if !handle_live(&w, self.node, self.incarnation) {
                // Its process died: the crash or the kill already did what happens.
                return;
            }
            w.close_side(self.conn, self.side);
            let wakers = w.take_wakers();
            drop(w);
            wakers.into_iter().for_each(std::task::Waker::wake);
        }
    }
}

/// Whether a handle of `node`'s incarnation `incarnation` is still an open descriptor.
fn handle_live(w: &World, node: u32, incarnation: u64) -> bool {
    let n = w.node(node);
    n.is_up() && n.incarnation == incarnation
}

impl SimIo {
    pub fn node(&self) -> u32 {
        self.node
    }

    pub fn core(&self) -> u32 {
        self.core
    }

    /// The executor domain this handle's node and core run in.
    pub fn domain(&self) -> Domain {
        Domain {
            node: self.node,
            core: self.core,
        }
    }

    /// Checks that `file` is a live descriptor of this node with the needed access.
    fn check(&self, file: &SimFile, need_read: bool, need_write: bool) -> io::Result<()> {
        let w = self.world.borrow();
        let node = w.node(file.node);
        if file.node != self.node || !node.is_up() || node.incarnation != file.incarnation {
            return Err(errno(libc::EBADF));
        }
        if (need_read && !file.read) || (need_write && !file.write) {
            return Err(errno(libc::EBADF));
        }
        Ok(())
    }

    fn aligned(
        file: &SimFile,
        offset: u64,
        lens: impl IntoIterator<Item = usize>,
    ) -> io::Result<()> {
        let align = u64::from(file.info.dio_offset_align);
        if align == 0 {
            return Ok(());
        }
        if !offset.is_multiple_of(align)
            || lens.into_iter().any(|l| !(l as u64).is_multiple_of(align))
        {
            return Err(errno(libc::EINVAL));
        }
        Ok(())
    }

    async fn op(&self, id: u64) -> OpOut {
        OpFuture {
            world: self.world.clone(),
            id,
            done: false,
        }
        .await
    }

    fn failed(&self, out: OpOut) -> u64 {
        self.world.borrow_mut().submit_failed(self.node, out)
    }

    /// `EBADF` unless `node`'s incarnation `incarnation` still runs (a socket handle).
    fn check_handle(&self, node: u32, incarnation: u64) -> io::Result<()> {
        if handle_live(&self.world.borrow(), node, incarnation) {
            Ok(())
        } else {
            Err(errno(libc::EBADF))
        }
    }

    /// Waits until virtual time (not this node's clock) reaches `at`.
    async fn sleep_virtual(&self, at: Instant) {
        Sleep {
            world: self.world.clone(),
            node: None,
            deadline: at,
            timer: None,
        }
        .await
    }

    fn incarnation(&self) -> u64 {
        self.world.borrow().node(self.node).incarnation
    }

    async fn write_op(
        &self,
        file: &SimFile,
        bufs: Vec<DmaBuf>,
        offset: u64,
        flags: WriteFlags,
        then_sync: bool,
    ) -> (io::Result<usize>, Vec<DmaBuf>) {
        let checked = self
            .check(file, false, true)
            .and_then(|()| Self::aligned(file, offset, bufs.iter().map(DmaBuf::len)));
        let id = match checked {
            Err(e) => self.failed(OpOut::Bufs(Err(e), bufs)),
            Ok(()) => {
                let mut w = self.world.borrow_mut();
                let at = w.disk_after(self.node, |d| {
                    if flags.dsync {
                        vec![d.write_latency, d.sync_latency]
                    } else {
                        vec![d.write_latency]
                    }
                });
                let align = u64::from(file.info.dio_offset_align).max(1);
                let kind = OpKind::Write {
                    ino: file.ino,
                    offset,
                    bufs,
                    align,
                    dsync: flags.dsync,
                    then_sync,
                };
                w.submit(self.node, kind, at)
            }
        };
        match self.op(id).await {
            OpOut::Bufs(r, bufs) => (r, bufs),
            OpOut::Unit(_) => unreachable!("a write completes with its buffers"),
        }
    }

    async fn sync_op(&self, file: &SimFile) -> io::Result<()> {
        self.check(file, false, false)?;
        let id = {
            let mut w = self.world.borrow_mut();
            let upto = w.node(self.node).disk.sync_begin(file.ino)?;
            let at = w.disk_after(self.node, |d| vec![d.sync_latency]);
            w.submit(
                self.node,
                OpKind::Sync {
                    ino: file.ino,
                    upto,
                    after_write: None,
                },
                at,
            )
        };
        match self.op(id).await {
            OpOut::Unit(r) => r,
            OpOut::Bufs(..) => unreachable!("a sync completes without buffers"),
        }
    }
}

fn one(r: io::Result<usize>, mut bufs: Vec<DmaBuf>) -> (io::Result<usize>, DmaBuf) {
    assert_eq!(
        bufs.len(),
        1,
        "single-buffer op returned {} buffers",
        bufs.len()
    );
    let b = bufs.pop().expect("length checked");
    (r, b)
}

impl Clock for SimIo {
    /// This node's clock.
    fn now(&self) -> Instant {
        self.world.borrow().local_now(self.node)
    }

    async fn sleep_until(&self, deadline: Instant) {
        Sleep {
            world: self.world.clone(),
            node: Some(self.node),
            deadline,
            timer: None,
        }
        .await
    }
}

impl Io for SimIo {
    type File = SimFile;
    type Listener = SimListener;
    type Stream = SimStream;

    /// The simulator starts every operation when it is first polled.
    fn submit_queued(&self) {}

    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<SimFile> {
        // The access-mode rules of std::fs::OpenOptions (what the real backend follows).
        if !opts.read && !opts.write {
            return Err(errno(libc::EINVAL));
        }
        if (opts.create || opts.create_new || opts.truncate) && !opts.write {
            return Err(errno(libc::EINVAL));
        }
        with_world(&self.world, |w| {
            if !w.node(self.node).is_up() {
                return Err(errno(libc::EIO));
            }
            let align = w.node(self.node).config.disk.dio_align_bytes;
            let now = w.now().as_nanos();
            let n = w.node_mut(self.node);
            let incarnation = n.incarnation;
            let r = n
                .disk
                .open(path, opts.create, opts.create_new, opts.truncate);
            w.trace.event(
                super::trace::TraceOp::Open,
                &[
                    u64::from(self.node),
                    r.as_ref().map_or(0, |(ino, _)| ino.0),
                    now,
                ],
            );
            let (ino, size) = r?;
            let dio = if opts.direct { align } else { 0 };
            Ok(SimFile {
                node: self.node,
                incarnation,
                ino,
                read: opts.read,
                write: opts.write,
                info: FileInfo {
                    size,
                    dio_offset_align: dio,
                    dio_mem_align: dio,
                },
                path: path.to_path_buf(),
            })
        })
    }

    fn file_info(&self, file: &SimFile) -> FileInfo {
        file.info
    }

    async fn read_at(
        &self,
        file: &SimFile,
        buf: DmaBuf,
        len: usize,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        assert!(
            len <= buf.capacity(),
            "read_at len {len} > buffer capacity {}",
            buf.capacity()
        );
        let id = match self
            .check(file, true, false)
            .and_then(|()| Self::aligned(file, offset, [len]))
        {
            Err(e) => self.failed(OpOut::Bufs(Err(e), vec![buf])),
            Ok(()) => {
                let mut w = self.world.borrow_mut();
                let at = w.disk_after(self.node, |d| vec![d.read_latency]);
                let align = u64::from(file.info.dio_offset_align).max(1);
                w.submit(
                    self.node,
                    OpKind::Read {
                        ino: file.ino,
                        offset,
                        len,
                        buf,
                        align,
                    },
                    at,
                )
            }
        };
        match self.op(id).await {
            OpOut::Bufs(r, bufs) => one(r, bufs),
            OpOut::Unit(_) => unreachable!("a read completes with its buffer"),
        }
    }

    async fn write_at(
        &self,
        file: &SimFile,
        buf: DmaBuf,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, DmaBuf) {
        let (r, bufs) = self.write_op(file, vec![buf], offset, flags, false).await;
        one(r, bufs)
    }

    async fn writev_at(
        &self,
        file: &SimFile,
        bufs: Vec<DmaBuf>,
        offset: u64,
        flags: WriteFlags,
    ) -> (io::Result<usize>, Vec<DmaBuf>) {
        self.write_op(file, bufs, offset, flags, false).await
    }

    async fn fdatasync(&self, file: &SimFile) -> io::Result<()> {
        self.sync_op(file).await
    }

    async fn fsync(&self, file: &SimFile) -> io::Result<()> {
        // The simulator has no metadata apart from the size, which fdatasync already
        // persists (as Linux does when the size is needed to read the data back).
        self.sync_op(file).await
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let id = {
            let mut w = self.world.borrow_mut();
            if !w.node(self.node).is_up() {
                return Err(errno(libc::EIO));
            }
            let upto = w.node(self.node).disk.sync_dir_begin(dir)?;
            let at = w.disk_after(self.node, |d| vec![d.sync_latency]);
            let kind = OpKind::SyncDir {
                dir: dir.to_path_buf(),
                upto,
            };
            w.submit(self.node, kind, at)
        };
        match self.op(id).await {
            OpOut::Unit(r) => r,
            OpOut::Bufs(..) => unreachable!("a directory sync completes without buffers"),
        }
    }

    async fn fallocate(
        &self,
        file: &SimFile,
        mode: FallocateMode,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        self.check(file, false, true)?;
        if len == 0 {
            return Err(errno(libc::EINVAL));
        }
        let deadline = self
            .world
            .borrow_mut()
            .disk_after(self.node, |d| vec![d.write_latency]);
        self.sleep_virtual(deadline).await;
        self.check(file, false, true)?;
        with_world(&self.world, |w| {
            let now = w.now().as_nanos();
            let r = w
                .node_mut(self.node)
                .disk
                .fallocate(file.ino, mode, offset, len);
            w.trace.event(
                super::trace::TraceOp::Fallocate,
                &[
                    u64::from(self.node),
                    file.ino.0,
                    offset,
                    len,
                    super::trace::unit_word(&r),
                    now,
                ],
            );
            r
        })
    }

    /// Checked, traced and ignored (see the module docs): nothing simulated reads ahead.
    async fn fadvise(&self, file: &SimFile, advice: Advice) -> io::Result<()> {
        self.check(file, false, false)?;
        with_world(&self.world, |w| {
            let now = w.now().as_nanos();
            w.trace.event(
                super::trace::TraceOp::Fadvise,
                &[u64::from(self.node), file.ino.0, advice as u64, now],
            );
        });
        Ok(())
    }

    async fn write_then_fdatasync(
        &self,
        file: &SimFile,
        buf: DmaBuf,
        offset: u64,
    ) -> (io::Result<usize>, DmaBuf) {
        let (r, bufs) = self
            .write_op(file, vec![buf], offset, WriteFlags::NONE, true)
            .await;
        one(r, bufs)
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<SimListener> {
        let id = with_world(&self.world, |w| w.net_bind(self.node, addr))?;
        Ok(SimListener {
            world: self.world.clone(),
            id,
            node: self.node,
            incarnation: self.incarnation(),
        })
    }

    fn local_addr(&self, listener: &SimListener) -> io::Result<SocketAddr> {
        self.check_handle(listener.node, listener.incarnation)?;
        self.world.borrow().listener_addr(listener.id)
    }

    async fn accept(&self, listener: &SimListener) -> io::Result<(SimStream, SocketAddr)> {
        self.check_handle(listener.node, listener.incarnation)?;
        let (conn, from) =
            std::future::poll_fn(|cx| with_world(&self.world, |w| w.poll_accept(listener.id, cx)))
                .await?;
        Ok((
            SimStream {
                world: self.world.clone(),
                conn,
                side: 1,
                node: self.node,
                incarnation: self.incarnation(),
            },
            from,
        ))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<SimStream> {
        enum Syn {
            Lost,
            Refused,
            Open(u64),
        }
        let (dst, timeout) = with_world(&self.world, |w| {
            if !w.node(self.node).is_up() {
                return Err(errno(libc::ENETDOWN));
            }
            let timeout = w
                .local_now(self.node)
                .saturating_add(Duration::from_nanos(w.config.net.connect_timeout_ns));
            Ok((w.resolve(self.node, addr.ip()), timeout))
        })?;
        let Some(dst) = dst else {
            self.sleep_until(timeout).await;
            return Err(errno(libc::ETIMEDOUT));
        };
        let me = self.node;
        let syn_at = self.world.borrow_mut().net_after(me, dst);
        self.sleep_virtual(syn_at).await;
        let syn = with_world(&self.world, |w| {
            if !w.link_open(me, dst) || !w.node(dst).kernel_up() {
                Syn::Lost
            } else if !w.listening(dst, addr.port()) {
                // A reset comes back, if it can.
                if w.link_open(dst, me) {
                    Syn::Refused
                } else {
                    Syn::Lost
                }
            } else {
                Syn::Open(w.conn_open(me, dst, addr.port()))
            }
        });
        match syn {
            Syn::Lost => {
                self.sleep_until(timeout).await;
                Err(errno(libc::ETIMEDOUT))
            }
            Syn::Refused => {
                let back = self.world.borrow_mut().net_after(dst, me);
                self.sleep_virtual(back).await;
                Err(errno(libc::ECONNREFUSED))
            }
            Syn::Open(conn) => {
                // Owned from here on: if this future is dropped, the end closes (and
                // a handshake the server never saw is forgotten).
                let stream = SimStream {
                    world: self.world.clone(),
                    conn,
                    side: 0,
                    node: me,
                    incarnation: self.incarnation(),
                };
                let syn_ack = self.world.borrow_mut().net_after(dst, me);
                self.sleep_virtual(syn_ack).await;
                let lost = {
                    let w = self.world.borrow();
                    !w.link_open(dst, me) || !w.node(dst).kernel_up()
                };
                if lost {
                    // The SYN-ACK never arrives; the client's retries give up.
                    with_world(&self.world, |w| w.conn_abandon(conn));
                    self.sleep_until(timeout).await;
                    return Err(errno(libc::ETIMEDOUT));
                }
                with_world(&self.world, |w| w.conn_establish(conn))?;
                Ok(stream)
            }
        }
    }

    async fn send(&self, stream: &SimStream, buf: DmaBuf) -> (io::Result<usize>, DmaBuf) {
        if let Err(e) = self.check_handle(stream.node, stream.incarnation) {
            return (Err(e), buf);
        }
        let r = std::future::poll_fn(|cx| {
            with_world(&self.world, |w| {
                w.poll_send(stream.conn, stream.side, buf.as_slice(), cx)
            })
        })
        .await;
        (r, buf)
    }

    async fn recv(&self, stream: &SimStream, mut buf: DmaBuf) -> (io::Result<usize>, DmaBuf) {
        if let Err(e) = self.check_handle(stream.node, stream.incarnation) {
            buf.set_len(0);
            return (Err(e), buf);
        }
        let r = std::future::poll_fn(|cx| {
            with_world(&self.world, |w| {
                w.poll_recv(stream.conn, stream.side, buf.as_full_mut(), cx)
            })
        })
        .await;
        buf.set_len(*r.as_ref().unwrap_or(&0));
        (r, buf)
    }
}
