//! spot's own features in the LSP shell (protocol: docs/lsp-extensions.md):
//! - the model slot: loaded lazily on first use, on the blocking pool, from the `modelDir`
//!   setting or the active model of the data dir; reloaded when that changes (hot swap: requests
//!   in flight keep the model they started with); a failure keeps its reason for `spot.status`
//!   and the index features keep working;
//! - jobs: each long request (issue-to-patch, a code-action resolve) registers a cancel token
//!   and a stage, then asks for work-done progress (a client that does not answer within a few
//!   seconds gets none); `$/cancelRequest` (the future is dropped), `spot.cancel`, the progress
//!   cancel button and the client closing its input all trip it;
//! - the `spot.*` commands, code actions (listed without the model, resolved with it), syntax
//!   error diagnostics of open documents, and the `spot/status` notification.
//!
//! The work itself is `assist::patch`; here are only conversions and bookkeeping.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::{json, Value};
use similar::{DiffTag, TextDiff};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::request::ApplyWorkspaceEdit;
use tower_lsp_server::ls_types::*;

use super::config::{ProviderSetting, Settings};
use super::server::Backend;
use super::{from_proto, to_proto};
use crate::line_index::LineIndex;
use spot_assist::edit::{self, FileEdit};
use spot_assist::localize::{localize_with, LocalizeOptions, Sources};
use spot_assist::patch::{issue_to_patch, Patch, PatchError, PatchOptions, PatchSource, Workspace};
use spot_assist::prompt::{function_at, Focus};
use spot_assist::rerank::RerankOptions;
use spot_base::cancel::CancelToken;
use spot_index::{self as index, Index, Lang};
use spot_model::{Model, Provider, Runtime, RuntimeOptions};

/// The commands of `workspace/executeCommand`.
pub const COMMANDS: &[&str] = &[
    "spot.issueToPatch",
    "spot.localize",
    "spot.status",
    "spot.cancel",
    "spot.learn",
];

/// JSON-RPC `RequestFailed` (LSP 3.17).
const REQUEST_FAILED: i64 = -32803;
/// JSON-RPC `RequestCancelled`.
const REQUEST_CANCELLED: i64 = -32800;
/// How long a document's text must stay unchanged before it is parsed for diagnostics.
const DIAGNOSTICS_DELAY: std::time::Duration = std::time::Duration::from_millis(150);
/// Most syntax errors reported per document.
const MAX_DIAGNOSTICS: usize = 20;

/// The `spot/status` notification.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = Value;
    const METHOD: &'static str = "spot/status";
}

#[derive(Debug, Clone)]
enum ModelState {
    Unloaded,
    Loading(PathBuf),
    Ready(Arc<Model>),
    Unavailable { dir: PathBuf, error: String },
}

#[derive(Debug)]
struct Job {
    id: u64,
    kind: &'static str,
    stage: String,
    cancel: CancelToken,
    progress_token: Option<String>,
}

/// What the client can do, from `initialize`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCaps {
    pub resolve_edit: bool,
    pub change_annotations: bool,
    pub document_changes: bool,
}

/// The assist half of the server state.
pub struct AssistState {
    model: RwLock<ModelState>,
    load_lock: tokio::sync::Mutex<()>,
    jobs: Mutex<Vec<Job>>,
    next_job: AtomicU64,
    /// The code-action resolve running now; a newer one cancels it.
    resolving: Mutex<Option<CancelToken>>,
    last_status: Mutex<Option<Value>>,
    pub caps: RwLock<ClientCaps>,
    /// Open documents with a syntax-diagnostics task waiting for their text to settle.
    diagnostics_due: Mutex<HashSet<Uri>>,
}

impl Default for AssistState {
    fn default() -> Self {
        Self {
            model: RwLock::new(ModelState::Unloaded),
            load_lock: tokio::sync::Mutex::new(()),
            jobs: Mutex::new(Vec::new()),
            next_job: AtomicU64::new(1),
            resolving: Mutex::new(None),
            last_status: Mutex::new(None),
            caps: RwLock::new(ClientCaps::default()),
            diagnostics_due: Mutex::new(HashSet::new()),
        }
    }
}

impl ClientCaps {
    pub fn from_params(params: &InitializeParams) -> ClientCaps {
        let caps = &params.capabilities;
        let code_action = caps
            .text_document
            .as_ref()
            .and_then(|t| t.code_action.as_ref());
        let resolve_edit = code_action
            .and_then(|c| c.resolve_support.as_ref())
            .is_some_and(|r| r.properties.iter().any(|p| p == "edit"));
        let edit = caps
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref());
        ClientCaps {
            resolve_edit,
            change_annotations: edit
                .and_then(|e| e.change_annotation_support.as_ref())
                .is_some(),
            document_changes: edit.and_then(|e| e.document_changes).unwrap_or(false),
        }
    }
}

pub(super) fn failed(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(REQUEST_FAILED),
        message: message.into().into(),
        data: None,
    }
}

fn cancelled() -> Error {
    Error {
        code: ErrorCode::ServerError(REQUEST_CANCELLED),
        message: "cancelled".into(),
        data: None,
    }
}

fn patch_error(e: PatchError) -> Error {
    match e {
        PatchError::Cancelled => cancelled(),
        e => failed(e.to_string()),
    }
}

/// Removes a job when its request ends, however it ends (a dropped future included), and
/// trips its cancel token so the blocking work stops too.
pub(super) struct JobGuard {
    backend: Backend,
    id: u64,
    cancel: CancelToken,
}

impl JobGuard {
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    pub(super) fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.backend
            .state
            .assist
            .jobs
            .lock()
            .retain(|j| j.id != self.id);
        let backend = self.backend.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { backend.push_status().await });
        }
    }
}

/// Arguments of `spot.issueToPatch` and `spot.localize`.
#[derive(Debug, serde::Deserialize)]
struct IssueArgs {
    issue: String,
    #[serde(default = "yes")]
    apply: bool,
    #[serde(default)]
    limit: Option<usize>,
}

fn yes() -> bool {
    true
}

fn issue_args(args: &[Value]) -> Result<IssueArgs> {
    let parsed = match args.first() {
        Some(Value::String(s)) => Ok(IssueArgs {
            issue: s.clone(),
            apply: true,
            limit: None,
        }),
        Some(v @ Value::Object(_)) => serde_json::from_value(v.clone()).map_err(|e| e.to_string()),
        _ => Err("expected [{\"issue\": \"...\"}]".to_owned()),
    };
    match parsed {
        Ok(a) if !a.issue.trim().is_empty() => Ok(a),
        Ok(_) => Err(Error::invalid_params("the issue text is empty")),
        Err(e) => Err(Error::invalid_params(format!("bad arguments: {e}"))),
    }
}

/// Data a listed code action carries to its resolve.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ActionData {
    uri: Uri,
    line: u32,
    issue: String,
}

impl Backend {
    pub(super) fn clone(&self) -> Backend {
        Backend {
            client: self.client.clone(),
            state: Arc::clone(&self.state),
        }
    }

    /// The model directory in effect: the setting, else the workspace's learned model, else the
    /// data dir's active or default model.
    fn model_dir(&self) -> PathBuf {
        if let Some(dir) = self.state.settings.read().model_dir.clone() {
            return dir;
        }
        match self.index() {
            Some(ix) => spot_learn::store::model_for_workspace(&self.state.data_dir, ix.root()),
            None => spot_model::active_model_dir(&self.state.data_dir),
        }
    }

    pub(super) fn runtime_options(&self) -> RuntimeOptions {
        let settings: Settings = self.state.settings.read().clone();
        RuntimeOptions {
            ort_path: settings.ort_path,
            env_ort_path: std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            data_dir: Some(self.state.data_dir.clone()),
            python_probe: true,
            provider: match settings.provider {
                ProviderSetting::Auto => Provider::Auto,
                ProviderSetting::Cuda => Provider::Cuda,
                ProviderSetting::DirectMl => Provider::DirectMl,
                ProviderSetting::Cpu => Provider::Cpu,
            },
        }
    }

    /// The loaded model, loading it first when needed (or when the model dir changed).
    pub(super) async fn model(&self) -> std::result::Result<Arc<Model>, String> {
        let dir = self.model_dir();
        let ready = |state: &ModelState| match state {
            ModelState::Ready(m) if m.dir() == dir => Some(Arc::clone(m)),
            _ => None,
        };
        if let Some(m) = ready(&self.state.assist.model.read()) {
            return Ok(m);
        }
        let _loading = self.state.assist.load_lock.lock().await;
        if let Some(m) = ready(&self.state.assist.model.read()) {
            return Ok(m);
        }
        *self.state.assist.model.write() = ModelState::Loading(dir.clone());
        self.push_status().await;
        let opts = self.runtime_options();
        let load_dir = dir.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let rt = Runtime::init(&opts)?;
            Model::load(&rt, &load_dir)
        })
        .await;
        let (state, result) = match loaded {
            Ok(Ok(model)) => {
                let model = Arc::new(model);
                tracing::info!(
                    "model {} loaded ({:?})",
                    dir.display(),
                    model.info().provider
                );
                (ModelState::Ready(Arc::clone(&model)), Ok(model))
            }
            Ok(Err(err)) => {
                let error = format!("the model could not be loaded: {err}");
                tracing::warn!("{error}");
                (
                    ModelState::Unavailable {
                        dir: dir.clone(),
                        error: error.clone(),
                    },
                    Err(error),
                )
            }
            Err(panic) => {
                let error = format!("loading the model failed: {panic}");
                (
                    ModelState::Unavailable {
                        dir: dir.clone(),
                        error: error.clone(),
                    },
                    Err(error),
                )
            }
        };
        *self.state.assist.model.write() = state;
        self.push_status().await;
        result
    }

    /// Forgets a loaded model whose directory is no longer the one in effect (settings changed
    /// or learning installed a new one); the next request loads the new one.
    pub(super) async fn model_dir_changed(&self) {
        let dir = self.model_dir();
        let stale = match &*self.state.assist.model.read() {
            ModelState::Ready(m) => m.dir() != dir,
            ModelState::Unavailable { dir: d, .. } => *d != dir,
            _ => false,
        };
        if stale {
            *self.state.assist.model.write() = ModelState::Unloaded;
            self.push_status().await;
        }
    }

    /// Registers a job before anything waits on the client, so `spot.cancel` finds it.
    pub(super) fn start_job(&self, kind: &'static str) -> JobGuard {
        let id = self.state.assist.next_job.fetch_add(1, Ordering::Relaxed);
        let cancel = CancelToken::new();
        self.state.assist.jobs.lock().push(Job {
            id,
            kind,
            stage: "starting".to_owned(),
            cancel: cancel.clone(),
            progress_token: None,
        });
        JobGuard {
            backend: self.clone(),
            id,
            cancel,
        }
    }

    pub(super) fn set_stage(&self, id: u64, stage: &str) {
        if let Some(j) = self
            .state
            .assist
            .jobs
            .lock()
            .iter_mut()
            .find(|j| j.id == id)
        {
            stage.clone_into(&mut j.stage);
        }
    }

    /// Trips every job's cancel token (`spot.cancel`, the client going away); how many.
    pub(super) fn cancel_jobs(&self) -> usize {
        let jobs = self.state.assist.jobs.lock();
        for j in jobs.iter() {
            j.cancel.cancel();
        }
        jobs.len()
    }

    /// `window/workDoneProgress/cancel`: cancels the job that reports under that token.
    pub async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        let token = match params.token {
            NumberOrString::String(s) => s,
            NumberOrString::Number(n) => n.to_string(),
        };
        for job in self.state.assist.jobs.lock().iter() {
            if job.progress_token.as_deref() == Some(token.as_str()) {
                job.cancel.cancel();
            }
        }
    }

    pub(super) fn status_value(&self) -> Value {
        let index = match self.state.index.read().as_ref() {
            None => json!({"state": "none"}),
            Some(ix) => {
                let totals = ix.totals();
                json!({
                    "state": if self.state.index_ready.load(Ordering::Relaxed) { "ready" } else { "building" },
                    "files": totals.files,
                    "symbols": totals.symbols,
                    "root": ix.root(),
                    "pendingChanges": self.state.reindex.behind(),
                })
            }
        };
        let provider = self.runtime_options().provider;
        let model = match &*self.state.assist.model.read() {
            ModelState::Unloaded => {
                let dir = self.model_dir();
                json!({"state": "unloaded", "dir": dir, "name": dir_name(&dir)})
            }
            ModelState::Loading(dir) => {
                json!({"state": "loading", "dir": dir, "name": dir_name(dir)})
            }
            ModelState::Ready(m) => {
                let info = m.info();
                json!({"state": "ready", "dir": info.dir, "name": dir_name(&info.dir), "provider": info.provider})
            }
            ModelState::Unavailable { dir, error } => json!({
                "state": "unavailable", "dir": dir, "name": dir_name(dir), "provider": provider, "error": error
            }),
        };
        let jobs: Vec<Value> = self
            .state
            .assist
            .jobs
            .lock()
            .iter()
            .map(|j| json!({"id": j.id, "kind": j.kind, "stage": j.stage}))
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "index": index,
            "model": model,
            "jobs": jobs,
            "learn": self.state.learn.status(),
        })
    }

    /// Sends `spot/status` when the status differs from the last one sent.
    pub(super) async fn push_status(&self) {
        let status = self.status_value();
        {
            let mut last = self.state.assist.last_status.lock();
            if last.as_ref() == Some(&status) {
                return;
            }
            *last = Some(status.clone());
        }
        self.client
            .send_notification::<StatusNotification>(status)
            .await;
    }

    /// `workspace/executeCommand`.
    pub(super) async fn execute(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let args = params.arguments;
        match params.command.as_str() {
            "spot.issueToPatch" => {
                let a = issue_args(&args)?;
                self.issue_to_patch_command(a, params.work_done_progress_params.work_done_token)
                    .await
                    .map(Some)
            }
            "spot.localize" => {
                let a = issue_args(&args)?;
                self.localize_command(a).await.map(Some)
            }
            "spot.status" => Ok(Some(self.status_value())),
            "spot.cancel" => Ok(Some(json!({"cancelled": self.cancel_jobs()}))),
            "spot.learn" => self.learn_command(&args).await.map(Some),
            other => Err(Error::invalid_params(format!(
                "unknown command `{other}` (spot's commands: {})",
                COMMANDS.join(", ")
            ))),
        }
    }

    async fn localize_command(&self, a: IssueArgs) -> Result<Value> {
        let index = self
            .synced_index()
            .await
            .ok_or_else(|| failed("no workspace folder is open"))?;
        let opts = LocalizeOptions {
            max_files: a.limit.unwrap_or(10),
            max_functions: a.limit.unwrap_or(10),
            ..LocalizeOptions::default()
        };
        let backend = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            // With the repository's history when it is a git repository (similar past fixes,
            // files often fixed, co-change); the buffers as the editor has them.
            let history = spot_learn::history::workspace_history(
                index.root(),
                spot_learn::history::HISTORY_DEPTH,
            );
            let read = |rel: &str| backend.current_text(&index, rel);
            let sources = Sources {
                text: &read,
                history: history.as_ref(),
            };
            let loc = localize_with(&index, &sources, &a.issue, &opts);
            let root = index.root().to_path_buf();
            let files: Vec<Value> = loc
                .files
                .iter()
                .map(|f| json!({"path": f.path, "uri": to_proto::uri(&root, &f.path), "score": f.score, "reason": f.reason}))
                .collect();
            let functions: Vec<Value> = loc
                .functions
                .iter()
                .map(|f| {
                    let range = Range::new(
                        Position::new(f.start_line.saturating_sub(1), 0),
                        Position::new(f.end_line, 0),
                    );
                    json!({"name": f.name, "path": f.path, "uri": to_proto::uri(&root, &f.path), "range": range, "score": f.score})
                })
                .collect();
            json!({"files": files, "functions": functions})
        })
        .await
        .map_err(|e| to_proto::internal_error("spot.localize", e))?;
        Ok(result)
    }

    /// Begins `job`'s work-done progress under `token` (the client's, or one the server
    /// creates: `None` when the client refuses it, does not answer in time or the job is
    /// cancelled while waiting).
    pub(super) async fn begin_progress(
        &self,
        job: &JobGuard,
        client_token: Option<ProgressToken>,
        title: &str,
    ) -> Option<(
        String,
        tower_lsp_server::OngoingProgress<
            tower_lsp_server::Unbounded,
            tower_lsp_server::Cancellable,
        >,
    )> {
        let token = match client_token {
            Some(t) => t,
            None if self.state.progress_supported.load(Ordering::Relaxed) => {
                let token = NumberOrString::String(format!("spot/job/{}", job.id));
                if !self.create_progress(token.clone(), &job.cancel).await {
                    return None;
                }
                token
            }
            None => return None,
        };
        let key = match &token {
            NumberOrString::String(s) => s.clone(),
            NumberOrString::Number(n) => n.to_string(),
        };
        if let Some(j) = self
            .state
            .assist
            .jobs
            .lock()
            .iter_mut()
            .find(|j| j.id == job.id)
        {
            j.progress_token = Some(key.clone());
        }
        let progress = self
            .client
            .progress(token, title)
            .with_cancel_button()
            .begin()
            .await;
        Some((key, progress))
    }

    /// Runs issue-to-patch with progress; the shared core of the command and the code actions.
    async fn run_patch(
        &self,
        issue: String,
        focus: Option<Focus>,
        kind: &'static str,
        client_token: Option<ProgressToken>,
        extra_cancel: Option<CancelToken>,
    ) -> Result<(Patch, Arc<Index>)> {
        let index = self
            .synced_index()
            .await
            .ok_or_else(|| failed("no workspace folder is open"))?;
        let title = format!("spot: {}", first_line(&issue, 60));
        let job = self.start_job(kind);
        if let Some(extra) = extra_cancel {
            let job_cancel = job.cancel.clone();
            tokio::spawn(async move {
                while !job_cancel.is_cancelled() {
                    if extra.is_cancelled() {
                        job_cancel.cancel();
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            });
        }
        let progress = self.begin_progress(&job, client_token, &title).await;
        if job.cancel.is_cancelled() {
            if let Some((_, p)) = progress {
                p.finish_with_message("cancelled").await;
            }
            return Err(cancelled());
        }
        self.set_stage(job.id, "loading the model");
        self.push_status().await;
        if let Some((_, p)) = &progress {
            p.report_with_message("loading the model", None).await;
        }
        let model = match self.model().await {
            Ok(m) => m,
            Err(why) => {
                if let Some((_, p)) = progress {
                    p.finish_with_message("no model").await;
                }
                return Err(failed(format!(
                    "{why}. Localization still works (spot.localize); run fixtures/models/setup.sh \
                     or set spot's modelDir to a model directory"
                )));
            }
        };

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let cancel = job.cancel.clone();
        let backend = self.clone();
        let work_index = Arc::clone(&index);
        let (test_cmd, rerank_files) = {
            let settings = self.state.settings.read();
            (settings.test_command.clone(), settings.rerank as usize)
        };
        let work = tokio::task::spawn_blocking(move || {
            let read = |rel: &str| backend.current_text(&work_index, rel);
            let history = spot_learn::history::workspace_history(
                work_index.root(),
                spot_learn::history::HISTORY_DEPTH,
            );
            let ws = Workspace {
                index: &work_index,
                read: &read,
                history: history.as_ref(),
            };
            let opts = PatchOptions {
                test_cmd: test_cmd.clone(),
                scratch_dir: Some(spot_base::data_dir::scratch_dir(&backend.state.data_dir)),
                rerank: (rerank_files > 1).then(|| RerankOptions {
                    top: rerank_files,
                    ..RerankOptions::default()
                }),
                ..PatchOptions::default()
            };
            issue_to_patch(
                &ws,
                Some(&model),
                &issue,
                focus.as_ref(),
                &opts,
                &cancel,
                &mut |stage| {
                    let _ = tx.send(stage.describe());
                },
            )
        });
        while let Some(stage) = rx.recv().await {
            self.set_stage(job.id, stage_kind(&stage));
            if let Some((_, p)) = &progress {
                p.report_with_message(stage.clone(), None).await;
            }
            self.push_status().await;
        }
        let result = work
            .await
            .map_err(|e| to_proto::internal_error("issue-to-patch", e))?;
        if let Some((_, p)) = progress {
            let message = match &result {
                Ok(patch) => patch.summary(),
                Err(e) => first_line(&e.to_string(), 120),
            };
            p.finish_with_message(message).await;
        }
        drop(job);
        let patch = result.map_err(patch_error)?;
        Ok((patch, index))
    }

    async fn issue_to_patch_command(
        &self,
        a: IssueArgs,
        token: Option<ProgressToken>,
    ) -> Result<Value> {
        let label = format!("spot: {}", first_line(&a.issue, 80));
        let (patch, index) = self
            .run_patch(a.issue, None, "issueToPatch", token, None)
            .await?;
        let edit = self.workspace_edit(&index, &patch.edits, Some(&label));
        let mut result = json!({
            "diff": patch.diff,
            "files": patch.edits.iter().map(|e| &e.path).collect::<Vec<_>>(),
            "edit": edit,
            "candidates": patch.candidates,
            "source": match patch.source {
                PatchSource::Answer => "answer",
                PatchSource::OneLineEdit { .. } => "oneLineEdit",
                PatchSource::TestedEdit { .. } => "testedEdit",
            },
            "tested": patch.tests.as_ref().filter(|_| patch.verdict != spot_assist::repair::Verdict::Unverified).map(|t| t.command.clone()),
            "verdict": patch.verdict,
            "verdictText": patch.verdict_text(),
            "summary": patch.summary(),
        });
        let status = if a.apply {
            let response = self
                .client
                .send_request::<ApplyWorkspaceEdit>(ApplyWorkspaceEditParams {
                    label: Some(label),
                    edit,
                })
                .await
                .map_err(|e| failed(format!("the editor did not take the edit: {e}")))?;
            if response.applied {
                "applied"
            } else {
                if let Some(reason) = response.failure_reason {
                    result["reason"] = json!(reason);
                }
                "rejected"
            }
        } else {
            "proposed"
        };
        result["status"] = json!(status);
        Ok(result)
    }

    /// A file's text as the editor sees it: its buffer when open, else the disk.
    fn current_text(&self, index: &Index, rel: &str) -> Option<String> {
        let abs = edit::check_path(index.root(), rel).ok()?;
        if let Some(uri) = Uri::from_file_path(&abs) {
            if let Some(doc) = self.state.docs.get(&uri) {
                return Some(doc.text.to_string());
            }
        }
        index::walk::read_text(&abs, index.options().max_file_size)
            .ok()
            .map(|l| l.text)
    }

    /// The protocol form of `edits`: versioned document changes when the client supports them
    /// (with a change annotation asking for confirmation, so editors show a preview), plain
    /// changes otherwise. Edits cover changed lines only.
    fn workspace_edit(
        &self,
        index: &Index,
        edits: &[FileEdit],
        label: Option<&str>,
    ) -> WorkspaceEdit {
        let caps = *self.state.assist.caps.read();
        let annotation = (caps.change_annotations && label.is_some()).then(|| "spot".to_owned());
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        let mut document_changes = Vec::new();
        for e in edits {
            let Some(uri) = to_proto::uri(index.root(), &e.path) else {
                continue;
            };
            let text_edits = line_edits(&e.before, &e.after);
            if caps.document_changes {
                if e.created {
                    document_changes.push(DocumentChangeOperation::Op(ResourceOp::Create(
                        CreateFile {
                            uri: uri.clone(),
                            options: Some(CreateFileOptions {
                                overwrite: Some(false),
                                ignore_if_exists: Some(true),
                            }),
                            annotation_id: annotation.clone(),
                        },
                    )));
                }
                let version = self.state.docs.version(&uri);
                document_changes.push(DocumentChangeOperation::Edit(TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier { uri, version },
                    edits: text_edits
                        .into_iter()
                        .map(|te| match &annotation {
                            Some(id) => OneOf::Right(AnnotatedTextEdit {
                                text_edit: te,
                                annotation_id: id.clone(),
                            }),
                            None => OneOf::Left(te),
                        })
                        .collect(),
                }));
            } else {
                changes.insert(uri, text_edits);
            }
        }
        if caps.document_changes {
            WorkspaceEdit {
                document_changes: Some(DocumentChanges::Operations(document_changes)),
                change_annotations: annotation.map(|id| {
                    HashMap::from([(
                        id,
                        ChangeAnnotation {
                            label: label.unwrap_or("spot").to_owned(),
                            needs_confirmation: Some(true),
                            description: Some("a patch proposed by spot's model".to_owned()),
                        },
                    )])
                }),
                ..WorkspaceEdit::default()
            }
        } else {
            WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            }
        }
    }

    /// `textDocument/codeAction`: cheap, no model call.
    pub(super) async fn code_actions(
        &self,
        params: CodeActionParams,
    ) -> Result<Option<CodeActionResponse>> {
        let Some((index, rel, _text, _li)) = self.file_context(&params.text_document.uri).await
        else {
            return Ok(None);
        };
        let uri = params.text_document.uri.clone();
        let resolve = self.state.assist.caps.read().resolve_edit;
        let mut actions = Vec::new();
        for diag in &params.context.diagnostics {
            let message = first_line(&diag.message, 80);
            let issue = format!(
                "{}\n\nReported at {rel}:{}{}.",
                diag.message.trim(),
                diag.range.start.line + 1,
                diag.source
                    .as_ref()
                    .map(|s| format!(" by {s}"))
                    .unwrap_or_default()
            );
            actions.push(self.action(
                format!("Fix with spot: {message}"),
                CodeActionKind::QUICKFIX,
                Some(vec![diag.clone()]),
                ActionData {
                    uri: uri.clone(),
                    line: diag.range.start.line,
                    issue,
                },
                resolve,
            ));
        }
        let line = params.range.start.line;
        if let Some((name, ..)) = function_at(&index, &rel, line) {
            let issue = format!(
                "`{name}` in {rel} does not do what its name, signature and documentation say. \
                 Find the bug in `{name}` and fix it."
            );
            actions.push(self.action(
                format!("Fix `{name}` with spot"),
                CodeActionKind::REFACTOR_REWRITE,
                None,
                ActionData {
                    uri: uri.clone(),
                    line,
                    issue,
                },
                resolve,
            ));
        }
        Ok((!actions.is_empty()).then_some(actions))
    }

    fn action(
        &self,
        title: String,
        kind: CodeActionKind,
        diagnostics: Option<Vec<Diagnostic>>,
        data: ActionData,
        resolve: bool,
    ) -> CodeActionOrCommand {
        let command = (!resolve).then(|| Command {
            title: title.clone(),
            command: "spot.issueToPatch".to_owned(),
            arguments: Some(vec![json!({"issue": data.issue})]),
        });
        CodeActionOrCommand::CodeAction(CodeAction {
            title,
            kind: Some(kind),
            diagnostics,
            command,
            data: resolve.then(|| json!(data)),
            ..CodeAction::default()
        })
    }

    /// `codeAction/resolve`: runs the model; a newer resolve cancels this one.
    pub(super) async fn resolve_action(&self, mut action: CodeAction) -> Result<CodeAction> {
        let Some(data) = action.data.clone() else {
            return Ok(action);
        };
        let data: ActionData = serde_json::from_value(data)
            .map_err(|e| Error::invalid_params(format!("not a spot code action: {e}")))?;
        let index = self
            .synced_index()
            .await
            .ok_or_else(|| failed("no workspace folder is open"))?;
        let rel = from_proto::path(&data.uri)
            .and_then(|p| index.rel_path(&p))
            .ok_or_else(|| failed("the document is not in the workspace"))?;
        let mine = CancelToken::new();
        if let Some(older) = self.state.assist.resolving.lock().replace(mine.clone()) {
            older.cancel();
        }
        let focus = Focus {
            path: rel,
            line: data.line,
        };
        let (patch, index) = self
            .run_patch(data.issue, Some(focus), "codeAction", None, Some(mine))
            .await?;
        action.edit = Some(self.workspace_edit(&index, &patch.edits, None));
        Ok(action)
    }

    /// Publishes the syntax errors tree-sitter finds in an open document, once its text has
    /// been still for a moment, in the background. One task per document: a burst of changes
    /// schedules it once and parses once.
    pub(super) fn publish_syntax_errors(&self, uri: &Uri) {
        if !self.state.assist.diagnostics_due.lock().insert(uri.clone()) {
            return; // the waiting task will see this change
        }
        let backend = self.clone();
        let uri = uri.clone();
        tokio::spawn(async move {
            // Wait until a whole delay passes without a change.
            loop {
                let before = backend.state.docs.version(&uri);
                tokio::time::sleep(DIAGNOSTICS_DELAY).await;
                if backend.state.docs.version(&uri) == before {
                    break;
                }
            }
            // From here a change schedules a new task; the text read below already holds every
            // change made before this line.
            backend.state.assist.diagnostics_due.lock().remove(&uri);
            let Some(doc) = backend.state.docs.get(&uri) else {
                return;
            };
            let Some(lang) = from_proto::path(&uri).and_then(|p| Lang::from_path(&p)) else {
                return;
            };
            let max = backend.state.settings.read().max_file_size;
            let diagnostics = if doc.text.len() as u64 > max {
                Vec::new() // not indexed, not parsed
            } else {
                let text = Arc::clone(&doc.text);
                let li = Arc::clone(&doc.line_index);
                tokio::task::spawn_blocking(move || syntax_diagnostics(lang, &text, &li))
                    .await
                    .unwrap_or_default()
            };
            if backend.state.docs.version(&uri) != Some(doc.version) {
                return; // changed meanwhile: that change's task publishes
            }
            backend
                .client
                .publish_diagnostics(uri, diagnostics, Some(doc.version))
                .await;
        });
    }
}

fn syntax_diagnostics(lang: Lang, text: &str, li: &LineIndex) -> Vec<Diagnostic> {
    let Some(errors) = index::syntax_errors(lang, text, MAX_DIAGNOSTICS) else {
        return Vec::new();
    };
    errors
        .iter()
        .map(|e| {
            let message = if e.what == "error" {
                let snippet: String = text
                    .get(e.start as usize..e.end as usize)
                    .unwrap_or_default()
                    .chars()
                    .take(40)
                    .collect();
                format!("syntax error near `{}`", snippet.trim())
            } else {
                format!("syntax error: {}", e.what)
            };
            Diagnostic {
                range: to_proto::range_in(li, text, e.start, e.end),
                severity: Some(DiagnosticSeverity::ERROR),
                source: Some("spot".to_owned()),
                message,
                ..Diagnostic::default()
            }
        })
        .collect()
}

fn dir_name(dir: &std::path::Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// The stage word of a progress message, for `spot.status` (`generating: candidate 1/3, 16
/// tokens` → `generating`).
fn stage_kind(message: &str) -> &str {
    message.split([':', ' ']).next().unwrap_or(message)
}

/// Line-granular text edits turning `before` into `after`.
fn line_edits(before: &str, after: &str) -> Vec<TextEdit> {
    let diff = TextDiff::from_lines(before, after);
    let new: Vec<&str> = after.split_inclusive('\n').collect();
    // Byte offset of each old line start, plus the end of the text.
    let mut starts = vec![0usize];
    starts.extend(before.match_indices('\n').map(|(i, _)| i + 1));
    if *starts.last().unwrap_or(&0) != before.len() {
        starts.push(before.len());
    }
    let li = LineIndex::new(before);
    let pos = |line: usize| {
        let offset = starts.get(line).copied().unwrap_or(before.len());
        let p = li.to_utf16(before, offset as u32);
        Position::new(p.line, p.col)
    };
    diff.ops()
        .iter()
        .filter(|op| op.tag() != DiffTag::Equal)
        .map(|op| {
            let (o, n) = (op.old_range(), op.new_range());
            TextEdit {
                range: Range::new(pos(o.start), pos(o.end)),
                new_text: new[n].concat(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(before: &str, edits: &[TextEdit]) -> String {
        // Apply back to front, line-based positions (column 0 or end of the last line).
        let li = LineIndex::new(before);
        let mut text = before.to_owned();
        for e in edits.iter().rev() {
            let off = |p: Position| {
                li.to_offset(
                    before,
                    crate::line_index::Utf16Pos {
                        line: p.line,
                        col: p.character,
                    },
                )
                .unwrap_or(before.len() as u32) as usize
            };
            text.replace_range(off(e.range.start)..off(e.range.end), &e.new_text);
        }
        text
    }

    #[test]
    fn line_edits_reproduce_the_new_text() {
        for (before, after) in [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb\nc\n", "a\nc\n"),
            ("a\nb\nc\n", "x\na\nb\nc\ny\n"),
            ("a\nb", "a\nc"),
            ("", "new\n"),
            ("a\n", "a\nb\n"),
        ] {
            assert_eq!(
                apply(before, &line_edits(before, after)),
                after,
                "{before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn first_line_skips_markdown_and_truncates() {
        assert_eq!(
            first_line("# Bulk discount off\nmore", 80),
            "Bulk discount off"
        );
        assert_eq!(first_line("abcdef", 4), "abc…");
    }
}
