//! Re-indexing open documents off the message loop, coalesced, with read-your-writes for requests.
//!
//! didOpen/didChange/didClose only apply the text (`docs`) and [`Reindex::mark`] the document; a
//! worker re-indexes each marked document at its newest text, so a burst of 100 changes to one
//! buffer costs one or two parses instead of 100, and the message loop never waits on a parse.
//! A request that reads the index first [`Reindex::caught_up`]: it waits until every change
//! received before it is in the index (in practice the few documents being re-indexed), never
//! behind the whole backlog of edits.
//!
//! Generations: each mark bumps `requested`; the worker publishes in `done` the generation its
//! pass started from once that pass is applied. `done >= requested-at-arrival` means the index
//! holds every buffer as of the request's arrival.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};
use tower_lsp_server::ls_types::Uri;

/// How long a request waits for the re-indexer before it reads the index as it is.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Reindex {
    marked: Mutex<HashSet<Uri>>,
    requested: AtomicU64,
    done: watch::Sender<u64>,
    wake: Notify,
}

impl Default for Reindex {
    fn default() -> Self {
        Reindex {
            marked: Mutex::new(HashSet::new()),
            requested: AtomicU64::new(0),
            done: watch::Sender::new(0),
            wake: Notify::new(),
        }
    }
}

impl Reindex {
    /// A document's text changed (or it was opened or closed): re-index it soon.
    pub fn mark(&self, uri: &Uri) {
        let mut marked = self.marked.lock();
        marked.insert(uri.clone());
        // Bumped under the lock, so a pass that takes this mark also covers this generation.
        self.requested.fetch_add(1, Ordering::SeqCst);
        drop(marked);
        self.wake.notify_one();
    }

    /// Waits (asynchronously) until every document marked before this call is in the index.
    /// Gives up after [`CATCH_UP_LIMIT`] with a log line: the index as it is beats no answer.
    pub async fn caught_up(&self) {
        let target = self.requested.load(Ordering::SeqCst);
        let mut done = self.done.subscribe();
        if *done.borrow() >= target {
            return;
        }
        let waited = tokio::time::timeout(CATCH_UP_LIMIT, done.wait_for(|d| *d >= target))
            .await
            .map(|_| ());
        if waited.is_err() {
            tracing::warn!(
                "re-indexing open documents is behind by {} changes; answering from the index as it is",
                target.saturating_sub(*self.done.borrow())
            );
        }
    }

    /// The worker's side: waits for marks, then returns them with the generation they cover.
    pub async fn next_pass(&self) -> (Vec<Uri>, u64) {
        loop {
            {
                let mut marked = self.marked.lock();
                if !marked.is_empty() {
                    let generation = self.requested.load(Ordering::SeqCst);
                    return (marked.drain().collect(), generation);
                }
            }
            self.wake.notified().await;
        }
    }

    /// The worker applied a pass that started at `generation`.
    pub fn finished(&self, generation: u64) {
        self.done.send_if_modified(|d| {
            let newer = generation > *d;
            if newer {
                *d = generation;
            }
            newer
        });
    }

    /// Changes marked but not yet in the index (for status and tests).
    pub fn behind(&self) -> u64 {
        self.requested
            .load(Ordering::SeqCst)
            .saturating_sub(*self.done.borrow())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn uri(n: u32) -> Uri {
        format!("file:///w/{n}.py").parse().unwrap()
    }

    #[tokio::test]
    async fn marks_coalesce_and_requests_wait_for_their_generation() {
        let r = Arc::new(Reindex::default());
        for _ in 0..50 {
            r.mark(&uri(1));
        }
        r.mark(&uri(2));
        assert_eq!(r.behind(), 51);
        let (mut uris, generation) = r.next_pass().await;
        uris.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(uris, vec![uri(1), uri(2)], "one entry per document");
        assert_eq!(generation, 51);

        // A request arriving now waits for generation 51, not for marks made after it.
        let waiter = {
            let r = Arc::clone(&r);
            tokio::spawn(async move { r.caught_up().await })
        };
        tokio::task::yield_now().await;
        r.mark(&uri(3));
        assert!(!waiter.is_finished());
        r.finished(generation);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the request was released by its own generation")
            .unwrap();
        assert_eq!(r.behind(), 1);
        let (uris, generation) = r.next_pass().await;
        assert_eq!((uris, generation), (vec![uri(3)], 52));
        r.finished(generation);
        assert_eq!(r.behind(), 0);
        // Caught up: returns at once.
        tokio::time::timeout(Duration::from_millis(100), r.caught_up())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_mark_while_the_worker_waits_wakes_it() {
        let r = Arc::new(Reindex::default());
        let worker = {
            let r = Arc::clone(&r);
            tokio::spawn(async move { r.next_pass().await })
        };
        tokio::task::yield_now().await;
        r.mark(&uri(7));
        let (uris, generation) = tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((uris, generation), (vec![uri(7)], 1));
    }
}
