//! Finding and reading the files to index: the `ignore` walker (gitignore, .ignore, hidden files,
//! in parallel), the size and binary checks, lossy UTF-8, the stat [`Stamp`] that tells a warm
//! start whether a file changed since it was read, and the ignore matcher the watcher uses for
//! single paths. What the walk cannot read (an unreadable directory, a path over the system's
//! limit) and names that are not UTF-8 are listed as skipped with the reason, never dropped
//! silently or given a lossy path.
//!
//! The one loader of workspace files: everything that reads a source file goes through
//! [`read_text`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use dashmap::DashMap;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::{Deserialize, Serialize};

use super::lang::Lang;

/// Why a file is not in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum SkipReason {
    TooLarge {
        size: u64,
        limit: u64,
    },
    Binary,
    Unreadable {
        error: String,
    },
    Symlink,
    /// The name is not valid UTF-8: no URI or workspace path can name it faithfully.
    NonUtf8Name,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::TooLarge { size, limit } => {
                write!(f, "larger than the limit ({size} > {limit} bytes)")
            }
            SkipReason::Binary => f.write_str("binary content"),
            SkipReason::Unreadable { error } => write!(f, "unreadable: {error}"),
            SkipReason::Symlink => f.write_str("symbolic link (not followed)"),
            SkipReason::NonUtf8Name => f.write_str("its name is not valid UTF-8"),
        }
    }
}

/// What a stat says about a file: enough to tell, without reading it, that it is unchanged
/// since it was read. git's rule: size, modification and status-change times, inode and device
/// all equal. Restoring the mtime after an edit (`cp -p`, `rsync -a`, `tar`, `touch -r`) cannot
/// restore the ctime, and replacing the file changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
}

/// A file whose mtime or ctime is less than this old when it is read may change again within
/// the same timestamp tick (a jiffy on Linux filesystems, up to 2 s on FAT) without its stamp
/// changing: git's "racily clean" entries. Such a read records no stamp, so the next warm start
/// compares its content.
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns =
                |secs: i64, nsecs: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsecs);
            Stamp {
                size: meta.len(),
                mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
                ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
                ino: meta.ino(),
                dev: meta.dev(),
            }
        }
        #[cfg(not(unix))]
        {
            Stamp {
                size: meta.len(),
                mtime_ns: mtime_ns(meta),
                ..Stamp::default()
            }
        }
    }

    /// Was the file changed so recently, as of `now_ns`, that a change in the same tick would
    /// leave this stamp as it is? (A time in the future counts as recent.)
    pub fn is_racy(&self, now_ns: i64) -> bool {
        self.mtime_ns.max(self.ctime_ns) > now_ns.saturating_sub(RACY_WINDOW_NS)
    }
}

/// Now, in nanoseconds since the epoch (0 if the clock is before it).
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A file the walker found.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub abs: PathBuf,
    pub rel: String,
    pub lang: Lang,
    pub stamp: Stamp,
}

/// Text read from disk.
#[derive(Debug)]
pub struct Loaded {
    pub text: String,
    /// The bytes were not valid UTF-8 and were decoded lossily.
    pub lossy: bool,
    pub size: u64,
    /// The file's stamp as of the read; `None` when it was changed too recently to vouch for
    /// the content later ([`Stamp::is_racy`]).
    pub stamp: Option<Stamp>,
}

/// `path` relative to `root`, `/`-separated; `None` outside the root.
/// `None` for a path outside `root`, the root itself, or a name that is not valid UTF-8 (a
/// lossy name would be a path that does not exist: see [`SkipReason::NonUtf8Name`]).
pub fn rel_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut out = String::new();
    for comp in rel.components() {
        match comp {
            std::path::Component::Normal(c) => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(c.to_str()?);
            }
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// [`rel_path`] with invalid UTF-8 replaced, for naming what was skipped.
fn rel_path_lossy(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let out = rel
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/");
    (!out.is_empty()).then_some(out)
}

/// The path a walk error is about (when it says) and the error in words.
fn walk_error(err: &ignore::Error) -> (Option<std::path::PathBuf>, String) {
    match err {
        ignore::Error::WithPath { path, err } => (Some(path.clone()), err.to_string()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error(err)
        }
        ignore::Error::Loop { child, .. } => (Some(child.clone()), err.to_string()),
        other => (None, other.to_string()),
    }
}

pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Walks `root` in parallel and returns the indexable files and the skipped ones.
pub fn discover(root: &Path, max_size: u64) -> (Vec<Candidate>, Vec<(String, SkipReason)>) {
    let found = Mutex::new(Vec::new());
    let skipped = Mutex::new(Vec::new());
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .parents(false)
        .require_git(false)
        .follow_links(false)
        .build_parallel();
    walker.run(|| {
        let found = &found;
        let skipped = &skipped;
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    // An unreadable directory, a path too long for the system, a loop: listed
                    // as skipped with the reason (the rest of the walk goes on).
                    tracing::debug!("walk: {err}");
                    let (path, error) = walk_error(&err);
                    let rel = path
                        .and_then(|p| rel_path_lossy(root, &p))
                        .unwrap_or_else(|| ".".to_owned());
                    push(skipped, (rel, SkipReason::Unreadable { error }));
                    return ignore::WalkState::Continue;
                }
            };
            let path = entry.path();
            let Some(file_type) = entry.file_type() else {
                return ignore::WalkState::Continue;
            };
            if file_type.is_dir() {
                return ignore::WalkState::Continue;
            }
            let Some(lang) = Lang::from_path(path) else {
                return ignore::WalkState::Continue;
            };
            let Some(rel) = rel_path(root, path) else {
                if let Some(lossy) = rel_path_lossy(root, path) {
                    push(skipped, (lossy, SkipReason::NonUtf8Name));
                }
                return ignore::WalkState::Continue;
            };
            if file_type.is_symlink() {
                push(skipped, (rel, SkipReason::Symlink));
                return ignore::WalkState::Continue;
            }
            match entry.metadata() {
                Ok(meta) if meta.len() > max_size => push(
                    skipped,
                    (
                        rel,
                        SkipReason::TooLarge {
                            size: meta.len(),
                            limit: max_size,
                        },
                    ),
                ),
                Ok(meta) => push(
                    found,
                    Candidate {
                        abs: path.to_path_buf(),
                        rel,
                        lang,
                        stamp: Stamp::of(&meta),
                    },
                ),
                Err(err) => push(
                    skipped,
                    (
                        rel,
                        SkipReason::Unreadable {
                            error: err.to_string(),
                        },
                    ),
                ),
            }
            ignore::WalkState::Continue
        })
    });
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort_by(|a, b| priority(&a.rel).cmp(&priority(&b.rel)));
    let mut skipped = skipped.into_inner().unwrap_or_else(|e| e.into_inner());
    skipped.sort_by(|a, b| a.0.cmp(&b.0));
    (found, skipped)
}

fn push<T>(v: &Mutex<Vec<T>>, item: T) {
    v.lock().unwrap_or_else(|e| e.into_inner()).push(item);
}

/// Indexing order: sources before tests, examples and vendored code; shallow before deep.
fn priority(rel: &str) -> (bool, usize, &str) {
    let secondary = rel.split('/').any(|c| {
        matches!(
            c,
            "test"
                | "tests"
                | "testdata"
                | "test_data"
                | "fixtures"
                | "examples"
                | "vendor"
                | "third_party"
                | "node_modules"
                | "benches"
        )
    });
    (secondary, rel.matches('/').count(), rel)
}

/// Reads a file for indexing: refuses binary content and files over `max_size`, decodes invalid
/// UTF-8 lossily.
pub fn read_text(path: &Path, max_size: u64) -> Result<Loaded, SkipReason> {
    let unreadable = |e: std::io::Error| SkipReason::Unreadable {
        error: e.to_string(),
    };
    let meta = std::fs::symlink_metadata(path).map_err(unreadable)?;
    if meta.file_type().is_symlink() {
        return Err(SkipReason::Symlink);
    }
    if !meta.is_file() {
        return Err(SkipReason::Unreadable {
            error: "not a regular file".into(),
        });
    }
    if meta.len() > max_size {
        return Err(SkipReason::TooLarge {
            size: meta.len(),
            limit: max_size,
        });
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    if bytes.len() as u64 > max_size {
        return Err(SkipReason::TooLarge {
            size: bytes.len() as u64,
            limit: max_size,
        });
    }
    let size = bytes.len() as u64;
    let (text, lossy) = decode(bytes)?;
    // The stat came before the read: a change in between leaves a stamp that no longer matches
    // (a harmless re-read later). A change after it, in the same tick, is what `is_racy` catches.
    let stamp = Stamp::of(&meta);
    Ok(Loaded {
        text,
        lossy,
        size,
        stamp: (!stamp.is_racy(now_ns())).then_some(stamp),
    })
}

/// UTF-8 text from bytes; NUL bytes in the first 8 KiB mean binary.
pub fn decode(bytes: Vec<u8>) -> Result<(String, bool), SkipReason> {
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(SkipReason::Binary);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok((text, false)),
        Err(err) => Ok((String::from_utf8_lossy(err.as_bytes()).into_owned(), true)),
    }
}

/// Answers "would the walker skip this path?" for single paths the watcher reports, with the
/// same rules: hidden components, `.gitignore` / `.ignore` files from the root down.
#[derive(Debug)]
pub struct IgnoreMatcher {
    root: PathBuf,
    /// Per directory: its ignore rules, `None` when it has no ignore file.
    dirs: DashMap<PathBuf, Option<Arc<Gitignore>>>,
}

impl IgnoreMatcher {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            dirs: DashMap::new(),
        }
    }

    /// Forgets cached rules, e.g. after an ignore file changed.
    pub fn invalidate(&self) {
        self.dirs.clear();
    }

    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return true;
        };
        let hidden = rel
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        if hidden {
            return true;
        }
        // Deepest rules win: check from the file's directory up to the root.
        let mut dir = path.parent();
        while let Some(d) = dir {
            if !d.starts_with(&self.root) {
                break;
            }
            if let Some(rules) = self.rules(d) {
                let m = rules.matched_path_or_any_parents(path, is_dir);
                if m.is_ignore() {
                    return true;
                }
                if m.is_whitelist() {
                    return false;
                }
            }
            if d == self.root {
                break;
            }
            dir = d.parent();
        }
        false
    }

    fn rules(&self, dir: &Path) -> Option<Arc<Gitignore>> {
        if let Some(r) = self.dirs.get(dir) {
            return r.clone();
        }
        let mut builder = GitignoreBuilder::new(dir);
        let mut any = false;
        let mut files = vec![dir.join(".gitignore"), dir.join(".ignore")];
        if dir == self.root {
            files.push(dir.join(".git/info/exclude"));
        }
        for file in files {
            if file.is_file() {
                // A bad line is reported and skipped; the other rules still apply.
                if let Some(err) = builder.add(&file) {
                    tracing::debug!("{}: {err}", file.display());
                }
                any = true;
            }
        }
        let rules = if any {
            builder.build().ok().map(Arc::new)
        } else {
            None
        };
        self.dirs.insert(dir.to_path_buf(), rules.clone());
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: what the walk cannot read (a path over the system's limit) and names that are
    /// not UTF-8 are listed as skipped with a reason, not dropped silently or given a lossy path.
    #[test]
    fn unwalkable_paths_and_non_utf8_names_are_listed_as_skipped() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("ok.py"), "def ok():\n    pass\n").unwrap();
        std::fs::write(
            root.join(std::ffi::OsStr::from_bytes(b"bad\xff.py")),
            "def bad():\n    pass\n",
        )
        .unwrap();
        // Nested directories whose absolute path exceeds PATH_MAX (4096), made one level at a time
        // relative to the previous one (mkdirat), which no length limit stops.
        let made = std::process::Command::new("python3")
            .current_dir(root)
            .arg("-c")
            .arg(
                "import os\nos.mkdir('deep')\nfd = os.open('deep', os.O_RDONLY)\n\
                 for _ in range(25):\n    os.mkdir('d' * 200, dir_fd=fd)\n    \
                 fd = os.open('d' * 200, os.O_RDONLY, dir_fd=fd)\n\
                 open(os.open('f.py', os.O_CREAT | os.O_WRONLY, dir_fd=fd), 'w').write('x = 1\\n')\n",
            )
            .status()
            .unwrap();
        assert!(made.success());
        let (found, skipped) = discover(root, 1 << 20);
        let found: Vec<&str> = found.iter().map(|c| c.rel.as_str()).collect();
        assert_eq!(found, ["ok.py"], "{skipped:?}");
        assert!(
            skipped
                .iter()
                .any(|(rel, why)| rel.starts_with("bad") && *why == SkipReason::NonUtf8Name),
            "{skipped:?}"
        );
        assert!(
            skipped.iter().any(|(rel, why)| rel.starts_with("deep/")
                && matches!(why, SkipReason::Unreadable { .. })),
            "{skipped:?}"
        );
    }
}
