//! The two-slot files of a core: the catalog (two 16 KiB slots) and each segment's
//! metadata file (two 4 KiB slots). Both are small and read whole.
//!
//! Each slot is judged on its own with the engine's pure decoders
//! (`engine::pages::decode_catalog_slot`, `DurableMeta::decode`); the winner is the
//! valid slot with the highest sequence, as the engine picks it at open. The engine
//! writes sequence `s` into slot `s % 2`, so a valid slot in the other place is reported.

use std::os::unix::fs::FileExt;
use std::path::Path;

use boreal_engine::pages::{
    CATALOG_SLOT_BYTES, CatalogEntry, DurableMeta, META_SLOT_BYTES, decode_catalog_slot,
};
use boreal_segment::PgId;
use boreal_segment::checksum::is_all_zero;

use super::{StoreError, open_read, read_known};

/// What one slot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot<T> {
    /// All zeros: never written.
    Zeros,
    /// A valid slot with its sequence.
    Valid { sequence: u64, value: T },
    /// Neither zeros nor valid: why.
    Bad { reason: String },
}

impl<T> Slot<T> {
    pub fn sequence(&self) -> Option<u64> {
        match self {
            Slot::Valid { sequence, .. } => Some(*sequence),
            _ => None,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Slot::Zeros => "zeros",
            Slot::Valid { .. } => "valid",
            Slot::Bad { .. } => "bad",
        }
    }
}

/// Both slots of a two-slot file, and which one the engine would use.
#[derive(Clone, Debug)]
pub struct TwoSlots<T> {
    /// Bytes of the file on disk.
    pub len: u64,
    /// Bytes of one slot.
    pub slot_bytes: usize,
    pub slots: [Slot<T>; 2],
    /// The valid slot with the highest sequence, if any.
    pub winner: Option<usize>,
    /// Bytes past the two slots are not all zero (the engine never writes there).
    pub trailing_nonzero: bool,
}

fn read_two<T>(
    path: &Path,
    slot_bytes: usize,
    decode: impl Fn(&[u8]) -> Result<(u64, T), String>,
) -> Result<TwoSlots<T>, StoreError> {
    let (file, len) = open_read(path)?;
    read_two_from(&file, path, len, slot_bytes, decode)
}

/// [`read_two`] of an open file of `len` bytes.
fn read_two_from<T>(
    file: &impl FileExt,
    path: &Path,
    len: u64,
    slot_bytes: usize,
    decode: impl Fn(&[u8]) -> Result<(u64, T), String>,
) -> Result<TwoSlots<T>, StoreError> {
    // Past the end of the file (`len`) the slots read as zeros, as the engine reads
    // them (the file is created whole, so only damage leaves it shorter, and `verify`
    // reports its length); a read that ends before it is an error.
    let mut bytes = vec![0u8; 2 * slot_bytes];
    read_known(file, path, &mut bytes, 0, len)?;
    let judge = |b: &[u8]| {
        if is_all_zero(b) {
            Slot::Zeros
        } else {
            match decode(b) {
                Ok((sequence, value)) => Slot::Valid { sequence, value },
                Err(reason) => Slot::Bad { reason },
            }
        }
    };
    let slots = [judge(&bytes[..slot_bytes]), judge(&bytes[slot_bytes..])];
    let winner = (0..2)
        .filter_map(|i| slots[i].sequence().map(|s| (s, i)))
        .max()
        .map(|(_, i)| i);
    let mut trailing_nonzero = false;
    if len > 2 * slot_bytes as u64 {
        let mut buf = vec![0u8; 1 << 16];
        let mut at = 2 * slot_bytes as u64;
        while at < len && !trailing_nonzero {
            let got = read_known(file, path, &mut buf, at, len)?;
            if got == 0 {
                break;
            }
            trailing_nonzero = !is_all_zero(&buf[..got]);
            at += got as u64;
        }
    }
    Ok(TwoSlots {
        len,
        slot_bytes,
        slots,
        winner,
        trailing_nonzero,
    })
}

/// Reads the core's catalog.
pub fn read_catalog(path: &Path) -> Result<TwoSlots<Vec<CatalogEntry>>, StoreError> {
    read_two(path, CATALOG_SLOT_BYTES, decode_catalog_slot)
}

/// Reads the metadata file of `pg`.
pub fn read_meta(path: &Path, pg: PgId) -> Result<TwoSlots<DurableMeta>, StoreError> {
    read_two(path, META_SLOT_BYTES, |b| {
        DurableMeta::decode(b, pg).map(|m| (m.meta.sequence, m))
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io;

    use super::*;

    const SLOT: usize = META_SLOT_BYTES;

    /// A two-slot file, slot 0 holding sequence 2 and slot 1 sequence 3 (the newest),
    /// whose reads stop at `eof` (a file cut while it was read, or a read that ended
    /// early).
    struct Cut {
        bytes: Vec<u8>,
        eof: usize,
        reads: Cell<u32>,
    }

    impl Cut {
        fn new(eof: usize) -> Cut {
            let mut bytes = vec![0u8; 2 * SLOT];
            bytes[..8].copy_from_slice(&2u64.to_le_bytes());
            bytes[SLOT..SLOT + 8].copy_from_slice(&3u64.to_le_bytes());
            Cut {
                bytes,
                eof,
                reads: Cell::new(0),
            }
        }
    }

    impl FileExt for Cut {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            self.reads.set(self.reads.get() + 1);
            let at = (offset as usize).min(self.eof);
            let n = buf.len().min(self.eof - at);
            buf[..n].copy_from_slice(&self.bytes[at..at + n]);
            Ok(n)
        }

        fn write_at(&self, _: &[u8], _: u64) -> io::Result<usize> {
            unreachable!("the tools never write")
        }
    }

    /// A slot is valid when its first word (the sequence) is not zero.
    fn decode(b: &[u8]) -> Result<(u64, ()), String> {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[..8]);
        match u64::from_le_bytes(word) {
            0 => Err("no sequence".into()),
            s => Ok((s, ())),
        }
    }

    #[test]
    fn a_read_that_ends_before_the_files_size_is_an_error_not_the_older_slot() {
        let path = Path::new("pg-1.meta");
        let file = Cut::new(SLOT);
        match read_two_from(&file, path, 2 * SLOT as u64, SLOT, decode) {
            Err(StoreError::ShortRead {
                path: p,
                offset,
                expected,
                got,
            }) => {
                assert_eq!(p, path);
                assert_eq!((offset, expected, got), (0, 2 * SLOT, SLOT));
            }
            Ok(two) => panic!(
                "a short read was taken for the end of the file: winner {:?}, sequences {:?}",
                two.winner,
                two.slots.iter().map(Slot::sequence).collect::<Vec<_>>()
            ),
            Err(e) => panic!("{e}"),
        }

        // Where the file truly ends (its size says so), the missing slot reads as
        // zeros, as the engine reads it; `verify` reports the file's length.
        let two = read_two_from(&Cut::new(SLOT), path, SLOT as u64, SLOT, decode).unwrap();
        assert_eq!(two.slots[1], Slot::Zeros);
        assert_eq!(two.winner, Some(0));
        // The whole file: the newest slot wins.
        let two = read_two_from(&Cut::new(2 * SLOT), path, 2 * SLOT as u64, SLOT, decode).unwrap();
        assert_eq!(two.winner, Some(1));
    }
}
