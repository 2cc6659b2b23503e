//! boreal-tools: the `boreal` command-line tool.
//!
//! Subcommands live in one module each; [`report`] turns benchmark output files
//! (boreal-bench or fio JSON, HdrHistogram interval logs) into an HTML page with SVG
//! plots or a text table. The tools read bench output as files, never as Rust types of
//! the bench crate, so they also read fio's own output.

pub mod report;
