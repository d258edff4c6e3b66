//! `spot eval localize`: localization measured on a repository's own history.
//!
//! Each bug-fix commit is a case: the issue is its message (subject and body, without
//! trailers, issue references and the pull-request number), the gold is the non-test,
//! non-doc source files it changed that exist at its parent (and the functions whose lines it
//! changed), the index is built at the parent from git's object database — the user's work
//! tree is never touched — and the history given to spot is the parent's ancestors only, so
//! nothing of the fix or later commits leaks in. Consecutive cases update one in-memory index
//! by the files that differ between their parents. Reports file Acc@1, Acc@5, Recall@5 and
//! function Recall@5 for spot, the lexical floor (spot's lexical signals alone), spot with
//! each signal and the declaration-file rule removed (the ablation, on request), spot with a
//! model reranking its best files (with a rerank model), and plain BM25 over whole files,
//! measured in the same run.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::git::{GitError, Repo};
use super::history::{history_within, is_fix_message, past_commit, HISTORY_DEPTH};
use spot_assist::localize::{
    is_support_path, localize_with, message_text, LocalizeOptions, PastCommit, Signal,
    SignalRanking, Sources,
};
use spot_assist::rerank::{rerank, ModelScore, RerankOptions};
use spot_base::cancel::CancelToken;
use spot_index::{walk, Index, IndexOptions, Lang};
use spot_model::{Model, ModelError};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("model rerank: {0}")]
    Model(#[from] ModelError),
    #[error(
        "no bug-fix commits with source changes found in the last {scanned} commits of {repo}"
    )]
    NoCases { repo: String, scanned: usize },
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// At most this many cases (newest first).
    pub limit: usize,
    /// Commits touching more source files than this are refactors, not fixes.
    pub max_gold_files: usize,
    /// Also measure spot with each signal removed.
    pub ablation: bool,
    /// Past commits (the parent's ancestors, newest first) given to spot.
    pub history_depth: usize,
    /// Keep each signal's ranking in every case (for fitting the fusion).
    pub signals: bool,
    /// Also measure spot with this model reranking its best files (`spot +rerank`).
    pub rerank_model: Option<Arc<Model>>,
    pub rerank: RerankOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            limit: 50,
            max_gold_files: 4,
            ablation: false,
            history_depth: HISTORY_DEPTH,
            signals: false,
            rerank_model: None,
            rerank: RerankOptions::default(),
        }
    }
}

/// Mean metrics of one method over the cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    pub acc1: f64,
    pub acc5: f64,
    pub recall5: f64,
    pub fn_recall5: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub commit: String,
    pub subject: String,
    pub gold_files: Vec<String>,
    pub gold_functions: Vec<String>,
    pub spot_files: Vec<String>,
    pub spot_functions: Vec<String>,
    pub floor_files: Vec<String>,
    pub bm25_files: Vec<String>,
    /// Each signal's ranking for spot, with [`EvalOptions::signals`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalRanking>,
    /// With a rerank model: spot's files after the rerank, and the model's scores.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reranked_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rerank: Vec<ModelScore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub repo: String,
    pub cases: Vec<CaseResult>,
    /// (method, metrics): `spot`, `spot +rerank` (with a rerank model), `floor`,
    /// `spot -SIGNAL` for each signal (with the ablation), `bm25 (files)`.
    pub methods: Vec<(String, Metrics)>,
}

/// A release commit (`Version 0.27.0`, `Release 1.2`, `v1.2.3`, `Bump version`): its message
/// is a changelog, not an issue.
pub fn is_release_message(message: &str) -> bool {
    let subject = message.lines().next().unwrap_or("").trim().to_lowercase();
    let mut words = subject.split_whitespace();
    let first = words.next().unwrap_or("");
    let second = words.next().unwrap_or("");
    let versionish = |w: &str| {
        let w = w.trim_start_matches('v');
        w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.')
    };
    versionish(first)
        || (matches!(first, "version" | "release" | "releasing" | "prepare") && {
            versionish(second) || second == "release" || second == "version"
        })
        || subject.starts_with("bump version")
}

/// A file whose change a localizer is asked to find: source code, not tests, docs, examples
/// or benchmarks.
fn is_gold_source(path: &str) -> bool {
    Lang::from_path(Path::new(path)).is_some() && !is_support_path(path)
}

struct Case {
    commit: String,
    parent: String,
    issue: String,
    gold_files: Vec<String>,
}

/// Runs the evaluation on the repository at `root`; `progress(done, total)` after each case.
/// `cancel` stops the model rerank.
pub fn eval_localize(
    root: &Path,
    opts: &EvalOptions,
    cancel: &CancelToken,
    progress: &dyn Fn(usize, usize),
) -> Result<EvalReport, EvalError> {
    let repo = Repo::new(root);
    // The whole history: cases come from its newest part, each case's past from all of it.
    let log = repo.log(1_000_000)?;
    let scanned = log.len();
    let candidates: Vec<Case> = log
        .iter()
        .filter(|c| c.parents.len() == 1 && is_fix_message(&c.message))
        .filter(|c| !is_release_message(&c.message))
        .filter_map(|c| {
            let gold: Vec<String> = c
                .files
                .iter()
                .filter(|f| is_gold_source(f))
                .cloned()
                .collect();
            (!gold.is_empty() && gold.len() <= opts.max_gold_files).then(|| Case {
                parent: c.parents.first().cloned().unwrap_or_default(),
                commit: c.id.clone(),
                issue: message_text(&c.message),
                gold_files: gold,
            })
        })
        .collect();
    let past: Vec<PastCommit> = log.iter().map(past_commit).collect();

    let index = Index::new(root.to_path_buf(), IndexOptions::default());
    let mut texts: HashMap<String, String> = HashMap::new();
    let mut blobs = repo.blobs()?;
    let mut at: Option<String> = None;
    let mut methods: Vec<(String, LocalizeOptions)> = vec![
        (
            "spot".to_owned(),
            LocalizeOptions {
                keep_signals: opts.signals,
                ..LocalizeOptions::default()
            },
        ),
        (
            "floor".to_owned(),
            LocalizeOptions {
                signals: Signal::FLOOR.to_vec(),
                demote_declarations: false,
                ..LocalizeOptions::default()
            },
        ),
    ];
    if opts.ablation {
        for s in Signal::ALL {
            let mut o = LocalizeOptions::default();
            o.signals.retain(|&x| x != s);
            methods.push((format!("spot -{}", s.as_str()), o));
        }
        methods.push((
            "spot -declarations".to_owned(),
            LocalizeOptions {
                demote_declarations: false,
                ..LocalizeOptions::default()
            },
        ));
    }
    let mut sums = vec![Sums::default(); methods.len() + 1];
    let mut rerank_sums = Sums::default();
    let mut results = Vec::new();
    let total = candidates.len().min(opts.limit);
    for case in candidates {
        if results.len() >= opts.limit {
            break;
        }
        // Move the index to the case's parent.
        let changed: Vec<(String, bool)> = match &at {
            None => repo
                .ls_tree(&case.parent)?
                .into_iter()
                .map(|p| (p, true))
                .collect(),
            Some(prev) => repo.changed(prev, &case.parent)?,
        };
        for (path, exists) in changed {
            if Lang::from_path(Path::new(&path)).is_none() {
                continue;
            }
            let text = if exists {
                blobs.read(&case.parent, &path)?
            } else {
                None
            };
            match text.map(walk::decode) {
                Some(Ok((text, _))) => {
                    index.set_text(&path, &text);
                    texts.insert(path, text);
                }
                _ => {
                    index.remove_path(&path);
                    texts.remove(&path);
                }
            }
        }
        at = Some(case.parent.clone());
        // Files the fix created cannot be pointed at.
        let gold_files: Vec<String> = case
            .gold_files
            .iter()
            .filter(|p| index.file(p).is_some())
            .cloned()
            .collect();
        if gold_files.is_empty() {
            continue;
        }
        let case = Case { gold_files, ..case };

        // The past as the parent knew it: its ancestors, newest first.
        let ancestors: HashSet<String> = repo.rev_list(&case.parent)?.into_iter().collect();
        let history = history_within(&log, &past, |id| ancestors.contains(id), opts.history_depth);
        let read = |path: &str| texts.get(path).cloned();
        let sources = Sources {
            text: &read,
            history: Some(&history),
        };

        let gold_functions = gold_functions(&repo, &index, &case)?;
        let mut ranked_by_method: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        let mut signals = Vec::new();
        let mut reranked_files = Vec::new();
        let mut model_scores = Vec::new();
        for (m, (_, o)) in methods.iter().enumerate() {
            let mut r = localize_with(&index, &sources, &case.issue, o);
            if m == 0 {
                signals = std::mem::take(&mut r.signals);
                if let Some(model) = &opts.rerank_model {
                    let mut reranked = r.clone();
                    model_scores = rerank(
                        model,
                        &case.issue,
                        &mut reranked,
                        &sources,
                        &opts.rerank,
                        cancel,
                    )?;
                    reranked_files = reranked.files.iter().map(|f| f.path.clone()).collect();
                    rerank_sums.add(&case.gold_files, &reranked_files, None);
                    reranked_files.truncate(5);
                }
            }
            let files: Vec<String> = r.files.iter().map(|f| f.path.clone()).collect();
            let functions: Vec<String> = r
                .functions
                .iter()
                .map(|f| format!("{}::{}", f.path, f.name))
                .collect();
            if let Some(s) = sums.get_mut(m) {
                s.add(
                    &case.gold_files,
                    &files,
                    Some((&gold_functions, &functions)),
                );
            }
            if m < 2 {
                ranked_by_method.push((files, functions));
            }
        }
        let bm25: Vec<String> = index
            .search_files(&case.issue, 5)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        if let Some(s) = sums.last_mut() {
            s.add(&case.gold_files, &bm25, None);
        }
        let mut ranked = ranked_by_method.into_iter();
        let (spot_files, spot_functions) = ranked.next().unwrap_or_default();
        let (floor_files, _) = ranked.next().unwrap_or_default();
        results.push(CaseResult {
            commit: case.commit.clone(),
            subject: case.issue.lines().next().unwrap_or("").to_owned(),
            gold_files: case.gold_files.clone(),
            gold_functions,
            spot_files: spot_files.into_iter().take(5).collect(),
            spot_functions: spot_functions.into_iter().take(5).collect(),
            floor_files: floor_files.into_iter().take(5).collect(),
            bm25_files: bm25,
            signals,
            reranked_files,
            rerank: model_scores,
        });
        progress(results.len(), total);
    }
    if results.is_empty() {
        return Err(EvalError::NoCases {
            repo: root.display().to_string(),
            scanned,
        });
    }
    let mut names: Vec<String> = methods.into_iter().map(|(n, _)| n).collect();
    names.push("bm25 (files)".to_owned());
    let mut methods: Vec<(String, Metrics)> =
        names.into_iter().zip(sums.iter().map(Sums::mean)).collect();
    if opts.rerank_model.is_some() {
        methods.insert(1, ("spot +rerank".to_owned(), rerank_sums.mean()));
    }
    Ok(EvalReport {
        repo: root.display().to_string(),
        methods,
        cases: results,
    })
}

/// Functions (at the parent) whose lines the fix changed, as `path::Qualified.name`.
fn gold_functions(repo: &Repo, index: &Index, case: &Case) -> Result<Vec<String>, GitError> {
    let mut out = Vec::new();
    for path in &case.gold_files {
        let Some(file) = index.file(path) else {
            continue;
        };
        for (start, end) in repo.changed_lines(&case.parent, &case.commit, path)? {
            for d in file.index.defs.iter().filter(|d| d.kind.is_callable()) {
                let (ds, de) = (d.span.start_line + 1, d.span.end_line + 1);
                if ds <= end && start <= de {
                    out.push(format!("{path}::{}", file.qualified_name(d)));
                }
            }
        }
    }
    // Keep the innermost only when a method and its class both matched is not needed: only
    // callables are considered. Deduplicate.
    let mut seen = HashSet::new();
    out.retain(|f| seen.insert(f.clone()));
    Ok(out)
}

#[derive(Debug, Clone, Default)]
struct Sums {
    n: usize,
    acc1: f64,
    acc5: f64,
    recall5: f64,
    n_fn: usize,
    fn_recall5: f64,
}

impl Sums {
    fn add(
        &mut self,
        gold: &[String],
        ranked: &[String],
        functions: Option<(&Vec<String>, &Vec<String>)>,
    ) {
        let top5: HashSet<&String> = ranked.iter().take(5).collect();
        self.n += 1;
        if ranked.first().is_some_and(|f| gold.contains(f)) {
            self.acc1 += 1.0;
        }
        let hits = gold.iter().filter(|g| top5.contains(g)).count();
        if hits > 0 {
            self.acc5 += 1.0;
        }
        self.recall5 += hits as f64 / gold.len().max(1) as f64;
        if let Some((gold_fns, ranked_fns)) = functions {
            if !gold_fns.is_empty() {
                let top: HashSet<&String> = ranked_fns.iter().take(5).collect();
                self.n_fn += 1;
                self.fn_recall5 += gold_fns.iter().filter(|g| top.contains(g)).count() as f64
                    / gold_fns.len() as f64;
            }
        }
    }

    fn mean(&self) -> Metrics {
        let n = self.n.max(1) as f64;
        Metrics {
            acc1: self.acc1 / n,
            acc5: self.acc5 / n,
            recall5: self.recall5 / n,
            fn_recall5: (self.n_fn > 0).then(|| self.fn_recall5 / self.n_fn as f64),
        }
    }
}
