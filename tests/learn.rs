//! Repository-centric learning end to end: a tiny model that knows another repository learns a
//! fixture repository through the server's `spot.learn` (experience, the real Python trainer,
//! the evaluation gate, install, hot swap), improves strictly on held-out experience, and rolls
//! back.
//!
//! Needs the trainer's venv (`uv sync --project trainer`, done by tests/run.sh) and ONNX
//! Runtime: it is `#[ignore]`d with the commands that install them, and run by
//! `cargo test -- --include-ignored` (tests/run.sh), where a missing one fails it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{spot_bin, Client};
use serde_json::{json, Value};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The trainer's Python (the test is ignored unless asked for; then a missing trainer fails it).
fn trainer_python() -> PathBuf {
    common::require_ort();
    let python = repo_root().join("trainer/.venv/bin/python");
    assert!(
        python.is_file(),
        "the trainer venv is missing: uv sync --project trainer --frozen"
    );
    python
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs the trainer venv and ONNX Runtime: uv sync --project trainer --frozen; bash fixtures/models/setup.sh --runtime-only; then cargo test -- --include-ignored (tests/run.sh does)"]
fn a_tiny_model_learns_a_fixture_repository_through_the_server() {
    let python = trainer_python();
    let repos = tempfile::tempdir().unwrap();
    run(Command::new("python3")
        .arg(repo_root().join("fixtures/repos/make_repos.py"))
        .arg(repos.path()));
    let data = tempfile::tempdir().unwrap();

    // A "general" model: tiny, trained from scratch on another repository (rs-ledger).
    let exp = data.path().join("exp-rs-ledger");
    run(Command::new(spot_bin())
        .env("SPOT_DATA_DIR", data.path())
        .arg("experience")
        .arg(repos.path().join("rs-ledger"))
        .arg("--out")
        .arg(&exp));
    let models = data.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let general = models.join("general");
    run(Command::new(&python)
        .args(["-m", "spot_trainer", "train", "--base"])
        .arg(format!(
            "tiny:{}",
            repo_root().join("fixtures/models/tiny").display()
        ))
        .arg("--data")
        .arg(&exp)
        .arg("--out")
        .arg(&general)
        .args([
            "--max-seq-len",
            "2048",
            "--epochs",
            "2",
            "--no-generate-eval",
        ]));
    // It is what spot uses when nothing was learned for a workspace.
    std::os::unix::fs::symlink("general", models.join("active")).unwrap();

    let workspace = repos.path().join("py-inventory");
    let mut client = Client::start(data.path());
    client.initialize(&workspace, json!({ "provider": "cpu" }));
    client.wait_indexed();
    let status = client.request(
        "workspace/executeCommand",
        json!({ "command": "spot.status" }),
    );
    assert!(
        status["model"]["dir"]
            .as_str()
            .unwrap()
            .ends_with("models/active"),
        "{status}"
    );

    let started = client.request(
        "workspace/executeCommand",
        json!({ "command": "spot.learn" }),
    );
    assert_eq!(started["started"], true, "{started}");
    // A second run is refused while one runs.
    let again = client.request_full(
        "workspace/executeCommand",
        json!({ "command": "spot.learn" }),
    );
    assert_eq!(again["error"]["code"], -32803, "{again}");

    let t = Instant::now();
    let done = client.wait_notification_for(Duration::from_secs(900), "learning to finish", |m| {
        m["method"] == "spot/status"
            && matches!(
                m["params"]["learn"]["state"].as_str(),
                Some("installed" | "failed" | "idle")
            )
            && m["params"]["learn"]["message"]
                .as_str()
                .is_some_and(|s| !s.starts_with("started"))
    });
    eprintln!(
        "learning took {:.0} s: {}",
        t.elapsed().as_secs_f64(),
        done["params"]["learn"]
    );
    assert_eq!(done["params"]["learn"]["state"], "installed", "{done}");
    // Progress went through the trainer's steps.
    assert!(client
        .notifications
        .iter()
        .any(|n| n["method"] == "$/progress"
            && n["params"]["value"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("training: step"))));

    // The learned model is now the workspace's model (hot swap on the next use).
    let status = client.request(
        "workspace/executeCommand",
        json!({ "command": "spot.status" }),
    );
    let dir = status["model"]["dir"].as_str().unwrap().to_owned();
    assert!(dir.contains("models/learned/py_inventory-"), "{status}");
    assert!(dir.ends_with("/v1"), "{status}");

    // Held-out before → after, measured again independently: strictly better.
    let learned = PathBuf::from(&dir);
    let run_dir = std::fs::read_dir(learned.parent().unwrap().join("runs"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let report = run(Command::new(spot_bin())
        .env("SPOT_DATA_DIR", data.path())
        .envs(common::ort_env())
        .args(["eval", "model", "--json", "--provider", "cpu", "--before"])
        .arg(&general)
        .arg("--after")
        .arg(&learned)
        .arg("--data")
        .arg(run_dir.join("experience")));
    let report: Value = serde_json::from_str(&report).unwrap();
    eprintln!("held-out: {report}");
    assert_eq!(report["better"], true, "{report}");
    let (before, after) = (&report["before"], &report["after"]);
    assert!(after["loss"].as_f64() < before["loss"].as_f64(), "{report}");
    assert!(
        after["masked_loss"].as_f64() < before["masked_loss"].as_f64(),
        "{report}"
    );
    assert!(before["scored"].as_u64().unwrap() >= 3, "{report}");

    // Rollback returns to the general model.
    let back = client.request(
        "workspace/executeCommand",
        json!({ "command": "spot.learn", "arguments": [{ "rollback": true }] }),
    );
    assert_eq!(back["active"], Value::Null, "{back}");
    let status = client.request(
        "workspace/executeCommand",
        json!({ "command": "spot.status" }),
    );
    assert!(
        status["model"]["dir"]
            .as_str()
            .unwrap()
            .ends_with("models/active"),
        "{status}"
    );
    client.shutdown();
}
