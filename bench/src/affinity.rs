//! CPU placement, per-thread CPU accounting, signal handlers and the file calls std
//! lacks: the few OS calls that need `unsafe`.
//!
//! Pinning job threads (`sched_setaffinity`), reading the process's CPU set
//! (`sched_getaffinity`), a thread's CPU time (`getrusage(RUSAGE_THREAD)`), installing a
//! signal handler (`sigaction`) and leaving at once from one (`_exit`), dropping a
//! file's cached pages (`posix_fadvise(POSIX_FADV_DONTNEED)`), advising the kernel of
//! a job's access pattern (`POSIX_FADV_RANDOM` / `_SEQUENTIAL`), and trimming a range
//! (`BLKDISCARD` on a block device, `fallocate(PUNCH_HOLE)` on a file). This module
//! is the only place in boreal-bench that may use `unsafe` (the workspace tidy test
//! enforces it); each block says why it holds. Everything here is a thin, safe wrapper
//! returning `std::io::Error` from `errno`.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;

use boreal_engine::io::Advice;

/// The CPUs this process may run on (its affinity mask at the time of the call).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bitmask struct; all-zero bytes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 means the calling thread; `set` is a valid, writable cpu_set_t of
    // exactly the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus_max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is initialised and every index is below the set's capacity.
    Ok((0..cpus_max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    pin_current_thread_to(&[cpu])
}

/// Lets the calling thread run on the CPUs of `cpus` only (not empty).
pub fn pin_current_thread_to(cpus: &[usize]) -> io::Result<()> {
    let cpus_max = 8 * size_of::<libc::cpu_set_t>();
    if cpus.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty CPU set".to_string(),
        ));
    }
    // SAFETY: all-zero is the empty cpu set (see allowed_cpus).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= cpus_max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cpu {cpu} is beyond the {cpus_max} CPUs a cpu_set_t holds"),
            ));
        }
        // SAFETY: `cpu` was checked against the set's capacity above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `handler` when the process receives signal `signal` (`SA_RESTART`, so system
/// calls it interrupts are restarted). The handler may only do what is
/// async-signal-safe: store to atomics, or [`exit_immediately`].
pub fn set_signal_handler(signal: i32, handler: extern "C" fn(i32)) -> io::Result<()> {
    // SAFETY: sigaction is plain data; all-zero bytes is a valid value (empty mask, no
    // flags, SIG_DFL).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised; the old action is not asked for (null);
    // `handler` is an `extern "C" fn(i32)` that lives for the whole program.
    let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ends the process at once with `code` (`_exit(2)`: no destructors, no buffered output
/// flushed), the one way out that is safe inside a signal handler.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and takes any status; it never returns.
    unsafe { libc::_exit(code) }
}

/// Drops the page cache of `len` bytes of `file` from `offset`
/// (`posix_fadvise(POSIX_FADV_DONTNEED)`; dirty pages stay until written back).
pub fn drop_page_cache(file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor belongs to `file`, which outlives the call; fadvise reads
    // no memory of ours.
    let rc = unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_DONTNEED,
        )
    };
    // posix_fadvise returns the error number rather than setting errno.
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Tells the kernel how `file` will be read (`posix_fadvise` over the whole file):
/// `Random` turns its readahead off for this open file, `Sequential` doubles the
/// readahead window. fio's `fadvise_hint=1`, its default. Linux keeps the advice per
/// open file description, so it must be given on the descriptor the job reads through.
pub fn advise_access_pattern(file: &std::fs::File, advice: Advice) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor belongs to `file`, which outlives the call; fadvise reads
    // no memory of ours.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, advice.posix()) };
    // posix_fadvise returns the error number rather than setting errno.
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// `BLKDISCARD`: `_IO(0x12, 119)`.
const BLKDISCARD: libc::c_ulong = 0x1277;

/// Trims `len` bytes of `file` from `offset`: `BLKDISCARD` on a block device (what fio
/// does), a punched hole (`FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`) in a regular
/// file (where fio's trim fails with ENOTTY).
pub fn trim(file: &std::fs::File, block_device: bool, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let rc = if block_device {
        let range: [u64; 2] = [offset, len];
        // SAFETY: BLKDISCARD reads a u64[2] (start, length) from the pointer, which
        // points at `range`, alive for the call; `fd` belongs to `file`.
        unsafe { libc::ioctl(fd, BLKDISCARD, range.as_ptr()) }
    } else {
        // SAFETY: `fd` belongs to `file`, alive for the call; fallocate reads no memory.
        unsafe {
            libc::fallocate(
                fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            )
        }
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// CPU time and scheduling counters of the calling thread (fio's `usr_cpu`, `sys_cpu`,
/// `ctx`, `majf`, `minf`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThreadUsage {
    /// User CPU time, microseconds.
    pub user_us: u64,
    /// System CPU time, microseconds.
    pub system_us: u64,
    /// Voluntary plus involuntary context switches.
    pub context_switches: u64,
    /// Major page faults.
    pub major_faults: u64,
    /// Minor page faults.
    pub minor_faults: u64,
}

impl ThreadUsage {
    /// Counters accumulated between `earlier` and `self`.
    pub fn since(&self, earlier: &ThreadUsage) -> ThreadUsage {
        ThreadUsage {
            user_us: self.user_us.saturating_sub(earlier.user_us),
            system_us: self.system_us.saturating_sub(earlier.system_us),
            context_switches: self
                .context_switches
                .saturating_sub(earlier.context_switches),
            major_faults: self.major_faults.saturating_sub(earlier.major_faults),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }
}

/// Resource usage of the calling thread (`getrusage(RUSAGE_THREAD)`).
pub fn thread_usage() -> io::Result<ThreadUsage> {
    // SAFETY: rusage is plain data; all-zero bytes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_THREAD is supported on Linux.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let micros = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    Ok(ThreadUsage {
        user_us: micros(usage.ru_utime),
        system_us: micros(usage.ru_stime),
        context_switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
        major_faults: usage.ru_majflt as u64,
        minor_faults: usage.ru_minflt as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().unwrap().is_empty());
    }

    #[test]
    fn pinning_to_an_allowed_cpu_works_and_a_huge_cpu_is_refused() {
        let cpu = allowed_cpus().unwrap()[0];
        std::thread::spawn(move || pin_current_thread(cpu).unwrap())
            .join()
            .unwrap();
        assert!(pin_current_thread(1 << 20).is_err());
    }
}
