//! The two-slot files of a core: the catalog (two 16 KiB slots) and each segment's
//! metadata file (two 4 KiB slots). Both are small and read whole.
//!
//! Each slot is judged on its own with the engine's pure decoders
//! (`engine::pages::decode_catalog_slot`, `DurableMeta::decode`); the winner is the
//! valid slot with the highest sequence, as the engine picks it at open. The engine
//! writes sequence `s` into slot `s % 2`, so a valid slot in the other place is reported.

use std::path::Path;

use boreal_engine::pages::{
    CATALOG_SLOT_BYTES, CatalogEntry, DurableMeta, META_SLOT_BYTES, decode_catalog_slot,
};
use boreal_segment::PgId;
use boreal_segment::checksum::is_all_zero;

use super::{StoreError, io_error, open_read, read_full_at};

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
    let mut bytes = vec![0u8; 2 * slot_bytes];
    read_full_at(&file, &mut bytes, 0).map_err(io_error(path))?;
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
            let got = read_full_at(&file, &mut buf, at).map_err(io_error(path))?;
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
