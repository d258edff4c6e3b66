//! End-to-end tests of the OpenAI-compatible backend (issue 23 §1): the built `spot` binary (and
//! `spot_model::Model::connect`) against a real llama.cpp server — llama-cpp-python's, serving
//! the default model's GGUF — that each test starts on a free port of its own
//! (tests/backend/server.sh).
//!
//! They are `#[ignore]`d in a plain `cargo test` (the server is a 3-minute build): `tests/run.sh`
//! installs it (cached) and runs them on their own, one at a time (they are in `mod
//! llama_server`, which its workspace run skips); run without the server, they fail with the
//! install command. The privacy test of the default configuration needs no server, only ONNX
//! Runtime and strace (as in tests/hardening).

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::spot_bin;
use spot_base::cancel::CancelToken;
use spot_model::{ApiKey, GenerateParams, Model, ModelError, RemoteConfig};

const NEEDS_SERVER: &str =
    "needs the llama.cpp test server: tests/backend/server.sh install (cached; ~3 min cold), \
     then cargo test --test backend -- --ignored (tests/run.sh does both)";
const MODEL: &str = "smollm2";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn server_script() -> PathBuf {
    repo_root().join("tests/backend/server.sh")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// One llama.cpp server on 127.0.0.1; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::start_on(free_port(), extra)
    }

    fn start_on(port: u16, extra: &[&str]) -> Server {
        let installed = Command::new("bash")
            .arg(server_script())
            .arg("path")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            installed,
            "the test server is not installed: {NEEDS_SERVER}"
        );
        let log = std::env::temp_dir().join(format!("spot-backend-server-{port}.log"));
        let log = std::fs::File::create(log).expect("server log");
        let child = Command::new("bash")
            .arg(server_script())
            .arg("serve")
            .arg(port.to_string())
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the server");
        let server = Server { child, port };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::Write;
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let req = "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out);
                    if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.1 401") {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the test server on port {} did not start", self.port);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn kill(&mut self) {
        // `serve` execs python: the child is the server itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spot(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let data = tempfile::tempdir().expect("data dir");
    let out = Command::new(spot_bin())
        .args(args)
        .env("SPOT_DATA_DIR", data.path())
        .envs(envs.iter().copied())
        .output()
        .expect("run spot");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn backend<'a>(server: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--backend-url", server, "--backend-model", MODEL];
    args.extend_from_slice(rest);
    args
}

/// The one error line of a failed command.
fn error_line(stderr: &str) -> &str {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
    errors[0]
}

/// Every test of this file is in this module, so that tests/run.sh can leave them out of the
/// workspace run (`--skip llama_server::`) and run them on their own, one at a time.
mod llama_server {
    use super::*;

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn generate_streams_completions_and_chat() {
        let server = Server::start(&[]);
        let url = server.url();
        // A completion: the text arrives while the model still writes it (spot still runs when
        // its first byte is read).
        let mut child = Command::new(spot_bin())
            .args(["generate", "--max-tokens", "300", "--stats"])
            .args(backend(&url, &["1, 2, 3, 4, 5, 6,"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spot generate");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).expect("a first byte");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "spot had ended before its first byte was read: not streamed"
        );
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).expect("the rest");
        let status = child.wait().expect("wait");
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        assert!(status.success(), "{stderr}");
        assert!(rest.contains("7"), "{rest}");
        assert!(stderr.contains("provider remote"), "{stderr}");

        // A chat goes through the server's own template.
        let (code, out, err) = spot(
            &[
                &["generate", "--chat", "--max-tokens", "24"][..],
                &backend(&url, &["What is the capital of France?"]),
            ]
            .concat(),
            &[],
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(!out.trim().is_empty());
        assert!(!out.contains("<|im_start|>"), "{out}");
    }

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn cancelling_drops_the_request_promptly() {
        let server = Server::start(&[]);
        let model = Model::connect(RemoteConfig::new(server.url(), MODEL), &CancelToken::new())
            .expect("connects");
        let model = Arc::new(model);
        let cancel = CancelToken::new();
        let pieces = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (model, cancel, pieces) = (Arc::clone(&model), cancel.clone(), Arc::clone(&pieces));
            std::thread::spawn(move || {
                let params = GenerateParams {
                    max_new_tokens: 1500,
                    ..GenerateParams::default()
                };
                model.generate("1, 2, 3, 4, 5, 6,", &params, &cancel, &mut |_| {
                    pieces.fetch_add(1, Ordering::Relaxed);
                })
            })
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while pieces.load(Ordering::Relaxed) < 3 {
            assert!(Instant::now() < deadline, "no streamed text");
            std::thread::sleep(Duration::from_millis(5));
        }
        let cancelled_at = Instant::now();
        cancel.cancel();
        let result = worker.join().expect("no panic");
        let took = cancelled_at.elapsed();
        assert!(matches!(result, Err(ModelError::Cancelled)), "{result:?}");
        eprintln!("cancelled mid-answer: generate returned {took:?} after the cancel");
        assert!(took < Duration::from_millis(500), "cancel took {took:?}");
        // The server dropped the abandoned answer (1500 tokens, ~30 s here): a new short request is
        // served at once.
        let started = Instant::now();
        let params = GenerateParams {
            max_new_tokens: 4,
            ..GenerateParams::default()
        };
        model
            .generate("Hello", &params, &CancelToken::new(), &mut |_| {})
            .expect("served after the cancel");
        let took = started.elapsed();
        eprintln!("the next request after the cancel took {took:?}");
        assert!(
            took < Duration::from_secs(10),
            "the next request took {took:?}"
        );

        // The command line: `spot generate` killed mid-answer leaves the server serving.
        let mut child = Command::new(spot_bin())
            .args(["generate", "--max-tokens", "1500"])
            .args(backend(&server.url(), &["1, 2, 3,"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spot generate");
        let mut byte = [0u8; 1];
        child
            .stdout
            .as_mut()
            .expect("stdout")
            .read_exact(&mut byte)
            .expect("streams");
        child.kill().expect("kill spot");
        let _ = child.wait();
        let (code, out, err) = spot(
            &[
                &["generate", "--max-tokens", "4"][..],
                &backend(&server.url(), &["Hi"]),
            ]
            .concat(),
            &[],
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(!out.trim().is_empty());
    }

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn a_server_killed_mid_answer_is_one_clear_error_then_works_again() {
        let port = free_port();
        let mut server = Server::start_on(port, &[]);
        let url = server.url();
        let mut child = Command::new(spot_bin())
            .args(["generate", "--max-tokens", "1500"])
            .args(backend(&url, &["1, 2, 3,"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spot generate");
        let mut byte = [0u8; 1];
        child
            .stdout
            .as_mut()
            .expect("stdout")
            .read_exact(&mut byte)
            .expect("streams");
        server.kill();
        let out = child.wait_with_output().expect("spot ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        let line = error_line(&stderr);
        assert!(line.contains(&url), "{line}");
        assert!(
            line.contains("closed the connection") || line.contains("broke off"),
            "{line}"
        );
        // Down: refused, in one line.
        let (code, _, err) = spot(&[&["generate"][..], &backend(&url, &["Hi"])].concat(), &[]);
        assert_ne!(code, Some(0));
        assert!(error_line(&err).contains("refused the connection"), "{err}");
        // Up again on the same port: works.
        let _server = Server::start_on(port, &[]);
        let (code, out, err) = spot(
            &[
                &["generate", "--max-tokens", "4"][..],
                &backend(&url, &["Hi"]),
            ]
            .concat(),
            &[],
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(!out.trim().is_empty());
    }

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn a_wrong_model_name_or_key_is_one_clear_error_and_the_key_is_never_shown() {
        let key = "sk-spot-test-0123456789";
        let server = Server::start(&["--api_key", key]);
        let url = server.url();
        let envs = [
            ("SPOT_TEST_KEY", key),
            ("SPOT_TEST_BAD_KEY", "sk-wrong-9876543210"),
        ];
        let with_key = |var: &'static str, model: &'static str| -> (Option<i32>, String, String) {
            spot(
                &[
                    "--log",
                    "trace",
                    "generate",
                    "--max-tokens",
                    "4",
                    "--backend-url",
                    &url,
                    "--backend-model",
                    model,
                    "--backend-key-env",
                    var,
                    "Hi",
                ],
                &envs,
            )
        };
        let (code, out, err) = with_key("SPOT_TEST_KEY", MODEL);
        assert_eq!(code, Some(0), "{err}");
        assert!(!out.trim().is_empty());
        assert!(!err.contains(key), "the key is in the log:\n{err}");

        let (code, _, err) = with_key("SPOT_TEST_KEY", "no-such-model");
        assert_ne!(code, Some(0));
        let line = error_line(&err);
        assert!(
            line.contains("serves no model `no-such-model` (it serves: smollm2)"),
            "{line}"
        );

        let (code, _, err) = with_key("SPOT_TEST_BAD_KEY", MODEL);
        assert_ne!(code, Some(0));
        let line = error_line(&err);
        assert!(line.contains("HTTP 401"), "{line}");
        assert!(line.contains("$SPOT_TEST_BAD_KEY"), "{line}");
        assert!(
            !err.contains("sk-wrong-9876543210") && !err.contains(key),
            "{err}"
        );

        let (code, _, err) = spot(&[&["generate"][..], &backend(&url, &["Hi"])].concat(), &[]);
        assert_ne!(code, Some(0));
        assert!(error_line(&err).contains("wants an API key"), "{err}");
    }

    const REPO: &str = r#"
//- /calc.py
def is_adult(age):
    """True when age is 18 or more."""
    return age > 18


def total(prices):
    return sum(prices)
//- /people.py
from calc import is_adult


def adults(ages):
    """The ages of 18 or more."""
    return [age for age in ages if is_adult(age)]
"#;

    /// The LSP setting `backend` reaches the model slot: the status names the server, and an
    /// issue-to-patch runs on it (the model is the server's, not the local one).
    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn the_lsp_setting_uses_the_server() {
        let server = Server::start(&[]);
        let url = server.url();
        let ws = common::fixture(REPO);
        let data = tempfile::tempdir().unwrap();
        let mut client = common::Client::start(data.path());
        client.initialize_with(
            ws.path(),
            serde_json::json!({ "backend": { "kind": "openai", "url": url, "model": MODEL } }),
            serde_json::json!({ "window": { "workDoneProgress": false } }),
        );
        client.wait_indexed();
        let status = |client: &mut common::Client| {
            client.request(
                "workspace/executeCommand",
                serde_json::json!({ "command": "spot.status", "arguments": [] }),
            )
        };
        let before = status(&mut client);
        assert_eq!(
            before["model"]["dir"].as_str(),
            Some(url.trim_end_matches('/')),
            "{before}"
        );
        let reply = client.request_full(
            "workspace/executeCommand",
            serde_json::json!({
                "command": "spot.issueToPatch",
                "arguments": [{ "issue": "is_adult(18) returns False, but 18-year-olds are adults", "apply": false }]
            }),
        );
        // A patch, or the reasons none was found: either way the server's model answered.
        assert!(
            reply.get("result").is_some() || reply["error"]["code"] == -32803,
            "{reply}"
        );
        let after = status(&mut client);
        assert_eq!(after["model"]["state"], "ready", "{after}");
        assert_eq!(after["model"]["provider"], "remote", "{after}");
        client.shutdown();
    }

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn patch_and_rerank_through_the_server() {
        let server = Server::start(&[]);
        let url = server.url();
        let ws = common::fixture(REPO);
        let dir = ws.path().to_str().expect("utf-8 path");
        let issue = "is_adult(18) returns False, but 18-year-olds are adults";
        // Model answers, then one-line edits ranked by the server's scores.
        let (code, out, err) = spot(
            &[
                &[
                    "--log",
                    "spot=info",
                    "patch",
                    dir,
                    issue,
                    "--candidates",
                    "1",
                    "--max-tokens",
                    "96",
                    "--json",
                ][..],
                &backend(&url, &[]),
            ]
            .concat(),
            &[],
        );
        assert!(matches!(code, Some(0 | 1)), "{code:?}: {err}");
        assert!(!err.contains("error"), "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert!(report.is_object(), "{out}");
        assert!(!err.contains("cannot rank"), "{err}");

        // The rerank scores files through /v1/completions with echo and logprobs.
        let (code, _, err) = spot(
            &[
                &[
                    "--log",
                    "spot=info",
                    "localize",
                    dir,
                    issue,
                    "--rerank",
                    "2",
                ][..],
                &backend(&url, &[]),
            ]
            .concat(),
            &[],
        );
        assert!(matches!(code, Some(0 | 1)), "{err}");
        assert!(err.contains("the model reranked 2 files"), "{err}");
    }

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn the_servers_scores_are_the_models() {
        let server = Server::start(&[]);
        let model = Model::connect(RemoteConfig::new(server.url(), MODEL), &CancelToken::new())
            .expect("connects");
        let cancel = CancelToken::new();
        let prompt = "def add(a, b):\n    return";
        let (good, each) = model
            .score_each(prompt, " a + b\n", &cancel)
            .expect("scores");
        let bad = model
            .score(prompt, " banana telescope\n", &cancel)
            .expect("scores");
        assert!(good.tokens >= 3 && each.len() == good.tokens, "{good:?}");
        assert!(good.mean_nll() < 1.5, "{good:?} {each:?}");
        assert!(
            bad.mean_nll() > good.mean_nll() + 2.0,
            "{bad:?} vs {good:?}"
        );
        // The same model in ONNX (fp32) scores about the same as the server's Q4_1 GGUF.
        let data = std::env::var_os("SPOT_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share/spot")
            });
        let dir = spot_model::default_model_dir(&data);
        common::require_ort();
        assert!(
            dir.join("model.onnx").is_file(),
            "no default model at {} (bash fixtures/models/setup.sh)",
            dir.display()
        );
        let ort = common::ort_env();
        let rt = spot_model::Runtime::init(&spot_model::RuntimeOptions {
            env_ort_path: ort
                .first()
                .map(|(_, p)| p.clone())
                .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from)),
            data_dir: Some(data),
            provider: spot_model::Provider::Cpu,
            ..spot_model::RuntimeOptions::default()
        })
        .expect("runtime");
        let local = Model::load(&rt, &dir).expect("the default model");
        let (want, _) = local
            .score_each(prompt, " a + b\n", &cancel)
            .expect("scores");
        eprintln!("the default model: ONNX fp32 {want:?}, the server's Q4_1 GGUF {good:?}");
        assert_eq!(want.tokens, good.tokens, "{want:?} vs {good:?}");
        assert!(
            (want.nll - good.nll).abs() < 0.25 * want.nll.max(1.0),
            "local {want:?} vs server {good:?}"
        );
    }

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn a_server_that_cannot_score_leaves_ranking_to_the_other_evidence() {
        // Without logits_all, llama-cpp-python refuses prompt logprobs (HTTP 500, "logprobs is not
        // supported…"), as Ollama and llama-server do in their own ways.
        let server = Server::start(&["--logits_all", "false"]);
        let url = server.url();
        let model = Model::connect(RemoteConfig::new(url.as_str(), MODEL), &CancelToken::new())
            .expect("connects");
        let e = model
            .score(
                "def add(a, b):\n    return",
                " a + b\n",
                &CancelToken::new(),
            )
            .expect_err("cannot score");
        assert!(matches!(e, ModelError::ScoringUnsupported { .. }), "{e}");
        let ws = common::fixture(REPO);
        let dir = ws.path().to_str().expect("utf-8 path");
        let issue = "is_adult(18) returns False, but 18-year-olds are adults";
        // issue-to-patch: the answers still come, the one-line edits are skipped with a reason.
        let (code, out, err) = spot(
            &[
                &[
                    "patch",
                    dir,
                    issue,
                    "--candidates",
                    "1",
                    "--max-tokens",
                    "64",
                    "--json",
                ][..],
                &backend(&url, &[]),
            ]
            .concat(),
            &[],
        );
        assert!(matches!(code, Some(0 | 1)), "{code:?}: {err}");
        assert!(!err.contains("error"), "{err}");
        // Reached only when the model's answer does not apply (this tiny model's often does).
        if out.contains("one-line edits") {
            assert!(out.contains("cannot rank"), "{out}");
        }
        // The rerank is skipped with a log line; the localization is printed as it was.
        let (code, out, err) = spot(
            &[
                &["localize", dir, issue, "--rerank", "2"][..],
                &backend(&url, &[]),
            ]
            .concat(),
            &[],
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("calc.py"), "{out}");
        assert!(
            err.contains("no model rerank") && err.contains("cannot score"),
            "{err}"
        );
    }

    /// `strace -f` network calls of `spot ARGS`: each `socket`/`connect` line.
    fn network_calls(args: &[&str], envs: &[(&str, &str)]) -> (bool, Vec<String>) {
        let traces = tempfile::tempdir().expect("tmp");
        let out_file = traces.path().join("trace");
        let data = tempfile::tempdir().expect("data");
        let status = Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=%network,execve", "-o"])
            .arg(&out_file)
            .arg(spot_bin())
            .args(args)
            .env("SPOT_DATA_DIR", data.path())
            .envs(envs.iter().copied())
            .envs(common::ort_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run strace");
        let text = std::fs::read_to_string(&out_file).unwrap_or_default();
        // The control: the trace saw spot start (so an empty list means no network call).
        assert!(
            text.lines()
                .any(|l| l.contains("execve(") && l.contains(&*spot_bin().to_string_lossy())),
            "strace did not trace spot:\n{text}"
        );
        let calls = text
            .lines()
            .filter(|l| !l.contains("execve(") && !l.contains("AF_UNIX"))
            .filter(|l| !l.contains("+++") && !l.contains("---"))
            .map(str::to_owned)
            .collect();
        (status.success(), calls)
    }

    fn strace_works() -> bool {
        let ok = Command::new("strace")
            .args(["-qq", "-e", "trace=none", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("SPOT_HARDENING_ALLOW_NO_STRACE").is_some(),
                "strace is needed for the privacy tests: apt-get install -y strace (or set \
             SPOT_HARDENING_ALLOW_NO_STRACE=1 to skip)"
            );
            eprintln!("*** SKIP: no strace: the privacy check did NOT run ***");
        }
        ok
    }

    #[test]
    #[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
    fn by_default_generate_and_patch_open_no_network_socket() {
        common::require_ort();
        if !strace_works() {
            return;
        }
        let tiny = repo_root().join("fixtures/models/tiny");
        let tiny = tiny.to_str().expect("utf-8");
        let (ok, calls) = network_calls(
            &["generate", "--model", tiny, "--max-tokens", "4", "def"],
            &[],
        );
        assert!(ok, "spot generate under strace");
        assert!(calls.is_empty(), "network calls: {calls:#?}");
        let ws = common::fixture(REPO);
        let dir = ws.path().to_str().expect("utf-8");
        let (_, calls) = network_calls(
            &[
                "patch",
                dir,
                "is_adult(18) is False",
                "--model",
                tiny,
                "--candidates",
                "1",
                "--max-tokens",
                "16",
                "--mutants",
                "2",
                "--history",
                "0",
            ],
            &[],
        );
        assert!(calls.is_empty(), "network calls: {calls:#?}");
    }

    #[test]
    #[ignore = "needs the llama.cpp test server: tests/backend/server.sh install; cargo test --test backend -- --ignored"]
    fn with_a_backend_spot_connects_to_that_address_only() {
        if !strace_works() {
            return;
        }
        let key = "sk-privacy-0123456789";
        let server = Server::start(&["--api_key", key]);
        let url = server.url();
        let port = server.port.to_string();
        let envs = [("SPOT_TEST_KEY", key)];
        let ws = common::fixture(REPO);
        let dir = ws.path().to_str().expect("utf-8");
        let key_args = ["--backend-key-env", "SPOT_TEST_KEY"];
        for args in [
            [
                &["generate", "--max-tokens", "4"][..],
                &backend(&url, &["Hi"]),
                &key_args,
            ]
            .concat(),
            [
                &[
                    "patch",
                    dir,
                    "is_adult(18) is False",
                    "--candidates",
                    "1",
                    "--max-tokens",
                    "32",
                ][..],
                &backend(&url, &[]),
                &key_args,
            ]
            .concat(),
        ] {
            let (_, calls) = network_calls(&args, &envs);
            let connects: Vec<&String> = calls.iter().filter(|c| c.contains("connect(")).collect();
            assert!(!connects.is_empty(), "no connection seen: {calls:#?}");
            for c in &connects {
                assert!(
                    c.contains("inet_addr(\"127.0.0.1\")") && c.contains(&format!("htons({port})")),
                    "a connection elsewhere: {c}"
                );
            }
            for c in &calls {
                assert!(
                    c.contains("connect(")
                        || c.contains("socket(AF_INET,")
                        || c.contains("sockopt(")
                        || c.contains("sockname(")
                        || c.contains("peername(")
                        || c.contains("sendto(")
                        || c.contains("recvfrom(")
                        || c.contains("shutdown("),
                    "an unexpected network call: {c}"
                );
            }
        }
    }

    #[test]
    fn a_key_from_the_environment_is_never_in_debug_output() {
        let mut config = RemoteConfig::new("http://127.0.0.1:1/v1", MODEL);
        config.api_key = Some(ApiKey::new("sk-never-shown-42", "$K"));
        assert!(!format!("{config:?}").contains("sk-never-shown-42"));
        // Nothing listens on port 1: the error names the server, not the key.
        let e = Model::connect(config, &CancelToken::new()).expect_err("down");
        assert!(!e.to_string().contains("sk-never-shown-42"), "{e}");
    }
}
