//! Protocol fuzzing: over 10,000 generated messages in four server sessions — bad framing and
//! headers, invalid JSON, invalid JSON-RPC, wrong param types, unknown methods, notifications
//! carrying ids, duplicate and odd ids, cancellations, huge payloads, requests before
//! initialize and after shutdown, exit without shutdown — all pipelined without waiting.
//!
//! Checked: the server never crashes or writes a bad frame; every request with a valid frame
//! and id gets exactly one well-formed response of the expected kind; bad frames get id-less
//! errors; after each storm a valid workspace/symbol and documentSymbol are still answered
//! correctly.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::uri;
use crate::repo;
use crate::report::{self, Row};
use crate::rng::Rng;
use crate::session::{frame, well_formed_response, Sandbox, Session, HANG};

/// What a reply must be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Result,
    Error,
    Code(i64),
    Any,
}

/// What one generated case should produce.
#[derive(Debug, Clone)]
enum Expect {
    /// Exactly one response with this id (JSON text).
    Reply(String, Want),
    /// Exactly one error reply with id `null`.
    NullError,
    /// Header garbage: at least one error reply with id `null` (resync may merge pieces).
    Garbage,
    Nothing,
}

struct Case {
    kind: &'static str,
    bytes: Vec<u8>,
    expect: Vec<Expect>,
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    PreInit,
    Ready,
    AfterShutdown,
}

/// Known request methods and valid params for them.
const REQUESTS: &[&str] = &[
    "workspace/symbol",
    "textDocument/documentSymbol",
    "textDocument/definition",
    "textDocument/hover",
    "textDocument/references",
];
const NOTIFICATIONS: &[&str] = &[
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "textDocument/didSave",
    "workspace/didChangeConfiguration",
    "workspace/didChangeWatchedFiles",
    "$/cancelRequest",
    "$/setTrace",
];
const UNKNOWN_METHODS: &[&str] = &[
    "spot/doesNotExist",
    "textDocument/frobnicate",
    "",
    "💥/boom",
    "workspace/symbol ",
    "WORKSPACE/SYMBOL",
    "$/unknownRequest",
    "$/spot/custom",
];

struct Gen {
    rng: Rng,
    ws: PathBuf,
    outside: PathBuf,
    /// Workspace files the generator may name (relative paths, text).
    files: Vec<(String, String)>,
    phase: Phase,
    first_id: i64,
    n_ids: i64,
    /// Ids already used, for cancellations and duplicates.
    used_ids: Vec<Value>,
    /// Ids a `$/cancelRequest` named: their reply may be RequestCancelled instead.
    cancelled: HashSet<String>,
    open_scratch: Vec<String>,
}

impl Gen {
    fn new(seed: u64, sandbox: &Sandbox, phase: Phase, first_id: i64) -> Gen {
        let mut files = Vec::new();
        for rel in [
            "pkg/mod_0.py",
            "pkg/mod_1.py",
            "src/m0.rs",
            "web/w3.ts",
            "svc/s6.go",
        ] {
            let text = std::fs::read_to_string(sandbox.ws.join(rel)).unwrap_or_default();
            files.push((rel.to_owned(), text));
        }
        Gen {
            rng: Rng::new(seed),
            ws: sandbox.ws.clone(),
            outside: sandbox.outside.clone(),
            files,
            phase,
            first_id,
            n_ids: 0,
            used_ids: Vec::new(),
            cancelled: HashSet::new(),
            open_scratch: Vec::new(),
        }
    }

    fn id(&mut self) -> Value {
        // Unique but out of order: a step coprime with 10^5 walks a permutation of the range.
        self.n_ids += 1;
        let n = self.first_id + (self.n_ids * 7_919) % 100_000;
        let id = match self.rng.below(10) {
            0 => json!(format!("s-{n}")),
            1 => json!(-n),
            2 => json!(format!("{n}")), // a string that looks like a number
            _ => json!(n),
        };
        self.used_ids.push(id.clone());
        id
    }

    /// What a request with a valid frame and id must get in this phase.
    fn want(&self, in_ready: Want) -> Want {
        match (self.phase, in_ready) {
            // The framework's router answers unknown methods before it checks the state, so
            // these get -32601 where the spec says -32002 / -32600: any error is accepted.
            (Phase::PreInit | Phase::AfterShutdown, Want::Code(-32601)) => Want::Error,
            (Phase::PreInit, _) => Want::Code(-32002),
            (Phase::Ready, _) => in_ready,
            (Phase::AfterShutdown, _) => Want::Code(-32600),
        }
    }

    fn file_uri(&mut self) -> String {
        match self.rng.below(8) {
            0..=3 => {
                let (rel, _) = self.rng.pick(&self.files).clone();
                uri(&self.ws.join(rel))
            }
            4 => uri(&self.ws.join(format!("missing/{}.py", self.rng.ident(6)))),
            5 => uri(&self.outside.join("secret.py")),
            6 => (*self.rng.pick(&[
                "untitled:Untitled-1",
                "file:///",
                "http://example.com/a.py",
                "file:///dev/zero",
                "file:///proc/self/environ",
            ]))
            .to_owned(),
            _ => uri(&self.ws.join("pkg/../pkg/mod_0.py")),
        }
    }

    fn position(&mut self) -> Value {
        let (line, character): (u64, u64) = match self.rng.below(6) {
            0 => (u64::from(u32::MAX), u64::from(u32::MAX)),
            1 => (self.rng.below(3) as u64, 100_000),
            _ => (self.rng.below(40) as u64, self.rng.below(30) as u64),
        };
        json!({ "line": line, "character": character })
    }

    fn query(&mut self) -> String {
        match self.rng.below(8) {
            0 => String::new(),
            1 => "ü🦀 naïve".to_owned(),
            2 => ".*[(\\".to_owned(),
            3 => self.rng.ident(2_000),
            4 => format!("helper_{}_{}", self.rng.below(40), self.rng.below(5)),
            5 => "Widget".to_owned(),
            _ => {
                let n = self.rng.range(1, 8);
                self.rng.ident(n)
            }
        }
    }

    fn valid_params(&mut self, method: &str) -> Value {
        match method {
            "workspace/symbol" => json!({ "query": self.query() }),
            "textDocument/documentSymbol" => json!({ "textDocument": { "uri": self.file_uri() } }),
            "textDocument/references" => json!({
                "textDocument": { "uri": self.file_uri() },
                "position": self.position(),
                "context": { "includeDeclaration": self.rng.chance(50) }
            }),
            _ => json!({ "textDocument": { "uri": self.file_uri() }, "position": self.position() }),
        }
    }

    /// Params of the right shape but wrong types: -32602 from the framework's decoder.
    fn wrong_params(&mut self, method: &str) -> (Value, Want) {
        let bad_pos = self
            .rng
            .pick(&[
                json!({ "line": -1, "character": 0 }),
                json!({ "line": "3", "character": 0 }),
                json!({ "line": 1e10, "character": 0 }),
                json!({ "line": 4294967296u64, "character": 0 }),
                json!({ "line": 1.5, "character": 0 }),
                json!(null),
                json!(["one", "two"]),
            ])
            .clone();
        let params = match (method, self.rng.below(4)) {
            ("workspace/symbol", 0) => json!({ "query": 5 }),
            ("workspace/symbol", 1) => json!({ "query": null }),
            ("workspace/symbol", 2) => json!({ "query": ["a"] }),
            ("workspace/symbol", _) => json!({}),
            ("textDocument/documentSymbol", 0) => json!({ "textDocument": 5 }),
            ("textDocument/documentSymbol", 1) => json!({ "textDocument": { "uri": 7 } }),
            ("textDocument/documentSymbol", 2) => json!({ "textDocument": {} }),
            ("textDocument/documentSymbol", _) => json!("just a string"),
            (_, 0) => json!({ "textDocument": { "uri": self.file_uri() }, "position": bad_pos }),
            (_, 1) => json!({ "textDocument": 5, "position": { "line": 0, "character": 0 } }),
            (_, 2) => json!({ "position": { "line": 0, "character": 0 } }),
            (_, _) => json!(true),
        };
        // A missing `params` field is the same error.
        (params, Want::Code(-32602))
    }

    fn request_body(&mut self, id: &Value, method: &str, params: Option<Value>) -> Vec<u8> {
        let mut msg = json!({ "jsonrpc": "2.0", "id": id, "method": method });
        if let Some(p) = params {
            msg["params"] = p;
        }
        serde_json::to_vec(&msg).expect("serializable")
    }

    fn request(
        &mut self,
        kind: &'static str,
        method: &str,
        params: Option<Value>,
        want: Want,
    ) -> Case {
        let id = self.id();
        let body = self.request_body(&id, method, params);
        Case {
            kind,
            bytes: frame(&body),
            expect: vec![Expect::Reply(id.to_string(), self.want(want))],
        }
    }

    fn text(&mut self) -> String {
        let mut s = String::new();
        for _ in 0..self.rng.range(0, 12) {
            let piece = match self.rng.below(9) {
                0 => format!("def {}(x):\n    return x\n", self.rng.ident(6)),
                1 => format!("class {}:\n    pass\n", self.rng.ident(5)),
                2 => format!("fn {}() {{}}\n", self.rng.ident(4)),
                3 => "🦀 é 中文 \u{feff}\r\n".to_owned(),
                4 => "\u{0}\u{1}\t\r".to_owned(),
                5 => "((((((((((".to_owned(),
                6 => "\"\"\"unterminated\n".to_owned(),
                7 => "    ".repeat(self.rng.below(20)),
                _ => {
                    let n = self.rng.range(1, 30);
                    format!("{}\n", self.rng.ident(n))
                }
            };
            s.push_str(&piece);
        }
        s
    }

    fn notification(&mut self) -> Case {
        let method = *self.rng.pick(NOTIFICATIONS);
        let params = match method {
            "textDocument/didOpen" => {
                let ext = *self.rng.pick(&["py", "rs", "ts", "go", "js", "tsx", "txt"]);
                let rel = format!("scratch/f{}.{ext}", self.rng.below(12));
                self.open_scratch.push(rel.clone());
                json!({ "textDocument": {
                    "uri": uri(&self.ws.join(&rel)),
                    "languageId": *self.rng.pick(&["python", "rust", "typescript", "go", "??"]),
                    "version": self.rng.below(5) as i64 - 1,
                    "text": self.text(),
                } })
            }
            "textDocument/didChange" => {
                let target = if !self.open_scratch.is_empty() && self.rng.chance(80) {
                    uri(&self.ws.join(self.rng.pick(&self.open_scratch).clone()))
                } else {
                    self.file_uri()
                };
                let mut changes = Vec::new();
                for _ in 0..self.rng.range(1, 3) {
                    if self.rng.chance(15) {
                        changes.push(json!({ "text": self.text() }));
                    } else {
                        let (a, b) = (self.position(), self.position());
                        changes.push(json!({
                            "range": { "start": a, "end": b },
                            "rangeLength": self.rng.below(10),
                            "text": self.text(),
                        }));
                    }
                }
                json!({
                    "textDocument": { "uri": target, "version": self.rng.below(1000) as i64 - 10 },
                    "contentChanges": changes,
                })
            }
            "textDocument/didClose" | "textDocument/didSave" => {
                let target = if !self.open_scratch.is_empty() && self.rng.chance(70) {
                    uri(&self.ws.join(self.rng.pick(&self.open_scratch).clone()))
                } else {
                    self.file_uri()
                };
                json!({ "textDocument": { "uri": target } })
            }
            "workspace/didChangeConfiguration" => {
                let settings = match self.rng.below(6) {
                    0 => json!({ "spot": { "maxFileSize": self.rng.below(3_000_000) } }),
                    1 => json!({ "spot": { "maxFileSize": "huge", "provider": 7 } }),
                    2 => {
                        json!({ "spot": { "logLevel": *self.rng.pick(&["info", "warn", "loud"]) } })
                    }
                    3 => json!({ "modelDir": self.outside.join("nowhere"), "bogus": [1, 2] }),
                    4 => json!(null),
                    _ => {
                        json!({ "spot": { "learning": { "trigger": "sometimes", "idleMinutes": -4 } } })
                    }
                };
                json!({ "settings": settings })
            }
            "workspace/didChangeWatchedFiles" => {
                let changes: Vec<Value> = (0..self.rng.range(0, 4))
                    .map(|_| json!({ "uri": self.file_uri(), "type": self.rng.range(1, 3) }))
                    .collect();
                json!({ "changes": changes })
            }
            "$/cancelRequest" => {
                let id = if self.used_ids.is_empty() {
                    json!(0)
                } else {
                    self.rng.pick(&self.used_ids).clone()
                };
                self.cancelled.insert(id.to_string());
                json!({ "id": id })
            }
            _ => json!({ "value": *self.rng.pick(&[json!("verbose"), json!("off"), json!(5)]) }),
        };
        let msg = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        Case {
            kind: "notification",
            bytes: frame(&serde_json::to_vec(&msg).expect("serializable")),
            expect: vec![Expect::Nothing],
        }
    }

    /// Bodies that are not JSON at all: one -32700 each.
    fn invalid_json(&mut self) -> Case {
        let body: Vec<u8> = match self.rng.below(12) {
            0 => br#"{"jsonrpc":"2.0","id":1,"method":"workspace/symbol""#.to_vec(),
            1 => br#"{"jsonrpc":"2.0","method":"x"} trailing"#.to_vec(),
            2 => b"NaN".to_vec(),
            3 => "[".repeat(100_000).into_bytes(),
            4 => b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}".to_vec(),
            5 => b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"method\":\"x\"}".to_vec(),
            6 => br#"{"jsonrpc":"2.0", /* comment */ "method":"x"}"#.to_vec(),
            7 => br#"{'jsonrpc':'2.0','method':'x'}"#.to_vec(),
            8 => b"".to_vec(),
            9 => br#"{"jsonrpc":"2.0","id":1e999999,"method":"x"}"#.to_vec(),
            10 => {
                let mut b = b"{\"a\":\"".to_vec();
                b.extend(self.rng.bytes(64).into_iter().map(|b| b | 0x80));
                b.extend_from_slice(b"\"}");
                b
            }
            _ => {
                let n = self.rng.range(1, 200);
                let mut b = vec![b'{'];
                b.extend(self.rng.bytes(n).into_iter().map(|b| b'!' + b % 90));
                b
            }
        };
        Case {
            kind: "invalid JSON",
            bytes: frame(&body),
            expect: vec![Expect::NullError],
        }
    }

    /// JSON that is not a valid JSON-RPC message: -32600, with the id when it is a valid one.
    fn invalid_rpc(&mut self) -> Case {
        let n = self.rng.below(11);
        let id = self.id();
        let key = id.to_string();
        let (body, expect) = match n {
            0 => (
                json!({ "jsonrpc": "1.0", "id": id, "method": "workspace/symbol" }),
                Some(key),
            ),
            1 => (json!({ "id": id, "method": "workspace/symbol" }), Some(key)),
            2 => (
                json!({ "jsonrpc": "2.0", "id": id, "method": 5 }),
                Some(key),
            ),
            3 => (json!({ "jsonrpc": "2.0", "id": id }), Some(key)),
            4 => (
                json!({ "jsonrpc": "2.0", "id": id, "method": "x", "result": 1 }),
                Some(key),
            ),
            5 => (
                json!({ "jsonrpc": "2.0", "id": 1.5, "method": "workspace/symbol" }),
                None,
            ),
            6 => (
                json!({ "jsonrpc": "2.0", "id": true, "method": "workspace/symbol" }),
                None,
            ),
            7 => (
                json!({ "jsonrpc": "2.0", "id": {"a": 1}, "method": "workspace/symbol" }),
                None,
            ),
            8 => (
                json!([{ "jsonrpc": "2.0", "id": 1, "method": "workspace/symbol" }]),
                None,
            ),
            9 => (
                json!({ "jsonrpc": "2.0", "id": null, "method": "workspace/symbol" }),
                None,
            ),
            _ => (
                json!({ "jsonrpc": "2.0", "id": 18446744073709551615u64, "method": "x" }),
                None,
            ),
        };
        let expect = match expect {
            Some(key) => Expect::Reply(key, Want::Code(-32600)),
            None => Expect::NullError,
        };
        Case {
            kind: "invalid JSON-RPC",
            bytes: frame(&serde_json::to_vec(&body).expect("serializable")),
            expect: vec![expect],
        }
    }

    /// Broken headers: each is answered with an id-less parse error and the stream resyncs.
    fn bad_framing(&mut self) -> Case {
        let id = self.id();
        let body = self.request_body(&id, "workspace/symbol", Some(json!({ "query": "x" })));
        let len = body.len();
        let with = |header: String, body: &[u8]| [header.into_bytes(), body.to_vec()].concat();
        let (kind, bytes, expect) = match self.rng.below(11) {
            0 => (
                "missing Content-Length",
                with("Content-Type: application/json\r\n\r\n".into(), &body),
                Expect::Garbage,
            ),
            1 => (
                "Content-Length not a number",
                with(format!("Content-Length: {len}a\r\n\r\n"), &body),
                Expect::Garbage,
            ),
            2 => (
                "negative Content-Length",
                with(format!("Content-Length: -{len}\r\n\r\n"), &body),
                Expect::Garbage,
            ),
            3 => (
                "overflowing Content-Length",
                with(
                    "Content-Length: 99999999999999999999999999\r\n\r\n".into(),
                    &body,
                ),
                Expect::Garbage,
            ),
            4 => (
                "misspelled header",
                with(format!("Content-Lenght: {len}\r\n\r\n"), &body),
                Expect::Garbage,
            ),
            5 => (
                "duplicate Content-Length",
                with(
                    format!("Content-Length: {len}\r\nContent-Length: {len}\r\n\r\n"),
                    &body,
                ),
                Expect::Garbage,
            ),
            6 => {
                // Shorter than the body: a truncated body, then its tail is garbage.
                // (The tail ends in a blank line so that it cannot merge with the next header.)
                let short = self.rng.range(1, len - 1);
                let tail = [body.as_slice(), b"\r\n\r\n"].concat();
                (
                    "Content-Length too short",
                    with(format!("Content-Length: {short}\r\n\r\n"), &tail),
                    Expect::Garbage,
                )
            }
            7 => {
                // Longer than the body: the declared bytes are the body plus filler.
                let extra = self.rng.range(1, 64);
                let mut b = body.clone();
                b.extend(std::iter::repeat_n(b'#', extra));
                (
                    "Content-Length too long",
                    with(format!("Content-Length: {}\r\n\r\n", len + extra), &b),
                    Expect::NullError,
                )
            }
            8 => {
                let pad: String = (0..400)
                    .map(|i| format!("X-Pad-{i}: {}\r\n", "a".repeat(20)))
                    .collect();
                let note = br#"{"jsonrpc":"2.0","method":"$/fuzz/afterOversizedHeader"}"#;
                let header = format!("{pad}Content-Length: {}\r\n\r\n", note.len());
                ("oversized header", with(header, note), Expect::Garbage)
            }
            9 => {
                // Garbage ending in a blank line is a header block of its own. Garbage glued to
                // the next frame's header must not look like a header line (no colon), or it
                // is read as an unknown header of a valid frame — correctly.
                let n = self.rng.range(1, 300);
                let mut g = vec![b'g'];
                g.extend(
                    self.rng
                        .bytes(n)
                        .into_iter()
                        .filter(|b| !b"\r\n:".contains(b)),
                );
                if self.rng.chance(50) {
                    g.extend_from_slice(b"\r\n\r\n");
                    ("binary garbage", g, Expect::Garbage)
                } else {
                    ("garbage glued to the next header", g, Expect::Garbage)
                }
            }
            _ => (
                "empty body",
                b"Content-Length: 0\r\n\r\n".to_vec(),
                Expect::NullError,
            ),
        };
        Case {
            kind,
            bytes,
            expect: vec![expect],
        }
    }

    /// Valid frames written unusually: still a normal request.
    fn odd_but_valid_framing(&mut self) -> Case {
        let id = self.id();
        let params = self.valid_params("workspace/symbol");
        let body = self.request_body(&id, "workspace/symbol", Some(params));
        let len = body.len();
        let header = match self.rng.below(6) {
            0 => format!("content-length: {len}\r\n\r\n"),
            1 => format!("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: {len}\r\n\r\n"),
            2 => format!("X-Unknown-Header: yes\r\nCONTENT-LENGTH:{len}\r\n\r\n"),
            3 => format!("Content-Length: {len}\n\n"),
            4 => format!("\r\n\r\nContent-Length:   {len}   \r\n\r\n"),
            _ => format!("Content-Length: {len}\r\nX-Empty:\r\n\r\n"),
        };
        Case {
            kind: "unusual but valid framing",
            bytes: [header.into_bytes(), body].concat(),
            expect: vec![Expect::Reply(id.to_string(), self.want(Want::Result))],
        }
    }

    /// One generated case for the current phase.
    fn case(&mut self) -> Case {
        let roll = self.rng.below(100);
        match roll {
            0..=21 => {
                let method = *self.rng.pick(REQUESTS);
                let params = self.valid_params(method);
                self.request("valid request", method, Some(params), Want::Result)
            }
            22..=31 => {
                let method = *self.rng.pick(REQUESTS);
                let (params, want) = self.wrong_params(method);
                let params = (!self.rng.chance(10)).then_some(params);
                self.request("wrong param types", method, params, want)
            }
            32..=37 => {
                let method = *self.rng.pick(UNKNOWN_METHODS);
                self.request(
                    "unknown method",
                    method,
                    Some(json!({})),
                    Want::Code(-32601),
                )
            }
            38..=42 => {
                // A notification method sent as a request (with an id).
                let method = *self.rng.pick(&NOTIFICATIONS[..6]);
                self.request(
                    "notification with an id",
                    method,
                    Some(json!({})),
                    Want::Error,
                )
            }
            43..=61 => self.notification(),
            62..=64 => {
                // A response to a request the server never sent.
                let id = self.rng.below(1000);
                let msg = if self.rng.chance(50) {
                    json!({ "jsonrpc": "2.0", "id": id, "result": { "x": 1 } })
                } else {
                    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -1, "message": "no" } })
                };
                Case {
                    kind: "response to nothing",
                    bytes: frame(&serde_json::to_vec(&msg).expect("serializable")),
                    expect: vec![Expect::Nothing],
                }
            }
            65..=72 => self.invalid_json(),
            73..=79 => self.invalid_rpc(),
            80..=89 => self.bad_framing(),
            90..=94 => self.odd_but_valid_framing(),
            95..=97 => {
                // The same id twice back to back: two replies (one may refuse the duplicate).
                let id = self.id();
                let params = self.valid_params("workspace/symbol");
                let body = self.request_body(&id, "workspace/symbol", Some(params));
                let want = self.want(Want::Any);
                Case {
                    kind: "duplicate id",
                    bytes: [frame(&body), frame(&body)].concat(),
                    expect: vec![
                        Expect::Reply(id.to_string(), want),
                        Expect::Reply(id.to_string(), want),
                    ],
                }
            }
            _ => {
                // Extreme ids.
                let id = self
                    .rng
                    .pick(&[
                        json!(i64::MAX),
                        json!(i64::MIN),
                        json!(0),
                        json!(""),
                        json!("🦀-id"),
                        json!("x".repeat(5000)),
                    ])
                    .clone();
                let body =
                    self.request_body(&id, "workspace/symbol", Some(json!({ "query": "Widget" })));
                self.used_ids.push(id.clone());
                Case {
                    kind: "extreme id",
                    bytes: frame(&body),
                    expect: vec![Expect::Reply(id.to_string(), self.want(Want::Any))],
                }
            }
        }
    }

    /// Payloads of several MB, valid and not.
    fn huge(&mut self, which: usize) -> Case {
        match which % 5 {
            0 => {
                let q: String = (0..400_000).map(|_| self.rng.ident(9) + " ").collect();
                self.request(
                    "huge valid request (4 MB query)",
                    "workspace/symbol",
                    Some(json!({ "query": q })),
                    Want::Result,
                )
            }
            1 => {
                let mut text = String::new();
                while text.len() < 5_000_000 {
                    text.push_str(&format!(
                        "def huge_{}(x):\n    return x\n",
                        self.rng.ident(8)
                    ));
                }
                let msg = json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                    "textDocument": { "uri": uri(&self.ws.join("scratch/huge.py")), "languageId": "python", "version": 1, "text": text }
                } });
                Case {
                    kind: "huge didOpen (5 MB)",
                    bytes: frame(&serde_json::to_vec(&msg).expect("serializable")),
                    expect: vec![Expect::Nothing],
                }
            }
            2 => {
                let mut body = b"{\"jsonrpc\":\"2.0\",\"params\":\"".to_vec();
                body.extend(std::iter::repeat_n(b'z', 3_000_000));
                Case {
                    kind: "huge invalid JSON (3 MB)",
                    bytes: frame(&body),
                    expect: vec![Expect::NullError],
                }
            }
            3 => {
                let blob = "q".repeat(3_000_000);
                self.request(
                    "huge unknown method (3 MB)",
                    "spot/doesNotExist",
                    Some(json!({ "blob": blob })),
                    Want::Code(-32601),
                )
            }
            _ => {
                // Over the 64 MiB body limit: refused unread, the stream continues after it.
                let len = 64 * 1024 * 1024 + 4096;
                let mut bytes = format!("Content-Length: {len}\r\n\r\n").into_bytes();
                bytes.extend(std::iter::repeat_n(b' ', len));
                Case {
                    kind: "body over the limit (64 MiB + 4 KiB)",
                    bytes,
                    expect: vec![Expect::NullError],
                }
            }
        }
    }
}

/// Everything sent in one session and what came back.
#[derive(Default)]
struct Tally {
    cases: u64,
    /// Per id: what each reply must be, and the case that asked (kind: method).
    expected: HashMap<String, Vec<(Want, String)>>,
    null_exact: u64,
    null_at_least: u64,
    kinds: HashMap<&'static str, u64>,
    /// Every id a case carried, with the case (for replies nobody expected).
    carried: HashMap<String, String>,
}

impl Tally {
    fn add(&mut self, case: &Case) {
        self.cases += 1;
        *self.kinds.entry(case.kind).or_default() += 1;
        let label = format!("{}: {}", case.kind, method_of(&case.bytes));
        for e in &case.expect {
            match e {
                Expect::Reply(id, want) => self
                    .expected
                    .entry(id.clone())
                    .or_default()
                    .push((*want, label.clone())),
                Expect::NullError => self.null_exact += 1,
                Expect::Garbage => self.null_at_least += 1,
                Expect::Nothing => {}
            }
        }
    }
}

/// The `method` a case's body names, for labels.
fn method_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    text.split_once("\"method\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or_else(String::new, |(m, _)| m.to_owned())
}

/// Sends each case in one to three writes (split at random points: partial frames).
fn send_case(session: &mut Session, rng: &mut Rng, case: &Case) {
    let bytes = &case.bytes;
    if bytes.len() < 4 || rng.chance(60) {
        session.send_raw(bytes);
        return;
    }
    let a = rng.range(1, bytes.len() - 1);
    session.send_raw(&bytes[..a]);
    session.send_raw(&bytes[a..]);
}

/// What the session's replies say about the cases sent.
struct Outcome {
    unanswered: u64,
    extra: u64,
    wrong: Vec<String>,
    malformed: Vec<String>,
    null_errors: u64,
}

fn judge(session: &mut Session, tally: &Tally, cancelled: &HashSet<String>) -> Outcome {
    // Wait until every expected id has its replies, or the server has been silent for QUIET
    // (what is missing by then never comes), bounded by the hang timeout.
    const QUIET: Duration = Duration::from_secs(2);
    let all_in = |s: &Session| {
        tally
            .expected
            .iter()
            .all(|(id, wants)| s.responses.get(id).map_or(0, Vec::len) >= wants.len())
    };
    // A fence: once it is answered the server has read every case before it.
    let (fence, _) = session.send_request("workspace/symbol", json!({ "query": "fence" }));
    session.wait_response(&fence, HANG);
    let deadline = std::time::Instant::now() + HANG;
    while !all_in(session) && std::time::Instant::now() < deadline {
        let before: usize =
            session.responses.values().map(Vec::len).sum::<usize>() + session.notifications.len();
        session.drain(QUIET);
        let after: usize =
            session.responses.values().map(Vec::len).sum::<usize>() + session.notifications.len();
        if after == before {
            break;
        }
    }
    session.drain(Duration::from_millis(300));
    let mut out = Outcome {
        unanswered: 0,
        extra: 0,
        wrong: Vec::new(),
        malformed: Vec::new(),
        null_errors: 0,
    };
    let mut unanswered_by: HashMap<String, u64> = HashMap::new();
    let mut wrong_by: HashMap<String, (u64, String)> = HashMap::new();
    let responses = std::mem::take(&mut session.responses);
    for (id, got) in &responses {
        for r in got {
            if let Err(e) = well_formed_response(&r.msg) {
                out.malformed.push(e);
            }
        }
        if id == "null" {
            out.null_errors += got.len() as u64;
            continue;
        }
        let wants = tally.expected.get(id).map_or(&[][..], Vec::as_slice);
        if got.len() > wants.len() {
            out.extra += (got.len() - wants.len()) as u64;
            let label = wants
                .first()
                .map(|(_, l)| l.as_str())
                .or_else(|| tally.carried.get(id).map(String::as_str))
                .unwrap_or("never sent");
            out.wrong.push(format!(
                "{} extra repl(ies) for id {id} ({label}): {}",
                got.len() - wants.len(),
                got[0].msg
            ));
        }
    }
    for (id, wants) in &tally.expected {
        let got = responses.get(id).map_or(&[][..], Vec::as_slice);
        if got.len() < wants.len() {
            out.unanswered += (wants.len() - got.len()) as u64;
            *unanswered_by.entry(wants[0].1.clone()).or_default() +=
                (wants.len() - got.len()) as u64;
            continue;
        }
        if wants.len() > 1 {
            continue; // duplicates: either may be the refusal
        }
        let ((want, label), msg) = (&wants[0], &got[0].msg);
        let code = msg["error"]["code"].as_i64();
        let ok = match want {
            Want::Any => true,
            Want::Result => msg.get("result").is_some(),
            Want::Error => code.is_some(),
            Want::Code(c) => code == Some(*c),
        } || (cancelled.contains(id) && code == Some(-32800));
        if !ok {
            let e = wrong_by
                .entry(format!("{label}: wanted {want:?}"))
                .or_insert((0, msg.to_string()));
            e.0 += 1;
        }
    }
    let mut unanswered_by: Vec<_> = unanswered_by.into_iter().collect();
    unanswered_by.sort();
    for (label, n) in unanswered_by {
        out.wrong.push(format!("{n} unanswered: {label}"));
    }
    let mut wrong_by: Vec<_> = wrong_by.into_iter().collect();
    wrong_by.sort();
    for (label, (n, example)) in wrong_by {
        let example: String = example.chars().take(300).collect();
        out.wrong
            .push(format!("{n} wrong replies: {label}, e.g. {example}"));
    }
    // id-less error replies: one per broken frame, at least one per piece of header garbage.
    let at_least = tally.null_exact + tally.null_at_least;
    if out.null_errors < at_least {
        out.wrong.push(format!(
            "{} id-less error replies for {} broken frames",
            out.null_errors, at_least
        ));
    }
    out
}

/// The checks that the server still works after a storm.
fn still_serving(session: &mut Session, sandbox: &Sandbox) -> Result<(), String> {
    let r = session.request_full("workspace/symbol", json!({ "query": repo::SENTINEL }));
    let first = &r["result"][0];
    if first["name"] != repo::SENTINEL
        || !first["location"]["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with(repo::SENTINEL_FILE))
    {
        return Err(format!("workspace/symbol after the storm: {r}"));
    }
    let r = session.request_full(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(&sandbox.ws.join("pkg/mod_2.py")) } }),
    );
    let names: Vec<&str> = r["result"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    let want = [
        "CONST_2",
        "Widget2",
        "helper_2_0",
        "helper_2_1",
        "helper_2_2",
        "helper_2_3",
        "helper_2_4",
    ];
    if names != want {
        return Err(format!("documentSymbol after the storm: {r}"));
    }
    Ok(())
}

struct SessionFigures {
    name: &'static str,
    tally: Tally,
    outcome: Outcome,
    crashed: bool,
    panics: u64,
    peak_rss_kb: Option<u64>,
    notes: Vec<String>,
    failures: Vec<String>,
}

fn storm(session: &mut Session, gen: &mut Gen, send_rng: &mut Rng, tally: &mut Tally, n: usize) {
    for _ in 0..n {
        let first = gen.used_ids.len();
        let case = gen.case();
        for id in &gen.used_ids[first..] {
            let label = format!(
                "{}: {}",
                case.kind,
                String::from_utf8_lossy(&case.bytes[..case.bytes.len().min(160)])
            );
            tally.carried.insert(id.to_string(), label);
        }
        tally.add(&case);
        send_case(session, send_rng, &case);
    }
}

fn finish(
    name: &'static str,
    session: &mut Session,
    gen: &Gen,
    tally: Tally,
    mut notes: Vec<String>,
) -> SessionFigures {
    let outcome = judge(session, &tally, &gen.cancelled);
    let mut failures = Vec::new();
    if outcome.unanswered > 0 || !outcome.wrong.is_empty() || !outcome.malformed.is_empty() {
        failures.push(format!(
            "{name}: {} unanswered, {} extra; {:?}; malformed: {:?}",
            outcome.unanswered, outcome.extra, outcome.wrong, outcome.malformed
        ));
    }
    if !session.garbled.is_empty() {
        failures.push(format!(
            "{name}: server wrote bad frames: {:?}",
            session.garbled
        ));
    }
    notes.push(format!("{} id-less errors", outcome.null_errors));
    let unanswered: Vec<&str> = outcome
        .wrong
        .iter()
        .filter(|w| w.contains(" unanswered: "))
        .map(String::as_str)
        .collect();
    if !unanswered.is_empty() {
        notes.push(unanswered.join(", "));
    }
    SessionFigures {
        name,
        tally,
        outcome,
        crashed: false,
        panics: 0,
        peak_rss_kb: session.vm_hwm_kb(),
        notes,
        failures,
    }
}

/// Session 1: requests before initialize, a storm, shutdown, requests after shutdown, exit.
fn session_lifecycle(sandbox: &Sandbox) -> SessionFigures {
    let mut session = Session::start(&sandbox.launch());
    let mut send_rng = Rng::new(11);
    let mut pre_tally = Tally::default();
    let mut pre = Gen::new(101, sandbox, Phase::PreInit, 100_000);
    storm(&mut session, &mut pre, &mut send_rng, &mut pre_tally, 400);
    let pre_outcome = judge(&mut session, &pre_tally, &pre.cancelled);
    session.initialize(&sandbox.ws, json!({}));
    session.wait_indexed();

    let mut tally = Tally::default();
    let mut gen = Gen::new(102, sandbox, Phase::Ready, 200_000);
    storm(&mut session, &mut gen, &mut send_rng, &mut tally, 2_900);
    let mut figures = finish("lifecycle", &mut session, &gen, tally, Vec::new());
    figures
        .failures
        .extend(still_serving(&mut session, sandbox).err());
    if pre_outcome.unanswered > 0 || !pre_outcome.wrong.is_empty() {
        figures
            .failures
            .push(format!("before initialize: {:?}", pre_outcome.wrong));
    }
    figures.tally.cases += pre_tally.cases;
    figures.outcome.unanswered += pre_outcome.unanswered;

    let r = session.request_full("shutdown", Value::Null);
    if r.get("error").is_some() {
        figures.failures.push(format!("shutdown failed: {r}"));
    }
    let mut after = Gen::new(103, sandbox, Phase::AfterShutdown, 300_000);
    let mut after_tally = Tally::default();
    storm(
        &mut session,
        &mut after,
        &mut send_rng,
        &mut after_tally,
        300,
    );
    let after_outcome = judge(&mut session, &after_tally, &after.cancelled);
    if after_outcome.unanswered > 0 || !after_outcome.wrong.is_empty() {
        figures
            .failures
            .push(format!("after shutdown: {:?}", after_outcome.wrong));
    }
    figures.tally.cases += after_tally.cases;
    figures.outcome.unanswered += after_outcome.unanswered;
    if pre_outcome.unanswered + after_outcome.unanswered > 0 {
        figures.notes.push(format!(
            "{} unanswered before initialize, {} after shutdown ($/ requests)",
            pre_outcome.unanswered, after_outcome.unanswered
        ));
    }
    session.notify("exit", Value::Null);
    match session.wait_exit(HANG) {
        Some(status) if status.success() => {}
        Some(status) => figures
            .failures
            .push(format!("exit after shutdown: {status}")),
        None => figures
            .failures
            .push("no exit after shutdown + exit".into()),
    }
    figures
        .notes
        .push("400 before initialize, 300 after shutdown".into());
    figures.panics = session.panics().len() as u64;
    figures
}

/// Session 2: a storm, then `exit` without `shutdown`.
fn session_exit_without_shutdown(sandbox: &Sandbox) -> SessionFigures {
    let mut session = Session::start(&sandbox.launch());
    session.initialize(&sandbox.ws, json!({}));
    session.wait_indexed();
    let mut send_rng = Rng::new(21);
    let mut tally = Tally::default();
    let mut gen = Gen::new(202, sandbox, Phase::Ready, 400_000);
    storm(&mut session, &mut gen, &mut send_rng, &mut tally, 3_000);
    let mut figures = finish(
        "exit without shutdown",
        &mut session,
        &gen,
        tally,
        Vec::new(),
    );
    figures
        .failures
        .extend(still_serving(&mut session, sandbox).err());
    session.notify("exit", Value::Null);
    match session.wait_exit(HANG) {
        Some(status) if status.code().is_some() => {
            figures
                .notes
                .push(format!("exit code {}", status.code().unwrap_or(-1)));
        }
        Some(status) => figures
            .failures
            .push(format!("killed by a signal: {status}")),
        None => figures
            .failures
            .push("no exit after exit without shutdown".into()),
    }
    figures.panics = session.panics().len() as u64;
    figures
}

/// Session 3: a storm with payloads of several MB, then a body that never ends, then EOF.
fn session_huge_payloads(sandbox: &Sandbox) -> SessionFigures {
    let mut session = Session::start(&sandbox.launch());
    session.initialize(&sandbox.ws, json!({}));
    session.wait_indexed();
    let mut send_rng = Rng::new(31);
    let mut tally = Tally::default();
    let mut gen = Gen::new(303, sandbox, Phase::Ready, 500_000);
    for round in 0..10 {
        storm(&mut session, &mut gen, &mut send_rng, &mut tally, 250);
        let case = gen.huge(round);
        tally.add(&case);
        session.send_raw(&case.bytes);
    }
    let mut figures = finish("huge payloads", &mut session, &gen, tally, Vec::new());
    figures
        .failures
        .extend(still_serving(&mut session, sandbox).err());

    // A declared length of 1 PB: the server streams it away; it must neither buffer it nor die.
    let rss_before = session.vm_hwm_kb();
    session.send_raw(b"Content-Length: 1000000000000000\r\n\r\n");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..8 {
        session.send_raw(&chunk);
    }
    figures.tally.cases += 1;
    std::thread::sleep(Duration::from_millis(200));
    if session.exited() {
        figures
            .failures
            .push("server died inside an endless body".into());
    }
    session.close_stdin();
    match session.wait_exit(HANG) {
        Some(status) if status.success() => {}
        Some(status) => figures
            .failures
            .push(format!("EOF inside an endless body: {status}")),
        None => figures
            .failures
            .push("no exit after EOF inside an endless body".into()),
    }
    figures.notes.push(format!(
        "10 payloads of 3–64 MB + a 1 PB declared body; VmHWM before it {} MB",
        rss_before.unwrap_or(0) / 1024
    ));
    figures.panics = session.panics().len() as u64;
    figures
}

/// Session 4: a storm before initialize, then `exit` without ever initializing.
fn session_never_initialized(sandbox: &Sandbox) -> SessionFigures {
    let mut session = Session::start(&sandbox.launch());
    let mut send_rng = Rng::new(41);
    let mut tally = Tally::default();
    let mut gen = Gen::new(404, sandbox, Phase::PreInit, 600_000);
    storm(&mut session, &mut gen, &mut send_rng, &mut tally, 1_000);
    let mut figures = finish("never initialized", &mut session, &gen, tally, Vec::new());
    session.notify("exit", Value::Null);
    match session.wait_exit(HANG) {
        Some(status) if status.code().is_some() => {}
        Some(status) => figures
            .failures
            .push(format!("killed by a signal: {status}")),
        None => figures
            .failures
            .push("no exit after exit before initialize".into()),
    }
    figures.panics = session.panics().len() as u64;
    figures
}

#[test]
fn fuzz_protocol_storm() {
    let _report = report::test("fuzz_protocol_storm");
    let _heavy = crate::heavy();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    std::fs::write(
        sandbox.outside.join("secret.py"),
        "def outside_secret():\n    pass\n",
    )
    .unwrap();

    let mut all = Vec::new();
    for run in [
        session_lifecycle as fn(&Sandbox) -> SessionFigures,
        session_exit_without_shutdown,
        session_huge_payloads,
        session_never_initialized,
    ] {
        let mut figures = run(&sandbox);
        figures.crashed = figures
            .failures
            .iter()
            .any(|f| f.contains("signal") || f.contains("died"));
        report::row(Row {
            test: "fuzz_protocol_storm",
            case: figures.name.to_owned(),
            tried: figures.tally.cases,
            crashes: u64::from(figures.crashed),
            panics: figures.panics,
            unanswered: figures.outcome.unanswered,
            lost_edits: None,
            peak_rss_kb: figures.peak_rss_kb,
            notes: figures.notes.join("; "),
        });
        all.push(figures);
    }
    let total: u64 = all.iter().map(|f| f.tally.cases).sum();
    let mut kinds: HashMap<&str, u64> = HashMap::new();
    for f in &all {
        for (k, n) in &f.tally.kinds {
            *kinds.entry(k).or_default() += n;
        }
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort();
    eprintln!("fuzz: {total} messages; by kind: {kinds:?}");
    let failures: Vec<&String> = all.iter().flat_map(|f| &f.failures).collect();
    let panics: Vec<u64> = all.iter().map(|f| f.panics).collect();
    assert!(total >= 10_000, "only {total} messages");
    assert!(failures.is_empty(), "fuzz failures:\n{failures:#?}");
    assert!(
        panics.iter().all(|&p| p == 0),
        "server panics per session: {panics:?}"
    );
}

/// A client that sends `initialized` right behind `initialize`, before the reply (pipelining
/// clients and test harnesses do): the server must still build its index.
#[test]
fn fuzz_initialized_sent_before_the_initialize_reply() {
    let _report = report::test("fuzz_initialized_sent_before_the_initialize_reply");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let mut session = Session::start(&sandbox.launch());
    let (id, _) = session.send_request(
        "initialize",
        json!({ "processId": null, "rootUri": uri(&sandbox.ws), "capabilities": {} }),
    );
    session.notify("initialized", json!({}));
    let reply = session
        .wait_response(&id, HANG)
        .expect("initialize answered");
    assert!(reply.msg.get("result").is_some(), "{}", reply.msg);
    let built = session.pump_until(Duration::from_secs(5), |s| {
        s.notifications.iter().any(|m| {
            m["params"]["message"]
                .as_str()
                .is_some_and(|t| t.starts_with("indexed "))
        })
    });
    let found = session.has_symbol(repo::SENTINEL);
    let status = session.shutdown_and_exit();
    report::row(Row {
        test: "fuzz_initialized_sent_before_the_initialize_reply",
        case: "initialize + initialized pipelined".into(),
        tried: 2,
        notes: if built {
            "index built".into()
        } else {
            "NO INDEX: the early `initialized` found no index and no build ever started".into()
        },
        ..Row::default()
    });
    assert!(
        built && found,
        "no initial build after a pipelined `initialized` (symbol found: {found})"
    );
    assert_eq!(status.map(|s| s.success()), Some(true));
}
