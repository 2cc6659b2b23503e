//! What an operation produced after its future was dropped is released or kept, never
//! lost: an opened file's or an accepted connection's fd is closed, bytes a receive got
//! go to the stream's next receive, and a linked write→fdatasync frees its slot once
//! both completions came. Each case is dropped at three points: queued but not yet
//! submitted, in the kernel, and completed but never polled again (a `select` or a
//! timeout that picked another branch).

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use boreal_engine::io::{DmaBuf, Io, OpenOptions};
use boreal_engine::rt::{self, Runtime, RuntimeConfig};
use boreal_engine::uring::{UringIo, UringListener};

/// Where a test drops an operation's future.
#[derive(Clone, Copy, Debug)]
enum DropAt {
    /// Polled once (its SQE is queued), never submitted.
    Queued,
    /// Submitted to the kernel, its completion not reaped.
    Submitted,
    /// Completed and reaped into its slot, the future never polled again.
    Completed,
}

const DROP_POINTS: [DropAt; 3] = [DropAt::Queued, DropAt::Submitted, DropAt::Completed];

/// Polls `op` once, brings it to `at`, and drops it.
async fn drop_at<F: Future>(io: &UringIo, op: F, at: DropAt) {
    let mut op = Box::pin(op);
    let first = poll_once(op.as_mut()).await;
    assert!(
        first.is_pending(),
        "{at:?}: the op completed at its first poll"
    );
    match at {
        DropAt::Queued => {}
        DropAt::Submitted => io.submit_queued(),
        DropAt::Completed => {
            // Parks reap the completion (waking this task, which does not look).
            rt::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(op);
}

async fn poll_once<F: Future>(mut op: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(op.as_mut().poll(cx))).await
}

/// Runs the ring until every op slot is freed (the kernel returned everything).
async fn settle(io: &UringIo) {
    for _ in 0..2000 {
        let s = io.stats();
        if s.ops_live == 0 && s.sqes_in_flight == 0 {
            return;
        }
        rt::sleep(Duration::from_millis(1)).await;
    }
    panic!("op slots still held after 2 s: {:?}", io.stats());
}

/// How many of this process's fds are open on `path`.
fn fds_open_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == path))
        .count()
}

#[test]
fn a_dropped_open_closes_the_fd_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async {
        for at in DROP_POINTS {
            let path = dir.path().canonicalize().unwrap().join(format!("{at:?}"));
            let opts = OpenOptions {
                read: true,
                write: true,
                create: true,
                ..OpenOptions::default()
            };
            let held = io.open(&path, opts).await.unwrap();
            assert_eq!(fds_open_on(&path), 1, "the count sees an open file");
            drop(held);
            drop_at(&io, io.open(&path, opts), at).await;
            settle(&io).await;
            assert_eq!(
                fds_open_on(&path),
                0,
                "{at:?}: the dropped open's fd leaked"
            );
        }
    });
}

/// Runs `test` on a fresh runtime with a listener on a loopback port.
fn on_loopback(test: impl AsyncFnOnce(UringIo, UringListener, SocketAddr)) {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async {
        let l = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = io.local_addr(&l).unwrap();
        test(io, l, addr).await;
    });
}

/// `peer`'s next read: `Ok(true)` if the connection was closed or reset, `Ok(false)`
/// if data came, an error if it timed out (the connection is open on our side and
/// nobody will ever answer).
fn peer_sees_close(peer: &mut TcpStream) -> std::io::Result<bool> {
    peer.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut b = [0u8; 8];
    match peer.read(&mut b) {
        Ok(0) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(true),
        Err(e) => Err(e),
    }
}

#[test]
fn a_dropped_accept_closes_the_connection_it_accepted() {
    on_loopback(async |io, l, addr| {
        for at in DROP_POINTS {
            // The connection waits in the listener's queue, so the accept takes it as
            // soon as the kernel sees the accept (a queued SQE still goes to the
            // kernel, ahead of its cancel).
            let mut peer = TcpStream::connect(addr).unwrap();
            drop_at(&io, io.accept(&l), at).await;
            settle(&io).await;
            let closed = peer_sees_close(&mut peer);
            assert!(
                matches!(closed, Ok(true)),
                "{at:?}: the peer of a dropped accept got {closed:?}"
            );
        }
        // The listener still serves the next connection.
        let mut peer = TcpStream::connect(addr).unwrap();
        let (s, _) = rt::timeout(Duration::from_secs(2), io.accept(&l))
            .await
            .expect("the next connection is accepted")
            .unwrap();
        let (w, _) = io.send(&s, DmaBuf::from_slice(b"hi")).await;
        assert_eq!(w.unwrap(), 2);
        assert!(matches!(peer_sees_close(&mut peer), Ok(false)));
    });
}

#[test]
fn a_dropped_recv_hands_its_bytes_to_the_next_recv() {
    on_loopback(async |io, l, addr| {
        for at in DROP_POINTS {
            let mut peer = TcpStream::connect(addr).unwrap();
            let (s, _) = io.accept(&l).await.unwrap();
            // The bytes are there before the recv reaches the kernel: it takes them
            // at once, whatever its cancel does.
            peer.write_all(b"abc").unwrap();
            drop_at(&io, io.recv(&s, DmaBuf::zeroed(64)), at).await;
            peer.write_all(b"def").unwrap();
            // Small buffers: the kept bytes come out in order, across receives.
            let mut got = Vec::new();
            while got.len() < 6 {
                let (r, b) = rt::timeout(Duration::from_secs(2), io.recv(&s, DmaBuf::zeroed(2)))
                    .await
                    .unwrap_or_else(|_| panic!("{at:?}: no data after {got:?}"));
                assert!(r.unwrap() > 0, "{at:?}: the peer did not close");
                got.extend_from_slice(b.as_slice());
            }
            assert_eq!(got, b"abcdef", "{at:?}");
            settle(&io).await;
        }
    });
}

#[test]
fn a_recv_after_a_dropped_one_in_flight_gets_the_next_bytes() {
    on_loopback(async |io, l, addr| {
        let mut peer = TcpStream::connect(addr).unwrap();
        let (s, _) = io.accept(&l).await.unwrap();
        // Nothing to receive: the dropped recv waits in the kernel until its cancel.
        drop_at(&io, io.recv(&s, DmaBuf::zeroed(64)), DropAt::Submitted).await;
        let next = io.recv(&s, DmaBuf::zeroed(64));
        peer.write_all(b"later").unwrap();
        let (r, b) = rt::timeout(Duration::from_secs(2), next)
            .await
            .expect("the next recv got the bytes");
        assert_eq!(r.unwrap(), 5);
        assert_eq!(b.as_slice(), b"later");
        settle(&io).await;
    });
}

#[test]
fn a_dropped_linked_write_and_fdatasync_frees_its_slot_after_both_completions() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async {
        let opts = OpenOptions {
            read: true,
            write: true,
            create: true,
            direct: true,
            ..OpenOptions::default()
        };
        for at in DROP_POINTS {
            let f = io
                .open(&dir.path().join(format!("{at:?}")), opts)
                .await
                .unwrap();
            let buf = DmaBuf::from_slice(&[7u8; 64 << 10]);
            drop_at(&io, io.write_then_fdatasync(&f, buf, 0), at).await;
            // The file goes too: the slot keeps the fd open for the sync.
            drop(f);
            settle(&io).await;
            let s = io.stats();
            assert_eq!(
                (s.ops_live, s.ops_orphaned, s.sqes_in_flight),
                (0, 0, 0),
                "{at:?}: {s:?}"
            );
        }
        // The ring still works.
        let f = io.open(&dir.path().join("after"), opts).await.unwrap();
        let (w, _) = io
            .write_then_fdatasync(&f, DmaBuf::from_slice(&[1u8; 4096]), 0)
            .await;
        assert_eq!(w.unwrap(), 4096);
    });
}
