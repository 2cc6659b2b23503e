//! `boreal cluster check`: opens the volume of a cluster as a new shim would (volume
//! recovery: a new epoch fences any older shim, SCLs from a read quorum, the
//! truncation above the recovered VDL; its report and how long it took are printed),
//! then reads every slot the acked file of `load` names and judges them
//! (`workload::judge`): every acknowledged commit must be readable.
//!
//! It writes nothing but what volume recovery writes (the epoch and the truncation).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use boreal_engine::rt::{Runtime, RuntimeConfig};
use boreal_netlog::cluster::ClusterFile;
use boreal_netlog::quorum::{OpenReport, Shim, ShimConfig};
use boreal_segment::PageId;

use super::workload::{Acked, Loc, SLOT_BYTES, Violation, judge};
use super::{CmdError, write_open_report};
use crate::numfmt::grouped;

/// Violations printed (all are counted).
const VIOLATIONS_SHOWN: usize = 20;

/// What a check found.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub open: OpenReport,
    /// How long volume recovery (`Shim::open`) took.
    pub recovery: Duration,
    pub commits: u64,
    pub locations: usize,
    pub pages: usize,
    pub violations: Vec<Violation>,
}

/// Runs the check (see the module docs), printing to `out`.
pub fn run(
    dir: &std::path::Path,
    acked_path: &PathBuf,
    out: &mut dyn Write,
) -> Result<CheckReport, CmdError> {
    let file = ClusterFile::load(dir)?;
    let text = std::fs::read_to_string(acked_path)
        .map_err(|e| CmdError::io("read the acked file", acked_path, e))?;
    let acked = Acked::parse(&text).map_err(|why| CmdError::Acked {
        path: acked_path.clone(),
        why,
    })?;
    let rt = Runtime::new(RuntimeConfig::default())
        .map_err(|e| CmdError::Runtime(format!("cannot start boreal's io_uring runtime: {e}")))?;
    let io = rt.io().clone();
    let started = Instant::now();
    let (shim, open) = rt
        .block_on(Shim::open(io, ShimConfig::new(file.volume())))
        .map_err(CmdError::Shim)?;
    let recovery = started.elapsed();
    write_open_report(out, &open, recovery).map_err(CmdError::Output)?;
    let locations = acked.locations();
    let mut pages: BTreeMap<u64, Vec<Loc>> = BTreeMap::new();
    for l in &locations {
        pages.entry(l.page).or_default().push(*l);
    }
    let mut seen: BTreeMap<Loc, Vec<u8>> = BTreeMap::new();
    let mut violations = Vec::new();
    if acked.cpl_max > open.vdl.get() {
        violations.push(Violation {
            loc: Loc { page: 0, offset: 0 },
            what: format!(
                "an acknowledged commit's CPL {} is above the recovered VDL {}",
                acked.cpl_max, open.vdl
            ),
        });
    }
    rt.block_on(async {
        for (&page, locs) in &pages {
            match shim.read_page(PageId::new(page)).await {
                Ok((_, payload)) => {
                    for l in locs {
                        let at = l.offset as usize;
                        if let Some(b) = payload.get(at..at + SLOT_BYTES) {
                            seen.insert(*l, b.to_vec());
                        }
                    }
                }
                Err(e) => violations.push(Violation {
                    loc: locs[0],
                    what: format!("page {page} cannot be read: {e}"),
                }),
            }
        }
    });
    violations.extend(judge(&acked, &seen));
    let report = CheckReport {
        open,
        recovery,
        commits: acked.commits,
        locations: locations.len(),
        pages: pages.len(),
        violations,
    };
    write_verdict(out, &report, &acked).map_err(CmdError::Output)?;
    Ok(report)
}

fn write_verdict(out: &mut dyn Write, r: &CheckReport, acked: &Acked) -> std::io::Result<()> {
    writeln!(
        out,
        "checked {} acknowledged commits of {} runs (highest CPL {}){}: {} slots on {} pages",
        grouped(r.commits),
        acked.layouts.len(),
        acked.cpl_max,
        if acked.torn_tail {
            ", a torn last line ignored"
        } else {
            ""
        },
        grouped(r.locations as u64),
        grouped(r.pages as u64)
    )?;
    if r.violations.is_empty() {
        writeln!(
            out,
            "every acknowledged commit is readable; no mini-transaction is cut"
        )?;
    } else {
        for v in r.violations.iter().take(VIOLATIONS_SHOWN) {
            writeln!(
                out,
                "VIOLATION page {} offset {}: {}",
                v.loc.page, v.loc.offset, v.what
            )?;
        }
        writeln!(out, "{} violations", r.violations.len())?;
    }
    out.flush()
}
