//! The HTML page: plots, legends and the table, in one file with no external resources.
//!
//! Several runs are told apart by colour (one per input file, the same in every plot and
//! in the table) and the curves of one run by dash pattern. A single run (one file with
//! many jobs, like boreal-bench's default job) has nothing to tell apart by colour, so
//! there each curve gets its own colour and stays solid: four dash patterns cannot tell
//! six jobs apart. Every plot has a legend that repeats the file name, so a printed page
//! still reads.

use std::fmt::Write;

use super::input::Run;
use super::svg::{self, COLORS, DASHES, Line};
use super::text;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222;
       max-width: 1000px; margin: 24px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.note { color: #555; margin: 2px 0 8px; font-size: 14px; }
ul.legend { list-style: none; padding: 0; margin: 6px 0 0 78px; font-size: 14px; }
ul.legend li { margin: 2px 0; break-inside: avoid; }
ul.legend svg { vertical-align: middle; margin-right: 6px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 6px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e4e4e4; white-space: nowrap; }
th { background: #f4f4f4; text-align: right; }
th.l, td.l { text-align: left; }
td { text-align: right; font-variant-numeric: tabular-nums; }
span.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
";

fn legend(lines: &[Line]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for line in lines {
        let dash = if line.dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", line.dash)
        };
        let _ = write!(
            out,
            "<li><svg width=\"36\" height=\"10\"><line x1=\"0\" y1=\"5\" x2=\"36\" y2=\"5\" stroke=\"{}\" stroke-width=\"3\"{dash}/></svg>{}</li>",
            line.color,
            escape(&line.label)
        );
    }
    out.push_str("</ul>");
    out
}

/// Colour and dash of curve `c` of run `r` out of `runs` runs (see the module docs).
fn line_style(runs: usize, r: usize, c: usize) -> (&'static str, &'static str) {
    if runs == 1 {
        (
            COLORS[c % COLORS.len()],
            DASHES[(c / COLORS.len()) % DASHES.len()],
        )
    } else {
        (COLORS[r % COLORS.len()], DASHES[c % DASHES.len()])
    }
}

fn curve_lines(runs: &[Run], metric: &str) -> (Vec<Line>, f64) {
    let mut lines = Vec::new();
    let mut count_max = 0u64;
    for (r, run) in runs.iter().enumerate() {
        for (c, curve) in run.curves.iter().filter(|c| c.metric == metric).enumerate() {
            count_max = count_max.max(curve.count);
            let (color, dash) = line_style(runs.len(), r, c);
            lines.push(Line {
                label: format!("{} — {}", run.label, curve.name),
                color,
                dash,
                points: curve.points.clone(),
            });
        }
    }
    let nines_max = (count_max.max(100) as f64).log10().clamp(2.0, 6.0).ceil();
    (lines, nines_max)
}

/// Renders the page.
pub fn page(runs: &[Run], title: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
    let _ = write!(out, "<h1>{}</h1>", escape(title));
    let _ = write!(out, "<p class=\"note\">");
    for (r, run) in runs.iter().enumerate() {
        let _ = write!(
            out,
            "<span class=\"swatch\" style=\"background:{}\"></span><b>{}</b> ({}){}",
            COLORS[r % COLORS.len()],
            escape(&run.label),
            escape(&run.source),
            if r + 1 < runs.len() { " &nbsp; " } else { "" }
        );
    }
    out.push_str("</p>");

    let (clat, nines_max) = curve_lines(runs, "clat");
    out.push_str("<h2>Completion latency by percentile</h2>");
    if clat.is_empty() {
        out.push_str("<p class=\"note\">No completion latencies in these inputs.</p>");
    } else {
        out.push_str("<p class=\"note\">Lower is better. Each step to the right is one more nine; the tail is where runs differ. HdrHistogram logs show total latency (lat).</p>");
        out.push_str(&svg::percentile_plot(
            &clat,
            nines_max,
            "completion latency by percentile",
        ));
        out.push_str(&legend(&clat));
    }

    let (sync, sync_nines) = curve_lines(runs, "sync");
    if !sync.is_empty() {
        out.push_str("<h2>Sync (fsync/fdatasync) latency by percentile</h2>");
        out.push_str(&svg::percentile_plot(
            &sync,
            sync_nines,
            "sync latency by percentile",
        ));
        out.push_str(&legend(&sync));
    }

    let mut series = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (c, s) in run.series.iter().enumerate() {
            let (color, dash) = line_style(runs.len(), r, c);
            series.push(Line {
                label: format!("{} — {}", run.label, s.name),
                color,
                dash,
                points: s.points.clone(),
            });
        }
    }
    out.push_str("<h2>IOPS over time</h2>");
    if series.is_empty() {
        out.push_str("<p class=\"note\">No time series in these inputs: fio's JSON has none; boreal-bench JSON and HdrHistogram logs do.</p>");
    } else {
        out.push_str("<p class=\"note\">Completed I/Os per second in each interval of the run (reads and writes together). A dip is a stall.</p>");
        out.push_str(&svg::time_plot(&series, "IOPS", "IOPS over time"));
        out.push_str(&legend(&series));
    }

    out.push_str("<h2>Key figures</h2><p class=\"note\">Latency percentiles are completion latency (clat) from JSON, total latency (lat) from HdrHistogram logs.</p><table><tr>");
    for (i, h) in text::HEADERS.iter().enumerate() {
        let class = if i < 3 { " class=\"l\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr>");
    for (r, run) in runs.iter().enumerate() {
        for row in &run.rows {
            out.push_str("<tr>");
            for (i, cell) in text::cells(run, row).iter().enumerate() {
                if i == 0 {
                    let _ = write!(
                        out,
                        "<td class=\"l\"><span class=\"swatch\" style=\"background:{}\"></span>{}</td>",
                        COLORS[r % COLORS.len()],
                        escape(cell)
                    );
                } else {
                    let class = if i < 3 { " class=\"l\"" } else { "" };
                    let _ = write!(out, "<td{class}>{}</td>", escape(cell));
                }
            }
            out.push_str("</tr>");
        }
    }
    out.push_str("</table></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_colours_each_curve_and_many_runs_colour_each_run() {
        let single: Vec<_> = (0..6).map(|c| line_style(1, 0, c)).collect();
        for (i, a) in single.iter().enumerate() {
            for b in &single[i + 1..] {
                assert_ne!(a, b, "six jobs of one run must be told apart");
            }
        }
        assert!(single.iter().all(|(_, dash)| dash.is_empty()));
        assert_eq!(line_style(2, 1, 0).0, line_style(2, 1, 3).0, "colour = run");
        assert_ne!(line_style(2, 0, 0).0, line_style(2, 1, 0).0);
        assert_ne!(line_style(2, 1, 0).1, line_style(2, 1, 1).1, "dash = curve");
    }
}
