//! The table of key figures, as aligned plain text (`--format=text`) and as cells for
//! the HTML page, and the labels runs go by.
//!
//! One row per run, job and direction. Latencies are in µs with three significant
//! digits (84 ns is `0.0840`, 128 ns `0.128`: never both `0.1`). With several runs, two
//! ratio columns compare each row with the same job and direction of the first run
//! (IOPS and p99; `-` where the first run has no such row). Runs are labelled by the
//! settings that differ between them ([`run_labels`]), not by their file names.

use std::fmt::Write;

use super::input::{Row, Run};

/// Column headers, shared with the HTML table.
pub const HEADERS: [&str; 13] = [
    "run",
    "job",
    "dir",
    "I/Os",
    "IOPS",
    "MiB/s",
    "p50 µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "sync p99 µs",
    "IOPS / 1st",
    "p99 / 1st",
];

/// `value` with three significant digits (no exponent).
pub fn sig3(value: f64) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 || magnitude == 0.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        // 0.084 → 3 decimals, 0.0084 → 4.
        (2 - magnitude.log10().floor() as i64).clamp(3, 9) as usize
    };
    format!("{value:.decimals$}")
}

fn us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |ns| sig3(ns / 1000.0))
}

/// The label of each run: the settings that differ between the runs (`engine=io_uring
/// iodepth=32`), or the file name when nothing differs (or there is one run, or a run
/// has no settings, like an HdrHistogram log).
pub fn run_labels(runs: &[Run]) -> Vec<String> {
    let names = || runs.iter().map(|r| r.label.clone()).collect();
    if runs.len() < 2 || runs.iter().any(|r| r.attributes.is_empty()) {
        return names();
    }
    let differing: Vec<usize> = (0..runs[0].attributes.len())
        .filter(|&i| {
            runs.iter()
                .any(|r| r.attributes[i] != runs[0].attributes[i])
        })
        .collect();
    if differing.is_empty() {
        return names();
    }
    let labels: Vec<String> = runs
        .iter()
        .map(|r| {
            differing
                .iter()
                .map(|&i| format!("{}={}", r.attributes[i].0, r.attributes[i].1))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    // Two runs with the same settings (repeats) keep their file names apart.
    let mut out = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if labels.iter().filter(|l| *l == label).count() > 1 {
            out.push(format!("{label} ({})", runs[i].label));
        } else {
            out.push(label.clone());
        }
    }
    out
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
        _ => "-".to_string(),
    }
}

/// The row of `first` with the same job and direction as `row`.
pub fn baseline<'a>(first: &'a Run, row: &Row) -> Option<&'a Row> {
    first
        .rows
        .iter()
        .find(|r| r.job == row.job && r.dir == row.dir)
}

/// The cells of one row, in [`HEADERS`] order; `first` is the same row of the first
/// run (for the ratio columns).
pub fn cells(label: &str, row: &Row, first: Option<&Row>) -> [String; 13] {
    [
        label.to_string(),
        row.job.clone(),
        row.dir.clone(),
        row.ios.to_string(),
        row.iops
            .map_or_else(|| "-".to_string(), |v| format!("{v:.0}")),
        row.bw_bytes
            .map_or_else(|| "-".to_string(), |v| sig3(v / 1048576.0)),
        us(row.clat_p50),
        us(row.clat_p99),
        us(row.clat_p999),
        us(row.clat_max),
        us(row.sync_p99),
        first.map_or_else(|| "-".to_string(), |f| ratio(row.iops, f.iops)),
        first.map_or_else(|| "-".to_string(), |f| ratio(row.clat_p99, f.clat_p99)),
    ]
}

/// Every row of every run as cells, with the run's label.
pub fn all_cells(runs: &[Run]) -> Vec<[String; 13]> {
    let labels = run_labels(runs);
    let mut out = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for row in &run.rows {
            let first = (runs.len() > 1).then(|| baseline(&runs[0], row)).flatten();
            out.push(cells(&labels[r], row, first));
        }
    }
    out
}

/// The columns worth showing: every column with a value somewhere (a `sync p99`
/// column of runs without syncs says nothing); the run and the ratio columns only with
/// several runs.
pub fn shown_columns(runs: &[Run], rows: &[[String; 13]]) -> Vec<usize> {
    (0..HEADERS.len())
        .filter(|&i| i > 0 || runs.len() > 1)
        .filter(|&i| i < 3 || rows.iter().any(|r| r[i] != "-"))
        .filter(|&i| i < 11 || runs.len() > 1)
        .collect()
}

/// The whole table as aligned text (numbers right-aligned).
pub fn table(runs: &[Run]) -> String {
    let cells = all_cells(runs);
    let shown = shown_columns(runs, &cells);
    let mut out = aligned(shown.iter().map(|&i| HEADERS[i]), &cells, &shown);
    let (layers, shown) = super::layers::all_cells(runs);
    if !layers.is_empty() {
        out.push_str("\nlayers side by side:\n");
        out.push_str(&aligned(
            shown.iter().map(|&i| super::layers::HEADERS[i]),
            &layers,
            &shown,
        ));
    }
    for (run, label) in runs.iter().zip(run_labels(runs)) {
        let _ = writeln!(out, "{label}: {} ({})", run.label, run.source);
    }
    out
}

/// `rows` (their `shown` columns) under `headers` as aligned text: the first three
/// columns left-aligned, numbers right-aligned.
fn aligned<'a, const N: usize>(
    headers: impl Iterator<Item = &'a str>,
    rows: &[[String; N]],
    shown: &[usize],
) -> String {
    let mut all: Vec<Vec<String>> = vec![headers.map(str::to_string).collect()];
    all.extend(
        rows.iter()
            .map(|c| shown.iter().map(|&i| c[i].clone()).collect()),
    );
    let mut widths = vec![0usize; shown.len()];
    for row in &all {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if shown[i] < 3 {
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(line, "{}{cell}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(0.084), "0.0840");
        assert_eq!(sig3(0.128), "0.128");
        assert_eq!(sig3(0.0084), "0.00840");
        assert_eq!(sig3(1.5), "1.50");
        assert_eq!(sig3(12.34), "12.3");
        assert_eq!(sig3(1234.4), "1234");
        assert_eq!(sig3(0.0), "0");
    }

    fn run(label: &str, attrs: &[(&str, &str)]) -> Run {
        Run {
            label: label.to_string(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source: String::new(),
            rows: Vec::new(),
            curves: Vec::new(),
            series: Vec::new(),
            layers: Vec::new(),
        }
    }

    #[test]
    fn runs_are_labelled_by_what_differs() {
        let a = run(
            "a.json",
            &[("engine", "io_uring"), ("iodepth", "1"), ("bs", "4k")],
        );
        let b = run(
            "b.json",
            &[("engine", "io_uring"), ("iodepth", "32"), ("bs", "4k")],
        );
        assert_eq!(
            run_labels(&[a.clone(), b.clone()]),
            ["iodepth=1", "iodepth=32"]
        );
        let c = run(
            "c.json",
            &[("engine", "io_uring"), ("iodepth", "1"), ("bs", "4k")],
        );
        assert_eq!(
            run_labels(&[a.clone(), c]),
            ["a.json", "c.json"],
            "nothing differs: file names"
        );
        let d = run(
            "d.json",
            &[("engine", "io_uring"), ("iodepth", "1"), ("bs", "4k")],
        );
        assert_eq!(
            run_labels(&[a, b, d]),
            ["iodepth=1 (a.json)", "iodepth=32", "iodepth=1 (d.json)"]
        );
    }
}
