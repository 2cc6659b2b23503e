//! boreal-engine: one storage node's engine.
//!
//! - `rt`: the per-core runtime (a single-threaded executor, timers, channels,
//!   cross-core wake-ups) and its driver seam;
//! - `io`: the `Io`/`Clock` seam every other module goes through, with a real backend
//!   (`uring`, one io_uring per core) and a deterministic, fault-injecting simulated
//!   one (`sim`);
//! - `buf`: aligned, owned I/O buffers (`DmaBuf`);
//! - `journal`: the per-core journal (group commit, pipelining, recycling, recovery);
//! - `hotlog`: each segment's unmaterialized redo and its SCL;
//! - `idmap`: `IdMap`, the hash map for integer ids on hot paths (one multiply, no
//!   SipHash);
//! - `pages`: the page store (page, metadata and catalog files, the I/O buffer pool);
//! - `node`: `CoreEngine`, the per-core engine that ties them together (appends,
//!   GetPage@LSN, control, the coalescer, crash recovery);
//! - `limits`: every limit in one place, with their relations checked at compile time.
//!
//! It knows nothing of TCP peers or quorums (that is `boreal-netlog`).

pub mod buf;
pub mod hotlog;
pub mod idmap;
pub mod io;
pub mod journal;
pub mod limits;
pub mod node;
pub mod pages;
pub mod rt;
pub mod sim;
pub mod uring;
