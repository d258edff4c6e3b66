//! Filesystem safety: requests naming paths outside the workspace (`..`, absolute paths,
//! percent-encoding, a symlinked file, a symlinked directory, watcher and save events through
//! them) get nothing from outside; and a full session writes nothing outside the workspace and
//! spot's data dir — checked by a before/after snapshot of the whole sandbox (HOME, XDG dirs,
//! TMPDIR, cwd, a directory outside the workspace) and, when strace is installed, by every
//! write-like file syscall the process made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::common::uri;
use crate::repo;
use crate::report::{self, Row};
use crate::session::{Sandbox, Session};
use crate::trace;

const SECRET: &str = "def outside_secret_fn(token):\n    \"\"\"Outside the workspace.\"\"\"\n    hidden = token\n    return hidden\n\n\nclass OutsideSecret:\n    pass\n";

/// Is a reply empty (null, [], or an error)?
fn is_nothing(reply: &Value) -> bool {
    if reply.get("error").is_some() {
        return true;
    }
    match &reply["result"] {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[test]
fn fs_requests_outside_the_workspace_get_nothing() {
    let _report = report::test("fs_requests_outside_the_workspace_get_nothing");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let ws = &sandbox.ws;
    let out = &sandbox.outside;
    std::fs::write(out.join("secret.py"), SECRET).unwrap();
    std::fs::create_dir_all(out.join("secret_dir")).unwrap();
    std::fs::write(
        out.join("secret_dir/inner.py"),
        SECRET.replace("outside_secret_fn", "outside_inner_fn"),
    )
    .unwrap();
    std::os::unix::fs::symlink(out.join("secret.py"), ws.join("link.py")).unwrap();
    std::os::unix::fs::symlink(out.join("secret_dir"), ws.join("linkdir")).unwrap();

    let mut session = Session::start(&sandbox.launch());
    session.initialize(ws, json!({}));
    session.wait_indexed();

    let wss = ws.display().to_string();
    let uris = vec![
        ("absolute path outside", uri(&out.join("secret.py"))),
        (
            "ws/../outside",
            format!("file://{wss}/../outside/secret.py"),
        ),
        (
            "ws/pkg/../../outside",
            format!("file://{wss}/pkg/../../outside/secret.py"),
        ),
        (
            "percent-encoded ..",
            format!("file://{wss}/%2E%2E/outside/secret.py"),
        ),
        (
            "ws/./../outside",
            format!("file://{wss}/./../outside/secret.py"),
        ),
        ("symlinked file", uri(&ws.join("link.py"))),
        ("file in a symlinked dir", uri(&ws.join("linkdir/inner.py"))),
        (
            "/proc/self/root",
            format!("file:///proc/self/root{}", out.join("secret.py").display()),
        ),
    ];
    let position = json!({ "line": 0, "character": 6 });
    let mut leaks = Vec::new();
    let mut tried = 0u64;
    for (what, u) in &uris {
        let doc = json!({ "uri": u });
        for (method, params) in [
            (
                "textDocument/documentSymbol",
                json!({ "textDocument": doc }),
            ),
            (
                "textDocument/definition",
                json!({ "textDocument": doc, "position": position }),
            ),
            (
                "textDocument/hover",
                json!({ "textDocument": doc, "position": position }),
            ),
            (
                "textDocument/references",
                json!({ "textDocument": doc, "position": { "line": 2, "character": 5 }, "context": { "includeDeclaration": true } }),
            ),
        ] {
            tried += 1;
            let r = session.request_full(method, params);
            if !is_nothing(&r) {
                leaks.push(format!("{what}: {method} → {}", r["result"]));
            }
        }
    }

    // Events that make the server re-read a path, one route at a time so a leak names its
    // route: a save, a watched-files notification, the watcher seeing a file appear behind a
    // symlinked directory, the watcher seeing a new symlink to a directory.
    let leaked = |s: &mut Session| -> Vec<(String, String)> {
        let mut hits = Vec::new();
        for query in ["outside_", "OutsideSecret"] {
            for (n, u) in s.symbols(query) {
                if (n.starts_with("outside_") || n == "OutsideSecret")
                    && !hits.contains(&(n.clone(), u.clone()))
                {
                    hits.push((n, u));
                }
            }
        }
        hits
    };
    let mut seen = leaked(&mut session);
    if !seen.is_empty() {
        leaks.push(format!("initial build indexed {seen:?}"));
    }
    let route =
        |s: &mut Session, what: &str, seen: &mut Vec<(String, String)>, leaks: &mut Vec<String>| {
            let now = leaked(s);
            let new: Vec<_> = now.iter().filter(|h| !seen.contains(h)).cloned().collect();
            if !new.is_empty() {
                leaks.push(format!("{what} indexed {new:?}"));
            }
            *seen = now;
        };
    for (_, u) in &uris {
        tried += 1;
        session.notify(
            "textDocument/didSave",
            json!({ "textDocument": { "uri": u } }),
        );
    }
    route(&mut session, "didSave", &mut seen, &mut leaks);
    for (_, u) in &uris {
        tried += 1;
        session.notify(
            "workspace/didChangeWatchedFiles",
            json!({ "changes": [{ "uri": u, "type": 2 }] }),
        );
    }
    // The notification is handled on the blocking pool: give it a moment.
    session.drain(Duration::from_millis(500));
    route(&mut session, "didChangeWatchedFiles", &mut seen, &mut leaks);

    let mut control = true;
    let mut n_control = 0;
    let mut watcher_round = |s: &mut Session, change: &dyn Fn()| -> bool {
        // The positive control: a plain file created at the same time is indexed.
        n_control += 1;
        let name = format!("control_fn_{n_control}");
        change();
        std::fs::write(
            ws.join(format!("control_{n_control}.py")),
            format!("def {name}():\n    return 0\n"),
        )
        .unwrap();
        let ok = s.poll(Duration::from_secs(30), |s| s.has_symbol(&name));
        // A further debounce period for the events behind the symlink.
        s.drain(Duration::from_millis(500));
        ok
    };
    tried += 1;
    control &= watcher_round(&mut session, &|| {
        std::fs::write(
            out.join("secret_dir/late.py"),
            "def outside_late_fn():\n    return 0\n",
        )
        .unwrap();
    });
    route(
        &mut session,
        "watcher (new file behind a symlinked dir)",
        &mut seen,
        &mut leaks,
    );
    tried += 1;
    control &= watcher_round(&mut session, &|| {
        std::fs::create_dir_all(out.join("secret_dir2")).unwrap();
        std::fs::write(
            out.join("secret_dir2/more.py"),
            "def outside_more_fn():\n    return 0\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(out.join("secret_dir2"), ws.join("linkdir2")).unwrap();
    });
    route(
        &mut session,
        "watcher (new symlink to a dir)",
        &mut seen,
        &mut leaks,
    );
    tried += 1;
    control &= watcher_round(&mut session, &|| {
        std::os::unix::fs::symlink(out.join("secret.py"), ws.join("link2.py")).unwrap();
    });
    route(
        &mut session,
        "watcher (new symlink to a file)",
        &mut seen,
        &mut leaks,
    );
    // spot.localize (when present) names only workspace files, even for an issue naming others.
    let r = session.request_full(
        "workspace/executeCommand",
        json!({ "command": "spot.localize", "arguments": [{ "issue": format!(
            "outside_secret_fn in {}/secret.py and ../outside/secret.py and /etc/passwd are broken",
            out.display()
        ) }] }),
    );
    if r.get("result").is_some() {
        tried += 1;
        for f in r["result"]["files"].as_array().into_iter().flatten() {
            let u = f["uri"].as_str().unwrap_or_default();
            if !u.starts_with(&uri(ws)) || u.contains("link") {
                leaks.push(format!("spot.localize named {u}"));
            }
        }
    }
    dedup(&mut leaks);
    let status = session.shutdown_and_exit();
    report::row(Row {
        test: "fs_requests_outside_the_workspace_get_nothing",
        case: "8 outside URIs × 4 requests, saves, watcher, symlinks".into(),
        tried,
        panics: session.panics().len() as u64,
        notes: if leaks.is_empty() {
            "no leak".into()
        } else {
            format!("{} LEAKS: {}", leaks.len(), leaks.join("; "))
        },
        ..Row::default()
    });
    assert!(control, "the watcher never indexed a control file");
    assert!(
        leaks.is_empty(),
        "content from outside the workspace:\n{leaks:#?}"
    );
    assert_eq!(status.map(|s| s.success()), Some(true));
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

/// (kind, size, mtime) of every path under `root`, symlinks not followed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (char, u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let kind = if meta.is_dir() {
                'd'
            } else if meta.file_type().is_symlink() {
                'l'
            } else {
                'f'
            };
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.insert(p.clone(), (kind, meta.len(), mtime));
            if kind == 'd' {
                stack.push(p);
            }
        }
    }
    out.insert(
        root.to_path_buf(),
        (
            'd',
            0,
            std::fs::metadata(root)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
    );
    out
}

/// Paths whose kind, size or mtime changed, appeared or disappeared.
fn changed(
    before: &BTreeMap<PathBuf, (char, u64, SystemTime)>,
    after: &BTreeMap<PathBuf, (char, u64, SystemTime)>,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(before.keys().filter(|p| !after.contains_key(*p)).cloned());
    out.sort();
    out
}

/// Write-like syscalls the server may make outside the workspace and its data dir.
fn allowed_write(path: &Path, data: &Path) -> bool {
    path.starts_with(data)
        || path == Path::new("/dev/null")
        || path.starts_with("/dev/pts")
        || path == Path::new("/dev/tty")
}

#[test]
fn fs_session_writes_only_its_data_dir() {
    let _report = report::test("fs_session_writes_only_its_data_dir");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    std::fs::write(sandbox.outside.join("untouched.py"), SECRET).unwrap();
    std::fs::create_dir_all(sandbox.ws.join("watched")).unwrap();
    let traced = trace::strace_works();
    let trace_dir = tempfile::tempdir().unwrap();
    let prefix = trace_dir.path().join("files");
    let launch = if traced {
        trace::under_strace(
            &sandbox.launch(),
            &prefix,
            "open,openat,openat2,creat,mkdir,mkdirat,rmdir,unlink,unlinkat,rename,renameat,renameat2,\
             link,linkat,symlink,symlinkat,truncate,chmod,fchmodat,chown,fchownat,lchown,utimensat",
        )
    } else {
        sandbox.launch()
    };
    // Let directory mtimes settle on a coarse clock before the snapshot.
    std::thread::sleep(Duration::from_millis(20));
    let before = snapshot(&sandbox.root);

    let mut session = Session::start(&launch);
    session.initialize(&sandbox.ws, json!({}));
    session.wait_indexed();
    let path = sandbox.ws.join("pkg/mod_3.py");
    session.open_and_replace(&path, "def edited_in_buffer():\n    pass\n");
    session.notify(
        "textDocument/didSave",
        json!({ "textDocument": { "uri": uri(&path) } }),
    );
    assert!(session.has_symbol("edited_in_buffer"));
    session.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": uri(&path) } }),
    );
    for q in ["helper", "Widget", "Ledger"] {
        session.symbols(q);
    }
    // The test's own change in the workspace, seen by the watcher.
    let own = sandbox.ws.join("watched/new_file.py");
    std::fs::write(&own, "def watched_new_fn():\n    return 1\n").unwrap();
    assert!(session.poll(Duration::from_secs(30), |s| s.has_symbol("watched_new_fn")));
    for command in ["spot.status", "spot.localize"] {
        let _ = session.request_full(
            "workspace/executeCommand",
            json!({ "command": command, "arguments": [{ "issue": "Widget grows wrong" }] }),
        );
    }
    let status = session.shutdown_and_exit();
    assert_eq!(status.map(|s| s.success()), Some(true));
    let after = snapshot(&sandbox.root);

    // Allowed: spot's data dir; the test's own file and the directory it was created in.
    let unexpected: Vec<PathBuf> = changed(&before, &after)
        .into_iter()
        .filter(|p| !p.starts_with(&sandbox.data) && p != &own && p != &sandbox.ws.join("watched"))
        .collect();
    let cache_written = after.keys().any(|p| {
        p.starts_with(sandbox.data.join("index")) && p.extension().is_some_and(|e| e == "idx")
    });

    let mut traced_writes = Vec::new();
    let mut n_calls = 0;
    if traced {
        let calls = trace::read_calls(&prefix);
        n_calls = calls.len();
        for c in &calls {
            for p in trace::written_paths(c) {
                if !allowed_write(&p, &sandbox.data) {
                    traced_writes.push(format!("{} ({})", p.display(), c.line));
                }
            }
        }
        dedup(&mut traced_writes);
    }
    report::row(Row {
        test: "fs_session_writes_only_its_data_dir",
        case: "full session: snapshot of the sandbox + traced file syscalls".into(),
        tried: before.len() as u64,
        panics: session.panics().len() as u64,
        notes: format!(
            "{} paths snapshotted; {} changed outside the data dir; {}",
            before.len(),
            unexpected.len(),
            if traced {
                format!(
                    "{n_calls} file syscalls traced, {} writes outside",
                    traced_writes.len()
                )
            } else {
                "STRACE NOT INSTALLED: syscall check skipped".into()
            }
        ),
        ..Row::default()
    });
    assert!(
        cache_written,
        "the session saved no index cache in its data dir"
    );
    assert!(
        unexpected.is_empty(),
        "changed outside the data dir: {unexpected:#?}"
    );
    assert!(
        traced_writes.is_empty(),
        "writes outside the data dir: {traced_writes:#?}"
    );
    if !traced && std::env::var_os(trace::ALLOW_MISSING).is_none() {
        panic!(
            "strace is not installed: the syscall half of this test did not run ({})",
            trace::INSTALL
        );
    }
}
