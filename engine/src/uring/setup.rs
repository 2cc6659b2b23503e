//! Ring setup: the best io_uring flags this kernel takes, the facts obtained
//! ([`RingInfo`]), and the features the runtime cannot do without ([`check_kernel`]).
//!
//! Owns: the list of flag sets tried, best first, and the record of what was refused;
//! the probe for `IORING_ASYNC_CANCEL_ANY` (the ring's params do not report it).
//!
//! Must never: let a runtime start on a kernel that lacks a [`REQUIRED_FEATURES`]
//! entry. Without `EXT_ARG` a timed park fails; without `NODROP` an overflowed
//! completion is lost and its operation's memory held forever; without
//! `ASYNC_CANCEL_ANY` a dropping ring cannot cancel an accept nobody answers and spins
//! out its drain bound. Each refusal names the feature and the Linux release that
//! brings it, at `Runtime::new`, instead of a panic or a stall later. Setup flags are
//! different: they only make the ring faster, so setup falls back without them.
//!
//! Invariants: a [`RingInfo`] describes the ring it was built with, flag for flag; the
//! probe runs on the new ring before anything else is submitted to it.

use std::fmt;
use std::io;

use io_uring::types::CancelBuilder;
use io_uring::{IoUring, opcode};

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
    /// ASYNC_CANCEL takes `IORING_ASYNC_CANCEL_ANY` (probed with a cancel on the new
    /// ring): a dropped ring cancels everything in flight with one request.
    pub async_cancel_any: bool,
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
            " ext_arg={} nodrop={} async_cancel_any={} registered_buffers={}",
            self.ext_arg, self.nodrop, self.async_cancel_any, self.registered_buffers
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
            async_cancel_any: false,
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
                Ok(mut ring) => {
                    let async_cancel_any = probe_async_cancel_any(&mut ring)?;
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
                        async_cancel_any,
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

/// A kernel facility the runtime cannot run without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFeature {
    /// `IORING_FEAT_EXT_ARG`: a park waits for a completion or a timer deadline in one
    /// `io_uring_enter`.
    ExtArg,
    /// `IORING_FEAT_NODROP`: a completion that finds the queue full is kept, not lost
    /// (a lost one would hold its operation's memory forever).
    NoDrop,
    /// `IORING_ASYNC_CANCEL_ANY`: a dropped ring cancels what is in flight (an accept
    /// nobody answers) before it frees the memory the kernel holds.
    AsyncCancelAny,
}

impl KernelFeature {
    /// Its name in the kernel's headers.
    pub fn name(self) -> &'static str {
        match self {
            KernelFeature::ExtArg => "IORING_FEAT_EXT_ARG",
            KernelFeature::NoDrop => "IORING_FEAT_NODROP",
            KernelFeature::AsyncCancelAny => "IORING_ASYNC_CANCEL_ANY",
        }
    }

    /// What the runtime does with it.
    pub fn used_for(self) -> &'static str {
        match self {
            KernelFeature::ExtArg => "timed parks",
            KernelFeature::NoDrop => "no completion lost when the completion queue is full",
            KernelFeature::AsyncCancelAny => "cancelling everything in flight when a ring drops",
        }
    }

    /// The first Linux release that has it, `(major, minor)`.
    pub fn since(self) -> (u32, u32) {
        match self {
            KernelFeature::ExtArg => (5, 11),
            KernelFeature::NoDrop => (5, 5),
            KernelFeature::AsyncCancelAny => (5, 19),
        }
    }
}

/// Ring setup refused: the kernel lacks features the runtime needs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_missing(.missing))]
pub struct KernelTooOld {
    /// What is missing, in [`REQUIRED_FEATURES`] order.
    pub missing: Vec<KernelFeature>,
}

/// Every feature [`check_kernel`] requires.
pub const REQUIRED_FEATURES: [KernelFeature; 3] = [
    KernelFeature::ExtArg,
    KernelFeature::NoDrop,
    KernelFeature::AsyncCancelAny,
];

fn describe_missing(missing: &[KernelFeature]) -> String {
    let mut s = String::from("io_uring on this kernel lacks");
    for (i, f) in missing.iter().enumerate() {
        let (major, minor) = f.since();
        let sep = if i == 0 { " " } else { ", " };
        s += &format!(
            "{sep}{} ({}; Linux {major}.{minor})",
            f.name(),
            f.used_for()
        );
    }
    let (major, minor) = missing.iter().map(|f| f.since()).max().unwrap_or((0, 0));
    s += &format!(": boreal's runtime needs Linux {major}.{minor} or later");
    s
}

/// Refuses a ring whose kernel lacks a [`REQUIRED_FEATURES`] entry, naming each one
/// missing and the kernel release that brings it. A pure function of the facts, so a
/// test can feed it an older kernel's.
pub fn check_kernel(info: &RingInfo) -> Result<(), KernelTooOld> {
    let has = |f: &KernelFeature| match f {
        KernelFeature::ExtArg => info.ext_arg,
        KernelFeature::NoDrop => info.nodrop,
        KernelFeature::AsyncCancelAny => info.async_cancel_any,
    };
    let missing: Vec<KernelFeature> = REQUIRED_FEATURES.into_iter().filter(|f| !has(f)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KernelTooOld { missing })
    }
}

/// Whether ASYNC_CANCEL takes `IORING_ASYNC_CANCEL_ANY`: the params do not say, so a
/// cancel of "any request" goes to the new, empty ring. A kernel that knows the flag
/// finds nothing to cancel (`ENOENT`); an older one refuses the flag (`EINVAL`).
fn probe_async_cancel_any(ring: &mut IoUring) -> io::Result<bool> {
    let cancel = opcode::AsyncCancel2::new(CancelBuilder::any())
        .build()
        .user_data(0);
    // SAFETY: the cancel request points at no memory.
    unsafe { ring.submission().push(&cancel) }
        .map_err(|_| io::Error::other("a new ring's submission queue is full"))?;
    ring.submit_and_wait(1)?;
    let cqe = ring
        .completion()
        .next()
        .ok_or_else(|| io::Error::other("the ASYNC_CANCEL probe did not complete"))?;
    Ok(cqe.result() >= 0 || cqe.result() == -libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ext_arg: bool, nodrop: bool, async_cancel_any: bool) -> RingInfo {
        RingInfo {
            sq_entries: 8,
            cq_entries: 16,
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: false,
            taskrun_flag: false,
            submit_all: false,
            ext_arg,
            nodrop,
            async_cancel_any,
            fallbacks: Vec::new(),
            registered_buffers: false,
        }
    }

    #[test]
    fn a_kernel_with_every_feature_is_accepted() {
        assert_eq!(check_kernel(&info(true, true, true)), Ok(()));
    }

    #[test]
    fn a_kernel_without_a_feature_is_refused_naming_it_and_the_release() {
        // Linux 5.10: NODROP, but neither EXT_ARG nor ASYNC_CANCEL_ANY.
        let err = check_kernel(&info(false, true, false)).unwrap_err();
        assert_eq!(
            err.missing,
            [KernelFeature::ExtArg, KernelFeature::AsyncCancelAny]
        );
        assert_eq!(
            err.to_string(),
            "io_uring on this kernel lacks IORING_FEAT_EXT_ARG (timed parks; Linux 5.11), \
             IORING_ASYNC_CANCEL_ANY (cancelling everything in flight when a ring drops; \
             Linux 5.19): boreal's runtime needs Linux 5.19 or later"
        );
        // Linux 5.15: only the cancel flag is missing.
        let err = check_kernel(&info(true, true, false)).unwrap_err();
        assert_eq!(err.missing, [KernelFeature::AsyncCancelAny]);
        assert!(
            err.to_string().contains("needs Linux 5.19 or later"),
            "{err}"
        );
    }

    #[test]
    fn this_kernel_is_probed_and_accepted() {
        let (_ring, info) = build_ring(8).expect("io_uring ring");
        assert!(
            info.ext_arg && info.nodrop && info.async_cancel_any,
            "{info}"
        );
        assert_eq!(check_kernel(&info), Ok(()));
    }
}
