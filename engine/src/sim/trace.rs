//! The trace hasher: every simulated event folds into one 64-bit hash.
//!
//! Owns a single `u64`. Every event the world processes (operation, node, file, offset,
//! length, result, virtual time, and a hash of the bytes of every write and send:
//! [`bytes_word`]) is folded in with [`TraceHash::event`], so two runs
//! with the same `trace=<hash>` took the same path, and a change of hash for the same
//! seed means something became nondeterministic (or the code changed). It never stores
//! events; it is a fingerprint, not a log.

use super::rng::mix64;

/// Event kinds, folded in as the first word of each event. Values are stable only
/// within one build; they exist so that `(op, args)` pairs of different ops differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum TraceOp {
    Open = 1,
    Read,
    Write,
    Sync,
    Fallocate,
    Crash,
    Restart,
    Bind,
    Connect,
    Accept,
    Send,
    Recv,
    Close,
    Reset,
    Partition,
    Heal,
    Timer,
    Fault,
    Workload,
    SyncDir,
    Kill,
    Wipe,
    Link,
    Corrupt,
    BadSectors,
    Clock,
    FaultsChanged,
    Fadvise,
}

/// A 64-bit running hash of the events of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceHash(u64);

impl TraceHash {
    pub(crate) fn new(seed: u64) -> TraceHash {
        TraceHash(mix64(seed ^ 0x7472_6163_6568_6173))
    }

    /// Folds one event: its kind, then each argument word.
    pub(crate) fn event(&mut self, op: TraceOp, args: &[u64]) {
        self.fold(op as u64);
        for &a in args {
            self.fold(a);
        }
    }

    fn fold(&mut self, word: u64) {
        // Rotate before mixing so that the hash depends on the order of words.
        self.0 = mix64(self.0.rotate_left(23) ^ word);
    }

    pub(crate) fn get(self) -> u64 {
        self.0
    }
}

/// The bytes of a write or a send, folded to one word (FNV-1a over 8-byte words, then
/// mixed): two runs that wrote different bytes at the same place differ.
pub(crate) fn bytes_word(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(0x100_0000_01b3);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    mix64(h)
}

/// A result folded into the trace: bytes moved, or the negated errno.
pub(crate) fn result_word(r: &std::io::Result<usize>) -> u64 {
    match r {
        Ok(n) => *n as u64,
        Err(e) => (-(e.raw_os_error().unwrap_or(-1) as i64)) as u64,
    }
}

/// A unit result folded into the trace: 0, or the negated errno.
pub(crate) fn unit_word(r: &std::io::Result<()>) -> u64 {
    match r {
        Ok(()) => 0,
        Err(e) => (-(e.raw_os_error().unwrap_or(-1) as i64)) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_content_matter() {
        let mut a = TraceHash::new(1);
        a.event(TraceOp::Read, &[1, 2]);
        let mut b = TraceHash::new(1);
        b.event(TraceOp::Read, &[2, 1]);
        assert_ne!(a.get(), b.get());
        let mut c = TraceHash::new(1);
        c.event(TraceOp::Read, &[1, 2]);
        assert_eq!(a.get(), c.get());
        assert_ne!(bytes_word(b"abcdefgh1"), bytes_word(b"abcdefgh2"));
        assert_ne!(bytes_word(&[0; 8]), bytes_word(&[0; 16]));
        assert_eq!(bytes_word(b"same"), bytes_word(b"same"));
    }
}
