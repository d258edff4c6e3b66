//! Where spot keeps its own files: the index cache, model directories, the ONNX Runtime library.
//!
//! The one place that reads the environment for it (`SPOT_DATA_DIR`, then the XDG data dir), so the
//! shells resolve it once and hand plain paths to the core. spot never writes outside this
//! directory and the workspace.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory (tests, portable installs).
pub const ENV_DATA_DIR: &str = "SPOT_DATA_DIR";

/// `$SPOT_DATA_DIR`, else `$XDG_DATA_HOME/spot` (`~/.local/share/spot`), else `./.spot-data`
/// as a last resort when no home directory is known.
pub fn resolve() -> PathBuf {
    if let Some(dir) = std::env::var_os(ENV_DATA_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .map(|d| d.join("spot"))
        .unwrap_or_else(|| PathBuf::from(".spot-data"))
}

/// Directory holding persisted workspace indexes.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}

/// Directory of short-lived working copies (a workspace copy where a patch's tests run).
pub fn scratch_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("scratch")
}

/// Directory holding model directories (`models/<name>/`).
pub fn models_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models")
}
