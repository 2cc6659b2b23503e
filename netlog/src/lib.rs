//! boreal-netlog: the network log — wire protocol, storage-node server, and the
//! compute shim that drives the 4-of-6 write quorum.
//!
//! Built so far: [`proto`], the message registry over `boreal-segment`'s network frame
//! (sans-I/O: bytes in, typed messages or typed errors out), with its limits in
//! [`limits`]. The byte layouts are written down in `netlog/PROTOCOL.md`. The node
//! server, the `boreal-node` binary and the quorum shim come in later issues; `proto`
//! depends on no engine type, so each of them converts between its own types and the
//! wire types here.

pub mod limits;
pub mod proto;
