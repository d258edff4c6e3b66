//! Read-only queries over the index: fuzzy symbol search, definitions and references by name,
//! BM25 search over chunks.
//!
//! Every query works on whatever the index holds right now (a partial index during the first
//! build answers with what it has).

use std::cell::RefCell;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use serde::Serialize;

use super::file::{self, Def, DefKind, FileEntry};
use super::{tokenize, Index};

/// How many matches of a qualified query's last part are filtered by its container.
const QUALIFIED_POOL: usize = 5_000;

/// `Store.remove` → (`Store`, `remove`); `Index::open` → (`Index`, `open`); `None` when the query
/// has no separator or an empty part on either side.
fn split_qualified(query: &str) -> Option<(&str, &str)> {
    let (at, sep) = [
        query.rfind("::").map(|i| (i, 2)),
        query.rfind('.').map(|i| (i, 1)),
    ]
    .into_iter()
    .flatten()
    .max_by_key(|(i, _)| *i)?;
    let (container, name) = (query[..at].trim(), query[at + sep..].trim());
    (!container.is_empty() && !name.is_empty()).then_some((container, name))
}

/// A definition found by a query.
#[derive(Debug, Clone)]
pub struct SymbolHit {
    pub file: Arc<FileEntry>,
    pub def: u32,
    pub score: u32,
}

impl SymbolHit {
    pub fn def(&self) -> &Def {
        self.file
            .index
            .defs
            .get(self.def as usize)
            .expect("SymbolHit::def indexes its own file's defs")
    }
}

/// A reference found by a query.
#[derive(Debug, Clone)]
pub struct RefHit {
    pub file: Arc<FileEntry>,
    pub start: u32,
    pub line: u32,
    pub col: u32,
    pub len: u32,
    /// The enclosing definition's index, if any.
    pub enclosing: Option<u32>,
}

/// A chunk found by lexical search.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkHit {
    #[serde(skip)]
    pub file: Arc<FileEntry>,
    pub path: String,
    pub chunk: u32,
    pub score: f32,
    pub start_line: u32,
    pub end_line: u32,
    /// Qualified name of the function the chunk is, if it is one.
    pub symbol: Option<String>,
}

/// The occurrences of `name` in one file, in position order.
pub fn ref_hits<'f>(file: &'f Arc<FileEntry>, name: &'f str) -> impl Iterator<Item = RefHit> + 'f {
    file.index.refs_named(name).iter().map(move |r| RefHit {
        file: Arc::clone(file),
        start: r.start,
        line: r.line,
        col: r.col,
        len: name.len() as u32,
        enclosing: (r.enclosing != u32::MAX).then_some(r.enclosing),
    })
}

/// BM25 parameters (the usual defaults).
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// Files in these directories rank below the rest on ties.
fn is_secondary_path(path: &str) -> bool {
    path.split('/').any(|c| {
        matches!(
            c,
            "test" | "tests" | "testdata" | "fixtures" | "examples" | "vendor" | "benches"
        )
    }) || path.rsplit('/').next().is_some_and(|f| {
        f.starts_with("test_")
            || f.contains("_test.")
            || f.contains(".test.")
            || f.contains(".spec.")
    })
}

impl Index {
    /// Fuzzy search over definition names (and `Container.name`), best first: exact, prefix,
    /// then fuzzy score; types and functions before members, sources before tests.
    pub fn workspace_symbols(&self, query: &str, limit: usize) -> Vec<SymbolHit> {
        let query = query.trim();
        // `Store.remove`, `Index::open`: the last part matches the name as usual, the rest the
        // names of the definitions around it (as spot prints qualified names).
        if let Some((container, name)) = split_qualified(query) {
            let needle: Vec<char> = container
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let mut hits = self.workspace_symbols(name, QUALIFIED_POOL.max(limit));
            hits.retain(|h| {
                let def = h.def();
                let qualified = h.file.qualified_name(def);
                let outer = &qualified[..qualified.len().saturating_sub(def.name.len())];
                !outer.is_empty() && is_subsequence(&needle, outer)
            });
            hits.truncate(limit);
            return hits;
        }
        let files = self.snapshot();
        let mut hits: Vec<SymbolHit> = Vec::new();
        if query.is_empty() {
            // Empty query: top-level types and functions, in path order.
            for file in &files {
                for (i, d) in file.index.defs.iter().enumerate() {
                    if d.parent.is_none() && d.kind != DefKind::Impl {
                        hits.push(SymbolHit {
                            file: Arc::clone(file),
                            def: i as u32,
                            score: 0,
                        });
                    }
                }
            }
            hits.sort_by(|a, b| a.file.path.cmp(&b.file.path).then(a.def.cmp(&b.def)));
            hits.truncate(limit);
            return hits;
        }
        let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
        // A matcher owns ~100 KB of scratch matrices: one per thread, reused (as nucleo advises),
        // instead of a fresh zeroed allocation per request.
        thread_local! {
            static MATCHER: RefCell<Matcher> = RefCell::new(Matcher::new(Config::DEFAULT));
        }
        let needle: Vec<char> = query
            .to_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let ascii_needle: Option<Vec<u8>> = query.is_ascii().then(|| {
            query
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .map(|b| b.to_ascii_lowercase())
                .collect()
        });
        let lower_query = query.to_lowercase();
        // Without an ASCII query the sets say nothing (0: every name may contain it).
        let needle_chars = ascii_needle.as_deref().map_or(0, file::char_set);
        let mut buf = Vec::new();
        MATCHER.with_borrow_mut(|matcher| {
            for file in &files {
                // Only for files with a candidate: most have none, and this was a tenth of the
                // query's time on tokio's 793 files.
                let mut secondary = None;
                let lookup = file.index.lookup();
                for (i, d) in file.index.defs.iter().enumerate() {
                    // The characters first: most names lack one, and this reads no name.
                    if !lookup.may_contain(i, needle_chars) || d.kind == DefKind::Impl {
                        continue;
                    }
                    let candidate = match &ascii_needle {
                        Some(n) => is_subsequence_ascii(n, d.name.as_bytes())
                            .unwrap_or_else(|| is_subsequence(&needle, &d.name)),
                        None => is_subsequence(&needle, &d.name),
                    };
                    if !candidate {
                        continue;
                    }
                    let Some(fuzzy) = pattern.score(Utf32Str::new(&d.name, &mut buf), matcher)
                    else {
                        continue;
                    };
                    let mut score = fuzzy * 4;
                    if d.name == query {
                        score += 100_000;
                    } else if d.name.eq_ignore_ascii_case(&lower_query)
                        || (!d.name.is_ascii() && d.name.to_lowercase() == lower_query)
                    {
                        score += 60_000;
                    } else if d.name.len() >= lower_query.len()
                        && d.name
                            .get(..lower_query.len())
                            .is_some_and(|p| p.eq_ignore_ascii_case(&lower_query))
                    {
                        score += 30_000;
                    }
                    score += match d.kind {
                        DefKind::Class
                        | DefKind::Struct
                        | DefKind::Enum
                        | DefKind::Interface
                        | DefKind::Trait => 400,
                        DefKind::Function
                        | DefKind::Method
                        | DefKind::TypeAlias
                        | DefKind::Module => 300,
                        _ => 100,
                    };
                    if !*secondary.get_or_insert_with(|| is_secondary_path(&file.path)) {
                        score += 500;
                    }
                    hits.push(SymbolHit {
                        file: Arc::clone(file),
                        def: i as u32,
                        score,
                    });
                }
            }
        });
        hits.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then_with(|| a.def().name.len().cmp(&b.def().name.len()))
                .then_with(|| a.file.path.cmp(&b.file.path))
                .then(a.def.cmp(&b.def))
        });
        hits.truncate(limit);
        hits
    }

    /// Definitions named exactly `name`, sources before tests, then by path.
    pub fn definitions(&self, name: &str) -> Vec<SymbolHit> {
        let mut hits = Vec::new();
        for file in self.snapshot() {
            for (i, d) in file.index.defs.iter().enumerate() {
                if d.name == name && d.kind != DefKind::Impl {
                    hits.push(SymbolHit {
                        file: Arc::clone(&file),
                        def: i as u32,
                        score: 0,
                    });
                }
            }
        }
        hits.sort_by(|a, b| {
            is_secondary_path(&a.file.path)
                .cmp(&is_secondary_path(&b.file.path))
                .then_with(|| a.file.path.cmp(&b.file.path))
                .then(a.def.cmp(&b.def))
        });
        hits
    }

    /// Every occurrence of the identifier `name`, by path and position.
    pub fn references(&self, name: &str) -> Vec<RefHit> {
        let mut hits = Vec::new();
        for file in self.snapshot() {
            hits.extend(ref_hits(&file, name));
        }
        hits.sort_by(|a, b| a.file.path.cmp(&b.file.path).then(a.start.cmp(&b.start)));
        hits
    }

    /// BM25 over function-level chunks with the code-aware tokenizer; a term the query
    /// repeats weighs that many times ([`tokenize::query_terms`]).
    pub fn search(&self, query: &str, limit: usize) -> Vec<ChunkHit> {
        let (terms, weights): (Vec<u64>, Vec<f32>) =
            tokenize::query_terms(query).into_iter().unzip();
        if terms.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut files = self.snapshot();
        // Path order: equal scores rank (and are cut at `limit`) the same way in every run,
        // whatever order the file map iterates in.
        files.sort_by(|a, b| a.path.cmp(&b.path));
        // Corpus statistics, summed over the files.
        let mut n_chunks = 0u64;
        let mut total_len = 0u64;
        let mut df = vec![0u32; terms.len()];
        for file in &files {
            n_chunks += file.index.chunks.len() as u64;
            total_len += file.index.chunks.iter().map(|c| c.len as u64).sum::<u64>();
            for (t, &term) in terms.iter().enumerate() {
                if let Some(slot) = df.get_mut(t) {
                    *slot += file.index.postings_of(term).len() as u32;
                }
            }
        }
        if n_chunks == 0 {
            return Vec::new();
        }
        let avg_len = total_len as f32 / n_chunks as f32;
        let idf: Vec<f32> = df
            .iter()
            .zip(&weights)
            .map(|(&d, &q)| q * (1.0 + (n_chunks as f32 - d as f32 + 0.5) / (d as f32 + 0.5)).ln())
            .collect();

        let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(limit + 1);
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for (file_idx, file) in files.iter().enumerate() {
            scores.clear();
            for (t, &term) in terms.iter().enumerate() {
                let w = idf.get(t).copied().unwrap_or(0.0);
                for p in file.index.postings_of(term) {
                    let len = file.index.chunks.get(p.chunk as usize).map_or(0, |c| c.len) as f32;
                    let tf = p.tf as f32;
                    let s = w * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg_len));
                    *scores.entry(p.chunk).or_default() += s;
                }
            }
            let secondary = is_secondary_path(&file.path);
            for (&chunk, &score) in &scores {
                let score = if secondary { score * 0.8 } else { score };
                heap.push(Scored {
                    score,
                    file: file_idx,
                    chunk,
                });
                if heap.len() > limit {
                    heap.pop();
                }
            }
        }
        let mut top = heap.into_vec();
        top.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.file.cmp(&b.file))
                .then(a.chunk.cmp(&b.chunk))
        });
        top.into_iter()
            .filter_map(|s| {
                let file = files.get(s.file)?;
                let chunk = file.index.chunks.get(s.chunk as usize)?;
                let symbol = file
                    .index
                    .defs
                    .get(chunk.def as usize)
                    .map(|d| file.qualified_name(d));
                Some(ChunkHit {
                    file: Arc::clone(file),
                    path: file.path.clone(),
                    chunk: s.chunk,
                    score: s.score,
                    start_line: chunk.start_line,
                    end_line: chunk.end_line,
                    symbol,
                })
            })
            .collect()
    }
}

impl Index {
    /// Plain BM25 with whole files as documents (the baseline localization is measured
    /// against). Term frequencies are summed over a file's chunks; query terms weigh as in
    /// [`Index::search`].
    pub fn search_files(&self, query: &str, limit: usize) -> Vec<(String, f32)> {
        let (terms, weights): (Vec<u64>, Vec<f32>) =
            tokenize::query_terms(query).into_iter().unzip();
        let files = self.snapshot();
        if terms.is_empty() || files.is_empty() {
            return Vec::new();
        }
        let lens: Vec<f32> = files
            .iter()
            .map(|f| f.index.chunks.iter().map(|c| c.len as f32).sum())
            .collect();
        let avg = lens.iter().sum::<f32>() / files.len() as f32;
        let n = files.len() as f32;
        let mut df = vec![0f32; terms.len()];
        for f in &files {
            for (t, &term) in terms.iter().enumerate() {
                if !f.index.postings_of(term).is_empty() {
                    if let Some(d) = df.get_mut(t) {
                        *d += 1.0;
                    }
                }
            }
        }
        let idf: Vec<f32> = df
            .iter()
            .zip(&weights)
            .map(|(&d, &q)| q * (1.0 + (n - d + 0.5) / (d + 0.5)).ln())
            .collect();
        let mut scored: Vec<(String, f32)> = files
            .iter()
            .zip(&lens)
            .filter_map(|(f, &len)| {
                let mut score = 0.0;
                for (&term, &idf) in terms.iter().zip(&idf) {
                    let tf: f32 = f.index.postings_of(term).iter().map(|p| p.tf as f32).sum();
                    if tf == 0.0 {
                        continue;
                    }
                    score += idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg.max(1.0)));
                }
                (score > 0.0).then(|| (f.path.clone(), score))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(limit);
        scored
    }
}

/// Min-heap entry by score (the heap keeps the best `limit`).
struct Scored {
    score: f32,
    file: usize,
    chunk: u32,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Reversed: the heap's top is the worst hit.
        other
            .score
            .total_cmp(&self.score)
            .then(self.file.cmp(&other.file))
            .then(self.chunk.cmp(&other.chunk))
    }
}

/// [`is_subsequence`] for an ASCII `needle` (lowercase bytes), on `hay`'s bytes: `None` when a
/// non-ASCII byte comes before the answer (then the char-wise check decides). Checking
/// `is_ascii` on every name first was a seventh of workspace/symbol's time on tokio.
fn is_subsequence_ascii(needle: &[u8], hay: &[u8]) -> Option<bool> {
    let mut found = 0;
    for &c in hay {
        let Some(&n) = needle.get(found) else {
            return Some(true);
        };
        if !c.is_ascii() {
            return None;
        }
        if c.to_ascii_lowercase() == n {
            found += 1;
        }
    }
    Some(found == needle.len())
}

/// Is `needle` (lowercase chars) a subsequence of `hay` (case-insensitive)? A cheap filter
/// before fuzzy scoring.
fn is_subsequence(needle: &[char], hay: &str) -> bool {
    let mut it = needle.iter().peekable();
    for c in hay.chars() {
        match it.peek() {
            None => return true,
            Some(&&n) if c.to_lowercase().eq(std::iter::once(n)) || c == n => {
                it.next();
            }
            _ => {}
        }
    }
    it.peek().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: `spot symbols "Store.remove"` (its own `--help` example) found nothing.
    #[test]
    fn qualified_queries_match_the_container_and_the_name() {
        let index = crate::Index::new("/w".into(), crate::IndexOptions::default());
        index.set_text(
            "store.py",
            "class Store:\n    def remove_item(self):\n        pass\n\ndef remove_all():\n    pass\n",
        );
        index.set_text(
            "lib.rs",
            "pub struct Index;\nimpl Index {\n    pub fn open() {}\n}\npub fn open() {}\n",
        );
        let names = |q: &str| -> Vec<String> {
            index
                .workspace_symbols(q, 10)
                .iter()
                .map(|h| h.file.qualified_name(h.def()))
                .collect()
        };
        assert_eq!(names("Store.remove"), ["Store.remove_item"]);
        assert_eq!(names("store.remove_item"), ["Store.remove_item"]);
        assert_eq!(names("Index::open"), ["Index::open"]);
        assert!(names("Other.remove").is_empty());
        // Without a container the name alone matches, as before.
        assert_eq!(names("remove").len(), 2);
    }

    #[test]
    fn subsequence_checks_agree_on_ascii_and_defer_on_other_names() {
        let ascii =
            |needle: &str, hay: &str| is_subsequence_ascii(needle.as_bytes(), hay.as_bytes());
        assert_eq!(ascii("rmit", "remove_item"), Some(true));
        assert_eq!(ascii("rmix", "remove_item"), Some(false));
        // Found before the first non-ASCII byte: decided.
        assert_eq!(ascii("ab", "aBé"), Some(true));
        // A non-ASCII byte first: the char-wise check decides (`K` is the Kelvin sign).
        assert_eq!(ascii("k", "\u{212A}elvin"), None);
        let chars: Vec<char> = "k".chars().collect();
        assert!(is_subsequence(&chars, "\u{212A}elvin"));
    }
}
