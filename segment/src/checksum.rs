//! The one checksum of every boreal format: CRC-32C (Castagnoli).
//!
//! This module owns the choice of checksum and the comparison that turns a mismatch into
//! a typed error. It never decides what a checksum covers; each format says that in its
//! own module and in `FORMAT.md`. CRC-32C runs on the SSE4.2 / ARMv8 CRC instructions
//! (many GB/s per core), detects every single-bit error, every odd number of bit errors
//! and every burst up to 32 bits, which is what torn sectors and bit rot look like. It is
//! not a defence against an adversary; authentication is TLS's job (DESIGN §4).

use crate::error::{Error, Result};

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// CRC-32C of the concatenation of what `crc` covered and `data`.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// Whether every byte of `data` is zero (a pre-zeroed, never-written region).
pub fn is_all_zero(data: &[u8]) -> bool {
    data.iter().all(|&b| b == 0)
}

/// Compares a stored checksum with the one computed over `data`.
#[inline]
pub(crate) fn verify(what: &'static str, stored: u32, data: &[u8]) -> Result<()> {
    let computed = crc32c(data);
    if stored == computed {
        Ok(())
    } else {
        Err(Error::Checksum {
            what,
            stored,
            computed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_published_check_value() {
        // The standard check value of CRC-32C over the ASCII digits "123456789".
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn append_equals_one_shot() {
        let whole = crc32c(b"hello world");
        assert_eq!(crc32c_append(crc32c(b"hello "), b"world"), whole);
    }

    #[test]
    fn zeros_do_not_checksum_to_zero() {
        // A zeroed header must never look like one whose checksum is valid.
        for len in [4usize, 28, 52, 68, 4092] {
            assert_ne!(crc32c(&vec![0u8; len]), 0, "len {len}");
        }
    }
}
