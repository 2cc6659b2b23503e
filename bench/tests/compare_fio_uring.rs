//! Behaviour: `--compare-fio` runs an `ioengine=io_uring` job through fio's io_uring
//! engine and boreal's runtime alternately and prints the ratio table (one short round;
//! skipped with a note when fio is not installed).

mod support;

use std::process::Command;

use support::bench_in;

#[test]
fn compare_fio_one_round_with_io_uring() {
    if Command::new("fio").arg("--version").output().is_err() {
        eprintln!("fio is not installed: skipping the io_uring comparison smoke test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("cmp.fio");
    std::fs::write(
        &job,
        "[global]\nioengine=io_uring\ndirect=1\nsize=2m\nbs=4k\niodepth=8\n[cmp]\nrw=randread\nruntime=200ms\ntime_based\npercentile_list=50:99:99.9\n",
    )
    .unwrap();
    let out = bench_in(dir.path())
        .args(["--compare-fio", "--rounds=1", "--compare-dir=cmp-out"])
        .arg(&job)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("boreal/fio"), "{stdout}");
    let iops = stdout
        .lines()
        .find(|l| l.starts_with("IOPS"))
        .expect("an IOPS row");
    let ratio: f64 = iops.split_whitespace().last().unwrap().parse().unwrap();
    assert!(ratio > 0.0, "{iops}");
    let ours: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cmp-out/boreal-round0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ours["jobs"][0]["boreal"]["engine"], "io_uring");
    assert_eq!(ours["jobs"][0]["boreal"]["iodepth_effective"], 8);
}
