//! Repository experience for learning (the SWE-Spot paper's four units), as chat samples:
//! 1. design Q&A — what a file defines, where a symbol is and what it does, who calls it; every
//!    answer is read off the index (names, signatures, docs, references), never invented;
//! 2. masked functions — a function removed from its file, to be re-implemented; the answer is
//!    the original;
//! 3. bug replay — a historical fix commit reversed: the commit message as the issue, the
//!    issue-to-patch prompt spot itself would build at the parent commit (same localization, with
//!    the history as the parent knew it and the files as they were; same code, same answer
//!    format), answered with the fix as search/replace blocks; the same bug re-injected into
//!    HEAD, localized with today's history less the fix;
//! 4. test writing — fix commits that touched tests: the issue and the fix, answered with the
//!    test change; verified by running the repository's test command (fails before, passes
//!    after) when one is given.
//!
//! Everything is read from git's object database at HEAD or at the commits involved, so the
//! user's work tree is never touched. Samples are deduplicated and split: design Q&A, masked
//! functions and tests by a hash of their id, bug replay by time (the newest fixes are held
//! out, as a model is later asked about bugs newer than what it learned).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::git::{GitError, Repo};
use crate::history::{history_within, is_fix_message, past_commit, HISTORY_DEPTH};
use crate::snapshot::{materialize_in_scratch, Snapshot};
use spot_assist::edit::{self, format_blocks};
use spot_assist::localize::{
    is_test_path, localize_with, History, LocalizeOptions, PastCommit, Sources,
};
use spot_assist::patch::PatchOptions;
use spot_assist::prompt::{self, Snippet};
use spot_index::{DefKind, FileEntry, Index, Lang};
use spot_model::ChatMessage;

/// The four kinds of experience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    DesignQa,
    MaskedFunction,
    BugReplay,
    TestWriting,
}

impl Unit {
    pub const ALL: [Unit; 4] = [
        Unit::DesignQa,
        Unit::MaskedFunction,
        Unit::BugReplay,
        Unit::TestWriting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::DesignQa => "design_qa",
            Unit::MaskedFunction => "masked_function",
            Unit::BugReplay => "bug_replay",
            Unit::TestWriting => "test_writing",
        }
    }
}

/// Limits and switches of one build.
#[derive(Debug, Clone)]
pub struct ExperienceOptions {
    pub max_design_qa: usize,
    pub max_masked: usize,
    pub max_bug_replay: usize,
    pub max_test_writing: usize,
    /// Share of each unit held out (at least one sample once a unit has three).
    pub heldout: f64,
    /// Commits of history scanned for fixes.
    pub history: usize,
    /// Shell command that runs the repository's tests (in the repository's root), used to
    /// verify test-writing samples; `None` leaves them unverified.
    pub test_cmd: Option<String>,
    /// Where the checkouts that `test_cmd` runs in go (spot's data dir `scratch/`); `None`: the
    /// system's temp dir.
    pub scratch_dir: Option<std::path::PathBuf>,
    /// Prompt budget of bug-replay samples, in tokens (estimated at 3.2 characters per token).
    pub max_prompt_tokens: usize,
}

impl Default for ExperienceOptions {
    fn default() -> Self {
        Self {
            max_design_qa: 300,
            max_masked: 300,
            max_bug_replay: 200,
            max_test_writing: 100,
            heldout: 0.1,
            history: 2000,
            test_cmd: None,
            scratch_dir: None,
            max_prompt_tokens: PatchOptions::default().max_prompt_tokens,
        }
    }
}

/// Where a sample comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub unit: Unit,
    /// Stable id, e.g. `masked:inventory/pricing.py:bulk_discount_percent`.
    pub id: String,
    /// Commit the sample was built at.
    pub commit: String,
    pub split: Split,
    /// Test-writing samples: whether the repository's test command confirmed the test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Heldout,
}

/// One chat sample: `{"messages": [...], "meta": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub messages: Vec<ChatMessage>,
    pub meta: Meta,
}

/// Counts per unit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnitSummary {
    pub train: usize,
    pub heldout: usize,
    pub duplicates: usize,
    /// Candidates left out, by reason.
    pub skipped: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub repo: String,
    pub head: String,
    pub units: BTreeMap<Unit, UnitSummary>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExperienceError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

const SYSTEM_QA: &str = "You are spot, an expert on this repository. You answer questions about \
its code precisely.";

/// Builds the experience of the repository at `root`. `progress(unit, done, total)` reports.
pub fn build(
    root: &Path,
    opts: &ExperienceOptions,
    progress: &dyn Fn(Unit, usize, usize),
) -> Result<(Vec<Sample>, Summary), ExperienceError> {
    let started = std::time::Instant::now();
    let repo = Repo::new(root);
    let head = repo
        .log(1)?
        .first()
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let mut snap = Snapshot::new(&repo)?;
    let mut summary = Summary {
        repo: root.display().to_string(),
        head: head.clone(),
        ..Summary::default()
    };
    let mut samples = Vec::new();
    if !head.is_empty() {
        snap.checkout(&head)?;
        let files = sources(snap.index());
        let qa = design_qa(snap.index(), &files, opts.max_design_qa);
        progress(Unit::DesignQa, qa.len(), qa.len());
        samples.extend(finish(Unit::DesignQa, &head, qa, opts, &mut summary));
        let masked = masked_functions(&mut snap, &head, &files, opts.max_masked)?;
        progress(Unit::MaskedFunction, masked.len(), masked.len());
        samples.extend(finish(
            Unit::MaskedFunction,
            &head,
            masked,
            opts,
            &mut summary,
        ));
    }
    let (bugs, tests) = history(&repo, &mut snap, opts, &mut summary, progress)?;
    samples.extend(bugs);
    samples.extend(tests);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok((samples, summary))
}

/// Writes `train.jsonl`, `heldout.jsonl` and `summary.json` into `out` (created if needed).
pub fn write(out: &Path, samples: &[Sample], summary: &Summary) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    for (split, name) in [
        (Split::Train, "train.jsonl"),
        (Split::Heldout, "heldout.jsonl"),
    ] {
        let mut text = String::new();
        for s in samples.iter().filter(|s| s.meta.split == split) {
            text.push_str(&serde_json::to_string(s).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        write_atomic(&out.join(name), text.as_bytes())?;
    }
    let json = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
    write_atomic(&out.join("summary.json"), json.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Source files (not tests) of the index, by path.
fn sources(index: &Index) -> Vec<std::sync::Arc<FileEntry>> {
    let mut files: Vec<_> = index
        .snapshot()
        .into_iter()
        .filter(|f| !is_test_path(&f.path))
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn qa(question: String, answer: String) -> (String, Vec<ChatMessage>) {
    (
        String::new(),
        vec![
            ChatMessage::system(SYSTEM_QA),
            ChatMessage::user(question),
            ChatMessage::assistant(answer),
        ],
    )
}

fn first_sentence(doc: &str) -> String {
    let para = doc.split("\n\n").next().unwrap_or_default();
    para.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Design questions answered from the index.
fn design_qa(
    index: &Index,
    files: &[std::sync::Arc<FileEntry>],
    limit: usize,
) -> Vec<(String, Vec<ChatMessage>)> {
    let mut out = Vec::new();
    for f in files {
        // What does a file define?
        let top: Vec<_> = f
            .index
            .defs
            .iter()
            .filter(|d| d.parent.is_none() && d.kind != DefKind::Impl)
            .collect();
        if !top.is_empty() {
            let mut answer = format!("`{}` defines:\n", f.path);
            for d in top.iter().take(15) {
                let _ = write!(answer, "- {} `{}`", d.kind.as_str(), d.signature);
                if let Some(doc) = &d.doc {
                    let _ = write!(answer, ": {}", first_sentence(doc));
                }
                answer.push('\n');
            }
            if top.len() > 15 {
                let _ = writeln!(answer, "and {} more definitions.", top.len() - 15);
            }
            let mut s = qa(
                format!("What does `{}` contain and what is it for?", f.path),
                answer,
            );
            s.0 = format!("qa:file:{}", f.path);
            out.push(s);
        }
        for d in &f.index.defs {
            if !(d.kind.is_callable() || d.kind.is_container()) || d.kind == DefKind::Impl {
                continue;
            }
            let name = f.qualified_name(d);
            // Where is it, what does it do?
            let mut answer = format!(
                "`{name}` is a {} defined in `{}` at line {}: `{}`.",
                d.kind.as_str(),
                f.path,
                d.span.start_line + 1,
                d.signature
            );
            if let Some(doc) = &d.doc {
                let _ = write!(answer, " {}", first_sentence(doc));
            }
            let mut s = qa(format!("Where is `{name}` defined and what is it?"), answer);
            s.0 = format!("qa:def:{}:{name}", f.path);
            out.push(s);
            // Who calls it? Only for names defined once, so the answer is unambiguous.
            if d.kind.is_callable() && index.definitions(&d.name).len() == 1 {
                let mut callers: Vec<String> = index
                    .references(&d.name)
                    .iter()
                    .filter_map(|r| {
                        let e = r.enclosing?;
                        let caller = r.file.index.defs.get(e as usize)?;
                        let same = r.file.path == f.path && caller.span == d.span;
                        (!same).then(|| {
                            format!("`{}` in `{}`", r.file.qualified_name(caller), r.file.path)
                        })
                    })
                    .collect();
                callers.dedup();
                if !callers.is_empty() && callers.len() <= 15 {
                    let mut s = qa(
                        format!("Which functions call `{name}`?"),
                        format!("`{name}` is called by {}.", callers.join(", ")),
                    );
                    s.0 = format!("qa:callers:{}:{name}", f.path);
                    out.push(s);
                }
            }
        }
    }
    spread(out, limit)
}

/// At most `limit` items, spread evenly over the list (so every part of the repo is seen).
fn spread<T>(items: Vec<T>, limit: usize) -> Vec<T> {
    let n = items.len();
    if n <= limit {
        return items;
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (i * limit) / n != ((i + 1) * limit) / n)
        .map(|(_, x)| x)
        .collect()
}

fn comment_prefix(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => "#",
        _ => "//",
    }
}

fn fence(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "rust",
        Lang::Python => "python",
        Lang::JavaScript => "javascript",
        Lang::TypeScript => "typescript",
        Lang::Tsx => "tsx",
        Lang::Go => "go",
    }
}

/// Masked-function samples from the source files at `commit`.
fn masked_functions(
    snap: &mut Snapshot,
    commit: &str,
    files: &[std::sync::Arc<FileEntry>],
    limit: usize,
) -> Result<Vec<(String, Vec<ChatMessage>)>, GitError> {
    const CONTEXT_LINES: u32 = 40;
    let mut out = Vec::new();
    for f in files {
        let Some(text) = snap.read(commit, &f.path)? else {
            continue;
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for d in &f.index.defs {
            let (s, e) = (d.span.start_line, d.span.end_line);
            let n = e - s + 1;
            if !d.kind.is_callable() || !(3..=60).contains(&n) || e as usize >= lines.len() {
                continue;
            }
            let name = f.qualified_name(d);
            let indent: String = lines[s as usize]
                .chars()
                .take_while(|c| c.is_whitespace() && *c != '\n')
                .collect();
            let lo = s.saturating_sub(CONTEXT_LINES) as usize;
            let hi = ((e + CONTEXT_LINES) as usize).min(lines.len() - 1);
            let mut context = lines[lo..s as usize].concat();
            let _ = writeln!(
                context,
                "{indent}{} <MASKED: `{}` goes here>",
                comment_prefix(f.lang),
                d.name
            );
            context.push_str(&lines[e as usize + 1..=hi].concat());
            let original = lines[s as usize..=e as usize].concat();
            let mut question = format!(
                "Re-implement `{name}` in `{}` (lines {}-{}), whose signature is `{}`.",
                f.path,
                s + 1,
                e + 1,
                d.signature
            );
            if let Some(doc) = &d.doc {
                let _ = write!(question, " Its documentation says: {}", first_sentence(doc));
            }
            let _ = write!(
                question,
                "\n\nThe file around it, lines {}-{}, with the function masked:\n```{}\n{context}```\n\nAnswer with the complete function in a code block.",
                lo + 1,
                hi + 1,
                fence(f.lang)
            );
            let answer = format!("```{}\n{original}```", fence(f.lang));
            out.push((
                format!("masked:{}:{name}", f.path),
                vec![
                    ChatMessage::system(prompt::SYSTEM),
                    ChatMessage::user(question),
                    ChatMessage::assistant(answer),
                ],
            ));
        }
    }
    Ok(spread(out, limit))
}

/// Stable 64-bit hash of a sample id.
fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// Deduplicates, splits by id hash and records the counts.
fn finish(
    unit: Unit,
    commit: &str,
    items: Vec<(String, Vec<ChatMessage>)>,
    opts: &ExperienceOptions,
    summary: &mut Summary,
) -> Vec<Sample> {
    let mut seen = HashSet::new();
    let counts = summary.units.entry(unit).or_default();
    let mut out: Vec<Sample> = Vec::new();
    for (id, messages) in items {
        let key = xxhash_rust::xxh3::xxh3_64(
            serde_json::to_string(&messages)
                .unwrap_or_default()
                .as_bytes(),
        );
        if !seen.insert(key) {
            counts.duplicates += 1;
            continue;
        }
        out.push(Sample {
            messages,
            meta: Meta {
                unit,
                id,
                commit: commit.to_owned(),
                split: Split::Train,
                verified: None,
            },
        });
    }
    let want = heldout_count(out.len(), opts.heldout);
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by_key(|&i| id_hash(&out[i].meta.id));
    for &i in order.iter().take(want) {
        out[i].meta.split = Split::Heldout;
    }
    count(counts, &out);
    out
}

fn heldout_count(n: usize, share: f64) -> usize {
    if n < 3 || share <= 0.0 {
        0
    } else {
        ((n as f64 * share).round() as usize).clamp(1, n - 1)
    }
}

fn count(counts: &mut UnitSummary, samples: &[Sample]) {
    counts.train = samples
        .iter()
        .filter(|s| s.meta.split == Split::Train)
        .count();
    counts.heldout = samples.len() - counts.train;
}

fn skip(summary: &mut Summary, unit: Unit, why: &str) {
    *summary
        .units
        .entry(unit)
        .or_default()
        .skipped
        .entry(why.to_owned())
        .or_default() += 1;
}

/// A fix's changed files: (path, text before, text after).
type Changes = Vec<(String, String, String)>;

/// Bug-replay and test-writing samples from the fix commits of the history.
fn history(
    repo: &Repo,
    snap: &mut Snapshot,
    opts: &ExperienceOptions,
    summary: &mut Summary,
    progress: &dyn Fn(Unit, usize, usize),
) -> Result<(Vec<Sample>, Vec<Sample>), ExperienceError> {
    // The fixes come from the newest `opts.history` commits; localization's history (as spot
    // reads it when serving: HISTORY_DEPTH commits) may reach further back.
    let log = repo.log(opts.history.saturating_add(HISTORY_DEPTH))?;
    let past: Vec<PastCommit> = log.iter().map(past_commit).collect();
    let fixes: Vec<_> = log
        .iter()
        .take(opts.history)
        .filter(|c| c.parents.len() == 1 && is_fix_message(&c.message))
        .collect();
    let mut bugs: Vec<Sample> = Vec::new();
    let mut tests: Vec<Sample> = Vec::new();
    let mut seen = HashSet::new();
    // Fixes replayed at their parent, for the re-injection pass at HEAD.
    let mut replayed: Vec<(String, String, Changes)> = Vec::new();
    let total = fixes.len();
    for (k, c) in fixes.iter().enumerate() {
        progress(Unit::BugReplay, k, total);
        if bugs.len() >= opts.max_bug_replay && tests.len() >= opts.max_test_writing {
            break;
        }
        let parent = &c.parents[0];
        let is_code = |p: &String| Lang::from_path(Path::new(p)).is_some();
        let src: Vec<&String> = c
            .files
            .iter()
            .filter(|p| is_code(p) && !is_test_path(p))
            .collect();
        let test_files: Vec<&String> = c
            .files
            .iter()
            .filter(|p| is_code(p) && is_test_path(p))
            .collect();
        if src.is_empty() {
            skip(summary, Unit::BugReplay, "no source file changed");
            continue;
        }
        if src.len() > 3 {
            skip(summary, Unit::BugReplay, "more than 3 source files changed");
            continue;
        }
        let mut changes = Vec::new();
        for path in &src {
            let before = snap.read(parent, path)?;
            let after = snap.read(&c.id, path)?;
            changes.push(((*path).clone(), before, after));
        }
        if changes.iter().any(|(_, b, a)| b.is_none() || a.is_none()) {
            skip(summary, Unit::BugReplay, "a file was added or deleted");
            continue;
        }
        let changes: Vec<(String, String, String)> = changes
            .into_iter()
            .filter_map(|(p, b, a)| Some((p, b?, a?)))
            .collect();
        let answer: String = changes
            .iter()
            .map(|(p, b, a)| format_blocks(p, b, a))
            .collect();
        if answer.len() > 4000 {
            skip(summary, Unit::BugReplay, "fix larger than 4000 characters");
            continue;
        }
        snap.checkout(parent)?;
        if bugs.len() < opts.max_bug_replay {
            let ancestors: HashSet<String> = repo.rev_list(parent)?.into_iter().collect();
            let known = history_within(&log, &past, |id| ancestors.contains(id), HISTORY_DEPTH);
            match bug_replay(snap, parent, &c.message, &changes, &answer, &known, opts) {
                Ok(messages) => {
                    let key = xxhash_rust::xxh3::xxh3_64(answer.as_bytes());
                    if seen.insert(key) {
                        replayed.push((c.id.clone(), c.message.clone(), changes.clone()));
                        bugs.push(Sample {
                            messages,
                            meta: Meta {
                                unit: Unit::BugReplay,
                                id: format!("bug:{}", c.id),
                                commit: parent.clone(),
                                split: Split::Train,
                                verified: None,
                            },
                        });
                    } else {
                        summary.units.entry(Unit::BugReplay).or_default().duplicates += 1;
                    }
                }
                Err(why) => skip(summary, Unit::BugReplay, why),
            }
        }
        if tests.len() < opts.max_test_writing && !test_files.is_empty() {
            match test_writing(repo, snap, c, &changes, &test_files, opts)? {
                Ok(sample) => tests.push(sample),
                Err(why) => skip(summary, Unit::TestWriting, why),
            }
        }
    }
    progress(Unit::BugReplay, total, total);
    // The newest fixes are held out (the log is newest first).
    let want = heldout_count(bugs.len(), opts.heldout);
    for s in bugs.iter_mut().take(want) {
        s.meta.split = Split::Heldout;
    }
    let held: HashSet<String> = bugs
        .iter()
        .filter(|s| s.meta.split == Split::Heldout)
        .filter_map(|s| s.meta.id.strip_prefix("bug:").map(str::to_owned))
        .collect();
    // The same bugs re-injected into today's code, as a user meets them.
    if let Some(head) = repo.log(1)?.first().map(|c| c.id.clone()) {
        snap.checkout(&head)?;
        for (id, message, changes) in &replayed {
            // Today's history (the whole log: all of it is HEAD's) without the fix itself: a bug
            // being fixed is not in it yet.
            let known = history_within(&log, &past, |c| c != id, HISTORY_DEPTH);
            match reinjected(snap, &head, message, changes, &known, opts)? {
                Ok(messages) => bugs.push(Sample {
                    messages,
                    meta: Meta {
                        unit: Unit::BugReplay,
                        id: format!("bug-head:{id}"),
                        commit: head.clone(),
                        split: if held.contains(id) {
                            Split::Heldout
                        } else {
                            Split::Train
                        },
                        verified: None,
                    },
                }),
                Err(why) => skip(summary, Unit::BugReplay, why),
            }
        }
    }
    count(summary.units.entry(Unit::BugReplay).or_default(), &bugs);
    let want = heldout_count(tests.len(), opts.heldout);
    let mut order: Vec<usize> = (0..tests.len()).collect();
    order.sort_by_key(|&i| id_hash(&tests[i].meta.id));
    for &i in order.iter().take(want) {
        tests[i].meta.split = Split::Heldout;
    }
    count(summary.units.entry(Unit::TestWriting).or_default(), &tests);
    Ok((bugs, tests))
}

/// The issue-to-patch prompt at `commit` (the fix's parent, or HEAD with the bug re-injected;
/// the buggy texts of the changed files are `changes`' first text), with the fix's functions
/// guaranteed to be among the code shown (replacing the lowest-ranked snippets), answered with
/// the fix.
fn bug_replay(
    snap: &mut Snapshot,
    commit: &str,
    message: &str,
    changes: &[(String, String, String)],
    answer: &str,
    history: &History,
    opts: &ExperienceOptions,
) -> Result<Vec<ChatMessage>, &'static str> {
    let patch_opts = PatchOptions::default();
    let texts: BTreeMap<&str, &str> = changes
        .iter()
        .map(|(p, b, _)| (p.as_str(), b.as_str()))
        .collect();
    // Localized as spot does when serving: with the history, files read at `commit` (the
    // changed ones in their buggy state).
    let loc = {
        let snap: &Snapshot = snap;
        let read = |p: &str| match texts.get(p) {
            Some(t) => Some((*t).to_owned()),
            None => snap.read(commit, p).ok().flatten(),
        };
        let sources = Sources {
            text: &read,
            history: (!history.is_empty()).then_some(history),
        };
        localize_with(snap.index(), &sources, message, &LocalizeOptions::default())
    };
    // Read any file at the parent (cached per call).
    let mut cache: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut wanted: Vec<String> = loc.files.iter().map(|f| f.path.clone()).collect();
    wanted.extend(changes.iter().map(|(p, ..)| p.clone()));
    for p in wanted {
        if let std::collections::btree_map::Entry::Vacant(e) = cache.entry(p.clone()) {
            let text = match texts.get(p.as_str()) {
                Some(t) => Some((*t).to_owned()),
                None => snap.read(commit, &p).ok().flatten(),
            };
            e.insert(text);
        }
    }
    let index = snap.index();
    let reader = |p: &str| cache.get(p).cloned().flatten();
    let mut snippets = prompt::select_snippets(index, &loc, None, &reader, patch_opts.max_snippets);
    // Make sure every changed hunk is inside a snippet.
    let mut needed: Vec<Snippet> = Vec::new();
    for (path, before, after) in changes {
        for line in changed_old_lines(before, after) {
            let covered = snippets
                .iter()
                .chain(needed.iter())
                .any(|s| s.path == *path && s.start_line <= line && line <= s.end_line);
            if covered {
                continue;
            }
            let (name, start, end) = match prompt::function_at(index, path, line - 1) {
                Some((n, s, e)) => (Some(n), s, e),
                None => (None, line.saturating_sub(10).max(1), line + 10),
            };
            let lines: Vec<&str> = before.split_inclusive('\n').collect();
            let end = end.min(lines.len() as u32);
            if start > end {
                continue;
            }
            needed.push(Snippet {
                path: path.clone(),
                name,
                start_line: start,
                end_line: end,
                text: lines[start as usize - 1..end as usize].concat(),
            });
        }
    }
    if needed.len() > patch_opts.max_snippets {
        return Err("the fix spans more functions than a prompt shows");
    }
    // Gold snippets go where localization would have ranked them: after the ones it found.
    snippets.retain(|s| {
        !needed
            .iter()
            .any(|n| n.path == s.path && n.start_line <= s.end_line && s.start_line <= n.end_line)
    });
    while snippets.len() + needed.len() > patch_opts.max_snippets {
        snippets.pop();
    }
    snippets.extend(needed);
    let count = |s: &str| s.len() * 10 / 32;
    let (mut messages, kept) = prompt::build(message, snippets, &count, opts.max_prompt_tokens);
    // Every hunk must still be visible after fitting the budget.
    for (path, before, after) in changes {
        for line in changed_old_lines(before, after) {
            if !kept
                .iter()
                .any(|s| s.path == *path && s.start_line <= line && line <= s.end_line)
            {
                return Err("the fix's code does not fit the prompt budget");
            }
        }
    }
    // The answer must apply to the parent exactly as the fix did.
    let blocks = edit::parse_blocks(answer);
    let resolve = |p: &str| Some(p.to_owned());
    let read_before = |p: &str| texts.get(p).map(|t| (*t).to_owned());
    match edit::apply_blocks(&blocks, None, &resolve, &read_before) {
        Ok(edits)
            if edits.iter().all(|e| {
                changes
                    .iter()
                    .any(|(p, _, a)| *p == e.path && *a == e.after)
            }) => {}
        _ => return Err("the fix does not round-trip through search/replace blocks"),
    }
    messages.push(ChatMessage::assistant(answer.to_owned()));
    Ok(messages)
}

/// A fix's bug re-injected into the files at `head` (the fix reversed on today's text), as a
/// bug-replay prompt answered with the blocks that fix it again.
fn reinjected(
    snap: &mut Snapshot,
    head: &str,
    message: &str,
    changes: &[(String, String, String)],
    history: &History,
    opts: &ExperienceOptions,
) -> Result<Result<Vec<ChatMessage>, &'static str>, ExperienceError> {
    let mut at_head = Vec::new();
    for (path, before, after) in changes {
        let Some(today) = snap.read(head, path)? else {
            return Ok(Err("re-injection: the file is gone at HEAD"));
        };
        let reverse = edit::parse_blocks(&format_blocks(path, after, before));
        let resolve = |p: &str| Some(p.to_owned());
        let read = |_: &str| Some(today.clone());
        let Ok(edits) = edit::apply_blocks(&reverse, None, &resolve, &read) else {
            return Ok(Err("re-injection: the fix no longer reverses on HEAD"));
        };
        let Some(buggy) = edits.into_iter().next().map(|e| e.after) else {
            return Ok(Err("re-injection: the fix no longer reverses on HEAD"));
        };
        if buggy == today {
            return Ok(Err("re-injection: the fix no longer reverses on HEAD"));
        }
        at_head.push((path.clone(), buggy, today));
    }
    if at_head.iter().all(|(_, b, a)| b == a) {
        return Ok(Err("re-injection changes nothing"));
    }
    for (path, buggy, _) in &at_head {
        snap.index().set_text(path, buggy);
    }
    let answer: String = at_head
        .iter()
        .map(|(p, b, a)| format_blocks(p, b, a))
        .collect();
    let result = bug_replay(snap, head, message, &at_head, &answer, history, opts);
    for (path, _, today) in &at_head {
        snap.index().set_text(path, today);
    }
    Ok(result)
}

/// 1-based lines of `before` that a change touches (for an insertion: the line after it).
fn changed_old_lines(before: &str, after: &str) -> Vec<u32> {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    for op in diff.ops() {
        if op.tag() == similar::DiffTag::Equal {
            continue;
        }
        let r = op.old_range();
        if r.is_empty() {
            out.push(r.start as u32 + 1);
        } else {
            out.extend((r.start as u32 + 1)..=(r.end as u32));
        }
    }
    out
}

use spot_assist::prompt::TEST_FORMAT;

/// A test-writing sample from fix commit `c` (which changed `test_files`).
fn test_writing(
    repo: &Repo,
    snap: &mut Snapshot,
    c: &crate::git::Commit,
    changes: &[(String, String, String)],
    test_files: &[&String],
    opts: &ExperienceOptions,
) -> Result<Result<Sample, &'static str>, ExperienceError> {
    let parent = &c.parents[0];
    let path = test_files[0];
    let (Some(before), Some(after)) = (snap.read(parent, path)?, snap.read(&c.id, path)?) else {
        return Ok(Err("the test file was added or deleted"));
    };
    if before == after {
        return Ok(Err("the test file did not change"));
    }
    let answer = format_blocks(path, &before, &after);
    if answer.len() > 4000 {
        return Ok(Err("test change larger than 4000 characters"));
    }
    let fix_diff = edit::unified_diff(
        &changes
            .iter()
            .map(|(p, b, a)| edit::FileEdit {
                path: p.clone(),
                before: b.clone(),
                after: a.clone(),
                created: false,
            })
            .collect::<Vec<_>>(),
    );
    // Show the test file around the change (it must hold every SEARCH text).
    let lines: Vec<&str> = before.split_inclusive('\n').collect();
    let touched = changed_old_lines(&before, &after);
    let (first, last) = (
        touched.iter().min().copied().unwrap_or(1),
        touched.iter().max().copied().unwrap_or(1),
    );
    let lo = first.saturating_sub(30).max(1);
    let hi = (last + 10).min(lines.len() as u32).max(lo);
    let excerpt = lines[lo as usize - 1..hi as usize].concat();
    let mut question = format!(
        "Write a test for this fix: it must fail before the fix and pass after it.\n\n## Issue\n{}\n\n## The fix\n```diff\n{fix_diff}```\n\n## Test file\n{path}, lines {lo}-{hi}:\n```\n{excerpt}```\n\n## Answer format\n{TEST_FORMAT}\n",
        c.message.trim()
    );
    if question.len() / 3 > opts.max_prompt_tokens {
        // Keep the prompt within budget: drop the fix diff, which the issue summarizes.
        question = question.replace(&fix_diff, "(omitted: too long)\n");
    }
    let verified = match &opts.test_cmd {
        Some(cmd) => Some(verify_test(
            repo,
            c,
            path,
            &after,
            cmd,
            opts.scratch_dir.as_deref(),
        )?),
        None => None,
    };
    if verified == Some(false) {
        return Ok(Err("the test did not fail before and pass after the fix"));
    }
    Ok(Ok(Sample {
        messages: vec![
            ChatMessage::system(prompt::SYSTEM),
            ChatMessage::user(question),
            ChatMessage::assistant(answer),
        ],
        meta: Meta {
            unit: Unit::TestWriting,
            id: format!("test:{}", c.id),
            commit: parent.clone(),
            split: Split::Train,
            verified,
        },
    }))
}

/// Runs `cmd` on the buggy tree with the new test (must fail) and on the fixed tree (must pass),
/// each within the test run's time limit (a run over it counts as not passing).
fn verify_test(
    repo: &Repo,
    c: &crate::git::Commit,
    test_path: &str,
    test_after: &str,
    cmd: &str,
    scratch: Option<&Path>,
) -> Result<bool, ExperienceError> {
    let run = |commit: &str| -> Result<bool, ExperienceError> {
        let dir = materialize_in_scratch(repo, commit, scratch, "experience-tests-")?;
        let file = dir.path().join(test_path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&file, test_after)?;
        let run = spot_assist::testrun::TestRun::in_dir(dir, cmd);
        Ok(run.baseline()? == spot_assist::testrun::Outcome::Pass)
    };
    let fails_before = !run(&c.parents[0])?;
    Ok(fails_before && run(&c.id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_keeps_the_limit_and_the_ends() {
        let v: Vec<usize> = (0..100).collect();
        let s = spread(v, 10);
        assert_eq!(s.len(), 10);
        assert_eq!(s[0], 9);
        assert_eq!(*s.last().unwrap(), 99);
    }

    #[test]
    fn heldout_counts() {
        assert_eq!(heldout_count(2, 0.1), 0);
        assert_eq!(heldout_count(3, 0.1), 1);
        assert_eq!(heldout_count(100, 0.1), 10);
        assert_eq!(heldout_count(100, 0.0), 0);
    }

    #[test]
    fn changed_old_lines_cover_edits_and_insertions() {
        assert_eq!(changed_old_lines("a\nb\nc\n", "a\nB\nc\n"), vec![2]);
        assert_eq!(changed_old_lines("a\nc\n", "a\nb\nc\n"), vec![2]);
    }
}
