//! What the threads of one stonewall group share: `exitall`, `wait_for` and `flow`.
//!
//! - `exitall`: when a job with it finishes, every thread of the group stops issuing,
//!   as its deadline would stop it ([`GroupShared::exit_all`]).
//! - `wait_for=NAME`: a thread of the waiting job starts (its `t0`) only when every copy
//!   of job NAME in the same group has finished; a job of an earlier group has
//!   finished already. Each job's copies count down a [`Latch`], also when they fail.
//! - `flow=W` (with `flow_id`): fio's token-based flow control. Each job counts its
//!   own I/Os and the group's flow counts all of theirs; a job whose share of the I/Os
//!   is above its share of the weights (`own / all > W / total`) waits before it
//!   issues more, so the jobs' I/O counts keep the ratio of their weights: a job
//!   issues only while `own <= all * W / total`, so it is never more than one I/O
//!   ahead of its share, and a stale read of `all` only makes it wait sooner. The
//!   ratio holds in counts, not per unit of time: a waiting job retries at once (fio's
//!   `flow_sleep=0`) and spins on its CPU, so on a CPU shared with others the jobs
//!   may get only a few I/Os per timeslice.
//!
//! Must never: hold a lock while doing I/O; leave a waiter waiting for a job that
//! failed (the latch counts failures down too).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::plan::JobInstance;

/// Counts down the running copies of one job.
#[derive(Debug, Default)]
pub struct Latch {
    remaining: Mutex<u32>,
    done: Condvar,
}

impl Latch {
    /// A latch for `count` copies.
    pub fn new(count: u32) -> Latch {
        Latch {
            remaining: Mutex::new(count),
            done: Condvar::new(),
        }
    }

    /// One copy finished (or failed).
    pub fn count_down(&self) {
        let mut left = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.done.notify_all();
        }
    }

    /// Waits until every copy finished, or `give_up()` says to stop waiting (checked
    /// every 10 ms).
    pub fn wait(&self, give_up: impl Fn() -> bool) {
        let mut left = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        while *left > 0 && !give_up() {
            left = self
                .done
                .wait_timeout(left, Duration::from_millis(10))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// One `flow_id`'s counters.
#[derive(Debug, Default)]
pub struct Flow {
    all: AtomicU64,
    total_weight: u64,
}

impl Flow {
    /// True when a job of weight `weight` that did `own` of the flow's I/Os is ahead of
    /// its share and must wait.
    pub fn ahead(&self, own: u64, weight: u32) -> bool {
        let all = self.all.load(Ordering::Relaxed);
        if all == 0 || self.total_weight == 0 {
            return false;
        }
        own as f64 / all as f64 > f64::from(weight) / self.total_weight as f64
    }

    /// Counts one I/O of the flow.
    pub fn count(&self) {
        self.all.fetch_add(1, Ordering::Relaxed);
    }
}

/// The shared state of one stonewall group's threads.
#[derive(Debug, Default)]
pub struct GroupShared {
    /// Set when a job with `exitall` finished: every thread stops issuing.
    pub exit_all: AtomicBool,
    /// Per job index (in the run's job set), its copies in this group.
    latches: BTreeMap<usize, Latch>,
    /// Per `flow_id`, its counters.
    flows: BTreeMap<u32, Flow>,
}

impl GroupShared {
    /// The shared state of the group made of `instances`.
    pub fn new(instances: &[JobInstance]) -> GroupShared {
        let mut latches: BTreeMap<usize, u32> = BTreeMap::new();
        let mut weights: BTreeMap<u32, u64> = BTreeMap::new();
        for i in instances {
            *latches.entry(i.job_index).or_default() += 1;
            if i.options.flow > 0 {
                *weights.entry(i.options.flow_id).or_default() += u64::from(i.options.flow);
            }
        }
        GroupShared {
            exit_all: AtomicBool::new(false),
            latches: latches
                .into_iter()
                .map(|(job, n)| (job, Latch::new(n)))
                .collect(),
            flows: weights
                .into_iter()
                .map(|(id, total_weight)| {
                    (
                        id,
                        Flow {
                            all: AtomicU64::new(0),
                            total_weight,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The latch of job `job_index`, if it runs in this group.
    pub fn latch(&self, job_index: usize) -> Option<&Latch> {
        self.latches.get(&job_index)
    }

    /// The flow of `flow_id`, if a job of this group takes part in it.
    pub fn flow(&self, flow_id: u32) -> Option<&Flow> {
        self.flows.get(&flow_id)
    }

    /// True once a job with `exitall` finished.
    pub fn exiting(&self) -> bool {
        self.exit_all.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_keeps_shares_to_weights() {
        let flow = Flow {
            all: AtomicU64::new(0),
            total_weight: 4,
        };
        // Two jobs, weights 3 and 1: simulate taking turns when allowed.
        let (mut a, mut b) = (0u64, 0u64);
        for _ in 0..4000 {
            if !flow.ahead(a, 3) {
                a += 1;
                flow.count();
            }
            if !flow.ahead(b, 1) {
                b += 1;
                flow.count();
            }
        }
        let ratio = a as f64 / b as f64;
        assert!((ratio - 3.0).abs() < 0.05, "{a}:{b}");
    }

    #[test]
    fn a_latch_opens_when_every_copy_is_done() {
        let latch = std::sync::Arc::new(Latch::new(2));
        let l = latch.clone();
        let waiter = std::thread::spawn(move || l.wait(|| false));
        latch.count_down();
        latch.count_down();
        waiter.join().unwrap();
    }
}
