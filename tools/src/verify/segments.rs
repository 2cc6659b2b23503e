//! Checks of the page store's files: the catalog, each segment's metadata file and
//! page file, and how they agree with each other.
//!
//! A slot that is neither zeros nor valid is an error: it is damage, or a write torn by
//! a crash, which the other slot survives but which cannot be told from damage by the
//! bytes alone (the message says so). The one exception the bytes can prove is a page
//! slot whose own header is intact and whose page LSN is above the segment's
//! materialized LSN: no metadata covers it yet, so its records are still in the journal
//! and the engine ignores it; that is a warning.

use std::path::Path;

use boreal_engine::pages::{CatalogEntry, DurableMeta};
use boreal_segment::{Error as FormatError, Lsn, PgId};

use super::Report;
use crate::inspect::shown_name;
use crate::numfmt::grouped;
use crate::progress::Progress;
use crate::store::pages::{self, PageSlot};
use crate::store::slots::{self, Slot, TwoSlots};
use crate::store::{self, CoreDir, Layout, StoreError};

/// Checks the slots of a two-slot file; returns the winner's value.
fn check_slots<'a, T>(
    two: &'a TwoSlots<T>,
    name: &str,
    what: &str,
    report: &mut Report,
) -> Option<&'a T> {
    let expected_len = 2 * two.slot_bytes as u64;
    if two.len < expected_len {
        report.error(
            name,
            Some(two.len),
            format!(
                "file is {} B (expected {} B: two slots of {} B)",
                grouped(two.len),
                grouped(expected_len),
                grouped(two.slot_bytes as u64)
            ),
        );
    }
    if two.trailing_nonzero {
        report.warning(
            name,
            Some(expected_len),
            format!("non-zero bytes after the two {what} slots (expected none)"),
        );
    }
    for (i, slot) in two.slots.iter().enumerate() {
        let offset = (i * two.slot_bytes) as u64;
        match slot {
            Slot::Bad { reason } => {
                let other = if two.winner.is_some() {
                    format!("; the engine uses slot {}", 1 - i)
                } else {
                    String::new()
                };
                report.error(
                    name,
                    Some(offset),
                    format!(
                        "{what} slot {i} damaged: {reason} (expected a valid slot or zeros; a crash during a \
                         {what} write also leaves this{other})"
                    ),
                );
            }
            Slot::Valid { sequence, .. } if *sequence % 2 != i as u64 => report.error(
                name,
                Some(offset),
                format!(
                    "{what} slot {i} holds sequence {sequence}, which the engine writes to slot {} (a misdirected write)",
                    sequence % 2
                ),
            ),
            _ => {}
        }
    }
    if let [
        Slot::Valid { sequence: a, .. },
        Slot::Valid { sequence: b, .. },
    ] = &two.slots
        && a == b
    {
        report.error(
            name,
            Some(two.slot_bytes as u64),
            format!("both {what} slots hold sequence {a} (expected different sequences)"),
        );
    }
    match two.winner {
        Some(w) => match &two.slots[w] {
            Slot::Valid { value, .. } => Some(value),
            _ => None,
        },
        None => {
            report.error(
                name,
                Some(0),
                format!(
                    "no valid {what} slot (expected at least one): the engine cannot open this file"
                ),
            );
            None
        }
    }
}

/// Checks a catalog file on its own; returns its entries.
pub(crate) fn check_catalog_file(
    path: &Path,
    name: &str,
    report: &mut Report,
) -> Result<Option<Vec<CatalogEntry>>, StoreError> {
    let cat = slots::read_catalog(path)?;
    report.checked(cat.len);
    let Some(entries) = check_slots(&cat, name, "catalog", report) else {
        return Ok(None);
    };
    let mut sorted: Vec<&CatalogEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.first_page, e.pg));
    for w in sorted.windows(2) {
        if w[0].first_page.saturating_add(w[0].page_count) > w[1].first_page {
            report.error(
                name,
                None,
                format!(
                    "pages of pg {} [{}, +{}) overlap pages of pg {} from {} (expected disjoint PG ranges)",
                    w[0].pg.get(),
                    grouped(w[0].first_page),
                    grouped(w[0].page_count),
                    w[1].pg.get(),
                    grouped(w[1].first_page)
                ),
            );
        }
    }
    let mut pgs: Vec<PgId> = entries.iter().map(|e| e.pg).collect();
    pgs.sort();
    for w in pgs.windows(2) {
        if w[0] == w[1] {
            report.error(
                name,
                None,
                format!("pg {} is listed twice (expected once)", w[0].get()),
            );
        }
    }
    Ok(Some(entries.clone()))
}

/// Checks a metadata file; `entry` is the catalog's entry for its PG, if known.
pub(crate) fn check_meta_file(
    path: &Path,
    name: &str,
    pg: PgId,
    entry: Option<&CatalogEntry>,
    report: &mut Report,
) -> Result<Option<DurableMeta>, StoreError> {
    let meta = slots::read_meta(path, pg)?;
    report.checked(meta.len);
    let Some(m) = check_slots(&meta, name, "metadata", report) else {
        return Ok(None);
    };
    if let Some(e) = entry
        && e.page_size != m.meta.page_size
    {
        report.error(
            name,
            Some(48),
            format!(
                "page size {} (expected {} from the catalog)",
                grouped(m.meta.page_size.get().into()),
                grouped(e.page_size.get().into())
            ),
        );
    }
    Ok(Some(m.clone()))
}

/// Checks a page file; `meta` is the winning metadata of its segment, if known.
pub(crate) fn check_pages_file(
    dir: &Path,
    path: &Path,
    name: &str,
    pg: PgId,
    meta: Option<&DurableMeta>,
    report: &mut Report,
    progress: &mut Progress,
) -> Result<(), StoreError> {
    let (file, len) = store::open_read(path)?;
    report.checked(len);
    let Some(Layout {
        page_size,
        first_page,
        page_count,
        ..
    }) = store::page_layout(dir, pg, &file, path, len)?
    else {
        if len > 0 {
            report.error(
                name,
                None,
                "page size unknown: no catalog entry, no valid metadata and no intact page header (not checked)".into(),
            );
        }
        return Ok(());
    };
    let ps = page_size.bytes() as u64;
    if !len.is_multiple_of(ps) {
        report.warning(
            name,
            Some(len - len % ps),
            format!(
                "file is {} B, not a whole number of {} B pages (a pre-write cut by a crash; the engine rewrites it)",
                grouped(len),
                grouped(ps)
            ),
        );
    }
    let materialized = meta.map(|m| m.meta.materialized_lsn);
    let mut index = 0u64;
    pages::scan(
        &file,
        path,
        len,
        page_size,
        first_page,
        |pair| {
            let beyond = page_count.is_some_and(|c| index >= c);
            index += 1;
            for (k, slot) in pair.slots.iter().enumerate() {
                let offset = pair.offset + k as u64 * ps;
                let page = pair.page.get();
                match slot {
                    PageSlot::Zeros => {}
                    _ if beyond => report.error(
                        name,
                        Some(offset),
                        format!(
                            "slot {k} past the PG's {} pages holds data (expected zeros)",
                            grouped(page_count.unwrap_or(0))
                        ),
                    ),
                    PageSlot::Valid { .. } => {}
                    PageSlot::Short { bytes } => report.warning(
                        name,
                        Some(offset),
                        format!(
                            "the file ends {} B into slot {k} of page {} (a write cut by a crash)",
                            grouped(*bytes as u64),
                            grouped(page)
                        ),
                    ),
                    PageSlot::Bad { reason, header } => {
                        judge_bad(name, offset, k, page, reason, *header, materialized, report)
                    }
                }
            }
        },
        |done| progress.update(name, done, len),
    )?;
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "a leaf helper that only formats the verdict"
)]
fn judge_bad(
    name: &str,
    offset: u64,
    slot: usize,
    page: u64,
    reason: &FormatError,
    header: Option<(boreal_segment::PageId, Lsn)>,
    materialized: Option<Lsn>,
    report: &mut Report,
) {
    if let FormatError::WrongPageId { got, .. } = reason {
        report.error(
            name,
            Some(offset + 16),
            format!(
                "slot {slot} of page {} holds page {} (expected page {} from its position: a misdirected write)",
                grouped(page),
                grouped(got.get()),
                grouped(page)
            ),
        );
        return;
    }
    if let (Some((_, lsn)), Some(m)) = (header, materialized)
        && lsn > m
    {
        report.warning(
            name,
            Some(offset),
            format!(
                "slot {slot} of page {}: {reason}; its page LSN {} is above the materialized LSN {}, so no metadata \
                 covers it (a page write torn by a crash; its records are still in the journal)",
                grouped(page),
                grouped(lsn.get()),
                grouped(m.get())
            ),
        );
        return;
    }
    let at = match reason {
        FormatError::Checksum {
            what: "page payload",
            ..
        } => offset + 32,
        _ => offset,
    };
    report.error(
        name,
        Some(at),
        format!(
            "slot {slot} of page {} damaged: {reason} (expected zeros or a valid page; a crash during this page's write \
             also leaves this when the other slot holds the newest image)",
            grouped(page)
        ),
    );
}

/// Checks the catalog, metadata and page files of one core; returns the truncations of
/// every segment's winning metadata (for the chain checks).
pub(crate) fn check_core(
    root: &Path,
    core: &CoreDir,
    report: &mut Report,
    progress: &mut Progress,
) -> Result<Vec<(PgId, Lsn, Lsn)>, StoreError> {
    let dir_name = shown_name(root, &core.dir);
    let dir_name = if dir_name.is_empty() {
        ".".to_string()
    } else {
        dir_name
    };
    let entries = match &core.catalog {
        Some(p) => check_catalog_file(p, &shown_name(root, p), report)?,
        None => {
            if !core.metas.is_empty() || !core.pages.is_empty() {
                report.error(
                    &dir_name,
                    None,
                    "segment files but no catalog (expected `catalog`): the engine cannot open this core".into(),
                );
            }
            None
        }
    };
    let entries = entries.unwrap_or_default();
    if core.catalog.is_some() {
        for e in &entries {
            for (have, file) in [
                (
                    core.metas.contains_key(&e.pg),
                    format!("pg-{}.meta", e.pg.get()),
                ),
                (
                    core.pages.contains_key(&e.pg),
                    format!("pg-{}.pages", e.pg.get()),
                ),
            ] {
                if !have {
                    report.error(
                        &shown_name(root, &core.dir.join(&file)),
                        None,
                        format!(
                            "missing: the catalog lists pg {} (expected {file})",
                            e.pg.get()
                        ),
                    );
                }
            }
        }
    }
    let mut truncations = Vec::new();
    let pgs: std::collections::BTreeSet<PgId> = core
        .metas
        .keys()
        .chain(core.pages.keys())
        .copied()
        .collect();
    for pg in pgs {
        let entry = entries.iter().find(|e| e.pg == pg);
        if entry.is_none() && core.catalog.is_some() {
            for p in core.metas.get(&pg).into_iter().chain(core.pages.get(&pg)) {
                report.warning(
                    &shown_name(root, p),
                    None,
                    format!(
                        "pg {} is not in the catalog (files of a segment whose creation was interrupted; the engine \
                         ignores them)",
                        pg.get()
                    ),
                );
            }
        }
        let mut meta = None;
        if let Some(p) = core.metas.get(&pg) {
            meta = check_meta_file(p, &shown_name(root, p), pg, entry, report)?;
        }
        if let Some(m) = &meta {
            truncations.extend(
                m.truncations
                    .iter()
                    .map(|t| (pg, t.range.start, t.range.end)),
            );
        }
        if let Some(p) = core.pages.get(&pg) {
            check_pages_file(
                &core.dir,
                p,
                &shown_name(root, p),
                pg,
                meta.as_ref(),
                report,
                progress,
            )?;
        }
    }
    Ok(truncations)
}
