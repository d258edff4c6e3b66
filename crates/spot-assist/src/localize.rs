//! Issue localization: issue text → ranked files → ranked functions, model-free.
//!
//! Each signal ranks files on its own; weighted reciprocal rank fusion combines them:
//! - paths: file paths, file names and traceback frames named in the issue;
//! - symbols: identifiers the issue names (`snake_case`, `camelCase`, `Type.method`, `call()`,
//!   backticked words) that a file defines, rarer names weighing more;
//! - bm25: lexical search over function-level chunks, a file scored by its best chunk (the
//!   query drops stop words, adds word forms, `merging` → `merge`, and says the title twice);
//! - bm25-files: the same with whole files as documents;
//! - modules: plain words and the `scope:` of the first line naming a file or directory (a
//!   compound name such as `fish_completions` when the issue says each of its parts);
//! - literals: quoted strings, error messages and `--flags` found verbatim in a file, by rarity;
//! - commits: files changed by past commits whose messages resemble the issue (BM25);
//! - prior: files past fixes changed most, recent ones counting more;
//! - cochange: files past commits changed together with the best files of the above.
//!
//! History signals need a [`History`] (read by `learn/history`, older than the indexed state).
//! Test, doc, example and benchmark files rank below sources; declaration files (stubs, files
//! that define types but no function) lose a fifth of their fused score unless the issue speaks
//! of types or documentation. Functions are ranked inside the best files: named by the issue,
//! its neighbours in the call graph (using a name it gives, used by a function it names), their
//! chunk's BM25 score, a quoted string of the issue in their body. Pure function of the index,
//! the text and the history; files are read through [`Sources::text`] only.

mod clues;
pub mod history;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use self::clues::{clues, Clues};
pub use self::history::{message_text, History, PastCommit};
use spot_index::{tokenize, DefKind, FileEntry, Index};

/// Reciprocal rank fusion constant: small, so a signal's first places count (10 beat 5, 20,
/// 30 and the usual 60 on the fitting cases).
const RRF_K: f64 = 10.0;
/// Past commits most like the issue that vote for their files.
const SIMILAR_COMMITS: usize = 30;
/// Half-life, in commits, of a past fix's weight in the prior.
const PRIOR_HALF_LIFE: f64 = 200.0;
/// Files of the first fusion whose co-changed files are looked up.
const SEED_FILES: usize = 5;
/// A function's score inside the best files (times 1 + 10 × its file's fused score): named by
/// the issue; else a neighbour of it in the call graph (using a name the issue gives that the
/// project defines, or used by a function the issue names); its chunk's BM25 score relative to
/// the best chunk's; containing a quoted string of the issue. Measured in bench/README.md
/// (function Recall@5 0.504 → 0.516 on the fitting cases, 0.528 → 0.549 held out).
const NAMED_FUNCTION: f64 = 3.0;
const USES_NAMED: f64 = 2.0;
const LEXICAL_FUNCTION: f64 = 2.0;
const LITERAL_FUNCTION: f64 = 2.0;
/// The fused score of a declaration file (a stub, or a file that defines types but no function)
/// is multiplied by this unless the issue speaks of types or documentation: a fix is usually in
/// code that runs, while declarations and their doc comments match an issue's words well.
const DECLARATION_WEIGHT: f64 = 0.8;
/// Words by which an issue speaks of types or documentation (sorted); then declaration files
/// keep their score.
const DECLARATION_WORDS: &[&str] = &[
    "annotate",
    "annotated",
    "annotation",
    "annotations",
    "doc",
    "docs",
    "docstring",
    "docstrings",
    "document",
    "documentation",
    "documented",
    "generic",
    "generics",
    "jsdoc",
    "mypy",
    "overload",
    "overloads",
    "pyright",
    "signature",
    "signatures",
    "stub",
    "stubs",
    "type",
    "typed",
    "types",
    "typescript",
    "typing",
];

/// The signals.
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
    Commits,
    Prior,
    CoChange,
}

impl Signal {
    pub const ALL: [Signal; 9] = [
        Signal::Paths,
        Signal::Symbols,
        Signal::Bm25,
        Signal::Bm25Files,
        Signal::Modules,
        Signal::Literals,
        Signal::Commits,
        Signal::Prior,
        Signal::CoChange,
    ];

    /// The model-free lexical hybrid the issue calls the floor: BM25 over function chunks,
    /// identifiers a file defines, path and module names, rare literal strings.
    pub const FLOOR: [Signal; 5] = [
        Signal::Paths,
        Signal::Symbols,
        Signal::Bm25,
        Signal::Modules,
        Signal::Literals,
    ];

    /// Fusion weights, fitted on the older fix commits of six repositories (cases 51–200 of
    /// each; the newest 50, the reported ones, were held out): bench/README.md.
    fn weight(self) -> f64 {
        match self {
            Signal::Paths => 4.0,
            Signal::Symbols => 1.5,
            Signal::Bm25 => 3.0,
            Signal::Bm25Files => 4.0,
            Signal::Modules => 1.5,
            Signal::Literals => 0.5,
            Signal::Commits => 1.5,
            Signal::Prior => 0.5,
            Signal::CoChange => 0.25,
        }
    }

    /// Computed from the first fusion's best files.
    fn second_stage(self) -> bool {
        matches!(self, Signal::CoChange)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Paths => "paths",
            Signal::Symbols => "symbols",
            Signal::Bm25 => "bm25",
            Signal::Bm25Files => "bm25-files",
            Signal::Modules => "modules",
            Signal::Literals => "literals",
            Signal::Commits => "commits",
            Signal::Prior => "prior",
            Signal::CoChange => "cochange",
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
    /// Also return each signal's own ranking (what the fusion weights are fitted on).
    pub keep_signals: bool,
    /// Rank declaration files below code unless the issue speaks of types or documentation
    /// (see [`DECLARATION_WEIGHT`]); off for the evaluation's floor and its ablation.
    pub demote_declarations: bool,
}

impl Default for LocalizeOptions {
    fn default() -> Self {
        Self {
            max_files: 10,
            max_functions: 10,
            signals: Signal::ALL.to_vec(),
            keep_signals: false,
            demote_declarations: true,
        }
    }
}

/// What localization reads besides the index.
pub struct Sources<'a> {
    /// The text of an indexed file as the index has it (literal search, function bodies).
    pub text: &'a dyn Fn(&str) -> Option<String>,
    /// Past commits, all older than the indexed state; `None` outside a git repository.
    pub history: Option<&'a History>,
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
    /// Each signal's ranking, with [`LocalizeOptions::keep_signals`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalRanking>,
}

/// One signal's best files (sources first, as the fusion sees them) with their scores.
#[derive(Debug, Clone, Serialize)]
pub struct SignalRanking {
    pub signal: Signal,
    pub files: Vec<(String, f64)>,
}

/// Files per signal kept by [`LocalizeOptions::keep_signals`].
const KEPT_PER_SIGNAL: usize = 30;

/// One signal's ranking: (index into the file snapshot, score, why), best first.
type Ranked = Vec<(usize, f64, String)>;

/// Fused ranking: (file, score, reasons), best first.
type Fused = Vec<(usize, f64, Vec<String>)>;

/// Is this a test file (by directory or name)?
pub fn is_test_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path.split('/').any(|c| {
        matches!(
            c,
            "test" | "tests" | "testdata" | "testing" | "__tests__" | "spec" | "fixtures"
        )
    }) || name.starts_with("test_")
        || name.ends_with("_test.go")
        || name.ends_with("_test.py")
        || name.ends_with("_tests.rs")
        || name.contains(".test.")
        || name.contains(".spec.")
        || name == "conftest.py"
}

/// Is this a test, documentation, example or benchmark file: code an issue is rarely about?
pub fn is_support_path(path: &str) -> bool {
    is_test_path(path)
        || path.split('/').any(|c| {
            matches!(
                c,
                "docs" | "examples" | "example" | "bench" | "benches" | "benchmarks"
            ) || c.ends_with("-examples")
                || c.ends_with("_examples")
        })
}

/// Localizes `issue` in `index`, reading files from disk, without history.
pub fn localize(index: &Index, issue: &str, opts: &LocalizeOptions) -> Localization {
    let read = |path: &str| index.read_from_disk(path);
    let sources = Sources {
        text: &read,
        history: None,
    };
    localize_with(index, &sources, issue, opts)
}

/// Localizes `issue` in `index` with the given file texts and history.
pub fn localize_with(
    index: &Index,
    sources: &Sources<'_>,
    issue: &str,
    opts: &LocalizeOptions,
) -> Localization {
    let mut files = index.snapshot();
    // A fixed order: ties between files break the same way in every run.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let clues = clues(issue);
    let pos: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    let ctx = Ctx {
        index,
        files: &files,
        pos: &pos,
        sources,
        clues: &clues,
    };
    let mut rankings: Vec<(Signal, Ranked)> = Vec::new();
    for &signal in opts.signals.iter().filter(|s| !s.second_stage()) {
        rankings.push((signal, ctx.rank(signal, &[])));
    }
    let about_declarations = clues
        .words
        .iter()
        .chain(&clues.scopes)
        .any(|w| DECLARATION_WORDS.binary_search(&w.as_str()).is_ok());
    let demote = opts.demote_declarations && !about_declarations;
    let fuse = |rankings: &[(Signal, Ranked)]| fuse(&files, rankings, demote);
    let first = fuse(&rankings);
    let seeds: Vec<(usize, f64)> = first
        .iter()
        .take(SEED_FILES)
        .enumerate()
        .map(|(rank, (f, _, _))| (*f, 1.0 / (rank as f64 + 1.0)))
        .collect();
    let mut second = false;
    for &signal in opts.signals.iter().filter(|s| s.second_stage()) {
        rankings.push((signal, ctx.rank(signal, &seeds)));
        second = true;
    }
    let fused = if second { fuse(&rankings) } else { first };
    let top: Fused = fused.into_iter().take(opts.max_files).collect();
    let functions = rank_functions(&ctx, &top, opts.max_functions);
    let signals = if opts.keep_signals {
        rankings
            .iter()
            .map(|(signal, ranked)| SignalRanking {
                signal: *signal,
                files: ranked
                    .iter()
                    .take(KEPT_PER_SIGNAL)
                    .map(|(f, score, _)| (path_of(&files, *f).to_owned(), *score))
                    .collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Localization {
        signals,
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

/// Weighted reciprocal rank fusion; support files (tests, docs, examples) below sources;
/// with `demote_declarations`, declaration files' scores times [`DECLARATION_WEIGHT`].
fn fuse(
    files: &[Arc<FileEntry>],
    rankings: &[(Signal, Ranked)],
    demote_declarations: bool,
) -> Fused {
    let mut fused: HashMap<usize, (f64, Vec<String>)> = HashMap::new();
    for (signal, ranked) in rankings {
        let ranks = tied_ranks(ranked);
        for (rank, (file, _, why)) in ranked.iter().enumerate() {
            let e = fused.entry(*file).or_default();
            let r = ranks.get(rank).copied().unwrap_or(rank as f64);
            e.0 += signal.weight() / (RRF_K + r + 1.0);
            if rank < 5 {
                e.1.push(if why.is_empty() {
                    format!("{} #{}", signal.as_str(), rank + 1)
                } else {
                    format!("{} #{} ({why})", signal.as_str(), rank + 1)
                });
            }
        }
    }
    let mut out: Fused = fused
        .into_iter()
        .map(|(f, (score, mut why))| {
            if demote_declarations && files.get(f).is_some_and(|e| is_declaration_file(e)) {
                why.push("declarations only, below code".to_owned());
                (f, score * DECLARATION_WEIGHT, why)
            } else {
                (f, score, why)
            }
        })
        .collect();
    let support = |f: usize| is_support_path(path_of(files, f));
    out.sort_by(|a, b| {
        support(a.0)
            .cmp(&support(b.0))
            .then(b.1.total_cmp(&a.1))
            .then(a.0.cmp(&b.0))
    });
    out
}

/// Zero-based ranks where equal scores share their mean rank (six paths named alike are not
/// ranked by their spelling). Support files start a new run: they follow the sources.
fn tied_ranks(ranked: &Ranked) -> Vec<f64> {
    let mut out = vec![0.0; ranked.len()];
    let mut start = 0;
    while start < ranked.len() {
        let score = ranked.get(start).map_or(0.0, |r| r.1);
        let end = start
            + ranked
                .iter()
                .skip(start)
                .take_while(|r| r.1 == score)
                .count()
                .max(1);
        let mean = (start + end - 1) as f64 / 2.0;
        for r in out.iter_mut().take(end).skip(start) {
            *r = mean;
        }
        start = end;
    }
    out
}

/// A stub (`.pyi`, `.d.ts`) or a file that defines types but no function, method or macro:
/// where behaviour is described, not where it runs. (A crate root of `mod` lines is not one.)
fn is_declaration_file(file: &FileEntry) -> bool {
    let path = file.path.as_str();
    let defs = &file.index.defs;
    [".pyi", ".d.ts", ".d.mts", ".d.cts"]
        .iter()
        .any(|ext| path.ends_with(ext))
        || (defs.iter().any(|d| {
            matches!(
                d.kind,
                DefKind::Class
                    | DefKind::Struct
                    | DefKind::Enum
                    | DefKind::Interface
                    | DefKind::Trait
                    | DefKind::TypeAlias
            )
        }) && !defs
            .iter()
            .any(|d| matches!(d.kind, DefKind::Function | DefKind::Method | DefKind::Macro)))
}

fn path_of(files: &[Arc<FileEntry>], f: usize) -> &str {
    files.get(f).map_or("", |e| e.path.as_str())
}

/// Sorted best first; ties by path (the snapshot is sorted by path).
fn finish(mut scored: Ranked) -> Ranked {
    scored.retain(|s| s.1 > 0.0);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
}

/// Source files first, support files after them, each part in its order: support files rank
/// below sources in the end, so a signal's ranks among sources are what fusion should see.
fn sources_first(files: &[Arc<FileEntry>], ranked: Ranked) -> Ranked {
    let (mut out, support): (Ranked, Ranked) = ranked
        .into_iter()
        .partition(|(f, _, _)| !is_support_path(path_of(files, *f)));
    out.extend(support);
    out
}

/// Sums per file into a ranking, with the reason of each file's largest part.
fn collect(parts: impl IntoIterator<Item = (usize, f64, String)>) -> Ranked {
    let mut by_file: HashMap<usize, (f64, f64, String)> = HashMap::new();
    for (f, s, why) in parts {
        let e = by_file.entry(f).or_insert((0.0, 0.0, String::new()));
        e.0 += s;
        if s > e.1 {
            e.1 = s;
            e.2 = why;
        }
    }
    finish(
        by_file
            .into_iter()
            .map(|(f, (s, _, why))| (f, s, why))
            .collect(),
    )
}

/// Everything a signal reads.
struct Ctx<'a> {
    index: &'a Index,
    /// The snapshot, sorted by path.
    files: &'a [Arc<FileEntry>],
    pos: &'a HashMap<&'a str, usize>,
    sources: &'a Sources<'a>,
    clues: &'a Clues,
}

impl Ctx<'_> {
    fn rank(&self, signal: Signal, seeds: &[(usize, f64)]) -> Ranked {
        sources_first(self.files, self.rank_all(signal, seeds))
    }

    fn rank_all(&self, signal: Signal, seeds: &[(usize, f64)]) -> Ranked {
        match signal {
            Signal::Paths => self.by_paths(),
            Signal::Symbols => self.by_symbols(),
            Signal::Bm25 => self.by_bm25(),
            Signal::Bm25Files => self.by_bm25_files(),
            Signal::Modules => self.by_modules(),
            Signal::Literals => self.by_literals(),
            Signal::Commits => self.by_commits(),
            Signal::Prior => self.by_prior(),
            Signal::CoChange => self.by_cochange(seeds),
        }
    }

    fn by_paths(&self) -> Ranked {
        let mut scored = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
            let mut best = 0.0f64;
            let mut why = String::new();
            for p in &self.clues.paths {
                let s = if f.path == *p {
                    3.0
                } else if f.path.ends_with(&format!("/{p}")) || p.ends_with(&format!("/{}", f.path))
                {
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
        finish(scored)
    }

    fn by_symbols(&self) -> Ranked {
        if self.clues.identifiers.is_empty() {
            return Vec::new();
        }
        let wanted: HashSet<&str> = self.clues.identifiers.iter().map(String::as_str).collect();
        // How many files define each name: rarer names weigh more.
        let mut definers: HashMap<&str, usize> = HashMap::new();
        let mut per_file: Vec<(usize, Vec<&str>)> = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
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
        let n_files = self.files.len().max(1) as f64;
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
        finish(scored)
    }

    fn by_bm25(&self) -> Ranked {
        // A file's score is its best chunk's (summing its next chunks favoured long files).
        let mut best: HashMap<usize, (f64, String)> = HashMap::new();
        for hit in self.index.search(&self.clues.query, 200) {
            let Some(&i) = self.pos.get(hit.path.as_str()) else {
                continue;
            };
            let e = best.entry(i).or_insert((0.0, String::new()));
            if f64::from(hit.score) > e.0 {
                *e = (f64::from(hit.score), hit.symbol.clone().unwrap_or_default());
            }
        }
        finish(best.into_iter().map(|(i, (s, why))| (i, s, why)).collect())
    }

    fn by_bm25_files(&self) -> Ranked {
        finish(
            self.index
                .search_files(&self.clues.query, 100)
                .into_iter()
                .filter_map(|(path, score)| {
                    Some((
                        *self.pos.get(path.as_str())?,
                        f64::from(score),
                        String::new(),
                    ))
                })
                .collect(),
        )
    }

    fn by_modules(&self) -> Ranked {
        if self.clues.words.is_empty() && self.clues.scopes.is_empty() {
            return Vec::new();
        }
        let words: HashSet<&str> = self.clues.words.iter().map(String::as_str).collect();
        let scopes: HashSet<&str> = self.clues.scopes.iter().map(String::as_str).collect();
        // Path components (lowercase, extension dropped) of each file.
        let components = |path: &str| -> Vec<String> {
            path.split('/')
                .map(|c| c.split('.').next().unwrap_or(c).to_lowercase())
                .collect()
        };
        // How many files sit under each component: a package root names every file.
        let mut n_under: HashMap<String, usize> = HashMap::new();
        for f in self.files {
            let mut comps = components(&f.path);
            comps.sort();
            comps.dedup();
            for c in comps {
                *n_under.entry(c).or_default() += 1;
            }
        }
        let n_files = self.files.len().max(1) as f64;
        let mut scored = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let comps = components(&f.path);
            let mut score = 0.0;
            let mut hits = Vec::new();
            for (k, (c, raw)) in comps.iter().zip(f.path.split('/')).enumerate() {
                let scope = scopes.contains(c.as_str());
                // A compound name whose every part the issue says (`fish_completions` for
                // "fish shell completions") names the file once per part.
                let words_said = if words.contains(c.as_str()) {
                    1.0
                } else {
                    let parts = name_parts(raw.split('.').next().unwrap_or(raw));
                    if parts.len() >= 2 && parts.iter().all(|p| words.contains(p.as_str())) {
                        parts.len() as f64
                    } else {
                        0.0
                    }
                };
                if !scope && words_said == 0.0 {
                    continue;
                }
                let idf = (n_files / *n_under.get(c).unwrap_or(&1) as f64)
                    .ln()
                    .max(0.1);
                // The file's own name counts double; a `scope:` prefix is a deliberate pointer.
                let own = if k + 1 == comps.len() { 2.0 } else { 1.0 };
                score += idf * own * if scope { 3.0 } else { words_said };
                hits.push(c.clone());
            }
            if score > 0.0 {
                scored.push((i, score, hits.join("/")));
            }
        }
        finish(scored)
    }

    fn by_literals(&self) -> Ranked {
        if self.clues.literals.is_empty() {
            return Vec::new();
        }
        // Files holding every term of a literal are the only ones read.
        let mut found: Vec<Vec<usize>> = vec![Vec::new(); self.clues.literals.len()];
        let mut texts: HashMap<usize, Option<String>> = HashMap::new();
        for (l, lit) in self.clues.literals.iter().enumerate() {
            let mut terms = Vec::new();
            tokenize::term_hashes(lit, &mut terms);
            for (i, f) in self.files.iter().enumerate() {
                if !terms.iter().all(|&t| !f.index.postings_of(t).is_empty()) {
                    continue;
                }
                let text = texts
                    .entry(i)
                    .or_insert_with(|| (self.sources.text)(&f.path));
                if text.as_deref().is_some_and(|t| t.contains(lit.as_str())) {
                    if let Some(v) = found.get_mut(l) {
                        v.push(i);
                    }
                }
            }
        }
        let n_files = self.files.len().max(1) as f64;
        let mut parts = Vec::new();
        for (lit, in_files) in self.clues.literals.iter().zip(&found) {
            if in_files.is_empty() {
                continue;
            }
            // Rare strings point somewhere; one found everywhere does not.
            let idf = (n_files / in_files.len() as f64).ln().max(0.05);
            let s = (lit.len() as f64).sqrt() * idf;
            for &i in in_files {
                parts.push((i, s, format!("contains {lit:?}")));
            }
        }
        collect(parts)
    }

    fn by_commits(&self) -> Ranked {
        let Some(history) = self.sources.history else {
            return Vec::new();
        };
        let mut parts = Vec::new();
        for (k, score) in history.similar(&self.clues.query, SIMILAR_COMMITS) {
            let Some(c) = history.commits().get(k) else {
                continue;
            };
            let here: Vec<usize> = c
                .files
                .iter()
                .filter_map(|p| self.pos.get(p.as_str()).copied())
                .collect();
            if here.is_empty() {
                continue;
            }
            // A commit's vote is shared by the files it changed.
            let share = score / (here.len() as f64).sqrt();
            let subject = c.message.lines().next().unwrap_or("");
            for i in here {
                parts.push((i, share, format!("like {subject:?}")));
            }
        }
        collect(parts)
    }

    fn by_prior(&self) -> Ranked {
        let Some(history) = self.sources.history else {
            return Vec::new();
        };
        finish(
            self.files
                .iter()
                .enumerate()
                .filter(|(_, f)| !is_support_path(&f.path))
                .map(|(i, f)| {
                    let p = history.fix_prior(&f.path, PRIOR_HALF_LIFE);
                    (i, p, "often fixed".to_owned())
                })
                .collect(),
        )
    }

    fn by_cochange(&self, seeds: &[(usize, f64)]) -> Ranked {
        let Some(history) = self.sources.history else {
            return Vec::new();
        };
        let mut parts = Vec::new();
        for &(seed, w) in seeds {
            let seed_path = path_of(self.files, seed);
            for (other, share) in history.cochanged(seed_path) {
                if let Some(&i) = self.pos.get(other.as_str()) {
                    parts.push((i, w * share, format!("changed with {seed_path}")));
                }
            }
        }
        collect(parts)
    }
}

/// Functions of the best files: named in the issue, its call-graph neighbours, best BM25 chunks,
/// containing a literal (weights: [`NAMED_FUNCTION`] and the constants after it).
fn rank_functions(ctx: &Ctx<'_>, top: &Fused, limit: usize) -> Vec<FunctionCandidate> {
    let top_paths: HashSet<&str> = top.iter().map(|(f, _, _)| path_of(ctx.files, *f)).collect();
    let wanted: HashSet<&str> = ctx.clues.identifiers.iter().map(String::as_str).collect();
    // Each function's best chunk among the best files' chunks: its rank and its score.
    let mut chunks: HashMap<(&str, u32), (usize, f64)> = HashMap::new();
    let hits = ctx.index.search(&ctx.clues.query, 200);
    let mut best = 0.0f64;
    for (rank, hit) in hits.iter().enumerate() {
        if !top_paths.contains(hit.path.as_str()) {
            continue;
        }
        let def = hit
            .file
            .index
            .chunks
            .get(hit.chunk as usize)
            .map_or(u32::MAX, |c| c.def);
        best = best.max(f64::from(hit.score));
        chunks
            .entry((hit.path.as_str(), def))
            .or_insert((rank, f64::from(hit.score)));
    }
    // The given names the repository defines: a use of one is a call into the project's own
    // code (a use of `Decimal` or `len` says little).
    let project_names: HashSet<&str> = if wanted.is_empty() {
        HashSet::new()
    } else {
        ctx.files
            .iter()
            .flat_map(|f| f.index.defs.iter())
            .filter(|d| d.kind != DefKind::Impl)
            .filter_map(|d| wanted.get(d.name.as_str()).copied())
            .collect()
    };
    // Names that the functions the issue names use (their callees, by name).
    let mut callees: HashSet<&str> = HashSet::new();
    for (f, _, _) in top {
        let Some(file) = ctx.files.get(*f) else {
            continue;
        };
        let named: HashSet<u32> = file
            .index
            .defs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind.is_callable() && wanted.contains(d.name.as_str()))
            .map(|(i, _)| i as u32)
            .collect();
        if named.is_empty() {
            continue;
        }
        for r in &file.index.refs {
            if named.contains(&r.enclosing) {
                if let Some(n) = file.index.names.get(r.name as usize) {
                    callees.insert(n.as_str());
                }
            }
        }
    }
    let mut out = Vec::new();
    for (f, file_score, _) in top {
        let Some(file) = ctx.files.get(*f) else {
            continue;
        };
        let text = if ctx.clues.literals.is_empty() {
            None
        } else {
            (ctx.sources.text)(&file.path)
        };
        // Definitions whose bodies use a name the issue gives that the project defines.
        let mut users: HashSet<u32> = HashSet::new();
        for name in &project_names {
            users.extend(
                file.index
                    .refs_named(name)
                    .iter()
                    .map(|r| r.enclosing)
                    .filter(|&d| d != u32::MAX),
            );
        }
        for (d, def) in file.index.defs.iter().enumerate() {
            if !def.kind.is_callable() {
                continue;
            }
            let mut score = 0.0;
            let mut why = Vec::new();
            if wanted.contains(def.name.as_str()) {
                score += NAMED_FUNCTION;
                why.push("named in the issue".to_owned());
            } else if users.contains(&(d as u32)) {
                score += USES_NAMED;
                why.push("uses a name the issue gives".to_owned());
            } else if callees.contains(def.name.as_str()) {
                score += USES_NAMED;
                why.push("used by a function the issue names".to_owned());
            }
            if let Some(&(rank, s)) = chunks.get(&(file.path.as_str(), d as u32)) {
                score += LEXICAL_FUNCTION * s / best.max(f64::MIN_POSITIVE);
                why.push(format!("bm25 #{}", rank + 1));
            }
            if let Some(text) = &text {
                let body = text
                    .get(def.span.start as usize..def.span.end as usize)
                    .unwrap_or("");
                if ctx.clues.literals.iter().any(|l| body.contains(l.as_str())) {
                    score += LITERAL_FUNCTION;
                    why.push("contains a quoted string of the issue".to_owned());
                }
            }
            if score > 0.0 {
                out.push(FunctionCandidate {
                    path: file.path.clone(),
                    name: file.qualified_name(def),
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

/// The parts of a compound name (`fish_completions`, `fish-completions`, `fishCompletions` →
/// `fish`, `completions`): the index's terms of it other than the whole name.
fn name_parts(name: &str) -> Vec<String> {
    let whole = name.to_lowercase();
    let mut parts = Vec::new();
    tokenize::for_each_term(name, |t| {
        if t != whole {
            parts.push(t.to_owned());
        }
    });
    parts
}

#[cfg(test)]
mod tests;
