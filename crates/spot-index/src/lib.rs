//! Tree-sitter index of the workspace: symbols, references, function-level chunks and a BM25
//! lexical index, kept current file by file. No LSP, no tokio, no model.
//!
//! The index is a concurrent map from relative path to an immutable [`FileEntry`]; an update
//! replaces one entry, so queries never wait for a long re-index and always see whole files.
//! Corpus-wide statistics (BM25 document frequencies) are summed over the files at query time,
//! so there is no global state to keep consistent. Files open in the editor are pinned: their
//! buffer text wins over the disk until they are closed.

mod extract;
pub mod file;
pub mod lang;
mod lex;
pub mod navigate;
pub mod persist;
pub mod query;
pub mod tokenize;
pub mod walk;
pub mod watch;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rayon::prelude::*;
use serde::Serialize;

pub use extract::SyntaxError;
pub use file::{Chunk, Def, DefKind, FileEntry, FileIndex, Ref, Span, MAX_NESTING};
pub use lang::Lang;
use spot_base::cancel::{CancelToken, Cancelled};
pub use walk::{SkipReason, Stamp};

/// Default limit on the size of an indexed file.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Settings of an index.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Files larger than this are skipped (with a reason in the stats).
    pub max_file_size: u64,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

/// Progress of a build, reported every few files.
#[derive(Debug, Clone, Copy)]
pub struct BuildProgress {
    pub done: usize,
    pub total: usize,
}

/// What a build did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildStats {
    /// Indexable files found.
    pub files: usize,
    /// Files parsed in this build.
    pub parsed: usize,
    /// Files whose cached entry was still valid.
    pub reused: usize,
    /// Cached entries of files that no longer exist.
    pub removed: usize,
    /// Files decoded lossily (invalid UTF-8).
    pub lossy: usize,
    pub skipped: Vec<SkippedFile>,
    pub symbols: usize,
    pub references: usize,
    pub chunks: usize,
    pub bytes: u64,
    #[serde(serialize_with = "ser_secs")]
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct SkippedFile {
    pub path: String,
    #[serde(flatten)]
    pub reason: SkipReason,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Totals over the current content of the index.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub files: usize,
    pub symbols: usize,
    pub references: usize,
    pub chunks: usize,
    pub bytes: u64,
}

/// Result of indexing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileUpdate {
    /// Parsed and stored.
    Indexed,
    /// Same content as the stored entry: nothing to do.
    Unchanged,
    /// Removed from the index (deleted, or no longer indexable).
    Removed,
    Skipped(SkipReason),
    /// Not an indexed language, outside the workspace, ignored, or pinned by the editor.
    NotIndexed,
}

/// The index of one workspace.
pub struct Index {
    root: PathBuf,
    options: IndexOptions,
    files: DashMap<String, Arc<FileEntry>>,
    skipped: DashMap<String, SkipReason>,
    /// Files whose editor buffer is authoritative.
    pinned: DashMap<String, ()>,
    ignore: walk::IgnoreMatcher,
    /// Bumped by every change of `files`; compared with `saved` to know whether to persist.
    generation: AtomicU64,
    saved: AtomicU64,
    trees: parking_lot::Mutex<TreeCache>,
}

thread_local! {
    static PARSER: RefCell<tree_sitter::Parser> = RefCell::new(tree_sitter::Parser::new());
}

/// Parses and extracts one file's text.
pub fn index_text(lang: Lang, rel: &str, text: &str) -> FileIndex {
    PARSER.with(|p| {
        let mut parser = p.borrow_mut();
        match extract::parse(&mut parser, lang, text, None) {
            Some(tree) => extract::extract(lang, rel, text, &tree),
            None => FileIndex::default(),
        }
    })
}

/// Trees of recently updated files, so the next update of the same file (an editor's change
/// or save) re-parses incrementally.
const TREE_CACHE_FILES: usize = 16;

#[derive(Default)]
struct TreeCache {
    /// Most recent last: (relative path, the text the tree was parsed from, tree).
    entries: Vec<(String, Arc<str>, tree_sitter::Tree)>,
}

impl TreeCache {
    fn take(&mut self, rel: &str) -> Option<(Arc<str>, tree_sitter::Tree)> {
        let pos = self.entries.iter().position(|(r, _, _)| r == rel)?;
        let (_, text, tree) = self.entries.remove(pos);
        Some((text, tree))
    }

    fn put(&mut self, rel: &str, text: Arc<str>, tree: tree_sitter::Tree) {
        if self.entries.len() >= TREE_CACHE_FILES {
            self.entries.remove(0);
        }
        self.entries.push((rel.to_owned(), text, tree));
    }

    /// The cached tree of `rel` and the text it was parsed from (cheap clones).
    fn get(&self, rel: &str) -> Option<(Arc<str>, tree_sitter::Tree)> {
        self.entries
            .iter()
            .find(|(r, _, _)| r == rel)
            .map(|(_, text, tree)| (Arc::clone(text), tree.clone()))
    }

    fn contains(&self, rel: &str) -> bool {
        self.entries.iter().any(|(r, _, _)| r == rel)
    }

    fn forget(&mut self, rel: &str) {
        self.entries.retain(|(r, _, _)| r != rel);
    }
}

/// The single edit that turns `old` into `new`: common prefix and suffix kept, the middle
/// replaced. Enough for tree-sitter to reuse everything outside the change.
fn input_edit(old: &str, new: &str) -> tree_sitter::InputEdit {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let point = |bytes: &[u8], at: usize| {
        let before = bytes.get(..at).unwrap_or(bytes);
        let row = before.iter().filter(|&&c| c == b'\n').count();
        let col = before.iter().rev().take_while(|&&c| c != b'\n').count();
        tree_sitter::Point::new(row, col)
    };
    tree_sitter::InputEdit {
        start_byte: prefix,
        old_end_byte: a.len() - suffix,
        new_end_byte: b.len() - suffix,
        start_position: point(a, prefix),
        old_end_position: point(a, a.len() - suffix),
        new_end_position: point(b, b.len() - suffix),
    }
}

/// Parses `text`, incrementally from `cached` (a tree and the text it was parsed from) when
/// there is one: tree-sitter reuses everything outside the changed middle.
fn reparse(
    lang: Lang,
    text: &str,
    cached: Option<(Arc<str>, tree_sitter::Tree)>,
) -> Option<tree_sitter::Tree> {
    let old = cached.map(|(old_text, mut tree)| {
        tree.edit(&input_edit(&old_text, text));
        tree
    });
    PARSER.with(|p| extract::parse(&mut p.borrow_mut(), lang, text, old.as_ref()))
}

/// Parses only `ranges` of `text` (byte ranges, sorted, not overlapping): what lies outside
/// them is not in the tree, and the nodes inside have the offsets and positions of the whole
/// text. `None` if the ranges are not valid for `text`.
fn parse_ranges(
    lang: Lang,
    text: &str,
    ranges: &[std::ops::Range<usize>],
) -> Option<tree_sitter::Tree> {
    let point = |at: usize| {
        let before = text.as_bytes().get(..at)?;
        let row = before.iter().filter(|&&b| b == b'\n').count();
        let col = before.iter().rev().take_while(|&&b| b != b'\n').count();
        Some(tree_sitter::Point::new(row, col))
    };
    let included = ranges
        .iter()
        .map(|r| {
            Some(tree_sitter::Range {
                start_byte: r.start,
                end_byte: r.end,
                start_point: point(r.start)?,
                end_point: point(r.end)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    PARSER.with(|p| {
        let mut parser = p.borrow_mut();
        parser.set_included_ranges(&included).ok()?;
        let tree = extract::parse(&mut parser, lang, text, None);
        // Back to whole texts for the thread's next parse.
        let _ = parser.set_included_ranges(&[]);
        tree
    })
}

/// Extracts the index of an already parsed file (benchmarks and tools that keep the tree).
pub fn extract_tree(lang: Lang, rel: &str, text: &str, tree: &tree_sitter::Tree) -> FileIndex {
    extract::extract(lang, rel, text, tree)
}

/// Parses `text` and counts ERROR / MISSING nodes (patch validation uses it).
pub fn count_parse_errors(lang: Lang, text: &str) -> Option<u32> {
    PARSER.with(|p| {
        let tree = extract::parse(&mut p.borrow_mut(), lang, text, None)?;
        Some(extract::count_errors(tree.root_node()))
    })
}

/// The syntax errors tree-sitter finds in `text` (at most `limit`), or `None` when it could not
/// parse at all.
pub fn syntax_errors(lang: Lang, text: &str, limit: usize) -> Option<Vec<extract::SyntaxError>> {
    PARSER.with(|p| {
        let tree = extract::parse(&mut p.borrow_mut(), lang, text, None)?;
        Some(extract::syntax_errors(tree.root_node(), limit))
    })
}

impl Index {
    /// An empty index of the workspace at `root` (absolute, canonical).
    pub fn new(root: PathBuf, options: IndexOptions) -> Index {
        Index {
            ignore: walk::IgnoreMatcher::new(&root),
            root,
            options,
            files: DashMap::new(),
            skipped: DashMap::new(),
            pinned: DashMap::new(),
            generation: AtomicU64::new(1),
            saved: AtomicU64::new(0),
            trees: parking_lot::Mutex::new(TreeCache::default()),
        }
    }

    /// Has the index changed since it was loaded from or saved to the cache?
    pub fn needs_save(&self) -> bool {
        self.generation.load(Ordering::Acquire) != self.saved.load(Ordering::Acquire)
    }

    fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that the content as of `generation` is persisted.
    fn mark_saved(&self, generation: u64) {
        self.saved.store(generation, Ordering::Release);
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    /// `abs` relative to the root, `/`-separated; `None` outside the workspace.
    pub fn rel_path(&self, abs: &Path) -> Option<String> {
        walk::rel_path(&self.root, abs)
    }

    pub fn abs_path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The text of workspace file `rel` on disk, as the walker would read it (`None`: missing,
    /// binary, a symlink or over the size limit).
    pub fn read_from_disk(&self, rel: &str) -> Option<String> {
        walk::read_text(&self.abs_path(rel), self.options.max_file_size)
            .ok()
            .map(|l| l.text)
    }

    pub fn file(&self, rel: &str) -> Option<Arc<FileEntry>> {
        self.files.get(rel).map(|e| Arc::clone(e.value()))
    }

    /// A consistent list of the current entries (cheap: clones `Arc`s).
    pub fn snapshot(&self) -> Vec<Arc<FileEntry>> {
        self.files.iter().map(|e| Arc::clone(e.value())).collect()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for e in self.files.iter() {
            t.files += 1;
            t.symbols += e.index.defs.len();
            t.references += e.index.refs.len();
            t.chunks += e.index.chunks.len();
            t.bytes += e.size;
        }
        t
    }

    pub fn skipped(&self) -> Vec<SkippedFile> {
        let mut v: Vec<SkippedFile> = self
            .skipped
            .iter()
            .map(|e| SkippedFile {
                path: e.key().clone(),
                reason: e.value().clone(),
            })
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// Indexes the whole workspace: walks it, reuses entries whose stat stamp (or else content
    /// hash) is unchanged, parses the rest on all cores in priority order, and drops entries of
    /// files that are gone. Queries see each file as soon as it is parsed.
    pub fn build(
        &self,
        cancel: &CancelToken,
        progress: &(dyn Fn(BuildProgress) + Sync),
    ) -> Result<BuildStats, Cancelled> {
        let started = Instant::now();
        self.ignore.invalidate();
        let (candidates, skipped) = walk::discover(&self.root, self.options.max_file_size);
        cancel.check()?;
        self.skipped.clear();
        for (rel, reason) in skipped {
            self.skipped.insert(rel, reason);
        }

        // Entries of files that disappeared while we were not watching.
        let present: std::collections::HashSet<&str> =
            candidates.iter().map(|c| c.rel.as_str()).collect();
        let stale: Vec<String> = self
            .files
            .iter()
            .filter(|e| !present.contains(e.key().as_str()) && !self.pinned.contains_key(e.key()))
            .map(|e| e.key().clone())
            .collect();
        for rel in &stale {
            self.files.remove(rel);
            self.touch();
        }

        let total = candidates.len();
        let done = AtomicUsize::new(0);
        let parsed = AtomicUsize::new(0);
        let lossy = AtomicUsize::new(0);
        progress(BuildProgress { done: 0, total });
        let result: Result<(), Cancelled> = candidates.par_iter().try_for_each(|c| {
            cancel.check()?;
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(64) || n == total {
                progress(BuildProgress { done: n, total });
            }
            if self.pinned.contains_key(&c.rel) {
                return Ok(());
            }
            if let Some(old) = self.files.get(&c.rel) {
                // Unchanged by git's rule; anything else is read and its content compared.
                if old.stamp == Some(c.stamp) {
                    return Ok(());
                }
            }
            match walk::read_text(&c.abs, self.options.max_file_size) {
                Ok(loaded) => {
                    if loaded.lossy {
                        lossy.fetch_add(1, Ordering::Relaxed);
                    }
                    if let FileUpdate::Indexed =
                        self.store(c.lang, &c.rel, &loaded.text, loaded.stamp)
                    {
                        parsed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(reason) => {
                    if self.files.remove(&c.rel).is_some() {
                        self.touch();
                    }
                    self.skipped.insert(c.rel.clone(), reason);
                }
            }
            Ok(())
        });
        result?;

        let totals = self.totals();
        let parsed = parsed.into_inner();
        Ok(BuildStats {
            files: total,
            parsed,
            reused: totals.files.saturating_sub(parsed),
            removed: stale.len(),
            lossy: lossy.into_inner(),
            skipped: self.skipped(),
            symbols: totals.symbols,
            references: totals.references,
            chunks: totals.chunks,
            bytes: totals.bytes,
            elapsed: started.elapsed(),
        })
    }

    /// Like [`store`](Self::store), for single-file updates: re-parses incrementally from the
    /// file's previous tree when one is cached, and caches the new tree. With `editing` (an
    /// editor buffer), an unchanged file is parsed once anyway so the edits that follow are
    /// incremental.
    fn store_incremental(
        &self,
        lang: Lang,
        rel: &str,
        text: &str,
        stamp: Option<Stamp>,
        editing: bool,
    ) -> FileUpdate {
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        if self
            .files
            .get(rel)
            .is_some_and(|old| old.hash == hash && old.lang == lang)
        {
            let update = self.store(lang, rel, text, stamp);
            if editing && !self.trees.lock().contains(rel) {
                let tree = PARSER.with(|p| extract::parse(&mut p.borrow_mut(), lang, text, None));
                if let Some(tree) = tree {
                    self.trees.lock().put(rel, Arc::from(text), tree);
                }
            }
            return update;
        }
        let cached = self.trees.lock().take(rel);
        let Some(tree) = reparse(lang, text, cached) else {
            return self.store(lang, rel, text, stamp);
        };
        let index = extract::extract(lang, rel, text, &tree);
        self.trees.lock().put(rel, Arc::from(text), tree);
        self.put(lang, rel, hash, text.len() as u64, stamp, index);
        FileUpdate::Indexed
    }

    fn put(
        &self,
        lang: Lang,
        rel: &str,
        hash: u64,
        size: u64,
        stamp: Option<Stamp>,
        index: FileIndex,
    ) {
        self.skipped.remove(rel);
        self.files.insert(
            rel.to_owned(),
            Arc::new(FileEntry {
                path: rel.to_owned(),
                lang,
                hash,
                size,
                stamp,
                index,
            }),
        );
        self.touch();
    }

    /// Parses `text` and stores it as `rel`, unless the stored entry has the same content (then
    /// only its stamp is refreshed).
    fn store(&self, lang: Lang, rel: &str, text: &str, stamp: Option<Stamp>) -> FileUpdate {
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        if let Some(mut old) = self.files.get_mut(rel) {
            if old.hash == hash && old.lang == lang {
                if old.stamp != stamp {
                    Arc::make_mut(&mut old).stamp = stamp;
                    self.touch();
                }
                return FileUpdate::Unchanged;
            }
        }
        let index = index_text(lang, rel, text);
        self.put(lang, rel, hash, text.len() as u64, stamp, index);
        FileUpdate::Indexed
    }

    /// Re-indexes one file from disk (after a save, or a watcher event). A missing file is
    /// removed; a directory is walked and all its files indexed.
    pub fn update_from_disk(&self, abs: &Path) -> FileUpdate {
        let Some(rel) = self.rel_path(abs) else {
            return FileUpdate::NotIndexed;
        };
        if self.pinned.contains_key(&rel) {
            return FileUpdate::NotIndexed;
        }
        let Some(lang) = Lang::from_path(abs) else {
            return FileUpdate::NotIndexed;
        };
        if self.through_symlink(abs) {
            // Reached through a symlinked directory: possibly outside the workspace.
            return self.remove_quiet(&rel);
        }
        let meta = match std::fs::symlink_metadata(abs) {
            Ok(m) => m,
            Err(_) => return self.remove(&rel),
        };
        if meta.is_dir() {
            // A file replaced by a directory.
            self.remove(&rel);
            return FileUpdate::NotIndexed;
        }
        if self.ignore.is_ignored(abs, false) {
            return self.remove_quiet(&rel);
        }
        match walk::read_text(abs, self.options.max_file_size) {
            Ok(loaded) => self.store_incremental(lang, &rel, &loaded.text, loaded.stamp, false),
            Err(reason) => {
                if self.files.remove(&rel).is_some() {
                    self.touch();
                }
                self.skipped.insert(rel, reason.clone());
                FileUpdate::Skipped(reason)
            }
        }
    }

    /// Indexes an editor buffer and pins the file so disk events do not override it.
    pub fn update_from_buffer(&self, abs: &Path, text: &str) -> FileUpdate {
        let Some(rel) = self.rel_path(abs) else {
            return FileUpdate::NotIndexed;
        };
        let Some(lang) = Lang::from_path(abs) else {
            return FileUpdate::NotIndexed;
        };
        self.pinned.insert(rel.clone(), ());
        if text.len() as u64 > self.options.max_file_size {
            let reason = SkipReason::TooLarge {
                size: text.len() as u64,
                limit: self.options.max_file_size,
            };
            if self.files.remove(&rel).is_some() {
                self.touch();
            }
            self.skipped.insert(rel, reason.clone());
            return FileUpdate::Skipped(reason);
        }
        self.store_incremental(lang, &rel, text, None, true)
    }

    /// Indexes `text` as the file `rel` without pinning it — for indexes of content that is not
    /// on disk (a commit read from git history).
    pub fn set_text(&self, rel: &str, text: &str) -> FileUpdate {
        let Some(lang) = Lang::from_path(Path::new(rel)) else {
            return FileUpdate::NotIndexed;
        };
        if text.len() as u64 > self.options.max_file_size {
            return self.remove(rel);
        }
        self.store(lang, rel, text, None)
    }

    /// The syntax tree of `text` as the file `rel`. An open buffer's cached tree is used as it
    /// is when it was parsed from exactly this text (a request after the re-indexer caught up),
    /// or re-parsed incrementally from it when the buffer has moved on (edits still streaming
    /// in); other files get a fresh parse. The cache is left as it is.
    pub fn tree_of(&self, lang: Lang, rel: &str, text: &str) -> Option<tree_sitter::Tree> {
        let cached = self.trees.lock().get(rel);
        match cached {
            Some((old_text, tree)) if *old_text == *text => Some(tree),
            cached => reparse(lang, text, cached),
        }
    }

    /// The entry of `rel` as extracted from exactly `text`: the stored one when it was built
    /// from this text, else one extracted now (from the file's cached tree, re-parsed
    /// incrementally, when it has one) and not stored. `None` when `rel` is not indexed.
    ///
    /// What a query at an offset in `text` reads: an entry of another version of the file (an
    /// editor's buffer re-indexed after more edits arrived) has other offsets and names.
    pub fn file_for_text(&self, rel: &str, text: &str) -> Option<Arc<FileEntry>> {
        let stored = self.file(rel)?;
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        if stored.hash == hash {
            return Some(stored);
        }
        let tree = self.tree_of(stored.lang, rel, text)?;
        Some(Arc::new(FileEntry {
            path: rel.to_owned(),
            lang: stored.lang,
            hash,
            size: text.len() as u64,
            stamp: None,
            index: extract::extract(stored.lang, rel, text, &tree),
        }))
    }

    /// Like [`tree_of`](Self::tree_of), except that a file without a cached tree (one not open
    /// in the editor) is parsed only within `ranges` of `text` (see `parse_ranges`): a caller
    /// that needs one function's nodes does not pay for a parse of the whole file.
    pub fn tree_of_ranges(
        &self,
        lang: Lang,
        rel: &str,
        text: &str,
        ranges: &[std::ops::Range<usize>],
    ) -> Option<tree_sitter::Tree> {
        let cached = self.trees.lock().get(rel);
        match cached {
            Some((old_text, tree)) if *old_text == *text => Some(tree),
            Some(cached) => reparse(lang, text, Some(cached)),
            None => parse_ranges(lang, text, ranges),
        }
    }

    /// Drops `rel` from the index.
    pub fn remove_path(&self, rel: &str) -> FileUpdate {
        self.remove(rel)
    }

    /// The editor closed the file: the disk is authoritative again.
    pub fn unpin(&self, abs: &Path) -> FileUpdate {
        let Some(rel) = self.rel_path(abs) else {
            return FileUpdate::NotIndexed;
        };
        self.pinned.remove(&rel);
        self.update_from_disk(abs)
    }

    /// Re-indexes everything under a directory that appeared (created or moved in), and drops
    /// entries under directories that disappeared.
    pub fn update_dir(&self, abs: &Path) -> usize {
        let Some(rel) = self.rel_path(abs) else {
            return 0;
        };
        let prefix = format!("{rel}/");
        let real_dir =
            std::fs::symlink_metadata(abs).is_ok_and(|m| m.is_dir()) && !self.through_symlink(abs);
        if !real_dir {
            let gone: Vec<String> = self
                .files
                .iter()
                .filter(|e| e.key().starts_with(&prefix) && !self.pinned.contains_key(e.key()))
                .map(|e| e.key().clone())
                .collect();
            for r in &gone {
                self.files.remove(r);
                self.touch();
            }
            return gone.len();
        }
        // A file replaced by a directory of the same name.
        let mut changed = usize::from(self.remove(&rel) == FileUpdate::Removed);
        let (candidates, skipped) = walk::discover(abs, self.options.max_file_size);
        for (sub, reason) in skipped {
            self.skipped.insert(format!("{prefix}{sub}"), reason);
        }
        // Entries under the directory that are no longer on disk.
        let present: std::collections::HashSet<PathBuf> =
            candidates.iter().map(|c| c.abs.clone()).collect();
        let gone: Vec<String> = self
            .files
            .iter()
            .filter(|e| e.key().starts_with(&prefix) && !self.pinned.contains_key(e.key()))
            .filter(|e| !present.contains(&self.abs_path(e.key())))
            .map(|e| e.key().clone())
            .collect();
        for r in &gone {
            self.remove(r);
        }
        changed += gone.len();
        changed
            + candidates
                .par_iter()
                .filter(|c| matches!(self.update_from_disk(&c.abs), FileUpdate::Indexed))
                .count()
    }

    /// Drops every entry inside one of `dirs` (relative paths that are no longer directories).
    pub fn remove_under(&self, dirs: &std::collections::HashSet<String>) -> usize {
        if dirs.is_empty() {
            return 0;
        }
        let gone: Vec<String> = self
            .files
            .iter()
            .map(|e| e.key().clone())
            .filter(|k| !self.pinned.contains_key(k))
            .filter(|k| k.match_indices('/').any(|(i, _)| dirs.contains(&k[..i])))
            .collect();
        for r in &gone {
            self.remove(r);
        }
        gone.len()
    }

    /// Is a directory between the root and `abs` a symlink? (The walker never follows them;
    /// single-path updates must not either.)
    fn through_symlink(&self, abs: &Path) -> bool {
        let Ok(rel) = abs.strip_prefix(&self.root) else {
            return true;
        };
        let mut at = self.root.clone();
        let mut parts = rel.components().peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                return false; // the path itself: read_text refuses a symlinked file
            }
            at.push(part);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return true;
            }
        }
        false
    }

    fn remove(&self, rel: &str) -> FileUpdate {
        self.skipped.remove(rel);
        self.trees.lock().forget(rel);
        if self.files.remove(rel).is_some() {
            self.touch();
            FileUpdate::Removed
        } else {
            FileUpdate::NotIndexed
        }
    }

    fn remove_quiet(&self, rel: &str) -> FileUpdate {
        match self.remove(rel) {
            FileUpdate::Removed => FileUpdate::Removed,
            _ => FileUpdate::NotIndexed,
        }
    }

    /// Does the walker's ignore logic skip this path?
    pub fn is_ignored(&self, abs: &Path, is_dir: bool) -> bool {
        self.ignore.is_ignored(abs, is_dir)
    }

    /// Drops cached ignore rules (an ignore file changed).
    pub fn invalidate_ignore_rules(&self) {
        self.ignore.invalidate();
    }

    /// Inserts entries loaded from the persisted cache (validated later by [`build`](Self::build)).
    fn insert_cached(&self, entry: FileEntry) {
        self.files.insert(entry.path.clone(), Arc::new(entry));
    }
}

/// How [`open`] started: from the persisted cache, or from scratch and why.
#[derive(Debug)]
pub enum CacheStart {
    /// Entries loaded from the cache (to be validated by the build).
    Loaded(usize),
    /// No cache file yet.
    Missing,
    /// The cache was unusable and has been discarded.
    Discarded(persist::CacheError),
    /// Caching is off.
    Disabled,
}

/// An index of `root` primed from its persisted cache in `index_dir` (if any). A corrupt,
/// truncated or older cache is deleted and reported, never fatal.
pub fn open(root: PathBuf, options: IndexOptions, index_dir: Option<&Path>) -> (Index, CacheStart) {
    let index = Index::new(root, options);
    let Some(dir) = index_dir else {
        return (index, CacheStart::Disabled);
    };
    let path = persist::cache_path(dir, index.root());
    if !path.exists() {
        return (index, CacheStart::Missing);
    }
    match index.load(&path) {
        Ok(n) => (index, CacheStart::Loaded(n)),
        Err(err) => {
            tracing::warn!("discarding the index cache: {err}");
            let _ = std::fs::remove_file(&path);
            let fresh = Index::new(index.root.clone(), index.options.clone());
            (fresh, CacheStart::Discarded(err))
        }
    }
}
