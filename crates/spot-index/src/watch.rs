//! Keeps the index current from file-system events: `notify` with `notify-debouncer-full`.
//!
//! Events are debounced and handled in batches (a `git checkout` of a thousand files is one
//! batch, re-indexed in parallel). Each path is re-checked against the disk, so creates,
//! modifications, deletes, renames and directory moves all come down to "index what is there
//! now". Ignored paths stay ignored; files pinned by the editor are left alone.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer_opt, DebounceEventResult, Debouncer, NoCache};
use rayon::prelude::*;

use super::{FileUpdate, Index};

/// How long the debouncer waits for a burst of events to settle.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

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

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, NoCache>,
}

/// Watches the index's root recursively and applies every batch of changes to `index`, then
/// calls `on_batch` (for logs, tests, and saving the cache).
pub fn watch(
    index: Arc<Index>,
    on_batch: impl Fn(&WatchBatch) + Send + 'static,
) -> Result<Watcher, WatchError> {
    let root = index.root().to_path_buf();
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            let paths: BTreeSet<PathBuf> = events
                .into_iter()
                // Opening or reading a file changes nothing; applying those events (spot's own
                // reads included) would re-index forever.
                .filter(|e| !matches!(e.event.kind, notify::EventKind::Access(_)))
                .flat_map(|e| e.event.paths.into_iter())
                .collect();
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
        notify::Config::default(),
    )
    .map_err(|source| WatchError {
        path: root.clone(),
        source,
    })?;
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|source| WatchError { path: root, source })?;
    Ok(Watcher {
        _debouncer: debouncer,
    })
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
