//! `verify`: what a written block carries so it can be checked when read back, and the
//! check.
//!
//! With `verify=crc32c` or `md5` every written block starts with a [`HEADER_LEN`]-byte
//! header (all little-endian): magic `"BRLV"`, the checksum kind, the block's length,
//! its file index and offset, the checksum of the rest of the block (CRC-32C in the
//! first four bytes, or the 16-byte MD5), and the header's own CRC-32C. A block read
//! back must have a sound header that names the same file, offset and length, and a
//! body whose checksum matches: a lost write, a misdirected write or flipped bits all
//! fail. With `verify=pattern` the whole block is `verify_pattern` repeated and is
//! compared byte for byte (no header, as fio). The format is boreal-bench's own; fio's
//! verify header differs, so blocks written by one cannot be verified by the other.
//!
//! Must never: trust a length or offset read from a block (a bad header is a failed
//! check, not a panic). [`Md5`] is RFC 1321, checked against its test vectors.

use std::collections::VecDeque;

use crate::job::kinds::VerifyKind;

/// Most blocks a job may write with `verify` (which blocks were written is kept in a
/// bitmap of this many bits, 16 MiB).
pub const VERIFY_BLOCKS_MAX: u64 = 1 << 27;

/// Bytes of the verify header at the start of each block (crc32c and md5).
pub const HEADER_LEN: usize = 64;
const MAGIC: &[u8; 4] = b"BRLV";
/// Bytes of the header covered by its own CRC (everything before it).
const HEADER_CRC_AT: usize = 44;

/// What to verify a block against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect<'a> {
    /// The kind of check.
    pub kind: VerifyKind,
    /// `verify_pattern` (for [`VerifyKind::Pattern`]).
    pub pattern: &'a [u8],
}

fn kind_byte(kind: VerifyKind) -> u8 {
    match kind {
        VerifyKind::Crc32c => 1,
        VerifyKind::Md5 => 2,
        VerifyKind::Pattern => 3,
    }
}

fn body_sum(kind: VerifyKind, body: &[u8]) -> [u8; 16] {
    let mut sum = [0u8; 16];
    match kind {
        VerifyKind::Md5 => sum = Md5::digest(body),
        _ => sum[..4].copy_from_slice(&crc32c::crc32c(body).to_le_bytes()),
    }
    sum
}

/// Makes `block` verifiable as block `offset` of file `file`: for crc32c and md5 writes
/// the header over its first bytes (the rest keeps its data); for pattern fills it
/// with the pattern.
pub fn prepare(block: &mut [u8], expect: &Expect<'_>, file: u32, offset: u64) {
    if expect.kind == VerifyKind::Pattern {
        for (i, byte) in block.iter_mut().enumerate() {
            *byte = expect.pattern[i % expect.pattern.len()];
        }
        return;
    }
    assert!(block.len() >= HEADER_LEN, "validated: bs >= HEADER_LEN");
    let sum = body_sum(expect.kind, &block[HEADER_LEN..]);
    let len = block.len() as u32;
    let h = &mut block[..HEADER_LEN];
    h.fill(0);
    h[0..4].copy_from_slice(MAGIC);
    h[4] = kind_byte(expect.kind);
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..16].copy_from_slice(&file.to_le_bytes());
    h[16..24].copy_from_slice(&offset.to_le_bytes());
    h[24..40].copy_from_slice(&sum);
    let crc = crc32c::crc32c(&h[..HEADER_CRC_AT]);
    h[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Checks a block read back from file `file` at `offset`; `Err` says what is wrong.
pub fn check(block: &[u8], expect: &Expect<'_>, file: u32, offset: u64) -> Result<(), String> {
    if expect.kind == VerifyKind::Pattern {
        let p = expect.pattern;
        return match block
            .iter()
            .enumerate()
            .find(|(i, b)| **b != p[i % p.len()])
        {
            None => Ok(()),
            Some((i, b)) => Err(format!(
                "byte {i} of the block is {b:#04x}, the pattern has {:#04x} there",
                p[i % p.len()]
            )),
        };
    }
    if block.len() < HEADER_LEN {
        return Err(format!(
            "the block is {} bytes, shorter than its header",
            block.len()
        ));
    }
    let h = &block[..HEADER_LEN];
    if &h[0..4] != MAGIC {
        return Err(format!(
            "no verify header (magic {:02x?}, expected \"BRLV\")",
            &h[0..4]
        ));
    }
    let crc = u32::from_le_bytes(
        h[HEADER_CRC_AT..HEADER_CRC_AT + 4]
            .try_into()
            .unwrap_or_default(),
    );
    if crc != crc32c::crc32c(&h[..HEADER_CRC_AT]) {
        return Err("the verify header's own checksum does not match".to_string());
    }
    let field_u32 = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap_or_default());
    let got_offset = u64::from_le_bytes(h[16..24].try_into().unwrap_or_default());
    if h[4] != kind_byte(expect.kind) {
        return Err(format!(
            "the header says checksum kind {}, the job verifies {}",
            h[4],
            expect.kind.as_str()
        ));
    }
    if field_u32(8) as usize != block.len() || field_u32(12) != file || got_offset != offset {
        return Err(format!(
            "the header describes file {} offset {got_offset} length {}, not this block (a misdirected or lost write)",
            field_u32(12),
            field_u32(8)
        ));
    }
    if h[24..40] != body_sum(expect.kind, &block[HEADER_LEN..]) {
        return Err(format!(
            "the block's {} does not match its header",
            expect.kind.as_str()
        ));
    }
    Ok(())
}

/// Which written blocks still need reading back: every block written (for the verify
/// phase after the writes), and with `verify_backlog=N` each run of N writes (verified
/// before more are issued).
#[derive(Debug)]
pub struct VerifyTracker {
    bs: u64,
    region_start: u64,
    written: Vec<Vec<u64>>,
    backlog: u64,
    recent: Vec<(usize, u64)>,
    queue: VecDeque<(usize, u64)>,
    cursor: (usize, u64),
    /// Blocks read back and found sound.
    pub verified: u64,
}

impl VerifyTracker {
    /// A tracker for blocks of `bs` bytes in regions of `file_lens` bytes from
    /// `region_start`; `None` when the regions hold more than [`VERIFY_BLOCKS_MAX`]
    /// blocks.
    pub fn new(
        bs: u64,
        region_start: u64,
        file_lens: &[u64],
        backlog: u64,
    ) -> Option<VerifyTracker> {
        let blocks: u64 = file_lens.iter().map(|l| l / bs).sum();
        if blocks > VERIFY_BLOCKS_MAX {
            return None;
        }
        Some(VerifyTracker {
            bs,
            region_start,
            written: file_lens
                .iter()
                .map(|l| vec![0u64; (l / bs).div_ceil(64) as usize])
                .collect(),
            backlog,
            recent: Vec::with_capacity(backlog as usize),
            queue: VecDeque::new(),
            cursor: (0, 0),
            verified: 0,
        })
    }

    /// A write of the block at `offset` of `file` completed.
    pub fn written(&mut self, file: usize, offset: u64) {
        let block = (offset - self.region_start) / self.bs;
        if let Some(word) = self.written[file].get_mut((block / 64) as usize) {
            *word |= 1 << (block % 64);
        }
        if self.backlog > 0 {
            self.recent.push((file, offset));
            if self.recent.len() as u64 >= self.backlog {
                // Verified now, so the verify phase at the end need not read them
                // again (unless they are written again).
                for &(f, o) in &self.recent {
                    let b = (o - self.region_start) / self.bs;
                    if let Some(word) = self.written[f].get_mut((b / 64) as usize) {
                        *word &= !(1 << (b % 64));
                    }
                }
                self.queue.extend(self.recent.drain(..));
            }
        }
    }

    /// The next block of the backlog to verify now, if a backlog is due.
    pub fn next_backlog(&mut self) -> Option<(usize, u64)> {
        self.queue.pop_front()
    }

    /// True when a backlog is due (writes must pause until it is verified).
    pub fn backlog_due(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next written block for the verify phase, in file and offset order.
    pub fn next_final(&mut self) -> Option<(usize, u64)> {
        while self.cursor.0 < self.written.len() {
            let (file, mut block) = self.cursor;
            let bits = &self.written[file];
            while ((block / 64) as usize) < bits.len() {
                let word = bits[(block / 64) as usize] >> (block % 64);
                if word == 0 {
                    block = (block / 64 + 1) * 64;
                    continue;
                }
                block += u64::from(word.trailing_zeros());
                self.cursor = (file, block + 1);
                return Some((file, self.region_start + block * self.bs));
            }
            self.cursor = (file + 1, 0);
        }
        None
    }
}

/// MD5 (RFC 1321), for `verify=md5`.
#[derive(Debug, Clone)]
pub struct Md5 {
    state: [u32; 4],
    buffer: [u8; 64],
    buffered: usize,
    length: u64,
}

const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// `floor(abs(sin(i + 1)) * 2^32)`, RFC 1321's table.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

impl Default for Md5 {
    fn default() -> Self {
        Md5 {
            state: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
            buffer: [0; 64],
            buffered: 0,
            length: 0,
        }
    }
}

impl Md5 {
    /// The MD5 of `data`.
    pub fn digest(data: &[u8]) -> [u8; 16] {
        let mut md5 = Md5::default();
        md5.update(data);
        md5.finish()
    }

    /// Adds `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = (64 - self.buffered).min(data.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < 64 {
                return;
            }
            let block = self.buffer;
            self.block(&block);
            self.buffered = 0;
        }
        let mut chunks = data.chunks_exact(64);
        for chunk in &mut chunks {
            let mut block = [0u8; 64];
            block.copy_from_slice(chunk);
            self.block(&block);
        }
        let rest = chunks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The digest.
    pub fn finish(mut self) -> [u8; 16] {
        let bits = self.length.wrapping_mul(8);
        self.update(&[0x80]);
        while self.buffered != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_le_bytes());
        let mut out = [0u8; 16];
        for (i, word) in self.state.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    fn block(&mut self, block: &[u8; 64]) {
        let mut m = [0u32; 16];
        for (i, word) in m.iter_mut().enumerate() {
            *word = u32::from_le_bytes([
                block[i * 4],
                block[i * 4 + 1],
                block[i * 4 + 2],
                block[i * 4 + 3],
            ]);
        }
        let [mut a, mut b, mut c, mut d] = self.state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(K[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn md5_matches_rfc_1321_vectors() {
        let cases = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&Md5::digest(input.as_bytes())), want, "{input:?}");
        }
        let mut split = Md5::default();
        split.update(b"message ");
        split.update(b"digest");
        assert_eq!(hex(&split.finish()), "f96b697d7cb7938d525a2f31aaf161d0");
    }

    #[test]
    fn the_tracker_returns_written_blocks_and_backlogs() {
        let mut t = VerifyTracker::new(4096, 8192, &[10 * 4096, 4 * 4096], 2).unwrap();
        t.written(0, 8192 + 3 * 4096);
        assert!(!t.backlog_due());
        t.written(1, 8192);
        assert_eq!(t.next_backlog(), Some((0, 8192 + 3 * 4096)));
        assert_eq!(t.next_backlog(), Some((1, 8192)));
        assert_eq!(t.next_backlog(), None);
        t.written(0, 8192);
        let all: Vec<_> = std::iter::from_fn(|| t.next_final()).collect();
        assert_eq!(
            all,
            [(0, 8192)],
            "the backlog's blocks were verified already"
        );
    }

    #[test]
    fn a_prepared_block_checks_and_damage_is_caught() {
        for kind in [VerifyKind::Crc32c, VerifyKind::Md5, VerifyKind::Pattern] {
            let expect = Expect {
                kind,
                pattern: &[0xde, 0xad, 0xbe],
            };
            let mut block: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
            prepare(&mut block, &expect, 2, 8192);
            assert_eq!(check(&block, &expect, 2, 8192), Ok(()), "{kind:?}");
            let mut flipped = block.clone();
            flipped[100] ^= 1;
            assert!(
                check(&flipped, &expect, 2, 8192).is_err(),
                "{kind:?}: a flipped bit"
            );
            if kind != VerifyKind::Pattern {
                let err = check(&block, &expect, 2, 4096).unwrap_err();
                assert!(err.contains("misdirected"), "{err}");
                assert!(check(&vec![0u8; 4096], &expect, 2, 8192).is_err());
            }
        }
    }
}
