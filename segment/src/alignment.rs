//! `Alignment`: the device block size a journal pads its batches to.
//!
//! This module owns the rule that an alignment is a power of two between
//! `ALIGNMENT_MIN` (512) and `ALIGNMENT_MAX` (4096), and the rounding arithmetic. A value
//! of this type is always valid, so the formats that take one never re-check it. It knows
//! nothing about devices: the engine probes the device and picks the value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::{ALIGNMENT_MAX, ALIGNMENT_MIN};

/// A power of two in `ALIGNMENT_MIN..=ALIGNMENT_MAX` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Alignment(u32);

impl Alignment {
    /// The alignment of the journal: one 4 KiB physical block.
    pub const JOURNAL: Alignment = Alignment(4096);

    /// Validates `bytes`.
    pub const fn new(bytes: u32) -> Result<Alignment> {
        if bytes.is_power_of_two() && bytes >= ALIGNMENT_MIN && bytes <= ALIGNMENT_MAX {
            Ok(Alignment(bytes))
        } else {
            Err(Error::InvalidField {
                what: "alignment",
                field: "bytes",
                got: bytes as u64,
                rule: "must be a power of two in 512..=4096",
            })
        }
    }

    /// The alignment in bytes.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The alignment in bytes, as a `usize`.
    pub const fn bytes(self) -> usize {
        self.0 as usize
    }

    /// `log2` of the alignment (9..=12), as stored in batch headers.
    pub const fn log2(self) -> u8 {
        self.0.trailing_zeros() as u8
    }

    /// The alignment whose `log2` is `log2`.
    pub const fn from_log2(log2: u8) -> Result<Alignment> {
        if log2 >= 32 {
            return Err(Error::InvalidField {
                what: "alignment",
                field: "log2",
                got: log2 as u64,
                rule: "must be in 9..=12",
            });
        }
        Alignment::new(1u32 << log2)
    }

    /// `len` rounded up to a multiple of the alignment.
    pub const fn align_up(self, len: usize) -> usize {
        len.div_ceil(self.0 as usize) * self.0 as usize
    }

    /// Whether `value` is a multiple of the alignment.
    pub const fn is_aligned(self, value: u64) -> bool {
        value.is_multiple_of(self.0 as u64)
    }
}

impl TryFrom<u32> for Alignment {
    type Error = Error;

    fn try_from(bytes: u32) -> Result<Alignment> {
        Alignment::new(bytes)
    }
}

impl From<Alignment> for u32 {
    fn from(a: Alignment) -> u32 {
        a.0
    }
}

impl fmt::Display for Alignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_powers_of_two_in_range_are_alignments() {
        for bytes in [512, 1024, 2048, 4096] {
            let a = Alignment::new(bytes).unwrap();
            assert_eq!(Alignment::from_log2(a.log2()).unwrap(), a);
        }
        for bytes in [0, 1, 256, 513, 3000, 8192, u32::MAX] {
            assert!(Alignment::new(bytes).is_err(), "{bytes}");
        }
        for log2 in [0, 8, 13, 31, 32, 255] {
            assert!(Alignment::from_log2(log2).is_err(), "{log2}");
        }
    }

    #[test]
    fn align_up_rounds_to_the_next_multiple() {
        let a = Alignment::new(512).unwrap();
        assert_eq!(a.align_up(0), 0);
        assert_eq!(a.align_up(1), 512);
        assert_eq!(a.align_up(512), 512);
        assert_eq!(a.align_up(513), 1024);
        assert!(a.is_aligned(4096) && !a.is_aligned(100));
    }
}
