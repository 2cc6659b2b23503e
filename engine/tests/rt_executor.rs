//! Executor behaviour: spawn/join, abort, detach, yield, domains, scheduling policy,
//! and the Driver hook with a virtual clock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::Instant;
use boreal_engine::rt::{
    self, Domain, Driver, Executor, JoinError, Policy, Runtime, RuntimeConfig,
};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

/// A driver with a virtual clock: parking jumps time to the deadline.
struct VirtualDriver {
    now: Cell<u64>,
    parks: Cell<u32>,
}

impl Driver for VirtualDriver {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.now.get())
    }

    fn park(&self, deadline: Option<Instant>) {
        self.parks.set(self.parks.get() + 1);
        match deadline {
            Some(d) => self.now.set(self.now.get().max(d.as_nanos())),
            None => panic!("virtual driver: deadlock (no timer, no event)"),
        }
    }
}

fn virtual_executor(policy: Policy) -> (Executor, Rc<VirtualDriver>) {
    let d = Rc::new(VirtualDriver {
        now: Cell::new(0),
        parks: Cell::new(0),
    });
    (Executor::new(d.clone(), policy), d)
}

#[test]
fn spawn_and_join() {
    let rt = runtime();
    let out = rt.block_on(async {
        let a = rt::spawn(async { 1 + 1 });
        let b = rt::spawn(async {
            rt::yield_now().await;
            "b"
        });
        (a.await.unwrap(), b.await.unwrap())
    });
    assert_eq!(out, (2, "b"));
}

#[test]
fn abort_cancels_and_drops() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let rt = runtime();
    rt.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let flag = Flag(dropped.clone());
        let h = rt::spawn(async move {
            let _f = flag;
            rt::sleep(Duration::from_secs(3600)).await;
            7
        });
        rt::yield_now().await;
        assert!(!h.is_finished());
        h.abort();
        assert!(dropped.get(), "abort drops the future at once");
        assert_eq!(h.await, Err(JoinError::Cancelled));
        assert_eq!(rt::timers_armed(), 0, "the aborted task's timer is gone");
    });
}

#[test]
fn dropped_handle_detaches() {
    let rt = runtime();
    let hit = Rc::new(Cell::new(0));
    rt.block_on({
        let hit = hit.clone();
        async move {
            drop(rt::spawn(async move {
                rt::yield_now().await;
                hit.set(1);
            }));
            for _ in 0..4 {
                rt::yield_now().await;
            }
        }
    });
    assert_eq!(hit.get(), 1);
}

#[test]
fn yield_interleaves_fifo() {
    let rt = runtime();
    let log = Rc::new(RefCell::new(Vec::new()));
    rt.block_on({
        let log = log.clone();
        async move {
            let mut hs = Vec::new();
            for t in 0..3 {
                let log = log.clone();
                hs.push(rt::spawn(async move {
                    for i in 0..3 {
                        log.borrow_mut().push((t, i));
                        rt::yield_now().await;
                    }
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
        }
    });
    let expect: Vec<_> = (0..3).flat_map(|i| (0..3).map(move |t| (t, i))).collect();
    assert_eq!(*log.borrow(), expect);
}

#[test]
fn domains_inherit_and_kill() {
    let rt = runtime();
    rt.block_on(async {
        let n1 = Domain { node: 1, core: 0 };
        let n2 = Domain { node: 2, core: 0 };
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let parent = rt::spawn_in(n1, async move {
            s.borrow_mut().push(rt::current_domain());
            let s2 = s.clone();
            let child = rt::spawn(async move {
                s2.borrow_mut().push(rt::current_domain());
                rt::sleep(Duration::from_secs(3600)).await;
            });
            child.await
        });
        let other = rt::spawn_in(n2, async { 5 });
        rt::yield_now().await;
        rt::yield_now().await;
        assert_eq!(*seen.borrow(), vec![n1, n1]);
        assert_eq!(rt::current_domain(), Domain::ROOT);
        assert_eq!(rt::kill_domain(n1), 2);
        assert_eq!(parent.await, Err(JoinError::Cancelled));
        assert_eq!(other.await, Ok(5));
    });
}

#[test]
fn task_killing_its_own_domain_finishes_its_poll() {
    let rt = runtime();
    rt.block_on(async {
        let d = Domain { node: 9, core: 1 };
        let h = rt::spawn_in(d, async move {
            assert_eq!(rt::kill_domains(|x| x.node == 9), 1);
            rt::yield_now().await;
            unreachable!("killed task polled again");
        });
        assert_eq!(h.await, Err(JoinError::Cancelled));
    });
}

fn random_order(seed: u64) -> Vec<u32> {
    let (exec, _d) = virtual_executor(Policy::Random { seed });
    let log = Rc::new(RefCell::new(Vec::new()));
    exec.block_on({
        let log = log.clone();
        async move {
            let hs: Vec<_> = (0..16)
                .map(|i| {
                    let log = log.clone();
                    rt::spawn(async move { log.borrow_mut().push(i) })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        }
    });
    log.take()
}

#[test]
fn random_policy_replays_from_seed() {
    assert_eq!(random_order(42), random_order(42));
    assert_ne!(random_order(42), random_order(43));
    let mut sorted = random_order(42);
    sorted.sort();
    assert_eq!(sorted, (0..16).collect::<Vec<_>>());
}

#[test]
fn virtual_time_through_driver() {
    let (exec, d) = virtual_executor(Policy::Fifo);
    let t = exec.block_on(async {
        rt::sleep(Duration::from_secs(10)).await;
        rt::now()
    });
    assert_eq!(t, Instant::from_nanos(10_000_000_000));
    assert!(d.parks.get() >= 1);
}

#[test]
fn executor_drop_cancels_pending_tasks() {
    let (exec, _d) = virtual_executor(Policy::Fifo);
    let h = exec.spawn(async { rt::sleep(Duration::from_secs(1)).await });
    assert_eq!(exec.task_count(), 1);
    drop(exec);
    assert!(h.is_finished());
}

/// A driver whose park completes one "I/O": it wakes the task waiting on it.
struct CompletingDriver {
    parks: Cell<u32>,
    waiting: RefCell<Option<std::task::Waker>>,
    done: Cell<bool>,
    relinquished: Cell<u32>,
}

impl Driver for CompletingDriver {
    fn now(&self) -> Instant {
        Instant::from_nanos(0)
    }

    fn park(&self, _deadline: Option<Instant>) {
        self.parks.set(self.parks.get() + 1);
        if let Some(w) = self.waiting.borrow_mut().take() {
            self.done.set(true);
            w.wake();
        }
    }

    fn relinquish(&self) {
        self.relinquished.set(self.relinquished.get() + 1);
    }
}

fn completing_driver() -> Rc<CompletingDriver> {
    Rc::new(CompletingDriver {
        parks: Cell::new(0),
        waiting: RefCell::new(None),
        done: Cell::new(false),
        relinquished: Cell::new(0),
    })
}

/// CPU work split with `yield_to_io`, with nothing else ready, offers the thread's CPU
/// to other threads between its pieces (the kernel's completion work for this core's
/// own writes may wait for it); `yield_now` and a task waiting for I/O do not.
#[test]
fn yield_to_io_relinquishes_the_cpu_when_nothing_else_is_ready() {
    let d = completing_driver();
    let exec = Executor::new(d.clone(), Policy::Fifo);
    exec.block_on(async {
        for _ in 0..10 {
            rt::yield_to_io().await;
        }
    });
    assert_eq!(d.relinquished.get(), 10, "one offer per piece");

    let d = completing_driver();
    let exec = Executor::new(d.clone(), Policy::Fifo);
    let d2 = d.clone();
    exec.block_on(async move {
        for _ in 0..10 {
            rt::yield_now().await;
        }
        // Waiting for an "I/O" parks; it is not CPU work.
        std::future::poll_fn(|cx| {
            if d2.done.get() {
                return std::task::Poll::Ready(());
            }
            *d2.waiting.borrow_mut() = Some(cx.waker().clone());
            std::task::Poll::Pending
        })
        .await;
    });
    assert!(d.parks.get() >= 1);
    assert_eq!(d.relinquished.get(), 0, "no CPU work yielded to the I/O");
}

/// A task that splits CPU work with `yield_to_io` lets the core reap between pieces:
/// a completion is seen, and the task it wakes runs, after one piece, not after a
/// whole poll budget of them (with `yield_now` here, "io" came after all 100 pieces).
#[test]
fn yield_to_io_reaps_between_pieces() {
    let d = completing_driver();
    let exec = Executor::new(d.clone(), Policy::Fifo);
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2, d2) = (log.clone(), log.clone(), d.clone());
    exec.block_on(async move {
        let io = rt::spawn(async move {
            std::future::poll_fn(|cx| {
                if d2.done.get() {
                    return std::task::Poll::Ready(());
                }
                *d2.waiting.borrow_mut() = Some(cx.waker().clone());
                std::task::Poll::Pending
            })
            .await;
            l2.borrow_mut().push("io".to_string());
        });
        let cpu = rt::spawn(async move {
            for i in 0..100 {
                l1.borrow_mut().push(format!("piece {i}"));
                rt::yield_to_io().await;
            }
        });
        io.await.unwrap();
        cpu.await.unwrap();
    });
    let log = log.borrow();
    let io_at = log.iter().position(|e| e == "io").unwrap();
    assert!(
        io_at <= 2,
        "the completion waited for {io_at} pieces: {log:?}"
    );
    assert!(
        d.parks.get() >= 100,
        "one park per piece: {}",
        d.parks.get()
    );
}

/// A yielded task runs after the whole cascade: a task woken by a completion, and the
/// task that one wakes in turn, both run before the next piece.
#[test]
fn yield_to_io_waits_for_the_tasks_a_completion_wakes() {
    let d = completing_driver();
    let exec = Executor::new(d.clone(), Policy::Fifo);
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2, l3, d2) = (log.clone(), log.clone(), log.clone(), d.clone());
    exec.block_on(async move {
        let (tx, mut rx) = rt::channel::channel::<()>(1);
        let second = rt::spawn(async move {
            let _ = rx.recv().await;
            l3.borrow_mut().push("woken by io".to_string());
        });
        let io = rt::spawn(async move {
            std::future::poll_fn(|cx| {
                if d2.done.get() {
                    return std::task::Poll::Ready(());
                }
                *d2.waiting.borrow_mut() = Some(cx.waker().clone());
                std::task::Poll::Pending
            })
            .await;
            l2.borrow_mut().push("io".to_string());
            let _ = tx.try_send(());
        });
        let cpu = rt::spawn(async move {
            for i in 0..4 {
                l1.borrow_mut().push(format!("piece {i}"));
                rt::yield_to_io().await;
            }
        });
        io.await.unwrap();
        second.await.unwrap();
        cpu.await.unwrap();
    });
    let log = log.borrow();
    assert_eq!(
        log[..3],
        ["piece 0", "io", "woken by io"],
        "the next piece waits for the cascade: {log:?}"
    );
}

/// On a core that always has a task ready, a yielded task still gets its turn.
#[test]
fn yield_to_io_is_not_starved_by_a_busy_core() {
    let (exec, _d) = virtual_executor(Policy::Fifo);
    let pieces = Rc::new(Cell::new(0u32));
    let stop = Rc::new(Cell::new(false));
    let (p, s) = (pieces.clone(), stop.clone());
    exec.block_on(async move {
        let busy = rt::spawn(async move {
            while !s.get() {
                rt::yield_now().await;
            }
        });
        let cpu = rt::spawn(async move {
            for _ in 0..20 {
                p.set(p.get() + 1);
                rt::yield_to_io().await;
            }
        });
        cpu.await.unwrap();
        stop.set(true);
        busy.await.unwrap();
    });
    assert_eq!(pieces.get(), 20);
}
