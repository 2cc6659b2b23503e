//! `Link`, the async client on boreal's runtime, against a real node: Hello's map,
//! pipelined requests answered to the right caller, refusals as values, a node that
//! goes away failing every waiting request instead of hanging it, and a dropped link
//! closing its connection.

mod support;

use boreal_engine::rt::{Runtime, RuntimeConfig};
use boreal_netlog::link::{Link, LinkError, Reply};
use boreal_netlog::proto::{Hello, Message, Reason, SegmentStatus};
use boreal_segment::{Lsn, PgId};
use support::{append_frame, config, eventually, sample, scrape, start};

#[test]
fn pipelined_requests_get_their_own_answers() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(config(dir.path(), 2));
    let ports = node.ports().to_vec();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async {
        let pg = PgId::new(5);
        let addr = format!("127.0.0.1:{}", ports[(pg.get() % 2) as usize])
            .parse()
            .unwrap();
        let (link, map) = Link::connect(io.clone(), addr, Hello::shim())
            .await
            .unwrap();
        assert_eq!((map.ports.clone(), map.core_of(pg)), (ports.clone(), 1));
        let created = link
            .call(&Message::CreateSegment(
                boreal_netlog::proto::CreateSegment {
                    epoch: boreal_segment::Epoch::new(1),
                    pg,
                    page_size: boreal_segment::PageSize::new(4096).unwrap(),
                    first_page: boreal_segment::PageId::new(0),
                    page_count: support::PAGES,
                },
            ))
            .await
            .unwrap();
        assert!(
            matches!(created, Reply::SegmentCreated { created: true, .. }),
            "{created:?}"
        );
        // Twenty frames in one send; each answer reaches its own request.
        let mut out = Vec::new();
        let mut ids = Vec::new();
        for k in 0..20u64 {
            let id = link.next_id();
            link.expect(id);
            append_frame(&mut out, id, pg, 1, 2 * k + 1, 2 * k + 2);
            ids.push(id);
        }
        link.send(&out).await.unwrap();
        for (k, id) in ids.into_iter().enumerate().rev() {
            match link.reply(id).await.unwrap() {
                Reply::AppendAck { scl, accepted, .. } => {
                    assert_eq!(accepted, 2);
                    assert!(scl >= Lsn::new(2 * k as u64 + 2));
                }
                other => panic!("{other:?}"),
            }
        }
        // A refusal is an answer, not an error.
        let r = link
            .call(&Message::SegmentStatus(SegmentStatus { pg: PgId::new(4) }))
            .await
            .unwrap();
        assert!(
            matches!(
                r,
                Reply::Refused {
                    reason: Reason::WrongCore { core: 0, .. },
                    ..
                }
            ),
            "{r:?}"
        );
        let r = link
            .call(&Message::SegmentStatus(SegmentStatus { pg }))
            .await
            .unwrap();
        assert!(
            matches!(&r, Reply::Status(s) if s.scl == Lsn::new(40)),
            "{r:?}"
        );
        // The node goes away: a waiting request fails, later ones too.
        let id = link.next_id();
        link.expect(id);
        drop(node);
        let e = link.reply(id).await.unwrap_err();
        assert!(matches!(e, LinkError::Closed { .. }), "{e}");
        let e = link
            .call(&Message::SegmentStatus(SegmentStatus { pg }))
            .await
            .unwrap_err();
        assert!(matches!(e, LinkError::Closed { .. }), "{e}");
    });
}

#[test]
fn a_dropped_link_closes_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1);
    cfg.metrics = Some("127.0.0.1:0".parse().unwrap());
    let node = start(cfg);
    let metrics = node.metrics_addr().unwrap();
    let addr = format!("127.0.0.1:{}", node.ports()[0]).parse().unwrap();
    let open = || sample(&scrape(metrics), "boreal_connections{core=\"0\"}");
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let io = rt.io().clone();
    rt.block_on(async {
        let (link, _) = Link::connect(io.clone(), addr, Hello::shim())
            .await
            .unwrap();
        assert_eq!(open(), Some(1.0));
        drop(link);
        // Let the runtime drop the link's reader (and with it the socket).
        boreal_engine::rt::sleep(std::time::Duration::from_millis(50)).await;
    });
    // Only the node's view tells: a leaked reader keeps the socket open for ever.
    assert!(
        eventually(std::time::Duration::from_secs(5), || open() == Some(0.0)),
        "the node still counts {:?} connections",
        open()
    );
    assert_eq!(node.stop(), 0);
}
