//! The `LanguageServer` implementation: each handler converts params, snapshots state, calls
//! the core and converts the result back. Index requests run on the query threads
//! (`workers.rs`), or on the message loop when the workspace is small ([`INLINE_MAX_BYTES`]);
//! other calls that may take time run on the blocking pool.
//!
//! State: the workspace index (shared with the watcher and the initial build) and its analysis
//! host (`host.rs`), open documents, and settings. Requests are answered from whatever the index
//! holds, including during the first build, which reports `$/progress` when the client supports
//! it. A client that sends no workspace folder gets the folder of the first file it opens as the
//! workspace (not the home directory or `/`: then only open files are served).
//!
//! Work never waits on the client to start: a progress token the client has not granted within
//! a few seconds means work without progress ([`Backend::create_progress`]). When the client
//! closes its input without `exit`, [`Backend::client_gone`] cancels every job and the build.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use super::assist::{AssistState, ClientCaps};
use super::config::Settings;
use super::docs::{Document, Documents};
use super::ext;
use super::learn::LearnState;
use super::reindex::Reindex;
use super::workers::{self, Workers};
use super::{from_proto, to_proto};
use crate::line_index::LineIndex;
use spot_assist::host::AnalysisHost;
use spot_base::cancel::CancelToken;
use spot_index::{self as index, navigate, Index, IndexOptions};

/// How often a changed index is written back to the cache.
const SAVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long the server waits for `initialized` before it starts indexing without it.
const INITIALIZED_GRACE: Duration = Duration::from_secs(2);
/// Results returned for workspace/symbol.
const SYMBOL_LIMIT: usize = 128;
/// How long the server waits for the client to answer `window/workDoneProgress/create` before
/// it works without progress: an editor may never answer (seen in the wild), and the work must
/// not wait forever on a progress bar.
const PROGRESS_CREATE_LIMIT: Duration = Duration::from_secs(5);
/// How often a wait on the client checks its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(50);

pub struct Backend {
    pub(super) client: Client,
    pub(super) state: Arc<State>,
}

pub(super) struct State {
    pub(super) data_dir: PathBuf,
    pub(super) index: RwLock<Option<Arc<Index>>>,
    /// The analysis host of that index (`host.rs`), set with it.
    pub(super) host: RwLock<Option<Arc<AnalysisHost>>>,
    /// The client sent no workspace folder: the first `didOpen` picks one (once).
    no_root: AtomicBool,
    /// The initial build was started.
    build_started: AtomicBool,
    /// Held while the index is written to its cache (one save at a time).
    saving: tokio::sync::Mutex<()>,
    /// `spot/status` snapshots on their way to the client (`host.rs`).
    pub(super) status_tx: tokio::sync::mpsc::UnboundedSender<ext::Status>,
    pub(super) status_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<ext::Status>>>,
    /// The first build finished.
    pub(super) index_ready: AtomicBool,
    /// Index requests run on the message loop: the workspace is small (see
    /// [`INLINE_MAX_BYTES`]). Decided after the first build and each batch of file changes.
    inline_requests: AtomicBool,
    /// Where index requests run otherwise (`None`: no thread could start; the blocking pool).
    workers: Option<Workers>,
    pub(super) docs: Arc<Documents>,
    pub(super) settings: Arc<RwLock<Settings>>,
    /// Warnings from initializationOptions, shown once initialized.
    init_warnings: Mutex<Vec<String>>,
    pub(super) progress_supported: AtomicBool,
    pub(super) assist: AssistState,
    pub(super) learn: LearnState,
    /// Set when `initialize` has finished (the index is stored); `initialized` waits for it.
    init_done: tokio::sync::watch::Sender<bool>,
    /// The initial build was started (by `initialized`, or without it after a grace period).
    serving: AtomicBool,
    /// Open documents waiting to be re-indexed; one worker applies them in order.
    pub(super) reindex: Reindex,
    watcher: Mutex<Option<index::watch::Watcher>>,
    /// Tripped on shutdown: stops the initial build.
    pub(super) shutdown: CancelToken,
}

impl Backend {
    pub fn new(client: Client, data_dir: PathBuf) -> Backend {
        let (status_tx, status_rx) = tokio::sync::mpsc::unbounded_channel();
        Backend {
            client,
            state: Arc::new(State {
                data_dir,
                index: RwLock::new(None),
                host: RwLock::new(None),
                no_root: AtomicBool::new(false),
                build_started: AtomicBool::new(false),
                saving: tokio::sync::Mutex::new(()),
                status_tx,
                status_rx: Mutex::new(Some(status_rx)),
                index_ready: AtomicBool::new(false),
                inline_requests: AtomicBool::new(false),
                workers: Workers::start(query_threads()),
                docs: Arc::default(),
                settings: Arc::default(),
                init_warnings: Mutex::new(Vec::new()),
                progress_supported: AtomicBool::new(false),
                assist: AssistState::default(),
                learn: LearnState::default(),
                init_done: tokio::sync::watch::Sender::new(false),
                serving: AtomicBool::new(false),
                reindex: Reindex::default(),
                watcher: Mutex::new(None),
                shutdown: CancelToken::new(),
            }),
        }
    }

    pub(super) fn index(&self) -> Option<Arc<Index>> {
        self.state.index.read().clone()
    }

    /// The index once it holds every buffer change received before this call: what a request
    /// reads, so an edit followed by a request is always seen by it.
    pub(super) async fn synced_index(&self) -> Option<Arc<Index>> {
        self.state.reindex.caught_up().await;
        self.index()
    }

    /// Index (synced, see [`Self::synced_index`]), relative path and text of a document: the
    /// editor's buffer as of this request's arrival when open, else the file on disk, not read
    /// yet (a position request reads it where its work runs, off the message loop on a large
    /// workspace).
    ///
    /// The buffer is read before waiting for the index: the request's position refers to the
    /// text of that moment, and edits received after the request may be applied while it waits
    /// (an editor writing changes without waiting for answers). The index's entry for the file
    /// may then be of a newer text; `navigate` reads the entry of this text
    /// (`Index::file_for_text`).
    async fn position_context(&self, uri: &Uri) -> Option<(Arc<Index>, String, DocText)> {
        let buffer = self.state.docs.get(uri);
        let index = self.synced_index().await?;
        let path = from_proto::path(uri)?;
        let rel = index.rel_path(&path)?;
        let text = match buffer {
            Some(Document {
                text, line_index, ..
            }) => DocText::Open(text, line_index),
            None => DocText::Disk(path),
        };
        Some((index, rel, text))
    }

    /// Runs an index request's work: on the message loop on a small workspace, else on the
    /// query threads (see [`INLINE_MAX_BYTES`], `workers.rs`). A panic becomes an internal-error
    /// reply either way.
    async fn index_request<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let panicked =
            |message: String| to_proto::internal_error(what, format!("panicked: {message}"));
        if self.state.inline_requests.load(Ordering::Relaxed) {
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .map_err(|panic| panicked(workers::panic_message(panic.as_ref())));
        }
        match &self.state.workers {
            Some(w) => w.run(f).await.map_err(|p| panicked(p.0)),
            None => blocking(what, f).await,
        }
    }

    /// Decides where index requests run from the size of the indexed workspace.
    fn size_changed(state: &State, index: &Index) {
        let bytes = index.totals().bytes;
        let inline = bytes <= INLINE_MAX_BYTES;
        if state.inline_requests.swap(inline, Ordering::Relaxed) != inline {
            tracing::debug!(
                "index requests run {} ({} KiB indexed)",
                if inline {
                    "on the message loop"
                } else {
                    "on the blocking pool"
                },
                bytes / 1024
            );
        }
    }

    /// Asks the client to create the work-done progress `token`. False (work on without
    /// progress) when it refuses, when it has not answered within [`PROGRESS_CREATE_LIMIT`], or
    /// when `cancel` trips first.
    pub(super) async fn create_progress(&self, token: ProgressToken, cancel: &CancelToken) -> bool {
        let create = self.client.create_work_done_progress(token);
        tokio::pin!(create);
        let deadline = tokio::time::sleep(PROGRESS_CREATE_LIMIT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                created = &mut create => {
                    if let Err(err) = &created {
                        tracing::debug!("client refused a progress token: {err}");
                    }
                    return created.is_ok();
                }
                () = &mut deadline => {
                    tracing::warn!(
                        "the client did not answer window/workDoneProgress/create within {} s; \
                         working without progress",
                        PROGRESS_CREATE_LIMIT.as_secs()
                    );
                    return false;
                }
                () = tokio::time::sleep(CANCEL_POLL) => {
                    if cancel.is_cancelled() {
                        return false;
                    }
                }
            }
        }
    }

    /// The client closed its input without `exit`: it is gone. Stops the initial build and
    /// the background loops and cancels every job (a running model request, a learning run and
    /// its trainer), so that the session ends and the process exits promptly.
    pub fn client_gone(&self) {
        tracing::info!("the client closed its input without `exit`: stopping");
        self.state.shutdown.cancel();
        self.state.watcher.lock().take();
        let jobs = self.cancel_jobs();
        if jobs > 0 {
            tracing::info!("cancelled {jobs} jobs");
        }
    }

    /// Starts the worker that re-indexes marked documents at their newest text, one pass at a
    /// time, on its own thread: in an edit storm a pass runs every millisecond or two, and a
    /// hop through the blocking pool for each cost more than the pass. Falls back to the
    /// blocking pool if the thread cannot start.
    fn start_reindex_worker(&self) {
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("spot-reindex".to_owned())
            .spawn(move || loop {
                let (uris, generation) =
                    futures::executor::block_on(this.state.reindex.next_pass());
                let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    this.reindex_pass(&uris);
                }));
                if pass.is_err() {
                    tracing::warn!("re-indexing open documents failed (panic)");
                }
                this.state.reindex.finished(generation);
            });
        if let Err(err) = spawned {
            tracing::warn!("no re-indexing thread ({err}); using the blocking pool");
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    let (uris, generation) = this.state.reindex.next_pass().await;
                    let backend = this.clone();
                    let pass =
                        tokio::task::spawn_blocking(move || backend.reindex_pass(&uris)).await;
                    if let Err(err) = pass {
                        tracing::warn!("re-indexing open documents failed: {err}");
                    }
                    this.state.reindex.finished(generation);
                }
            });
        }
    }

    /// One re-indexing pass: a document open in the editor is indexed from its buffer, a
    /// closed one from disk.
    fn reindex_pass(&self, uris: &[Uri]) {
        let Some(index) = self.index() else { return };
        for uri in uris {
            let Some(path) = from_proto::path(uri) else {
                continue;
            };
            match self.state.docs.get(uri) {
                Some(doc) => index.update_from_buffer(&path, &doc.text),
                None => index.unpin(&path),
            };
        }
    }

    /// Starts the initial build, the watcher and the learning triggers, and probes the model,
    /// once.
    fn start_serving(&self) {
        if self.state.serving.swap(true, Ordering::SeqCst) {
            return;
        }
        self.start_build();
    }

    /// Starts the initial build of the workspace (once there is one), the watcher, the learning
    /// triggers and the model probe.
    fn start_build(&self) {
        let Some(index) = self.index() else { return };
        if self.state.build_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move { this.initial_build(index).await });
        let this = self.clone();
        tokio::spawn(async move { this.probe_model().await });
        self.start_learning_triggers();
    }

    /// No workspace folder was sent: the folder of the first file opened becomes the workspace
    /// (not the home directory or `/`, which would index far too much: then only the open files
    /// are served).
    async fn adopt_folder_of(&self, uri: &Uri) {
        let Some(path) = from_proto::path(uri) else {
            return;
        };
        #[allow(deprecated)] // Fixed since Rust 1.85; the lint stays until it is removed.
        let home = std::env::home_dir();
        let Some(root) = fallback_root(&path, home.as_deref()) else {
            tracing::warn!(
                "no workspace folder, and {} is in the home directory or `/`: serving open \
                 files only",
                path.display()
            );
            return;
        };
        let options = IndexOptions {
            max_file_size: self.state.settings.read().max_file_size,
        };
        let index_dir = spot_base::data_dir::index_dir(&self.state.data_dir);
        let opened = blocking("opening the index", move || {
            index::open(root, options, Some(&index_dir))
        })
        .await;
        let Ok((index, start)) = opened else { return };
        tracing::info!(
            "no workspace folder: serving {}, the folder of the first file opened (cache: \
             {start:?})",
            index.root().display()
        );
        self.set_workspace(index);
        // Documents opened before the index existed are indexed from their buffers now.
        for uri in self.state.docs.uris() {
            self.state.reindex.mark(&uri);
        }
        if self.state.serving.load(Ordering::SeqCst) {
            self.start_build();
        }
        self.status_changed();
    }

    async fn show_warnings(&self, warnings: Vec<String>) {
        for w in warnings {
            tracing::warn!("{w}");
            self.client.show_message(MessageType::WARNING, w).await;
        }
    }

    /// The first build: starts the watcher, then refreshes the index (the cache was read in
    /// `initialize`) against the disk with progress, and saves it.
    async fn initial_build(&self, index: Arc<Index>) {
        // Watch first: a change made while the build runs (or right after it) is never missed.
        if let Some(warning) = self.start_watcher(Arc::clone(&index)) {
            self.client.log_message(MessageType::WARNING, warning).await;
        }
        let token = NumberOrString::String("spot/indexing".to_owned());
        let progress = if self.state.progress_supported.load(Ordering::Relaxed)
            && self
                .create_progress(token.clone(), &self.state.shutdown)
                .await
        {
            Some(
                self.client
                    .progress(token, "spot: indexing")
                    .with_percentage(0)
                    .begin()
                    .await,
            )
        } else {
            None
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<index::BuildProgress>();
        let cancel = self.state.shutdown.clone();
        let build_index = Arc::clone(&index);
        let build = tokio::task::spawn_blocking(move || {
            build_index.build(&cancel, &|p| {
                let _ = tx.send(p);
            })
        });
        if let Some(progress) = &progress {
            while let Some(p) = rx.recv().await {
                let pct = (p.done * 100).checked_div(p.total).unwrap_or(100) as u32;
                progress
                    .report_with_message(format!("{}/{} files", p.done, p.total), pct)
                    .await;
            }
        }
        let stats = match build.await {
            Ok(Ok(stats)) => stats,
            Ok(Err(_cancelled)) => {
                if let Some(p) = progress {
                    p.finish_with_message("cancelled").await;
                }
                return;
            }
            Err(err) => {
                let e = to_proto::internal_error("indexing failed", err);
                if let Some(p) = progress {
                    p.finish_with_message(e.message.to_string()).await;
                }
                return;
            }
        };
        let summary = format!(
            "indexed {} files ({} parsed, {} cached, {} skipped): {} symbols in {:.2} s",
            stats.files,
            stats.parsed,
            stats.reused,
            stats.skipped.len(),
            stats.symbols,
            stats.elapsed.as_secs_f64()
        );
        tracing::info!("{summary}");
        if let Some(p) = progress {
            p.finish_with_message(summary.clone()).await;
        }
        Self::size_changed(&self.state, &index);
        // Ready before the log line that tells clients (and tests) the build is done.
        self.state.index_ready.store(true, Ordering::Relaxed);
        self.client.log_message(MessageType::INFO, &summary).await;
        self.status_changed();
        self.save_cache(&index).await;
    }

    /// Writes the index to its cache when it changed since the last save; the one way it is
    /// saved (after the first build, periodically, at shutdown), one save at a time.
    async fn save_cache(&self, index: &Arc<Index>) {
        let _one = self.state.saving.lock().await;
        if !index.needs_save() {
            return;
        }
        let path = index::persist::cache_path(
            &spot_base::data_dir::index_dir(&self.state.data_dir),
            index.root(),
        );
        let index = Arc::clone(index);
        let saved = tokio::task::spawn_blocking(move || index.save(&path)).await;
        match saved {
            Ok(Ok(bytes)) => tracing::debug!("index saved ({bytes} bytes)"),
            Ok(Err(err)) => tracing::warn!("could not save the index: {err}"),
            Err(err) => tracing::warn!("saving the index panicked: {err}"),
        }
    }

    /// Starts the file watcher and the periodic save; returns a warning for the client when
    /// some directories cannot be watched (the watcher logs them too).
    fn start_watcher(&self, index: Arc<Index>) -> Option<String> {
        let mut warning = None;
        let state = Arc::clone(&self.state);
        let watched = Arc::clone(&index);
        match index::watch::watch(Arc::clone(&index), move |batch| {
            tracing::info!(
                "file changes: {} indexed, {} removed, {} skipped",
                batch.indexed,
                batch.removed,
                batch.skipped
            );
            Self::size_changed(&state, &watched);
        }) {
            Ok(w) => {
                let unwatched = w.unwatched();
                if !unwatched.is_empty() {
                    let paths: Vec<String> = unwatched
                        .iter()
                        .take(20)
                        .map(|u| format!("{} ({})", u.path.display(), u.reason))
                        .collect();
                    warning = Some(format!(
                        "file watching skips {} directories it cannot watch (changes there \
                         are seen on the next start): {}",
                        unwatched.len(),
                        paths.join(", ")
                    ));
                }
                *self.state.watcher.lock() = Some(w);
            }
            Err(err) => tracing::warn!("{err}; the index updates only on save"),
        }
        // Periodic save of a changed index.
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAVE_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                if this.state.shutdown.is_cancelled() {
                    break;
                }
                this.save_cache(&index).await;
            }
        });
        warning
    }
}

/// Runs a core call on the blocking pool; a panic becomes an internal-error reply.
///
/// At most one call per core runs at once: a burst of pipelined requests then reuses a few
/// pool threads instead of starting one thread per request, each with fresh allocator pages to
/// fault in, which made a burst of 200 requests several times slower.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(2, 16))
    });
    let _slot = SLOTS.acquire().await;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| to_proto::internal_error(what, e))
}

/// Workspaces of at most this many indexed bytes answer index requests (workspace symbols,
/// definition, references, hover) on the message loop itself, where the work takes a fraction
/// of a millisecond, less than the hand-off to another thread, whose scheduling was most of the
/// latency's spread under load (generated 84-file repository, release: p99 median 35 → 25 ms,
/// spread 25–43 → 23–27 ms). On larger ones the work is bigger (ripgrep: 110 files, 2 MB) and
/// on the message loop it queued behind the rest of a burst; on the query threads the loop only
/// routes and serializes (its CPU in the load test's burst on ripgrep: 57–71 ms inline, 27–34
/// ms; on httpx, 0.6 MB: 31–34 ms inline, 15–18 ms, the query thread 17–20 ms beside it). Bytes,
/// not files: ripgrep has only 110. The generated repository (under 50 KB) stays inline.
const INLINE_MAX_BYTES: u64 = 256 * 1024;

/// Query threads: one per core but the one the message loop needs, at most 4.
fn query_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.saturating_sub(1).clamp(1, 4)
}

/// The text of a position request's document.
enum DocText {
    /// The open buffer as of the request's arrival.
    Open(Arc<str>, Arc<LineIndex>),
    /// The file on disk, not read yet.
    Disk(PathBuf),
}

impl DocText {
    fn load(self, max_file_size: u64) -> Option<(Arc<str>, Arc<LineIndex>)> {
        match self {
            DocText::Open(text, li) => Some((text, li)),
            DocText::Disk(path) => {
                let loaded = index::walk::read_text(&path, max_file_size).ok()?;
                let li = Arc::new(LineIndex::new(&loaded.text));
                Some((Arc::from(loaded.text), li))
            }
        }
    }
}

/// The workspace for a client without one: the folder of `file`, unless that is the home
/// directory or the filesystem root.
fn fallback_root(file: &std::path::Path, home: Option<&std::path::Path>) -> Option<PathBuf> {
    let dir = file.parent()?.canonicalize().ok()?;
    let home = home.and_then(|h| h.canonicalize().ok());
    (dir.parent().is_some() && Some(&dir) != home.as_ref()).then_some(dir)
}

fn workspace_root(params: &InitializeParams) -> Option<PathBuf> {
    let from_folders = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .and_then(|f| from_proto::path(&f.uri));
    #[allow(deprecated)] // rootUri is still what many clients send.
    let from_root_uri = || params.root_uri.as_ref().and_then(from_proto::path);
    let root = from_folders.or_else(from_root_uri)?;
    root.canonicalize().ok().filter(|p| p.is_dir())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let (settings, warnings) = Settings::from_json(params.initialization_options.as_ref());
        *self.state.init_warnings.lock() = warnings;
        let progress = params
            .capabilities
            .window
            .as_ref()
            .and_then(|w| w.work_done_progress)
            .unwrap_or(false);
        self.state
            .progress_supported
            .store(progress, Ordering::Relaxed);
        *self.state.assist.caps.write() = ClientCaps::from_params(&params);
        if let Some(root) = workspace_root(&params) {
            let options = IndexOptions {
                max_file_size: settings.max_file_size,
            };
            let index_dir = spot_base::data_dir::index_dir(&self.state.data_dir);
            let (index, start) = blocking("opening the index", move || {
                index::open(root, options, Some(&index_dir))
            })
            .await?;
            tracing::info!("workspace {} (cache: {start:?})", index.root().display());
            self.set_workspace(index);
        } else {
            tracing::warn!(
                "no workspace folder: the folder of the first file opened will be the workspace"
            );
            self.state.no_root.store(true, Ordering::SeqCst);
        }
        *self.state.settings.write() = settings;
        self.start_status_sender();
        self.start_reindex_worker();
        self.state.init_done.send_replace(true);
        // An `initialized` sent before this reply may have been dropped by the framework: start
        // anyway after a grace period.
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(INITIALIZED_GRACE).await;
            if !this.state.shutdown.is_cancelled() {
                this.start_serving();
            }
        });
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        ..Default::default()
                    },
                )),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![
                            CodeActionKind::QUICKFIX,
                            CodeActionKind::REFACTOR_REWRITE,
                        ]),
                        resolve_provider: Some(true),
                        ..Default::default()
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: ext::COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "spot".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        // A client may send `initialized` before it has read the `initialize` reply.
        let mut done = self.state.init_done.subscribe();
        let _ = done.wait_for(|d| *d).await;
        let warnings = std::mem::take(&mut *self.state.init_warnings.lock());
        self.show_warnings(warnings).await;
        self.start_serving();
    }

    async fn shutdown(&self) -> Result<()> {
        self.state.shutdown.cancel();
        self.state.watcher.lock().take();
        if let Some(index) = self.index() {
            self.save_cache(&index).await;
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.state.learn.touch();
        self.state.docs.open(doc.uri.clone(), doc.text, doc.version);
        self.state.reindex.mark(&doc.uri);
        self.publish_syntax_errors(&doc.uri);
        if self.state.no_root.swap(false, Ordering::SeqCst) {
            let this = self.clone();
            tokio::spawn(async move { this.adopt_folder_of(&doc.uri).await });
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.state.learn.touch();
        let uri = params.text_document.uri;
        match self
            .state
            .docs
            .change(&uri, params.text_document.version, params.content_changes)
        {
            Ok(_) => {
                self.state.reindex.mark(&uri);
                self.publish_syntax_errors(&uri);
            }
            Err(err) => tracing::warn!("didChange {}: {err}", uri.as_str()),
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let uri = params.text_document.uri;
        if self.state.docs.get(&uri).is_some() {
            return; // the buffer, already indexed, is what was saved
        }
        if let (Some(index), Some(path)) = (self.index(), from_proto::path(&uri)) {
            // Off the message loop: reading and parsing the file may take a while.
            tokio::spawn(async move {
                let _ = blocking("indexing a saved file", move || {
                    index.update_from_disk(&path);
                })
                .await;
            });
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        if self.state.docs.close(&uri).is_some() {
            // The worker re-reads it from disk; the next request waits for that.
            self.state.reindex.mark(&uri);
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let (settings, warnings) = Settings::from_json(Some(&params.settings));
        *self.state.settings.write() = settings;
        self.show_warnings(warnings).await;
        self.model_dir_changed().await;
        self.status_changed();
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let Some(index) = self.index() else { return };
        let paths: Vec<PathBuf> = params
            .changes
            .iter()
            .filter_map(|c| from_proto::path(&c.uri))
            .collect();
        let _ = blocking("applying watched-file changes", move || {
            for p in paths {
                index.update_from_disk(&p);
            }
        })
        .await;
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<WorkspaceSymbolResponse>> {
        let Some(index) = self.synced_index().await else {
            return Ok(None);
        };
        let symbols = self
            .index_request("workspace/symbol", move || {
                index
                    .workspace_symbols(&params.query, SYMBOL_LIMIT)
                    .iter()
                    .filter_map(|h| to_proto::workspace_symbol(index.root(), h))
                    .collect::<Vec<_>>()
            })
            .await?;
        Ok(Some(WorkspaceSymbolResponse::Flat(symbols)))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let Some(index) = self.synced_index().await else {
            return Ok(None);
        };
        let Some(rel) =
            from_proto::path(&params.text_document.uri).and_then(|p| index.rel_path(&p))
        else {
            return Ok(None);
        };
        let Some(file) = index.file(&rel) else {
            return Ok(None);
        };
        Ok(Some(DocumentSymbolResponse::Nested(
            to_proto::document_symbols(&file),
        )))
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let pos = params.text_document_position_params;
        let Some((index, rel, doc)) = self.position_context(&pos.text_document.uri).await else {
            return Ok(None);
        };
        let locations = self
            .index_request("textDocument/definition", move || {
                let (text, li) = doc.load(index.options().max_file_size)?;
                let offset = from_proto::offset(&li, &text, pos.position)?;
                let found = navigate::definition(&index, &rel, &text, offset);
                Some(
                    found
                        .iter()
                        .filter_map(|t| to_proto::nav_location(index.root(), t))
                        .collect::<Vec<_>>(),
                )
            })
            .await?;
        Ok(locations
            .filter(|l| !l.is_empty())
            .map(GotoDefinitionResponse::Array))
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let pos = params.text_document_position;
        let Some((index, rel, doc)) = self.position_context(&pos.text_document.uri).await else {
            return Ok(None);
        };
        let include = params.context.include_declaration;
        self.index_request("textDocument/references", move || {
            let (text, li) = doc.load(index.options().max_file_size)?;
            let offset = from_proto::offset(&li, &text, pos.position)?;
            let found = navigate::references(&index, &rel, &text, offset, include);
            Some(
                found
                    .iter()
                    .filter_map(|r| to_proto::ref_location(index.root(), r))
                    .collect::<Vec<_>>(),
            )
        })
        .await
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let pos = params.text_document_position_params;
        let Some((index, rel, doc)) = self.position_context(&pos.text_document.uri).await else {
            return Ok(None);
        };
        self.index_request("textDocument/hover", move || {
            let (text, li) = doc.load(index.options().max_file_size)?;
            let offset = from_proto::offset(&li, &text, pos.position)?;
            navigate::hover(&index, &rel, &text, offset)
                .map(|info| to_proto::hover(&info, &li, &text))
        })
        .await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        self.code_actions(params).await
    }

    async fn code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        self.resolve_action(action).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        self.execute(params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_22_the_fallback_workspace_is_never_home_or_root() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("proj");
        std::fs::create_dir(&sub).unwrap();
        let file = sub.join("a.py");
        let canonical = sub.canonicalize().unwrap();
        assert_eq!(fallback_root(&file, None), Some(canonical.clone()));
        assert_eq!(fallback_root(&file, Some(&sub)), None, "the home directory");
        assert_eq!(
            fallback_root(std::path::Path::new("/a.py"), None),
            None,
            "`/`"
        );
    }
}
