//! Behaviour: `ioengine=boreal-journal` appends redo records durably through a core of
//! boreal's storage engine, at depth 1 and 16, over two PGs, in well under a second;
//! the JSON carries the engine's figures, and every measured I/O is `bs/record_size`
//! acknowledged records. Options the engine cannot honour are refused with a message
//! that says what to change. A second run reuses the data directory. Appends that
//! must wait for room in a batch are made by the engine's workers, and appends that
//! wait for the backlog to drain get it drained.

use std::path::Path;

use boreal_bench::job::{build_jobs, parse::parse_job_args};
use boreal_bench::output::{self, json};
use boreal_bench::run::run;
use boreal_bench::runner::RunnerConfig;
use serde_json::Value;

/// `extra[0]` is `--name=…`; the defaults follow it (job options), then the rest of
/// `extra`, which may override them.
fn journal_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut all = vec![
        extra[0].to_string(),
        format!("--directory={}", dir.display()),
        "--ioengine=boreal-journal".to_string(),
        "--rw=write".to_string(),
        // The smallest journal: 4 files of 1 MiB + 4 KiB, pre-written in milliseconds.
        "--size=4112k".to_string(),
    ];
    all.extend(extra[1..].iter().map(|a| a.to_string()));
    all
}

fn run_json(dir: &Path, extra: &[&str]) -> Value {
    let cli = parse_job_args(&journal_args(dir, extra)).unwrap();
    let result = run(
        build_jobs(&cli.sections, &cli.global).unwrap(),
        RunnerConfig::default(),
    )
    .unwrap();
    let entries = output::entries(&result);
    serde_json::from_str(&json::to_string(&json::report(&result, &entries, false))).unwrap()
}

fn build_err(extra: &[&str]) -> String {
    let cli = parse_job_args(&journal_args(Path::new("/nonexistent"), extra)).unwrap();
    build_jobs(&cli.sections, &cli.global)
        .unwrap_err()
        .to_string()
}

#[test]
fn appends_at_depth_1_and_16_over_two_pgs_and_report_engine_stats() {
    let dir = tempfile::tempdir().unwrap();
    for depth in [1u64, 16] {
        let report = run_json(
            dir.path(),
            &[
                &format!("--name=j{depth}"),
                "--bs=1k",
                "--record_size=128",
                "--io_size=64k",
                "--boreal_pgs=2",
                &format!("--iodepth={depth}"),
            ],
        );
        let job = &report["jobs"][0];
        let total_ios = job["write"]["total_ios"].as_u64().unwrap();
        assert_eq!(total_ios, 64, "64 KiB of 1 KiB appends");
        assert_eq!(job["boreal"]["engine"], "boreal-journal");
        assert_eq!(job["boreal"]["iodepth_effective"], depth);
        assert!(job["write"]["clat_ns"]["N"].as_u64().unwrap() == total_ios);
        let s = &job["boreal"]["engine_stats"];
        assert_eq!(
            s["records_acknowledged"].as_u64().unwrap(),
            total_ios * 1024 / 128,
            "{s}"
        );
        assert_eq!(s["redo_payload_bytes"].as_u64().unwrap(), 64 << 10);
        assert_eq!(s["pgs"], 2);
        assert!(s["records_per_sec"].as_f64().unwrap() > 0.0, "{s}");
        assert!(s["journal_batches"].as_u64().unwrap() > 0, "{s}");
        assert!(s["journal_syncs"].as_u64().unwrap() > 0, "{s}");
        assert!(s["records_per_batch"].as_f64().unwrap() >= 8.0, "{s}");
        assert!(s["backpressure_waits"].is_u64(), "{s}");
        // At least the journal wrote every redo byte (plus record and batch headers).
        assert!(
            s["device_bytes_per_redo_byte"].as_f64().unwrap() >= 1.0,
            "{s}"
        );
        assert_eq!(
            s["journal_bytes_written"], s["io_seam_journal_bytes_written"],
            "the journal's own count matches the Io seam's: {s}"
        );
    }
}

/// More bytes in flight than a journal batch holds (32 × 64 KiB against 1 MiB): the
/// appends `queue` cannot start wait for room in their slots' workers, and every one
/// is acknowledged and counted.
#[test]
fn appends_that_must_wait_for_room_go_through_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_json(
        dir.path(),
        &[
            "--name=full",
            "--bs=64k",
            "--record_size=4096",
            "--io_size=2m",
            "--iodepth=32",
        ],
    );
    let job = &report["jobs"][0];
    assert_eq!(job["error"], 0, "{job}");
    assert_eq!(job["write"]["total_ios"], 32);
    let s = &job["boreal"]["engine_stats"];
    assert!(s["journal_room_waits"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["records_acknowledged"], 32 * 16, "{s}");
}

/// Appends that fill the backlog bound while every slot waits: the coalescer may
/// materialize only below the min read point, which the bench (as a shim) must raise
/// even when no append is being acknowledged. It did so only every 32
/// acknowledgements, and such a job failed after 1 s of backpressure ("materialization
/// stops at the min read point") in most runs.
#[test]
fn the_read_point_rises_while_every_append_waits_for_the_backlog() {
    for run in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let report = run_json(
            dir.path(),
            &[
                "--name=backlog",
                "--bs=64k",
                "--record_size=4096",
                "--io_size=4m",
                "--iodepth=32",
            ],
        );
        let job = &report["jobs"][0];
        assert_eq!(job["error"], 0, "run {run}: {job}");
        assert_eq!(job["write"]["total_ios"], 64, "run {run}");
    }
}

#[test]
fn the_runtime_polls_before_sleeping_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let spins_with = |extra: &str| {
        let report = run_json(
            dir.path(),
            &[
                "--name=spin",
                "--bs=128",
                "--record_size=128",
                "--io_size=16k",
                "--iodepth=4",
                extra,
            ],
        );
        let s = &report["jobs"][0]["boreal"]["engine_stats"];
        (
            s["park_spins_woken"].as_u64().unwrap(),
            s["park_spins_slept"].as_u64().unwrap(),
        )
    };
    let spins = |spin: &str| spins_with(&format!("--boreal_park_spin={spin}"));
    assert_eq!(spins("0"), (0, 0));
    // Without the option: no polling on an unpinned job (a polling thread is not moved
    // to the CPU its completions wake it on), the runtime's default on a pinned one.
    assert_eq!(spins_with("--boreal_placement=unpinned"), (0, 0));
    let (woken, slept) = spins_with("--cpus_allowed=0");
    assert!(woken + slept > 0, "pinned: woken {woken}, slept {slept}");
    // 128 appends, each waiting for a durable write: some parks poll (10 ms covers a
    // durable write on any CI disk, most of the time).
    let (woken, slept) = spins("10ms");
    assert!(woken > 0, "woken {woken}, slept {slept}");
}

#[test]
fn a_second_run_reuses_the_data_directory_and_continues_the_chains() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--name=again",
        "--bs=512",
        "--record_size=128",
        "--io_size=32k",
        "--iodepth=8",
        "--boreal_pgs=2",
    ];
    let first = run_json(dir.path(), &args);
    let second = run_json(dir.path(), &args);
    let open = |r: &Value| {
        r["jobs"][0]["boreal"]["engine_stats"]["open"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(open(&first).starts_with("created"), "{}", open(&first));
    assert!(open(&second).starts_with("opened"), "{}", open(&second));
    assert_eq!(second["jobs"][0]["write"]["total_ios"], 64);
}

#[test]
fn options_the_engine_cannot_honour_are_refused_with_the_fix() {
    let err = build_err(&["--name=r", "--rw=read"]);
    assert!(err.contains("set rw=write, not rw=read"), "{err}");
    assert!(err.contains("not implemented"), "{err}");
    let err = build_err(&["--name=r", "--bs=1000", "--record_size=128"]);
    assert!(
        err.contains("bs (1000) must be a multiple of record_size (128)"),
        "{err}"
    );
    let err = build_err(&["--name=r", "--bs=16k"]);
    assert!(err.contains("does not fit a page payload"), "{err}");
    let err = build_err(&["--name=r", "--fdatasync=1"]);
    assert!(err.contains("durable when acknowledged"), "{err}");
    let err = build_err(&["--name=r", "--size=1m"]);
    assert!(err.contains("journal's size"), "{err}");
    let cli = parse_job_args(&["--name=u", "--record_size=128", "--ioengine=io_uring"]).unwrap();
    let err = build_jobs(&cli.sections, &cli.global)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("apply only to ioengine=boreal-journal"),
        "{err}"
    );
    let cli = parse_job_args(&["--name=d", "--boreal_durability=fua"]).unwrap();
    let err = build_jobs(&cli.sections, &cli.global)
        .unwrap_err()
        .to_string();
    assert!(err.contains("dsync, fdatasync, linked"), "{err}");
}
