//! End-to-end tests of `spot lsp`: the built binary over stdio, driven like an editor.

mod common;

use std::time::Duration;

use common::{fixture, pos_of, uri, Client};
use serde_json::{json, Value};

const POLYGLOT: &str = r#"
//- /inventory/store.py
"""Inventory storage."""
from inventory.models import Item

MAX_ITEMS = 100


class Store:
    """A store of items."""

    def add_item(self, item: Item) -> None:
        """Adds an item."""
        self.items[item.name] = item

    def remove_item(self, name, qty):
        count = qty
        current = self.items[name]
        current.qty -= count
        return current
//- /inventory/models.py
class Item:
    """One stock-keeping unit."""

    def __init__(self, name, qty):
        self.name = name
        self.qty = qty
//- /src/ledger.rs
/// A ledger of accounts.
pub struct Ledger {
    accounts: Vec<Account>,
}

impl Ledger {
    /// Adds an account and returns its index.
    pub fn open(&mut self, name: &str) -> usize {
        let account = Account::new(name);
        self.accounts.push(account);
        self.accounts.len() - 1
    }
}

pub struct Account {
    pub name: String,
}

impl Account {
    pub fn new(name: &str) -> Account {
        Account { name: name.to_owned() }
    }
}
//- /web/app.js
/** Formats a price in cents. */
export function formatPrice(cents) {
  const dollars = cents / 100;
  return `$${dollars.toFixed(2)}`;
}

export const render = (items) => items.map((i) => formatPrice(i.price));
//- /web/api.ts
export interface Order {
  id: number;
  total: number;
}

/** Sums the orders. */
export function sumOrders(orders: Order[]): number {
  return orders.reduce((acc, o) => acc + o.total, 0);
}
//- /server/handler.go
package server

// Handler serves requests.
type Handler struct {
	Name string
}

// Serve answers one request.
func (h *Handler) Serve(path string) string {
	greeting := "hello " + path
	return greeting
}
//- /.gitignore
build/
//- /build/generated.py
def generated_function():
    pass
"#;

fn start(root: &std::path::Path) -> (Client, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.initialize(root, json!({}));
    client.wait_indexed();
    (client, data)
}

/// `field` of each element of a JSON array.
fn field_of<'v>(array: &'v Value, field: &str) -> Vec<&'v str> {
    array
        .as_array()
        .map(|a| a.iter().filter_map(|s| s[field].as_str()).collect())
        .unwrap_or_default()
}

fn names(symbols: &Value) -> Vec<String> {
    symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let container = s["containerName"]
                .as_str()
                .map(|c| format!("{c}."))
                .unwrap_or_default();
            format!("{container}{}", s["name"].as_str().unwrap())
        })
        .collect()
}

fn loc(v: &Value) -> String {
    let l = if v.is_array() { &v[0] } else { v };
    let path = l["uri"]
        .as_str()
        .unwrap()
        .rsplit_once("/ws-root/")
        .map(|(_, p)| p.to_owned());
    let path = path.unwrap_or_else(|| {
        l["uri"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    });
    format!(
        "{}:{}:{}",
        path, l["range"]["start"]["line"], l["range"]["start"]["character"]
    )
}

#[test]
fn workspace_symbols_in_every_language() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    for (query, expected) in [
        ("remove_item", "Store.remove_item"),
        ("Ledger", "Ledger"),
        ("formatPrice", "formatPrice"),
        ("sumOrders", "sumOrders"),
        ("Order", "Order"),
        ("Serve", "Handler.Serve"),
        ("MAX_ITEMS", "MAX_ITEMS"),
        ("render", "render"),
    ] {
        let result = client.request("workspace/symbol", json!({ "query": query }));
        let found = names(&result);
        assert_eq!(
            found.first().map(String::as_str),
            Some(expected),
            "query {query}: {found:?}"
        );
    }
    // Fuzzy: a subsequence finds it.
    let result = client.request("workspace/symbol", json!({ "query": "remitem" }));
    assert!(names(&result).contains(&"Store.remove_item".to_owned()));
    // Ignored paths are not indexed.
    let result = client.request("workspace/symbol", json!({ "query": "generated_function" }));
    assert_eq!(result, json!([]));
    // The first build reported work-done progress: begin … end.
    let kinds: Vec<String> = client
        .notifications
        .iter()
        .filter(|n| n["method"] == "$/progress")
        .map(|n| {
            n["params"]["value"]["kind"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("begin"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("end"), "{kinds:?}");
    client.shutdown();
}

#[test]
fn document_symbols_are_hierarchical() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    let result = client.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(&ws.path().join("inventory/store.py")) } }),
    );
    let top: Vec<&str> = field_of(&result, "name");
    assert_eq!(top, ["MAX_ITEMS", "Store"]);
    let methods: Vec<&str> = field_of(&result[1]["children"], "name");
    assert_eq!(methods, ["add_item", "remove_item"]);
    assert_eq!(result[1]["children"][0]["kind"], 6, "method kind");

    let result = client.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(&ws.path().join("src/ledger.rs")) } }),
    );
    let top: Vec<&str> = field_of(&result, "name");
    assert_eq!(top, ["Ledger", "impl Ledger", "Account", "impl Account"]);
    assert_eq!(result[1]["children"][0]["name"], "open");
    client.shutdown();
}

/// (file, text, needle at the cursor, expected "path:line:col" of the definition)
fn definition_cases() -> Vec<(&'static str, &'static str, usize, &'static str)> {
    vec![
        // local parameter
        ("inventory/store.py", "count = qty", 8, "store.py:13:32"),
        // local variable
        ("inventory/store.py", "current.qty", 0, "store.py:15:8"),
        // imported class in another file
        ("inventory/store.py", "item: Item", 6, "models.py:0:6"),
        // Rust: associated function through a path
        ("src/ledger.rs", "Account::new", 9, "ledger.rs:19:11"),
        // Rust: local binding
        ("src/ledger.rs", "push(account)", 5, "ledger.rs:8:12"),
        // JS: function used in an arrow function
        ("web/app.js", "formatPrice(i.price)", 0, "app.js:1:16"),
        // TS: interface in a type position
        ("web/api.ts", "Order[]", 0, "api.ts:0:17"),
        // Go: local from :=
        ("server/handler.go", "return greeting", 7, "handler.go:9:1"),
    ]
}

#[test]
fn definitions_local_scope_first_then_index() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    for (file, needle, delta, expected) in definition_cases() {
        let path = ws.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let result = client.request(
            "textDocument/definition",
            json!({ "textDocument": { "uri": uri(&path) }, "position": pos_of(&text, needle, delta) }),
        );
        assert!(!result.is_null(), "no definition for {needle:?} in {file}");
        assert_eq!(loc(&result), expected, "definition of {needle:?} in {file}");
    }
    client.shutdown();
}

#[test]
fn references_and_hover() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    let path = ws.path().join("src/ledger.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    let result = client.request(
        "textDocument/references",
        json!({
            "textDocument": { "uri": uri(&path) },
            "position": pos_of(&text, "pub struct Account", 11),
            "context": { "includeDeclaration": true }
        }),
    );
    let lines: Vec<u64> = result
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 8, 14, 18, 19, 20]);

    // Local binding: references stay inside the function.
    let path = ws.path().join("inventory/store.py");
    let text = std::fs::read_to_string(&path).unwrap();
    let result = client.request(
        "textDocument/references",
        json!({
            "textDocument": { "uri": uri(&path) },
            "position": pos_of(&text, "count = qty", 0),
            "context": { "includeDeclaration": true }
        }),
    );
    assert_eq!(result.as_array().unwrap().len(), 2, "{result}");

    let result = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri(&path) }, "position": pos_of(&text, "item: Item", 7) }),
    );
    let md = result["contents"]["value"].as_str().unwrap();
    assert!(md.contains("class Item"), "{md}");
    assert!(md.contains("One stock-keeping unit."), "{md}");
    assert!(md.contains("inventory/models.py:1"), "{md}");
    client.shutdown();
}

#[test]
fn did_change_is_reflected_in_the_next_query() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    let path = ws.path().join("web/app.js");
    let text = std::fs::read_to_string(&path).unwrap();
    client.open(&path, "javascript", &text);
    // Incremental change: rename formatPrice → formatAmount (the declaration only).
    let start = pos_of(&text, "formatPrice(cents)", 0);
    let end = pos_of(&text, "formatPrice(cents)", "formatPrice".len());
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(&path), "version": 2 },
            "contentChanges": [{ "range": { "start": start, "end": end }, "text": "formatAmount" }]
        }),
    );
    let result = client.request("workspace/symbol", json!({ "query": "formatAmount" }));
    assert_eq!(
        names(&result).first().map(String::as_str),
        Some("formatAmount")
    );
    let result = client.request("workspace/symbol", json!({ "query": "formatPrice" }));
    assert!(
        !names(&result).contains(&"formatPrice".to_owned()),
        "{result}"
    );
    // A full-text change replaces the buffer.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri(&path), "version": 3 },
            "contentChanges": [{ "text": "export function formatAmount(c) {}\nexport function wholeText() {}\n" }]
        }),
    );
    let result = client.request("workspace/symbol", json!({ "query": "wholeText" }));
    assert_eq!(names(&result), ["wholeText"]);
    // The editor's buffer wins over the disk while open: the file on disk is unchanged.
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("formatPrice(cents)"));
    // Closing re-reads the disk.
    client.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": uri(&path) } }),
    );
    let result = client.request("workspace/symbol", json!({ "query": "formatPrice" }));
    assert_eq!(
        names(&result).first().map(String::as_str),
        Some("formatPrice")
    );
    client.shutdown();
}

/// Polls workspace/symbol until `pred` holds (the watcher debounces events).
fn poll_symbols(client: &mut Client, query: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = names(&client.request("workspace/symbol", json!({ "query": query })));
        if pred(&found) || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn watcher_sees_files_created_deleted_and_moved() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    std::fs::write(
        ws.path().join("inventory/report.py"),
        "def weekly_report():\n    return 1\n",
    )
    .unwrap();
    let found = poll_symbols(&mut client, "weekly_report", |f| {
        f.contains(&"weekly_report".to_owned())
    });
    assert!(
        found.contains(&"weekly_report".to_owned()),
        "created file not indexed: {found:?}"
    );

    // A directory moved in with files.
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(outside.path().join("extra")).unwrap();
    std::fs::write(
        outside.path().join("extra/util.go"),
        "package extra\n\nfunc MovedIn() {}\n",
    )
    .unwrap();
    std::fs::rename(outside.path().join("extra"), ws.path().join("extra")).unwrap();
    let found = poll_symbols(&mut client, "MovedIn", |f| {
        f.contains(&"MovedIn".to_owned())
    });
    assert!(
        found.contains(&"MovedIn".to_owned()),
        "moved-in dir not indexed: {found:?}"
    );

    std::fs::remove_file(ws.path().join("inventory/report.py")).unwrap();
    let found = poll_symbols(&mut client, "weekly_report", |f| {
        !f.contains(&"weekly_report".to_owned())
    });
    assert!(
        !found.contains(&"weekly_report".to_owned()),
        "deleted file still indexed"
    );

    std::fs::remove_dir_all(ws.path().join("extra")).unwrap();
    let found = poll_symbols(&mut client, "MovedIn", |f| {
        !f.contains(&"MovedIn".to_owned())
    });
    assert!(
        !found.contains(&"MovedIn".to_owned()),
        "deleted dir still indexed"
    );

    // Ignored paths stay ignored.
    std::fs::write(
        ws.path().join("build/more.py"),
        "def ignored_function():\n    pass\n",
    )
    .unwrap();
    std::fs::write(
        ws.path().join("inventory/marker.py"),
        "def marker_function():\n    pass\n",
    )
    .unwrap();
    poll_symbols(&mut client, "marker_function", |f| {
        f.contains(&"marker_function".to_owned())
    });
    let found = names(&client.request("workspace/symbol", json!({ "query": "ignored_function" })));
    assert!(found.is_empty(), "{found:?}");
    client.shutdown();
}

#[test]
fn restart_reparses_only_changed_files() {
    let ws = fixture(POLYGLOT);
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.initialize(ws.path(), json!({}));
    let first = client.wait_indexed();
    assert!(first.contains("(6 parsed, 0 cached"), "{first}");
    client.shutdown();

    std::fs::write(
        ws.path().join("web/app.js"),
        "export function changedFunction() {}\n",
    )
    .unwrap();
    let mut client = Client::start(data.path());
    client.initialize(ws.path(), json!({}));
    let second = client.wait_indexed();
    assert!(second.contains("(1 parsed, 5 cached"), "{second}");
    let found = names(&client.request("workspace/symbol", json!({ "query": "changedFunction" })));
    assert_eq!(found, ["changedFunction"]);
    client.shutdown();

    // A corrupt cache is discarded with a log line and rebuilt, never a crash.
    for entry in std::fs::read_dir(data.path().join("index")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    }
    let mut client = Client::start(data.path());
    client.initialize(ws.path(), json!({}));
    let third = client.wait_indexed();
    assert!(third.contains("(6 parsed, 0 cached"), "{third}");
    client.shutdown();
}

#[test]
fn bad_settings_warn_and_keep_serving() {
    let ws = fixture(POLYGLOT);
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.initialize(
        ws.path(),
        json!({ "maxFileSize": "huge", "frobnicate": true }),
    );
    let warning = client.wait_notification("a settings warning", |m| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("frobnicate"))
    });
    assert_eq!(warning["params"]["type"], 2);
    client.wait_indexed();
    let result = client.request("workspace/symbol", json!({ "query": "Ledger" }));
    assert_eq!(names(&result).first().map(String::as_str), Some("Ledger"));
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "spot": { "provider": 7 } } }),
    );
    client.wait_notification("a provider warning", |m| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("provider"))
    });
    client.shutdown();
}

#[test]
fn unknown_documents_get_empty_results() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    let missing = ws.path().join("nope.py");
    let r = client.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri(&missing) }, "position": { "line": 0, "character": 0 } }),
    );
    assert!(r.is_null());
    let r = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": "untitled:Untitled-1" }, "position": { "line": 3, "character": 99 } }),
    );
    assert!(r.is_null());
    let r = client.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(&missing) } }),
    );
    assert!(r.is_null());
    // A position far past the end of a real file.
    let r = client.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri(&ws.path().join("web/app.js")) }, "position": { "line": 999, "character": 0 } }),
    );
    assert!(r.is_null());
    client.shutdown();
}

/// Each undecodable or invalid frame gets a JSON-RPC error and the server keeps serving.
#[test]
fn malformed_messages_get_errors_and_the_server_keeps_serving() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    let frame = |body: &[u8]| {
        let mut f = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        f.extend_from_slice(body);
        f
    };
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        ("invalid JSON", frame(b"{\"jsonrpc\": \"2.0\", "), -32700),
        ("null", frame(b"null"), -32600),
        ("empty batch", frame(b"[]"), -32600),
        (
            "jsonrpc 1.0",
            frame(br#"{"jsonrpc":"1.0","id":1,"method":"workspace/symbol"}"#),
            -32600,
        ),
        (
            "array id",
            frame(br#"{"jsonrpc":"2.0","id":[1],"method":"workspace/symbol"}"#),
            -32600,
        ),
        (
            "invalid UTF-8",
            frame(b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}"),
            -32700,
        ),
        (
            "missing Content-Length",
            b"Content-Type: x\r\n\r\n{}".to_vec(),
            -32700,
        ),
        (
            "bad Content-Length",
            b"Content-Length: abc\r\n\r\n".to_vec(),
            -32700,
        ),
    ];
    for (what, bytes, code) in cases {
        client.send_raw(&bytes);
        // The reply, past any notification (spot/status, logs).
        let reply = std::iter::from_fn(|| client.next_message(Duration::from_secs(10)))
            .find(|m| m.get("method").is_none())
            .unwrap_or_else(|| panic!("no reply to {what}"));
        assert_eq!(reply["error"]["code"], code, "{what}: {reply}");
        // Still serving: a valid request is answered.
        let r = client.request("workspace/symbol", json!({ "query": "Ledger" }));
        assert_eq!(
            names(&r).first().map(String::as_str),
            Some("Ledger"),
            "after {what}"
        );
    }
    // Wrong params on a known method: an error reply, not a crash.
    let r = client.request_full("textDocument/definition", json!({ "textDocument": 5 }));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // Unknown method.
    let r = client.request_full("spot/doesNotExist", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    assert!(!client.exited());
    client.shutdown();
}

#[test]
fn requests_before_initialize_are_refused_not_fatal() {
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    let r = client.request_full("workspace/symbol", json!({ "query": "x" }));
    assert_eq!(r["error"]["code"], -32002, "{r}");
    let ws = fixture(POLYGLOT);
    client.initialize(ws.path(), json!({}));
    client.wait_indexed();
    client.shutdown();
}

/// The response to request `id`, also when it arrived while waiting for another one.
fn response(client: &mut Client, id: &Value) -> Value {
    let seen = client
        .notifications
        .iter()
        .find(|m| m.get("method").is_none() && m.get("id") == Some(id));
    match seen {
        Some(m) => m.clone(),
        None => client.wait_response(id),
    }
}

/// Issue 19: a hover in deeply nested code is answered, and does not hold up the request
/// after it. The local-scope search called `Node::parent` once per enclosing function (each a
/// walk down from the root) on the message loop: 7,000 nested arrow functions (63 KB) took
/// minutes and every other request waited. Two files: one small enough to be served on the
/// message loop, one of 16,000 levels that goes to the blocking pool.
#[test]
fn issue_19_hover_in_deep_nesting_answers_and_keeps_the_server_responsive() {
    let ws = tempfile::tempdir().unwrap();
    let small = format!("{}b;{}", "(a)=>{b;".repeat(7_000), "}".repeat(7_000));
    let big = format!(
        "{}b;{}",
        "function f(a){b;".repeat(16_000),
        "}".repeat(16_000)
    );
    std::fs::write(ws.path().join("small.js"), &small).unwrap();
    std::fs::write(ws.path().join("big.js"), &big).unwrap();
    std::fs::write(ws.path().join("lib.js"), "/** The b. */\nfunction b() {}\n").unwrap();
    let (mut client, _data) = start(ws.path());
    for (i, (file, text)) in [("small.js", &small), ("big.js", &big)]
        .into_iter()
        .enumerate()
    {
        let path = ws.path().join(file);
        client.open(&path, "javascript", text);
        // The document is indexed before the hover: the hover's own work is what is measured.
        client.request(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri(&path) } }),
        );
        let (hover_id, symbol_id) = (json!(1000 + 2 * i), json!(1001 + 2 * i));
        let position = pos_of(text, "b;}", 0);
        client.send(&json!({
            "jsonrpc": "2.0", "id": hover_id, "method": "textDocument/hover",
            "params": { "textDocument": { "uri": uri(&path) }, "position": position },
        }));
        client.send(&json!({
            "jsonrpc": "2.0", "id": symbol_id, "method": "workspace/symbol",
            "params": { "query": "b" },
        }));
        // Each waits at most common::TIMEOUT (30 s): a hang fails the test, no time is asserted.
        let symbols = response(&mut client, &symbol_id);
        assert!(
            field_of(&symbols["result"], "name").contains(&"b"),
            "{file}: {symbols}"
        );
        let hover = response(&mut client, &hover_id);
        let shown = hover["result"]["contents"]["value"].as_str().unwrap_or("");
        // The local search gives up or finds nothing; the index answers: `b` in lib.js.
        assert!(
            shown.contains("function `b` in lib.js:2"),
            "{file}: {hover}"
        );
    }
    client.shutdown();
}

/// Issue 19: one directory that cannot be watched (a `chmod 000` one, gitignored at that) made
/// notify's recursive watch fail, and with it file watching for the whole workspace, with one
/// log line to show for it. Now it is skipped and reported, and the rest is watched, including
/// directories created later next to it.
#[test]
fn issue_19_an_unwatchable_directory_leaves_the_rest_watched() {
    let Some(prefix) = common::without_root_powers() else {
        eprintln!("SKIP: running as root and `unshare -U` fails: chmod 000 cannot apply");
        return;
    };
    let ws = fixture(POLYGLOT);
    let _locked = common::Locked::new(ws.path().join("build/locked"));
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start_prefixed(data.path(), &prefix);
    client.initialize(ws.path(), json!({}));
    client.wait_indexed();

    std::fs::write(
        ws.path().join("inventory/fresh.py"),
        "def fresh_function():\n    pass\n",
    )
    .unwrap();
    let found = poll_symbols(&mut client, "fresh_function", |f| {
        f.contains(&"fresh_function".to_owned())
    });
    assert!(
        found.contains(&"fresh_function".to_owned()),
        "the watcher is not watching: {found:?}"
    );
    let warning = client.wait_notification("the watcher's report", |m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.starts_with("file watching skips 1 directories"))
    });
    let message = warning["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("build/locked ("), "{message}");

    // The root is now watched level by level: a directory created in it gets a watch too.
    std::fs::create_dir(ws.path().join("later")).unwrap();
    std::fs::write(
        ws.path().join("inventory/mark.py"),
        "def mark_one():\n    pass\n",
    )
    .unwrap();
    poll_symbols(&mut client, "mark_one", |f| {
        f.contains(&"mark_one".to_owned())
    });
    std::fs::write(
        ws.path().join("later/late.py"),
        "def late_function():\n    pass\n",
    )
    .unwrap();
    let found = poll_symbols(&mut client, "late_function", |f| {
        f.contains(&"late_function".to_owned())
    });
    assert!(
        found.contains(&"late_function".to_owned()),
        "a new directory is not watched: {found:?}"
    );
    client.shutdown();
}

/// Issue 19: `spot.issueToPatch` as sent by an editor without a progress token of its own.
fn issue_to_patch_params() -> Value {
    json!({
        "command": "spot.issueToPatch",
        "arguments": [{ "issue": "remove_item lets the quantity go negative", "apply": false }]
    })
}

/// Is `m` a `window/workDoneProgress/create` for a job (not for the initial build)?
fn job_progress_create(m: &Value) -> bool {
    m["method"] == "window/workDoneProgress/create"
        && m["params"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("spot/job/"))
}

/// Issue 19: an editor that announces work-done progress but never answers
/// `window/workDoneProgress/create`. The initial build still finishes and `spot.issueToPatch`
/// still answers (without a model here it fails with RequestFailed: what matters is the reply).
#[test]
fn issue_19_progress_create_never_answered() {
    let ws = fixture(POLYGLOT);
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.answer_progress_create = false;
    client.initialize(ws.path(), json!({}));
    client.wait_indexed();
    let r = client.request_full("workspace/executeCommand", issue_to_patch_params());
    assert!(
        client.notifications.iter().any(job_progress_create),
        "no progress was asked for: the check proved nothing"
    );
    assert_eq!(r["error"]["code"], -32803, "{r}");
    client.shutdown();
}

/// Issue 19: `spot.cancel` while `spot.issueToPatch` waits for the editor's answer to
/// `window/workDoneProgress/create` finds the job and cancels it.
#[test]
fn issue_19_spot_cancel_while_waiting_for_progress_create() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    client.answer_progress_create = false;
    let id = client.send_request("workspace/executeCommand", issue_to_patch_params());
    client.wait_notification("the job's progress request", job_progress_create);
    let r = client.request(
        "workspace/executeCommand",
        json!({ "command": "spot.cancel", "arguments": [] }),
    );
    assert_eq!(r["cancelled"], 1, "{r}");
    let reply = client.wait_response(&id);
    assert_eq!(reply["error"]["code"], -32800, "{reply}");
    client.shutdown();
}

/// Issue 19: stdin closed (no `shutdown`, no `exit`) while a request waits for the editor's
/// answer: the client is gone, so the process exits instead of waiting forever.
#[test]
fn issue_19_stdin_closed_while_a_request_waits_for_the_editor() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    client.answer_progress_create = false;
    client.send_request("workspace/executeCommand", issue_to_patch_params());
    client.wait_notification("the job's progress request", job_progress_create);
    client.close_stdin();
    let status = client.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some(),
        "spot still runs 10 s after its stdin closed"
    );
}

/// Issue 19: an unpaced flood of edits, each followed by a hover and a definition at the
/// identifier's position in that version. Every answer is about that version's text: the
/// identifier read from it and its definition's line in it.
#[test]
fn issue_19_navigation_during_an_unpaced_edit_flood() {
    const ROUNDS: usize = 300;
    // Enough code that re-indexing the buffer lags behind the edits.
    let mut text = String::from("def target_function(value):\n    return value\n\n\n");
    for k in 0..300 {
        text.push_str(&format!(
            "def filler_{k}(a, b):\n    \"\"\"Filler {k}.\"\"\"\n    total = a + b * {k}\n    return total\n\n\n"
        ));
    }
    text.push_str("def caller():\n    return target_function(1)\n");
    let ws = fixture(POLYGLOT);
    let path = ws.path().join("flood.py");
    std::fs::write(&path, &text).unwrap();
    let (mut client, _data) = start(ws.path());
    client.open(&path, "python", &text);
    let call = "    return target_function(1)";
    let mut sent = Vec::new();
    for round in 0..ROUNDS {
        // One line more above the definition (and the call): both move down one line.
        let line = format!("shift_{round} = {round}\n");
        client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri(&path), "version": round + 2 },
                "contentChanges": [{
                    "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } },
                    "text": line,
                }],
            }),
        );
        text.insert_str(0, &line);
        let at = pos_of(&text, call, "    return ".len() + 3);
        let doc = json!({ "uri": uri(&path) });
        let hover = client.send_request(
            "textDocument/hover",
            json!({ "textDocument": doc, "position": at }),
        );
        let definition = client.send_request(
            "textDocument/definition",
            json!({ "textDocument": doc, "position": at }),
        );
        sent.push((round, hover, definition));
    }
    let ids: Vec<Value> = sent
        .iter()
        .flat_map(|(_, h, d)| [h.clone(), d.clone()])
        .collect();
    let mut replies = client.wait_responses(&ids).into_iter();
    let mut wrong = Vec::new();
    for (round, _, _) in sent {
        let (h, d) = (replies.next().unwrap(), replies.next().unwrap());
        let shown = h["result"]["contents"]["value"]
            .as_str()
            .unwrap_or_default();
        if !shown.contains("def target_function(value)") {
            wrong.push(format!("round {round}: hover {h}"));
        }
        // The definition is on line `round + 1` of that version (0-based).
        let got = d["result"][0]["range"]["start"]["line"].as_u64();
        if got != Some(round as u64 + 1) {
            wrong.push(format!("round {round}: definition {d}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} answers wrong or empty:\n{}",
        wrong.len(),
        2 * ROUNDS,
        wrong
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    client.shutdown();
}

/// Issue 21: with `testCommand` set and a failing test, the code action aimed at that test and
/// `spot.issueToPatch` both fix it without a model, and say so: `verdict: fixesFailingTests`,
/// the test evidence, `source: testedEdit`; the edit's label carries the verdict in words.
#[test]
fn issue_21_a_failing_test_is_fixed_with_an_honest_verdict() {
    let repos = common::fixture_repos();
    let ws = repos.path().join("py-inventory");
    let tests = ws.join("tests/test_pricing.py");
    let mut text = std::fs::read_to_string(&tests).unwrap();
    text.push_str(
        "\n\nclass ReproTest(unittest.TestCase):\n    def test_exactly_ten_units_get_five_percent(self):\n        self.assertEqual(bulk_discount_percent(10), 5)\n",
    );
    std::fs::write(&tests, &text).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let issue = std::fs::read_to_string(root.join("fixtures/repos/py-inventory.issue.md")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.initialize_with(
        &ws,
        json!({
            "modelDir": "/nonexistent/spot-model",
            "testCommand": "python3 -m unittest discover -s tests -q",
        }),
        json!({
            "window": { "workDoneProgress": true },
            "workspace": { "workspaceEdit": { "documentChanges": true, "changeAnnotationSupport": {} } },
            "textDocument": { "codeAction": {
                "codeActionLiteralSupport": { "codeActionKind": { "valueSet": ["quickfix", "refactor.rewrite"] } },
                "resolveSupport": { "properties": ["edit"] }
            } }
        }),
    );
    client.wait_indexed();

    // The cursor in the failing test, on an automatic request: the fix of that test is offered.
    let at = pos_of(&text, "self.assertEqual(bulk_discount_percent(10), 5)", 0);
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri(&tests) },
            "range": { "start": at, "end": at },
            "context": { "diagnostics": [], "triggerKind": 2 }
        }),
    );
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Fix failing test"))
        })
        .unwrap_or_else(|| panic!("no Fix failing test action: {actions}"))
        .clone();
    assert_eq!(
        fix["title"],
        "Fix failing test `ReproTest.test_exactly_ten_units_get_five_percent` with spot",
        "{fix}"
    );
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(
        fix["data"]["targetTest"],
        "test_exactly_ten_units_get_five_percent"
    );
    let long = Duration::from_secs(300);
    let resolved = client.request_full_for(long, "codeAction/resolve", fix);
    let edit = &resolved["result"]["edit"];
    assert!(edit["documentChanges"].is_array(), "{resolved}");
    let annotation = &edit["changeAnnotations"]["spot"];
    assert_eq!(
        annotation["description"], "spot's patch: fixes the 1 failing test",
        "{edit}"
    );
    // The resolved action's data carries the verdict for the editor to show.
    let data = &resolved["result"]["data"];
    assert_eq!(data["verdict"], "fixesFailingTests", "{resolved}");
    assert_eq!(
        data["verdictText"], "fixes the 1 failing test",
        "{resolved}"
    );

    // The command: the verdict, the test evidence, where the edit came from.
    let result = client.request_full_for(
        long,
        "workspace/executeCommand",
        json!({ "command": "spot.issueToPatch", "arguments": [{ "issue": issue }] }),
    );
    let result = &result["result"];
    assert_eq!(result["verdict"], "fixesFailingTests", "{result}");
    assert_eq!(result["verdictText"], "fixes the 1 failing test");
    assert_eq!(result["source"], "testedEdit");
    assert_eq!(result["status"], "applied");
    assert!(result.get("tested").is_none(), "{result}");
    assert_eq!(
        result["tests"]["failingBefore"],
        json!(["test_pricing.ReproTest.test_exactly_ten_units_get_five_percent"]),
        "{result}"
    );
    assert!(result["evidence"]
        .as_array()
        .unwrap()
        .contains(&json!("failingTests")));
    assert_eq!(result["files"], json!(["inventory/pricing.py"]));
    let apply = client
        .notifications
        .iter()
        .find(|n| n["method"] == "workspace/applyEdit")
        .expect("the edit was sent to the editor");
    let label = apply["params"]["label"].as_str().unwrap();
    assert!(
        label.ends_with("(fixes the 1 failing test)") && !label.contains("validated"),
        "{label}"
    );
    client.shutdown();
}

/// Issue 22: the function rewrite is offered when the user asks for actions, not on the
/// automatic requests an editor sends on every cursor move.
#[test]
fn issue_22_the_function_rewrite_only_when_invoked() {
    let ws = fixture(POLYGLOT);
    let (mut client, _data) = start(ws.path());
    let store = ws.path().join("inventory/store.py");
    let at = json!({ "line": 16, "character": 8 });
    let mut titles = |context: Value| -> Vec<String> {
        let actions = client.request(
            "textDocument/codeAction",
            json!({
                "textDocument": { "uri": uri(&store) },
                "range": { "start": at, "end": at },
                "context": context,
            }),
        );
        actions
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["title"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let rewrite = "Fix `Store.remove_item` with spot".to_owned();
    assert_eq!(
        titles(json!({ "diagnostics": [], "triggerKind": 2 })),
        Vec::<String>::new()
    );
    assert_eq!(titles(json!({ "diagnostics": [] })), Vec::<String>::new());
    assert_eq!(
        titles(json!({ "diagnostics": [], "triggerKind": 1 })),
        std::slice::from_ref(&rewrite)
    );
    assert_eq!(
        titles(json!({ "diagnostics": [], "only": ["refactor"] })),
        [rewrite]
    );
    // No test command: no failing-test fix in a test-looking function either.
    client.shutdown();
}

/// Issue 22: a missing model is reported in `spot/status` at start, before any fix is asked
/// for, without loading anything.
#[test]
fn issue_22_a_missing_model_shows_in_the_status_at_start() {
    let ws = fixture(POLYGLOT);
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.initialize(ws.path(), json!({ "modelDir": "/nonexistent/spot-model" }));
    let status = client.wait_notification("a status with the model's problem", |m| {
        m["method"] == "spot/status" && m["params"]["model"]["error"].is_string()
    });
    let model = &status["params"]["model"];
    assert_eq!(model["state"], "unloaded", "{model}");
    let error = model["error"].as_str().unwrap();
    assert!(
        error.contains("no model at /nonexistent/spot-model") && error.contains("setup"),
        "{error}"
    );
    client.shutdown();
}

/// Issue 22: a client without a workspace folder (Neovim outside a project) gets the folder of
/// the first file it opens as the workspace: symbols and definitions work.
#[test]
fn issue_22_without_a_workspace_folder_the_opened_files_folder_is_served() {
    let ws = fixture(POLYGLOT);
    let data = tempfile::tempdir().unwrap();
    let mut client = Client::start(data.path());
    client.initialize_without_root(json!({}));
    let store = ws.path().join("inventory/store.py");
    let text = std::fs::read_to_string(&store).unwrap();
    client.open(&store, "python", &text);
    client.wait_indexed();
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(&store) } }),
    );
    assert_eq!(names(&symbols), ["MAX_ITEMS", "Store"], "{symbols}");
    let def = client.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri(&store) }, "position": pos_of(&text, "item: Item", 6) }),
    );
    assert!(
        def[0]["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("inventory/models.py")),
        "{def}"
    );
    let status = client.request(
        "workspace/executeCommand",
        json!({ "command": "spot.status", "arguments": [] }),
    );
    let root = ws.path().join("inventory").canonicalize().unwrap();
    assert_eq!(status["index"]["root"], root.display().to_string());
    client.shutdown();
}

/// Issue 22: a missing `:` far down a Python file is one diagnostic on its line, in words,
/// not a squiggle over the rest of the file.
#[test]
fn issue_22_a_syntax_error_is_one_line_in_words() {
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!("def f{i}(x):\n    return x + {i}\n"));
    }
    text.push_str("def broken(x)\n    return x\n\n\ndef after(y):\n    return y\n");
    let ws = fixture(&format!("//- /mod.py\n{text}"));
    let (mut client, _data) = start(ws.path());
    let path = ws.path().join("mod.py");
    client.open(&path, "python", &text);
    let diags = client.wait_notification("syntax diagnostics", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
    });
    let diags = diags["params"]["diagnostics"].as_array().unwrap().clone();
    assert_eq!(diags[0]["range"]["start"]["line"], 60, "{diags:?}");
    for d in &diags {
        assert_eq!(
            d["range"]["start"]["line"], d["range"]["end"]["line"],
            "{d}"
        );
        let message = d["message"].as_str().unwrap();
        assert!(
            message.starts_with("syntax error") && !message.contains('\n'),
            "{message:?}"
        );
    }
    client.shutdown();
}
