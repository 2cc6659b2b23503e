//! Reading a boreal data dir from outside the engine: which files there are, and what
//! each one holds, as plain values the `inspect` and `verify` subcommands print or judge.
//!
//! What it owns: finding the files of a core's data dir (or of every core dir in a node
//! dir) by the engine's own names, recognising a single file by its name or magic, and
//! streaming readers of journal files (`journal`), page files (`pages`), and the
//! two-slot metadata and catalog files (`slots`). Every decode goes through
//! `boreal-segment` or the engine's pure slot decoders, so the tools never carry a copy
//! of a layout.
//!
//! What it must never do: open a file for writing, or hold a whole large file in memory.
//! Journal and page files are read in windows of a few MiB whatever their size; only the
//! small fixed-size files (catalog 32 KiB, metadata 8 KiB) are read whole.

pub mod journal;
pub mod pages;
pub mod slots;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use boreal_segment::{PageSize, PgId};

/// What a file of a core's data dir is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// `catalog`: the core's segment list, two 16 KiB slots.
    Catalog,
    /// `journal-NNNN.brj`: a journal file; the number is its file id.
    Journal(u32),
    /// `pg-N.meta`: a segment's metadata, two 4 KiB slots.
    Meta(PgId),
    /// `pg-N.pages`: a segment's page file, two slots per page.
    Pages(PgId),
}

impl FileKind {
    /// The kind a file of this name has in a core's data dir, if any.
    pub fn from_name(name: &str) -> Option<FileKind> {
        if name == "catalog" {
            return Some(FileKind::Catalog);
        }
        if let Some(n) = name
            .strip_prefix("journal-")
            .and_then(|r| r.strip_suffix(".brj"))
        {
            return n.parse().ok().map(FileKind::Journal);
        }
        let rest = name.strip_prefix("pg-")?;
        if let Some(n) = rest.strip_suffix(".meta") {
            return n.parse().ok().map(|n| FileKind::Meta(PgId::new(n)));
        }
        if let Some(n) = rest.strip_suffix(".pages") {
            return n.parse().ok().map(|n| FileKind::Pages(PgId::new(n)));
        }
        None
    }

    /// A short name of the kind, as the JSON output spells it.
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Catalog => "catalog",
            FileKind::Journal(_) => "journal",
            FileKind::Meta(_) => "meta",
            FileKind::Pages(_) => "pages",
        }
    }
}

/// Errors that stop a tool before it can say anything about the data (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path}: not a boreal file: the name is none of catalog, journal-NNNN.brj, \
         pg-N.meta, pg-N.pages, and the first bytes hold no boreal magic"
    )]
    UnknownFile { path: PathBuf },
    #[error(
        "{path}: no boreal files here: a core's data dir holds catalog, journal-NNNN.brj, \
         pg-N.meta and pg-N.pages; a node dir holds such core dirs"
    )]
    Empty { path: PathBuf },
    /// A read ended before the file's size (taken when the file was opened) said it
    /// would: the file was cut while it was read, or the read ended early. Never taken
    /// for the end of the file, which would show zeros, or an older copy, in place of
    /// what the file holds.
    #[error(
        "{path}: read at offset {offset} ended after {got} of {expected} bytes, before the end \
         of the file (was it cut or rewritten while being read?)"
    )]
    ShortRead {
        path: PathBuf,
        offset: u64,
        expected: usize,
        got: usize,
    },
    #[error("writing the output: {0}")]
    Output(#[from] io::Error),
    #[error(
        "{path}: a {kind} file is recognised by its magic but its name says nothing of its \
         {what}; rename it as the engine names it (pg-N.meta, pg-N.pages)"
    )]
    Unnamed {
        path: PathBuf,
        kind: &'static str,
        what: &'static str,
    },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The files of one core's data dir, by kind.
#[derive(Clone, Debug, Default)]
pub struct CoreDir {
    pub dir: PathBuf,
    pub catalog: Option<PathBuf>,
    /// Journal files by file id (from the name).
    pub journals: BTreeMap<u32, PathBuf>,
    pub metas: BTreeMap<PgId, PathBuf>,
    pub pages: BTreeMap<PgId, PathBuf>,
    /// Files that are not the engine's (reported, never read).
    pub unknown: Vec<PathBuf>,
}

impl CoreDir {
    fn is_empty(&self) -> bool {
        self.catalog.is_none()
            && self.journals.is_empty()
            && self.metas.is_empty()
            && self.pages.is_empty()
    }

    /// Every known file, in the order the tools report them: catalog, metadata and page
    /// files by PG, journal files by id.
    pub fn files(&self) -> Vec<(FileKind, &Path)> {
        let mut out = Vec::new();
        if let Some(p) = &self.catalog {
            out.push((FileKind::Catalog, p.as_path()));
        }
        let pgs: std::collections::BTreeSet<PgId> = self
            .metas
            .keys()
            .chain(self.pages.keys())
            .copied()
            .collect();
        for pg in pgs {
            if let Some(p) = self.metas.get(&pg) {
                out.push((FileKind::Meta(pg), p.as_path()));
            }
            if let Some(p) = self.pages.get(&pg) {
                out.push((FileKind::Pages(pg), p.as_path()));
            }
        }
        for (id, p) in &self.journals {
            out.push((FileKind::Journal(*id), p.as_path()));
        }
        out
    }
}

/// What the user pointed a tool at.
#[derive(Clone, Debug)]
pub enum Target {
    /// One or more core dirs (a core dir, or a node dir's core dirs).
    Dirs(Vec<CoreDir>),
    /// A single file.
    File { path: PathBuf, kind: FileKind },
}

fn scan_dir(dir: &Path) -> Result<(CoreDir, Vec<PathBuf>), StoreError> {
    let mut core = CoreDir {
        dir: dir.to_path_buf(),
        ..CoreDir::default()
    };
    let mut subdirs = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_error(dir))?;
    paths.sort();
    for path in paths {
        if path.is_dir() {
            subdirs.push(path);
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match FileKind::from_name(&name) {
            Some(FileKind::Catalog) => core.catalog = Some(path),
            Some(FileKind::Journal(id)) => {
                core.journals.insert(id, path);
            }
            Some(FileKind::Meta(pg)) => {
                core.metas.insert(pg, path);
            }
            Some(FileKind::Pages(pg)) => {
                core.pages.insert(pg, path);
            }
            None => core.unknown.push(path),
        }
    }
    Ok((core, subdirs))
}

/// The subdirectories a storage node (`boreal-node`) splits a core dir into: the page
/// store and the journal. Both are one core.
const CORE_SUBDIRS: [&str; 2] = ["pages", "journal"];

/// Scans a core dir: its own files, and those of its `pages/` and `journal/`
/// subdirectories when it has them (a storage node's layout, `core-<i>/pages`,
/// `core-<i>/journal`). Returns the core and the other subdirectories.
fn scan_core(dir: &Path) -> Result<(CoreDir, Vec<PathBuf>), StoreError> {
    let (mut core, subdirs) = scan_dir(dir)?;
    let mut others = Vec::new();
    for sub in subdirs {
        let is_part = sub
            .file_name()
            .is_some_and(|n| CORE_SUBDIRS.iter().any(|p| n == *p));
        if !is_part {
            others.push(sub);
            continue;
        }
        let (part, _) = scan_dir(&sub)?;
        if part.catalog.is_some() {
            core.catalog = part.catalog;
        }
        core.journals.extend(part.journals);
        core.metas.extend(part.metas);
        core.pages.extend(part.pages);
        core.unknown.extend(part.unknown);
    }
    Ok((core, others))
}

/// Finds what `path` is: a core dir, a node dir of core dirs, or one file.
pub fn discover(path: &Path) -> Result<Target, StoreError> {
    let meta = std::fs::metadata(path).map_err(io_error(path))?;
    if !meta.is_dir() {
        let kind = identify_file(path)?;
        return Ok(Target::File {
            path: path.to_path_buf(),
            kind,
        });
    }
    let (core, subdirs) = scan_core(path)?;
    if !core.is_empty() {
        return Ok(Target::Dirs(vec![core]));
    }
    let mut cores = Vec::new();
    for sub in subdirs {
        let (c, _) = scan_core(&sub)?;
        if !c.is_empty() {
            cores.push(c);
        }
    }
    if cores.is_empty() {
        return Err(StoreError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Target::Dirs(cores))
}

/// The kind of a single file: by its engine name, else by the magic in its first bytes
/// (a journal or catalog then still needs no name; metadata and page files do, since
/// their PG comes from the name).
pub fn identify_file(path: &Path) -> Result<FileKind, StoreError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(kind) = FileKind::from_name(&name) {
        return Ok(kind);
    }
    let file = File::open(path).map_err(io_error(path))?;
    let mut head = [0u8; 16];
    let got = read_full_at(&file, &mut head, 0).map_err(io_error(path))?;
    let word = |at: usize| -> Option<[u8; 4]> {
        (got >= at + 4).then(|| [head[at], head[at + 1], head[at + 2], head[at + 3]])
    };
    match (word(4), word(8)) {
        (Some(m), _) if &m == b"BRLJ" => Ok(FileKind::Journal(u32::MAX)),
        (Some(m), _) if &m == b"BRLC" => Ok(FileKind::Catalog),
        (Some(m), _) if &m == b"BRLM" => Err(StoreError::Unnamed {
            path: path.to_path_buf(),
            kind: "segment metadata",
            what: "PG",
        }),
        (_, Some(m)) if &m == b"BRLP" => Err(StoreError::Unnamed {
            path: path.to_path_buf(),
            kind: "page",
            what: "PG",
        }),
        _ => Err(StoreError::UnknownFile {
            path: path.to_path_buf(),
        }),
    }
}

/// Where a page file's pages are: what the catalog says, or failing that what the
/// metadata file and the page headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub page_size: PageSize,
    /// The page in the file's first pair.
    pub first_page: u64,
    /// Pages in the PG's range (from the catalog only).
    pub page_count: Option<u64>,
    /// Where the layout came from: `catalog`, `meta` or `page headers`.
    pub from: &'static str,
}

/// The layout of the page file of `pg` in `dir`; `None` if nothing says its page size
/// (no catalog entry, no valid metadata, no intact page header).
pub fn page_layout(
    dir: &Path,
    pg: PgId,
    file: &File,
    path: &Path,
    len: u64,
) -> Result<Option<Layout>, StoreError> {
    let catalog = dir.join("catalog");
    if catalog.is_file()
        && let Ok(cat) = slots::read_catalog(&catalog)
        && let Some(w) = cat.winner
        && let slots::Slot::Valid { value, .. } = &cat.slots[w]
        && let Some(e) = value.iter().find(|e| e.pg == pg)
    {
        return Ok(Some(Layout {
            page_size: e.page_size,
            first_page: e.first_page,
            page_count: Some(e.page_count),
            from: "catalog",
        }));
    }
    let meta_path = dir.join(format!("pg-{}.meta", pg.get()));
    let mut from = "page headers";
    let mut page_size = None;
    if meta_path.is_file()
        && let Ok(meta) = slots::read_meta(&meta_path, pg)
        && let Some(w) = meta.winner
        && let slots::Slot::Valid { value, .. } = &meta.slots[w]
    {
        page_size = Some(value.meta.page_size);
        from = "meta";
    }
    let page_size = match page_size {
        Some(ps) => ps,
        None => match pages::sniff_page_size(file, path, len)? {
            Some(ps) => ps,
            None => return Ok(None),
        },
    };
    // The first intact header says which page its pair holds.
    let mut first_page = 0;
    let pair = 2 * page_size.bytes() as u64;
    let mut buf = vec![0u8; pages::READ_BYTES_DEFAULT];
    let mut at = 0u64;
    'outer: while at < len {
        let got = read_known(file, path, &mut buf, at, len)?;
        if got == 0 {
            break;
        }
        for (i, slot) in buf[..got].chunks(page_size.bytes()).enumerate() {
            if let Some((page, _)) = pages::intact_header(slot) {
                let index = (at + (i * page_size.bytes()) as u64) / pair;
                first_page = page.get().saturating_sub(index);
                break 'outer;
            }
        }
        at += got as u64;
    }
    Ok(Some(Layout {
        page_size,
        first_page,
        page_count: None,
        from,
    }))
}

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes
/// read.
fn read_full_at(file: &impl FileExt, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads into `buf` the bytes at `offset` that a file of `len` bytes holds (all of `buf`,
/// or up to the end of the file) and returns how many. `len` is the file's size when it
/// was opened: a read that ends before it is [`StoreError::ShortRead`], never the end of
/// the file. Past `len` the file truly ends, and whether that is allowed is the
/// format's to say (the caller's).
pub fn read_known(
    file: &impl FileExt,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
    len: u64,
) -> Result<usize, StoreError> {
    let expected = (buf.len() as u64).min(len.saturating_sub(offset)) as usize;
    let got = read_full_at(file, &mut buf[..expected], offset).map_err(io_error(path))?;
    if got < expected {
        return Err(StoreError::ShortRead {
            path: path.to_path_buf(),
            offset,
            expected,
            got,
        });
    }
    Ok(got)
}

/// Opens a file read-only and returns it with its length.
pub fn open_read(path: &Path) -> Result<(File, u64), StoreError> {
    let file = File::open(path).map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    Ok((file, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_are_recognised() {
        assert_eq!(FileKind::from_name("catalog"), Some(FileKind::Catalog));
        assert_eq!(
            FileKind::from_name("journal-0003.brj"),
            Some(FileKind::Journal(3))
        );
        assert_eq!(
            FileKind::from_name("pg-12.meta"),
            Some(FileKind::Meta(PgId::new(12)))
        );
        assert_eq!(
            FileKind::from_name("pg-7.pages"),
            Some(FileKind::Pages(PgId::new(7)))
        );
        for bad in ["journal-x.brj", "pg-.meta", "pg-1.page", "notes.txt"] {
            assert_eq!(FileKind::from_name(bad), None, "{bad}");
        }
    }
}
