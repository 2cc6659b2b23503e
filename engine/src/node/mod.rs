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
//! recovered; `open.rs`). The API is split by what a call does: `append.rs`,
//! `control.rs` (segments, fence, truncate, read points), `read.rs` (GetPage@LSN,
//! fetch, status); `engine.rs` holds the state they share, `segment.rs` one segment's,
//! `backlog.rs` the core's backlog totals, `api.rs` the values handed back.
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

mod api;
mod append;
mod backlog;
mod cache;
mod coalescer;
mod config;
mod control;
mod engine;
mod error;
mod notify;
mod open;
mod read;
pub mod recovery;
mod segment;

pub use self::api::{AppendAck, CoreStats, PageImage, SegmentStatus};
pub use self::append::{AppendRecord, PendingAppend};
pub use self::cache::CachedPage;
pub use self::config::EngineConfig;
pub use self::engine::CoreEngine;
pub use self::error::{EngineError, Failure};
pub use self::open::{OpenReport, wal_damage};
pub use self::read::STATUS_HOLES_MAX;
pub use self::recovery::{RECOVERY_TABLE, RecoveryReport, ReplayAction, ReplayCase};
