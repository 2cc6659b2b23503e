//! Behaviour: every message decodes to exactly what was encoded, borrowing from the
//! frame, and re-encodes to the same bytes (one encoding per message).

mod common;

use boreal_netlog::proto::{Message, Tag};
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn every_message_round_trips_canonically(msg in message(), request_id in 1u64..) {
        let mut out = vec![0xEE; 3]; // encoding appends after what the buffer holds
        let header = msg.encode(request_id, &mut out).unwrap();
        prop_assert_eq!(&out[..3], &[0xEE; 3]);
        let bytes = &out[3..];
        prop_assert_eq!(header.frame_len(), bytes.len());
        let (frame, used) = boreal_segment::decode_frame(bytes).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(frame.header, header);
        prop_assert_eq!(frame.header.request_id, request_id);
        let back = Message::decode(frame).unwrap();
        prop_assert_eq!(back, msg);
        let mut again = Vec::new();
        back.encode(request_id, &mut again).unwrap();
        prop_assert_eq!(&again[..], bytes);
        // Direction-checked decoding agrees with the registry.
        prop_assert_eq!(Message::decode_request(frame).is_ok(), msg.is_request());
        prop_assert_eq!(Message::decode_response(frame).is_ok(), !msg.is_request());
    }
}

#[test]
fn the_strategy_reaches_every_tag() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut seen = std::collections::BTreeSet::new();
    let strategy = message();
    let mut runner = TestRunner::deterministic();
    for _ in 0..4000 {
        seen.insert(strategy.new_tree(&mut runner).unwrap().current().tag());
    }
    let missing: Vec<Tag> = Tag::ALL.into_iter().filter(|t| !seen.contains(t)).collect();
    assert!(missing.is_empty(), "strategy never produced {missing:?}");
}

#[test]
fn one_of_each_round_trips() {
    for msg in one_of_each() {
        let bytes = frame_of(&msg, request_id_for(&msg));
        assert_eq!(decode_bytes(&bytes).unwrap(), msg, "{:?}", msg.tag());
    }
}
