//! One set of file and socket properties, run against both backends: `UringIo` (real
//! io_uring on a temp dir on the host's filesystem) and `SimIo` (a fault-free
//! simulated world), so the simulator promises no more than Linux does.
//!
//! Each property is one generic `async fn` over `I: Io`; the `conformance!` macro
//! instantiates it once per backend, each run by that backend's own runtime.
//!
//! Not here, on purpose: "data is not durable before a sync" can only be checked on the
//! simulator (a test cannot pull the power on the real disk); `tests/sim_disk.rs`
//! checks it, with the crash rules in `engine/src/sim/disk.rs`. The real backend is
//! skipped (with a note on stderr) if the kernel refuses io_uring.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{Advice, FallocateMode, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{Runtime, RuntimeConfig, spawn};
use boreal_engine::sim::{FaultConfig, Sim, SimConfig};

fn rw(direct: bool) -> OpenOptions {
    OpenOptions {
        read: true,
        write: true,
        create: true,
        direct,
        ..OpenOptions::default()
    }
}

fn filled(len: usize, byte: u8) -> DmaBuf {
    let mut b = DmaBuf::zeroed(len);
    b.as_full_mut().fill(byte);
    b.set_len(len);
    b
}

fn errno<T>(r: io::Result<T>) -> Option<i32> {
    match r {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e.raw_os_error(),
    }
}

async fn size_of<I: Io>(io: &I, path: &Path) -> u64 {
    let opts = OpenOptions {
        read: true,
        ..OpenOptions::default()
    };
    let f = io.open(path, opts).await.expect("reopen");
    io.file_info(&f).size
}

// ---- properties ------------------------------------------------------------------

async fn odirect_alignment_is_enforced<I: Io>(io: I, dir: PathBuf) {
    let f = io.open(&dir.join("dio"), rw(true)).await.unwrap();
    let align = io.file_info(&f).dio_offset_align as usize;
    assert!(
        align >= 512 && align.is_power_of_two(),
        "dio alignment {align}"
    );
    let half = align / 2;
    assert_eq!(
        errno(
            io.write_at(&f, filled(align, 1), half as u64, WriteFlags::NONE)
                .await
                .0
        ),
        Some(libc::EINVAL)
    );
    assert_eq!(
        errno(
            io.write_at(&f, filled(half, 1), 0, WriteFlags::NONE)
                .await
                .0
        ),
        Some(libc::EINVAL)
    );
    let (r, _) = io
        .writev_at(
            &f,
            vec![filled(half, 1), filled(half, 1)],
            0,
            WriteFlags::NONE,
        )
        .await;
    assert_eq!(errno(r), Some(libc::EINVAL), "each iovec must be aligned");
    assert_eq!(
        io.write_at(&f, filled(align, 1), 0, WriteFlags::NONE)
            .await
            .0
            .unwrap(),
        align
    );
    assert_eq!(
        errno(io.read_at(&f, DmaBuf::zeroed(align), half, 0).await.0),
        Some(libc::EINVAL)
    );
    assert_eq!(
        errno(
            io.read_at(&f, DmaBuf::zeroed(align), align, half as u64)
                .await
                .0
        ),
        Some(libc::EINVAL)
    );
    let (r, buf) = io.read_at(&f, DmaBuf::zeroed(align), align, 0).await;
    assert_eq!(r.unwrap(), align);
    assert!(buf.as_slice().iter().all(|&b| b == 1));
    let plain = io.open(&dir.join("plain"), rw(false)).await.unwrap();
    assert_eq!(io.file_info(&plain).dio_offset_align, 0);
}

async fn reads_at_eof_are_short<I: Io>(io: I, dir: PathBuf) {
    let f = io.open(&dir.join("eof"), rw(false)).await.unwrap();
    assert_eq!(
        io.write_at(&f, filled(100, 7), 0, WriteFlags::NONE)
            .await
            .0
            .unwrap(),
        100
    );
    let (r, buf) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, 0).await;
    assert_eq!(r.unwrap(), 100);
    assert_eq!(buf.len(), 100);
    assert_eq!(
        io.read_at(&f, DmaBuf::zeroed(4096), 4096, 100)
            .await
            .0
            .unwrap(),
        0
    );
    assert_eq!(
        io.read_at(&f, DmaBuf::zeroed(4096), 4096, 1 << 20)
            .await
            .0
            .unwrap(),
        0
    );
    // O_DIRECT: an aligned read across EOF returns the bytes up to EOF.
    let d = io.open(&dir.join("eof_dio"), rw(true)).await.unwrap();
    assert_eq!(
        io.write_at(&d, filled(512, 3), 0, WriteFlags::NONE)
            .await
            .0
            .unwrap(),
        512
    );
    assert_eq!(
        io.read_at(&d, DmaBuf::zeroed(4096), 4096, 0)
            .await
            .0
            .unwrap(),
        512
    );
    assert_eq!(
        io.read_at(&d, DmaBuf::zeroed(4096), 4096, 4096)
            .await
            .0
            .unwrap(),
        0
    );
}

async fn reads_see_completed_writes<I: Io>(io: I, dir: PathBuf) {
    for direct in [false, true] {
        let f = io
            .open(&dir.join(format!("raw{direct}")), rw(direct))
            .await
            .unwrap();
        assert_eq!(
            io.write_at(&f, filled(4096, 1), 0, WriteFlags::NONE)
                .await
                .0
                .unwrap(),
            4096
        );
        assert_eq!(
            io.write_at(&f, filled(512, 2), 1024, WriteFlags::DSYNC)
                .await
                .0
                .unwrap(),
            512
        );
        let (r, bufs) = io
            .writev_at(
                &f,
                vec![filled(512, 3), filled(1024, 4)],
                8192,
                WriteFlags::NONE,
            )
            .await;
        assert_eq!(r.unwrap(), 1536);
        assert_eq!(bufs.len(), 2);
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(16384), 16384, 0).await;
        assert_eq!(r.unwrap(), 8192 + 1536);
        let d = buf.as_slice();
        assert!(d[..1024].iter().all(|&b| b == 1));
        assert!(d[1024..1536].iter().all(|&b| b == 2));
        assert!(d[1536..4096].iter().all(|&b| b == 1));
        assert!(
            d[4096..8192].iter().all(|&b| b == 0),
            "a hole reads as zeros"
        );
        assert!(d[8192..8704].iter().all(|&b| b == 3));
        assert!(d[8704..].iter().all(|&b| b == 4));
    }
}

async fn fallocate_changes_size_as_linux_does<I: Io>(io: I, dir: PathBuf) {
    let path = dir.join("falloc");
    let f = io.open(&path, rw(true)).await.unwrap();
    io.fallocate(&f, FallocateMode::Allocate, 0, 8192)
        .await
        .unwrap();
    assert_eq!(size_of(&io, &path).await, 8192);
    io.fallocate(&f, FallocateMode::KeepSize, 8192, 8192)
        .await
        .unwrap();
    assert_eq!(size_of(&io, &path).await, 8192, "KEEP_SIZE keeps the size");
    io.fallocate(&f, FallocateMode::ZeroRange, 8192, 4096)
        .await
        .unwrap();
    assert_eq!(size_of(&io, &path).await, 12288, "ZERO_RANGE extends");
    let (r, buf) = io.read_at(&f, DmaBuf::zeroed(16384), 16384, 0).await;
    assert_eq!(r.unwrap(), 12288);
    assert!(buf.as_slice().iter().all(|&b| b == 0));
    assert_eq!(
        errno(io.fallocate(&f, FallocateMode::Allocate, 0, 0).await),
        Some(libc::EINVAL)
    );
}

async fn fadvise_is_advice_and_changes_no_byte<I: Io>(io: I, dir: PathBuf) {
    let path = dir.join("advised");
    let f = io.open(&path, rw(false)).await.unwrap();
    io.write_at(&f, filled(8192, 6), 0, WriteFlags::NONE)
        .await
        .0
        .unwrap();
    for advice in [Advice::Random, Advice::Sequential, Advice::Normal] {
        io.fadvise(&f, advice).await.unwrap();
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(8192), 8192, 0).await;
        assert_eq!(r.unwrap(), 8192, "{advice:?}");
        assert!(buf.as_slice().iter().all(|&b| b == 6), "{advice:?}");
    }
    // Advice needs no access mode: a read-only descriptor takes it too.
    let ro = OpenOptions {
        read: true,
        ..OpenOptions::default()
    };
    let g = io.open(&path, ro).await.unwrap();
    io.fadvise(&g, Advice::Random).await.unwrap();
}

async fn write_then_fdatasync_writes_and_syncs<I: Io>(io: I, dir: PathBuf) {
    let f = io.open(&dir.join("linked"), rw(true)).await.unwrap();
    let (r, buf) = io.write_then_fdatasync(&f, filled(4096, 5), 4096).await;
    assert_eq!(r.unwrap(), 4096);
    assert_eq!(buf.len(), 4096, "the buffer comes back");
    io.fdatasync(&f).await.unwrap();
    io.fsync(&f).await.unwrap();
    let (r, buf) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, 4096).await;
    assert_eq!(r.unwrap(), 4096);
    assert!(buf.as_slice().iter().all(|&b| b == 5));
    let (r, _) = io.write_then_fdatasync(&f, filled(100, 5), 0).await;
    assert_eq!(
        errno(r),
        Some(libc::EINVAL),
        "misaligned: the write fails, the sync never runs"
    );
}

async fn open_flags_follow_linux<I: Io>(io: I, dir: PathBuf) {
    let path = dir.join("flags");
    let missing = OpenOptions {
        read: true,
        ..OpenOptions::default()
    };
    assert_eq!(errno(io.open(&path, missing).await), Some(libc::ENOENT));
    let f = io.open(&path, rw(false)).await.unwrap();
    io.write_at(&f, filled(10, 1), 0, WriteFlags::NONE)
        .await
        .0
        .unwrap();
    let excl = OpenOptions {
        create_new: true,
        ..rw(false)
    };
    assert_eq!(errno(io.open(&path, excl).await), Some(libc::EEXIST));
    let ro = io.open(&path, missing).await.unwrap();
    assert_eq!(io.file_info(&ro).size, 10);
    assert_eq!(
        errno(io.write_at(&ro, filled(1, 1), 0, WriteFlags::NONE).await.0),
        Some(libc::EBADF)
    );
    let trunc = OpenOptions {
        truncate: true,
        ..rw(false)
    };
    let t = io.open(&path, trunc).await.unwrap();
    assert_eq!(io.file_info(&t).size, 0);
}

async fn sync_dir_syncs_directories_only<I: Io>(io: I, dir: PathBuf) {
    let path = dir.join("entry");
    let f = io.open(&path, rw(false)).await.unwrap();
    io.fsync(&f).await.unwrap();
    io.sync_dir(&dir).await.unwrap();
    assert_eq!(errno(io.sync_dir(&path).await), Some(libc::ENOTDIR));
}

async fn sockets_connect_send_recv_close<I: Io>(io: I, _dir: PathBuf) {
    let listener = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr: SocketAddr = io.local_addr(&listener).unwrap();
    assert_ne!(addr.port(), 0, "port 0 binds an ephemeral port");
    let server = {
        let io = io.clone();
        spawn(async move {
            let (s, _peer) = io.accept(&listener).await.unwrap();
            let mut got = Vec::new();
            loop {
                let (r, buf) = io.recv(&s, DmaBuf::zeroed(64)).await;
                match r.unwrap() {
                    0 => break,
                    _ => got.extend_from_slice(buf.as_slice()),
                }
                if got.len() == 4 {
                    let (r, _) = io.send(&s, DmaBuf::from_slice(b"pong")).await;
                    assert_eq!(r.unwrap(), 4);
                }
            }
            got
        })
    };
    let c = io.connect(addr).await.unwrap();
    let mut sent = 0;
    while sent < 4 {
        sent += io
            .send(&c, DmaBuf::from_slice(&b"ping"[sent..]))
            .await
            .0
            .unwrap();
    }
    let mut reply = Vec::new();
    while reply.len() < 4 {
        let (r, buf) = io.recv(&c, DmaBuf::zeroed(64)).await;
        assert_ne!(r.unwrap(), 0, "closed early");
        reply.extend_from_slice(buf.as_slice());
    }
    assert_eq!(reply, b"pong");
    drop(c);
    assert_eq!(
        server.await.unwrap(),
        b"ping",
        "the peer reads the bytes, then 0"
    );
    let nobody = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let free = io.local_addr(&nobody).unwrap();
    drop(nobody);
    assert_eq!(errno(io.connect(free).await), Some(libc::ECONNREFUSED));
}

// ---- runners ---------------------------------------------------------------------

fn on_sim<F, Fut>(property: F)
where
    F: FnOnce(boreal_engine::sim::SimIo, PathBuf) -> Fut,
    Fut: Future<Output = ()>,
{
    let sim = Sim::new(SimConfig {
        seed: 1,
        faults: FaultConfig::none(),
        ..SimConfig::default()
    });
    let node = sim.add_node();
    let io = sim.io(node, 0);
    sim.run(property(io, PathBuf::from("/conformance")));
}

fn on_uring<F, Fut>(property: F)
where
    F: FnOnce(boreal_engine::uring::UringIo, PathBuf) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = match Runtime::new(RuntimeConfig::default()) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("skipping the io_uring half: the kernel refused a ring: {e}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(property(rt.io().clone(), dir.path().to_path_buf()));
}

macro_rules! conformance {
    ($($property:ident),* $(,)?) => {
        mod sim_backend {
            $(#[test] fn $property() { super::on_sim(super::$property) })*
        }
        mod uring_backend {
            $(#[test] fn $property() { super::on_uring(super::$property) })*
        }
    };
}

conformance!(
    odirect_alignment_is_enforced,
    reads_at_eof_are_short,
    reads_see_completed_writes,
    fallocate_changes_size_as_linux_does,
    fadvise_is_advice_and_changes_no_byte,
    write_then_fdatasync_writes_and_syncs,
    open_flags_follow_linux,
    sync_dir_syncs_directories_only,
    sockets_connect_send_recv_close,
);
