//! boreal-engine: one storage node's engine.
//!
//! The per-core io_uring runtime (`rt`), the `Io`/`Clock` seam (`io`) with a real backend
//! (`uring`) and a deterministic simulated one (`sim`), and (in later work) the journal,
//! hot log, coalescer and page store. It knows nothing of TCP peers or quorums.

pub mod buf;
pub mod io;
pub mod rt;
pub mod sim;
pub mod uring;
