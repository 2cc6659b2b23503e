//! A PG's append frame, built once and shared by each of its segments' connections.
//!
//! The six segments of a PG are sent the same records: a connection's queue holds the
//! PG's records submitted since its writer last sent (unless the connection dropped
//! them, or the SCL poller queued some again). Each writer used to encode its own
//! frame: copy and judge every record, then checksum the whole body, six times over
//! the same bytes, on the commit's serial path (the shim's thread sends all six before
//! the last node can start). The six frames differ only in the request id, which the
//! header carries outside the body's checksum. So the first writer to send a run of
//! records keeps the frame it built ([`Frames::put`]); a writer whose queue starts with
//! the same records takes the kept frame and a header sealed again with its own id.
//! Neither copies the frame: a writer gets a [`FramePiece`] (its header, and the kept
//! frame shared), and its link copies header and body straight into its send buffer
//! (`Link::send_slices`), one copy per connection where there were two.
//!
//! Invariant: a kept frame is exactly what [`AppendEncoder`] builds for its `lsns` of
//! `pg` at `epoch`, its header's request id aside. A frame is matched by epoch, PG and
//! the LSN of every record in it; within an epoch this shim hands each LSN out once, so
//! equal LSNs are the same records.
//!
//! Memory: at most [`KEPT_FRAMES_MAX`] frames and, beyond the newest, at most
//! [`KEPT_BYTES_MAX`] bytes are kept; the oldest go first (and their buffers are built
//! into again, unless a piece not yet sent still shares one: pieces live until their
//! writer's send is done).

use std::collections::VecDeque;
use std::rc::Rc;

use boreal_segment::limits::FRAME_HEADER_SIZE;
use boreal_segment::{Epoch, FrameHeader, Lsn, PgId};

use crate::proto::{AppendEncoder, EncodedRedo, ProtoError};

/// Frames kept: a round's frames (one per PG queued) with room for a second round, for
/// volumes of up to 64 PGs a round (more PGs a round and the first frames of a round
/// are gone before the last links ask: those links build their own, as before).
pub(crate) const KEPT_FRAMES_MAX: usize = 128;
/// Bytes of kept frames beyond the newest one.
pub(crate) const KEPT_BYTES_MAX: usize = 8 << 20;

/// One kept frame.
#[derive(Debug)]
struct Kept {
    epoch: Epoch,
    pg: PgId,
    /// Its records' LSNs, in order.
    lsns: Vec<Lsn>,
    /// The sealed frame, header first (shared with the pieces not yet sent).
    frame: Rc<Vec<u8>>,
    header: FrameHeader,
}

/// One `AppendBatch` frame as a writer sends it: its own header, then the body of a
/// kept frame (shared, not copied).
#[derive(Debug, Clone)]
pub(crate) struct FramePiece {
    header: [u8; FRAME_HEADER_SIZE],
    frame: Rc<Vec<u8>>,
}

impl FramePiece {
    /// The frame's bytes: this writer's header, then the shared body.
    pub(crate) fn slices(&self) -> [&[u8]; 2] {
        [&self.header, &self.frame[FRAME_HEADER_SIZE..]]
    }
}

impl Kept {
    /// Whether this frame holds the first records of `recs` (of `pg` at `epoch`).
    fn starts(&self, epoch: Epoch, pg: PgId, recs: &[Rc<EncodedRedo>]) -> bool {
        self.epoch == epoch
            && self.pg == pg
            && self.lsns.len() <= recs.len()
            && self.lsns.iter().zip(recs).all(|(&l, r)| l == r.lsn())
    }
}

/// The kept frames, newest last. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    kept: VecDeque<Kept>,
    bytes: usize,
    /// Frames built, and frames reused from a kept one (for tests).
    built: u64,
    reused: u64,
}

impl Frames {
    /// Appends to `out` one `AppendBatch` frame of `pg` at `epoch`, sealed with request
    /// `id`, holding the first records of `recs` (as many as one frame takes), and
    /// returns how many it holds (at least one).
    ///
    /// # Panics
    ///
    /// If `recs` is empty, or holds a record no frame can carry (the shim encodes only
    /// records its allocator checked).
    pub(crate) fn put(
        &mut self,
        out: &mut Vec<FramePiece>,
        epoch: Epoch,
        pg: PgId,
        recs: &[Rc<EncodedRedo>],
        id: u64,
    ) -> usize {
        assert!(!recs.is_empty(), "a frame of no records");
        if let Some(k) = self.kept.iter().rev().find(|k| k.starts(epoch, pg, recs)) {
            let header = FrameHeader {
                request_id: id,
                ..k.header
            };
            out.push(FramePiece {
                header: header.encode(),
                frame: Rc::clone(&k.frame),
            });
            self.reused += 1;
            return k.lsns.len();
        }
        let kept = self.build(epoch, pg, recs, id);
        out.push(FramePiece {
            header: kept.header.encode(),
            frame: Rc::clone(&kept.frame),
        });
        let n = kept.lsns.len();
        self.keep(kept);
        self.built += 1;
        n
    }

    fn build(&mut self, epoch: Epoch, pg: PgId, recs: &[Rc<EncodedRedo>], id: u64) -> Kept {
        // The oldest kept frame's buffers are built into again once the limit is near.
        let (mut frame, mut lsns) = if self.kept.len() >= KEPT_FRAMES_MAX {
            let old = self.kept.pop_front().expect("the limit is above zero");
            self.bytes -= old.frame.len();
            // A piece not yet sent may still share it: then a new buffer.
            (Rc::try_unwrap(old.frame).unwrap_or_default(), old.lsns)
        } else {
            (Vec::new(), Vec::new())
        };
        frame.clear();
        lsns.clear();
        let mut enc = AppendEncoder::new(&mut frame, epoch, pg);
        for r in recs {
            match enc.push_encoded(r) {
                Ok(()) => lsns.push(r.lsn()),
                Err(ProtoError::BatchFull { .. }) if !enc.is_empty() => break,
                Err(e) => panic!("the shim built a record it cannot send: {e}"),
            }
        }
        let header = enc.finish(id).expect("a non-empty batch seals");
        Kept {
            epoch,
            pg,
            lsns,
            frame: Rc::new(frame),
            header,
        }
    }

    fn keep(&mut self, kept: Kept) {
        self.bytes += kept.frame.len();
        self.kept.push_back(kept);
        while self.kept.len() > KEPT_FRAMES_MAX
            || (self.kept.len() > 1 && self.bytes - self.newest_len() > KEPT_BYTES_MAX)
        {
            let old = self.kept.pop_front().expect("more than one is kept");
            self.bytes -= old.frame.len();
        }
    }

    fn newest_len(&self) -> usize {
        self.kept.back().map_or(0, |k| k.frame.len())
    }

    /// Frames built, and frames reused from a kept one.
    #[cfg(test)]
    fn counts(&self) -> (u64, u64) {
        (self.built, self.reused)
    }
}

#[cfg(test)]
mod tests {
    use boreal_segment::{Change, PageId, Redo};
    use proptest::prelude::*;

    use super::*;

    fn rec(lsn: u64, prev: u64, bytes: &[u8]) -> Rc<EncodedRedo> {
        let redo = Redo {
            lsn: Lsn::new(lsn),
            prev_lsn_pg: Lsn::new(prev),
            prev_lsn_page: Lsn::new(prev),
            pg_id: PgId::new(3),
            page_id: PageId::new(lsn % 7),
            cpl: lsn.is_multiple_of(4),
            change: Change::Delta { offset: 16, bytes },
        };
        Rc::new(EncodedRedo::new(&redo).expect("a valid record"))
    }

    /// Records with LSNs `lsns` (increasing), each of `len` bytes.
    fn recs(lsns: &[u64], len: usize) -> Vec<Rc<EncodedRedo>> {
        let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut prev = 0;
        lsns.iter()
            .map(|&l| {
                let r = rec(l, prev, &body);
                prev = l;
                r
            })
            .collect()
    }

    /// The bytes a writer sends for `pieces`.
    fn sent(pieces: &[FramePiece]) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.slices().concat()).collect()
    }

    /// What a writer built before frames were kept: its own encoder, every time.
    fn fresh(epoch: Epoch, pg: PgId, recs: &[Rc<EncodedRedo>], id: u64) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut enc = AppendEncoder::new(&mut out, epoch, pg);
        let mut n = 0;
        for r in recs {
            match enc.push_encoded(r) {
                Ok(()) => n += 1,
                Err(ProtoError::BatchFull { .. }) if !enc.is_empty() => break,
                Err(e) => panic!("{e}"),
            }
        }
        enc.finish(id).expect("seals");
        (out, n)
    }

    #[test]
    fn six_connections_get_one_frame_built_once_with_their_own_ids() {
        let mut frames = Frames::default();
        let (epoch, pg) = (Epoch::new(2), PgId::new(3));
        let rs = recs(&[10, 11, 12, 20], 128);
        let mut pieces = Vec::new();
        for id in 1..=6 {
            let mut out = Vec::new();
            let n = frames.put(&mut out, epoch, pg, &rs, id);
            assert_eq!(n, 4);
            let (want, _) = fresh(epoch, pg, &rs, id);
            assert_eq!(sent(&out), want, "connection {id}");
            pieces.extend(out);
        }
        assert_eq!(frames.counts(), (1, 5));
        // One body, shared by the six pieces and the kept frame: none was copied.
        assert!(
            pieces
                .iter()
                .all(|p| Rc::ptr_eq(&p.frame, &pieces[0].frame))
        );
        assert_eq!(Rc::strong_count(&pieces[0].frame), 7);
        // Frames that come after do not reach into it.
        assert_eq!(sent(&pieces[..1]), fresh(epoch, pg, &rs, 1).0);
    }

    #[test]
    fn a_round_of_sixty_four_pgs_is_built_once_for_six_links() {
        let mut frames = Frames::default();
        let epoch = Epoch::new(1);
        let rs = recs(&[10, 11, 12], 128);
        for link in 0..6u64 {
            for pg in 0..64 {
                let mut out = Vec::new();
                frames.put(
                    &mut out,
                    epoch,
                    PgId::new(pg),
                    &rs_of(&rs, pg),
                    link * 100 + 1,
                );
            }
        }
        assert_eq!(frames.counts(), (64, 5 * 64));
    }

    /// `rs` as records of `pg`.
    fn rs_of(rs: &[Rc<EncodedRedo>], pg: u32) -> Vec<Rc<EncodedRedo>> {
        rs.iter()
            .map(|r| {
                let redo = Redo {
                    pg_id: PgId::new(pg),
                    ..r.redo()
                };
                Rc::new(EncodedRedo::new(&redo).expect("a valid record"))
            })
            .collect()
    }

    #[test]
    fn other_records_epochs_or_pgs_are_built_afresh() {
        let mut frames = Frames::default();
        let (epoch, pg) = (Epoch::new(2), PgId::new(3));
        let a = recs(&[10, 11, 12], 64);
        let mut out = Vec::new();
        frames.put(&mut out, epoch, pg, &a, 1);
        // One record more at the front (the SCL poller queued it again): not a match.
        let b = recs(&[9, 10, 11, 12], 64);
        let mut out = Vec::new();
        assert_eq!(frames.put(&mut out, epoch, pg, &b, 2), 4);
        assert_eq!(sent(&out), fresh(epoch, pg, &b, 2).0);
        // Another epoch.
        let mut out = Vec::new();
        frames.put(&mut out, Epoch::new(3), pg, &a, 3);
        assert_eq!(sent(&out), fresh(Epoch::new(3), pg, &a, 3).0);
        // Fewer records than the kept frame holds: it cannot be the frame.
        let mut out = Vec::new();
        assert_eq!(frames.put(&mut out, epoch, pg, &a[..2], 4), 2);
        assert_eq!(sent(&out), fresh(epoch, pg, &a[..2], 4).0);
        assert_eq!(frames.counts(), (4, 0));
        // More records than one holds: the newest kept frame they start with (the
        // two-record one), then the rest in another.
        let c = recs(&[10, 11, 12, 13], 64);
        let c = [&a[..], &c[3..]].concat();
        let mut out = Vec::new();
        assert_eq!(frames.put(&mut out, epoch, pg, &c, 5), 2);
        assert_eq!(sent(&out), fresh(epoch, pg, &a[..2], 5).0);
        let mut out = Vec::new();
        assert_eq!(frames.put(&mut out, epoch, pg, &c[2..], 6), 2);
        assert_eq!(sent(&out), fresh(epoch, pg, &c[2..], 6).0);
        assert_eq!(frames.counts(), (5, 1));
    }

    #[test]
    fn kept_frames_stay_within_their_limits() {
        let mut frames = Frames::default();
        let (epoch, pg) = (Epoch::new(1), PgId::new(3));
        for i in 0..(KEPT_FRAMES_MAX as u64 * 3) {
            let rs = recs(&[i * 10 + 1, i * 10 + 2], 32);
            frames.put(&mut Vec::new(), epoch, pg, &rs, i + 1);
            assert!(frames.kept.len() <= KEPT_FRAMES_MAX);
            let sum: usize = frames.kept.iter().map(|k| k.frame.len()).sum();
            assert_eq!(frames.bytes, sum);
        }
        // Big frames: beyond the newest, no more than the byte limit.
        let big = recs(&(1..=300).map(|l| 10_000 + l).collect::<Vec<_>>(), 8000);
        let mut at = 0;
        let mut id = 1_000;
        while at < big.len() {
            at += frames.put(&mut Vec::new(), epoch, pg, &big[at..], id);
            id += 1;
            assert!(frames.bytes - frames.newest_len() <= KEPT_BYTES_MAX);
        }
    }

    proptest! {
        /// Any sequence of writers, each sending a window of one run of records (as
        /// connections that dropped or were sent again some do), gets byte for byte the
        /// frames its own encoder would have built, with as many records in each.
        #[test]
        fn kept_frames_are_what_each_writer_would_build(
            windows in prop::collection::vec((0usize..40, 1usize..40), 1..30),
            len in prop::sample::select(vec![16usize, 700, 60_000]),
        ) {
            let lsns: Vec<u64> = (1..=80).map(|i| i * 3).collect();
            let all = recs(&lsns, len);
            let (epoch, pg) = (Epoch::new(5), PgId::new(3));
            let mut frames = Frames::default();
            let mut id = 1;
            for (start, n) in windows {
                let window = &all[start..(start + n).min(all.len())];
                let mut at = 0;
                while at < window.len() {
                    let mut out = Vec::new();
                    let got = frames.put(&mut out, epoch, pg, &window[at..], id);
                    let (want, _) = fresh(epoch, pg, &window[at..at + got], id);
                    prop_assert_eq!(sent(&out), want);
                    let (_, most) = fresh(epoch, pg, &window[at..], id);
                    prop_assert!(got >= 1 && got <= most);
                    at += got;
                    id += 1;
                }
            }
        }
    }
}
