//! The table of key figures, as aligned plain text (`--format=text`) and as cells for
//! the HTML page. One row per run, job and direction; latencies in µs.

use std::fmt::Write;

use super::input::{Row, Run};

/// Column headers, shared with the HTML table.
pub const HEADERS: [&str; 11] = [
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
];

fn us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |ns| format!("{:.1}", ns / 1000.0))
}

/// The cells of one row, in [`HEADERS`] order.
pub fn cells(run: &Run, row: &Row) -> [String; 11] {
    [
        run.label.clone(),
        row.job.clone(),
        row.dir.clone(),
        row.ios.to_string(),
        row.iops
            .map_or_else(|| "-".to_string(), |v| format!("{v:.0}")),
        row.bw_bytes
            .map_or_else(|| "-".to_string(), |v| format!("{:.1}", v / 1048576.0)),
        us(row.clat_p50),
        us(row.clat_p99),
        us(row.clat_p999),
        us(row.clat_max),
        us(row.sync_p99),
    ]
}

/// The whole table as aligned text (numbers right-aligned).
pub fn table(runs: &[Run]) -> String {
    let mut rows: Vec<[String; 11]> = vec![HEADERS.map(String::from)];
    for run in runs {
        for row in &run.rows {
            rows.push(cells(run, row));
        }
    }
    let mut widths = [0usize; 11];
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i < 3 {
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(line, "{}{cell}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for run in runs {
        let _ = writeln!(out, "{}: {}", run.label, run.source);
    }
    out
}
