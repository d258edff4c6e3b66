//! spot's shared vocabulary, below every layer: cooperative cancellation (`cancel`) and the
//! layout of spot's data dir (`data_dir`, the one place that reads the environment for it).
//! No IO beyond resolving that path; depends on nothing of spot's.

pub mod cancel;
pub mod data_dir;
