//! What waits on the simulated world: the executor's [`Driver`] ([`SimDriver`]: when no
//! task is ready, virtual time jumps to the next event), an operation's future
//! ([`OpFuture`]) and a timer ([`Sleep`], on a node's clock or on virtual time).
//!
//! Owns no state: slots and timers live in the world. Must never: hold a borrow of the
//! world across a waker call, or panic in a destructor (a future dropped while the world
//! is borrowed only skips its cleanup, which the world's own bookkeeping tolerates).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::world::{OpOut, World, WorldRef, with_world};
use crate::io::Instant;
use crate::rt::{Domain, Driver};

/// The executor's [`Driver`] under simulation.
pub(crate) struct SimDriver {
    pub(crate) world: WorldRef,
}

impl Driver for SimDriver {
    fn now(&self) -> Instant {
        self.world.borrow().now
    }

    fn now_in(&self, domain: Domain) -> Instant {
        let w = self.world.borrow();
        match w.nodes.get(domain.node as usize) {
            Some(n) => Instant::from_nanos(n.clock.local(w.now.as_nanos())),
            None => w.now,
        }
    }

    fn deadline_in(&self, domain: Domain, deadline: Instant) -> Instant {
        let w = self.world.borrow();
        match w.nodes.get(domain.node as usize) {
            Some(n) => Instant::from_nanos(n.clock.global_for(deadline.as_nanos())),
            None => deadline,
        }
    }

    fn park(&self, deadline: Option<Instant>) {
        let progressed = with_world(&self.world, |w| w.advance(deadline));
        if !progressed {
            let w = self.world.borrow();
            panic!(
                "simulation stalled: no task is ready and no event, timer or delivery is \
                 pending (seed={}, t={} ns); a task waits for something that can never happen",
                w.config.seed,
                w.now.as_nanos()
            );
        }
    }
}

/// Awaits an operation's slot. Dropping it orphans the op (the op still completes).
pub(crate) struct OpFuture {
    pub(crate) world: WorldRef,
    pub(crate) id: u64,
    pub(crate) done: bool,
}

impl Future for OpFuture {
    type Output = OpOut;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OpOut> {
        assert!(!self.done, "OpFuture polled after completion");
        let r = self.world.borrow_mut().poll_op(self.id, cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if !self.done {
            // try_borrow: a future dropped while the world is borrowed (never by our own
            // code) would otherwise panic inside a destructor.
            if let Ok(mut w) = self.world.try_borrow_mut() {
                w.drop_op(self.id);
            }
        }
    }
}

/// Completes once `node`'s clock (virtual time for `None`) reaches `deadline`.
pub(crate) struct Sleep {
    pub(crate) world: WorldRef,
    pub(crate) node: Option<u32>,
    pub(crate) deadline: Instant,
    /// The armed timer and the virtual instant it fires at.
    pub(crate) timer: Option<(u64, Instant)>,
}

impl World {
    /// The time on `node`'s clock (virtual time for `None`), and the virtual instant at
    /// which that clock reaches `deadline`.
    fn clock_of(&self, node: Option<u32>, deadline: Instant) -> (Instant, Instant) {
        match node {
            None => (self.now, deadline),
            Some(n) => {
                let c = &self.node(n).clock;
                (
                    Instant::from_nanos(c.local(self.now.as_nanos())),
                    Instant::from_nanos(c.global_for(deadline.as_nanos())),
                )
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut w = self.world.borrow_mut();
        let (now, at) = w.clock_of(self.node, self.deadline);
        if now >= self.deadline {
            if let Some((id, _)) = self.timer {
                w.timers.remove(&id);
            }
            drop(w);
            self.timer = None;
            return Poll::Ready(());
        }
        // A clock change since the timer was armed moves the instant: arm anew.
        let id = match self.timer {
            Some((id, armed_at)) if armed_at == at => Some(id),
            Some((id, _)) => {
                w.timers.remove(&id);
                None
            }
            None => None,
        };
        let id = w.timer_register(id, at, cx.waker());
        drop(w);
        self.timer = Some((id, at));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((id, _)) = self.timer
            && let Ok(mut w) = self.world.try_borrow_mut()
        {
            w.timers.remove(&id);
        }
    }
}
