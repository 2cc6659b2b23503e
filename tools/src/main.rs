//! `boreal`: the boreal command-line tool. Subcommands: `inspect`, `verify`, `report`,
//! `cluster`.
//!
//! Errors are printed once, as one line naming what failed (the OS error once), never
//! with a backtrace; every subcommand documents its exit codes in its `--help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{ArgAction, Parser, Subcommand, ValueEnum};

use boreal_tools::inspect::{self, InspectOptions};
use boreal_tools::report::{self, Format};
use boreal_tools::store::StoreError;
use boreal_tools::verify;

mod cluster_cli;

/// Exit code when a path cannot be read or is not a boreal data dir or file.
const EXIT_UNREADABLE: u8 = 2;
/// Exit code of `verify` when it found problems.
const EXIT_PROBLEMS: u8 = 1;
/// Exit code of `report` when the report could not be written.
const EXIT_OUTPUT: u8 = 1;

/// The version as every boreal program prints it (`NAME-VERSION`, as fio prints
/// `fio-3.33` and boreal-bench `boreal-bench-0.1.0`).
const VERSION: &str = concat!("boreal-", env!("CARGO_PKG_VERSION"));

/// The boreal command-line tool.
///
/// Exit codes: see each command's --help; 2 when the command line cannot be understood.
#[derive(Debug, Parser)]
#[command(name = "boreal", about, disable_version_flag = true)]
struct Cli {
    /// Print the version (boreal-VERSION) and exit.
    #[arg(short = 'V', long, action = ArgAction::SetTrue)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dump what a data dir holds, read-only.
    ///
    /// PATH is a core's data dir (catalog, journal-NNNN.brj, pg-N.meta, pg-N.pages), a
    /// node dir whose subdirectories are core dirs, or one such file. For each journal
    /// file: its header (file id, generation, alignment, size), then every region after
    /// it: each batch (offset, sequence, first/last LSN, records, body bytes) classified
    /// valid, torn, zeros, stale (an older generation's leftovers) or garbage, with the
    /// reason; with --records, each record. For the catalog and metadata files: both
    /// slots and which one wins. For page files: a summary, or with --pages each page's
    /// two slots (page LSN, checksum state).
    ///
    /// It never writes: every file is opened read-only, and large files are read in
    /// windows of a few MiB, so memory does not grow with their size.
    ///
    /// Exit codes: 0 the dump was written (damage is shown, not judged: use verify);
    /// 2 PATH cannot be read or holds no boreal file.
    #[command(verbatim_doc_comment)]
    Inspect {
        /// A data dir (core or node) or a single file.
        path: PathBuf,
        /// One JSON document instead of text (stable field names).
        #[arg(long)]
        json: bool,
        /// Show every record of every valid batch.
        #[arg(long)]
        records: bool,
        /// Show both slots of every page of every page file.
        #[arg(long)]
        pages: bool,
        /// Show at most N records in the whole run (with --records).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Check every checksum and chain of a data dir, read-only.
    ///
    /// PATH is a core's data dir, a node dir of core dirs, or one file. Checks: journal
    /// file headers; every batch's checksums and placement (file id, generation,
    /// offset); batch sequence continuity within a file and from one generation to the
    /// next; every record's checksums and field rules; LSN backlink rules of each PG's
    /// and page's chain where both ends are in the journal; page checksums and that each
    /// slot holds the page its position says; the catalog and metadata slots.
    ///
    /// Each problem names the file, the byte offset, what was expected and what was
    /// found, then a summary line. Damage below valid data is an error. What a crash
    /// leaves and recovery handles (a torn journal tail, a page write no metadata covers
    /// yet, files of an interrupted segment creation) is a warning. Progress goes to
    /// stderr when it is a terminal.
    ///
    /// It never writes: every file is opened read-only.
    ///
    /// Exit codes: 0 no errors (warnings allowed, unless --strict); 1 problems found;
    /// 2 PATH cannot be read or holds no boreal file.
    #[command(verbatim_doc_comment)]
    Verify {
        /// A data dir (core or node) or a single file.
        path: PathBuf,
        /// Fail (exit 1) on warnings too, e.g. a torn journal tail.
        #[arg(long)]
        strict: bool,
        /// The report as one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Latency reports from benchmark output files.
    ///
    /// Inputs: boreal-bench or fio JSON (json or json+) and HdrHistogram interval logs
    /// (boreal-bench --hdr-log). Output: a self-contained HTML page with SVG plots
    /// (latency percentiles on a "nines" axis, each curve ending at the nines its
    /// sample count supports; IOPS over time, on a log axis when jobs differ by an
    /// order of magnitude; a table of key figures, latencies to three significant
    /// digits, with IOPS and p99 ratios against the first run) or the table as text.
    /// Each input file is one run; runs are labelled by the settings that differ
    /// between them (engine, bs, iodepth, rw, direct, numjobs, file), else by file
    /// name. Every curve has its own colour and dash: colour per job, dash per run.
    ///
    /// Inputs are read in bounded memory: a file whose first 64 KiB are not JSON or an
    /// interval log is refused there, and one above 512 MiB before it is loaded.
    ///
    /// Exit codes: 0 the report was written; 1 the report could not be written;
    /// 2 an input cannot be read or is not a report input.
    #[command(verbatim_doc_comment)]
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
    /// A local cluster of storage nodes (boreal-node processes on 127.0.0.1).
    ///
    /// `up` starts one, `status` shows it, `down` stops it. Six nodes by default, two
    /// in each of three AZs (az1, az2, az3), one core each; each node has its own data
    /// directory DIR/nodeN (with its node.toml and node.log), its own ports (one per
    /// core, then metrics), and gossips with the others. DIR/cluster.toml lists the
    /// nodes, their addresses and pids, and the volume's shape; shims and boreal-bench
    /// read it.
    #[command(verbatim_doc_comment)]
    Cluster {
        #[command(subcommand)]
        command: cluster_cli::ClusterCommand,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Html,
    Text,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("{VERSION}");
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!(
            "boreal: a command is needed: inspect, verify, report or cluster (boreal --help)"
        );
        return ExitCode::from(EXIT_UNREADABLE);
    };
    match command {
        Command::Cluster { command } => cluster_cli::run(command),
        Command::Inspect {
            path,
            json,
            records,
            pages,
            limit,
        } => {
            let opts = InspectOptions {
                json,
                records,
                pages,
                limit,
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match inspect::run(&path, &opts, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                // The reader went away (`boreal inspect DIR | head`): not an error.
                Err(StoreError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let _ = out.flush();
                    eprintln!("boreal inspect: {e}");
                    ExitCode::from(EXIT_UNREADABLE)
                }
            }
        }
        Command::Verify { path, strict, json } => match verify::run(&path) {
            Ok(report) => {
                let mut out = std::io::stdout().lock();
                let written = if json {
                    report.write_json(&mut out, strict)
                } else {
                    report.write_text(&mut out)
                };
                if let Err(e) = written {
                    eprintln!("boreal verify: writing the report: {e}");
                    return ExitCode::from(EXIT_UNREADABLE);
                }
                if report.is_clean(strict) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_PROBLEMS)
                }
            }
            Err(e) => {
                eprintln!("boreal verify: {e}");
                ExitCode::from(EXIT_UNREADABLE)
            }
        },
        Command::Report {
            inputs,
            format,
            output,
            title,
        } => {
            let runs = match inputs
                .iter()
                .map(|path| report::load(path))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(runs) => runs,
                Err(e) => {
                    eprintln!("boreal report: {e}");
                    return ExitCode::from(EXIT_UNREADABLE);
                }
            };
            match write_report(&runs, format, output, &title) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("boreal report: {}", error_chain(&e));
                    ExitCode::from(EXIT_OUTPUT)
                }
            }
        }
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message
/// before it already holds.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn write_report(
    runs: &[report::Run],
    format: FormatArg,
    output: Option<PathBuf>,
    title: &str,
) -> Result<()> {
    let format = match format {
        FormatArg::Html => Format::Html,
        FormatArg::Text => Format::Text,
    };
    let text = report::render(runs, format, title);
    match output {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("writing the report to {}", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the report to stdout")?,
    }
    Ok(())
}
