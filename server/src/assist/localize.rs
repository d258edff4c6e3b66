//! Issue localization: issue text → ranked files → ranked functions, model-free.
//!
//! Structure first. Each signal ranks files on its own; reciprocal rank fusion combines them:
//! - paths: file paths, file names and traceback frames named in the issue;
//! - symbols: identifiers the issue names (code-like tokens: `snake_case`, `camelCase`,
//!   `Type.method`, `call()`, backticked words) that a file defines, weighted by rarity;
//! - bm25: lexical search over function-level chunks, a file scored by its best chunk;
//! - modules: plain words of the issue that name a file or directory (`pricing` → pricing.py);
//! - literals: quoted strings and error messages of the issue found verbatim in a file.
//!   Test files rank below sources. Functions are ranked inside the best files by the same
//!   signals. Pure function of the index and the text (plus reading files for literals).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::index::{DefKind, FileEntry, Index};

/// Reciprocal rank fusion constant (the usual 60).
const RRF_K: f64 = 60.0;
/// Literal strings shorter than this are too common to search for.
const MIN_LITERAL: usize = 8;

/// The signals, with their fusion weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Paths,
    Symbols,
    Bm25,
    /// BM25 with whole files as documents: rewards files where the issue's words cluster.
    Bm25Files,
    Modules,
    Literals,
}

impl Signal {
    pub const ALL: [Signal; 6] = [
        Signal::Paths,
        Signal::Symbols,
        Signal::Bm25,
        Signal::Bm25Files,
        Signal::Modules,
        Signal::Literals,
    ];

    fn weight(self) -> f64 {
        match self {
            Signal::Paths => 2.0,
            Signal::Symbols => 1.5,
            Signal::Bm25 => 1.0,
            Signal::Bm25Files => 1.0,
            Signal::Modules => 0.25,
            Signal::Literals => 1.2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Paths => "paths",
            Signal::Symbols => "symbols",
            Signal::Bm25 => "bm25",
            Signal::Bm25Files => "bm25-files",
            Signal::Modules => "modules",
            Signal::Literals => "literals",
        }
    }
}

/// Settings of one localization.
#[derive(Debug, Clone)]
pub struct LocalizeOptions {
    pub max_files: usize,
    pub max_functions: usize,
    /// Signals to use (all by default; the evaluation removes one at a time).
    pub signals: Vec<Signal>,
}

impl Default for LocalizeOptions {
    fn default() -> Self {
        Self {
            max_files: 10,
            max_functions: 10,
            signals: Signal::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileCandidate {
    pub path: String,
    pub score: f64,
    /// One line: which signals ranked it and why.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionCandidate {
    pub path: String,
    /// Qualified name, e.g. `Store.remove_item`.
    pub name: String,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub score: f64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Localization {
    pub files: Vec<FileCandidate>,
    pub functions: Vec<FunctionCandidate>,
}

/// One signal's ranking: (index into the file snapshot, score, why), best first.
type Ranked = Vec<(usize, f64, String)>;

/// What the issue text offers to the signals.
#[derive(Debug, Default)]
struct Clues {
    /// Path-like tokens (`inventory/pricing.py`, `pricing.py`, `src/lib.rs`).
    paths: Vec<String>,
    /// Code-like identifiers, with the qualified forms split (`Store.remove_item` → both).
    identifiers: Vec<String>,
    /// Lowercase plain words.
    words: Vec<String>,
    /// Quoted strings and error messages.
    literals: Vec<String>,
}

fn clues(issue: &str) -> Clues {
    let mut c = Clues::default();
    let mut seen = HashSet::new();
    // Backticked spans count as code whatever they look like.
    let backticked: HashSet<&str> = issue.split('`').skip(1).step_by(2).collect();
    for raw in issue.split(|ch: char| {
        ch.is_whitespace()
            || matches!(
                ch,
                ',' | ';'
                    | '('
                    | ')'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '<'
                    | '>'
                    | '='
                    | '`'
                    | '"'
                    | '\''
                    | '!'
                    | '?'
                    | '*'
            )
    }) {
        let token = raw.trim_matches(|ch: char| matches!(ch, '.' | ':' | '-'));
        if token.is_empty() || !seen.insert(token.to_owned()) {
            continue;
        }
        let has_ext = [
            ".py", ".rs", ".js", ".ts", ".tsx", ".jsx", ".go", ".mjs", ".cjs", ".pyi",
        ]
        .iter()
        .any(|e| token.ends_with(e));
        if has_ext
            || (token.contains('/')
                && token.chars().any(|ch| ch.is_ascii_alphabetic())
                && !token.contains("://"))
        {
            // `path.py:12` / `path.py:12:5`
            let path = token.split(':').next().unwrap_or(token);
            c.paths.push(path.trim_start_matches("./").to_owned());
            continue;
        }
        let is_ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
        let parts: Vec<&str> = token.split(['.', ':']).filter(|p| !p.is_empty()).collect();
        let code_like = backticked.contains(raw)
            || backticked.contains(token)
            || token.contains('_')
            || token.contains("::")
            || (parts.len() > 1 && parts.iter().all(|p| p.chars().all(is_ident_char)))
            || has_inner_capital(token)
            || raw.contains('(');
        if code_like {
            for p in parts {
                if p.chars().all(is_ident_char)
                    && p.chars().next().is_some_and(|ch| !ch.is_ascii_digit())
                    && p.len() > 1
                {
                    c.identifiers.push(p.to_owned());
                }
            }
        } else if token.chars().all(|ch| ch.is_alphabetic()) && token.len() >= 3 {
            c.words.push(token.to_lowercase());
        }
    }
    c.identifiers.sort();
    c.identifiers.dedup();
    c.words.sort();
    c.words.dedup();
    c.literals = literals(issue);
    c
}

fn has_inner_capital(token: &str) -> bool {
    let mut chars = token.chars();
    chars.next();
    let rest: String = chars.collect();
    rest.chars().any(|ch| ch.is_uppercase()) && token.chars().any(|ch| ch.is_lowercase())
}

/// Quoted strings and the message after `Error:` in the issue.
fn literals(issue: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['"', '\''] {
        for (k, part) in issue.split(quote).enumerate() {
            if k % 2 == 1 && part.len() >= MIN_LITERAL && part.len() <= 200 && !part.contains('\n')
            {
                out.push(part.to_owned());
            }
        }
    }
    for line in issue.lines() {
        if let Some((_, msg)) = line.split_once("Error: ") {
            let msg = msg.trim();
            if msg.len() >= MIN_LITERAL {
                out.push(msg.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Is this a test file (by directory or name)?
pub fn is_test_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path.split('/')
        .any(|c| matches!(c, "test" | "tests" | "testdata" | "__tests__" | "spec"))
        || name.starts_with("test_")
        || name.ends_with("_test.go")
        || name.ends_with("_test.py")
        || name.contains(".test.")
        || name.contains(".spec.")
        || name == "conftest.py"
}

/// Localizes `issue` in `index`.
pub fn localize(index: &Index, issue: &str, opts: &LocalizeOptions) -> Localization {
    let files = index.snapshot();
    let clues = clues(issue);
    let mut rankings: Vec<(Signal, Ranked)> = Vec::new();
    for &signal in &opts.signals {
        let ranked = match signal {
            Signal::Paths => by_paths(&files, &clues),
            Signal::Symbols => by_symbols(&files, &clues),
            Signal::Bm25 => by_bm25(index, &files, issue),
            Signal::Bm25Files => by_bm25_files(index, &files, issue),
            Signal::Modules => by_modules(&files, &clues),
            Signal::Literals => by_literals(index, &files, &clues),
        };
        rankings.push((signal, ranked));
    }
    // Fusion.
    let mut fused: HashMap<usize, (f64, Vec<String>)> = HashMap::new();
    for (signal, ranked) in &rankings {
        for (rank, (file, _, why)) in ranked.iter().enumerate() {
            let e = fused.entry(*file).or_default();
            e.0 += signal.weight() / (RRF_K + rank as f64 + 1.0);
            if rank < 5 {
                e.1.push(format!(
                    "{} #{}{}",
                    signal.as_str(),
                    rank + 1,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    }
                ));
            }
        }
    }
    let mut ranked: Vec<(usize, f64, Vec<String>)> = fused
        .into_iter()
        .map(|(f, (score, why))| (f, score, why))
        .collect();
    // Test files below every source file: issues are about the code under test.
    let is_test = |f: usize| files.get(f).is_some_and(|e| is_test_path(&e.path));
    ranked.sort_by(|a, b| {
        is_test(a.0)
            .cmp(&is_test(b.0))
            .then(b.1.total_cmp(&a.1))
            .then_with(|| path_of(&files, a.0).cmp(path_of(&files, b.0)))
    });
    let top: Vec<(usize, f64, Vec<String>)> = ranked.into_iter().take(opts.max_files).collect();
    let functions = rank_functions(index, &files, &top, &clues, issue, opts.max_functions);
    Localization {
        files: top
            .iter()
            .map(|(f, score, why)| FileCandidate {
                path: path_of(&files, *f).to_owned(),
                score: *score,
                reason: if why.is_empty() {
                    "weak match".to_owned()
                } else {
                    why.join(", ")
                },
            })
            .collect(),
        functions,
    }
}

fn path_of(files: &[Arc<FileEntry>], f: usize) -> &str {
    files.get(f).map_or("", |e| e.path.as_str())
}

/// Sorted best first; ties by path.
fn finish(files: &[Arc<FileEntry>], mut scored: Ranked) -> Ranked {
    scored.retain(|s| s.1 > 0.0);
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| path_of(files, a.0).cmp(path_of(files, b.0)))
    });
    scored
}

fn by_paths(files: &[Arc<FileEntry>], clues: &Clues) -> Ranked {
    let mut scored = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let name = f.path.rsplit('/').next().unwrap_or(&f.path);
        let mut best = 0.0f64;
        let mut why = String::new();
        for p in &clues.paths {
            let s = if f.path == *p {
                3.0
            } else if f.path.ends_with(&format!("/{p}")) || p.ends_with(&format!("/{}", f.path)) {
                2.5 // a longer absolute path in a traceback, or a suffix
            } else if p.rsplit('/').next() == Some(name) {
                1.0
            } else {
                0.0
            };
            if s > best {
                best = s;
                why = p.clone();
            }
        }
        if best > 0.0 {
            scored.push((i, best, why));
        }
    }
    finish(files, scored)
}

fn by_symbols(files: &[Arc<FileEntry>], clues: &Clues) -> Ranked {
    if clues.identifiers.is_empty() {
        return Vec::new();
    }
    let wanted: HashSet<&str> = clues.identifiers.iter().map(String::as_str).collect();
    // How many files define each name: rarer names weigh more.
    let mut definers: HashMap<&str, usize> = HashMap::new();
    let mut per_file: Vec<(usize, Vec<&str>)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let mut names: Vec<&str> = f
            .index
            .defs
            .iter()
            .filter(|d| d.kind != DefKind::Impl && wanted.contains(d.name.as_str()))
            .map(|d| d.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        for n in &names {
            *definers.entry(n).or_default() += 1;
        }
        if !names.is_empty() {
            per_file.push((i, names));
        }
    }
    let n_files = files.len().max(1) as f64;
    let scored = per_file
        .into_iter()
        .map(|(i, names)| {
            let score: f64 = names
                .iter()
                .map(|n| (1.0 + n_files / *definers.get(n).unwrap_or(&1) as f64).ln())
                .sum();
            let why = format!(
                "defines {}",
                names
                    .iter()
                    .take(3)
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            (i, score, why)
        })
        .collect();
    finish(files, scored)
}

fn by_bm25(index: &Index, files: &[Arc<FileEntry>], issue: &str) -> Ranked {
    let pos: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    let mut best: HashMap<usize, (f64, String)> = HashMap::new();
    for hit in index.search(issue, 100) {
        let Some(&i) = pos.get(hit.path.as_str()) else {
            continue;
        };
        let e = best.entry(i).or_insert((0.0, String::new()));
        if f64::from(hit.score) > e.0 {
            *e = (f64::from(hit.score), hit.symbol.clone().unwrap_or_default());
        }
    }
    finish(
        files,
        best.into_iter().map(|(i, (s, why))| (i, s, why)).collect(),
    )
}

fn by_bm25_files(index: &Index, files: &[Arc<FileEntry>], issue: &str) -> Ranked {
    let pos: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    let scored = index
        .search_files(issue, 100)
        .into_iter()
        .filter_map(|(path, score)| {
            Some((*pos.get(path.as_str())?, f64::from(score), String::new()))
        })
        .collect();
    finish(files, scored)
}

fn by_modules(files: &[Arc<FileEntry>], clues: &Clues) -> Ranked {
    if clues.words.is_empty() {
        return Vec::new();
    }
    let words: HashSet<&str> = clues.words.iter().map(String::as_str).collect();
    // Path components (lowercase, extension dropped) of each file.
    let components = |path: &str| -> Vec<String> {
        path.split('/')
            .map(|c| c.split('.').next().unwrap_or(c).to_lowercase())
            .collect()
    };
    // How many files sit under each component: a package root names every file, no signal.
    let mut n_under: HashMap<String, usize> = HashMap::new();
    for f in files {
        let mut comps = components(&f.path);
        comps.sort();
        comps.dedup();
        for c in comps {
            *n_under.entry(c).or_default() += 1;
        }
    }
    let n_files = files.len().max(1) as f64;
    let mut scored = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let comps = components(&f.path);
        let mut score = 0.0;
        let mut hits = Vec::new();
        for (k, c) in comps.iter().enumerate() {
            if !words.contains(c.as_str()) {
                continue;
            }
            let idf = (n_files / *n_under.get(c).unwrap_or(&1) as f64).ln();
            // The file's own name counts double.
            score += if k + 1 == comps.len() { 2.0 * idf } else { idf };
            hits.push(c.clone());
        }
        if score > 0.0 {
            scored.push((i, score, hits.join("/")));
        }
    }
    finish(files, scored)
}

fn by_literals(index: &Index, files: &[Arc<FileEntry>], clues: &Clues) -> Ranked {
    if clues.literals.is_empty() {
        return Vec::new();
    }
    let mut scored = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let Ok(loaded) =
            crate::index::walk::read_text(&index.abs_path(&f.path), index.options().max_file_size)
        else {
            continue;
        };
        let found: Vec<&String> = clues
            .literals
            .iter()
            .filter(|l| loaded.text.contains(l.as_str()))
            .collect();
        if !found.is_empty() {
            let why = format!(
                "contains {:?}",
                found.first().map(|s| s.as_str()).unwrap_or("")
            );
            scored.push((
                i,
                found.iter().map(|l| l.len() as f64).sum::<f64>().sqrt(),
                why,
            ));
        }
    }
    finish(files, scored)
}

/// Functions of the best files: named in the issue, best BM25 chunks, containing a literal.
fn rank_functions(
    index: &Index,
    files: &[Arc<FileEntry>],
    top: &[(usize, f64, Vec<String>)],
    clues: &Clues,
    issue: &str,
    limit: usize,
) -> Vec<FunctionCandidate> {
    let top_paths: HashMap<&str, f64> = top
        .iter()
        .map(|(f, s, _)| (path_of(files, *f), *s))
        .collect();
    let wanted: HashSet<&str> = clues.identifiers.iter().map(String::as_str).collect();
    let mut chunk_rank: HashMap<(String, u32), usize> = HashMap::new();
    for (rank, hit) in index.search(issue, 200).into_iter().enumerate() {
        if top_paths.contains_key(hit.path.as_str()) {
            let chunk = hit
                .file
                .index
                .chunks
                .get(hit.chunk as usize)
                .map_or(u32::MAX, |c| c.def);
            chunk_rank.entry((hit.path.clone(), chunk)).or_insert(rank);
        }
    }
    let mut out = Vec::new();
    for (f, file_score, _) in top {
        let Some(file) = files.get(*f) else { continue };
        let text = if clues.literals.is_empty() {
            None
        } else {
            crate::index::walk::read_text(
                &index.abs_path(&file.path),
                index.options().max_file_size,
            )
            .ok()
            .map(|l| l.text)
        };
        for (d, def) in file.index.defs.iter().enumerate() {
            if !def.kind.is_callable() {
                continue;
            }
            let mut score = 0.0;
            let mut why = Vec::new();
            if wanted.contains(def.name.as_str()) {
                score += 3.0;
                why.push("named in the issue".to_owned());
            }
            if let Some(&rank) = chunk_rank.get(&(file.path.clone(), d as u32)) {
                score += 2.0 / (1.0 + rank as f64 / 3.0);
                why.push(format!("bm25 #{}", rank + 1));
            }
            if let Some(text) = &text {
                let body = text
                    .get(def.span.start as usize..def.span.end as usize)
                    .unwrap_or("");
                if clues.literals.iter().any(|l| body.contains(l.as_str())) {
                    score += 2.0;
                    why.push("contains a quoted string of the issue".to_owned());
                }
            }
            if score > 0.0 {
                out.push(FunctionCandidate {
                    path: file.path.clone(),
                    name: def.qualified_name(file.lang),
                    start_line: def.span.start_line + 1,
                    end_line: def.span.end_line + 1,
                    score: score * (1.0 + file_score * 10.0),
                    reason: why.join(", "),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.path.cmp(&b.path))
            .then(a.start_line.cmp(&b.start_line))
    });
    out.truncate(limit);
    out
}
