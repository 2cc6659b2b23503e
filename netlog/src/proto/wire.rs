//! Bounds-checked little-endian reading, and appending writes, of message bodies.
//!
//! This module owns the mechanics of walking a body field by field in the order of the
//! byte tables of `PROTOCOL.md`, so each message's decode and encode read like its
//! table. Unlike `boreal-segment`'s header codec, the reader sees untrusted lengths:
//! every read checks the bytes left first and returns a typed error naming the message
//! and field, never panics and never allocates (variable parts are borrowed slices).
//! The writer appends to a caller-owned `Vec<u8>`, which allocates only when the
//! caller's buffer has to grow.

use boreal_segment::{Epoch, Lsn, PageId, PgId};

use super::error::{ProtoError, Result};

/// Reads the fields of one message body in order.
#[derive(Debug)]
pub(crate) struct Body<'a> {
    message: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Body<'a> {
    pub(crate) fn new(message: &'static str, buf: &'a [u8]) -> Self {
        Body {
            message,
            buf,
            pos: 0,
        }
    }

    pub(crate) fn message(&self) -> &'static str {
        self.message
    }

    /// Offset of the next field from the start of the body.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `len` bytes, as `field`.
    pub(crate) fn bytes(&mut self, field: &'static str, len: usize) -> Result<&'a [u8]> {
        let got = self.remaining();
        if len > got {
            return Err(ProtoError::Truncated {
                message: self.message,
                field,
                offset: self.pos,
                needed: len,
                got,
            });
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(field, N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn pg(&mut self, field: &'static str) -> Result<PgId> {
        self.u32(field).map(PgId::new)
    }

    pub(crate) fn lsn(&mut self, field: &'static str) -> Result<Lsn> {
        self.u64(field).map(Lsn::new)
    }

    pub(crate) fn epoch(&mut self, field: &'static str) -> Result<Epoch> {
        self.u64(field).map(Epoch::new)
    }

    pub(crate) fn page(&mut self, field: &'static str) -> Result<PageId> {
        self.u64(field).map(PageId::new)
    }

    /// A byte that is 0 (false) or 1 (true).
    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            got => Err(ProtoError::UnknownCode {
                message: self.message,
                field,
                got: got.into(),
            }),
        }
    }

    /// `len` reserved bytes, which must be zero.
    pub(crate) fn reserved(&mut self, len: usize) -> Result<()> {
        let start = self.pos;
        let bytes = self.bytes("reserved", len)?;
        match bytes.iter().position(|&b| b != 0) {
            None => Ok(()),
            Some(i) => Err(ProtoError::NonZeroReserved {
                message: self.message,
                offset: start + i,
            }),
        }
    }

    /// A length or count read earlier, checked against `max` (and `min`).
    pub(crate) fn bounded(
        &self,
        field: &'static str,
        got: u64,
        min: usize,
        max: usize,
    ) -> Result<usize> {
        if got < min as u64 || got > max as u64 {
            return Err(ProtoError::OutOfBounds {
                message: self.message,
                field,
                got,
                min: min as u64,
                max: max as u64,
            });
        }
        // `got <= max`, a `usize`.
        Ok(got as usize)
    }

    /// The body has been read to its end.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(ProtoError::TrailingBytes {
                message: self.message,
                offset: self.pos,
                extra,
            }),
        }
    }
}

/// Appends fields to a body being encoded.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    /// `len` zero bytes (reserved).
    fn put_zeros(&mut self, len: usize);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }

    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }

    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }

    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }

    fn put_zeros(&mut self, len: usize) {
        self.resize(self.len() + len, 0);
    }
}

/// Checks a text field: at most `max` bytes, and (for labels) no control character.
/// The same rule for encode and decode.
pub(crate) fn check_text(
    message: &'static str,
    field: &'static str,
    text: &str,
    min: usize,
    max: usize,
    label: bool,
) -> Result<()> {
    if text.len() < min || text.len() > max {
        return Err(ProtoError::OutOfBounds {
            message,
            field,
            got: text.len() as u64,
            min: min as u64,
            max: max as u64,
        });
    }
    if label && text.chars().any(char::is_control) {
        return Err(ProtoError::BadText {
            message,
            field,
            rule: "a label may not hold control characters",
        });
    }
    Ok(())
}

/// Borrows `bytes` as UTF-8.
pub(crate) fn utf8<'a>(
    message: &'static str,
    field: &'static str,
    bytes: &'a [u8],
) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| ProtoError::BadText {
        message,
        field,
        rule: "not valid UTF-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_put_wrote_little_endian() {
        let mut out = Vec::new();
        out.put_u8(1);
        out.put_u16(0x0302);
        out.put_u32(0x0706_0504);
        out.put_u64(0x0f0e_0d0c_0b0a_0908);
        out.put_zeros(2);
        assert_eq!(
            &out[..15],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        );
        let mut b = Body::new("test", &out);
        assert_eq!(b.u8("a").unwrap(), 1);
        assert_eq!(b.u16("b").unwrap(), 0x0302);
        assert_eq!(b.u32("c").unwrap(), 0x0706_0504);
        assert_eq!(b.u64("d").unwrap(), 0x0f0e_0d0c_0b0a_0908);
        b.reserved(2).unwrap();
        b.finish().unwrap();
    }

    #[test]
    fn short_reads_name_the_field_and_offset() {
        let mut b = Body::new("Fence", &[0u8; 6]);
        b.u32("pg").unwrap();
        assert_eq!(
            b.u32("reserved").unwrap_err(),
            ProtoError::Truncated {
                message: "Fence",
                field: "reserved",
                offset: 4,
                needed: 4,
                got: 2
            }
        );
    }

    #[test]
    fn reserved_and_trailing_bytes_are_refused() {
        let mut b = Body::new("m", &[0, 0, 5, 0, 9]);
        assert_eq!(
            b.reserved(4).unwrap_err(),
            ProtoError::NonZeroReserved {
                message: "m",
                offset: 2
            }
        );
        let mut b = Body::new("m", &[0, 0, 9]);
        b.reserved(2).unwrap();
        assert_eq!(
            b.finish().unwrap_err(),
            ProtoError::TrailingBytes {
                message: "m",
                offset: 2,
                extra: 1
            }
        );
        assert!(Body::new("m", &[2]).bool("flag").is_err());
    }

    #[test]
    fn labels_refuse_control_characters_and_length() {
        assert!(check_text("m", "az", "eu-west-1a", 1, 64, true).is_ok());
        assert!(check_text("m", "az", "a\nb", 1, 64, true).is_err());
        assert!(check_text("m", "az", "", 1, 64, true).is_err());
        assert!(check_text("m", "text", "a\nb", 0, 64, false).is_ok());
        assert!(utf8("m", "az", &[0xff]).is_err());
    }
}
