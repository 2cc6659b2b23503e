//! One in-flight operation's state ([`OpSlot`]), what kind of operation it is
//! ([`OpKind`]), and what becomes of a result nobody takes.
//!
//! Owns: the memory an operation lends the kernel ([`OpData`]: buffers, a path, a
//! socket address), the `Rc` that keeps its fd open, its waker and results.
//!
//! Must never: lose what an operation produced because its future was dropped. The
//! kernel finishes the work anyway: an `openat` or `accept` that completes returns a
//! new fd, and a `recv` that completes has taken bytes off the socket. When nobody will
//! take the result (the future was dropped before or after the completion arrived),
//! [`OpSlot::release_unclaimed`] closes the new fd (the peer of a dropped accept sees
//! the connection closed instead of waiting forever) and hands received bytes to the
//! stream's next receive (`net.rs`).
//!
//! Invariants: everything the kernel points at lives on the heap behind an `OpData`,
//! so moving a slot (the slab grows) moves no pointed-at byte; a slot's `kind` decides
//! alone whether its drop cancels it and whether it counts as device work.

use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::Waker;

use super::net::RecvStash;
use crate::buf::DmaBuf;

/// Result value of a part whose completion has not arrived yet.
pub(super) const RESULT_PENDING: i32 = i32::MIN;

/// Buffers and other memory an operation lends the kernel; it comes back with the
/// completion. Everything the kernel points at lives on the heap behind these values,
/// so moving an `OpData` (e.g. when the slab grows) moves no pointed-at byte.
#[derive(Debug, Default)]
pub(crate) enum OpData {
    #[default]
    None,
    Buf(DmaBuf),
    /// The buffers and the iovec array pointing at them.
    Bufs {
        bufs: Vec<DmaBuf>,
        _iovecs: Vec<libc::iovec>,
    },
    /// The NUL-terminated path the kernel reads.
    Path {
        _path: std::ffi::CString,
    },
    Addr(Box<SockAddrBuf>),
}

/// A socket address the kernel reads (connect) or writes (accept).
#[derive(Debug)]
pub(crate) struct SockAddrBuf {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

/// What an operation is, as far as its slot cares: whether it completes on its own
/// (device work, which a parked core polls for) or waits on a peer (cancelled with
/// ASYNC_CANCEL when its future is dropped: a pending recv would otherwise eat data
/// meant for the next reader), and what its result holds that must not be lost.
#[derive(Debug)]
pub(crate) enum OpKind {
    /// File reads, writes, syncs, fallocate, fadvise: the result is a count or an errno.
    File,
    /// `openat`: a non-negative result is a new fd.
    Open,
    /// `connect`, `send`: waits on a peer; the result is a count or an errno.
    Socket,
    /// `accept`: waits on a peer; a non-negative result is a new connection's fd.
    Accept,
    /// `recv`: waits on a peer; bytes it received belong to the stream's next recv.
    Recv(Rc<RecvStash>),
}

impl OpKind {
    /// Waits on a peer for as long as the peer likes (cancelled when dropped; not
    /// device work).
    pub(super) fn waits_on_peer(&self) -> bool {
        matches!(self, OpKind::Socket | OpKind::Accept | OpKind::Recv(_))
    }
}

/// The state of one in-flight operation (one or two linked SQEs).
#[derive(Debug)]
pub(crate) struct OpSlot {
    pub(super) results: [i32; 2],
    /// Completions still expected.
    pub(super) pending: u8,
    pub(super) parts: u8,
    /// The future was dropped while the kernel held the operation: free the slot when
    /// the last completion arrives.
    pub(super) orphaned: bool,
    pub(super) kind: OpKind,
    pub(super) waker: Option<Waker>,
    pub(super) data: OpData,
    /// Keeps the fd open until the kernel is done with it.
    _fd: Option<Rc<OwnedFd>>,
}

/// What a finished operation hands back: the kernel's result per SQE and the data.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) results: [i32; 2],
    pub(crate) data: OpData,
}

impl OpSlot {
    pub(super) fn new(parts: u8, kind: OpKind, data: OpData, fd: Option<Rc<OwnedFd>>) -> OpSlot {
        OpSlot {
            results: [RESULT_PENDING; 2],
            pending: parts,
            parts,
            orphaned: false,
            kind,
            waker: None,
            data,
            _fd: fd,
        }
    }

    /// The future was dropped while the kernel holds the operation.
    pub(super) fn orphan(&mut self) {
        self.orphaned = true;
        self.waker = None;
        if let OpKind::Recv(stash) = &self.kind {
            stash.dropped_in_kernel();
        }
    }

    /// Releases what a completed operation produced that nobody will take (its future
    /// was dropped): closes a new fd; keeps received bytes for the stream's next recv.
    /// Call it outside every borrow of the ring. Returns how many tasks it woke.
    pub(super) fn release_unclaimed(self) -> u64 {
        debug_assert_eq!(self.pending, 0, "released before its last completion");
        let res = self.results[0];
        match self.kind {
            OpKind::Open | OpKind::Accept if res >= 0 => {
                // SAFETY: a successful openat or accept returned a fresh fd that only
                // its future would have owned, and the future is gone.
                drop(unsafe { OwnedFd::from_raw_fd(res) });
                0
            }
            OpKind::Recv(stash) => stash.unclaimed(res, self.data, self.orphaned),
            OpKind::File | OpKind::Open | OpKind::Socket | OpKind::Accept => 0,
        }
    }
}
