//! `boreal report`: benchmark output files in, a page (or a table) people can compare
//! runs with out.
//!
//! Inputs are read as files only: fio-format JSON (from boreal-bench or fio itself,
//! `json` or `json+`) and HdrHistogram interval logs. [`input`] turns each file into a
//! [`Run`]: rows of key figures, latency percentile curves, and IOPS-over-time series
//! where the file has them. [`html`] draws them as inline SVG in one self-contained HTML
//! page (no scripts, no external resources); [`text`] prints the table. [`layers`]
//! puts each job beside the others as a layer of the stack (device, single node, full
//! quorum, peers). This module
//! never runs a benchmark and never needs the bench crate.

pub mod base64;
pub mod html;
pub mod input;
pub mod layers;
pub mod svg;
pub mod text;

pub use input::{Curve, Row, Run, TimeSeries, load};

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A self-contained HTML page with SVG plots.
    Html,
    /// A plain-text table of key figures.
    Text,
}

/// Errors reading report inputs.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The file is neither fio-format JSON nor an HdrHistogram log, or is malformed.
    #[error("{path}: {message}")]
    Format {
        path: std::path::PathBuf,
        message: String,
    },
}

/// Renders runs in the given format.
pub fn render(runs: &[Run], format: Format, title: &str) -> String {
    match format {
        Format::Html => html::page(runs, title),
        Format::Text => text::table(runs),
    }
}
