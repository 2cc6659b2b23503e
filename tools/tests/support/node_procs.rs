//! An independent look at which `boreal-node` processes run in a directory, read from
//! /proc here, not through the code under test. Shared by the cluster tests of
//! `tools` and of `bench` (which includes this file by path).

use std::path::Path;

/// The pids of every process whose command line mentions `dir` and runs boreal-node.
pub fn node_processes_in(dir: &Path) -> Vec<u32> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if cmd.contains("boreal-node") && cmd.contains(&needle) && !zombie {
            out.push(pid);
        }
    }
    out
}
