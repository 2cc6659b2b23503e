//! `node`: the storage-node server — one process running `cores` pinned cores, each
//! with its own engine (`CoreEngine`: journal, hot log, page store), its own port and
//! its own segments (PG → core by `pg mod cores`, `PROTOCOL.md`), serving shims and
//! peers over the wire protocol of [`crate::proto`].
//!
//! Files: `config` (the node's TOML configuration), `core` (one core: listener,
//! connections, metrics publishing; generic over `Io`, so the whole-cluster simulation
//! runs the very same server), `conn` (one connection: batched ingestion, ordered
//! answers), `dispatch` (control and status requests), `refuse` (engine errors as wire
//! refusals), `gossip` (fetching the records a segment misses from its PG's peers),
//! `metrics` (Prometheus), `process` (threads, pinning, the data directory's lock and
//! identity, signals: what `boreal-node` runs).
//!
//! What it never does: let a record cross cores (each core serves only its PGs and
//! refuses others with `WrongCore`); acknowledge anything the engine has not made
//! durable; let one connection's bad input touch another connection or a segment.

mod config;
mod conn;
mod core;
mod dispatch;
pub mod gossip;
pub mod metrics;
pub mod process;
mod refuse;

pub use self::config::{Durability, EngineSection, JournalSection, NodeConfig};
pub(crate) use self::core::reason_name;
pub use self::core::{CoreCtx, Identity, ServeLimits, serve};
pub use self::gossip::GossipPeers;
pub use self::metrics::{Exporter, NodeMetrics};
pub use crate::sync::Signal;
