//! Faults around the server: a corrupt index cache between sessions, an unwritable data dir,
//! files and directories swapped while watched, 10,000 files created in one burst, the client
//! killed (stdin closed abruptly, stdout too), and a missing or corrupt model directory.
//!
//! Each case checks that the server keeps serving index requests (or exits by itself when its
//! client is gone) and logs what happened; none asserts on wall time beyond hang timeouts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{spot_bin, uri};
use crate::repo;
use crate::report::{self, Row};
use crate::rng::Rng;
use crate::session::{alive, children_of, frame, Launch, Sandbox, Session, HANG};

/// How long a watcher change may take to show in queries before it counts as lost.
const WATCH_WAIT: Duration = Duration::from_secs(30);
/// "Exits by itself within a few seconds".
const EXIT_WAIT: Duration = Duration::from_secs(10);

fn start(launch: &Launch, ws: &Path) -> (Session, String) {
    let mut session = Session::start(launch);
    session.initialize(ws, json!({}));
    let indexed = session.wait_indexed();
    (session, indexed)
}

fn sentinel_ok(session: &mut Session) -> bool {
    session
        .symbols(repo::SENTINEL)
        .first()
        .is_some_and(|(n, u)| n == repo::SENTINEL && u.ends_with(repo::SENTINEL_FILE))
}

#[test]
fn fault_corrupt_index_cache() {
    let _report = report::test("fault_corrupt_index_cache");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let launch = sandbox.launch();
    let (mut session, first) = start(&launch, &sandbox.ws);
    assert!(first.contains(", 0 cached"), "{first}");
    assert_eq!(session.shutdown_and_exit().map(|s| s.success()), Some(true));

    let index_dir = sandbox.data.join("index");
    let cache = std::fs::read_dir(&index_dir)
        .expect("index dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .expect("a cache file after the first session");
    let good = std::fs::read(&cache).unwrap();
    let mut rng = Rng::new(5);
    type Corrupt = fn(&Path, &[u8], &mut Rng);
    let cases: Vec<(&str, Corrupt)> = vec![
        ("truncated to half", |p, g, _| {
            std::fs::write(p, &g[..g.len() / 2]).unwrap()
        }),
        ("header only", |p, g, _| {
            std::fs::write(p, &g[..20]).unwrap()
        }),
        ("empty", |p, _, _| std::fs::write(p, b"").unwrap()),
        ("bytes flipped mid-payload", |p, g, r| {
            let mut b = g.to_vec();
            for _ in 0..16 {
                let i = 20 + r.below(b.len() - 20);
                b[i] ^= 0x5a;
            }
            std::fs::write(p, b).unwrap()
        }),
        ("future format version", |p, g, _| {
            let mut b = g.to_vec();
            b[8..12].copy_from_slice(&999u32.to_le_bytes());
            std::fs::write(p, b).unwrap()
        }),
        ("random bytes", |p, g, r| {
            std::fs::write(p, r.bytes(g.len())).unwrap()
        }),
        ("replaced by a directory", |p, _, _| {
            std::fs::remove_file(p).unwrap();
            std::fs::create_dir_all(p.join("sub")).unwrap();
        }),
    ];
    let mut failures = Vec::new();
    let n_cases = cases.len();
    for (what, corrupt) in cases {
        if cache.is_dir() {
            std::fs::remove_dir_all(&cache).unwrap();
        }
        corrupt(&cache, &good, &mut rng);
        let (mut session, indexed) = start(&launch, &sandbox.ws);
        if !indexed.contains(", 0 cached") {
            failures.push(format!("{what}: not rebuilt: {indexed}"));
        }
        if !session.stderr_has("discarding the index cache") {
            failures.push(format!("{what}: no log line about the discarded cache"));
        }
        if !sentinel_ok(&mut session) {
            failures.push(format!("{what}: workspace/symbol wrong after the rebuild"));
        }
        if session.shutdown_and_exit().map(|s| s.success()) != Some(true) {
            failures.push(format!("{what}: bad exit"));
        }
        if !session.panics().is_empty() {
            failures.push(format!("{what}: panics {:?}", session.panics()));
        }
    }
    // After all that, a clean cache is written again and used by the next start.
    if cache.is_dir() {
        std::fs::remove_dir_all(&cache).unwrap();
    }
    let (mut session, _) = start(&launch, &sandbox.ws);
    session.shutdown_and_exit();
    let (mut session, warm) = start(&launch, &sandbox.ws);
    if !warm.contains("(0 parsed") {
        failures.push(format!("no warm start after recovery: {warm}"));
    }
    session.shutdown_and_exit();
    report::row(Row {
        test: "fault_corrupt_index_cache",
        case: "cache corrupted 7 ways between sessions".into(),
        tried: n_cases as u64,
        unanswered: 0,
        notes: format!(
            "{} failures; rebuild + warm start after recovery",
            failures.len()
        ),
        ..Row::default()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Makes `path` and everything under it readable by anyone (for a server run as nobody).
fn open_up(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            open_up(&e.path());
        }
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(2)? == "0") // effective uid
        })
        .unwrap_or(false)
}

#[test]
fn fault_unwritable_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let _report = report::test("fault_unwritable_data_dir");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let mut failures = Vec::new();
    let mut tried = 0;

    // (what, data dir, run as nobody)
    let file_as_dir = sandbox.root.join("data-is-a-file");
    std::fs::write(&file_as_dir, "not a directory").unwrap();
    let index_is_file = sandbox.root.join("data-index-is-a-file");
    std::fs::create_dir_all(&index_is_file).unwrap();
    std::fs::write(index_is_file.join("index"), "not a directory").unwrap();
    let read_only = sandbox.root.join("data-read-only");
    std::fs::create_dir_all(read_only.join("index")).unwrap();
    let as_root = running_as_root();
    let mut cases = vec![
        ("SPOT_DATA_DIR is a file", file_as_dir.clone(), false),
        ("data dir's index/ is a file", index_is_file.clone(), false),
    ];
    // Permission bits do not stop root: run the server as nobody then.
    open_up(&sandbox.root);
    for dir in [&read_only, &read_only.join("index")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    cases.push(("data dir read-only (mode 555)", read_only.clone(), as_root));
    cases.push((
        "data dir missing under a read-only parent",
        read_only.join("index/new"),
        as_root,
    ));

    for (what, data, as_nobody) in cases {
        tried += 1;
        let mut launch = sandbox.launch();
        launch.set_env("SPOT_DATA_DIR", &data);
        if as_nobody {
            launch.uid = Some(65534);
        }
        let (mut session, indexed) = start(&launch, &sandbox.ws);
        if !indexed.contains(&format!("indexed {} files", repo::file_count())) {
            failures.push(format!("{what}: {indexed}"));
        }
        if !sentinel_ok(&mut session) {
            failures.push(format!("{what}: workspace/symbol wrong"));
        }
        if session.shutdown_and_exit().map(|s| s.success()) != Some(true) {
            failures.push(format!("{what}: bad exit"));
        }
        session.settle_stderr();
        if !session.stderr_has("could not save the index") {
            failures.push(format!("{what}: no log line about the unsaved index"));
        }
        if !session.panics().is_empty() {
            failures.push(format!("{what}: panics {:?}", session.panics()));
        }
    }
    let cache_files = std::fs::read_dir(read_only.join("index")).map_or(0, |d| d.count());
    if cache_files != 0 {
        failures.push(format!("{cache_files} files written into a read-only dir"));
    }
    report::row(Row {
        test: "fault_unwritable_data_dir",
        case: "file as data dir, file as index/, read-only dir".into(),
        tried,
        notes: format!(
            "{} failures; read-only cases run as {}",
            failures.len(),
            if as_root {
                "uid 65534 (suite runs as root)"
            } else {
                "the current user"
            }
        ),
        ..Row::default()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn fault_files_and_directories_swapped_while_watched() {
    let _report = report::test("fault_files_and_directories_swapped_while_watched");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let ws = &sandbox.ws;
    let w = |rel: &str, text: &str| {
        let p = ws.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let def = |name: &str| format!("def {name}():\n    return 1\n");
    w("swap/a.py", &def("swap_file_a"));
    w("swap/d1/b.py", &def("swap_dir_b"));
    w("swap/d2/c.py", &def("swap_dir_c"));
    w("swap/d3.py/e.py", &def("swap_dir_e"));
    w("swap/d4/g.py", &def("swap_dir_g_old"));
    let (mut session, _) = start(&sandbox.launch(), ws);
    for name in [
        "swap_file_a",
        "swap_dir_b",
        "swap_dir_c",
        "swap_dir_e",
        "swap_dir_g_old",
    ] {
        assert!(session.has_symbol(name), "{name} not indexed at start");
    }

    // One swap per round; a control file written after it is indexed once the watcher has
    // handled the swap's batch (batches apply in order), so each case is judged on its own.
    type Swap<'a> = (&'a str, Box<dyn Fn() + 'a>, Vec<(&'a str, bool)>);
    let out = &sandbox.outside;
    let swaps: Vec<Swap> = vec![
        (
            "file → dir of the same name",
            Box::new(|| {
                std::fs::remove_file(ws.join("swap/a.py")).unwrap();
                w("swap/a.py/inner.py", &def("swap_inner_fn"));
            }),
            vec![("swap_file_a", false), ("swap_inner_fn", true)],
        ),
        (
            "dir deleted, file put in its place",
            Box::new(|| {
                std::fs::remove_dir_all(ws.join("swap/d1")).unwrap();
                w("swap/d1", "just a file now\n");
            }),
            vec![("swap_dir_b", false)],
        ),
        (
            "dir moved out, file put in its place",
            Box::new(|| {
                std::fs::rename(ws.join("swap/d2"), out.join("d2-moved")).unwrap();
                w("swap/d2", "just a file now\n");
            }),
            vec![("swap_dir_c", false)],
        ),
        (
            "dir named x.py moved out, source file x.py put in its place",
            Box::new(|| {
                std::fs::rename(ws.join("swap/d3.py"), out.join("d3-moved")).unwrap();
                w("swap/d3.py", &def("swap_file_d3"));
            }),
            vec![("swap_dir_e", false), ("swap_file_d3", true)],
        ),
        (
            "dir moved out, another dir put in its place",
            Box::new(|| {
                std::fs::rename(ws.join("swap/d4"), out.join("d4-moved")).unwrap();
                w("swap/d4/h.py", &def("swap_dir_g_new"));
            }),
            vec![("swap_dir_g_old", false), ("swap_dir_g_new", true)],
        ),
    ];
    let mut failed: Vec<String> = Vec::new();
    let mut n_checks = 0;
    for (round, (case, swap, expectations)) in swaps.iter().enumerate() {
        swap();
        let control = format!("swap_control_{round}");
        w(&format!("controls/c{round}.py"), &def(&control));
        if !session.poll(WATCH_WAIT, |s| s.has_symbol(&control)) {
            failed.push(format!("{case}: the control file was never indexed"));
            continue;
        }
        session.drain(Duration::from_millis(300));
        for (name, want) in expectations {
            n_checks += 1;
            if session.has_symbol(name) != *want {
                failed.push(format!(
                    "{case}: {name} {}",
                    if *want {
                        "missing"
                    } else {
                        "still indexed (stale)"
                    }
                ));
            }
        }
    }
    let serving = sentinel_ok(&mut session);
    let status = session.shutdown_and_exit();
    report::row(Row {
        test: "fault_files_and_directories_swapped_while_watched",
        case: format!("{} swaps, {n_checks} expectations", swaps.len()),
        tried: n_checks,
        panics: session.panics().len() as u64,
        notes: if failed.is_empty() {
            "all seen by the watcher".into()
        } else {
            failed.join("; ")
        },
        ..Row::default()
    });
    assert!(serving, "index requests broken after the swaps");
    assert!(
        failed.is_empty(),
        "stale or missing after swaps: {failed:#?}"
    );
    assert_eq!(status.map(|s| s.success()), Some(true));
    assert!(session.panics().is_empty(), "{:?}", session.panics());
}

#[test]
fn fault_burst_of_10000_files() {
    let _report = report::test("fault_burst_of_10000_files");
    let _heavy = crate::heavy();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let (mut session, _) = start(&sandbox.launch(), &sandbox.ws);
    const N: usize = 10_000;
    const DIRS: usize = 10;
    let began = Instant::now();
    for d in 0..DIRS {
        std::fs::create_dir_all(sandbox.ws.join(format!("burst/d{d}"))).unwrap();
    }
    for i in 0..N {
        let path = sandbox.ws.join(format!("burst/d{}/b{i}.py", i % DIRS));
        std::fs::write(path, format!("def burst_fn_{i}():\n    return {i}\n")).unwrap();
    }
    let written = began.elapsed();
    let last = format!("burst_fn_{}", N - 1);
    let found_last = session.poll(Duration::from_secs(90), |s| s.has_symbol(&last));
    let last_after = began.elapsed();
    // A seeded sample of the rest must be there too.
    let mut rng = Rng::new(10_000);
    let sample: Vec<String> = (0..40)
        .map(|_| format!("burst_fn_{}", rng.below(N)))
        .collect();
    let mut missing: Vec<String> = Vec::new();
    session.poll(Duration::from_secs(30), |s| {
        missing = sample
            .iter()
            .filter(|n| !s.has_symbol(n))
            .cloned()
            .collect();
        missing.is_empty()
    });
    let serving = sentinel_ok(&mut session);
    let peak = session.vm_hwm_kb();
    let overflow = session.stderr_has("overflow") || session.stderr_has("rescan");
    let status = session.shutdown_and_exit();
    report::row(Row {
        test: "fault_burst_of_10000_files",
        case: format!("{N} files in {DIRS} new dirs"),
        tried: N as u64,
        unanswered: missing.len() as u64 + u64::from(!found_last),
        peak_rss_kb: peak,
        panics: session.panics().len() as u64,
        notes: format!(
            "written in {:.1} s; last file's symbol found after {:.1} s; {} of 40 sampled missing{}",
            written.as_secs_f64(),
            last_after.as_secs_f64(),
            missing.len(),
            if overflow { "; watcher logged an overflow/rescan" } else { "" }
        ),
        ..Row::default()
    });
    assert!(found_last, "{last} not indexed within the timeout");
    assert!(missing.is_empty(), "burst files never indexed: {missing:?}");
    assert!(serving, "index requests broken after the burst");
    assert_eq!(status.map(|s| s.success()), Some(true));
}

/// Closes the client side in one of several ways and checks that the server exits by itself.
#[test]
fn fault_client_killed() {
    let _report = report::test("fault_client_killed");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let launch = sandbox.launch();
    let mut notes = Vec::new();
    let mut failures = Vec::new();

    let mut check_exit = |what: &str, session: &mut Session| {
        let kids = session.children();
        let t = Instant::now();
        session.close_stdin();
        match session.wait_exit(EXIT_WAIT) {
            Some(status) => {
                notes.push(format!(
                    "{what}: exit in {:.2} s",
                    t.elapsed().as_secs_f64()
                ));
                if status.code().is_none() {
                    failures.push(format!("{what}: killed by a signal ({status})"));
                }
            }
            None => failures.push(format!(
                "{what}: still running {EXIT_WAIT:?} after stdin closed"
            )),
        }
        let orphans: Vec<u32> = kids.into_iter().filter(|&p| alive(p)).collect();
        if !orphans.is_empty() {
            failures.push(format!("{what}: orphan processes {orphans:?}"));
        }
        if !session.panics().is_empty() {
            failures.push(format!("{what}: panics {:?}", session.panics()));
        }
    };

    // During the initial build (a bigger tree, so the build is still running).
    let big = Sandbox::new();
    repo::write(&big.ws);
    for i in 0..3_000 {
        let p = big.ws.join(format!("gen/g{}/f{i}.py", i % 30));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("def gen_{i}():\n    return {i}\n")).unwrap();
    }
    let mut session = Session::start(&big.launch());
    session.initialize(&big.ws, json!({}));
    check_exit("stdin closed during the initial build", &mut session);

    // With requests in flight.
    let (mut session, _) = start(&launch, &sandbox.ws);
    for i in 0..50 {
        session.send_request(
            "workspace/symbol",
            json!({ "query": format!("helper_{i}") }),
        );
    }
    check_exit("stdin closed with 50 requests in flight", &mut session);

    // In the middle of a frame.
    let (mut session, _) = start(&launch, &sandbox.ws);
    let body = br#"{"jsonrpc":"2.0","id":99,"method":"workspace/symbol","params":{"query":"x"}}"#;
    let whole = frame(body);
    session.send_raw(&whole[..whole.len() / 2]);
    check_exit("stdin closed mid-frame", &mut session);

    // An open document and a pending edit, no shutdown.
    let (mut session, _) = start(&launch, &sandbox.ws);
    let path = sandbox.ws.join("pkg/mod_1.py");
    session.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri(&path), "languageId": "python", "version": 1, "text": "def x():\n    pass\n" } }),
    );
    check_exit("stdin closed with an open document", &mut session);

    // A request waiting for the client's answer (a progress token it never gives; issue 19).
    let (mut session, _) = start(&launch, &sandbox.ws);
    session.hold_server_requests = true;
    session.send_request(
        "workspace/executeCommand",
        json!({ "command": "spot.issueToPatch", "arguments": [{ "issue": "helper_3_1 is wrong", "apply": false }] }),
    );
    let waiting = session.poll(HANG, |s| !s.held.is_empty());
    assert!(
        waiting,
        "spot.issueToPatch did not ask for a progress token"
    );
    check_exit(
        "stdin closed while a request waits for the client's answer",
        &mut session,
    );

    // Both pipes gone (the editor was killed): stdout closed before the server writes.
    let mut child = Command::new(spot_bin())
        .arg("lsp")
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v)))
        .current_dir(&sandbox.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn spot lsp");
    let mut stdin = child.stdin.take().unwrap();
    drop(child.stdout.take());
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": null, "rootUri": uri(&sandbox.ws), "capabilities": {} } });
    let _ = stdin.write_all(&frame(&serde_json::to_vec(&init).unwrap()));
    let _ = stdin.write_all(&frame(
        br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
    ));
    let _ = stdin.flush();
    std::thread::sleep(Duration::from_millis(300));
    let kids = children_of(child.id());
    drop(stdin);
    let t = Instant::now();
    let mut exited = None;
    while t.elapsed() < EXIT_WAIT {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match exited {
        Some(status) => notes.push(format!(
            "stdin and stdout closed: exit in {:.2} s ({status})",
            t.elapsed().as_secs_f64()
        )),
        None => {
            let _ = child.kill();
            failures.push("stdin and stdout closed: still running".into());
        }
    }
    let _ = child.wait();
    if kids.iter().any(|&p| alive(p)) {
        failures.push(format!("orphans after both pipes closed: {kids:?}"));
    }

    report::row(Row {
        test: "fault_client_killed",
        case: "stdin closed ×5, both pipes closed".into(),
        tried: 6,
        crashes: failures.iter().filter(|f| f.contains("signal")).count() as u64,
        notes: notes.join("; "),
        ..Row::default()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Does the server advertise `command`?
fn has_command(init: &Value, command: &str) -> bool {
    init["capabilities"]["executeCommandProvider"]["commands"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == command))
}

/// An ONNX Runtime library for the model cases, if this machine has one: `ORT_DYLIB_PATH`, else
/// the onnxruntime/ of the data dir the test process itself would use (`tests/run.sh` installs
/// it there).
fn find_ort() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    let data = std::env::var_os("SPOT_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| Path::new(&d).join("spot")))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share/spot")))?;
    let dir = data.join("onnxruntime");
    std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("libonnxruntime")
        })
        .then_some(dir)
}

fn copy_dir(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if !skip.iter().any(|s| name == *s) {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn fault_model_dir_missing_or_corrupt() {
    let _report = report::test("fault_model_dir_missing_or_corrupt");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models");
    let mut rng = Rng::new(99);
    let m = |name: &str| sandbox.root.join("models").join(name);
    std::fs::create_dir_all(m("garbage")).unwrap();
    std::fs::write(m("garbage").join("model.onnx"), rng.bytes(4096)).unwrap();
    std::fs::write(m("garbage").join("config.json"), "{ not json").unwrap();
    std::fs::write(m("garbage").join("tokenizer.json"), rng.bytes(512)).unwrap();
    std::fs::write(m("a-file"), "x").unwrap();
    copy_dir(&models.join("tiny"), &m("truncated-onnx"), &[]);
    let onnx = std::fs::read(m("truncated-onnx").join("model.onnx")).unwrap();
    std::fs::write(
        m("truncated-onnx").join("model.onnx"),
        &onnx[..onnx.len() / 2],
    )
    .unwrap();
    copy_dir(&models.join("tiny"), &m("bad-tokenizer"), &[]);
    std::fs::write(m("bad-tokenizer").join("tokenizer.json"), "{\"model\": 5}").unwrap();
    copy_dir(
        &models.join("tiny-genai"),
        &m("genai-without-data"),
        &["model.onnx.data"],
    );
    let fake_ort = sandbox.root.join("fake-ort");
    std::fs::create_dir_all(&fake_ort).unwrap();
    std::fs::write(fake_ort.join("libonnxruntime.so"), rng.bytes(8192)).unwrap();

    let ort = find_ort();
    // (case, modelDir, ortPath)
    let mut cases: Vec<(&str, std::path::PathBuf, Option<std::path::PathBuf>)> = vec![
        (
            "runtime library is garbage",
            m("garbage"),
            Some(fake_ort.clone()),
        ),
        ("missing dir", m("no-such-model"), ort.clone()),
        ("garbage files", m("garbage"), ort.clone()),
        ("a file, not a dir", m("a-file"), ort.clone()),
    ];
    if ort.is_some() {
        cases.push(("model.onnx truncated", m("truncated-onnx"), ort.clone()));
        cases.push(("tokenizer.json wrong", m("bad-tokenizer"), ort.clone()));
        cases.push((
            "genai layout without model.onnx.data",
            m("genai-without-data"),
            ort.clone(),
        ));
    }
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    for (what, dir, ort_path) in &cases {
        let mut session = Session::start(&sandbox.launch());
        let mut options = json!({ "modelDir": dir });
        if let Some(p) = ort_path {
            options["ortPath"] = json!(p);
        }
        let init = session.initialize(&sandbox.ws, options);
        session.wait_indexed();
        if !sentinel_ok(&mut session) {
            failures.push(format!("{what}: index requests broken"));
        }
        if has_command(&init, "spot.status") {
            // Ask for the model once (it loads lazily), then read the status.
            if has_command(&init, "spot.issueToPatch") {
                let r = session.request_full(
                    "workspace/executeCommand",
                    json!({ "command": "spot.issueToPatch", "arguments": [{ "issue": "price rounding is wrong", "apply": false }] }),
                );
                if r["error"]["code"] != -32803 {
                    failures.push(format!("{what}: issueToPatch without a model: {r}"));
                }
            }
            let status = session.request(
                "workspace/executeCommand",
                json!({ "command": "spot.status", "arguments": [] }),
            );
            let model = &status["model"];
            let error = model["error"].as_str().unwrap_or_default();
            if model["state"] != "unavailable" || error.is_empty() {
                failures.push(format!("{what}: model status {model}"));
            }
            let reason: String = error
                .trim_start_matches("the model could not be loaded: ")
                .chars()
                .take(70)
                .collect();
            notes.push(format!("{what}: unavailable ({reason})"));
            if !sentinel_ok(&mut session) {
                failures.push(format!(
                    "{what}: index requests broken after the model failed"
                ));
            }
        } else {
            notes.push(format!("{what}: index served (spot.status not advertised)"));
        }
        if session.shutdown_and_exit().map(|s| s.success()) != Some(true) {
            failures.push(format!("{what}: bad exit (crashed in the model runtime?)"));
        }
        if !session.panics().is_empty() {
            failures.push(format!("{what}: panics {:?}", session.panics()));
        }
    }
    if ort.is_none() {
        notes.push(
            "no ONNX Runtime on this machine: model-dir defects past the runtime not reached"
                .into(),
        );
    }
    report::row(Row {
        test: "fault_model_dir_missing_or_corrupt",
        case: format!("{} broken model setups", cases.len()),
        tried: cases.len() as u64,
        notes: notes.join("; "),
        ..Row::default()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// With nothing changing on disk, the watcher must not index anything: the server's own reads
/// (opening files and directories to index them) are not changes.
#[test]
fn fault_watcher_quiet_when_nothing_changes() {
    let _report = report::test("fault_watcher_quiet_when_nothing_changes");
    let _machine = crate::light();
    let sandbox = Sandbox::new();
    repo::write(&sandbox.ws);
    let (mut session, _) = start(&sandbox.launch(), &sandbox.ws);
    // One real change, so that the watcher has handled a batch, then silence.
    std::fs::write(
        sandbox.ws.join("pkg/quiet.py"),
        "def quiet_fn():\n    return 1\n",
    )
    .unwrap();
    assert!(session.poll(WATCH_WAIT, |s| s.has_symbol("quiet_fn")));
    session.drain(Duration::from_millis(500));
    let batches = |s: &Session| {
        s.stderr
            .lock()
            .unwrap()
            .lines
            .iter()
            .filter(|l| l.contains("file changes:"))
            .count()
    };
    let cpu = |pid: u32| -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
    };
    let (before, cpu_before) = (batches(&session), cpu(session.pid()));
    session.drain(Duration::from_millis(2_000));
    let (after, cpu_after) = (batches(&session), cpu(session.pid()));
    let idle_batches = after - before;
    let ticks = cpu_after.zip(cpu_before).map_or(0, |(a, b)| a - b);
    let example = session
        .stderr
        .lock()
        .unwrap()
        .lines
        .iter()
        .rev()
        .find(|l| l.contains("file changes:"))
        .cloned()
        .unwrap_or_default();
    let status = session.shutdown_and_exit();
    report::row(Row {
        test: "fault_watcher_quiet_when_nothing_changes",
        case: "2 s with no change on disk".into(),
        tried: 1,
        notes: format!(
            "{idle_batches} watcher batches and {ticks} CPU ticks while idle{}",
            if idle_batches > 0 {
                format!(" (e.g. `{}`)", example.split("INFO ").last().unwrap_or(""))
            } else {
                String::new()
            }
        ),
        ..Row::default()
    });
    assert_eq!(
        idle_batches, 0,
        "the watcher keeps re-indexing with nothing changing, e.g. {example}"
    );
    assert_eq!(status.map(|s| s.success()), Some(true));
}
