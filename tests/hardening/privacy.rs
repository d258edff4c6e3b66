//! Privacy: the server opens no network socket through a full session (initialize, index,
//! edits, requests, watcher events, the model path when the commands exist, shutdown). Proved
//! two ways: every network syscall under `strace -f` (with a positive control showing that the
//! same tracing does catch a TCP socket), and a whole session inside `unshare -n`, a network
//! namespace with nothing but a down loopback.
//!
//! Without strace or unshare the tests fail with the install line, unless
//! `SPOT_HARDENING_ALLOW_NO_STRACE=1`, in which case they record a loud SKIPPED row.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::uri;
use crate::repo;
use crate::report::{self, Row};
use crate::session::{Launch, Sandbox, Session};
use crate::trace;

/// A full editor session; returns the number of requests made.
fn full_session(launch: &Launch, sandbox: &Sandbox) -> (Session, u64) {
    let mut session = Session::start(launch);
    let init = session.initialize(&sandbox.ws, json!({}));
    session.wait_indexed();
    let mut n = 1;
    let path = sandbox.ws.join("pkg/mod_4.py");
    session.open_and_replace(&path, "def privacy_probe_fn():\n    pass\n");
    for (method, params) in [
        ("workspace/symbol", json!({ "query": "privacy_probe" })),
        ("workspace/symbol", json!({ "query": repo::SENTINEL })),
        (
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri(&path) } }),
        ),
        (
            "textDocument/hover",
            json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": 0, "character": 6 } }),
        ),
        (
            "textDocument/definition",
            json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": 0, "character": 6 } }),
        ),
        (
            "textDocument/references",
            json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": 0, "character": 6 }, "context": { "includeDeclaration": true } }),
        ),
    ] {
        session.request_full(method, params);
        n += 1;
    }
    std::fs::write(
        sandbox.ws.join("pkg/privacy_new.py"),
        "def privacy_watched_fn():\n    pass\n",
    )
    .unwrap();
    session.poll(Duration::from_secs(30), |s| {
        s.has_symbol("privacy_watched_fn")
    });
    n += 1;
    // The model path: status, localization, and a patch request (which loads the model).
    let commands = init["capabilities"]["executeCommandProvider"]["commands"].clone();
    let has = |c: &str| {
        commands
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == c))
    };
    if has("spot.status") {
        session.request_full(
            "workspace/executeCommand",
            json!({ "command": "spot.status", "arguments": [] }),
        );
        n += 1;
    }
    if has("spot.localize") {
        session.request_full(
            "workspace/executeCommand",
            json!({ "command": "spot.localize", "arguments": [{ "issue": "Widget grows wrong" }] }),
        );
        n += 1;
    }
    if has("spot.issueToPatch") {
        session.request_full(
            "workspace/executeCommand",
            json!({ "command": "spot.issueToPatch", "arguments": [{ "issue": "helper_4_1 returns the wrong value", "apply": false }] }),
        );
        n += 1;
    }
    (session, n)
}

fn missing_tool(test: &'static str, what: &str) {
    let msg = format!(
        "!!! {what} is not available: the privacy check did NOT run. Install it: {}",
        trace::INSTALL
    );
    eprintln!("{msg}");
    report::row(Row {
        test,
        case: "SKIPPED".into(),
        notes: msg.clone(),
        ..Row::default()
    });
    if std::env::var_os(trace::ALLOW_MISSING).is_none() {
        panic!("{msg} (or set {}=1 to record a skip)", trace::ALLOW_MISSING);
    }
}

#[test]
fn privacy_no_network_socket_under_strace() {
    let test = "privacy_no_network_socket_under_strace";
    let _report = report::test(test);
    let _machine = crate::light();
    if !trace::strace_works() {
        missing_tool(test, "strace");
        return;
    }
    let traces = tempfile::tempdir().unwrap();

    // Positive control: the same tracing sees a TCP socket when one is opened.
    let control = traces.path().join("control");
    let status = Command::new("strace")
        .args(["-f", "-ff", "-y", "-qq", "-e", "trace=%network", "-o"])
        .arg(&control)
        .args(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9 || true"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run strace");
    assert!(status.code().is_some());
    let control_calls = trace::read_calls(&control);
    assert!(
        control_calls
            .iter()
            .any(|c| c.name == "socket" && c.args.contains("AF_INET")),
        "the control did not show an AF_INET socket: {control_calls:?}"
    );

    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let prefix = traces.path().join("spot");
    // execve too, to tell spot's own threads from the programs it runs (git for history, the
    // `python3` that finds ONNX Runtime in site-packages). Without SHELL, the bash of a pyenv shim
    // looks up the user (getpwuid), which asks nscd over an AF_UNIX socket first: CI runs so.
    let mut launch = trace::under_strace(&sandbox.launch(), &prefix, "%network,execve");
    launch
        .wrapper
        .splice(0..0, ["env", "-u", "SHELL"].map(std::ffi::OsString::from));
    let (mut session, requests) = full_session(&launch, &sandbox);
    let status = session.shutdown_and_exit();
    assert_eq!(
        status.map(|s| s.success()),
        Some(true),
        "session under strace"
    );

    let tasks = trace::read_calls_by_task(&prefix);
    let calls: Vec<&trace::Call> = tasks.iter().flat_map(|(_, c)| c).collect();
    // Non-local: a socket of any family but AF_UNIX, or an address that is not AF_UNIX.
    let is_socket = |c: &trace::Call| c.name == "socket" || c.name == "socketpair";
    let inet: Vec<&str> = calls
        .iter()
        .filter(|c| {
            (is_socket(c) && !c.args.starts_with("AF_UNIX"))
                || (c.args.contains("sa_family=") && !c.args.contains("sa_family=AF_UNIX"))
        })
        .map(|c| c.line.as_str())
        .collect();
    // A task that executed another program is a child process; the rest are spot's threads.
    let spot_exe = crate::common::spot_bin();
    let is_child = |calls: &[trace::Call]| {
        calls.iter().any(|c| {
            c.name == "execve"
                && c.ret.starts_with('0')
                && trace::quoted(&c.args)
                    .first()
                    .is_none_or(|p| std::path::Path::new(p) != spot_exe.as_path())
        })
    };
    // spot itself: a socketpair is two connected ends inside the process (tokio's signal driver,
    // mio::sys::unix::uds::pair, its self-pipe for SIGCHLD); an AF_UNIX `socket` would reach
    // another local service, and none is expected.
    let mut pairs = 0;
    let mut own_unix = Vec::new();
    // Its children: glibc's name-service lookups try nscd's socket; anything else is reported.
    let mut nscd = 0;
    let mut child_unix = Vec::new();
    for (_, task) in &tasks {
        let child = is_child(task);
        for c in task {
            match c.name.as_str() {
                "socketpair" if c.args.starts_with("AF_UNIX") && !child => pairs += 1,
                "socket" if c.args.starts_with("AF_UNIX") && !child => {
                    own_unix.push(c.line.as_str())
                }
                "connect" if child && c.args.contains("sun_path=\"/var/run/nscd/socket\"") => {
                    nscd += 1
                }
                "connect" | "sendto" | "sendmsg"
                    if child && c.args.contains("sa_family=AF_UNIX") =>
                {
                    child_unix.push(c.line.as_str())
                }
                _ => {}
            }
        }
    }
    let children = tasks.iter().filter(|(_, t)| is_child(t)).count();
    report::row(Row {
        test,
        case: "strace -f -e trace=%network over a full session".into(),
        tried: requests,
        panics: session.panics().len() as u64,
        notes: format!(
            "{} network syscalls: {} non-local; spot: {} AF_UNIX sockets, {pairs} in-process socketpair (tokio signal driver); {children} child processes (git, the ONNX Runtime probe): {nscd} nscd lookups, {} other AF_UNIX connects; the control run saw AF_INET",
            calls.iter().filter(|c| c.name != "execve").count(),
            inet.len(),
            own_unix.len(),
            child_unix.len(),
        ),
        ..Row::default()
    });
    assert!(inet.is_empty(), "network syscalls: {inet:#?}");
    assert!(
        own_unix.is_empty(),
        "AF_UNIX sockets made by spot (explain or remove): {own_unix:#?}"
    );
    assert!(
        child_unix.is_empty(),
        "AF_UNIX connects by spot's child processes (explain or remove): {child_unix:#?}"
    );
}

#[test]
fn privacy_serves_without_a_network_namespace() {
    let test = "privacy_serves_without_a_network_namespace";
    let _report = report::test(test);
    let _machine = crate::light();
    if !trace::unshare_works() {
        missing_tool(
            test,
            "unshare -n (util-linux, needs CAP_SYS_ADMIN or user namespaces)",
        );
        return;
    }
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let mut launch = sandbox.launch();
    launch.wrapper = vec!["unshare".into(), "-n".into()];
    let (mut session, requests) = full_session(&launch, &sandbox);
    let found = session.has_symbol(repo::SENTINEL) && session.has_symbol("privacy_probe_fn");
    let status = session.shutdown_and_exit();
    report::row(Row {
        test,
        case: "full session inside unshare -n".into(),
        tried: requests,
        panics: session.panics().len() as u64,
        notes: "index, edits, watcher and requests work with no network".into(),
        ..Row::default()
    });
    assert!(found, "requests answered wrongly without a network");
    assert_eq!(status.map(|s| s.success()), Some(true));
}
