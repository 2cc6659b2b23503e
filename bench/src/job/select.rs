//! fio's `--section=NAME`: only the named job sections run.
//!
//! fio (`skip_this_section` in init.c) skips every job section whose name is not one
//! of the `--section` names, in job files and among the `--name` jobs of the command
//! line alike, and never skips a `[global]` section, so the defaults a kept job
//! inherits are the ones it would have had without the flag. Kept sections stay in
//! their order; two sections of the same name are both kept. One difference, a
//! refusal rather than a silent run: a name that matches no job section is an error
//! naming the sections there are (fio refuses only when no job is left at all, so a
//! misspelled second `--section` would silently run less than asked).
//!
//! Works on parsed sections only: reads no file, validates no option.

use crate::error::BenchError;
use crate::job::parse::RawSection;

/// `sections` without the job sections `names` does not name (every section when
/// `names` is empty); refuses a name no job section has.
pub fn select_sections(
    sections: Vec<RawSection>,
    names: &[String],
) -> Result<Vec<RawSection>, BenchError> {
    if names.is_empty() {
        return Ok(sections);
    }
    let jobs: Vec<&str> = sections
        .iter()
        .filter(|s| !s.is_global())
        .map(|s| s.name.as_str())
        .collect();
    if let Some(missing) = names.iter().find(|n| !jobs.contains(&n.as_str())) {
        let mut available: Vec<String> = Vec::new();
        for name in jobs {
            if !available.iter().any(|a| a == name) {
                available.push(name.to_string());
            }
        }
        return Err(BenchError::UnknownSection {
            name: missing.clone(),
            available,
        });
    }
    Ok(sections
        .into_iter()
        .filter(|s| s.is_global() || names.contains(&s.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::job::parse::parse_job_file;

    fn sections() -> Vec<RawSection> {
        parse_job_file(
            "[global]\nbs=8k\n[a]\n[global]\nbs=16k\n[b]\n[c]\n[b]\nrw=write\n",
            Path::new("t.fio"),
        )
        .unwrap()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn kept(picked: &[&str]) -> Vec<String> {
        select_sections(sections(), &names(picked))
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    #[test]
    fn named_sections_and_every_global_are_kept_in_order() {
        assert_eq!(kept(&[]), ["global", "a", "global", "b", "c", "b"]);
        assert_eq!(kept(&["b"]), ["global", "global", "b", "b"]);
        assert_eq!(kept(&["c", "a"]), ["global", "a", "global", "c"]);
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_job_sections() {
        let err = select_sections(sections(), &names(&["a", "d"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--section=d: no job section is named `d`; the jobs are: a, b, c ([global] always applies)"
        );
        let err = select_sections(Vec::new(), &names(&["a"])).unwrap_err();
        assert!(
            err.to_string().contains("there are no job sections"),
            "{err}"
        );
    }
}
