//! The message registry: every frame tag, who may send it, and the PG → core rule.
//!
//! This module owns the numbers that never change meaning: a tag, once registered, is
//! never given to another message (a retired one keeps its row in `PROTOCOL.md`
//! forever), and tag 0 is never valid (a zeroed frame is not a message). It also owns
//! the two policies both ends must agree on and so must exist exactly once: which role
//! may send which request ([`Role::may_send`]) and which core of a node owns a PG
//! ([`PgRule::core_of`]).

use boreal_segment::PgId;

use super::error::{ProtoError, Result};

/// A message tag (the `tag` field of the frame header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Tag {
    Hello = 1,
    HelloReply = 2,
    Refusal = 3,
    CreateSegment = 4,
    SegmentCreated = 5,
    AppendBatch = 6,
    AppendAck = 7,
    GetPage = 8,
    PageReply = 9,
    SetReadPoint = 10,
    ReadPointSet = 11,
    Fence = 12,
    FenceAck = 13,
    Truncate = 14,
    TruncateAck = 15,
    FetchRecords = 16,
    FetchedRecords = 17,
    SegmentStatus = 18,
    StatusReply = 19,
    CoreStatus = 20,
    CoreStatusReply = 21,
    Truncations = 22,
    TruncationsReply = 23,
}

impl Tag {
    /// Every registered tag, in tag order.
    pub const ALL: [Tag; 23] = [
        Tag::Hello,
        Tag::HelloReply,
        Tag::Refusal,
        Tag::CreateSegment,
        Tag::SegmentCreated,
        Tag::AppendBatch,
        Tag::AppendAck,
        Tag::GetPage,
        Tag::PageReply,
        Tag::SetReadPoint,
        Tag::ReadPointSet,
        Tag::Fence,
        Tag::FenceAck,
        Tag::Truncate,
        Tag::TruncateAck,
        Tag::FetchRecords,
        Tag::FetchedRecords,
        Tag::SegmentStatus,
        Tag::StatusReply,
        Tag::CoreStatus,
        Tag::CoreStatusReply,
        Tag::Truncations,
        Tag::TruncationsReply,
    ];

    /// The tag with number `tag`.
    pub fn from_u16(tag: u16) -> Result<Tag> {
        // Not `ok_or`: the error would be built, and dropped, for every frame.
        match Tag::ALL.get(usize::from(tag).wrapping_sub(1)) {
            Some(&t) => Ok(t),
            None => Err(ProtoError::UnknownTag { tag }),
        }
    }

    /// The number on the wire.
    pub fn get(self) -> u16 {
        self as u16
    }

    /// The registry name (used in errors and logs).
    pub fn name(self) -> &'static str {
        match self {
            Tag::Hello => "Hello",
            Tag::HelloReply => "HelloReply",
            Tag::Refusal => "Refusal",
            Tag::CreateSegment => "CreateSegment",
            Tag::SegmentCreated => "SegmentCreated",
            Tag::AppendBatch => "AppendBatch",
            Tag::AppendAck => "AppendAck",
            Tag::GetPage => "GetPage",
            Tag::PageReply => "PageReply",
            Tag::SetReadPoint => "SetReadPoint",
            Tag::ReadPointSet => "ReadPointSet",
            Tag::Fence => "Fence",
            Tag::FenceAck => "FenceAck",
            Tag::Truncate => "Truncate",
            Tag::TruncateAck => "TruncateAck",
            Tag::FetchRecords => "FetchRecords",
            Tag::FetchedRecords => "FetchedRecords",
            Tag::SegmentStatus => "SegmentStatus",
            Tag::StatusReply => "StatusReply",
            Tag::CoreStatus => "CoreStatus",
            Tag::CoreStatusReply => "CoreStatusReply",
            Tag::Truncations => "Truncations",
            Tag::TruncationsReply => "TruncationsReply",
        }
    }

    /// The reply a request gets when it is not refused; `None` for a response.
    pub fn reply(self) -> Option<Tag> {
        match self {
            Tag::Hello => Some(Tag::HelloReply),
            Tag::CreateSegment => Some(Tag::SegmentCreated),
            Tag::AppendBatch => Some(Tag::AppendAck),
            Tag::GetPage => Some(Tag::PageReply),
            Tag::SetReadPoint => Some(Tag::ReadPointSet),
            Tag::Fence => Some(Tag::FenceAck),
            Tag::Truncate => Some(Tag::TruncateAck),
            Tag::FetchRecords => Some(Tag::FetchedRecords),
            Tag::SegmentStatus => Some(Tag::StatusReply),
            Tag::CoreStatus => Some(Tag::CoreStatusReply),
            Tag::Truncations => Some(Tag::TruncationsReply),
            Tag::HelloReply
            | Tag::Refusal
            | Tag::SegmentCreated
            | Tag::AppendAck
            | Tag::PageReply
            | Tag::ReadPointSet
            | Tag::FenceAck
            | Tag::TruncateAck
            | Tag::FetchedRecords
            | Tag::StatusReply
            | Tag::CoreStatusReply
            | Tag::TruncationsReply => None,
        }
    }

    /// Sent by a client (shim or peer) to a node.
    pub fn is_request(self) -> bool {
        self.reply().is_some()
    }

    /// A request that changes a segment: its response is ordered with the other
    /// changes of the same PG on one connection (`PROTOCOL.md`, "Pipelining").
    pub fn changes_segment(self) -> bool {
        matches!(
            self,
            Tag::CreateSegment | Tag::AppendBatch | Tag::SetReadPoint | Tag::Fence | Tag::Truncate
        )
    }
}

/// What a client says it is in `Hello`. Until links carry certificates (DESIGN §4) the
/// role is the client's word; the node enforces [`Role::may_send`] on it either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// The compute-side quorum shim: writes, reads, fences, truncates.
    Shim = 1,
    /// Another storage node of the same PGs: fetches records for repair, reads.
    Peer = 2,
}

impl Role {
    /// The role with code `code`.
    pub fn from_code(message: &'static str, code: u64) -> Result<Role> {
        match code {
            1 => Ok(Role::Shim),
            2 => Ok(Role::Peer),
            got => Err(ProtoError::UnknownCode {
                message,
                field: "role",
                got,
            }),
        }
    }

    /// The code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether a client of this role may send request `tag` (DESIGN §4: only a shim
    /// changes segments; only a node fetches records for repair; both may read).
    /// Responses are never sent by a client.
    pub fn may_send(self, tag: Tag) -> bool {
        match tag {
            // Reads. A shim fetches records too: volume recovery reads what every
            // segment holds above the base (`quorum::recovery`).
            Tag::Hello
            | Tag::GetPage
            | Tag::SegmentStatus
            | Tag::CoreStatus
            | Tag::Truncations
            | Tag::FetchRecords => true,
            Tag::CreateSegment
            | Tag::AppendBatch
            | Tag::SetReadPoint
            | Tag::Fence
            | Tag::Truncate => self == Role::Shim,
            _ => false,
        }
    }
}

/// How a node's PGs are spread over its cores, announced in `HelloReply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PgRule {
    /// `core = pg_id mod core_count`. PGs are consecutive page ranges, so neighbouring
    /// (often equally hot) ranges land on different cores; the shim computes the owner
    /// with no table to fetch or keep in sync. The price: `core_count` is fixed for the
    /// life of a node's data (each core's segments live in that core's directory), so a
    /// node must refuse to start with another core count than its data was made with.
    Modulo = 1,
}

impl PgRule {
    /// The rule with code `code`.
    pub fn from_code(message: &'static str, code: u8) -> Result<PgRule> {
        match code {
            1 => Ok(PgRule::Modulo),
            got => Err(ProtoError::UnknownCode {
                message,
                field: "pg_rule",
                got: got.into(),
            }),
        }
    }

    /// The code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The core (`0..core_count`) that owns `pg`.
    ///
    /// # Panics
    ///
    /// If `core_count` is 0 (a decoded `HelloReply` never has 0 cores).
    pub fn core_of(self, pg: PgId, core_count: u16) -> u16 {
        assert!(core_count > 0, "a node has at least one core");
        match self {
            // The remainder is below `core_count`, a u16.
            PgRule::Modulo => (pg.get() % u32::from(core_count)) as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_numbers_are_dense_from_one_and_round_trip() {
        for (i, tag) in Tag::ALL.iter().enumerate() {
            assert_eq!(usize::from(tag.get()), i + 1);
            assert_eq!(Tag::from_u16(tag.get()).unwrap(), *tag);
        }
        assert_eq!(
            Tag::from_u16(0).unwrap_err(),
            ProtoError::UnknownTag { tag: 0 }
        );
        assert!(Tag::from_u16(24).is_err());
        assert!(Tag::from_u16(u16::MAX).is_err());
    }

    #[test]
    fn every_request_has_a_reply_that_is_a_response() {
        let requests: Vec<Tag> = Tag::ALL.into_iter().filter(|t| t.is_request()).collect();
        assert_eq!(requests.len(), 11);
        for t in requests {
            let reply = t.reply().unwrap();
            assert!(!reply.is_request(), "{t:?} -> {reply:?}");
            assert_eq!(reply.get(), t.get() + 1, "a reply follows its request");
        }
        assert!(!Tag::Refusal.is_request());
    }

    #[test]
    fn roles_split_writes_from_repair() {
        assert!(Role::Shim.may_send(Tag::AppendBatch));
        assert!(!Role::Peer.may_send(Tag::AppendBatch));
        assert!(!Role::Peer.may_send(Tag::Truncate));
        assert!(Role::Peer.may_send(Tag::FetchRecords));
        assert!(Role::Shim.may_send(Tag::FetchRecords));
        for role in [Role::Shim, Role::Peer] {
            assert!(role.may_send(Tag::GetPage));
            assert!(
                role.may_send(Tag::Truncations),
                "a read, like SegmentStatus"
            );
            for t in Tag::ALL.into_iter().filter(|t| !t.is_request()) {
                assert!(!role.may_send(t), "{role:?} may not send response {t:?}");
            }
        }
    }

    #[test]
    fn modulo_rule_spreads_consecutive_pgs() {
        let owners: Vec<u16> = (0..6)
            .map(|pg| PgRule::Modulo.core_of(PgId::new(pg), 4))
            .collect();
        assert_eq!(owners, [0, 1, 2, 3, 0, 1]);
        assert_eq!(PgRule::Modulo.core_of(PgId::new(u32::MAX), 1), 0);
        assert_eq!(PgRule::from_code("m", 1).unwrap(), PgRule::Modulo);
        assert!(PgRule::from_code("m", 0).is_err());
    }
}
