//! Behaviour: `ioengine=tokio-uring` and `ioengine=glommio` run the same jobs through
//! those crates' runtimes when boreal-bench is built with their cargo features, and are
//! refused with the build command when it is not.

mod support;

use serde_json::Value;
use support::bench;

/// A random write job with md5 verify (every block read back and checked), then a
/// random read job, through `engine`.
fn runs_and_verifies(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let engine_arg = format!("--ioengine={engine}");
    for rw in ["--rw=randwrite", "--rw=randread"] {
        let out = bench(
            dir.path(),
            &[
                "--output-format=json",
                "--name=j",
                &engine_arg,
                "--direct=1",
                rw,
                "--size=2m",
                "--iodepth=8",
                "--verify=md5",
            ][..if rw == "--rw=randwrite" { 8 } else { 7 }],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let job = &report["jobs"][0];
        assert_eq!(job["boreal"]["engine"], engine);
        assert_eq!(job["boreal"]["iodepth_effective"], 8);
        if rw == "--rw=randwrite" {
            assert_eq!(job["write"]["total_ios"], 512);
            assert_eq!(job["boreal"]["harness"]["verified_blocks"], 512);
        } else {
            assert_eq!(job["read"]["total_ios"], 512);
        }
    }
}

#[cfg(feature = "tokio-uring")]
#[test]
fn tokio_uring_runs_and_verifies() {
    runs_and_verifies("tokio-uring");
}

#[cfg(feature = "glommio")]
#[test]
fn glommio_runs_and_verifies() {
    runs_and_verifies("glommio");
}

/// glommio's IOPOLL probe on an empty file (create_on_open) marked the device pollable
/// and every read then failed with EOPNOTSUPP on the dev VM; the engine primes the
/// probe with a file that has data (NVMe-NOTES "glommio and tokio-uring on this VM").
#[cfg(feature = "glommio")]
#[test]
fn glommio_reads_back_a_file_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(
        dir.path(),
        &[
            "--output-format=json",
            "--name=c",
            "--ioengine=glommio",
            "--direct=1",
            "--rw=randwrite",
            "--size=1m",
            "--create_on_open=1",
            "--verify=crc32c",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["jobs"][0]["boreal"]["harness"]["verified_blocks"],
        256
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "the probe file is removed");
}

#[test]
fn an_engine_this_build_lacks_is_refused_with_the_build_command() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, built) in [
        ("tokio-uring", cfg!(feature = "tokio-uring")),
        ("glommio", cfg!(feature = "glommio")),
    ] {
        if built {
            continue;
        }
        let out = bench(
            dir.path(),
            &[
                "--parse-only",
                "--name=j",
                &format!("--ioengine={engine}"),
                "--direct=1",
            ],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("--features {engine}")), "{err}");
    }
    let _ = runs_and_verifies;
}
