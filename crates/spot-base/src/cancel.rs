//! Cooperative cancellation shared by every long core call.
//!
//! A [`CancelToken`] is cheap to clone and to poll; long loops (indexing between files, decoding
//! between tokens, test runs between candidates) call [`CancelToken::check`] and return
//! [`Cancelled`] when it was tripped. A token can be linked under a parent ([`CancelToken::child`]):
//! it is cancelled when it or any of its ancestors is, so a job cancelled by its own request
//! and by a newer request needs no second token to poll. No threads, no async: the shells decide
//! when to trip it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The error a cancelled core call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

#[derive(Debug, Default)]
struct Node {
    flag: AtomicBool,
    parent: Option<CancelToken>,
}

/// A shared flag; tripping any clone cancels all of them, and every child made from them.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Node>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// A token cancelled when `self` is (or any of its ancestors), or when it is itself
    /// cancelled; cancelling it leaves `self` alone.
    pub fn child(&self) -> CancelToken {
        CancelToken(Arc::new(Node {
            flag: AtomicBool::new(false),
            parent: Some(self.clone()),
        }))
    }

    /// Marks the work as cancelled. Idempotent.
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        // Chains are short (a job under a request): a loop, not recursion.
        let mut node = &self.0;
        loop {
            if node.flag.load(Ordering::Relaxed) {
                return true;
            }
            match &node.parent {
                Some(parent) => node = &parent.0,
                None => return false,
            }
        }
    }

    /// `Err(Cancelled)` once [`cancel`](Self::cancel) was called on any clone or ancestor.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_state_and_children_follow_their_parents() {
        let token = CancelToken::new();
        assert_eq!(token.check(), Ok(()));
        let child = token.child();
        let grandchild = child.child();
        let other_child = token.child();
        other_child.cancel();
        assert!(!token.is_cancelled(), "a child does not cancel its parent");
        assert!(!child.is_cancelled());
        token.clone().cancel();
        assert_eq!(token.check(), Err(Cancelled));
        assert_eq!(child.check(), Err(Cancelled));
        assert_eq!(grandchild.check(), Err(Cancelled));
    }
}
