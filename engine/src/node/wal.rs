//! The seam between a core's engine and its journal: [`Wal`].
//!
//! The engine needs five things from the per-core journal: append records and return
//! once they are durable (group commit is the journal's business), be told that a
//! segment's redo up to an LSN is materialized and that its metadata records
//! (`Truncate`, `SegmentMeta`) are persisted elsewhere (so journal space may be
//! recycled), a hint when it runs short of space (the coalescer's cue to materialize
//! before its backlog trigger), and, at open, the records that survived a crash in journal order plus
//! what it could not read back. `crate::journal::Journal` provides exactly that (see
//! `journal_wal.rs` for the adapter and `CoreEngine::open_dir`); the trait lets the
//! engine's logic be tested over an in-memory journal ([`MemWal`]) as well.
//!
//! An append that need not wait can also be split in two ([`Wal::try_append`], then
//! [`Wal::poll_durable`]), so a caller with many appends in flight needs no task or
//! future per append (`CoreEngine::try_append`).
//!
//! Contract: `append` returns `Ok` only when every record is durable; `try_append`
//! either takes every record or none, and `poll_durable` is `Ready(Ok)` only when every
//! record it took is durable. `Err(Failed)`
//! means the journal has stopped (fail-stop: it never acknowledges anything later);
//! `Err(Full)` means it had no room for `set_space_wait_max` and goes on once records
//! are released (some of the call's records may have been written, unacknowledged).
//! `release` and `release_meta` never block and never lose a record they do not name.
//! Recovery never drops damage it cannot place: a damaged range whose LSNs are unknown
//! is reported in [`WalRecovery::missing_unplaced`], and the engine turns it into a
//! reported hole above every segment's SCL.

use std::cell::RefCell;
use std::rc::Rc;
use std::task::{Context, Poll};

use boreal_segment::{BatchSeq, Lsn, PgId, Record, SegmentMeta, Truncate};

use crate::hotlog::{LsnRange, OwnedRedo};

/// Why [`Wal::append`] returned without acknowledging the records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalError {
    /// The WAL stopped for good (fail-stop): nothing more will be made durable.
    Failed(String),
    /// No room (every journal file holds records not yet released) for as long as the
    /// WAL waits (`set_space_wait_max`). Not a failure: appends go on once something
    /// is released. The first `encoded` records were written and may become durable
    /// unacknowledged; the rest were not.
    Full {
        reason: String,
        waited_ms: u64,
        encoded: usize,
    },
}

impl std::fmt::Display for WalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalError::Failed(why) => f.write_str(why),
            WalError::Full { reason, .. } => f.write_str(reason),
        }
    }
}

/// A per-core journal as the engine uses it. See the module docs.
#[allow(
    async_fn_in_trait,
    reason = "thread-per-core: futures are deliberately not Send"
)]
pub trait Wal {
    /// Appends `records`; returns once all are durable. `Failed` is final; `Full` is
    /// not (see [`WalError`]).
    async fn append(&self, records: &[Record<'_>]) -> Result<(), WalError>;
    /// Takes all of `records` now without waiting, and returns where they went (for
    /// [`Wal::poll_durable`]); or takes none and returns `None` when they would have to
    /// wait for room: `append` them instead. `Err(Failed)` as for `append`.
    fn try_append(&self, records: &[Record<'_>]) -> Result<Option<BatchSeq>, WalError>;
    /// Whether what a `try_append` took (at `at`) is durable: `Ready(Ok)` once it is,
    /// `Ready(Err(Failed))` if the WAL stopped before, else `Pending` (and `cx`'s waker
    /// is woken when that changes).
    fn poll_durable(&self, at: BatchSeq, cx: &mut Context<'_>) -> Poll<Result<(), WalError>>;
    /// Bounds how long an append waits for room before it returns
    /// [`WalError::Full`]. Default: nothing (a WAL that cannot fill, like [`MemWal`]).
    fn set_space_wait_max(&self, _max: std::time::Duration) {}
    /// Every redo record of `pg` up to `upto` is materialized (durable in the page
    /// store, and the segment's metadata file says so).
    fn release(&self, pg: PgId, upto: Lsn);
    /// Every `Truncate` or `SegmentMeta` record of `pg` appended before this call is
    /// persisted elsewhere (the segment's metadata file) or superseded.
    fn release_meta(&self, pg: PgId);
    /// The journal is running short of free space: the coalescer should materialize
    /// (and so release) now rather than wait for its backlog trigger. Never blocks.
    /// Default: never (a journal that cannot run out, like [`MemWal`]).
    fn wants_release(&self) -> bool {
        false
    }
    /// When the WAL last made a batch durable, by its own clock reading (once per
    /// batch), if that is recent: at most one write+sync old (a batch is in flight).
    /// `None` otherwise, or if the WAL keeps no such time. A busy engine checks its
    /// backlog and stamps arrivals with it instead of reading the clock per append.
    /// Default: `None`.
    fn durable_at(&self) -> Option<crate::io::Instant> {
        None
    }
}

/// An owned journal record, as recovery hands it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalRecord {
    Redo(OwnedRedo),
    Truncate(Truncate),
    SegmentMeta(SegmentMeta),
}

impl WalRecord {
    pub fn from_record(r: &Record<'_>) -> WalRecord {
        match r {
            Record::Redo(r) => WalRecord::Redo(OwnedRedo::from_redo(r)),
            Record::Truncate(t) => WalRecord::Truncate(*t),
            Record::SegmentMeta(m) => WalRecord::SegmentMeta(*m),
        }
    }

    /// The record borrowed from this copy (what replay consumes).
    pub fn as_record(&self) -> Record<'_> {
        match self {
            WalRecord::Redo(r) => Record::Redo(r.as_redo()),
            WalRecord::Truncate(t) => Record::Truncate(*t),
            WalRecord::SegmentMeta(m) => Record::SegmentMeta(*m),
        }
    }

    pub fn pg(&self) -> PgId {
        match self {
            WalRecord::Redo(r) => r.pg_id,
            WalRecord::Truncate(t) => t.pg_id,
            WalRecord::SegmentMeta(m) => m.pg_id,
        }
    }
}

/// What the journal recovered at open, as owned records ([`MemWal`]'s form; the real
/// journal hands `CoreEngine::open_replaying` records borrowed from its read windows
/// instead, so nothing is copied before replay decides what to keep).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalRecovery {
    /// Records that survived, in journal order.
    pub records: Vec<WalRecord>,
    /// LSN ranges the journal could not read back below its tail (damage in the
    /// middle); records of any PG in them may be missing.
    pub missing: Vec<LsnRange>,
    /// Damaged ranges below the tail whose LSNs the journal could not learn (no
    /// readable batch header, or a sequence gap), one line each saying where. Records
    /// of any PG with any LSN above its floor may be in them: the engine reports a hole
    /// from each segment's SCL upwards, so reads above the SCL fail naming it instead
    /// of looking like "not arrived yet".
    pub missing_unplaced: Vec<String>,
}

/// An in-memory journal for tests: appends are durable at once (the `Rc` survives a
/// simulated restart of the engine), `release` and `release_meta` recycle as eagerly
/// as the contract allows, and `fail` makes every later append fail.
#[derive(Clone, Debug, Default)]
pub struct MemWal {
    inner: Rc<RefCell<MemWalState>>,
}

#[derive(Debug, Default)]
struct MemWalState {
    records: Vec<WalRecord>,
    failed: bool,
    appends: u64,
}

impl MemWal {
    pub fn new() -> MemWal {
        MemWal::default()
    }

    /// What a restart would recover.
    pub fn recover(&self) -> WalRecovery {
        WalRecovery {
            records: self.inner.borrow().records.clone(),
            ..WalRecovery::default()
        }
    }

    /// Records held now.
    pub fn len(&self) -> usize {
        self.inner.borrow().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends that succeeded.
    pub fn appends(&self) -> u64 {
        self.inner.borrow().appends
    }

    /// Makes every later append fail (an I/O error).
    pub fn fail(&self) {
        self.inner.borrow_mut().failed = true;
    }
}

impl Wal for MemWal {
    async fn append(&self, records: &[Record<'_>]) -> Result<(), WalError> {
        self.try_append(records).map(|_| ())
    }

    /// Always takes the records: they are "durable" at once.
    fn try_append(&self, records: &[Record<'_>]) -> Result<Option<BatchSeq>, WalError> {
        let mut s = self.inner.borrow_mut();
        if s.failed {
            return Err(WalError::Failed("MemWal: injected failure".into()));
        }
        s.records.extend(records.iter().map(WalRecord::from_record));
        s.appends += 1;
        Ok(Some(BatchSeq::new(s.appends)))
    }

    fn poll_durable(&self, _at: BatchSeq, _cx: &mut Context<'_>) -> Poll<Result<(), WalError>> {
        Poll::Ready(Ok(()))
    }

    fn release(&self, pg: PgId, upto: Lsn) {
        self.inner.borrow_mut().records.retain(|r| match r {
            WalRecord::Redo(r) => r.pg_id != pg || r.lsn > upto,
            _ => true,
        });
    }

    fn release_meta(&self, pg: PgId) {
        self.inner.borrow_mut().records.retain(|r| match r {
            WalRecord::Redo(_) => true,
            other => other.pg() != pg,
        });
    }
}
