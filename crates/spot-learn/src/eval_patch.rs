//! `spot eval patch`: issue-to-patch replayed on the repository's own bug fixes, with the same
//! search the live command runs.
//!
//! Cases are fix commits, newest first: one parent, a fix-like message, 1–3 changed source files
//! (tests, docs, examples and benchmarks do not count) that exist before and after, none added
//! or deleted. The commit message is the issue.
//!
//! Without a test command the index and files are the parent's (git objects; the work tree is
//! not touched), and a case reports whether a candidate came out, whether it changed a file the
//! fix changed and whether it equals the fix (every changed file identical, ignoring trailing
//! whitespace). Its verdict is `unverified`.
//!
//! With a test command, a case must **qualify**: the fix commit's tree is written out under
//! spot's scratch dir with its changed source files put back to the parent's (the tests the fix
//! added stay: the buggy tree), and the command must fail there and pass with the real fix.
//! (Qualification is cached per repository and command under the data dir's `eval/`, so a rerun
//! tests only new commits.) Then the live search runs on that buggy tree as a workspace: its
//! index, its files, the parent's history, the test command as the user would pass it — the
//! tests that fail are the target. The result's verdict is checked independently: the patch is
//! written over the buggy tree and the command run again. A verdict of `fixes_failing_tests`
//! whose patch does not pass is a **wrong verdict** (the report counts them; there must be
//! none). A plausible patch equal to the fix is **correct**.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::git::{GitError, Repo};
use crate::history::{is_fix_message, read_history, HISTORY_DEPTH};
use crate::snapshot::{materialize_in_scratch, Snapshot};
use spot_assist::edit::FileEdit;
use spot_assist::localize::{is_support_path, History};
use spot_assist::patch::{issue_to_patch, PatchError, PatchOptions, PatchSource, Workspace};
use spot_assist::repair::{Evidence, Verdict};
use spot_assist::testreport;
use spot_assist::testrun::{Outcome, TestRun};
use spot_base::cancel::CancelToken;
use spot_index::{Index, IndexOptions, Lang};
use spot_model::{Model, ModelError};

#[derive(Debug, Clone, Serialize)]
pub struct PatchCase {
    pub commit: String,
    pub subject: String,
    pub gold_files: Vec<String>,
    /// With a test command: the tests that fail on the buggy tree (they pass with the fix).
    pub failing_before: Vec<String>,
    /// A patch came out.
    pub patched: bool,
    pub verdict: Option<Verdict>,
    /// `answer`, `oneLineEdit`, `testedEdit`.
    pub source: Option<String>,
    pub evidence: Vec<Evidence>,
    /// With a test command: the patch, written over the buggy tree, passes it (checked apart
    /// from the search).
    pub plausible: Option<bool>,
    /// The verdict claims the failing tests are fixed, and the independent check disagrees.
    pub wrong_verdict: bool,
    /// The patch changed a file the fix changed.
    pub right_file: bool,
    /// The patch equals the real fix.
    pub exact: bool,
    pub candidates: usize,
    pub files: Vec<String>,
    /// Why no patch came out, or the error.
    pub error: Option<String>,
    pub diff: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatchReport {
    pub repo: String,
    /// The model directory, or `none`.
    pub model: String,
    pub test_cmd: Option<String>,
    pub coverage: bool,
    /// Fix-like commits looked at (with a test command: tried for qualification).
    pub scanned: usize,
    pub cases: Vec<PatchCase>,
    pub patched: usize,
    pub plausible: usize,
    pub exact: usize,
    pub right_file: usize,
    pub wrong_verdicts: usize,
    pub mean_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalPatchError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("no usable fix commit in the last {0} commits of the history")]
    NoCases(usize),
    #[error("cancelled")]
    Cancelled,
    #[error("running the tests of {commit}: {err}")]
    Tests { commit: String, err: std::io::Error },
}

fn same_text(a: &str, b: &str) -> bool {
    a.lines()
        .map(str::trim_end)
        .eq(b.lines().map(str::trim_end))
}

/// What a replay needs besides the repository.
pub struct EvalPatchOptions<'a> {
    pub model: Option<&'a Model>,
    /// Cases wanted (with a test command: qualified ones).
    pub limit: usize,
    /// Commits of the history looked at, newest first.
    pub scan: usize,
    /// Only these fix commits (sha prefixes); empty: every fix commit.
    pub commits: Vec<String>,
    pub patch: PatchOptions,
    /// Spot's data dir: scratch trees and the qualification cache.
    pub data_dir: PathBuf,
}

/// A commit that may be a case: its fixed files before and after.
struct Candidate {
    id: String,
    parent: String,
    message: String,
    gold: Vec<String>,
    /// (path, text at the parent, text at the fix)
    files: Vec<(String, String, String)>,
}

/// Runs the replay on the repository at `root`; `progress(done, wanted)` per case.
pub fn eval_patch(
    root: &Path,
    opts: &EvalPatchOptions<'_>,
    cancel: &CancelToken,
    progress: &dyn Fn(usize, usize),
) -> Result<PatchReport, EvalPatchError> {
    let repo = Repo::new(root);
    let mut snap = Snapshot::new(&repo)?;
    let log = repo.log(opts.scan)?;
    let mut cache = QualifyCache::open(&opts.data_dir, root, opts.patch.test_cmd.as_deref());
    let mut cases = Vec::new();
    let mut scanned = 0;
    for c in log
        .iter()
        .filter(|c| c.parents.len() == 1 && is_fix_message(&c.message))
        .filter(|c| opts.commits.is_empty() || opts.commits.iter().any(|p| c.id.starts_with(p)))
    {
        if cases.len() >= opts.limit {
            break;
        }
        if cancel.is_cancelled() {
            return Err(EvalPatchError::Cancelled);
        }
        let gold: Vec<String> = c
            .files
            .iter()
            .filter(|p| Lang::from_path(Path::new(p)).is_some() && !is_support_path(p))
            .cloned()
            .collect();
        if gold.is_empty() || gold.len() > 3 {
            continue;
        }
        let parent = c.parents[0].clone();
        let mut files = Vec::new();
        for p in &gold {
            match (snap.read(&parent, p)?, snap.read(&c.id, p)?) {
                (Some(before), Some(after)) => files.push((p.clone(), before, after)),
                _ => break,
            }
        }
        if files.len() != gold.len() {
            continue;
        }
        scanned += 1;
        let cand = Candidate {
            id: c.id.clone(),
            parent,
            message: c.message.clone(),
            gold,
            files,
        };
        let case = match &opts.patch.test_cmd {
            None => Some(replay_untested(
                root, &repo, &mut snap, &cand, opts, cancel,
            )?),
            Some(cmd) => replay_tested(root, &repo, &cand, cmd, opts, &mut cache, cancel)?,
        };
        if let Some(case) = case {
            cases.push(case);
            progress(cases.len(), opts.limit);
        }
    }
    if cases.is_empty() {
        return Err(EvalPatchError::NoCases(opts.scan));
    }
    let n = cases.len() as f64;
    Ok(PatchReport {
        repo: root.display().to_string(),
        model: opts
            .model
            .map_or_else(|| "none".to_owned(), |m| m.dir().display().to_string()),
        test_cmd: opts.patch.test_cmd.clone(),
        coverage: opts.patch.coverage,
        scanned,
        patched: cases.iter().filter(|c| c.patched).count(),
        plausible: cases.iter().filter(|c| c.plausible == Some(true)).count(),
        exact: cases.iter().filter(|c| c.exact).count(),
        right_file: cases.iter().filter(|c| c.right_file).count(),
        wrong_verdicts: cases.iter().filter(|c| c.wrong_verdict).count(),
        mean_seconds: cases.iter().map(|c| c.seconds).sum::<f64>() / n,
        cases,
    })
}

fn new_case(cand: &Candidate) -> PatchCase {
    PatchCase {
        commit: cand.id.clone(),
        subject: cand.message.lines().next().unwrap_or_default().to_owned(),
        gold_files: cand.gold.clone(),
        failing_before: Vec::new(),
        patched: false,
        verdict: None,
        source: None,
        evidence: Vec::new(),
        plausible: None,
        wrong_verdict: false,
        right_file: false,
        exact: false,
        candidates: 0,
        files: Vec::new(),
        error: None,
        diff: None,
        seconds: 0.0,
    }
}

/// Fills in what the search returned.
fn record(
    case: &mut PatchCase,
    cand: &Candidate,
    result: Result<spot_assist::patch::Patch, PatchError>,
) -> Result<Option<Vec<FileEdit>>, EvalPatchError> {
    match result {
        Ok(patch) => {
            case.patched = true;
            case.verdict = Some(patch.verdict);
            case.source = Some(
                match patch.source {
                    PatchSource::Answer => "answer",
                    PatchSource::OneLineEdit { .. } => "oneLineEdit",
                    PatchSource::TestedEdit { .. } => "testedEdit",
                }
                .to_owned(),
            );
            case.evidence = patch.evidence.clone();
            case.candidates = patch.candidates;
            case.files = patch.edits.iter().map(|e| e.path.clone()).collect();
            case.right_file = patch.edits.iter().any(|e| cand.gold.contains(&e.path));
            case.exact = patch.edits.len() == cand.files.len()
                && cand.files.iter().all(|(p, _, after)| {
                    patch
                        .edits
                        .iter()
                        .any(|e| e.path == *p && same_text(&e.after, after))
                });
            case.diff = Some(patch.diff.clone());
            Ok(Some(patch.edits))
        }
        Err(PatchError::Cancelled) => Err(EvalPatchError::Cancelled),
        Err(PatchError::Model(e)) => Err(e.into()),
        Err(e) => {
            case.error = Some(e.to_string());
            Ok(None)
        }
    }
}

/// A case without tests: the parent's index and files from git objects.
fn replay_untested(
    root: &Path,
    _repo: &Repo,
    snap: &mut Snapshot,
    cand: &Candidate,
    opts: &EvalPatchOptions<'_>,
    cancel: &CancelToken,
) -> Result<PatchCase, EvalPatchError> {
    let started = std::time::Instant::now();
    snap.checkout(&cand.parent)?;
    let read = |p: &str| snap.read(&cand.parent, p).ok().flatten();
    let history = read_history(root, &cand.parent, HISTORY_DEPTH).ok();
    let ws = Workspace {
        index: snap.index(),
        read: &read,
        history: history.as_ref(),
    };
    let result = issue_to_patch(
        &ws,
        opts.model,
        &cand.message,
        None,
        &opts.patch,
        cancel,
        &mut |_| {},
    );
    let mut case = new_case(cand);
    record(&mut case, cand, result)?;
    case.seconds = started.elapsed().as_secs_f64();
    Ok(case)
}

/// A case with tests: qualify it, then run the live search on the buggy tree.
fn replay_tested(
    root: &Path,
    repo: &Repo,
    cand: &Candidate,
    cmd: &str,
    opts: &EvalPatchOptions<'_>,
    cache: &mut QualifyCache,
    cancel: &CancelToken,
) -> Result<Option<PatchCase>, EvalPatchError> {
    let tests_err = |err| EvalPatchError::Tests {
        commit: cand.id.clone(),
        err,
    };
    if cache.get(&cand.id) == Some(false) {
        return Ok(None);
    }
    let scratch = spot_base::data_dir::scratch_dir(&opts.data_dir);
    let dir =
        materialize_in_scratch(repo, &cand.id, Some(&scratch), "eval-tests-").map_err(tests_err)?;
    for (path, before, _) in &cand.files {
        std::fs::write(dir.path().join(path), before).map_err(tests_err)?;
    }
    let run = TestRun::in_dir(dir, cmd).with_timeout(opts.patch.test_timeout);
    let edits_to = |which: &dyn Fn(&(String, String, String)) -> String| -> Vec<FileEdit> {
        cand.files
            .iter()
            .map(|f| FileEdit {
                path: f.0.clone(),
                before: f.1.clone(),
                after: which(f),
                created: false,
            })
            .collect()
    };
    let fix = edits_to(&|f| f.2.clone());
    // Qualify: fails as it is, passes with the real fix.
    let (qualified, failing) = match cache.get(&cand.id) {
        Some(true) => (true, Vec::new()),
        _ => {
            let before = run.run(cmd, &[], cancel).map_err(tests_err)?;
            if before.cancelled {
                return Err(EvalPatchError::Cancelled);
            }
            let report = testreport::parse(&before.output, before.exit_code).relative_to(run.dir());
            let fails = before.outcome != Outcome::Pass && report.ran;
            let passes = fails && run.with_edits(&fix).map_err(tests_err)? == Outcome::Pass;
            cache.set(&cand.id, passes);
            (
                passes,
                report.failures.iter().map(|f| f.id.clone()).collect(),
            )
        }
    };
    if !qualified {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    // The live search, on the buggy tree as a workspace.
    let index = Index::new(run.dir().to_path_buf(), IndexOptions::default());
    if index.build(cancel, &|_| {}).is_err() {
        return Err(EvalPatchError::Cancelled);
    }
    let history: Option<History> = read_history(root, &cand.parent, HISTORY_DEPTH).ok();
    let index = Arc::new(index);
    let read = |p: &str| {
        let abs = spot_assist::edit::check_path(index.root(), p).ok()?;
        std::fs::read_to_string(abs).ok()
    };
    let ws = Workspace {
        index: &index,
        read: &read,
        history: history.as_ref(),
    };
    let patch_opts = PatchOptions {
        scratch_dir: Some(scratch),
        ..opts.patch.clone()
    };
    let result = issue_to_patch(
        &ws,
        opts.model,
        &cand.message,
        None,
        &patch_opts,
        cancel,
        &mut |_| {},
    );
    let mut case = new_case(cand);
    let patch = record(&mut case, cand, result)?;
    case.seconds = started.elapsed().as_secs_f64();
    case.failing_before = failing;
    // The independent check: the patch over the buggy tree, the command as it is.
    if let Some(edits) = patch {
        let passes = run.with_edits(&edits).map_err(tests_err)? == Outcome::Pass;
        case.plausible = Some(passes);
        case.wrong_verdict = case.verdict == Some(Verdict::FixesFailingTests) && !passes;
    } else {
        case.plausible = Some(false);
    }
    Ok(Some(case))
}

/// Which commits qualify as cases for a repository and test command, kept between runs under
/// `<data>/eval/qualify/` (a run of the tests per commit is the slow part of mining cases).
struct QualifyCache {
    path: Option<PathBuf>,
    repo: String,
    test_cmd: String,
    entries: BTreeMap<String, bool>,
}

#[derive(Serialize, Deserialize)]
struct QualifyFile {
    repo: String,
    test_cmd: String,
    qualified: BTreeMap<String, bool>,
}

impl QualifyCache {
    fn open(data_dir: &Path, root: &Path, cmd: Option<&str>) -> QualifyCache {
        let Some(cmd) = cmd else {
            return QualifyCache {
                path: None,
                repo: String::new(),
                test_cmd: String::new(),
                entries: BTreeMap::new(),
            };
        };
        let key = xxhash_rust::xxh3::xxh3_64(format!("{}\0{cmd}", root.display()).as_bytes());
        let path = data_dir
            .join("eval")
            .join("qualify")
            .join(format!("{key:016x}.json"));
        let entries = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<QualifyFile>(&t).ok())
            .map(|f| f.qualified)
            .unwrap_or_default();
        QualifyCache {
            path: Some(path),
            repo: root.display().to_string(),
            test_cmd: cmd.to_owned(),
            entries,
        }
    }

    fn get(&self, commit: &str) -> Option<bool> {
        self.entries.get(commit).copied()
    }

    /// Records a commit's qualification, kept at once (a long mining run may be stopped).
    fn set(&mut self, commit: &str, qualified: bool) {
        self.entries.insert(commit.to_owned(), qualified);
        self.save();
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        let file = QualifyFile {
            repo: self.repo.clone(),
            test_cmd: self.test_cmd.clone(),
            qualified: self.entries.clone(),
        };
        let saved = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
                std::fs::write(path, text)
            });
        if let Err(e) = saved {
            tracing::warn!(
                "could not keep the qualified cases in {}: {e}",
                path.display()
            );
        }
    }
}
