//! A short write in a linked write→fdatasync chain fails the whole call and the kernel
//! cancels the sync. The short write is made real with RLIMIT_FSIZE (this test binary
//! holds only this test, since the limit is process-wide).
#![allow(
    unsafe_code,
    reason = "setrlimit/signal have no safe std wrapper; test-only"
)]

use boreal_engine::io::{DmaBuf, Io, OpenOptions};
use boreal_engine::rt::{Runtime, RuntimeConfig};

#[test]
fn short_linked_write_cancels_sync_and_fails() {
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
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain libc calls with valid pointers to locals; SIGXFSZ ignored so
        // the limit yields a short write instead of killing the process.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let small = libc::rlimit {
                rlim_cur: 6144,
                rlim_max: lim.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &small), 0);
        }
        let (r, buf) = io
            .write_then_fdatasync(&f, DmaBuf::from_slice(&[3u8; 4096]), 4096)
            .await;
        // SAFETY: as above; restores the original limit.
        unsafe {
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
        let e = r.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WriteZero, "{e}");
        assert!(e.to_string().contains("2048 of 4096"), "{e}");
        assert!(e.to_string().contains("fdatasync cancelled"), "{e}");
        assert_eq!(buf.len(), 4096, "the buffer comes back");
    });
}
