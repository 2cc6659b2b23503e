//! `boreal`: the boreal command-line tool. Subcommands: `report`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use boreal_tools::report::{self, Format};

/// The boreal command-line tool.
#[derive(Debug, Parser)]
#[command(name = "boreal", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Latency reports from benchmark output: one or more boreal-bench or fio JSON files
    /// (json or json+) and HdrHistogram interval logs (boreal-bench --hdr-log), rendered
    /// as a self-contained HTML page with SVG plots (latency percentiles on a "nines"
    /// axis with the runs overlaid, IOPS over time, a table of key figures) or as a text
    /// table. Each input file is one run, labelled by its file name.
    Report {
        /// Input files: *.json from boreal-bench or fio, HdrHistogram logs.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// html: a page with plots; text: the table of key figures.
        #[arg(long, value_enum, default_value_t = FormatArg::Html)]
        format: FormatArg,
        /// Write to FILE instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Title of the HTML page.
        #[arg(long, default_value = "boreal latency report")]
        title: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Html,
    Text,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Report {
            inputs,
            format,
            output,
            title,
        } => {
            let runs = inputs
                .iter()
                .map(|path| report::load(path))
                .collect::<Result<Vec<_>, _>>()?;
            let format = match format {
                FormatArg::Html => Format::Html,
                FormatArg::Text => Format::Text,
            };
            let text = report::render(&runs, format, &title);
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing the report to {}", path.display()))?,
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(())
        }
    }
}
