//! Behaviour: the `io_uring` engine (boreal's own runtime) runs every rw mode, syncs and
//! depths end to end in a fraction of a second, counts every I/O, reports the depth it
//! ran at, and keeps fio's queue/commit/getevents contract: `queue` makes no syscall,
//! `commit` makes exactly one, `getevents` hands back every completion with its buffer.

use std::path::Path;

use boreal_bench::engine::{EngineTarget, Io, IoKind, Queued, SyncKind, open_engine};
use boreal_bench::job::{EngineName, build_jobs, parse::parse_job_args};
use boreal_bench::layout::lay_out;
use boreal_bench::output::{self, json};
use boreal_bench::run::run;
use boreal_bench::runner::RunnerConfig;
use boreal_engine::buf::DmaBuf;
use serde_json::Value;

fn run_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec![
        format!("--directory={}", dir.display()),
        "--ioengine=io_uring".to_string(),
        "--direct=1".to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let cli = parse_job_args(&all).unwrap();
    let result = run(
        build_jobs(&cli.sections, &cli.global).unwrap(),
        RunnerConfig::default(),
    )
    .unwrap();
    let entries = output::entries(&result);
    serde_json::from_str(&json::to_string(&json::report(&result, &entries, false))).unwrap()
}

#[test]
fn every_rw_mode_counts_every_io_at_depth() {
    let dir = tempfile::tempdir().unwrap();
    for (rw, depth) in [
        ("read", 1),
        ("write", 4),
        ("randread", 16),
        ("randwrite", 8),
        ("rw", 2),
        ("randrw", 32),
    ] {
        let report = run_json(
            dir.path(),
            &[
                &format!("--name={rw}"),
                &format!("--rw={rw}"),
                "--size=1m",
                "--io_size=512k",
                &format!("--iodepth={depth}"),
            ],
        );
        let job = &report["jobs"][0];
        let ios = job["read"]["total_ios"].as_u64().unwrap()
            + job["write"]["total_ios"].as_u64().unwrap();
        assert_eq!(ios, 128, "{rw}: 512 KiB of 4 KiB I/Os");
        assert_eq!(job["boreal"]["engine"], "io_uring", "{rw}");
        assert_eq!(job["boreal"]["iodepth_effective"], depth, "{rw}");
        let stats = &job["boreal"]["engine_stats"];
        assert!(
            stats["ring"].as_str().unwrap().starts_with("io_uring"),
            "{rw}"
        );
        assert!(stats["io_uring_enter_calls"].as_u64().unwrap() > 0, "{rw}");
    }
}

#[test]
fn fdatasync_and_fsync_go_through_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    for (option, depth) in [("--fdatasync=1", 1), ("--fsync=4", 8)] {
        let report = run_json(
            dir.path(),
            &[
                "--name=synced",
                "--rw=randwrite",
                "--size=1m",
                "--io_size=256k",
                option,
                &format!("--iodepth={depth}"),
                "--end_fsync=1",
            ],
        );
        let job = &report["jobs"][0];
        let writes = job["write"]["total_ios"].as_u64().unwrap();
        let every: u64 = option.rsplit('=').next().unwrap().parse().unwrap();
        assert_eq!(writes, 64, "{option}");
        assert_eq!(job["sync"]["total_ios"], writes / every, "{option}");
        assert!(
            job["sync"]["lat_ns"]["min"].as_u64().unwrap() > 0,
            "{option}"
        );
    }
}

#[test]
fn time_based_depth_32_with_ramp() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_json(
        dir.path(),
        &[
            "--name=deep",
            "--rw=randread",
            "--size=2m",
            "--iodepth=32",
            "--iodepth_batch_submit=0",
            "--time_based",
            "--runtime=200ms",
            "--ramp_time=50ms",
        ],
    );
    let job = &report["jobs"][0];
    assert!(job["read"]["total_ios"].as_u64().unwrap() > 0);
    assert_eq!(job["boreal"]["iodepth_effective"], 32);
}

fn enters(engine: &dyn boreal_bench::engine::IoEngine) -> u64 {
    engine.extra_stats(std::time::Duration::ZERO)["io_uring_enter_calls"]
        .as_u64()
        .unwrap()
}

#[test]
fn queue_does_not_submit_commit_enters_once_getevents_returns_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    lay_out(&path, 1 << 20).unwrap();
    let mut engine = open_engine(
        EngineName::IoUring,
        &EngineTarget {
            path: path.clone(),
            paths: vec![path.clone()],
            create: false,
            dsync: false,
            osync: false,
            direct: true,
            copy_data: false,
            writes: true,
            trims: false,
            advice: None,
            bs: 4096,
            iodepth: 4,
            cpu: Some(0),
            reads: true,
            journal: Default::default(),
            cluster: Default::default(),
            park_spin: None,
        },
    )
    .unwrap();
    assert_eq!(engine.name(), "io_uring");
    assert_eq!(engine.depth_max(), 4);
    let buf = |fill: u8| {
        let mut b = DmaBuf::zeroed(4096);
        b.set_len(4096);
        b.as_mut_slice().fill(fill);
        b
    };
    let before = enters(engine.as_ref());
    for token in 0..4u64 {
        let kind = if token % 2 == 0 {
            IoKind::Write
        } else {
            IoKind::Read
        };
        let io = Io {
            token,
            file: 0,
            kind,
            offset: token * 4096,
            buf: buf(token as u8 + 1),
        };
        assert!(matches!(engine.queue(io).unwrap(), Queued::Queued));
    }
    assert_eq!(enters(engine.as_ref()), before, "queue makes no syscall");
    let fifth = Io {
        token: 9,
        file: 0,
        kind: IoKind::Read,
        offset: 0,
        buf: buf(0),
    };
    assert!(engine.queue(fifth).is_err(), "beyond depth_max is refused");
    engine.commit().unwrap();
    assert_eq!(enters(engine.as_ref()), before + 1, "commit is one enter");
    let mut out = Vec::new();
    while out.len() < 4 {
        engine.getevents(1, &mut out).unwrap();
    }
    out.sort_by_key(|c| c.token);
    for c in &out {
        assert_eq!(*c.result.as_ref().unwrap(), 4096, "token {}", c.token);
        assert_eq!(c.buf.len(), 4096);
        assert_eq!(c.buf.capacity(), 4096);
    }
    // The write at block 0 is durable after a sync through the ring, and reads back.
    let mut sync_buf = DmaBuf::zeroed(4096);
    sync_buf.clear();
    let sync = Io {
        token: 7,
        file: 0,
        kind: IoKind::Sync(SyncKind::Fdatasync),
        offset: 0,
        buf: sync_buf,
    };
    engine.queue(sync).unwrap();
    engine.commit().unwrap();
    out.clear();
    engine.getevents(1, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(*out[0].result.as_ref().unwrap(), 0);
    engine.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes[..4096].iter().all(|&b| b == 1));
    assert!(bytes[8192..12288].iter().all(|&b| b == 3));
}
