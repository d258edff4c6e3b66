//! The repository's past commits as localization reads them: which commits are fixes, and
//! the [`History`] of a revision (its newest non-merge commits, messages cleaned). [`GitHistory`]
//! is the analysis host's history source: it reads HEAD's history from git, and tells the host
//! which commit HEAD is so the host re-reads only when it moves.

use std::path::Path;

use super::git::{Commit, GitError, Repo};
use spot_assist::localize::{message_text, History, PastCommit};

/// How many past commits spot reads by default (`spot localize`, `spot eval localize`).
pub const HISTORY_DEPTH: usize = 2000;

/// Does a commit message read like a bug fix?
pub fn is_fix_message(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.split(|c: char| !c.is_alphanumeric()).any(|w| {
        matches!(
            w,
            "fix"
                | "fixes"
                | "fixed"
                | "fixing"
                | "bug"
                | "bugs"
                | "bugfix"
                | "crash"
                | "crashes"
                | "wrong"
                | "broken"
                | "incorrect"
                | "incorrectly"
                | "fail"
                | "fails"
                | "failing"
                | "failure"
                | "regression"
                | "panic"
                | "panics"
                | "exception"
                | "error"
                | "errors"
                | "mistake"
                | "typo"
        )
    })
}

/// A commit as history: its cleaned message and the files it changed.
pub fn past_commit(c: &Commit) -> PastCommit {
    PastCommit {
        message: message_text(&c.message),
        files: c.files.clone(),
        fix: is_fix_message(&c.message),
    }
}

/// The history of a revision read out of a larger log: the commits of `log` (newest first,
/// `past` their [`PastCommit`]s) that `keep` accepts (the revision's ancestors), at most `depth`.
pub fn history_within(
    log: &[Commit],
    past: &[PastCommit],
    keep: impl Fn(&str) -> bool,
    depth: usize,
) -> History {
    History::new(
        log.iter()
            .zip(past)
            .filter(|(c, _)| keep(&c.id))
            .map(|(_, p)| p.clone())
            .take(depth)
            .collect(),
    )
}

/// The history localization reads for the workspace at `root`: the newest `depth` commits of
/// HEAD; `None` for a depth of 0 or outside a git repository (logged).
pub fn workspace_history(root: &Path, depth: usize) -> Option<History> {
    if depth == 0 {
        return None;
    }
    match read_history(root, "HEAD", depth) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::info!("no history signals: {e}");
            None
        }
    }
}

/// The history the analysis host reads: HEAD's newest `depth` commits from git.
#[derive(Debug, Clone, Copy)]
pub struct GitHistory {
    pub depth: usize,
}

impl spot_assist::host::HistorySource for GitHistory {
    fn head(&self, root: &Path) -> Option<String> {
        if self.depth == 0 {
            return None;
        }
        Repo::new(root).head().ok()
    }

    fn read(&self, root: &Path) -> Option<History> {
        workspace_history(root, self.depth)
    }
}

/// The newest `depth` non-merge commits reachable from `rev` in the repository at `root`.
pub fn read_history(root: &Path, rev: &str, depth: usize) -> Result<History, GitError> {
    let repo = Repo::new(root);
    Ok(History::new(
        repo.log_from(rev, depth)?.iter().map(past_commit).collect(),
    ))
}
