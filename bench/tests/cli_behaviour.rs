//! Behaviour: the binary as a user meets it. Errors look like errors (one line, the OS
//! error once, no backtrace even with RUST_BACKTRACE set), unknown and misspelled
//! flags are named, output paths are checked before anything runs, a SIGINT keeps what
//! was measured, `--parse-only` does no I/O, a job whose buffers cannot fit is refused
//! up front, and `--help` documents exit codes and the default job it runs.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::bench_in;

/// Runs the binary with RUST_BACKTRACE set, so that an error printing a backtrace shows.
fn bench(dir: &Path, args: &[&str]) -> Output {
    bench_in(dir)
        .env("RUST_BACKTRACE", "1")
        .args(args)
        .output()
        .unwrap()
}

/// Writes `text` as the job file `t.fio` in `dir` and returns its path.
fn job_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let job = dir.join("t.fio");
    std::fs::write(&job, text).unwrap();
    job
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_single_dash_flag_is_an_unknown_flag_not_a_job_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(dir.path(), &["-x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown flag `-x`"), "{err}");
    assert!(!err.contains("job file"), "{err}");
}

#[test]
fn misspelled_options_get_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(
        dir.path(),
        &["--output-formt=json", "--name=a", "--size=1m"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did you mean `--output-format`?"));
    let out = bench(dir.path(), &["--name=a", "--size=1m", "--iodpeth=4"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did you mean `iodepth`?"),
        "{}",
        stderr(&out)
    );
    let job = job_file(dir.path(), "[a]\nsize=1m\nruntme=1\n");
    let out = bench(dir.path(), &[job.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("t.fio:3:") && err.contains("did you mean `runtime`?"),
        "{err}"
    );
}

#[test]
fn errors_have_no_backtrace_and_name_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(dir.path(), &["/nonexistent/job.fio"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("boreal-bench: error: "), "{err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn an_unwritable_output_is_refused_before_any_io() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--output", "--hdr-log"] {
        let out = bench(
            dir.path(),
            &[
                &format!("{flag}=/nonexistent/dir/out"),
                "--name=a",
                "--size=1m",
                "--rw=write",
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("/nonexistent/dir/out"),
            "{}",
            stderr(&out)
        );
        assert!(
            !dir.path().join("a.0.0").exists(),
            "{flag}: nothing was laid out before the output was checked"
        );
    }
}

#[test]
fn parse_only_prints_fio_job_lines_and_does_no_io() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(
        dir.path(),
        "[global]\nsize=1m ; small\n[reader]\nrw=randread\nbs=8k\n[writer]\nstonewall\nrw=write\n",
    );
    let out = bench(dir.path(), &["--parse-only", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("reader: (g=0): rw=randread, bs=(R) 8192B-8192B"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("writer: (g=1): rw=write"), "{stdout}");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the job file: no data file laid out");
}

#[test]
fn a_job_whose_buffers_cannot_fit_is_refused_before_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(
        dir.path(),
        &[
            "--name=huge",
            "--ioengine=io_uring",
            "--size=128m",
            "--bs=128m",
            "--iodepth=2048",
            "--numjobs=1024",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("its I/O buffers need") && err.contains("lower bs"),
        "{err}"
    );
    assert!(!dir.path().join("huge.0.0").exists());
}

#[test]
fn sigint_writes_what_was_measured_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let child = bench_in(dir.path())
        .args([
            "--output-format=json",
            "--output=out.json",
            "--hdr-log=out.hdr",
            "--name=long",
            "--size=2m",
            "--rw=randread",
            "--time_based",
            "--runtime=30",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let rc = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped early by SIGINT"),
        "{}",
        stderr(&out)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    let job = &report["jobs"][0];
    assert!(job["read"]["total_ios"].as_u64().unwrap() > 0, "{job}");
    assert!(job["job_runtime"].as_u64().unwrap() < 30_000, "{job}");
    let log = std::fs::read_to_string(dir.path().join("out.hdr")).unwrap();
    assert!(log.contains("long/read.lat"), "{log}");
}

#[test]
fn a_job_that_fails_while_measuring_keeps_what_was_measured() {
    // The first group measures; the second writes to /dev/full (ENOSPC on its first
    // write, after measuring began). The report still holds both, the failed one
    // marked with fio's `error` (the errno) and the message, and the run exits 1.
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(
        dir.path(),
        "[ok]\nioengine=null\nrw=write\nsize=1m\n[full]\nstonewall\nfilename=/dev/full\ncreate_on_open=1\ninvalidate=0\nrw=write\nsize=1m\n[never]\nstonewall\nioengine=null\nsize=1m\n",
    );
    let out = bench(
        dir.path(),
        &[
            "--output-format=json",
            "--output=out.json",
            job.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("write /dev/full at offset 0: No space left on device"),
        "{err}"
    );
    assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    let jobs = report["jobs"].as_array().unwrap();
    let names: Vec<&str> = jobs
        .iter()
        .map(|j| j["jobname"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["ok", "full"],
        "the group after the failure did not run"
    );
    assert_eq!(jobs[0]["error"], 0);
    assert_eq!(jobs[0]["write"]["total_ios"].as_u64(), Some(256));
    assert_eq!(jobs[1]["error"], libc::ENOSPC, "{}", jobs[1]);
    assert_eq!(jobs[1]["write"]["total_ios"].as_u64(), Some(0));
    assert!(
        jobs[1]["boreal"]["error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{}",
        jobs[1]
    );
}

#[test]
fn help_documents_exit_codes_and_what_the_default_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(dir.path(), &["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("EXIT STATUS:") && text.contains("130"),
        "{text}"
    );
    let set = boreal_bench::job::build_jobs(&boreal_bench::default_job::sections().unwrap(), &[])
        .unwrap();
    for job in &set.jobs {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{} ", job.name)))
            .unwrap_or_else(|| panic!("--help lists {}: {text}", job.name));
        assert!(
            line.contains(&format!("ioengine={}", job.ioengine.as_str())),
            "{line}"
        );
        assert!(line.contains(&format!("rw={}", job.rw.as_str())), "{line}");
    }
    let total = boreal_bench::default_job::length(&set);
    assert!(
        text.contains(&format!("{total:?} of ramp and runtime")),
        "{text}"
    );
}

#[test]
fn version_has_one_format() {
    let dir = tempfile::tempdir().unwrap();
    let a = bench(dir.path(), &["-V"]);
    let b = bench(dir.path(), &["--version"]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(
        String::from_utf8_lossy(&a.stdout).trim(),
        boreal_bench::VERSION
    );
}
