//! Group commit: many concurrent appenders share few batches; one call larger than a
//! batch spans batches; a record larger than a batch is refused with a typed error.

mod journal_support;

use std::rc::Rc;

use boreal_engine::journal::{DurabilityMode, Journal, JournalError};
use boreal_engine::rt::spawn;
use journal_support::{payload, redo, sim, small_config};

#[test]
fn concurrent_appenders_share_batches() {
    let sim = sim(7);
    let io = sim.io(0, 0);
    sim.run(async move {
        let mut cfg = small_config(DurabilityMode::DsyncWrite);
        cfg.file_bytes = 4 << 20;
        let j = Rc::new(Journal::create(io, cfg).await.unwrap());
        let mut tasks = Vec::new();
        for t in 0..256u64 {
            let j = j.clone();
            tasks.push(spawn(async move {
                let body = payload(t + 1, 128);
                j.append(&[redo(1, t + 1, &body)]).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let s = j.stats();
        assert_eq!(s.records, 256);
        assert!(
            s.batches <= 8,
            "256 concurrent appends took {} batches: {s:?}",
            s.batches
        );
        assert_eq!(
            s.syncs,
            s.batches + s.header_writes,
            "one flush per batch (and per new file header)"
        );
    });
}

#[test]
fn a_call_larger_than_a_batch_spans_batches() {
    let sim = sim(8);
    let io = sim.io(0, 0);
    sim.run(async move {
        let j = Journal::create(io.clone(), small_config(DurabilityMode::Linked))
            .await
            .unwrap();
        let bodies: Vec<Vec<u8>> = (1..=40u64).map(|lsn| payload(lsn, 4000)).collect();
        let records: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| redo(2, i as u64 + 1, b))
            .collect();
        let a = j.append(&records).await.unwrap();
        let (first, last) = a.batches.unwrap();
        assert!(
            last.get() > first.get(),
            "40 x 4 KiB records in 64 KiB batches: {a:?}"
        );
        let body = vec![0u8; 64 << 10];
        let too_big = redo(2, 100, &body[..65504]);
        assert!(matches!(
            j.append(&[too_big]).await,
            Err(JournalError::RecordTooLarge { index: 0, .. })
        ));
        assert!(
            j.append::<boreal_segment::Record>(&[])
                .await
                .unwrap()
                .batches
                .is_none()
        );
        drop(j);
        let (_j, rec) = Journal::open(io, small_config(DurabilityMode::Linked))
            .await
            .unwrap();
        assert_eq!(rec.records.len(), 40);
    });
}

/// Many appenders that append again as soon as they are acknowledged: with
/// `pipeline_depth` 2 some batches are written while the batch before them is in flight,
/// with depth 3 some while the two before them are (and say so in their header); every
/// append returns only once every batch up to its own is durable (acknowledgements in
/// sequence order); with depth 1 nothing is pipelined. A reopen finds every record.
#[test]
fn a_second_batch_is_written_while_the_first_is_in_flight_and_acks_stay_in_order() {
    for depth in [1usize, 2, 3] {
        let sim = sim(17);
        let io = sim.io(0, 0);
        sim.run(async move {
            let mut cfg = small_config(DurabilityMode::DsyncWrite);
            cfg.file_bytes = 4 << 20;
            cfg.pipeline_depth = depth;
            let j = Rc::new(Journal::create(io.clone(), cfg.clone()).await.unwrap());
            let mut tasks = Vec::new();
            for t in 0..64u64 {
                let j = j.clone();
                tasks.push(spawn(async move {
                    for i in 0..20u64 {
                        let lsn = 1 + i * 64 + t;
                        let body = payload(lsn, 128);
                        let a = j.append(&[redo(1, lsn, &body)]).await.unwrap();
                        let (_, last) = a.batches.unwrap();
                        let durable = j.stats().durable_seq.unwrap();
                        assert!(durable >= last, "acknowledged before durable");
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let s = j.stats();
            assert_eq!(s.records, 64 * 20);
            match depth {
                1 => assert_eq!(s.pipelined, 0, "{s:?}"),
                2 => {
                    assert!(s.pipelined > 0, "nothing pipelined: {s:?}");
                    assert_eq!(s.pipelined_behind_two, 0, "{s:?}");
                }
                _ => assert!(s.pipelined_behind_two > 0, "never two in flight: {s:?}"),
            }
            drop(j);
            let (_j, rec) = Journal::open(io, cfg).await.unwrap();
            assert_eq!(rec.records.len(), 64 * 20);
            assert!(rec.missing.is_empty(), "{:?}", rec.report);
        });
    }
}
