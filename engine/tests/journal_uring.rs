//! The journal on a real file with `UringIo`: create (pre-write), concurrent appends in
//! every durability mode, reopen and recover, on a temp dir of the real filesystem.

use std::rc::Rc;

use boreal_engine::journal::{DurabilityMode, Journal, JournalConfig};
use boreal_engine::rt::{Runtime, RuntimeConfig, spawn};
use boreal_segment::{Change, Lsn, PageId, PgId, Record, Redo};

#[test]
fn uring_round_trip_in_every_mode() {
    for mode in [
        DurabilityMode::WriteThenFdatasync,
        DurabilityMode::Linked,
        DurabilityMode::DsyncWrite,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = JournalConfig {
            files: 2,
            file_bytes: 2 << 20,
            durability: mode,
            recovery_read_bytes: 256 << 10,
            ..JournalConfig::new(dir.path())
        };
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let io = rt.io().clone();
        rt.block_on(async move {
            let j = Rc::new(Journal::create(io.clone(), cfg.clone()).await.unwrap());
            let mut tasks = Vec::new();
            for t in 0..32u64 {
                let j = j.clone();
                tasks.push(spawn(async move {
                    for i in 0..10u64 {
                        let lsn = 1 + i * 32 + t;
                        let body = vec![lsn as u8; 128];
                        let r = Record::Redo(Redo {
                            lsn: Lsn::new(lsn),
                            prev_lsn_pg: Lsn::new(lsn - 1),
                            prev_lsn_page: Lsn::ZERO,
                            pg_id: PgId::new(3),
                            page_id: PageId::new(lsn),
                            cpl: false,
                            change: Change::Delta {
                                offset: 0,
                                bytes: &body,
                            },
                        });
                        j.append(&[r]).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let s = j.stats();
            assert_eq!(s.records, 320);
            assert!(s.batches < 320, "group commit: {s:?}");
            drop(j);
            let (_j, rec) = Journal::open(io, cfg).await.unwrap();
            assert_eq!(rec.records.len(), 320, "{mode:?}: {:?}", rec.report);
            assert!(rec.missing.is_empty());
            let mut lsns: Vec<u64> = rec
                .records
                .iter()
                .filter_map(|(_, r)| r.lsn().map(Lsn::get))
                .collect();
            lsns.sort_unstable();
            assert_eq!(lsns, (1..=320).collect::<Vec<_>>());
        });
    }
}
