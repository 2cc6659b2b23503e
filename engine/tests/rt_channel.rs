//! In-core bounded channel: capacity, backpressure, close.

use std::cell::Cell;
use std::rc::Rc;

use boreal_engine::rt::channel::{self, SendError, TryRecvError, TrySendError};
use boreal_engine::rt::{self, Runtime, RuntimeConfig};

#[test]
fn capacity_and_backpressure() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.block_on(async {
        let (tx, mut rx) = channel::channel::<u32>(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        let sent = Rc::new(Cell::new(false));
        let s = sent.clone();
        let tx2 = tx.clone();
        let h = rt::spawn(async move {
            tx2.send(3).await.unwrap();
            s.set(true);
        });
        for _ in 0..3 {
            rt::yield_now().await;
        }
        assert!(!sent.get(), "send waits while full");
        assert_eq!(tx.len(), 2);
        assert_eq!(rx.recv().await, Some(1));
        h.await.unwrap();
        assert!(sent.get());
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn recv_ends_when_senders_drop() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.block_on(async {
        let (tx, mut rx) = channel::channel::<u32>(4);
        let h = rt::spawn(async move {
            for i in 0..10 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        h.await.unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn close_refuses_sends_keeps_queued() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.block_on(async {
        let (tx, mut rx) = channel::channel::<u32>(1);
        tx.send(1).await.unwrap();
        let tx2 = tx.clone();
        let waiting = rt::spawn(async move { tx2.send(2).await });
        rt::yield_now().await;
        rx.close();
        assert_eq!(waiting.await.unwrap(), Err(SendError(2)));
        assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn dropped_waiting_sender_passes_its_turn() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.block_on(async {
        let (tx, mut rx) = channel::channel::<u32>(1);
        tx.send(0).await.unwrap();
        let (a, b) = (tx.clone(), tx.clone());
        let first = rt::spawn(async move { a.send(1).await });
        let second = rt::spawn(async move { b.send(2).await });
        rt::yield_now().await;
        // Free a slot: `first` is notified; abort it before it runs.
        assert_eq!(rx.recv().await, Some(0));
        first.abort();
        // `second` must get the slot anyway.
        second.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(2));
    });
}
