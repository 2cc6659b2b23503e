//! Inline SVG plots: latency percentiles on a "nines" axis, and values over time.
//!
//! The percentile plot puts percentile p at x = -log10(1 - p/100), so 90%, 99%, 99.9%,
//! 99.99% are evenly spaced and the tail — where runs differ — gets most of the width;
//! latency is on a log axis with 1-2-5 ticks labelled in ns/µs/ms/s. A curve of N
//! samples ends at log10(N) nines ([`clip_to_samples`]): its maximum is drawn there,
//! and nothing beyond, because N samples say nothing about rarer events (a 1000-sample
//! curve drawn out to 99.999% would invent two nines). Values over time go on a linear
//! axis, or a log axis when the series differ by orders of magnitude. Everything is
//! plain SVG text with no script, so pages are self-contained and render the same in
//! any browser.

use std::fmt::Write;

/// Plot size, px.
pub const WIDTH: f64 = 960.0;
/// Plot size, px.
pub const HEIGHT: f64 = 420.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 52.0;

/// Colours for runs: Tableau 10, distinguishable and print-safe.
pub const COLORS: [&str; 10] = [
    "#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
    "#9c755f", "#bab0ac",
];
/// Tableau 20, as pairs of a dark and a light shade of each hue: a job's curves in two
/// runs share a hue and differ in shade (and dash).
pub const PAIRED: [&str; 20] = [
    "#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63",
    "#499894", "#86bcb6", "#e15759", "#ff9d9a", "#79706e", "#bab0ac", "#d37295", "#fabfd2",
    "#b07aa1", "#d4a6c8", "#9d7660", "#d7b5a6",
];
/// Dash patterns: one per run when runs are compared.
pub const DASHES: [&str; 4] = ["", "7 4", "2 3", "10 3 2 3"];

/// One line of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend text.
    pub label: String,
    /// Stroke colour.
    pub color: &'static str,
    /// Stroke dash pattern ("" for solid).
    pub dash: &'static str,
    /// Data points (x, y) in data units.
    pub points: Vec<(f64, f64)>,
}

/// Formats nanoseconds with a unit that keeps 1-3 integer digits.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    if value >= 100.0 || value == value.round() {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// Formats a count compactly: 950, 12.3k, 1.20M.
pub fn format_count(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A curve's points cut at what `count` samples support: points beyond log10(count)
/// nines are dropped and the maximum (100%) is drawn at log10(count) nines, as
/// percentile `100 × (1 − 1/count)`.
pub fn clip_to_samples(points: &[(f64, f64)], count: u64) -> Vec<(f64, f64)> {
    let count = count.max(1) as f64;
    let end = 100.0 * (1.0 - 1.0 / count);
    let mut out: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(p, _)| p <= end + 1e-9)
        .collect();
    if let Some(&(_, max)) = points.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        out.push((end, max));
    }
    out
}

/// Percentile to nines: 90 → 1, 99 → 2, 99.9 → 3. Capped at `nines_max`.
pub fn nines(p: f64, nines_max: f64) -> f64 {
    let rest = 1.0 - p / 100.0;
    if rest <= 10f64.powf(-nines_max) {
        nines_max
    } else {
        -rest.log10()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plot's size, px.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Area {
    /// The full-width plot.
    pub const FULL: Area = Area {
        w: WIDTH,
        h: HEIGHT,
    };
    /// One of a row of two small multiples.
    pub const SMALL: Area = Area { w: 480.0, h: 240.0 };

    fn plot_w(self) -> f64 {
        self.w - LEFT - RIGHT
    }

    fn plot_h(self) -> f64 {
        self.h - TOP - BOTTOM
    }
}

fn frame(out: &mut String, area: Area, aria: &str) {
    let (w, h) = (area.w, area.h);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="13">"#,
        escape(aria)
    );
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="#fff" stroke="#bbb"/>"##,
        area.plot_w(),
        area.plot_h()
    );
}

fn polyline(out: &mut String, line: &Line, map: impl Fn(f64, f64) -> (f64, f64)) {
    if line.points.is_empty() {
        return;
    }
    let points: Vec<String> = line
        .points
        .iter()
        .map(|&(x, y)| {
            let (px, py) = map(x, y);
            format!("{px:.1},{py:.1}")
        })
        .collect();
    let dash = if line.dash.is_empty() {
        String::new()
    } else {
        format!(r#" stroke-dasharray="{}""#, line.dash)
    };
    let _ = write!(
        out,
        r#"<polyline fill="none" stroke="{}" stroke-width="2.2" stroke-opacity="0.9" stroke-linejoin="round"{dash} points="{}"><title>{}</title></polyline>"#,
        line.color,
        points.join(" "),
        escape(&line.label)
    );
}

fn x_label(out: &mut String, area: Area, text: &str) {
    let _ = write!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
        LEFT + area.plot_w() / 2.0,
        area.h - 10.0,
        escape(text)
    );
}

fn y_label(out: &mut String, area: Area, text: &str) {
    let cy = TOP + area.plot_h() / 2.0;
    let _ = write!(
        out,
        r##"<text x="16" y="{cy}" text-anchor="middle" fill="#333" transform="rotate(-90 16 {cy})">{}</text>"##,
        escape(text)
    );
}

/// 1-2-5 ticks covering [lo, hi] (both > 0), on a log axis.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo * 0.9999 && t <= hi * 1.0001 {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// A "nice" step for about `n` linear ticks over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The latency-percentile plot. `lines` hold (percentile, ns) points; `nines_max` is
/// where 100% is drawn.
pub fn percentile_plot(lines: &[Line], nines_max: f64, aria: &str) -> String {
    let mut out = String::new();
    frame(&mut out, Area::FULL, aria);
    let values = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (mut lo, mut hi) = values.fold((f64::MAX, 0f64), |(lo, hi), v| {
        (lo.min(v.max(1.0)), hi.max(v))
    });
    if hi <= 0.0 {
        lo = 1_000.0;
        hi = 1_000_000.0;
    }
    // Snap the axis to 1-2-5 values just outside the data.
    let snap_down = |v: f64| {
        let d = 10f64.powf(v.log10().floor());
        [5.0, 2.0, 1.0]
            .iter()
            .map(|m| m * d)
            .find(|&t| t <= v)
            .unwrap_or(d)
    };
    let snap_up = |v: f64| {
        let d = 10f64.powf(v.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * d)
            .find(|&t| t >= v)
            .unwrap_or(10.0 * d)
    };
    let (lo, hi) = (snap_down(lo), snap_up(hi * 1.02).max(snap_down(lo) * 10.0));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |n: f64| LEFT + plot_w * n / nines_max;
    let py = |v: f64| {
        TOP + plot_h * (1.0 - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()))
    };
    for t in log_ticks(lo, hi) {
        let y = py(t);
        let major = (t.log10() - t.log10().round()).abs() < 1e-9;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="{}"/><text x="{}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            if major { "#d0d0d0" } else { "#ececec" },
            LEFT - 6.0,
            y + 4.0,
            format_ns(t)
        );
    }
    let x_ticks = [
        (0.0, "0%"),
        (2f64.log10(), "50%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "99.999%"),
        (6.0, "99.9999%"),
    ];
    for (n, label) in x_ticks.iter().filter(|(n, _)| *n <= nines_max + 1e-9) {
        let x = px(*n);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#e4e4e4"/><text x="{x:.1}" y="{}" text-anchor="middle" fill="#333">{label}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 18.0
        );
    }
    for line in lines {
        polyline(&mut out, line, |p, v| (px(nines(p, nines_max)), py(v)));
    }
    x_label(
        &mut out,
        Area::FULL,
        "percentile (log scale of 1 − p: each step is one more nine)",
    );
    y_label(&mut out, Area::FULL, "latency (log scale)");
    out.push_str("</svg>");
    out
}

/// True when series whose means are `means` differ by an order of magnitude or more
/// (a linear axis would flatten the small ones onto zero).
pub fn wants_log_axis(means: &[f64]) -> bool {
    let positive: Vec<f64> = means.iter().copied().filter(|m| *m > 0.0).collect();
    let lo = positive.iter().copied().fold(f64::MAX, f64::min);
    let hi = positive.iter().copied().fold(0.0f64, f64::max);
    positive.len() > 1 && hi / lo >= 10.0
}

/// A plot of values over time in `area`; `lines` hold (seconds, value) points;
/// `log_y` puts the values on a log axis (1-2-5 ticks; zeros sit on the floor).
pub fn time_plot(area: Area, lines: &[Line], y_name: &str, aria: &str, log_y: bool) -> String {
    let mut out = String::new();
    frame(&mut out, area, aria);
    let t_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let values: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .collect();
    let y_max_data = values.iter().copied().fold(0.0f64, f64::max).max(1.0);
    // The y range and its ticks, linear or log.
    let (lo, hi, ticks): (f64, f64, Vec<f64>) = if log_y {
        let lo_data = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::MAX, f64::min)
            .min(y_max_data);
        let lo = 10f64.powf(lo_data.log10().floor());
        let hi = 10f64.powf(y_max_data.log10().ceil()).max(lo * 10.0);
        (lo, hi, log_ticks(lo, hi))
    } else {
        let step = nice_step(y_max_data, if area.h < HEIGHT { 3.0 } else { 5.0 });
        let hi = (y_max_data / step).ceil() * step;
        let ticks = (0..=((hi / step).round() as usize))
            .map(|i| i as f64 * step)
            .collect();
        (0.0, hi, ticks)
    };
    let x_step = nice_step(t_max, if area.w < WIDTH { 5.0 } else { 10.0 });
    // A last point a hair past a step (an interval's end) does not earn another step.
    let x_max = ((t_max / x_step) - 0.02).ceil().max(1.0) * x_step;
    let (plot_w, plot_h) = (area.plot_w(), area.plot_h());
    let px = |t: f64| LEFT + plot_w * t / x_max;
    let py = |v: f64| {
        let f = if log_y {
            (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            v / hi
        };
        TOP + plot_h * (1.0 - f)
    };
    for t in ticks {
        let yy = py(t);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            format_count(t)
        );
    }
    let mut t = 0.0;
    while t <= x_max + x_step / 2.0 {
        let x = px(t);
        let label = if x_step < 1.0 {
            format!("{t:.1} s")
        } else {
            format!("{t:.0} s")
        };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#eeeeee"/><text x="{x:.1}" y="{}" text-anchor="middle" fill="#333">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
        t += x_step;
    }
    for line in lines {
        polyline(&mut out, line, |t, v| (px(t), py(v)));
        if line.points.len() == 1 {
            let (t, v) = line.points[0];
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{}"/>"#,
                px(t),
                py(v),
                line.color
            );
        }
    }
    x_label(&mut out, area, "time since the start of measurement");
    let y_name = if log_y {
        format!("{y_name} (log scale)")
    } else {
        y_name.to_string()
    };
    y_label(&mut out, area, &y_name);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert!((nines(90.0, 6.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9, 6.0) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0, 4.0), 4.0);
        assert_eq!(nines(0.0, 4.0), 0.0);
    }

    #[test]
    fn curves_end_at_the_nines_their_samples_support() {
        let points = [
            (0.0, 10.0),
            (50.0, 20.0),
            (99.0, 30.0),
            (99.9, 40.0),
            (100.0, 50.0),
        ];
        let clipped = clip_to_samples(&points, 100);
        assert_eq!(
            clipped,
            [(0.0, 10.0), (50.0, 20.0), (99.0, 30.0), (99.0, 50.0)]
        );
        let end = clipped.last().unwrap().0;
        assert!(
            (nines(end, 6.0) - 2.0).abs() < 1e-9,
            "100 samples: two nines"
        );
        assert_eq!(clip_to_samples(&points, 1_000_000).len(), 5);
        assert!(wants_log_axis(&[100.0, 50_000.0]));
        assert!(!wants_log_axis(&[30_000.0, 50_000.0]));
    }

    #[test]
    fn units_and_ticks() {
        assert_eq!(format_ns(500.0), "500 ns");
        assert_eq!(format_ns(2_000.0), "2 µs");
        assert_eq!(format_ns(97_500.0), "97.5 µs");
        assert_eq!(format_ns(3_500_000.0), "3.50 ms");
        assert_eq!(
            log_ticks(10_000.0, 100_000.0),
            [10_000.0, 20_000.0, 50_000.0, 100_000.0]
        );
        assert_eq!(nice_step(37.0, 5.0), 10.0);
        assert_eq!(format_count(12_345.0), "12k");
    }
}
