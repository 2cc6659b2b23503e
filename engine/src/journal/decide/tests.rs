use super::*;

/// A reason a region is damaged (its wording does not matter to the decisions).
fn why(what: &'static str) -> FormatError {
    FormatError::Checksum {
        what,
        stored: 0,
        computed: 1,
    }
}

const KINDS: [RegionKind; 5] = [Valid, Torn, Zeros, Stale, Garbage];
const POSITIONS: [Position; 2] = [BeforeTail, Tail];
const EVIDENCE: [Evidence; 7] = [
    Nothing,
    Contiguous,
    SeqGap,
    LaterSeq,
    Superseded,
    Landed,
    PredecessorCut,
];

#[test]
fn table_is_complete_unambiguous_and_never_cuts_acknowledged_data() {
    let mut possible = 0;
    for kind in KINDS {
        for position in POSITIONS {
            for evidence in EVIDENCE {
                let obs = Observation {
                    kind,
                    position,
                    evidence,
                };
                let rows: Vec<_> = RECOVERY_CASES
                    .iter()
                    .filter(|c| {
                        c.kinds.contains(&kind)
                            && c.positions.contains(&position)
                            && c.evidence.contains(&evidence)
                    })
                    .collect();
                assert_eq!(rows.len(), 1, "{obs:?} matches {} rows", rows.len());
                let action = rows[0].action;
                // Consistency: nothing proven (or, landed, maybe) acknowledged is ever
                // cut or skipped.
                if matches!(evidence, Contiguous | SeqGap | LaterSeq | Landed) {
                    assert!(
                        matches!(action, Missing | Impossible),
                        "{obs:?} -> {action:?}"
                    );
                }
                // Only the tail is cut, and only valid batches are replayed.
                assert!(action != Cut || position == Tail, "{obs:?}");
                assert!(action != Accept || kind == Valid, "{obs:?}");
                // Missing at the tail only for the last write, landed and damaged.
                assert!(
                    action != Missing || position == BeforeTail || evidence == Landed,
                    "{obs:?}"
                );
                if action != Impossible {
                    possible += 1;
                }
            }
        }
    }
    assert_eq!(
        possible, 22,
        "the number of reachable situations changed: update the docs"
    );
    // Every row is used by at least one situation and explains itself.
    for c in RECOVERY_CASES {
        assert!(!c.kinds.is_empty() && !c.positions.is_empty() && !c.evidence.is_empty());
        assert!(!c.why.is_empty());
    }
}

#[test]
fn missing_table_is_complete_and_only_known_redo_becomes_a_hole() {
    for contents in [
        MissingContents::RedoOnly,
        MissingContents::MayHoldControl,
        MissingContents::Unknown,
    ] {
        for lsns_known in [false, true] {
            let rows = MISSING_CASES
                .iter()
                .filter(|c| c.contents == contents && c.lsns_known == lsns_known)
                .count();
            assert_eq!(rows, 1, "{contents:?} lsns_known={lsns_known}: {rows} rows");
        }
    }
    for c in MISSING_CASES {
        assert!(!c.why.is_empty());
        assert_eq!(
            c.action == MissingAction::Hole,
            c.contents == MissingContents::RedoOnly && c.lsns_known,
            "{c:?}"
        );
    }
}

fn valid(offset: u64, seq: u64, batch: usize) -> Item {
    Item {
        offset,
        len: 4096,
        seen: Seen::Valid {
            seq: BatchSeq::new(seq),
            batch,
            window: 0,
            repaired: false,
        },
    }
}
/// `it` with the `PIPELINED` flag set (a window of one batch).
fn pipelined(it: Item) -> Item {
    with_window(it, 1)
}
/// `it` written while `k` batches before it may have been in flight.
fn with_window(mut it: Item, k: u8) -> Item {
    match &mut it.seen {
        Seen::Valid { window, .. } | Seen::Torn { window, .. } => *window = k,
        _ => panic!("only a header carries a window"),
    }
    it
}
fn torn(offset: u64, seq: u64) -> Item {
    Item {
        offset,
        len: 4096,
        seen: Seen::Torn {
            seq: BatchSeq::new(seq),
            first_lsn: Lsn::new(5),
            last_lsn: Lsn::new(9),
            redo_only: true,
            complete: false,
            window: 0,
            repaired: false,
            reason: why("batch body"),
        },
    }
}
/// A torn batch whose write landed in full (every sector carries its stamp).
fn landed(offset: u64, seq: u64) -> Item {
    let mut it = torn(offset, seq);
    if let Seen::Torn { complete, .. } = &mut it.seen {
        *complete = true;
    }
    it
}
fn garbage(offset: u64, len: u64) -> Item {
    Item {
        offset,
        len,
        seen: Seen::Garbage {
            reason: why("batch header"),
            stamp: None,
            sectors: None,
        },
    }
}
fn zeros(offset: u64, len: u64) -> Item {
    Item {
        offset,
        len,
        seen: Seen::Zeros,
    }
}
fn file(id: u64, items: Vec<Item>) -> FileItems {
    FileItems {
        file: JournalFileId::new(id),
        items,
    }
}

#[test]
fn torn_tail_is_cut_and_appends_resume_there() {
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                valid(8192, 2, 1),
                torn(12288, 3),
                zeros(16384, 4096),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
    assert_eq!(d.tail, Some((0, 12288)));
    assert_eq!(d.next_seq, BatchSeq::new(3));
    assert!(d.missing.is_empty());
}

#[test]
fn a_landed_damaged_last_batch_is_missing_and_appends_resume_after_it() {
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                valid(8192, 2, 1),
                landed(12288, 3),
                zeros(16384, 4096),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Missing, Cut]);
    assert_eq!(d.tail, Some((0, 16384)), "appends resume after it");
    assert_eq!(d.next_seq, BatchSeq::new(4), "its sequence stays used");
    assert_eq!(d.missing.len(), 1);
    let m = &d.missing[0];
    assert_eq!((m.offset, m.seq_first), (12288, Some(BatchSeq::new(3))));
    assert_eq!(m.lsns, Some((Lsn::new(5), Lsn::new(9))));
    assert_eq!(m.contents, MissingContents::RedoOnly);
    assert!(m.reason.contains("landed in full"), "{}", m.reason);

    // The next open, after a batch was appended there: the same batch, now below
    // a later one, is missing again.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                valid(8192, 2, 1),
                landed(12288, 3),
                valid(16384, 4, 2),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Missing, Accept]);
    assert_eq!(d.missing.len(), 1);
    assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(3)));
    assert_eq!(d.next_seq, BatchSeq::new(5));

    // A landed write whose sequence was written again is an old, cut write.
    let d = decide_all(
        &[
            file(0, vec![valid(4096, 1, 0), landed(8192, 2)]),
            file(1, vec![valid(4096, 2, 1)]),
        ],
        4096,
    );
    assert_eq!(d.actions, vec![vec![Accept, Skip], vec![Accept]]);
}

#[test]
fn damage_before_a_later_batch_is_missing_never_cut() {
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                garbage(8192, 4096),
                valid(12288, 3, 1),
                zeros(16384, 4096),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Accept, Cut]);
    assert_eq!(d.missing.len(), 1);
    assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(2)));
    assert_eq!(d.missing[0].seq_last, Some(BatchSeq::new(2)));
    assert_eq!(d.tail, Some((0, 16384)));
    assert_eq!(d.next_seq, BatchSeq::new(4));
}

#[test]
fn a_torn_header_before_the_in_flight_one_proves_acknowledgement() {
    let d = decide_all(
        &[file(
            0,
            vec![valid(4096, 1, 0), torn(8192, 2), torn(12288, 3)],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Cut]);
    assert_eq!(d.missing[0].lsns, Some((Lsn::new(5), Lsn::new(9))));
    assert_eq!(d.next_seq, BatchSeq::new(3));
}

#[test]
fn end_of_an_older_file_is_skipped_unless_sequences_are_missing() {
    let files = [
        file(0, vec![valid(4096, 1, 0), zeros(8192, 8192)]),
        file(1, vec![valid(4096, 2, 1)]),
    ];
    let d = decide_all(&files, 4096);
    assert_eq!(d.actions, vec![vec![Accept, Skip], vec![Accept]]);
    let files = [
        file(0, vec![valid(4096, 1, 0), garbage(8192, 8192)]),
        file(1, vec![valid(4096, 3, 1)]),
    ];
    let d = decide_all(&files, 4096);
    assert_eq!(d.actions, vec![vec![Accept, Missing], vec![Accept]]);
    // A gap with nothing between: reported at the end of the previous batch.
    let files = [
        file(0, vec![valid(4096, 1, 0)]),
        file(1, vec![valid(4096, 3, 1)]),
    ];
    let d = decide_all(&files, 4096);
    assert_eq!(d.missing.len(), 1);
    assert_eq!(
        (d.missing[0].file, d.missing[0].offset),
        (JournalFileId::new(0), 8192)
    );
    // A torn batch in an older file was completed before the newer file began.
    let files = [
        file(0, vec![valid(4096, 1, 0), torn(8192, 2)]),
        file(1, vec![]),
    ];
    let d = decide_all(&files, 4096);
    assert_eq!(d.actions[0], [Accept, Missing]);
    assert_eq!(d.tail, Some((1, 4096)));
    assert_eq!(d.next_seq, BatchSeq::new(3));
}

#[test]
fn a_cut_batch_rewritten_in_the_next_file_is_skipped() {
    let files = [
        file(0, vec![valid(4096, 1, 0), torn(8192, 2)]),
        file(1, vec![valid(4096, 2, 1)]),
    ];
    let d = decide_all(&files, 4096);
    assert_eq!(d.actions, vec![vec![Accept, Skip], vec![Accept]]);
    assert!(d.missing.is_empty());
}

#[test]
fn a_pipelined_batch_after_one_that_did_not_complete_is_cut_with_it() {
    // Batch 3 torn without its stamps, pipelined batch 4 valid: 3 never completed, so
    // neither was acknowledged. Both are cut, the cut range is zeroed, and
    // appends resume at 3's place with sequence 3.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                valid(8192, 2, 1),
                torn(12288, 3),
                pipelined(valid(16384, 4, 2)),
                zeros(20480, 4096),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut, Cut]);
    assert_eq!(d.accepted, [0, 1]);
    assert!(d.missing.is_empty(), "{:?}", d.missing);
    assert_eq!(d.tail, Some((0, 12288)));
    assert_eq!(d.next_seq, BatchSeq::new(3));
    assert_eq!(d.zero, Some((0, 12288, 8192)));

    // No header where batch 3 must be (its write did not land, or landed only in
    // part without the header): the same.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                valid(8192, 2, 1),
                garbage(12288, 8192),
                pipelined(torn(20480, 4)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
    assert!(d.missing.is_empty());
    assert_eq!(d.tail, Some((0, 12288)));
    assert_eq!(d.next_seq, BatchSeq::new(3));
    assert_eq!(d.zero, Some((0, 12288, 12288)));
}

#[test]
fn a_pipelined_batch_after_a_completed_one_keeps_the_usual_rules() {
    // Batch 3 valid: the pipelined batch is replayed (or cut if torn, as any tail).
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 2, 0),
                valid(8192, 3, 1),
                pipelined(valid(12288, 4, 2)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Accept]);
    assert_eq!(
        (d.tail, d.next_seq, d.zero),
        (Some((0, 16384)), BatchSeq::new(5), None)
    );
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 2, 0),
                valid(8192, 3, 1),
                pipelined(torn(12288, 4)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Cut]);
    assert_eq!(
        (d.tail, d.next_seq, d.zero),
        (Some((0, 12288)), BatchSeq::new(4), None)
    );

    // Batch 3 landed in full and was damaged: maybe acknowledged, so missing, and
    // the pipelined batch after it is replayed.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 2, 0),
                landed(8192, 3),
                pipelined(valid(12288, 4, 1)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Accept]);
    assert_eq!(d.missing.len(), 1);
    assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(3)));
    assert_eq!(d.zero, None);

    // A torn batch followed by a later pipelined one: the later one proves it
    // (sequence 5 was written only after 3 was durable).
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 2, 0),
                torn(8192, 3),
                pipelined(valid(12288, 4, 1)),
                pipelined(valid(16384, 5, 2)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Accept, Accept]);
    assert_eq!(d.zero, None);

    // No readable header where batch 3 must be, but every sector carries one stamp:
    // its write landed in full and its header was damaged since. Maybe
    // acknowledged: reported, not cut.
    let mut stamped = garbage(8192, 4096);
    if let Seen::Garbage { stamp, .. } = &mut stamped.seen {
        *stamp = Some(0x5eed);
    }
    let d = decide_all(
        &[file(
            0,
            vec![valid(4096, 2, 0), stamped, pipelined(valid(12288, 4, 1))],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Accept]);
    assert_eq!(d.zero, None);

    // Headerless damage that may span the batch two before the pipelined one (its
    // header is gone too): not the window; reported, never cut.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 2, 0),
                garbage(8192, 8192),
                pipelined(valid(16384, 5, 1)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Accept]);
    assert_eq!(d.zero, None);
}

/// A garbage region whose every sector carries the stamp its damaged header gives.
fn landed_garbage(offset: u64) -> Item {
    let mut it = garbage(offset, 4096);
    if let Seen::Garbage { stamp, .. } = &mut it.seen {
        *stamp = Some(0x5eed);
    }
    it
}

#[test]
fn a_window_of_two_cuts_from_the_first_batch_that_did_not_complete() {
    // Batches 3 and 4 may have been in flight when 5 was written: 5 proves only 2.
    let w2 = |it| with_window(it, 2);
    let decide = |items: Vec<Item>| decide_all(&[file(0, items)], 4096);

    // Both completed: the usual rules, everything replayed.
    let d = decide(vec![
        valid(4096, 2, 0),
        valid(8192, 3, 1),
        pipelined(valid(12288, 4, 2)),
        w2(valid(16384, 5, 3)),
    ]);
    assert_eq!(d.actions[0], [Accept, Accept, Accept, Accept]);
    assert_eq!((d.zero, d.next_seq), (None, BatchSeq::new(6)));

    // Batch 3 torn without its stamps: 3, 4 and 5 were never acknowledged, even
    // though 4 is valid. All three are cut and zeroed; appends resume at 3.
    let d = decide(vec![
        valid(4096, 2, 0),
        torn(8192, 3),
        pipelined(valid(12288, 4, 1)),
        w2(valid(16384, 5, 2)),
        zeros(20480, 4096),
    ]);
    assert_eq!(d.actions[0], [Accept, Cut, Cut, Cut, Cut]);
    assert!(d.missing.is_empty(), "{:?}", d.missing);
    assert_eq!(d.accepted, [0]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 8192)), BatchSeq::new(3)));
    assert_eq!(d.zero, Some((0, 8192, 12288)));

    // Batch 3 valid, 4 torn: cut from 4.
    let d = decide(vec![
        valid(4096, 2, 0),
        valid(8192, 3, 1),
        pipelined(torn(12288, 4)),
        w2(valid(16384, 5, 2)),
    ]);
    assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
    assert_eq!(d.zero, Some((0, 12288, 8192)));

    // Batch 3 landed in full and was damaged since (maybe acknowledged), 4 torn:
    // 3 is reported missing and kept, the cut starts at 4.
    let d = decide(vec![
        valid(4096, 2, 0),
        landed(8192, 3),
        pipelined(torn(12288, 4)),
        w2(valid(16384, 5, 1)),
    ]);
    assert_eq!(d.actions[0], [Accept, Missing, Cut, Cut]);
    assert_eq!(d.missing.len(), 1);
    assert_eq!(d.missing[0].seq_first, Some(BatchSeq::new(3)));
    assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));

    // No header where 3 and 4 must be: one region that is not a landed batch. Cut.
    let d = decide(vec![
        valid(4096, 2, 0),
        garbage(8192, 8192),
        w2(valid(16384, 5, 1)),
    ]);
    assert_eq!(d.actions[0], [Accept, Cut, Cut]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 8192)), BatchSeq::new(3)));

    // Two regions, each a landed batch whose header was damaged since: both
    // completed, maybe acknowledged: reported, not cut, and 5 is replayed.
    let d = decide(vec![
        valid(4096, 2, 0),
        landed_garbage(8192),
        landed_garbage(12288),
        w2(valid(16384, 5, 1)),
    ]);
    assert_eq!(d.actions[0], [Accept, Missing, Missing, Accept]);
    assert_eq!(d.zero, None);

    // 3 landed (header damaged), 4's place holds no batch: 3 is kept and
    // reported, the cut starts at 4's place.
    let d = decide(vec![
        valid(4096, 2, 0),
        landed_garbage(8192),
        garbage(12288, 4096),
        w2(valid(16384, 5, 1)),
    ]);
    assert_eq!(d.actions[0], [Accept, Missing, Cut, Cut]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
    assert_eq!(d.zero, Some((0, 12288, 8192)));

    // 3's header present and complete, 4's missing: one region that is not a
    // landed batch after 3. Cut from it.
    let d = decide(vec![
        valid(4096, 2, 0),
        valid(8192, 3, 1),
        garbage(12288, 4096),
        w2(torn(16384, 5)),
    ]);
    assert_eq!(d.actions[0], [Accept, Accept, Cut, Cut]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
}

#[test]
fn a_header_inside_the_window_proves_what_its_own_window_allows() {
    let w2 = |it| with_window(it, 2);
    // 4 was written with nothing in flight, so 3 had completed: 3 reads as torn
    // only because it was damaged since. Not the window's cut: reported missing,
    // and 4 and 5 are replayed.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 2, 0),
                torn(8192, 3),
                valid(12288, 4, 1),
                w2(valid(16384, 5, 2)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Accept, Accept]);
    assert_eq!(d.zero, None);

    // Same, but 4 is torn too (its header intact): 3 is proven, 4 did not
    // complete, so the cut starts at 4.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 2, 0),
                torn(8192, 3),
                torn(12288, 4),
                w2(valid(16384, 5, 1)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Cut, Cut]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(4)));
}

#[test]
fn a_window_of_two_without_the_header_below_it_starts_at_its_oldest_header() {
    let w2 = |it| with_window(it, 2);
    // The header of 2 is unreadable, 3 and 4 are there: the window is still told.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                garbage(8192, 4096),
                valid(12288, 3, 1),
                pipelined(torn(16384, 4)),
                w2(valid(20480, 5, 2)),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Missing, Accept, Cut, Cut]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 16384)), BatchSeq::new(4)));

    // Only 4's header is there: whether 3 completed cannot be told, so no window;
    // the usual rules report what is damaged and cut nothing below a header.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                garbage(8192, 8192),
                pipelined(torn(16384, 4)),
                w2(valid(20480, 5, 2)),
            ],
        )],
        4096,
    );
    assert_eq!(d.zero, None);
    assert!(!d.actions[0].contains(&Cut), "{:?}", d.actions[0]);
}

#[test]
fn a_landed_last_batch_with_a_damaged_header_is_missing_and_appends_resume_after_it() {
    let mut stamped = garbage(12288, 4096);
    if let Seen::Garbage { stamp, .. } = &mut stamped.seen {
        *stamp = Some(0x5eed);
    }
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                valid(8192, 2, 1),
                stamped.clone(),
                zeros(16384, 4096),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Missing, Cut]);
    assert_eq!(d.tail, Some((0, 16384)));
    assert_eq!(d.next_seq, BatchSeq::new(4), "its sequence (3) stays used");
    assert_eq!(d.missing.len(), 1);
    assert_eq!(d.missing[0].contents, MissingContents::Unknown);
    // The next open, after a batch was appended after it: missing again, no gap.
    let d = decide_all(
        &[file(
            0,
            vec![
                valid(4096, 1, 0),
                valid(8192, 2, 1),
                stamped,
                valid(16384, 4, 2),
            ],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Missing, Accept]);
    assert_eq!(d.missing.len(), 1);
    // Without the stamp (a torn write whose header did not land): cut, as before.
    let d = decide_all(
        &[file(
            0,
            vec![valid(4096, 1, 0), valid(8192, 2, 1), garbage(12288, 4096)],
        )],
        4096,
    );
    assert_eq!(d.actions[0], [Accept, Accept, Cut]);
    assert_eq!((d.tail, d.next_seq), (Some((0, 12288)), BatchSeq::new(3)));
}
