//! The node's `/metrics` is valid Prometheus text exposition: `promtool check metrics`
//! (Debian package `prometheus`, installed by `.ci/run`) passes on a scrape taken after
//! appends and reads, and the figures the issue names are there.

mod support;

use boreal_netlog::proto::{GetPage, Message};
use boreal_segment::{Lsn, PageId, PgId};
use support::{append_frame, config, create, promtool_check, scrape, shim, start};

#[test]
fn metrics_pass_promtool_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2);
    cfg.metrics = Some("127.0.0.1:0".parse().unwrap());
    let node = start(cfg);
    let pg = PgId::new(1);
    let mut c = shim(node.ports()[1]);
    create(&mut c, pg, 1);
    let mut out = Vec::new();
    append_frame(&mut out, 1, pg, 1, 1, 16);
    c.send_raw(&out).unwrap();
    let (_, m) = c.recv_message().unwrap();
    assert!(matches!(m, Message::AppendAck(_)), "{m:?}");
    let m = c
        .call(&Message::GetPage(GetPage {
            pg,
            page: PageId::new(3),
            read_point: Lsn::new(16),
        }))
        .unwrap();
    assert!(matches!(m, Message::PageReply(_)), "{m:?}");
    // The per-PG gauges are published every 250 ms.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let text = scrape(node.metrics_addr().unwrap());
    for want in [
        "boreal_append_requests_total{core=\"1\"} 1",
        "boreal_records_total{core=\"1\"} 16",
        "boreal_segment_complete_lsn{core=\"1\",pg=\"1\"} 16",
        "boreal_device_flushes_total{core=\"1\"}",
        "boreal_append_seconds_bucket",
        "boreal_getpage_seconds_count{core=\"1\"} 1",
        "boreal_backlog_bytes{core=\"1\"}",
        // The read found page 3 in no cache: one miss, read from the page store.
        "boreal_page_cache_misses_total{core=\"1\"} 1",
        "boreal_page_cache_hits_total{core=\"1\"}",
        "boreal_connections{core=\"1\"} 1",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    promtool_check(&text);
    assert_eq!(node.stop(), 0);
}
