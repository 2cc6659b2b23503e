//! `quorum`: the compute-side shim's protocol logic — the watermarks (PGCL, VCL, VDL)
//! from segment acknowledgements, and volume recovery's decision — as sans-I/O state
//! machines: events in, decisions out, property-tested without a runtime (DESIGN.md
//! §2). The driver that talks to storage nodes sits on top.

pub mod alloc;
mod frames;
mod links;
mod mutations;
mod open;
pub mod recovery;
pub mod routing;
mod shim;
mod unacked;
pub mod volume;
pub mod watermarks;

pub use self::alloc::{AllocError, Allocator, PageChange};
#[doc(hidden)]
pub use self::mutations::Mutations;
pub use self::open::OpenReport;
pub use self::recovery::{Decision, PgView, RecordMark, RecoveryError, SegmentView, decide};
pub use self::shim::{Shim, ShimConfig, ShimError, ShimStats, Submitted};
pub use self::volume::{Member, VolumeConfig};
pub use self::watermarks::{READ_QUORUM, SEGMENTS, WRITE_QUORUM, Watermarks};
