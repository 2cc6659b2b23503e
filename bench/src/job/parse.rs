//! Job input syntax: fio's INI job files and fio-style command-line options.
//!
//! This module knows only the shape of the input, not what any option means: it turns
//! text into sections of `key[=value]` entries, each remembering the file and line (or
//! command-line argument) it came from, so that every later error can point there.
//! Rules, as fio reads job files:
//! - `[name]` starts a section; a section whose name starts with `global` (`[global]`,
//!   `[global-disk]`: fio's `!strncmp(name, "global", 6)`, init.c) runs no job and holds
//!   defaults for the job sections after it.
//! - `key=value`, `key = value` and bare `key` (a flag) are options.
//! - `;` and `#` start a comment anywhere on a line, as fio's `strip_blank_end`
//!   (parse.c) has it: a line is cut at its first `;`, then at its first `#`, then
//!   trimmed; a line left empty is skipped. So `bs=4k ; block size` is `bs=4k` and
//!   `[job] # note` is `[job]`. A value can therefore never hold `;` or `#` (in fio
//!   neither). Command-line arguments are taken as typed, as fio takes them.
//! - An option before the first section is an error.
//! - `include FILE` inside a section reads FILE's options into the section, as if they
//!   were written there (fio's rule: an included file holds options only, no sections;
//!   it may include further files). This module does not read files: the caller hands
//!   it an `include` resolver ([`parse_job_file_with`]).
//!
//! On the command line, `--name=x` starts a job section named `x` (a global section
//! when `x` starts with `global`, as in fio); options before the first `--name` are
//! global.

use std::path::Path;

use crate::error::{BenchError, Origin};

/// One `key[=value]` as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOption {
    /// The option name, trimmed.
    pub key: String,
    /// The value after `=`, trimmed; `None` for a bare flag.
    pub value: Option<String>,
    /// Where it was written.
    pub origin: Origin,
}

/// One `[section]` with its options in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSection {
    /// The name between the brackets (see [`RawSection::is_global`]).
    pub name: String,
    /// Where the header was written.
    pub origin: Origin,
    /// The options, in file order.
    pub options: Vec<RawOption>,
}

impl RawSection {
    /// True for a global (defaults) section: one whose name starts with `global`, as
    /// fio decides it, in job files and for `--name=` alike.
    pub fn is_global(&self) -> bool {
        self.name.starts_with("global")
    }
}

/// Reads an included file's options: given the file name as written and where the
/// `include` line is, returns the options (with their own origins).
pub type IncludeResolver<'a> = dyn FnMut(&str, &Origin) -> Result<Vec<RawOption>, BenchError> + 'a;

/// Parses the text of a job file; `path` is used only in error messages and origins.
/// An `include` line is refused (use [`parse_job_file_with`] to read them).
pub fn parse_job_file(text: &str, path: &Path) -> Result<Vec<RawSection>, BenchError> {
    parse_job_file_with(text, path, &mut |file, origin| {
        Err(BenchError::Syntax {
            origin: origin.clone(),
            message: format!(
                "`include {file}`: included files are read only from job files on disk"
            ),
        })
    })
}

/// Parses the text of a job file, reading `include`d files with `include`.
pub fn parse_job_file_with(
    text: &str,
    path: &Path,
    include: &mut IncludeResolver<'_>,
) -> Result<Vec<RawSection>, BenchError> {
    let mut sections: Vec<RawSection> = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let origin = Origin::File {
            path: path.to_path_buf(),
            line: index + 1,
        };
        let line = strip_comment(raw_line);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(BenchError::Syntax {
                    origin,
                    message: format!("section header `{line}` has no closing `]`"),
                });
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(BenchError::Syntax {
                    origin,
                    message: "empty section name `[]`".to_string(),
                });
            }
            sections.push(RawSection {
                name: name.to_string(),
                origin,
                options: Vec::new(),
            });
            continue;
        }
        if let Some(file) = include_target(line) {
            let Some(section) = sections.last_mut() else {
                return Err(BenchError::Syntax {
                    origin,
                    message: format!(
                        "`include {file}` comes before any [section]; put it under [global] or a job"
                    ),
                });
            };
            section.options.extend(include(file, &origin)?);
            continue;
        }
        let option = parse_option(line, origin.clone())?;
        match sections.last_mut() {
            Some(section) => section.options.push(option),
            None => {
                return Err(BenchError::Syntax {
                    origin,
                    message: format!(
                        "option `{}` comes before any [section]; put it under [global] or a job",
                        option.key
                    ),
                });
            }
        }
    }
    Ok(sections)
}

/// A job-file line without its comment and surrounding blanks (fio's
/// `strip_blank_front` + `strip_blank_end`): cut at the first `;`, then at the first
/// `#`.
pub fn strip_comment(line: &str) -> &str {
    let line = line.split(';').next().unwrap_or_default();
    let line = line.split('#').next().unwrap_or_default();
    line.trim()
}

/// The file of an `include FILE` line (comment already stripped), if it is one.
fn include_target(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("include")?;
    rest.starts_with([' ', '\t'])
        .then(|| rest.trim())
        .filter(|f| !f.is_empty() && !f.contains('='))
}

/// Parses the body of an included file: options only, one per line, comments as in a
/// job file; `include` lines go to `include` again. `path` names it in origins.
pub fn parse_included(
    text: &str,
    path: &Path,
    include: &mut IncludeResolver<'_>,
) -> Result<Vec<RawOption>, BenchError> {
    let mut options = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let origin = Origin::File {
            path: path.to_path_buf(),
            line: index + 1,
        };
        let line = strip_comment(raw_line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            return Err(BenchError::Syntax {
                origin,
                message: "an included file holds options only, no [sections] (fio's rule)"
                    .to_string(),
            });
        }
        if let Some(file) = include_target(line) {
            options.extend(include(file, &origin)?);
            continue;
        }
        options.push(parse_option(line, origin)?);
    }
    Ok(options)
}

/// Splits `key=value` / `key` into a [`RawOption`].
fn parse_option(text: &str, origin: Origin) -> Result<RawOption, BenchError> {
    let (key, value) = match text.split_once('=') {
        Some((key, value)) => (key.trim(), Some(value.trim().to_string())),
        None => (text.trim(), None),
    };
    if key.is_empty() {
        return Err(BenchError::Syntax {
            origin,
            message: format!("`{text}` has no option name before `=`"),
        });
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(BenchError::Syntax {
            origin,
            message: format!("`{key}` is not an option name"),
        });
    }
    Ok(RawOption {
        key: key.to_string(),
        value,
        origin,
    })
}

/// Job options given on the command line, fio style (`--name=x --rw=randread ...`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandLineJobs {
    /// Options before the first `--name`: they apply to every job, including the jobs of
    /// job files, and override what those files say.
    pub global: Vec<RawOption>,
    /// One section per `--name=`.
    pub sections: Vec<RawSection>,
}

/// Parses fio-style job arguments; each item must start with `--`.
pub fn parse_job_args<S: AsRef<str>>(args: &[S]) -> Result<CommandLineJobs, BenchError> {
    let mut jobs = CommandLineJobs::default();
    for arg in args {
        let arg = arg.as_ref();
        let origin = Origin::CommandLine {
            arg: arg.to_string(),
        };
        let Some(body) = arg.strip_prefix("--") else {
            return Err(BenchError::Syntax {
                origin,
                message: "job options on the command line are written `--key=value`".to_string(),
            });
        };
        let option = parse_option(body, origin.clone())?;
        if option.key == "name" {
            let Some(name) = option.value.filter(|v| !v.is_empty()) else {
                return Err(BenchError::BadValue {
                    option: "name".to_string(),
                    value: String::new(),
                    origin,
                    reason: "a job needs a name: --name=NAME".to_string(),
                });
            };
            jobs.sections.push(RawSection {
                name,
                origin,
                options: Vec::new(),
            });
            continue;
        }
        match jobs.sections.last_mut() {
            Some(section) => section.options.push(option),
            None => jobs.global.push(option),
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_options_flags_and_comments() {
        let text = "; comment\n# another\n\n[global]\nbs = 4k\ndirect=1\n\n[job1]\nrw=randread\ntime_based\n";
        let sections = parse_job_file(text, Path::new("t.fio")).unwrap();
        assert_eq!(sections.len(), 2);
        assert!(sections[0].is_global());
        assert_eq!(sections[0].options[0].key, "bs");
        assert_eq!(sections[0].options[0].value.as_deref(), Some("4k"));
        assert_eq!(
            sections[1].options[1],
            RawOption {
                key: "time_based".into(),
                value: None,
                origin: Origin::File {
                    path: "t.fio".into(),
                    line: 10
                }
            }
        );
    }

    #[test]
    fn option_before_section_names_the_line() {
        let err = parse_job_file("\nbs=4k\n", Path::new("x.fio")).unwrap_err();
        assert!(err.to_string().starts_with("x.fio:2:"), "{err}");
    }

    #[test]
    fn unclosed_header_is_refused() {
        let err = parse_job_file("[job\n", Path::new("x.fio")).unwrap_err();
        assert!(err.to_string().contains("closing"), "{err}");
    }

    #[test]
    fn command_line_jobs_split_on_name() {
        let args = ["--direct=1", "--name=a", "--rw=read", "--name=b", "--bs=8k"];
        let jobs = parse_job_args(&args).unwrap();
        assert_eq!(jobs.global.len(), 1);
        assert_eq!(jobs.sections.len(), 2);
        assert_eq!(jobs.sections[1].name, "b");
        assert_eq!(jobs.sections[1].options[0].key, "bs");
    }

    #[test]
    fn command_line_needs_dashes_and_a_name_value() {
        assert!(parse_job_args(&["rw=read"]).is_err());
        assert!(parse_job_args(&["--name"]).is_err());
    }
}
