//! Issue-to-patch: gather the evidence of where the bug is, make candidate edits, and keep the
//! first one the evidence accepts, with an honest [`Verdict`].
//!
//! With a test command, the tests run once before any patch ([`repair::TestGate`]): the tests
//! that fail there are the target, and a candidate must make them pass without breaking any
//! other (`fixes_failing_tests`); with no failing test the suite must still pass
//! (`passes_tests`: a guess); without a test command nothing is tested (`unverified`). The
//! issue, the failing tests (ids, messages, frames) and, for Python, per-test coverage are fused
//! into suspicious lines ([`repair::suspicious_lines`]).
//!
//! Candidates, cheapest first:
//! 1. with failing tests: one-line edits at the suspicious lines (`mutate`), judged by the tests
//!    in parallel scratch copies, best-ranked first;
//! 2. the model's answers (when a model is loaded). A candidate is valid when its blocks apply
//!    (exact, then whitespace-tolerant), every path is inside the workspace and out of VCS
//!    metadata, it touches only indexed source files, it changes something, and tree-sitter
//!    finds no more syntax errors in any edited file than before (then the tests judge it). The
//!    first answer decodes greedily from the plain prompt, as a learned model was trained to
//!    answer. Later ones start the answer for the model (a *primer*: the path of the best-ranked
//!    code shown and an opened SEARCH block), greedily, then sampling (seeded), so a run is
//!    reproducible. Small models often answer with the whole rewritten function instead of
//!    blocks; such an answer is accepted when it redefines a function the prompt showed, keeps
//!    at least half of its lines and does not make it call itself;
//! 3. without failing tests: one-line edits of the best-ranked functions ranked by how much
//!    likelier the model finds the edited line given the issue; the best one it prefers is a
//!    guess, labelled so.
//!
//! Pure of the LSP and the CLI: both call [`issue_to_patch`] (through the analysis host) and
//! render the [`Patch`].

use std::path::Path;
use std::time::{Duration, Instant};

use crate::edit::{self, Block, FileEdit, REPLACE_END, SEARCH_START};
use crate::jobs::JobStage;
use crate::localize::{localize_with, History, Localization, LocalizeOptions, Sources};
use crate::prompt::{self, Focus, Snippet};
use crate::repair::{self, Check, Evidence, TestEvidence, TestGate, Verdict};
use crate::rerank::{rerank, RerankOptions};
use crate::{mutate, templates, testrun};
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
    /// Most one-line edits ranked by the model when no test fails (`0`: none); each costs two
    /// short scoring passes.
    pub mutants: usize,
    /// The project's test command (`sh -c`, from the workspace root): run before any patch and
    /// on candidates, in scratch copies under `scratch_dir` (see `repair`).
    pub test_cmd: Option<String>,
    /// A failing test to fix (its id or name): the only target.
    pub target_test: Option<String>,
    /// Where scratch copies go: under spot's data dir.
    pub scratch_dir: Option<std::path::PathBuf>,
    /// Most time one test run may take.
    pub test_timeout: Duration,
    /// Scratch copies judging candidates at once.
    pub test_workers: usize,
    /// Most candidate edits judged by the tests.
    pub max_tested: usize,
    /// The whole run's time budget: no new candidate is started after it.
    pub budget: Duration,
    /// Collect per-test coverage (Python) for Ochiai when tests fail.
    pub coverage: bool,
    /// With tests that all pass and a model: ask the model for a test reproducing the issue.
    pub reproduce: bool,
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
            target_test: None,
            scratch_dir: None,
            test_timeout: testrun::TEST_TIMEOUT,
            test_workers: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 4),
            max_tested: 200,
            budget: Duration::from_secs(300),
            coverage: true,
            reproduce: true,
            localize: LocalizeOptions::default(),
            rerank: None,
            lookup: spot_model::DEFAULT_LOOKUP,
        }
    }
}

/// A patch and what spot can say of it.
#[derive(Debug, Clone)]
pub struct Patch {
    pub edits: Vec<FileEdit>,
    /// Unified diff of `edits`.
    pub diff: String,
    /// The model's answer the edits came from (or the edit as SEARCH/REPLACE blocks).
    pub answer: String,
    /// Model answers generated.
    pub candidates: usize,
    /// Where the edits came from.
    pub source: PatchSource,
    /// What spot claims about it.
    pub verdict: Verdict,
    /// What the tests said, when there were tests.
    pub tests: Option<TestEvidence>,
    /// The evidence the run used.
    pub evidence: Vec<Evidence>,
    /// Why candidates were rejected, and notes on evidence that could not be had.
    pub rejected: Vec<String>,
    pub localization: Localization,
    pub snippets: Vec<Snippet>,
    /// The rendered prompt the model saw (empty when no model ran).
    pub prompt: String,
    pub seconds: f64,
}

/// Where a patch came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PatchSource {
    /// A model answer (candidate number `Patch::candidates`).
    Answer,
    /// A one-line edit the model ranked best without tests to judge; `score` is the
    /// log-likelihood gain the issue gave it.
    OneLineEdit { score: f64 },
    /// A one-line edit at a suspicious line, found by the tests: `rank` among those tried,
    /// `what` it changes.
    TestedEdit { rank: usize, what: String },
}

impl Patch {
    /// How the patch was found, for people: `candidate 2 of 3`, or the one-line edit's rank.
    pub fn provenance(&self, of: usize) -> String {
        match &self.source {
            PatchSource::Answer => format!("the model's answer {} of {of}", self.candidates),
            PatchSource::OneLineEdit { score } => format!(
                "a one-line edit ranked by the model (the issue made it {score:+.2} nats likelier) after {} answers without a valid patch",
                self.candidates
            ),
            PatchSource::TestedEdit { rank, what } => {
                format!("{what}, candidate edit {} at the suspicious lines", rank + 1)
            }
        }
    }

    /// The verdict in words: `fixes the 1 failing test (pytest)`.
    pub fn verdict_text(&self) -> String {
        let fixed = self.tests.as_ref().map_or(0, |t| t.failing_before.len());
        let words = self.verdict.describe(fixed);
        match self.tests.as_ref().and_then(|t| t.reproduction.as_deref()) {
            Some(file) => format!(
                "{words}: a test spot wrote to reproduce the issue, added to {file} in the patch"
            ),
            None => words,
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
        "{why}. Localization still works; run fixtures/models/setup.sh, or point the modelDir \
         setting (--model) at a model directory"
    )]
    NoModel { why: String },
    #[error(
        "nothing in the workspace matches the issue; name a file, a function or an error message"
    )]
    NothingLocalized,
    #[error(
        "the model's context ({context} tokens) is too small for the issue and the code it is \
         about; use a model with a longer context"
    )]
    ContextTooSmall { context: usize },
    #[error("no valid patch ({tried} candidate{} tried): {}", if *.tried == 1 { "" } else { "s" }, .reasons.join("; "))]
    NoValidPatch {
        tried: usize,
        reasons: Vec<String>,
        /// The rendered prompt, when the model ran.
        prompt: String,
    },
    #[error("{0}")]
    Tests(String),
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
/// chat template), with the snippets shown, for a localization already made.
pub fn patch_prompt(
    ws: &Workspace<'_>,
    model: &Model,
    issue: &str,
    focus: Option<&Focus>,
    loc: &Localization,
    opts: &PatchOptions,
) -> (Vec<spot_model::ChatMessage>, Vec<Snippet>) {
    let snippets = prompt::select_snippets(ws.index, loc, focus, ws.read, opts.max_snippets);
    let budget = model
        .context_length()
        .saturating_sub(max_new_tokens(model, opts))
        .min(opts.max_prompt_tokens);
    let count = |s: &str| model.count_tokens(s).unwrap_or(s.len() / 3);
    prompt::build(issue, snippets, &count, budget)
}

/// New tokens per answer: the option, but never more than half the model's context.
fn max_new_tokens(model: &Model, opts: &PatchOptions) -> usize {
    opts.max_new_tokens.min(model.context_length() / 2)
}

/// Most failing tests described to the localization and the model.
const FAILING_TESTS_SHOWN: usize = 5;
/// Most suspicious lines where one-line edits are tried.
const SUSPICIOUS_LINES: usize = 40;

/// Runs issue-to-patch: see the module docs. `model` is optional: with failing tests the
/// tested one-line edits need none. `progress` hears each stage (and token counts).
pub fn issue_to_patch(
    ws: &Workspace<'_>,
    model: Option<&Model>,
    issue: &str,
    focus: Option<&Focus>,
    opts: &PatchOptions,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(JobStage),
) -> Result<Patch, PatchError> {
    let started = Instant::now();
    let deadline = started + opts.budget;
    let mut rejected: Vec<String> = Vec::new();

    // 1. The tests before any patch: what fails is the target.
    let mut unusable = None;
    let gate = match (&opts.test_cmd, &opts.scratch_dir) {
        (Some(cmd), Some(scratch)) => {
            progress(JobStage::Testing {
                what: "before any patch".to_owned(),
            });
            match TestGate::start(
                ws.index.root(),
                scratch,
                cmd,
                opts.test_timeout,
                opts.target_test.as_deref(),
                opts.test_workers,
                cancel,
            ) {
                Ok(gate) => Some(gate),
                Err(u) => {
                    if cancel.is_cancelled() {
                        return Err(PatchError::Cancelled);
                    }
                    if opts.target_test.is_some() {
                        return Err(PatchError::Tests(u.why));
                    }
                    tracing::warn!("tests not used: {}", u.why);
                    rejected.push(format!("tests not used: {}", u.why));
                    unusable = Some(u);
                    None
                }
            }
        }
        _ => None,
    };
    let mut gate = gate;

    // 2. No failing test, but tests and a model: ask the model for a test that reproduces the
    // issue; it becomes the target only if it fails with an assertion (and is then part of the
    // patch, for the user to keep).
    let sources = Sources {
        text: ws.read,
        history: ws.history,
    };
    let mut repro_evidence = false;
    if let (Some(g), Some(m), true) = (gate.as_mut(), model, opts.reproduce) {
        if !g.has_target() {
            progress(JobStage::Testing {
                what: "writing a test that reproduces the issue".to_owned(),
            });
            let loc = localize_with(ws.index, &sources, issue, &opts.localize);
            match reproduce(ws, m, g, issue, &loc, opts, cancel) {
                Ok(test) => {
                    tracing::info!("a reproduction test in {} fails as it should", test.path);
                    repro_evidence = true;
                }
                Err(why) => {
                    if cancel.is_cancelled() {
                        return Err(PatchError::Cancelled);
                    }
                    rejected.push(format!("reproduction test: {why}"));
                }
            }
        }
    }
    let gate = gate;
    let targeted = gate.as_ref().is_some_and(TestGate::has_target);
    let verdict = gate.as_ref().map_or(Verdict::Unverified, TestGate::verdict);
    let repro: Vec<FileEdit> = gate
        .as_ref()
        .and_then(|g| g.reproduction().cloned())
        .into_iter()
        .collect();
    // A patch's edits with the reproduction test it was judged with.
    let with_repro =
        |edits: Vec<FileEdit>| -> Vec<FileEdit> { repro.iter().cloned().chain(edits).collect() };
    let test_evidence = |passed_after: Option<usize>| match (&gate, &unusable) {
        (Some(g), _) => Some(g.evidence(passed_after)),
        (None, Some(u)) => Some(TestEvidence {
            command: u.command.clone(),
            runner: "unknown".to_owned(),
            failing_before: Vec::new(),
            passed_before: None,
            passed_after: None,
            unusable: Some(u.why.clone()),
            reproduction: None,
        }),
        (None, None) => None,
    };

    // 3. The issue as localization and the model read it: with the failing tests.
    let issue_full = match &gate {
        Some(g) if targeted && !g.target.is_empty() => format!(
            "{}\n\nTests that fail before any fix:\n{}",
            issue.trim_end(),
            repair::failing_tests_text(g, FAILING_TESTS_SHOWN)
        ),
        _ => issue.to_owned(),
    };
    progress(JobStage::Localizing);
    let mut localization = localize_with(ws.index, &sources, &issue_full, &opts.localize);
    if let (Some(model), Some(rerank_opts)) = (model, &opts.rerank) {
        // Optional: without it the localization is what `spot localize` gives.
        match rerank(
            model,
            &issue_full,
            &mut localization,
            &sources,
            rerank_opts,
            cancel,
        ) {
            Ok(_) => {}
            Err(ModelError::Cancelled) => return Err(PatchError::Cancelled),
            Err(e) => tracing::warn!("the model rerank of the localization is skipped: {e}"),
        }
    }
    if cancel.is_cancelled() {
        return Err(PatchError::Cancelled);
    }

    // 3. With failing tests: one-line edits at the suspicious lines, judged by the tests.
    let mut evidence;
    let mut tried = 0;
    if let (Some(g), true) = (&gate, targeted) {
        let spectrum = if opts.coverage {
            progress(JobStage::Testing {
                what: "per-test coverage".to_owned(),
            });
            // A third of what is left of the budget at most.
            let share = deadline.saturating_duration_since(Instant::now()) / 3;
            match g.coverage(share, cancel) {
                Ok(s) => Some(s),
                Err(why) => {
                    rejected.push(format!("coverage not used: {why}"));
                    None
                }
            }
        } else {
            None
        };
        let (lines, used) = repair::suspicious_lines(
            ws.index,
            Some(g),
            spectrum.as_ref(),
            issue,
            &localization,
            SUSPICIOUS_LINES,
        );
        evidence = used;
        let lines: Vec<_> = lines
            .into_iter()
            .filter(|l| focus.is_none_or(|f| f.path == l.path))
            .collect();
        let candidates = line_edits(ws, &lines, opts.max_tested);
        let edits: Vec<Vec<FileEdit>> = candidates.iter().map(|c| vec![c.edit.clone()]).collect();
        let total = edits.len();
        progress(JobStage::Ranking { done: 0, of: total });
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let (plausible, refused) = std::thread::scope(|scope| {
            let judged = scope.spawn(move || {
                g.check_all(&edits, 1, deadline, cancel, &|done| {
                    let _ = tx.send(done);
                })
            });
            // Progress from this thread (the callback is not `Send`).
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(done) => progress(JobStage::Ranking { done, of: total }),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if judged.is_finished() {
                            break;
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            judged.join().unwrap_or_default()
        });
        tried = plausible.len() + refused.len();
        if cancel.is_cancelled() {
            return Err(PatchError::Cancelled);
        }
        if let Some((rank, Check::Plausible { passed_after })) = plausible.into_iter().next() {
            let c = &candidates[rank];
            let edits = with_repro(vec![c.edit.clone()]);
            if repro_evidence {
                evidence.push(Evidence::ReproductionTest);
            }
            return Ok(Patch {
                diff: edit::unified_diff(&edits),
                answer: edit::format_blocks(&c.edit.path, &c.edit.before, &c.edit.after),
                edits,
                candidates: 0,
                source: PatchSource::TestedEdit {
                    rank,
                    what: c.what.clone(),
                },
                verdict,
                tests: test_evidence(passed_after),
                evidence,
                rejected,
                localization,
                snippets: Vec::new(),
                prompt: String::new(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        if total == 0 {
            rejected.push("no one-line edit to try at the suspicious lines".to_owned());
        } else {
            let best: Vec<String> = refused
                .iter()
                .take(3)
                .map(|(rank, why)| format!("`{}`: {why}", candidates[*rank].what))
                .collect();
            rejected.push(format!(
                "{} of {total} one-line edits at the suspicious lines tried, none makes the \
                 failing tests pass{}{}",
                refused.len(),
                if Instant::now() >= deadline {
                    " (the time budget ran out)"
                } else {
                    ""
                },
                if best.is_empty() {
                    String::new()
                } else {
                    format!(" (e.g. {})", best.join("; "))
                }
            ));
        }
    } else if let Some(g) = &gate {
        let (_, used) = repair::suspicious_lines(ws.index, Some(g), None, issue, &localization, 1);
        evidence = used;
    } else {
        let (_, used) = repair::suspicious_lines(ws.index, None, None, issue, &localization, 1);
        evidence = used;
    }

    // 4. The model's answers.
    let Some(model) = model else {
        return Err(PatchError::NoValidPatch {
            tried,
            reasons: rejected,
            prompt: String::new(),
        });
    };
    if !evidence.contains(&Evidence::Model) {
        evidence.push(Evidence::Model);
    }
    // The first answer comes from the prompt a learned model was trained on: the issue alone,
    // localized alone (`learn::experience` replays bugs with exactly this prompt). The later,
    // primed answers see the failing tests too, and the code they point at.
    let plain_localization = if issue_full == issue {
        localization.clone()
    } else {
        localize_with(ws.index, &sources, issue, &opts.localize)
    };
    let (messages, snippets) = patch_prompt(ws, model, &issue_full, focus, &localization, opts);
    let (plain_messages, plain_snippets) = if issue_full == issue {
        (messages.clone(), snippets.clone())
    } else {
        patch_prompt(ws, model, issue, focus, &plain_localization, opts)
    };
    if snippets.is_empty() && plain_snippets.is_empty() {
        return Err(if localization.files.is_empty() && focus.is_none() {
            PatchError::NothingLocalized
        } else {
            PatchError::ContextTooSmall {
                context: model.context_length(),
            }
        });
    }
    let prompt = model.render_chat(&messages, true)?;
    let plain_prompt = model.render_chat(&plain_messages, true)?;
    let primer = primer(&snippets);
    let of = opts.candidates.max(1);
    for candidate in 1..=of {
        if cancel.is_cancelled() {
            return Err(PatchError::Cancelled);
        }
        if Instant::now() >= deadline {
            rejected.push("the time budget ran out".to_owned());
            break;
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
        let (full_prompt, start, shown) = if primed {
            (format!("{prompt}{primer}"), primer.as_str(), &snippets)
        } else {
            (plain_prompt.clone(), "", &plain_snippets)
        };
        let mut tokens = 0usize;
        progress(JobStage::Generating {
            candidate,
            of,
            tokens,
        });
        let mut on_text = |_: &str| {
            tokens += 1;
            if tokens.is_multiple_of(16) {
                progress(JobStage::Generating {
                    candidate,
                    of,
                    tokens,
                });
            }
        };
        // A primed answer continues the rendered prompt; a plain one is the reply to the
        // messages (the same prompt for a local model; a server applies its own template).
        let mut generation = if primed {
            model.generate(&full_prompt, &params, cancel, &mut on_text)?
        } else {
            model.chat(&plain_messages, &params, cancel, &mut on_text)?
        };
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
        progress(JobStage::Validating { candidate });
        if primed {
            generation.text = primed_answer(start, &generation.text);
        }
        let checked = validate(ws, shown, &generation.text).and_then(|edits| {
            // A fix asked for at a place (a code action) must change that file.
            match focus {
                Some(f) if !edits.iter().any(|e| e.path == f.path) => Err(format!(
                    "the edit does not change {}, where the fix was asked for",
                    f.path
                )),
                _ => Ok(edits),
            }
        });
        let judged = checked.and_then(|edits| match &gate {
            None => Ok((edits, None)),
            Some(g) => match g.check(0, &edits, cancel) {
                Check::Plausible { passed_after } => Ok((edits, passed_after)),
                Check::Rejected(why) => Err(why),
            },
        });
        match judged {
            Ok((edits, passed_after)) => {
                let edits = with_repro(edits);
                if repro_evidence {
                    evidence.push(Evidence::ReproductionTest);
                }
                return Ok(Patch {
                    diff: edit::unified_diff(&edits),
                    edits,
                    answer: generation.text,
                    candidates: candidate,
                    source: PatchSource::Answer,
                    verdict,
                    tests: test_evidence(passed_after),
                    evidence,
                    rejected,
                    localization: if primed {
                        localization
                    } else {
                        plain_localization
                    },
                    snippets: shown.clone(),
                    prompt: if primed { prompt } else { plain_prompt },
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            Err(why) => {
                tracing::debug!(
                    "candidate {candidate} rejected: {why}; its answer:\n{}",
                    generation.text
                );
                rejected.push(format!("answer {candidate}: {why}"));
            }
        }
    }
    tried += of;

    // 5. No failing test to aim at: the one-line edit the model prefers given the issue.
    if opts.mutants > 0 && !targeted && Instant::now() < deadline {
        let picked =
            match ranked_mutants(ws, model, issue, &snippets, focus, opts, cancel, progress) {
                Ok(ranked) => pick_mutant(ws, &snippets, ranked, gate.as_ref(), cancel),
                // A server without prompt log-probabilities: the model cannot rank them.
                Err(PatchError::Model(e @ ModelError::ScoringUnsupported { .. })) => {
                    tracing::warn!("one-line edits skipped, the model cannot rank them: {e}");
                    Err(format!("the model cannot rank them: {e}"))
                }
                Err(e) => return Err(e),
            };
        match picked {
            Ok((edits, answer, gain, passed_after)) => {
                return Ok(Patch {
                    diff: edit::unified_diff(&edits),
                    edits,
                    answer,
                    candidates: of,
                    source: PatchSource::OneLineEdit { score: gain },
                    verdict,
                    tests: test_evidence(passed_after),
                    evidence,
                    rejected,
                    localization,
                    snippets,
                    prompt,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            Err(why) => rejected.push(format!("one-line edits: {why}")),
        }
    }
    Err(PatchError::NoValidPatch {
        tried,
        reasons: rejected,
        prompt: plain_prompt,
    })
}

/// Lines of the test file shown to the model (its end, where a new test goes).
const REPRO_EXCERPT_LINES: usize = 60;
/// Functions shown with the issue when asking for a reproduction test.
const REPRO_SNIPPETS: usize = 3;

/// Asks the model for a test that reproduces `issue`, added to the test file that belongs to
/// the best-localized source file; adopts it as `gate`'s target when it fails on the code as it
/// is with an assertion of a new test (see [`TestGate::try_reproduction`]). Returns the test's
/// edit, or why there is none.
fn reproduce(
    ws: &Workspace<'_>,
    model: &Model,
    gate: &mut TestGate,
    issue: &str,
    loc: &Localization,
    opts: &PatchOptions,
    cancel: &CancelToken,
) -> Result<FileEdit, String> {
    let test_path = test_file_for(ws.index, loc)
        .ok_or_else(|| "no test file belongs to the localized code".to_owned())?;
    let text = (ws.read)(&test_path).ok_or_else(|| format!("cannot read {test_path}"))?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let hi = lines.len();
    let lo = hi.saturating_sub(REPRO_EXCERPT_LINES).max(1);
    let excerpt: String = lines.get(lo - 1..hi).unwrap_or_default().concat();
    let mut snippets = prompt::select_snippets(ws.index, loc, None, ws.read, REPRO_SNIPPETS);
    snippets.retain(|s| !crate::localize::is_test_path(&s.path));
    let budget = model
        .context_length()
        .saturating_sub(max_new_tokens(model, opts))
        .min(opts.max_prompt_tokens);
    let count = |s: &str| model.count_tokens(s).unwrap_or(s.len() / 3);
    let user = loop {
        let user = prompt::repro_user(issue, &snippets, &test_path, lo as u32, hi as u32, &excerpt);
        if snippets.is_empty() || count(prompt::SYSTEM) + count(&user) + 16 <= budget {
            break user;
        }
        snippets.pop();
    };
    let messages = vec![
        spot_model::ChatMessage::system(prompt::SYSTEM),
        spot_model::ChatMessage::user(user),
    ];
    let rendered = model
        .render_chat(&messages, true)
        .map_err(|e| e.to_string())?;
    let params = GenerateParams {
        max_new_tokens: max_new_tokens(model, opts),
        temperature: 0.0,
        add_special_tokens: false,
        lookup: opts.lookup,
        ..GenerateParams::default()
    };
    let generation = model
        .generate(&rendered, &params, cancel, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let blocks = edit::parse_blocks(&generation.text);
    if blocks.is_empty() {
        return Err("the model's answer has no SEARCH/REPLACE block".to_owned());
    }
    let file_name = test_path
        .rsplit('/')
        .next()
        .unwrap_or(&test_path)
        .to_owned();
    let resolve = |named: &str| {
        (named == test_path || named.ends_with(&format!("/{file_name}")) || named == file_name)
            .then(|| test_path.clone())
    };
    let edits = edit::apply_blocks(&blocks, Some(&test_path), &resolve, ws.read)
        .map_err(|e| e.to_string())?;
    let [test] = edits.as_slice() else {
        return Err("the answer changes more than the test file".to_owned());
    };
    check_edits(ws.index, std::slice::from_ref(test))?;
    let (target, report) = gate.try_reproduction(test, cancel)?;
    gate.adopt_reproduction(test.clone(), target, report);
    Ok(test.clone())
}

/// The test file a new test for the best-localized source file goes into: a test file the
/// localization ranks, else an indexed test file named after the source file
/// (`test_pricing.py`, `pricing_test.go`, `pricing.test.js`) in the same language.
fn test_file_for(index: &Index, loc: &Localization) -> Option<String> {
    use crate::localize::is_test_path;
    let source = loc.files.iter().find(|f| !is_test_path(&f.path))?;
    let lang = Lang::from_path(Path::new(&source.path))?;
    let stem = Path::new(&source.path)
        .file_stem()?
        .to_string_lossy()
        .into_owned();
    let named_after = |p: &str| {
        Path::new(p)
            .file_stem()
            .is_some_and(|s| s.to_string_lossy().contains(stem.as_str()))
    };
    let mut tests: Vec<String> = index
        .snapshot()
        .into_iter()
        .filter(|f| f.lang == lang && is_test_path(&f.path))
        .map(|f| f.path.clone())
        .collect();
    tests.sort();
    loc.files
        .iter()
        .map(|f| f.path.clone())
        .find(|p| is_test_path(p) && named_after(p) && tests.contains(p))
        .or_else(|| tests.iter().find(|p| named_after(p)).cloned())
}

/// A one-line edit at a suspicious line.
struct LineEdit {
    edit: FileEdit,
    /// `` `>` → `>=` in `if q > m:` (pricing.py:23) ``.
    what: String,
}

/// Candidate edits at `lines` (best first) from the repair templates (`templates`), ranked by
/// the line's suspiciousness × the template's prior across files, deduplicated, at most `max`.
/// Only files that parse and that the index knows; every edit passes [`check_edits`].
fn line_edits(ws: &Workspace<'_>, lines: &[repair::SuspiciousLine], max: usize) -> Vec<LineEdit> {
    /// Candidates made per file before the ranking across files.
    const PER_FILE: usize = 400;
    // Sites per file, in the order their best line ranks.
    let mut order: Vec<String> = Vec::new();
    let mut sites: std::collections::HashMap<String, Vec<templates::Site>> =
        std::collections::HashMap::new();
    for l in lines {
        if !sites.contains_key(&l.path) {
            order.push(l.path.clone());
        }
        sites
            .entry(l.path.clone())
            .or_default()
            .push(templates::Site {
                line: l.line.saturating_sub(1),
                weight: l.score,
            });
    }
    // Project functions by arity, for replacing a called function by a sibling.
    let mut by_arity: std::collections::HashMap<(Lang, usize), Vec<String>> =
        std::collections::HashMap::new();
    for f in ws.index.snapshot() {
        if crate::localize::is_support_path(&f.path) {
            continue;
        }
        for d in f.index.defs.iter().filter(|d| d.kind.is_callable()) {
            if let Some(n) = templates::signature_arity(f.lang, &d.signature) {
                by_arity
                    .entry((f.lang, n))
                    .or_default()
                    .push(d.name.clone());
            }
        }
    }
    for names in by_arity.values_mut() {
        names.sort();
        names.dedup();
    }
    let mut all: Vec<(f64, LineEdit)> = Vec::new();
    for path in order {
        let Some(lang) = Lang::from_path(Path::new(&path)) else {
            continue;
        };
        let Some(text) = (ws.read)(&path) else {
            continue;
        };
        if index::count_parse_errors(lang, &text) != Some(0) {
            continue;
        }
        let Some(tree) = ws.index.tree_of(lang, &path, &text) else {
            continue;
        };
        let functions = |n: usize| by_arity.get(&(lang, n)).cloned().unwrap_or_default();
        let no_vars = |_: u32| Vec::new();
        let scope = templates::Scope {
            variables: &no_vars,
            functions: &functions,
        };
        let file_sites = sites.get(&path).map(Vec::as_slice).unwrap_or_default();
        for c in templates::candidates(lang, &text, &tree, file_sites, &scope, PER_FILE) {
            let Some(after) = c.apply(&text) else {
                continue;
            };
            let edit = FileEdit {
                path: path.clone(),
                before: text.clone(),
                after,
                created: false,
            };
            if check_edits(ws.index, std::slice::from_ref(&edit)).is_err() {
                continue;
            }
            all.push((
                c.score,
                LineEdit {
                    what: format!("{} ({}:{})", c.describe, path, c.line + 1),
                    edit,
                },
            ));
        }
    }
    // Best score first; equal scores keep the files' and the engine's order.
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .map(|(_, e)| e)
        .filter(|e| seen.insert((e.edit.path.clone(), e.edit.after.clone())))
        .take(max)
        .collect()
}

/// The most issue-like issue text for scoring: its start, within a bound.
const SCORE_ISSUE_CHARS: usize = 1500;
/// Functions whose one-line edits are ranked.
const MUTATED_FUNCTIONS: usize = 3;

/// One-line edits tried against the tests, best-scored first.
const MUTANTS_TESTED: usize = 8;

/// The one-line edit to propose when no test fails: without tests, the best-scored one if the
/// issue made it likelier (score > 0) and it validates; with a passing suite, the first of the
/// best-scored ones that validates and keeps it passing (a guess either way).
fn pick_mutant(
    ws: &Workspace<'_>,
    snippets: &[Snippet],
    ranked: Vec<(f64, &Snippet, mutate::Mutant)>,
    gate: Option<&TestGate>,
    cancel: &CancelToken,
) -> Result<(Vec<FileEdit>, String, f64, Option<usize>), String> {
    if ranked.is_empty() {
        return Err(
            "none to try: the functions shown have no comparison, boolean operator or small \
             integer to change"
                .to_owned(),
        );
    }
    let total = ranked.len();
    let mut why = Vec::new();
    for (score, snip, m) in ranked
        .into_iter()
        .take(if gate.is_some() { MUTANTS_TESTED } else { 1 })
    {
        if score <= 0.0 {
            return Err(format!(
                "the issue made none of {total} likelier to the model than the original line"
            ));
        }
        let checked = mutant_answer(ws, snip, &m).and_then(|answer| {
            let edits = validate(ws, snippets, &answer)?;
            let passed_after = match gate {
                None => None,
                Some(g) => match g.check(0, &edits, cancel) {
                    Check::Plausible { passed_after } => passed_after,
                    Check::Rejected(why) => return Err(why),
                },
            };
            Ok((edits, answer, passed_after))
        });
        match checked {
            Ok((edits, answer, passed_after)) => return Ok((edits, answer, score, passed_after)),
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
    progress: &mut dyn FnMut(JobStage),
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
            progress(JobStage::Ranking { done, of: total });
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
