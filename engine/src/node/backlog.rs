//! The core's backlog: how much redo its segments hold unmaterialized, and how long the
//! oldest of it has waited. Appends wait when either passes its bound; the coalescer
//! starts a pass when either passes `coalesce_start_percent` of it.
//!
//! What it owns: the core-wide totals ([`Backlog`]) and each segment's arrival list
//! ([`Arrivals`]: the highest LSN and arrival time of each unmaterialized append,
//! oldest first). Every change of either goes through a method here, so the totals
//! cannot drift from the segments: a hot log's byte count moved
//! ([`Backlog::hot_moved`]), an append landed ([`Backlog::landed`]), a pass
//! materialized up to a target ([`Backlog::materialized`]), a truncation annulled a
//! range ([`Backlog::annulled`]).
//!
//! Why totals: an append checks the backlog before it journals anything, and a core may
//! hold thousands of segments; summing them per append would cost more than the append.
//! The byte total is exact at all times (debug builds re-sum it at every check). The
//! oldest arrival is known exactly while arrivals only land, and becomes unknown when
//! one is dropped (materialized or annulled); the next check then finds it once over
//! the segments and caches it again.
//!
//! Must never: read the clock (callers pass the time they read, or the journal's time
//! of its last durable batch), or block.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Duration;

use boreal_segment::Lsn;

use crate::hotlog::LsnRange;
use crate::io::Instant;

/// One segment's unmaterialized appends: `(highest LSN, arrival time)`, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Arrivals(VecDeque<(Lsn, Instant)>);

impl Arrivals {
    /// When the oldest unmaterialized append arrived.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.0.front().map(|&(_, at)| at)
    }

    /// Age at `now` of the oldest unmaterialized append (zero if none).
    pub(crate) fn age(&self, now: Instant) -> Duration {
        self.oldest()
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at))
    }
}

/// The core-wide totals. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    bytes: Cell<usize>,
    /// `Some(x)`: the oldest front of every segment's arrivals is `x` (`None`: all
    /// empty). `None`: unknown (arrivals were dropped since).
    oldest: Cell<Option<Option<Instant>>>,
}

impl Backlog {
    /// A core whose segments hold `bytes` of hot log and arrivals of unknown age.
    pub(crate) fn starting_at(bytes: usize) -> Backlog {
        Backlog {
            bytes: Cell::new(bytes),
            oldest: Cell::new(None),
        }
    }

    /// Unmaterialized bytes over every segment.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.get()
    }

    /// Age at `now` of the oldest unmaterialized append over every segment. When it is
    /// not known, `find` gives it (the oldest of every segment's [`Arrivals::oldest`]),
    /// and it is kept until an arrival is dropped again.
    pub(crate) fn age(&self, now: Instant, find: impl FnOnce() -> Option<Instant>) -> Duration {
        let oldest = match self.oldest.get() {
            Some(known) => known,
            None => {
                let found = find();
                self.oldest.set(Some(found));
                found
            }
        };
        oldest.map_or(Duration::ZERO, |o| now.saturating_duration_since(o))
    }

    /// A segment's hot log went from `before` to `after` bytes.
    pub(crate) fn hot_moved(&self, before: usize, after: usize) {
        self.bytes.set(self.bytes.get() + after - before);
    }

    /// An append whose newest accepted record is `top` landed in a segment at `at`.
    pub(crate) fn landed(&self, arrivals: &mut Arrivals, top: Lsn, at: Instant) {
        if let (true, Some(known)) = (arrivals.0.is_empty(), self.oldest.get()) {
            self.oldest.set(Some(Some(known.map_or(at, |o| o.min(at)))));
        }
        arrivals.0.push_back((top, at));
    }

    /// A pass materialized a segment up to `target`: its appends at or below are no
    /// longer backlog.
    pub(crate) fn materialized(&self, arrivals: &mut Arrivals, target: Lsn) {
        while arrivals.0.front().is_some_and(|&(lsn, _)| lsn <= target) {
            arrivals.0.pop_front();
        }
        self.oldest.set(None);
    }

    /// A truncation annulled `range` of a segment whose hot log is now `hot_empty` or
    /// not: appends whose newest record was annulled no longer age the backlog.
    pub(crate) fn annulled(&self, arrivals: &mut Arrivals, range: LsnRange, hot_empty: bool) {
        arrivals.0.retain(|&(l, _)| !range.contains(l));
        if hot_empty {
            arrivals.0.clear();
        }
        self.oldest.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn oldest_is_kept_while_arrivals_land_and_found_again_after_a_drop() {
        let b = Backlog::starting_at(0);
        let (mut a, mut c) = (Arrivals::default(), Arrivals::default());
        let mut finds = 0;
        // Unknown at start: found once (nothing yet).
        assert_eq!(
            b.age(at(5), || {
                finds += 1;
                None
            }),
            Duration::ZERO
        );
        b.landed(&mut a, Lsn::new(10), at(1));
        b.landed(&mut c, Lsn::new(11), at(2));
        b.landed(&mut a, Lsn::new(12), at(3));
        assert_eq!(b.age(at(10), || unreachable!()), Duration::from_millis(9));
        b.materialized(&mut a, Lsn::new(10));
        let age = b.age(at(10), || {
            finds += 1;
            [a.oldest(), c.oldest()].into_iter().flatten().min()
        });
        assert_eq!(age, Duration::from_millis(8));
        b.annulled(&mut c, LsnRange::new(Lsn::new(10), Lsn::new(20)), false);
        let age = b.age(at(10), || {
            finds += 1;
            [a.oldest(), c.oldest()].into_iter().flatten().min()
        });
        assert_eq!(age, Duration::from_millis(7));
        assert_eq!(finds, 3);
    }

    #[test]
    fn bytes_follow_every_move() {
        let b = Backlog::starting_at(100);
        b.hot_moved(0, 50);
        b.hot_moved(120, 20);
        assert_eq!(b.bytes(), 50);
    }
}
