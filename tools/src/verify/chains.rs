//! Backlink chains: the LSN rules between records, checked where both ends of a link
//! are in the journal.
//!
//! Every redo record names the previous record of its PG (`prev_lsn_pg`) and of its page
//! (`prev_lsn_page`). LSNs are unique across the volume, so:
//! - one LSN is one record: the same LSN twice with different PG, page or backlinks is
//!   an error (the same record journaled twice, e.g. by a repair, is not);
//! - a backlink that lands on a record present in the journal must land on a record of
//!   the same PG (and, for the page link, the same page);
//! - a backlink never skips a present record: the PG's (page's) record just below this
//!   one in LSN order, if present, is the one it names.
//!
//! Records annulled by a truncation (a `Truncate` record in the journal, or the
//! metadata file's truncation table) are left out: later records link past them. Links
//! whose far end was recycled or never arrived (a hole gossip will fill) are not
//! judged. The index keeps 48 bytes per record and stops at `CHAIN_RECORDS_MAX`.

use std::collections::BTreeMap;

use boreal_segment::{Lsn, PgId, Redo};

use super::Report;
use crate::numfmt::grouped;

/// Most records the chain index holds (48 bytes each).
pub const CHAIN_RECORDS_MAX: usize = 4_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    lsn: u64,
    prev_pg: u64,
    prev_page: u64,
    page: u64,
    offset: u64,
    pg: u32,
    file: u32,
}

/// The redo records of one core's journal, with where each one is.
#[derive(Debug, Default)]
pub(crate) struct ChainIndex {
    links: Vec<Link>,
    truncations: Vec<(PgId, Lsn, Lsn)>,
    /// Records not indexed (past `CHAIN_RECORDS_MAX`).
    pub(crate) dropped: u64,
    /// Shown names of the journal files, by the `file` number given to `push`.
    pub(crate) files: Vec<String>,
}

impl ChainIndex {
    pub(crate) fn push(&mut self, r: &Redo<'_>, file: usize, offset: u64) {
        if self.links.len() >= CHAIN_RECORDS_MAX {
            self.dropped += 1;
            return;
        }
        self.links.push(Link {
            lsn: r.lsn.get(),
            prev_pg: r.prev_lsn_pg.get(),
            prev_page: r.prev_lsn_page.get(),
            page: r.page_id.get(),
            offset,
            pg: r.pg_id.get(),
            file: file as u32,
        });
    }

    pub(crate) fn truncation(&mut self, pg: PgId, start: Lsn, end: Lsn) {
        self.truncations.push((pg, start, end));
    }

    fn name(&self, l: &Link) -> &str {
        self.files
            .get(l.file as usize)
            .map_or("journal", String::as_str)
    }
}

/// Checks the chains; `more_truncations` come from the metadata files.
pub(crate) fn check(
    index: &mut ChainIndex,
    more_truncations: &[(PgId, Lsn, Lsn)],
    report: &mut Report,
) {
    if index.dropped > 0 {
        report.notes.push(format!(
            "backlink chains checked for the first {} records only; {} more were not indexed",
            grouped(CHAIN_RECORDS_MAX as u64),
            grouped(index.dropped)
        ));
    }
    let mut truncs: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for (pg, s, e) in index.truncations.iter().chain(more_truncations) {
        truncs.entry(pg.get()).or_default().push((s.get(), e.get()));
    }
    let annulled = |l: &Link| {
        truncs
            .get(&l.pg)
            .is_some_and(|ranges| ranges.iter().any(|&(s, e)| l.lsn > s && l.lsn <= e))
    };
    let mut links = std::mem::take(&mut index.links);
    links.retain(|l| !annulled(l));
    links.sort_by_key(|l| (l.lsn, l.file, l.offset));
    // One LSN, one record.
    links.dedup_by(|b, a| {
        if a.lsn != b.lsn {
            return false;
        }
        let same = (a.pg, a.page, a.prev_pg, a.prev_page) == (b.pg, b.page, b.prev_pg, b.prev_page);
        if !same {
            report.error(
                index.name(b),
                Some(b.offset),
                format!(
                    "lsn {} is journaled twice with different contents: pg {} page {} here, pg {} page {} in {} at \
                     offset {} (expected one record per LSN)",
                    grouped(b.lsn),
                    b.pg,
                    grouped(b.page),
                    a.pg,
                    grouped(a.page),
                    index.name(a),
                    grouped(a.offset)
                ),
            );
        }
        true
    });
    let find = |lsn: u64| {
        links
            .binary_search_by_key(&lsn, |l| l.lsn)
            .ok()
            .map(|i| &links[i])
    };
    // Predecessors in LSN order, per PG and per (PG, page).
    let mut last_of_pg: BTreeMap<u32, usize> = BTreeMap::new();
    let mut last_of_page: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    for (i, l) in links.iter().enumerate() {
        if l.prev_pg != 0
            && let Some(p) = find(l.prev_pg)
            && p.pg != l.pg
        {
            report.error(
                index.name(l),
                Some(l.offset),
                format!(
                    "lsn {} of pg {} names prev_lsn_pg {}, which is a record of pg {} (in {} at offset {}); expected a \
                     record of pg {}",
                    grouped(l.lsn),
                    l.pg,
                    grouped(l.prev_pg),
                    p.pg,
                    index.name(p),
                    grouped(p.offset),
                    l.pg
                ),
            );
        } else if let Some(&j) = last_of_pg.get(&l.pg) {
            let p = &links[j];
            if l.prev_pg < p.lsn {
                report.error(
                    index.name(l),
                    Some(l.offset),
                    format!(
                        "lsn {} of pg {} names prev_lsn_pg {}, but lsn {} of the same PG lies between (in {} at offset \
                         {}): expected prev_lsn_pg {}",
                        grouped(l.lsn),
                        l.pg,
                        grouped(l.prev_pg),
                        grouped(p.lsn),
                        index.name(p),
                        grouped(p.offset),
                        grouped(p.lsn)
                    ),
                );
            }
        }
        if l.prev_page != 0
            && let Some(p) = find(l.prev_page)
            && (p.pg, p.page) != (l.pg, l.page)
        {
            report.error(
                index.name(l),
                Some(l.offset),
                format!(
                    "lsn {} of page {} names prev_lsn_page {}, which is a record of page {} (in {} at offset {}); \
                     expected a record of page {}",
                    grouped(l.lsn),
                    grouped(l.page),
                    grouped(l.prev_page),
                    grouped(p.page),
                    index.name(p),
                    grouped(p.offset),
                    grouped(l.page)
                ),
            );
        } else if let Some(&j) = last_of_page.get(&(l.pg, l.page)) {
            let p = &links[j];
            if l.prev_page < p.lsn {
                report.error(
                    index.name(l),
                    Some(l.offset),
                    format!(
                        "lsn {} of page {} names prev_lsn_page {}, but lsn {} of the same page lies between (in {} at \
                         offset {}): expected prev_lsn_page {}",
                        grouped(l.lsn),
                        grouped(l.page),
                        grouped(l.prev_page),
                        grouped(p.lsn),
                        index.name(p),
                        grouped(p.offset),
                        grouped(p.lsn)
                    ),
                );
            }
        }
        last_of_pg.insert(l.pg, i);
        last_of_page.insert((l.pg, l.page), i);
    }
}
