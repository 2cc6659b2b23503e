//! The pipeline window: which batches a journal's last batch header does not prove
//! durable, and where recovery cuts when one of them did not complete.
//!
//! This module owns the rule, sans-I/O, so that recovery (`engine::journal::decide`)
//! and `boreal verify` apply the same one to their own views of a file. It never reads
//! bytes or decides what a region is: callers describe each region as a
//! [`WindowRegion`] (`FORMAT.md`, "Pipelined batches").
//!
//! A batch header of sequence `t` with pipeline window `k` (its flags: `PIPELINED` is 1,
//! `PIPELINED_TWO` is 2) was written while the `k` batches before it may still have been
//! in flight, after `t - k - 1` was durable. Acknowledgements go in sequence order, so
//! if one of `t - k .. t - 1` did not complete, neither it nor anything after it was
//! acknowledged: everything from the first that did not complete is cut. A batch did
//! not complete if its header is torn and a sector lacks its stamp, or if its header is
//! missing and its place holds anything but one region landed in full (its header
//! damaged since) per missing batch. A header inside the window proves what its own
//! window allows: such a batch completed whatever it reads as now.

use crate::ids::BatchSeq;

/// One region of a journal file, as the pipeline window sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowRegion {
    /// A batch header that belongs here: a valid batch, or a torn one whose header is
    /// intact. `incomplete`: torn, and a sector lacks the batch's stamp (the write did
    /// not land in full).
    Header {
        seq: BatchSeq,
        window: u8,
        incomplete: bool,
    },
    /// No readable header, but the region is a batch whose write landed in full, its
    /// header damaged since (every sector carries the stamp that header gives).
    Landed,
    /// Anything else without a header: zeros, garbage, an older generation's batch,
    /// or regions not itemised.
    Other,
}

impl WindowRegion {
    /// A batch header of sequence `seq` and window `window`; `complete`: valid, or torn
    /// with every sector carrying its stamp.
    pub fn header(seq: BatchSeq, window: u8, complete: bool) -> WindowRegion {
        WindowRegion::Header {
            seq,
            window,
            incomplete: !complete,
        }
    }

    fn seq(&self) -> Option<u64> {
        match self {
            WindowRegion::Header { seq, .. } => Some(seq.get()),
            _ => None,
        }
    }

    fn window(&self) -> u8 {
        match self {
            WindowRegion::Header { window, .. } => *window,
            _ => 0,
        }
    }
}

/// Where the window of the last region (which must be a header) cuts: the index of the
/// first region of the first batch that did not complete, and that batch's sequence
/// (appends resume there with it). `None` when every batch of the window completed, the
/// window is 0, or the regions are not what the writer leaves (the usual rules hold).
///
/// `regions` are one file's, in offset order, ending with the last header; they must
/// include the header of `t - k - 1` if it is readable (the writer pipelines only
/// inside one file, never while the oldest batch in flight is the first of its file).
/// If it is not, the walk starts at the window's oldest header if that is `t - k`.
pub fn window_cut(regions: &[WindowRegion]) -> Option<(usize, BatchSeq)> {
    let (last_region, rest) = regions.split_last()?;
    let last = rest.len();
    let k = u64::from(last_region.window());
    if k == 0 {
        return None;
    }
    let t = last_region.seq()?;
    let below = t.checked_sub(k + 1)?;
    let seq = |i: usize| regions[i].seq();
    // The headers before the last, newest first: those in the window, then the one
    // below it.
    let before: Vec<usize> = (0..last).rev().filter(|&i| seq(i).is_some()).collect();
    let in_window = before.iter().take_while(|&&h| seq(h) > Some(below)).count();
    let mut i = match before.get(in_window) {
        Some(&h) if seq(h) == Some(below) => h + 1,
        _ => {
            let &oldest = before[..in_window].last()?;
            if seq(oldest) != Some(below + 1) {
                return None;
            }
            oldest
        }
    };
    let proven = (i..last)
        .filter_map(|j| seq(j)?.checked_sub(u64::from(regions[j].window()) + 1))
        .fold(below, u64::max);
    let mut expect = t - k;
    while i < last {
        if let Some(s) = seq(i) {
            if s != expect {
                return None;
            }
            if expect > proven
                && matches!(
                    regions[i],
                    WindowRegion::Header {
                        incomplete: true,
                        ..
                    }
                )
            {
                return Some((i, BatchSeq::new(expect)));
            }
            expect += 1;
            i += 1;
            continue;
        }
        // Regions after a header and before the next one with no batch missing are
        // the leftovers of a torn batch: they belong to it.
        let run_end = (i..last).find(|&j| seq(j).is_some()).unwrap_or(last);
        let mut missing = seq(run_end)?.checked_sub(expect)?;
        if missing > 0 {
            // One landed region per missing batch, from the front; the first region
            // that is not one is where a batch did not complete (unless a header
            // proves that batch durable). Regions left over once every missing batch is
            // accounted for cannot be told apart: the whole run is cut (or, if a
            // header proves part of it durable, nothing is).
            let first = expect;
            let mut j = i;
            while j < run_end && missing > 0 {
                if regions[j] != WindowRegion::Landed && expect > proven {
                    return Some((j, BatchSeq::new(expect)));
                }
                missing -= 1;
                expect += 1;
                j += 1;
            }
            if j < run_end || missing > 0 {
                return (first > proven).then_some((i, BatchSeq::new(first)));
            }
        }
        i = run_end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::WindowRegion::{Landed, Other};
    use super::*;

    fn h(seq: u64, window: u8) -> WindowRegion {
        WindowRegion::Header {
            seq: BatchSeq::new(seq),
            window,
            incomplete: false,
        }
    }
    fn torn(seq: u64, window: u8) -> WindowRegion {
        WindowRegion::Header {
            seq: BatchSeq::new(seq),
            window,
            incomplete: true,
        }
    }
    fn cut(regions: &[WindowRegion]) -> Option<(usize, u64)> {
        window_cut(regions).map(|(i, s)| (i, s.get()))
    }

    #[test]
    fn a_window_of_one_is_the_version_3_rule() {
        assert_eq!(cut(&[h(1, 0), h(2, 0), torn(3, 0), h(4, 1)]), Some((2, 3)));
        assert_eq!(cut(&[h(1, 0), h(2, 0), Other, h(4, 1)]), Some((2, 3)));
        assert_eq!(cut(&[h(2, 0), Landed, h(4, 1)]), None);
        assert_eq!(cut(&[h(2, 0), h(3, 0), h(4, 1)]), None);
        // Two regions for one missing batch: not what the writer leaves; cut from the
        // first, as version 3 did.
        assert_eq!(cut(&[h(2, 0), Landed, Other, h(4, 1)]), Some((1, 3)));
        // The header below is two back: the usual rules.
        assert_eq!(cut(&[h(2, 0), Other, h(5, 1)]), None);
        // Below header unreadable, the torn window header still tells.
        assert_eq!(cut(&[Other, torn(3, 0), h(4, 1)]), Some((1, 3)));
        // No window, or nothing before it in the file.
        assert_eq!(cut(&[h(1, 0), torn(2, 0), h(3, 0)]), None);
        assert_eq!(cut(&[h(3, 1)]), None);
    }

    #[test]
    fn a_window_of_two_cuts_from_the_first_batch_that_did_not_complete() {
        assert_eq!(cut(&[h(2, 0), h(3, 0), h(4, 1), h(5, 2)]), None);
        assert_eq!(cut(&[h(2, 0), torn(3, 0), h(4, 1), h(5, 2)]), Some((1, 3)));
        assert_eq!(cut(&[h(2, 0), h(3, 0), torn(4, 1), h(5, 2)]), Some((2, 4)));
        assert_eq!(cut(&[h(2, 0), Other, h(5, 2)]), Some((1, 3)));
        assert_eq!(cut(&[h(2, 0), Landed, Landed, h(5, 2)]), None);
        assert_eq!(cut(&[h(2, 0), Landed, Other, h(5, 2)]), Some((2, 4)));
        assert_eq!(cut(&[h(2, 0), h(3, 0), Other, torn(5, 2)]), Some((2, 4)));
        // A header inside the window proves what its own window allows.
        assert_eq!(cut(&[h(2, 0), torn(3, 0), h(4, 0), h(5, 2)]), None);
        assert_eq!(
            cut(&[h(2, 0), torn(3, 0), torn(4, 0), h(5, 2)]),
            Some((2, 4))
        );
        assert_eq!(cut(&[h(2, 0), Other, h(4, 0), h(5, 2)]), None);
        // The header below the window unreadable: start at the oldest window header
        // if it is t - k, else the usual rules.
        assert_eq!(
            cut(&[h(1, 0), Other, h(3, 0), torn(4, 1), h(5, 2)]),
            Some((3, 4))
        );
        assert_eq!(cut(&[h(1, 0), Other, torn(4, 1), h(5, 2)]), None);
        // A sequence out of place inside the window: the usual rules.
        assert_eq!(cut(&[h(2, 0), h(4, 0), h(5, 2)]), None);
    }
}
