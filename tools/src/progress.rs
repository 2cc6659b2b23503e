//! Progress lines on stderr for long runs, only when stderr is a terminal (so logs and
//! tests never see them), at most a few times a second, erased when done.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::numfmt::size;

const INTERVAL: Duration = Duration::from_millis(250);

/// A throttled one-line progress display.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    /// Shows progress if stderr is a terminal.
    pub fn to_terminal() -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            last: None,
            shown: false,
        }
    }

    /// Never shows anything.
    pub fn off() -> Progress {
        Progress {
            enabled: false,
            last: None,
            shown: false,
        }
    }

    /// Reports `done` of `total` bytes of `what`.
    pub fn update(&mut self, what: &str, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let Some(last) = self.last else {
            self.last = Some(now);
            return;
        };
        if now.duration_since(last) < INTERVAL {
            return;
        }
        self.last = Some(now);
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[K{what}: {} of {} ({pct}%)",
            size(done),
            size(total)
        );
        let _ = err.flush();
        self.shown = true;
    }

    /// Erases the line, if one was shown.
    pub fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.shown = false;
        }
        self.last = None;
    }
}
