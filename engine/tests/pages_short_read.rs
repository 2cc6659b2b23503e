//! Behaviour: a read of the page store that completes short before the end of the file
//! is an error naming the file, the offset and how many bytes were expected and got; it
//! is never taken for the end of the file (which would serve zeros, or the other slot's
//! older image, in place of the newest). A read past the page file's true end still
//! reads as a page never written.

use std::path::Path;

use boreal_engine::pages::{DurableMeta, MetaFile, PageFile, PageStoreError, StoredPage};
use boreal_engine::sim::{FaultConfig, Sim, SimConfig, SimIo};
use boreal_segment::{Epoch, Lsn, PageId, PageSize, PgId, SegmentMeta};

const PG: PgId = PgId::new(4);

/// Every read that would return bytes returns fewer, in whole sectors.
fn short_reads(seed: u64) -> (Sim, SimIo) {
    let mut cfg = SimConfig::with_seed(seed);
    cfg.faults = FaultConfig {
        short_read_probability: 1.0,
        ..FaultConfig::none()
    };
    let sim = Sim::new(cfg);
    let node = sim.add_node();
    let io = sim.io(node, 0);
    (sim, io)
}

/// `r` must be the short-read error at `path` and `offset`; `show` says what was
/// served instead.
fn assert_short<T>(
    r: Result<T, PageStoreError>,
    show: impl Fn(&T) -> String,
    path: &Path,
    offset: u64,
) {
    match r {
        Err(PageStoreError::Short {
            path: p,
            offset: o,
            expected,
            got,
            ..
        }) => {
            assert_eq!((p.as_path(), o), (path, offset));
            assert!(got < expected, "{got} of {expected}");
        }
        Ok(v) => panic!(
            "expected a short-read error at {path:?} offset {offset}, got Ok: {}",
            show(&v)
        ),
        Err(e) => panic!("expected a short-read error at {path:?} offset {offset}, got {e}"),
    }
}

fn page_of(p: &StoredPage) -> String {
    format!(
        "page_lsn {} from slot {:?} (other slot damaged: {})",
        p.page_lsn, p.slot, p.other_slot_damaged
    )
}

#[test]
fn a_short_page_read_mid_file_is_an_error_not_an_older_image() {
    for seed in 0..16 {
        let (sim, io) = short_reads(seed);
        sim.run(async move {
            let path = Path::new("/d/pg-4.pages");
            let size = PageSize::new(4096).unwrap();
            let pf = PageFile::create(io.clone(), path, PG, size, 100, 8, 128 << 10)
                .await
                .unwrap();
            let page = PageId::new(103);
            pf.write(page, 0, &vec![1u8; size.payload_len()], Lsn::new(5))
                .await
                .unwrap();
            pf.write(page, 1, &vec![2u8; size.payload_len()], Lsn::new(9))
                .await
                .unwrap();
            pf.sync().await.unwrap();
            // Page 103's pair is at 3 pairs of 8 KiB, well inside the 128 KiB written.
            assert_short(pf.read(page).await, page_of, path, 3 * 2 * 4096);
            drop(pf);
            // The same after a reopen, where the file's size comes from the file.
            let pf = PageFile::open(io.clone(), path, PG, size, 100, 8, 128 << 10)
                .await
                .unwrap();
            assert_short(pf.read(page).await, page_of, path, 3 * 2 * 4096);
        });
    }
}

#[test]
fn a_page_past_the_end_of_the_file_still_reads_as_never_written() {
    let (sim, io) = short_reads(1);
    sim.run(async move {
        let path = Path::new("/d/pg-4.pages");
        let size = PageSize::new(4096).unwrap();
        // 64 pages of 8 KiB pairs: 512 KiB, beyond the one 128 KiB chunk written.
        let pf = PageFile::create(io.clone(), path, PG, size, 0, 64, 128 << 10)
            .await
            .unwrap();
        pf.write(
            PageId::new(0),
            0,
            &vec![1u8; size.payload_len()],
            Lsn::new(5),
        )
        .await
        .unwrap();
        pf.sync().await.unwrap();
        let got = pf.read(PageId::new(40)).await.unwrap();
        assert_eq!((got.page_lsn, got.slot), (Lsn::ZERO, None));
    });
}

#[test]
fn a_short_metadata_read_is_an_error_not_the_older_slot() {
    for seed in 0..16 {
        let (sim, io) = short_reads(seed);
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
            (dm.meta.materialized_lsn, dm.meta.scl) = (Lsn::new(10), Lsn::new(10));
            file.write(&dm).await.unwrap(); // sequence 2, slot 0
            (dm.meta.materialized_lsn, dm.meta.scl) = (Lsn::new(20), Lsn::new(20));
            file.write(&dm).await.unwrap(); // sequence 3, slot 1
            drop(file);
            let show = |(_, m, _): &(_, DurableMeta, _)| {
                format!(
                    "sequence {} materialized {}",
                    m.meta.sequence, m.meta.materialized_lsn
                )
            };
            assert_short(MetaFile::open(io.clone(), path, PG).await, show, path, 0);
        });
    }
}
