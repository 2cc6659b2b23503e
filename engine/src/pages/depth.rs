//! Running page I/Os at depth: up to `depth` futures of one task in flight at once.
//!
//! NVMe-NOTES fact 6: reads and unsynced writes scale with queue depth (4 KiB random
//! reads ~4.9x from depth 1 to 32), so a coalescer pass that reads or writes a page at
//! a time leaves most of the device idle. This is a join with a bound, not a spawn:
//! the futures borrow the pass's state, stay on the calling task, and are dropped
//! (their I/O orphaned, as the runtime allows) if the caller is.
//!
//! It never starts more than `depth` futures at once, and stops starting new ones at
//! the first error (the ones in flight are dropped with it).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// Runs `start(0)`, `start(1)`, ... `start(count - 1)` with at most `depth` in flight,
/// handing each result to `done(i, value)` as it completes (in completion order).
/// Returns the first error.
pub(crate) async fn try_at_depth<T, E, Fut>(
    count: usize,
    depth: usize,
    mut start: impl FnMut(usize) -> Fut,
    mut done: impl FnMut(usize, T),
) -> Result<(), E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let depth = depth.clamp(1, count.max(1));
    let mut slots: Vec<Option<(usize, Pin<Box<Fut>>)>> = (0..depth).map(|_| None).collect();
    let mut next = 0;
    poll_fn(|cx| {
        loop {
            for slot in slots.iter_mut() {
                if slot.is_none() && next < count {
                    *slot = Some((next, Box::pin(start(next))));
                    next += 1;
                }
            }
            let mut finished = false;
            for slot in slots.iter_mut() {
                let Some((i, fut)) = slot else { continue };
                if let Poll::Ready(res) = fut.as_mut().poll(cx) {
                    let i = *i;
                    *slot = None;
                    finished = true;
                    match res {
                        Ok(v) => done(i, v),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
            if next >= count && slots.iter().all(Option::is_none) {
                return Poll::Ready(Ok(()));
            }
            // Something finished: start the next ones and poll them once, so they
            // register their wakers before this task parks.
            if !finished {
                return Poll::Pending;
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::rt::yield_now;
    use crate::sim::{Sim, SimConfig};

    fn executor() -> Sim {
        Sim::new(SimConfig::default())
    }

    #[test]
    fn bounded_and_complete() {
        let in_flight = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let mut got = vec![0u32; 10];
        let res: Result<(), ()> = executor().run(try_at_depth(
            10,
            3,
            |i| {
                let (in_flight, peak) = (in_flight.clone(), peak.clone());
                async move {
                    in_flight.set(in_flight.get() + 1);
                    peak.set(peak.get().max(in_flight.get()));
                    for _ in 0..(i % 4) {
                        yield_now().await;
                    }
                    in_flight.set(in_flight.get() - 1);
                    Ok(i as u32 * 2)
                }
            },
            |i, v| got[i] = v,
        ));
        assert_eq!(res, Ok(()));
        assert_eq!(peak.get(), 3);
        assert_eq!(got, (0..10).map(|i| i * 2).collect::<Vec<u32>>());
    }

    #[test]
    fn stops_at_the_first_error() {
        let started = Cell::new(0usize);
        let res: Result<(), usize> = executor().run(try_at_depth(
            100,
            2,
            |i| {
                started.set(started.get() + 1);
                async move { if i == 3 { Err(i) } else { Ok(()) } }
            },
            |_, ()| {},
        ));
        assert_eq!(res, Err(3));
        assert!(started.get() <= 5);
        assert_eq!(
            executor().run(try_at_depth::<(), (), _>(
                0,
                4,
                |_| async { Ok(()) },
                |_, ()| {}
            )),
            Ok(())
        );
    }
}
