//! Assists: join the index and the model — localize an issue, prompt, generate, parse, validate
//! and turn the result into edits. Returns plain structs; no LSP, no tokio.
//!
//! - `host`: the analysis host, one per workspace: index, editor buffers, cached history, the
//!   model slot and the jobs; the LSP server and the CLI both ask through it;
//! - `slot`: the model slot (lazy load, hot swap, status, a cheap probe);
//! - `jobs`: long-running work as typed records (kind, stage, cancellation);
//! - `actions`: the code actions, listed without the model;
//! - `localize`: issue text → ranked files and functions (no model);
//! - `rerank`: the model reranks a localization's best files (optional, measured);
//! - `prompt`: the patch prompt (issue + localized code + answer format), shared with learning;
//! - `edit`: search/replace blocks — parse, apply, path safety, diff, atomic writes;
//! - `patch`: the issue-to-patch loop over model candidates, with validation;
//! - `mutate`: one-line edits (boundaries, boolean operators, off-by-one) that `patch` ranks with
//!   the model when its free answers give no valid patch;
//! - `templates`: repair templates on the syntax tree (TBar/PraPR families) at suspicious lines,
//!   ranked candidate edits for test-driven repair;
//! - `repair`: test-driven repair: the tests before any patch as the target, candidates judged
//!   by them in parallel copies, evidence fused into suspicious lines, the verdict;
//! - `testrun`: the project's tests on a candidate, in a scratch copy under the data dir;
//! - `testreport`: a test run's output → runner, counts, failing tests (stable ids, kind,
//!   message, location, frames); pure text;
//! - `trace`: stack frames in free text (tracebacks, panics, goroutine dumps, JS stacks) and
//!   which of them point into the workspace; pure text;
//! - `coverage`: per-test line coverage (coverage.py) and Ochiai suspiciousness.

pub mod actions;
pub mod coverage;
pub mod edit;
pub mod host;
pub mod jobs;
pub mod localize;
pub mod mutate;
pub mod patch;
pub mod prompt;
pub mod repair;
pub mod rerank;
pub mod slot;
pub mod templates;
pub mod testreport;
pub mod testrun;
pub mod trace;
