//! Behaviour: fio's `--section=NAME` runs only the named job sections (of job files and
//! `--name` jobs alike); `[global]` sections still apply; the flag may be given several
//! times; a name no section has is refused naming the sections there are; `--parse-only`
//! shows only what would run; `--compare-fio` hands fio the same jobs.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::bench;

/// Three null-engine jobs (no I/O, instant) sharing a `[global]` block size.
const JOB: &str =
    "[global]\nioengine=null\nsize=1m\nbs=8k\n[a]\nrw=read\n[b]\nrw=write\n[c]\nrw=randread\n";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn job_names(report: &Value) -> Vec<String> {
    report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobname"].as_str().unwrap().to_string())
        .collect()
}

/// Runs the job file with `args` and returns the JSON report.
fn run_json(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.fio"), JOB).unwrap();
    let mut all = vec!["--output-format=json", "t.fio"];
    all.extend_from_slice(args);
    let out = bench(dir.path(), &all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

#[test]
fn one_section_runs_with_the_global_options() {
    let report = run_json(&["--section=b"]);
    assert_eq!(job_names(&report), ["b"]);
    let b = &report["jobs"][0];
    // [global]'s bs=8k and size=1m: 128 writes of 8 KiB.
    assert_eq!(b["write"]["total_ios"].as_u64(), Some(128), "{b}");
    assert_eq!(b["write"]["io_bytes"].as_u64(), Some(1 << 20), "{b}");
    assert_eq!(b["read"]["total_ios"].as_u64(), Some(0), "{b}");
}

#[test]
fn two_section_flags_run_two_sections_in_file_order() {
    let report = run_json(&["--section=c", "--section", "a"]);
    assert_eq!(job_names(&report), ["a", "c"]);
}

#[test]
fn section_picks_command_line_jobs_by_name_too() {
    // fio filters --name jobs with --section as well.
    let report = run_json(&["--section=d", "--name=d", "--rw=write"]);
    assert_eq!(job_names(&report), ["d"]);
}

#[test]
fn an_unknown_section_is_refused_naming_the_sections() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.fio"), JOB).unwrap();
    let out = bench(dir.path(), &["--section=a", "--section=nope", "t.fio"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--section=nope"), "{err}");
    assert!(
        err.contains("a, b, c"),
        "names the sections there are: {err}"
    );
    assert!(!err.contains("global,"), "[global] is not a job: {err}");
    assert!(out.stdout.is_empty(), "nothing ran");
}

#[test]
fn global_and_empty_section_names_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.fio"), JOB).unwrap();
    for arg in ["--section=global", "--section=global-disk", "--section="] {
        let out = bench(dir.path(), &[arg, "t.fio"]);
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", stderr(&out));
        assert!(stderr(&out).contains("--section"), "{}", stderr(&out));
    }
}

#[test]
fn parse_only_shows_only_the_selected_section() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.fio"), JOB).unwrap();
    let out = bench(dir.path(), &["--parse-only", "--section=b", "t.fio"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("b: (g=0): rw=write, bs=(R) 8192B-8192B"),
        "{stdout}"
    );
}

#[test]
fn help_lists_the_section_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(dir.path(), &["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("--section=NAME"))
        .unwrap_or_else(|| panic!("--help lists --section: {text}"));
    assert!(line.contains("only"), "{line}");
}

#[test]
fn compare_fio_runs_the_same_sections_on_both_sides() {
    if Command::new("fio").arg("--version").output().is_err() {
        eprintln!("fio is not installed: skipping the --section comparison");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cmp.fio"),
        "[global]\nioengine=io_uring\ndirect=1\nsize=2m\nbs=4k\niodepth=4\nruntime=150ms\ntime_based\n[skipped]\nrw=write\n[picked]\nrw=randread\n",
    )
    .unwrap();
    let out = bench(
        dir.path(),
        &[
            "--compare-fio",
            "--rounds=1",
            "--compare-dir=cmp-out",
            "--section=picked",
            "cmp.fio",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(dir.path().join("cmp-out/job.fio")).unwrap();
    assert!(written.contains("[picked]"), "{written}");
    assert!(!written.contains("[skipped]"), "{written}");
    for file in ["fio-round0.json", "boreal-round0.json"] {
        let text = std::fs::read_to_string(dir.path().join("cmp-out").join(file)).unwrap();
        let start = text.find('{').unwrap();
        let report: Value = serde_json::from_str(&text[start..]).unwrap();
        assert_eq!(job_names(&report), ["picked"], "{file}");
    }
}
