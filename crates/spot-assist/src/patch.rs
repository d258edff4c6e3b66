//! Issue-to-patch: localize the issue, show the model the code, read its answer as edits, and
//! keep the first candidate that validates.
//!
//! A candidate is valid when its blocks apply (exact, then whitespace-tolerant), every path is
//! inside the workspace, it changes something, and tree-sitter finds no more syntax errors in
//! any edited file than before. The first candidate decodes greedily from the plain prompt, as a
//! learned model was trained to answer. Later ones start the answer for the model (a *primer*:
//! the path of the best-ranked code shown and an opened SEARCH block), greedily, then sampling
//! (seeded), so a run is reproducible: a small general model that answers the plain prompt with
//! prose only has to copy lines and write their replacement. Small models also often answer with
//! the whole rewritten function instead of blocks; such an answer is accepted when it redefines a
//! function the prompt showed, keeps at least half of its lines and does not make it call itself
//! (their "rewrites" are often a stub that calls itself). When no answer validates, one-line
//! edits of the best-ranked functions (`mutate`) are ranked by how much likelier the model finds
//! the edited line than the original, given the issue; the best one it prefers is validated like
//! an answer.
//! Pure of the LSP and the CLI: both call [`issue_to_patch`] and render the [`Patch`].

use std::path::Path;

use crate::edit::{self, Block, FileEdit, REPLACE_END, SEARCH_START};
use crate::localize::{localize_with, History, Localization, LocalizeOptions, Sources};
use crate::prompt::{self, Focus, Snippet};
use crate::rerank::{rerank, RerankOptions};
use crate::{mutate, testrun};
use spot_base::cancel::CancelToken;
use spot_index::{self as index, Index, Lang};
use spot_model::{GenerateParams, Model, ModelError};

/// Settings of one issue-to-patch run.
#[derive(Debug, Clone)]
pub struct PatchOptions {
    /// Model answers to try before giving up.
    pub candidates: usize,
    pub max_new_tokens: usize,
    /// Most prompt tokens (also bounded by the model's context length); prefill time grows with it.
    pub max_prompt_tokens: usize,
    /// Sampling temperature of the candidates after the first (greedy) one.
    pub temperature: f32,
    pub seed: u64,
    /// Most functions shown to the model.
    pub max_snippets: usize,
    /// Most one-line edits ranked by the model when no answer validates (`0`: none); each costs
    /// two short scoring passes.
    pub mutants: usize,
    /// The project's test command (`sh -c`, from the workspace root). When set, a candidate must
    /// also pass it, run in a scratch copy under `scratch_dir` (see `testrun`).
    pub test_cmd: Option<String>,
    /// Where scratch copies go: under spot's data dir.
    pub scratch_dir: Option<std::path::PathBuf>,
    pub localize: LocalizeOptions,
    /// Let the model rerank the localization's best files (off by default: see
    /// bench/README.md for what it measured).
    pub rerank: Option<RerankOptions>,
    /// Prompt lookup for the candidates (`GenerateParams::lookup`): an answer quotes the code it
    /// edits, so most of it is checked several tokens per graph run.
    pub lookup: usize,
}

impl Default for PatchOptions {
    fn default() -> Self {
        Self {
            candidates: 3,
            max_new_tokens: 384,
            max_prompt_tokens: 3072,
            temperature: 0.7,
            seed: 0,
            max_snippets: 6,
            mutants: 24,
            test_cmd: None,
            scratch_dir: None,
            localize: LocalizeOptions::default(),
            rerank: None,
            lookup: spot_model::DEFAULT_LOOKUP,
        }
    }
}

/// Where a run is, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Localizing,
    Generating {
        candidate: usize,
        of: usize,
        tokens: usize,
    },
    Validating {
        candidate: usize,
    },
    /// Scoring one-line edits with the model: `done` of `of`.
    Ranking {
        done: usize,
        of: usize,
    },
}

impl Stage {
    pub fn describe(&self) -> String {
        match *self {
            Stage::Localizing => "localizing".to_owned(),
            Stage::Generating {
                candidate,
                of,
                tokens,
            } => format!("generating: candidate {candidate}/{of}, {tokens} tokens"),
            Stage::Validating { candidate } => format!("validating candidate {candidate}"),
            Stage::Ranking { done, of } => format!("ranking one-line edits: {done}/{of}"),
        }
    }
}

/// A validated patch.
#[derive(Debug, Clone)]
pub struct Patch {
    pub edits: Vec<FileEdit>,
    /// Unified diff of `edits`.
    pub diff: String,
    /// The model's answer the edits came from.
    pub answer: String,
    /// Model answers generated (this one included, when it is one).
    pub candidates: usize,
    /// Where the edits came from.
    pub source: PatchSource,
    /// The test command the patch passed, when one was set and passed before the patch.
    pub tested: Option<String>,
    /// Why the earlier candidates were rejected.
    pub rejected: Vec<String>,
    pub localization: Localization,
    pub snippets: Vec<Snippet>,
}

/// Where a patch came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchSource {
    /// A model answer (candidate number `Patch::candidates`).
    Answer,
    /// A one-line edit the model ranked best; `score` is the log-likelihood gain the issue gave it.
    OneLineEdit { score: f64 },
}

impl Patch {
    /// How the patch was found, for people: `candidate 2 of 3`, or the one-line edit's rank.
    pub fn provenance(&self, of: usize) -> String {
        let what = match self.source {
            PatchSource::Answer => format!("candidate {} of {of}", self.candidates),
            PatchSource::OneLineEdit { score } => format!(
                "a one-line edit ranked by the model (the issue made it {score:+.2} nats likelier) after {} answers without a valid patch",
                self.candidates
            ),
        };
        match &self.tested {
            Some(cmd) => format!("{what}; `{cmd}` passes"),
            None => what,
        }
    }

    /// One line: `2 files changed: a.py, b.py`.
    pub fn summary(&self) -> String {
        let n = self.edits.len();
        let paths: Vec<&str> = self.edits.iter().map(|e| e.path.as_str()).collect();
        format!(
            "{n} file{} changed: {}",
            if n == 1 { "" } else { "s" },
            paths.join(", ")
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("cancelled")]
    Cancelled,
    #[error(
        "nothing in the workspace matches the issue; name a file, a function or an error message"
    )]
    NothingLocalized,
    #[error(
        "the model's context ({context} tokens) is too small for the issue and the code it is \
         about; use a model with a longer context"
    )]
    ContextTooSmall { context: usize },
    #[error("no valid patch in {tried} model answer{}: {}", if *.tried == 1 { "" } else { "s" }, .reasons.join("; "))]
    NoValidPatch { tried: usize, reasons: Vec<String> },
    #[error(transparent)]
    Model(ModelError),
}

impl From<ModelError> for PatchError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Cancelled => PatchError::Cancelled,
            e => PatchError::Model(e),
        }
    }
}

/// The workspace as a patch run sees it.
pub struct Workspace<'a> {
    pub index: &'a Index,
    /// A file's current text (the editor's buffer when open), by workspace-relative path.
    pub read: &'a dyn Fn(&str) -> Option<String>,
    /// The repository's past commits for the history signals of localization (`None`
    /// outside a git repository).
    pub history: Option<&'a History>,
}

/// The prompt messages for `issue` (what [`issue_to_patch`] sends, rendered by the caller's
/// chat template), with the localization and the snippets shown.
pub fn patch_prompt(
    ws: &Workspace<'_>,
    model: &Model,
    issue: &str,
    focus: Option<&Focus>,
    opts: &PatchOptions,
    cancel: &CancelToken,
) -> Result<(Vec<spot_model::ChatMessage>, Localization, Vec<Snippet>), ModelError> {
    let sources = Sources {
        text: ws.read,
        history: ws.history,
    };
    let mut loc = localize_with(ws.index, &sources, issue, &opts.localize);
    if let Some(rerank_opts) = &opts.rerank {
        // Optional: without it the localization is what `spot localize` gives.
        match rerank(model, issue, &mut loc, &sources, rerank_opts, cancel) {
            Ok(_) => {}
            Err(ModelError::Cancelled) => return Err(ModelError::Cancelled),
            Err(e) => tracing::warn!("the model rerank of the localization is skipped: {e}"),
        }
    }
    let snippets = prompt::select_snippets(ws.index, &loc, focus, ws.read, opts.max_snippets);
    let budget = model
        .context_length()
        .saturating_sub(max_new_tokens(model, opts))
        .min(opts.max_prompt_tokens);
    let count = |s: &str| model.count_tokens(s).unwrap_or(s.len() / 3);
    let (messages, snippets) = prompt::build(issue, snippets, &count, budget);
    Ok((messages, loc, snippets))
}

/// New tokens per answer: the option, but never more than half the model's context.
fn max_new_tokens(model: &Model, opts: &PatchOptions) -> usize {
    opts.max_new_tokens.min(model.context_length() / 2)
}

/// Runs issue-to-patch: see the module docs. `progress` hears each stage (and token counts).
pub fn issue_to_patch(
    ws: &Workspace<'_>,
    model: &Model,
    issue: &str,
    focus: Option<&Focus>,
    opts: &PatchOptions,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(Stage),
) -> Result<Patch, PatchError> {
    progress(Stage::Localizing);
    let (messages, localization, snippets) = patch_prompt(ws, model, issue, focus, opts, cancel)?;
    if snippets.is_empty() {
        return Err(if localization.files.is_empty() && focus.is_none() {
            PatchError::NothingLocalized
        } else {
            PatchError::ContextTooSmall {
                context: model.context_length(),
            }
        });
    }
    let prompt = model.render_chat(&messages, true)?;
    let primer = primer(&snippets);
    let mut rejected = Vec::new();
    let gate = test_gate(ws, opts, &mut rejected);
    for note in &rejected {
        tracing::warn!("{note}");
    }
    let of = opts.candidates.max(1);
    for candidate in 1..=of {
        if cancel.is_cancelled() {
            return Err(PatchError::Cancelled);
        }
        let primed = candidate >= 2;
        let params = GenerateParams {
            max_new_tokens: max_new_tokens(model, opts),
            temperature: if candidate <= 2 {
                0.0
            } else {
                opts.temperature
            },
            top_p: 0.95,
            seed: opts.seed.wrapping_add(candidate as u64),
            add_special_tokens: false,
            // A primed answer is one block: the rest would be the model wandering off.
            stop: if primed {
                vec![REPLACE_END.to_owned()]
            } else {
                Vec::new()
            },
            lookup: opts.lookup,
            ..GenerateParams::default()
        };
        let (prompt, start) = if primed {
            (format!("{prompt}{primer}"), primer.as_str())
        } else {
            (prompt.clone(), "")
        };
        let mut tokens = 0usize;
        progress(Stage::Generating {
            candidate,
            of,
            tokens,
        });
        let mut generation = model.generate(&prompt, &params, cancel, &mut |_| {
            tokens += 1;
            if tokens.is_multiple_of(16) {
                progress(Stage::Generating {
                    candidate,
                    of,
                    tokens,
                });
            }
        })?;
        let t = &generation.timings;
        tracing::info!(
            "candidate {candidate}: {} tokens in {:.1} s ({:.1} tokens/s after a {:.1} s prefill \
             of {} tokens; prompt lookup kept {} of {} draft tokens)",
            generation.n_new_tokens,
            (t.prefill + t.decode).as_secs_f64(),
            t.decode_tokens_per_s(generation.n_new_tokens),
            t.prefill.as_secs_f64(),
            generation.n_prompt_tokens,
            generation.accepted,
            generation.drafted,
        );
        progress(Stage::Validating { candidate });
        if primed {
            generation.text = primed_answer(start, &generation.text);
        }
        let checked = validate(ws, &snippets, &generation.text)
            .and_then(|edits| {
                // A fix asked for at a place (a code action) must change that file.
                match focus {
                    Some(f) if !edits.iter().any(|e| e.path == f.path) => Err(format!(
                        "the edit does not change {}, where the fix was asked for",
                        f.path
                    )),
                    _ => Ok(edits),
                }
            })
            .and_then(|edits| passes_tests(gate.as_ref(), edits));
        match checked {
            Ok(edits) => {
                return Ok(Patch {
                    diff: edit::unified_diff(&edits),
                    edits,
                    answer: generation.text,
                    candidates: candidate,
                    source: PatchSource::Answer,
                    tested: gate.as_ref().map(|g| g.command().to_owned()),
                    rejected,
                    localization,
                    snippets,
                })
            }
            Err(why) => {
                tracing::debug!(
                    "candidate {candidate} rejected: {why}; its answer:\n{}",
                    generation.text
                );
                rejected.push(format!("candidate {candidate}: {why}"));
            }
        }
    }
    if opts.mutants > 0 {
        let ranked = ranked_mutants(ws, model, issue, &snippets, focus, opts, cancel, progress)?;
        match pick_mutant(ws, &snippets, ranked, gate.as_ref()) {
            Ok((edits, answer, gain)) => {
                return Ok(Patch {
                    diff: edit::unified_diff(&edits),
                    edits,
                    answer,
                    candidates: of,
                    source: PatchSource::OneLineEdit { score: gain },
                    tested: gate.as_ref().map(|g| g.command().to_owned()),
                    rejected,
                    localization,
                    snippets,
                });
            }
            Err(why) => rejected.push(format!("one-line edits: {why}")),
        }
    }
    Err(PatchError::NoValidPatch {
        tried: of,
        reasons: rejected,
    })
}

/// The most issue-like issue text for scoring: its start, within a bound.
const SCORE_ISSUE_CHARS: usize = 1500;
/// Functions whose one-line edits are ranked.
const MUTATED_FUNCTIONS: usize = 3;

/// The test gate, when a test command is set: a scratch copy whose tests pass before any patch.
/// Why it is off otherwise goes to `notes`.
fn test_gate(
    ws: &Workspace<'_>,
    opts: &PatchOptions,
    notes: &mut Vec<String>,
) -> Option<testrun::TestRun> {
    let cmd = opts.test_cmd.as_deref()?;
    let scratch = opts.scratch_dir.as_deref()?;
    let run = match testrun::TestRun::new(ws.index.root(), scratch, cmd) {
        Ok(run) => run,
        Err(e) => {
            notes.push(format!("tests not run: cannot copy the workspace: {e}"));
            return None;
        }
    };
    match run.baseline() {
        Ok(testrun::Outcome::Pass) => Some(run),
        Ok(testrun::Outcome::Fail(tail)) => {
            notes.push(format!(
                "tests not used: `{cmd}` fails before any patch: …{tail}"
            ));
            None
        }
        Ok(testrun::Outcome::TimedOut) => {
            notes.push(format!(
                "tests not used: `{cmd}` ran over {} s before any patch",
                testrun::TEST_TIMEOUT.as_secs()
            ));
            None
        }
        Err(e) => {
            notes.push(format!("tests not run: `{cmd}`: {e}"));
            None
        }
    }
}

/// `edits` if they pass the test gate (or there is none), else why not.
fn passes_tests(
    gate: Option<&testrun::TestRun>,
    edits: Vec<FileEdit>,
) -> Result<Vec<FileEdit>, String> {
    let Some(gate) = gate else { return Ok(edits) };
    match gate.with_edits(&edits) {
        Ok(testrun::Outcome::Pass) => Ok(edits),
        Ok(testrun::Outcome::Fail(tail)) => Err(format!("the tests fail with it: …{tail}")),
        Ok(testrun::Outcome::TimedOut) => Err(format!(
            "the tests ran over {} s with it",
            testrun::TEST_TIMEOUT.as_secs()
        )),
        Err(e) => Err(format!("the tests could not run: {e}")),
    }
}

/// One-line edits tried against the tests, best-scored first.
const MUTANTS_TESTED: usize = 8;

/// The one-line edit to propose: without tests, the best-scored one if the issue made it
/// likelier (score > 0) and it validates; with tests, the first of the best-scored ones that
/// validates and passes them, whatever its score (the tests are the stronger evidence).
fn pick_mutant(
    ws: &Workspace<'_>,
    snippets: &[Snippet],
    ranked: Vec<(f64, &Snippet, mutate::Mutant)>,
    gate: Option<&testrun::TestRun>,
) -> Result<(Vec<FileEdit>, String, f64), String> {
    if ranked.is_empty() {
        return Err(
            "none to try (they are made only in source functions of files that parse)".to_owned(),
        );
    }
    let total = ranked.len();
    let mut why = Vec::new();
    for (score, snip, m) in ranked
        .into_iter()
        .take(if gate.is_some() { MUTANTS_TESTED } else { 1 })
    {
        if gate.is_none() && score <= 0.0 {
            return Err(format!(
                "the issue made none of {total} likelier to the model than the original line"
            ));
        }
        let checked = mutant_answer(ws, snip, &m).and_then(|answer| {
            let edits = validate(ws, snippets, &answer).and_then(|e| passes_tests(gate, e))?;
            Ok((edits, answer))
        });
        match checked {
            Ok((edits, answer)) => return Ok((edits, answer, score)),
            Err(e) => why.push(format!("`{}` → `{}`: {e}", m.before.trim(), m.after.trim())),
        }
    }
    Err(format!(
        "{total} ranked, the best {} rejected: {}",
        why.len(),
        why.join("; ")
    ))
}

/// A mutant as a SEARCH/REPLACE answer on its file (the changed line with just enough context
/// to be unique there), or why the file cannot be read.
fn mutant_answer(ws: &Workspace<'_>, snip: &Snippet, m: &mutate::Mutant) -> Result<String, String> {
    let before = (ws.read)(&snip.path).ok_or_else(|| format!("cannot read {}", snip.path))?;
    let at = snip.start_line as usize - 1 + m.line;
    if before.lines().nth(at) != Some(m.before.as_str()) {
        return Err(format!("{} changed since it was shown", snip.path));
    }
    let mut after = String::with_capacity(before.len() + 2);
    for (i, line) in before.split_inclusive('\n').enumerate() {
        if i == at {
            after.push_str(&m.after);
            after.push_str(&line[line.trim_end_matches(['\r', '\n']).len()..]);
        } else {
            after.push_str(line);
        }
    }
    Ok(edit::format_blocks(&snip.path, &before, &after))
}

/// The fallback when no answer validates: one-line edits of the best-ranked source functions
/// shown (the focused file only, for a code action). Each is scored by what the issue does to
/// the model's preference for the edited line over the original, as the continuation of the
/// function up to that line: the log-likelihood gain of the edit after "the issue, then the fixed
/// code", minus its gain without the issue. The difference cancels what the model finds likely
/// anyway (`return 0` over `return 1`) and keeps what the issue argues for. Best scores come
/// first; [`pick_mutant`] chooses.
#[allow(clippy::too_many_arguments)]
fn ranked_mutants<'s>(
    ws: &Workspace<'_>,
    model: &Model,
    issue: &str,
    snippets: &'s [Snippet],
    focus: Option<&Focus>,
    opts: &PatchOptions,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(Stage),
) -> Result<Vec<(f64, &'s Snippet, mutate::Mutant)>, PatchError> {
    let mut sites: Vec<(&Snippet, Vec<mutate::Mutant>)> = Vec::new();
    let mut total = 0;
    // The best-ranked source functions (tests describe the bug; they are not where it is), in
    // files that parse: a syntax error needs another kind of fix than a one-line edit.
    let parses = |path: &str| {
        let lang = Lang::from_path(Path::new(path));
        match (lang, (ws.read)(path)) {
            (Some(lang), Some(text)) => index::count_parse_errors(lang, &text) == Some(0),
            _ => false,
        }
    };
    let functions = snippets
        .iter()
        .filter(|s| s.name.is_some() && !crate::localize::is_test_path(&s.path))
        .filter(|s| focus.is_none_or(|f| f.path == s.path))
        .filter(|s| parses(&s.path))
        .take(MUTATED_FUNCTIONS);
    for snip in functions {
        let Some(lang) = Lang::from_path(Path::new(&snip.path)) else {
            continue;
        };
        let found = mutate::mutants(lang, &snip.text, opts.mutants - total);
        total += found.len();
        if !found.is_empty() {
            sites.push((snip, found));
        }
        if total >= opts.mutants {
            break;
        }
    }
    if total == 0 {
        return Ok(Vec::new());
    }
    let mut issue_text: String = issue.trim().chars().take(SCORE_ISSUE_CHARS).collect();
    if issue_text.len() < issue.trim().len() {
        issue_text.push_str(" […]");
    }
    let mut done = 0;
    let mut ranked: Vec<(f64, &Snippet, mutate::Mutant)> = Vec::new();
    for (snip, found) in &sites {
        let lines: Vec<&str> = snip.text.lines().collect();
        let fence = snip.path.rsplit('.').next().unwrap_or_default();
        // Per line: the original's nll with and without the issue.
        let mut original: Option<(usize, f64, f64)> = None;
        for m in found {
            if cancel.is_cancelled() {
                return Err(PatchError::Cancelled);
            }
            let prefix: String = lines[..m.line].iter().map(|l| format!("{l}\n")).collect();
            let with_issue = format!(
                "Issue:\n{issue_text}\n\nThe fixed code of {}:\n```{fence}\n{prefix}",
                snip.path
            );
            let without = format!("The code of {}:\n```{fence}\n{prefix}", snip.path);
            let nll = |context: &str, line: &str| -> Result<f64, PatchError> {
                Ok(model.score(context, &format!("{line}\n"), cancel)?.nll)
            };
            let (before_issue, before_plain) = match original {
                Some((line, a, b)) if line == m.line => (a, b),
                _ => {
                    let pair = (nll(&with_issue, &m.before)?, nll(&without, &m.before)?);
                    original = Some((m.line, pair.0, pair.1));
                    pair
                }
            };
            let gain_issue = before_issue - nll(&with_issue, &m.after)?;
            let gain_plain = before_plain - nll(&without, &m.after)?;
            let score = gain_issue - gain_plain;
            done += 1;
            progress(Stage::Ranking { done, of: total });
            tracing::debug!(
                "one-line edit {:?} → {:?}: {score:.2} (gain {gain_issue:.2} with the issue, {gain_plain:.2} without)",
                m.before.trim(),
                m.after.trim()
            );
            ranked.push((score, snip, m.clone()));
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(ranked)
}

/// The start of a primed answer: the best-ranked code's path and an opened SEARCH block.
fn primer(snippets: &[Snippet]) -> String {
    let path = snippets.first().map_or("", |s| s.path.as_str());
    format!("{path}\n{SEARCH_START}\n")
}

/// A primed answer as the model would have written it whole: the primer, what it generated, and
/// the end marker its generation stopped at (or never reached).
fn primed_answer(primer: &str, generated: &str) -> String {
    format!("{primer}{}\n{REPLACE_END}\n", generated.trim_end())
}

/// The edits of one model answer, or why it is not a valid patch.
pub fn validate(
    ws: &Workspace<'_>,
    snippets: &[Snippet],
    answer: &str,
) -> Result<Vec<FileEdit>, String> {
    let mut blocks = edit::parse_blocks(answer);
    if blocks.is_empty() {
        let (rewrites, implausible) = rewrite_blocks(snippets, answer);
        // One implausible rewrite discredits the answer's others: applying only the plausible
        // ones would make an edit the answer never proposed.
        if !implausible.is_empty() {
            return Err(implausible.join("; "));
        }
        blocks = rewrites;
    }
    if blocks.is_empty() {
        return Err("no SEARCH/REPLACE block and no rewritten function in the answer".to_owned());
    }
    let mut paths: Vec<&str> = snippets.iter().map(|s| s.path.as_str()).collect();
    paths.dedup();
    let default_path = (paths.len() == 1).then(|| paths[0]);
    let resolve = |named: &str| resolve_path(ws, snippets, named);
    let edits =
        edit::apply_blocks(&blocks, default_path, &resolve, ws.read).map_err(|e| e.to_string())?;
    check_edits(ws.index, &edits)?;
    Ok(edits)
}

/// Safety and sanity of edits: inside the workspace and out of version-control metadata
/// ([`edit::check_path`]), only files the index knows (or a new file of a language spot
/// indexes, which an answer creates with an empty SEARCH), not a no-op, no new syntax errors.
/// An answer is untrusted text: this is what keeps it from editing `.git/config`, a CI
/// workflow or a build script.
pub fn check_edits(index: &Index, edits: &[FileEdit]) -> Result<(), String> {
    if edits.iter().all(|e| e.before == e.after) {
        return Err("the edit changes nothing".to_owned());
    }
    for e in edits {
        edit::check_path(index.root(), &e.path).map_err(|err| err.to_string())?;
        let lang = Lang::from_path(Path::new(&e.path));
        if e.created && lang.is_none() {
            return Err(format!(
                "the edit creates {}, which is not a source file of a language spot indexes",
                e.path
            ));
        }
        if !e.created && index.file(&e.path).is_none() {
            return Err(format!(
                "the edit changes {}, which is not a source file spot indexes",
                e.path
            ));
        }
        if let Some(lang) = lang {
            let before = index::count_parse_errors(lang, &e.before).unwrap_or(0);
            let after = index::count_parse_errors(lang, &e.after).unwrap_or(0);
            if after > before {
                return Err(format!(
                    "the edit leaves {} syntax error{} in {} (tree-sitter found {after}, before {before})",
                    after - before,
                    if after - before == 1 { "" } else { "s" },
                    e.path
                ));
            }
        }
    }
    Ok(())
}

/// The workspace path a block names: the path itself when it is a file, else the one file shown
/// to the model (or, failing that, in the index) whose path ends with it.
fn resolve_path(ws: &Workspace<'_>, snippets: &[Snippet], named: &str) -> Option<String> {
    let named = named.trim_start_matches("./");
    if edit::check_path(ws.index.root(), named).is_err() {
        return Some(named.to_owned()); // refused later, with the reason
    }
    if ws.index.file(named).is_some() || (ws.read)(named).is_some() {
        return Some(named.to_owned());
    }
    let suffix = format!("/{named}");
    let unique = |mut it: Box<dyn Iterator<Item = String> + '_>| {
        let first = it.next()?;
        it.next().is_none().then_some(first)
    };
    unique(Box::new(
        snippets
            .iter()
            .map(|s| s.path.clone())
            .filter(|p| p.ends_with(&suffix))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter(),
    ))
    .or_else(|| {
        unique(Box::new(
            ws.index
                .snapshot()
                .into_iter()
                .map(|f| f.path.clone())
                .filter(|p| p.ends_with(&suffix)),
        ))
    })
}

/// Blocks from an answer that rewrote whole functions: each top-level function in the answer's
/// code that has the name of a function shown to the model replaces that function, unless the
/// rewrite is implausible as a fix ([`implausible_rewrite`]; why goes to the second list).
fn rewrite_blocks(snippets: &[Snippet], answer: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut implausible = Vec::new();
    for code in edit::code_blocks(answer) {
        for snip in snippets {
            let Some(name) = &snip.name else { continue };
            let Some(lang) = Lang::from_path(Path::new(&snip.path)) else {
                continue;
            };
            let short = name.rsplit(['.', ':']).next().unwrap_or(name);
            let parsed = index::index_text(lang, &snip.path, &code);
            let Some(def) = parsed
                .defs
                .iter()
                .find(|d| d.kind.is_callable() && d.name == short)
            else {
                continue;
            };
            let start = code[..def.span.start as usize]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let Some(body) = code.get(start..def.span.end as usize) else {
                continue;
            };
            let first_line = |t: &str| t.lines().next().unwrap_or_default().to_owned();
            let replace = reindent_to(body, &first_line(body), &first_line(&snip.text));
            if blocks.iter().any(|b: &Block| b.search == snip.text) {
                continue;
            }
            if let Some(why) = implausible_rewrite(short, &snip.text, &replace) {
                implausible.push(why);
                continue;
            }
            blocks.push(Block {
                path: Some(snip.path.clone()),
                search: snip.text.clone(),
                replace: if replace.ends_with('\n') {
                    replace
                } else {
                    replace + "\n"
                },
            });
        }
    }
    (blocks, implausible)
}

/// Functions this short may be rewritten whole.
const REWRITE_FREE_LINES: usize = 2;

/// Why a function an answer rewrote is not taken as a fix of `original`, if it is not. A small
/// model asked for a fix often "rewrites" a function into something else: a one-line stub with a
/// made-up docstring, or a call of itself. A fix changes some lines of a function and keeps the
/// rest, so a rewrite must keep at least half of the original's non-blank lines (trimmed, in
/// order), and must not call itself where the original did not. SEARCH/REPLACE blocks, which
/// say what they replace, are not judged this way.
fn implausible_rewrite(name: &str, original: &str, rewritten: &str) -> Option<String> {
    fn lines(t: &str) -> Vec<&str> {
        t.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
    }
    let (old, new) = (lines(original), lines(rewritten));
    if old.len() > REWRITE_FREE_LINES {
        let kept: usize = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new)
            .iter()
            .filter(|op| op.tag() == similar::DiffTag::Equal)
            .map(|op| op.old_range().len())
            .sum();
        if kept * 2 < old.len() {
            return Some(format!(
                "the answer rewrites `{name}` keeping {kept} of its {} lines: not a fix",
                old.len()
            ));
        }
    }
    let calls_itself = |ls: &[&str]| ls.iter().skip(1).any(|l| calls(l, name));
    if calls_itself(&new) && !calls_itself(&old) {
        return Some(format!(
            "the answer's `{name}` calls itself, which the original does not"
        ));
    }
    None
}

/// Does `line` call `name` (`name(`, `self.name(`, `Self::name(`, not `other_name(`)?
fn calls(line: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    line.match_indices(&pattern).any(|(at, _)| {
        line[..at]
            .chars()
            .next_back()
            .is_none_or(|ch| !(ch.is_alphanumeric() || ch == '_'))
    })
}

/// `text` re-indented so that its first line gets the indentation of `target`.
fn reindent_to(text: &str, first: &str, target: &str) -> String {
    let have = &first[..first.len() - first.trim_start().len()];
    let want = &target[..target.len() - target.trim_start().len()];
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.push_str(line);
        } else {
            out.push_str(want);
            out.push_str(line.strip_prefix(have).unwrap_or(line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_primed_answer_reads_as_one_block_on_the_best_ranked_file() {
        let snippets = vec![Snippet {
            path: "inventory/pricing.py".into(),
            name: Some("bulk_discount_percent".into()),
            start_line: 32,
            end_line: 42,
            text: "        if quantity > min_quantity:\n".into(),
        }];
        let start = primer(&snippets);
        assert_eq!(start, "inventory/pricing.py\n<<<<<<< SEARCH\n");
        // What a model generates after the primer, up to the stop string.
        let generated =
            "        if quantity > min_quantity:\n=======\n        if quantity >= min_quantity:\n";
        let blocks = edit::parse_blocks(&primed_answer(&start, generated));
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        assert_eq!(blocks[0].path.as_deref(), Some("inventory/pricing.py"));
        assert_eq!(blocks[0].search, "        if quantity > min_quantity:\n");
        assert_eq!(blocks[0].replace, "        if quantity >= min_quantity:\n");
        // Prose after the primer is no block.
        assert!(edit::parse_blocks(&primed_answer(&start, "I cannot see the bug.")).is_empty());
    }

    #[test]
    fn a_rewritten_method_replaces_the_original_reindented() {
        let snippets = vec![Snippet {
            path: "shop/cart.py".into(),
            name: Some("Cart.total".into()),
            start_line: 5,
            end_line: 6,
            text: "    def total(self):\n        return sum(self.items) - 1\n".into(),
        }];
        let answer = "Here is the corrected function:\n```python\ndef total(self):\n    return sum(self.items)\n```\nThis removes the off-by-one.";
        let (blocks, implausible) = rewrite_blocks(&snippets, answer);
        assert!(implausible.is_empty(), "{implausible:?}");
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            blocks[0].replace,
            "    def total(self):\n        return sum(self.items)\n"
        );
        assert_eq!(blocks[0].search, snippets[0].text);
        assert!(
            rewrite_blocks(&snippets, "```python\ndef other():\n    pass\n```")
                .0
                .is_empty()
        );
    }

    /// What SmolLM2-135M answered for the demo's issue (fixtures/demo.sh): both functions
    /// "rewritten" into a docstring and a call of themselves. Neither is taken; a real fix is.
    #[test]
    fn rewrites_that_drop_a_function_or_make_it_call_itself_are_refused() {
        let original = "def order_total(item: Item, quantity: int) -> Decimal:\n    \"\"\"Return the price of ``quantity`` units of ``item`` after bulk discount.\"\"\"\n    if quantity <= 0:\n        raise ValueError(f\"quantity must be positive, got {quantity}\")\n    return apply_discount(item.unit_price * quantity, bulk_discount_percent(quantity))\n";
        let snippets = vec![Snippet {
            path: "inventory/pricing.py".into(),
            name: Some("order_total".into()),
            start_line: 44,
            end_line: 48,
            text: original.into(),
        }];
        let stub = "```python\ndef order_total(item, quantity):\n    \"\"\"Return the price of item with quantity amount of quantity\n    above \"\"\"\n    return order_total(item, quantity)\n```";
        let (blocks, why) = rewrite_blocks(&snippets, stub);
        assert!(blocks.is_empty(), "{blocks:?}");
        assert_eq!(
            why,
            ["the answer rewrites `order_total` keeping 0 of its 5 lines: not a fix"]
        );
        // Keeps the function but adds a call of itself.
        let recursive = original.replace(
            "    return apply_discount",
            "    if quantity > 1000:\n        return order_total(item, 1000)\n    return apply_discount",
        );
        let (blocks, why) = rewrite_blocks(&snippets, &format!("```python\n{recursive}```"));
        assert!(blocks.is_empty());
        assert_eq!(
            why,
            ["the answer's `order_total` calls itself, which the original does not"]
        );
        // A fix: one line changed.
        let fixed = original.replace("quantity <= 0", "quantity < 1");
        let (blocks, why) = rewrite_blocks(&snippets, &format!("```python\n{fixed}```"));
        assert!(why.is_empty(), "{why:?}");
        assert_eq!(blocks.len(), 1);
        assert!(calls("    return self.total(x)", "total"));
        assert!(calls("total(1)", "total"));
        assert!(!calls("    return subtotal(x)", "total"));
    }

    /// An answer that rewrites two functions, one of them into a stub, is refused whole: taking
    /// only the plausible rewrite would apply an edit the answer never proposed.
    #[test]
    fn an_answer_with_one_implausible_rewrite_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let text = "def f(x):\n    a = x + 1\n    b = a * 2\n    return b\n\n\ndef g(y):\n    return y - 1\n";
        std::fs::write(root.join("m.py"), text).unwrap();
        let index = Index::new(root, spot_index::IndexOptions::default());
        index.set_text("m.py", text);
        let read = |p: &str| (p == "m.py").then(|| text.to_owned());
        let ws = Workspace {
            index: &index,
            read: &read,
            history: None,
        };
        let snippet = |name: &str, start: u32, end: u32| Snippet {
            path: "m.py".into(),
            name: Some(name.into()),
            start_line: start,
            end_line: end,
            text: text
                .lines()
                .skip(start as usize - 1)
                .take((end - start + 1) as usize)
                .map(|l| format!("{l}\n"))
                .collect(),
        };
        let snippets = vec![snippet("f", 1, 4), snippet("g", 7, 8)];
        let both = "```python\ndef f(x):\n    return f(x)\n\n\ndef g(y):\n    return y + 1\n```";
        let err = validate(&ws, &snippets, both).unwrap_err();
        assert_eq!(
            err,
            "the answer rewrites `f` keeping 1 of its 4 lines: not a fix"
        );
        let one = "```python\ndef g(y):\n    return y + 1\n```";
        let edits = validate(&ws, &snippets, one).expect("a plausible rewrite");
        assert_eq!(edits.len(), 1);
        assert!(edits[0].after.contains("return y + 1") && edits[0].after.contains("b = a * 2"));
    }

    #[test]
    fn edits_that_break_the_syntax_or_change_nothing_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let index = Index::new(root, spot_index::IndexOptions::default());
        index.set_text("a.py", "def f():\n    return 1\n");
        let edit = |after: &str| FileEdit {
            path: "a.py".into(),
            before: "def f():\n    return 1\n".into(),
            after: after.into(),
            created: false,
        };
        assert!(check_edits(&index, &[edit("def f():\n    return 2\n")]).is_ok());
        let err = check_edits(&index, &[edit("def f(:\n    return 2\n")]).unwrap_err();
        assert!(err.contains("syntax error"), "{err}");
        let err = check_edits(&index, &[edit("def f():\n    return 1\n")]).unwrap_err();
        assert!(err.contains("changes nothing"), "{err}");
        let outside = FileEdit {
            path: "../a.py".into(),
            ..edit("x\n")
        };
        assert!(check_edits(&index, &[outside])
            .unwrap_err()
            .contains("leaves"));
    }

    /// Issue 19: a model answer is untrusted. It may not edit version-control metadata, files
    /// the index does not know (a build script, a CI workflow), or create anything but a source
    /// file of an indexed language.
    #[test]
    fn issue_19_edits_stay_on_indexed_source_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let index = Index::new(root, spot_index::IndexOptions::default());
        index.set_text("a.py", "x = 1\n");
        let change = |path: &str, created: bool| FileEdit {
            path: path.into(),
            before: if created {
                String::new()
            } else {
                "x = 1\n".into()
            },
            after: "x = 2\n".into(),
            created,
        };
        assert!(check_edits(&index, &[change("a.py", false)]).is_ok());
        assert!(check_edits(&index, &[change("pkg/new_module.py", true)]).is_ok());
        for (path, created, why) in [
            (".git/config", false, "version-control metadata"),
            (".git/hooks/pre-commit", true, "version-control metadata"),
            ("src/.GIT/config", false, "version-control metadata"),
            (".hg/hgrc", false, "version-control metadata"),
            ("Makefile", false, "not a source file spot indexes"),
            (
                ".github/workflows/ci.yml",
                false,
                "not a source file spot indexes",
            ),
            (
                "run.sh",
                true,
                "not a source file of a language spot indexes",
            ),
        ] {
            let err = check_edits(&index, &[change(path, created)]).unwrap_err();
            assert!(err.contains(why), "{path}: {err}");
        }
    }
}
