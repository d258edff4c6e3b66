//! spot's protocol extensions: every `spot.*` command's arguments and result, the `spot/status`
//! notification and the code actions' `data`, as typed structs serialized with serde.
//!
//! This file is the protocol's definition. docs/lsp-extensions.md describes it and carries a hash
//! of this file, checked by a test (change one, update the other and the hash). The VS Code
//! client's types (`editors/vscode/src/protocol.generated.ts`) are generated from these structs
//! with ts-rs by a test (`UPDATE_EXPECT=1 cargo test -p spot-lsp ext` rewrites them). Errors go
//! through one function, [`rpc_error`].

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::{Range, Uri, WorkspaceEdit};

#[cfg(test)]
use ts_rs::TS;

/// `workspace/executeCommand` commands, in the order the server advertises them.
pub const ISSUE_TO_PATCH: &str = "spot.issueToPatch";
pub const LOCALIZE: &str = "spot.localize";
pub const STATUS: &str = "spot.status";
pub const CANCEL: &str = "spot.cancel";
pub const LEARN: &str = "spot.learn";
pub const COMMANDS: &[&str] = &[ISSUE_TO_PATCH, LOCALIZE, STATUS, CANCEL, LEARN];

/// Server → client: the status, sent whenever it changes.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = Status;
    const METHOD: &'static str = "spot/status";
}

/// `spot.issueToPatch` arguments (a bare string is taken as `issue`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct IssueToPatchArgs {
    pub issue: String,
    /// Send the edit to the client with `workspace/applyEdit` (default true).
    #[serde(default = "yes")]
    #[cfg_attr(test, ts(optional, as = "Option<bool>"))]
    pub apply: bool,
    /// Aim at this failing test (its runner's id or name, as the `Fix failing test` code action
    /// gives it) instead of every test that fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub target_test: Option<String>,
}

fn yes() -> bool {
    true
}

/// `spot.localize` arguments (a bare string is taken as `issue`).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct LocalizeArgs {
    pub issue: String,
    /// Files and functions to list (default 10).
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub limit: Option<usize>,
}

/// What became of an issue-to-patch edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum PatchStatus {
    /// The client applied it.
    Applied,
    /// The client refused it (`reason` says why, when it did).
    Rejected,
    /// `apply` was false: nothing was sent.
    Proposed,
}

/// Where an edit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum PatchSource {
    /// A model answer.
    Answer,
    /// A one-line edit the model ranked.
    OneLineEdit,
    /// A small edit at a suspicious line (a repair template) that the tests judged.
    TestedEdit,
}

/// What the tests say of an edit: the claim the editor shows. Only `fixesFailingTests` is a fix;
/// the others are guesses and must be labelled so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Tests failed before the edit, pass with it, and nothing else broke.
    FixesFailingTests,
    /// No test failed before; the tests still pass with the edit (a guess).
    PassesTests,
    /// Not tested (no test command, or one that could not judge): a guess.
    Unverified,
}

/// What spot based the edit on, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum Evidence {
    FailingTests,
    TestFrames,
    Coverage,
    IssueFrames,
    ReproductionTest,
    Text,
    Model,
}

/// What the test command said.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct TestSummary {
    pub command: String,
    /// `pytest`, `unittest`, `cargo`, `go`, `jest`, `tap`, … or `unknown`.
    pub runner: String,
    /// The tests that failed before the edit (the target).
    pub failing_before: Vec<String>,
    #[cfg_attr(test, ts(optional))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed_before: Option<usize>,
    #[cfg_attr(test, ts(optional))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed_after: Option<usize>,
    /// Why the tests could not judge, when they could not.
    #[cfg_attr(test, ts(optional))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
    /// A reproduction test spot wrote (part of the edit), by name.
    #[cfg_attr(test, ts(optional))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproduction: Option<String>,
}

/// `spot.issueToPatch` result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct PatchResult {
    pub status: PatchStatus,
    /// Unified diff of the edit.
    pub diff: String,
    /// Workspace-relative paths it changes.
    pub files: Vec<String>,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub edit: WorkspaceEdit,
    /// Model answers generated.
    pub candidates: usize,
    pub source: PatchSource,
    /// What the tests say of it.
    pub verdict: Verdict,
    /// The verdict in words, for people (`fixes the 1 failing test`, `a guess: not tested`).
    pub verdict_text: String,
    /// What the test command reported, when one ran.
    pub tests: Option<TestSummary>,
    pub evidence: Vec<Evidence>,
    /// One line: `1 file changed: inventory/pricing.py`.
    pub summary: String,
    /// Why the client rejected it, when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub reason: Option<String>,
}

/// One file of a localization.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct LocalizedFile {
    pub path: String,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub uri: Option<Uri>,
    pub score: f64,
    pub reason: String,
}

/// One function of a localization.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct LocalizedFunction {
    pub name: String,
    pub path: String,
    #[cfg_attr(test, ts(type = "string | null"))]
    pub uri: Option<Uri>,
    /// Whole lines: from the function's first line to the line after its last.
    #[cfg_attr(
        test,
        ts(
            type = "{ start: { line: number, character: number }, end: { line: number, character: number } }"
        )
    )]
    pub range: Range,
    pub score: f64,
}

/// `spot.localize` result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct LocalizeResult {
    pub files: Vec<LocalizedFile>,
    pub functions: Vec<LocalizedFunction>,
}

/// The index's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum IndexState {
    /// No workspace folder is open.
    None,
    /// The first build runs (requests are answered from what is indexed so far).
    Building,
    Ready,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct IndexStatus {
    pub state: IndexState,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub files: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub symbols: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub root: Option<String>,
    /// Buffer edits received but not yet in the index (not a reason to push a status).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional, as = "Option<u32>"))]
    pub pending_changes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum ModelState {
    Unloaded,
    Loading,
    Ready,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct ModelStatus {
    pub state: ModelState,
    pub dir: String,
    /// The model directory's name (`smollm2-135m-instruct`, `v3`).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub provider: Option<String>,
    /// Why it is unavailable, or (unloaded) why loading it would fail: checked at start without
    /// loading, so an editor can say "no model: run setup" before the first fix is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    IssueToPatch,
    CodeAction,
    Learn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// A JSON number (never near 2^53).
    #[cfg_attr(test, ts(type = "number"))]
    pub id: u64,
    pub kind: JobKind,
    /// The stage's name: `starting`, `loadingModel`, `localizing`, `testing`, `generating`,
    /// `validating`, `ranking`, `learning`.
    pub stage: String,
    /// The stage in words, for people (`generating: candidate 1/3, 16 tokens`).
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub enum LearnState {
    Idle,
    Running,
    Failed,
    Installed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct LearnStatus {
    pub state: LearnState,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub message: Option<String>,
}

/// `spot.status` result and `spot/status` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub version: String,
    pub index: IndexStatus,
    pub model: ModelStatus,
    pub jobs: Vec<Job>,
    pub learn: LearnStatus,
}

/// `spot.cancel` result.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct CancelResult {
    pub cancelled: usize,
}

/// `spot.learn` arguments: none to start a run, `{"rollback": true}` to go back one model.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct LearnArgs {
    #[serde(default)]
    #[cfg_attr(test, ts(optional, as = "Option<bool>"))]
    pub rollback: bool,
}

/// `spot.learn` result when a run starts.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct LearnResult {
    pub started: bool,
    #[cfg_attr(test, ts(type = "number"))]
    pub job: u64,
}

/// `spot.learn` result of a rollback: the learned version now active, null for the default.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct RollbackResult {
    pub rolled_back: bool,
    pub active: Option<String>,
}

/// A listed code action's `data`, all its resolve needs (no server memory).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS))]
#[serde(rename_all = "camelCase")]
pub struct ActionData {
    #[cfg_attr(test, ts(type = "string"))]
    pub uri: Uri,
    /// 0-based line the fix is focused on.
    pub line: u32,
    /// The issue text the fix works from.
    pub issue: String,
    /// Set on `Fix failing test`: the test to make pass (the test command must be set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub target_test: Option<String>,
    /// Set by `codeAction/resolve`: what the tests say of the edit (a guess unless
    /// `fixesFailingTests`), for the editor to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub verdict_text: Option<String>,
}

/// JSON-RPC error codes spot answers with.
pub mod codes {
    /// The work could not be done (no model, no valid patch, …): the message is for the user.
    pub const REQUEST_FAILED: i64 = -32803;
    /// Cancelled (`$/cancelRequest`, `spot.cancel`, a newer request).
    pub const REQUEST_CANCELLED: i64 = -32800;
}

/// What went wrong, as the protocol tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The work could not be done; the message says why, for the user.
    Failed(String),
    Cancelled,
    /// The request's arguments are wrong.
    InvalidParams(String),
}

/// The one place spot's failures become JSON-RPC errors.
pub fn rpc_error(failure: Failure) -> jsonrpc::Error {
    let (code, message) = match failure {
        Failure::Failed(m) => (jsonrpc::ErrorCode::ServerError(codes::REQUEST_FAILED), m),
        Failure::Cancelled => (
            jsonrpc::ErrorCode::ServerError(codes::REQUEST_CANCELLED),
            "cancelled".to_owned(),
        ),
        Failure::InvalidParams(m) => (jsonrpc::ErrorCode::InvalidParams, m),
    };
    jsonrpc::Error {
        code,
        message: message.into(),
        data: None,
    }
}

/// The first argument of a command as `T`; a bare string is taken as `T`'s `issue`.
pub fn args<T: serde::de::DeserializeOwned>(
    args: &[serde_json::Value],
    usage: &str,
) -> Result<T, jsonrpc::Error> {
    let value = match args.first() {
        Some(serde_json::Value::String(s)) => serde_json::Value::Object(
            [("issue".to_owned(), s.clone().into())]
                .into_iter()
                .collect(),
        ),
        Some(v @ serde_json::Value::Object(_)) => v.clone(),
        None => serde_json::Value::Object(serde_json::Map::new()),
        Some(_) => {
            return Err(rpc_error(Failure::InvalidParams(format!(
                "expected {usage}"
            ))))
        }
    };
    serde_json::from_value(value).map_err(|e| {
        rpc_error(Failure::InvalidParams(format!(
            "bad arguments: {e} (expected {usage})"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TypeScript declarations of every type above, in one file the VS Code client imports.
    fn typescript() -> String {
        let cfg = ts_rs::Config::default();
        let decls = [
            IssueToPatchArgs::decl(&cfg),
            LocalizeArgs::decl(&cfg),
            PatchStatus::decl(&cfg),
            PatchSource::decl(&cfg),
            Verdict::decl(&cfg),
            Evidence::decl(&cfg),
            TestSummary::decl(&cfg),
            PatchResult::decl(&cfg),
            LocalizedFile::decl(&cfg),
            LocalizedFunction::decl(&cfg),
            LocalizeResult::decl(&cfg),
            IndexState::decl(&cfg),
            IndexStatus::decl(&cfg),
            ModelState::decl(&cfg),
            ModelStatus::decl(&cfg),
            JobKind::decl(&cfg),
            Job::decl(&cfg),
            LearnState::decl(&cfg),
            LearnStatus::decl(&cfg),
            Status::decl(&cfg),
            CancelResult::decl(&cfg),
            LearnArgs::decl(&cfg),
            LearnResult::decl(&cfg),
            RollbackResult::decl(&cfg),
            ActionData::decl(&cfg),
        ];
        let mut out = String::from(
            "// Generated from crates/spot-lsp/src/ext.rs by its test (ts-rs); do not edit.\n\
             // Regenerate: UPDATE_EXPECT=1 cargo test -p spot-lsp ext\n\n",
        );
        out.push_str("export const Commands = {\n");
        for c in COMMANDS {
            let key = c.trim_start_matches("spot.");
            out.push_str(&format!("  {key}: '{c}',\n"));
        }
        out.push_str("} as const;\n\n");
        out.push_str(&format!(
            "export const StatusNotification = '{}';\n\n",
            StatusNotification::METHOD
        ));
        out.push_str(&format!(
            "export const ErrorCodes = {{\n  requestFailed: {},\n  invalidParams: -32602,\n  requestCancelled: {},\n}} as const;\n\n",
            codes::REQUEST_FAILED,
            codes::REQUEST_CANCELLED
        ));
        for d in decls {
            out.push_str("export ");
            out.push_str(&d);
            out.push_str("\n\n");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }

    #[test]
    fn the_vscode_client_types_are_generated_from_this_file() {
        expect_test::expect_file!["../../../editors/vscode/src/protocol.generated.ts"]
            .assert_eq(&typescript());
    }

    /// A stable hash of ext.rs's text (FNV-1a, 64 bits), as docs/lsp-extensions.md records it.
    fn hash(text: &str) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.replace("\r\n", "\n").bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    #[test]
    fn the_protocol_docs_are_current_with_this_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ext = std::fs::read_to_string(root.join("crates/spot-lsp/src/ext.rs")).unwrap();
        let docs = std::fs::read_to_string(root.join("docs/lsp-extensions.md")).unwrap();
        let want = format!("<!-- ext.rs hash: {} -->", hash(&ext));
        assert!(
            docs.contains(&want),
            "crates/spot-lsp/src/ext.rs changed: update docs/lsp-extensions.md to match it, then \
             set its hash line to `{want}`"
        );
    }

    #[test]
    fn a_bare_string_is_the_issue_and_bad_arguments_are_invalid_params() {
        let a: IssueToPatchArgs = args(&["x".into()], "…").unwrap();
        assert_eq!((a.issue.as_str(), a.apply), ("x", true));
        let a: LocalizeArgs = args(&[serde_json::json!({"issue": "y", "limit": 3})], "…").unwrap();
        assert_eq!(a.limit, Some(3));
        let e = args::<IssueToPatchArgs>(&[serde_json::json!(7)], "[{issue}]").unwrap_err();
        assert_eq!(e.code, jsonrpc::ErrorCode::InvalidParams);
        let l: LearnArgs = args(&[], "…").unwrap();
        assert!(!l.rollback);
    }
}
