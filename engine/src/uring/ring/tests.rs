//! Ring tests that need its insides: op tags across the slab's generation wrap, and
//! parks that reap while they arm the eventfd or find the completion queue
//! overflowed.

use std::rc::Rc;
use std::time::Duration;

use super::*;
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
                ud < EVENTFD_UD && ud < CANCEL_UD && ud >> 63 == 0,
                "{ud:#x}"
            );
            assert_eq!(decode_user_data(ud), (index, generation, part as usize));
        }
    }
}
