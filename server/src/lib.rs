//! spot: a repo-expert language server.
//!
//! Core modules (`index`, `model`) do no protocol work and never read the environment; the shells
//! (`cli`, `lsp`) translate between the outside world and the core. See ARCHITECTURE.md.

pub mod assist;
pub mod cancel;
pub mod cli;
pub mod data_dir;
pub mod index;
pub mod learn;
pub mod line_index;
pub mod lsp;
pub mod model;
