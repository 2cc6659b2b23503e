//! Shared fixtures and proptest strategies for the protocol's behaviour tests.
//!
//! Messages borrow their variable parts, so the strategies leak the owned bytes they
//! generate (`Box::leak`) to build `Message<'static>`: a test process generates a few
//! thousand small messages, a few megabytes at most, and exits.

#![allow(dead_code)] // each test binary uses a different subset

use boreal_netlog::proto::*;
use boreal_segment::limits::{FRAME_HEADER_SIZE, PAGE_HEADER_SIZE};
use boreal_segment::{Change, Epoch, Lsn, NodeId, PageId, PageSize, PgId, Redo};
use proptest::prelude::*;

pub fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

pub fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Encodes `msg` as one frame.
pub fn frame_of(msg: &Message<'_>, request_id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    msg.encode(request_id, &mut out)
        .expect("a valid message encodes");
    out
}

/// The request id a message of this tag may carry in tests (any nonzero).
pub fn request_id_for(msg: &Message<'_>) -> u64 {
    7 + u64::from(msg.tag().get())
}

/// Recomputes both checksums of the frame at the front of `bytes`, setting its
/// `body_len` to the bytes after the header (what a hostile sender can always do).
pub fn reseal(bytes: &mut [u8]) {
    let body_len = (bytes.len() - FRAME_HEADER_SIZE) as u32;
    bytes[20..24].copy_from_slice(&body_len.to_le_bytes());
    let body = boreal_segment::checksum::crc32c(&bytes[FRAME_HEADER_SIZE..]);
    bytes[4..8].copy_from_slice(&body.to_le_bytes());
    let header = boreal_segment::checksum::crc32c(&bytes[4..FRAME_HEADER_SIZE]);
    bytes[..4].copy_from_slice(&header.to_le_bytes());
}

/// Decodes one whole frame (header, checksums, message).
pub fn decode_bytes(bytes: &[u8]) -> Result<Message<'_>, ProtoError> {
    let (frame, used) = boreal_segment::decode_frame(bytes)?;
    assert_eq!(used, bytes.len(), "the test hands over exactly one frame");
    Message::decode(frame)
}

/// A delta redo record of `pg` at `lsn` following `prev`.
pub fn redo(pg: u32, lsn: u64, prev: u64, bytes: &'static [u8]) -> Redo<'static> {
    Redo {
        lsn: Lsn::new(lsn),
        prev_lsn_pg: Lsn::new(prev),
        prev_lsn_page: Lsn::new(prev / 2),
        pg_id: PgId::new(pg),
        page_id: PageId::new(lsn % 7),
        cpl: lsn.is_multiple_of(3),
        change: Change::Delta {
            offset: (lsn % 100) as u32,
            bytes,
        },
    }
}

fn lsn() -> impl Strategy<Value = Lsn> {
    any::<u64>().prop_map(Lsn::new)
}

fn epoch() -> impl Strategy<Value = Epoch> {
    any::<u64>().prop_map(Epoch::new)
}

fn pg() -> impl Strategy<Value = PgId> {
    any::<u32>().prop_map(PgId::new)
}

fn page() -> impl Strategy<Value = PageId> {
    any::<u64>().prop_map(PageId::new)
}

pub fn page_size() -> impl Strategy<Value = PageSize> {
    prop::sample::select(vec![4096u32, 8192, 16384, 32768, 65536])
        .prop_map(|b| PageSize::new(b).unwrap())
}

/// Two LSNs `a < b`.
fn lsn_range() -> impl Strategy<Value = (Lsn, Lsn)> {
    (0..u64::MAX).prop_flat_map(|a| (Just(Lsn::new(a)), (a + 1..=u64::MAX).prop_map(Lsn::new)))
}

/// Redo records of `pg`, LSNs increasing from `base`, deltas and the odd image.
pub fn redos(
    pg: PgId,
    count: std::ops::Range<usize>,
) -> impl Strategy<Value = &'static [Redo<'static>]> {
    let one = (
        1u64..1000,
        any::<u64>(),
        any::<bool>(),
        prop::option::weighted(0.05, Just(())),
        0u32..2000,
        prop::collection::vec(any::<u8>(), 0..64),
    );
    (0u64..1 << 40, prop::collection::vec(one, count)).prop_map(move |(base, items)| {
        let mut prev = base;
        let out: Vec<Redo<'static>> = items
            .into_iter()
            .map(|(gap, page, cpl, image, offset, bytes)| {
                let lsn = prev + gap;
                let change = match image {
                    Some(()) => Change::Image(leak(vec![0xA5; 4096 - PAGE_HEADER_SIZE])),
                    None => Change::Delta {
                        offset,
                        bytes: leak(bytes),
                    },
                };
                let r = Redo {
                    lsn: Lsn::new(lsn),
                    prev_lsn_pg: Lsn::new(prev),
                    prev_lsn_page: Lsn::new(prev / 3),
                    pg_id: pg,
                    page_id: PageId::new(page),
                    cpl,
                    change,
                };
                prev = lsn;
                r
            })
            .collect();
        leak(out)
    })
}

pub fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Shim), Just(Role::Peer)]
}

pub fn reason() -> impl Strategy<Value = Reason> {
    use Reason::*;
    let small = prop_oneof![
        (1u16.., any::<u16>()).prop_map(|(a, b)| UnsupportedVersion {
            min: a.min(b.max(1)),
            max: a.max(b)
        }),
        Just(HelloOrder),
        (role(), any::<u16>()).prop_map(|(role, tag)| RoleRefused { role, tag }),
        any::<u16>().prop_map(|tag| Malformed { tag }),
        (pg(), any::<u16>()).prop_map(|(pg, core)| WrongCore { pg, core }),
        pg().prop_map(|pg| NoSegment { pg }),
        (pg(), page_size(), page(), any::<u64>()).prop_map(
            |(pg, page_size, first_page, page_count)| {
                SegmentExists {
                    pg,
                    page_size,
                    first_page,
                    page_count,
                }
            }
        ),
        (pg(), any::<u64>()).prop_map(|(pg, max)| TooManySegments { pg, max }),
        (pg(), epoch()).prop_map(|(pg, current)| StaleEpoch { pg, current }),
        (pg(), lsn()).prop_map(|(pg, lsn)| InvalidRecord { pg, lsn }),
        Just(Failed),
        Just(ShuttingDown),
    ];
    let lsns = prop_oneof![
        (pg(), lsn(), lsn_range()).prop_map(|(pg, lsn, (start, end))| InTruncation {
            pg,
            lsn,
            start,
            end
        }),
        (pg(), lsn(), lsn()).prop_map(|(pg, lsn, scl)| AboveScl { pg, lsn, scl }),
        (pg(), lsn(), lsn()).prop_map(|(pg, lsn, min_read_point)| BelowMinReadPoint {
            pg,
            lsn,
            min_read_point
        }),
        (pg(), lsn(), lsn_range()).prop_map(|(pg, lsn, (start, end))| Hole {
            pg,
            lsn,
            start,
            end
        }),
        (pg(), page()).prop_map(|(pg, page)| PageOutOfRange { pg, page }),
        (pg(), page(), lsn()).prop_map(|(pg, page, page_lsn)| Damaged { pg, page, page_lsn }),
        (pg(), lsn(), lsn()).prop_map(|(pg, lsn, materialized)| BelowMaterialized {
            pg,
            lsn,
            materialized
        }),
        (pg(), any::<u64>()).prop_map(|(pg, waited_ms)| Backlogged { pg, waited_ms }),
        pg().prop_map(|pg| Busy { pg }),
    ];
    prop_oneof![small, lsns]
}

fn hole() -> impl Strategy<Value = boreal_netlog::proto::Hole> {
    (lsn_range(), any::<bool>()).prop_map(|((start, end), reported)| boreal_netlog::proto::Hole {
        start,
        end,
        kind: if reported {
            HoleKind::Reported
        } else {
            HoleKind::Backlink
        },
    })
}

fn truncation_range() -> impl Strategy<Value = TruncationRange> {
    (epoch(), lsn_range()).prop_map(|(epoch, (start, end))| TruncationRange { epoch, start, end })
}

fn summaries() -> impl Strategy<Value = &'static [SegmentSummary]> {
    let one = (page_size(), epoch(), lsn(), lsn(), lsn());
    (
        prop::collection::btree_set(any::<u32>(), 0..12),
        prop::collection::vec(one, 12),
    )
        .prop_map(|(pgs, fields)| {
            let out: Vec<SegmentSummary> = pgs
                .into_iter()
                .zip(fields)
                .map(
                    |(pg, (page_size, epoch, a, b, min_read_point))| SegmentSummary {
                        pg: PgId::new(pg),
                        page_size,
                        epoch,
                        scl: a.max(b),
                        materialized_lsn: a.min(b),
                        min_read_point,
                    },
                )
                .collect();
            leak(out)
        })
}

/// Any valid message of any tag.
pub fn message() -> impl Strategy<Value = Message<'static>> {
    let hello = (1u16.., any::<u16>(), role(), any::<u32>()).prop_map(|(a, b, role, id)| {
        Message::Hello(Hello {
            version_min: a.min(b.max(1)),
            version_max: a.max(b),
            role,
            node_id: NodeId::new(if role == Role::Shim { 0 } else { id }),
        })
    });
    let hello_reply = (
        "[a-z0-9-]{1,20}|\\PC{1,16}",
        prop::collection::vec(1u16.., 1..8),
        any::<u32>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(az, ports, node, idx)| {
            let core_index = idx.index(ports.len()) as u16;
            Message::HelloReply(HelloReply {
                version: PROTOCOL_VERSION_MAX,
                node_id: NodeId::new(node),
                az: leak_str(az),
                pg_rule: PgRule::Modulo,
                core_index,
                ports: Seq::from_slice(leak(ports)),
            })
        });
    let refusal = (reason(), ".{0,100}").prop_map(|(reason, text)| {
        Message::Refusal(Refusal {
            reason,
            text: leak_str(text),
        })
    });
    let create = (epoch(), pg(), page_size(), any::<u64>(), 1u64..).prop_map(
        |(epoch, pg, page_size, first, count)| {
            Message::CreateSegment(CreateSegment {
                epoch,
                pg,
                page_size,
                first_page: PageId::new(first.min(u64::MAX - count)),
                page_count: count,
            })
        },
    );
    let created = (pg(), any::<bool>(), epoch(), lsn()).prop_map(|(pg, created, epoch, scl)| {
        Message::SegmentCreated(SegmentCreated {
            pg,
            created,
            epoch,
            scl,
        })
    });
    let append = (epoch(), pg()).prop_flat_map(|(epoch, pg)| {
        redos(pg, 1..12).prop_map(move |records| {
            Message::AppendBatch(AppendBatch {
                epoch,
                pg,
                records: Redos::from_slice(records),
            })
        })
    });
    let ack = (pg(), epoch(), lsn(), any::<u32>(), any::<u32>()).prop_map(
        |(pg, epoch, scl, accepted, duplicates)| {
            Message::AppendAck(AppendAck {
                pg,
                epoch,
                scl,
                accepted,
                duplicates,
            })
        },
    );
    let get_page = (pg(), page(), lsn()).prop_map(|(pg, page, read_point)| {
        Message::GetPage(GetPage {
            pg,
            page,
            read_point,
        })
    });
    let page_reply = (pg(), page(), lsn(), page_size(), any::<u8>()).prop_map(
        |(pg, page, page_lsn, size, fill)| {
            Message::PageReply(PageReply {
                pg,
                page,
                page_lsn,
                payload: leak(vec![fill; size.payload_len()]),
            })
        },
    );
    let control = prop_oneof![
        (pg(), epoch(), lsn()).prop_map(|(pg, epoch, min_read_point)| {
            Message::SetReadPoint(SetReadPoint {
                pg,
                epoch,
                min_read_point,
            })
        }),
        (pg(), lsn()).prop_map(|(pg, min_read_point)| {
            Message::ReadPointSet(ReadPointSet { pg, min_read_point })
        }),
        (pg(), epoch()).prop_map(|(pg, epoch)| Message::Fence(Fence { pg, epoch })),
        (pg(), epoch(), lsn()).prop_map(|(pg, epoch, scl)| Message::FenceAck(FenceAck {
            pg,
            epoch,
            scl
        })),
        (pg(), epoch(), lsn_range()).prop_map(|(pg, epoch, (start, end))| {
            Message::Truncate(Truncate {
                pg,
                epoch,
                start,
                end,
            })
        }),
        (pg(), epoch(), lsn()).prop_map(|(pg, epoch, scl)| Message::TruncateAck(TruncateAck {
            pg,
            epoch,
            scl
        })),
    ];
    let fetch = (
        pg(),
        lsn_range(),
        boreal_netlog::limits::FETCH_BYTE_LIMIT_MIN as u32
            ..=boreal_netlog::limits::RECORD_BATCH_BYTES_MAX as u32,
    )
        .prop_map(|(pg, (from, to), byte_limit)| {
            Message::FetchRecords(FetchRecords {
                pg,
                from,
                to,
                byte_limit,
            })
        });
    let fetched = (pg(), lsn(), any::<bool>()).prop_flat_map(|(pg, scl, more)| {
        redos(pg, 0..8).prop_map(move |records| {
            Message::FetchedRecords(FetchedRecords {
                pg,
                scl,
                more: more && !records.is_empty(),
                records: Redos::from_slice(records),
            })
        })
    });
    let status = (
        pg(),
        page_size(),
        epoch(),
        (lsn(), lsn(), lsn()),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        prop::collection::vec(hole(), 0..=16),
    )
        .prop_map(
            |(pg, page_size, epoch, (a, b, mrp), (bytes, age, hot), holes)| {
                Message::StatusReply(StatusReply {
                    pg,
                    page_size,
                    epoch,
                    scl: a.max(b),
                    materialized_lsn: a.min(b),
                    min_read_point: mrp,
                    backlog_bytes: bytes,
                    backlog_age_us: age,
                    hot_records: hot,
                    holes: Seq::from_slice(leak(holes)),
                })
            },
        );
    let core =
        (any::<u16>(), any::<bool>(), summaries()).prop_map(|(core_index, more, segments)| {
            Message::CoreStatusReply(CoreStatusReply {
                core_index,
                more: more && !segments.is_empty(),
                segments: Seq::from_slice(segments),
            })
        });
    let truncations =
        (pg(), prop::collection::vec(truncation_range(), 0..=12)).prop_map(|(pg, ranges)| {
            Message::TruncationsReply(TruncationsReply {
                pg,
                ranges: Seq::from_slice(leak(ranges)),
            })
        });
    let small = prop_oneof![
        pg().prop_map(|pg| Message::SegmentStatus(SegmentStatus { pg })),
        pg().prop_map(|first_pg| Message::CoreStatus(CoreStatus { first_pg })),
        pg().prop_map(|pg| Message::Truncations(Truncations { pg })),
    ];
    prop_oneof![
        hello,
        hello_reply,
        refusal,
        create,
        created,
        append,
        ack,
        get_page,
        page_reply,
        control,
        fetch,
        fetched,
        status,
        core,
        truncations,
        small
    ]
}

/// One small valid message of every tag, in tag order: the inputs of the exhaustive
/// corruption sweeps.
pub fn one_of_each() -> Vec<Message<'static>> {
    let pg = PgId::new(5);
    let records = leak(vec![redo(5, 10, 4, b"abcd"), redo(5, 12, 10, b"")]);
    let payload = leak(vec![0x5Au8; 4096 - PAGE_HEADER_SIZE]);
    let holes = leak(vec![
        boreal_netlog::proto::Hole {
            start: Lsn::new(20),
            end: Lsn::new(30),
            kind: HoleKind::Backlink,
        },
        boreal_netlog::proto::Hole {
            start: Lsn::new(40),
            end: Lsn::new(41),
            kind: HoleKind::Reported,
        },
    ]);
    let segments = leak(vec![
        SegmentSummary {
            pg: PgId::new(1),
            page_size: PageSize::DEFAULT,
            epoch: Epoch::new(2),
            scl: Lsn::new(100),
            materialized_lsn: Lsn::new(90),
            min_read_point: Lsn::new(95),
        },
        SegmentSummary {
            pg: PgId::new(3),
            page_size: PageSize::DEFAULT,
            epoch: Epoch::new(2),
            scl: Lsn::new(7),
            materialized_lsn: Lsn::new(7),
            min_read_point: Lsn::new(0),
        },
    ]);
    let msgs = vec![
        Message::Hello(Hello::peer(NodeId::new(3))),
        Message::HelloReply(HelloReply {
            version: 1,
            node_id: NodeId::new(3),
            az: "az-b",
            pg_rule: PgRule::Modulo,
            core_index: 1,
            ports: Seq::from_slice(leak(vec![7100, 7101])),
        }),
        Message::Refusal(Refusal {
            reason: Reason::AboveScl {
                pg,
                lsn: Lsn::new(900),
                scl: Lsn::new(850),
            },
            text: "read above scl",
        }),
        Message::CreateSegment(CreateSegment {
            epoch: Epoch::new(1),
            pg,
            page_size: PageSize::DEFAULT,
            first_page: PageId::new(640),
            page_count: 128,
        }),
        Message::SegmentCreated(SegmentCreated {
            pg,
            created: true,
            epoch: Epoch::new(1),
            scl: Lsn::ZERO,
        }),
        Message::AppendBatch(AppendBatch {
            epoch: Epoch::new(1),
            pg,
            records: Redos::from_slice(records),
        }),
        Message::AppendAck(AppendAck {
            pg,
            epoch: Epoch::new(1),
            scl: Lsn::new(12),
            accepted: 2,
            duplicates: 0,
        }),
        Message::GetPage(GetPage {
            pg,
            page: PageId::new(641),
            read_point: Lsn::new(12),
        }),
        Message::PageReply(PageReply {
            pg,
            page: PageId::new(641),
            page_lsn: Lsn::new(10),
            payload,
        }),
        Message::SetReadPoint(SetReadPoint {
            pg,
            epoch: Epoch::new(1),
            min_read_point: Lsn::new(10),
        }),
        Message::ReadPointSet(ReadPointSet {
            pg,
            min_read_point: Lsn::new(10),
        }),
        Message::Fence(Fence {
            pg,
            epoch: Epoch::new(2),
        }),
        Message::FenceAck(FenceAck {
            pg,
            epoch: Epoch::new(2),
            scl: Lsn::new(12),
        }),
        Message::Truncate(Truncate {
            pg,
            epoch: Epoch::new(2),
            start: Lsn::new(12),
            end: Lsn::new(1012),
        }),
        Message::TruncateAck(TruncateAck {
            pg,
            epoch: Epoch::new(2),
            scl: Lsn::new(12),
        }),
        Message::FetchRecords(FetchRecords {
            pg,
            from: Lsn::new(4),
            to: Lsn::new(12),
            byte_limit: boreal_netlog::limits::FETCH_BYTE_LIMIT_MIN as u32,
        }),
        Message::FetchedRecords(FetchedRecords {
            pg,
            scl: Lsn::new(12),
            more: true,
            records: Redos::from_slice(records),
        }),
        Message::SegmentStatus(SegmentStatus { pg }),
        Message::StatusReply(StatusReply {
            pg,
            page_size: PageSize::DEFAULT,
            epoch: Epoch::new(2),
            scl: Lsn::new(12),
            materialized_lsn: Lsn::new(4),
            min_read_point: Lsn::new(10),
            backlog_bytes: 4096,
            backlog_age_us: 1500,
            hot_records: 2,
            holes: Seq::from_slice(holes),
        }),
        Message::CoreStatus(CoreStatus {
            first_pg: PgId::new(0),
        }),
        Message::CoreStatusReply(CoreStatusReply {
            core_index: 0,
            more: false,
            segments: Seq::from_slice(segments),
        }),
        Message::Truncations(Truncations { pg }),
        Message::TruncationsReply(TruncationsReply {
            pg,
            ranges: Seq::from_slice(leak(vec![
                TruncationRange {
                    epoch: Epoch::new(1),
                    start: Lsn::new(12),
                    end: Lsn::new(1012),
                },
                TruncationRange {
                    epoch: Epoch::new(2),
                    start: Lsn::new(1500),
                    end: Lsn::new(2500),
                },
            ])),
        }),
    ];
    assert_eq!(msgs.len(), Tag::ALL.len());
    for (m, tag) in msgs.iter().zip(Tag::ALL) {
        assert_eq!(m.tag(), tag);
    }
    msgs
}
