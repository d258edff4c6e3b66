//! The workspace's analysis host (`spot_assist::host`) as the server builds it, and the
//! bookkeeping around it: the open buffers ([`LspBuffers`]), the model directory and runtime from
//! the settings ([`LspModelSource`]), the git history at HEAD; the jobs' progress and
//! cancellation; `spot/status`.
//!
//! The host exists once the workspace index does (at `initialize`, or at the first `didOpen`
//! when the client sent no root). `spot/status` is a snapshot taken where something changed
//! (a job's stage, the model's state, the index, learning) and sent in order by one task, never
//! twice the same; the jobs registry's listener takes one on every change.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use tower_lsp_server::ls_types::{NumberOrString, ProgressToken, Uri};
use tower_lsp_server::Client;

use super::config::{ProviderSetting, Settings};
use super::docs::Documents;
use super::ext;
use super::server::{Backend, State};
use spot_assist::host::{AnalysisHost, Buffers, HistorySource, HostParts};
use spot_assist::jobs::{JobGuard, JobKind, JobStage};
use spot_assist::slot::{ModelSlot, ModelSource, ModelState};
use spot_base::cancel::CancelToken;
use spot_index::Index;
use spot_model::{Provider, RuntimeOptions};

/// The editor's open documents, by workspace-relative path.
pub struct LspBuffers {
    docs: Arc<Documents>,
    root: PathBuf,
}

impl Buffers for LspBuffers {
    fn text(&self, rel: &str) -> Option<String> {
        let uri = Uri::from_file_path(self.root.join(rel))?;
        self.docs.get(&uri).map(|d| d.text.to_string())
    }
}

/// The model directory and runtime options in effect, read from the settings each time.
pub struct LspModelSource {
    settings: Arc<RwLock<Settings>>,
    data_dir: PathBuf,
    /// The workspace root, for its learned model.
    root: Option<PathBuf>,
    /// The last warning about the `backend` setting (an unset key variable), logged once.
    backend_warning: parking_lot::Mutex<Option<String>>,
}

impl LspModelSource {
    pub fn new(settings: Arc<RwLock<Settings>>, data_dir: PathBuf, root: Option<PathBuf>) -> Self {
        LspModelSource {
            settings,
            data_dir,
            root,
            backend_warning: parking_lot::Mutex::new(None),
        }
    }
}

impl ModelSource for LspModelSource {
    /// The `modelDir` setting, else the workspace's learned model, else the data dir's active
    /// or default model.
    fn dir(&self) -> PathBuf {
        if let Some(dir) = self.settings.read().model_dir.clone() {
            return dir;
        }
        match &self.root {
            Some(root) => spot_learn::store::model_for_workspace(&self.data_dir, root),
            None => spot_model::active_model_dir(&self.data_dir),
        }
    }

    fn runtime(&self) -> RuntimeOptions {
        runtime_options(&self.settings.read(), &self.data_dir)
    }

    /// The `backend` setting: an OpenAI-compatible server instead of the local model (its API
    /// key read from the variable it names; a warning, never the key, is logged once).
    fn backend(&self) -> Option<spot_model::RemoteConfig> {
        let backend = self.settings.read().backend.clone()?;
        let (config, warning) = backend.remote_config();
        let mut last = self.backend_warning.lock();
        if warning.is_some() && *last != warning {
            if let Some(w) = &warning {
                tracing::warn!("{w}");
            }
        }
        *last = warning;
        Some(config)
    }
}

/// How to find and start ONNX Runtime under `settings`.
pub fn runtime_options(settings: &Settings, data_dir: &Path) -> RuntimeOptions {
    RuntimeOptions {
        ort_path: settings.ort_path.clone(),
        env_ort_path: std::env::var_os("ORT_DYLIB_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        data_dir: Some(data_dir.to_path_buf()),
        python_probe: true,
        provider: match settings.provider {
            ProviderSetting::Auto => Provider::Auto,
            ProviderSetting::Cuda => Provider::Cuda,
            ProviderSetting::DirectMl => Provider::DirectMl,
            ProviderSetting::Cpu => Provider::Cpu,
        },
    }
}

/// Trips a token when dropped: a request future dropped (`$/cancelRequest`) stops its work.
pub struct CancelOnDrop(pub CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A work-done progress the server reports under.
pub type Progress =
    tower_lsp_server::OngoingProgress<tower_lsp_server::Unbounded, tower_lsp_server::Cancellable>;

impl Backend {
    pub(super) fn host(&self) -> Option<Arc<AnalysisHost>> {
        self.state.host.read().clone()
    }

    /// The host once the index holds every buffer change received before this call.
    pub(super) async fn synced_host(&self) -> Option<Arc<AnalysisHost>> {
        self.state.reindex.caught_up().await;
        self.host()
    }

    /// Makes `index` the workspace: stores it and builds its host.
    pub(super) fn set_workspace(&self, index: Index) -> Arc<Index> {
        let index = Arc::new(index);
        let root = index.root().to_path_buf();
        let source = LspModelSource::new(
            Arc::clone(&self.state.settings),
            self.state.data_dir.clone(),
            Some(root.clone()),
        );
        let host = AnalysisHost::new(
            Arc::clone(&index),
            HostParts {
                buffers: Box::new(LspBuffers {
                    docs: Arc::clone(&self.state.docs),
                    root,
                }),
                history: Some(Box::new(spot_learn::history::GitHistory {
                    depth: spot_learn::history::HISTORY_DEPTH,
                }) as Box<dyn HistorySource>),
                model: ModelSlot::new(Box::new(source)),
                scratch_dir: spot_base::data_dir::scratch_dir(&self.state.data_dir),
            },
        );
        let weak = WeakBackend {
            client: self.client.clone(),
            state: Arc::downgrade(&self.state),
        };
        host.jobs().set_listener(move || {
            if let Some(backend) = weak.upgrade() {
                backend.status_changed();
            }
        });
        *self.state.index.write() = Some(Arc::clone(&index));
        *self.state.host.write() = Some(Arc::new(host));
        index
    }

    /// Checks cheaply (no load) whether a model can be expected, so `spot/status` says
    /// "no model" before the first fix is asked for.
    pub(super) async fn probe_model(&self) {
        let Some(host) = self.host() else { return };
        let probed = tokio::task::spawn_blocking(move || host.model().probe()).await;
        if let Ok(Some(problem)) = probed {
            tracing::info!("model: {problem}");
        }
        self.status_changed();
    }

    /// Settings changed or learning installed a model: forget a stale model, probe the new one.
    pub(super) async fn model_dir_changed(&self) {
        if let Some(host) = self.host() {
            host.model().refresh();
            self.probe_model().await;
        }
    }

    /// The status now.
    pub(super) fn status(&self) -> ext::Status {
        let index = match self.index() {
            None => ext::IndexStatus {
                state: ext::IndexState::None,
                files: None,
                symbols: None,
                root: None,
                pending_changes: None,
            },
            Some(ix) => {
                let totals = ix.totals();
                ext::IndexStatus {
                    state: if self.state.index_ready.load(Ordering::Relaxed) {
                        ext::IndexState::Ready
                    } else {
                        ext::IndexState::Building
                    },
                    files: Some(totals.files),
                    symbols: Some(totals.symbols),
                    root: Some(ix.root().display().to_string()),
                    pending_changes: Some(self.state.reindex.behind()),
                }
            }
        };
        let host = self.host();
        let model = match &host {
            Some(host) => host.model().state(),
            None => ModelState::Unloaded {
                dir: LspModelSource::new(
                    Arc::clone(&self.state.settings),
                    self.state.data_dir.clone(),
                    None,
                )
                .dir(),
                problem: None,
            },
        };
        let jobs = host
            .map(|h| {
                h.jobs()
                    .list()
                    .into_iter()
                    .map(|j| ext::Job {
                        id: j.id,
                        kind: match j.kind {
                            JobKind::IssueToPatch => ext::JobKind::IssueToPatch,
                            JobKind::CodeAction => ext::JobKind::CodeAction,
                            JobKind::Learn => ext::JobKind::Learn,
                        },
                        stage: j.stage.name().to_owned(),
                        message: j.stage.describe(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let provider = format!("{:?}", self.state.settings.read().provider).to_lowercase();
        ext::Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            index,
            model: model_status(model, provider),
            jobs,
            learn: self.state.learn.status(),
        }
    }

    /// Takes a status snapshot for the client; the sending task drops it if nothing changed.
    pub(super) fn status_changed(&self) {
        let _ = self.state.status_tx.send(self.status());
    }

    /// Starts the task that sends `spot/status` in order, skipping repeats (once, at
    /// `initialize`).
    pub(super) fn start_status_sender(&self) {
        let Some(mut rx) = self.state.status_rx.lock().take() else {
            return;
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            let mut last: Option<ext::Status> = None;
            while let Some(status) = rx.recv().await {
                if last.as_ref() == Some(&status) {
                    continue;
                }
                last = Some(status.clone());
                client
                    .send_notification::<ext::StatusNotification>(status)
                    .await;
            }
        });
    }

    /// Trips every job's cancel token (`spot.cancel`, the client going away); how many.
    pub(super) fn cancel_jobs(&self) -> usize {
        self.host().map_or(0, |h| h.jobs().cancel_all())
    }

    /// `window/workDoneProgress/cancel`: cancels the job that reports under that token.
    pub async fn progress_cancel(
        &self,
        params: tower_lsp_server::ls_types::WorkDoneProgressCancelParams,
    ) {
        if let Some(host) = self.host() {
            host.jobs().cancel_progress(&token_key(&params.token));
        }
    }

    /// Begins `job`'s work-done progress under `token` (the client's, or one the server
    /// creates: `None` when the client refuses it, does not answer in time or the job is
    /// cancelled while waiting).
    pub(super) async fn begin_progress(
        &self,
        job: &JobGuard,
        client_token: Option<ProgressToken>,
        title: &str,
    ) -> Option<Progress> {
        let token = match client_token {
            Some(t) => t,
            None if self.state.progress_supported.load(Ordering::Relaxed) => {
                let token = NumberOrString::String(format!("spot/job/{}", job.id()));
                if !self
                    .create_progress(token.clone(), &job.cancel_token())
                    .await
                {
                    return None;
                }
                token
            }
            None => return None,
        };
        job.set_progress(Some(token_key(&token)));
        Some(
            self.client
                .progress(token, title)
                .with_cancel_button()
                .begin()
                .await,
        )
    }

    /// Reports `stage` on a progress, when there is one.
    pub(super) async fn report(progress: Option<&Progress>, stage: &JobStage) {
        if let Some(p) = progress {
            p.report_with_message(stage.describe(), None).await;
        }
    }
}

/// The server without keeping it alive: what the jobs' listener holds (the host holds the
/// listener, the server the host).
struct WeakBackend {
    client: Client,
    state: Weak<State>,
}

impl WeakBackend {
    fn upgrade(&self) -> Option<Backend> {
        Some(Backend {
            client: self.client.clone(),
            state: self.state.upgrade()?,
        })
    }
}

fn token_key(token: &ProgressToken) -> String {
    match token {
        NumberOrString::String(s) => s.clone(),
        NumberOrString::Number(n) => n.to_string(),
    }
}

fn model_status(state: ModelState, provider_setting: String) -> ext::ModelStatus {
    let name = |dir: &Path| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (state, dir, provider, error) = match state {
        ModelState::Unloaded { dir, problem } => (ext::ModelState::Unloaded, dir, None, problem),
        ModelState::Loading { dir } => (ext::ModelState::Loading, dir, None, None),
        ModelState::Ready { dir, provider } => (
            ext::ModelState::Ready,
            dir,
            Some(provider.to_lowercase()),
            None,
        ),
        ModelState::Unavailable { dir, error } => (
            ext::ModelState::Unavailable,
            dir,
            Some(provider_setting),
            Some(error),
        ),
    };
    ext::ModelStatus {
        state,
        name: name(&dir),
        dir: dir.display().to_string(),
        provider,
        error,
    }
}
