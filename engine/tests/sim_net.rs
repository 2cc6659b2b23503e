//! The simulated network's faults, through the `Io` API: partitions hold bytes and
//! then reset, one-way partitions block only one way, resets and crashes surface as
//! errors, connects time out or are refused as Linux's would, jittery delays never
//! reorder a stream, and a full buffer makes `send` wait.

use std::net::SocketAddr;
use std::time::Duration;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{Clock, Io};
use boreal_engine::rt::{spawn, timeout};
use boreal_engine::sim::{FaultConfig, LatencyConfig, Sim, SimConfig, SimIo, SimStream, node_ip};

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
fn a_long_partition_resets_the_stream() {
    let (sim, a, b) = two_nodes(quiet(3));
    let ctl = sim.control();
    let after = sim.control().config().net.partition_reset_after_ns;
    sim.run(async {
        let (ca, cb) = pair(&a, &b).await;
        ctl.partition(a.node(), b.node());
        let t0 = b.now();
        let e = recv_bytes(&b, &cb).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET));
        assert!(b.now().as_nanos() - t0.as_nanos() >= after);
        let (r, _) = a.send(&ca, DmaBuf::from_slice(b"x")).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECONNRESET));
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
fn a_crashed_node_resets_its_streams_and_stops_answering() {
    let (sim, a, b) = two_nodes(quiet(7));
    let ctl = sim.control();
    sim.run(async {
        let (ca, _cb) = pair(&a, &b).await;
        ctl.crash_node(b.node());
        assert_eq!(
            recv_bytes(&a, &ca).await.unwrap_err().raw_os_error(),
            Some(libc::ECONNRESET)
        );
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
