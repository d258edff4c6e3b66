//! Load: 200 requests of five kinds pipelined without waiting, interleaved with an edit storm
//! (hundreds of incremental didChange notifications, some with several changes, UTF-16 columns
//! after emoji) on four open documents added to the repository.
//!
//! The repository is the generated one (`repo.rs`), or a copy of a real one when
//! `SPOT_LOAD_REPO` names its directory (no network: the caller provides it, e.g. a clone of
//! ripgrep). On a real repository the requests' targets are drawn (seeded) from an index the
//! test builds itself: workspace/symbol with prefixes of defined names, documentSymbol of
//! indexed files, definition at uses of defined names, references and hover at definitions.
//!
//! Figures: p50/p99/max latency per request kind (send → response seen by the reader thread),
//! printed per kind and kept in the report; the server's CPU time from the storm's first
//! message to its last reply, in all and per thread group (what other work on the machine does
//! not inflate, unlike the latencies); lost or misapplied edits (the server's view of each
//! document after the storm, through documentSymbol, definition and hover, against the client's
//! own text); peak RSS (VmHWM).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use crate::common::{pos_of, uri};
use crate::repo;
use crate::report::{self, Latency, Row};
use crate::rng::Rng;
use crate::session::{percentile, well_formed_response, Sandbox, Session, HANG};

const DOCS: usize = 4;
const REQUESTS_PER_KIND: usize = 40;
const EDITS: usize = 640;
/// Peak RSS bound for the server under this load.
const RSS_LIMIT_KB: u64 = 500 * 1024;
/// Where the open documents of the storm live (added to the repository).
const LIVE_DIR: &str = "spot_load_live";

/// The client's copy of one open document: blocks of three lines,
/// `def NAME():<comment>\n    return V\n\n`.
struct Doc {
    path: std::path::PathBuf,
    blocks: Vec<Block>,
    version: i32,
}

#[derive(Clone)]
struct Block {
    name: String,
    comment: String,
    value: String,
}

impl Block {
    fn def_line(&self) -> String {
        format!("def {}():{}", self.name, self.comment)
    }

    fn text(&self) -> String {
        format!("{}\n    return {}\n\n", self.def_line(), self.value)
    }
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

impl Doc {
    fn text(&self) -> String {
        self.blocks.iter().map(Block::text).collect()
    }

    /// Applies one random edit to the model and returns it as an LSP content change.
    fn edit(&mut self, rng: &mut Rng, counter: &mut usize, doc_idx: usize) -> Value {
        let n = self.blocks.len();
        let pos = |line: usize, col: usize| json!({ "line": line, "character": col });
        let op = if n < 4 { 0 } else { rng.below(6) };
        *counter += 1;
        match op {
            0 | 1 => {
                let i = rng.below(n + 1);
                let block = Block {
                    name: format!("live_{doc_idx}_{counter}"),
                    comment: String::new(),
                    value: counter.to_string(),
                };
                let change = json!({ "range": { "start": pos(3 * i, 0), "end": pos(3 * i, 0) }, "text": block.text() });
                self.blocks.insert(i, block);
                change
            }
            2 => {
                let i = rng.below(n);
                self.blocks.remove(i);
                json!({ "range": { "start": pos(3 * i, 0), "end": pos(3 * i + 3, 0) }, "text": "" })
            }
            3 => {
                let i = rng.below(n);
                let old = utf16_len(&self.blocks[i].name);
                let name = format!("renamed_{doc_idx}_{counter}");
                self.blocks[i].name = name.clone();
                json!({ "range": { "start": pos(3 * i, 4), "end": pos(3 * i, 4 + old) }, "text": name })
            }
            4 => {
                let i = rng.below(n);
                let end = utf16_len(&self.blocks[i].def_line());
                let add = *rng.pick(&["  # 🦀", " é", " # 中文🦀x", " #"]);
                self.blocks[i].comment.push_str(add);
                json!({ "range": { "start": pos(3 * i, end), "end": pos(3 * i, end) }, "text": add })
            }
            _ => {
                let i = rng.below(n);
                let old = utf16_len(&self.blocks[i].value);
                let value = format!("{}", rng.below(1_000_000));
                self.blocks[i].value = value.clone();
                let col = "    return ".len();
                json!({ "range": { "start": pos(3 * i + 1, col), "end": pos(3 * i + 1, col + old) }, "text": value })
            }
        }
    }
}

fn has_command(init: &Value, command: &str) -> bool {
    init["capabilities"]["executeCommandProvider"]["commands"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == command))
}

/// Starts spot.issueToPatch; with the session holding server requests it stays in flight at
/// its first step (the server asks the editor for a progress token and waits for the answer, up
/// to a few seconds: longer than the storm takes).
fn issue_to_patch(session: &mut Session, issue: &str) -> Value {
    session
        .send_request(
            "workspace/executeCommand",
            json!({ "command": "spot.issueToPatch", "arguments": [{ "issue": issue, "apply": false }] }),
        )
        .0
}

struct Pending {
    kind: &'static str,
    sent: Instant,
}

/// The repository the load runs on.
enum Workload {
    /// `repo.rs`'s generated repository.
    Synthetic,
    /// A copy of the real repository named by `SPOT_LOAD_REPO`.
    Real(Targets),
}

/// Request targets drawn from a real repository's own index.
struct Targets {
    /// `name @ commit (N files, M lines)`.
    describe: String,
    files: Vec<PathBuf>,
    /// Names defined in the repository.
    names: Vec<String>,
    /// (file, position) of each definition's name.
    defs: Vec<(PathBuf, Value)>,
    /// (file, position) of each use of a name defined elsewhere in the repository.
    uses: Vec<(PathBuf, Value)>,
}

impl Workload {
    /// From `SPOT_LOAD_REPO`: the repository is copied into `ws` (without `.git`) and indexed
    /// in-process to draw targets from. Unset: the generated repository.
    fn write(ws: &Path) -> Workload {
        let Some(src) = std::env::var_os("SPOT_LOAD_REPO").filter(|v| !v.is_empty()) else {
            repo::write(ws);
            return Workload::Synthetic;
        };
        let src = PathBuf::from(src);
        assert!(
            src.is_dir(),
            "SPOT_LOAD_REPO={} is not a directory",
            src.display()
        );
        copy_tree(&src, ws);
        Workload::Real(Targets::from_index(&src, ws))
    }

    fn describe(&self) -> String {
        match self {
            Workload::Synthetic => format!(
                "generated repository ({} files; SPOT_LOAD_REPO unset)",
                repo::file_count()
            ),
            Workload::Real(t) => t.describe.clone(),
        }
    }
}

/// Copies a directory tree, leaving out `.git` and symlinks.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && name != ".git" {
            copy_tree(&path, &to.join(&name));
        } else if kind.is_file() {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

impl Targets {
    fn from_index(src: &Path, ws: &Path) -> Targets {
        let index = spot_index::Index::new(ws.to_path_buf(), spot_index::IndexOptions::default());
        index
            .build(&spot_base::cancel::CancelToken::new(), &|_| {})
            .expect("index the repository");
        let mut files = index.snapshot();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let pos = |line: u32, col: u32| json!({ "line": line, "character": col });
        let defined: HashSet<&str> = files
            .iter()
            .flat_map(|f| f.index.defs.iter().map(|d| d.name.as_str()))
            .collect();
        let mut names: Vec<String> = defined.iter().map(|n| (*n).to_owned()).collect();
        names.sort();
        let (mut defs, mut uses) = (Vec::new(), Vec::new());
        for f in &files {
            let path = ws.join(&f.path);
            for d in &f.index.defs {
                defs.push((
                    path.clone(),
                    pos(d.name_span.start_line, d.name_span.start_col),
                ));
            }
            let starts: HashSet<u32> = f.index.defs.iter().map(|d| d.name_span.start).collect();
            for r in &f.index.refs {
                let name = &f.index.names[r.name as usize];
                if defined.contains(name.as_str()) && !starts.contains(&r.start) {
                    uses.push((path.clone(), pos(r.line, r.col)));
                }
            }
        }
        let lines: u64 = files.iter().map(|f| u64::from(f.index.n_lines)).sum();
        let commit = std::process::Command::new("git")
            .arg("-C")
            .arg(src)
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "no git".to_owned());
        let name = src
            .file_name()
            .map_or_else(|| src.display().to_string(), |n| n.to_string_lossy().into());
        Targets {
            describe: format!(
                "{name} @ {commit} ({} files, {lines} lines; SPOT_LOAD_REPO)",
                files.len()
            ),
            files: files.iter().map(|f| ws.join(&f.path)).collect(),
            names,
            defs,
            uses,
        }
    }

    fn params(&self, kind: &str, rng: &mut Rng, docs: &[Doc]) -> (&'static str, Value) {
        let at = |list: &[(PathBuf, Value)], rng: &mut Rng| {
            let (path, position) = &list[rng.below(list.len())];
            json!({ "textDocument": { "uri": uri(path) }, "position": position })
        };
        match kind {
            "workspace/symbol" => {
                let name = &self.names[rng.below(self.names.len())];
                let len = name.chars().count().min(3 + rng.below(4));
                let query: String = name.chars().take(len).collect();
                ("workspace/symbol", json!({ "query": query }))
            }
            "documentSymbol" => {
                let target = if rng.chance(50) {
                    docs[rng.below(DOCS)].path.clone()
                } else {
                    self.files[rng.below(self.files.len())].clone()
                };
                (
                    "textDocument/documentSymbol",
                    json!({ "textDocument": { "uri": uri(&target) } }),
                )
            }
            "definition" => ("textDocument/definition", at(&self.uses, rng)),
            "references" => {
                let mut params = at(&self.defs, rng);
                params["context"] = json!({ "includeDeclaration": true });
                ("textDocument/references", params)
            }
            _ => ("textDocument/hover", at(&self.defs, rng)),
        }
    }
}

/// A request of `kind` whose answer is known from the repository (not the edited documents).
fn request_params(
    kind: &str,
    rng: &mut Rng,
    ws: &std::path::Path,
    docs: &[Doc],
    workload: &Workload,
) -> (&'static str, Value) {
    if let Workload::Real(targets) = workload {
        return targets.params(kind, rng, docs);
    }
    let i = rng.below(repo::MODULES);
    let j = (i * 7 + 3) % repo::MODULES;
    let path = ws.join(format!("pkg/mod_{i}.py"));
    let text = std::fs::read_to_string(&path).expect("fixture file");
    let at = |needle: &str| pos_of(&text, needle, 1);
    match kind {
        "workspace/symbol" => (
            "workspace/symbol",
            json!({ "query": *rng.pick(&["helper", "Widget", "live_", "grow", "Serve", "Ledger"]) }),
        ),
        "documentSymbol" => {
            let target = if rng.chance(50) {
                docs[rng.below(DOCS)].path.clone()
            } else {
                path
            };
            (
                "textDocument/documentSymbol",
                json!({ "textDocument": { "uri": uri(&target) } }),
            )
        }
        "definition" => (
            "textDocument/definition",
            json!({ "textDocument": { "uri": uri(&path) }, "position": at(&format!("helper_{j}_0(total)")) }),
        ),
        "references" => (
            "textDocument/references",
            json!({
                "textDocument": { "uri": uri(&path) },
                "position": at(&format!("def helper_{i}_0")),
                "context": { "includeDeclaration": true }
            }),
        ),
        _ => (
            "textDocument/hover",
            json!({ "textDocument": { "uri": uri(&path) }, "position": at(&format!("class Widget{i}")) }),
        ),
    }
}

/// `63 ms (spot 26, spot-query 29, …)`: the CPU the server's thread groups ran between two
/// readings, largest first (groups under 1 ms left out).
fn storm_cpu(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    let mut used: Vec<(&str, f64)> = after
        .iter()
        .map(|(group, ns)| {
            let was = before.get(group).copied().unwrap_or(0);
            (group.as_str(), ns.saturating_sub(was) as f64 / 1e6)
        })
        .collect();
    let total: f64 = used.iter().map(|(_, ms)| ms).sum();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let groups: Vec<String> = used
        .iter()
        .filter(|(_, ms)| *ms >= 1.0)
        .map(|(group, ms)| format!("{group} {ms:.0}"))
        .collect();
    format!("{total:.0} ms ({})", groups.join(", "))
}

/// (name, line) of each top-level symbol the server reports for a document.
fn server_symbols(session: &mut Session, doc: &Doc) -> Vec<(String, u64)> {
    let r = session.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri(&doc.path) } }),
    );
    r.as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or_default().to_owned(),
                        s["selectionRange"]["start"]["line"]
                            .as_u64()
                            .unwrap_or(u64::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn expected_symbols(doc: &Doc) -> Vec<(String, u64)> {
    doc.blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.clone(), 3 * i as u64))
        .collect()
}

/// Symbols in one list and not the other, both ways.
fn mismatches(got: &[(String, u64)], want: &[(String, u64)]) -> u64 {
    let missing = want.iter().filter(|w| !got.contains(w)).count();
    let extra = got.iter().filter(|g| !want.contains(g)).count();
    (missing + extra) as u64
}

#[test]
fn load_pipelined_requests_with_an_edit_storm() {
    let _report = report::test("load_pipelined_requests_with_an_edit_storm");
    let _heavy = crate::heavy();
    let sandbox = Sandbox::new();
    let workload = Workload::write(&sandbox.ws);
    let mut rng = Rng::new(7);
    let mut docs: Vec<Doc> = (0..DOCS)
        .map(|d| {
            let blocks = (0..20)
                .map(|k| Block {
                    name: format!("live_{d}_init_{k}"),
                    comment: String::new(),
                    value: k.to_string(),
                })
                .collect();
            Doc {
                path: sandbox.ws.join(format!("{LIVE_DIR}/doc_{d}.py")),
                blocks,
                version: 1,
            }
        })
        .collect();
    for doc in &docs {
        std::fs::create_dir_all(doc.path.parent().unwrap()).unwrap();
        std::fs::write(&doc.path, doc.text()).unwrap();
    }

    let mut session = Session::start(&sandbox.launch());
    let init = session.initialize(&sandbox.ws, json!({}));
    session.wait_indexed();
    // A model request in flight through the whole storm: an editor slow to answer the server's
    // progress-token request keeps spot.issueToPatch pending (as a long generation would).
    let model_request = has_command(&init, "spot.issueToPatch").then(|| {
        session.hold_server_requests = true;
        let id = issue_to_patch(&mut session, "helper_3_1 returns the wrong value");
        let started = session.poll(HANG, |s| !s.held.is_empty());
        assert!(started, "the model request did not start");
        id
    });
    let mut notes_model = Vec::new();
    for doc in &docs {
        session.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri(&doc.path), "languageId": "python", "version": 1, "text": doc.text() } }),
        );
    }

    // The storm: requests and edits in one pipelined stream, nothing awaited.
    let kinds = [
        "workspace/symbol",
        "documentSymbol",
        "definition",
        "references",
        "hover",
    ];
    let mut to_send: Vec<&str> = kinds
        .iter()
        .flat_map(|k| std::iter::repeat_n(*k, REQUESTS_PER_KIND))
        .collect();
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let cpu_before = session.cpu_by_thread();
    let mut counter = 0;
    let (mut edits, mut changes) = (0, 0);
    let total = to_send.len() + EDITS;
    for step in 0..total {
        let left_requests = to_send.len();
        let left_edits = EDITS - edits;
        let is_request =
            left_edits == 0 || (left_requests > 0 && rng.below(total - step) < left_requests);
        if is_request {
            let kind = to_send.swap_remove(rng.below(to_send.len()));
            let (method, params) = request_params(kind, &mut rng, &sandbox.ws, &docs, &workload);
            let (id, sent) = session.send_request(method, params);
            pending.insert(id.to_string(), Pending { kind, sent });
        } else {
            let d = rng.below(DOCS);
            let n_changes = if rng.chance(25) { rng.range(2, 3) } else { 1 };
            let doc = &mut docs[d];
            let content_changes: Vec<Value> = (0..n_changes)
                .map(|_| doc.edit(&mut rng, &mut counter, d))
                .collect();
            changes += content_changes.len();
            doc.version += 1;
            let params = json!({
                "textDocument": { "uri": uri(&doc.path), "version": doc.version },
                "contentChanges": content_changes,
            });
            session.notify("textDocument/didChange", params);
            edits += 1;
        }
    }
    // Last edit of each document: a function calling another, only in the final text.
    let mut finals = Vec::new();
    for (d, doc) in docs.iter_mut().enumerate() {
        let callee = doc.blocks[doc.blocks.len() / 2].name.clone();
        let i = doc.blocks.len();
        let block = Block {
            name: format!("final_marker_{d}"),
            comment: String::new(),
            value: format!("{callee}()"),
        };
        let change = json!({ "range": { "start": { "line": 3 * i, "character": 0 }, "end": { "line": 3 * i, "character": 0 } }, "text": block.text() });
        doc.blocks.push(block);
        doc.version += 1;
        session.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri(&doc.path), "version": doc.version }, "contentChanges": [change] }),
        );
        finals.push(callee);
    }

    // Every request answered, each well formed and not an error.
    let keys: Vec<String> = pending.keys().cloned().collect();
    session.pump_until(HANG, |s| {
        keys.iter()
            .all(|k| s.responses.get(k).is_some_and(|r| !r.is_empty()))
    });
    let storm_cpu = storm_cpu(&cpu_before, &session.cpu_by_thread());
    // The model request was still in flight when the last index request was answered.
    if let Some(id) = &model_request {
        let pending_still = session
            .responses
            .get(&id.to_string())
            .is_none_or(|r| r.is_empty());
        assert!(
            pending_still,
            "the model request finished before the storm did: the check proved nothing"
        );
        notes_model.push(
            "all 200 index requests answered while spot.issueToPatch was in flight".to_owned(),
        );
    }
    let mut samples: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut unanswered = 0;
    let mut bad = Vec::new();
    for (key, p) in &pending {
        match session.responses.get(key).and_then(|r| r.first()) {
            Some(r) => {
                if let Err(e) = well_formed_response(&r.msg) {
                    bad.push(e);
                } else if r.msg.get("error").is_some() {
                    bad.push(format!("{}: {}", p.kind, r.msg));
                }
                let ms = r.at.duration_since(p.sent).as_secs_f64() * 1000.0;
                samples.entry(p.kind).or_default().push(ms);
            }
            None => unanswered += 1,
        }
    }

    // The server's view of each document equals the client's.
    let mut lost = 0;
    let mut diffs = Vec::new();
    for doc in &docs {
        let got = server_symbols(&mut session, doc);
        let want = expected_symbols(doc);
        let m = mismatches(&got, &want);
        if m > 0 {
            diffs.push(format!(
                "{}: {m} differences\n got {got:?}\nwant {want:?}",
                doc.path.display()
            ));
        }
        lost += m;
    }
    // Navigation on text only present in the final version.
    for (d, doc) in docs.iter().enumerate() {
        let text = doc.text();
        let callee = &finals[d];
        let call = format!("return {callee}()");
        let r = session.request(
            "textDocument/definition",
            json!({ "textDocument": { "uri": uri(&doc.path) }, "position": pos_of(&text, &call, "return ".len() + 1) }),
        );
        let def_line = 3 * doc.blocks.iter().position(|b| &b.name == callee).unwrap() as u64;
        let loc = if r.is_array() { &r[0] } else { &r };
        if loc["range"]["start"]["line"].as_u64() != Some(def_line)
            || !loc["uri"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("doc_{d}.py")))
        {
            lost += 1;
            diffs.push(format!(
                "definition of {callee} in doc {d}: {r}, want line {def_line}"
            ));
        }
        let r = session.request(
            "textDocument/hover",
            json!({ "textDocument": { "uri": uri(&doc.path) }, "position": pos_of(&text, &format!("def final_marker_{d}"), 5) }),
        );
        if !r.to_string().contains(&format!("final_marker_{d}")) {
            lost += 1;
            diffs.push(format!("hover on final_marker_{d}: {r}"));
        }
    }
    let change_warnings = session
        .stderr
        .lock()
        .unwrap()
        .lines
        .iter()
        .filter(|l| l.contains("didChange"))
        .cloned()
        .collect::<Vec<_>>();
    lost += change_warnings.len() as u64;

    // Now several model requests at once.
    let mut starved = false;
    if let Some(id) = &model_request {
        let more: Vec<Value> = (0..4)
            .map(|i| issue_to_patch(&mut session, &format!("issue {i}")))
            .collect();
        session.pump_until(HANG, |s| s.held.len() >= 4);
        let (probe, _) = session.send_request("workspace/symbol", json!({ "query": "helper" }));
        let answered = session
            .wait_response(&probe, std::time::Duration::from_secs(5))
            .is_some();
        starved = !answered;
        notes_model.push(format!(
            "with 5 model requests in flight, workspace/symbol {}",
            if answered {
                "answered"
            } else {
                "NOT answered for 5 s (all 4 request slots taken)"
            }
        ));
        // Let them all finish (no model here: each fails with RequestFailed).
        let mut codes = Vec::new();
        for id in std::iter::once(id.clone()).chain(more) {
            let deadline = Instant::now() + HANG;
            let mut reply = None;
            while reply.is_none() && Instant::now() < deadline {
                session.release_held();
                session.hold_server_requests = false;
                reply = session.wait_response(&id, std::time::Duration::from_millis(200));
            }
            codes.push(reply.map_or(Value::Null, |r| r.msg["error"]["code"].clone()));
        }
        assert!(
            codes.iter().all(|c| c == -32803),
            "model requests without a model: {codes:?}"
        );
        if !answered {
            session.wait_response(&probe, HANG);
        }
    } else {
        notes_model.push("no model request (spot.issueToPatch not advertised)".to_owned());
    }

    let peak = session.vm_hwm_kb();
    let status = session.shutdown_and_exit();

    let mut notes = vec![format!(
        "{}: {edits} didChange ({changes} changes) on {DOCS} docs, {} requests",
        workload.describe(),
        REQUESTS_PER_KIND * kinds.len()
    )];
    notes.push(format!("server CPU during the storm: {storm_cpu}"));
    eprintln!(
        "load on {}; server CPU during the storm: {storm_cpu}",
        workload.describe()
    );
    for kind in kinds {
        let mut s = samples.remove(kind).unwrap_or_default();
        s.sort_by(f64::total_cmp);
        let l = Latency {
            kind: kind.to_owned(),
            n: s.len(),
            p50_ms: percentile(&s, 50.0),
            p99_ms: percentile(&s, 99.0),
            max_ms: s.last().copied().unwrap_or(f64::NAN),
        };
        eprintln!(
            "  {:<16} n={:<3} p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
            l.kind, l.n, l.p50_ms, l.p99_ms, l.max_ms
        );
        report::latency(l);
    }
    if !bad.is_empty() {
        notes.push(format!("{} error replies", bad.len()));
    }
    notes.extend(notes_model);
    report::row(Row {
        test: "load_pipelined_requests_with_an_edit_storm",
        case: "pipelined requests + edit storm".into(),
        tried: (REQUESTS_PER_KIND * kinds.len() + edits) as u64,
        crashes: u64::from(status.is_none_or(|s| !s.success())),
        panics: session.panics().len() as u64,
        unanswered,
        lost_edits: Some(lost),
        peak_rss_kb: peak,
        notes: notes.join("; "),
    });

    assert_eq!(unanswered, 0, "requests without a response");
    assert!(bad.is_empty(), "bad replies: {bad:#?}");
    assert!(
        diffs.is_empty(),
        "the server's documents differ from the client's:\n{}",
        diffs.join("\n")
    );
    assert!(
        change_warnings.is_empty(),
        "edits refused: {change_warnings:#?}"
    );
    let peak = peak.expect("VmHWM readable");
    assert!(peak < RSS_LIMIT_KB, "peak RSS {} MB", peak / 1024);
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}"
    );
    assert!(session.panics().is_empty(), "{:?}", session.panics());
    assert!(
        !starved,
        "index requests starve while 5 model requests are in flight"
    );
}

/// A 2.5 MB Python buffer (over the 1 MiB maxFileSize, so never indexed) edited six times:
/// the edits must cost about what the open did, not a full parse each.
#[test]
fn load_edits_to_a_buffer_over_max_file_size() {
    const EDITS: usize = 6;
    const RSS_BOUND_KB: u64 = 250 * 1024;
    let _report = report::test("load_edits_to_a_buffer_over_max_file_size");
    let _heavy = crate::heavy();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let mut session = Session::start(&sandbox.launch());
    session.initialize(&sandbox.ws, json!({}));
    session.wait_indexed();
    let path = sandbox.ws.join("scratch/big.py");
    let text: String = (0..80_000)
        .map(|i| format!("def big_{i}(x):\n    return x\n"))
        .collect();
    let opened_at = Instant::now();
    session.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri(&path), "languageId": "python", "version": 1, "text": text } }),
    );
    let r = session.request_full("workspace/symbol", json!({ "query": repo::SENTINEL }));
    let after_open = opened_at.elapsed();
    let rss_open = session.vm_hwm_kb().unwrap_or(0);
    assert!(r.get("result").is_some(), "{r}");
    let began = Instant::now();
    for v in 0..EDITS {
        let at = json!({ "line": 2 * v, "character": 0 });
        session.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri(&path), "version": v + 2 },
                    "contentChanges": [{ "range": { "start": at, "end": at }, "text": "# edit\n" }] }),
        );
    }
    let r = session.request_full("workspace/symbol", json!({ "query": repo::SENTINEL }));
    let after_edits = began.elapsed();
    assert!(r.get("result").is_some(), "{r}");
    let peak = session.vm_hwm_kb().unwrap_or(0);
    let status = session.shutdown_and_exit();
    report::row(Row {
        test: "load_edits_to_a_buffer_over_max_file_size",
        case: format!("2.5 MB buffer, {EDITS} one-line edits"),
        tried: EDITS as u64 + 1,
        peak_rss_kb: Some(peak),
        notes: format!(
            "open: next request after {:.1} s, VmHWM {} MB; {EDITS} edits: next request after {:.1} s, VmHWM {} MB",
            after_open.as_secs_f64(),
            rss_open / 1024,
            after_edits.as_secs_f64(),
            peak / 1024
        ),
        ..Row::default()
    });
    assert!(
        peak < RSS_BOUND_KB,
        "peak RSS {} MB after {EDITS} edits of a buffer spot does not index",
        peak / 1024
    );
    assert_eq!(status.map(|s| s.success()), Some(true));
}
