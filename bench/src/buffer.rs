//! Owned, 4096-byte-aligned I/O buffers.
//!
//! O_DIRECT needs the buffer address, the length and the file offset aligned to the
//! device's logical block; 4096 covers every device we run on. An [`AlignedBuf`] can
//! only be built aligned, so a misaligned O_DIRECT buffer cannot be expressed. It is
//! safe code: a `Vec<u8>` is over-allocated by one alignment and the buffer is the
//! aligned window inside it. Buffers are owned values that travel with an I/O into
//! the engine and come back with its completion, which is what an io_uring engine
//! needs (the kernel owns the memory until the completion arrives).

/// The alignment of every [`AlignedBuf`], in bytes.
pub const BUF_ALIGN_BYTES: usize = 4096;

/// A heap buffer whose first byte sits on a [`BUF_ALIGN_BYTES`] boundary.
#[derive(Debug)]
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes.
    pub fn zeroed(len: usize) -> AlignedBuf {
        let storage = vec![0u8; len + BUF_ALIGN_BYTES];
        let addr = storage.as_ptr() as usize;
        let start = (BUF_ALIGN_BYTES - addr % BUF_ALIGN_BYTES) % BUF_ALIGN_BYTES;
        let buf = AlignedBuf {
            storage,
            start,
            len,
        };
        assert_eq!(buf.as_slice().as_ptr() as usize % BUF_ALIGN_BYTES, 0);
        buf
    }

    /// A buffer filled with a deterministic pseudo-random pattern (fio also writes
    /// random data by default, so compressing or deduplicating devices are not flattered).
    pub fn patterned(len: usize, seed: u64) -> AlignedBuf {
        let mut buf = AlignedBuf::zeroed(len);
        let mut rng = crate::workload::Rng::new(seed);
        for chunk in buf.as_mut_slice().chunks_mut(8) {
            let word = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        buf
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The aligned bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The aligned bytes, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_for_many_lengths() {
        for len in [0, 1, 511, 4096, 4097, 131072] {
            let buf = AlignedBuf::zeroed(len);
            assert_eq!(buf.as_slice().as_ptr() as usize % BUF_ALIGN_BYTES, 0);
            assert_eq!(buf.len(), len);
        }
    }

    #[test]
    fn patterned_buffers_are_deterministic_and_not_zero() {
        let a = AlignedBuf::patterned(4096, 7);
        let b = AlignedBuf::patterned(4096, 7);
        assert_eq!(a.as_slice(), b.as_slice());
        assert!(a.as_slice().iter().any(|&x| x != 0));
    }
}
