//! Writes one valid encoding of each format into `corpus/<target>/`, so the fuzzer
//! starts from inputs that pass every check instead of having to discover magics and
//! checksums. Each seed starts with the mode byte (0: decode as is).

use std::fs;
use std::path::Path;

use boreal_segment::{
    Alignment, BatchBuilder, BatchPlace, BatchSeq, Change, Epoch, Generation, JournalFileHeader,
    JournalFileId, JournalVersion, Lsn, PageId, PageSize, PgId, Record, Redo, SegmentMeta,
    Truncate, encode_frame, seal_page,
};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    let mut seed = vec![0u8];
    seed.extend_from_slice(bytes);
    fs::write(dir.join(name), seed).expect("write seed");
}

fn main() {
    let meta = SegmentMeta {
        pg_id: PgId::new(3),
        epoch: Epoch::new(2),
        materialized_lsn: Lsn::new(10),
        scl: Lsn::new(20),
        sequence: 1,
        page_size: PageSize::DEFAULT,
    };
    let image = vec![0x11u8; 4096 - 32];
    let records = [
        Record::Redo(Redo {
            lsn: Lsn::new(21),
            prev_lsn_pg: Lsn::new(20),
            prev_lsn_page: Lsn::new(5),
            pg_id: PgId::new(3),
            page_id: PageId::new(77),
            cpl: true,
            change: Change::Delta {
                offset: 8,
                bytes: b"delta bytes",
            },
        }),
        Record::Redo(Redo {
            lsn: Lsn::new(22),
            prev_lsn_pg: Lsn::new(21),
            prev_lsn_page: Lsn::ZERO,
            pg_id: PgId::new(3),
            page_id: PageId::new(78),
            cpl: false,
            change: Change::Image(&image),
        }),
        Record::Truncate(Truncate {
            pg_id: PgId::new(3),
            epoch: Epoch::new(2),
            start: Lsn::new(22),
            end: Lsn::new(100),
        }),
        Record::SegmentMeta(meta),
    ];
    for (i, record) in records.iter().enumerate() {
        let mut bytes = Vec::new();
        record.encode_to_vec(&mut bytes).expect("valid record");
        write("record", &format!("seed-{i}"), &bytes);
    }
    let batches = [
        (512u32, JournalVersion::V2),
        (4096, JournalVersion::V2),
        (4096, JournalVersion::V1),
    ];
    for (i, (alignment, version)) in batches.into_iter().enumerate() {
        let place = BatchPlace {
            file_id: JournalFileId::new(1),
            generation: Generation::new(1),
            alignment: Alignment::new(alignment).expect("valid"),
            file_offset: 4096,
            version,
        };
        let mut buf = vec![0u8; 8192];
        let mut builder = BatchBuilder::new(&mut buf, place, BatchSeq::new(9)).expect("valid");
        for record in records.iter().filter(|r| r.body_len() < 1000) {
            builder.push(record).expect("fits");
        }
        let len = builder.seal().padded_len();
        write("batch", &format!("seed-{i}"), &buf[..len]);
    }
    let file = JournalFileHeader {
        version: JournalVersion::CURRENT,
        file_id: JournalFileId::new(1),
        generation: Generation::new(1),
        alignment: Alignment::JOURNAL,
        file_size: 1 << 20,
    };
    write(
        "journal_file_header",
        "seed-0",
        &file.to_vec().expect("valid"),
    );
    let mut page = vec![0x22u8; 4096];
    seal_page(&mut page, PageId::new(5), Lsn::new(9)).expect("valid");
    write("page", "seed-0", &page);
    write("segment_meta", "seed-0", &meta.encode());
    let mut frame = Vec::new();
    encode_frame(1, 7, b"frame body", &mut frame).expect("valid");
    write("frame", "seed-0", &frame);
    netlog_seeds(&records);
}

/// A few valid frames of `boreal-netlog` messages, alone and as one stream.
fn netlog_seeds(records: &[Record<'_>]) {
    use boreal_netlog::proto::{
        AppendEncoder, Hello, Hole, HoleKind, Message, Reason, Refusal, Seq, StatusReply,
        TruncationRange, TruncationsReply,
    };
    let mut stream = Vec::new();
    let one = |name: &str, msg: Message<'_>, stream: &mut Vec<u8>| {
        let mut frame = Vec::new();
        msg.encode(1, &mut frame).expect("valid message");
        write("netlog_message", name, &frame);
        stream.extend_from_slice(&frame);
    };
    one("hello", Message::Hello(Hello::shim()), &mut stream);
    let refusal = Refusal {
        reason: Reason::Hole {
            pg: PgId::new(3),
            lsn: Lsn::new(30),
            start: Lsn::new(22),
            end: Lsn::new(28),
        },
        text: "needs missing records",
    };
    one("refusal", Message::Refusal(refusal), &mut stream);
    let holes = [Hole {
        start: Lsn::new(22),
        end: Lsn::new(28),
        kind: HoleKind::Backlink,
    }];
    let status = StatusReply {
        pg: PgId::new(3),
        page_size: PageSize::DEFAULT,
        epoch: Epoch::new(2),
        scl: Lsn::new(22),
        materialized_lsn: Lsn::new(10),
        min_read_point: Lsn::new(20),
        backlog_bytes: 300,
        backlog_age_us: 40,
        hot_records: 2,
        holes: Seq::from_slice(&holes),
    };
    one("status", Message::StatusReply(status), &mut stream);
    let ranges = [TruncationRange {
        epoch: Epoch::new(2),
        start: Lsn::new(22),
        end: Lsn::new(1022),
    }];
    let truncations = TruncationsReply {
        pg: PgId::new(3),
        ranges: Seq::from_slice(&ranges),
    };
    one(
        "truncations",
        Message::TruncationsReply(truncations),
        &mut stream,
    );
    let mut append = Vec::new();
    let mut enc = AppendEncoder::new(&mut append, Epoch::new(2), PgId::new(3));
    for record in records {
        if let Record::Redo(r) = record {
            enc.push(r).expect("fits");
        }
    }
    enc.finish(2).expect("valid batch");
    write("netlog_message", "append", &append);
    stream.extend_from_slice(&append);
    // The frame reader's first input byte (after the mode) is the piece size.
    let mut reader = vec![61u8];
    reader.extend_from_slice(&stream);
    write("netlog_frame_reader", "stream", &reader);
}
