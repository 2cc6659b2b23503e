//! The simulated disk's crash semantics, through the `Io` API: un-synced writes may
//! vanish, synced never do, writes tear at 512-byte granularity, a failed sync follows
//! Linux, a new file's name survives a crash only after a directory fsync, in-flight
//! ops finish even when their future is dropped, space runs out, time moves only by
//! events, and fadvise (advice the simulator ignores) shifts nothing.
//!
//! Each test loops over a handful of seeds and asserts both "this always holds" and
//! "the other outcome was seen", so a simulator that never drops anything (or always
//! does) fails too.

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::buf::DmaBuf;
use boreal_engine::io::{Advice, Clock, Instant, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{spawn, yield_now};
use boreal_engine::sim::{FaultConfig, LatencyConfig, Sim, SimConfig, SimIo};

const SEEDS: u64 = 40;

fn quiet(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        faults: FaultConfig::none(),
        ..SimConfig::default()
    }
}

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

async fn read_all(io: &SimIo, path: &str) -> Vec<u8> {
    let f = io.open(Path::new(path), rw_direct()).await.expect("open");
    let (r, buf) = io.read_at(&f, DmaBuf::zeroed(1 << 16), 1 << 16, 0).await;
    r.expect("read");
    buf.as_slice().to_vec()
}

/// Writes `a` synced and `b` un-synced, crashes, and returns what is left.
fn synced_then_unsynced(config: SimConfig) -> Vec<u8> {
    let sim = Sim::new(config);
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        io.sync_dir(Path::new("/")).await.unwrap();
        assert_eq!(
            io.write_at(&f, filled(4096, 0xA), 0, WriteFlags::NONE)
                .await
                .0
                .unwrap(),
            4096
        );
        io.fdatasync(&f).await.unwrap();
        assert_eq!(
            io.write_at(&f, filled(4096, 0xB), 4096, WriteFlags::NONE)
                .await
                .0
                .unwrap(),
            4096
        );
    });
    sim.crash_node(n);
    sim.control().restart_node(n);
    sim.run(read_all(&io, "/f"))
}

#[test]
fn synced_data_survives_and_unsynced_may_vanish() {
    let (mut kept, mut lost) = (0, 0);
    for seed in 0..SEEDS {
        let mut c = quiet(seed);
        c.faults.crash_torn_write_probability = 0.0;
        let data = synced_then_unsynced(c);
        assert_eq!(
            &data[..4096],
            &[0xA; 4096][..],
            "seed={seed}: synced data lost"
        );
        match data.len() {
            8192 => {
                assert_eq!(&data[4096..], &[0xB; 4096][..]);
                kept += 1;
            }
            4096 => lost += 1,
            other => panic!("seed={seed}: unexpected size {other}"),
        }
    }
    assert!(kept > 0 && lost > 0, "kept={kept} lost={lost}");
}

#[test]
fn unsynced_writes_tear_at_512_byte_boundaries() {
    let mut torn = 0;
    for seed in 0..SEEDS {
        let mut c = quiet(seed);
        c.faults.crash_keep_unsynced_probability = 1.0;
        c.faults.crash_torn_write_probability = 1.0;
        let data = synced_then_unsynced(c);
        assert_eq!(&data[..4096], &[0xA; 4096][..], "seed={seed}");
        let tail = &data[4096..];
        for sector in tail.chunks(512) {
            assert!(
                sector.iter().all(|&b| b == 0xB) || sector.iter().all(|&b| b == 0),
                "seed={seed}: a sector tore inside itself"
            );
        }
        let new = tail.chunks(512).filter(|s| s[0] == 0xB).count();
        if new != 0 && new != 8 {
            torn += 1;
        }
    }
    assert!(torn > 0);
}

#[test]
fn dsync_writes_and_linked_syncs_are_durable() {
    for seed in 0..SEEDS {
        let sim = Sim::new(quiet(seed));
        let n = sim.add_node();
        let io = sim.io(n, 0);
        sim.run(async {
            let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
            io.sync_dir(Path::new("/")).await.unwrap();
            io.fdatasync(&f).await.unwrap();
            let (r, _) = io.write_at(&f, filled(512, 1), 0, WriteFlags::DSYNC).await;
            assert_eq!(r.unwrap(), 512);
            let (r, _) = io.write_then_fdatasync(&f, filled(512, 2), 512).await;
            assert_eq!(r.unwrap(), 512);
        });
        sim.crash_node(n);
        sim.control().restart_node(n);
        let data = sim.run(read_all(&io, "/f"));
        assert_eq!(&data[..512], &[1; 512][..], "seed={seed}");
        assert_eq!(&data[512..1024], &[2; 512][..], "seed={seed}");
    }
}

#[test]
fn failed_fdatasync_keeps_data_readable_but_not_durable() {
    let (mut lost, mut kept) = (0, 0);
    for seed in 0..SEEDS {
        let mut c = quiet(seed);
        c.faults.sync_eio_probability = 1.0;
        c.faults.crash_keep_unsynced_probability = 0.0;
        let sim = Sim::new(c);
        let n = sim.add_node();
        let io = sim.io(n, 0);
        sim.run(async {
            let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
            io.write_at(&f, filled(512, 7), 0, WriteFlags::NONE)
                .await
                .0
                .unwrap();
            let e = io.fdatasync(&f).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EIO));
            // Still in the page cache.
            let (r, buf) = io.read_at(&f, DmaBuf::zeroed(512), 512, 0).await;
            assert_eq!(r.unwrap(), 512);
            assert_eq!(buf.as_slice(), &[7; 512][..]);
        });
        sim.crash_node(n);
        sim.control().restart_node(n);
        // A never-synced file may vanish entirely: opening with create covers both.
        match sim.run(read_all(&io, "/f")).as_slice() {
            [] => lost += 1,
            d => {
                assert_eq!(d, &[7; 512][..]);
                kept += 1;
            }
        }
    }
    assert!(lost > 0 && kept > 0, "lost={lost} kept={kept}");
}

#[test]
fn a_dropped_write_future_still_completes() {
    let sim = Sim::new(quiet(3));
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = Rc::new(io.open(Path::new("/f"), rw_direct()).await.unwrap());
        let submitted = Rc::new(Cell::new(false));
        let task = {
            let (io, f, submitted) = (io.clone(), f.clone(), submitted.clone());
            spawn(async move {
                submitted.set(true);
                io.write_at(&f, filled(512, 9), 0, WriteFlags::NONE).await
            })
        };
        while !submitted.get() {
            yield_now().await;
        }
        task.abort();
        io.sleep(Duration::from_millis(50)).await;
        let (r, buf) = io.read_at(&f, DmaBuf::zeroed(512), 512, 0).await;
        assert_eq!(r.unwrap(), 512);
        assert_eq!(buf.as_slice(), &[9; 512][..]);
    });
}

#[test]
fn handles_from_before_a_crash_are_bad_descriptors() {
    let sim = Sim::new(quiet(4));
    let n = sim.add_node();
    let io = sim.io(n, 0);
    let f = sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        io.fsync(&f).await.unwrap();
        f
    });
    sim.crash_node(n);
    sim.control().restart_node(n);
    sim.run(async {
        let (r, _) = io.read_at(&f, DmaBuf::zeroed(512), 512, 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        let r = io.fadvise(&f, Advice::Random).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
    });
}

#[test]
fn fadvise_takes_no_time_and_shifts_nothing() {
    // The same seed with and without advice before every write ends at the same
    // virtual time with the same bytes: the advice took no time and drew no random
    // number (the default disk's latencies are random, so one draw would shift every
    // later write's completion).
    let run = |advise: bool| {
        let sim = Sim::new(quiet(7));
        let n = sim.add_node();
        let io = sim.io(n, 0);
        sim.run(async {
            let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
            for i in 0..16u8 {
                if advise {
                    let before = io.now();
                    let advice = [Advice::Normal, Advice::Sequential, Advice::Random];
                    io.fadvise(&f, advice[usize::from(i) % 3]).await.unwrap();
                    assert_eq!(io.now(), before, "advice takes no virtual time");
                }
                let offset = u64::from(i) * 512;
                io.write_at(&f, filled(512, i), offset, WriteFlags::NONE)
                    .await
                    .0
                    .unwrap();
            }
            (io.now(), read_all(&io, "/f").await)
        })
    };
    let (plain, advised) = (run(false), run(true));
    assert!(plain.0 > Instant::ZERO, "the writes took virtual time");
    assert_eq!(plain, advised);
}

#[test]
fn a_full_disk_gives_short_writes_then_enospc() {
    let mut c = quiet(5);
    c.disk.capacity_bytes = 8192;
    let sim = Sim::new(c);
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        let (r, _) = io.write_at(&f, filled(12288, 1), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap(), 8192);
        let (r, _) = io
            .write_at(&f, filled(512, 1), 8192, WriteFlags::NONE)
            .await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ENOSPC));
        // A short linked write never runs its sync, and fails as a whole.
        let (r, _) = io.write_then_fdatasync(&f, filled(8192, 1), 4096).await;
        assert!(r.is_err());
    });
    assert!(sim.control().disk_stats(n).enospc >= 1);
}

#[test]
fn virtual_time_moves_only_by_events() {
    let mut c = quiet(6);
    c.disk.write_latency = LatencyConfig::fixed(70_000);
    c.disk.sync_latency = LatencyConfig::fixed(30_000);
    let sim = Sim::new(c);
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        let t0 = io.now();
        io.write_then_fdatasync(&f, filled(512, 1), 0)
            .await
            .0
            .unwrap();
        assert_eq!(io.now().as_nanos() - t0.as_nanos(), 100_000);
        io.sleep_until(Instant::from_nanos(5_000_000_000)).await;
        assert_eq!(io.now(), Instant::from_nanos(5_000_000_000));
    });
}

#[test]
fn data_destroying_faults_are_counted() {
    let mut c = quiet(8);
    c.faults.lost_write_probability = 1.0;
    let sim = Sim::new(c);
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        let (r, _) = io.write_at(&f, filled(512, 1), 0, WriteFlags::NONE).await;
        assert_eq!(r.unwrap(), 512, "a lost write reports success");
        let (r, _) = io.read_at(&f, DmaBuf::zeroed(512), 512, 0).await;
        assert_eq!(r.unwrap(), 0, "... but never lands");
    });
    assert_eq!(sim.control().disk_stats(n).data_destroying_faults(), 1);
}

/// Creates `/d/f` with synced data, optionally syncs `/d`, crashes; whether `/d/f` is
/// still there (with its data, if so).
fn created_then_crashed(seed: u64, sync_dir: bool) -> bool {
    let sim = Sim::new(quiet(seed));
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = io.open(Path::new("/d/f"), rw_direct()).await.unwrap();
        let (r, _) = io.write_at(&f, filled(512, 5), 0, WriteFlags::DSYNC).await;
        assert_eq!(r.unwrap(), 512);
        io.fsync(&f).await.unwrap();
        if sync_dir {
            io.sync_dir(Path::new("/d")).await.unwrap();
        }
    });
    sim.crash_node(n);
    sim.control().restart_node(n);
    sim.run(async {
        let read_only = OpenOptions {
            read: true,
            ..OpenOptions::default()
        };
        match io.open(Path::new("/d/f"), read_only).await {
            Ok(f) => {
                let (r, buf) = io.read_at(&f, DmaBuf::zeroed(512), 512, 0).await;
                assert_eq!(r.unwrap(), 512);
                assert_eq!(buf.as_slice(), &[5; 512][..], "seed={seed}");
                true
            }
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
                false
            }
        }
    })
}

#[test]
fn a_new_file_survives_a_crash_only_after_its_directory_is_synced() {
    let mut vanished = 0;
    for seed in 0..SEEDS {
        assert!(
            created_then_crashed(seed, true),
            "seed={seed}: a file lost after a directory fsync"
        );
        if !created_then_crashed(seed, false) {
            vanished += 1;
        }
    }
    // Synced data alone does not make the name durable: some crashes drop the file.
    assert!(vanished > 0 && vanished < SEEDS, "vanished={vanished}");
}

#[test]
fn sync_dir_of_a_file_is_enotdir() {
    let sim = Sim::new(quiet(11));
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        io.open(Path::new("/d/f"), rw_direct()).await.unwrap();
        let e = io.sync_dir(Path::new("/d/f")).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
    });
}

/// A node whose `/f` holds four synced 512-byte sectors of 1, 2, 3, 4 (name synced).
fn four_sectors(config: SimConfig) -> (Sim, SimIo) {
    let sim = Sim::new(config);
    let n = sim.add_node();
    let io = sim.io(n, 0);
    sim.run(async {
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        io.sync_dir(Path::new("/")).await.unwrap();
        for i in 0..4u8 {
            let (r, _) = io
                .write_at(
                    &f,
                    filled(512, i + 1),
                    u64::from(i) * 512,
                    WriteFlags::DSYNC,
                )
                .await;
            assert_eq!(r.unwrap(), 512);
        }
    });
    (sim, io)
}

async fn read_sector(io: &SimIo, sector: u64) -> std::io::Result<Vec<u8>> {
    let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
    let (r, buf) = io.read_at(&f, DmaBuf::zeroed(512), 512, sector * 512).await;
    r.map(|_| buf.as_slice().to_vec())
}

#[test]
fn a_latent_sector_error_persists_across_reads_and_crashes_until_rewritten() {
    let (sim, io) = four_sectors(quiet(30));
    let ctl = sim.control();
    ctl.add_bad_sectors(io.node(), Path::new("/f"), 600..700)
        .unwrap();
    sim.run(async {
        for _ in 0..5 {
            let e = read_sector(&io, 1).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EIO));
        }
        // Only the bad sector: its neighbours read fine.
        assert_eq!(read_sector(&io, 0).await.unwrap(), vec![1; 512]);
        assert_eq!(read_sector(&io, 2).await.unwrap(), vec![3; 512]);
    });
    sim.crash_node(io.node());
    ctl.restart_node(io.node());
    sim.run(async {
        let e = read_sector(&io, 1).await.unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EIO),
            "the medium, not the cache"
        );
        // A write of the whole sector remaps it.
        let f = io.open(Path::new("/f"), rw_direct()).await.unwrap();
        io.write_at(&f, filled(512, 7), 512, WriteFlags::DSYNC)
            .await
            .0
            .unwrap();
        assert_eq!(read_sector(&io, 1).await.unwrap(), vec![7; 512]);
    });
    let stats = ctl.disk_stats(io.node());
    assert_eq!(stats.latent_sectors, 1);
    assert_eq!(stats.latent_read_eio, 6);
    assert_eq!(ctl.damage(io.node()).len(), 1);
}

#[test]
fn sectors_decay_at_rest_over_virtual_time() {
    let mut c = quiet(31);
    c.faults.sector_decay_mean_ns = 1_000_000_000;
    let (sim, io) = four_sectors(c);
    let ctl = sim.control();
    sim.run(async {
        ctl.sleep(Duration::from_secs(60)).await;
        // Decay is applied at the node's next operation; only written sectors decay.
        let mut bad = 0;
        for s in 0..4 {
            if read_sector(&io, s).await.is_err() {
                bad += 1;
            }
        }
        assert!(bad > 0, "a minute at a mean of a second: something decayed");
        // Decay stops with the faults; bad sectors stay bad.
        ctl.stop_faults();
        let before = ctl.disk_stats(io.node()).latent_sectors;
        ctl.sleep(Duration::from_secs(60)).await;
        let mut still = 0;
        for s in 0..4 {
            if read_sector(&io, s).await.is_err() {
                still += 1;
            }
        }
        assert_eq!(still, bad);
        assert_eq!(ctl.disk_stats(io.node()).latent_sectors, before);
    });
    for d in ctl.damage(io.node()) {
        assert!(d.offset < 2048 && d.len == 512, "{d:?}");
    }
}

#[test]
fn a_misdirected_read_returns_another_offset_s_bytes_and_the_data_stays_intact() {
    let mut c = quiet(32);
    c.faults.misdirected_read_probability = 1.0;
    let (sim, io) = four_sectors(c);
    let ctl = sim.control();
    sim.run(async {
        let got = read_sector(&io, 1).await.unwrap();
        assert_ne!(got, vec![2; 512]);
        assert!(
            got.iter().all(|&b| b == got[0]) && [0, 1, 3, 4].contains(&got[0]),
            "another sector's bytes (or zeros past the end)"
        );
        ctl.set_node_faults(io.node(), FaultConfig::none());
        assert_eq!(read_sector(&io, 1).await.unwrap(), vec![2; 512]);
    });
    assert_eq!(ctl.disk_stats(io.node()).misdirected_reads, 1);
    assert_eq!(ctl.disk_stats(io.node()).data_destroying_faults(), 0);
}

#[test]
fn corrupt_changes_every_byte_of_the_range_for_good() {
    let (sim, io) = four_sectors(quiet(33));
    let ctl = sim.control();
    let n = ctl.corrupt(io.node(), Path::new("/f"), 1000..1100).unwrap();
    assert_eq!(n, 100);
    assert_eq!(
        ctl.corrupt(io.node(), Path::new("/nothing"), 0..1)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENOENT)
    );
    sim.crash_node(io.node());
    ctl.restart_node(io.node());
    let (w, d) = ctl.disk_images(io.node(), Path::new("/f")).unwrap();
    assert_eq!(w, d);
    for (i, &b) in w.iter().enumerate() {
        let original = (i / 512) as u8 + 1;
        if (1000..1100).contains(&i) {
            assert_ne!(b, original, "byte {i} unchanged");
        } else {
            assert_eq!(b, original, "byte {i} changed");
        }
    }
    assert_eq!(ctl.disk_stats(io.node()).corruptions, 1);
}

#[test]
fn the_atlas_keeps_destroying_faults_off_more_replicas_than_allowed() {
    use boreal_engine::sim::{AtlasExtent, AtlasGroup, FaultAtlas};
    let mut c = quiet(34);
    c.faults.stored_bit_flip_probability = 0.5;
    c.faults.lost_write_probability = 0.2;
    let sim = Sim::new(c);
    let nodes: Vec<u32> = (0..6).map(|_| sim.add_node()).collect();
    let ctl = sim.control();
    ctl.set_atlas(FaultAtlas::new().group(AtlasGroup {
        nodes: nodes.clone(),
        faulty_max: 2,
        extent: AtlasExtent::Range { bytes: 8192 },
    }));
    // Every node writes the same layout: 32 KiB, in 4 KiB writes.
    for &n in &nodes {
        let io = sim.io(n, 0);
        sim.spawn_on(n, 0, async move {
            let f = io.open(Path::new("/pages"), rw_direct()).await.unwrap();
            for i in 0..8u64 {
                let _ = io
                    .write_at(&f, filled(4096, i as u8), i * 4096, WriteFlags::DSYNC)
                    .await;
            }
        });
    }
    sim.run(async {
        ctl.sleep(Duration::from_secs(1)).await;
    });
    let (mut injected, mut suppressed) = (0, 0);
    let mut hit = vec![std::collections::BTreeSet::new(); 4];
    for &n in &nodes {
        let s = ctl.disk_stats(n);
        injected += s.data_destroying_faults();
        suppressed += s.atlas_suppressed;
        for d in ctl.damage(n) {
            hit[(d.offset / 8192) as usize].insert(n);
        }
    }
    assert!(injected > 0 && suppressed > 0, "{injected} {suppressed}");
    for (range, nodes_hit) in hit.iter().enumerate() {
        assert!(
            nodes_hit.len() <= 2,
            "range {range}: damage on {nodes_hit:?}, more than the budget"
        );
    }
    assert!(ctl.atlas_breaches().is_empty());
}
