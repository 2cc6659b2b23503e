//! The machine-readable dump: one JSON document, written as it goes so that memory does
//! not grow with the data. Field names are stable (snake_case, numbers bare, LSNs and
//! ids as plain integers); a field is added, never renamed.
//!
//! Shape: `{"format": "boreal-inspect", "format_version": 1, "path": .., "files": [..]}`,
//! one object per file with `"kind"` one of `catalog`, `meta`, `pages`, `journal`,
//! `unknown`. Journal files carry `"regions"` (each with `"state"` one of `valid`,
//! `torn`, `zeros`, `stale`, `garbage`; a torn one says `"write_complete"`: whether
//! every sector carries the batch's stamp, i.e. the write landed in full and was damaged
//! after it); valid and torn ones say `"pipelined"`: the batch was written while the one
//! before it was in flight, and `"window"`: how many batches before it may have been in
//! flight (0, 1 or 2), so its header proves only the batch `window + 1` before it durable;
//! a garbage one says `"landed"`: its first block is a batch whose write landed in full
//! and whose header was damaged since, so it may have been acknowledged, and
//! `"header_correctable"`: one flipped bit of that header, which recovery corrects),
//! page files `"pages"` (with `--pages`) and a `"summary"` each.

use std::io::{self, Write};
use std::path::Path;

use boreal_engine::pages::{CatalogEntry, DurableMeta};
use boreal_segment::PgId;
use serde_json::{Map, Value, json};

use super::{Emit, JournalSummary, PagesSummary, RecordBudget, record_fields};
use crate::store::journal::{Empty, Item, JournalHead};
use crate::store::pages::{PagePair, PageSlot};
use crate::store::slots::{Slot, TwoSlots};
use crate::store::{CoreDir, Layout};

pub(crate) struct Json<'w> {
    out: &'w mut dyn Write,
    /// A file object was written (the next needs a comma).
    files_started: bool,
    /// An element of the array being streamed was written.
    items_started: bool,
    core_dir: String,
}

impl<'w> Json<'w> {
    pub(crate) fn new(out: &'w mut dyn Write) -> Self {
        Json {
            out,
            files_started: false,
            items_started: false,
            core_dir: String::new(),
        }
    }

    fn file_start(&mut self) -> io::Result<()> {
        if self.files_started {
            write!(self.out, ",")?;
        }
        self.files_started = true;
        writeln!(self.out)
    }

    /// Writes `object` without its closing brace, then `,"key":[`, to stream an array.
    fn open_array(&mut self, object: Value, key: &str) -> io::Result<()> {
        let text = serde_json::to_string(&object).map_err(io::Error::other)?;
        let body = text.strip_suffix('}').unwrap_or(&text);
        let sep = if body.ends_with('{') { "" } else { "," };
        write!(self.out, "{body}{sep}\"{key}\":[")?;
        self.items_started = false;
        Ok(())
    }

    fn item(&mut self, v: &Value) -> io::Result<()> {
        if self.items_started {
            write!(self.out, ",")?;
        }
        self.items_started = true;
        write!(self.out, "\n  ")?;
        serde_json::to_writer(&mut *self.out, v).map_err(io::Error::other)
    }

    fn close_array(&mut self, rest: Value) -> io::Result<()> {
        let text = serde_json::to_string(&rest).map_err(io::Error::other)?;
        let inner = text.strip_prefix('{').unwrap_or(&text);
        if inner == "}" {
            write!(self.out, "]}}")
        } else {
            write!(self.out, "],{inner}")
        }
    }

    fn base(&self, kind: &str, name: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("kind".into(), json!(kind));
        m.insert("path".into(), json!(name));
        m.insert("core_dir".into(), json!(self.core_dir));
        m
    }
}

fn slots_json<T>(two: &TwoSlots<T>, detail: impl Fn(&T) -> Value) -> Value {
    let slots: Vec<Value> = two
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut m = Map::new();
            m.insert("slot".into(), json!(i));
            m.insert("offset".into(), json!(i * two.slot_bytes));
            m.insert("state".into(), json!(s.label()));
            match s {
                Slot::Valid { sequence, value } => {
                    m.insert("sequence".into(), json!(sequence));
                    if let Value::Object(d) = detail(value) {
                        m.extend(d);
                    }
                }
                Slot::Bad { reason } => {
                    m.insert("reason".into(), json!(reason));
                }
                Slot::Zeros => {}
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(slots)
}

fn page_slot_json(s: &PageSlot) -> Value {
    match s {
        PageSlot::Zeros => json!({"state": "zeros"}),
        PageSlot::Valid { page_lsn } => json!({"state": "valid", "page_lsn": page_lsn.get()}),
        PageSlot::Bad { reason, header } => {
            let mut v = json!({"state": "bad", "reason": reason.to_string()});
            if let Some((page, lsn)) = header {
                v["header_page"] = json!(page.get());
                v["header_page_lsn"] = json!(lsn.get());
            }
            v
        }
        PageSlot::Short { bytes } => json!({"state": "short", "bytes": bytes}),
    }
}

impl Emit for Json<'_> {
    fn begin(&mut self, root: &Path) -> io::Result<()> {
        let head = json!({
            "format": "boreal-inspect",
            "format_version": 1,
            "path": root.display().to_string(),
        });
        self.open_array(head, "files")
    }

    fn core(&mut self, _core: &CoreDir, shown: &Path) -> io::Result<()> {
        self.core_dir = shown.display().to_string();
        Ok(())
    }

    fn unknown(&mut self, name: &str) -> io::Result<()> {
        self.file_start()?;
        let v = Value::Object(self.base("unknown", name));
        serde_json::to_writer(&mut *self.out, &v).map_err(io::Error::other)
    }

    fn catalog(&mut self, name: &str, cat: &TwoSlots<Vec<CatalogEntry>>) -> io::Result<()> {
        self.file_start()?;
        let mut m = self.base("catalog", name);
        m.insert("bytes".into(), json!(cat.len));
        m.insert("slot_bytes".into(), json!(cat.slot_bytes));
        m.insert(
            "slots".into(),
            slots_json(cat, |entries| {
                let segs: Vec<Value> = entries
                    .iter()
                    .map(|e| {
                        json!({
                            "pg": e.pg.get(),
                            "page_size": e.page_size.get(),
                            "first_page": e.first_page,
                            "page_count": e.page_count,
                        })
                    })
                    .collect();
                json!({ "segments": segs })
            }),
        );
        m.insert("winner".into(), json!(cat.winner));
        m.insert("trailing_nonzero".into(), json!(cat.trailing_nonzero));
        serde_json::to_writer(&mut *self.out, &Value::Object(m)).map_err(io::Error::other)
    }

    fn meta(&mut self, name: &str, pg: PgId, meta: &TwoSlots<DurableMeta>) -> io::Result<()> {
        self.file_start()?;
        let mut m = self.base("meta", name);
        m.insert("pg".into(), json!(pg.get()));
        m.insert("bytes".into(), json!(meta.len));
        m.insert("slot_bytes".into(), json!(meta.slot_bytes));
        m.insert(
            "slots".into(),
            slots_json(meta, |d| {
                let truncations: Vec<Value> = d
                    .truncations
                    .iter()
                    .map(|t| {
                        json!({
                            "epoch": t.epoch.get(),
                            "start": t.range.start.get(),
                            "end": t.range.end.get(),
                        })
                    })
                    .collect();
                json!({
                    "epoch": d.meta.epoch.get(),
                    "materialized_lsn": d.meta.materialized_lsn.get(),
                    "scl": d.meta.scl.get(),
                    "page_size": d.meta.page_size.get(),
                    "truncations": truncations,
                })
            }),
        );
        m.insert("winner".into(), json!(meta.winner));
        m.insert("trailing_nonzero".into(), json!(meta.trailing_nonzero));
        serde_json::to_writer(&mut *self.out, &Value::Object(m)).map_err(io::Error::other)
    }

    fn pages_begin(
        &mut self,
        name: &str,
        pg: PgId,
        len: u64,
        layout: Option<&Layout>,
    ) -> io::Result<()> {
        self.file_start()?;
        let mut m = self.base("pages", name);
        m.insert("pg".into(), json!(pg.get()));
        m.insert("bytes".into(), json!(len));
        match layout {
            Some(l) => {
                m.insert("page_size".into(), json!(l.page_size.get()));
                m.insert("first_page".into(), json!(l.first_page));
                m.insert("page_count".into(), json!(l.page_count));
                m.insert("layout_from".into(), json!(l.from));
            }
            None => {
                m.insert("page_size".into(), Value::Null);
                m.insert("layout_from".into(), Value::Null);
            }
        }
        self.open_array(Value::Object(m), "pages")
    }

    fn page_pair(&mut self, pair: &PagePair) -> io::Result<()> {
        let v = json!({
            "page": pair.page.get(),
            "offset": pair.offset,
            "slots": [page_slot_json(&pair.slots[0]), page_slot_json(&pair.slots[1])],
            "newest": pair.newest,
        });
        self.item(&v)
    }

    fn pages_end(&mut self, s: &PagesSummary) -> io::Result<()> {
        self.close_array(json!({
            "summary": {
                "pairs": s.pairs,
                "pages_written": s.pages_written,
                "slots_valid": s.slots_valid,
                "slots_zero": s.slots_zero,
                "slots_bad": s.slots_bad,
                "pairs_past_range": s.pairs_past_range,
                "pairs_past_range_nonzero": s.pairs_past_range_nonzero,
            }
        }))
    }

    fn journal_begin(&mut self, name: &str, head: &JournalHead) -> io::Result<()> {
        self.file_start()?;
        let mut m = self.base("journal", name);
        m.insert("bytes".into(), json!(head.len));
        match &head.header {
            Ok(h) => {
                m.insert(
                    "header".into(),
                    json!({
                        "version": h.version.get(),
                        "file_id": h.file_id.get(),
                        "generation": h.generation.get(),
                        "alignment": h.alignment.get(),
                        "file_size": h.file_size,
                    }),
                );
                m.insert("header_error".into(), Value::Null);
            }
            Err(e) => {
                m.insert("header".into(), Value::Null);
                m.insert("header_error".into(), json!(e.to_string()));
            }
        }
        self.open_array(Value::Object(m), "regions")
    }

    fn journal_item(&mut self, item: &Item<'_>, budget: &mut RecordBudget) -> io::Result<()> {
        let v = match item {
            Item::Batch { offset, view } => {
                let h = view.header();
                let mut v = json!({
                    "offset": offset,
                    "len": view.padded_len(),
                    "state": "valid",
                    "sequence": h.sequence.get(),
                    "first_lsn": h.first_lsn.get(),
                    "last_lsn": h.last_lsn.get(),
                    "record_count": h.record_count,
                    "body_len": h.body_len,
                    "pipelined": h.pipelined(),
                    "window": h.window,
                });
                if budget.show {
                    let mut records = Vec::new();
                    // Logical offset in the batch; shown where it is on disk.
                    let mut at = boreal_segment::limits::BATCH_HEADER_SIZE;
                    let mut cut = false;
                    for (i, r) in view.records().enumerate() {
                        let Ok(r) = r else { break };
                        let here = *offset + h.physical_offset(at) as u64;
                        at += r.encoded_len();
                        if !budget.take() {
                            cut = true;
                            continue;
                        }
                        let (kind, fields, change) = record_fields(&r);
                        let mut m = Map::new();
                        m.insert("index".into(), json!(i));
                        m.insert("offset".into(), json!(here));
                        m.insert("kind".into(), json!(kind));
                        for (k, val) in fields {
                            if k == "cpl" {
                                m.insert(k.into(), json!(val == 1));
                            } else {
                                m.insert(k.into(), json!(val));
                            }
                        }
                        if let Some(c) = change {
                            m.insert("change".into(), json!(c));
                        }
                        records.push(Value::Object(m));
                    }
                    v["records"] = Value::Array(records);
                    v["records_cut"] = json!(cut);
                }
                v
            }
            Item::Torn {
                offset,
                len,
                header,
                reason,
                complete,
                fault,
                record_fault,
            } => json!({
                "offset": offset,
                "len": len,
                "state": "torn",
                "sequence": header.sequence.get(),
                "first_lsn": header.first_lsn.get(),
                "last_lsn": header.last_lsn.get(),
                "record_count": header.record_count,
                "body_len": header.body_len,
                "reason": reason.to_string(),
                "write_complete": complete,
                "pipelined": header.pipelined(),
                "window": header.window,
                "fault_offset": fault,
                "record_fault": record_fault.as_ref().map(ToString::to_string),
            }),
            Item::Empty { offset, len, what } => {
                let mut v = json!({"offset": offset, "len": len, "state": what.label()});
                match what {
                    Empty::Zeros => {}
                    Empty::Stale {
                        generation,
                        batches,
                        first_seq,
                        last_seq,
                    } => {
                        v["generation"] = json!(generation.get());
                        v["batches"] = json!(batches);
                        v["first_sequence"] = json!(first_seq.get());
                        v["last_sequence"] = json!(last_seq.get());
                    }
                    Empty::Garbage {
                        reason,
                        landed,
                        correctable,
                    } => {
                        v["header_correctable"] = json!(correctable);
                        v["reason"] = json!(reason.to_string());
                        v["landed"] = json!(landed);
                    }
                }
                v
            }
        };
        self.item(&v)
    }

    fn journal_end(&mut self, s: &JournalSummary, _budget: &RecordBudget) -> io::Result<()> {
        self.close_array(json!({
            "summary": {
                "batches_valid": s.batches_valid,
                "batches_torn": s.batches_torn,
                "records": s.records,
                "body_bytes": s.body_bytes,
                "zero_bytes": s.zero_bytes,
                "stale_bytes": s.stale_bytes,
                "garbage_bytes": s.garbage_bytes,
            }
        }))
    }

    fn end(&mut self) -> io::Result<()> {
        writeln!(self.out, "\n]}}")?;
        self.out.flush()
    }
}
