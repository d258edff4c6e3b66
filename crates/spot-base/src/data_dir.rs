//! Where spot keeps its own files: the index cache, model directories, the ONNX Runtime library.
//!
//! The one place that reads the environment for it (`SPOT_DATA_DIR`, then the XDG data dir, then
//! a private directory under the system's temp dir when no home is known), so the shells resolve
//! it once and hand plain paths to the core. spot never writes outside this directory and the
//! workspace; in particular the data dir is never the working directory, which is often the
//! (untrusted) workspace itself.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory (tests, portable installs).
pub const ENV_DATA_DIR: &str = "SPOT_DATA_DIR";

/// `$SPOT_DATA_DIR`, else `$XDG_DATA_HOME/spot` (`~/.local/share/spot`), else, when no home
/// directory is known (HOME unset and the user not in passwd), [`fallback`].
pub fn resolve() -> PathBuf {
    resolve_from(
        std::env::var_os(ENV_DATA_DIR),
        dirs::data_dir(),
        &std::env::temp_dir(),
    )
}

fn resolve_from(
    explicit: Option<std::ffi::OsString>,
    data_home: Option<PathBuf>,
    temp: &Path,
) -> PathBuf {
    if let Some(dir) = explicit.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match data_home {
        Some(d) if d.is_absolute() => d.join("spot"),
        _ => fallback(temp),
    }
}

/// `<temp>/spot-data-<uid>`, a directory only this user can enter (created with mode 0700;
/// one that exists must be a real directory owned by this user with no access for others), or
/// else a fresh private directory under `<temp>` for this process alone. Never relative, so
/// never inside the workspace spot was started in.
pub fn fallback(temp: &Path) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir = temp.join(format!("spot-data-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let private = std::fs::symlink_metadata(&dir).is_ok_and(|m| {
            m.file_type().is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0
        });
        if private {
            return dir;
        }
    }
    #[cfg(not(unix))]
    {
        let dir = temp.join("spot-data");
        if std::fs::create_dir_all(&dir).is_ok() {
            return dir;
        }
    }
    tempfile::Builder::new()
        .prefix("spot-data-")
        .tempdir_in(temp)
        .map(tempfile::TempDir::keep)
        .unwrap_or_else(|_| temp.join("spot-data"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: with no known home, the data dir is a private directory under the temp dir,
    /// never `./.spot-data` in the working directory (often the untrusted workspace).
    #[test]
    fn issue_19_no_home_means_a_private_temp_dir_not_the_workspace() {
        let temp = tempfile::tempdir().unwrap();
        let dir = resolve_from(None, None, temp.path());
        assert!(dir.is_absolute(), "{dir:?}");
        assert!(dir.starts_with(temp.path()), "{dir:?}");
        assert!(dir.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
            // A directory someone else prepared with open permissions is not used.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
            let other = resolve_from(None, None, temp.path());
            assert_ne!(other, dir);
            assert!(other.starts_with(temp.path()) && other.is_dir());
        }
        // A relative XDG dir is not a home either.
        assert!(resolve_from(None, Some(PathBuf::from("rel")), temp.path()).is_absolute());
        assert_eq!(
            resolve_from(Some("/x".into()), Some(PathBuf::from("/h")), temp.path()),
            PathBuf::from("/x")
        );
        assert_eq!(
            resolve_from(None, Some(PathBuf::from("/h")), temp.path()),
            PathBuf::from("/h/spot")
        );
    }
}
