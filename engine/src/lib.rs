//! boreal-engine: one storage node's engine.
//!
//! The per-core io_uring runtime (`rt`), the `Io`/`Clock` seam (`io`) with a real backend
//! (`uring`) and a deterministic simulated one (`sim`), the hot log (`hotlog`), the page
//! store (`pages`) and the per-core engine that ties them together (`node`). It knows
//! nothing of TCP peers or quorums.

pub mod buf;
pub mod hotlog;
pub mod io;
pub mod journal;
pub mod node;
pub mod pages;
pub mod rt;
pub mod sim;
pub mod uring;
