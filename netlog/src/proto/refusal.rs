//! `Refusal`: the one error response, for every request.
//!
//! This module owns the reason registry: a code (never reused, 0 never valid), the PG
//! it concerns when it concerns one, up to three numbers (LSNs, epochs, a page, a core)
//! and a short human-readable text. The typed fields are what a client acts on (retry
//! elsewhere, raise its epoch, route to another core, wait); the text is what a person
//! reads in a log. Fields a reason does not use are zero on the wire, so every refusal
//! has exactly one encoding. A refusal with request id 0 concerns the connection, not a
//! request: the node sends it just before it closes the connection.

use boreal_segment::{Epoch, Lsn, PageId, PageSize, PgId};

use super::error::{ProtoError, Result};
use super::tag::Role;
use super::wire::{Body, Put, check_text, utf8};
use crate::limits::{REFUSAL_FIXED, REFUSAL_TEXT_BYTES_MAX};

const REFUSAL: &str = "Refusal";

/// Why a request was refused, with the numbers the client needs to act on it.
/// `PROTOCOL.md` lists the codes and what a client does about each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Code 1: no common protocol version; the node speaks `min..=max`.
    UnsupportedVersion { min: u16, max: u16 },
    /// Code 2: a request before `Hello`, or a second `Hello`.
    HelloOrder,
    /// Code 3: a client of `role` may not send request `tag`.
    RoleRefused { role: Role, tag: u16 },
    /// Code 4: the frame (tag `tag`, 0 if its header did not decode) is malformed; the
    /// node closes the connection after this refusal.
    Malformed { tag: u16 },
    /// Code 5: `pg` belongs to core `core` of this node.
    WrongCore { pg: PgId, core: u16 },
    /// Code 6: this core holds no segment of `pg`.
    NoSegment { pg: PgId },
    /// Code 7: a segment of `pg` exists with this other geometry.
    SegmentExists {
        pg: PgId,
        page_size: PageSize,
        first_page: PageId,
        page_count: u64,
    },
    /// Code 8: the core holds its most segments (`max`).
    TooManySegments { pg: PgId, max: u64 },
    /// Code 9: the request's epoch is below the segment's `current`.
    StaleEpoch { pg: PgId, current: Epoch },
    /// Code 10: the record at `lsn` is refused (conflicting duplicate, off the backlink
    /// chain, outside the PG's pages, larger than its page): the text says which.
    InvalidRecord { pg: PgId, lsn: Lsn },
    /// Code 11: the record at `lsn` lies in the truncation `(start, end]`: annulled.
    InTruncation {
        pg: PgId,
        lsn: Lsn,
        start: Lsn,
        end: Lsn,
    },
    /// Code 12: read point `lsn` is above the segment's `scl`.
    AboveScl { pg: PgId, lsn: Lsn, scl: Lsn },
    /// Code 13: read point `lsn` is below the segment's min read point.
    BelowMinReadPoint {
        pg: PgId,
        lsn: Lsn,
        min_read_point: Lsn,
    },
    /// Code 14: the read at `lsn` needs records of the missing range `(start, end]`.
    Hole {
        pg: PgId,
        lsn: Lsn,
        start: Lsn,
        end: Lsn,
    },
    /// Code 15: `page` is not one of the PG's pages.
    PageOutOfRange { pg: PgId, page: PageId },
    /// Code 16: the node's copy of `page` is damaged (its newest image is at or after
    /// `page_lsn`); it must be repaired from a peer.
    Damaged {
        pg: PgId,
        page: PageId,
        page_lsn: Lsn,
    },
    /// Code 17: `lsn` (a fetch's `from`, a truncation's `start`) is below the
    /// segment's `materialized` LSN: those records live only in pages now.
    BelowMaterialized {
        pg: PgId,
        lsn: Lsn,
        materialized: Lsn,
    },
    /// Code 18: the core's backlog stayed over its bound for `waited_ms`: retry later.
    Backlogged { pg: PgId, waited_ms: u64 },
    /// Code 19: transiently busy (a read raced the coalescer): retry.
    Busy { pg: PgId },
    /// Code 20: the core stopped after an I/O failure (fail-stop).
    Failed,
    /// Code 21: the node is shutting down.
    ShuttingDown,
}

/// The wire fields of a reason: code, pg, three words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Raw {
    code: u16,
    pg: u32,
    words: [u64; 3],
}

fn word_u16(field: &'static str, got: u64) -> Result<u16> {
    u16::try_from(got).map_err(|_| ProtoError::OutOfBounds {
        message: REFUSAL,
        field,
        got,
        min: 0,
        max: u16::MAX.into(),
    })
}

impl Reason {
    /// The reason's code.
    pub fn code(&self) -> u16 {
        self.raw().code
    }

    /// The PG the refusal concerns, if it concerns one.
    pub fn pg(&self) -> Option<PgId> {
        use Reason::*;
        match *self {
            UnsupportedVersion { .. } | HelloOrder | RoleRefused { .. } | Malformed { .. } => None,
            Failed | ShuttingDown => None,
            WrongCore { pg, .. }
            | NoSegment { pg }
            | SegmentExists { pg, .. }
            | TooManySegments { pg, .. }
            | StaleEpoch { pg, .. }
            | InvalidRecord { pg, .. }
            | InTruncation { pg, .. }
            | AboveScl { pg, .. }
            | BelowMinReadPoint { pg, .. }
            | Hole { pg, .. }
            | PageOutOfRange { pg, .. }
            | Damaged { pg, .. }
            | BelowMaterialized { pg, .. }
            | Backlogged { pg, .. }
            | Busy { pg } => Some(pg),
        }
    }

    fn raw(&self) -> Raw {
        use Reason::*;
        let (code, words) = match *self {
            UnsupportedVersion { min, max } => (1, [min.into(), max.into(), 0]),
            HelloOrder => (2, [0; 3]),
            RoleRefused { role, tag } => (3, [role.code().into(), tag.into(), 0]),
            Malformed { tag } => (4, [tag.into(), 0, 0]),
            WrongCore { core, .. } => (5, [core.into(), 0, 0]),
            NoSegment { .. } => (6, [0; 3]),
            SegmentExists {
                page_size,
                first_page,
                page_count,
                ..
            } => (7, [page_size.get().into(), first_page.get(), page_count]),
            TooManySegments { max, .. } => (8, [max, 0, 0]),
            StaleEpoch { current, .. } => (9, [current.get(), 0, 0]),
            InvalidRecord { lsn, .. } => (10, [lsn.get(), 0, 0]),
            InTruncation {
                lsn, start, end, ..
            } => (11, [lsn.get(), start.get(), end.get()]),
            AboveScl { lsn, scl, .. } => (12, [lsn.get(), scl.get(), 0]),
            BelowMinReadPoint {
                lsn,
                min_read_point,
                ..
            } => (13, [lsn.get(), min_read_point.get(), 0]),
            Hole {
                lsn, start, end, ..
            } => (14, [lsn.get(), start.get(), end.get()]),
            PageOutOfRange { page, .. } => (15, [page.get(), 0, 0]),
            Damaged { page, page_lsn, .. } => (16, [page.get(), page_lsn.get(), 0]),
            BelowMaterialized {
                lsn, materialized, ..
            } => (17, [lsn.get(), materialized.get(), 0]),
            Backlogged { waited_ms, .. } => (18, [waited_ms, 0, 0]),
            Busy { .. } => (19, [0; 3]),
            Failed => (20, [0; 3]),
            ShuttingDown => (21, [0; 3]),
        };
        Raw {
            code,
            pg: self.pg().map_or(0, PgId::get),
            words,
        }
    }

    /// The reason of `raw`, refusing unknown codes, out-of-range numbers and nonzero
    /// unused fields.
    fn from_raw(raw: Raw) -> Result<Reason> {
        use Reason::*;
        let pg = PgId::new(raw.pg);
        let [w0, w1, w2] = raw.words;
        let lsn = Lsn::new(w0);
        let reason = match raw.code {
            1 => UnsupportedVersion {
                min: word_u16("min", w0)?,
                max: word_u16("max", w1)?,
            },
            2 => HelloOrder,
            3 => RoleRefused {
                role: Role::from_code(REFUSAL, w0)?,
                tag: word_u16("tag", w1)?,
            },
            4 => Malformed {
                tag: word_u16("tag", w0)?,
            },
            5 => WrongCore {
                pg,
                core: word_u16("core", w0)?,
            },
            6 => NoSegment { pg },
            7 => SegmentExists {
                pg,
                page_size: u32::try_from(w0)
                    .ok()
                    .and_then(|b| PageSize::new(b).ok())
                    .ok_or(ProtoError::InvalidField {
                        message: REFUSAL,
                        field: "page_size",
                        got: w0,
                        rule: "must be a power of two in 4096..=65536",
                    })?,
                first_page: PageId::new(w1),
                page_count: w2,
            },
            8 => TooManySegments { pg, max: w0 },
            9 => StaleEpoch {
                pg,
                current: Epoch::new(w0),
            },
            10 => InvalidRecord { pg, lsn },
            11 => InTruncation {
                pg,
                lsn,
                start: Lsn::new(w1),
                end: Lsn::new(w2),
            },
            12 => AboveScl {
                pg,
                lsn,
                scl: Lsn::new(w1),
            },
            13 => BelowMinReadPoint {
                pg,
                lsn,
                min_read_point: Lsn::new(w1),
            },
            14 => Hole {
                pg,
                lsn,
                start: Lsn::new(w1),
                end: Lsn::new(w2),
            },
            15 => PageOutOfRange {
                pg,
                page: PageId::new(w0),
            },
            16 => Damaged {
                pg,
                page: PageId::new(w0),
                page_lsn: Lsn::new(w1),
            },
            17 => BelowMaterialized {
                pg,
                lsn,
                materialized: Lsn::new(w1),
            },
            18 => Backlogged { pg, waited_ms: w0 },
            19 => Busy { pg },
            20 => Failed,
            21 => ShuttingDown,
            got => {
                return Err(ProtoError::UnknownCode {
                    message: REFUSAL,
                    field: "reason",
                    got: got.into(),
                });
            }
        };
        // Whatever the reason did not read must be zero: re-encode and compare.
        let canonical = reason.raw();
        if canonical.pg != raw.pg {
            return Err(ProtoError::NonZeroReserved {
                message: REFUSAL,
                offset: 4,
            });
        }
        if let Some(i) = (0..3).find(|&i| canonical.words[i] != raw.words[i]) {
            return Err(ProtoError::NonZeroReserved {
                message: REFUSAL,
                offset: 8 + 8 * i,
            });
        }
        reason.check()?;
        Ok(reason)
    }

    fn check(&self) -> Result<()> {
        match *self {
            Reason::UnsupportedVersion { min, max } if min == 0 || min > max => {
                Err(ProtoError::InvalidField {
                    message: REFUSAL,
                    field: "min",
                    got: min.into(),
                    rule: "must be at least 1 and at most max",
                })
            }
            Reason::InTruncation { start, end, .. } | Reason::Hole { start, end, .. }
                if start >= end =>
            {
                Err(ProtoError::LsnOutOfOrder {
                    message: REFUSAL,
                    rule: "start < end",
                    left: start,
                    right: end,
                })
            }
            _ => Ok(()),
        }
    }
}

/// The error response: a reason and a text for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal<'a> {
    pub reason: Reason,
    /// At most `REFUSAL_TEXT_BYTES_MAX` bytes of UTF-8 (see [`clip_text`]).
    pub text: &'a str,
}

/// The longest prefix of `text` that fits a refusal, cut at a character boundary.
pub fn clip_text(text: &str) -> &str {
    if text.len() <= REFUSAL_TEXT_BYTES_MAX {
        return text;
    }
    let mut end = REFUSAL_TEXT_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl<'a> Refusal<'a> {
    pub(crate) fn check(&self) -> Result<()> {
        self.reason.check()?;
        check_text(REFUSAL, "text", self.text, 0, REFUSAL_TEXT_BYTES_MAX, false)
    }

    pub(crate) fn read(b: &mut Body<'a>) -> Result<Refusal<'a>> {
        let code = b.u16("reason")?;
        let text_len = b.u16("text_len")?;
        let text_len = b.bounded("text_len", text_len.into(), 0, REFUSAL_TEXT_BYTES_MAX)?;
        let pg = b.u32("pg")?;
        let words = [b.u64("word0")?, b.u64("word1")?, b.u64("word2")?];
        debug_assert_eq!(b.pos(), REFUSAL_FIXED);
        let reason = Reason::from_raw(Raw { code, pg, words })?;
        let text = utf8(REFUSAL, "text", b.bytes("text", text_len)?)?;
        Ok(Refusal { reason, text })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        let raw = self.reason.raw();
        out.put_u16(raw.code);
        // Bounded by check(): REFUSAL_TEXT_BYTES_MAX <= u16::MAX.
        out.put_u16(self.text.len() as u16);
        out.put_u32(raw.pg);
        for w in raw.words {
            out.put_u64(w);
        }
        out.extend_from_slice(self.text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(reason: Reason) {
        let r = Refusal {
            reason,
            text: "why",
        };
        let mut out = Vec::new();
        r.write(&mut out).unwrap();
        let mut b = Body::new(REFUSAL, &out);
        assert_eq!(Refusal::read(&mut b).unwrap(), r);
        b.finish().unwrap();
    }

    #[test]
    fn codes_are_dense_from_one_and_round_trip() {
        let pg = PgId::new(3);
        let lsn = Lsn::new(9);
        let all = [
            Reason::UnsupportedVersion { min: 1, max: 2 },
            Reason::HelloOrder,
            Reason::RoleRefused {
                role: Role::Peer,
                tag: 6,
            },
            Reason::Malformed { tag: 0 },
            Reason::WrongCore { pg, core: 1 },
            Reason::NoSegment { pg },
            Reason::SegmentExists {
                pg,
                page_size: PageSize::DEFAULT,
                first_page: PageId::new(128),
                page_count: 128,
            },
            Reason::TooManySegments { pg, max: 681 },
            Reason::StaleEpoch {
                pg,
                current: Epoch::new(4),
            },
            Reason::InvalidRecord { pg, lsn },
            Reason::InTruncation {
                pg,
                lsn,
                start: Lsn::new(5),
                end: Lsn::new(20),
            },
            Reason::AboveScl {
                pg,
                lsn,
                scl: Lsn::new(7),
            },
            Reason::BelowMinReadPoint {
                pg,
                lsn,
                min_read_point: Lsn::new(11),
            },
            Reason::Hole {
                pg,
                lsn,
                start: Lsn::new(5),
                end: Lsn::new(8),
            },
            Reason::PageOutOfRange {
                pg,
                page: PageId::new(1 << 40),
            },
            Reason::Damaged {
                pg,
                page: PageId::new(1),
                page_lsn: lsn,
            },
            Reason::BelowMaterialized {
                pg,
                lsn,
                materialized: Lsn::new(12),
            },
            Reason::Backlogged { pg, waited_ms: 250 },
            Reason::Busy { pg },
            Reason::Failed,
            Reason::ShuttingDown,
        ];
        for (i, reason) in all.into_iter().enumerate() {
            assert_eq!(usize::from(reason.code()), i + 1, "{reason:?}");
            round_trip(reason);
        }
    }

    #[test]
    fn unused_fields_and_unknown_codes_are_refused() {
        let mut out = Vec::new();
        Refusal {
            reason: Reason::Failed,
            text: "",
        }
        .write(&mut out)
        .unwrap();
        out[4] = 1; // pg of a reason without one
        assert_eq!(
            Refusal::read(&mut Body::new(REFUSAL, &out)).unwrap_err(),
            ProtoError::NonZeroReserved {
                message: REFUSAL,
                offset: 4
            }
        );
        out[4] = 0;
        out[0] = 0; // code 0
        assert!(matches!(
            Refusal::read(&mut Body::new(REFUSAL, &out)),
            Err(ProtoError::UnknownCode { got: 0, .. })
        ));
    }

    #[test]
    fn long_texts_are_clipped_at_a_character_boundary() {
        let long = "é".repeat(REFUSAL_TEXT_BYTES_MAX);
        let clipped = clip_text(&long);
        assert!(clipped.len() <= REFUSAL_TEXT_BYTES_MAX);
        assert_eq!(clipped.len(), REFUSAL_TEXT_BYTES_MAX);
        assert!(
            Refusal {
                reason: Reason::Failed,
                text: &long
            }
            .check()
            .is_err()
        );
        assert_eq!(clip_text("short"), "short");
    }
}
