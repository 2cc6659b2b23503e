//! What the cluster tests share: the binaries they run, a guard that takes a cluster
//! down whatever happens, and an independent look at which `boreal-node` processes
//! run in a directory (read from /proc here, not through the code under test).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

mod node_procs;
pub use node_procs::node_processes_in;

/// `boreal-node` beside the `boreal` binary under test, built (or brought up to date)
/// first: `cargo test -p boreal-tools` alone does not build another package's binary.
pub fn node_bin() -> PathBuf {
    let boreal = PathBuf::from(env!("CARGO_BIN_EXE_boreal"));
    let dir = boreal.parent().unwrap();
    let mut b = Command::new(env!("CARGO"));
    b.args(["build", "-q", "-p", "boreal-netlog", "--bin", "boreal-node"]);
    if dir.file_name().is_some_and(|n| n == "release") {
        b.arg("--release");
    }
    assert!(b.status().unwrap().success(), "building boreal-node failed");
    dir.join("boreal-node")
}

/// `boreal` with `args`; returns (exit code, stdout, stderr).
pub fn boreal(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Takes the cluster in `dir` down when dropped (a failing test leaves nothing).
pub struct Down(pub PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        for pid in node_processes_in(&self.0) {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
        let _ = boreal_netlog::cluster::down(&self.0, Duration::from_secs(2));
    }
}
