//! The page store survives torn writes: a damaged metadata slot falls back to the other
//! slot, a damaged page slot falls back to the page's previous image, and a page whose
//! two slots are both damaged is reported, never guessed.

use std::path::Path;

use boreal_engine::buf::DmaBuf;
use boreal_engine::hotlog::{LsnRange, Truncation};
use boreal_engine::io::{Io, OpenOptions, WriteFlags};
use boreal_engine::pages::{DamagedState, DurableMeta, MetaFile, PageFile, PageStoreError};
use boreal_engine::sim::{FaultConfig, Sim, SimConfig, SimIo};
use boreal_segment::{Epoch, Lsn, PageId, PageSize, PgId, SegmentMeta};

const PG: PgId = PgId::new(4);

async fn scribble(io: &SimIo, path: &Path, offset: u64, len: usize) {
    let opts = OpenOptions {
        read: true,
        write: true,
        direct: true,
        ..OpenOptions::default()
    };
    let f = io.open(path, opts).await.unwrap();
    let mut buf = DmaBuf::zeroed(len);
    buf.set_len(len);
    buf.as_mut_slice().fill(0xA5);
    let (res, _) = io.write_at(&f, buf, offset, WriteFlags::DSYNC).await;
    assert_eq!(res.unwrap(), len);
}

fn sim() -> (Sim, SimIo) {
    let mut cfg = SimConfig::with_seed(7);
    cfg.faults = FaultConfig::none();
    let sim = Sim::new(cfg);
    let node = sim.add_node();
    let io = sim.io(node, 0);
    (sim, io)
}

#[test]
fn a_torn_meta_slot_keeps_the_previous_state() {
    let (sim, io) = sim();
    sim.run(async move {
        let path = Path::new("/d/pg-4.meta");
        let mut dm = DurableMeta {
            meta: SegmentMeta {
                pg_id: PG,
                epoch: Epoch::new(1),
                materialized_lsn: Lsn::ZERO,
                scl: Lsn::ZERO,
                sequence: 0,
                page_size: PageSize::new(4096).unwrap(),
            },
            truncations: vec![],
        };
        let file = MetaFile::create(io.clone(), path, &dm).await.unwrap();
        dm.meta.materialized_lsn = Lsn::new(10);
        dm.meta.scl = Lsn::new(12);
        dm.truncations = vec![Truncation {
            epoch: Epoch::new(1),
            range: LsnRange::new(Lsn::new(12), Lsn::new(40)),
        }];
        file.write(&dm).await.unwrap(); // sequence 2, slot 0
        drop(file);
        let (_, got, other) = MetaFile::open(io.clone(), path, PG).await.unwrap();
        assert_eq!(got.meta.materialized_lsn, Lsn::new(10));
        assert_eq!(got.truncations, dm.truncations);
        assert_eq!(
            other, None,
            "the other slot holds sequence 1: valid, not damage"
        );
        // Sequence 3 would go to slot 1: tear it.
        scribble(&io, path, 4096 + 512, 512).await;
        let (_, got, other) = MetaFile::open(io.clone(), path, PG).await.unwrap();
        assert_eq!(got.meta.sequence, 2);
        assert_eq!(got.meta.materialized_lsn, Lsn::new(10));
        let other = other.expect("a torn slot is reported (the engine decides what it means)");
        assert!(other.why.contains("slot 1"), "{other:?}");
        // Its own SegmentMeta (sector 0 of the slot) is intact and says sequence 1.
        assert_eq!(other.state, DamagedState::Older);
        scribble(&io, path, 0, 512).await;
        assert!(matches!(
            MetaFile::open(io.clone(), path, PG).await,
            Err(PageStoreError::MetaCorrupt { .. })
        ));
    });
}

#[test]
fn a_torn_page_slot_falls_back_to_the_previous_image() {
    let (sim, io) = sim();
    sim.run(async move {
        let path = Path::new("/d/pg-4.pages");
        let size = PageSize::new(4096).unwrap();
        let pf = PageFile::create(io.clone(), path, PG, size, 100, 8, 128 << 10)
            .await
            .unwrap();
        let page = PageId::new(103);
        let never = pf.read(page).await.unwrap();
        assert_eq!((never.page_lsn, never.slot), (Lsn::ZERO, None));
        let a = vec![1u8; size.payload_len()];
        let b = vec![2u8; size.payload_len()];
        pf.write(page, 0, &a, Lsn::new(5)).await.unwrap();
        pf.write(page, 1, &b, Lsn::new(9)).await.unwrap();
        pf.sync().await.unwrap();
        assert_eq!(pf.prepared_len(), 128 << 10, "grown in whole chunks");
        let got = pf.read(page).await.unwrap();
        assert_eq!(
            (got.page_lsn, got.slot, got.payload[0]),
            (Lsn::new(9), Some(1), 2)
        );
        // Tear slot 1 (3 * 2 pages + 1 slot in).
        scribble(&io, path, (3 * 2 + 1) * 4096 + 1024, 512).await;
        let got = pf.read(page).await.unwrap();
        assert_eq!(
            (got.page_lsn, got.slot, got.payload[0]),
            (Lsn::new(5), Some(0), 1)
        );
        scribble(&io, path, 3 * 2 * 4096, 512).await;
        assert!(matches!(
            pf.read(page).await,
            Err(PageStoreError::PageCorrupt { .. })
        ));
        assert!(matches!(
            pf.read(PageId::new(99)).await,
            Err(PageStoreError::PageOutOfRange { .. })
        ));
    });
}
