//! Reads of a core's segments: GetPage@LSN, records for gossip and repair, a
//! segment's status and the truncations it holds.
//!
//! Must never: serve a page from an LSN above the SCL, below the min read point, or
//! one that needs a record inside a known hole (each is a typed refusal); serve a base
//! image that a damaged slot leaves unproven (`PageDamaged`); serve a page whose chain
//! of records does not continue from its base (`PageChainBroken`); list more
//! truncations than the segment's metadata file can keep (`TooManyTruncations`).

use boreal_segment::{Lsn, PageId, PgId};

use super::api::{PageImage, SegmentStatus};
use super::cache::CachedPage;
use super::engine::CoreEngine;
use super::error::EngineError;
use super::segment::SegState;
use crate::hotlog::{OwnedRedo, Truncation, apply_change};
use crate::io::Io;
use crate::pages::{META_TRUNCATIONS_MAX, PageStoreError};

pub use crate::limits::STATUS_HOLES_MAX;
/// Most times a read retries after the coalescer moved the floor under it.
const READ_ATTEMPTS_MAX: u32 = 8;

impl<I: Io + 'static> CoreEngine<I> {
    /// GetPage@LSN: the page `page` of `pg` as of `lsn` (base image from the page cache
    /// or store, plus the hot log's records of the page up to `lsn`).
    pub async fn read_page(
        &self,
        pg: PgId,
        page: PageId,
        lsn: Lsn,
    ) -> Result<PageImage, EngineError> {
        let inner = &self.inner;
        let seg = inner.segment(pg)?;
        if !seg.pages.holds(page) {
            return Err(EngineError::PageOutOfRange { pg, page });
        }
        for _ in 0..READ_ATTEMPTS_MAX {
            let (generation, floor) = {
                let st = seg.st.borrow();
                check_read_point(pg, &st, lsn)?;
                (st.floor_generation, st.hot.floor())
            };
            let cached = inner.cache.borrow_mut().get((pg, page));
            let (base, from_disk, damaged) = match cached {
                Some(c) => (c, false, false),
                None => {
                    let s = seg.pages.read_at_most(page, floor).await?;
                    (
                        CachedPage {
                            payload: s.payload,
                            page_lsn: s.page_lsn,
                            slot: s.slot,
                        },
                        true,
                        s.other_slot_damaged,
                    )
                }
            };
            let st = seg.st.borrow();
            if st.floor_generation != generation {
                continue;
            }
            check_read_point(pg, &st, lsn)?;
            if base.page_lsn > lsn {
                return Err(EngineError::PageNewerThanRead {
                    pg,
                    page,
                    lsn,
                    page_lsn: base.page_lsn,
                });
            }
            // The page's other slot is damaged: this image is the right base only if it
            // is a write torn by a crash before the metadata covered it, and then the
            // hot log holds the records that follow this image. Otherwise the newest
            // image was destroyed and this one is stale: refuse, never serve it.
            if damaged
                && st
                    .hot
                    .page_records(page, base.page_lsn, Lsn::MAX)
                    .next()
                    .is_none_or(|r| r.prev_lsn_page != base.page_lsn)
            {
                return Err(EngineError::PageDamaged {
                    pg,
                    page,
                    page_lsn: base.page_lsn,
                });
            }
            if from_disk && !st.pass_in_flight {
                inner.cache.borrow_mut().insert((pg, page), base.clone());
            }
            let mut payload: Box<[u8]> = base.payload.as_ref().into();
            let mut page_lsn = base.page_lsn;
            for r in st.hot.page_records(page, base.page_lsn, lsn) {
                if r.prev_lsn_page != page_lsn {
                    return Err(EngineError::PageChainBroken {
                        pg,
                        page,
                        lsn,
                        record: r.lsn,
                        expected: page_lsn,
                        got: r.prev_lsn_page,
                    });
                }
                apply_change(&r, &mut payload);
                page_lsn = r.lsn;
            }
            return Ok(PageImage { payload, page_lsn });
        }
        Err(EngineError::ReadRetries {
            pg,
            lsn,
            attempts: READ_ATTEMPTS_MAX,
        })
    }

    /// Owned copies of the records of `pg` in `(from, to]`, lowest first, up to about
    /// `byte_limit` backlog bytes (at least one record): for gossip and repair. Refused
    /// when `from` is below the materialized LSN (those records live only in pages).
    pub fn fetch_records(
        &self,
        pg: PgId,
        from: Lsn,
        to: Lsn,
        byte_limit: usize,
    ) -> Result<Vec<OwnedRedo>, EngineError> {
        let seg = self.inner.segment(pg)?;
        let st = seg.st.borrow();
        if from < st.hot.floor() {
            return Err(EngineError::FetchBelowFloor {
                pg,
                from,
                floor: st.hot.floor(),
            });
        }
        Ok(st.hot.fetch(from, to, byte_limit))
    }

    /// The segment's watermarks, holes and backlog.
    pub fn status(&self, pg: PgId) -> Result<SegmentStatus, EngineError> {
        let seg = self.inner.segment(pg)?;
        let st = seg.st.borrow();
        let now = self.inner.io.now();
        Ok(SegmentStatus {
            scl: st.hot.scl(),
            materialized_lsn: st.hot.floor(),
            min_read_point: st.min_read_point,
            holes: st.hot.holes(STATUS_HOLES_MAX),
            backlog_bytes: st.hot.bytes(),
            backlog_age: st.arrivals.age(now),
            epoch: st.epoch,
            page_size: seg.page_size,
            hot_records: st.hot.len(),
            counters: st.hot.counters(),
        })
    }

    /// The truncations the segment holds: every one applied whose range ends above the
    /// materialized LSN (at or below it nothing can arrive any more, so the hot log
    /// forgets it), in the order applied (epochs non-decreasing). Each is durable in
    /// the journal and in the segment's metadata file, so the list survives a restart.
    /// Volume recovery needs it: an LSN inside an earlier recovery's range was never
    /// used and must not be taken for a lost record.
    ///
    /// At most `META_TRUNCATIONS_MAX`. A truncation past that is held only between its
    /// journal write and the metadata write that refuses it and stops the core; during
    /// that window this refuses with the error that write will get, so a caller never
    /// receives a list the metadata file could not hold.
    pub fn truncations(&self, pg: PgId) -> Result<Vec<Truncation>, EngineError> {
        let seg = self.inner.segment(pg)?;
        let st = seg.st.borrow();
        let held = st.hot.truncations();
        if held.len() > META_TRUNCATIONS_MAX {
            return Err(PageStoreError::TooManyTruncations {
                pg,
                count: held.len(),
                max: META_TRUNCATIONS_MAX,
            }
            .into());
        }
        Ok(held.to_vec())
    }
}

fn check_read_point(pg: PgId, st: &SegState, lsn: Lsn) -> Result<(), EngineError> {
    let scl = st.hot.scl();
    if lsn > scl {
        return Err(match st.hot.hole_below(lsn) {
            Some(hole) => EngineError::Hole { pg, lsn, scl, hole },
            None => EngineError::AboveScl { pg, lsn, scl },
        });
    }
    if lsn < st.min_read_point {
        return Err(EngineError::BelowMinReadPoint {
            pg,
            lsn,
            min_read_point: st.min_read_point,
        });
    }
    Ok(())
}
