//! The byte images of the simulated disk: a sparse [`Image`] (a length and the 4 KiB
//! blocks ever allocated) and the [`Change`]s a file goes through on its way from the
//! page cache to the durable image.
//!
//! Owns bytes only: no faults, no randomness, no time. Invariants: an image's length
//! bounds what it reads (reads past it are short); a block once allocated stays
//! allocated until the image is cut below it; a hole reads as zeros.

use std::collections::BTreeMap;

use super::disk::BLOCK_BYTES;

/// A sparse byte image: a length and the 4 KiB blocks that were ever allocated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Image {
    len: u64,
    blocks: BTreeMap<u64, Box<[u8]>>,
}

impl Image {
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn allocated_blocks(&self) -> u64 {
        self.blocks.len() as u64
    }

    fn block_mut(&mut self, index: u64) -> &mut [u8] {
        self.blocks
            .entry(index)
            .or_insert_with(|| vec![0u8; BLOCK_BYTES as usize].into_boxed_slice())
    }

    /// Bytes `[offset, offset + len)` clipped at the end of the image (short at EOF).
    pub(crate) fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let end = offset.saturating_add(len as u64).min(self.len);
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let mut pos = offset;
        while pos < end {
            let index = pos / BLOCK_BYTES;
            let in_block = (pos % BLOCK_BYTES) as usize;
            let n = ((BLOCK_BYTES as usize - in_block) as u64).min(end - pos) as usize;
            if let Some(b) = self.blocks.get(&index) {
                let at = (pos - offset) as usize;
                out[at..at + n].copy_from_slice(&b[in_block..in_block + n]);
            }
            pos += n as u64;
        }
        out
    }

    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let in_block = (pos % BLOCK_BYTES) as usize;
            let n = (BLOCK_BYTES as usize - in_block).min(rest.len());
            self.block_mut(pos / BLOCK_BYTES)[in_block..in_block + n].copy_from_slice(&rest[..n]);
            pos += n as u64;
            rest = &rest[n..];
        }
        self.len = self.len.max(offset + data.len() as u64);
    }

    pub(crate) fn zero(&mut self, offset: u64, len: u64) {
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let in_block = (pos % BLOCK_BYTES) as usize;
            let n = ((BLOCK_BYTES as usize - in_block) as u64).min(end - pos) as usize;
            self.block_mut(pos / BLOCK_BYTES)[in_block..in_block + n].fill(0);
            pos += n as u64;
        }
    }

    pub(crate) fn set_len(&mut self, len: u64) {
        if len < self.len {
            let first_gone = len.div_ceil(BLOCK_BYTES);
            self.blocks.retain(|&i, _| i < first_gone);
            let tail = (len % BLOCK_BYTES) as usize;
            if tail != 0
                && let Some(b) = self.blocks.get_mut(&(len / BLOCK_BYTES))
            {
                b[tail..].fill(0);
            }
        }
        self.len = len;
    }

    pub(crate) fn allocate(&mut self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        for index in offset / BLOCK_BYTES..(offset + len).div_ceil(BLOCK_BYTES) {
            self.block_mut(index);
        }
    }

    pub(crate) fn missing_blocks(&self, offset: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        (offset / BLOCK_BYTES..(offset + len).div_ceil(BLOCK_BYTES))
            .filter(|i| !self.blocks.contains_key(i))
            .count() as u64
    }

    pub(crate) fn has_block(&self, index: u64) -> bool {
        self.blocks.contains_key(&index)
    }

    /// The indexes of the allocated blocks, in order.
    pub(crate) fn block_indexes(&self) -> impl Iterator<Item = u64> + '_ {
        self.blocks.keys().copied()
    }

    /// XORs `mask` over the bytes at `offset` (clipped at the end of the image).
    pub(crate) fn xor(&mut self, offset: u64, mask: &[u8]) {
        let end = offset.saturating_add(mask.len() as u64).min(self.len);
        let mut pos = offset;
        while pos < end {
            let in_block = (pos % BLOCK_BYTES) as usize;
            let n = ((BLOCK_BYTES as usize - in_block) as u64).min(end - pos) as usize;
            let at = (pos - offset) as usize;
            let block = self.block_mut(pos / BLOCK_BYTES);
            for (b, m) in block[in_block..in_block + n]
                .iter_mut()
                .zip(&mask[at..at + n])
            {
                *b ^= m;
            }
            pos += n as u64;
        }
    }

    /// All bytes `[0, len)`, for tests and inspection.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.read(0, self.len as usize)
    }
}

/// One change to a file, as the durable path sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Write {
        offset: u64,
        data: Vec<u8>,
    },
    SetLen(u64),
    Allocate {
        offset: u64,
        len: u64,
        keep_size: bool,
    },
    ZeroRange {
        offset: u64,
        len: u64,
    },
}

impl Change {
    pub(crate) fn apply(&self, image: &mut Image) {
        match self {
            Change::Write { offset, data } => image.write(*offset, data),
            Change::SetLen(len) => image.set_len(*len),
            Change::Allocate {
                offset,
                len,
                keep_size,
            } => {
                image.allocate(*offset, *len);
                if !keep_size {
                    image.len = image.len.max(offset + len);
                }
            }
            Change::ZeroRange { offset, len } => {
                image.zero(*offset, *len);
                image.len = image.len.max(offset + len);
            }
        }
    }
}
