//! The quorum shim against six real storage nodes (in-process, on loopback, two per
//! AZ): a fresh volume opens, mini-transactions commit, pages read back as written; a
//! whole AZ down and commits go on; a second shim (volume recovery) fences the first,
//! keeps every commit and truncates the rest.

mod support;

use std::time::Duration;

use boreal_engine::hotlog::OwnedChange;
use boreal_engine::rt::{Runtime, RuntimeConfig};
use boreal_netlog::node::process::Running;
use boreal_netlog::quorum::{Member, PageChange, Shim, ShimConfig, ShimError, VolumeConfig};
use boreal_segment::{Lsn, PageId};

fn nodes(dir: &std::path::Path) -> Vec<Running> {
    (0..6)
        .map(|n| {
            let mut c = support::config(&dir.join(format!("node{n}")), 1);
            c.node_id = n + 1;
            c.az = format!("az{}", n % 3);
            support::start(c)
        })
        .collect()
}

fn volume(nodes: &[Running]) -> VolumeConfig {
    VolumeConfig {
        page_size: 4096,
        pages_per_pg: 8,
        pgs: 3,
        lal: 10_000,
        members: nodes
            .iter()
            .enumerate()
            .map(|(n, r)| Member {
                node_id: n as u32 + 1,
                az: format!("az{}", n % 3),
                addr: format!("127.0.0.1:{}", r.ports()[0]).parse().unwrap(),
            })
            .collect(),
    }
}

fn change(page: u64, at: u32, byte: u8) -> PageChange {
    PageChange {
        page: PageId::new(page),
        change: OwnedChange::Delta {
            offset: at,
            bytes: vec![byte; 8].into(),
        },
    }
}

#[test]
fn commits_reads_an_az_down_and_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = nodes(dir.path());
    let vol = volume(&nodes);
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    let mut cfg = ShimConfig::new(vol.clone());
    // Generous: a fence waits for durable writes, and this test shares two CPUs with
    // whatever else runs (500 ms failed once: "only 3 of its segments could be
    // fenced"). Stopped nodes refuse connections at once, so nothing waits this long.
    cfg.request_timeout = Duration::from_secs(5);
    cfg.connect_timeout = Duration::from_secs(2);
    let (last_commit, pages) = rt.block_on(async {
        let (shim, report) = Shim::open(io.clone(), cfg.clone()).await.unwrap();
        assert_eq!(report.segments_created, 18, "{report:?}");
        assert_eq!(report.vdl, Lsn::ZERO);
        // Mini-transactions over pages of all three PGs.
        let mut last = Lsn::ZERO;
        for k in 0..50u64 {
            let mtr = [
                change(k % 24, (k % 16) as u32 * 8, k as u8),
                change((k * 7) % 24, 200, k as u8),
            ];
            let c = shim.write(&mtr).await.unwrap();
            assert!(c > last);
            last = c;
        }
        assert!(shim.vdl() >= last);
        let (page_lsn, payload) = shim.read_page(PageId::new(5)).await.unwrap();
        assert!(page_lsn > Lsn::ZERO);
        // Page 5 was written by k = 5 (offset 40) and k = 29 (offset 40 ... its own).
        assert_eq!(payload[40..48], [5u8; 8]);
        let mut pages = Vec::new();
        for p in 0..24 {
            pages.push(shim.read_page(PageId::new(p)).await.unwrap());
        }
        (last, pages)
    });
    // One AZ down: commits go on (4 of 6).
    let az0: Vec<Running> = vec![nodes.remove(3), nodes.remove(0)];
    for n in az0 {
        assert_eq!(n.stop(), 0);
    }
    rt.block_on(async {
        let (shim, report) = Shim::open(io.clone(), cfg.clone()).await.unwrap();
        assert_eq!(report.unreachable.len(), 2, "{report:?}");
        assert!(
            report.vdl >= last_commit,
            "recovery lost commits: {report:?}"
        );
        // Every page reads as it was.
        for (p, (lsn, payload)) in pages.iter().enumerate() {
            let (l, pl) = shim.read_page(PageId::new(p as u64)).await.unwrap();
            assert_eq!((l, &pl), (*lsn, payload), "page {p}");
        }
        let c = shim.write(&[change(1, 0, 0xAB)]).await.unwrap();
        assert!(
            c > report.truncated.1,
            "allocation resumes above the truncation"
        );
        // A newer shim fences this one.
        let (newer, r2) = Shim::open(io.clone(), cfg.clone()).await.unwrap();
        assert!(r2.vdl >= c);
        assert!(r2.epoch > report.epoch);
        let err = shim.write(&[change(2, 0, 1)]).await.unwrap_err();
        assert!(matches!(err, ShimError::Fenced { .. }), "{err}");
        let (_, pl) = newer.read_page(PageId::new(1)).await.unwrap();
        assert_eq!(pl[0..8], [0xAB; 8]);
    });
}
