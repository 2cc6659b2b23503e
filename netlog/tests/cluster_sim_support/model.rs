//! The model the cluster simulation checks the volume against: every mini-transaction
//! any shim handed out, with its LSNs, its changes and what became of it, and the
//! rules that decide it (the rule for reads is in `cluster_sim.rs`'s module docs).
//!
//! An mtr is `Pending` from the moment a shim gave it LSNs until it is decided:
//! `Committed` once a VDL of its own shim reached its CPL (acknowledged or not), or by
//! the first volume recovery of a later shim when its CPL is at or below the
//! recovered VDL; `Annulled` when that recovery's truncation range holds it. Every
//! check returns what it found wrong as a sentence (a violation), never panics: the
//! run goes on and the seed reports every violation it saw.

use std::collections::{BTreeMap, HashMap};

use boreal_engine::hotlog::OwnedChange;
use boreal_netlog::quorum::{OpenReport, PageChange};
use boreal_segment::{Epoch, Lsn, PageId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Committed,
    Annulled,
}

/// One mini-transaction, as handed out.
#[derive(Debug)]
pub struct Mtr {
    /// The shim incarnation that handed it out.
    pub inc: usize,
    pub changes: Vec<PageChange>,
    pub first: Lsn,
    pub cpl: Lsn,
    pub state: State,
    pub acked: bool,
}

/// A successful volume open.
#[derive(Clone, Copy, Debug)]
pub struct Opened {
    pub inc: usize,
    pub epoch: Epoch,
    pub vdl: Lsn,
    pub truncate_end: Lsn,
}

/// See the module docs.
#[derive(Debug)]
pub struct Model {
    payload_bytes: usize,
    pages_per_pg: u64,
    pub mtrs: Vec<Mtr>,
    /// Per page, its records: (LSN, mtr index, change index), LSN order.
    page_recs: HashMap<u64, Vec<(Lsn, usize, usize)>>,
    /// Successful opens, in order.
    pub opens: Vec<Opened>,
    /// Per incarnation: the highest VDL it was seen at, and the open that started it.
    vdl_seen: BTreeMap<usize, Lsn>,
    inc_open: BTreeMap<usize, usize>,
    pub max_acked_cpl: Lsn,
}

impl Model {
    pub fn new(payload_bytes: usize, pages_per_pg: u64) -> Model {
        Model {
            payload_bytes,
            pages_per_pg,
            mtrs: Vec::new(),
            page_recs: HashMap::new(),
            opens: Vec::new(),
            vdl_seen: BTreeMap::new(),
            inc_open: BTreeMap::new(),
            max_acked_cpl: Lsn::ZERO,
        }
    }

    /// The first successful open of an incarnation after `inc`, if any.
    fn later_open(&self, inc: usize) -> Option<Opened> {
        let mine = self.inc_open.get(&inc).copied();
        self.opens
            .iter()
            .enumerate()
            .find(|(i, o)| o.inc != inc && mine.is_none_or(|m| *i > m))
            .map(|(_, o)| *o)
    }

    /// Decides mtr `i` by open `o` (a later shim's recovery).
    fn decide_by(&mut self, i: usize, o: Opened) -> Option<String> {
        let m = &mut self.mtrs[i];
        if m.cpl <= o.vdl {
            m.state = State::Committed;
            None
        } else if m.cpl <= o.truncate_end {
            m.state = State::Annulled;
            if m.acked {
                return Some(format!(
                    "mtr {i} (shim {}, {}..={}) was acknowledged, then truncated by shim {}'s \
                     recovery (vdl {}, truncated to {})",
                    m.inc, m.first, m.cpl, o.inc, o.vdl, o.truncate_end
                ));
            }
            None
        } else {
            m.state = State::Annulled;
            Some(format!(
                "mtr {i} of shim {} ends at {}, above the truncation ({}, {}] of shim {}'s \
                 recovery: an LSN handed out that no truncation annuls",
                m.inc, m.cpl, o.vdl, o.truncate_end, o.inc
            ))
        }
    }

    /// Shim `inc` opened the volume.
    pub fn opened(&mut self, inc: usize, r: &OpenReport) -> Vec<String> {
        let mut v = Vec::new();
        if r.vdl < self.max_acked_cpl {
            let lost: Vec<String> = self
                .mtrs
                .iter()
                .enumerate()
                .filter(|(_, m)| m.acked && m.cpl > r.vdl)
                .map(|(i, m)| format!("mtr {i} ({}..={}, shim {})", m.first, m.cpl, m.inc))
                .collect();
            v.push(format!(
                "shim {inc}'s recovery lost acknowledged commits: vdl {} below {}; lost {}",
                r.vdl,
                self.max_acked_cpl,
                lost.join(", ")
            ));
        }
        if let Some(i) = self.inside(r.vdl) {
            let m = &self.mtrs[i];
            v.push(format!(
                "shim {inc} recovered vdl {} inside mtr {i} ({}..={}): half a mini-transaction \
                 kept",
                r.vdl, m.first, m.cpl
            ));
        }
        let seen = self.vdl_seen.values().copied().max().unwrap_or(Lsn::ZERO);
        if r.vdl < seen {
            v.push(format!(
                "the VDL went back: shim {inc} recovered vdl {} after a shim saw {seen}",
                r.vdl
            ));
        }
        if let Some(last) = self.opens.last()
            && r.epoch <= last.epoch
        {
            v.push(format!(
                "shim {inc} opened at {}, not above shim {}'s {}: a write quorum of every PG \
                 holds the older epoch",
                r.epoch, last.inc, last.epoch
            ));
        }
        let o = Opened {
            inc,
            epoch: r.epoch,
            vdl: r.vdl,
            truncate_end: r.truncated.1,
        };
        self.inc_open.insert(inc, self.opens.len());
        self.opens.push(o);
        self.vdl_seen.insert(inc, r.vdl);
        for i in 0..self.mtrs.len() {
            if self.mtrs[i].state == State::Pending && self.mtrs[i].inc < inc {
                v.extend(self.decide_by(i, o));
            }
        }
        v
    }

    /// A new mini-transaction's changes (no LSNs yet): the caller submits them.
    pub fn allocated(
        &mut self,
        inc: usize,
        changes: Vec<PageChange>,
        first: Lsn,
        cpl: Lsn,
    ) -> (usize, Vec<String>) {
        let i = self.mtrs.len();
        for (k, c) in changes.iter().enumerate() {
            let lsn = Lsn::new(first.get() + k as u64);
            let recs = self.page_recs.entry(c.page.get()).or_default();
            let at = recs.partition_point(|r| r.0 < lsn);
            recs.insert(at, (lsn, i, k));
        }
        self.mtrs.push(Mtr {
            inc,
            changes,
            first,
            cpl,
            state: State::Pending,
            acked: false,
        });
        let mut v = Vec::new();
        if let Some(o) = self.later_open(inc) {
            // A fenced shim handed it out after a newer shim's recovery.
            v.extend(self.decide_by(i, o));
        }
        (i, v)
    }

    /// Shim `inc` acknowledged mtr `i` (its write returned the CPL).
    pub fn acked(&mut self, i: usize) -> Vec<String> {
        let m = &mut self.mtrs[i];
        m.acked = true;
        self.max_acked_cpl = self.max_acked_cpl.max(m.cpl);
        match m.state {
            State::Annulled => vec![format!(
                "shim {} acknowledged mtr {i} ({}..={}) that a newer shim's recovery truncated",
                m.inc, m.first, m.cpl
            )],
            _ => {
                m.state = State::Committed;
                Vec::new()
            }
        }
    }

    /// Shim `inc`'s VDL is `vdl` now.
    pub fn saw_vdl(&mut self, inc: usize, vdl: Lsn) -> Vec<String> {
        let mut v = Vec::new();
        let last = self.vdl_seen.entry(inc).or_insert(Lsn::ZERO);
        if vdl < *last {
            v.push(format!("shim {inc}'s VDL went back from {last} to {vdl}"));
        }
        *last = (*last).max(vdl);
        if let Some(i) = self.inside(vdl) {
            let m = &self.mtrs[i];
            v.push(format!(
                "shim {inc}'s VDL {vdl} is inside mtr {i} ({}..={}): a VDL is always the CPL of \
                 a whole mini-transaction",
                m.first, m.cpl
            ));
        }
        if let Some(o) = self.later_open(inc)
            && vdl > o.vdl
        {
            v.push(format!(
                "fenced shim {inc}'s VDL reached {vdl}, above the VDL {} that shim {}'s recovery \
                 kept",
                o.vdl, o.inc
            ));
        }
        // Everything of its own at or below its VDL is committed.
        for m in self.mtrs.iter_mut().filter(|m| m.inc == inc) {
            if m.state == State::Pending && m.cpl <= vdl {
                m.state = State::Committed;
            }
        }
        v
    }

    /// The mtr that holds `lsn` but does not end there, if any.
    fn inside(&self, lsn: Lsn) -> Option<usize> {
        self.mtrs.iter().position(|m| m.first <= lsn && lsn < m.cpl)
    }

    /// The records of `page` a read at VDL `vdl` must see, LSN order.
    fn visible(&self, page: u64, vdl: Lsn) -> Result<Vec<(Lsn, usize, usize)>, String> {
        let mut out = Vec::new();
        for &(lsn, i, k) in self.page_recs.get(&page).map_or(&[][..], Vec::as_slice) {
            if lsn > vdl {
                break;
            }
            match self.mtrs[i].state {
                State::Annulled => {}
                State::Committed => out.push((lsn, i, k)),
                State::Pending => {
                    return Err(format!(
                        "mtr {i} (shim {}, {}..={}) is undecided below vdl {vdl}",
                        self.mtrs[i].inc, self.mtrs[i].first, self.mtrs[i].cpl
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The page as of `vdl`: its LSN and payload.
    pub fn page_at(&self, page: u64, vdl: Lsn) -> Result<(Lsn, Vec<u8>), String> {
        let recs = self.visible(page, vdl)?;
        let mut payload = vec![0u8; self.payload_bytes];
        let mut lsn = Lsn::ZERO;
        for (l, i, k) in recs {
            match &self.mtrs[i].changes[k].change {
                OwnedChange::Delta { offset, bytes } => {
                    let at = *offset as usize;
                    payload[at..at + bytes.len()].copy_from_slice(bytes);
                }
                OwnedChange::Image(bytes) => payload.copy_from_slice(bytes),
            }
            lsn = l;
        }
        Ok((lsn, payload))
    }

    /// A read through a shim started at VDL `vdl` (already passed to
    /// [`Model::saw_vdl`]) returned `got` for `page`.
    pub fn check_read(
        &mut self,
        page: PageId,
        vdl: Lsn,
        got: (Lsn, &[u8]),
        what: &str,
    ) -> Vec<String> {
        let mut v = Vec::new();
        match self.page_at(page.get(), vdl) {
            Err(e) => v.push(format!("{what}: cannot model {page} at {vdl}: {e}")),
            Ok((lsn, payload)) => {
                if (lsn, payload.as_slice()) != got {
                    v.push(format!(
                        "{what}: {page} at vdl {vdl}: got page lsn {} {}, the model has {lsn}{}",
                        got.0,
                        if payload.len() == got.1.len() {
                            format!("differing at {}", differences(&payload, got.1))
                        } else {
                            format!("of {} bytes", got.1.len())
                        },
                        self.explain(page.get(), got.1),
                    ));
                }
            }
        }
        v
    }

    /// Which mtrs' bytes a wrong page shows, for the violation's message.
    fn explain(&self, page: u64, got: &[u8]) -> String {
        let mut shown = Vec::new();
        for &(lsn, i, k) in self.page_recs.get(&page).map_or(&[][..], Vec::as_slice) {
            if let OwnedChange::Delta { offset, bytes } = &self.mtrs[i].changes[k].change {
                let at = *offset as usize;
                if got.get(at..at + bytes.len()) == Some(&bytes[..]) {
                    shown.push(format!("{lsn}:mtr{i}:{:?}", self.mtrs[i].state));
                }
            }
        }
        if shown.is_empty() {
            String::new()
        } else {
            format!("; its bytes show records {}", shown.join(" "))
        }
    }

    /// The records of `pg` at or below `vdl` the volume holds: (LSN, page, change).
    pub fn pg_records(&self, pg: u32, vdl: Lsn) -> BTreeMap<Lsn, (PageId, OwnedChange, bool)> {
        let mut out = BTreeMap::new();
        for m in &self.mtrs {
            if m.state == State::Annulled || m.cpl > vdl {
                continue;
            }
            for (k, c) in m.changes.iter().enumerate() {
                if (c.page.get() / self.pages_per_pg) as u32 == pg {
                    let lsn = Lsn::new(m.first.get() + k as u64);
                    out.insert(lsn, (c.page, c.change.clone(), k + 1 == m.changes.len()));
                }
            }
        }
        out
    }

    /// The state of the mtr holding `lsn`, if any mtr holds it.
    pub fn owner(&self, lsn: Lsn) -> Option<(usize, State)> {
        self.mtrs
            .iter()
            .enumerate()
            .find(|(_, m)| m.first <= lsn && lsn <= m.cpl)
            .map(|(i, m)| (i, m.state))
    }

    /// Counts: (mtrs, acknowledged, committed, annulled).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let acked = self.mtrs.iter().filter(|m| m.acked).count();
        let committed = self
            .mtrs
            .iter()
            .filter(|m| m.state == State::Committed)
            .count();
        let annulled = self
            .mtrs
            .iter()
            .filter(|m| m.state == State::Annulled)
            .count();
        (self.mtrs.len(), acked, committed, annulled)
    }
}

/// The first few byte offsets where `a` and `b` differ.
fn differences(a: &[u8], b: &[u8]) -> String {
    let d: Vec<String> = a
        .iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .take(4)
        .map(|(i, (x, y))| format!("{i} ({x:#x} vs {y:#x})"))
        .collect();
    d.join(", ")
}
