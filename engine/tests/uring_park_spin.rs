//! A parked core polls for completions for up to `RuntimeConfig::park_spin` before it
//! sleeps in the kernel, only while file operations are in flight (not for a socket
//! waiting on a peer); zero turns it off; a value above `PARK_SPIN_MAX` is refused.

use std::time::Duration;

use boreal_engine::io::{Clock, DmaBuf, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{Runtime, RuntimeConfig};
use boreal_engine::uring::{PARK_SPIN_MAX, RingStats, UringIo};

fn runtime(park_spin: Duration) -> Runtime {
    Runtime::new(RuntimeConfig {
        park_spin,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// Twenty 4 KiB `RWF_DSYNC` writes, one at a time (each parks the core until it
/// completes); returns the ring's counters after them.
fn durable_writes(rt: &Runtime) -> RingStats {
    let dir = tempfile::tempdir().unwrap();
    let io = rt.io().clone();
    rt.block_on(async {
        let opts = OpenOptions {
            read: true,
            write: true,
            create: true,
            direct: true,
            ..OpenOptions::default()
        };
        let f = io.open(&dir.path().join("f"), opts).await.unwrap();
        let mut buf = DmaBuf::zeroed(4096);
        buf.set_len(4096);
        for i in 0..20u64 {
            let (res, back) = io.write_at(&f, buf, i * 4096, WriteFlags::DSYNC).await;
            assert_eq!(res.unwrap(), 4096);
            buf = back;
        }
    });
    rt.io().stats()
}

/// Five 2 ms sleeps on the runtime's timers: parks with a deadline.
async fn timer_sleeps(io: &UringIo) {
    for _ in 0..5 {
        let at = io.now().saturating_add(Duration::from_millis(2));
        io.sleep_until(at).await;
    }
}

#[test]
fn a_parked_core_polls_for_completions_before_it_sleeps() {
    // 10 ms covers a durable 4 KiB write on any disk CI runs on, most of the time;
    // one write of twenty seen while polling is enough.
    let s = durable_writes(&runtime(PARK_SPIN_MAX));
    assert!(s.spins_woken > 0, "{s:?}");
}

#[test]
fn zero_never_polls() {
    let s = durable_writes(&runtime(Duration::ZERO));
    assert_eq!((s.spins_woken, s.spins_slept), (0, 0), "{s:?}");
}

#[test]
fn nothing_in_flight_nothing_polled() {
    let rt = runtime(PARK_SPIN_MAX);
    let io = rt.io().clone();
    rt.block_on(async {
        timer_sleeps(&io).await;
    });
    let s = rt.io().stats();
    assert_eq!((s.spins_woken, s.spins_slept), (0, 0), "{s:?}");
}

#[test]
fn a_socket_waiting_on_a_peer_is_not_polled_for() {
    let rt = runtime(PARK_SPIN_MAX);
    let io = rt.io().clone();
    rt.block_on(async {
        let listener = io.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        // An accept nobody answers stays in flight while the core sleeps on a timer.
        let accept = boreal_engine::rt::spawn({
            let io = io.clone();
            async move {
                let _ = io.accept(&listener).await;
            }
        });
        timer_sleeps(&io).await;
        assert_eq!(io.stats().sqes_in_flight, 1, "the accept is in flight");
        accept.abort();
    });
    let s = rt.io().stats();
    assert_eq!((s.spins_woken, s.spins_slept), (0, 0), "{s:?}");
}

#[test]
fn a_park_spin_above_the_maximum_is_refused() {
    let err = Runtime::new(RuntimeConfig {
        park_spin: PARK_SPIN_MAX + Duration::from_micros(1),
        ..RuntimeConfig::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("park_spin"), "{err}");
}
