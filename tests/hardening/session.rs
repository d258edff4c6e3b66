//! One `spot lsp` process in a sandbox, driven like an editor but able to misbehave: raw bytes,
//! pipelined requests, closing stdin mid-session. Every incoming message is timestamped by the
//! reader thread (latency figures), every response is kept by id (unanswered or duplicated
//! replies), and the server's stderr is kept (log assertions, panic counts).
//!
//! Leaves out what is being tested: the generators and assertions live in the area modules.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{spot_bin, uri};

/// Generous limit for anything that should take well under a second: detects hangs only.
pub const HANG: Duration = Duration::from_secs(60);
/// Most stderr lines kept per session (the count of all lines is kept too).
const STDERR_LINES: usize = 50_000;

/// A temp tree standing in for the whole machine as far as spot can see it: a workspace, a place
/// outside it, spot's data dir, HOME, the XDG dirs, TMPDIR and the cwd.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub ws: PathBuf,
    pub outside: PathBuf,
    pub data: PathBuf,
    pub home: PathBuf,
    pub cwd: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("spot-hardening-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let sandbox = Sandbox {
            ws: root.join("ws"),
            outside: root.join("outside"),
            data: root.join("data"),
            home: root.join("home"),
            cwd: root.join("cwd"),
            root,
            _dir: dir,
        };
        for d in [
            &sandbox.ws,
            &sandbox.outside,
            &sandbox.data,
            &sandbox.home,
            &sandbox.cwd,
        ] {
            std::fs::create_dir_all(d).expect("sandbox dir");
        }
        for d in [
            "xdg/data",
            "xdg/config",
            "xdg/cache",
            "xdg/state",
            "xdg/run",
            "tmp",
        ] {
            std::fs::create_dir_all(sandbox.root.join(d)).expect("sandbox dir");
        }
        sandbox
    }

    /// The environment that points every place spot could write to into the sandbox.
    pub fn env(&self) -> Vec<(String, OsString)> {
        let p = |rel: &str| self.root.join(rel).into_os_string();
        vec![
            ("SPOT_DATA_DIR".into(), self.data.clone().into_os_string()),
            ("HOME".into(), self.home.clone().into_os_string()),
            ("XDG_DATA_HOME".into(), p("xdg/data")),
            ("XDG_CONFIG_HOME".into(), p("xdg/config")),
            ("XDG_CACHE_HOME".into(), p("xdg/cache")),
            ("XDG_STATE_HOME".into(), p("xdg/state")),
            ("XDG_RUNTIME_DIR".into(), p("xdg/run")),
            ("TMPDIR".into(), p("tmp")),
        ]
    }

    pub fn launch(&self) -> Launch {
        Launch {
            env: self.env(),
            cwd: Some(self.cwd.clone()),
            ..Launch::default()
        }
    }
}

/// How to start the process.
#[derive(Clone)]
pub struct Launch {
    /// A command the server runs under (`strace …`, `unshare -n`); empty for none.
    pub wrapper: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
    pub cwd: Option<PathBuf>,
    /// Run as this uid/gid (root only): makes permission bits bite.
    pub uid: Option<u32>,
    pub log: String,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            wrapper: Vec::new(),
            env: Vec::new(),
            cwd: None,
            uid: None,
            // The tests read info and warn lines; SPOT_HARDENING_LOG adds more when debugging.
            log: std::env::var("SPOT_HARDENING_LOG")
                .unwrap_or_else(|_| "spot=info,warn".to_owned()),
        }
    }
}

impl Launch {
    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.into()));
    }
}

/// A message from the server with the time the reader thread saw it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub msg: Value,
    pub at: Instant,
}

enum Event {
    Msg(Incoming),
    /// A frame that is not a JSON-RPC message (the server must never write one).
    Garbled(String),
    Eof,
}

#[derive(Default)]
pub struct StderrLog {
    pub lines: Vec<String>,
    pub total: usize,
    pub panics: Vec<String>,
}

pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Event>,
    pub stderr: Arc<Mutex<StderrLog>>,
    next_id: i64,
    /// Responses by id (`id.to_string()`, so `1` and `"1"` differ; `null` for id-less errors).
    pub responses: HashMap<String, Vec<Incoming>>,
    pub notifications: Vec<Value>,
    pub garbled: Vec<String>,
    pub eof: bool,
    /// Set once a write to stdin failed (the server closed its input or died).
    pub write_failed: bool,
    /// While set, server→client requests are kept unanswered in `held` (a slow editor).
    pub hold_server_requests: bool,
    pub held: Vec<Value>,
}

impl Session {
    pub fn start(launch: &Launch) -> Session {
        let mut cmd = match launch.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(spot_bin());
                c
            }
            None => Command::new(spot_bin()),
        };
        cmd.arg("lsp")
            .env("SPOT_LOG", &launch.log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        if let Some(cwd) = &launch.cwd {
            cmd.current_dir(cwd);
        }
        #[cfg(unix)]
        if let Some(uid) = launch.uid {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(uid);
        }
        let mut child = cmd.spawn().expect("spawn spot lsp");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(StderrLog::default()));
        let echo = std::env::var_os("SPOT_HARDENING_ECHO").is_some();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[spot] {line}");
                }
                let mut log = sink.lock().unwrap();
                log.total += 1;
                if line.contains("panicked at") {
                    log.panics.push(line.clone());
                }
                if log.lines.len() < STDERR_LINES {
                    log.lines.push(line);
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let event = read_frame(&mut reader);
                let end = matches!(event, Event::Eof);
                if tx.send(event).is_err() || end {
                    break;
                }
            }
        });
        Session {
            child,
            stdin: Some(stdin),
            rx,
            stderr: log,
            next_id: 1,
            responses: HashMap::new(),
            notifications: Vec::new(),
            garbled: Vec::new(),
            eof: false,
            write_failed: false,
            hold_server_requests: false,
            held: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes bytes to the server's stdin; false (and `write_failed`) if it is gone.
    pub fn send_raw(&mut self, bytes: &[u8]) -> bool {
        let Some(stdin) = self.stdin.as_mut() else {
            return false;
        };
        let ok = stdin.write_all(bytes).and_then(|()| stdin.flush()).is_ok();
        if !ok {
            self.write_failed = true;
        }
        ok
    }

    pub fn send(&mut self, msg: &Value) -> bool {
        self.send_raw(&frame(&serde_json::to_vec(msg).expect("serializable")))
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// A fresh numeric id for a request the caller sends itself.
    pub fn fresh_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends a request without waiting; returns its id and the send time.
    pub fn send_request(&mut self, method: &str, params: Value) -> (Value, Instant) {
        let id = json!(self.fresh_id());
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let at = Instant::now();
        self.send(&msg);
        (id, at)
    }

    /// Sends a request and waits for its whole response (`result` or `error`).
    pub fn request_full(&mut self, method: &str, params: Value) -> Value {
        let (id, _) = self.send_request(method, params);
        match self.wait_response(&id, HANG) {
            Some(r) => r.msg,
            None => panic!(
                "no response to {method} (id {id}) within {HANG:?}; server exited: {}; stderr tail:\n{}",
                self.exited(),
                self.stderr_tail(30)
            ),
        }
    }

    /// Sends a request and returns its `result`, panicking on an error response.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let resp = self.request_full(method, params);
        if let Some(err) = resp.get("error") {
            panic!("{method} failed: {err}");
        }
        resp.get("result").cloned().unwrap_or(Value::Null)
    }

    /// Waits for (and removes) one response with `id`.
    pub fn wait_response(&mut self, id: &Value, timeout: Duration) -> Option<Incoming> {
        let key = id.to_string();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(list) = self.responses.get_mut(&key) {
                if !list.is_empty() {
                    return Some(list.remove(0));
                }
            }
            if !self.pump_once(deadline) {
                return None;
            }
        }
    }

    /// Processes incoming messages until `done` holds; false if the deadline passed or the
    /// server's output ended first.
    pub fn pump_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Session) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if !self.pump_once(deadline) {
                return done(self);
            }
        }
    }

    /// Drains whatever arrives within `quiet` of the previous message.
    pub fn drain(&mut self, quiet: Duration) {
        while self.pump_once(Instant::now() + quiet) {}
    }

    /// Handles one incoming event; false on timeout or end of output.
    fn pump_once(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(Event::Msg(incoming)) => {
                self.dispatch(incoming);
                true
            }
            Ok(Event::Garbled(what)) => {
                self.garbled.push(what);
                true
            }
            Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    fn dispatch(&mut self, incoming: Incoming) {
        let msg = &incoming.msg;
        match (msg.get("method"), msg.get("id")) {
            (Some(_), Some(_)) if self.hold_server_requests => {
                self.held.push(incoming.msg.clone());
                self.notifications.push(incoming.msg);
            }
            (Some(method), Some(id)) => {
                // A server→client request: answer it like an editor that accepts nothing.
                let result = match method.as_str() {
                    Some("workspace/applyEdit") => json!({ "applied": false }),
                    Some("workspace/configuration") => json!([]),
                    _ => Value::Null,
                };
                let reply = json!({ "jsonrpc": "2.0", "id": id, "result": result });
                self.send(&reply);
                self.notifications.push(incoming.msg);
            }
            (Some(_), None) => self.notifications.push(incoming.msg),
            (None, Some(id)) => {
                let key = id.to_string();
                self.responses.entry(key).or_default().push(incoming);
            }
            (None, None) => self
                .garbled
                .push(format!("message without method or id: {msg}")),
        }
    }

    /// Answers the server requests kept while `hold_server_requests` was set, and stops holding.
    pub fn release_held(&mut self) {
        self.hold_server_requests = false;
        for msg in std::mem::take(&mut self.held) {
            let reply = json!({ "jsonrpc": "2.0", "id": msg["id"], "result": null });
            self.send(&reply);
        }
    }

    /// Opens `path` with its text on disk, then replaces the whole buffer with `text` (version 2).
    pub fn open_and_replace(&mut self, path: &Path, text: &str) {
        let on_disk = std::fs::read_to_string(path).unwrap();
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri(path), "languageId": "python", "version": 1, "text": on_disk } }),
        );
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri(path), "version": 2 }, "contentChanges": [{ "text": text }] }),
        );
    }

    /// initialize + initialized for a workspace at `root`.
    pub fn initialize(&mut self, root: &Path, options: Value) -> Value {
        let result = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "workspaceFolders": [{ "uri": uri(root), "name": "ws" }],
                "initializationOptions": options,
                "capabilities": { "window": { "workDoneProgress": true } },
            }),
        );
        self.notify("initialized", json!({}));
        result
    }

    /// Waits for the log message that ends the initial build and returns it.
    pub fn wait_indexed(&mut self) -> String {
        let is_done = |m: &Value| {
            m["method"] == "window/logMessage"
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("indexed "))
        };
        let found = self.pump_until(HANG, |s| s.notifications.iter().any(is_done));
        assert!(
            found,
            "the initial build did not finish; stderr tail:\n{}",
            self.stderr_tail(30)
        );
        let msg = self.notifications.iter().find(|m| is_done(m)).unwrap();
        msg["params"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// shutdown + exit; returns the exit status (None: it did not exit within `HANG`).
    pub fn shutdown_and_exit(&mut self) -> Option<ExitStatus> {
        let r = self.request_full("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown failed: {r}");
        self.notify("exit", Value::Null);
        self.wait_exit(HANG)
    }

    /// Closes the server's stdin (what a killed editor does to it).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Peak resident set size of the server process so far (kB), from /proc.
    pub fn vm_hwm_kb(&self) -> Option<u64> {
        proc_status_kb(self.pid(), "VmHWM:")
    }

    /// CPU time each group of the server's threads has run so far (ns), by thread name with a
    /// trailing `-N` dropped (`spot-query-0` and `-1` are `spot-query`), from
    /// /proc/<pid>/task/*/schedstat: a figure other processes on the machine do not inflate, as
    /// they do latencies. Threads that already ended are not counted.
    pub fn cpu_by_thread(&self) -> BTreeMap<String, u64> {
        let mut cpu = BTreeMap::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return cpu;
        };
        for task in tasks.flatten() {
            let read = |file: &str| std::fs::read_to_string(task.path().join(file)).ok();
            let Some(ns) =
                read("schedstat").and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            else {
                continue;
            };
            let comm = read("comm").unwrap_or_default();
            let comm = comm.trim();
            let group = match comm.rsplit_once('-') {
                Some((name, n)) if n.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => comm,
            };
            *cpu.entry(group.to_owned()).or_insert(0) += ns;
        }
        cpu
    }

    pub fn stderr_has(&self, needle: &str) -> bool {
        self.stderr
            .lock()
            .unwrap()
            .lines
            .iter()
            .any(|l| l.contains(needle))
    }

    pub fn stderr_tail(&self, n: usize) -> String {
        let log = self.stderr.lock().unwrap();
        let start = log.lines.len().saturating_sub(n);
        log.lines[start..].join("\n")
    }

    pub fn panics(&self) -> Vec<String> {
        self.stderr.lock().unwrap().panics.clone()
    }

    /// Waits a moment for stderr to be read to its end (after the process exited).
    pub fn settle_stderr(&self) {
        std::thread::sleep(Duration::from_millis(100));
    }

    /// (name, uri) of each workspace/symbol hit for `query`.
    pub fn symbols(&mut self, query: &str) -> Vec<(String, String)> {
        let r = self.request("workspace/symbol", json!({ "query": query }));
        r.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["name"].as_str().unwrap_or_default().to_owned(),
                            s["location"]["uri"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Is a symbol named exactly `name` in the index?
    pub fn has_symbol(&mut self, name: &str) -> bool {
        self.symbols(name).iter().any(|(n, _)| n == name)
    }

    /// Polls `check` (which may send requests) every 100 ms until it holds or `timeout` passes.
    pub fn poll(&mut self, timeout: Duration, mut check: impl FnMut(&mut Session) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if check(self) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            self.drain(Duration::from_millis(100));
        }
    }

    /// Ids of the processes whose parent is the server.
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }
}

/// Processes whose parent is `pid`, from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // `pid (comm) state ppid …`; comm may hold spaces, so split after ')'.
                    let rest = &s[s.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// Is `pid` a live process (not gone, not a zombie)?
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of /proc/<pid>/status.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads one frame the server wrote.
fn read_frame(reader: &mut impl BufRead) -> Event {
    let mut len = None;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return Event::Eof,
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        headers.push(line.to_owned());
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let Some(len) = len else {
        return Event::Garbled(format!("frame without Content-Length: {headers:?}"));
    };
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return Event::Eof;
    }
    let at = Instant::now();
    match serde_json::from_slice::<Value>(&body) {
        Ok(msg) if msg["jsonrpc"] == "2.0" => Event::Msg(Incoming { msg, at }),
        Ok(msg) => Event::Garbled(format!("not JSON-RPC 2.0: {msg}")),
        Err(err) => Event::Garbled(format!(
            "body is not JSON ({err}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

/// Checks that a response is a well-formed JSON-RPC 2.0 response: exactly one of `result` and
/// `error`, and an error has an integer code and a string message.
pub fn well_formed_response(msg: &Value) -> Result<(), String> {
    let has_result = msg.get("result").is_some();
    let has_error = msg.get("error").is_some();
    if has_result == has_error {
        return Err(format!("needs exactly one of result/error: {msg}"));
    }
    if has_error {
        let err = &msg["error"];
        if !err["code"].is_i64() || !err["message"].is_string() {
            return Err(format!("malformed error object: {msg}"));
        }
    }
    Ok(())
}

/// Percentile (0–100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
