//! `spot eval patch`: issue-to-patch replayed on the repository's own bug fixes.
//!
//! For each fix commit (newest first; one parent, a fix-like message, 1–3 source files changed,
//! none added or deleted): the index and the files are taken at the parent (from git objects;
//! the work tree is not touched), the commit message is the issue, and spot's issue-to-patch
//! runs with the given model. Reported per case and in total: whether a candidate validated,
//! whether it changed a file the real fix changed, and whether it equals the real fix (every
//! changed file identical, ignoring trailing whitespace).
//!
//! With a test command, each case is also judged by the fix's own tests: the fix commit's tree
//! is written out under spot's scratch dir with the fixed source files put back to the parent's
//! (the tests the fix added stay), and the command runs there three ways: as it is (the tests
//! must fail), with the real fix (they must pass: the case can be judged) and with spot's
//! patch. The work tree is never used.

use std::path::Path;

use serde::Serialize;

use crate::git::{GitError, Repo};
use crate::history::{is_fix_message, read_history, HISTORY_DEPTH};
use crate::snapshot::{materialize_in_scratch, Snapshot};
use spot_assist::edit::FileEdit;
use spot_assist::localize::is_test_path;
use spot_assist::patch::{issue_to_patch, PatchError, PatchOptions, PatchSource, Workspace};
use spot_assist::testrun::{Outcome, TestRun};
use spot_base::cancel::CancelToken;
use spot_index::Lang;
use spot_model::{Model, ModelError};

#[derive(Debug, Clone, Serialize)]
pub struct PatchCase {
    pub commit: String,
    pub subject: String,
    pub gold_files: Vec<String>,
    /// A candidate validated.
    pub valid: bool,
    /// The valid patch changed a file the real fix changed.
    pub right_file: bool,
    /// The valid patch is the real fix.
    pub exact: bool,
    /// The valid patch is a one-line edit ranked by the model, not one of its answers.
    pub one_line_edit: bool,
    /// With a test command: the fix's tests fail on the buggy tree and pass with the real fix,
    /// so they can judge a patch.
    pub tests_judge: bool,
    /// With a test command, on a case the tests judge: the valid patch passes them.
    pub tests_pass: Option<bool>,
    pub candidates: usize,
    pub files: Vec<String>,
    /// Why no candidate validated, or the error.
    pub error: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatchReport {
    pub repo: String,
    pub model: String,
    pub cases: Vec<PatchCase>,
    pub valid: usize,
    pub right_file: usize,
    pub exact: usize,
    /// Valid patches that were one-line edits.
    pub one_line_edits: usize,
    /// The test command, if any.
    pub test_cmd: Option<String>,
    /// Cases the fix's tests can judge (fail before, pass with the real fix).
    pub tests_judged: usize,
    /// Valid patches that pass the fix's tests, among those cases.
    pub tests_passed: usize,
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

/// Runs the replay on the repository at `root` with `model`; `progress(done, total)` per case.
pub fn eval_patch(
    root: &Path,
    model: &Model,
    limit: usize,
    opts: &PatchOptions,
    cancel: &CancelToken,
    progress: &dyn Fn(usize, usize),
) -> Result<PatchReport, EvalPatchError> {
    let repo = Repo::new(root);
    let scanned = (limit * 20).max(200);
    // The test command judges patches here (on the fix's tree); the live gate of
    // issue-to-patch would run it on the work tree, which is not the parent's.
    let generate = PatchOptions {
        test_cmd: None,
        ..opts.clone()
    };
    let mut snap = Snapshot::new(&repo)?;
    let mut cases = Vec::new();
    let candidates: Vec<_> = repo
        .log(scanned)?
        .into_iter()
        .filter(|c| c.parents.len() == 1 && is_fix_message(&c.message))
        .collect();
    for c in candidates {
        if cases.len() >= limit {
            break;
        }
        let gold: Vec<String> = c
            .files
            .iter()
            .filter(|p| Lang::from_path(Path::new(p)).is_some() && !is_test_path(p))
            .cloned()
            .collect();
        if gold.is_empty() || gold.len() > 3 {
            continue;
        }
        let parent = c.parents[0].clone();
        let mut fixed = Vec::new();
        for p in &gold {
            match (snap.read(&parent, p)?, snap.read(&c.id, p)?) {
                (Some(_), Some(after)) => fixed.push((p.clone(), after)),
                _ => break,
            }
        }
        if fixed.len() != gold.len() {
            continue;
        }
        progress(cases.len(), limit);
        snap.checkout(&parent)?;
        let started = std::time::Instant::now();
        let read = |p: &str| snap.read(&parent, p).ok().flatten();
        // The past as the parent knew it.
        let history = read_history(root, &parent, HISTORY_DEPTH).ok();
        let ws = Workspace {
            index: snap.index(),
            read: &read,
            history: history.as_ref(),
        };
        let result = issue_to_patch(&ws, model, &c.message, None, &generate, cancel, &mut |_| {});
        let mut case = PatchCase {
            commit: c.id.clone(),
            subject: c.message.lines().next().unwrap_or_default().to_owned(),
            gold_files: gold.clone(),
            valid: false,
            right_file: false,
            exact: false,
            one_line_edit: false,
            tests_judge: false,
            tests_pass: None,
            candidates: 0,
            files: Vec::new(),
            error: None,
            seconds: 0.0,
        };
        let result_edits: Option<Vec<FileEdit>> = result.as_ref().ok().map(|p| p.edits.clone());
        match result {
            Ok(patch) => {
                case.valid = true;
                case.one_line_edit = matches!(patch.source, PatchSource::OneLineEdit { .. });
                case.candidates = patch.candidates;
                case.files = patch.edits.iter().map(|e| e.path.clone()).collect();
                case.right_file = patch.edits.iter().any(|e| gold.contains(&e.path));
                case.exact = patch.edits.len() == fixed.len()
                    && fixed.iter().all(|(p, after)| {
                        patch
                            .edits
                            .iter()
                            .any(|e| e.path == *p && same_text(&e.after, after))
                    });
            }
            Err(PatchError::Cancelled) => return Err(EvalPatchError::Cancelled),
            Err(PatchError::Model(e)) => return Err(e.into()),
            Err(e) => {
                case.candidates = opts.candidates;
                case.error = Some(e.to_string());
            }
        }
        if let Some(cmd) = &opts.test_cmd {
            let buggy: Vec<(String, String)> = gold
                .iter()
                .filter_map(|p| Some((p.clone(), snap.read(&parent, p).ok().flatten()?)))
                .collect();
            let patch = result_edits.as_deref();
            let judged = judge(&repo, &c.id, &fixed, &buggy, patch, cmd, opts).map_err(|err| {
                EvalPatchError::Tests {
                    commit: c.id.clone(),
                    err,
                }
            })?;
            case.tests_judge = judged.0;
            case.tests_pass = judged.1;
        }
        case.seconds = started.elapsed().as_secs_f64();
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(EvalPatchError::NoCases(scanned));
    }
    progress(cases.len(), cases.len());
    Ok(PatchReport {
        repo: root.display().to_string(),
        model: model.dir().display().to_string(),
        valid: cases.iter().filter(|c| c.valid).count(),
        right_file: cases.iter().filter(|c| c.right_file).count(),
        exact: cases.iter().filter(|c| c.exact).count(),
        one_line_edits: cases.iter().filter(|c| c.one_line_edit).count(),
        test_cmd: opts.test_cmd.clone(),
        tests_judged: cases.iter().filter(|c| c.tests_judge).count(),
        tests_passed: cases.iter().filter(|c| c.tests_pass == Some(true)).count(),
        cases,
    })
}

/// Runs `cmd` on the fix commit's tree with the fixed files put back to the buggy versions:
/// as it is, with the real fix, and with `patch`. Returns whether the tests judge the case (fail
/// before, pass with the fix) and, when they do and there is a patch, whether it passes.
fn judge(
    repo: &Repo,
    commit: &str,
    fixed: &[(String, String)],
    buggy: &[(String, String)],
    patch: Option<&[FileEdit]>,
    cmd: &str,
    opts: &PatchOptions,
) -> std::io::Result<(bool, Option<bool>)> {
    let dir = materialize_in_scratch(repo, commit, opts.scratch_dir.as_deref(), "eval-tests-")?;
    for (path, text) in buggy {
        std::fs::write(dir.path().join(path), text)?;
    }
    let run = TestRun::in_dir(dir, cmd);
    let as_edits = |after: &[(String, String)]| -> Vec<FileEdit> {
        after
            .iter()
            .filter_map(|(path, text)| {
                let before = buggy.iter().find(|(p, _)| p == path)?.1.clone();
                Some(FileEdit {
                    path: path.clone(),
                    before,
                    after: text.clone(),
                    created: false,
                })
            })
            .collect()
    };
    let fails_before = run.baseline()? != Outcome::Pass;
    let fix_passes = run.with_edits(&as_edits(fixed))? == Outcome::Pass;
    if !(fails_before && fix_passes) {
        return Ok((false, None));
    }
    let Some(edits) = patch else {
        return Ok((true, None));
    };
    let after: Vec<(String, String)> = edits
        .iter()
        .map(|e| (e.path.clone(), e.after.clone()))
        .collect();
    // A patch may touch a file the fix did not: write it over the buggy tree as it is.
    let mut all = as_edits(&after);
    for e in edits {
        if !all.iter().any(|a| a.path == e.path) {
            all.push(e.clone());
        }
    }
    Ok((true, Some(run.with_edits(&all)? == Outcome::Pass)))
}
