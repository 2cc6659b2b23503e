//! Starting a core: create it, or open it and recover. [`CoreEngine::open_dir`] is the
//! one constructor a node (or a bench, or a test) uses.
//!
//! What it owns: the order of a core's start-up: config checks (a backlog bound the
//! journal holds well) → page store catalog → each segment's metadata → journal scan
//! (replaying into the hot logs as it goes) → what to do with damage (`MISSING_CASES`:
//! lost redo only becomes a reported hole, anything that may have held a control record
//! refuses to start) → journal release of everything already materialized. It never
//! interprets a record beyond that, never drops a damaged range it cannot place (it
//! becomes a reported hole above every segment's SCL), and does all I/O through
//! `I: Io`.
//!
//! Creation order and what a crash during it leaves: the journal files are created and
//! pre-written first, the catalog last; the catalog is the commit point (segments need
//! it, appends need segments, so nothing was ever acknowledged without it). A directory
//! with journal files but no catalog is a creation that crashed: `open_dir` pre-writes
//! the journal again over them (`Journal::create_over`) and says so in the report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::rc::Rc;

use boreal_segment::checksum::is_all_zero;
use boreal_segment::limits::BATCH_HEADER_SIZE;
use boreal_segment::{Lsn, PgId, Record, Records};

use super::api::CoreStats;
use super::config::EngineConfig;
use super::engine::{CoreEngine, Inner};
use super::error::EngineError;
use super::notify::Lock;
use super::recovery::{self, RecoveryReport, ReplayAction};
use super::segment::{SegState, Segment};
use crate::buf::DmaBuf;
use crate::hotlog::{HotLog, LsnRange, OwnedRedo};
use crate::io::{Io, OpenOptions};
use crate::journal::{
    BatchPin, Journal, JournalConfig, JournalError, MissingAction, MissingRange, Recovered,
};
use crate::pages::{
    CATALOG_SLOT_BYTES, Catalog, CatalogEntry, DamagedState, MetaDamage, MetaFile, PageFile,
    PageStoreError, catalog_path, meta_file_path, page_file_path,
};

/// What the engine replays from what journal recovery found, besides the records (which
/// `open_dir` hands the engine borrowed from `rec.records`, every valid one in journal
/// order, so none is copied before the decision table keeps it): every damaged range
/// that lost redo only (`MissingAction::Hole`) as an LSN range (first), and every other
/// damaged range (no readable header, a sequence gap, a batch that may have held control
/// records) as an unplaced line (second), never dropped (`open_dir` refuses to start on
/// those before it gets here).
pub fn wal_damage(rec: &Recovered) -> (Vec<LsnRange>, Vec<String>) {
    let mut missing = Vec::new();
    let mut missing_unplaced = Vec::new();
    for m in &rec.missing {
        match placed(m).filter(|_| m.case().action == MissingAction::Hole) {
            Some(range) => missing.push(range),
            None => missing_unplaced.push(m.to_string()),
        }
    }
    (missing, missing_unplaced)
}

/// The LSN range `(first - 1, last]` of a damaged batch whose header was readable.
fn placed(m: &MissingRange) -> Option<LsnRange> {
    let (first, last) = m.lsns?;
    let start = Lsn::new(first.get().checked_sub(1)?);
    (start < last).then(|| LsnRange::new(start, last))
}

/// What [`CoreEngine::open_dir`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The core was created now (its directory held no catalog).
    pub created: bool,
    /// Records the journal handed back (replayed or skipped by the engine's table).
    pub records_recovered: usize,
    /// Damaged ranges the journal reported (acknowledged data that is unreadable).
    pub missing: Vec<MissingRange>,
    /// The journal's own report: one line per region that was not replayed.
    pub journal_report: Vec<String>,
}

impl OpenReport {
    /// One paragraph for a log.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}; {} journal records recovered, {} damaged ranges",
            if self.created { "created" } else { "opened" },
            self.records_recovered,
            self.missing.len()
        );
        for m in &self.missing {
            let _ = write!(s, "\n  {m}");
        }
        s
    }
}

/// Whether the core's catalog was ever committed: it exists and is not all zeros.
/// `Catalog::create` writes its first slot and syncs before anything else depends on it,
/// and later writes alternate slots, so a catalog that is missing, short or all zeros
/// is a creation that crashed before its commit (a damaged committed catalog has
/// non-zero bytes and is refused by `Catalog::open`).
async fn catalog_committed<I: Io>(io: &I, cfg: &EngineConfig) -> Result<bool, EngineError> {
    let path = catalog_path(&cfg.dir);
    let io_err = |op: &'static str| {
        let path = path.clone();
        move |source| {
            EngineError::Store(PageStoreError::Io {
                op,
                path,
                offset: 0,
                source,
            })
        }
    };
    let opts = OpenOptions {
        read: true,
        direct: true,
        ..OpenOptions::default()
    };
    let file = match io.open(&path, opts).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err("open catalog")(e)),
    };
    let len = 2 * CATALOG_SLOT_BYTES;
    if io.file_info(&file).size < len as u64 {
        return Ok(false);
    }
    let (res, buf) = io.read_at(&file, DmaBuf::zeroed(len), len, 0).await;
    let got = res.map_err(io_err("read catalog"))?;
    // The file holds both slots (checked above): a short read is a failing device, not
    // an uncommitted catalog. Read as one, it would re-create the core over its data.
    if got < len {
        return Err(EngineError::Store(PageStoreError::Short {
            op: "read catalog",
            path,
            offset: 0,
            expected: len,
            got,
        }));
    }
    Ok(!is_all_zero(buf.as_slice()))
}

fn is_not_found(e: &crate::pages::PageStoreError) -> bool {
    matches!(e, crate::pages::PageStoreError::Io { source, .. }
        if source.kind() == std::io::ErrorKind::NotFound)
}

impl<I: Io + 'static> CoreEngine<I> {
    /// Opens the core whose page store is in `cfg.dir` and whose journal is in
    /// `journal.dir`, or creates both if `cfg.dir` holds no catalog: the one way a node
    /// (or a bench, or a test) starts a core. Recovery order: catalog and segment
    /// metadata, journal scan (torn tail cut, damage in the middle reported), replay,
    /// then every segment's materialized redo is released in the journal (so recovered
    /// files recycle). Must run inside the runtime (the journal and the coalescer spawn
    /// tasks). Both directories must exist.
    pub async fn open_dir(
        io: I,
        cfg: EngineConfig,
        journal: JournalConfig,
    ) -> Result<(CoreEngine<I>, OpenReport), EngineError> {
        cfg.validate().map_err(EngineError::Config)?;
        journal
            .validate()
            .map_err(|e| EngineError::Config(e.to_string()))?;
        // Checked before anything is created or opened: with a backlog bound the journal
        // cannot hold, a restart could find the journal full of records nothing may
        // materialize and wait forever for space to journal a truncation.
        journal
            .check_backlog(cfg.backlog_bytes_max as u64)
            .map_err(|e| EngineError::Config(e.to_string()))?;
        if !catalog_committed(&io, &cfg).await? {
            return Self::create_dir(io, cfg, journal).await;
        }
        // Segments first: their floors tell the journal scan which batches replay
        // would skip anyway (every redo record at or below its PG's floor, no control
        // record), so their read windows are reused at once instead of being held (and
        // faulted in, and unmapped) until replay. Batches of a PG the catalog does not
        // name are kept: they must reach the check below.
        let opened = match open_segments(&io, &cfg).await {
            Ok(o) => o,
            Err(EngineError::Store(e)) if is_not_found(&e) => {
                return Err(EngineError::Recovery(format!(
                    "a segment file named by the catalog is missing: {e}"
                )));
            }
            Err(e) => return Err(e),
        };
        let floors = opened.floors();
        let keep = |pins: &[BatchPin]| {
            pins.iter()
                .any(|p| p.meta || floors.get(&p.pg).is_none_or(|&floor| p.redo_max > floor))
        };
        // Replay runs during the scan: each batch the decisions will accept is
        // replayed as soon as the scan has checked it, while the next windows are read.
        // The PGs its records name are gathered in the same pass.
        let mut opened = opened;
        let mut others: BTreeSet<PgId> = BTreeSet::new();
        let mut streamed_err: Option<EngineError> = None;
        let during_scan = cfg.replay_during_scan;
        let mut visit = |body: &[u8]| {
            if !during_scan || streamed_err.is_some() {
                return;
            }
            let mut last_pg = None;
            for r in Records::verified(body, BATCH_HEADER_SIZE) {
                let replayed = match r {
                    Ok(r) => {
                        let pg = r.pg_id();
                        if last_pg != Some(pg) {
                            last_pg = Some(pg);
                            others.insert(pg);
                        }
                        opened.replay(&r)
                    }
                    // The scan checked every record of the batch; replaying again from
                    // the recovered records below says what is wrong.
                    Err(e) => Err(EngineError::Recovery(e.to_string())),
                };
                if let Err(e) = replayed {
                    streamed_err = Some(e);
                    return;
                }
            }
        };
        let (wal, rec, as_decided) =
            Journal::open_streaming(io.clone(), journal, &keep, &mut visit).await?;
        // Damage in the middle of the journal may have held a `Truncate` or
        // `SegmentMeta` record (group commit puts any record in any batch). Replaying
        // around a lost truncation would bring annulled records back below the SCL and
        // serve them, and the coalescer would materialize them. The journal's
        // `MISSING_CASES` table says which damage is lost redo only (an intact header
        // with the `REDO_ONLY` flag and known LSNs): that becomes a reported hole.
        // Anything else refuses to start, naming file, offset and why, until the core
        // is repaired from its peers.
        let refused: Vec<String> = rec
            .missing
            .iter()
            .filter(|m| m.case().action == MissingAction::Refuse)
            .map(|m| format!("{m} => {}", m.case().why))
            .collect();
        if !refused.is_empty() {
            return Err(EngineError::Recovery(format!(
                "the journal lost acknowledged batches that may have held more than redo; the core must be repaired from its peers before it starts: {}",
                refused.join("; ")
            )));
        }
        let (missing, missing_unplaced) = wal_damage(&rec);
        let report = OpenReport {
            created: false,
            records_recovered: rec.records.len(),
            missing: rec.missing.clone(),
            journal_report: rec.report.clone(),
        };
        // What was replayed during the scan stands only if it is exactly what the
        // decisions accepted (anything else only after damage, see
        // `Journal::open_streaming`) and it all replayed. Otherwise replay again, from freshly opened segments and the
        // records recovery kept (read where its windows hold them): a replay error is
        // then returned from there.
        let opened = if during_scan && as_decided && streamed_err.is_none() {
            opened
        } else {
            // Segments nothing was replayed into are as opened; others start over.
            let mut fresh = if during_scan {
                drop(opened);
                open_segments(&io, &cfg).await?
            } else {
                opened
            };
            others.clear();
            for (_, r) in rec.records.iter() {
                others.insert(r.pg_id());
                fresh.replay(&r)?;
            }
            fresh
        };
        drop(rec);
        let engine = CoreEngine::finish_opened(io, wal, opened, &missing, &missing_unplaced, cfg)?;
        // Appends need a segment and a segment is in the catalog before its first
        // append, so journal records of a PG the catalog does not name mean the catalog
        // lost a segment (damage): refuse to start rather than serve the PG as empty.
        let held: BTreeSet<PgId> = engine.segments().into_iter().collect();
        let unknown: Vec<String> = others.difference(&held).map(|pg| pg.to_string()).collect();
        if !unknown.is_empty() {
            return Err(EngineError::Recovery(format!(
                "the journal holds acknowledged records of {} but the catalog does not name them: the catalog lost segments (damage); restore them from peers",
                unknown.join(", ")
            )));
        }
        // Recovery pinned every journal file by the records it still holds: release
        // what each segment already materialized.
        for pg in &held {
            let floor = engine.status(*pg)?.materialized_lsn;
            engine.journal().release(*pg, floor);
        }
        Ok((engine, report))
    }

    async fn create_dir(
        io: I,
        cfg: EngineConfig,
        journal: JournalConfig,
    ) -> Result<(CoreEngine<I>, OpenReport), EngineError> {
        let mut report = OpenReport {
            created: true,
            ..OpenReport::default()
        };
        let wal = match Journal::create(io.clone(), journal.clone()).await {
            Ok(j) => j,
            Err(JournalError::Io {
                errno: Some(libc::EEXIST),
                file,
                ..
            }) => {
                report.journal_report.push(format!(
                    "{:?} held journal files ({file} at least) but no catalog: a creation that crashed before its commit; journal pre-written again",
                    journal.dir
                ));
                Journal::create_over(io.clone(), journal).await?
            }
            Err(e) => return Err(e.into()),
        };
        let engine = CoreEngine::create(io, wal, cfg).await?;
        Ok((engine, report))
    }

    /// A fresh core with no segments: writes an empty catalog in `cfg.dir` (which must
    /// exist) over whatever was there. `journal` must be freshly created.
    pub async fn create(
        io: I,
        journal: Journal<I>,
        cfg: EngineConfig,
    ) -> Result<CoreEngine<I>, EngineError> {
        cfg.validate().map_err(EngineError::Config)?;
        let catalog = Catalog::create(io.clone(), &catalog_path(&cfg.dir)).await?;
        Ok(Self::start(Inner::new(
            io,
            journal,
            cfg,
            catalog,
            Vec::new(),
            BTreeMap::new(),
            CoreStats::default(),
        )))
    }

    /// After replay: notes the journal's missing ranges in every segment they may
    /// touch and starts the engine.
    fn finish_opened(
        io: I,
        journal: Journal<I>,
        opened: OpenedSegments<I>,
        missing: &[LsnRange],
        missing_unplaced: &[String],
        cfg: EngineConfig,
    ) -> Result<CoreEngine<I>, EngineError> {
        let OpenedSegments {
            catalog,
            entries,
            segments,
            meta_damage,
            mut report,
        } = opened;
        // A metadata slot that is neither valid nor zeros: a torn write (its coalescer
        // pass never released the journal, so every record above the older floor the
        // file fell back to is still there) or damage. If the damaged slot held a newer
        // state, the journal may have released records up to that state's materialized
        // LSN; whatever of them the replay did not bring back is reported missing, so
        // reads that need it fail naming the damage and peers repair it. Its own
        // `SegmentMeta` says how far that state went; if it does not decode, everything
        // above the SCL up to the highest record held is reported.
        for (pg, damage) in &meta_damage {
            let Some(seg) = segments.get(pg) else {
                continue;
            };
            let mut st = seg.st.borrow_mut();
            let scl = st.hot.scl();
            let upto = match damage.state {
                DamagedState::Older => None,
                DamagedState::Newer { materialized_lsn } => Some(materialized_lsn),
                DamagedState::Unknown => Some(st.hot.max_lsn()),
            };
            let line = match upto.filter(|&u| u > scl) {
                Some(u) => {
                    let range = LsnRange::new(scl, u);
                    st.hot.report_missing(range);
                    format!(
                        "{pg}: {}: records in {range} may have been released: reported missing",
                        damage.why
                    )
                }
                None => format!("{pg}: {}: nothing missing above its SCL {scl}", damage.why),
            };
            report.meta_damage.push(line);
        }
        for range in missing {
            let mut touched = 0;
            for seg in segments.values() {
                let mut st = seg.st.borrow_mut();
                if range.end > st.hot.floor() {
                    st.hot.report_missing(*range);
                    touched += 1;
                }
            }
            report.missing.push((*range, touched));
        }
        // Damage the journal could not place: any record above the SCL may be in it.
        // Every segment reports a hole from its SCL up, so a read above the SCL fails
        // naming the damage, and gossip asks peers for everything above the SCL.
        for what in missing_unplaced {
            for seg in segments.values() {
                let mut st = seg.st.borrow_mut();
                let scl = st.hot.scl();
                st.hot.report_missing(LsnRange::new(scl, Lsn::MAX));
            }
            report.missing_unplaced.push(what.clone());
        }
        let stats = CoreStats {
            recovery: report,
            ..CoreStats::default()
        };
        Ok(Self::start(Inner::new(
            io, journal, cfg, catalog, entries, segments, stats,
        )))
    }
}

/// The catalog and every segment it names, each hot log empty at the segment's
/// materialized LSN (its floor), before any journal record is replayed.
pub(crate) struct OpenedSegments<I: Io> {
    catalog: Catalog<I>,
    entries: Vec<CatalogEntry>,
    segments: BTreeMap<PgId, Rc<Segment<I>>>,
    /// Segments whose metadata file had a slot that is neither valid nor zeros (see
    /// `MetaFile::open`).
    meta_damage: Vec<(PgId, MetaDamage)>,
    /// What replay did so far.
    report: RecoveryReport,
}

impl<I: Io> OpenedSegments<I> {
    /// Replays one recovered journal record, in journal order, through
    /// `node::recovery`'s table.
    pub(crate) fn replay(&mut self, record: &Record<'_>) -> Result<(), EngineError> {
        let report = &mut self.report;
        let seg = self.segments.get(&record.pg_id());
        let mut st = seg.map(|s| s.st.borrow_mut());
        let case = recovery::classify(st.as_deref().map(|s| &s.hot), record);
        report.cases[case.index()] += 1;
        match (recovery::action(case), record, st.as_deref_mut()) {
            (ReplayAction::Skip | ReplayAction::SkipAndReport, _, _) => {}
            (ReplayAction::Insert, Record::Redo(r), Some(st)) => {
                report.max_lsn = report.max_lsn.max(r.lsn);
                st.hot.insert(r)?;
            }
            (ReplayAction::ApplyTruncation, Record::Truncate(t), Some(st)) => {
                st.hot.truncate(t.epoch, LsnRange::new(t.start, t.end))?;
                st.epoch = st.epoch.max(t.epoch);
            }
            (ReplayAction::RaiseEpoch, Record::SegmentMeta(m), Some(st)) => {
                st.epoch = st.epoch.max(m.epoch)
            }
            (ReplayAction::Fail, r, _) => {
                return Err(EngineError::Recovery(format!("{case:?}: {}", describe(r))));
            }
            (a, r, _) => {
                panic!("recovery table gave {a:?} for {case:?} on {}", describe(r))
            }
        }
        Ok(())
    }

    /// Each segment's floor: journal records at or below it are in the page store.
    pub(crate) fn floors(&self) -> BTreeMap<PgId, Lsn> {
        self.segments
            .iter()
            .map(|(pg, s)| (*pg, s.st.borrow().hot.floor()))
            .collect()
    }
}

pub(crate) async fn open_segments<I: Io>(
    io: &I,
    cfg: &EngineConfig,
) -> Result<OpenedSegments<I>, EngineError> {
    let (catalog, entries) = Catalog::open(io.clone(), &catalog_path(&cfg.dir)).await?;
    let mut segments = BTreeMap::new();
    let mut meta_damage = Vec::new();
    for e in &entries {
        let (seg, damage) = open_segment(io, cfg, e).await?;
        if let Some(why) = damage {
            meta_damage.push((e.pg, why));
        }
        segments.insert(e.pg, Rc::new(seg));
    }
    Ok(OpenedSegments {
        catalog,
        entries,
        segments,
        meta_damage,
        report: RecoveryReport::default(),
    })
}

async fn open_segment<I: Io>(
    io: &I,
    cfg: &EngineConfig,
    e: &CatalogEntry,
) -> Result<(Segment<I>, Option<MetaDamage>), EngineError> {
    let (meta, durable, damage) =
        MetaFile::open(io.clone(), &meta_file_path(&cfg.dir, e.pg), e.pg).await?;
    let pages = PageFile::open(
        io.clone(),
        &page_file_path(&cfg.dir, e.pg),
        e.pg,
        e.page_size,
        e.first_page,
        e.page_count,
        cfg.page_file_grow_bytes,
    )
    .await?;
    let mut hot = HotLog::new(e.pg, durable.meta.materialized_lsn);
    for t in &durable.truncations {
        hot.truncate(t.epoch, t.range)?;
    }
    let seg = Segment {
        pg: e.pg,
        page_size: e.page_size,
        pages,
        meta,
        meta_lock: Lock::default(),
        st: std::cell::RefCell::new(SegState::new(hot, durable.meta.epoch)),
    };
    Ok((seg, damage))
}

/// A record for a message: a redo record owned (its body as bytes), others as they are.
fn describe(r: &Record<'_>) -> String {
    match r {
        Record::Redo(r) => format!("{:?}", OwnedRedo::from_redo(r)),
        other => format!("{other:?}"),
    }
}
