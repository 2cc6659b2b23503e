//! SIGINT and SIGTERM: stop measuring, keep what was measured.
//!
//! As fio does, the first SIGINT or SIGTERM ends the run early rather than the process:
//! every job stops issuing I/O, waits for what it has in flight, and the run's report,
//! JSON and logs are written from what was measured so far. A second signal ends the
//! process at once (`_exit`, exit status 128 + signal), for a run stuck in the kernel.
//!
//! The handler only stores the signal number in an atomic; job threads read it where
//! they already check their deadline, so the measured loop gains one relaxed load.
//! Must never: allocate, lock or print inside the handler (none of that is
//! async-signal-safe).

use std::sync::atomic::{AtomicI32, Ordering};

use crate::affinity;

/// The first stop signal received, 0 while none was.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: i32) {
    if STOP_SIGNAL
        .compare_exchange(0, signal, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        affinity::exit_immediately(128 + signal);
    }
}

/// Installs the handler for SIGINT and SIGTERM. Call once, before the run starts.
pub fn install() -> std::io::Result<()> {
    affinity::set_signal_handler(libc::SIGINT, on_signal)?;
    affinity::set_signal_handler(libc::SIGTERM, on_signal)
}

/// The signal that asked the run to stop, if one did.
#[inline]
pub fn requested() -> Option<i32> {
    match STOP_SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

/// Asks the run to stop as a signal would (for tests and for a run that must end).
pub fn request(signal: i32) {
    let _ = STOP_SIGNAL.compare_exchange(0, signal, Ordering::Relaxed, Ordering::Relaxed);
}

/// The signal's name, for messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
