//! End-to-end tests of spot's assist features over stdio (docs/lsp-extensions.md): the
//! `spot.*` commands, `spot/status`, code actions with lazy resolve, syntax diagnostics, and
//! issue-to-patch with a real model through ONNX Runtime.
//!
//! Tests that run a model need ONNX Runtime (see `common::ort_env`): they are `#[ignore]`d with
//! the command that installs it, and run by `cargo test -- --include-ignored` (tests/run.sh).

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, git, uri, Client};
use serde_json::{json, Value};

const SHOP: &str = r#"
//- /shop/pricing.py
"""Prices and discounts."""

TIERS = ((10, 5), (50, 10))


def bulk_discount(quantity):
    """Percent off for an order of ``quantity`` units."""
    percent = 0
    for minimum, off in TIERS:
        if quantity > minimum:
            percent = off
    return percent


def order_total(price, quantity):
    """Total price after the bulk discount."""
    return price * quantity * (100 - bulk_discount(quantity)) / 100
//- /shop/cart.py
from shop.pricing import order_total


class Cart:
    def __init__(self):
        self.lines = []

    def total(self):
        return sum(order_total(p, q) for p, q in self.lines)
"#;

const ISSUE: &str =
    "Bulk discount not applied at exactly 10 units\n\n`bulk_discount(10)` returns 0 \
but an order reaching a tier's minimum should get its discount.";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tiny_model() -> PathBuf {
    repo_root().join("fixtures/models/tiny")
}

fn start(
    spec: &str,
    options: Value,
    caps: Value,
) -> (Client, tempfile::TempDir, tempfile::TempDir) {
    let ws = fixture(spec);
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.initialize_with(ws.path(), options, caps);
    client.wait_indexed();
    (client, ws, data)
}

fn caps() -> Value {
    json!({
        "window": { "workDoneProgress": true },
        "workspace": { "workspaceEdit": { "documentChanges": true } },
        "textDocument": { "codeAction": {
            "codeActionLiteralSupport": { "codeActionKind": { "valueSet": ["quickfix", "refactor.rewrite"] } },
            "resolveSupport": { "properties": ["edit"] }
        } }
    })
}

fn command(client: &mut Client, name: &str, args: Value) -> Value {
    client.request_full(
        "workspace/executeCommand",
        json!({ "command": name, "arguments": args }),
    )
}

/// The commands docs/lsp-extensions.md documents (`### \`spot.x\`` headings).
fn documented_commands() -> Vec<String> {
    let doc = std::fs::read_to_string(repo_root().join("docs/lsp-extensions.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.strip_suffix('`'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn advertised_commands_are_the_documented_ones() {
    let ws = fixture(SHOP);
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    let init = client.initialize(ws.path(), Value::Null);
    let caps = &init["capabilities"];
    let mut advertised: Vec<String> = caps["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let mut documented = documented_commands();
    advertised.sort();
    documented.sort();
    assert_eq!(advertised, documented);
    assert_eq!(caps["codeActionProvider"]["resolveProvider"], true);
    client.shutdown();
}

#[test]
fn without_a_model_localization_works_and_patches_say_why() {
    let (mut client, ws, _data) = start(
        SHOP,
        json!({ "modelDir": "/nonexistent/spot-model" }),
        caps(),
    );
    let status = command(&mut client, "spot.status", json!([]));
    let status = &status["result"];
    assert_eq!(status["index"]["state"], "ready", "{status}");
    assert_eq!(status["index"]["files"], 2);
    assert_eq!(status["model"]["state"], "unloaded");

    let loc = command(&mut client, "spot.localize", json!([{ "issue": ISSUE }]));
    let files = &loc["result"]["files"];
    assert_eq!(files[0]["path"], "shop/pricing.py", "{loc}");
    assert_eq!(loc["result"]["functions"][0]["name"], "bulk_discount");

    let patch = command(
        &mut client,
        "spot.issueToPatch",
        json!([{ "issue": ISSUE }]),
    );
    assert_eq!(patch["error"]["code"], -32803, "{patch}");
    let message = patch["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("/nonexistent/spot-model") && message.contains("spot.localize"),
        "{message}"
    );
    let status = command(&mut client, "spot.status", json!([]));
    assert_eq!(status["result"]["model"]["state"], "unavailable");
    assert!(status["result"]["model"]["error"].as_str().is_some());
    // The index keeps serving.
    let symbols = client.request("workspace/symbol", json!({ "query": "Cart" }));
    assert!(!symbols.as_array().unwrap().is_empty());
    // Bad arguments are invalid params, unknown commands too.
    let bad = command(&mut client, "spot.issueToPatch", json!([{ "issue": "  " }]));
    assert_eq!(bad["error"]["code"], -32602);
    let unknown = command(&mut client, "spot.nope", json!([]));
    assert_eq!(unknown["error"]["code"], -32602);
    drop(ws);
    client.shutdown();
}

#[test]
fn syntax_errors_become_diagnostics_and_code_actions_are_cheap() {
    let (mut client, ws, _data) = start(SHOP, json!({ "modelDir": "/nonexistent" }), caps());
    let path = ws.path().join("shop/cart.py");
    let broken = std::fs::read_to_string(&path)
        .unwrap()
        .replace("def total(self):", "def total(self:");
    client.open(&path, "python", &broken);
    let diags = client.wait_notification("syntax diagnostics", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == uri(&path)
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
    });
    let diag = diags["params"]["diagnostics"][0].clone();
    assert_eq!(diag["source"], "spot");
    // Where the parser choked, naming the statement it could not finish (issue 22).
    assert_eq!(diag["range"]["start"]["line"], 8, "{diag}");
    assert_eq!(
        diag["message"], "syntax error near `return` (in the statement from line 8)",
        "{diag}"
    );

    let started = std::time::Instant::now();
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri(&path) },
            "range": diag["range"],
            "context": { "diagnostics": [diag] }
        }),
    );
    let listed = started.elapsed();
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(
        titles[0].starts_with("Fix with spot: syntax error"),
        "{titles:?}"
    );
    assert_eq!(actions[0]["kind"], "quickfix");
    assert!(actions[0].get("edit").is_none() && actions[0]["data"].is_object());
    eprintln!("codeAction listed in {listed:?}");
    // Inside a function, the user asking for actions: a fix for that function.
    let pricing = ws.path().join("shop/pricing.py");
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri(&pricing) },
            "range": { "start": { "line": 9, "character": 4 }, "end": { "line": 9, "character": 4 } },
            "context": { "diagnostics": [], "triggerKind": 1 }
        }),
    );
    assert_eq!(
        actions[0]["title"], "Fix `bulk_discount` with spot",
        "{actions}"
    );
    assert_eq!(actions[0]["kind"], "refactor.rewrite");

    // Resolving needs the model, which is missing: a clear error, the server keeps serving.
    let resolved = client.request_full("codeAction/resolve", actions[0].clone());
    assert_eq!(resolved["error"]["code"], -32803, "{resolved}");

    // Fixing the text clears the diagnostics.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri(&path), "version": 2 },
                "contentChanges": [{ "text": broken.replace("def total(self:", "def total(self):") }] }),
    );
    client.wait_notification("cleared diagnostics", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["version"] == 2
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| d.is_empty())
    });
    client.shutdown();
}

#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn issue_to_patch_loads_the_model_reports_progress_and_status() {
    common::require_ort();
    // The tiny random model loads for real, but its 128-token context cannot hold the code.
    let (mut client, _ws, _data) = start(
        SHOP,
        json!({ "modelDir": tiny_model(), "provider": "cpu" }),
        caps(),
    );
    let patch = command(
        &mut client,
        "spot.issueToPatch",
        json!([{ "issue": ISSUE }]),
    );
    let message = patch["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(patch["error"]["code"], -32803, "{patch}");
    assert!(
        message.contains("context (128 tokens) is too small"),
        "{message}"
    );

    // Work-done progress: begin, the stages, end (which may come after the response).
    client.wait_notification("the end of the progress", |n| {
        n["method"] == "$/progress"
            && n["params"]["value"]["kind"] == "end"
            && n["params"]["token"]
                .as_str()
                .is_some_and(|t| t.starts_with("spot/job/"))
    });
    let stages: Vec<String> = client
        .notifications
        .iter()
        .filter(|n| n["method"] == "$/progress")
        .filter(|n| {
            n["params"]["token"]
                .as_str()
                .is_some_and(|t| t.starts_with("spot/job/"))
        })
        .map(|n| {
            let v = &n["params"]["value"];
            format!(
                "{} {}",
                v["kind"].as_str().unwrap(),
                v["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        stages.first().is_some_and(|s| s.starts_with("begin")),
        "{stages:?}"
    );
    for stage in ["loading the model", "localizing"] {
        assert!(
            stages.iter().any(|s| s.contains(stage)),
            "{stage} missing from {stages:?}"
        );
    }
    assert!(
        stages.last().is_some_and(|s| s.starts_with("end")),
        "{stages:?}"
    );

    // spot/status went through loading to ready, and no job is left.
    let statuses: Vec<&Value> = client
        .notifications
        .iter()
        .filter(|n| n["method"] == "spot/status")
        .map(|n| &n["params"])
        .collect();
    assert!(statuses.iter().any(|s| s["model"]["state"] == "loading"));
    assert!(statuses
        .iter()
        .any(|s| s["jobs"][0]["kind"] == "issueToPatch"));
    let status = command(&mut client, "spot.status", json!([]));
    assert_eq!(status["result"]["model"]["state"], "ready", "{status}");
    assert_eq!(status["result"]["model"]["provider"], "cpu");
    assert_eq!(status["result"]["jobs"], json!([]));
    let cancelled = command(&mut client, "spot.cancel", json!([]));
    assert_eq!(cancelled["result"]["cancelled"], 0);
    client.shutdown();
}

/// Offset of an LSP position (UTF-16 column) in `text`.
fn offset(text: &str, pos: &Value) -> usize {
    let (line, col) = (
        pos["line"].as_u64().unwrap() as usize,
        pos["character"].as_u64().unwrap() as usize,
    );
    let mut start = 0;
    for _ in 0..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let mut units = 0;
    for (i, c) in text[start..].char_indices() {
        if units >= col || c == '\n' {
            return start + i;
        }
        units += c.len_utf16();
    }
    text.len()
}

/// Applies the text edits a WorkspaceEdit holds for `uri` to `text`, as an editor does.
fn apply_edit(text: &str, edit: &Value, uri: &str) -> String {
    let mut edits: Vec<Value> = Vec::new();
    if let Some(ops) = edit["documentChanges"].as_array() {
        for op in ops.iter().filter(|o| o["textDocument"]["uri"] == uri) {
            edits.extend(op["edits"].as_array().unwrap().iter().cloned());
        }
    }
    if let Some(list) = edit["changes"][uri].as_array() {
        edits.extend(list.iter().cloned());
    }
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset(text, &e["range"]["start"]),
                offset(text, &e["range"]["end"]),
                e["newText"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_owned();
    for (s, e, t) in spans {
        out.replace_range(s..e, &t);
    }
    out
}

/// The expert fixture model replays a historical bug of the fixture repository through the
/// editor protocol: progress, a validated edit sent with workspace/applyEdit (asking for
/// confirmation), which turns the file into the real fix.
#[test]
#[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
fn issue_to_patch_replays_a_historical_fix_with_the_expert_model() {
    common::require_ort();
    let scenario: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/models/expert-scenario.json")).unwrap(),
    )
    .unwrap();
    let fix = scenario["fix_commit"].as_str().unwrap();
    let file = scenario["file"].as_str().unwrap();
    let repos = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("python3")
        .arg(repo_root().join("fixtures/repos/make_repos.py"))
        .arg(repos.path())
        .output()
        .unwrap();
    assert!(made.status.success());
    let ws = repos.path().join(scenario["repo"].as_str().unwrap());
    git(&ws, &["checkout", "-q", &format!("{fix}^")]);
    let issue = git(&ws, &["log", "-1", "--format=%B", fix]);
    let expected = git(&ws, &["show", &format!("{fix}:{file}")]);
    let before = std::fs::read_to_string(ws.join(file)).unwrap();
    assert_ne!(before, expected);

    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    let mut caps = caps();
    caps["workspace"]["workspaceEdit"]["changeAnnotationSupport"] = json!({});
    client.initialize_with(
        &ws,
        json!({ "modelDir": repo_root().join("fixtures/models/expert"), "provider": "cpu" }),
        caps,
    );
    client.wait_indexed();
    let result = command(
        &mut client,
        "spot.issueToPatch",
        json!([{ "issue": issue }]),
    );
    let result = &result["result"];
    assert_eq!(result["status"], "applied", "{result}");
    assert_eq!(result["files"], json!([file]));
    assert!(result["diff"]
        .as_str()
        .unwrap()
        .contains(&format!("+++ b/{file}")));

    let apply = client
        .notifications
        .iter()
        .find(|n| n["method"] == "workspace/applyEdit")
        .expect("the edit was sent to the editor")
        .clone();
    let edit = &apply["params"]["edit"];
    assert!(apply["params"]["label"]
        .as_str()
        .unwrap()
        .starts_with("spot: Fix remove_item"));
    let annotation = edit["changeAnnotations"]["spot"].clone();
    assert_eq!(annotation["needsConfirmation"], true, "{edit}");
    let after = apply_edit(&before, edit, &uri(&ws.join(file)));
    assert_eq!(after, expected, "the edit is the real fix");
    // Nothing was written by the server itself: the editor applies the edit.
    assert_eq!(std::fs::read_to_string(ws.join(file)).unwrap(), before);

    // apply=false proposes the same edit without sending it.
    let proposed = command(
        &mut client,
        "spot.issueToPatch",
        json!([{ "issue": issue, "apply": false }]),
    );
    assert_eq!(proposed["result"]["status"], "proposed");
    assert_eq!(
        apply_edit(&before, &proposed["result"]["edit"], &uri(&ws.join(file))),
        expected
    );
    client.shutdown();
}
