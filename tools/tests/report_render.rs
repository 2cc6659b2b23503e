//! Behaviour: `boreal report` reads boreal-bench JSON, fio JSON (json+) and HdrHistogram
//! logs as files, and renders a self-contained HTML page and a text table from them.
//!
//! The fixtures are real output: `fio-randrw-fdatasync.json` from fio 3.33 (json+), and
//! `boreal-randread.json` / `.hlog` from a 1 s boreal-bench run.

use std::path::PathBuf;
use std::process::Command;

use boreal_tools::report::{self, Format};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn inputs_are_recognised_and_summarised() {
    let fio = report::load(&fixture("fio-randrw-fdatasync.json")).unwrap();
    assert_eq!(fio.source, "fio-3.33");
    assert_eq!(fio.rows.len(), 2, "read and write rows");
    assert_eq!(fio.rows[0].ios + fio.rows[1].ios, 128);
    assert!(fio.rows[1].sync_p99.is_some());
    assert_eq!(fio.curves.len(), 3, "read clat, write clat, sync");
    assert!(fio.series.is_empty(), "fio JSON has no time series");
    // json+ bins give a full curve, ending at 100%.
    let curve = &fio.curves[0];
    assert!(curve.points.len() > 10);
    assert_eq!(curve.points.last().unwrap().0, 100.0);

    let ours = report::load(&fixture("boreal-randread.json")).unwrap();
    assert!(ours.source.starts_with("boreal-bench-"));
    assert_eq!(ours.series.len(), 1);
    assert!(ours.series[0].points.len() >= 4, "1 s at 250 ms intervals");

    let log = report::load(&fixture("boreal-randread.hlog")).unwrap();
    assert_eq!(log.source, "HdrHistogram log");
    assert_eq!(log.rows[0].dir, "read.lat");
    assert_eq!(
        log.rows[0].ios, ours.rows[0].ios,
        "log and JSON count the same I/Os"
    );
}

#[test]
fn html_page_has_plots_legend_and_table() {
    let runs: Vec<_> = [
        "boreal-randread.json",
        "fio-randrw-fdatasync.json",
        "boreal-randread.hlog",
    ]
    .iter()
    .map(|f| report::load(&fixture(f)).unwrap())
    .collect();
    let page = report::render(&runs, Format::Html, "test <report>");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<title>test &lt;report&gt;</title>"));
    assert_eq!(
        page.matches("<svg xmlns").count(),
        3,
        "clat, sync, IOPS plots"
    );
    assert!(page.contains("99.9%"), "nines axis labels");
    assert!(page.contains("fio-randrw-fdatasync.json — mixed sync"));
    assert!(page.contains("<th>p99.9 µs</th>"));
    assert!(!page.contains("<script"), "self-contained, no scripts");
    assert!(
        !page.contains("http://") || page.matches("http://").count() == 3,
        "only SVG namespaces"
    );
    assert!(
        !page.contains("NaN") && !page.contains("inf"),
        "no broken numbers in the plots"
    );
}

#[test]
fn text_table_and_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let status = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .arg("report")
        .arg(fixture("boreal-randread.json"))
        .arg(fixture("fio-randrw-fdatasync.json"))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("IOPS over time")
    );

    let text = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .args(["report", "--format=text"])
        .arg(fixture("fio-randrw-fdatasync.json"))
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    let header = text.lines().next().unwrap();
    // One run: no run or ratio columns; a sync column, since the job syncs.
    assert!(
        header.starts_with("job") && header.ends_with("sync p99 µs"),
        "{header}"
    );
    let (figures, layers) = text.split_once("layers side by side:").expect("{text}");
    assert_eq!(
        figures.lines().filter(|l| l.starts_with("mixed ")).count(),
        2,
        "{text}"
    );
    // The job as a layer: what it measured, from its own options.
    assert!(
        layers.contains("mixed  device: psync randrw bs=4k depth 1, fdatasync every 4"),
        "{text}"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"jobs\": []}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_boreal"))
        .args(["report"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not fio-format JSON"));
}

#[test]
fn errors_are_one_line_with_documented_exit_codes() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_boreal"))
            .env("RUST_BACKTRACE", "1")
            .args(args)
            .output()
            .unwrap()
    };
    let missing = run(&["report", "/nonexistent/r.json"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");

    let input = fixture("fio-randrw-fdatasync.json");
    let unwritable = run(&[
        "report",
        input.to_str().unwrap(),
        "-o",
        "/nonexistent/dir/r.html",
    ]);
    assert_eq!(unwritable.status.code(), Some(1));
    let err = String::from_utf8_lossy(&unwritable.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/dir/r.html"), "{err}");

    let help = run(&["report", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes: 0"));
    let version = run(&["-V"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        concat!("boreal-", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_large_file_that_is_not_an_input_is_refused_after_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("big.bin");
    // 2 GiB that reads as zeros, without taking the disk space.
    std::fs::File::create(&junk)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let started = std::time::Instant::now();
    let err = report::load(&junk).unwrap_err().to_string();
    assert!(err.contains("not a report input"), "{err}");
    assert!(
        started.elapsed().as_secs() < 5,
        "refused without reading 2 GiB"
    );
    let json = dir.path().join("big.json");
    let mut file = std::fs::File::create(&json).unwrap();
    std::io::Write::write_all(&mut file, b"{\"fio version\": \"fio-3.33\", \"jobs\": [").unwrap();
    file.set_len(2 << 30).unwrap();
    let err = report::load(&json).unwrap_err().to_string();
    assert!(err.contains("more than"), "refused before loading: {err}");
}

#[test]
fn two_runs_are_labelled_by_what_differs_with_ratios_against_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("boreal-randread.json")).unwrap();
    let mut deep: serde_json::Value = serde_json::from_str(&text).unwrap();
    deep["jobs"][0]["job options"]["iodepth"] = "32".into();
    let iops = deep["jobs"][0]["read"]["iops"].as_f64().unwrap();
    deep["jobs"][0]["read"]["iops"] = (iops * 2.0).into();
    let second = dir.path().join("deep.json");
    std::fs::write(&second, deep.to_string()).unwrap();
    let runs = vec![
        report::load(&fixture("boreal-randread.json")).unwrap(),
        report::load(&second).unwrap(),
    ];
    let table = report::render(&runs, Format::Text, "t");
    let row = table
        .lines()
        .find(|l| l.starts_with("iodepth=32"))
        .expect(&table);
    assert!(row.contains("2.000"), "IOPS twice the first run's: {row}");
    assert!(
        table.lines().any(|l| l.starts_with("iodepth=1 ")),
        "{table}"
    );
    let html = report::render(&runs, Format::Html, "t");
    assert!(
        html.contains("iodepth=32 — randread-qd1 read clat"),
        "labels by what differs"
    );
    assert!(
        html.contains("stroke-dasharray=\"7 4\""),
        "the second run is dashed"
    );
}

#[test]
fn percentile_curves_stop_at_the_nines_their_samples_support() {
    let run = report::load(&fixture("fio-randrw-fdatasync.json")).unwrap();
    let html = report::render(std::slice::from_ref(&run), Format::Html, "t");
    let curve = &run.curves[0];
    assert!(curve.count < 100, "a small fixture: {}", curve.count);
    // The plot's x axis spans 2 nines (its minimum); a 64-sample curve must end at
    // log10(64) = 1.8 nines, before the axis end, not at it.
    let polyline = html
        .split("<polyline")
        .nth(1)
        .and_then(|p| p.split("points=\"").nth(1))
        .and_then(|p| p.split('"').next())
        .unwrap();
    let last_x: f64 = polyline
        .split(' ')
        .next_back()
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let axis_end = boreal_tools::report::svg::WIDTH - 44.0;
    assert!(
        last_x < axis_end - 20.0,
        "ends at {last_x}, the axis at {axis_end}"
    );
}
