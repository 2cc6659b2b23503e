//! `boreal inspect`: dump what a data dir (or one file) holds, read-only.
//!
//! What it owns: walking a core dir (or each core dir of a node dir) file by file and
//! handing each structure to an emitter: [`text`] for people (aligned columns, grouped
//! numbers), [`json`] for machines (one JSON document, stable field names). It judges
//! nothing beyond what the decoders say about each structure (`verify` judges); it never
//! opens a file for writing, and it streams journal and page files window by window, so
//! memory does not grow with the data: the JSON document is written as it goes.

mod json;
mod text;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use boreal_engine::pages::{CatalogEntry, DurableMeta};
use boreal_segment::{PgId, Record};

use crate::progress::Progress;
use crate::store::journal::{self, Empty, Item, JournalHead};
use crate::store::pages::{self, PagePair, PageSlot};
use crate::store::slots::{self, TwoSlots};
use crate::store::{self, FileKind, Layout, StoreError, Target};

/// What to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InspectOptions {
    /// One JSON document instead of text.
    pub json: bool,
    /// Every record of every valid batch.
    pub records: bool,
    /// Every page slot of every page file (otherwise a summary per file).
    pub pages: bool,
    /// Most records shown in the whole run (with `records`).
    pub limit: Option<u64>,
}

/// Counts of one journal file, for its summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalSummary {
    pub batches_valid: u64,
    pub batches_torn: u64,
    pub records: u64,
    pub body_bytes: u64,
    pub zero_bytes: u64,
    pub stale_bytes: u64,
    pub garbage_bytes: u64,
}

/// Counts of one page file, for its summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagesSummary {
    pub pairs: u64,
    /// Pages with at least one valid slot.
    pub pages_written: u64,
    pub slots_valid: u64,
    pub slots_bad: u64,
    pub slots_zero: u64,
    /// Pairs past the PG's page range (the file grows in pre-written chunks).
    pub pairs_past_range: u64,
    /// Of those, pairs that are not all zeros.
    pub pairs_past_range_nonzero: u64,
}

/// How many more records may be shown.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordBudget {
    pub(crate) show: bool,
    pub(crate) left: Option<u64>,
    pub(crate) cut: bool,
}

impl RecordBudget {
    /// Whether one more record may be shown (and counts it).
    pub(crate) fn take(&mut self) -> bool {
        if !self.show {
            return false;
        }
        match &mut self.left {
            Some(0) => {
                self.cut = true;
                false
            }
            Some(n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }
}

/// A place that structures are shown to.
pub(crate) trait Emit {
    fn begin(&mut self, root: &Path) -> io::Result<()>;
    fn core(&mut self, core: &store::CoreDir, shown: &Path) -> io::Result<()>;
    fn unknown(&mut self, name: &str) -> io::Result<()>;
    fn catalog(&mut self, name: &str, cat: &TwoSlots<Vec<CatalogEntry>>) -> io::Result<()>;
    fn meta(&mut self, name: &str, pg: PgId, meta: &TwoSlots<DurableMeta>) -> io::Result<()>;
    fn pages_begin(
        &mut self,
        name: &str,
        pg: PgId,
        len: u64,
        layout: Option<&Layout>,
    ) -> io::Result<()>;
    fn page_pair(&mut self, pair: &PagePair) -> io::Result<()>;
    fn pages_end(&mut self, summary: &PagesSummary) -> io::Result<()>;
    fn journal_begin(&mut self, name: &str, head: &JournalHead) -> io::Result<()>;
    fn journal_item(&mut self, item: &Item<'_>, budget: &mut RecordBudget) -> io::Result<()>;
    fn journal_end(&mut self, summary: &JournalSummary, budget: &RecordBudget) -> io::Result<()>;
    fn end(&mut self) -> io::Result<()>;
}

/// Inspects `path` and writes the dump to `out`.
pub fn run(path: &Path, opts: &InspectOptions, out: &mut dyn Write) -> Result<(), StoreError> {
    let target = store::discover(path)?;
    let mut emit: Box<dyn Emit + '_> = if opts.json {
        Box::new(json::Json::new(out))
    } else {
        Box::new(text::Text::new(out, *opts))
    };
    let mut budget = RecordBudget {
        show: opts.records,
        left: opts.limit,
        cut: false,
    };
    let mut progress = Progress::to_terminal();
    emit.begin(path)?;
    match &target {
        Target::File { path: file, kind } => {
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let name = file.display().to_string();
            one_file(
                &mut *emit,
                &dir,
                file,
                &name,
                *kind,
                opts,
                &mut budget,
                &mut progress,
            )?;
        }
        Target::Dirs(cores) => {
            for core in cores {
                let shown = shown_dir(path, &core.dir);
                emit.core(core, &shown)?;
                for (kind, file) in core.files() {
                    let name = shown_name(path, file);
                    one_file(
                        &mut *emit,
                        &core.dir,
                        file,
                        &name,
                        kind,
                        opts,
                        &mut budget,
                        &mut progress,
                    )?;
                }
                for file in &core.unknown {
                    emit.unknown(&shown_name(path, file))?;
                }
            }
        }
    }
    progress.clear();
    emit.end()?;
    Ok(())
}

/// How a file is named in reports: relative to the dir the user gave.
pub(crate) fn shown_name(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.display().to_string())
}

fn shown_dir(root: &Path, dir: &Path) -> PathBuf {
    match dir.strip_prefix(root) {
        Ok(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site per target shape; a struct would only rename the arguments"
)]
fn one_file(
    emit: &mut dyn Emit,
    dir: &Path,
    path: &Path,
    name: &str,
    kind: FileKind,
    opts: &InspectOptions,
    budget: &mut RecordBudget,
    progress: &mut Progress,
) -> Result<(), StoreError> {
    match kind {
        FileKind::Catalog => emit.catalog(name, &slots::read_catalog(path)?)?,
        FileKind::Meta(pg) => emit.meta(name, pg, &slots::read_meta(path, pg)?)?,
        FileKind::Pages(pg) => {
            let (file, len) = store::open_read(path)?;
            let layout = store::page_layout(dir, pg, &file, path, len)?;
            emit.pages_begin(name, pg, len, layout.as_ref())?;
            let mut summary = PagesSummary::default();
            if let Some(layout) = layout {
                let mut failed: Option<io::Error> = None;
                pages::scan(
                    &file,
                    path,
                    len,
                    layout.page_size,
                    layout.first_page,
                    |pair| {
                        let past = layout
                            .page_count
                            .is_some_and(|c| pair.page.get() >= layout.first_page + c);
                        let zero = pair.slots.iter().all(|s| *s == PageSlot::Zeros);
                        if past {
                            summary.pairs_past_range += 1;
                            summary.pairs_past_range_nonzero += u64::from(!zero);
                            if zero {
                                return;
                            }
                        }
                        summary.pairs += 1;
                        summary.pages_written += u64::from(pair.newest.is_some());
                        for s in &pair.slots {
                            match s {
                                PageSlot::Valid { .. } => summary.slots_valid += 1,
                                PageSlot::Zeros => summary.slots_zero += 1,
                                PageSlot::Bad { .. } | PageSlot::Short { .. } => {
                                    summary.slots_bad += 1
                                }
                            }
                        }
                        if opts.pages
                            && failed.is_none()
                            && let Err(e) = emit.page_pair(&pair)
                        {
                            failed = Some(e);
                        }
                    },
                    |done| progress.update(name, done, len),
                )?;
                if let Some(e) = failed {
                    return Err(e.into());
                }
            }
            emit.pages_end(&summary)?;
        }
        FileKind::Journal(_) => {
            let (file, len) = store::open_read(path)?;
            let head = journal::read_head(&file, path, len)?;
            emit.journal_begin(name, &head)?;
            let mut summary = JournalSummary::default();
            if let Ok(header) = &head.header {
                let mut failed: Option<io::Error> = None;
                journal::scan(
                    &file,
                    path,
                    header,
                    len,
                    None,
                    |scanned| {
                        let item = scanned.item;
                        count(&mut summary, &item);
                        if failed.is_none()
                            && let Err(e) = emit.journal_item(&item, budget)
                        {
                            failed = Some(e);
                        }
                    },
                    |done| progress.update(name, done, len),
                )?;
                if let Some(e) = failed {
                    return Err(e.into());
                }
            }
            emit.journal_end(&summary, budget)?;
        }
    }
    Ok(())
}

fn count(s: &mut JournalSummary, item: &Item<'_>) {
    match item {
        Item::Batch { view, .. } => {
            s.batches_valid += 1;
            s.records += u64::from(view.header().record_count);
            s.body_bytes += u64::from(view.header().body_len);
        }
        Item::Torn { .. } => s.batches_torn += 1,
        Item::Empty { len, what, .. } => match what {
            Empty::Zeros => s.zero_bytes += len,
            Empty::Stale { .. } => s.stale_bytes += len,
            Empty::Garbage { .. } => s.garbage_bytes += len,
        },
    }
}

/// The fields of a record, shared by both emitters: `(name, value)` pairs in a fixed
/// order, numbers bare.
pub(crate) fn record_fields(
    r: &Record<'_>,
) -> (&'static str, Vec<(&'static str, u64)>, Option<&'static str>) {
    match r {
        Record::Redo(r) => {
            let (change, offset) = match r.change {
                boreal_segment::Change::Delta { offset, .. } => ("delta", u64::from(offset)),
                boreal_segment::Change::Image(_) => ("image", 0),
            };
            (
                "redo",
                vec![
                    ("pg", u64::from(r.pg_id.get())),
                    ("lsn", r.lsn.get()),
                    ("prev_lsn_pg", r.prev_lsn_pg.get()),
                    ("prev_lsn_page", r.prev_lsn_page.get()),
                    ("page", r.page_id.get()),
                    ("cpl", u64::from(r.cpl)),
                    ("change_offset", offset),
                    ("change_len", r.change.bytes().len() as u64),
                ],
                Some(change),
            )
        }
        Record::Truncate(t) => (
            "truncate",
            vec![
                ("pg", u64::from(t.pg_id.get())),
                ("epoch", t.epoch.get()),
                ("start", t.start.get()),
                ("end", t.end.get()),
            ],
            None,
        ),
        Record::SegmentMeta(m) => (
            "segment_meta",
            vec![
                ("pg", u64::from(m.pg_id.get())),
                ("epoch", m.epoch.get()),
                ("materialized_lsn", m.materialized_lsn.get()),
                ("scl", m.scl.get()),
                ("sequence", m.sequence),
                ("page_size", u64::from(m.page_size.get())),
            ],
            None,
        ),
    }
}
