//! The node processes as the operating system sees them: finding the `boreal-node`
//! binary, whether a pid is one of this cluster's nodes and in what state
//! (`/proc/<pid>/stat` and `cmdline`), signals, and the last lines of a node's log.
//!
//! A pid alone is never trusted: it may have been reused by another program since the
//! node was started. A pid counts as a node of a directory only while its command line
//! is `boreal-node ... --data-dir <that directory>` (`up` always passes it).

use std::path::{Path, PathBuf};

use rustix::process::{Pid, Signal, kill_process};

use super::ClusterError;

/// The binary's file name.
pub const NODE_BIN: &str = "boreal-node";

/// Where `up` looks for `boreal-node` when not told: beside the running executable,
/// one directory up (a test binary in `target/<profile>/deps/`), then `$PATH`.
pub fn find_node_bin(explicit: Option<&Path>) -> Result<PathBuf, ClusterError> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        return Err(ClusterError::NodeBin {
            looked: vec![p.to_path_buf()],
        });
    }
    let mut looked = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        looked.push(dir.join(NODE_BIN));
        if let Some(up) = dir.parent() {
            looked.push(up.join(NODE_BIN));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        looked.extend(std::env::split_paths(&path).map(|d| d.join(NODE_BIN)));
    }
    match looked.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(ClusterError::NodeBin { looked }),
    }
}

/// A process's state, from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcState {
    /// Running or sleeping: alive.
    Running,
    /// Stopped by a signal (SIGSTOP) or traced: alive, answers nothing.
    Stopped,
    /// Exited, not yet reaped by its parent.
    Zombie,
    /// No such process (or no longer this node).
    Gone,
}

impl ProcState {
    /// Still holds its ports and data directory.
    pub fn alive(self) -> bool {
        matches!(self, ProcState::Running | ProcState::Stopped)
    }
}

/// The state of `pid` if it is the `boreal-node` of `data_dir`, else `Gone`.
pub fn node_state(pid: u32, data_dir: &Path) -> ProcState {
    match node_data_dir(pid) {
        Some(d) if d == data_dir => proc_state(pid),
        _ => ProcState::Gone,
    }
}

/// The state of any `pid`.
pub fn proc_state(pid: u32) -> ProcState {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return ProcState::Gone;
    };
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the
    // last ')'.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    match state {
        Some("Z") => ProcState::Zombie,
        Some("X") | None => ProcState::Gone,
        Some("T") | Some("t") => ProcState::Stopped,
        Some(_) => ProcState::Running,
    }
}

/// The `--data-dir` of `pid` if it runs `boreal-node`.
fn node_data_dir(pid: u32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let argv0 = args.next()?;
    if Path::new(&argv0).file_name()? != NODE_BIN {
        return None;
    }
    while let Some(a) = args.next() {
        if a == "--data-dir" {
            return args.next().map(PathBuf::from);
        }
        if let Some(d) = a.strip_prefix("--data-dir=") {
            return Some(PathBuf::from(d));
        }
    }
    None
}

/// Every `boreal-node` process whose data directory is inside `dir`, with it.
pub fn nodes_under(dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let d = node_data_dir(pid)?;
            (d.starts_with(dir) && proc_state(pid).alive()).then_some((pid, d))
        })
        .collect();
    out.sort();
    out
}

/// Sends `sig` to `pid`. A process already gone is not an error.
pub fn signal(pid: u32, sig: Signal) -> Result<(), std::io::Error> {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Err(std::io::Error::other(format!("{pid} is not a process id")));
    };
    match kill_process(p, sig) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::SRCH => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The pid a node wrote into its data directory's lock file, if any.
pub fn lock_pid(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join(crate::node::process::LOCK_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Lines kept from the end of a node's log in an error.
pub const LOG_TAIL_LINES: usize = 8;
/// Bytes read from the end of a node's log for its tail.
const LOG_TAIL_BYTES: u64 = 16 << 10;

/// The last `lines` lines of `log` (bounded read), or a note that it cannot be read.
pub fn log_tail(log: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let read = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(log)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            if tail.is_empty() {
                "(its log is empty)".to_string()
            } else {
                tail.join("\n")
            }
        }
        Err(e) => format!("(its log {} cannot be read: {e})", log.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_running_and_not_a_node() {
        let me = std::process::id();
        assert_eq!(proc_state(me), ProcState::Running);
        assert_eq!(node_state(me, Path::new("/")), ProcState::Gone);
        assert_eq!(proc_state(u32::MAX - 1), ProcState::Gone);
    }

    #[test]
    fn a_log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        std::fs::write(&log, "a\nb\n\nc\nd\n").unwrap();
        assert_eq!(log_tail(&log, 2), "c\nd");
        assert!(log_tail(&dir.path().join("none"), 2).contains("cannot be read"));
    }

    #[test]
    fn a_missing_binary_is_named_with_where_it_was_looked_for() {
        let e = find_node_bin(Some(Path::new("/nonexistent/boreal-node"))).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("/nonexistent/boreal-node"), "{e}");
        assert!(e.contains("cargo build"), "{e}");
    }
}
