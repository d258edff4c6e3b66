//! The analysis host: one per workspace, the single entry point through which the LSP server and
//! the command line ask for assists (rust-analyzer's `AnalysisHost` is the model).
//!
//! It owns what every assist needs and the shells used to build each for themselves:
//! - the workspace [`Index`];
//! - a [`Buffers`] reader, so text open in the editor wins over the disk (the CLI has none);
//! - the repository history for localization, read through a [`HistorySource`] and cached by
//!   the commit HEAD points at (re-read only when HEAD moves: a localization or a code-action
//!   resolve no longer runs `git log` every time);
//! - the [`ModelSlot`] (lazy load, hot swap, status, a cheap probe at start);
//! - the [`Jobs`] registry (typed stages, cancellation, status).
//!
//! Its calls — [`AnalysisHost::localize`], [`AnalysisHost::issue_to_patch`],
//! [`AnalysisHost::code_actions`] — take plain requests and return plain structs; the shells
//! convert and print, nothing else. Learning sits above this crate (`spot-learn`); the shells run
//! it and call [`ModelSlot::refresh`] when it installs a model.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use spot_index::{walk, Index};

use crate::actions::{self, ActionDiagnostic, CodeActionSpec};
use crate::edit;
use crate::jobs::{JobGuard, JobStage, Jobs};
use crate::localize::{localize_with, History, Localization, LocalizeOptions, Sources};
use crate::patch::{issue_to_patch, Patch, PatchError, PatchOptions, Workspace};
use crate::prompt::Focus;
use crate::slot::ModelSlot;

/// The text of files open in an editor, by workspace-relative path; `None` for a closed file.
pub trait Buffers: Send + Sync {
    fn text(&self, rel: &str) -> Option<String>;
}

/// No editor: every file is read from the disk.
pub struct NoBuffers;

impl Buffers for NoBuffers {
    fn text(&self, _rel: &str) -> Option<String> {
        None
    }
}

/// The repository history localization reads (spot-learn reads it from git).
pub trait HistorySource: Send + Sync {
    /// What the history depends on, cheaply (the commit HEAD points at); `None` outside a
    /// repository.
    fn head(&self, root: &Path) -> Option<String>;
    /// The history at that state; `None` when there is none to read.
    fn read(&self, root: &Path) -> Option<History>;
}

/// The workspace's parts, as a shell assembles them.
pub struct HostParts {
    pub buffers: Box<dyn Buffers>,
    /// `None`: no history signals.
    pub history: Option<Box<dyn HistorySource>>,
    pub model: ModelSlot,
    /// Where scratch copies (a patch's test runs) go: under spot's data dir.
    pub scratch_dir: PathBuf,
}

/// See the module docs.
pub struct AnalysisHost {
    index: Arc<Index>,
    buffers: Box<dyn Buffers>,
    history_source: Option<Box<dyn HistorySource>>,
    /// The history read at a HEAD.
    history: Mutex<Option<(String, Option<Arc<History>>)>>,
    model: ModelSlot,
    jobs: Jobs,
    scratch_dir: PathBuf,
}

impl AnalysisHost {
    pub fn new(index: Arc<Index>, parts: HostParts) -> AnalysisHost {
        AnalysisHost {
            index,
            buffers: parts.buffers,
            history_source: parts.history,
            history: Mutex::new(None),
            model: parts.model,
            jobs: Jobs::default(),
            scratch_dir: parts.scratch_dir,
        }
    }

    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    pub fn model(&self) -> &ModelSlot {
        &self.model
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// A workspace file's current text: the editor's buffer when open, else the disk (within
    /// the index's size limit; never through a symlink or into version-control metadata).
    pub fn read(&self, rel: &str) -> Option<String> {
        if let Some(text) = self.buffers.text(rel) {
            return Some(text);
        }
        let abs = edit::check_path(self.index.root(), rel).ok()?;
        walk::read_text(&abs, self.index.options().max_file_size)
            .ok()
            .map(|l| l.text)
    }

    /// The repository's history at HEAD, read once per HEAD.
    pub fn history(&self) -> Option<Arc<History>> {
        let source = self.history_source.as_ref()?;
        let root = self.index.root();
        let head = source.head(root)?;
        let mut cached = self.history.lock();
        if let Some((at, history)) = &*cached {
            if *at == head {
                return history.clone();
            }
        }
        let history = source.read(root).map(Arc::new);
        *cached = Some((head, history.clone()));
        history
    }

    /// Files and functions `issue` is about (no model).
    pub fn localize(&self, issue: &str, opts: &LocalizeOptions) -> Localization {
        let history = self.history();
        let read = |rel: &str| self.read(rel);
        let sources = Sources {
            text: &read,
            history: history.as_deref(),
        };
        localize_with(&self.index, &sources, issue, opts)
    }

    /// Issue-to-patch (and a code action's fix, with `focus`) under `job`: loads the model,
    /// then runs [`issue_to_patch`], reporting each stage on the job and to `progress`.
    pub fn issue_to_patch(
        &self,
        issue: &str,
        focus: Option<&Focus>,
        opts: PatchOptions,
        job: &JobGuard,
        progress: &mut dyn FnMut(&JobStage),
    ) -> Result<Patch, PatchError> {
        self.run_patch(issue, focus, opts, job, progress, true)
    }

    /// [`AnalysisHost::issue_to_patch`] without a model: with a test command, the one-line
    /// edits the tests judge; without one, nothing to do.
    pub fn issue_to_patch_without_model(
        &self,
        issue: &str,
        focus: Option<&Focus>,
        opts: PatchOptions,
        job: &JobGuard,
        progress: &mut dyn FnMut(&JobStage),
    ) -> Result<Patch, PatchError> {
        self.run_patch(issue, focus, opts, job, progress, false)
    }

    fn run_patch(
        &self,
        issue: &str,
        focus: Option<&Focus>,
        opts: PatchOptions,
        job: &JobGuard,
        progress: &mut dyn FnMut(&JobStage),
        use_model: bool,
    ) -> Result<Patch, PatchError> {
        let cancel = job.cancel_token();
        let mut report = |stage: JobStage| {
            progress(&stage);
            job.set_stage(stage);
        };
        if use_model {
            report(JobStage::LoadingModel);
        }
        // With a test command the tested one-line edits need no model: go on without one.
        let loaded = if use_model {
            self.model.get(&|| self.jobs.touch())
        } else {
            Err("no model (--no-model)".to_owned())
        };
        let model = match loaded {
            Ok(m) => Some(m),
            Err(why) if opts.test_cmd.is_some() => {
                tracing::warn!("{why}; trying the tested edits only");
                None
            }
            Err(why) => return Err(PatchError::NoModel { why }),
        };
        let no_model = self.model.state();
        if cancel.is_cancelled() {
            return Err(PatchError::Cancelled);
        }
        let opts = PatchOptions {
            scratch_dir: opts.scratch_dir.or_else(|| Some(self.scratch_dir.clone())),
            ..opts
        };
        let history = self.history();
        let read = |rel: &str| self.read(rel);
        let ws = Workspace {
            index: &self.index,
            read: &read,
            history: history.as_deref(),
        };
        let result = issue_to_patch(
            &ws,
            model.as_deref(),
            issue,
            focus,
            &opts,
            &cancel,
            &mut |stage| report(stage),
        );
        match result {
            Err(PatchError::NoValidPatch {
                tried,
                mut reasons,
                prompt,
            }) if model.is_none() => {
                if let crate::slot::ModelState::Unavailable { error, .. } = no_model {
                    reasons.push(format!("no model answers: {error}"));
                }
                Err(PatchError::NoValidPatch {
                    tried,
                    reasons,
                    prompt,
                })
            }
            other => other,
        }
    }

    /// The code actions at `line` of `rel` (cheap: no model, no tests): a fix for each of the
    /// editor's diagnostics there; when `invoked` (the user asked for actions, rather than the
    /// editor computing a lightbulb), a fix of the function around the line; and, when `tests`
    /// (a test command is set) and the line is in a test function, a fix of that failing test.
    pub fn code_actions(
        &self,
        rel: &str,
        line: u32,
        diagnostics: &[ActionDiagnostic],
        invoked: bool,
        tests: bool,
    ) -> Vec<CodeActionSpec> {
        actions::list(
            &self.index,
            rel,
            line,
            diagnostics,
            actions::Offer { invoked, tests },
        )
    }
}
