//! Timers: ordering, timeout, and that sleeping waits on the real clock.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::{Clock, Instant};
use boreal_engine::rt::{self, Elapsed, Runtime, RuntimeConfig};

#[test]
fn timers_fire_in_deadline_order() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    rt.block_on({
        let log = log.clone();
        async move {
            let base = rt::now();
            let mut hs = Vec::new();
            for (i, ms) in [30u64, 10, 20, 10, 0].into_iter().enumerate() {
                let log = log.clone();
                hs.push(rt::spawn(async move {
                    rt::sleep_until(base.saturating_add(Duration::from_millis(ms))).await;
                    log.borrow_mut().push(i);
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
        }
    });
    // Equal deadlines fire in arming order (1 before 3).
    assert_eq!(*log.borrow(), vec![4, 1, 3, 2, 0]);
}

#[test]
fn sleep_waits_at_least_its_duration() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    let (start, end) = rt.block_on(async move {
        let start = io.now();
        io.sleep(Duration::from_millis(20)).await;
        (start, io.now())
    });
    let waited = end.saturating_duration_since(start);
    assert!(waited >= Duration::from_millis(20), "waited {waited:?}");
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
}

#[test]
fn timeout_elapses_and_completes() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.block_on(async {
        let r = rt::timeout(
            Duration::from_millis(5),
            rt::sleep(Duration::from_secs(3600)),
        )
        .await;
        assert_eq!(r, Err(Elapsed));
        let r = rt::timeout(Duration::from_secs(3600), async { 3 }).await;
        assert_eq!(r, Ok(3));
        assert_eq!(rt::timers_armed(), 0, "dropped sleeps remove their timers");
        // An already-past deadline still lets a ready future win.
        let r = rt::timeout_at(Instant::ZERO, async { 4 }).await;
        assert_eq!(r, Ok(4));
    });
}

#[test]
fn many_cancelled_timers_stay_bounded() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.block_on(async {
        for _ in 0..10_000 {
            let _ = rt::timeout(Duration::from_secs(60), async {}).await;
        }
        assert_eq!(rt::timers_armed(), 0);
    });
}
