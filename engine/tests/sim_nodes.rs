//! What each simulated node has of its own, and what the harness does to whole nodes:
//! fault streams and fault configs per node, clocks with an offset and a drift (and
//! timers that keep to them), a process kill that keeps the page cache beside a crash
//! that may not, a wiped disk, a crash in the middle of a boot, the trace covering the
//! bytes written, and the liveness check.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{Clock, Instant, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{self, spawn};
use boreal_engine::sim::{
    ClockConfig, DiskConfig, FaultConfig, NodeConfig, NodeState, Sim, SimConfig, SimIo,
};

fn rw_direct() -> OpenOptions {
    OpenOptions {
        read: true,
        write: true,
        create: true,
        direct: true,
        ..OpenOptions::default()
    }
}

fn filled(len: usize, byte: u8) -> DmaBuf {
    let mut b = DmaBuf::zeroed(len);
    b.as_full_mut().fill(byte);
    b.set_len(len);
    b
}

fn quiet(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        faults: FaultConfig::none(),
        ..SimConfig::default()
    }
}

/// Writes, syncs and reads `ops` blocks one after another; the outcome of each (bytes
/// or errno, and what the read returned).
async fn sequential_io(io: SimIo, path: &str, ops: u64) -> Vec<(i64, i64, u64)> {
    let f = io.open(Path::new(path), rw_direct()).await.unwrap();
    let mut out = Vec::new();
    let word = |r: std::io::Result<usize>| match r {
        Ok(n) => n as i64,
        Err(e) => -i64::from(e.raw_os_error().unwrap_or(1)),
    };
    for i in 0..ops {
        let (w, _) = io
            .write_at(&f, filled(4096, i as u8), i * 4096, WriteFlags::NONE)
            .await;
        let s = io.fdatasync(&f).await.map(|()| 0);
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, i * 4096).await;
        let sum = buf.as_slice().iter().map(|&b| u64::from(b)).sum::<u64>();
        out.push((word(w), word(s.and(r)), sum));
    }
    out
}

/// Node 1's outcomes, with node 0 busy (disk and network) or idle.
fn node1_outcomes(seed: u64, node0_busy: bool) -> (Vec<(i64, i64, u64)>, u64) {
    let mut c = SimConfig::with_seed(seed);
    c.faults.read_eio_probability = 0.05;
    c.faults.write_eio_probability = 0.05;
    c.faults.sync_eio_probability = 0.05;
    c.faults.read_bit_flip_probability = 0.05;
    c.faults.stored_bit_flip_probability = 0.05;
    let sim = Sim::new(c);
    let (n0, n1) = (sim.add_node(), sim.add_node());
    let (io0, io1) = (sim.io(n0, 0), sim.io(n1, 0));
    if node0_busy {
        sim.spawn_on(n0, 0, async move {
            let _ = sequential_io(io0.clone(), "/busy", 200).await;
        });
    }
    let got = sim.run(sequential_io(io1, "/mine", 60));
    (got, sim.control().disk_stats(n1).data_destroying_faults())
}

#[test]
fn a_node_s_faults_do_not_depend_on_another_node_s_io() {
    let mut faulted = 0;
    for seed in 0..10 {
        let (quiet_neighbour, d0) = node1_outcomes(seed, false);
        let (busy_neighbour, d1) = node1_outcomes(seed, true);
        assert_eq!(
            quiet_neighbour, busy_neighbour,
            "seed {seed}: node 1's faults changed with node 0's I/O"
        );
        assert_eq!(d0, d1);
        faulted += quiet_neighbour
            .iter()
            .filter(|(w, r, _)| *w < 0 || *r < 0)
            .count();
    }
    assert!(
        faulted > 0,
        "no fault was injected at all: the test proves nothing"
    );
}

#[test]
fn a_node_can_have_faults_and_a_disk_of_its_own() {
    let mut c = SimConfig::with_seed(3);
    c.faults.write_eio_probability = 1.0;
    let sim = Sim::new(c);
    let faulty = sim.add_node();
    let clean = sim.add_node_with(NodeConfig {
        disk: DiskConfig {
            dio_align_bytes: 4096,
            ..DiskConfig::default()
        },
        faults: FaultConfig::none(),
        clock: ClockConfig::default(),
    });
    let ctl = sim.control();
    let (iof, ioc) = (sim.io(faulty, 0), sim.io(clean, 0));
    sim.run(async {
        let f = iof.open(Path::new("/f"), rw_direct()).await.unwrap();
        let (r, _) = iof.write_at(&f, filled(512, 1), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EIO));
        let g = ioc.open(Path::new("/f"), rw_direct()).await.unwrap();
        assert_eq!(ioc.file_info(&g).dio_offset_align, 4096);
        let (r, _) = ioc.write_at(&g, filled(4096, 1), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap(), 4096);
        // Faults change at run time, for one node only.
        ctl.set_node_faults(faulty, FaultConfig::none());
        let (r, _) = iof.write_at(&f, filled(512, 1), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap(), 512);
    });
    assert_eq!(ctl.node_config(clean).faults, FaultConfig::none());
}

#[test]
fn each_node_s_clock_has_its_offset_and_drift_and_its_timers_keep_to_it() {
    let sim = Sim::new(quiet(5));
    let plain = sim.add_node();
    let skewed = sim.add_node_with(NodeConfig {
        disk: DiskConfig::default(),
        faults: FaultConfig::none(),
        clock: ClockConfig {
            offset_ns: 7_000_000_000,
            drift_ppm: 100_000,
        },
    });
    let ctl = sim.control();
    let (io_p, io_s) = (sim.io(plain, 0), sim.io(skewed, 0));
    assert_eq!(io_s.now(), Instant::from_nanos(7_000_000_000));
    sim.run(async {
        ctl.sleep(Duration::from_secs(1)).await;
        assert_eq!(io_p.now(), Instant::from_nanos(1_000_000_000));
        assert_eq!(io_s.now(), Instant::from_nanos(8_100_000_000));
        // A sleep of 1.1 s on the fast clock is 1 s of virtual time.
        let t0 = ctl.now();
        io_s.sleep(Duration::from_millis(1100)).await;
        assert_eq!(ctl.now().as_nanos() - t0.as_nanos(), 1_000_000_000);
    });
    // The runtime's own timers, in a task of the node, run on the node's clock too
    // (the engine arms `rt::timeout_at` with deadlines from `Io::now`).
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s2, io2) = (seen.clone(), io_s.clone());
    let task = sim.spawn_on(skewed, 0, async move {
        let deadline = io2.now().saturating_add(Duration::from_millis(550));
        let r = rt::timeout_at(deadline, std::future::pending::<()>()).await;
        s2.borrow_mut().push((r.is_err(), io2.now() >= deadline));
        let before = rt::now();
        rt::sleep(Duration::from_millis(110)).await;
        s2.borrow_mut().push((
            true,
            rt::now().as_nanos() - before.as_nanos() >= 110_000_000,
        ));
    });
    let t0 = sim.now();
    sim.run(async {
        task.await.unwrap();
    });
    assert_eq!(*seen.borrow(), vec![(true, true), (true, true)]);
    // 550 ms + 110 ms of the node's clock at +10%: 600 ms of virtual time.
    let elapsed = sim.now().as_nanos() - t0.as_nanos();
    assert!((600_000_000..=600_000_002).contains(&elapsed), "{elapsed}");
    // A drift change keeps the reading; a jump moves it forward; neither goes back.
    sim.run(async {
        let before = ctl.node_now(skewed);
        ctl.set_clock_drift(skewed, -200_000);
        assert_eq!(ctl.node_now(skewed), before);
        ctl.sleep(Duration::from_secs(1)).await;
        assert_eq!(
            ctl.node_now(skewed).as_nanos() - before.as_nanos(),
            800_000_000
        );
        let before = ctl.node_now(skewed);
        ctl.jump_clock(skewed, Duration::from_secs(30));
        assert_eq!(
            ctl.node_now(skewed).as_nanos() - before.as_nanos(),
            30_000_000_000
        );
        // A sleep armed before a slow-down never ends early by the node's clock.
        let io = io_s.clone();
        let sleeper = spawn(async move {
            let deadline = io.now().saturating_add(Duration::from_secs(1));
            io.sleep_until(deadline).await;
            io.now() >= deadline
        });
        ctl.sleep(Duration::from_millis(100)).await;
        ctl.set_clock_drift(skewed, -400_000);
        assert!(sleeper.await.unwrap(), "a timer fired before its deadline");
    });
}

#[test]
fn random_clock_skew_is_drawn_per_node_within_bounds() {
    let c = SimConfig {
        clock_offset_ns_max: 1_000_000_000,
        clock_drift_ppm_max: 200,
        ..quiet(9)
    };
    let sim = Sim::new(c);
    let ctl = sim.control();
    let clocks: Vec<ClockConfig> = (0..6)
        .map(|_| sim.add_node())
        .map(|n| ctl.node_config(n).clock)
        .collect();
    for c in &clocks {
        assert!(
            c.offset_ns <= 1_000_000_000 && c.drift_ppm.abs() <= 200,
            "{c:?}"
        );
    }
    assert!(clocks.windows(2).any(|w| w[0] != w[1]), "{clocks:?}");
}

/// Writes `/f` un-synced (its name synced), then kills the process or crashes the
/// machine; what a fresh read finds.
fn after_losing(seed: u64, kill: bool) -> Vec<u8> {
    let mut c = quiet(seed);
    c.faults.crash_torn_write_probability = 0.0;
    let sim = Sim::new(c);
    let n = sim.add_node();
    let io = sim.io(n, 0);
    let ctl = sim.control();
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        io.sync_dir(Path::new("/")).await.unwrap();
        let (r, _) = io.write_at(&f, filled(4096, 9), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap(), 4096);
    });
    if kill {
        sim.kill_process(n);
        assert_eq!(ctl.node_state(n), NodeState::ProcessDown);
    } else {
        sim.crash_node(n);
        assert_eq!(ctl.node_state(n), NodeState::Down);
    }
    ctl.restart_node(n);
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(4096), 4096, 0).await;
        r.unwrap();
        buf.as_slice().to_vec()
    })
}

#[test]
fn a_process_kill_keeps_unsynced_writes_and_a_machine_crash_may_not() {
    let mut crash_lost = 0;
    for seed in 0..30 {
        assert_eq!(
            after_losing(seed, true),
            vec![9u8; 4096],
            "seed {seed}: the page cache outlives the process"
        );
        if after_losing(seed, false).is_empty() {
            crash_lost += 1;
        }
    }
    assert!(crash_lost > 0 && crash_lost < 30, "{crash_lost}");
}

#[test]
fn a_kill_then_a_crash_can_still_lose_what_the_kill_kept() {
    let mut lost = 0;
    for seed in 0..30 {
        let sim = Sim::new(quiet(seed));
        let n = sim.add_node();
        let io = sim.io(n, 0);
        let file = sim.run(async {
            let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
            io.sync_dir(Path::new("/")).await.unwrap();
            io.write_at(&f, filled(512, 4), 0, WriteFlags::NONE)
                .await
                .0
                .unwrap();
            f
        });
        sim.kill_process(n);
        // The dead process's handle is a closed descriptor.
        sim.run(async {
            let (r, _) = io.read_at(&file, DmaBuf::zeroed(512), 512, 0).await;
            assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        });
        sim.crash_node(n);
        sim.control().restart_node(n);
        let (w, _) = sim.control().disk_images(n, Path::new("/f")).unwrap();
        if w.is_empty() {
            lost += 1;
        }
    }
    assert!(
        lost > 0,
        "a crash after a kill never lost the un-synced write"
    );
}

#[test]
fn a_wiped_disk_is_empty_and_counted_as_damage() {
    let sim = Sim::new(quiet(1));
    let n = sim.add_node();
    let io = sim.io(n, 0);
    let ctl = sim.control();
    sim.run(async {
        let f = io.open(Path::new("/d/f"), rw_direct()).await.unwrap();
        io.write_at(&f, filled(512, 1), 0, WriteFlags::DSYNC)
            .await
            .0
            .unwrap();
        io.sync_dir(Path::new("/d")).await.unwrap();
    });
    sim.crash_node(n);
    ctl.wipe_disk(n);
    ctl.restart_node(n);
    assert!(ctl.disk_images(n, Path::new("/d/f")).is_none());
    assert_eq!(ctl.disk_stats(n).wipes, 1);
    assert_eq!(ctl.disk_stats(n).data_destroying_faults(), 1);
    assert_eq!(ctl.damage(n).len(), 1);
}

#[test]
#[should_panic(expected = "crash or kill the node first")]
fn wiping_a_running_node_is_refused() {
    let sim = Sim::new(quiet(1));
    let n = sim.add_node();
    sim.control().wipe_disk(n);
}

#[test]
fn a_crash_can_land_in_the_middle_of_a_boot() {
    let sim = Sim::new(quiet(2));
    let n = sim.add_node();
    let io = sim.io(n, 0);
    let ctl = sim.control();
    let steps = Rc::new(RefCell::new(0u32));
    let s2 = steps.clone();
    sim.spawn_on(n, 0, async move {
        // A "boot": ten synced writes, each about 160 µs.
        let f = io.open(Path::new("/boot"), rw_direct()).await.unwrap();
        for i in 0..10 {
            io.write_at(&f, filled(512, 1), i * 512, WriteFlags::DSYNC)
                .await
                .0
                .unwrap();
            *s2.borrow_mut() += 1;
        }
    });
    sim.run(async {
        ctl.crash_after(n, Duration::from_micros(400))
            .await
            .unwrap();
    });
    let done = *steps.borrow();
    assert!(!ctl.is_alive(n));
    assert!(
        done < 10,
        "the crash came after the boot finished ({done} steps)"
    );
}

fn trace_of(byte: u8) -> u64 {
    let sim = Sim::new(quiet(4));
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        io.write_at(&f, filled(512, byte), 0, WriteFlags::NONE)
            .await
            .0
            .unwrap();
    });
    sim.trace_hash()
}

#[test]
fn the_trace_covers_the_bytes_written() {
    assert_eq!(trace_of(1), trace_of(1));
    assert_ne!(
        trace_of(1),
        trace_of(2),
        "same offsets and lengths, other bytes: another trace"
    );
}

#[test]
fn liveness_is_checked_within_a_bound_and_fails_with_the_seed() {
    let sim = Sim::new(quiet(77));
    let a = sim.add_node();
    let b = sim.add_node();
    let ctl = sim.control();
    sim.run(async {
        ctl.partition(a, b);
        ctl.stop_faults();
        assert!(
            ctl.partitions().is_empty(),
            "stopping faults heals every link"
        );
        let healed_at = ctl.now().saturating_add(Duration::from_millis(30));
        let took = ctl
            .await_live(
                "the clock passed 30 ms",
                Duration::from_secs(1),
                Duration::from_millis(10),
                || {
                    let c = ctl.clone();
                    async move { c.now() >= healed_at }
                },
            )
            .await
            .unwrap();
        assert_eq!(took, Duration::from_millis(30));
        let e = ctl
            .await_live(
                "never",
                Duration::from_millis(100),
                Duration::from_millis(10),
                || async { false },
            )
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("seed=77") && msg.contains("never"), "{msg}");
        assert_eq!(e.bound, Duration::from_millis(100));
        ctl.resume_faults();
    });
}
