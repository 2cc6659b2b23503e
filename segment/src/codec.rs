//! Little-endian field readers and writers over fixed-size headers.
//!
//! This module owns the mechanics of putting integers into bytes, in the order of the
//! byte tables of `FORMAT.md`, so each format's encode and decode read like its table.
//! It never sees untrusted lengths: callers hand it a header slice whose length they
//! have already checked against the format's fixed header size, so a read or write past
//! the end is a bug in this crate (a wrong offset table) and panics like any broken
//! invariant. Every format has round-trip tests that touch every field.

/// Reads fields in order from a header slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset from the start of the header.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        out
    }

    pub(crate) fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    /// Skips `len` bytes.
    pub(crate) fn skip(&mut self, len: usize) {
        assert!(self.pos + len <= self.buf.len(), "header read past its end");
        self.pos += len;
    }
}

/// Writes fields in order into a header slice.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }

    /// Writes `len` zero bytes.
    pub(crate) fn zeros(&mut self, len: usize) {
        self.buf[self.pos..self.pos + len].fill(0);
        self.pos += len;
    }
}

/// Reads a little-endian `u32` at `at`, or `None` if the input is too short.
pub(crate) fn peek_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    let mut out = [0u8; 4];
    out.copy_from_slice(bytes);
    Some(u32::from_le_bytes(out))
}

/// Reads a little-endian `u64` at `at`, or `None` if the input is too short.
pub(crate) fn peek_u64(buf: &[u8], at: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(8)?)?;
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    Some(u64::from_le_bytes(out))
}

/// Returns the first `len` bytes of `buf`, or a `Truncated` error naming `what`.
pub(crate) fn prefix<'a>(
    what: &'static str,
    buf: &'a [u8],
    len: usize,
) -> crate::error::Result<&'a [u8]> {
    // Not `ok_or`: the error would be built, and dropped, on every call (callgrind:
    // a call of its drop glue per record decoded).
    match buf.get(..len) {
        Some(bytes) => Ok(bytes),
        None => Err(crate::error::Error::Truncated {
            what,
            needed: len,
            got: buf.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_agree_and_are_little_endian() {
        let mut buf = [0u8; 17];
        let mut w = Writer::new(&mut buf);
        w.u8(1);
        w.u16(0x0302);
        w.u32(0x0706_0504);
        w.u64(0x0f0e_0d0c_0b0a_0908);
        w.zeros(2);
        assert_eq!(w.pos(), 17);
        assert_eq!(
            &buf[..15],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        );
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8(), 1);
        assert_eq!(r.u16(), 0x0302);
        assert_eq!(r.u32(), 0x0706_0504);
        assert_eq!(r.u64(), 0x0f0e_0d0c_0b0a_0908);
        r.skip(2);
        assert_eq!(r.pos(), 17);
    }

    #[test]
    fn peek_and_prefix_refuse_short_input() {
        assert_eq!(peek_u32(&[1, 0, 0], 0), None);
        assert_eq!(peek_u32(&[1, 0, 0, 0], 0), Some(1));
        assert_eq!(peek_u32(&[1, 0, 0, 0], usize::MAX), None);
        assert!(prefix("x", &[0u8; 3], 4).is_err());
    }
}
