//! HdrHistogram interval logs (`--hdr-log FILE`).
//!
//! The standard text format that HdrHistogram's tools (HistogramLogProcessor,
//! HdrHistogramVisualizer, the Rust crate's `IntervalLogIterator`) read: a header with
//! StartTime and BaseTime, then one line per interval and tag with the interval's start
//! (seconds from BaseTime), its length, its max and the histogram, deflate-compressed
//! and base64-encoded. Values are nanoseconds. Tags are `<job>/read.lat`,
//! `<job>/write.lat`, `<job>/trim.lat` and `<job>/sync.lat`: for each report entry (a
//! job thread, or the merged group) the histograms of every merged thread for that
//! interval are added first. An interval's start is from the job's start of
//! measurement, as the JSON's `boreal.intervals[].t_ms` is (the ramp is left out of
//! both), so a report lines the two up. The log is written after the run, from histograms the job threads encoded
//! per interval, so writing it costs the measured loop nothing.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use crate::error::BenchError;
use crate::output::ReportEntry;
use crate::run::RunResult;
use crate::stats::{INTERVAL_TAGS, new_histogram};

/// A tag safe for the log format (no spaces, commas or line breaks).
fn tag_for(job: &str, kind: &str) -> String {
    let job: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != ',' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{job}/{kind}")
}

/// Writes the interval log of `entries` to `out`.
pub fn write_log<W: Write>(
    out: &mut W,
    result: &RunResult,
    entries: &[ReportEntry],
) -> std::io::Result<()> {
    let started = result
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let start_time = UNIX_EPOCH + started;
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "{} interval log; values in nanoseconds",
            crate::VERSION
        ))
        .with_start_time(start_time)
        .with_base_time(start_time)
        .begin_log_with(out, &mut serializer)?;
    let mut deserializer = Deserializer::new();
    for entry in entries {
        for sample in &entry.stats.intervals {
            for (t, kind) in INTERVAL_TAGS.iter().enumerate() {
                if sample.encoded[t].is_empty() {
                    continue;
                }
                let mut merged = new_histogram();
                for bytes in &sample.encoded[t] {
                    let h: hdrhistogram::Histogram<u64> = deserializer
                        .deserialize(&mut bytes.as_slice())
                        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                    merged
                        .add(&h)
                        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                }
                let tag = tag_for(&entry.name, kind);
                log.write_histogram(&merged, sample.start, sample.duration, Tag::new(&tag))
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
        }
    }
    Ok(())
}

/// Writes the interval log to a file.
pub fn write_log_file(
    path: &Path,
    result: &RunResult,
    entries: &[ReportEntry],
) -> Result<(), BenchError> {
    let err = |source| BenchError::Output {
        what: "HdrHistogram log",
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    write_log(&mut file, result, entries).map_err(err)?;
    file.flush().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_have_no_forbidden_characters() {
        let tag = tag_for("my job,1", "read.lat");
        assert_eq!(tag, "my_job_1/read.lat");
        assert!(Tag::new(&tag).is_some());
    }
}
