//! TCP on the ring: bind/listen (plain syscalls: they never block), accept, connect,
//! send (`MSG_NOSIGNAL`) and recv (ring operations).
//!
//! Owns: [`UringListener`] and [`UringStream`] (an `Rc` of the socket fd), and the
//! conversions between `SocketAddr` and `sockaddr_storage`.
//!
//! Must never: raise SIGPIPE (every send carries `MSG_NOSIGNAL`); lose received bytes
//! when a recv's future is dropped (a timeout around a recv is ordinary: a peer that
//! is slow to answer must not cost the stream its bytes); leak the connection a
//! dropped accept took (its peer would wait forever).
//!
//! Dropped operations. Socket operations are cancelled with ASYNC_CANCEL when their
//! future is dropped, and their memory is kept until the kernel completes them. The
//! cancel can lose the race: the kernel may already have completed the operation (its
//! completion not yet reaped), or the future may be dropped after the completion was
//! reaped (a `select` or timeout that chose another branch). What it produced is then
//! released, not lost (`op.rs`): a dropped accept's connection is closed; a dropped
//! recv's bytes are kept with the stream ([`RecvStash`]) and handed, in order, to the
//! stream's next recv, which first waits for every dropped recv the kernel still holds
//! to complete, so it cannot overtake bytes one of them may still take. So a stream
//! stays usable after a dropped recv, which is the promise callers want (a recv under
//! a deadline, retried). We keep the bytes rather than tell callers to close the stream
//! on every timeout because the cost is only paid after a drop: a recv that was never
//! dropped reads one counter and one empty queue. A dropped send is different: how
//! much of it went out is unknown, so a caller that drops a send must close the stream.
//!
//! Invariants: streams have `TCP_NODELAY` set (the protocol batches itself); all fds are
//! `CLOEXEC`; one recv at a time per stream (two concurrent recvs would split the
//! bytes between them in no defined order).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

use io_uring::{opcode, types};

use super::fs::{einval, errno_result};
use super::op::{OpData, OpKind, SockAddrBuf};
use super::ring::Ring;
use crate::buf::DmaBuf;

/// Pending connections the kernel queues per listener.
const LISTEN_BACKLOG: i32 = 1024;

/// A listening TCP socket.
#[derive(Debug)]
pub struct UringListener {
    pub(crate) fd: Rc<OwnedFd>,
}

/// A connected TCP stream. Send and recv may run concurrently from two tasks.
#[derive(Debug)]
pub struct UringStream {
    pub(crate) fd: Rc<OwnedFd>,
    peer: SocketAddr,
    stash: Rc<RecvStash>,
}

/// Bytes that recvs whose futures were dropped took off a stream, kept for its next
/// recv (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct RecvStash {
    /// Received buffers, oldest first, each with how many of its bytes were handed out.
    kept: RefCell<VecDeque<(DmaBuf, usize)>>,
    /// Dropped recvs the kernel still holds: any of them may yet complete with bytes
    /// that came before what a new recv would get.
    in_kernel: Cell<u32>,
    /// Recvs waiting for those to complete.
    waiters: RefCell<Vec<Waker>>,
}

impl RecvStash {
    /// A recv's future was dropped while the kernel held it.
    pub(crate) fn dropped_in_kernel(&self) {
        self.in_kernel.set(self.in_kernel.get() + 1);
    }

    /// A recv nobody will take completed with `res` into `data`: keep its bytes. It
    /// was `in_kernel` when dropped there (then waiting recvs may go on once it was the
    /// last). Returns how many tasks this woke.
    pub(crate) fn unclaimed(&self, res: i32, data: OpData, in_kernel: bool) -> u64 {
        if res > 0
            && let OpData::Buf(mut buf) = data
        {
            buf.set_len(res as usize);
            self.kept.borrow_mut().push_back((buf, 0));
        }
        if !in_kernel {
            return 0;
        }
        let left = self.in_kernel.get() - 1;
        self.in_kernel.set(left);
        if left > 0 {
            return 0;
        }
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        let n = waiters.len() as u64;
        waiters.into_iter().for_each(Waker::wake);
        n
    }

    /// Completes once no dropped recv of this stream is left in the kernel.
    async fn settled(&self) {
        std::future::poll_fn(|cx| {
            if self.in_kernel.get() == 0 {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Moves kept bytes, oldest first, into the start of `buf` (up to its capacity);
    /// returns how many, or `None` if nothing is kept.
    fn take_into(&self, buf: &mut DmaBuf) -> Option<usize> {
        let mut kept = self.kept.borrow_mut();
        let (front, used) = kept.front_mut()?;
        let n = (front.len() - *used).min(buf.capacity());
        buf.as_full_mut()[..n].copy_from_slice(&front.as_slice()[*used..*used + n]);
        buf.set_len(n);
        *used += n;
        if *used == front.len() {
            kept.pop_front();
        }
        Some(n)
    }
}

impl UringStream {
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(&self.fd)
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn to_sockaddr(addr: SocketAddr) -> SockAddrBuf {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for
            // sockaddr_in; we write one whole value at its start.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in>(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in6>(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    SockAddrBuf {
        storage,
        len: len as libc::socklen_t,
    }
}

/// A zeroed address buffer the kernel fills (accept, getsockname).
fn empty_sockaddr() -> SockAddrBuf {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    SockAddrBuf {
        storage,
        len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
    }
}

fn from_sockaddr(buf: &SockAddrBuf) -> io::Result<SocketAddr> {
    match i32::from(buf.storage.ss_family) {
        libc::AF_INET if buf.len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the kernel wrote a sockaddr_in (family says so, length suffices);
            // storage is aligned for it.
            let sin =
                unsafe { std::ptr::read((&raw const buf.storage).cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if buf.len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { std::ptr::read((&raw const buf.storage).cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unsupported socket address family",
        )),
    }
}

fn sock_name(fd: &OwnedFd) -> io::Result<SocketAddr> {
    let mut b = empty_sockaddr();
    // SAFETY: valid fd; the kernel writes at most `len` bytes into `storage`.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut b.storage).cast(), &mut b.len) })?;
    from_sockaddr(&b)
}

fn new_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: no pointers; result checked.
    let raw = cvt(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn set_int_opt(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: valid fd; the option value is a live local int of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

pub(crate) fn bind(addr: SocketAddr) -> io::Result<UringListener> {
    let fd = new_socket(&addr)?;
    set_int_opt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    let sa = to_sockaddr(addr);
    // SAFETY: valid fd and a sockaddr of the stated length.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa.storage).cast(), sa.len) })?;
    // SAFETY: valid fd.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) })?;
    Ok(UringListener { fd: Rc::new(fd) })
}

pub(crate) fn local_addr(l: &UringListener) -> io::Result<SocketAddr> {
    sock_name(&l.fd)
}

pub(crate) async fn accept(
    ring: &Rc<Ring>,
    l: &UringListener,
) -> io::Result<(UringStream, SocketAddr)> {
    let mut addr = Box::new(empty_sockaddr());
    let e = opcode::Accept::new(
        types::Fd(l.fd.as_raw_fd()),
        (&raw mut addr.storage).cast(),
        &raw mut addr.len,
    )
    .flags(libc::SOCK_CLOEXEC)
    .build();
    let done = ring
        .submit(&[e], OpData::Addr(addr), Some(l.fd.clone()), OpKind::Accept)
        .await;
    let raw = errno_result(done.results[0])?;
    // SAFETY: a successful accept returned a fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let OpData::Addr(addr) = done.data else {
        unreachable!("accept returns its address")
    };
    let peer = from_sockaddr(&addr)?;
    set_int_opt(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    Ok((
        UringStream {
            fd: Rc::new(fd),
            peer,
            stash: Rc::default(),
        },
        peer,
    ))
}

pub(crate) async fn connect(ring: &Rc<Ring>, addr: SocketAddr) -> io::Result<UringStream> {
    let fd = Rc::new(new_socket(&addr)?);
    let sa = Box::new(to_sockaddr(addr));
    let e = opcode::Connect::new(
        types::Fd(fd.as_raw_fd()),
        (&raw const sa.storage).cast(),
        sa.len,
    )
    .build();
    let done = ring
        .submit(&[e], OpData::Addr(sa), Some(fd.clone()), OpKind::Socket)
        .await;
    errno_result(done.results[0])?;
    set_int_opt(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    Ok(UringStream {
        fd,
        peer: addr,
        stash: Rc::default(),
    })
}

pub(crate) async fn send(
    ring: &Rc<Ring>,
    s: &UringStream,
    buf: DmaBuf,
) -> (io::Result<usize>, DmaBuf) {
    let Ok(len) = u32::try_from(buf.len()) else {
        return (Err(einval()), buf);
    };
    let e = opcode::Send::new(types::Fd(s.fd.as_raw_fd()), buf.as_ptr(), len)
        .flags(libc::MSG_NOSIGNAL)
        .build();
    let done = ring
        .submit(&[e], OpData::Buf(buf), Some(s.fd.clone()), OpKind::Socket)
        .await;
    let OpData::Buf(buf) = done.data else {
        unreachable!("send returns its buffer")
    };
    (errno_result(done.results[0]), buf)
}

pub(crate) async fn recv(
    ring: &Rc<Ring>,
    s: &UringStream,
    mut buf: DmaBuf,
) -> (io::Result<usize>, DmaBuf) {
    let Ok(cap) = u32::try_from(buf.capacity()) else {
        return (Err(einval()), buf);
    };
    if s.stash.in_kernel.get() > 0 {
        s.stash.settled().await;
    }
    if let Some(n) = s.stash.take_into(&mut buf) {
        return (Ok(n), buf);
    }
    let e = opcode::Recv::new(types::Fd(s.fd.as_raw_fd()), buf.as_mut_ptr(), cap).build();
    let kind = OpKind::Recv(s.stash.clone());
    let done = ring
        .submit(&[e], OpData::Buf(buf), Some(s.fd.clone()), kind)
        .await;
    let OpData::Buf(mut buf) = done.data else {
        unreachable!("recv returns its buffer")
    };
    let res = errno_result(done.results[0]);
    buf.set_len(*res.as_ref().unwrap_or(&0));
    (res, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        for a in ["127.0.0.1:8080", "[::1]:9", "[fe80::1%2]:443", "0.0.0.0:0"] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(from_sockaddr(&to_sockaddr(addr)).unwrap(), addr);
        }
    }
}
