//! The simulated network's faults, through the `Io` API: partitions hold bytes and
//! reset a connection with bytes in flight after its own timeout (never an idle one),
//! one-way partitions block only one way, a crashed peer leaves connections half-open
//! (sends into the void, then `ETIMEDOUT`, or a reset once it restarts), a killed
//! process's kernel closes its sockets, connects time out or are refused as Linux's
//! would (a lost SYN-ACK included), slow links are slower, jittery delays never
//! reorder a stream, and a full buffer makes `send` wait.

use std::net::SocketAddr;
use std::time::Duration;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{Clock, Io};
use boreal_engine::rt::{spawn, timeout};
use boreal_engine::sim::{
    FaultConfig, LatencyConfig, LinkConfig, Sim, SimConfig, SimIo, SimStream, node_ip,
};

const PORT: u16 = 9000;

fn quiet(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        faults: FaultConfig::none(),
        ..SimConfig::default()
    }
}

fn two_nodes(config: SimConfig) -> (Sim, SimIo, SimIo) {
    let sim = Sim::new(config);
    let a = sim.add_node();
    let b = sim.add_node();
    let (a, b) = (sim.io(a, 0), sim.io(b, 0));
    (sim, a, b)
}

fn addr_of(io: &SimIo) -> SocketAddr {
    SocketAddr::new(node_ip(io.node()), PORT)
}

/// Connects `a` to a listener on `b`; returns (a's end, b's end).
async fn pair(a: &SimIo, b: &SimIo) -> (SimStream, SimStream) {
    let listener = b.bind(addr_of(b)).await.unwrap();
    let accept = {
        let b = b.clone();
        spawn(async move { b.accept(&listener).await.map(|(s, _)| s) })
    };
    let client = a.connect(addr_of(b)).await.unwrap();
    let server = accept.await.unwrap().unwrap();
    (client, server)
}

async fn recv_bytes(io: &SimIo, s: &SimStream) -> std::io::Result<Vec<u8>> {
    let (r, buf) = io.recv(s, DmaBuf::zeroed(1 << 16)).await;
    r.map(|_| buf.as_slice().to_vec())
}

#[test]
fn partition_holds_bytes_until_healed() {
    let (sim, a, b) = two_nodes(quiet(1));
    let ctl = sim.control();
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        ctl.partition(a.node(), b.node());
        a.send(&ca, DmaBuf::from_slice(b"hello")).await.0.unwrap();
        let blocked = timeout(Duration::from_millis(500), recv_bytes(&b, &cb)).await;
        assert!(blocked.is_err(), "bytes crossed a partition");
        ctl.heal(a.node(), b.node());
        assert_eq!(recv_bytes(&b, &cb).await.unwrap(), b"hello");
    });
}

#[test]
fn one_way_partition_blocks_only_one_direction() {
    let (sim, a, b) = two_nodes(quiet(2));
    let ctl = sim.control();
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        ctl.partition_one_way(a.node(), b.node());
        a.send(&ca, DmaBuf::from_slice(b"a->b")).await.0.unwrap();
        b.send(&cb, DmaBuf::from_slice(b"b->a")).await.0.unwrap();
        assert_eq!(recv_bytes(&a, &ca).await.unwrap(), b"b->a");
        assert!(
            timeout(Duration::from_millis(500), recv_bytes(&b, &cb))
                .await
                .is_err()
        );
    });
}

#[test]
fn a_partition_resets_a_stream_with_bytes_in_flight_after_its_own_timeout() {
    let (sim, a, b) = two_nodes(quiet(3));
    let ctl = sim.control();
    let after = sim.control().config().net.partition_reset_after_ns;
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        let (idle_a, idle_b) = pair(&a, &b).await;
        ctl.partition(a.node(), b.node());
        // The connection's timer starts with its first held send, not the partition.
        a.sleep(Duration::from_nanos(after / 2)).await;
        let t1 = a.now();
        a.send(&ca, DmaBuf::from_slice(b"x")).await.0.unwrap();
        let e = recv_bytes(&b, &cb).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET));
        assert_eq!(b.now().as_nanos() - t1.as_nanos(), after);
        let (r, _) = a.send(&ca, DmaBuf::from_slice(b"x")).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECONNRESET));
        // An idle connection survives the same partition (no keepalive) and works once
        // it heals.
        a.sleep(Duration::from_nanos(3 * after)).await;
        ctl.heal(a.node(), b.node());
        a.send(&idle_a, DmaBuf::from_slice(b"still here"))
            .await
            .0
            .unwrap();
        assert_eq!(recv_bytes(&b, &idle_b).await.unwrap(), b"still here");
    });
}

#[test]
fn a_partition_healed_in_time_resets_nothing() {
    let (sim, a, b) = two_nodes(quiet(13));
    let ctl = sim.control();
    let after = sim.control().config().net.partition_reset_after_ns;
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        // Acknowledgements blocked: the sender's bytes arrive but it retransmits.
        ctl.partition_one_way(b.node(), a.node());
        a.send(&ca, DmaBuf::from_slice(b"one")).await.0.unwrap();
        assert_eq!(recv_bytes(&b, &cb).await.unwrap(), b"one");
        a.sleep(Duration::from_nanos(after / 2)).await;
        ctl.heal_one_way(b.node(), a.node());
        // A second partition later does not inherit the first one's timer.
        a.sleep(Duration::from_nanos(after)).await;
        ctl.partition(a.node(), b.node());
        a.send(&ca, DmaBuf::from_slice(b"two")).await.0.unwrap();
        a.sleep(Duration::from_nanos(after * 3 / 4)).await;
        ctl.heal(a.node(), b.node());
        assert_eq!(recv_bytes(&b, &cb).await.unwrap(), b"two");
        a.sleep(Duration::from_nanos(2 * after)).await;
        a.send(&ca, DmaBuf::from_slice(b"three")).await.0.unwrap();
        assert_eq!(recv_bytes(&b, &cb).await.unwrap(), b"three");
    });
}

#[test]
fn connect_across_a_partition_times_out_and_to_no_listener_is_refused() {
    let (sim, a, b) = two_nodes(quiet(4));
    let ctl = sim.control();
    let connect_timeout = ctl.config().net.connect_timeout_ns;
    sim.run(async {
        let e = a.connect(addr_of(&b)).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
        let _listener = b.bind(addr_of(&b)).await.unwrap();
        ctl.partition(a.node(), b.node());
        let t0 = a.now();
        let e = a.connect(addr_of(&b)).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
        assert_eq!(a.now().as_nanos() - t0.as_nanos(), connect_timeout);
    });
}

#[test]
fn resets_surface_as_errors_on_both_ends() {
    let (sim, a, b) = two_nodes(quiet(5));
    let ctl = sim.control();
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        ctl.reset_streams(a.node());
        assert_eq!(
            recv_bytes(&b, &cb).await.unwrap_err().raw_os_error(),
            Some(libc::ECONNRESET)
        );
        let (r, _) = a.send(&ca, DmaBuf::from_slice(b"x")).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECONNRESET));
    });
    // Loss on a stream is modelled as a reset.
    let mut c = quiet(6);
    c.faults.stream_reset_probability = 1.0;
    let (sim, a, b) = two_nodes(c);
    sim.run(async {
        let (ca, _cb) = pair(&a, &b).await;
        let (r, _) = a.send(&ca, DmaBuf::from_slice(b"x")).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECONNRESET));
    });
}

#[test]
fn a_crashed_peer_leaves_the_connection_half_open_until_a_timeout() {
    let (sim, a, b) = two_nodes(quiet(7));
    let ctl = sim.control();
    let after = ctl.config().net.partition_reset_after_ns;
    sim.run(async {
        let (ca, _cb) = pair(&a, &b).await;
        let (quiet_a, _quiet_b) = pair(&a, &b).await;
        ctl.crash_node(b.node());
        // The survivor's receive hangs: a dead host sends neither FIN nor RST.
        assert!(
            timeout(Duration::from_secs(60), recv_bytes(&a, &quiet_a))
                .await
                .is_err(),
            "a receive on a half-open connection returned"
        );
        // Its sends succeed, into the void, until TCP gives up retransmitting them.
        let t0 = a.now();
        a.send(&ca, DmaBuf::from_slice(b"lost")).await.0.unwrap();
        let e = recv_bytes(&a, &ca).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
        assert_eq!(a.now().as_nanos() - t0.as_nanos(), after);
        let e = a.connect(addr_of(&b)).await.unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ETIMEDOUT),
            "a dead host sends no RST"
        );
        ctl.restart_node(b.node());
        let e = a.connect(addr_of(&b)).await.unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ECONNREFUSED),
            "restarted, nothing listening"
        );
        // The idle half-open connection learns only when it sends: the restarted host
        // answers with a reset.
        a.send(&quiet_a, DmaBuf::from_slice(b"hello?"))
            .await
            .0
            .unwrap();
        let e = recv_bytes(&a, &quiet_a).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET));
    });
}

#[test]
fn bytes_in_flight_to_a_crashed_peer_draw_a_reset_once_it_restarts() {
    let (sim, a, b) = two_nodes(quiet(17));
    let ctl = sim.control();
    let after = ctl.config().net.partition_reset_after_ns;
    sim.run(async {
        let (ca, _cb) = pair(&a, &b).await;
        ctl.crash_node(b.node());
        a.send(&ca, DmaBuf::from_slice(b"retransmitted"))
            .await
            .0
            .unwrap();
        a.sleep(Duration::from_nanos(after / 4)).await;
        ctl.restart_node(b.node());
        let t0 = a.now();
        let e = recv_bytes(&a, &ca).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET));
        assert!(
            a.now().as_nanos() - t0.as_nanos() < after / 2,
            "the reset comes with the next retransmission, not the timeout"
        );
    });
}

#[test]
fn a_killed_process_closes_its_sockets_at_once() {
    let (sim, a, b) = two_nodes(quiet(19));
    let ctl = sim.control();
    sim.run(async {
        let (ca, _cb) = pair(&a, &b).await;
        let (unread_a, _unread_b) = pair(&a, &b).await;
        a.send(&unread_a, DmaBuf::from_slice(b"never read"))
            .await
            .0
            .unwrap();
        a.sleep(Duration::from_millis(50)).await;
        ctl.kill_process(b.node());
        assert_eq!(
            recv_bytes(&a, &ca).await.unwrap(),
            b"",
            "a FIN: the kernel closed the socket"
        );
        assert_eq!(
            recv_bytes(&a, &unread_a).await.unwrap_err().raw_os_error(),
            Some(libc::ECONNRESET),
            "a reset: the socket held unread bytes"
        );
        let e = a.connect(addr_of(&b)).await.unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ECONNREFUSED),
            "the machine is up, the port is closed"
        );
    });
}

#[test]
fn jittery_delays_never_reorder_a_stream() {
    let mut c = quiet(8);
    c.net.delay = LatencyConfig {
        min_ns: 1_000,
        mean_ns: 500_000,
        tail_ns: 20_000_000,
        tail_probability: 0.2,
    };
    c.faults.short_send_probability = 0.5;
    let (sim, a, b) = two_nodes(c);
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        let expected: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let sender = {
            let (a, expected) = (a.clone(), expected.clone());
            spawn(async move {
                let mut sent = 0;
                while sent < expected.len() {
                    let chunk = (expected.len() - sent).min(37);
                    let (r, _) = a
                        .send(&ca, DmaBuf::from_slice(&expected[sent..sent + chunk]))
                        .await;
                    sent += r.unwrap();
                }
                drop(ca);
            })
        };
        let mut got = Vec::new();
        loop {
            let bytes = recv_bytes(&b, &cb).await.unwrap();
            if bytes.is_empty() {
                break;
            }
            got.extend_from_slice(&bytes);
        }
        sender.await.unwrap();
        assert_eq!(got, expected);
    });
}

#[test]
fn a_full_buffer_makes_send_wait_for_the_reader() {
    let mut c = quiet(9);
    c.net.stream_buffer_bytes = 1000;
    let (sim, a, b) = two_nodes(c);
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        let (r, _) = a.send(&ca, DmaBuf::from_slice(&[1; 1500])).await;
        assert_eq!(r.unwrap(), 1000, "short: only the buffer's room");
        let waiting = timeout(
            Duration::from_millis(100),
            a.send(&ca, DmaBuf::from_slice(&[2; 10])),
        )
        .await;
        assert!(waiting.is_err(), "send did not wait for room");
        b.sleep(Duration::from_millis(50)).await;
        assert_eq!(recv_bytes(&b, &cb).await.unwrap().len(), 1000);
        let (r, _) = a.send(&ca, DmaBuf::from_slice(&[2; 10])).await;
        assert_eq!(r.unwrap(), 10);
    });
}

#[test]
fn a_blocked_syn_ack_makes_connect_time_out_and_the_server_never_accepts() {
    let (sim, a, b) = two_nodes(quiet(21));
    let ctl = sim.control();
    let connect_timeout = ctl.config().net.connect_timeout_ns;
    sim.run(async {
        let listener = b.bind(addr_of(&b)).await.unwrap();
        // The SYN gets through; the SYN-ACK does not.
        ctl.partition_one_way(b.node(), a.node());
        let t0 = a.now();
        let e = a.connect(addr_of(&b)).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
        assert_eq!(a.now().as_nanos() - t0.as_nanos(), connect_timeout);
        let accepted = timeout(Duration::from_secs(5), b.accept(&listener)).await;
        assert!(
            accepted.is_err(),
            "the server accepted a half-made connection"
        );
        ctl.heal_all();
        let client = a.connect(addr_of(&b)).await.unwrap();
        let (server, _) = b.accept(&listener).await.unwrap();
        a.send(&client, DmaBuf::from_slice(b"ok")).await.0.unwrap();
        assert_eq!(recv_bytes(&b, &server).await.unwrap(), b"ok");
    });
}

#[test]
fn a_slow_link_multiplies_its_delays_one_way() {
    let mut c = quiet(23);
    c.net.delay = LatencyConfig::fixed(100_000);
    let (sim, a, b) = two_nodes(c);
    let ctl = sim.control();
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        ctl.set_link(
            a.node(),
            b.node(),
            LinkConfig {
                delay_factor: 30.0,
                extra_delay_ns: 1_000_000,
            },
        );
        let t0 = b.now();
        a.send(&ca, DmaBuf::from_slice(b"slow")).await.0.unwrap();
        assert_eq!(recv_bytes(&b, &cb).await.unwrap(), b"slow");
        assert_eq!(b.now().as_nanos() - t0.as_nanos(), 4_000_000);
        let t0 = a.now();
        b.send(&cb, DmaBuf::from_slice(b"fast")).await.0.unwrap();
        assert_eq!(recv_bytes(&a, &ca).await.unwrap(), b"fast");
        assert_eq!(a.now().as_nanos() - t0.as_nanos(), 100_000, "only one way");
        ctl.set_link(a.node(), b.node(), LinkConfig::default());
        let t0 = b.now();
        a.send(&ca, DmaBuf::from_slice(b"again")).await.0.unwrap();
        assert_eq!(recv_bytes(&b, &cb).await.unwrap(), b"again");
        assert_eq!(b.now().as_nanos() - t0.as_nanos(), 100_000);
    });
}

#[test]
fn handles_of_a_dead_process_are_closed_descriptors() {
    let (sim, a, b) = two_nodes(quiet(25));
    let ctl = sim.control();
    sim.run(async {
        let (_ca, cb) = pair(&a, &b).await;
        ctl.kill_process(b.node());
        ctl.restart_node(b.node());
        let (r, _) = b.send(&cb, DmaBuf::from_slice(b"x")).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(
            recv_bytes(&b, &cb).await.unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    });
}
