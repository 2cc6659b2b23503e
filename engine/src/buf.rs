//! Owned, aligned I/O buffers.
//!
//! A [`DmaBuf`] is heap memory aligned to [`DMA_ALIGN`] (4096 bytes, the largest direct-I/O
//! memory alignment any device we target asks for), so a buffer that is misaligned for
//! O_DIRECT cannot be expressed. It has a fixed capacity and a length (`len() <=
//! capacity()`), like a `Vec<u8>` that never reallocates: the kernel may hold a pointer
//! into it, so it must never move while an operation is in flight. Buffers are handed to
//! an operation by value and come back with its result.
//!
//! This is one of the two modules allowed to use `unsafe` (the other is the runtime).
#![allow(
    unsafe_code,
    reason = "owns raw aligned allocations; every block has a SAFETY note"
)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::fmt;
use std::ptr::NonNull;

pub use crate::limits::{DMA_ALIGN, DMA_BUF_CAPACITY_MAX};

/// Buffers of at least this many bytes are mapped straight from the kernel (anonymous
/// `mmap`, zero-filled by the kernel) instead of the heap: for an alignment above the
/// heap's own, `alloc_zeroed` is `posix_memalign` plus a `memset` that zeroes the
/// kernel's zeroed pages again and faults them in one exception at a time, which was
/// most of the cost of recovery's read windows (about 0.2 s of a 1 GiB recovery).
const MAP_THRESHOLD: usize = 2 << 20;

/// A fixed-capacity byte buffer aligned to [`DMA_ALIGN`]. See the module docs.
pub struct DmaBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
    /// The allocation is an anonymous mapping of `capacity` bytes (see
    /// [`MAP_THRESHOLD`]), not a heap block.
    mapped: bool,
}

// SAFETY: DmaBuf exclusively owns its allocation (like Vec<u8>); moving it to another
// thread moves that ownership. No interior mutability or shared pointers.
unsafe impl Send for DmaBuf {}

impl DmaBuf {
    /// A zero-filled buffer of `capacity` bytes, with `len() == 0`.
    ///
    /// Panics if `capacity` is 0 or above [`DMA_BUF_CAPACITY_MAX`] (a caller bug: sizes
    /// from untrusted input must be validated before they get here), or if allocation
    /// fails.
    pub fn zeroed(capacity: usize) -> DmaBuf {
        assert!(capacity > 0, "DmaBuf capacity must be positive");
        assert!(
            capacity <= DMA_BUF_CAPACITY_MAX,
            "DmaBuf capacity {capacity} above {DMA_BUF_CAPACITY_MAX}"
        );
        let layout = Self::layout(capacity);
        if capacity >= MAP_THRESHOLD
            && let Some(ptr) = Self::map(capacity)
        {
            return DmaBuf {
                ptr,
                capacity,
                len: 0,
                mapped: true,
            };
        }
        // SAFETY: layout has non-zero size (capacity > 0) and a valid power-of-two align.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        DmaBuf {
            ptr,
            capacity,
            len: 0,
            mapped: false,
        }
    }

    /// A fresh anonymous mapping of `capacity` bytes: page-aligned (so `DMA_ALIGN`
    /// aligned) and zero-filled by the kernel, so nothing is written here; pages are
    /// faulted in when first written (for a read buffer, by the kernel filling it).
    /// `None` if the kernel refuses the mapping (the heap is tried instead).
    ///
    /// Measured on recovery of a 1 GiB journal: populating up front
    /// (`MADV_POPULATE_WRITE`) gains nothing; `MADV_HUGEPAGE` halves warm opens but
    /// makes cold ones 2-3x slower (direct compaction), so neither is used.
    fn map(capacity: usize) -> Option<NonNull<u8>> {
        // SAFETY: a new private anonymous mapping at an address the kernel picks; it
        // aliases nothing. The result is checked against MAP_FAILED before use.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                capacity,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(raw.cast::<u8>())
    }

    /// A buffer holding a copy of `bytes`, with `len() == bytes.len()`.
    pub fn from_slice(bytes: &[u8]) -> DmaBuf {
        let mut b = DmaBuf::zeroed(bytes.len().max(1));
        b.as_spare_mut()[..bytes.len()].copy_from_slice(bytes);
        b.set_len(bytes.len());
        b
    }

    fn layout(capacity: usize) -> Layout {
        match Layout::from_size_align(capacity, DMA_ALIGN) {
            Ok(l) => l,
            Err(e) => panic!("DmaBuf layout for {capacity} bytes: {e}"),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the length. The bytes up to `len` are always initialized (the allocation is
    /// zeroed), so this is safe; it panics if `len > capacity()`.
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity,
            "set_len {len} > capacity {}",
            self.capacity
        );
        self.len = len;
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `bytes` after `len()`; panics if they do not fit.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let start = self.len;
        let end = start + bytes.len();
        assert!(
            end <= self.capacity,
            "extend to {end} > capacity {}",
            self.capacity
        );
        self.as_full_mut()[start..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// The initialized prefix `[..len()]`.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for `capacity` initialized bytes (zeroed at allocation)
        // and len <= capacity; &self guarantees no mutable alias.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The prefix `[..len()]`, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.as_full_mut()[..len]
    }

    /// The whole allocation `[..capacity()]`, mutable (e.g. to fill before `set_len`).
    pub fn as_full_mut(&mut self) -> &mut [u8] {
        // SAFETY: ptr is valid for `capacity` initialized bytes; &mut self guarantees
        // exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }

    /// The bytes after `len()`, mutable.
    pub fn as_spare_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.as_full_mut()[len..]
    }

    /// Raw pointer for the kernel. Stays valid until the buffer is dropped; the buffer
    /// never reallocates.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Raw mutable pointer for the kernel (reads into the buffer).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        if self.mapped {
            // SAFETY: ptr is the start of a mapping of exactly `capacity` bytes made in
            // `map`, unmapped once; nothing borrows it past `self`.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.capacity) };
            return;
        }
        // SAFETY: ptr was allocated with exactly this layout in `zeroed` and is freed once.
        unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.capacity)) }
    }
}

impl fmt::Debug for DmaBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// Asks the CPU to bring the cache line holding `bytes[at]` closer (a hint: no effect
/// on what any code reads, and nothing if `at` is out of range or the target has no
/// prefetch instruction). For loops that know a few steps ahead which line of a large
/// working set they will write (the coalescer's page images).
#[inline]
pub fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.get(at) {
        // SAFETY: `_mm_prefetch` only needs SSE, which every x86_64 CPU has; a prefetch
        // never faults and changes no memory (the pointer is in bounds anyway).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                std::ptr::from_ref(b).cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

/// Asks the CPU to bring the cache lines holding `*value` closer (its first and last
/// byte: a value may straddle two lines). A hint, as [`prefetch`]; for walks over
/// collections too large for the cache, a few elements ahead of the one being read.
#[inline]
pub fn prefetch_value<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let first = std::ptr::from_ref(value).cast::<i8>();
        let last = first.wrapping_add(size_of::<T>().saturating_sub(1));
        // SAFETY: as in `prefetch`; both addresses are inside `*value`, and a prefetch
        // reads nothing the program sees.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<{ _MM_HINT_T0 }>(first);
            _mm_prefetch::<{ _MM_HINT_T0 }>(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        for cap in [1, 511, 4096, 4097, 1 << 20] {
            let b = DmaBuf::zeroed(cap);
            assert_eq!(b.as_ptr() as usize % DMA_ALIGN, 0);
            assert_eq!(b.capacity(), cap);
            assert!(b.is_empty());
        }
        let mut b = DmaBuf::zeroed(8192);
        b.set_len(8192);
        assert!(b.as_slice().iter().all(|&x| x == 0));
    }

    #[test]
    fn mapped_buffers_aligned_zeroed_and_writable() {
        for cap in [MAP_THRESHOLD, MAP_THRESHOLD + 1, 3 * MAP_THRESHOLD + 4096] {
            let mut b = DmaBuf::zeroed(cap);
            assert!(b.mapped);
            assert_eq!(b.as_ptr() as usize % DMA_ALIGN, 0);
            assert_eq!(b.capacity(), cap);
            b.set_len(cap);
            assert!(b.as_slice().iter().all(|&x| x == 0));
            b.as_mut_slice()[cap - 1] = 7;
            assert_eq!(b.as_slice()[cap - 1], 7);
            let c = DmaBuf::from_slice(b.as_slice());
            assert_eq!(c.as_slice(), b.as_slice());
        }
        assert!(!DmaBuf::zeroed(MAP_THRESHOLD - 4096).mapped);
    }

    #[test]
    fn extend_and_clear() {
        let mut b = DmaBuf::from_slice(b"abc");
        b.extend_from_slice(b"");
        assert_eq!(b.as_slice(), b"abc");
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    #[should_panic(expected = "capacity")]
    fn extend_past_capacity_panics() {
        let mut b = DmaBuf::zeroed(4);
        b.extend_from_slice(b"hello");
    }
}
