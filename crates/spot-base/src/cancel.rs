//! Cooperative cancellation shared by every long core call.
//!
//! A [`CancelToken`] is cheap to clone and to poll; long loops (indexing between files, decoding
//! between tokens) call [`CancelToken::check`] and return [`Cancelled`] when it was tripped. No
//! threads, no async: the shells (`lsp/`, `cli/`) decide when to trip it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The error a cancelled core call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// A shared flag; tripping any clone cancels all of them.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the work as cancelled. Idempotent.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once [`cancel`](Self::cancel) was called on any clone.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// A guard that cancels this token when dropped, e.g. when a request future is aborted.
    pub fn drop_guard(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }
}

/// Trips its token on drop unless [`disarm`](CancelOnDrop::disarm)ed.
#[derive(Debug)]
pub struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_state_and_guard_trips_on_drop() {
        let token = CancelToken::new();
        assert_eq!(token.check(), Ok(()));
        {
            let _guard = token.drop_guard();
        }
        assert_eq!(token.clone().check(), Err(Cancelled));

        let other = CancelToken::new();
        other.drop_guard().disarm();
        assert!(!other.is_cancelled());
    }
}
