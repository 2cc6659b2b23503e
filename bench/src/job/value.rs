//! Option values from text, with errors that name the option, the value, the allowed
//! range and where it was written.
//!
//! Value syntax, as fio's HOWTO defines it:
//! - sizes take fio's integer suffixes in fio's default `kb_base=1024` compatibility
//!   mode: `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb`, `p`/`pb` are powers of 1024, and — as
//!   in fio — the IEC spellings `kib`, `mib`, … are powers of 1000. Case does not
//!   matter; `0x` hexadecimal is accepted.
//! - times take `us`/`usec`, `ms`/`msec`, `s`, `m`, `h`, `d`; a bare number is seconds.
//! - booleans take `0`/`1` (also `true`/`false`), or a bare flag for `1`.
//! - per-direction values (`bs=4k,8k`, `rate=1m,500k`) list read, write, trim; one
//!   value applies to all three, an empty entry leaves that direction as it was, and a
//!   missing trailing entry repeats the last one given (fio's rule).

use std::time::Duration;

use crate::error::BenchError;
use boreal_engine::journal::DurabilityMode;

use crate::engine::journal::durability_name;
use crate::job::kinds::{BlockSize, ClockSource, Distribution, FileService};
use crate::job::options::VERIFY_PATTERN_MAX;
use crate::job::parse::RawOption;

/// An option's value with its context, for parsing with good errors.
#[derive(Debug)]
pub struct Value<'a> {
    /// The option as written.
    pub option: &'a RawOption,
}

impl Value<'_> {
    /// An error about this value.
    pub fn bad<T>(&self, reason: impl Into<String>) -> Result<T, BenchError> {
        Err(BenchError::BadValue {
            option: self.option.key.clone(),
            value: self.option.value.clone().unwrap_or_default(),
            origin: self.option.origin.clone(),
            reason: reason.into(),
        })
    }

    /// The value text; a bare flag is an error for options that need a value.
    pub fn text(&self) -> Result<&str, BenchError> {
        match self.option.value.as_deref() {
            Some(text) if !text.is_empty() => Ok(text),
            _ => self.bad("this option needs a value: key=value"),
        }
    }

    /// A boolean (`0`/`1`/`true`/`false`, a bare flag is `1`).
    pub fn boolean(&self) -> Result<bool, BenchError> {
        match self.option.value.as_deref() {
            None => Ok(true),
            Some("1") | Some("true") => Ok(true),
            Some("0") | Some("false") => Ok(false),
            Some(_) => self.bad("allowed values are 0 or 1 (or the bare option name for 1)"),
        }
    }

    /// A whole number in `min..=max` (decimal or `0x` hexadecimal).
    pub fn int_in(&self, min: u64, max: u64) -> Result<u64, BenchError> {
        let text = self.text()?;
        match parse_int(text) {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(_) => self.bad(format!("allowed range is {min}..={max}")),
            None => self.bad(format!("expected a whole number in {min}..={max}")),
        }
    }

    /// A decimal number in `min..=max`.
    pub fn float_in(&self, text: &str, min: f64, max: f64) -> Result<f64, BenchError> {
        match text.trim().parse::<f64>() {
            Ok(x) if x >= min && x <= max => Ok(x),
            _ => self.bad(format!("`{text}` is not a number in {min}..={max}")),
        }
    }

    /// One size in `min..=max` bytes.
    pub fn size_in(&self, min: u64, max: u64) -> Result<u64, BenchError> {
        let text = self.text()?;
        if text.contains(',') {
            return self.bad("this option takes one size, not one per direction");
        }
        self.one_size(text, min, max)
    }

    fn one_size(&self, text: &str, min: u64, max: u64) -> Result<u64, BenchError> {
        if text.ends_with('%') {
            return self.bad("percentages are not supported; give a size in bytes, e.g. 4k or 1g");
        }
        match parse_size(text) {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(_) => self.bad(format!("allowed range is {min}..={max} bytes")),
            None => self.bad(format!(
                "`{text}` is not a size such as 4096, 4k, 128k, 1m, 10g"
            )),
        }
    }

    /// A size or a range `lo-hi` of sizes, each in `min..=max` bytes.
    pub fn size_range(&self, text: &str, min: u64, max: u64) -> Result<(u64, u64), BenchError> {
        let (lo, hi) = match text.split_once('-').or_else(|| text.split_once(':')) {
            Some((lo, hi)) => (
                self.one_size(lo.trim(), min, max)?,
                self.one_size(hi.trim(), min, max)?,
            ),
            None => {
                let n = self.one_size(text.trim(), min, max)?;
                (n, n)
            }
        };
        if lo > hi {
            return self.bad(format!("the range {lo}-{hi} runs backwards"));
        }
        Ok((lo, hi))
    }

    /// The value split into read, write and trim parts (see the module docs); `None`
    /// for a direction the value leaves as it was.
    pub fn per_direction(&self) -> Result<[Option<&str>; 3], BenchError> {
        let text = self.text()?;
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() > 3 {
            return self.bad("at most three values: read,write,trim");
        }
        let mut out = [None; 3];
        for (d, slot) in out.iter_mut().enumerate() {
            let part = parts.get(d).or(parts.last()).copied().unwrap_or("");
            if !part.is_empty() {
                *slot = Some(part);
            }
        }
        Ok(out)
    }

    /// Per-direction block sizes (`bs=4k,8k`) in `1..=max` bytes.
    pub fn block_sizes(&self, max: u64) -> Result<[Option<BlockSize>; 3], BenchError> {
        let parts = self.per_direction()?;
        let mut out: [Option<BlockSize>; 3] = [None, None, None];
        for (d, part) in parts.iter().enumerate() {
            if let Some(text) = part {
                out[d] = Some(BlockSize::Fixed(self.one_size(text, 1, max)?));
            }
        }
        Ok(out)
    }

    /// Per-direction `bsrange` (`1k-4k,2k-8k`).
    pub fn block_ranges(&self, max: u64) -> Result<[Option<BlockSize>; 3], BenchError> {
        let parts = self.per_direction()?;
        let mut out: [Option<BlockSize>; 3] = [None, None, None];
        for (d, part) in parts.iter().enumerate() {
            if let Some(text) = part {
                let (min, hi) = self.size_range(text, 1, max)?;
                out[d] = Some(if min == hi {
                    BlockSize::Fixed(min)
                } else {
                    BlockSize::Range { min, max: hi }
                });
            }
        }
        Ok(out)
    }

    /// Per-direction `bssplit` (`4k/10:64k/50:32k/40,...`). Entries without a weight
    /// share what the weighted ones leave of 100, as fio does.
    pub fn block_splits(&self, max: u64) -> Result<[Option<BlockSize>; 3], BenchError> {
        let parts = self.per_direction()?;
        let mut out: [Option<BlockSize>; 3] = [None, None, None];
        for (d, part) in parts.iter().enumerate() {
            let Some(text) = part else { continue };
            let mut entries: Vec<(u64, Option<u32>)> = Vec::new();
            for entry in text.split(':').filter(|e| !e.trim().is_empty()) {
                let (size, weight) = match entry.split_once('/') {
                    Some((s, w)) => (s, Some(w)),
                    None => (entry, None),
                };
                let size = self.one_size(size.trim(), 1, max)?;
                let weight = match weight {
                    Some(w) => match w.trim().parse::<u32>() {
                        Ok(w) if w <= 100 => Some(w),
                        _ => return self.bad(format!("`{w}` is not a percentage 0..=100")),
                    },
                    None => None,
                };
                entries.push((size, weight));
            }
            if entries.is_empty() || entries.len() > 64 {
                return self.bad("write one to 64 entries as SIZE/PERCENT:SIZE/PERCENT");
            }
            let given: u32 = entries.iter().filter_map(|e| e.1).sum();
            if given > 100 {
                return self.bad(format!("the percentages add up to {given}, above 100"));
            }
            let open = entries.iter().filter(|e| e.1.is_none()).count() as u32;
            if open == 0 && given != 100 {
                return self.bad(format!("the percentages add up to {given}, not 100"));
            }
            let share = (100 - given).checked_div(open).unwrap_or(0);
            let mut split: Vec<(u64, u32)> = entries
                .iter()
                .map(|e| (e.0, e.1.unwrap_or(share)))
                .collect();
            // Rounding leftovers go to the last entry, so the weights make 100.
            let sum: u32 = split.iter().map(|e| e.1).sum();
            if let Some(last) = split.last_mut() {
                last.1 += 100 - sum;
            }
            out[d] = Some(BlockSize::Split(split));
        }
        Ok(out)
    }

    /// A time (see the module docs).
    pub fn time(&self) -> Result<Duration, BenchError> {
        match parse_time(self.text()?) {
            Some(d) => Ok(d),
            None => self.bad("expected a time such as 30, 30s, 500ms, 100us, 5m, 1h, 1d"),
        }
    }

    /// A time or a range `lo-hi` of times.
    pub fn time_range(&self) -> Result<(Duration, Duration), BenchError> {
        let text = self.text()?;
        let parse = |t: &str| parse_time(t.trim());
        let (lo, hi) = match text.split_once('-') {
            Some((lo, hi)) => (parse(lo), parse(hi)),
            None => (parse(text), parse(text)),
        };
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
            _ => self.bad("expected a time or a range of times such as 2s or 1s-5s"),
        }
    }

    /// `percentile_list`: up to `max_len` percentiles in (0, 100], `:`-separated.
    pub fn percentiles(&self, max_len: usize) -> Result<Vec<f64>, BenchError> {
        let text = self.text()?;
        let mut list = Vec::new();
        for part in text.split(':') {
            match part.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => list.push(p),
                Ok(_) => return self.bad(format!("percentile `{part}` is outside (0, 100]")),
                Err(_) => {
                    return self.bad(format!(
                        "`{part}` is not a number; write percentiles as 50:99:99.9"
                    ));
                }
            }
        }
        if list.len() > max_len {
            return self.bad(format!(
                "at most {max_len} percentiles are allowed, got {}",
                list.len()
            ));
        }
        Ok(list)
    }

    /// A CPU list: `0,2,4-7`.
    pub fn cpu_list(&self) -> Result<Vec<usize>, BenchError> {
        let text = self.text()?;
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let range = match part.split_once('-') {
                Some((lo, hi)) => lo.parse::<usize>().ok().zip(hi.parse::<usize>().ok()),
                None => part.parse::<usize>().ok().map(|cpu| (cpu, cpu)),
            };
            match range {
                Some((lo, hi)) if lo <= hi && hi < 1024 => cpus.extend(lo..=hi),
                _ => {
                    return self.bad(format!(
                        "`{part}` is not a CPU or range; write CPUs as 0,2,4-7 (CPUs 0..=1023)"
                    ));
                }
            }
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(cpus)
    }
}

// Parsers of one option's value into its type (see `super::kinds`).

pub(crate) fn file_service(value: &Value<'_>) -> Result<FileService, BenchError> {
    let text = value.text()?;
    let (kind, n) = match text.split_once(':') {
        Some((k, n)) => match n.trim().parse::<u32>() {
            Ok(n) if n > 0 => (k, n),
            _ => return value.bad(format!("`{n}` is not a count of I/Os (1 or more)")),
        },
        None => (text, 1),
    };
    match kind {
        "roundrobin" => Ok(FileService::RoundRobin(n)),
        "sequential" => Ok(FileService::Sequential(n)),
        "random" => Ok(FileService::Random(n)),
        "zipf" | "pareto" | "normal" | "gauss" => value.bad(
            "skewed file selection is not implemented; allowed values are roundrobin, sequential and random (each with an optional :N)",
        ),
        _ => value.bad("allowed values are roundrobin, sequential and random (each with an optional :N)"),
    }
}

pub(crate) fn distribution(value: &Value<'_>) -> Result<Distribution, BenchError> {
    let text = value.text()?;
    if text.contains(',') {
        return value.bad(
            "one distribution for every direction; per-direction distributions are not implemented",
        );
    }
    let mut parts = text.split(':');
    let kind = parts.next().unwrap_or_default();
    let first = parts.next();
    let center = match parts.next() {
        Some(c) => Some(value.float_in(c, 0.0, 1.0)?),
        None => None,
    };
    if parts.next().is_some() {
        return value.bad("write KIND:VALUE[:CENTER], e.g. zipf:1.2 or normal:10:0.5");
    }
    let need = |what: &str| {
        value.bad::<f64>(format!(
            "{kind} needs {what}, e.g. {kind}:{}",
            match kind {
                "zipf" => "1.2",
                "pareto" => "0.9",
                _ => "10",
            }
        ))
    };
    match kind {
        "random" if first.is_none() => Ok(Distribution::Uniform),
        "zipf" => {
            let theta = match first {
                Some(t) => value.float_in(t, 0.0, 1e6)?,
                None => need("a theta")?,
            };
            if theta == 1.0 || theta <= 0.0 {
                return value.bad("zipf theta must be above 0 and not 1 (fio's zipf needs theta != 1)");
            }
            Ok(Distribution::Zipf { theta, center })
        }
        "pareto" => {
            let h = match first {
                Some(h) => value.float_in(h, 0.0, 1.0)?,
                None => need("a power between 0 and 1")?,
            };
            if h <= 0.0 || h >= 1.0 {
                return value.bad("pareto power must be between 0 and 1, exclusive");
            }
            Ok(Distribution::Pareto { h, center })
        }
        "normal" | "gauss" => {
            let dev_percent = match first {
                Some(d) => value.float_in(d, 0.0, 100.0)?,
                None => need("a deviation in percent")?,
            };
            Ok(Distribution::Normal { dev_percent, center })
        }
        "zoned" | "zoned_abs" | "sequence" => value.bad(format!(
            "the {kind} distribution is not implemented; allowed are random, zipf, pareto and normal"
        )),
        _ => value.bad("allowed values are random, zipf:THETA, pareto:H, normal:DEV (each with an optional :CENTER)"),
    }
}

pub(crate) fn clocksource(value: &Value<'_>) -> Result<ClockSource, BenchError> {
    match value.text()? {
        "cpu" => Ok(ClockSource::Cpu),
        "clock_gettime" => Ok(ClockSource::ClockGettime),
        "gettimeofday" => value
            .bad("gettimeofday has microseconds only; allowed values are cpu and clock_gettime"),
        _ => value.bad("allowed values are cpu and clock_gettime"),
    }
}

pub(crate) fn durability(value: &Value<'_>) -> Result<DurabilityMode, BenchError> {
    let modes = [
        DurabilityMode::DsyncWrite,
        DurabilityMode::WriteThenFdatasync,
        DurabilityMode::Linked,
    ];
    let text = value.text()?;
    match modes.into_iter().find(|m| durability_name(*m) == text) {
        Some(mode) => Ok(mode),
        None => value.bad("allowed values are dsync, fdatasync, linked"),
    }
}

/// A log prefix: a file name stem; fio's `write_*_log` with no value uses the job name,
/// which needs the job, so a value is required here.
pub(crate) fn log_prefix(value: &Value<'_>) -> Result<String, BenchError> {
    let text = value.text()?;
    if text.contains('\0') {
        return value.bad("a log prefix is a file name");
    }
    Ok(text.to_string())
}

/// `verify_pattern`: `0x` hexadecimal bytes, a decimal number (its little-endian bytes,
/// as fio), or a quoted string.
pub(crate) fn verify_pattern(value: &Value<'_>) -> Result<Vec<u8>, BenchError> {
    let text = value.text()?;
    let bytes = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        if hex.is_empty() || !hex.len().is_multiple_of(2) {
            return value.bad("a 0x pattern needs whole bytes: an even number of hex digits");
        }
        let mut out = Vec::new();
        for i in (0..hex.len()).step_by(2) {
            match u8::from_str_radix(&hex[i..i + 2], 16) {
                Ok(b) => out.push(b),
                Err(_) => return value.bad(format!("`{}` is not a hex byte", &hex[i..i + 2])),
            }
        }
        out
    } else if let Some(quoted) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        quoted.as_bytes().to_vec()
    } else if let Ok(n) = text.parse::<u64>() {
        let bytes = n.to_le_bytes();
        let used = 8 - (n.leading_zeros() / 8) as usize;
        bytes[..used.max(1)].to_vec()
    } else {
        return value.bad("write the pattern as 0xHEX, a number, or \"text\"");
    };
    if bytes.is_empty() || bytes.len() > VERIFY_PATTERN_MAX {
        return value.bad(format!("a pattern is 1..={VERIFY_PATTERN_MAX} bytes"));
    }
    Ok(bytes)
}

/// A whole number, decimal or `0x` hexadecimal.
pub fn parse_int(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse::<u64>().ok(),
    }
}

/// Parses a size with fio's suffixes (see the module doc). `None` if malformed or overflowing.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, suffix, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
    {
        Some(hex) => (hex, "", 16),
        None => {
            let split = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            (&text[..split], &text[split..], 10)
        }
    };
    let number = u64::from_str_radix(digits, radix).ok()?;
    let lower = suffix.to_ascii_lowercase();
    let multiplier: u64 = match lower.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        "p" | "pb" => 1 << 50,
        // fio's kb_base=1024 compatibility mode reads IEC prefixes as powers of 10.
        "ki" | "kib" => 1_000,
        "mi" | "mib" => 1_000_000,
        "gi" | "gib" => 1_000_000_000,
        "ti" | "tib" => 1_000_000_000_000,
        "pi" | "pib" => 1_000_000_000_000_000,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// Parses a time with fio's suffixes; a bare number is seconds.
pub fn parse_time(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..split].parse().ok()?;
    let micros_per_unit: u64 = match text[split..].to_ascii_lowercase().as_str() {
        "" | "s" | "sec" => 1_000_000,
        "us" | "usec" => 1,
        "ms" | "msec" => 1_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    };
    Some(Duration::from_micros(number.checked_mul(micros_per_unit)?))
}

/// fio's spelling of a duration, as [`parse_time`] reads it back: whole seconds,
/// milliseconds or microseconds.
pub fn format_time(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1_000) {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Origin;

    fn option(key: &str, value: &str) -> RawOption {
        RawOption {
            key: key.to_string(),
            value: Some(value.to_string()),
            origin: Origin::Derived,
        }
    }

    #[test]
    fn sizes_follow_fio_kb_base_1024() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("4K"), Some(4096));
        assert_eq!(parse_size("4KB"), Some(4096));
        assert_eq!(parse_size("128k"), Some(131072));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("10g"), Some(10 << 30));
        assert_eq!(parse_size("2t"), Some(2 << 40));
        assert_eq!(parse_size("4KiB"), Some(4000));
        assert_eq!(parse_size("0x1000"), Some(4096));
        assert_eq!(parse_size("4x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999p"), None);
    }

    #[test]
    fn times_default_to_seconds() {
        assert_eq!(parse_time("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_time("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_time("100us"), Some(Duration::from_micros(100)));
        assert_eq!(parse_time("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_time("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_time("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_time("1.5s"), None);
        assert_eq!(parse_time("s"), None);
    }

    #[test]
    fn per_direction_values_follow_fio() {
        let o = option("bs", "4k,8k");
        let v = Value { option: &o };
        assert_eq!(
            v.per_direction().unwrap(),
            [Some("4k"), Some("8k"), Some("8k")]
        );
        let o = option("rate", ",1m");
        let v = Value { option: &o };
        assert_eq!(v.per_direction().unwrap(), [None, Some("1m"), Some("1m")]);
        let o = option("rate", "2m");
        let v = Value { option: &o };
        assert_eq!(v.per_direction().unwrap(), [Some("2m"); 3]);
    }

    #[test]
    fn bssplit_weights_fill_up_to_100() {
        let o = option("bssplit", "4k/10:64k/50:32k/40");
        let v = Value { option: &o };
        let [r, ..] = v.block_splits(1 << 27).unwrap();
        assert_eq!(
            r,
            Some(BlockSize::Split(vec![(4096, 10), (65536, 50), (32768, 40)]))
        );
        let o = option("bssplit", "4k/50:8k:16k");
        let v = Value { option: &o };
        let [r, ..] = v.block_splits(1 << 27).unwrap();
        assert_eq!(
            r,
            Some(BlockSize::Split(vec![(4096, 50), (8192, 25), (16384, 25)]))
        );
        let o = option("bssplit", "4k/50:8k/20");
        assert!(Value { option: &o }.block_splits(1 << 27).is_err());
    }
}
