//! A fixed set of threads that run index requests (workspace symbols, definition, references,
//! hover) off the message loop, fed by one queue.
//!
//! Owns the threads, the queue and the hand-back of each result (a oneshot the request awaits).
//! Leaves out what runs (the closures come from `server.rs`) and where it runs (`server.rs`
//! decides: small workspaces answer on the message loop).
//!
//! Why not tokio's blocking pool: a burst of pipelined requests needs the work of one to follow
//! the last without a pause. Through `spawn_blocking` behind a limit of one call per core, each
//! finished call released its slot to a request that the message loop still had to poll, so the
//! pool thread went to sleep and was woken again for every request; without the limit, the pool
//! starts a thread per request. Here a thread takes the next job as soon as it finishes one and
//! sleeps only when the queue is empty. A job whose request was dropped (cancelled) before it
//! started is skipped.

use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The query threads. Jobs run in the order they were queued (on several threads, overlapping).
pub struct Workers {
    queue: Mutex<mpsc::Sender<Job>>,
}

/// A job panicked; the message of the panic.
#[derive(Debug)]
pub struct Panicked(pub String);

impl Workers {
    /// Starts `threads` threads (at least one). `None` if none could start.
    pub fn start(threads: usize) -> Option<Workers> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("spot-query-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the sender is gone: the server ended
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(err) => tracing::warn!("no query thread {i}: {err}"),
            }
        }
        (started > 0).then(|| Workers {
            queue: Mutex::new(tx),
        })
    }

    /// Queues `f` for a query thread now; the future returns what `f` returns, or the panic's
    /// message. Dropping the future before `f` started skips it.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, Panicked>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return; // the request is gone
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .map_err(|panic| Panicked(panic_message(panic.as_ref())));
            let _ = tx.send(result);
        });
        let queued = self.queue.lock().is_ok_and(|q| q.send(job).is_ok());
        async move {
            if !queued {
                return Err(Panicked("the query threads are gone".to_owned()));
            }
            rx.await
                .unwrap_or_else(|_| Err(Panicked("a query thread ended".to_owned())))
        }
    }
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_returns_results_and_survives_a_panic() {
        let workers = Workers::start(2).unwrap();
        let results: Vec<usize> =
            futures::future::join_all((0..100).map(|i| workers.run(move || i * 2)))
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
        assert_eq!(results, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        let panicked = workers.run(|| -> usize { panic!("boom") }).await;
        assert_eq!(panicked.unwrap_err().0, "boom");
        assert_eq!(workers.run(|| 7).await.unwrap(), 7, "still serving");
    }

    #[tokio::test]
    async fn a_job_whose_request_was_dropped_is_skipped() {
        let workers = Workers::start(1).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        // The thread is busy with the first job while the second is queued and dropped.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = workers.run(move || {
            started_tx.send(()).unwrap();
            release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        });
        let first = tokio::spawn(first);
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let counter = Arc::clone(&ran);
        // Queued behind the first, then dropped.
        drop(workers.run(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        release_tx.send(()).unwrap();
        first.await.unwrap().unwrap();
        workers.run(|| ()).await.unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
