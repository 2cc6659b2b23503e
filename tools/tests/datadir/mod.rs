//! Data dirs for the `inspect` and `verify` tests, built the way a node builds them:
//! the engine's own `CoreEngine` (catalog, page and metadata files, materialized by a
//! coalescer pass) and `Journal` (pre-written journal files, group-committed batches),
//! on the real filesystem with `UringIo`; or, for shapes the engine never writes (a
//! sequence gap, a broken backlink), journal files encoded with `boreal-segment`.
//! Plus helpers to run the `boreal` binary as a user would and to damage one byte.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support"
)]

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use boreal_engine::journal::{Journal, JournalConfig};
use boreal_engine::node::{CoreEngine, EngineConfig};
use boreal_engine::rt::{Runtime, RuntimeConfig};
use boreal_segment::batch::BatchBuilder;
use boreal_segment::{
    Alignment, BatchSeq, Change, Epoch, Generation, JournalFileHeader, JournalFileId,
    JournalVersion, Lsn, PageId, PageSize, PgId, Record, Redo,
};

pub const PG: PgId = PgId::new(1);
pub const PAGES: u64 = 16;
pub const PAGE_SIZE: u32 = 4096;
/// Records (and batches) the built core's journal holds.
pub const RECORDS: u64 = 70;
/// Batches (one block each) that fit one 256 KiB journal file after its header.
pub const BATCHES_PER_FILE: u64 = 63;
pub const JOURNAL_FILE_BYTES: u64 = 256 << 10;
/// The materialized LSN after the first of two coalescer passes (the second reaches
/// `RECORDS`).
pub const MATERIALIZED_FIRST: u64 = 40;

/// A redo record of `lsn` in `pg`, page `page`, its PG backlink `prev_pg`, changing
/// three bytes: for hand-made journals.
pub fn hand_redo(lsn: u64, prev_pg: u64, pg: u32, page: u64) -> Record<'static> {
    Record::Redo(Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(prev_pg),
        prev_lsn_page: Lsn::ZERO,
        pg_id: PgId::new(pg),
        page_id: PageId::new(page),
        cpl: false,
        change: Change::Delta {
            offset: 0,
            bytes: b"abc",
        },
    })
}

/// The body of the record of `lsn`.
pub fn body(lsn: u64) -> Vec<u8> {
    vec![lsn as u8; 100]
}

/// Honest redo records of PG 1: LSN 1..=n, page `lsn % 8`, each delta 100 bytes.
pub fn redo_chain<'a>(n: u64, bodies: &'a [Vec<u8>]) -> Vec<Redo<'a>> {
    let mut last_of_page = [0u64; 8];
    (1..=n)
        .map(|lsn| {
            let page = lsn % 8;
            let r = Redo {
                lsn: Lsn::new(lsn),
                prev_lsn_pg: Lsn::new(lsn - 1),
                prev_lsn_page: Lsn::new(last_of_page[page as usize]),
                pg_id: PG,
                page_id: PageId::new(page),
                cpl: true,
                change: Change::Delta {
                    offset: 0,
                    bytes: &bodies[lsn as usize - 1],
                },
            };
            last_of_page[page as usize] = lsn;
            r
        })
        .collect()
}

/// Builds a core's data dir in `dir`: a segment of PG 1 (16 pages of 4 KiB) with
/// `RECORDS` records appended and materialized (in two passes), and a 3-file journal (256 KiB each)
/// holding the same records one batch per append (so file 0 fills and file 1 starts).
pub fn build_core(dir: &Path) {
    let rt = Runtime::new(RuntimeConfig::default()).expect("io_uring runtime");
    let io = rt.io().clone();
    let dir = dir.to_path_buf();
    rt.block_on(async move {
        let bodies: Vec<Vec<u8>> = (1..=RECORDS).map(body).collect();
        let redos = redo_chain(RECORDS, &bodies);
        let cfg = EngineConfig {
            background_coalescer: false,
            ..EngineConfig::new(&dir)
        };
        // The engine journals into a scratch journal, removed afterwards: the data
        // dir's own journal is written below, one batch per record.
        let scratch = dir.join("scratch-journal");
        std::fs::create_dir_all(&scratch).unwrap();
        let scratch_cfg = JournalConfig {
            files: 2,
            file_bytes: 1 << 20,
            batch_bytes_max: 64 << 10,
            recovery_read_bytes: 64 << 10,
            ..JournalConfig::new(&scratch)
        };
        let wal = Journal::create(io.clone(), scratch_cfg).await.unwrap();
        let engine = CoreEngine::create(io.clone(), wal, cfg).await.unwrap();
        engine
            .create_segment(PG, PageSize::new(PAGE_SIZE).unwrap(), 0, PAGES)
            .await
            .unwrap();
        for chunk in redos.chunks(10) {
            engine.append(PG, Epoch::new(1), chunk).await.unwrap();
        }
        // Two passes, so pages have an image in each slot and the metadata file has
        // written both slots.
        for mrp in [MATERIALIZED_FIRST, RECORDS] {
            engine.set_min_read_point(PG, Lsn::new(mrp)).unwrap();
            engine.coalesce_now().await.unwrap();
        }
        drop(engine);
        std::fs::remove_dir_all(&scratch).unwrap();

        let jcfg = JournalConfig {
            files: 3,
            file_bytes: JOURNAL_FILE_BYTES,
            batch_bytes_max: 64 << 10,
            recovery_read_bytes: 64 << 10,
            ..JournalConfig::new(&dir)
        };
        let journal = Journal::create(io.clone(), jcfg).await.unwrap();
        for r in &redos {
            journal.append(&[Record::Redo(*r)]).await.unwrap();
        }
        drop(journal);
    });
}

/// Writes a journal file by hand: header (`file_id`, `generation`, 4 KiB alignment,
/// `file_bytes`), then one batch per entry of `batches` (its sequence and records),
/// back to back from offset 4096, zeros after.
pub fn write_journal(
    path: &Path,
    file_id: u64,
    generation: u64,
    file_bytes: u64,
    batches: &[(u64, Vec<Record<'_>>)],
) {
    let batches: Vec<HandBatch<'_>> = batches
        .iter()
        .map(|(seq, records)| HandBatch {
            seq: *seq,
            records: records.clone(),
            window: 0,
        })
        .collect();
    write_journal_batches(path, file_id, generation, file_bytes, &batches);
}

/// One batch of a hand-written journal file.
pub struct HandBatch<'a> {
    pub seq: u64,
    pub records: Vec<Record<'a>>,
    /// The pipeline window: 1 sets `PIPELINED` (written while the batch before was in
    /// flight), 2 `PIPELINED_TWO` (while the two before were).
    pub window: u8,
}

/// [`write_journal`] with the batch flags given; returns each batch's offset.
pub fn write_journal_batches(
    path: &Path,
    file_id: u64,
    generation: u64,
    file_bytes: u64,
    batches: &[HandBatch<'_>],
) -> Vec<u64> {
    let header = JournalFileHeader {
        version: JournalVersion::CURRENT,
        file_id: JournalFileId::new(file_id),
        generation: Generation::new(generation),
        alignment: Alignment::JOURNAL,
        file_size: file_bytes,
    };
    let mut bytes = vec![0u8; file_bytes as usize];
    header.encode_into(&mut bytes).unwrap();
    let mut offset = 4096u64;
    let mut offsets = Vec::new();
    for batch in batches {
        let mut buf = vec![0u8; 64 << 10];
        let place = header.place(offset);
        let mut b = BatchBuilder::new(&mut buf, place, BatchSeq::new(batch.seq)).unwrap();
        for r in &batch.records {
            b.push(r).unwrap();
        }
        b.set_window(batch.window).unwrap();
        let h = b.seal();
        let len = h.padded_len();
        bytes[offset as usize..offset as usize + len].copy_from_slice(&buf[..len]);
        offsets.push(offset);
        offset += len as u64;
    }
    std::fs::write(path, bytes).unwrap();
    offsets
}

/// XORs the byte at `offset` of `path` with `mask`.
fn xor_byte(path: &Path, offset: u64, mask: u8) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= mask;
    f.write_all_at(&b, offset).unwrap();
}

/// Flips every bit of the byte at `offset` of `path`.
pub fn flip(path: &Path, offset: u64) {
    xor_byte(path, offset, 0xFF);
}

/// Flips one bit (`bit`, 0..8) of the byte at `offset` of `path`.
pub fn flip_bit(path: &Path, offset: u64, bit: u8) {
    xor_byte(path, offset, 1 << bit);
}

/// Runs `boreal ARGS`; returns the exit code, stdout and stderr.
pub fn boreal(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .args(args)
        .output()
        .expect("run boreal");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `boreal inspect --json ARGS PATH`, parsed.
pub fn inspect_json(path: &Path, extra: &[&str]) -> serde_json::Value {
    let p = path.to_str().unwrap();
    let mut args = vec!["inspect", "--json"];
    args.extend_from_slice(extra);
    args.push(p);
    let (code, out, err) = boreal(&args);
    assert_eq!(code, 0, "inspect failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect JSON does not parse: {e}\n{out}"))
}

/// The file object named `name` in an inspect JSON document.
pub fn file<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == name)
        .unwrap_or_else(|| panic!("no file {name} in {doc}"))
}

/// `n` as the tools print offsets: `1052672` → `1,052,672`.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
