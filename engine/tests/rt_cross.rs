//! Cross-core queue between two pinned core threads: bounded, and the receiver's ring
//! is woken by the sender's eventfd write.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use boreal_engine::rt::cross::{self, TrySendError};
use boreal_engine::rt::{self, Runtime, RuntimeConfig};

const MESSAGES: u64 = 20_000;

#[test]
fn messages_flow_between_cores_in_order() {
    let (tx, rx) = cross::channel::<u64>(16);
    let rx = std::sync::Mutex::new(Some(rx));
    let tx = std::sync::Mutex::new(Some(tx));
    let cores = rt::start_cores(2, RuntimeConfig::default(), move |ctx| {
        let rx = if ctx.core == 0 {
            rx.lock().unwrap().take()
        } else {
            None
        };
        let tx = if ctx.core == 1 {
            tx.lock().unwrap().take()
        } else {
            None
        };
        async move {
            if let Some(mut rx) = rx {
                let mut next = 0;
                while let Some(v) = rx.recv().await {
                    assert_eq!(v, next);
                    next += 1;
                }
                next
            } else {
                let tx = tx.unwrap();
                for i in 0..MESSAGES {
                    tx.send(i).await.unwrap();
                }
                0
            }
        }
    })
    .unwrap();
    let results: Vec<u64> = cores.join().into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(results[0], MESSAGES);
}

#[test]
fn full_queue_is_backpressure() {
    let (tx, mut rx) = cross::channel::<u32>(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.try_recv(), Ok(1));
    tx.try_send(3).unwrap();
}

#[test]
fn parked_receiver_is_woken_from_another_thread() {
    let (tx, mut rx) = cross::channel::<u32>(4);
    let received = Arc::new(AtomicUsize::new(0));
    let r = received.clone();
    let receiver = std::thread::spawn(move || {
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        rt.block_on(async move {
            // No timers and no I/O: the core parks in io_uring_enter with no deadline,
            // and only the eventfd can wake it.
            while let Some(v) = rx.recv().await {
                r.fetch_add(v as usize, Ordering::SeqCst);
            }
        });
        rt.io().stats().enters
    });
    std::thread::sleep(Duration::from_millis(50));
    tx.try_send(5).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while received.load(Ordering::SeqCst) != 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "receiver was not woken"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(tx);
    let enters = receiver.join().unwrap();
    assert!(enters >= 1);
}
