//! The human-readable dump: a heading per file, aligned columns, grouped numbers.
//! Journal batches and page slots are printed as they stream by, in fixed-width
//! columns; the small tables (slots, segments) size their columns to their contents.

use std::io::{self, Write};
use std::path::Path;

use boreal_engine::pages::{CatalogEntry, DurableMeta};
use boreal_segment::PgId;

use super::{Emit, InspectOptions, JournalSummary, PagesSummary, RecordBudget, record_fields};
use crate::numfmt::{grouped, plural, size};
use crate::store::journal::{Empty, Item, JournalHead};
use crate::store::pages::{PagePair, PageSlot};
use crate::store::slots::{Slot, TwoSlots};
use crate::store::{CoreDir, Layout};

pub(crate) struct Text<'w> {
    out: &'w mut dyn Write,
    opts: InspectOptions,
}

impl<'w> Text<'w> {
    pub(crate) fn new(out: &'w mut dyn Write, opts: InspectOptions) -> Self {
        Text { out, opts }
    }
}

/// Prints rows with each column as wide as its widest cell; numbers right-aligned.
fn table(out: &mut dyn Write, indent: &str, rows: &[Vec<String>]) -> io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(indent);
        for (c, cell) in row.iter().enumerate() {
            let numeric =
                !cell.is_empty() && cell.chars().all(|ch| ch.is_ascii_digit() || ch == ',');
            if c > 0 {
                line.push_str("  ");
            }
            if numeric {
                line.push_str(&format!("{cell:>w$}", w = widths[c]));
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn slot_rows<T>(
    two: &TwoSlots<T>,
    detail: impl Fn(&T) -> Vec<String>,
    head: &[&str],
) -> Vec<Vec<String>> {
    let mut rows = vec![
        ["slot", "offset", "state", "sequence"]
            .iter()
            .chain(head)
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    ];
    for (i, slot) in two.slots.iter().enumerate() {
        let mut row = vec![
            i.to_string(),
            grouped((i * two.slot_bytes) as u64),
            slot.label().to_string(),
        ];
        match slot {
            Slot::Valid { sequence, value } => {
                row.push(grouped(*sequence));
                row.extend(detail(value));
                if two.winner == Some(i) {
                    row.push("<- wins".into());
                }
            }
            Slot::Bad { reason } => {
                row.push("-".into());
                row.push(reason.clone());
            }
            Slot::Zeros => row.push("-".into()),
        }
        rows.push(row);
    }
    rows
}

/// One record, as a line: the fields of its kind, in the order of FORMAT.md.
fn record_text(r: &boreal_segment::Record<'_>) -> String {
    let (kind, fields, change) = record_fields(r);
    let mut line = format!("{kind:<12}");
    let mut cpl = false;
    let (mut at, mut len) = (0, 0);
    for (k, v) in fields {
        match k {
            "cpl" => cpl = v == 1,
            "change_offset" => at = v,
            "change_len" => len = v,
            _ => line.push_str(&format!(" {k} {}", grouped(v))),
        }
    }
    if let Some(c) = change {
        line.push_str(&format!("  {c} at {} +{} B", grouped(at), grouped(len)));
    }
    if cpl {
        line.push_str("  cpl");
    }
    line
}

fn slot_state(slot: &PageSlot) -> String {
    match slot {
        PageSlot::Zeros => "zeros".into(),
        PageSlot::Valid { page_lsn } => format!("lsn {}", grouped(page_lsn.get())),
        PageSlot::Bad { reason, .. } => format!("BAD: {reason}"),
        PageSlot::Short { bytes } => format!(
            "SHORT: file ends {} B into the slot",
            grouped(*bytes as u64)
        ),
    }
}

impl Emit for Text<'_> {
    fn begin(&mut self, _root: &Path) -> io::Result<()> {
        Ok(())
    }

    fn core(&mut self, core: &CoreDir, shown: &Path) -> io::Result<()> {
        let segments = core.metas.len().max(core.pages.len()) as u64;
        writeln!(
            self.out,
            "== core dir {}: {}{}, {}",
            shown.display(),
            if core.catalog.is_some() {
                "catalog, "
            } else {
                "no catalog, "
            },
            plural(segments, "segment"),
            plural(core.journals.len() as u64, "journal file"),
        )?;
        writeln!(self.out)
    }

    fn unknown(&mut self, name: &str) -> io::Result<()> {
        writeln!(self.out, "{name}: not a boreal file (ignored)")?;
        writeln!(self.out)
    }

    fn catalog(&mut self, name: &str, cat: &TwoSlots<Vec<CatalogEntry>>) -> io::Result<()> {
        writeln!(
            self.out,
            "{name}: catalog, {} B, 2 slots of {} B",
            grouped(cat.len),
            grouped(cat.slot_bytes as u64)
        )?;
        let rows = slot_rows(
            cat,
            |e| vec![plural(e.len() as u64, "segment")],
            &["segments"],
        );
        table(self.out, "  ", &rows)?;
        if let Some(w) = cat.winner
            && let Slot::Valid { value, .. } = &cat.slots[w]
            && !value.is_empty()
        {
            let mut rows = vec![vec![
                "pg".to_string(),
                "page size".into(),
                "first page".into(),
                "pages".into(),
            ]];
            for e in value {
                rows.push(vec![
                    e.pg.get().to_string(),
                    grouped(e.page_size.get().into()),
                    grouped(e.first_page),
                    grouped(e.page_count),
                ]);
            }
            writeln!(self.out, "  segments (slot {w}):")?;
            table(self.out, "    ", &rows)?;
        }
        if cat.trailing_nonzero {
            writeln!(self.out, "  non-zero bytes after the two slots")?;
        }
        writeln!(self.out)
    }

    fn meta(&mut self, name: &str, pg: PgId, meta: &TwoSlots<DurableMeta>) -> io::Result<()> {
        writeln!(
            self.out,
            "{name}: segment metadata of {pg}, {} B, 2 slots of {} B",
            grouped(meta.len),
            grouped(meta.slot_bytes as u64)
        )?;
        let rows = slot_rows(
            meta,
            |m| {
                vec![
                    grouped(m.meta.epoch.get()),
                    grouped(m.meta.materialized_lsn.get()),
                    grouped(m.meta.scl.get()),
                    grouped(m.meta.page_size.get().into()),
                    grouped(m.truncations.len() as u64),
                ]
            },
            &["epoch", "materialized", "scl", "page size", "truncations"],
        );
        table(self.out, "  ", &rows)?;
        if let Some(w) = meta.winner
            && let Slot::Valid { value, .. } = &meta.slots[w]
        {
            for t in &value.truncations {
                writeln!(
                    self.out,
                    "  truncation (slot {w}): epoch {}, lsn ({}, {}]",
                    t.epoch.get(),
                    grouped(t.range.start.get()),
                    grouped(t.range.end.get())
                )?;
            }
        }
        writeln!(self.out)
    }

    fn pages_begin(
        &mut self,
        name: &str,
        pg: PgId,
        len: u64,
        layout: Option<&Layout>,
    ) -> io::Result<()> {
        match layout {
            Some(l) => {
                let count = l.page_count.map_or(String::new(), |c| {
                    format!(", {} pages in the PG", grouped(c))
                });
                writeln!(
                    self.out,
                    "{name}: pages of {pg}, {} B ({}), page size {}, first page {}{count} (layout from the {})",
                    grouped(len),
                    size(len),
                    grouped(l.page_size.get().into()),
                    grouped(l.first_page),
                    l.from
                )?;
                if self.opts.pages {
                    writeln!(
                        self.out,
                        "  {:>12}  {:>15}  {:<40}  {:<40}  newest",
                        "page", "offset", "slot 0", "slot 1"
                    )?;
                }
            }
            None => writeln!(
                self.out,
                "{name}: pages of {pg}, {} B: no catalog entry, metadata or intact page header gives its page size",
                grouped(len)
            )?,
        }
        Ok(())
    }

    fn page_pair(&mut self, pair: &PagePair) -> io::Result<()> {
        writeln!(
            self.out,
            "  {:>12}  {:>15}  {:<40}  {:<40}  {}",
            grouped(pair.page.get()),
            grouped(pair.offset),
            slot_state(&pair.slots[0]),
            slot_state(&pair.slots[1]),
            pair.newest.map_or("-".to_string(), |s| format!("slot {s}"))
        )
    }

    fn pages_end(&mut self, s: &PagesSummary) -> io::Result<()> {
        writeln!(
            self.out,
            "  {} page pairs: {} written; slots: {} valid, {} zeros, {} bad",
            grouped(s.pairs),
            grouped(s.pages_written),
            grouped(s.slots_valid),
            grouped(s.slots_zero),
            grouped(s.slots_bad)
        )?;
        if s.pairs_past_range > 0 {
            writeln!(
                self.out,
                "  plus {} pairs past the PG's pages ({} of them not zeros)",
                grouped(s.pairs_past_range),
                grouped(s.pairs_past_range_nonzero)
            )?;
        }
        writeln!(self.out)
    }

    fn journal_begin(&mut self, name: &str, head: &JournalHead) -> io::Result<()> {
        match &head.header {
            Ok(h) => {
                writeln!(
                    self.out,
                    "{name}: journal file {}, generation {}, alignment {}, size {} B ({}), version {}{}",
                    h.file_id.get(),
                    h.generation.get(),
                    grouped(h.alignment.get().into()),
                    grouped(h.file_size),
                    size(h.file_size),
                    h.version.get(),
                    if head.len != h.file_size {
                        format!("; on disk {} B", grouped(head.len))
                    } else {
                        String::new()
                    }
                )?;
                writeln!(
                    self.out,
                    "  {:>15}  {:>11}  {:>10}  {:>14}  {:>14}  {:>7}  {:>11}  state",
                    "offset", "length", "sequence", "first lsn", "last lsn", "records", "body B"
                )
            }
            Err(e) => writeln!(
                self.out,
                "{name}: journal file, {} B, header unreadable: {e}",
                grouped(head.len)
            ),
        }
    }

    fn journal_item(&mut self, item: &Item<'_>, budget: &mut RecordBudget) -> io::Result<()> {
        match item {
            Item::Batch { offset, view } => {
                let h = view.header();
                writeln!(
                    self.out,
                    "  {:>15}  {:>11}  {:>10}  {:>14}  {:>14}  {:>7}  {:>11}  valid{}",
                    grouped(*offset),
                    grouped(view.padded_len() as u64),
                    grouped(h.sequence.get()),
                    grouped(h.first_lsn.get()),
                    grouped(h.last_lsn.get()),
                    grouped(h.record_count.into()),
                    grouped(h.body_len.into()),
                    window_note(h.window),
                )?;
                // Logical offset in the batch (stamps excluded); shown where it is on disk.
                let mut at = boreal_segment::limits::BATCH_HEADER_SIZE;
                for (i, r) in view.records().enumerate() {
                    let Ok(r) = r else { break };
                    let here = *offset + h.physical_offset(at) as u64;
                    at += r.encoded_len();
                    if !budget.take() {
                        continue;
                    }
                    let line = format!("      #{i:<5} {:>15}  {}", grouped(here), record_text(&r));
                    writeln!(self.out, "{line}")?;
                }
                Ok(())
            }
            Item::Torn {
                offset,
                len,
                header,
                reason,
                complete,
                fault,
                record_fault,
            } => {
                writeln!(
                    self.out,
                    "  {:>15}  {:>11}  {:>10}  {:>14}  {:>14}  {:>7}  {:>11}  TORN ({}){}: {reason}{}",
                    grouped(*offset),
                    grouped(*len),
                    grouped(header.sequence.get()),
                    grouped(header.first_lsn.get()),
                    grouped(header.last_lsn.get()),
                    grouped(header.record_count.into()),
                    grouped(header.body_len.into()),
                    torn_kind(*complete),
                    window_note(header.window),
                    match record_fault {
                        Some(e) => format!("; first bad record at offset {}: {e}", grouped(*fault)),
                        None if *fault != *offset => format!(" (at offset {})", grouped(*fault)),
                        None => String::new(),
                    }
                )
            }
            Item::Empty { offset, len, what } => {
                let state = match what {
                    Empty::Zeros => "zeros".to_string(),
                    Empty::Stale {
                        generation,
                        batches,
                        first_seq,
                        last_seq,
                    } => format!(
                        "stale: {} of generation {} (sequence {}..={})",
                        plural(*batches, "batch"),
                        generation.get(),
                        first_seq.get(),
                        last_seq.get()
                    ),
                    Empty::Garbage { reason, landed, .. } => format!(
                        "GARBAGE: {reason}{}",
                        if *landed {
                            "; a batch whose write landed in full (header damaged since)"
                        } else {
                            ""
                        }
                    ),
                };
                writeln!(
                    self.out,
                    "  {:>15}  {:>11}  {:>10}  {:>14}  {:>14}  {:>7}  {:>11}  {state}",
                    grouped(*offset),
                    grouped(*len),
                    "-",
                    "-",
                    "-",
                    "-",
                    "-"
                )
            }
        }
    }

    fn journal_end(&mut self, s: &JournalSummary, budget: &RecordBudget) -> io::Result<()> {
        writeln!(
            self.out,
            "  {} valid ({} torn), {} records, {} of records; {} zeros, {} stale, {} garbage",
            plural(s.batches_valid, "batch"),
            grouped(s.batches_torn),
            grouped(s.records),
            size(s.body_bytes),
            size(s.zero_bytes),
            size(s.stale_bytes),
            size(s.garbage_bytes)
        )?;
        if budget.cut {
            writeln!(
                self.out,
                "  (record limit reached: later records not shown)"
            )?;
        }
        writeln!(self.out)
    }

    fn end(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// What a torn region's sector stamps say about its write.
pub(crate) fn torn_kind(complete: bool) -> &'static str {
    if complete {
        "damaged after a complete write: every sector carries the batch's stamp"
    } else {
        "torn: incomplete write"
    }
}

/// How a batch's pipeline window reads in the listing.
fn window_note(window: u8) -> &'static str {
    match window {
        0 => "",
        1 => ", pipelined",
        _ => ", pipelined behind two",
    }
}
