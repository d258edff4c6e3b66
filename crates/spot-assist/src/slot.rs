//! The model slot of a workspace: which model directory is in effect, the loaded model, and why
//! there is none.
//!
//! The directory and runtime options come from the shell ([`ModelSource`]: the editor's
//! settings or the command-line flags, else the workspace's learned model, else the default
//! model). The model is loaded lazily, once, by the first request that needs it ([`ModelSlot::get`],
//! blocking: call it off any message loop), and reloaded when the directory in effect changes:
//! requests in flight keep the `Arc<Model>` they started with (hot swap). A failure is kept with
//! its reason for the status, and the index features go on without a model.
//! [`ModelSlot::probe`] says cheaply, without loading, whether a model can be expected at all
//! (the runtime library found, the directory present), so an editor can say "no model: run
//! setup" at start instead of after the first fix fails.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use spot_model::{Model, Runtime, RuntimeOptions};

/// Where the model comes from, decided by the shell each time it is asked (settings change).
pub trait ModelSource: Send + Sync {
    /// The model directory in effect.
    fn dir(&self) -> PathBuf;
    /// How to find and start ONNX Runtime.
    fn runtime(&self) -> RuntimeOptions;
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
    /// The directory as the source named it (the model's own may be canonical), and the model.
    Ready(PathBuf, Arc<Model>),
    Failed {
        dir: PathBuf,
        error: String,
    },
}

/// The slot: see the module docs.
pub struct ModelSlot {
    source: Box<dyn ModelSource>,
    loaded: RwLock<Loaded>,
    /// Held while loading, so concurrent requests load once.
    load_lock: Mutex<()>,
    /// The directory being loaded now, for the status.
    loading: RwLock<Option<PathBuf>>,
    /// What the last probe found wrong, by directory.
    probe: RwLock<Option<(PathBuf, Option<String>)>>,
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

    /// The directory in effect now.
    pub fn dir(&self) -> PathBuf {
        self.source.dir()
    }

    pub fn runtime_options(&self) -> RuntimeOptions {
        self.source.runtime()
    }

    fn ready(&self, dir: &PathBuf) -> Option<Arc<Model>> {
        match &*self.loaded.read() {
            Loaded::Ready(d, m) if d == dir => Some(Arc::clone(m)),
            _ => None,
        }
    }

    /// The loaded model, loading it first when needed (or when the directory changed). Blocks
    /// for the load: call it on a worker thread. `on_loading` is told once a load starts.
    pub fn get(&self, on_loading: &dyn Fn()) -> Result<Arc<Model>, String> {
        let dir = self.dir();
        if let Some(m) = self.ready(&dir) {
            return Ok(m);
        }
        let _one_load = self.load_lock.lock();
        if let Some(m) = self.ready(&dir) {
            return Ok(m);
        }
        *self.loading.write() = Some(dir.clone());
        on_loading();
        let result = Runtime::init(&self.source.runtime())
            .and_then(|rt| Model::load(&rt, &dir))
            .map_err(|e| format!("the model could not be loaded: {e}"));
        *self.loading.write() = None;
        match result {
            Ok(model) => {
                let model = Arc::new(model);
                tracing::info!(
                    "model {} loaded ({:?})",
                    dir.display(),
                    model.info().provider
                );
                *self.loaded.write() = Loaded::Ready(dir, Arc::clone(&model));
                Ok(model)
            }
            Err(error) => {
                tracing::warn!("{error}");
                *self.loaded.write() = Loaded::Failed {
                    dir,
                    error: error.clone(),
                };
                Err(error)
            }
        }
    }

    /// Forgets a loaded model (or a failure) whose directory is no longer the one in effect:
    /// settings changed, or learning installed a new model. Returns whether anything changed.
    pub fn refresh(&self) -> bool {
        let dir = self.dir();
        let mut loaded = self.loaded.write();
        let stale = match &*loaded {
            Loaded::Ready(d, _) => *d != dir,
            Loaded::Failed { dir: d, .. } => *d != dir,
            Loaded::None => false,
        };
        if stale {
            *loaded = Loaded::None;
        }
        let probed = self.probe.read().as_ref().is_some_and(|(d, _)| *d != dir);
        if probed {
            *self.probe.write() = None;
        }
        stale || probed
    }

    /// Checks, without loading, that a model can be expected: the runtime library is found and
    /// the directory holds a model. Cheap (no session, no weights read); the result shows in
    /// [`ModelSlot::state`] until a load replaces it.
    pub fn probe(&self) -> Option<String> {
        let dir = self.dir();
        let problem = probe_problem(&dir, &self.source.runtime());
        *self.probe.write() = Some((dir, problem.clone()));
        problem
    }

    pub fn state(&self) -> ModelState {
        let dir = self.dir();
        if self.loading.read().as_ref() == Some(&dir) {
            return ModelState::Loading { dir };
        }
        match &*self.loaded.read() {
            Loaded::Ready(d, m) if *d == dir => {
                return ModelState::Ready {
                    dir,
                    provider: format!("{:?}", m.info().provider),
                }
            }
            Loaded::Failed { dir: d, error } if *d == dir => {
                return ModelState::Unavailable {
                    dir,
                    error: error.clone(),
                }
            }
            _ => {}
        }
        let problem = match &*self.probe.read() {
            Some((d, problem)) if *d == dir => problem.clone(),
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
