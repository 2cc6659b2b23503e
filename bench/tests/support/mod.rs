//! What bench's test files share: running the `boreal-bench` binary under test, and an
//! independent look at which `boreal-node` processes run in a directory (`tools`' test
//! support, the one copy, included by path).

// Each test file includes this module and uses only part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../../tools/tests/support/node_procs.rs"]
mod node_procs;

/// The pids of the `boreal-node` processes that run in `dir`.
pub fn nodes_in(dir: &Path) -> Vec<u32> {
    node_procs::node_processes_in(dir)
}

/// The `boreal-bench` binary under test, to be run in `dir` (where it lays out its
/// files and writes its outputs); the caller adds arguments or environment.
pub fn bench_in(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_boreal-bench"));
    command.current_dir(dir);
    command
}

/// Runs `boreal-bench` with `args` in `dir` and waits for it.
pub fn bench(dir: &Path, args: &[&str]) -> Output {
    bench_in(dir).args(args).output().unwrap()
}
