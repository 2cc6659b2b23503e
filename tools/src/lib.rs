//! boreal-tools: the `boreal` command-line tool.
//!
//! Subcommands live in one module each: [`cluster`] runs a local cluster of storage
//! nodes (through `boreal_netlog::cluster`) and a shim on it; [`report`] turns benchmark output files
//! (boreal-bench or fio JSON, HdrHistogram interval logs) into an HTML page with SVG
//! plots or a text table; [`inspect`] dumps a data dir's on-disk structures; [`verify`]
//! checks every checksum and chain in one and says precisely what is wrong. The reading
//! of data dirs is shared in [`store`], which only ever opens files read-only. The tools
//! read bench output as files, never as Rust types of the bench crate, so they also read
//! fio's own output.

pub mod cluster;
pub mod inspect;
mod numfmt;
pub mod progress;
pub mod report;
pub mod store;
pub mod verify;
