//! Assists: join the index and the model — localize an issue, prompt, generate, parse, validate
//! and turn the result into edits. Returns plain structs; no LSP.
//!
//! - `localize`: issue text → ranked files and functions (no model);
//! - `rerank`: the model reranks a localization's best files (optional, measured);
//! - `prompt`: the patch prompt (issue + localized code + answer format), shared with learning;
//! - `edit`: search/replace blocks — parse, apply, path safety, diff, atomic writes;
//! - `patch`: the issue-to-patch loop over model candidates, with validation;
//! - `mutate`: one-line edits (boundaries, boolean operators, off-by-one) that `patch` ranks with
//!   the model when its free answers give no valid patch;
//! - `templates`: repair templates on the syntax tree (TBar/PraPR families) at suspicious lines,
//!   ranked candidate edits for test-driven repair;
//! - `testrun`: the project's tests on a candidate, in a scratch copy under the data dir.

pub mod edit;
pub mod localize;
pub mod mutate;
pub mod patch;
pub mod prompt;
pub mod rerank;
pub mod templates;
pub mod testrun;
