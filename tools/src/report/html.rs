//! The HTML page: plots, legends and the table, in one file with no external resources.
//!
//! Every curve has its own colour and dash pattern. With several runs, a curve's colour
//! is its job and direction (the same job has the same colour in every run) and its
//! dash is its run (run 1 solid, run 2 dashed, ...), so the eye pairs a job across runs
//! and still tells the runs apart; a single run gives each curve its own colour, solid.
//! Runs are labelled by the settings that differ between them
//! ([`super::text::run_labels`]); the header lists which file each label is. Every plot
//! has a legend, so a printed page still reads. IOPS over time goes on a log axis when
//! the series differ by an order of magnitude or more.

use std::fmt::Write;

use super::input::Run;
use super::svg::{self, COLORS, DASHES, Line, PAIRED};
use super::text::{self, run_labels};

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
div.multiples { display: flex; flex-wrap: wrap; gap: 0 8px; }
div.multiples figure { margin: 6px 0; }
div.multiples figcaption { font-size: 14px; margin-left: 78px; }
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

/// Colour and dash of curve `c` of run `r` out of `runs` runs (see the module docs):
/// every curve's colour and dash pair is distinct up to 40 curves (one run of 40, two
/// of 10, four of 10), and its colour alone up to 20 of several runs.
fn line_style(runs: usize, r: usize, c: usize) -> (&'static str, &'static str) {
    if runs == 1 {
        (
            COLORS[c % COLORS.len()],
            DASHES[(c / COLORS.len()) % DASHES.len()],
        )
    } else if runs == 2 {
        // A job's two runs: the dark and the light shade of one hue.
        (PAIRED[(2 * c + r) % PAIRED.len()], DASHES[r])
    } else {
        let i = c * runs + r;
        (
            PAIRED[i % PAIRED.len()],
            DASHES[(r + i / PAIRED.len()) % DASHES.len()],
        )
    }
}

fn curve_lines(runs: &[Run], labels: &[String], metric: &str) -> (Vec<Line>, f64) {
    let mut lines = Vec::new();
    let mut count_max = 0u64;
    for (r, run) in runs.iter().enumerate() {
        for (c, curve) in run.curves.iter().filter(|c| c.metric == metric).enumerate() {
            count_max = count_max.max(curve.count);
            let (color, dash) = line_style(runs.len(), r, c);
            let label = if runs.len() == 1 {
                format!("{} ({} samples)", curve.name, curve.count)
            } else {
                format!("{} — {} ({} samples)", labels[r], curve.name, curve.count)
            };
            lines.push(Line {
                label,
                color,
                dash,
                points: svg::clip_to_samples(&curve.points, curve.count),
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
    let labels = run_labels(runs);
    if runs.len() == 1 {
        let _ = write!(
            out,
            "<p class=\"note\">{} ({})</p>",
            escape(&runs[0].label),
            escape(&runs[0].source)
        );
    }
    out.push_str("<ul class=\"legend\" style=\"margin-left:0\">");
    for (r, run) in runs.iter().enumerate().filter(|_| runs.len() > 1) {
        let dash = DASHES[r % DASHES.len()];
        let _ = write!(
            out,
            "<li><svg width=\"36\" height=\"10\"><line x1=\"0\" y1=\"5\" x2=\"36\" y2=\"5\" stroke=\"#555\" stroke-width=\"3\" stroke-dasharray=\"{dash}\"/></svg><b>{}</b>: {} ({})</li>",
            escape(&labels[r]),
            escape(&run.label),
            escape(&run.source),
        );
    }
    out.push_str("</ul>");

    let (clat, nines_max) = curve_lines(runs, &labels, "clat");
    out.push_str("<h2>Completion latency by percentile</h2>");
    if clat.is_empty() {
        out.push_str("<p class=\"note\">No completion latencies in these inputs.</p>");
    } else {
        out.push_str("<p class=\"note\">Lower is better. Each step to the right is one more nine; the tail is where runs differ. Each curve ends at the nines its sample count supports (N samples: log10 N nines), where its maximum is drawn. HdrHistogram logs show total latency (lat).</p>");
        out.push_str(&svg::percentile_plot(
            &clat,
            nines_max,
            "completion latency by percentile",
        ));
        out.push_str(&legend(&clat));
    }

    let (sync, sync_nines) = curve_lines(runs, &labels, "sync");
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
                label: if runs.len() == 1 {
                    s.name.clone()
                } else {
                    format!("{} — {}", labels[r], s.name)
                },
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
        let means: Vec<f64> = series
            .iter()
            .map(|l| l.points.iter().map(|p| p.1).sum::<f64>() / l.points.len().max(1) as f64)
            .collect();
        let log = svg::wants_log_axis(&means);
        let multiples = log && series.len() > 2;
        out.push_str("<p class=\"note\">Completed I/Os per second in each interval, from each job's start of measurement (the ramp is left out, in the JSON and the HdrHistogram log alike). A dip is a stall.");
        if multiples {
            out.push_str(" The jobs differ by an order of magnitude or more: one plot each, each on its own scale.");
        } else if log {
            out.push_str(
                " The jobs differ by an order of magnitude or more, so the axis is logarithmic.",
            );
        }
        out.push_str("</p>");
        if multiples {
            out.push_str("<div class=\"multiples\">");
            for line in &series {
                let _ = write!(
                    out,
                    "<figure><figcaption>{}</figcaption>",
                    escape(&line.label)
                );
                out.push_str(&svg::time_plot(
                    svg::Area::SMALL,
                    std::slice::from_ref(line),
                    "IOPS",
                    &line.label,
                    false,
                ));
                out.push_str("</figure>");
            }
            out.push_str("</div>");
        } else {
            out.push_str(&svg::time_plot(
                svg::Area::FULL,
                &series,
                "IOPS",
                "IOPS over time",
                log,
            ));
            out.push_str(&legend(&series));
        }
    }

    let (layers, shown) = super::layers::all_cells(runs);
    if !layers.is_empty() {
        out.push_str("<h2>Layers side by side</h2><p class=\"note\">Each job as a layer of the stack: the device, the single-node engine, the full quorum, and any peers. ops/s counts both directions; p50 and p99 are completion latency of the busier one. disk flushes/op: the job's own fdatasyncs or journal syncs per operation, or the disk's flush counter over the window where the engine read it (the whole disk). The cluster's shim messages, node flushes (per node) and wire bytes per redo byte come from the shim's Io seam and the nodes' metrics; nodes' append is the nodes' own latency from an append's arrival to its durable acknowledgement (their histograms, interpolated inside doubling buckets): the rest of a commit's latency is the shim, the network and waits for a CPU.</p><table><tr>");
        for &i in &shown {
            let class = if i < 3 { " class=\"l\"" } else { "" };
            let _ = write!(out, "<th{class}>{}</th>", escape(super::layers::HEADERS[i]));
        }
        out.push_str("</tr>");
        for cells in &layers {
            out.push_str("<tr>");
            for &i in &shown {
                let class = if i < 3 { " class=\"l\"" } else { "" };
                let _ = write!(out, "<td{class}>{}</td>", escape(&cells[i]));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Key figures</h2><p class=\"note\">Latency percentiles are completion latency (clat) from JSON, total latency (lat) from HdrHistogram logs, in µs to three significant digits.");
    if runs.len() > 1 {
        out.push_str(
            " The last two columns divide each row by the same job and direction of the first run.",
        );
    }
    out.push_str("</p><table><tr>");
    let rows = text::all_cells(runs);
    let shown = text::shown_columns(runs, &rows);
    for &i in &shown {
        let class = if i < 3 { " class=\"l\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(text::HEADERS[i]));
    }
    out.push_str("</tr>");
    for cells in &rows {
        out.push_str("<tr>");
        for &i in &shown {
            let class = if i < 3 { " class=\"l\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(&cells[i]));
        }
        out.push_str("</tr>");
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
        let mut all = Vec::new();
        for r in 0..4 {
            for c in 0..10 {
                all.push(line_style(4, r, c));
            }
        }
        let total = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            all.len(),
            total,
            "every curve of 4 runs x 10 curves is distinct"
        );
        // Two runs: a job's curves are the dark and light shade of one hue.
        assert_eq!(line_style(2, 0, 3), ("#b6992d", ""));
        assert_eq!(line_style(2, 1, 3), ("#f1ce63", DASHES[1]));
    }
}
