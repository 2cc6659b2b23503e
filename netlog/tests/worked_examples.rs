//! Behaviour: the worked examples of `PROTOCOL.md` are the bytes this build sends.
//! Each example's hex dump is in the doc; this test holds the same dump, so a change
//! of layout fails here until the doc is changed with it.

use boreal_netlog::proto::*;
use boreal_segment::{Change, Epoch, Lsn, NodeId, PageId, PgId, Redo};

/// `bytes` as the doc prints them: offset, then 16 bytes per line in hex.
fn dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, line)| {
            let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}  {}\n", i * 16, hex.join(" "))
        })
        .collect()
}

fn encoded(msg: Message<'_>, request_id: u64) -> String {
    let mut out = Vec::new();
    msg.encode(request_id, &mut out).unwrap();
    dump(&out)
}

/// Compares a dump with the doc's; `PRINT_EXAMPLES=1` prints it instead (to paste into
/// both places after a deliberate layout change).
fn check(name: &str, got: &str, expected: &str) {
    if std::env::var_os("PRINT_EXAMPLES").is_some() {
        println!("{name}:\n{got}");
        return;
    }
    assert_eq!(got, expected, "{name}");
}

#[test]
fn hello_exchange() {
    let hello = encoded(Message::Hello(Hello::shim()), 1);
    check(
        "Hello",
        &hello,
        "\
0000  8a 37 2e 24 62 16 0a d5 42 52 4c 46 01 00 01 00
0010  00 00 00 00 10 00 00 00 01 00 00 00 00 00 00 00
0020  01 00 01 00 01 00 00 00 00 00 00 00 00 00 00 00
",
    );
    let ports = [7100u16, 7101];
    let reply = encoded(
        Message::HelloReply(HelloReply {
            version: 1,
            node_id: NodeId::new(3),
            az: "az-b",
            pg_rule: PgRule::Modulo,
            core_index: 0,
            ports: Seq::from_slice(&ports),
        }),
        1,
    );
    check(
        "HelloReply",
        &reply,
        "\
0000  b7 35 ae 0b 07 e0 87 65 42 52 4c 46 01 00 02 00
0010  00 00 00 00 18 00 00 00 01 00 00 00 00 00 00 00
0020  01 00 01 04 02 00 00 00 03 00 00 00 00 00 00 00
0030  61 7a 2d 62 bc 1b bd 1b
",
    );
}

#[test]
fn an_append_and_its_ack() {
    let record = Redo {
        lsn: Lsn::new(100),
        prev_lsn_pg: Lsn::new(90),
        prev_lsn_page: Lsn::new(40),
        pg_id: PgId::new(5),
        page_id: PageId::new(641),
        cpl: true,
        change: Change::Delta {
            offset: 16,
            bytes: b"hello",
        },
    };
    let mut out = Vec::new();
    let mut enc = AppendEncoder::new(&mut out, Epoch::new(2), PgId::new(5));
    enc.push(&record).unwrap();
    enc.finish(7).unwrap();
    let records = [record];
    let append = encoded(
        Message::AppendBatch(AppendBatch {
            epoch: Epoch::new(2),
            pg: PgId::new(5),
            records: Redos::from_slice(&records),
        }),
        7,
    );
    assert_eq!(dump(&out), append);
    check(
        "AppendBatch",
        &append,
        "\
0000  a2 78 c9 25 6e 27 9f 82 42 52 4c 46 01 00 06 00
0010  00 00 00 00 4d 00 00 00 07 00 00 00 00 00 00 00
0020  02 00 00 00 00 00 00 00 05 00 00 00 01 00 00 00
0030  ef 06 96 5e 4c bb 71 9a 01 01 00 00 05 00 00 00
0040  05 00 00 00 10 00 00 00 64 00 00 00 00 00 00 00
0050  5a 00 00 00 00 00 00 00 28 00 00 00 00 00 00 00
0060  81 02 00 00 00 00 00 00 68 65 6c 6c 6f
",
    );
    let ack = encoded(
        Message::AppendAck(AppendAck {
            pg: PgId::new(5),
            epoch: Epoch::new(2),
            scl: Lsn::new(100),
            accepted: 1,
            duplicates: 0,
        }),
        7,
    );
    check(
        "AppendAck",
        &ack,
        "\
0000  d5 5e 40 7a b2 6f 50 34 42 52 4c 46 01 00 07 00
0010  00 00 00 00 20 00 00 00 07 00 00 00 00 00 00 00
0020  05 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00
0030  02 00 00 00 00 00 00 00 64 00 00 00 00 00 00 00
",
    );
}

#[test]
fn a_read_above_the_scl_is_refused() {
    let get = encoded(
        Message::GetPage(GetPage {
            pg: PgId::new(5),
            page: PageId::new(641),
            read_point: Lsn::new(120),
        }),
        8,
    );
    check(
        "GetPage",
        &get,
        "\
0000  f3 a3 c8 2b 7b d8 3e 81 42 52 4c 46 01 00 08 00
0010  00 00 00 00 18 00 00 00 08 00 00 00 00 00 00 00
0020  05 00 00 00 00 00 00 00 81 02 00 00 00 00 00 00
0030  78 00 00 00 00 00 00 00
",
    );
    let refusal = encoded(
        Message::Refusal(Refusal {
            reason: Reason::AboveScl {
                pg: PgId::new(5),
                lsn: Lsn::new(120),
                scl: Lsn::new(100),
            },
            text: "read point above scl",
        }),
        8,
    );
    check(
        "Refusal",
        &refusal,
        "\
0000  0b c7 2f 08 26 24 45 66 42 52 4c 46 01 00 03 00
0010  00 00 00 00 34 00 00 00 08 00 00 00 00 00 00 00
0020  0c 00 14 00 05 00 00 00 78 00 00 00 00 00 00 00
0030  64 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0040  72 65 61 64 20 70 6f 69 6e 74 20 61 62 6f 76 65
0050  20 73 63 6c
",
    );
}
