//! The storage node over the wire, started in-process: appends (pipelined, acknowledged
//! in order with the SCL), GetPage@LSN, read points, fence, truncate, fetch, status and
//! the truncation ranges a segment holds, each a thin call into the owning core's
//! engine; requests for a PG of another core are refused naming it; a stale epoch is
//! refused. Data and truncations survive a clean stop.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use boreal_netlog::client::Client;
use boreal_netlog::proto::{
    CoreStatus, Fence, FetchRecords, GetPage, Message, Reason, SegmentStatus, SetReadPoint,
    Truncate, TruncationRange, Truncations,
};
use boreal_segment::{Epoch, Lsn, NodeId, PageId, PgId};
use support::{PAGES, append_frame, body, config, create, port_of, shim, start};

#[test]
fn appends_reads_and_control_over_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(config(dir.path(), 2));
    let ports = node.ports().to_vec();
    assert_eq!(ports.len(), 2);
    let pg = PgId::new(3);
    let mut c = shim(port_of(&ports, pg));

    // Every core answers Hello with the whole map.
    let mut other = Client::connect(
        format!("127.0.0.1:{}", ports[0])
            .parse::<SocketAddr>()
            .unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    let map = other
        .hello(boreal_netlog::proto::Role::Shim, NodeId::new(0))
        .unwrap();
    assert_eq!(
        (map.node_id, map.core_index, &map.ports),
        (NodeId::new(1), 0, &ports)
    );

    create(&mut c, pg, 1);
    // A retried create is confirmed; one of another geometry is refused naming it.
    create(&mut c, pg, 1);
    let m = c
        .call(&Message::CreateSegment(
            boreal_netlog::proto::CreateSegment {
                epoch: Epoch::new(1),
                pg,
                page_size: boreal_segment::PageSize::new(8192).unwrap(),
                first_page: PageId::new(0),
                page_count: PAGES,
            },
        ))
        .unwrap();
    assert!(
        matches!(m, Message::Refusal(r) if matches!(r.reason, Reason::SegmentExists { page_count: PAGES, .. })),
        "{m:?}"
    );

    // Ten frames of four records, pipelined: acknowledged in order, the SCL rising.
    let mut out = Vec::new();
    for k in 0..10u64 {
        append_frame(&mut out, 100 + k, pg, 1, 4 * k + 1, 4 * k + 4);
    }
    c.send_raw(&out).unwrap();
    let mut last_scl = Lsn::ZERO;
    for k in 0..10u64 {
        let (id, m) = c.recv_message().unwrap();
        assert_eq!(id, 100 + k, "acknowledged in order");
        let Message::AppendAck(a) = m else {
            panic!("{m:?}")
        };
        assert_eq!((a.pg, a.accepted, a.duplicates), (pg, 4, 0));
        assert!(a.scl >= last_scl && a.scl >= Lsn::new(4 * k + 4));
        last_scl = a.scl;
    }
    assert_eq!(last_scl, Lsn::new(40));

    // The same frame again: re-acknowledged as duplicates.
    out.clear();
    append_frame(&mut out, 200, pg, 1, 37, 40);
    c.send_raw(&out).unwrap();
    let (_, m) = c.recv_message().unwrap();
    assert!(
        matches!(m, Message::AppendAck(a) if a.accepted == 0 && a.duplicates == 4),
        "{m:?}"
    );

    // GetPage@LSN: page 8 holds records 8, 24, 40; at 30 it is record 24's.
    let m = c
        .call(&Message::GetPage(GetPage {
            pg,
            page: PageId::new(8),
            read_point: Lsn::new(30),
        }))
        .unwrap();
    let Message::PageReply(p) = m else {
        panic!("{m:?}")
    };
    assert_eq!(p.page_lsn, Lsn::new(24));
    assert_eq!(&p.payload[64..96], &body(24));
    let m = c
        .call(&Message::GetPage(GetPage {
            pg,
            page: PageId::new(8),
            read_point: Lsn::new(41),
        }))
        .unwrap();
    assert!(
        matches!(m, Message::Refusal(r) if r.reason == Reason::AboveScl { pg, lsn: Lsn::new(41), scl: Lsn::new(40) }),
        "{m:?}"
    );

    // Read point, fetch, status.
    let m = c
        .call(&Message::SetReadPoint(SetReadPoint {
            pg,
            epoch: Epoch::new(1),
            min_read_point: Lsn::new(20),
        }))
        .unwrap();
    assert!(
        matches!(m, Message::ReadPointSet(r) if r.min_read_point == Lsn::new(20)),
        "{m:?}"
    );
    // Fetch serves peers (gossip and repair) and a recovering shim.
    let mut peer = Client::connect(
        format!("127.0.0.1:{}", port_of(&ports, pg))
            .parse::<SocketAddr>()
            .unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    peer.hello(boreal_netlog::proto::Role::Peer, NodeId::new(2))
        .unwrap();
    let fetch = Message::FetchRecords(FetchRecords {
        pg,
        from: Lsn::new(30),
        to: Lsn::new(40),
        byte_limit: boreal_netlog::limits::FETCH_BYTE_LIMIT_MIN as u32,
    });
    // The shim fetches too: volume recovery reads every record above the base.
    let m = c.call(&fetch).unwrap();
    assert!(
        matches!(&m, Message::FetchedRecords(f) if f.records.len() == 10),
        "{m:?}"
    );
    let m = peer
        .call(&Message::FetchRecords(FetchRecords {
            pg,
            from: Lsn::new(30),
            to: Lsn::new(40),
            byte_limit: boreal_netlog::limits::FETCH_BYTE_LIMIT_MIN as u32,
        }))
        .unwrap();
    let Message::FetchedRecords(f) = m else {
        panic!("{m:?}")
    };
    let lsns: Vec<u64> = f.records.iter().map(|r| r.lsn.get()).collect();
    assert_eq!(lsns, (31..=40).collect::<Vec<_>>());
    assert!(!f.more);
    let m = c
        .call(&Message::SegmentStatus(SegmentStatus { pg }))
        .unwrap();
    assert!(
        matches!(m, Message::StatusReply(s) if s.scl == Lsn::new(40) && s.epoch == Epoch::new(1)),
        "{m:?}"
    );
    let m = c
        .call(&Message::CoreStatus(CoreStatus {
            first_pg: PgId::new(0),
        }))
        .unwrap();
    assert!(
        matches!(m, Message::CoreStatusReply(s) if s.segments.len() == 1),
        "{m:?}"
    );

    // Fence to epoch 2: the old writer is refused.
    let m = c
        .call(&Message::Fence(Fence {
            pg,
            epoch: Epoch::new(2),
        }))
        .unwrap();
    assert!(
        matches!(m, Message::FenceAck(a) if a.epoch == Epoch::new(2) && a.scl == Lsn::new(40)),
        "{m:?}"
    );
    out.clear();
    append_frame(&mut out, 300, pg, 1, 41, 41);
    c.send_raw(&out).unwrap();
    let (_, m) = c.recv_message().unwrap();
    assert!(
        matches!(m, Message::Refusal(r) if r.reason == Reason::StaleEpoch { pg, current: Epoch::new(2) }),
        "{m:?}"
    );

    // A peer repairs; it never changes a segment's history.
    let m = peer
        .call(&Message::Truncate(Truncate {
            pg,
            epoch: Epoch::new(2),
            start: Lsn::new(36),
            end: Lsn::new(50),
        }))
        .unwrap();
    assert!(
        matches!(m, Message::Refusal(r) if matches!(r.reason, Reason::RoleRefused { .. })),
        "{m:?}"
    );

    // Truncate (36, 50] under epoch 2: records 37..40 are annulled.
    assert_eq!(truncations(&mut c, pg), []);
    let m = c
        .call(&Message::Truncate(Truncate {
            pg,
            epoch: Epoch::new(2),
            start: Lsn::new(36),
            end: Lsn::new(50),
        }))
        .unwrap();
    assert!(
        matches!(m, Message::TruncateAck(a) if a.scl == Lsn::new(36)),
        "{m:?}"
    );
    // The segment now holds that range, and says so to the shim and to a peer.
    let held = [range(2, 36, 50)];
    assert_eq!(truncations(&mut c, pg), held);
    assert_eq!(truncations(&mut peer, pg), held);

    // A PG of the other core is refused, naming the owner.
    let mut wrong = shim(ports[0]);
    for ask in [
        Message::SegmentStatus(SegmentStatus { pg }),
        Message::Truncations(Truncations { pg }),
    ] {
        let m = wrong.call(&ask).unwrap();
        assert!(
            matches!(m, Message::Refusal(r) if r.reason == Reason::WrongCore { pg, core: 1 }),
            "{m:?}"
        );
    }
    let m = c
        .call(&Message::Truncations(Truncations { pg: PgId::new(5) }))
        .unwrap();
    assert!(
        matches!(m, Message::Refusal(r) if r.reason == Reason::NoSegment { pg: PgId::new(5) }),
        "{m:?}"
    );
    assert_eq!(node.stop(), 0);
}

fn range(epoch: u64, start: u64, end: u64) -> TruncationRange {
    TruncationRange {
        epoch: Epoch::new(epoch),
        start: Lsn::new(start),
        end: Lsn::new(end),
    }
}

/// The truncation ranges the segment of `pg` holds, asked over the wire.
fn truncations(c: &mut Client, pg: PgId) -> Vec<TruncationRange> {
    let m = c.call(&Message::Truncations(Truncations { pg })).unwrap();
    let Message::TruncationsReply(r) = m else {
        panic!("{m:?}")
    };
    assert_eq!(r.pg, pg);
    r.ranges.iter().collect()
}

#[test]
fn data_survives_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgId::new(4);
    {
        let node = start(config(dir.path(), 1));
        let mut c = shim(node.ports()[0]);
        create(&mut c, pg, 1);
        let mut out = Vec::new();
        append_frame(&mut out, 1, pg, 1, 1, 8);
        c.send_raw(&out).unwrap();
        let (_, m) = c.recv_message().unwrap();
        assert!(
            matches!(m, Message::AppendAck(a) if a.scl == Lsn::new(8)),
            "{m:?}"
        );
        let m = c
            .call(&Message::Truncate(Truncate {
                pg,
                epoch: Epoch::new(2),
                start: Lsn::new(8),
                end: Lsn::new(20),
            }))
            .unwrap();
        assert!(matches!(m, Message::TruncateAck(_)), "{m:?}");
        assert_eq!(node.stop(), 0);
    }
    let node = start(config(dir.path(), 1));
    let mut c = shim(node.ports()[0]);
    let m = c
        .call(&Message::SegmentStatus(SegmentStatus { pg }))
        .unwrap();
    assert!(
        matches!(m, Message::StatusReply(s) if s.scl == Lsn::new(8)),
        "{m:?}"
    );
    assert_eq!(truncations(&mut c, pg), [range(2, 8, 20)]);
    // The core count is the data's: another one is refused, saying which to use.
    drop(c);
    assert_eq!(node.stop(), 0);
    let err = boreal_netlog::node::process::start(config(dir.path(), 3)).unwrap_err();
    assert!(err.to_string().contains("--cores 1"), "{err}");
}
