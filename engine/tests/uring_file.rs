//! Every UringIo file operation on a temp dir: open/probe, read, write, writev,
//! fsync/fdatasync, fallocate, fadvise, RWF_DSYNC, linked write→fdatasync, short read
//! at EOF, and O_DIRECT misalignment refused with EINVAL.

use std::path::Path;

use boreal_engine::io::{Advice, DmaBuf, FallocateMode, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{Runtime, RuntimeConfig};
use boreal_engine::uring::UringIo;

fn rw_direct() -> OpenOptions {
    OpenOptions {
        read: true,
        write: true,
        create: true,
        direct: true,
        ..OpenOptions::default()
    }
}

fn pattern(len: usize, seed: u8) -> DmaBuf {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    DmaBuf::from_slice(&bytes)
}

fn with_io<T>(f: impl AsyncFnOnce(UringIo, &Path) -> T) -> T {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(f(io, dir.path()))
}

#[test]
fn open_probes_alignment_and_size() {
    with_io(async |io, dir| {
        let p = dir.join("a");
        let f = io.open(&p, rw_direct()).await.unwrap();
        let info = io.file_info(&f);
        assert_eq!(info.size, 0);
        assert!(info.dio_offset_align.is_power_of_two(), "{info:?}");
        assert!(
            info.dio_offset_align <= 4096 && info.dio_mem_align <= 4096,
            "{info:?}"
        );
        let buffered = OpenOptions {
            read: true,
            ..OpenOptions::default()
        };
        let g = io.open(&p, buffered).await.unwrap();
        assert_eq!(io.file_info(&g).dio_offset_align, 0);
        let missing = io.open(&dir.join("nope"), buffered).await.unwrap_err();
        assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
        let excl = OpenOptions {
            create_new: true,
            ..rw_direct()
        };
        assert_eq!(
            io.open(&p, excl).await.unwrap_err().raw_os_error(),
            Some(libc::EEXIST)
        );
    });
}

#[test]
fn write_read_round_trip_and_short_read_at_eof() {
    with_io(async |io, dir| {
        let f = io.open(&dir.join("f"), rw_direct()).await.unwrap();
        let (r, _) = io.write_at(&f, pattern(8192, 1), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap(), 8192);
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(8192), 8192, 0).await;
        assert_eq!(r.unwrap(), 8192);
        assert_eq!(buf.as_slice(), pattern(8192, 1).as_slice());
        // Reading 8 KiB from 4 KiB before the end returns 4 KiB.
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(8192), 8192, 4096).await;
        assert_eq!(r.unwrap(), 4096);
        assert_eq!(buf.len(), 4096);
        assert_eq!(buf.as_slice(), &pattern(8192, 1).as_slice()[4096..]);
        // At EOF: zero.
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, 8192).await;
        assert_eq!(r.unwrap(), 0);
        assert!(buf.is_empty());
    });
}

#[test]
fn misaligned_direct_io_is_einval() {
    with_io(async |io, dir| {
        let f = io.open(&dir.join("f"), rw_direct()).await.unwrap();
        let before = io.stats().ops_submitted;
        let (r, _) = io.write_at(&f, pattern(100, 0), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let (r, _) = io.write_at(&f, pattern(4096, 0), 7, WriteFlags::NONE).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let (r, _) = io.read_at(&f, DmaBuf::zeroed(4096), 1000, 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let (r, _) = io.read_at(&f, DmaBuf::zeroed(4096), 8192, 0).await;
        assert_eq!(
            r.unwrap_err().raw_os_error(),
            Some(libc::EINVAL),
            "len above capacity"
        );
        let (r, _) = io
            .writev_at(
                &f,
                vec![pattern(4096, 0), pattern(10, 0)],
                0,
                WriteFlags::NONE,
            )
            .await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let (r, _) = io.write_then_fdatasync(&f, pattern(4096, 0), 3).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        assert_eq!(
            io.stats().ops_submitted,
            before,
            "refused before submission"
        );
        // Buffered files take any offset and length.
        let g = io
            .open(
                &dir.join("g"),
                OpenOptions {
                    read: true,
                    write: true,
                    create: true,
                    ..OpenOptions::default()
                },
            )
            .await
            .unwrap();
        let (r, _) = io.write_at(&g, pattern(100, 0), 7, WriteFlags::NONE).await;
        assert_eq!(r.unwrap(), 100);
    });
}

#[test]
fn writev_fsync_fdatasync_dsync() {
    with_io(async |io, dir| {
        let f = io.open(&dir.join("f"), rw_direct()).await.unwrap();
        let (r, bufs) = io
            .writev_at(
                &f,
                vec![pattern(4096, 1), pattern(512, 2), pattern(4096, 3)],
                4096,
                WriteFlags::NONE,
            )
            .await;
        assert_eq!(r.unwrap(), 4096 + 512 + 4096);
        assert_eq!(bufs.len(), 3);
        io.fdatasync(&f).await.unwrap();
        io.fsync(&f).await.unwrap();
        let (r, _) = io
            .write_at(&f, pattern(4096, 4), 0, WriteFlags::DSYNC)
            .await;
        assert_eq!(r.unwrap(), 4096);
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(16384), 16384, 0).await;
        assert_eq!(r.unwrap(), 4096 + 4096 + 512 + 4096);
        let s = buf.as_slice();
        assert_eq!(&s[..4096], pattern(4096, 4).as_slice());
        assert_eq!(&s[4096..8192], pattern(4096, 1).as_slice());
        assert_eq!(&s[8192..8704], pattern(512, 2).as_slice());
        assert_eq!(&s[8704..], pattern(4096, 3).as_slice());
    });
}

#[test]
fn fallocate_modes() {
    with_io(async |io, dir| {
        let p = dir.join("f");
        let f = io.open(&p, rw_direct()).await.unwrap();
        io.fallocate(&f, FallocateMode::KeepSize, 0, 1 << 20)
            .await
            .unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
        io.fallocate(&f, FallocateMode::Allocate, 0, 1 << 20)
            .await
            .unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 1 << 20);
        let (r, _) = io.write_at(&f, pattern(4096, 9), 0, WriteFlags::NONE).await;
        r.unwrap();
        io.fallocate(&f, FallocateMode::ZeroRange, 0, 4096)
            .await
            .unwrap();
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, 0).await;
        assert_eq!(r.unwrap(), 4096);
        assert!(buf.as_slice().iter().all(|&b| b == 0));
        let bad = io
            .fallocate(&f, FallocateMode::Allocate, 0, 0)
            .await
            .unwrap_err();
        assert_eq!(bad.raw_os_error(), Some(libc::EINVAL));
    });
}

#[test]
fn linked_write_then_fdatasync() {
    with_io(async |io, dir| {
        let f = io.open(&dir.join("f"), rw_direct()).await.unwrap();
        let (r, buf) = io.write_then_fdatasync(&f, pattern(4096, 5), 8192).await;
        assert_eq!(r.unwrap(), 4096);
        assert_eq!(buf.len(), 4096);
        let (r, back) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, 8192).await;
        assert_eq!(r.unwrap(), 4096);
        assert_eq!(back.as_slice(), pattern(4096, 5).as_slice());
        // A failing write cancels the sync and fails the call: a read-only fd gives
        // EBADF on the write and the linked fdatasync never runs on its own.
        let ro = io
            .open(
                &dir.join("f"),
                OpenOptions {
                    read: true,
                    direct: true,
                    ..OpenOptions::default()
                },
            )
            .await
            .unwrap();
        let (r, _) = io.write_then_fdatasync(&ro, pattern(4096, 6), 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(io.stats().ops_live, 0);
    });
}

#[test]
fn file_closes_after_last_use() {
    with_io(async |io, dir| {
        let f = io.open(&dir.join("f"), rw_direct()).await.unwrap();
        let (r, _) = io.write_at(&f, pattern(4096, 1), 0, WriteFlags::NONE).await;
        r.unwrap();
        drop(f);
        assert_eq!(io.stats().ops_live, 0);
    });
}

/// Bytes this thread's reads fetched from storage so far (`/proc/thread-self/io`).
fn thread_read_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    let line = io.lines().find_map(|l| l.strip_prefix("read_bytes:"));
    line.unwrap().trim().parse().unwrap()
}

#[test]
fn random_advice_turns_readahead_off_on_the_rings_descriptor() {
    with_io(async |io, dir| {
        // What the first page of a cold 1 MiB file costs to read through a buffered
        // descriptor given `advice`. The read at offset 0 is where Linux starts a
        // readahead window (a lone read elsewhere it reads as is); it runs on this
        // thread (the ring's submitter), so its fetch is counted here.
        let fetched = async |name: &str, advice: Option<Advice>| {
            // Written with O_DIRECT, so none of it is in the page cache.
            let p = dir.join(name);
            let f = io.open(&p, rw_direct()).await.unwrap();
            let (r, _) = io
                .write_at(&f, pattern(1 << 20, 3), 0, WriteFlags::NONE)
                .await;
            assert_eq!(r.unwrap(), 1 << 20);
            let buffered = OpenOptions {
                read: true,
                ..OpenOptions::default()
            };
            let g = io.open(&p, buffered).await.unwrap();
            if let Some(advice) = advice {
                io.fadvise(&g, advice).await.unwrap();
            }
            let before = thread_read_bytes();
            let (r, buf) = io.read_at(&g, DmaBuf::zeroed(4096), 4096, 0).await;
            assert_eq!(r.unwrap(), 4096);
            assert_eq!(buf.as_slice(), pattern(4096, 3).as_slice());
            thread_read_bytes() - before
        };
        assert_eq!(fetched("random", Some(Advice::Random)).await, 4096);
        // Without advice the kernel reads ahead of the same one-page read.
        let ahead = fetched("default", None).await;
        assert!(ahead > 4096, "no readahead without advice: {ahead} bytes");
    });
}

#[test]
fn fadvise_goes_through_the_ring_and_a_pipe_refuses_it() {
    with_io(async |io, dir| {
        let f = io.open(&dir.join("f"), rw_direct()).await.unwrap();
        let before = io.stats().ops_submitted;
        io.fadvise(&f, Advice::Sequential).await.unwrap();
        assert_eq!(
            io.stats().ops_submitted,
            before + 1,
            "one IORING_OP_FADVISE"
        );
        // A FIFO opened read-write does not block; Linux refuses advice on a pipe.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo {}", fifo.display());
        let rw = OpenOptions {
            read: true,
            write: true,
            ..OpenOptions::default()
        };
        let pipe = io.open(&fifo, rw).await.unwrap();
        let err = io.fadvise(&pipe, Advice::Random).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESPIPE), "{err}");
    });
}
