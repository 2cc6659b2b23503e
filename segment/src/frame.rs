//! The network frame: a 32-byte checksummed header in front of every message body.
//!
//! This module owns the generic frame header (see `FORMAT.md`): magic, version, message
//! tag, flags, a request id that pairs a response with its request, the body length and
//! two checksums (header, body). A reader decodes the fixed header first and learns the
//! body length, already checked against `FRAME_BODY_BYTES_MAX`, before it allocates or
//! reads anything else (DESIGN §4). It never interprets bodies or tags: the message
//! registry belongs to `netlog`; tag 0 is never valid, so zeros are never a frame.

use crate::checksum::{self, crc32c};
use crate::codec::{Reader, Writer, peek_u32, prefix};
use crate::error::{Error, Result};
use crate::limits::{FRAME_BODY_BYTES_MAX, FRAME_HEADER_SIZE};

/// Magic of a frame: ASCII `BRLF` as sent.
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"BRLF");
/// Version of the frame format.
pub const FRAME_VERSION: u16 = 1;
/// Flag bits defined by this version (none yet: every flag must be zero).
pub const FRAME_FLAGS_KNOWN: u16 = 0;

/// The header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Message tag (registered by `netlog`); never 0.
    pub tag: u16,
    pub flags: u16,
    /// Pairs a response with its request; 0 for messages that expect no response.
    pub request_id: u64,
    /// Bytes of body after the header; at most `FRAME_BODY_BYTES_MAX`.
    pub body_len: u32,
    /// CRC-32C of the body.
    pub body_checksum: u32,
}

/// A decoded frame that borrows its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub header: FrameHeader,
    pub body: &'a [u8],
}

impl FrameHeader {
    /// The header for `body`.
    pub fn for_body(tag: u16, request_id: u64, body: &[u8]) -> Result<FrameHeader> {
        let header = FrameHeader {
            tag,
            flags: 0,
            request_id,
            body_len: u32::try_from(body.len()).unwrap_or(u32::MAX),
            body_checksum: crc32c(body),
        };
        header.validate()?;
        Ok(header)
    }

    fn validate(&self) -> Result<()> {
        if self.tag == 0 {
            return Err(Error::UnknownTag {
                what: "frame header",
                tag: 0,
            });
        }
        if self.flags & !FRAME_FLAGS_KNOWN != 0 {
            return Err(Error::UnknownFlags {
                what: "frame header",
                flags: self.flags.into(),
            });
        }
        if self.body_len as usize > FRAME_BODY_BYTES_MAX {
            return Err(Error::OutOfBounds {
                what: "frame header",
                field: "body_len",
                got: self.body_len.into(),
                min: 0,
                max: FRAME_BODY_BYTES_MAX as u64,
            });
        }
        Ok(())
    }

    /// The encoded header. Panics if the header is invalid (built by hand, not by
    /// `for_body` or `decode`): that is a bug of the sender.
    pub fn encode(&self) -> [u8; FRAME_HEADER_SIZE] {
        if let Err(e) = self.validate() {
            panic!("encoding an invalid frame header: {e}");
        }
        let mut out = [0u8; FRAME_HEADER_SIZE];
        let mut w = Writer::new(&mut out);
        w.zeros(4);
        w.u32(self.body_checksum);
        w.u32(FRAME_MAGIC);
        w.u16(FRAME_VERSION);
        w.u16(self.tag);
        w.u16(self.flags);
        w.zeros(2);
        w.u32(self.body_len);
        w.u64(self.request_id);
        debug_assert_eq!(w.pos(), FRAME_HEADER_SIZE);
        let sum = crc32c(&out[4..]);
        out[..4].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes and checks the header at the front of `buf`. On success `body_len` is
    /// within `FRAME_BODY_BYTES_MAX`, so the caller may allocate for the body.
    pub fn decode(buf: &[u8]) -> Result<FrameHeader> {
        let bytes = prefix("frame header", buf, FRAME_HEADER_SIZE)?;
        let magic = peek_u32(bytes, 8).unwrap_or_default();
        if magic != FRAME_MAGIC {
            return Err(Error::BadMagic {
                what: "frame header",
                expected: FRAME_MAGIC,
                got: magic,
            });
        }
        let mut r = Reader::new(bytes);
        let stored = r.u32();
        checksum::verify("frame header", stored, &bytes[4..])?;
        let body_checksum = r.u32();
        r.skip(4);
        let version = r.u16();
        if version != FRAME_VERSION {
            return Err(Error::BadVersion {
                what: "frame header",
                oldest: FRAME_VERSION,
                supported: FRAME_VERSION,
                got: version,
            });
        }
        let tag = r.u16();
        let flags = r.u16();
        let reserved_at = r.pos();
        if r.u16() != 0 {
            return Err(Error::NonZeroReserved {
                what: "frame header",
                offset: reserved_at,
            });
        }
        let header = FrameHeader {
            tag,
            flags,
            body_len: r.u32(),
            request_id: r.u64(),
            body_checksum,
        };
        header.validate()?;
        Ok(header)
    }

    /// Checks `body` (exactly `body_len` bytes) against the body checksum.
    pub fn verify_body(&self, body: &[u8]) -> Result<()> {
        if body.len() != self.body_len as usize {
            return Err(Error::OutOfBounds {
                what: "frame body",
                field: "length",
                got: body.len() as u64,
                min: self.body_len.into(),
                max: self.body_len.into(),
            });
        }
        checksum::verify("frame body", self.body_checksum, body)
    }

    /// Bytes of the whole frame.
    pub fn frame_len(&self) -> usize {
        FRAME_HEADER_SIZE + self.body_len as usize
    }
}

/// Appends a frame (header and body) to `out`.
pub fn encode_frame(tag: u16, request_id: u64, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let header = FrameHeader::for_body(tag, request_id, body)?;
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(body);
    Ok(())
}

/// Decodes the frame at the front of `buf`; returns it and the bytes it used. A buffer
/// that holds only part of the frame gives `Error::Truncated` saying how many bytes the
/// whole frame needs.
pub fn decode_frame(buf: &[u8]) -> Result<(Frame<'_>, usize)> {
    let header = FrameHeader::decode(buf)?;
    let len = header.frame_len();
    let frame = prefix("frame body", buf, len)?;
    let body = frame.get(FRAME_HEADER_SIZE..).unwrap_or_default();
    header.verify_body(body)?;
    Ok((Frame { header, body }, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_length() {
        let mut out = Vec::new();
        encode_frame(7, 42, b"payload", &mut out).unwrap();
        out.extend_from_slice(b"next frame");
        let (frame, used) = decode_frame(&out).unwrap();
        assert_eq!(used, FRAME_HEADER_SIZE + 7);
        assert_eq!(frame.body, b"payload");
        assert_eq!((frame.header.tag, frame.header.request_id), (7, 42));
    }

    #[test]
    fn oversized_body_is_refused_from_the_header_alone() {
        let mut h = FrameHeader::for_body(1, 0, b"").unwrap();
        h.body_len = FRAME_BODY_BYTES_MAX as u32;
        let mut bytes = h.encode();
        // Raise the length past the cap and re-seal, as a hostile peer would.
        bytes[20..24].copy_from_slice(&(FRAME_BODY_BYTES_MAX as u32 + 1).to_le_bytes());
        let sum = crc32c(&bytes[4..]);
        bytes[..4].copy_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            FrameHeader::decode(&bytes),
            Err(Error::OutOfBounds {
                field: "body_len",
                ..
            })
        ));
    }

    #[test]
    fn tag_zero_and_unknown_flags_are_refused() {
        assert!(FrameHeader::for_body(0, 0, b"").is_err());
        let mut out = Vec::new();
        encode_frame(1, 0, b"", &mut out).unwrap();
        out[16] = 1;
        let sum = crc32c(&out[4..32]);
        out[..4].copy_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            FrameHeader::decode(&out),
            Err(Error::UnknownFlags { .. })
        ));
    }

    #[test]
    fn partial_frame_says_how_much_it_needs() {
        let mut out = Vec::new();
        encode_frame(1, 0, &[9u8; 100], &mut out).unwrap();
        assert_eq!(
            decode_frame(&out[..50]).unwrap_err(),
            Error::Truncated {
                what: "frame body",
                needed: 132,
                got: 50
            }
        );
    }
}
