//! Records appended with their verified encoding (`ValidRecord`s from
//! `Record::decode_valid`: what a node takes off the wire) are journaled by copying
//! those bytes, and the journal is byte for byte what appending the same records as
//! `Redo`s writes: the same workload run both ways under one seed leaves the same trace
//! hash (which folds in every byte written), and a reopened core holds the records. A
//! record of another kind is refused as invalid, with nothing journaled.

mod journal_support;

use boreal_engine::node::{CoreEngine, EngineError};
use boreal_engine::sim::SimIo;
use boreal_segment::{Epoch, Lsn, PageSize, PgId, Record, Redo, Truncate, ValidRecord};
use journal_support::{chained, growing_engine_config, node_journal_config, payload, sim};

type Engine = CoreEngine<SimIo>;

const PG: PgId = PgId::new(3);
const PAGES: u64 = 8;
const RECORDS: u64 = 600;
/// Records per append: appends span batches and sector stamps at many offsets.
const PER_APPEND: usize = 7;

/// A new core with segment `PG`, or the same core reopened.
async fn open(io: &SimIo, create: bool) -> Engine {
    let journal = node_journal_config(16 << 10);
    let (e, _) = Engine::open_dir(io.clone(), growing_engine_config(), journal)
        .await
        .unwrap();
    if create {
        e.create_segment(PG, PageSize::new(4096).unwrap(), 0, PAGES)
            .await
            .unwrap();
    }
    e
}

/// Record `lsn`: a delta of a length that varies with the LSN (so records cross
/// sector stamps at every offset), chained in the PG and on its page.
fn redo(lsn: u64, body: &[u8]) -> Redo<'_> {
    chained(
        PG,
        PAGES,
        lsn,
        (lsn % 50) as u32,
        body,
        lsn.is_multiple_of(3),
    )
}

/// Runs the workload on a new core, appending as `Redo`s or as decoded records;
/// returns the world's trace hash and the SCL a reopened core finds.
fn run(seed: u64, encoded: bool) -> (u64, Lsn) {
    let sim = sim(seed);
    let io = sim.io(0, 0);
    let bodies: Vec<Vec<u8>> = (1..=RECORDS)
        .map(|lsn| payload(lsn, 1 + (lsn as usize * 37) % 700))
        .collect();
    let redos: Vec<Redo<'_>> = (1..=RECORDS)
        .map(|lsn| redo(lsn, &bodies[lsn as usize - 1]))
        .collect();
    let mut wire = Vec::new();
    for r in &redos {
        Record::Redo(*r).encode_to_vec(&mut wire).unwrap();
    }
    let mut valid: Vec<ValidRecord<'_>> = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let (v, used) = Record::decode_valid(&wire[at..]).unwrap();
        valid.push(v);
        at += used;
    }
    let scl = sim.run(async {
        let e = open(&io, true).await;
        for (k, chunk) in redos.chunks(PER_APPEND).enumerate() {
            let ack = if encoded {
                let v = &valid[k * PER_APPEND..k * PER_APPEND + chunk.len()];
                e.append(PG, Epoch::ZERO, v).await.unwrap()
            } else {
                e.append(PG, Epoch::ZERO, chunk).await.unwrap()
            };
            assert_eq!(ack.scl, chunk.last().unwrap().lsn);
        }
        drop(e);
        open(&io, false).await.status(PG).unwrap().scl
    });
    (sim.trace_hash(), scl)
}

#[test]
fn decoded_records_are_journaled_byte_for_byte_as_records_encoded_afresh() {
    for seed in 0..4 {
        let fresh = run(seed, false);
        let copied = run(seed, true);
        assert_eq!(fresh.1, Lsn::new(RECORDS), "seed {seed}");
        assert_eq!(copied, fresh, "seed {seed}: the journals differ");
    }
}

#[test]
fn a_record_of_another_kind_is_refused_as_invalid() {
    let sim = sim(1);
    let io = sim.io(0, 0);
    sim.run(async {
        let e = open(&io, true).await;
        let truncate = Record::Truncate(Truncate {
            pg_id: PG,
            epoch: Epoch::new(1),
            start: Lsn::new(1),
            end: Lsn::new(5),
        });
        let mut wire = Vec::new();
        truncate.encode_to_vec(&mut wire).unwrap();
        let (v, _) = Record::decode_valid(&wire).unwrap();
        let err = e.append(PG, Epoch::ZERO, &[v]).await.unwrap_err();
        assert!(
            matches!(&err, EngineError::InvalidRecord { why, .. } if why.contains("Truncate")),
            "{err}"
        );
        assert_eq!(e.stats().records_accepted, 0);
        assert_eq!(e.status(PG).unwrap().scl, Lsn::ZERO);
    });
}
