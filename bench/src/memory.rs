//! The run's I/O buffers against the memory the machine has, checked before anything
//! is written.
//!
//! Every job thread allocates its buffers when it starts: `min(iodepth, engine depth)`
//! buffers of `bs` bytes (fio's `bs × iodepth` per job), each job copy its own. A job
//! that asks for more than the machine has would otherwise abort (allocation failure)
//! or be killed by the OOM killer mid-run, after its files were laid out and other
//! groups measured. So [`check`] adds up what every thread of the run needs and
//! refuses the run up front when that is more than [`USABLE_PERCENT`] of the memory
//! available: `MemAvailable` from `/proc/meminfo`, or the cgroup's `memory.max` minus
//! its `memory.current` when that is lower. Where neither can be read nothing is
//! refused (advice from the OS, never a guess of ours).

use std::path::PathBuf;

use crate::error::BenchError;
use crate::job::EngineName;
use crate::plan::JobInstance;

/// Share of the available memory a run's buffers may take, percent: the rest is for
/// the page cache, the engines' own state and everything else on the machine.
pub const USABLE_PERCENT: u64 = 90;

/// Buffer bytes one thread of `instance` allocates.
pub fn thread_buffer_bytes(instance: &JobInstance) -> u64 {
    let o = &instance.options;
    let depth = match o.ioengine {
        EngineName::Psync => 1,
        EngineName::IoUring => o.iodepth.min(crate::engine::uring::DEPTH_MAX),
        _ => o.iodepth,
    };
    let depth = u64::from(depth);
    o.bs.saturating_mul(depth)
}

/// Bytes of memory available to this process: `MemAvailable`, or less if its cgroup
/// has a lower limit. `None` when neither can be read.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let mem_available = meminfo.as_deref().and_then(mem_available_bytes);
    let cgroup = cgroup_headroom_bytes();
    match (mem_available, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, bytes.
fn mem_available_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `memory.max - memory.current` of this process's cgroup (v2), if it has a limit.
fn cgroup_headroom_bytes() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = PathBuf::from("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let max: u64 = std::fs::read_to_string(dir.join("memory.max"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let current: u64 = std::fs::read_to_string(dir.join("memory.current"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max.saturating_sub(current))
}

/// Refuses the run when its threads' buffers need more than [`USABLE_PERCENT`] of
/// `available` bytes. Threads of one stonewall group run together; groups run one
/// after another and free their buffers, so the largest group is what must fit.
pub fn check(instances: &[JobInstance], available: Option<u64>) -> Result<(), BenchError> {
    let Some(available) = available else {
        return Ok(());
    };
    let usable = available / 100 * USABLE_PERCENT;
    for range in crate::plan::group_ranges(instances) {
        let members = &instances[range];
        let needed = members
            .iter()
            .map(thread_buffer_bytes)
            .fold(0u64, u64::saturating_add);
        if needed > usable {
            let first = &members[0].options;
            return Err(BenchError::Job {
                job: first.name.clone(),
                message: format!(
                    "its I/O buffers need {} (bs {} x iodepth {} x {} thread(s) running together), more than the {} this machine can give them ({USABLE_PERCENT}% of the {} available); lower bs, iodepth or numjobs",
                    human(needed),
                    first.bs,
                    first.iodepth,
                    members.len(),
                    human(usable),
                    human(available),
                ),
            });
        }
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(mem_available_bytes(text), Some(22_000_000 * 1024));
        assert_eq!(mem_available_bytes("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512.0 B");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
