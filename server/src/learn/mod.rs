//! Learning from the repository: its git history, and measurements made on it. The only
//! module that spawns processes (git). Later: experience building, training jobs.

pub mod eval_localize;
pub mod git;
