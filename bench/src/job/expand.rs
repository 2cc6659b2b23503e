//! `${VAR}` environment variables and fio's `$pagesize`, `$mb_memory`, `$ncpus`
//! keywords in option values.
//!
//! fio (`fio_option_dup_subs`, `fio_keyword_replace` in options.c) replaces every
//! `${NAME}` with the environment variable's value and the three keywords with the
//! machine's figures, in job files and on the command line alike. Two differences, both
//! refusals rather than guesses: an unset variable is an error naming it (fio would
//! put an empty string there, turning `filename=${DIR}/x` into `/x`), and arithmetic
//! after a keyword (`numjobs=$ncpus/2`, which fio hands to `bc`) is refused. Reads the
//! environment and `/proc`, nothing else.

use crate::error::BenchError;
use crate::job::parse::RawOption;

/// The value of `$keyword`, if `name` is one of fio's keywords.
fn keyword(name: &str) -> Option<String> {
    match name {
        "pagesize" => Some("4096".to_string()),
        "ncpus" => Some(
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .to_string(),
        ),
        "mb_memory" => {
            let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
            let kib: u64 = meminfo
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((kib / 1024).to_string())
        }
        _ => None,
    }
}

/// `option` with `${VAR}` and `$keyword`s in its value replaced; `lookup` gives an
/// environment variable's value.
pub fn expand_with(
    option: &RawOption,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<RawOption, BenchError> {
    let Some(value) = option.value.as_deref().filter(|v| v.contains('$')) else {
        return Ok(option.clone());
    };
    let bad = |reason: String| BenchError::BadValue {
        option: option.key.clone(),
        value: value.to_string(),
        origin: option.origin.clone(),
        reason,
    };
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut replaced_keyword = false;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(bad("`${` without a closing `}`".to_string()));
            };
            let name = &body[..end];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(bad(format!(
                        "environment variable {name} is not set (fio would put an empty string in its place; set it, e.g. {name}=... boreal-bench ...)"
                    )));
                }
            }
            rest = &body[end + 1..];
            continue;
        }
        let len = after
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(after.len());
        match keyword(&after[..len]) {
            Some(v) => {
                out.push_str(&v);
                replaced_keyword = true;
                rest = &after[len..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if replaced_keyword && out.contains(['+', '*', '/']) {
        return Err(bad(
            "arithmetic in a value ($ncpus/2) is not supported: fio hands it to bc; write the number"
                .to_string(),
        ));
    }
    Ok(RawOption {
        key: option.key.clone(),
        value: Some(out),
        origin: option.origin.clone(),
    })
}

/// [`expand_with`] over the process environment.
pub fn expand(option: &RawOption) -> Result<RawOption, BenchError> {
    expand_with(option, |name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Origin;

    fn option(value: &str) -> RawOption {
        RawOption {
            key: "filename".to_string(),
            value: Some(value.to_string()),
            origin: Origin::Derived,
        }
    }

    fn env(name: &str) -> Option<String> {
        (name == "DIR").then(|| "/data".to_string())
    }

    #[test]
    fn variables_and_keywords_are_replaced() {
        let got = expand_with(&option("${DIR}/f.${DIR}"), env).unwrap();
        assert_eq!(got.value.as_deref(), Some("/data/f./data"));
        let got = expand_with(&option("$pagesize"), env).unwrap();
        assert_eq!(got.value.as_deref(), Some("4096"));
        let got = expand_with(&option("a$b"), env).unwrap();
        assert_eq!(got.value.as_deref(), Some("a$b"), "not a keyword: kept");
    }

    #[test]
    fn unset_variables_and_arithmetic_are_refused() {
        let err = expand_with(&option("${NOPE}/x"), env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("NOPE is not set"), "{err}");
        let err = expand_with(&option("$ncpus/2"), env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("arithmetic"), "{err}");
        assert!(expand_with(&option("${DIR"), env).is_err());
    }
}
