//! boreal-netlog: the network log — wire protocol, storage-node server, and the
//! compute shim that drives the 4-of-6 write quorum.
//!
//! - [`proto`]: the message registry over `boreal-segment`'s network frame (sans-I/O:
//!   bytes in, typed messages or typed errors out), with its limits in [`limits`];
//!   byte layouts in `netlog/PROTOCOL.md`. It depends on no engine type.
//! - [`node`]: the storage-node server (one core per CPU, batched ingestion, reads and
//!   control over the wire, metrics) and what the `boreal-node` binary runs.
//! - [`quorum`]: the compute shim (watermarks, LSN allocation, volume recovery).
//! - [`cluster`]: a local cluster of `boreal-node` processes (`boreal cluster`, and
//!   boreal-bench's cluster engine).

pub mod client;
pub mod cluster;
pub mod limits;
pub mod link;
pub mod node;
pub mod proto;
pub mod quorum;
pub mod sync;
