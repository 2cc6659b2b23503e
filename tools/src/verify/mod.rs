//! `boreal verify`: check every checksum and every chain of a data dir, read-only, and
//! say precisely what is wrong.
//!
//! What it owns: the judgement of what the store readers found. Each problem names the
//! file, the byte offset, what was expected and what was found, and is an error
//! (corruption, or a rule of the format or layout broken) or a warning (what a crash
//! leaves behind and recovery handles: a torn journal tail, a page write that no
//! metadata covers yet, files of an interrupted segment creation). `journal` checks
//! journal files (headers, batch placement and sequence, records), words what the
//! engine's own recovery decides about every damaged region (it judges nothing itself),
//! and collects the records for `chains` (LSN backlink rules per PG and per page); `segments` checks the
//! catalog, metadata and page files. It never writes, and memory stays bounded: files
//! are streamed, problems past `PROBLEMS_KEPT_MAX` are only counted, and the chain index
//! stops at `chains::CHAIN_RECORDS_MAX` records (with a note).

mod chains;
mod journal;
mod segments;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

use boreal_engine::journal::MissingAction;
use boreal_engine::journal::decide::Decisions;
use serde_json::json;

use crate::inspect::shown_name;
use crate::numfmt::{grouped, plural, size};
use crate::progress::Progress;
use crate::store::{self, FileKind, StoreError, Target};

/// Problems kept for the report; later ones are counted only.
pub const PROBLEMS_KEPT_MAX: usize = 10_000;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Corruption or a broken rule: exit non-zero.
    Error,
    /// What a crash normally leaves (a torn tail): exit 0 unless `--strict`.
    Warning,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// The file, as the user named it (relative to the dir given).
    pub file: String,
    /// Byte offset in the file, when the problem has one.
    pub offset: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: ", self.severity.label(), self.file)?;
        if let Some(o) = self.offset {
            write!(f, "offset {}: ", grouped(o))?;
        }
        write!(f, "{}", self.message)
    }
}

/// What the engine's recovery decides over one core's journal: its own `decide_all`
/// over the regions its own judging finds, so a test (or a user) can hold the engine's
/// open to it.
#[derive(Clone, Debug)]
pub struct JournalRecovery {
    /// The core dir, as the user named it (or the journal file checked on its own).
    pub dir: String,
    /// The journal files recovery opens (generation above 0), in journal order, as
    /// shown: `decisions` counts files in this order.
    pub files: Vec<String>,
    pub decisions: Decisions,
}

impl JournalRecovery {
    /// Whether the engine refuses to open the core for what its journal lost (a missing
    /// range that may have held a control record, or whose contents nothing says).
    pub fn refuses(&self) -> bool {
        self.decisions
            .missing
            .iter()
            .any(|r| r.case().action == MissingAction::Refuse)
    }
}

/// Everything a run found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The first `PROBLEMS_KEPT_MAX` problems, in the order found.
    pub problems: Vec<Problem>,
    pub errors: u64,
    pub warnings: u64,
    /// Files with at least one problem.
    pub files_with_problems: BTreeSet<String>,
    pub files_checked: u64,
    pub bytes_checked: u64,
    /// What was not checked, and why; what recovery would refuse.
    pub notes: Vec<String>,
    /// Recovery's decisions over each core's journal, in the order checked.
    pub journals: Vec<JournalRecovery>,
}

impl Report {
    pub(crate) fn add(
        &mut self,
        severity: Severity,
        file: &str,
        offset: Option<u64>,
        message: String,
    ) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        self.files_with_problems.insert(file.to_string());
        if self.problems.len() < PROBLEMS_KEPT_MAX {
            self.problems.push(Problem {
                severity,
                file: file.to_string(),
                offset,
                message,
            });
        }
    }

    pub(crate) fn error(&mut self, file: &str, offset: Option<u64>, message: String) {
        self.add(Severity::Error, file, offset, message);
    }

    pub(crate) fn warning(&mut self, file: &str, offset: Option<u64>, message: String) {
        self.add(Severity::Warning, file, offset, message);
    }

    /// Keeps recovery's decisions over the journal of `dir`, with a note when the
    /// engine would refuse to open it.
    fn recovery(&mut self, dir: String, decided: Option<(Decisions, Vec<String>)>) {
        let Some((decisions, files)) = decided else {
            return;
        };
        let j = JournalRecovery {
            dir,
            files,
            decisions,
        };
        if j.refuses() {
            let n = j
                .decisions
                .missing
                .iter()
                .filter(|r| r.case().action == MissingAction::Refuse)
                .count() as u64;
            self.notes.push(format!(
                "{}: the engine refuses to open this core: {} of its journal may have held a truncation or \
                 an epoch change, or nothing says what {} held (see the errors); repair it from its peers",
                if j.dir.is_empty() { "." } else { &j.dir },
                plural(n, "damaged range"),
                if n == 1 { "it" } else { "they" }
            ));
        }
        self.journals.push(j);
    }

    pub(crate) fn checked(&mut self, bytes: u64) {
        self.files_checked += 1;
        self.bytes_checked += bytes;
    }

    /// Whether the run passes: no error, and no warning either when `strict`.
    pub fn is_clean(&self, strict: bool) -> bool {
        self.errors == 0 && (!strict || self.warnings == 0)
    }

    /// The summary line: `N problems in M files (E errors, W warnings); ...`.
    pub fn summary(&self) -> String {
        format!(
            "{} in {} ({}, {}); {} ({}) checked",
            plural(self.errors + self.warnings, "problem"),
            plural(self.files_with_problems.len() as u64, "file"),
            plural(self.errors, "error"),
            plural(self.warnings, "warning"),
            plural(self.files_checked, "file"),
            size(self.bytes_checked)
        )
    }

    /// Writes the report as text: one line per problem, notes, the summary.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for p in &self.problems {
            writeln!(out, "{p}")?;
        }
        let kept = self.problems.len() as u64;
        if self.errors + self.warnings > kept {
            writeln!(
                out,
                "... and {} more not shown",
                plural(self.errors + self.warnings - kept, "problem")
            )?;
        }
        for n in &self.notes {
            writeln!(out, "note: {n}")?;
        }
        writeln!(out, "{}", self.summary())
    }

    /// Writes the report as one JSON document.
    pub fn write_json(&self, out: &mut dyn Write, strict: bool) -> io::Result<()> {
        let problems: Vec<_> = self
            .problems
            .iter()
            .map(|p| {
                json!({
                    "severity": p.severity.label(),
                    "file": p.file,
                    "offset": p.offset,
                    "message": p.message,
                })
            })
            .collect();
        let v = json!({
            "format": "boreal-verify",
            "format_version": 1,
            "clean": self.is_clean(strict),
            "errors": self.errors,
            "warnings": self.warnings,
            "files_with_problems": self.files_with_problems.len(),
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
            "problems": problems,
            "problems_not_shown": self.errors + self.warnings - self.problems.len() as u64,
            "notes": self.notes,
            "summary": self.summary(),
        });
        serde_json::to_writer_pretty(&mut *out, &v).map_err(io::Error::other)?;
        writeln!(out)
    }
}

/// Checks everything under `path`.
pub fn run(path: &Path) -> Result<Report, StoreError> {
    let target = store::discover(path)?;
    let mut report = Report::default();
    let mut progress = Progress::to_terminal();
    match &target {
        Target::File { path: file, kind } => {
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let name = file.display().to_string();
            match kind {
                FileKind::Journal(id) => {
                    let files = vec![(*id, file.clone(), name.clone())];
                    let mut index = chains::ChainIndex::default();
                    let decided = journal::check(&files, &mut index, &mut report, &mut progress)?;
                    report.recovery(name, decided);
                    chains::check(&mut index, &[], &mut report);
                }
                FileKind::Catalog => {
                    segments::check_catalog_file(file, &name, &mut report)?;
                }
                FileKind::Meta(pg) => {
                    segments::check_meta_file(file, &name, *pg, None, &mut report)?;
                }
                FileKind::Pages(pg) => {
                    segments::check_pages_file(
                        &dir,
                        file,
                        &name,
                        *pg,
                        None,
                        &mut report,
                        &mut progress,
                    )?;
                }
            }
        }
        Target::Dirs(cores) => {
            for core in cores {
                let truncations = segments::check_core(path, core, &mut report, &mut progress)?;
                let files: Vec<_> = core
                    .journals
                    .iter()
                    .map(|(id, p)| (*id, p.clone(), shown_name(path, p)))
                    .collect();
                let mut index = chains::ChainIndex::default();
                let decided = journal::check(&files, &mut index, &mut report, &mut progress)?;
                report.recovery(shown_name(path, &core.dir), decided);
                chains::check(&mut index, &truncations, &mut report);
                for u in &core.unknown {
                    report.warning(
                        &shown_name(path, u),
                        None,
                        "not a boreal file: not checked".into(),
                    );
                }
            }
        }
    }
    progress.clear();
    Ok(report)
}
