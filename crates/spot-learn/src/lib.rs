//! Learning from the repository: its git history, measurements made on it, and the experience
//! a model learns from. The only module that spawns processes (git, tar, a repository's test
//! command, the trainer).
//!
//! - `git`: the git CLI (log, trees, blobs);
//! - `snapshot`: an index at any commit, from the object database;
//! - `history`: the fix-message test and a revision's past commits (for localization);
//! - `eval_localize`: localization measured on the repository's own fix commits;
//! - `experience`: the four units of repository experience as chat JSONL;
//! - `eval_patch`: issue-to-patch replayed on the repository's fix commits;
//! - `eval_model`: a model's scores on held-out experience, and the install gate;
//! - `job`: one learning run (experience, trainer child process, gate, install);
//! - `store`: versioned learned models of a workspace, atomic activation, rollback.

pub mod eval_localize;
pub mod eval_model;
pub mod eval_patch;
pub mod experience;
pub mod git;
pub mod history;
pub mod job;
pub mod snapshot;
pub mod store;
