//! Learned models of one workspace, versioned, in spot's data dir:
//!
//! ```text
//! <data>/models/learned/<name>-<hash of the workspace root>/
//!     v1/ v2/ …        model directories (the trainer's output, moved in whole)
//!     active           symlink to the version in use (replaced atomically by rename)
//!     history.json     activations, oldest first, for rollback
//!     runs/<stamp>/    a learning run's experience, logs and (until installed) its model
//! ```
//!
//! A version is installed only by renaming a complete directory into place and then swapping
//! the `active` link, so a crash at any point leaves either the old or the new model active,
//! never a partial one. Nothing here deletes a version.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The model spot uses for the workspace at `root` when none is configured: its active learned
/// model, else the data dir's active or default model.
pub fn model_for_workspace(data_dir: &Path, root: &Path) -> PathBuf {
    ModelStore::for_workspace(data_dir, root)
        .active()
        .unwrap_or_else(|| spot_model::active_model_dir(data_dir))
}

/// The learned-model store of one workspace.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct History {
    /// Version names (`v3`), in activation order.
    activations: Vec<String>,
    /// HEAD of the repository when the active version was learned.
    #[serde(default)]
    learned_at: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no earlier learned model to roll back to (active: {active})")]
    NothingToRollBack { active: String },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

impl ModelStore {
    /// The store of the workspace at `root` (canonical) under `data_dir`.
    pub fn for_workspace(data_dir: &Path, root: &Path) -> ModelStore {
        ModelStore {
            dir: spot_base::data_dir::models_dir(data_dir)
                .join("learned")
                .join(spot_index::persist::workspace_key(root)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The active learned model's directory, if learning installed one.
    pub fn active(&self) -> Option<PathBuf> {
        let link = self.dir.join("active");
        let target = std::fs::read_link(&link).ok()?;
        let path = self.dir.join(target);
        path.is_dir().then_some(path)
    }

    /// The active version's name (`v2`).
    pub fn active_version(&self) -> Option<String> {
        std::fs::read_link(self.dir.join("active"))
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }

    /// HEAD of the repository when the active model was learned.
    pub fn learned_at(&self) -> Option<String> {
        self.history().learned_at
    }

    /// A fresh directory for a learning run (`runs/<unix time>-<pid>`).
    pub fn new_run(&self) -> Result<PathBuf, StoreError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let run = self
            .dir
            .join("runs")
            .join(format!("{stamp}-{}", std::process::id()));
        std::fs::create_dir_all(&run).map_err(io("cannot create", &run))?;
        Ok(run)
    }

    fn history(&self) -> History {
        std::fs::read(self.dir.join("history.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save_history(&self, h: &History) -> Result<(), StoreError> {
        let path = self.dir.join("history.json");
        let tmp = self.dir.join("history.json.tmp");
        let bytes = serde_json::to_vec_pretty(h).unwrap_or_default();
        std::fs::write(&tmp, bytes).map_err(io("cannot write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("cannot replace", &path))
    }

    fn next_version(&self) -> String {
        let n = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix('v')?
                    .parse::<u32>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        format!("v{}", n + 1)
    }

    /// Moves the complete model directory `model` into the store as the next version and makes
    /// it active. `head` is the repository's HEAD it was learned at. Returns the version.
    pub fn install(&self, model: &Path, head: Option<&str>) -> Result<String, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
        let version = self.next_version();
        let dest = self.dir.join(&version);
        std::fs::rename(model, &dest).map_err(io("cannot move the model to", &dest))?;
        self.activate(&version)?;
        let mut h = self.history();
        h.activations.push(version.clone());
        h.learned_at = head.map(str::to_owned);
        self.save_history(&h)?;
        Ok(version)
    }

    /// Points `active` at `version` atomically (a new link renamed over the old one).
    fn activate(&self, version: &str) -> Result<(), StoreError> {
        let link = self.dir.join("active");
        let tmp = self.dir.join(format!("active.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        #[cfg(unix)]
        std::os::unix::fs::symlink(version, &tmp).map_err(io("cannot link", &tmp))?;
        #[cfg(windows)]
        std::os::windows::fs::symlink_dir(version, &tmp).map_err(io("cannot link", &tmp))?;
        std::fs::rename(&tmp, &link).map_err(io("cannot replace", &link))
    }

    /// Makes the previously active version active again; with none, the default model is used
    /// again (the `active` link is removed). Returns the now-active version, if any.
    pub fn rollback(&self) -> Result<Option<String>, StoreError> {
        let mut h = self.history();
        let Some(current) = h.activations.pop() else {
            return Err(StoreError::NothingToRollBack {
                active: "the default model".to_owned(),
            });
        };
        let previous = h.activations.last().cloned();
        match &previous {
            Some(v) => self.activate(v)?,
            None => {
                let link = self.dir.join("active");
                std::fs::remove_file(&link).map_err(io("cannot remove", &link))?;
            }
        }
        h.learned_at = None;
        self.save_history(&h)?;
        tracing::info!(
            "rolled back from {current} to {}",
            previous.as_deref().unwrap_or("the default model")
        );
        Ok(previous)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn model(dir: &Path, tag: &str) -> PathBuf {
        let m = dir.join(format!("out-{tag}"));
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("config.json"), tag).unwrap();
        m
    }

    #[test]
    fn install_activates_versions_and_rollback_walks_back() {
        let data = tempfile::tempdir().unwrap();
        let store = ModelStore::for_workspace(data.path(), Path::new("/work/my repo"));
        assert!(store
            .dir()
            .ends_with(store.dir().file_name().unwrap().to_string_lossy().as_ref()));
        assert!(store
            .dir()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("my_repo-"));
        assert_eq!(store.active(), None);
        let scratch = tempfile::tempdir().unwrap();
        assert_eq!(
            store
                .install(&model(scratch.path(), "a"), Some("abc"))
                .unwrap(),
            "v1"
        );
        assert_eq!(
            store
                .install(&model(scratch.path(), "b"), Some("def"))
                .unwrap(),
            "v2"
        );
        let active = store.active().unwrap();
        assert_eq!(
            std::fs::read_to_string(active.join("config.json")).unwrap(),
            "b"
        );
        assert_eq!(store.learned_at().as_deref(), Some("def"));
        assert_eq!(store.rollback().unwrap().as_deref(), Some("v1"));
        assert_eq!(store.active_version().as_deref(), Some("v1"));
        assert_eq!(store.rollback().unwrap(), None);
        assert_eq!(store.active(), None);
        assert!(matches!(
            store.rollback(),
            Err(StoreError::NothingToRollBack { .. })
        ));
        // Versions are never deleted; the next one gets a new number.
        assert!(store.dir().join("v2").is_dir());
        assert_eq!(
            store.install(&model(scratch.path(), "c"), None).unwrap(),
            "v3"
        );
    }
}
