//! `FrameReader`: complete frames out of a receive buffer, sans I/O.
//!
//! This module owns the framing of a byte stream. A connection receives as much as its
//! buffer holds in one call ("one receive per buffer-full"), which may end in the
//! middle of a frame; the reader hands out the complete frames one by one, borrowing
//! them from the buffer, then says how many bytes the next frame occupies in full, so
//! the caller keeps the tail, makes room for exactly that and receives again. The
//! length in a header is believed only after the 32-byte header decoded (magic,
//! checksum, version, flags, and `body_len <= FRAME_BODY_BYTES_MAX`): an oversize or
//! damaged header is refused as soon as its 32 bytes are in, before the caller grows a
//! buffer for its body. Every body is checked against its checksum before it is
//! handed out. After an error the stream has lost its framing: the caller closes the
//! connection (the reader keeps returning the same error).
//!
//! ```
//! use boreal_netlog::proto::{FrameReader, Message, Step};
//! # let mut out = Vec::new();
//! # boreal_netlog::proto::Message::CoreStatus(boreal_netlog::proto::CoreStatus {
//! #     first_pg: boreal_segment::PgId::new(0) }).encode(1, &mut out).unwrap();
//! let received: &[u8] = &out[..20]; // a partial frame
//! let mut frames = FrameReader::new(received);
//! match frames.next_step().unwrap() {
//!     Step::Frame(frame) => { let _ = Message::decode_request(frame); }
//!     Step::Need { frame_len, have } => assert_eq!((frame_len, have), (32, 20)),
//! }
//! // Keep `&received[frames.consumed()..]`, receive more, start a new reader.
//! ```

use boreal_segment::limits::FRAME_HEADER_SIZE;
use boreal_segment::{Frame, FrameHeader};

use super::error::Result;

/// What the reader found at its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A complete frame whose header and body checksums hold.
    Frame(Frame<'a>),
    /// The next frame is not complete: it occupies `frame_len` bytes in full (just the
    /// header's 32 until the header is in), of which the buffer holds `have`.
    Need { frame_len: usize, have: usize },
}

/// Walks the frames of one receive buffer.
#[derive(Clone, Debug)]
pub struct FrameReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> FrameReader<'a> {
    /// A reader over `buf`, which starts at a frame boundary.
    pub fn new(buf: &'a [u8]) -> Self {
        FrameReader { buf, pos: 0 }
    }

    /// The next complete frame, or how many bytes the next frame needs.
    pub fn next_step(&mut self) -> Result<Step<'a>> {
        let rest = &self.buf[self.pos..];
        if rest.len() < FRAME_HEADER_SIZE {
            return Ok(Step::Need {
                frame_len: FRAME_HEADER_SIZE,
                have: rest.len(),
            });
        }
        let header = FrameHeader::decode(rest)?;
        let frame_len = header.frame_len();
        let Some(bytes) = rest.get(..frame_len) else {
            return Ok(Step::Need {
                frame_len,
                have: rest.len(),
            });
        };
        let body = &bytes[FRAME_HEADER_SIZE..];
        header.verify_body(body)?;
        self.pos += frame_len;
        Ok(Step::Frame(Frame { header, body }))
    }

    /// The next complete frame, or `None` when the rest is a partial frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'a>>> {
        match self.next_step()? {
            Step::Frame(f) => Ok(Some(f)),
            Step::Need { .. } => Ok(None),
        }
    }

    /// Bytes of the buffer taken by the frames handed out so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    /// The bytes after the frames handed out (the start of a partial frame).
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{CoreStatus, Message};
    use boreal_segment::PgId;
    use boreal_segment::limits::FRAME_BODY_BYTES_MAX;

    fn frame(first_pg: u32, request_id: u64) -> Vec<u8> {
        let mut out = Vec::new();
        Message::CoreStatus(CoreStatus {
            first_pg: PgId::new(first_pg),
        })
        .encode(request_id, &mut out)
        .unwrap();
        out
    }

    #[test]
    fn hands_out_whole_frames_then_says_what_the_tail_needs() {
        let mut stream = frame(1, 1);
        stream.extend(frame(2, 2));
        let one = stream.len() / 2;
        let cut = &stream[..one + 10];
        let mut r = FrameReader::new(cut);
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(f.header.request_id, 1);
        assert_eq!(r.consumed(), one);
        assert_eq!(
            r.next_step().unwrap(),
            Step::Need {
                frame_len: FRAME_HEADER_SIZE,
                have: 10
            }
        );
        let cut = &stream[..one + 33];
        let mut r = FrameReader::new(&cut[one..]);
        assert_eq!(
            r.next_step().unwrap(),
            Step::Need {
                frame_len: one,
                have: 33
            }
        );
        assert_eq!(r.consumed(), 0);
    }

    #[test]
    fn oversize_length_is_refused_from_the_header_alone() {
        let mut h = frame(1, 1);
        h.truncate(FRAME_HEADER_SIZE);
        let len = (FRAME_BODY_BYTES_MAX as u32 + 1).to_le_bytes();
        h[20..24].copy_from_slice(&len);
        let sum = boreal_segment::checksum::crc32c(&h[4..32]);
        h[..4].copy_from_slice(&sum.to_le_bytes());
        let mut r = FrameReader::new(&h);
        assert!(r.next_step().is_err());
        assert!(r.next_step().is_err(), "the error sticks");
    }

    #[test]
    fn a_damaged_body_is_refused() {
        let mut f = frame(1, 1);
        let last = f.len() - 1;
        f[last] ^= 1;
        assert!(FrameReader::new(&f).next_step().is_err());
    }
}
