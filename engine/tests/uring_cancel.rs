//! Cancellation safety: a dropped future whose operation is in flight keeps its buffer
//! and fd alive until the kernel completes it, and a dropped recv does not eat data
//! meant for the next one.

use std::time::Duration;

use boreal_engine::io::{DmaBuf, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{self, Runtime, RuntimeConfig};

#[test]
fn dropped_recv_is_orphaned_then_freed_and_loses_no_data() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async move {
        let l = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = io.local_addr(&l).unwrap();
        let io2 = io.clone();
        let acc = rt::spawn(async move { io2.accept(&l).await.unwrap().0 });
        let client = io.connect(addr).await.unwrap();
        let server = acc.await.unwrap();

        // A recv on a socket with no data: time it out, which drops it in flight.
        let r = rt::timeout(
            Duration::from_millis(10),
            io.recv(&server, DmaBuf::zeroed(4096)),
        )
        .await;
        assert!(r.is_err(), "no data was sent");
        let s = io.stats();
        assert_eq!(
            (s.ops_live, s.ops_orphaned),
            (1, 1),
            "slot held until the kernel completes: {s:?}"
        );
        // Dropping the stream too must not close the fd under the kernel.
        // (The slot holds an Rc of it.) Let the cancel complete.
        for _ in 0..100 {
            if io.stats().ops_live == 0 {
                break;
            }
            rt::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(io.stats().ops_live, 0, "cancel completion freed the slot");

        // The data goes to the next recv, not to the dropped one.
        let (w, _) = io.send(&client, DmaBuf::from_slice(b"after")).await;
        assert_eq!(w.unwrap(), 5);
        let (r, b) = io.recv(&server, DmaBuf::zeroed(64)).await;
        assert_eq!(r.unwrap(), 5);
        assert_eq!(b.as_slice(), b"after");
    });
}

#[test]
fn dropped_read_keeps_buffer_until_completion() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async move {
        let opts = OpenOptions {
            read: true,
            write: true,
            create: true,
            direct: true,
            ..OpenOptions::default()
        };
        let f = io.open(&dir.path().join("f"), opts).await.unwrap();
        let (r, _) = io
            .write_at(&f, DmaBuf::from_slice(&[1u8; 1 << 20]), 0, WriteFlags::NONE)
            .await;
        r.unwrap();
        // Start a 1 MiB read, poll it once so it is submitted, then drop it and the file.
        {
            let mut fut = std::pin::pin!(io.read_at(&f, DmaBuf::zeroed(1 << 20), 1 << 20, 0));
            let polled =
                std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
            assert!(polled.is_pending());
            assert_eq!(io.stats().ops_live, 1);
        }
        drop(f);
        let s = io.stats();
        assert_eq!(s.ops_orphaned, 1, "{s:?}");
        while io.stats().ops_live > 0 {
            rt::yield_now().await;
        }
        assert_eq!(io.stats().sqes_in_flight, 0);
    });
}

#[test]
fn runtime_drop_with_ops_in_flight_drains() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on({
        let io = io.clone();
        async move {
            let l = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let io2 = io.clone();
            // An accept that never completes, left in a detached task.
            drop(rt::spawn(async move { io2.accept(&l).await.map(|_| ()) }));
            rt::yield_now().await;
            assert_eq!(io.stats().ops_live, 1);
        }
    });
    drop(io);
    // Dropping the runtime drops the task (orphaning the accept), cancels it and waits
    // for the completion before the memory goes.
    drop(rt);
}

use std::future::Future;
