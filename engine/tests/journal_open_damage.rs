//! What `CoreEngine::open_dir` does with journal damage below the tail, case by case
//! (`MISSING_CASES`): a damaged batch whose intact header says it held redo only becomes
//! a reported hole (the SCL stops below it, a read that needs it fails naming it); a
//! damaged batch that held a control record, or damage without a readable header,
//! refuses to start naming file, offset and why. The same holds for the journal's last
//! batch when its write landed in full (every sector carries its stamp) and its records
//! were damaged afterwards; a torn last write is still cut. And `open_dir` refuses a backlog bound
//! the journal cannot hold, saying what to change, before it touches a file.

mod journal_support;

use boreal_engine::hotlog::HoleKind;
use boreal_engine::io::{Io, OpenOptions};
use boreal_engine::journal::{MissingAction, MissingContents, file_path};
use boreal_engine::node::{CoreEngine, EngineError, OpenReport};
use boreal_engine::sim::SimIo;
use boreal_segment::{Change, Epoch, Lsn, PageId, PageSize, PgId, Redo};
use journal_support::{CORE, DIR, engine_config, engine_journal_config, patch, sim};

type Engine = CoreEngine<SimIo>;

const PG: PgId = PgId::new(1);

/// A redo of `PG` on page `lsn % 4` writing `bytes` at `offset`.
fn redo(lsn: u64, prev_pg: u64, prev_page: u64, offset: u32, bytes: &[u8]) -> Redo<'_> {
    Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(prev_pg),
        prev_lsn_page: Lsn::new(prev_page),
        pg_id: PG,
        page_id: PageId::new(lsn % 4),
        cpl: true,
        change: Change::Delta { offset, bytes },
    }
}

/// Redo of page `lsn % 4` at `lsn`, chained to `lsn - 1` in the PG and on the page.
async fn append(e: &Engine, lsn: u64, epoch: u64) {
    let body = [lsn as u8; 100];
    let r = redo(lsn, lsn - 1, lsn.saturating_sub(4), 0, &body);
    e.append(PG, Epoch::new(epoch), &[r]).await.unwrap();
}

async fn create(io: &SimIo) -> Engine {
    let (e, report) = reopen(io).await.unwrap();
    assert!(report.created);
    e.create_segment(PG, PageSize::new(4096).unwrap(), 0, 4)
        .await
        .unwrap();
    e
}

/// A core whose journal holds redo at LSNs 1..=`n`, one batch each, then stopped.
async fn written(io: &SimIo, n: u64) {
    let e = create(io).await;
    for lsn in 1..=n {
        append(&e, lsn, 0).await;
    }
}

/// Opens the core again, as a restart does.
async fn reopen(io: &SimIo) -> Result<(Engine, OpenReport), EngineError> {
    Engine::open_dir(io.clone(), engine_config(), engine_journal_config()).await
}

/// Reopens a core that must refuse to start with a recovery error whose message
/// names every one of `names`.
async fn assert_refused(io: &SimIo, names: &[&str]) {
    let err = reopen(io)
        .await
        .map(|_| ())
        .expect_err("the core refuses to start");
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Recovery(_)), "{msg}");
    for name in names {
        assert!(msg.contains(name), "{name:?} not in {msg}");
    }
}

/// Flips one bit at `offset` of journal file 0, durably (stored damage).
async fn flip(io: &SimIo, offset: u64) {
    let block = offset / 4096 * 4096;
    let path = file_path(DIR.as_ref(), 0);
    patch(io, &path, block, 4096, |b| {
        b[(offset - block) as usize] ^= 0x10
    })
    .await;
}

/// Raises the min read point to `upto` and runs a coalescer pass that materializes
/// something.
async fn materialize(e: &Engine, upto: u64) {
    e.set_min_read_point(PG, Lsn::new(upto)).unwrap();
    assert!(e.coalesce_now().await.unwrap() > 0);
}

/// Batch `k` (0-based) of a journal where every append was its own batch.
fn batch_offset(k: u64) -> u64 {
    4096 * (k + 1)
}

#[test]
fn a_damaged_redo_only_batch_becomes_a_hole_and_the_core_starts() {
    let sim = sim(31);
    let io = sim.io(0, 0);
    sim.run(async move {
        written(&io, 5).await;
        // Batch 2 holds lsn 3: damage its records, keep its header.
        flip(&io, batch_offset(2) + 200).await;
        let (e, report) = reopen(&io).await.expect("lost redo only: the core starts");
        assert_eq!(report.missing.len(), 1, "{}", report.summary());
        let m = &report.missing[0];
        assert_eq!(m.contents, MissingContents::RedoOnly);
        assert_eq!(m.case().action, MissingAction::Hole);
        assert_eq!(m.lsns, Some((Lsn::new(3), Lsn::new(3))));
        let st = e.status(PG).unwrap();
        assert_eq!(st.scl, Lsn::new(2), "the SCL stops below the hole");
        // Below the hole reads work; a read that needs lsn 3 fails naming the hole.
        e.set_min_read_point(PG, Lsn::new(2)).unwrap();
        e.read_page(PG, PageId::new(1), Lsn::new(2)).await.unwrap();
        let err = e
            .read_page(PG, PageId::new(3), Lsn::new(5))
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::Hole { .. }), "{err}");
    });
}

#[test]
fn a_damaged_batch_with_a_control_record_refuses_to_start() {
    let sim = sim(32);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        append(&e, 1, 0).await;
        append(&e, 2, 0).await;
        // Batch 2: the fence's `SegmentMeta` record, alone.
        e.fence(PG, Epoch::new(1)).await.unwrap();
        append(&e, 3, 1).await;
        append(&e, 4, 1).await;
        drop(e);
        flip(&io, batch_offset(2) + 200).await;
        assert_refused(&io, &["file:0 offset 12288", "MayHoldControl"]).await;
    });
}

#[test]
fn damage_without_a_readable_header_refuses_to_start() {
    let sim = sim(33);
    let io = sim.io(0, 0);
    sim.run(async move {
        written(&io, 5).await;
        // Batch 2's header, two bits (one alone is corrected): nothing says what the
        // batch held.
        flip(&io, batch_offset(2) + 20).await;
        flip(&io, batch_offset(2) + 60).await;
        assert_refused(&io, &["file:0 offset 12288", "Unknown"]).await;
    });
}

#[test]
fn a_backlog_bound_the_journal_cannot_hold_is_refused_before_any_file_is_touched() {
    let sim = sim(34);
    let io = sim.io(0, 0);
    sim.run(async move {
        let mut cfg = engine_config();
        cfg.backlog_bytes_max = 64 << 20;
        let err = Engine::open_dir(io.clone(), cfg, engine_journal_config())
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EngineError::Config(_)), "{msg}");
        assert!(
            msg.contains("lower backlog_bytes_max to at most 1048576"),
            "{msg}"
        );
        assert!(msg.contains("raise files to at least 1024"), "{msg}");
        // Nothing was created: the journal's first file does not exist.
        let opened = io
            .open(&file_path(DIR.as_ref(), 0), OpenOptions::default())
            .await;
        assert!(opened.is_err(), "open_dir created files before refusing");
    });
}

/// The tail blind spot that remains, for control records: damage of more than one bit
/// to the header fields of the last acknowledged batch that say where it belongs (here
/// its file id and generation) leaves nothing that says a batch was there, and recovery
/// cuts it like a torn write whose header did not land. A truncation or an epoch change
/// is therefore also made durable in the segment's metadata file before it is
/// acknowledged; cut from the journal, it must still hold after the restart.
#[test]
fn a_truncation_in_a_damaged_last_batch_still_holds_after_restart() {
    let sim = sim(33);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        for lsn in 1..=5 {
            append(&e, lsn, 0).await;
        }
        // Batch 5: the `Truncate` record alone, the journal's last batch.
        let scl = e
            .truncate(PG, Epoch::new(1), Lsn::new(3), Lsn::new(5))
            .await
            .unwrap();
        assert_eq!(scl, Lsn::new(3));
        drop(e);
        flip(&io, batch_offset(5) + 26).await; // its header's file id
        flip(&io, batch_offset(5) + 34).await; // and generation
        let (e, report) = reopen(&io)
            .await
            .expect("a tail without a readable header is cut: the core starts");
        assert_eq!(
            report.records_recovered,
            5,
            "the damaged last batch (the truncation) was cut as torn: {}",
            report.summary()
        );
        let st = e.status(PG).unwrap();
        assert_eq!(
            st.scl,
            Lsn::new(3),
            "annulled records 4 and 5 stay annulled"
        );
        assert_eq!(st.epoch, Epoch::new(1));
        // A writer of the old epoch is refused; the truncated range refuses arrivals.
        assert!(matches!(
            e.append::<Redo>(PG, Epoch::new(0), &[]).await.unwrap_err(),
            EngineError::StaleEpoch { .. }
        ));
        let body = [9u8; 10];
        let r = redo(4, 3, 0, 0, &body);
        let err = e.append(PG, Epoch::new(1), &[r]).await.unwrap_err();
        assert!(err.to_string().contains("truncat"), "{err}");
    });
}

#[test]
fn a_fence_in_a_damaged_last_batch_still_holds_after_restart() {
    let sim = sim(34);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        append(&e, 1, 0).await;
        append(&e, 2, 0).await;
        // Batch 2: the fence's `SegmentMeta` record alone, the journal's last batch.
        e.fence(PG, Epoch::new(3)).await.unwrap();
        drop(e);
        flip(&io, batch_offset(2) + 26).await; // its header's file id
        flip(&io, batch_offset(2) + 34).await; // and generation
        let (e, report) = reopen(&io)
            .await
            .expect("a tail without a readable header is cut: the core starts");
        assert_eq!(report.records_recovered, 2, "the fence was cut as torn");
        assert_eq!(e.status(PG).unwrap().epoch, Epoch::new(3));
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(2));
        assert!(matches!(
            e.append::<Redo>(PG, Epoch::new(2), &[]).await.unwrap_err(),
            EngineError::StaleEpoch { .. }
        ));
    });
}

/// The last acknowledged batch, its header damaged in two bits elsewhere than where it
/// says where it belongs: every sector carries the stamp its stored checksums give, so
/// the write landed in full. Nothing readable says what it held (a truncation here):
/// reported, and the core refuses to start until it is repaired from its peers.
#[test]
fn a_damaged_header_of_a_landed_last_batch_is_reported_not_cut() {
    let sim = sim(35);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        for lsn in 1..=5 {
            append(&e, lsn, 0).await;
        }
        e.truncate(PG, Epoch::new(1), Lsn::new(3), Lsn::new(5))
            .await
            .unwrap();
        drop(e);
        // Two bits of its header (one alone is corrected): body length and last LSN.
        flip(&io, batch_offset(5) + 20).await;
        flip(&io, batch_offset(5) + 60).await;
        assert_refused(&io, &["file:0 offset", "Unknown", "landed in full"]).await;
    });
}

/// The last acknowledged batch, its records damaged after the write landed (every
/// sector still carries the batch's stamp): reported missing like damage below the
/// tail, never cut. Redo only: a hole, the SCL stops below it, a read that needs it
/// fails naming it, and the core starts (and appends go on after it).
#[test]
fn a_damaged_last_redo_only_batch_becomes_a_hole_not_cut() {
    let sim = sim(37);
    let io = sim.io(0, 0);
    sim.run(async move {
        written(&io, 5).await;
        // Batch 4 holds lsn 5 and is the journal's last: damage its records.
        flip(&io, batch_offset(4) + 200).await;
        let (e, report) = reopen(&io).await.expect("lost redo only: the core starts");
        assert_eq!(report.missing.len(), 1, "{}", report.summary());
        let m = &report.missing[0];
        assert_eq!(m.offset, batch_offset(4));
        assert_eq!(m.contents, MissingContents::RedoOnly);
        assert_eq!(m.case().action, MissingAction::Hole);
        assert_eq!(m.lsns, Some((Lsn::new(5), Lsn::new(5))));
        assert_eq!(report.records_recovered, 4);
        let st = e.status(PG).unwrap();
        assert_eq!(st.scl, Lsn::new(4), "the SCL stops below the hole");
        e.set_min_read_point(PG, Lsn::new(4)).unwrap();
        let err = e
            .read_page(PG, PageId::new(1), Lsn::new(5))
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::Hole { .. }), "{err}");
        // Appends resume after the damaged batch, which the next open reports again.
        let body = [6u8; 100];
        e.append(PG, Epoch::new(0), &[redo(6, 5, 2, 0, &body)])
            .await
            .unwrap();
        drop(e);
        let (_e, report) = reopen(&io).await.unwrap();
        assert_eq!(report.missing.len(), 1, "{}", report.summary());
        assert_eq!(report.missing[0].offset, batch_offset(4));
        assert_eq!(report.records_recovered, 5);
    });
}

/// The same for a last batch that held a control record (a fence): replaying around it
/// could forget the epoch it raised, so the core refuses to start, naming it.
#[test]
fn a_damaged_last_batch_with_a_control_record_refuses_to_start() {
    let sim = sim(38);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        append(&e, 1, 0).await;
        append(&e, 2, 0).await;
        // Batch 2: the fence's `SegmentMeta` record alone, the journal's last batch.
        e.fence(PG, Epoch::new(3)).await.unwrap();
        drop(e);
        flip(&io, batch_offset(2) + 100).await;
        assert_refused(
            &io,
            &["file:0 offset 12288", "MayHoldControl", "landed in full"],
        )
        .await;
    });
}

/// A torn last write (the crash came before all its sectors reached the disk; here
/// its second block still holds the zeros the file was pre-written with) is still cut:
/// it was never acknowledged, and the core starts without reporting anything.
#[test]
fn a_torn_last_write_is_still_cut() {
    let sim = sim(39);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        for lsn in 1..=3 {
            append(&e, lsn, 0).await;
        }
        // Batch 3 (lsn 4): 4,000 bytes of change, two blocks.
        let body = [4u8; 4000];
        e.append(PG, Epoch::new(0), &[redo(4, 3, 0, 0, &body)])
            .await
            .unwrap();
        drop(e);
        zero_block(&io, batch_offset(3) + 4096).await;
        let (e, report) = reopen(&io)
            .await
            .expect("a torn tail is cut: the core starts");
        assert!(report.missing.is_empty(), "{}", report.summary());
        assert_eq!(report.records_recovered, 3);
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(3));
    });
}

/// Writes zeros over the 4 KiB block at `offset` of journal file 0, durably.
async fn zero_block(io: &SimIo, offset: u64) {
    let path = file_path(DIR.as_ref(), 0);
    patch(io, &path, offset, 4096, |b| b.fill(0)).await;
}

/// `open_dir` opens the segments first and tells the journal scan which batches hold
/// nothing but redo at or below their PG's materialized LSN: those still count for
/// recovery (records recovered, pins, decisions) but are not kept for replay, so
/// replay never sees them. A batch with a control record is always kept.
#[test]
fn batches_already_materialized_are_recovered_but_not_replayed() {
    let sim = sim(35);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        for lsn in 1..=6 {
            append(&e, lsn, 0).await;
        }
        e.fence(PG, Epoch::new(1)).await.unwrap();
        materialize(&e, 6).await;
        assert_eq!(e.status(PG).unwrap().materialized_lsn, Lsn::new(6));
        for lsn in 7..=9 {
            append(&e, lsn, 1).await;
        }
        drop(e);
        let (e, report) = reopen(&io).await.unwrap();
        assert_eq!(
            report.records_recovered, 10,
            "6 + the fence + 3, all recovered"
        );
        let replayed = e.stats().recovery;
        use boreal_engine::node::ReplayCase;
        assert_eq!(
            replayed.count(ReplayCase::RedoMaterialized),
            0,
            "batches below the floor are not replayed: {replayed:?}"
        );
        assert_eq!(replayed.count(ReplayCase::RedoNew), 3);
        assert_eq!(
            replayed.count(ReplayCase::SegmentMeta),
            1,
            "the fence is kept"
        );
        let st = e.status(PG).unwrap();
        assert_eq!(
            (st.scl, st.materialized_lsn, st.epoch),
            (Lsn::new(9), Lsn::new(6), Epoch::new(1))
        );
    });
}

/// Replay during the scan (the default) and replay after it (`replay_during_scan`
/// off: what `open_dir` falls back to) build the same engine: same watermarks, holes,
/// epochs, replay counts and pages, on a journal with materialized batches, a
/// truncation, a fence and redo above the floor.
#[test]
fn replay_during_the_scan_and_after_it_agree() {
    let sim = sim(36);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        for lsn in 1..=8 {
            append(&e, lsn, 0).await;
        }
        materialize(&e, 5).await;
        e.truncate(PG, Epoch::new(1), Lsn::new(6), Lsn::new(8))
            .await
            .unwrap();
        e.fence(PG, Epoch::new(2)).await.unwrap();
        for lsn in 9..=12 {
            let body = [lsn as u8; 60];
            let prev_pg = if lsn == 9 { 6 } else { lsn - 1 };
            // The page's newest record not annulled (7 and 8 were).
            let prev_page = match lsn {
                9 => 5,
                10 => 6,
                11 => 3,
                _ => 4,
            };
            let r = redo(lsn, prev_pg, prev_page, 100, &body);
            e.append(PG, Epoch::new(2), &[r]).await.unwrap();
        }
        drop(e);
        let mut seen = Vec::new();
        for during in [true, false, true] {
            let mut cfg = engine_config();
            cfg.replay_during_scan = during;
            let (e, report) = Engine::open_dir(io.clone(), cfg, engine_journal_config())
                .await
                .unwrap();
            let st = e.status(PG).unwrap();
            e.set_min_read_point(PG, st.materialized_lsn).unwrap();
            let mut pages = Vec::new();
            for page in 0..4 {
                let img = e.read_page(PG, PageId::new(page), st.scl).await.unwrap();
                pages.push((img.page_lsn, img.payload));
            }
            let s = e.stats().recovery;
            seen.push((
                (
                    st.scl,
                    st.materialized_lsn,
                    st.epoch,
                    st.holes,
                    st.hot_records,
                ),
                report.records_recovered,
                (s.cases, s.max_lsn),
                pages,
            ));
            drop(e);
        }
        assert_eq!(seen[0].0.0, Lsn::new(12), "9 continues the chain from 6");
        assert_eq!(seen[0], seen[1], "during the scan vs after it");
        assert_eq!(seen[0], seen[2]);
    });
}

/// A stored bit flip in the header of the oldest live journal file: no older file shows
/// a sequence gap, so zeroing the file would lose its acknowledged records without a
/// trace. Its batches hold redo above the segment's floor, so the header is rebuilt
/// from them and nothing is lost.
#[test]
fn a_damaged_header_of_the_oldest_live_file_is_rebuilt_and_nothing_is_lost() {
    let sim = sim(37);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        // One 4 KiB batch per append, 63 per 256 KiB file: file 0 fills, file 1 takes
        // the rest. Nothing is materialized (no min read point), so both are live.
        for lsn in 1..=100 {
            append(&e, lsn, 0).await;
        }
        drop(e);
        flip(&io, 100).await; // file 0's header
        let (e, report) = reopen(&io).await.expect("the core starts");
        let summary = report.summary();
        assert!(report.missing.is_empty(), "{summary}");
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(100), "{summary}");
        e.set_min_read_point(PG, Lsn::new(100)).unwrap();
        let page = e
            .read_page(PG, PageId::new(1), Lsn::new(100))
            .await
            .unwrap();
        assert_eq!(page.page_lsn, Lsn::new(97));
    });
}

/// The same flip in the header of a file whose records were all materialized (freed):
/// nothing in it is needed, so it is zeroed and made free, and the core starts with
/// everything the other files hold.
#[test]
fn a_damaged_header_of_a_released_file_is_zeroed_and_the_core_starts() {
    let sim = sim(38);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        for lsn in 1..=70 {
            append(&e, lsn, 0).await;
        }
        // Materialize everything: file 0 is released (and marked free on disk).
        materialize(&e, 70).await;
        for lsn in 71..=80 {
            append(&e, lsn, 0).await;
        }
        drop(e);
        flip(&io, 100).await; // file 0's header
        let (e, report) = reopen(&io).await.expect("the core starts");
        let summary = report.summary();
        assert!(report.missing.is_empty(), "{summary}");
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(80), "{summary}");
    });
}

/// A journal file whose header is whole (its checksum holds) but of a format version
/// this build does not read, as a newer build would leave it: the open is refused,
/// naming the version, and the file is not touched (an unreadable header may be zeroed;
/// this one is not unreadable, only not ours).
#[test]
fn a_journal_file_of_an_unknown_version_is_refused_untouched() {
    let sim = sim(39);
    let io = sim.io(0, 0);
    sim.run(async move {
        written(&io, 5).await;
        let path = file_path(DIR.as_ref(), 0);
        let before = patch(&io, &path, 0, 8192, |header| {
            header[8..10].copy_from_slice(&5u16.to_le_bytes()); // version 5
            let sum = boreal_segment::checksum::crc32c(&header[4..4096]);
            header[..4].copy_from_slice(&sum.to_le_bytes());
        })
        .await;
        let err = reopen(&io)
            .await
            .expect_err("a version this build does not read");
        let msg = err.to_string();
        assert!(msg.contains("version") && msg.contains("refusing"), "{msg}");
        // Read back (an edit that changes nothing).
        let after = patch(&io, &path, 0, 8192, |_| {}).await;
        assert!(after == before, "the open changed the file");
    });
}

/// A stored bit flip in the newest slot of a segment's metadata file, after the
/// coalescer materialized and the journal released and reused the file holding the
/// records: open falls back to the older slot, whose materialized LSN is older, and the
/// records in between are nowhere. They are reported missing (reads that need them
/// fail naming the hole), not silently forgotten.
#[test]
fn a_damaged_newest_metadata_slot_reports_the_records_it_released() {
    // In the slot's own SegmentMeta (its materialized LSN): nothing says how far the
    // lost state went, so everything above the SCL is reported.
    damaged_newest_metadata_slot(40, 26);
    // In its truncation table: its SegmentMeta still says it had materialized up to
    // 70, so the records up to 70 are reported.
    damaged_newest_metadata_slot(41, 100);
}

fn damaged_newest_metadata_slot(seed: u64, at: usize) {
    let sim = sim(seed);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        // 4 KiB per append, 63 per 256 KiB file: file 0 is full after 63.
        for lsn in 1..=70 {
            append(&e, lsn, 0).await;
        }
        materialize(&e, 70).await;
        // Fill past the 16 files so the released file 0 is reused: the records of the
        // older materialized state are then gone from the journal.
        for lsn in 71..=1020 {
            append(&e, lsn, 0).await;
        }
        let floor = e.status(PG).unwrap().materialized_lsn;
        assert_eq!(floor, Lsn::new(70));
        drop(e);
        // Damage the newest slot of pg 1's metadata file (the one with the higher
        // sequence) at byte `at`.
        let path = boreal_engine::pages::meta_file_path(CORE.as_ref(), PG);
        patch(&io, &path, 0, 8192, |slots| {
            let seq = |k: usize| {
                boreal_segment::SegmentMeta::decode(&slots[k * 4096..k * 4096 + 64])
                    .map_or(0, |m| m.sequence)
            };
            let newest = if seq(0) > seq(1) { 0 } else { 1 };
            slots[newest * 4096 + at] ^= 0x01;
        })
        .await;

        let (e, _) = reopen(&io).await.expect("the core starts");
        let st = e.status(PG).unwrap();
        assert!(
            st.materialized_lsn < floor,
            "fell back to the older slot: {st:?}"
        );
        let damage = e.stats().recovery.meta_damage;
        assert_eq!(damage.len(), 1, "{damage:?}");
        assert!(damage[0].contains("reported missing"), "{damage:?}");
        // Reported (known lost, for peers to repair), not merely a backlink gap.
        assert!(
            st.holes.iter().any(|h| h.kind == HoleKind::Reported
                && h.range.contains(Lsn::new(1))
                && h.range.contains(Lsn::new(63))),
            "{:?}",
            st.holes
        );
        let err = e
            .read_page(PG, PageId::new(0), Lsn::new(1020))
            .await
            .expect_err("the released records are gone");
        assert!(matches!(err, EngineError::Hole { .. }), "{err}");
    });
}

/// A released file whose free-marking header took a stored flip, two generations
/// older than the oldest live file, holding a control record (a fence) among the
/// released redo: found by the node simulation (seed 295). Files are freed oldest
/// first, so with a generation between it and the live files not live, it was freed
/// too: zeroed and made free, never rebuilt as live (which made its released batches
/// look like a sequence gap before the live files and refused the start).
#[test]
fn a_damaged_header_of_a_file_released_before_another_is_zeroed_even_with_control_records() {
    let sim = sim(42);
    let io = sim.io(0, 0);
    sim.run(async move {
        let e = create(&io).await;
        // File 0 (generation 1): 63 batches.
        for lsn in 1..=63 {
            append(&e, lsn, 0).await;
        }
        // File 1 (generation 2) opens with the fence's SegmentMeta record.
        e.fence(PG, Epoch::new(1)).await.unwrap();
        for lsn in 64..=188 {
            append(&e, lsn, 1).await;
        }
        materialize(&e, 188).await;
        // Into file 3 (generation 4), then release file 2 (generation 3) too.
        for lsn in 189..=260 {
            append(&e, lsn, 1).await;
        }
        materialize(&e, 260).await;
        // A few more batches: the flusher rewrites the freed files' headers meanwhile.
        for lsn in 261..=270 {
            append(&e, lsn, 1).await;
        }
        let stats = e.journal().stats();
        assert!(stats.files_marked_free >= 3, "{stats:?}");
        drop(e);
        let path = file_path(DIR.as_ref(), 1);
        patch(&io, &path, 0, 4096, |b| b[100] ^= 0x10).await;
        let (e, report) = reopen(&io).await.expect("the core starts");
        let summary = report.summary();
        assert!(report.missing.is_empty(), "{summary}");
        assert!(
            report
                .journal_report
                .iter()
                .any(|l| l.contains("file:1") && l.contains("made free")),
            "{:?}",
            report.journal_report
        );
        assert_eq!(e.status(PG).unwrap().scl, Lsn::new(270), "{summary}");
    });
}
