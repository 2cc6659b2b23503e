//! TCP on the ring: bind/listen (plain syscalls: they never block), accept, connect,
//! send (`MSG_NOSIGNAL`) and recv (ring operations).
//!
//! Owns: [`UringListener`] and [`UringStream`] (an `Rc` of the socket fd), and the
//! conversions between `SocketAddr` and `sockaddr_storage`.
//!
//! Must never: raise SIGPIPE (every send carries `MSG_NOSIGNAL`); let a dropped recv
//! keep consuming data meant for the next one (socket ops are cancelled with
//! ASYNC_CANCEL when their future is dropped, and their memory is still kept until the
//! kernel completes them).
//!
//! Invariants: streams have `TCP_NODELAY` set (the protocol batches itself); all fds are
//! `CLOEXEC`.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, types};

use super::fs::{einval, errno_result};
use super::ring::{OpData, Ring, SockAddrBuf};
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
        .submit(&[e], OpData::Addr(addr), Some(l.fd.clone()), true)
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
        .submit(&[e], OpData::Addr(sa), Some(fd.clone()), true)
        .await;
    errno_result(done.results[0])?;
    set_int_opt(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    Ok(UringStream { fd, peer: addr })
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
        .submit(&[e], OpData::Buf(buf), Some(s.fd.clone()), true)
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
    let e = opcode::Recv::new(types::Fd(s.fd.as_raw_fd()), buf.as_mut_ptr(), cap).build();
    let done = ring
        .submit(&[e], OpData::Buf(buf), Some(s.fd.clone()), true)
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
