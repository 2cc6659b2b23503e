//! The core's pool of page I/O buffers: aligned buffers that page reads and writes
//! borrow and give back, so a coalescer pass does not allocate (and zero) a 16 KiB
//! buffer per page read and an 8 KiB one per page write.
//!
//! One pool per thread, which is one per core (thread-per-core: a core's tasks never
//! leave its thread), so it needs no lock and no plumbing through the engine. It is
//! bounded ([`POOL_BUFFERS_MAX`] buffers, [`POOL_BYTES_MAX`] bytes): a buffer given back
//! past the bound is freed, and a take that finds no buffer of the size allocates one.
//!
//! What it must never do: hand out a buffer still owned by an operation (only buffers
//! an I/O returned are given back), or promise anything about the bytes in a buffer it
//! hands out: they are whatever the previous user left (never uninitialized memory;
//! `DmaBuf` zeroes at allocation). Callers overwrite what they use: a write fills the
//! whole page before sealing it, a read zeroes whatever the kernel did not fill.

use std::cell::RefCell;

use crate::buf::DmaBuf;

pub use crate::limits::{POOL_BUFFERS_MAX, POOL_BYTES_MAX};

#[derive(Default)]
struct Pool {
    free: Vec<DmaBuf>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A buffer of exactly `capacity` bytes with `len() == 0`; its contents are arbitrary.
pub(crate) fn take(capacity: usize) -> DmaBuf {
    let reused = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.free.iter().rposition(|b| b.capacity() == capacity)?;
        let buf = p.free.swap_remove(i);
        p.bytes -= buf.capacity();
        Some(buf)
    });
    match reused {
        Some(mut buf) => {
            buf.clear();
            buf
        }
        None => DmaBuf::zeroed(capacity),
    }
}

/// Gives `buf` back (or frees it if the pool is full).
pub(crate) fn give(buf: DmaBuf) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.free.len() < POOL_BUFFERS_MAX && p.bytes + buf.capacity() <= POOL_BYTES_MAX {
            p.bytes += buf.capacity();
            p.free.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_by_size_and_stays_bounded() {
        let mut a = take(8192);
        a.set_len(8192);
        a.as_mut_slice()[0] = 7;
        let ptr = a.as_ptr();
        give(a);
        let b = take(16384);
        assert_ne!(b.as_ptr(), ptr, "another size is another buffer");
        let c = take(8192);
        assert_eq!(c.as_ptr(), ptr, "same size is reused");
        assert!(c.is_empty());
        give(b);
        give(c);
        for _ in 0..2 * POOL_BUFFERS_MAX {
            give(DmaBuf::zeroed(4096));
        }
        POOL.with(|p| {
            let p = p.borrow();
            assert!(p.free.len() <= POOL_BUFFERS_MAX);
            assert!(p.bytes <= POOL_BYTES_MAX);
            assert_eq!(p.bytes, p.free.iter().map(DmaBuf::capacity).sum::<usize>());
        });
    }
}
