//! The checkable workload of `boreal cluster load` and `check`, sans-I/O: which slots
//! a mini-transaction writes and what, the acknowledged-commits file (`--acked`), and
//! the verdict on what a recovered volume shows.
//!
//! Slots: every client owns `slots_per_client` slots of [`SLOT_BYTES`] each, spread so
//! that consecutive slots fall in different PGs. Client `c`'s mini-transaction number
//! `seq` (1, 2, ... in each run) writes `records` of its slots, chosen from `(run, c,
//! seq)` alone, each with the value `(run, client, slot, seq)` and a check word. A
//! client has one mini-transaction in flight and records it in the file once
//! committed, before it starts the next; a client whose write fails stops. So after a
//! crash of the shim, each (run, client) has at most one committed mini-transaction the
//! file does not hold: the one after its last recorded (`candidate`).
//!
//! The verdict, per slot location: it must show the bytes of the last recorded write
//! to it (runs in order, then `seq`), or those of a candidate that writes it and comes
//! after that write; anything else — an older value, zeros after a recorded write,
//! bytes no client wrote — is a lost or corrupted commit. A candidate that shows in
//! some of its slots while another of its slots shows an older value was cut in the
//! middle: a mini-transaction must survive whole or not at all.
//!
//! The file: one `run` line per load (its layout), then one `ack` line per commit:
//! `ack RUN CLIENT SEQ CPL PAGE:OFFSET:HEX ...`. A last line without its newline was
//! being written when the process died: it was never reported, and is ignored.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use boreal_engine::hotlog::OwnedChange;
use boreal_netlog::quorum::PageChange;
use boreal_segment::{PageId, PageSize};

/// Bytes of one slot: magic, run, client, slot, seq, check word.
pub const SLOT_BYTES: usize = 32;
const SLOT_MAGIC: [u8; 4] = *b"BCLs";

/// The layout of one run of `load`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub run: u32,
    pub clients: u32,
    pub slots_per_client: u32,
    /// Slots (records) each mini-transaction writes.
    pub records: u32,
    pub page_size: u32,
    pub pages_per_pg: u64,
    pub pgs: u32,
}

/// Where a slot lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    pub page: u64,
    pub offset: u32,
}

/// What a slot holds, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotValue {
    pub run: u32,
    pub client: u32,
    pub slot: u32,
    pub seq: u64,
}

impl Layout {
    /// Refuses a layout whose slots do not fit the volume, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.clients == 0 || self.slots_per_client == 0 || self.records == 0 {
            return Err("clients, slots per client and records must be at least 1".into());
        }
        if self.records > self.slots_per_client {
            return Err(format!(
                "{} records per mini-transaction but {} slots per client: a mini-transaction writes distinct slots",
                self.records, self.slots_per_client
            ));
        }
        let size = PageSize::new(self.page_size).map_err(|e| e.to_string())?;
        let per_page = (size.payload_len() / SLOT_BYTES) as u64;
        let room = per_page * self.pages_per_pg * u64::from(self.pgs);
        let need = u64::from(self.clients) * u64::from(self.slots_per_client);
        if need > room {
            return Err(format!(
                "{need} slots ({} clients × {}) do not fit the volume's {room}: fewer clients or slots",
                self.clients, self.slots_per_client
            ));
        }
        Ok(())
    }

    /// The location of client `client`'s slot `slot`.
    pub fn loc(&self, client: u32, slot: u32) -> Loc {
        let g = u64::from(client) * u64::from(self.slots_per_client) + u64::from(slot);
        let pgs = u64::from(self.pgs);
        let k = g / pgs;
        let page = (g % pgs) * self.pages_per_pg + k % self.pages_per_pg;
        let row = k / self.pages_per_pg;
        Loc {
            page,
            offset: (row as usize * SLOT_BYTES) as u32,
        }
    }

    /// The slots mini-transaction `seq` of `client` writes.
    pub fn slots(&self, client: u32, seq: u64) -> Vec<u32> {
        let start =
            mix(&[u64::from(self.run), u64::from(client), seq]) % u64::from(self.slots_per_client);
        (0..self.records)
            .map(|i| ((start + u64::from(i)) % u64::from(self.slots_per_client)) as u32)
            .collect()
    }

    /// Mini-transaction `seq` of `client`: where it writes and what.
    pub fn txn(&self, client: u32, seq: u64) -> Vec<(Loc, [u8; SLOT_BYTES])> {
        self.slots(client, seq)
            .into_iter()
            .map(|slot| {
                let v = SlotValue {
                    run: self.run,
                    client,
                    slot,
                    seq,
                };
                (self.loc(client, slot), encode(&v))
            })
            .collect()
    }

    /// The same as page changes for the shim.
    pub fn changes(&self, client: u32, seq: u64) -> Vec<PageChange> {
        self.txn(client, seq)
            .into_iter()
            .map(|(loc, bytes)| PageChange {
                page: PageId::new(loc.page),
                change: OwnedChange::Delta {
                    offset: loc.offset,
                    bytes: bytes.to_vec().into(),
                },
            })
            .collect()
    }

    /// The `run` line of the acked file.
    pub fn header(&self) -> String {
        format!(
            "run {} clients={} slots_per_client={} records={} page_size={} pages_per_pg={} pgs={}\n",
            self.run,
            self.clients,
            self.slots_per_client,
            self.records,
            self.page_size,
            self.pages_per_pg,
            self.pgs
        )
    }

    fn parse_header(line: &str) -> Result<Layout, String> {
        let mut f = line.split_whitespace();
        let run = f.nth(1).ok_or("no run number")?;
        let run = run.parse().map_err(|_| format!("run {run:?}"))?;
        let mut kv: HashMap<&str, &str> = HashMap::new();
        for p in f {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("{p:?} is not key=value"))?;
            kv.insert(k, v);
        }
        let get = |k: &str| -> Result<u64, String> {
            kv.get(k)
                .ok_or(format!("{k} missing"))?
                .parse()
                .map_err(|_| format!("{k} is not a number"))
        };
        let small = |k: &str| -> Result<u32, String> {
            u32::try_from(get(k)?).map_err(|_| format!("{k} too large"))
        };
        let l = Layout {
            run,
            clients: small("clients")?,
            slots_per_client: small("slots_per_client")?,
            records: small("records")?,
            page_size: small("page_size")?,
            pages_per_pg: get("pages_per_pg")?,
            pgs: small("pgs")?,
        };
        l.validate()?;
        Ok(l)
    }
}

/// A slot's bytes.
pub fn encode(v: &SlotValue) -> [u8; SLOT_BYTES] {
    let mut b = [0u8; SLOT_BYTES];
    b[0..4].copy_from_slice(&SLOT_MAGIC);
    b[4..8].copy_from_slice(&v.run.to_le_bytes());
    b[8..12].copy_from_slice(&v.client.to_le_bytes());
    b[12..16].copy_from_slice(&v.slot.to_le_bytes());
    b[16..24].copy_from_slice(&v.seq.to_le_bytes());
    let check = mix(&[
        u64::from(v.run),
        u64::from(v.client),
        u64::from(v.slot),
        v.seq,
    ]);
    b[24..32].copy_from_slice(&check.to_le_bytes());
    b
}

/// What a slot's bytes say: `Ok(None)` for a slot never written (all zeros), an error
/// for bytes no client writes.
pub fn decode(b: &[u8]) -> Result<Option<SlotValue>, String> {
    if b.len() != SLOT_BYTES {
        return Err(format!("{} bytes, a slot has {SLOT_BYTES}", b.len()));
    }
    if b.iter().all(|&x| x == 0) {
        return Ok(None);
    }
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let v = SlotValue {
        run: u32_at(4),
        client: u32_at(8),
        slot: u32_at(12),
        seq: u64_at(16),
    };
    if b[0..4] != SLOT_MAGIC || encode(&v)[..] != b[..] {
        return Err(format!("bytes no client writes: {}", hex(b)));
    }
    Ok(Some(v))
}

/// The `ack` line of a committed mini-transaction.
pub fn ack_line(
    run: u32,
    client: u32,
    seq: u64,
    cpl: u64,
    txn: &[(Loc, [u8; SLOT_BYTES])],
) -> String {
    let mut s = format!("ack {run} {client} {seq} {cpl}");
    for (loc, bytes) in txn {
        let _ = write!(s, " {}:{}:{}", loc.page, loc.offset, hex(bytes));
    }
    s.push('\n');
    s
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect()
}

/// One recorded commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub run: u32,
    pub client: u32,
    pub seq: u64,
    pub cpl: u64,
    pub writes: Vec<(Loc, Vec<u8>)>,
}

/// What the acked file holds, folded as it is read (memory bounded by slots, not
/// commits): the layouts, the last recorded write per location, the last recorded
/// seq per (run, client), the highest CPL.
#[derive(Clone, Debug, Default)]
pub struct Acked {
    pub layouts: Vec<Layout>,
    pub commits: u64,
    pub cpl_max: u64,
    /// Location → (run, seq, bytes) of its last recorded write.
    pub last: BTreeMap<Loc, (u32, u64, Vec<u8>)>,
    /// (run, client) → its last recorded seq.
    pub seq_last: BTreeMap<(u32, u32), u64>,
    /// Lines ignored: a torn last line.
    pub torn_tail: bool,
}

impl Acked {
    /// Parses the whole file's text. Any malformed line but a torn last one is an error
    /// naming its line number.
    pub fn parse(text: &str) -> Result<Acked, String> {
        let mut a = Acked::default();
        let complete = match text.rfind('\n') {
            Some(i) => {
                a.torn_tail = i + 1 < text.len();
                &text[..=i]
            }
            None => {
                a.torn_tail = !text.is_empty();
                ""
            }
        };
        for (n, line) in complete.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}", n + 1);
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with("run ") {
                let l = Layout::parse_header(line).map_err(at)?;
                if l.run as usize != a.layouts.len() + 1 {
                    return Err(at(format!("run {} after {} runs", l.run, a.layouts.len())));
                }
                a.layouts.push(l);
                continue;
            }
            let ack = parse_ack(line).map_err(at)?;
            a.add(ack).map_err(at)?;
        }
        Ok(a)
    }

    fn add(&mut self, ack: Ack) -> Result<(), String> {
        let layout = self
            .layouts
            .get(ack.run as usize - 1)
            .filter(|_| ack.run >= 1)
            .ok_or(format!("ack of run {} before its run line", ack.run))?;
        if ack.client >= layout.clients {
            return Err(format!("client {} of {}", ack.client, layout.clients));
        }
        // The file must say what the workload writes: otherwise the check would verify
        // the wrong thing.
        let want = layout.txn(ack.client, ack.seq);
        let same = want.len() == ack.writes.len()
            && want
                .iter()
                .zip(&ack.writes)
                .all(|((l, b), (l2, b2))| l == l2 && b[..] == b2[..]);
        if !same {
            return Err(format!(
                "run {} client {} seq {}: its writes are not the workload's",
                ack.run, ack.client, ack.seq
            ));
        }
        let prev = self.seq_last.entry((ack.run, ack.client)).or_insert(0);
        if ack.seq != *prev + 1 {
            return Err(format!(
                "run {} client {}: seq {} after {}",
                ack.run, ack.client, ack.seq, prev
            ));
        }
        *prev = ack.seq;
        self.commits += 1;
        self.cpl_max = self.cpl_max.max(ack.cpl);
        for (loc, bytes) in ack.writes {
            self.last.insert(loc, (ack.run, ack.seq, bytes));
        }
        Ok(())
    }

    /// Every mini-transaction that may have committed without being recorded: per
    /// (run, client), the one after its last recorded.
    pub fn candidates(&self) -> Vec<(Layout, u32, u64)> {
        let mut out = Vec::new();
        for l in &self.layouts {
            for c in 0..l.clients {
                let last = self.seq_last.get(&(l.run, c)).copied().unwrap_or(0);
                out.push((*l, c, last + 1));
            }
        }
        out
    }

    /// Every location the check reads: recorded writes and candidates'.
    pub fn locations(&self) -> Vec<Loc> {
        let mut locs: Vec<Loc> = self.last.keys().copied().collect();
        for (l, c, seq) in self.candidates() {
            locs.extend(l.txn(c, seq).into_iter().map(|(loc, _)| loc));
        }
        locs.sort_unstable();
        locs.dedup();
        locs
    }
}

fn parse_ack(line: &str) -> Result<Ack, String> {
    let mut f = line.split_whitespace();
    if f.next() != Some("ack") {
        return Err(format!("neither a run nor an ack line: {line:?}"));
    }
    let mut num = |what: &str| -> Result<u64, String> {
        f.next()
            .ok_or(format!("{what} missing"))?
            .parse()
            .map_err(|_| format!("{what} is not a number"))
    };
    let run = u32::try_from(num("run")?).map_err(|_| "run too large".to_string())?;
    let client = u32::try_from(num("client")?).map_err(|_| "client too large".to_string())?;
    let seq = num("seq")?;
    let cpl = num("cpl")?;
    let mut writes = Vec::new();
    for w in f {
        let mut p = w.splitn(3, ':');
        let (Some(page), Some(offset), Some(bytes)) = (p.next(), p.next(), p.next()) else {
            return Err(format!("write {w:?} is not PAGE:OFFSET:HEX"));
        };
        let page = page.parse().map_err(|_| format!("page {page:?}"))?;
        let offset = offset.parse().map_err(|_| format!("offset {offset:?}"))?;
        writes.push((Loc { page, offset }, unhex(bytes)?));
    }
    Ok(Ack {
        run,
        client,
        seq,
        cpl,
        writes,
    })
}

/// The order of writes to one location: (run, seq).
type OrderKey = (u32, u64);

/// One thing the volume shows that it must not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub loc: Loc,
    pub what: String,
}

/// Judges what the volume shows (`seen`: each location's bytes) against the file. See
/// the module docs.
pub fn judge(acked: &Acked, seen: &BTreeMap<Loc, Vec<u8>>) -> Vec<Violation> {
    let mut out = Vec::new();
    // Candidates by location, with their order key (run, seq).
    let cands = acked.candidates();
    let mut by_loc: HashMap<Loc, Vec<(OrderKey, [u8; SLOT_BYTES])>> = HashMap::new();
    for (l, c, seq) in &cands {
        for (loc, bytes) in l.txn(*c, *seq) {
            by_loc.entry(loc).or_default().push(((l.run, *seq), bytes));
        }
    }
    let show = |b: &[u8]| match decode(b) {
        Ok(None) => "zeros (never written)".to_string(),
        Ok(Some(v)) => format!(
            "run {} client {} slot {} seq {}",
            v.run, v.client, v.slot, v.seq
        ),
        Err(e) => e,
    };
    for loc in acked.locations() {
        let Some(got) = seen.get(&loc) else {
            out.push(Violation {
                loc,
                what: "not read".into(),
            });
            continue;
        };
        let last = acked.last.get(&loc);
        let key_last = last.map_or((0, 0), |(r, s, _)| (*r, *s));
        if last.is_some_and(|(_, _, b)| b == got) {
            continue;
        }
        let newer_candidate = by_loc
            .get(&loc)
            .is_some_and(|cs| cs.iter().any(|(k, b)| *k > key_last && b[..] == got[..]));
        if newer_candidate {
            continue;
        }
        if last.is_none() && got.iter().all(|&x| x == 0) {
            continue;
        }
        out.push(Violation {
            loc,
            what: match last {
                Some((r, s, b)) => format!(
                    "acknowledged run {r} seq {s} ({}), found {}",
                    show(b),
                    show(got)
                ),
                None => format!("never acknowledged, found {}", show(got)),
            },
        });
    }
    // A candidate seen in part, with an older value elsewhere, was cut in the middle.
    for (l, c, seq) in &cands {
        let txn = l.txn(*c, *seq);
        let shows =
            |(loc, b): &(Loc, [u8; SLOT_BYTES])| seen.get(loc).is_some_and(|g| g[..] == b[..]);
        if !txn.iter().any(shows) {
            continue;
        }
        for w in txn.iter().filter(|w| !shows(w)) {
            let older = match seen.get(&w.0).map(|g| decode(g)) {
                Some(Ok(None)) => true,
                Some(Ok(Some(v))) => (v.run, v.seq) < (l.run, *seq),
                _ => false,
            };
            if older {
                out.push(Violation {
                    loc: w.0,
                    what: format!(
                        "run {} client {c} seq {seq} shows in other slots but not here: a mini-transaction cut in the middle",
                        l.run
                    ),
                });
            }
        }
    }
    out
}

/// SplitMix64 over the words: the slot choice and the check word.
fn mix(words: &[u64]) -> u64 {
    let mut x: u64 = 0x243F_6A88_85A3_08D3;
    for &w in words {
        x ^= w;
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(run: u32) -> Layout {
        Layout {
            run,
            clients: 3,
            slots_per_client: 8,
            records: 4,
            page_size: 4096,
            pages_per_pg: 4,
            pgs: 3,
        }
    }

    /// The file and the volume of a run where each client committed `n` and, for
    /// client 0, one more that was not recorded.
    fn scenario() -> (String, BTreeMap<Loc, Vec<u8>>, Layout) {
        let l = layout(1);
        let mut text = format!("# test\n{}", l.header());
        let mut seen: BTreeMap<Loc, Vec<u8>> = BTreeMap::new();
        for c in 0..l.clients {
            for seq in 1..=5 {
                let t = l.txn(c, seq);
                text.push_str(&ack_line(1, c, seq, seq * 10 + u64::from(c), &t));
                for (loc, b) in t {
                    seen.insert(loc, b.to_vec());
                }
            }
        }
        for (loc, b) in l.txn(0, 6) {
            seen.insert(loc, b.to_vec());
        }
        (text, seen, l)
    }

    #[test]
    fn slots_are_distinct_spread_over_pgs_and_round_trip() {
        let l = layout(1);
        l.validate().unwrap();
        let mut all: Vec<Loc> = (0..3)
            .flat_map(|c| (0..8).map(move |s| (c, s)))
            .map(|(c, s)| l.loc(c, s))
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "two slots share a location");
        let pgs: Vec<u64> = l.txn(1, 7).iter().map(|(loc, _)| loc.page / 4).collect();
        assert!(pgs.windows(2).any(|w| w[0] != w[1]), "{pgs:?}");
        let v = SlotValue {
            run: 2,
            client: 1,
            slot: 3,
            seq: 99,
        };
        assert_eq!(decode(&encode(&v)).unwrap(), Some(v));
        let mut b = encode(&v);
        b[20] ^= 1;
        assert!(decode(&b).is_err());
        assert_eq!(decode(&[0; SLOT_BYTES]).unwrap(), None);
        let mut big = l;
        big.clients = 1000;
        assert!(big.validate().unwrap_err().contains("do not fit"));
    }

    #[test]
    fn a_volume_showing_every_commit_passes_with_an_unrecorded_one() {
        let (text, seen, _) = scenario();
        let a = Acked::parse(&text).unwrap();
        assert_eq!(a.commits, 15);
        assert_eq!(a.cpl_max, 52);
        assert_eq!(judge(&a, &seen), vec![]);
        // A torn last line was never reported: ignored.
        let torn = format!("{text}ack 1 0 6 99 0:0:ab");
        let a = Acked::parse(&torn).unwrap();
        assert!(a.torn_tail);
        assert_eq!(judge(&a, &seen), vec![]);
    }

    #[test]
    fn a_lost_commit_a_foreign_value_and_a_cut_transaction_are_caught() {
        let (text, seen, l) = scenario();
        let a = Acked::parse(&text).unwrap();
        // Client 1's last commit lost in one slot: it shows seq 4 or older... or zeros.
        let (loc, _) = l.txn(1, 5)[0];
        let mut lost = seen.clone();
        lost.insert(loc, vec![0; SLOT_BYTES]);
        let v = judge(&a, &lost);
        assert!(
            v.iter()
                .any(|v| v.loc == loc && v.what.contains("acknowledged run 1 seq 5")),
            "{v:?}"
        );
        // Bytes no client wrote.
        let mut foreign = seen.clone();
        foreign.insert(loc, vec![7; SLOT_BYTES]);
        let v = judge(&a, &foreign);
        assert!(
            v.iter().any(|v| v.what.contains("no client writes")),
            "{v:?}"
        );
        // Client 0's unrecorded commit shows in one slot only: cut in the middle.
        let t6 = l.txn(0, 6);
        let mut cut = seen.clone();
        for (loc, _) in &t6[1..] {
            let before = a
                .last
                .get(loc)
                .map(|x| x.2.clone())
                .unwrap_or(vec![0; SLOT_BYTES]);
            cut.insert(*loc, before);
        }
        let v = judge(&a, &cut);
        assert!(
            v.iter().any(|v| v.what.contains("cut in the middle")),
            "{v:?}"
        );
        // A value from a later, never-issued seq.
        let mut future = seen;
        let (loc7, b7) = l.txn(2, 9)[0];
        future.insert(loc7, b7.to_vec());
        assert!(!judge(&a, &future).is_empty());
    }

    #[test]
    fn a_file_that_is_not_the_workload_is_refused_naming_the_line() {
        let (text, _, _) = scenario();
        let bad = text.replacen("ack 1 1 2 ", "ack 1 1 3 ", 1);
        let e = Acked::parse(&bad).unwrap_err();
        assert!(e.starts_with("line "), "{e}");
        let e = Acked::parse("ack 1 0 1 5\n").unwrap_err();
        assert!(e.contains("before its run line"), "{e}");
    }
}
