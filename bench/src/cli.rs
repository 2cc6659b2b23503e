//! The command line of `boreal-bench`: harness options, job files and job options.
//!
//! Arguments are fio's: job files, and job options as `--key=value` (a `--name=NAME`
//! starts a job on the command line; options before any `--name` apply to every job and
//! override job files). The harness options listed in [`HARNESS_OPTIONS`] are taken out
//! first. This module only sorts arguments: it reads no file and runs nothing. A
//! misspelled option is refused with the closest option's name; anything starting with
//! a single `-` other than `-h`/`-V` is an unknown flag, never a job file.

use std::path::PathBuf;
use std::time::Duration;

use crate::job;
use crate::job::options::SUPPORTED_OPTIONS;
use crate::output::OutputFormat;

/// Harness options that take a value (`--key=VALUE` or `--key VALUE`).
pub const HARNESS_OPTIONS: [&str; 9] = [
    "output-format",
    "output",
    "hdr-log",
    "log-interval",
    "rounds",
    "compare-dir",
    "fio",
    "compare-cpu",
    "section",
];

/// Harness flags without a value.
pub const HARNESS_FLAGS: [&str; 4] = ["compare-fio", "parse-only", "help", "version"];

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `-h` / `--help`.
    Help,
    /// `-V` / `--version`.
    Version,
    /// Run (or parse) jobs (boxed: the settings dwarf the other variants).
    Run(Box<Cli>),
}

/// The harness settings and the job inputs of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Cli {
    /// `--output-format`.
    pub format: OutputFormat,
    /// `--output`.
    pub output: Option<PathBuf>,
    /// `--hdr-log`.
    pub hdr_log: Option<PathBuf>,
    /// `--log-interval`.
    pub interval: Duration,
    /// `--compare-fio`.
    pub compare: bool,
    /// `--parse-only`: read and check the jobs, print them, do no I/O.
    pub parse_only: bool,
    /// `--rounds`.
    pub rounds: u32,
    /// `--compare-dir`.
    pub compare_dir: PathBuf,
    /// `--fio`.
    pub fio: PathBuf,
    /// `--compare-cpu`: pin both tools to this CPU; `None`: neither is pinned.
    pub compare_cpu: Option<usize>,
    /// `--section` (fio's, repeatable): run only the job sections of these names;
    /// empty: every job.
    pub sections: Vec<String>,
    /// Job files, in order.
    pub job_files: Vec<PathBuf>,
    /// Job options (`--key=value`), in order.
    pub job_args: Vec<String>,
}

/// A command line that cannot be understood (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The edit distance of two option names (insertions, deletions, substitutions).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidate closest to `name`, if it is close enough to be a misspelling (at most
/// one edit per three characters, at least one).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d > 0 && d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Sorts the arguments (after the program name).
pub fn parse(args: Vec<String>) -> Result<Request, UsageError> {
    let mut cli = Cli {
        format: OutputFormat::Normal,
        output: None,
        hdr_log: None,
        interval: Duration::from_secs(1),
        compare: false,
        parse_only: false,
        rounds: 3,
        compare_dir: PathBuf::from("compare-out"),
        fio: PathBuf::from("fio"),
        compare_cpu: None,
        sections: Vec::new(),
        job_files: Vec::new(),
        job_args: Vec::new(),
    };
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Request::Help),
            "-V" | "--version" => return Ok(Request::Version),
            "--compare-fio" => {
                cli.compare = true;
                continue;
            }
            "--parse-only" => {
                cli.parse_only = true;
                continue;
            }
            _ => {}
        }
        let Some(body) = arg.strip_prefix("--") else {
            if arg.starts_with('-') && arg != "-" {
                return Err(UsageError(format!(
                    "unknown flag `{arg}`; boreal-bench's flags are -h (--help), -V (--version) and the --options of --help"
                )));
            }
            cli.job_files.push(PathBuf::from(arg));
            continue;
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (body, None),
        };
        if !HARNESS_OPTIONS.contains(&key) {
            if !SUPPORTED_OPTIONS.contains(&key)
                && let Some(near) =
                    closest(key, HARNESS_OPTIONS.iter().chain(&HARNESS_FLAGS).copied())
                && closest(key, SUPPORTED_OPTIONS.iter().copied()).is_none()
            {
                return Err(UsageError(format!(
                    "unknown option `--{key}`; did you mean `--{near}`?"
                )));
            }
            cli.job_args.push(arg);
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => iter
                .next()
                .ok_or_else(|| UsageError(format!("--{key} needs a value (--{key}=VALUE)")))?,
        };
        let bad = |what: &str| UsageError(format!("--{key}={value}: {what}"));
        match key {
            "output-format" => cli.format = value.parse().map_err(UsageError)?,
            "output" => cli.output = Some(PathBuf::from(&value)),
            "hdr-log" => cli.hdr_log = Some(PathBuf::from(&value)),
            "log-interval" => {
                cli.interval = job::options::parse_time(&value)
                    .filter(|d| *d >= Duration::from_millis(1))
                    .ok_or_else(|| bad("expected a time of at least 1ms, e.g. 500ms or 1s"))?;
            }
            "rounds" => {
                cli.rounds = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| bad("expected 1..=1000"))?;
            }
            "compare-dir" => cli.compare_dir = PathBuf::from(&value),
            "fio" => cli.fio = PathBuf::from(&value),
            "compare-cpu" => {
                cli.compare_cpu = Some(value.parse().map_err(|_| bad("expected a CPU number"))?);
            }
            "section" => {
                if value.is_empty() {
                    return Err(bad("expected the name of a job section"));
                }
                // fio refuses `global` too: sections named global... always apply and
                // hold no job, so selecting one would select no job.
                if value.starts_with("global") {
                    return Err(bad(
                        "sections named global... always apply and run no job; name a job section",
                    ));
                }
                cli.sections.push(value);
            }
            _ => unreachable!("listed in HARNESS_OPTIONS"),
        }
    }
    Ok(Request::Run(Box::new(cli)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("iodepht", "iodepth"), 2);
        assert_eq!(edit_distance("bs", "bs"), 0);
        assert_eq!(closest("iodpeth", ["iodepth", "ioengine"]), Some("iodepth"));
        assert_eq!(closest("zzz", ["iodepth"]), None);
    }

    #[test]
    fn single_dash_flags_are_unknown_flags_not_job_files() {
        let err = parse(args(&["-x"])).unwrap_err();
        assert!(err.0.contains("unknown flag `-x`"), "{err}");
        assert_eq!(parse(args(&["-h"])).unwrap(), Request::Help);
        assert_eq!(parse(args(&["-V"])).unwrap(), Request::Version);
    }

    #[test]
    fn misspelled_harness_option_gets_a_suggestion() {
        let err = parse(args(&["--output-formt=json"])).unwrap_err();
        assert_eq!(
            err.0,
            "unknown option `--output-formt`; did you mean `--output-format`?"
        );
        // Job options go through (the job parser suggests among them).
        let Request::Run(cli) = parse(args(&["--iodepht=4", "--parse-only", "x.fio"])).unwrap()
        else {
            panic!("a run");
        };
        assert_eq!(cli.job_args, ["--iodepht=4"]);
        assert!(cli.parse_only);
        assert_eq!(cli.job_files, [PathBuf::from("x.fio")]);
    }

    #[test]
    fn values_are_checked() {
        assert!(parse(args(&["--rounds=0"])).is_err());
        assert!(parse(args(&["--output-format=xml"])).is_err());
        assert!(parse(args(&["--output"])).is_err());
        let Request::Run(cli) = parse(args(&["--compare-cpu", "1", "--output=o.json"])).unwrap()
        else {
            panic!("a run");
        };
        assert_eq!(cli.compare_cpu, Some(1));
        assert_eq!(cli.output, Some(PathBuf::from("o.json")));
    }

    #[test]
    fn sections_repeat_and_global_is_refused() {
        let Request::Run(cli) = parse(args(&["--section=a", "--section", "b", "x.fio"])).unwrap()
        else {
            panic!("a run");
        };
        assert_eq!(cli.sections, ["a", "b"]);
        assert!(
            cli.job_args.is_empty(),
            "a harness option, not a job option"
        );
        assert!(parse(args(&["--section=global"])).is_err());
        assert!(parse(args(&["--section="])).is_err());
        assert!(parse(args(&["--section"])).is_err());
    }
}
