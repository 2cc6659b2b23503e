//! Crash recovery on hand-made damage: a torn batch at the tail is cut and overwritten;
//! a damaged batch below the tail is reported missing (with what its header says) and
//! never cut; a damaged header in the middle is located by its neighbours; the last
//! acknowledged batch, its records or its header damaged after the write landed, is
//! reported missing, while damage that hides where it belongs is cut (the documented
//! limit); a pipelined batch after one that did not complete is cut with it and
//! zeroed; an older-version journal is still read and appends continue in a file of the
//! current version; and the decision table is complete.

mod journal_support;

use boreal_engine::io::Clock;
use boreal_engine::journal::{
    Action, DurabilityMode, Evidence, Journal, Observation, Position, RECOVERY_CASES, RegionKind,
    decide, file_path,
};
use boreal_engine::sim::SimIo;
use boreal_segment::batch::BatchBuilder;
use boreal_segment::{
    Alignment, BatchPlace, BatchSeq, Generation, JournalFileHeader, JournalFileId, JournalVersion,
    Lsn, Record,
};
use journal_support::{DIR, patch, payload, redo, sim, small_config};

const MODE: DurabilityMode = DurabilityMode::WriteThenFdatasync;

/// Appends lsns 1..=n, one 4 KiB batch each (batch k at offset 4096 * (k + 1)).
async fn journal_with(io: &SimIo, n: u64) {
    let j = Journal::create(io.clone(), small_config(MODE))
        .await
        .unwrap();
    for lsn in 1..=n {
        let body = payload(lsn, 200);
        j.append(&[redo(1, lsn, &body)]).await.unwrap();
    }
}

/// Overwrites `bytes` at `offset` of journal file 0, durably.
async fn poke(io: &SimIo, offset: u64, bytes: &[u8]) {
    let block = offset / 4096 * 4096;
    let at = (offset - block) as usize;
    let path = file_path(DIR.as_ref(), 0);
    patch(io, &path, block, 8192, |b| {
        b[at..at + bytes.len()].copy_from_slice(bytes)
    })
    .await;
}

async fn flip(io: &SimIo, offset: u64) {
    let block = offset / 4096 * 4096;
    let path = file_path(DIR.as_ref(), 0);
    patch(io, &path, block, 4096, |b| {
        b[(offset - block) as usize] ^= 0x10
    })
    .await;
}

/// One batch as written at `place`: one redo record of `lsn` with a `len`-byte change,
/// sealed with the pipeline window `window`; its padded bytes.
fn hand_batch(place: BatchPlace, seq: u64, lsn: u64, len: usize, window: u8) -> Vec<u8> {
    let mut buf = vec![0u8; 16384];
    let mut b = BatchBuilder::new(&mut buf, place, BatchSeq::new(seq)).unwrap();
    let body = payload(lsn, len);
    b.push(&redo(1, lsn, &body)).unwrap();
    b.set_window(window).unwrap();
    let padded = b.seal().padded_len();
    buf.truncate(padded);
    buf
}

/// The header of journal file 0, as on disk.
async fn file0_header(io: &SimIo) -> JournalFileHeader {
    let head = patch(io, &file_path(DIR.as_ref(), 0), 0, 4096, |_| {}).await;
    JournalFileHeader::decode(&head).unwrap()
}

/// Two batch writes as they would follow `journal_with(io, 5)` (seq 0..=4 at
/// 4096..=20480): batch 5 (lsn 6, three blocks) at 24576, then batch 6 (lsn 7), written
/// while 5 was in flight (`PIPELINED`), right after it. Returns both, contiguous, and
/// batch 5's length; nothing is written.
async fn pipelined_pair(io: &SimIo) -> (Vec<u8>, usize) {
    let header = file0_header(io).await;
    let first = hand_batch(header.place(24576), 5, 6, 10_000, 0);
    let second = hand_batch(header.place(24576 + first.len() as u64), 6, 7, 200, 1);
    let first_len = first.len();
    let mut region = first;
    region.extend_from_slice(&second);
    (region, first_len)
}

fn lsns(rec: &boreal_engine::journal::Recovered) -> Vec<u64> {
    rec.records
        .iter()
        .map(|(_, r)| {
            if let Record::Redo(r) = r {
                r.lsn.get()
            } else {
                0
            }
        })
        .collect()
}

#[test]
fn torn_tail_is_cut_and_overwritten() {
    let sim = sim(21);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await;
        // The write in flight at the crash: a 12 KiB batch of which only the first
        // 4 KiB landed.
        let place = BatchPlace {
            file_id: JournalFileId::new(0),
            generation: Generation::new(1),
            alignment: Alignment::JOURNAL,
            file_offset: 6 * 4096,
            version: JournalVersion::CURRENT,
        };
        let buf = hand_batch(place, 5, 6, 10000, 0);
        assert_eq!(buf.len(), 12288);
        poke(&io, 6 * 4096, &buf[..4096]).await;

        let (j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5]);
        assert!(rec.missing.is_empty(), "{:?}", rec.missing);
        let tail = rec.tail.unwrap();
        assert_eq!(
            (tail.offset, tail.next_seq),
            (6 * 4096, BatchSeq::new(5)),
            "{:?}",
            rec.report
        );
        assert!(
            rec.report
                .iter()
                .any(|l| l.contains("Torn") && l.contains("Cut")),
            "{:?}",
            rec.report
        );
        let body = payload(7, 50);
        j.append(&[redo(1, 7, &body)]).await.unwrap();
        drop(j);
        let (_j, rec) = Journal::open(io, small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5, 7]);
        assert!(rec.missing.is_empty(), "{:?}", rec.report);
    });
}

/// A journal written by an older build (version 1, before sector stamps; version 2,
/// before pipelined batches) is still read. Appends never go into an older-version
/// file: the writer continues in a new file of the current version, after zeroing the
/// block where appends would have resumed, so the torn older batch cut there cannot
/// later pass for one completed before the newer file.
#[test]
fn an_older_version_journal_is_read_and_appends_continue_in_a_current_version_file() {
    older_version_journal(JournalVersion::V1, 26);
    older_version_journal(JournalVersion::V2, 27);
}

fn older_version_journal(version: JournalVersion, seed: u64) {
    let sim = sim(seed);
    let io = sim.io(0, 0);
    sim.run(async move {
        drop(
            Journal::create(io.clone(), small_config(MODE))
                .await
                .unwrap(),
        );
        let file_bytes = small_config(MODE).file_bytes;
        let header = JournalFileHeader {
            version,
            file_id: JournalFileId::new(0),
            generation: Generation::new(1),
            alignment: Alignment::JOURNAL,
            file_size: file_bytes,
        };
        let mut file = vec![0u8; file_bytes as usize];
        header.encode_into(&mut file).unwrap();
        let mut offset = 4096usize;
        for lsn in 1..=6u64 {
            let len = if lsn == 6 { 10000 } else { 200 };
            let buf = hand_batch(header.place(offset as u64), lsn - 1, lsn, len, 0);
            let len = buf.len();
            // The last batch (three blocks) is torn: only its first block landed.
            let landed = if lsn == 6 { 4096 } else { len };
            file[offset..offset + landed].copy_from_slice(&buf[..landed]);
            offset += len;
        }
        patch(&io, &file_path(DIR.as_ref(), 0), 0, file.len(), |b| {
            b.copy_from_slice(&file)
        })
        .await;

        let (j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5]);
        assert!(rec.missing.is_empty(), "{:?}", rec.report);
        let tail = rec.tail.unwrap();
        assert_eq!(
            (tail.file, tail.offset, tail.next_seq),
            (JournalFileId::new(0), file_bytes, BatchSeq::new(5)),
            "no room left in the older-version file: {:?}",
            rec.report
        );
        let said = format!("version {} file", version.get());
        assert!(
            rec.report.iter().any(|l| l.contains(&said)),
            "{:?}",
            rec.report
        );
        drop(j);
        // A crash after the next file's new header was made durable and before its
        // first batch: the newer file proves every older batch completed, so the torn
        // batch left at the old tail would read as acknowledged and missing; the block
        // zeroed at the first open keeps it from reading as a batch at all.
        let next = JournalFileHeader {
            version: JournalVersion::CURRENT,
            file_id: JournalFileId::new(1),
            generation: Generation::new(2),
            ..header
        };
        let path1 = file_path(DIR.as_ref(), 1);
        patch(&io, &path1, 0, 4096, |b| {
            b.copy_from_slice(&next.to_vec().unwrap())
        })
        .await;
        let (j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5]);
        assert!(rec.missing.is_empty(), "{:?}", rec.report);
        let body = payload(7, 50);
        j.append(&[redo(1, 7, &body)]).await.unwrap();
        drop(j);

        let (_j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5, 7]);
        assert!(rec.missing.is_empty(), "{:?}", rec.report);
        let tail = rec.tail.unwrap();
        assert_eq!(tail.file, JournalFileId::new(1));
        assert_eq!(tail.next_seq, BatchSeq::new(6));
        // Read back (an edit that changes nothing).
        let bytes = patch(&io, &path1, 0, 4096, |_| {}).await;
        let h = JournalFileHeader::decode(&bytes).unwrap();
        assert_eq!(h.version, JournalVersion::CURRENT);
    });
}

/// A crash with two batch writes in flight: batch 5's write landed only in part (its
/// first block), batch 6, written while 5 was in flight (`PIPELINED`), landed in full.
/// Neither was acknowledged (acknowledgements go in order), so both are cut; the range
/// is zeroed, so that the next batches, written there with the same sequences, cannot
/// end just before the old batch 6 and let it pass for a later one.
#[test]
fn a_pipelined_batch_after_an_incomplete_one_is_cut_and_zeroed() {
    let sim = sim(28);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await; // seq 0..=4 at 4096..=20480
        let (region, first_len) = pipelined_pair(&io).await;
        cut_from_batch_5_and_append_over(&io, region, first_len, 8).await;
    });
}

/// A crash with three batch writes in flight: batch 5's write landed only in part, and
/// batch 6 (written while 5 was in flight) and batch 7 (while 5 and 6 were) landed in
/// full. None was acknowledged: all three are cut and zeroed, though 6 and 7 are valid,
/// and appends resume at 5's place with its sequence.
#[test]
fn a_window_of_two_after_an_incomplete_batch_is_cut_and_zeroed() {
    let sim = sim(29);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await; // seq 0..=4 at 4096..=20480
        let (mut region, first_len) = pipelined_pair(&io).await;
        let header = file0_header(&io).await;
        let third = hand_batch(header.place(24576 + region.len() as u64), 7, 8, 200, 2);
        region.extend_from_slice(&third);
        cut_from_batch_5_and_append_over(&io, region, first_len, 9).await;
    });
}

/// Writes `region` (batch 5, `first_len` bytes, then the batches written while it was
/// in flight) at 24576 after `journal_with(io, 5)`, with only batch 5's first block
/// landed. Checks that an open cuts everything from batch 5 and zeroes it, and that the
/// next append (record `lsn`) goes where batch 5 was, with its sequence, the old
/// batches gone for good.
async fn cut_from_batch_5_and_append_over(
    io: &SimIo,
    mut region: Vec<u8>,
    first_len: usize,
    lsn: u64,
) {
    let path = file_path(DIR.as_ref(), 0);
    // Batch 5 (three blocks): only its first block landed.
    region[4096..first_len].fill(0);
    let end = 24576 + region.len() as u64;
    patch(io, &path, 24576, region.len(), |b| {
        b.copy_from_slice(&region)
    })
    .await;

    let (j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
    assert_eq!(lsns(&rec), [1, 2, 3, 4, 5], "{:?}", rec.report);
    assert!(rec.missing.is_empty(), "{:?}", rec.report);
    let tail = rec.tail.unwrap();
    assert_eq!((tail.offset, tail.next_seq), (24576, BatchSeq::new(5)));
    assert!(
        rec.report.iter().any(|l| l.contains("zeroed")),
        "{:?}",
        rec.report
    );
    let after = patch(io, &path, 24576, (end - 24576) as usize, |_| {}).await;
    assert!(after.iter().all(|&b| b == 0), "the cut range is zeros");

    let body = payload(lsn, 200);
    j.append(&[redo(1, lsn, &body)]).await.unwrap();
    drop(j);
    let (_j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
    assert_eq!(lsns(&rec), [1, 2, 3, 4, 5, lsn], "{:?}", rec.report);
    assert!(rec.missing.is_empty(), "{:?}", rec.report);
    assert_eq!(rec.tail.unwrap().next_seq, BatchSeq::new(6));
}

/// The same three writes, but batch 6 was written with nothing in flight (so 5 had
/// completed, and reads as torn only because it was damaged since): 7's window does not
/// reach past 6's proof. 5 is reported missing, never cut; 6 and 7 are replayed.
#[test]
fn a_header_inside_a_window_of_two_proves_the_batch_before_it() {
    let sim = sim(30);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await;
        let path = file_path(DIR.as_ref(), 0);
        let header = file0_header(&io).await;
        let first = hand_batch(header.place(24576), 5, 6, 10_000, 0);
        let second = hand_batch(header.place(24576 + first.len() as u64), 6, 7, 200, 0);
        let third_at = 24576 + (first.len() + second.len()) as u64;
        let third = hand_batch(header.place(third_at), 7, 8, 200, 2);
        let first_len = first.len();
        let mut region = first;
        region.extend_from_slice(&second);
        region.extend_from_slice(&third);
        region[4096..first_len].fill(0);
        patch(&io, &path, 24576, region.len(), |b| {
            b.copy_from_slice(&region)
        })
        .await;

        let (_j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5, 7, 8], "{:?}", rec.report);
        assert_eq!(rec.missing.len(), 1, "{:?}", rec.report);
    });
}

/// Two writes in flight in a recycled file: the first did not land, and its place
/// still holds a 16 KiB batch of an older generation, which the scan steps over as a
/// whole; the second (pipelined) landed inside that span, unseen. Everything past the
/// tail is zeroed at open, so once a new, shorter batch is written where the first one
/// was, the unacknowledged second one cannot come back as the batch after it.
#[test]
fn a_pipelined_batch_hidden_in_an_older_generation_is_zeroed_at_open() {
    let sim = sim(30);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await; // seq 0..=4 at 4096..=20480
        let path = file_path(DIR.as_ref(), 0);
        let header = file0_header(&io).await;
        let mut region = vec![0u8; 8 * 4096];
        // The older generation's batch at 24576, 16 KiB.
        let old_place = BatchPlace {
            generation: Generation::new(header.generation.get() + 5),
            ..header.place(24576)
        };
        let old = hand_batch(old_place, 100, 99, 12_000, 0);
        assert_eq!(old.len(), 16384);
        region[..16384].copy_from_slice(&old);
        // Batch 6 (pipelined, lsn 7) landed at 28672, inside it.
        let buf = hand_batch(header.place(28672), 6, 7, 200, 1);
        region[4096..8192].copy_from_slice(&buf);
        patch(&io, &path, 24576, region.len(), |b| {
            b.copy_from_slice(&region)
        })
        .await;

        let (j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5], "{:?}", rec.report);
        let tail = rec.tail.unwrap();
        assert_eq!((tail.offset, tail.next_seq), (24576, BatchSeq::new(5)));
        let after = patch(&io, &path, 24576, 8192, |_| {}).await;
        assert!(after.iter().all(|&b| b == 0), "past the tail is zeros");
        let body = payload(8, 200);
        j.append(&[redo(1, 8, &body)]).await.unwrap(); // seq 5 at 24576, 4 KiB
        drop(j);
        let (_j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5, 8], "{:?}", rec.report);
        assert!(rec.missing.is_empty(), "{:?}", rec.report);
    });
}

/// The same two writes in flight, both landed in full, and the first one's header
/// damaged since (a stored bit flip): its sectors still carry its stamp, so recovery
/// knows the write completed, and reports the batch missing instead of cutting an
/// acknowledged batch with the pipelined one.
#[test]
fn a_complete_batch_with_a_damaged_header_before_a_pipelined_one_is_reported() {
    let sim = sim(29);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await; // seq 0..=4 at 4096..=20480
        let path = file_path(DIR.as_ref(), 0);
        let (mut region, _) = pipelined_pair(&io).await;
        // Batch 5's header, two bits (one alone is corrected): its record count and
        // its last LSN. Its stored checksums and place fields are intact.
        region[17] ^= 0x04;
        region[60] ^= 0x04;
        patch(&io, &path, 24576, region.len(), |b| {
            b.copy_from_slice(&region)
        })
        .await;

        let (_j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5, 7], "{:?}", rec.report);
        assert_eq!(rec.missing.len(), 1, "{:?}", rec.report);
        assert_eq!(rec.missing[0].offset, 24576);
    });
}

#[test]
fn damaged_middle_batch_is_missing_and_never_cut() {
    let sim = sim(22);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await;
        // Batch seq 2 (lsn 3) at 12288: a bit flip in its records.
        flip(&io, 3 * 4096 + 150).await;
        let (j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 4, 5]);
        assert_eq!(rec.missing.len(), 1, "{:?}", rec.report);
        let m = &rec.missing[0];
        assert_eq!(
            (m.file, m.offset, m.len),
            (JournalFileId::new(0), 3 * 4096, Some(4096))
        );
        assert_eq!(
            (m.seq_first, m.seq_last),
            (Some(BatchSeq::new(2)), Some(BatchSeq::new(2)))
        );
        assert_eq!(
            m.lsns,
            Some((Lsn::new(3), Lsn::new(3))),
            "the torn header's LSN range"
        );
        let tail = rec.tail.unwrap();
        assert_eq!((tail.offset, tail.next_seq), (6 * 4096, BatchSeq::new(5)));
        // Appends go after the tail; the damaged batch stays and is reported again.
        let body = payload(6, 50);
        j.append(&[redo(1, 6, &body)]).await.unwrap();
        drop(j);
        let (_j, rec) = Journal::open(io, small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 4, 5, 6]);
        assert_eq!(rec.missing.len(), 1);
    });
}

#[test]
fn damaged_middle_header_is_located_by_its_neighbours() {
    let sim = sim(23);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await;
        // Batch seq 1's header, two bits (one is corrected, see below).
        flip(&io, 2 * 4096 + 20).await;
        flip(&io, 2 * 4096 + 60).await;
        let (_j, rec) = Journal::open(io, small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 3, 4, 5]);
        assert_eq!(rec.missing.len(), 1, "{:?}", rec.report);
        let m = &rec.missing[0];
        assert_eq!(
            (m.offset, m.seq_first, m.seq_last, m.lsns),
            (
                2 * 4096,
                Some(BatchSeq::new(1)),
                Some(BatchSeq::new(1)),
                None
            )
        );
        assert_eq!(rec.tail.unwrap().offset, 6 * 4096);
    });
}

/// The last acknowledged batch, damaged after its write landed (a stored bit flip in
/// its records): every sector still carries the batch's stamp, so recovery knows the
/// write completed and reports the batch missing instead of cutting it. Appends resume
/// after it, and the next open reports it again.
#[test]
fn damaged_last_acknowledged_batch_is_missing_never_cut() {
    let sim = sim(24);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await;
        flip(&io, 5 * 4096 + 150).await; // the last batch (lsn 5), acknowledged
        let (j, rec) = Journal::open(io.clone(), small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4]);
        assert_eq!(rec.missing.len(), 1, "{:?}", rec.report);
        let m = &rec.missing[0];
        assert_eq!(
            (m.offset, m.seq_first, m.lsns),
            (
                5 * 4096,
                Some(BatchSeq::new(4)),
                Some((Lsn::new(5), Lsn::new(5)))
            )
        );
        let tail = rec.tail.unwrap();
        assert_eq!((tail.offset, tail.next_seq), (6 * 4096, BatchSeq::new(5)));
        let body = payload(6, 50);
        j.append(&[redo(1, 6, &body)]).await.unwrap();
        drop(j);
        let (_j, rec) = Journal::open(io, small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 6]);
        assert_eq!(rec.missing.len(), 1, "{:?}", rec.report);
        assert_eq!(rec.missing[0].offset, 5 * 4096);
    });
}

/// Damage to the 72 header bytes of the last batch: its header checksum fails. One
/// flipped bit is corrected and the batch replayed as written (the report says so). With
/// more, if the header still names this place and every sector carries the stamp its
/// stored checksums give, the write landed in full: reported missing, never cut, and
/// appends resume after it. What remains undetectable on one node: more than one bit
/// flipped in the fields that say where the batch belongs; then nothing says a batch
/// was there, and it is cut like a torn write whose header did not land (peers hold
/// the records).
#[test]
fn damaged_header_of_the_last_batch_is_corrected_or_reported_unless_it_hides_the_batch() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Outcome {
        Corrected,
        Reported,
        Cut,
    }
    use Outcome::*;
    for (flips, outcome) in [
        (&[20u64][..], Corrected),
        (&[2], Corrected),
        (&[44], Corrected),
        (&[20, 60], Reported),
        (&[26, 34], Cut),
    ] {
        let sim = sim(25);
        let io = sim.io(0, 0);
        sim.run(async move {
            journal_with(&io, 5).await;
            for at in flips {
                flip(&io, 5 * 4096 + at).await; // the last batch's header
            }
            let (_j, rec) = Journal::open(io, small_config(MODE)).await.unwrap();
            let tail = rec.tail.unwrap();
            match outcome {
                Corrected => {
                    assert_eq!(lsns(&rec), [1, 2, 3, 4, 5], "{flips:?}: {:?}", rec.report);
                    assert!(rec.missing.is_empty(), "{flips:?}: {:?}", rec.report);
                    assert!(
                        rec.report.iter().any(|l| l.contains("corrected")),
                        "{:?}",
                        rec.report
                    );
                    assert_eq!((tail.offset, tail.next_seq), (6 * 4096, BatchSeq::new(5)));
                }
                Reported => {
                    assert_eq!(lsns(&rec), [1, 2, 3, 4], "{flips:?}");
                    assert_eq!(rec.missing.len(), 1, "{flips:?}: {:?}", rec.report);
                    assert_eq!(rec.missing[0].offset, 5 * 4096);
                    assert_eq!(tail.offset, 6 * 4096, "appends resume after it");
                    assert_eq!(
                        tail.next_seq,
                        BatchSeq::new(5),
                        "its sequence (4) stays used"
                    );
                }
                Cut => {
                    assert_eq!(lsns(&rec), [1, 2, 3, 4], "{flips:?}");
                    assert!(rec.missing.is_empty(), "{flips:?}: {:?}", rec.report);
                    assert_eq!(tail.offset, 5 * 4096, "{flips:?}");
                }
            }
        });
    }
}

/// One flipped bit in the header of a batch in the middle of the journal: corrected,
/// nothing missing, every record replayed, and the report names the correction.
#[test]
fn a_flipped_header_bit_below_the_tail_is_corrected() {
    let sim = sim(31);
    let io = sim.io(0, 0);
    sim.run(async move {
        journal_with(&io, 5).await;
        flip(&io, 2 * 4096 + 33).await; // batch seq 1's header: its generation
        let (_j, rec) = Journal::open(io, small_config(MODE)).await.unwrap();
        assert_eq!(lsns(&rec), [1, 2, 3, 4, 5], "{:?}", rec.report);
        assert!(rec.missing.is_empty(), "{:?}", rec.report);
        assert!(
            rec.report
                .iter()
                .any(|l| l.contains("offset 8192") && l.contains("corrected")),
            "{:?}",
            rec.report
        );
    });
}

#[test]
fn decision_table_is_complete_and_never_cuts_below_the_tail() {
    let kinds = [
        RegionKind::Valid,
        RegionKind::Torn,
        RegionKind::Zeros,
        RegionKind::Stale,
        RegionKind::Garbage,
    ];
    let evidence = [
        Evidence::Nothing,
        Evidence::Contiguous,
        Evidence::SeqGap,
        Evidence::LaterSeq,
        Evidence::Superseded,
        Evidence::Landed,
    ];
    for kind in kinds {
        for position in [Position::BeforeTail, Position::Tail] {
            for evidence in evidence {
                let obs = Observation {
                    kind,
                    position,
                    evidence,
                };
                let n = RECOVERY_CASES
                    .iter()
                    .filter(|c| {
                        c.kinds.contains(&kind)
                            && c.positions.contains(&position)
                            && c.evidence.contains(&evidence)
                    })
                    .count();
                assert_eq!(n, 1, "{obs:?}");
                let action = decide(obs).action;
                assert!(
                    action != Action::Cut || position == Position::Tail,
                    "{obs:?}"
                );
                // A write that landed in full is never cut.
                assert!(
                    action != Action::Cut || evidence != Evidence::Landed,
                    "{obs:?}"
                );
            }
        }
    }
}

/// A file whose records are all released gets a generation-0 header (free) from the
/// flusher, so recovery does not read it: a restart reads only what is still needed.
/// Files 256 KiB, one 4 KiB batch per append: file 0 holds lsns 1..=63.
#[test]
fn a_released_file_is_marked_free_and_not_read_at_recovery() {
    let sim = sim(27);
    let io = sim.io(0, 0);
    sim.run(async move {
        let j = Journal::create(io.clone(), small_config(MODE))
            .await
            .unwrap();
        for lsn in 1..=70 {
            let body = payload(lsn, 200);
            j.append(&[redo(1, lsn, &body)]).await.unwrap();
        }
        let before = j.stats();
        assert_eq!(before.files_marked_free, 0);
        // Everything in file 0 is materialized: it is freed, then marked.
        j.release(boreal_segment::PgId::new(1), Lsn::new(63));
        for _ in 0..100 {
            if j.stats().files_marked_free == 1 {
                break;
            }
            boreal_engine::rt::yield_now().await;
            io.sleep(std::time::Duration::from_micros(100)).await;
        }
        assert_eq!(
            j.stats().files_marked_free,
            1,
            "the freed file's header was rewritten"
        );
        drop(j);
        let (_j, rec) = Journal::open(io, small_config(MODE)).await.unwrap();
        assert_eq!(
            lsns(&rec),
            (64..=70).collect::<Vec<_>>(),
            "file 0 is free: only file 1 is read"
        );
        assert!(rec.missing.is_empty(), "{:?}", rec.missing);
    });
}
