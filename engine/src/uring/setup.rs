//! Ring setup: the best io_uring flags this kernel takes, and the facts obtained
//! ([`RingInfo`]).
//!
//! Owns: the list of flag sets tried, best first, and the record of what was refused.
//!
//! Must never: keep a ring whose kernel lacks something the runtime relies on.
//!
//! Invariants: a [`RingInfo`] describes the ring it was built with, flag for flag.

use std::fmt;
use std::io;

use io_uring::IoUring;

/// What ring setup obtained on this kernel. `Display` prints one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub single_issuer: bool,
    pub defer_taskrun: bool,
    pub coop_taskrun: bool,
    /// `IORING_SETUP_TASKRUN_FLAG`: lets a busy core skip `io_uring_enter` when no
    /// completion is pending.
    pub taskrun_flag: bool,
    pub submit_all: bool,
    /// `IORING_FEAT_EXT_ARG` (timed waits without a timeout SQE).
    pub ext_arg: bool,
    /// `IORING_FEAT_NODROP` (completions are never lost on CQ overflow).
    pub nodrop: bool,
    /// Flag sets tried before the one that worked, with the errno each got.
    pub fallbacks: Vec<(String, i32)>,
    /// Registered buffers/files are not used (unregistered buffers everywhere).
    pub registered_buffers: bool,
}

impl fmt::Display for RingInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "io_uring sq={} cq={} setup={}",
            self.sq_entries,
            self.cq_entries,
            self.setup_flags()
        )?;
        write!(
            f,
            " ext_arg={} nodrop={} registered_buffers={}",
            self.ext_arg, self.nodrop, self.registered_buffers
        )?;
        for (flags, errno) in &self.fallbacks {
            write!(f, " refused[{flags}]=errno{errno}")?;
        }
        Ok(())
    }
}

impl RingInfo {
    /// The setup flags obtained, `|`-separated (`NONE` if none).
    pub fn setup_flags(&self) -> String {
        let names = [
            (self.single_issuer, "SINGLE_ISSUER"),
            (self.defer_taskrun, "DEFER_TASKRUN"),
            (self.coop_taskrun, "COOP_TASKRUN"),
            (self.taskrun_flag, "TASKRUN_FLAG"),
            (self.submit_all, "SUBMIT_ALL"),
        ];
        let s: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        if s.is_empty() {
            "NONE".to_string()
        } else {
            s.join("|")
        }
    }
}

#[derive(Clone, Copy)]
struct FlagSet {
    single_issuer: bool,
    defer_taskrun: bool,
    coop_taskrun: bool,
    taskrun_flag: bool,
}

impl FlagSet {
    fn name(self) -> String {
        let info = RingInfo {
            sq_entries: 0,
            cq_entries: 0,
            single_issuer: self.single_issuer,
            defer_taskrun: self.defer_taskrun,
            coop_taskrun: self.coop_taskrun,
            taskrun_flag: self.taskrun_flag,
            submit_all: true,
            ext_arg: false,
            nodrop: false,
            fallbacks: Vec::new(),
            registered_buffers: false,
        };
        info.setup_flags()
    }
}

/// Builds a ring with the best flags this kernel takes, best first.
pub(super) fn build_ring(entries: u32) -> io::Result<(IoUring, RingInfo)> {
    let f = |single_issuer, defer_taskrun, coop_taskrun, taskrun_flag| FlagSet {
        single_issuer,
        defer_taskrun,
        coop_taskrun,
        taskrun_flag,
    };
    let candidates = [
        f(true, true, true, true),
        f(true, true, false, true),
        f(true, true, false, false),
        f(true, false, true, true),
        f(false, false, true, true),
        f(false, false, true, false),
        f(false, false, false, false),
    ];
    let mut fallbacks = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        for submit_all in [true, false] {
            let mut b = IoUring::builder();
            b.dontfork();
            if submit_all {
                b.setup_submit_all();
            }
            if c.single_issuer {
                b.setup_single_issuer();
            }
            if c.defer_taskrun {
                b.setup_defer_taskrun();
            }
            if c.coop_taskrun {
                b.setup_coop_taskrun();
            }
            if c.taskrun_flag {
                b.setup_taskrun_flag();
            }
            match b.build(entries) {
                Ok(ring) => {
                    let p = ring.params();
                    let info = RingInfo {
                        sq_entries: p.sq_entries(),
                        cq_entries: p.cq_entries(),
                        single_issuer: c.single_issuer,
                        defer_taskrun: c.defer_taskrun,
                        coop_taskrun: c.coop_taskrun,
                        taskrun_flag: c.taskrun_flag,
                        submit_all,
                        ext_arg: p.is_feature_ext_arg(),
                        nodrop: p.is_feature_nodrop(),
                        fallbacks,
                        registered_buffers: false,
                    };
                    return Ok((ring, info));
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && i + 1 < candidates.len() => {
                    let mut name = c.name();
                    if !submit_all {
                        name = name
                            .replace("|SUBMIT_ALL", "")
                            .replace("SUBMIT_ALL", "NONE");
                    }
                    fallbacks.push((name, libc::EINVAL));
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && submit_all => {}
                Err(e) => return Err(e),
            }
        }
    }
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}
