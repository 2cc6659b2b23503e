//! TCP on loopback through UringIo: bind, accept, connect, send, recv, peer close.

use boreal_engine::io::{DmaBuf, Io};
use boreal_engine::rt::{self, Runtime, RuntimeConfig};

#[test]
fn echo_over_loopback() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async move {
        let listener = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = io.local_addr(&listener).unwrap();
        assert_ne!(addr.port(), 0);
        let server_io = io.clone();
        let server = rt::spawn(async move {
            let (s, peer) = server_io.accept(&listener).await.unwrap();
            assert!(peer.ip().is_loopback());
            let mut total = 0;
            let mut buf = DmaBuf::zeroed(4096);
            loop {
                let (r, b) = server_io.recv(&s, buf).await;
                let n = r.unwrap();
                if n == 0 {
                    break total;
                }
                total += n;
                let echo = DmaBuf::from_slice(b.as_slice());
                let (w, _) = server_io.send(&s, echo).await;
                assert_eq!(w.unwrap(), n);
                buf = b;
            }
        });
        let c = io.connect(addr).await.unwrap();
        assert_eq!(c.peer_addr(), addr);
        let (w, _) = io.send(&c, DmaBuf::from_slice(b"hello boreal")).await;
        assert_eq!(w.unwrap(), 12);
        let mut got = Vec::new();
        while got.len() < 12 {
            let (r, b) = io.recv(&c, DmaBuf::zeroed(64)).await;
            assert!(r.unwrap() > 0);
            got.extend_from_slice(b.as_slice());
        }
        assert_eq!(got, b"hello boreal");
        drop(c);
        assert_eq!(server.await.unwrap(), 12);
    });
}

#[test]
fn connect_refused_and_ipv6() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async move {
        // Bind then drop to find a port with no listener.
        let l = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = io.local_addr(&l).unwrap();
        drop(l);
        let e = io.connect(addr).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
        // IPv6 loopback, if the machine has it.
        if let Ok(l6) = io.bind("[::1]:0".parse().unwrap()).await {
            let a6 = io.local_addr(&l6).unwrap();
            let io2 = io.clone();
            let acc = rt::spawn(async move { io2.accept(&l6).await.map(|(_, p)| p) });
            let s = io.connect(a6).await.unwrap();
            assert!(acc.await.unwrap().unwrap().is_ipv6());
            assert!(s.local_addr().unwrap().is_ipv6());
        }
    });
}

#[test]
fn send_after_peer_closed_is_an_error_not_sigpipe() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async move {
        let l = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = io.local_addr(&l).unwrap();
        let io2 = io.clone();
        let acc = rt::spawn(async move { io2.accept(&l).await.unwrap().0 });
        let c = io.connect(addr).await.unwrap();
        drop(acc.await.unwrap());
        let mut failed = false;
        for _ in 0..100 {
            let (r, _) = io.send(&c, DmaBuf::from_slice(&[7u8; 1024])).await;
            if let Err(e) = r {
                assert!(
                    matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)),
                    "{e}"
                );
                failed = true;
                break;
            }
            rt::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(failed, "sending to a closed peer must eventually fail");
    });
}
