//! A node told to hold its acknowledgements back (`ack_delay_us`, the slow node a
//! benchmark asks for) makes its appends durable as fast as ever, acknowledges each no
//! earlier than the delay after it, in order; a node without it does not wait.

mod support;

use std::time::{Duration, Instant};

use boreal_netlog::proto::Message;
use boreal_segment::{Lsn, PgId};
use support::{append_frame, config, create, scl, shim, start};

const DELAY: Duration = Duration::from_millis(200);

/// Sends `n` appends of 4 records each back to back and returns when each
/// acknowledgement arrived (from the send) and the SCL each carried.
fn appends(
    c: &mut boreal_netlog::client::Client,
    pg: PgId,
    first: u64,
    n: u64,
) -> Vec<(Duration, Lsn)> {
    let mut out = Vec::new();
    let mut ids = Vec::new();
    for k in 0..n {
        let id = c.next_id();
        append_frame(&mut out, id, pg, 1, first + 4 * k, first + 4 * k + 3);
        ids.push(id);
    }
    let sent = Instant::now();
    c.send_raw(&out).unwrap();
    let mut acks = Vec::new();
    for want in ids {
        match c.recv_message().unwrap() {
            (id, Message::AppendAck(ack)) => {
                assert_eq!(id, want, "acknowledged in order");
                acks.push((sent.elapsed(), ack.scl));
            }
            (_, other) => panic!("expected an AppendAck, got {other:?}"),
        }
    }
    acks
}

#[test]
fn acknowledgements_wait_for_the_delay_and_the_records_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("slow"), 1);
    cfg.ack_delay_us = DELAY.as_micros() as u64;
    let node = start(cfg);
    let port = node.ports()[0];
    let pg = PgId::new(0);
    let mut c = shim(port);
    create(&mut c, pg, 1);
    // Ten appends pipelined: each waits the delay from when it turned durable, not
    // from when the one before it was acknowledged (one delay in all, not ten).
    let acks = appends(&mut c, pg, 1, 10);
    for (took, _) in &acks {
        assert!(
            *took >= DELAY,
            "acknowledged after {took:?}, before the {DELAY:?} delay"
        );
    }
    let last = acks.last().unwrap();
    assert_eq!(last.1, Lsn::new(40));
    assert!(
        last.0 < DELAY * 3,
        "the tenth acknowledgement came after {:?}: the delays added up",
        last.0
    );
    // The records were durable before their acknowledgements left: another
    // connection sees the SCL at once, while a new append's acknowledgement is held.
    let mut other = shim(port);
    let mut out = Vec::new();
    let id = c.next_id();
    append_frame(&mut out, id, pg, 1, 41, 41);
    c.send_raw(&out).unwrap();
    let sent = Instant::now();
    let seen = support::eventually(DELAY * 10, || scl(&mut other, pg) == Lsn::new(41));
    let scl_after = sent.elapsed();
    assert!(seen);
    let (got, m) = c.recv_message().unwrap();
    assert!(got == id && matches!(m, Message::AppendAck(_)), "{m:?}");
    let ack_after = sent.elapsed();
    assert!(
        ack_after >= DELAY && scl_after < ack_after,
        "SCL seen after {scl_after:?}, ack after {ack_after:?}"
    );

    // The same on a node without the delay: no wait.
    let fast = start(config(&dir.path().join("fast"), 1));
    let mut c = shim(fast.ports()[0]);
    create(&mut c, pg, 1);
    let acks = appends(&mut c, pg, 1, 10);
    assert!(
        acks.iter().all(|(took, _)| *took < DELAY),
        "a node without ack_delay_us acknowledged after {acks:?}"
    );
}
