//! Newtypes for every id and position: `Lsn`, `PageId`, `PgId`, `NodeId`, `Epoch`,
//! and the journal's `JournalFileId`, `Generation` and `BatchSeq`.
//!
//! This module owns the meaning of each number and the arithmetic that makes sense for
//! it: an `Lsn` plus a byte count is an `Lsn`, two `Lsn`s have a distance, but two
//! `Lsn`s never add. Inner fields are private, so an id of one kind can never be passed
//! where another is expected. Every type is `Copy`, ordered, hashable, prints readably
//! (`lsn:42`, `pg:3`) and serializes as its bare number (`#[serde(transparent)]`) for the
//! JSON of tools. Nothing here knows how a value is encoded on disk.

use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize,
            Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($inner);

        impl $name {
            /// Wraps a raw number.
            pub const fn new(value: $inner) -> Self {
                Self(value)
            }

            /// The raw number.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, ":{}"), self.0)
            }
        }
    };
}

id_type!(
    /// Log sequence number: a position in the volume's redo stream, allocated by the
    /// shim, strictly increasing across the volume. `Lsn::ZERO` means "no record" (the
    /// backlink of a first record); no record has LSN zero.
    Lsn(u64),
    "lsn"
);
id_type!(
    /// A page of the volume (volume-wide page number).
    PageId(u64),
    "page"
);
id_type!(
    /// A protection group: a range of pages stored as six segments.
    PgId(u32),
    "pg"
);
id_type!(
    /// A storage node.
    NodeId(u32),
    "node"
);
id_type!(
    /// The volume epoch; nodes refuse requests of a lower epoch (fencing).
    Epoch(u64),
    "epoch"
);
id_type!(
    /// A journal file of one core; stays the same when the file is recycled.
    JournalFileId(u64),
    "file"
);
id_type!(
    /// How many times a journal file has been recycled; a batch from an older
    /// generation is garbage.
    Generation(u64),
    "gen"
);
id_type!(
    /// Sequence number of a journal batch, increasing across all files of one journal.
    BatchSeq(u64),
    "batch"
);

impl Lsn {
    /// "No record": the backlink of the first record of a protection group or page.
    pub const ZERO: Lsn = Lsn(0);
    /// The largest LSN.
    pub const MAX: Lsn = Lsn(u64::MAX);

    /// `self + bytes`, or `None` on overflow.
    pub const fn checked_add(self, bytes: u64) -> Option<Lsn> {
        match self.0.checked_add(bytes) {
            Some(v) => Some(Lsn(v)),
            None => None,
        }
    }

    /// The distance from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_sub(self, earlier: Lsn) -> Option<u64> {
        self.0.checked_sub(earlier.0)
    }
}

/// `Lsn + u64`: panics on overflow (an LSN near `u64::MAX` is a logic error).
impl Add<u64> for Lsn {
    type Output = Lsn;

    fn add(self, bytes: u64) -> Lsn {
        match self.checked_add(bytes) {
            Some(lsn) => lsn,
            None => panic!("LSN overflow: {self} + {bytes}"),
        }
    }
}

impl AddAssign<u64> for Lsn {
    fn add_assign(&mut self, bytes: u64) {
        *self = *self + bytes;
    }
}

macro_rules! successor {
    ($name:ident) => {
        impl $name {
            /// The first value.
            pub const ZERO: $name = $name(0);

            /// The following value, or `None` at the end of the range (use this on values
            /// that came from outside).
            pub const fn checked_next(self) -> Option<$name> {
                match self.0.checked_add(1) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            /// The following value. Panics at `u64::MAX`, which counting up one at a time
            /// from our own state never reaches.
            pub const fn next(self) -> $name {
                match self.checked_next() {
                    Some(v) => v,
                    None => panic!("counter overflow"),
                }
            }
        }
    };
}

successor!(Epoch);
successor!(Generation);
successor!(BatchSeq);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_arithmetic_is_lsn_plus_bytes_and_distances() {
        let a = Lsn::new(100);
        assert_eq!(a + 28, Lsn::new(128));
        assert_eq!((a + 28).checked_sub(a), Some(28));
        assert_eq!(a.checked_sub(a + 1), None);
        assert_eq!(Lsn::MAX.checked_add(1), None);
        let mut b = Lsn::ZERO;
        b += 7;
        assert_eq!(b.get(), 7);
    }

    #[test]
    #[should_panic(expected = "LSN overflow")]
    fn lsn_overflow_panics() {
        let _ = Lsn::MAX + 1;
    }

    #[test]
    fn epoch_next_counts_up_and_checked_next_stops() {
        assert_eq!(Epoch::ZERO.next(), Epoch::new(1));
        assert_eq!(Epoch::new(u64::MAX).checked_next(), None);
        assert!(Epoch::new(2) > Epoch::new(1));
    }

    #[test]
    fn serde_is_the_bare_number() {
        assert_eq!(serde_json::to_string(&Lsn::new(7)).unwrap(), "7");
        let pg: PgId = serde_json::from_str("3").unwrap();
        assert_eq!(pg, PgId::new(3));
    }

    #[test]
    fn display_names_the_kind() {
        assert_eq!(Lsn::new(42).to_string(), "lsn:42");
        assert_eq!(PgId::new(3).to_string(), "pg:3");
        assert_eq!(PageId::new(9).to_string(), "page:9");
        assert_eq!(NodeId::new(1).to_string(), "node:1");
        assert_eq!(Epoch::new(5).to_string(), "epoch:5");
        assert_eq!(JournalFileId::new(2).to_string(), "file:2");
        assert_eq!(Generation::new(4).to_string(), "gen:4");
        assert_eq!(BatchSeq::new(8).to_string(), "batch:8");
    }
}
