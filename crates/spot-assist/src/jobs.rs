//! The long-running work of a workspace (issue-to-patch, a code-action fix, a learning run), as
//! typed records: what kind, which stage, how to cancel it.
//!
//! A job is registered by [`Jobs::start`] and removed when its [`JobGuard`] drops, however the
//! work ends (a dropped request future included): the guard also trips the job's cancel token,
//! so blocking work started for it stops at its next check. Its token can be a child of another
//! (a code-action resolve is cancelled by its own request and by a newer resolve). Every change
//! calls the registry's listener, which the LSP shell turns into a `spot/status` notification.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use spot_base::cancel::CancelToken;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    IssueToPatch,
    CodeAction,
    Learn,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::IssueToPatch => "issueToPatch",
            JobKind::CodeAction => "codeAction",
            JobKind::Learn => "learn",
        }
    }
}

/// Where a job is. The words of [`JobStage::describe`] are for people; the variant is for
/// programs (`spot/status` sends both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "camelCase")]
pub enum JobStage {
    Starting,
    LoadingModel,
    Localizing,
    /// Running the project's tests: `what` says which run (before any patch, a candidate).
    Testing {
        what: String,
    },
    Generating {
        candidate: usize,
        of: usize,
        tokens: usize,
    },
    Validating {
        candidate: usize,
    },
    /// Scoring or trying candidate edits: `done` of `of`.
    Ranking {
        done: usize,
        of: usize,
    },
    /// A learning run's own stage, in its words.
    Learning {
        message: String,
    },
}

impl JobStage {
    pub fn describe(&self) -> String {
        match self {
            JobStage::Starting => "starting".to_owned(),
            JobStage::LoadingModel => "loading the model".to_owned(),
            JobStage::Localizing => "localizing".to_owned(),
            JobStage::Testing { what } => format!("running the tests: {what}"),
            JobStage::Generating {
                candidate,
                of,
                tokens,
            } => format!("generating: candidate {candidate}/{of}, {tokens} tokens"),
            JobStage::Validating { candidate } => format!("validating candidate {candidate}"),
            JobStage::Ranking { done, of } => format!("trying candidate edits: {done}/{of}"),
            JobStage::Learning { message } => message.clone(),
        }
    }

    /// The stage's name as `spot/status` reports it (`generating`, `testing`, …).
    pub fn name(&self) -> &'static str {
        match self {
            JobStage::Starting => "starting",
            JobStage::LoadingModel => "loadingModel",
            JobStage::Localizing => "localizing",
            JobStage::Testing { .. } => "testing",
            JobStage::Generating { .. } => "generating",
            JobStage::Validating { .. } => "validating",
            JobStage::Ranking { .. } => "ranking",
            JobStage::Learning { .. } => "learning",
        }
    }
}

/// One job as `spot/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    pub id: u64,
    pub kind: JobKind,
    pub stage: JobStage,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    kind: JobKind,
    stage: JobStage,
    cancel: CancelToken,
    /// The client's progress token this job reports under, for its cancel button.
    progress: Option<String>,
}

type Listener = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    entries: Mutex<Vec<Entry>>,
    next: AtomicU64,
    listener: Mutex<Option<Listener>>,
}

impl Inner {
    fn changed(&self) {
        if let Some(listener) = &*self.listener.lock() {
            listener();
        }
    }
}

/// The registry of running jobs; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Jobs(Arc<Inner>);

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list()).finish()
    }
}

impl Jobs {
    /// Calls `listener` after every change (a job started, moved on or ended).
    pub fn set_listener(&self, listener: impl Fn() + Send + Sync + 'static) {
        *self.0.listener.lock() = Some(Box::new(listener));
    }

    /// Registers a job; its token is a child of `parent` when given. The job ends when the
    /// guard drops.
    pub fn start(
        &self,
        kind: JobKind,
        parent: Option<&CancelToken>,
        progress: Option<String>,
    ) -> JobGuard {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let cancel = parent.map_or_else(CancelToken::new, CancelToken::child);
        self.0.entries.lock().push(Entry {
            id,
            kind,
            stage: JobStage::Starting,
            cancel: cancel.clone(),
            progress,
        });
        self.0.changed();
        JobGuard {
            jobs: self.clone(),
            id,
            cancel,
        }
    }

    pub fn list(&self) -> Vec<JobStatus> {
        self.0
            .entries
            .lock()
            .iter()
            .map(|e| JobStatus {
                id: e.id,
                kind: e.kind,
                stage: e.stage.clone(),
            })
            .collect()
    }

    /// Calls the listener: something a job's status shows changed outside the registry (the
    /// model it waits for started loading).
    pub fn touch(&self) {
        self.0.changed();
    }

    /// Cancels every job; returns how many there were.
    pub fn cancel_all(&self) -> usize {
        let entries = self.0.entries.lock();
        for e in entries.iter() {
            e.cancel.cancel();
        }
        entries.len()
    }

    /// Cancels the jobs reporting under the client's progress token `token`.
    pub fn cancel_progress(&self, token: &str) -> usize {
        let entries = self.0.entries.lock();
        let mut n = 0;
        for e in entries
            .iter()
            .filter(|e| e.progress.as_deref() == Some(token))
        {
            e.cancel.cancel();
            n += 1;
        }
        n
    }

    /// Whether a job of `kind` is running (its id).
    pub fn running(&self, kind: JobKind) -> Option<u64> {
        self.0
            .entries
            .lock()
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.id)
    }

    fn set(&self, id: u64, f: impl FnOnce(&mut Entry)) {
        let changed = match self.0.entries.lock().iter_mut().find(|e| e.id == id) {
            Some(e) => {
                let before = (e.stage.clone(), e.progress.clone());
                f(e);
                before != (e.stage.clone(), e.progress.clone())
            }
            None => false,
        };
        if changed {
            self.0.changed();
        }
    }
}

/// A registered job: ends it (and trips its token) when dropped.
pub struct JobGuard {
    jobs: Jobs,
    id: u64,
    cancel: CancelToken,
}

impl JobGuard {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    pub fn set_stage(&self, stage: JobStage) {
        self.jobs.set(self.id, |e| e.stage = stage);
    }

    /// The client's progress token, once the job has one.
    pub fn set_progress(&self, token: Option<String>) {
        self.jobs.set(self.id, |e| e.progress = token);
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.jobs.0.entries.lock().retain(|e| e.id != self.id);
        self.jobs.0.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_job_lives_as_long_as_its_guard_and_reports_its_stage() {
        let jobs = Jobs::default();
        let changes = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&changes);
        jobs.set_listener(move || {
            c.fetch_add(1, Ordering::Relaxed);
        });
        let parent = CancelToken::new();
        let guard = jobs.start(JobKind::CodeAction, Some(&parent), Some("p1".into()));
        guard.set_stage(JobStage::Localizing);
        guard.set_stage(JobStage::Localizing); // no change, no notification
        assert_eq!(
            jobs.list(),
            [JobStatus {
                id: guard.id(),
                kind: JobKind::CodeAction,
                stage: JobStage::Localizing
            }]
        );
        assert_eq!(jobs.running(JobKind::CodeAction), Some(guard.id()));
        let token = guard.cancel_token();
        parent.cancel();
        assert!(token.is_cancelled(), "a newer request cancels the job");
        assert_eq!(jobs.cancel_progress("p1"), 1);
        drop(guard);
        assert!(jobs.list().is_empty());
        assert_eq!(changes.load(Ordering::Relaxed), 3, "start, stage, end");
    }
}
