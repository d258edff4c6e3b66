//! The analysis host as the command line builds it: the workspace index (from the cache, then
//! refreshed against the disk), no editor buffers, the git history at HEAD, and the model
//! directory from `--model`, else the workspace's learned model, else the default model.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spot_assist::host::{AnalysisHost, HostParts, NoBuffers};
use spot_assist::slot::{ModelSlot, ModelSource};
use spot_learn::history::GitHistory;
use spot_model::{RemoteConfig, RuntimeOptions};

use super::generate::{BackendArgs, RuntimeArgs};
use super::index::{open_index, IndexFlags};

/// The model source of a command: fixed for its run.
struct CliModel {
    dir: PathBuf,
    runtime: RuntimeOptions,
    backend: Option<RemoteConfig>,
}

impl ModelSource for CliModel {
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    fn runtime(&self) -> RuntimeOptions {
        self.runtime.clone()
    }

    fn backend(&self) -> Option<RemoteConfig> {
        self.backend.clone()
    }
}

/// The model directory for the workspace at `root`: the flag, else its learned model, else the
/// default model (which may not be built: loading it then says how to build it).
pub fn model_dir(flag: Option<&Path>, data_dir: &Path, root: &Path) -> PathBuf {
    match flag {
        Some(dir) => dir.to_path_buf(),
        None => spot_learn::store::ModelStore::for_workspace(data_dir, root)
            .active()
            .unwrap_or_else(|| spot_model::default_model_dir(data_dir)),
    }
}

/// Opens the workspace at `root` (indexing it) and builds its host; `history` commits of HEAD
/// feed localization (0: none).
pub fn open(
    root: PathBuf,
    flags: &IndexFlags,
    progress_bar: bool,
    model: Option<&Path>,
    runtime: &RuntimeArgs,
    backend: &BackendArgs,
    history: usize,
) -> anyhow::Result<AnalysisHost> {
    let backend = backend.config()?;
    let data_dir = spot_base::data_dir::resolve();
    let (index, _, _) = open_index(root, flags, progress_bar)?;
    let dir = model_dir(model, &data_dir, index.root());
    let source = CliModel {
        dir,
        runtime: runtime.options(&data_dir),
        backend,
    };
    Ok(AnalysisHost::new(
        Arc::new(index),
        HostParts {
            buffers: Box::new(NoBuffers),
            history: (history > 0).then(|| {
                Box::new(GitHistory { depth: history }) as Box<dyn spot_assist::host::HistorySource>
            }),
            model: ModelSlot::new(Box::new(source)),
            scratch_dir: spot_base::data_dir::scratch_dir(&data_dir),
        },
    ))
}
