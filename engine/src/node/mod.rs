//! The engine of one core: the segments (one per PG) the core owns, their hot logs, the
//! page store and page cache, the background coalescer, and the journal they share.
//!
//! What it owns: [`CoreEngine`], the API the network layer calls on the core that owns a
//! PG (append, read a page at an LSN, truncate, fence, set the min read point, fetch
//! records for gossip, status), crash recovery of the core (`recovery`), and the
//! coalescer task (`coalescer`). What it must never do: touch another core's state, do
//! I/O or read time except through `I: Io`, acknowledge a record before the journal says
//! it is durable, or let a read see a record above the SCL.
//!
//! A core starts with [`CoreEngine::open_dir`] (page store + journal, created or
//! recovered; `journal_wal`); `CoreEngine::create`/`open` take any [`Wal`] (tests use
//! [`MemWal`]).
//!
//! Segments are created explicitly ([`CoreEngine::create_segment`]): the page size and
//! page range of a PG are volume facts the network layer knows, and creation must be
//! durable (catalog entry after the segment's files) before the first append is
//! acknowledged. An append for an unknown PG is refused with `NoSegment`.
//!
//! Invariants: a record is in a hot log only once the journal made it durable; the
//! materialized LSN is written (metadata file) only after the pages it covers are synced,
//! and the journal is released only after that; every base image the engine uses is
//! complete as of the segment's current floor or newer.

mod cache;
mod coalescer;
mod config;
mod engine;
mod error;
mod journal_wal;
mod notify;
pub mod recovery;
pub mod wal;

pub use self::cache::CachedPage;
pub use self::config::EngineConfig;
pub use self::engine::{AppendAck, CoreEngine, CoreStats, PageImage, PendingAppend, SegmentStatus};
pub use self::error::EngineError;
pub use self::journal_wal::{OpenReport, wal_damage};
pub use self::recovery::{RECOVERY_TABLE, RecoveryReport, ReplayAction, ReplayCase};
pub use self::wal::{MemWal, Wal, WalError, WalRecord, WalRecovery};
