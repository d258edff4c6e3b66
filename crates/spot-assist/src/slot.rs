//! The model slot of a workspace: which model directory is in effect, the loaded model, and why
//! there is none.
//!
//! The directory and runtime options come from the shell ([`ModelSource`]: the editor's
//! settings or the command-line flags, else the workspace's learned model, else the default
//! model). A source may instead name an OpenAI-compatible server ([`ModelSource::backend`],
//! opt-in): "loading" then asks the server for its models, and the state's `dir` is the
//! server's base URL. The model is loaded lazily, once, by the first request that needs it ([`ModelSlot::get`],
//! blocking: call it off any message loop), and reloaded when the directory in effect changes:
//! requests in flight keep the `Arc<Model>` they started with (hot swap). A failure is kept with
//! its reason for the status, and the index features go on without a model.
//! [`ModelSlot::probe`] says cheaply, without loading, whether a model can be expected at all
//! (the runtime library found, the directory present), so an editor can say "no model: run
//! setup" at start instead of after the first fix fails.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use spot_base::cancel::CancelToken;
use spot_model::{Model, RemoteConfig, Runtime, RuntimeOptions};

/// Where the model comes from, decided by the shell each time it is asked (settings change).
pub trait ModelSource: Send + Sync {
    /// The model directory in effect (unused while [`ModelSource::backend`] names a server).
    fn dir(&self) -> PathBuf;
    /// How to find and start ONNX Runtime.
    fn runtime(&self) -> RuntimeOptions;
    /// An OpenAI-compatible server to use instead of the local model (the `backend` setting,
    /// the `--backend-*` flags), its API key already read by the shell. `None`: the local model.
    fn backend(&self) -> Option<RemoteConfig> {
        None
    }
}

/// The model in effect: a directory or a server.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Dir(PathBuf),
    Remote(RemoteConfig),
}

impl Spec {
    /// What the state shows as `dir`: the directory, or the server's base URL.
    fn dir(&self) -> PathBuf {
        match self {
            Spec::Dir(dir) => dir.clone(),
            Spec::Remote(config) => PathBuf::from(config.url.trim_end_matches('/')),
        }
    }
}

/// The model's state for `spot/status` and the CLI.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    /// Not loaded yet; `problem` says why loading would fail, when [`ModelSlot::probe`] found it.
    Unloaded {
        dir: PathBuf,
        problem: Option<String>,
    },
    Loading {
        dir: PathBuf,
    },
    Ready {
        dir: PathBuf,
        provider: String,
    },
    Unavailable {
        dir: PathBuf,
        error: String,
    },
}

impl ModelState {
    pub fn dir(&self) -> &PathBuf {
        match self {
            ModelState::Unloaded { dir, .. }
            | ModelState::Loading { dir }
            | ModelState::Ready { dir, .. }
            | ModelState::Unavailable { dir, .. } => dir,
        }
    }
}

enum Loaded {
    None,
    /// The model as the source named it (a model's own dir may be canonical: compared by the
    /// name, a non-canonical `modelDir` would reload on every request), and the model.
    Ready(Spec, Arc<Model>),
    Failed {
        spec: Spec,
        error: String,
    },
}

/// The slot: see the module docs.
pub struct ModelSlot {
    source: Box<dyn ModelSource>,
    loaded: RwLock<Loaded>,
    /// Held while loading, so concurrent requests load once.
    load_lock: Mutex<()>,
    /// The model being loaded now, for the status.
    loading: RwLock<Option<Spec>>,
    /// What the last probe found wrong, by model.
    probe: RwLock<Option<(Spec, Option<String>)>>,
}

impl ModelSlot {
    pub fn new(source: Box<dyn ModelSource>) -> ModelSlot {
        ModelSlot {
            source,
            loaded: RwLock::new(Loaded::None),
            load_lock: Mutex::new(()),
            loading: RwLock::new(None),
            probe: RwLock::new(None),
        }
    }

    /// The directory in effect now (a server's base URL when the source names one).
    pub fn dir(&self) -> PathBuf {
        self.spec().dir()
    }

    fn spec(&self) -> Spec {
        match self.source.backend() {
            Some(config) => Spec::Remote(config),
            None => Spec::Dir(self.source.dir()),
        }
    }

    pub fn runtime_options(&self) -> RuntimeOptions {
        self.source.runtime()
    }

    fn ready(&self, spec: &Spec) -> Option<Arc<Model>> {
        match &*self.loaded.read() {
            Loaded::Ready(s, m) if s == spec => Some(Arc::clone(m)),
            _ => None,
        }
    }

    /// The loaded model, loading it first when needed (or when the directory changed). Blocks
    /// for the load: call it on a worker thread. `on_loading` is told once a load starts. A
    /// server is "loaded" by asking it for its models; a failure is tried again next time.
    pub fn get(&self, on_loading: &dyn Fn()) -> Result<Arc<Model>, String> {
        let spec = self.spec();
        if let Some(m) = self.ready(&spec) {
            return Ok(m);
        }
        let _one_load = self.load_lock.lock();
        if let Some(m) = self.ready(&spec) {
            return Ok(m);
        }
        *self.loading.write() = Some(spec.clone());
        on_loading();
        let result = match &spec {
            Spec::Dir(dir) => {
                Runtime::init(&self.source.runtime()).and_then(|rt| Model::load(&rt, dir))
            }
            Spec::Remote(config) => Model::connect(config.clone(), &CancelToken::new()),
        }
        .map_err(|e| format!("the model could not be loaded: {e}"));
        *self.loading.write() = None;
        match result {
            Ok(model) => {
                let model = Arc::new(model);
                tracing::info!(
                    "model {} loaded ({:?})",
                    spec.dir().display(),
                    model.info().provider
                );
                *self.loaded.write() = Loaded::Ready(spec.clone(), Arc::clone(&model));
                Ok(model)
            }
            Err(error) => {
                tracing::warn!("{error}");
                *self.loaded.write() = Loaded::Failed {
                    spec,
                    error: error.clone(),
                };
                Err(error)
            }
        }
    }

    /// Forgets a loaded model (or a failure) whose directory is no longer the one in effect:
    /// settings changed, or learning installed a new model. Returns whether anything changed.
    pub fn refresh(&self) -> bool {
        let spec = self.spec();
        let mut loaded = self.loaded.write();
        let stale = match &*loaded {
            Loaded::Ready(s, _) => *s != spec,
            Loaded::Failed { spec: s, .. } => *s != spec,
            Loaded::None => false,
        };
        if stale {
            *loaded = Loaded::None;
        }
        let probed = self.probe.read().as_ref().is_some_and(|(s, _)| *s != spec);
        if probed {
            *self.probe.write() = None;
        }
        stale || probed
    }

    /// Checks, without loading, that a model can be expected: the runtime library is found and
    /// the directory holds a model. Cheap (no session, no weights read); the result shows in
    /// [`ModelSlot::state`] until a load replaces it.
    /// A server is not asked (no request before one is needed): only its URL is checked.
    pub fn probe(&self) -> Option<String> {
        let spec = self.spec();
        let problem = match &spec {
            Spec::Dir(dir) => probe_problem(dir, &self.source.runtime()),
            Spec::Remote(config) => {
                let url = config.url.as_str();
                (!(url.starts_with("http://") || url.starts_with("https://")))
                    .then(|| format!("the backend URL `{url}` is not an http:// or https:// URL"))
            }
        };
        *self.probe.write() = Some((spec, problem.clone()));
        problem
    }

    pub fn state(&self) -> ModelState {
        let spec = self.spec();
        let dir = spec.dir();
        if self.loading.read().as_ref() == Some(&spec) {
            return ModelState::Loading { dir };
        }
        match &*self.loaded.read() {
            Loaded::Ready(s, m) if *s == spec => {
                return ModelState::Ready {
                    dir,
                    provider: format!("{:?}", m.info().provider),
                }
            }
            Loaded::Failed { spec: s, error } if *s == spec => {
                return ModelState::Unavailable {
                    dir,
                    error: error.clone(),
                }
            }
            _ => {}
        }
        let problem = match &*self.probe.read() {
            Some((s, problem)) if *s == spec => problem.clone(),
            _ => None,
        };
        ModelState::Unloaded { dir, problem }
    }
}

/// Why a model in `dir` could not load, as far as a cheap look tells: no runtime library, or no
/// model files.
fn probe_problem(dir: &std::path::Path, runtime: &RuntimeOptions) -> Option<String> {
    if !dir.join("model.onnx").is_file() {
        return Some(if dir.is_dir() {
            format!("{} holds no model.onnx", dir.display())
        } else {
            format!(
                "no model at {}: run fixtures/models/setup.sh, or set modelDir",
                dir.display()
            )
        });
    }
    match spot_model::find_runtime_library(runtime) {
        Ok(_) => None,
        Err(e) => Some(format!("no ONNX Runtime: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Remote(RemoteConfig);

    impl ModelSource for Remote {
        fn dir(&self) -> PathBuf {
            PathBuf::from("/nonexistent/model")
        }

        fn runtime(&self) -> RuntimeOptions {
            RuntimeOptions::default()
        }

        fn backend(&self) -> Option<RemoteConfig> {
            Some(self.0.clone())
        }
    }

    #[test]
    fn a_server_that_is_down_is_unavailable_with_its_reason() {
        // Nothing listens on port 1 of the loopback.
        let slot = ModelSlot::new(Box::new(Remote(RemoteConfig::new(
            "http://127.0.0.1:1/v1/",
            "m",
        ))));
        assert_eq!(slot.probe(), None, "the probe sends nothing");
        let error = slot.get(&|| {}).expect_err("nothing listens");
        assert!(error.contains("127.0.0.1:1"), "{error}");
        match slot.state() {
            ModelState::Unavailable { dir, error: e } => {
                assert_eq!(dir, PathBuf::from("http://127.0.0.1:1/v1"));
                assert_eq!(e, error);
            }
            other => panic!("{other:?}"),
        }
        assert!(!slot.refresh(), "the same server stays in effect");
    }
}
