//! An index of a repository at any commit, read from git's object database (the user's work
//! tree is never touched), moved from commit to commit by re-indexing only the files that
//! differ. Also materializes a commit's tree into a directory (to run a test command on it).

use std::cell::RefCell;
use std::path::{Component, Path};

use crate::git::{BlobReader, GitError, Repo};
use spot_index::{walk, Index, IndexOptions, Lang};

/// A repository's index, positioned at one commit.
pub struct Snapshot {
    repo: Repo,
    index: Index,
    blobs: RefCell<BlobReader>,
    at: Option<String>,
}

impl Snapshot {
    pub fn new(repo: &Repo) -> Result<Snapshot, GitError> {
        Ok(Snapshot {
            index: Index::new(repo.root().to_path_buf(), IndexOptions::default()),
            blobs: RefCell::new(repo.blobs()?),
            repo: repo.clone(),
            at: None,
        })
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Moves the index to `commit`.
    pub fn checkout(&mut self, commit: &str) -> Result<(), GitError> {
        if self.at.as_deref() == Some(commit) {
            return Ok(());
        }
        let changed: Vec<(String, bool)> = match &self.at {
            None => self
                .repo
                .ls_tree(commit)?
                .into_iter()
                .map(|p| (p, true))
                .collect(),
            Some(prev) => self.repo.changed(prev, commit)?,
        };
        for (path, exists) in changed {
            if Lang::from_path(Path::new(&path)).is_none() {
                continue;
            }
            let text = if exists {
                self.blobs.borrow_mut().read(commit, &path)?
            } else {
                None
            };
            match text.map(walk::decode) {
                Some(Ok((text, _))) => {
                    self.index.set_text(&path, &text);
                }
                _ => {
                    self.index.remove_path(&path);
                }
            }
        }
        self.at = Some(commit.to_owned());
        Ok(())
    }

    /// The text of `path` at `commit` (`None`: absent, binary or not UTF-8).
    pub fn read(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
        Ok(self
            .blobs
            .borrow_mut()
            .read(commit, path)?
            .and_then(|b| walk::decode(b).ok())
            .map(|(t, _)| t))
    }
}

/// Writes the tree of `commit` into a new directory under `scratch` (spot's data dir
/// `scratch/`, created if missing; the system temp dir when `None`), removed when dropped.
pub fn materialize_in_scratch(
    repo: &Repo,
    commit: &str,
    scratch: Option<&Path>,
    prefix: &str,
) -> std::io::Result<tempfile::TempDir> {
    let dir = match scratch {
        Some(scratch) => {
            std::fs::create_dir_all(scratch)?;
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(scratch)?
        }
        None => tempfile::tempdir()?,
    };
    materialize(repo, commit, dir.path())?;
    Ok(dir)
}

/// Writes the tree of `commit` into `dest` (which must exist and be empty): every blob, read as a
/// raw object (no smudge or other filters of the repository's configuration run, unlike
/// `git archive`), with its executable bit. Symlinks and submodules are left out, and so is any
/// path that is not a plain relative path (the tree is untrusted), so nothing lands outside
/// `dest`.
pub fn materialize(repo: &Repo, commit: &str, dest: &Path) -> std::io::Result<()> {
    let files = repo.ls_tree_blobs(commit).map_err(std::io::Error::other)?;
    let mut blobs = repo.blobs().map_err(std::io::Error::other)?;
    for (path, executable) in files {
        let rel = Path::new(&path);
        if !rel
            .components()
            .all(|c| matches!(c, Component::Normal(n) if n != ".git"))
        {
            tracing::warn!("{commit}: the tree names `{path}`, which is not written out");
            continue;
        }
        let Some(bytes) = blobs.read(commit, &path).map_err(std::io::Error::other)? else {
            continue;
        };
        let to = dest.join(rel);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&to, bytes)?;
        #[cfg(unix)]
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))?;
        }
        #[cfg(not(unix))]
        let _ = executable;
    }
    Ok(())
}
