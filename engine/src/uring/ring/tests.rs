//! Ring tests that need its insides: op tags across the slab's generation wrap, and
//! parks that reap while they arm the eventfd or find the completion queue
//! overflowed.

use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::time::Duration;

use super::*;
use crate::buf::DmaBuf;
use crate::io::{Io, OpenOptions, WriteFlags};
use crate::rt::{Executor, Policy};
use crate::uring::UringIo;

fn small_ring(park_spin: Duration) -> Rc<Ring> {
    Rc::new(Ring::new(RING_ENTRIES_MIN, park_spin).expect("io_uring ring"))
}

#[test]
fn op_tags_survive_the_generation_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let ring = small_ring(Duration::ZERO);
    // At depth 1 every op reuses slot 0 (the free list is LIFO): a few ops from here
    // cross the generation wrap, which takes 2^31 ops from zero.
    ring.start_generations_at(slab::GENERATION_MAX - 2);
    let io = UringIo::from_ring(ring.clone());
    let ex = Executor::new(ring.clone(), Policy::Fifo);
    ex.block_on(async {
        let opts = OpenOptions {
            read: true,
            write: true,
            create: true,
            direct: true,
            ..OpenOptions::default()
        };
        let f = io.open(&dir.path().join("wrap"), opts).await.unwrap();
        for i in 0..8u64 {
            let data = DmaBuf::from_slice(&[i as u8; 4096]);
            let (w, _) = io.write_at(&f, data, i * 4096, WriteFlags::NONE).await;
            assert_eq!(w.unwrap(), 4096);
            let data = DmaBuf::from_slice(&[i as u8 + 1; 4096]);
            let (w, _) = io.write_then_fdatasync(&f, data, i * 4096).await;
            assert_eq!(w.unwrap(), 4096);
            let (r, back) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, i * 4096).await;
            assert_eq!(r.unwrap(), 4096);
            assert!(back.as_slice().iter().all(|&b| b == i as u8 + 1));
        }
    });
    let s = ring.stats();
    assert_eq!((s.ops_live, s.sqes_in_flight), (0, 0), "{s:?}");
}

#[test]
fn op_tags_round_trip_at_the_edges() {
    for (index, generation) in [(0, 0), ((1 << UD_INDEX_BITS) - 1, slab::GENERATION_MAX)] {
        for part in [0u8, 1] {
            let ud = user_data(Key { index, generation }, part);
            assert!(
                ud >> 63 == 0 && ud != EVENTFD_UD && ud != CANCEL_UD,
                "{ud:#x}"
            );
            assert_eq!(decode_user_data(ud), (index, generation, part as usize));
        }
    }
}

/// A waker that counts its wake-ups.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn counting_waker() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn nop(ring: &Rc<Ring>) -> Op {
    ring.submit(
        &[opcode::Nop::new().build()],
        OpData::None,
        None,
        OpKind::File,
    )
}

/// Polls `op` once: it is pushed, or it completed.
fn poll_once(op: Pin<&mut Op>, waker: &Waker) -> Poll<Completion> {
    op.poll(&mut Context::from_waker(waker))
}

#[test]
fn a_park_that_wakes_a_task_while_arming_the_eventfd_does_not_sleep() {
    let ring = small_ring(Duration::ZERO);
    // The eventfd read armed at setup completes (an unpark) and is reaped, so the
    // next park arms it again.
    ring.unparker().expect("ring unparker").unpark();
    ring.park(None);
    assert!(!ring.eventfd_armed.get());
    // A task's NOP completes at submission; its completion waits in the queue.
    let (woken, waker) = counting_waker();
    let mut done = pin!(nop(&ring));
    assert!(poll_once(done.as_mut(), &waker).is_pending());
    ring.submit_queued();
    // Receives on an idle socket fill the submission queue and never complete.
    let (sock, _peer) = UnixStream::pair().unwrap();
    let sock = Rc::new(OwnedFd::from(sock));
    let (_, idle_waker) = counting_waker();
    let mut idle = Vec::new();
    for _ in 0..ring.info.sq_entries {
        let mut buf = DmaBuf::zeroed(8);
        let e = opcode::Recv::new(types::Fd(sock.as_raw_fd()), buf.as_mut_ptr(), 8).build();
        let mut op =
            Box::pin(ring.submit(&[e], OpData::Buf(buf), Some(sock.clone()), OpKind::Socket));
        assert!(poll_once(op.as_mut(), &idle_waker).is_pending());
        idle.push(op);
    }
    // Arming the eventfd finds the queue full; the submit is refused, so it reaps,
    // which wakes the NOP's task: the park must not then sleep until its deadline.
    ring.busy_submits.set(1);
    let start = std::time::Instant::now();
    ring.park(Some(now().saturating_add(Duration::from_secs(2))));
    let took = start.elapsed();
    assert_eq!(woken.0.load(Ordering::Relaxed), 1, "the reap woke the task");
    assert!(
        took < Duration::from_millis(500),
        "park slept {took:?} with a task ready"
    );
    assert!(poll_once(done.as_mut(), &waker).is_ready());
}

/// Submits `n` NOPs on `ring` (the submission queue is small: most are submitted as
/// it fills, and complete at once, past the completion queue's room) and parks with
/// `deadline` until each has woken its task, at most `parks_max` times. Returns how
/// many woke.
fn overflow_nops(ring: &Rc<Ring>, n: usize, deadline: Option<Instant>, parks_max: usize) -> usize {
    let (woken, waker) = counting_waker();
    let mut ops: Vec<Pin<Box<Op>>> = (0..n).map(|_| Box::pin(nop(ring))).collect();
    for op in &mut ops {
        assert!(poll_once(op.as_mut(), &waker).is_pending());
    }
    for _ in 0..parks_max {
        if woken.0.load(Ordering::Relaxed) == n {
            break;
        }
        ring.park(deadline);
    }
    let n_woken = woken.0.load(Ordering::Relaxed);
    if n_woken == n {
        for op in &mut ops {
            match poll_once(op.as_mut(), &waker) {
                Poll::Ready(c) => assert_eq!(c.results[0], 0),
                Poll::Pending => panic!("an op woke its task but is not done"),
            }
        }
        let s = ring.stats();
        assert_eq!((s.ops_live, s.sqes_in_flight), (0, 0), "{s:?}");
    }
    n_woken
}

#[test]
fn a_busy_core_flushes_an_overflowed_completion_queue() {
    let ring = small_ring(Duration::ZERO);
    let n = ring.info.cq_entries as usize * 4;
    // A core with a task always ready only ever parks without blocking.
    let woken = overflow_nops(&ring, n, Some(Instant::ZERO), 100);
    assert_eq!(
        woken, n,
        "completions held back in the kernel's overflow list"
    );
}

#[test]
fn a_polling_park_sees_an_overflowed_completion_queue() {
    let ring = small_ring(PARK_SPIN_MAX);
    let n = ring.info.cq_entries as usize * 4;
    let woken = overflow_nops(&ring, n, None, 100);
    assert_eq!(woken, n);
    let s = ring.stats();
    assert_eq!(
        s.spins_slept, 0,
        "a park polled out its whole park_spin while completions waited: {s:?}"
    );
}
