//! Bad input closes that connection only (DESIGN §4): garbage, an oversize length, a
//! request before `Hello`, a stale epoch, a half frame then a hang-up, while another
//! client keeps appending; every one of its appends is acknowledged, and the node's
//! metrics count the refusals.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use boreal_netlog::client::{Client, ClientError};
use boreal_netlog::proto::{Message, Reason};
use boreal_segment::limits::{FRAME_BODY_BYTES_MAX, FRAME_HEADER_SIZE};
use boreal_segment::{FrameHeader, Lsn, PgId};
use support::{append_frame, config, create, scrape, shim, start};

fn raw(port: u16) -> Client {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let c = Client::connect(addr, Duration::from_secs(5)).unwrap();
    c.set_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// The node answers `Malformed` (or closes) and then closes the connection.
fn closed_with(c: &mut Client, want: fn(&Reason) -> bool) {
    let mut refused = false;
    loop {
        match c.recv_message() {
            Ok((_, Message::Refusal(r))) => {
                assert!(want(&r.reason), "{r:?}");
                refused = true;
            }
            Ok((_, m)) => panic!("unexpected {m:?}"),
            Err(ClientError::Closed { .. }) => break,
            Err(ClientError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused, "closed without saying why");
}

/// The node has closed the connection after its last answer.
fn closed_with_nothing_more(c: &mut Client) {
    match c.recv_message() {
        Err(ClientError::Closed { .. }) => {}
        Err(ClientError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the connection stayed open: {other:?}"),
    }
}

#[test]
fn bad_input_closes_that_connection_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1);
    cfg.metrics = Some("127.0.0.1:0".parse().unwrap());
    let node = start(cfg);
    let port = node.ports()[0];
    let pg = PgId::new(2);
    let mut good = shim(port);
    create(&mut good, pg, 1);
    let mut next = 1u64;
    let send_good = |good: &mut Client, next: &mut u64| {
        let mut out = Vec::new();
        append_frame(&mut out, *next, pg, 1, *next, *next);
        good.send_raw(&out).unwrap();
        *next += 1;
    };
    send_good(&mut good, &mut next);

    // Garbage where a frame header should be.
    let mut g = raw(port);
    g.send_raw(&[0xA5; 64]).unwrap();
    closed_with(&mut g, |r| matches!(r, Reason::Malformed { tag: 0 }));
    send_good(&mut good, &mut next);

    // A valid header claiming a body over the cap: refused from the header alone.
    let mut o = shim(port);
    let mut h = Vec::new();
    Message::SegmentStatus(boreal_netlog::proto::SegmentStatus { pg })
        .encode(9, &mut h)
        .unwrap();
    h.truncate(FRAME_HEADER_SIZE);
    h[20..24].copy_from_slice(&(FRAME_BODY_BYTES_MAX as u32 + 1).to_le_bytes());
    let sum = boreal_segment::checksum::crc32c(&h[4..FRAME_HEADER_SIZE]);
    h[..4].copy_from_slice(&sum.to_le_bytes());
    o.send_raw(&h).unwrap();
    closed_with(&mut o, |r| matches!(r, Reason::Malformed { tag: 0 }));
    send_good(&mut good, &mut next);

    // A request before Hello.
    let mut early = raw(port);
    let mut f = Vec::new();
    append_frame(&mut f, 1, pg, 1, 1000, 1000);
    early.send_raw(&f).unwrap();
    closed_with(&mut early, |r| *r == Reason::HelloOrder);
    send_good(&mut good, &mut next);

    // A body whose checksum does not match (one flipped bit).
    let mut flip = shim(port);
    let mut f = Vec::new();
    append_frame(&mut f, 1, pg, 1, 2000, 2000);
    let at = f.len() - 3;
    f[at] ^= 0x04;
    flip.send_raw(&f).unwrap();
    closed_with(&mut flip, |r| matches!(r, Reason::Malformed { .. }));

    // A record whose own body checksum does not hold, in a frame whose checksum does
    // (the sender's memory damaged the record after it was encoded): refused naming
    // the record, and nothing of it journaled (the good client's record at the same
    // LSN is taken below, not refused as a conflict).
    let mut damaged = shim(port);
    let mut f = Vec::new();
    append_frame(&mut f, 1, pg, 1, next, next);
    let at = f.len() - 3;
    f[at] ^= 0x04;
    let h = FrameHeader::decode(&f).unwrap();
    let h = FrameHeader::for_body(h.tag, h.request_id, &f[FRAME_HEADER_SIZE..]).unwrap();
    f[..FRAME_HEADER_SIZE].copy_from_slice(&h.encode());
    damaged.send_raw(&f).unwrap();
    let (id, m) = damaged.recv_message().unwrap();
    assert_eq!(id, 1);
    let Message::Refusal(r) = m else {
        panic!("a damaged record was taken: {m:?}")
    };
    assert!(matches!(r.reason, Reason::Malformed { .. }), "{r:?}");
    assert!(
        r.text.contains("AppendBatch: record #0")
            && r.text.contains("record body: checksum mismatch"),
        "{}",
        r.text
    );
    closed_with_nothing_more(&mut damaged);
    send_good(&mut good, &mut next);

    // Half a frame, then hang up.
    {
        let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut f = Vec::new();
        append_frame(&mut f, 1, pg, 1, 3000, 3000);
        half.write_all(&f[..f.len() / 2]).unwrap();
    }
    send_good(&mut good, &mut next);

    // A stale epoch is refused, and that connection stays usable.
    let mut stale = shim(port);
    let mut f = Vec::new();
    append_frame(&mut f, 7, pg, 0, next, next);
    stale.send_raw(&f).unwrap();
    let (id, m) = stale.recv_message().unwrap();
    assert_eq!(id, 7);
    assert!(
        matches!(m, Message::Refusal(r) if matches!(r.reason, Reason::StaleEpoch { .. })),
        "{m:?}"
    );
    let m = stale
        .call(&Message::SegmentStatus(
            boreal_netlog::proto::SegmentStatus { pg },
        ))
        .unwrap();
    assert!(matches!(m, Message::StatusReply(_)), "{m:?}");

    // Every good append was acknowledged, in order.
    let sent = next - 1;
    for k in 1..=sent {
        let (id, m) = good.recv_message().unwrap();
        assert_eq!(id, k);
        assert!(
            matches!(m, Message::AppendAck(a) if a.scl == Lsn::new(k)),
            "{m:?}"
        );
    }

    // The refusals are counted by reason.
    let addr = node.metrics_addr().unwrap();
    let text = scrape(addr);
    assert!(
        text.contains("boreal_requests_refused_total{core=\"0\",reason=\"malformed\"}"),
        "{text}"
    );
    assert!(text.contains("reason=\"stale_epoch\""), "{text}");
    assert_eq!(node.stop(), 0);
}
