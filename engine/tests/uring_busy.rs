//! A core that always has a ready task still submits and reaps I/O (the run loop's
//! non-blocking park), for both file and socket operations.

use std::cell::Cell;
use std::rc::Rc;

use boreal_engine::io::{DmaBuf, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{self, Runtime, RuntimeConfig};

#[test]
fn io_completes_while_another_task_spins() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async move {
        let stop = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0u64));
        let spinner = rt::spawn({
            let (stop, spins) = (stop.clone(), spins.clone());
            async move {
                while !stop.get() {
                    spins.set(spins.get() + 1);
                    assert!(
                        spins.get() < 50_000_000,
                        "I/O never completed while the core was busy"
                    );
                    rt::yield_now().await;
                }
            }
        });
        let opts = OpenOptions {
            read: true,
            write: true,
            create: true,
            direct: true,
            ..OpenOptions::default()
        };
        let f = io.open(&dir.path().join("f"), opts).await.unwrap();
        for i in 0..50u64 {
            let (r, _) = io
                .write_at(
                    &f,
                    DmaBuf::from_slice(&[i as u8; 4096]),
                    i * 4096,
                    WriteFlags::NONE,
                )
                .await;
            assert_eq!(r.unwrap(), 4096);
        }
        io.fdatasync(&f).await.unwrap();
        let l = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = io.local_addr(&l).unwrap();
        let io2 = io.clone();
        let acc = rt::spawn(async move { io2.accept(&l).await.unwrap().0 });
        let c = io.connect(addr).await.unwrap();
        let s = acc.await.unwrap();
        let (w, _) = io.send(&c, DmaBuf::from_slice(b"x")).await;
        w.unwrap();
        let (r, _) = io.recv(&s, DmaBuf::zeroed(8)).await;
        assert_eq!(r.unwrap(), 1);
        stop.set(true);
        spinner.await.unwrap();
        assert!(spins.get() > 0);
    });
}
