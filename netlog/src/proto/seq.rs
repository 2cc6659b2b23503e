//! `Seq`: a list field of fixed-size items (ports, holes, segment summaries) that is
//! either borrowed from a decoded body or borrowed from the sender's own slice.
//!
//! This module owns the one shape every list of a message takes, so decoding never
//! allocates (a decoded list is a view of the body; its items are read as iterated)
//! and encoding needs no conversion (a sender wraps the slice it has). The invariant
//! that makes iteration infallible: a `Seq` of wire bytes exists only after
//! [`Seq::decode`] checked every item, and those bytes are immutable; re-reading one
//! failing would be a bug of this crate, so it panics like any broken invariant.

use std::fmt;

use super::error::{ProtoError, Result};
use super::wire::Body;

/// An item of a list field: a fixed number of bytes with its own rules.
pub trait Item: Copy + fmt::Debug + PartialEq {
    /// Encoded bytes of one item.
    const SIZE: usize;
    /// Field name for errors.
    const FIELD: &'static str;
    /// Reads and checks one item from exactly `SIZE` bytes.
    fn read(message: &'static str, bytes: &[u8]) -> Result<Self>;
    /// Checks the item's rules (the same ones `read` checks).
    fn check(&self, message: &'static str) -> Result<()>;
    /// Appends exactly `SIZE` bytes.
    fn write(&self, out: &mut Vec<u8>);
}

#[derive(Clone, Copy)]
enum Inner<'a, T> {
    /// Bytes of a decoded body, every item checked.
    Wire(&'a [u8]),
    /// The sender's items, checked when encoded.
    Slice(&'a [T]),
}

/// A list of `T`, decoded (borrowing the body) or to be encoded (borrowing a slice).
#[derive(Clone, Copy)]
pub struct Seq<'a, T: Item>(Inner<'a, T>);

impl<'a, T: Item> Seq<'a, T> {
    /// A list of the sender's items, to encode.
    pub fn from_slice(items: &'a [T]) -> Self {
        Seq(Inner::Slice(items))
    }

    /// Reads `count` items (count already bounded by the caller) and checks each.
    pub(crate) fn decode(body: &mut Body<'a>, count: usize) -> Result<Self> {
        let message = body.message();
        // `count` is bounded by a limit far below usize::MAX / SIZE.
        let bytes = body.bytes(T::FIELD, count * T::SIZE)?;
        for chunk in bytes.chunks_exact(T::SIZE) {
            T::read(message, chunk)?;
        }
        Ok(Seq(Inner::Wire(bytes)))
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self.0 {
            Inner::Wire(bytes) => bytes.len() / T::SIZE,
            Inner::Slice(items) => items.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + 'a {
        let (wire, slice) = match self.0 {
            Inner::Wire(bytes) => (bytes, &[][..]),
            Inner::Slice(items) => (&[][..], items),
        };
        let decoded = wire.chunks_exact(T::SIZE).map(|chunk| {
            T::read("list", chunk).expect("list items were checked when the body was decoded")
        });
        // One of the two is empty; chaining keeps a single iterator type.
        ItemsIter {
            decoded,
            given: slice.iter().copied(),
        }
    }

    /// Checks the items (for an encoder; decoded lists were checked already).
    pub(crate) fn check(&self, message: &'static str) -> Result<()> {
        if let Inner::Slice(items) = self.0 {
            for item in items {
                item.check(message)?;
            }
        }
        Ok(())
    }

    /// Appends the items.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self.0 {
            Inner::Wire(bytes) => out.extend_from_slice(bytes),
            Inner::Slice(items) => items.iter().for_each(|i| i.write(out)),
        }
    }

    /// The count as the `u16`/`u32` field a message stores it in, or a bound error.
    pub(crate) fn count(
        &self,
        message: &'static str,
        field: &'static str,
        max: usize,
    ) -> Result<u64> {
        let len = self.len();
        if len > max {
            return Err(ProtoError::OutOfBounds {
                message,
                field,
                got: len as u64,
                min: 0,
                max: max as u64,
            });
        }
        Ok(len as u64)
    }
}

struct ItemsIter<D, G> {
    decoded: D,
    given: G,
}

impl<T, D: Iterator<Item = T>, G: Iterator<Item = T>> Iterator for ItemsIter<D, G> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.decoded.next().or_else(|| self.given.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (a, _) = self.decoded.size_hint();
        let (b, _) = self.given.size_hint();
        (a + b, Some(a + b))
    }
}

impl<T, D: ExactSizeIterator<Item = T>, G: ExactSizeIterator<Item = T>> ExactSizeIterator
    for ItemsIter<D, G>
{
}

impl<T: Item> PartialEq for Seq<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Item + Eq> Eq for Seq<'_, T> {}

impl<T: Item> fmt::Debug for Seq<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A core's TCP port in `HelloReply`; never 0.
impl Item for u16 {
    const SIZE: usize = crate::limits::PORT_SIZE;
    const FIELD: &'static str = "ports";

    fn read(message: &'static str, bytes: &[u8]) -> Result<u16> {
        let mut b = [0u8; 2];
        b.copy_from_slice(bytes);
        let port = u16::from_le_bytes(b);
        port.check(message)?;
        Ok(port)
    }

    fn check(&self, message: &'static str) -> Result<()> {
        if *self == 0 {
            return Err(ProtoError::InvalidField {
                message,
                field: "ports",
                got: 0,
                rule: "a core listens on a nonzero port",
            });
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_and_given_lists_compare_equal_and_iterate_alike() {
        let ports = [7000u16, 7001, 7002];
        let given = Seq::from_slice(&ports);
        let mut out = Vec::new();
        given.write(&mut out);
        let mut body = Body::new("HelloReply", &out);
        let decoded = Seq::<u16>::decode(&mut body, 3).unwrap();
        body.finish().unwrap();
        assert_eq!(decoded, given);
        assert_eq!(decoded.iter().len(), 3);
        assert_eq!(decoded.iter().collect::<Vec<_>>(), ports);
        assert_eq!(format!("{decoded:?}"), "[7000, 7001, 7002]");
    }

    #[test]
    fn a_bad_item_or_a_short_list_is_refused() {
        let mut body = Body::new("HelloReply", &[1, 0, 0, 0]);
        assert!(matches!(
            Seq::<u16>::decode(&mut body, 2),
            Err(ProtoError::InvalidField { field: "ports", .. })
        ));
        let mut body = Body::new("HelloReply", &[1, 0]);
        assert!(matches!(
            Seq::<u16>::decode(&mut body, 2),
            Err(ProtoError::Truncated { .. })
        ));
        assert!(Seq::from_slice(&[1u16, 0]).check("m").is_err());
    }
}
