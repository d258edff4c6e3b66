//! Keeps the index current from file-system events: `notify` with `notify-debouncer-full`.
//!
//! Events are debounced and handled in batches (a `git checkout` of a thousand files is one
//! batch, re-indexed in parallel). Each path is re-checked against the disk, so creates,
//! modifications, deletes, renames and directory moves all come down to "index what is there
//! now". Ignored paths stay ignored; files pinned by the editor are left alone.
//!
//! A directory that cannot be watched (no permission, the inotify limit) is skipped, not fatal:
//! notify's recursive watch gives up on the whole tree at the first one, so the tree is then
//! watched in pieces (recursively where that works, level by level on the way to what does not;
//! directories created later in such a level get their watch from the event handler), and the
//! skipped directories are logged once and listed by [`Watcher::unwatched`]. Symlinks are not
//! followed, as the walker does not follow them.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer_opt, DebounceEventResult, Debouncer, NoCache};
use parking_lot::Mutex;
use rayon::prelude::*;

use super::{FileUpdate, Index};

/// How long the debouncer waits for a burst of events to settle.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Most failed recursive watches one [`watch_tree`] makes before it stops splitting subtrees
/// (each failure can cost a walk of the subtree up to the directory that failed); what is left
/// is reported as not watched.
const MAX_FAILED_WATCHES: usize = 1000;

/// What one batch of events changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchBatch {
    pub indexed: usize,
    pub removed: usize,
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    path: PathBuf,
    source: notify::Error,
}

/// A directory that is not watched, and why: changes under it reach the index only on the next
/// start (or a save in the editor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwatched {
    pub path: PathBuf,
    pub reason: String,
}

type NotifyDebouncer = Debouncer<notify::RecommendedWatcher, NoCache>;

/// State the event handler shares with the [`Watcher`].
struct Shared {
    /// `None` once the watcher is dropped.
    debouncer: Option<NotifyDebouncer>,
    /// Directories watched on their own level only (they hold something that cannot be
    /// watched): notify adds no watch for a directory created in one, so the handler does.
    shallow: HashSet<PathBuf>,
    unwatched: Vec<Unwatched>,
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    shared: Arc<Mutex<Shared>>,
}

impl Watcher {
    /// The directories that could not be watched so far.
    pub fn unwatched(&self) -> Vec<Unwatched> {
        self.shared.lock().unwatched.clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Dropped outside the lock: the handler may be waiting for it.
        let debouncer = self.shared.lock().debouncer.take();
        drop(debouncer);
    }
}

/// Watches the index's root recursively and applies every batch of changes to `index`, then
/// calls `on_batch` (for logs, tests, and saving the cache).
///
/// A directory that cannot be watched (no permission, gone meanwhile, the inotify limit) is
/// skipped and the rest is watched: notify's recursive watch gives up on the whole tree at the
/// first such directory, so then the tree is watched in pieces ([`watch_tree`]). The skipped
/// directories are logged once and listed by [`Watcher::unwatched`]. Only a root that cannot be
/// watched at all is an error.
pub fn watch(
    index: Arc<Index>,
    on_batch: impl Fn(&WatchBatch) + Send + 'static,
) -> Result<Watcher, WatchError> {
    let root = index.root().to_path_buf();
    let shared = Arc::new(Mutex::new(Shared {
        debouncer: None,
        shallow: HashSet::new(),
        unwatched: Vec::new(),
    }));
    let weak: Weak<Mutex<Shared>> = Arc::downgrade(&shared);
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            let paths: BTreeSet<PathBuf> = events
                .into_iter()
                // Opening or reading a file changes nothing; applying those events (spot's own
                // reads included) would re-index forever.
                .filter(|e| !matches!(e.event.kind, notify::EventKind::Access(_)))
                .flat_map(|e| e.event.paths.into_iter())
                .collect();
            if let Some(shared) = weak.upgrade() {
                watch_new_dirs(&shared, &paths);
            }
            let batch = apply(&index, paths);
            if batch != WatchBatch::default() {
                tracing::debug!(?batch, "watcher batch");
                on_batch(&batch);
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("file watcher: {e}");
            }
        }
    };
    let mut debouncer = new_debouncer_opt::<_, notify::RecommendedWatcher, NoCache>(
        DEBOUNCE,
        None,
        handler,
        NoCache,
        // The walker never follows symlinks, so neither does the watcher: a link to `/` must
        // not put the whole filesystem under watch.
        notify::Config::default().with_follow_symlinks(false),
    )
    .map_err(|source| WatchError {
        path: root.clone(),
        source,
    })?;
    let coverage = match debouncer.watch(&root, RecursiveMode::Recursive) {
        Ok(()) => Coverage::default(),
        Err(err) => {
            debouncer.unwatch(&root).ok();
            if failed_itself(&err, &root) {
                return Err(WatchError {
                    path: root,
                    source: err,
                });
            }
            watch_tree(&mut debouncer, &root, Some(err))
        }
    };
    report(&coverage.unwatched);
    let mut state = shared.lock();
    state.shallow.extend(coverage.shallow);
    state.unwatched.extend(coverage.unwatched);
    state.debouncer = Some(debouncer);
    drop(state);
    Ok(Watcher { shared })
}

/// Logs directories that cannot be watched, once each (the caller passes only new ones).
fn report(unwatched: &[Unwatched]) {
    if unwatched.is_empty() {
        return;
    }
    let listed: Vec<String> = unwatched
        .iter()
        .take(20)
        .map(|u| format!("{} ({})", u.path.display(), u.reason))
        .collect();
    let more = unwatched.len().saturating_sub(listed.len());
    tracing::warn!(
        "file watching skips {} director{} it cannot watch (changes there are seen on the next \
         start): {}{}",
        unwatched.len(),
        if unwatched.len() == 1 { "y" } else { "ies" },
        listed.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
}

/// Directories created (or moved) into a shallow-watched directory: notify watches new
/// directories only under recursive watches, so these get theirs here, before the batch is
/// applied (a file written into one right after it appeared is then either seen by the walk of
/// the new directory or reported by its watch).
fn watch_new_dirs(shared: &Mutex<Shared>, paths: &BTreeSet<PathBuf>) {
    let mut state = shared.lock();
    let new_dirs: Vec<PathBuf> = paths
        .iter()
        .filter(|p| {
            p.parent()
                .is_some_and(|parent| state.shallow.contains(parent))
        })
        .filter(|p| !state.shallow.contains(*p))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .cloned()
        .collect();
    for dir in new_dirs {
        let Some(debouncer) = state.debouncer.as_mut() else {
            return;
        };
        let coverage = watch_tree(debouncer, &dir, None);
        report(&coverage.unwatched);
        state.shallow.extend(coverage.shallow);
        state.unwatched.extend(coverage.unwatched);
    }
}

/// Where watches are added: notify's debouncer, or a stand-in in tests.
trait Watches {
    fn watch(&mut self, path: &Path, mode: RecursiveMode) -> notify::Result<()>;
    fn unwatch(&mut self, path: &Path);
}

impl Watches for NotifyDebouncer {
    fn watch(&mut self, path: &Path, mode: RecursiveMode) -> notify::Result<()> {
        Debouncer::watch(self, path, mode)
    }

    fn unwatch(&mut self, path: &Path) {
        // Not watched (notify had not got to it): nothing to undo.
        Debouncer::unwatch(self, path).ok();
    }
}

/// What [`watch_tree`] did besides recursive watches.
#[derive(Debug, Default, PartialEq, Eq)]
struct Coverage {
    /// Watched on their own level only, each child watched or reported separately.
    shallow: Vec<PathBuf>,
    unwatched: Vec<Unwatched>,
}

/// Did this watch error happen at `dir` itself (rather than somewhere below it)?
fn failed_itself(err: &notify::Error, dir: &Path) -> bool {
    err.paths.is_empty() || err.paths.iter().any(|p| p == dir)
}

/// Watches `dir` and everything under it that can be watched, without recursion on the depth:
/// a recursive watch per directory where it succeeds; where notify gives up on a subtree (it
/// stops at the first directory it cannot watch, keeping the watches it had added), those are
/// removed, the directory is watched on its own level, and its subdirectories are tried one by
/// one. `first_error` is a recursive watch of `dir` that has already failed (and been undone).
fn watch_tree(w: &mut impl Watches, dir: &Path, first_error: Option<notify::Error>) -> Coverage {
    let mut coverage = Coverage::default();
    let mut pending: Vec<(PathBuf, Option<notify::Error>)> = vec![(dir.to_path_buf(), first_error)];
    let mut failures = 0;
    while let Some((d, known_error)) = pending.pop() {
        let err = match known_error {
            Some(err) => err,
            None => match w.watch(&d, RecursiveMode::Recursive) {
                Ok(()) => continue,
                Err(err) => {
                    w.unwatch(&d);
                    err
                }
            },
        };
        failures += 1;
        let give_up = match err.kind {
            notify::ErrorKind::MaxFilesWatch => Some(
                "the inotify watch limit is reached (sysctl fs.inotify.max_user_watches)"
                    .to_owned(),
            ),
            _ if failures > MAX_FAILED_WATCHES => {
                Some("too many directories that cannot be watched".to_owned())
            }
            _ => None,
        };
        if let Some(reason) = give_up {
            coverage.unwatched.extend(
                std::iter::once(d)
                    .chain(pending.drain(..).map(|(p, _)| p))
                    .map(|path| Unwatched {
                        path,
                        reason: reason.clone(),
                    }),
            );
            break;
        }
        if failed_itself(&err, &d) {
            coverage.unwatched.push(Unwatched {
                path: d,
                reason: err.to_string(),
            });
            continue;
        }
        if let Err(err) = w.watch(&d, RecursiveMode::NonRecursive) {
            coverage.unwatched.push(Unwatched {
                path: d,
                reason: err.to_string(),
            });
            continue;
        }
        match std::fs::read_dir(&d) {
            Ok(entries) => {
                // Not following symlinks, like the walker.
                let mut subdirs: Vec<PathBuf> = entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect();
                subdirs.sort();
                pending.extend(subdirs.into_iter().rev().map(|p| (p, None)));
            }
            Err(err) => coverage.unwatched.push(Unwatched {
                path: d.clone(),
                reason: format!("cannot list its subdirectories: {err}"),
            }),
        }
        coverage.shallow.push(d);
    }
    coverage
}

/// Re-checks each changed path against the disk.
fn apply(index: &Index, paths: BTreeSet<PathBuf>) -> WatchBatch {
    if paths.iter().any(|p| {
        p.file_name()
            .is_some_and(|n| n == ".gitignore" || n == ".ignore" || n == "exclude")
    }) {
        index.invalidate_ignore_rules();
    }
    let updates: Vec<FileUpdate> = paths
        .par_iter()
        .filter(|p| p.starts_with(index.root()))
        .flat_map_iter(|path| -> Vec<FileUpdate> {
            let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            if index.is_ignored(path, is_dir) {
                // Still drop entries that a rule change just excluded.
                return vec![index.update_from_disk(path)];
            }
            if is_dir {
                let n = index.update_dir(path);
                return vec![FileUpdate::Indexed; n];
            }
            if !path.exists() && super::Lang::from_path(path).is_none() {
                // A directory that went away (moved or deleted).
                let n = index.update_dir(path);
                return vec![FileUpdate::Removed; n];
            }
            vec![index.update_from_disk(path)]
        })
        .collect();
    // A file (or nothing) where a directory may have been: drop what was under it, in one pass
    // over the index for the whole batch.
    let not_dirs: std::collections::HashSet<String> = paths
        .iter()
        .filter(|p| !std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .filter_map(|p| index.rel_path(p))
        .collect();
    let mut batch = WatchBatch {
        removed: index.remove_under(&not_dirs),
        ..WatchBatch::default()
    };
    for u in updates {
        match u {
            FileUpdate::Indexed => batch.indexed += 1,
            FileUpdate::Removed => batch.removed += 1,
            FileUpdate::Skipped(_) => batch.skipped += 1,
            FileUpdate::Unchanged | FileUpdate::NotIndexed => {}
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// notify as far as `watch_tree` sees it: a recursive watch fails at the first directory of
    /// `bad` inside the subtree (after adding the watches before it, as notify does); a watch
    /// of a bad directory itself fails.
    struct Fake {
        bad: Vec<PathBuf>,
        limit: Option<PathBuf>,
        watches: BTreeMap<PathBuf, bool>,
    }

    impl Watches for Fake {
        fn watch(&mut self, path: &Path, mode: RecursiveMode) -> notify::Result<()> {
            let recursive = mode == RecursiveMode::Recursive;
            if self.limit.as_deref() == Some(path) {
                return Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch)
                    .add_path(path.to_path_buf()));
            }
            let failing = self
                .bad
                .iter()
                .find(|b| *b == path || recursive && b.starts_with(path));
            match failing {
                Some(b) => {
                    if *b != path {
                        self.watches.insert(path.to_path_buf(), recursive);
                    }
                    let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
                    Err(notify::Error::io(denied).add_path(b.clone()))
                }
                None => {
                    self.watches.insert(path.to_path_buf(), recursive);
                    Ok(())
                }
            }
        }

        fn unwatch(&mut self, path: &Path) {
            self.watches.retain(|p, _| !p.starts_with(path));
        }
    }

    fn tree(dirs: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("a temp dir");
        for d in dirs {
            std::fs::create_dir_all(root.path().join(d)).expect("mkdir");
        }
        root
    }

    /// Issue 19: one directory that cannot be watched used to disable watching for the whole
    /// workspace. Now the rest is watched: recursively where possible, level by level on the
    /// way to what cannot be, which is reported.
    #[test]
    fn what_cannot_be_watched_is_skipped_and_the_rest_watched() {
        let ws = tree(&["a/x", "a/y", "b/locked/inner", "b/c/locked2", "b/c/ok", "d"]);
        let root = ws.path();
        let at = |p: &str| root.join(p);
        let mut fake = Fake {
            bad: vec![at("b/locked"), at("b/c/locked2")],
            limit: None,
            watches: BTreeMap::new(),
        };
        let first = fake
            .watch(root, RecursiveMode::Recursive)
            .expect_err("the root's recursive watch fails");
        fake.unwatch(root);
        let coverage = watch_tree(&mut fake, root, Some(first));
        let watched: Vec<(String, bool)> = fake
            .watches
            .iter()
            .map(|(p, r)| (crate::walk::rel_path(root, p).unwrap_or_default(), *r))
            .collect();
        let expected: Vec<(String, bool)> = [
            ("", false),
            ("a", true),
            ("b", false),
            ("b/c", false),
            ("b/c/ok", true),
            ("d", true),
        ]
        .iter()
        .map(|(p, r)| ((*p).to_owned(), *r))
        .collect();
        assert_eq!(watched, expected);
        assert_eq!(coverage.shallow, [at(""), at("b"), at("b/c")]);
        let unwatched: Vec<&Path> = coverage
            .unwatched
            .iter()
            .map(|u| u.path.as_path())
            .collect();
        assert_eq!(unwatched, [at("b/c/locked2"), at("b/locked")]);
        assert!(
            coverage.unwatched[0].reason.contains("permission denied"),
            "{coverage:?}"
        );
    }

    /// The inotify watches of this process, per inotify file descriptor.
    #[cfg(target_os = "linux")]
    fn inotify_watches() -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir("/proc/self/fdinfo")
            .into_iter()
            .flatten()
            .flatten()
        {
            let info = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let n = info
                .lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count();
            if info.lines().any(|l| l.starts_with("inotify")) {
                out.insert(entry.file_name().to_string_lossy().into_owned(), n);
            }
        }
        out
    }

    /// The walker does not follow symlinks, and now neither does the watcher: a link to a
    /// directory outside the workspace (or to `/`) put everything under it under watch.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_watcher_does_not_follow_symlinks() {
        let outside = tree(
            &(0..50)
                .map(|i| format!("d{i}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let ws = tree(&["src"]);
        let root = ws.path().canonicalize().expect("canonical root");
        std::os::unix::fs::symlink(outside.path(), root.join("link")).expect("symlink");
        let before = inotify_watches();
        let index = Arc::new(Index::new(root, crate::IndexOptions::default()));
        let watcher = watch(index, |_| {}).expect("watching");
        let new: Vec<usize> = inotify_watches()
            .into_iter()
            .filter(|(fd, _)| !before.contains_key(fd))
            .map(|(_, n)| n)
            .collect();
        assert_eq!(new, [2], "the root and src/ only");
        assert!(watcher.unwatched().is_empty());
    }

    #[test]
    fn the_inotify_limit_stops_the_splitting_and_is_reported() {
        let ws = tree(&["a", "b/locked", "c", "d"]);
        let root = ws.path();
        let mut fake = Fake {
            bad: vec![root.join("b/locked")],
            limit: Some(root.join("c")),
            watches: BTreeMap::new(),
        };
        let coverage = watch_tree(&mut fake, root, None);
        let unwatched: Vec<(&Path, bool)> = coverage
            .unwatched
            .iter()
            .map(|u| (u.path.as_path(), u.reason.contains("max_user_watches")))
            .collect();
        assert_eq!(
            unwatched,
            [
                (root.join("b/locked").as_path(), false),
                (root.join("c").as_path(), true),
                (root.join("d").as_path(), true),
            ]
        );
    }
}
