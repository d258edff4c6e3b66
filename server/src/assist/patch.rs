//! Issue-to-patch: localize the issue, show the model the code, read its answer as edits, and
//! keep the first candidate that validates.
//!
//! A candidate is valid when its blocks apply (exact, then whitespace-tolerant), every path is
//! inside the workspace, it changes something, and tree-sitter finds no more syntax errors in
//! any edited file than before. The first candidate decodes greedily; later ones sample (seeded),
//! so a run is reproducible. Small models often answer with the whole rewritten function instead
//! of blocks; such an answer is accepted when it redefines a function the prompt showed.
//! Pure of the LSP and the CLI: both call [`issue_to_patch`] and render the [`Patch`].

use std::path::Path;

use crate::assist::edit::{self, Block, FileEdit};
use crate::assist::localize::{localize, Localization, LocalizeOptions};
use crate::assist::prompt::{self, Focus, Snippet};
use crate::cancel::CancelToken;
use crate::index::{self, Index, Lang};
use crate::model::{GenerateParams, Model, ModelError};

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
    pub localize: LocalizeOptions,
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
            localize: LocalizeOptions::default(),
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
    /// Candidates generated, this one included.
    pub candidates: usize,
    /// Why the earlier candidates were rejected.
    pub rejected: Vec<String>,
    pub localization: Localization,
    pub snippets: Vec<Snippet>,
}

impl Patch {
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
}

/// The prompt messages for `issue` (what [`issue_to_patch`] sends, rendered by the caller's
/// chat template), with the localization and the snippets shown.
pub fn patch_prompt(
    ws: &Workspace<'_>,
    model: &Model,
    issue: &str,
    focus: Option<&Focus>,
    opts: &PatchOptions,
) -> (Vec<crate::model::ChatMessage>, Localization, Vec<Snippet>) {
    let loc = localize(ws.index, issue, &opts.localize);
    let snippets = prompt::select_snippets(ws.index, &loc, focus, ws.read, opts.max_snippets);
    let budget = model
        .context_length()
        .saturating_sub(max_new_tokens(model, opts))
        .min(opts.max_prompt_tokens);
    let count = |s: &str| model.count_tokens(s).unwrap_or(s.len() / 3);
    let (messages, snippets) = prompt::build(issue, snippets, &count, budget);
    (messages, loc, snippets)
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
    let (messages, localization, snippets) = patch_prompt(ws, model, issue, focus, opts);
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
    let mut rejected = Vec::new();
    let of = opts.candidates.max(1);
    for candidate in 1..=of {
        if cancel.is_cancelled() {
            return Err(PatchError::Cancelled);
        }
        let params = GenerateParams {
            max_new_tokens: max_new_tokens(model, opts),
            temperature: if candidate == 1 {
                0.0
            } else {
                opts.temperature
            },
            top_p: 0.95,
            seed: opts.seed.wrapping_add(candidate as u64),
            add_special_tokens: false,
            ..GenerateParams::default()
        };
        let mut tokens = 0usize;
        progress(Stage::Generating {
            candidate,
            of,
            tokens,
        });
        let generation = model.generate(&prompt, &params, cancel, &mut |_| {
            tokens += 1;
            if tokens.is_multiple_of(16) {
                progress(Stage::Generating {
                    candidate,
                    of,
                    tokens,
                });
            }
        })?;
        progress(Stage::Validating { candidate });
        let checked = validate(ws, &snippets, &generation.text).and_then(|edits| {
            // A fix asked for at a place (a code action) must change that file.
            match focus {
                Some(f) if !edits.iter().any(|e| e.path == f.path) => Err(format!(
                    "the edit does not change {}, where the fix was asked for",
                    f.path
                )),
                _ => Ok(edits),
            }
        });
        match checked {
            Ok(edits) => {
                return Ok(Patch {
                    diff: edit::unified_diff(&edits),
                    edits,
                    answer: generation.text,
                    candidates: candidate,
                    rejected,
                    localization,
                    snippets,
                })
            }
            Err(why) => {
                tracing::debug!("candidate {candidate} rejected: {why}");
                rejected.push(format!("candidate {candidate}: {why}"));
            }
        }
    }
    Err(PatchError::NoValidPatch {
        tried: of,
        reasons: rejected,
    })
}

/// The edits of one model answer, or why it is not a valid patch.
pub fn validate(
    ws: &Workspace<'_>,
    snippets: &[Snippet],
    answer: &str,
) -> Result<Vec<FileEdit>, String> {
    let mut blocks = edit::parse_blocks(answer);
    if blocks.is_empty() {
        blocks = rewrite_blocks(snippets, answer);
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
    check_edits(ws.index.root(), &edits)?;
    Ok(edits)
}

/// Safety and sanity of edits: inside the workspace, not a no-op, no new syntax errors.
pub fn check_edits(root: &Path, edits: &[FileEdit]) -> Result<(), String> {
    if edits.iter().all(|e| e.before == e.after) {
        return Err("the edit changes nothing".to_owned());
    }
    for e in edits {
        edit::check_path(root, &e.path).map_err(|err| err.to_string())?;
        if let Some(lang) = Lang::from_path(Path::new(&e.path)) {
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
/// code that has the name of a function shown to the model replaces that function.
fn rewrite_blocks(snippets: &[Snippet], answer: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
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
    blocks
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
    fn a_rewritten_method_replaces_the_original_reindented() {
        let snippets = vec![Snippet {
            path: "shop/cart.py".into(),
            name: Some("Cart.total".into()),
            start_line: 5,
            end_line: 6,
            text: "    def total(self):\n        return sum(self.items) - 1\n".into(),
        }];
        let answer = "Here is the corrected function:\n```python\ndef total(self):\n    return sum(self.items)\n```\nThis removes the off-by-one.";
        let blocks = rewrite_blocks(&snippets, answer);
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            blocks[0].replace,
            "    def total(self):\n        return sum(self.items)\n"
        );
        assert_eq!(blocks[0].search, snippets[0].text);
        assert!(rewrite_blocks(&snippets, "```python\ndef other():\n    pass\n```").is_empty());
    }

    #[test]
    fn edits_that_break_the_syntax_or_change_nothing_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let edit = |after: &str| FileEdit {
            path: "a.py".into(),
            before: "def f():\n    return 1\n".into(),
            after: after.into(),
            created: false,
        };
        assert!(check_edits(&root, &[edit("def f():\n    return 2\n")]).is_ok());
        let err = check_edits(&root, &[edit("def f(:\n    return 2\n")]).unwrap_err();
        assert!(err.contains("syntax error"), "{err}");
        let err = check_edits(&root, &[edit("def f():\n    return 1\n")]).unwrap_err();
        assert!(err.contains("changes nothing"), "{err}");
        let outside = FileEdit {
            path: "../a.py".into(),
            ..edit("x\n")
        };
        assert!(check_edits(&root, &[outside])
            .unwrap_err()
            .contains("leaves"));
    }
}
