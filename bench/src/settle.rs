//! Waiting for the page cache's dirty data to drain before anything is measured.
//!
//! A fresh `cargo build` (which is how a newcomer starts the main job) leaves hundreds
//! of MB of dirty page cache. Until the kernel has written it back, every durable write
//! on the same disk queues behind it: on the development VM `fdatasync` is up to ~40×
//! slower for about a minute (NVMe-NOTES.md "Dirty pages"). So the main job and
//! `--compare-fio` first ask for write-back (`sync`) and wait, with a bound, until
//! `Dirty` in `/proc/meminfo` is below [`DIRTY_QUIET_BYTES`]; a job file run by hand is
//! left alone, as fio leaves it.
//!
//! Must never: wait without a bound, or fail a run because `/proc/meminfo` or `sync`
//! is missing (then it says so and measures anyway).

use std::time::{Duration, Instant};

/// Dirty page cache below which the disk counts as quiet (NVMe-NOTES "Dirty pages").
pub const DIRTY_QUIET_BYTES: u64 = 20 << 20;

/// The longest a run waits for the page cache to drain.
pub const SETTLE_MAX: Duration = Duration::from_secs(120);

/// How often the wait re-reads `/proc/meminfo`, and prints progress every 10th time.
const POLL: Duration = Duration::from_millis(500);

/// `Dirty:` of a `/proc/meminfo` text, bytes.
pub fn dirty_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("Dirty:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn dirty_now() -> Option<u64> {
    dirty_bytes(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Below the bound from the start: nothing was waited for.
    Quiet,
    /// Drained from `from` bytes in `waited`.
    Drained { from: u64, waited: Duration },
    /// Still `left` bytes after `waited` (the bound): measured anyway.
    TimedOut { left: u64, waited: Duration },
    /// `/proc/meminfo` has no `Dirty:` line here: not checked.
    Unknown,
}

/// Asks for write-back and waits until dirty data is below `quiet` bytes, at most
/// `max`; `say` gets each progress line (to stderr in the binary).
pub fn settle(quiet: u64, max: Duration, mut say: impl FnMut(&str)) -> Settled {
    let Some(from) = dirty_now() else {
        say("cannot read Dirty from /proc/meminfo: not waiting for write-back");
        return Settled::Unknown;
    };
    if from < quiet {
        return Settled::Quiet;
    }
    say(&format!(
        "waiting for {} MB of dirty page cache to be written back first (a build just wrote it; durable writes are many times slower until it is), at most {} s",
        from >> 20,
        max.as_secs()
    ));
    // `sync` starts write-back of everything now and returns when it is done, or is
    // interrupted by the bound below; a missing `sync` only makes the wait longer.
    let mut sync = std::process::Command::new("sync").spawn().ok();
    let start = Instant::now();
    let mut polls = 0u32;
    loop {
        let dirty = dirty_now().unwrap_or(0);
        let waited = start.elapsed();
        if dirty < quiet {
            if let Some(child) = sync.as_mut() {
                let _ = child.wait();
            }
            return Settled::Drained { from, waited };
        }
        if waited >= max {
            if let Some(child) = sync.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            say(&format!(
                "still {} MB dirty after {} s: measuring anyway (durable-write figures of this run may be low)",
                dirty >> 20,
                waited.as_secs()
            ));
            return Settled::TimedOut {
                left: dirty,
                waited,
            };
        }
        polls += 1;
        if polls.is_multiple_of(10) {
            say(&format!(
                "{} MB dirty, {} s waited",
                dirty >> 20,
                waited.as_secs()
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// [`settle`] with the defaults, progress to stderr prefixed `boreal-bench: `.
pub fn before_measuring() -> Settled {
    settle(DIRTY_QUIET_BYTES, SETTLE_MAX, |line| {
        eprintln!("boreal-bench: {line}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_is_read_in_kib() {
        let m = "MemTotal:       24000000 kB\nDirty:             1536 kB\nWriteback:  0 kB\n";
        assert_eq!(dirty_bytes(m), Some(1536 * 1024));
        assert_eq!(dirty_bytes("MemTotal: 1 kB\n"), None);
        assert_eq!(dirty_bytes("Dirty: lots kB\n"), None);
    }

    #[test]
    fn a_quiet_page_cache_is_not_waited_for() {
        // Any machine has less than 1 TiB dirty.
        let mut said = Vec::new();
        let s = settle(1 << 40, Duration::from_secs(1), |l| {
            said.push(l.to_string())
        });
        assert_eq!(s, Settled::Quiet);
        assert!(said.is_empty(), "{said:?}");
    }

    #[test]
    fn the_wait_is_bounded_and_says_so() {
        // A bound of 0 bytes is never reached: the wait must end at `max`.
        let mut said = Vec::new();
        let start = Instant::now();
        let s = settle(0, Duration::from_millis(300), |l| said.push(l.to_string()));
        assert!(start.elapsed() < Duration::from_secs(30));
        match s {
            Settled::TimedOut { waited, .. } => {
                assert!(waited >= Duration::from_millis(300));
                assert!(
                    said.last().unwrap().contains("measuring anyway"),
                    "{said:?}"
                );
            }
            Settled::Unknown => {}
            other => panic!("a 0-byte bound cannot be met: {other:?}"),
        }
    }
}
