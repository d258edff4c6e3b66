//! Test support: a scripted LSP client that drives the built `spot` binary over stdio like an
//! editor, and inline multi-file fixtures (`//- /path` headers) written to a temp directory.
//! Every read has a timeout, so a broken server fails the test instead of hanging it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Writes a fixture (`//- /path` headers followed by file contents) under a new temp dir.
pub fn fixture(spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write_fixture(dir.path(), spec);
    dir
}

pub fn write_fixture(root: &Path, spec: &str) {
    let mut current: Option<(PathBuf, String)> = None;
    let flush = |cur: &mut Option<(PathBuf, String)>| {
        if let Some((path, text)) = cur.take() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
    };
    for line in spec.lines() {
        if let Some(p) = line.strip_prefix("//- /") {
            flush(&mut current);
            current = Some((root.join(p.trim()), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    flush(&mut current);
}

/// `git -C dir ARGS`: its stdout; the test fails if git does.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// (line, UTF-16 column) of the first occurrence of `needle` in `text`, plus `delta` chars.
pub fn pos_of(text: &str, needle: &str, delta: usize) -> Value {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
        + delta;
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let col: usize = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .map(char::len_utf16)
        .sum();
    json!({ "line": line, "character": col })
}

/// ONNX Runtime for a server whose data dir is a temp dir: `ORT_DYLIB_PATH` as given, else the
/// library `fixtures/models/setup.sh` put into the user's data dir (if any).
pub fn ort_env() -> Vec<(String, PathBuf)> {
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        return Vec::new();
    }
    let data = std::env::var_os("SPOT_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("spot")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/spot")));
    data.map(|d| d.join("onnxruntime"))
        .filter(|d| d.is_dir())
        .map(|d| vec![("ORT_DYLIB_PATH".to_owned(), d)])
        .unwrap_or_default()
}

/// Fails the test when ONNX Runtime is missing (tests that need it are `#[ignore]`d with the
/// command that installs it, so a plain `cargo test` lists them as ignored, never as passed).
pub fn require_ort() {
    assert!(
        !ort_env().is_empty() || std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "no ONNX Runtime: run bash fixtures/models/setup.sh --runtime-only"
    );
}

/// A command prefix under which spot has no power over file permissions, so that a `chmod 000`
/// directory is unreadable to it: none for a normal user; for root, `unshare -U`, a user
/// namespace without a mapping (root's files stay its own, but its capabilities no longer apply
/// to them). `None` when root cannot make one: the caller then skips, saying so.
pub fn without_root_powers() -> Option<Vec<String>> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some(Vec::new());
    }
    let works = Command::new("unshare")
        .args(["-U", "true"])
        .status()
        .is_ok_and(|s| s.success());
    works.then(|| vec!["unshare".to_owned(), "-U".to_owned()])
}

/// Takes all permissions from a directory and gives them back when dropped.
pub struct Locked(pub PathBuf);

impl Locked {
    pub fn new(dir: PathBuf) -> Locked {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
        Locked(dir)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

pub fn spot_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_spot"))
}

/// A `spot lsp` child process and the client side of its stdio.
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications and server requests seen so far.
    pub notifications: Vec<Value>,
    pub data_dir: PathBuf,
    /// While false, `window/workDoneProgress/create` requests are kept unanswered (an editor
    /// that never answers them); every other server request is still answered.
    pub answer_progress_create: bool,
}

impl Client {
    /// Starts `spot lsp` with its data dir at `data_dir`.
    pub fn start(data_dir: &Path) -> Client {
        Client::start_prefixed(data_dir, &[])
    }

    /// Starts `spot lsp` under the command `prefix` (e.g. [`without_root_powers`]).
    pub fn start_prefixed(data_dir: &Path, prefix: &[String]) -> Client {
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(spot_bin());
                c
            }
            None => Command::new(spot_bin()),
        };
        let mut child = command
            .arg("lsp")
            .env("SPOT_DATA_DIR", data_dir)
            .env("SPOT_LOG", "spot=debug,info")
            .envs(ort_env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn spot lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        // Keep stderr drained (and visible with --nocapture).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[spot] {line}");
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(msg) = read_frame(&mut reader) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin: Some(stdin),
            rx,
            next_id: 1,
            notifications: Vec::new(),
            data_dir: data_dir.to_path_buf(),
            answer_progress_create: true,
        }
    }

    pub fn send(&mut self, msg: &Value) {
        let body = serde_json::to_vec(msg).unwrap();
        self.send_raw(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        self.send_raw(&body);
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("write to spot");
        stdin.flush().unwrap();
    }

    /// Closes the server's stdin without `shutdown` or `exit` (the editor went away).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its whole response (`result` or `error`).
    pub fn request_full(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.wait_response(&id)
    }

    /// Sends a request without waiting for its response; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        json!(id)
    }

    /// Sends a request and returns its `result`, panicking on an error response.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let resp = self.request_full(method, params);
        if let Some(err) = resp.get("error") {
            panic!("{method} failed: {err}");
        }
        resp.get("result").cloned().unwrap_or(Value::Null)
    }

    /// [`request_full`](Self::request_full) with its own timeout (long jobs: a test run).
    pub fn request_full_for(&mut self, timeout: Duration, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.wait_response_for(timeout, &id)
    }

    /// Waits for the response with `id`, answering server requests and keeping notifications.
    pub fn wait_response(&mut self, id: &Value) -> Value {
        self.wait_response_for(TIMEOUT, id)
    }

    /// [`wait_response`](Self::wait_response) with its own timeout.
    pub fn wait_response_for(&mut self, timeout: Duration, id: &Value) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let msg = self
                .recv_until(deadline)
                .unwrap_or_else(|| panic!("no response to request {id}"));
            if msg.get("method").is_none() && msg.get("id") == Some(id) {
                return msg;
            }
            self.handle_incoming(msg);
        }
    }

    /// Waits for the responses to all of `ids`, in whatever order they come; returns them in
    /// the order of `ids`.
    pub fn wait_responses(&mut self, ids: &[Value]) -> Vec<Value> {
        let mut got: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
        let deadline = Instant::now() + TIMEOUT;
        while ids.iter().any(|id| !got.contains_key(&id.to_string())) {
            let msg = self.recv_until(deadline).unwrap_or_else(|| {
                panic!(
                    "{} of {} responses missing",
                    ids.len() - got.len(),
                    ids.len()
                )
            });
            match msg.get("id") {
                Some(id) if msg.get("method").is_none() => {
                    got.insert(id.to_string(), msg);
                }
                _ => self.handle_incoming(msg),
            }
        }
        ids.iter()
            .map(|id| got.remove(&id.to_string()).unwrap_or_default())
            .collect()
    }

    fn recv_until(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.rx.recv_timeout(left).ok()
    }

    fn handle_incoming(&mut self, msg: Value) {
        let unanswered =
            !self.answer_progress_create && msg["method"] == "window/workDoneProgress/create";
        if msg.get("method").is_some() && msg.get("id").is_some() && !unanswered {
            // A server→client request (progress token, applyEdit…): accept it.
            let result = if msg["method"] == "workspace/applyEdit" {
                json!({ "applied": true })
            } else {
                Value::Null
            };
            let reply = json!({ "jsonrpc": "2.0", "id": msg["id"], "result": result });
            self.send(&reply);
        }
        self.notifications.push(msg);
    }

    /// Waits until a notification satisfying `pred` arrives (or was already seen).
    pub fn wait_notification(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_notification_for(TIMEOUT, what, pred)
    }

    /// [`wait_notification`](Self::wait_notification) with its own timeout (long jobs).
    pub fn wait_notification_for(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(n) = self.notifications.iter().find(|n| pred(n)) {
            return n.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let msg = self
                .recv_until(deadline)
                .unwrap_or_else(|| panic!("timed out waiting for {what}"));
            let hit = pred(&msg);
            self.handle_incoming(msg.clone());
            if hit {
                return msg;
            }
        }
    }

    /// Any message within `wait` (for tests that expect a reply to a raw frame).
    pub fn next_message(&mut self, wait: Duration) -> Option<Value> {
        let msg = self.recv_until(Instant::now() + wait)?;
        Some(msg)
    }

    /// initialize + initialized for a workspace at `root`, then waits for the first build.
    pub fn initialize(&mut self, root: &Path, options: Value) -> Value {
        self.initialize_with(
            root,
            options,
            json!({ "window": { "workDoneProgress": true } }),
        )
    }

    /// initialize + initialized with the given client capabilities.
    pub fn initialize_with(&mut self, root: &Path, options: Value, capabilities: Value) -> Value {
        let result = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "workspaceFolders": [{ "uri": uri(root), "name": "ws" }],
                "initializationOptions": options,
                "capabilities": capabilities,
            }),
        );
        self.notify("initialized", json!({}));
        result
    }

    /// initialize + initialized without a workspace folder or root (an editor started outside
    /// any project).
    pub fn initialize_without_root(&mut self, options: Value) -> Value {
        let result = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "initializationOptions": options,
                "capabilities": { "window": { "workDoneProgress": true } },
            }),
        );
        self.notify("initialized", json!({}));
        result
    }

    /// Waits for the log line that ends the initial build and returns it.
    pub fn wait_indexed(&mut self) -> String {
        let msg = self.wait_notification("the initial build", |m| {
            m["method"] == "window/logMessage"
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("indexed "))
        });
        msg["params"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn open(&mut self, path: &Path, lang: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri(path), "languageId": lang, "version": 1, "text": text } }),
        );
    }

    /// shutdown + exit; asserts the process ends by itself with success.
    pub fn shutdown(mut self) {
        let r = self.request_full("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown failed: {r}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "spot exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "spot did not exit after `exit`");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Has the server process exited (crashed)?
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one `Content-Length` frame; `None` at EOF.
fn read_frame(reader: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// `spot ARGS` with `data` as its data dir and ONNX Runtime where the tests found it: the exit
/// code, stdout and stderr.
pub fn spot_code(data: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(spot_bin())
        .args(args)
        .env("SPOT_DATA_DIR", data)
        .envs(ort_env())
        .output()
        .expect("run spot");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes the fixture repositories (`fixtures/repos/make_repos.py`: stdlib Python + git) in a
/// temp dir.
pub fn fixture_repos() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repos = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(root.join("fixtures/repos/make_repos.py"))
        .arg(repos.path())
        .output()
        .expect("python3 runs the fixture script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repos
}
