//! One learning run: experience → trainer (a child process) → evaluation gate → install.
//!
//! The run works in its own directory of the workspace's [`ModelStore`] (`runs/<stamp>/`:
//! experience, trainer log, the new model, `result.json`). The trainer is spot's Python
//! trainer (`trainer/`), run as a child process whose stdout carries JSON events (progress);
//! cancelling sends it SIGTERM (it cleans up and exits). The new model replaces the active one
//! only when [`eval_model::better`] says so, through [`ModelStore::install`]; any failure,
//! cancellation or rejection leaves the active model as it was.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::eval_model::{self, ModelEval};
use crate::experience::{self, ExperienceOptions, Sample, Split};
use crate::git::Repo;
use crate::store::{ModelStore, StoreError};
use spot_base::cancel::CancelToken;
use spot_model::{Model, ModelError, Runtime};

/// Settings of a learning run.
#[derive(Debug, Clone)]
pub struct LearnOptions {
    /// HF checkpoint to fine-tune; default: the active model's `checkpoint/`, else the HF
    /// checkpoint setup left next to the default model (`<data>/build/<name>-hf`).
    pub base: Option<PathBuf>,
    /// `full` or `lora`.
    pub method: String,
    pub epochs: u32,
    pub max_steps: Option<u32>,
    pub max_seq_len: u32,
    pub threads: Option<usize>,
    /// The trainer command (program and leading arguments), e.g. `uv run --project trainer
    /// spot-train`; default: [`default_trainer`].
    pub trainer: Option<Vec<String>>,
    /// Held-out samples the gate evaluates (the newest bug fixes and a hash sample of the rest).
    pub eval_limit: usize,
    pub experience: ExperienceOptions,
}

impl Default for LearnOptions {
    fn default() -> Self {
        Self {
            base: None,
            method: "full".to_owned(),
            epochs: 2,
            max_steps: None,
            max_seq_len: 1024,
            threads: None,
            trainer: None,
            eval_limit: 40,
            experience: ExperienceOptions::default(),
        }
    }
}

/// What a run reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum LearnEvent {
    Stage(String),
    Train {
        step: u64,
        total: u64,
        loss: Option<f64>,
        eta_s: Option<f64>,
    },
}

impl LearnEvent {
    pub fn describe(&self) -> String {
        match self {
            LearnEvent::Stage(s) => s.clone(),
            LearnEvent::Train {
                step,
                total,
                loss,
                eta_s,
            } => {
                let mut s = format!("training: step {step}/{total}");
                if let Some(l) = loss {
                    s.push_str(&format!(", loss {l:.3}"));
                }
                if let Some(e) = eta_s {
                    s.push_str(&format!(", {e:.0} s left"));
                }
                s
            }
        }
    }
}

/// The result of a run that finished (installed or not).
#[derive(Debug, Clone, Serialize)]
pub struct LearnOutcome {
    /// The version installed, or `None` when the gate kept the active model.
    pub installed: Option<String>,
    /// The gate's reason.
    pub reason: String,
    pub before: ModelEval,
    pub after: ModelEval,
    pub run_dir: PathBuf,
    pub active_model: PathBuf,
    pub train_samples: usize,
    pub heldout_samples: usize,
    pub train_seconds: f64,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("cancelled; the active model is unchanged")]
    Cancelled,
    #[error("{0}")]
    Setup(String),
    #[error("building the experience failed: {0}")]
    Experience(#[from] experience::ExperienceError),
    #[error("the trainer failed: {0}; the active model is unchanged (log: {1})")]
    Trainer(String, PathBuf),
    #[error("evaluating the models failed: {0}")]
    Model(#[from] ModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The trainer command when none is configured: `$SPOT_TRAINER` (split on whitespace), else the
/// trainer project of the source tree spot was built from when it is still there (its `.venv`
/// python, or `uv run --project`), else an installed trainer: `spot-train` on `PATH` (`uv tool
/// install ./trainer` or `pip install ./trainer` puts it there), so an installed spot works
/// away from its source tree.
pub fn default_trainer() -> Option<Vec<String>> {
    if let Some(cmd) = std::env::var("SPOT_TRAINER")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Some(cmd.split_whitespace().map(str::to_owned).collect());
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../trainer");
    trainer_from(&source, std::env::var_os("PATH").as_deref())
}

/// [`default_trainer`] after the environment variable: `source` is the source tree's trainer
/// project, `path` the `PATH` to search for `spot-train`.
fn trainer_from(source: &Path, path: Option<&std::ffi::OsStr>) -> Option<Vec<String>> {
    if let Some(project) = source
        .canonicalize()
        .ok()
        .filter(|p| p.join("pyproject.toml").is_file())
    {
        let python = project.join(".venv/bin/python");
        if python.is_file() {
            return Some(vec![
                python.display().to_string(),
                "-m".to_owned(),
                "spot_trainer".to_owned(),
            ]);
        }
        return Some(vec![
            "uv".to_owned(),
            "run".to_owned(),
            "--project".to_owned(),
            project.display().to_string(),
            "spot-train".to_owned(),
        ]);
    }
    // Absolute entries only: a relative one (`.`, empty) names the working directory, which may
    // be the repository being learned, and a repository must not choose what spot runs.
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| {
            dir.join(if cfg!(windows) {
                "spot-train.exe"
            } else {
                "spot-train"
            })
        })
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && executable(&m)))
        .map(|p| vec![p.display().to_string()])
}

#[cfg(unix)]
fn executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    true
}

/// The base to fine-tune (see [`LearnOptions::base`]).
fn find_base(opts: &LearnOptions, active: &Path, data_dir: &Path) -> Result<PathBuf, LearnError> {
    if let Some(b) = &opts.base {
        return Ok(b.clone());
    }
    let checkpoint = active.join("checkpoint");
    if checkpoint.join("config.json").is_file() {
        return Ok(checkpoint);
    }
    let name = active
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let built = data_dir.join("build").join(format!("{name}-hf"));
    if built.join("config.json").is_file() {
        return Ok(built);
    }
    Err(LearnError::Setup(format!(
        "no trainable checkpoint for the active model {}: it has no checkpoint/ and {} does not \
         exist; pass --base with a Hugging Face checkpoint directory",
        active.display(),
        built.display()
    )))
}

/// Runs one learning run for the repository at `root` (canonical). `active` is the model in
/// use now; the gate compares against it.
pub fn learn(
    root: &Path,
    data_dir: &Path,
    active: &Path,
    rt: &Runtime,
    opts: &LearnOptions,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(LearnEvent),
) -> Result<LearnOutcome, LearnError> {
    let started = Instant::now();
    let store = ModelStore::for_workspace(data_dir, root);
    let base = find_base(opts, active, data_dir)?;
    let trainer = opts
        .trainer
        .clone()
        .or_else(default_trainer)
        .ok_or_else(|| {
            LearnError::Setup(
                "no trainer: set SPOT_TRAINER to the trainer command (see trainer/README.md)"
                    .to_owned(),
            )
        })?;
    let run = store.new_run()?;

    on_event(LearnEvent::Stage("building the experience".to_owned()));
    let (samples, summary) = experience::build(root, &opts.experience, &|_, _, _| {})?;
    let exp_dir = run.join("experience");
    experience::write(&exp_dir, &samples, &summary)?;
    let heldout: Vec<Sample> = samples
        .iter()
        .filter(|s| s.meta.split == Split::Heldout)
        .cloned()
        .collect();
    let train_samples = samples.len() - heldout.len();
    if train_samples == 0 || heldout.is_empty() {
        return Err(LearnError::Setup(format!(
            "the repository gave {train_samples} training and {} held-out samples; learning needs both \
             (is it a git repository with source files and history?)",
            heldout.len()
        )));
    }
    if cancel.is_cancelled() {
        return Err(LearnError::Cancelled);
    }

    on_event(LearnEvent::Stage(format!(
        "training on {train_samples} samples"
    )));
    let new_model = run.join("model");
    let train_started = Instant::now();
    run_trainer(
        &trainer, &base, &exp_dir, &new_model, &run, opts, cancel, on_event,
    )?;
    let train_seconds = train_started.elapsed().as_secs_f64();

    on_event(LearnEvent::Stage("evaluating the new model".to_owned()));
    let eval_set: Vec<Sample> = heldout.into_iter().take(opts.eval_limit).collect();
    let after = {
        let model = Model::load(rt, &new_model)?;
        eval_model::evaluate(&model, &eval_set, cancel, &|_, _| {})?
    };
    on_event(LearnEvent::Stage("evaluating the active model".to_owned()));
    let before = {
        let model = Model::load(rt, active)?;
        eval_model::evaluate(&model, &eval_set, cancel, &|_, _| {})?
    };
    let (better, reason) = eval_model::better(&after, &before);
    let head = Repo::new(root)
        .log(1)
        .ok()
        .and_then(|c| c.first().map(|c| c.id.clone()));
    let installed = if better {
        on_event(LearnEvent::Stage("installing the new model".to_owned()));
        Some(store.install(&new_model, head.as_deref())?)
    } else {
        // Keep the run's data and logs, not the rejected weights.
        let _ = std::fs::remove_dir_all(&new_model);
        None
    };
    let outcome = LearnOutcome {
        installed,
        reason,
        before,
        after,
        run_dir: run.clone(),
        active_model: active.to_path_buf(),
        train_samples,
        heldout_samples: eval_set.len(),
        train_seconds,
        seconds: started.elapsed().as_secs_f64(),
    };
    let _ = std::fs::write(
        run.join("result.json"),
        serde_json::to_vec_pretty(&outcome).unwrap_or_default(),
    );
    Ok(outcome)
}

/// Runs the trainer to completion, forwarding its progress; SIGTERM on cancel.
#[allow(clippy::too_many_arguments)]
fn run_trainer(
    trainer: &[String],
    base: &Path,
    data: &Path,
    out: &Path,
    run: &Path,
    opts: &LearnOptions,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(LearnEvent),
) -> Result<(), LearnError> {
    let log_path = run.join("trainer.log");
    let log = std::fs::File::create(&log_path)?;
    let (program, leading) = trainer
        .split_first()
        .ok_or_else(|| LearnError::Setup("the trainer command is empty".to_owned()))?;
    let mut cmd = Command::new(program);
    cmd.args(leading)
        .arg("train")
        .arg("--base")
        .arg(base)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--method", &opts.method])
        .args(["--epochs", &opts.epochs.to_string()])
        .args(["--max-seq-len", &opts.max_seq_len.to_string()]);
    if let Some(n) = opts.max_steps {
        cmd.args(["--max-steps", &n.to_string()]);
    }
    if let Some(t) = opts.threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    // The trainer's own files stay in the run dir, under spot's data dir: temp files, caches
    // (Hugging Face, torch), and it never reaches for a hub (the base is a local directory).
    let tmp = run.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    cmd.env(
        spot_model::ORT_TELEMETRY_OFF.0,
        spot_model::ORT_TELEMETRY_OFF.1,
    )
    .env("TMPDIR", &tmp)
    .env("XDG_CACHE_HOME", run.join("cache"))
    .env("HF_HOME", run.join("cache").join("huggingface"))
    .env("HF_HUB_OFFLINE", "1")
    .env("TRANSFORMERS_OFFLINE", "1")
    .env("HF_DATASETS_OFFLINE", "1");
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // spot turns transparent huge pages off for itself (main.rs) and children inherit that;
        // the trainer's large tensors are better off with the system's setting.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
                Ok(())
            });
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| {
            LearnError::Setup(format!(
                "cannot start the trainer `{}`: {e} (set SPOT_TRAINER, see trainer/README.md)",
                trainer.join(" ")
            ))
        })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| LearnError::Setup("the trainer has no stdout".to_owned()))?;
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let mut error: Option<String> = None;
    let mut terminated = false;
    let status = loop {
        while let Ok(ev) = rx.try_recv() {
            match ev["event"].as_str() {
                Some("step") => on_event(LearnEvent::Train {
                    step: ev["step"].as_u64().unwrap_or(0),
                    total: ev["total"].as_u64().unwrap_or(0),
                    loss: ev["loss"].as_f64(),
                    eta_s: ev["eta_s"].as_f64(),
                }),
                Some("export") => on_event(LearnEvent::Stage(format!(
                    "exporting: {}",
                    ev["stage"].as_str().unwrap_or("")
                ))),
                Some("error") => error = ev["message"].as_str().map(str::to_owned),
                _ => {}
            }
        }
        if cancel.is_cancelled() && !terminated {
            terminate(&mut child);
            terminated = true;
        }
        match child.try_wait()? {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let _ = reader.join();
    while let Ok(ev) = rx.try_recv() {
        if ev["event"] == "error" {
            error = ev["message"].as_str().map(str::to_owned);
        }
    }
    // Its temp files and caches are of no use once it has ended (the log stays).
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(run.join("cache"));
    if terminated {
        return Err(LearnError::Cancelled);
    }
    if !status.success() || !out.join("config.json").is_file() {
        let why = error.unwrap_or_else(|| format!("it exited with {status}"));
        return Err(LearnError::Trainer(why, log_path));
    }
    Ok(())
}

/// Asks the child to stop (SIGTERM, so it removes its temp output), then kills it after 20 s.
fn terminate(child: &mut Child) {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(child.id()) else {
            let _ = child.kill();
            return;
        };
        // SAFETY: kill(2) with a valid signal on our own child's pid has no memory effects.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = child.kill();
}

#[cfg(test)]
mod trainer_tests {
    use super::trainer_from;

    /// Issue 22: an installed spot (no source tree) finds an installed trainer on PATH.
    #[test]
    #[cfg(unix)]
    fn away_from_the_source_tree_the_trainer_is_found_on_path() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("no-source/trainer");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let path = std::env::join_paths([dir.path().join("empty"), bin.clone()]).unwrap();
        assert_eq!(trainer_from(&gone, Some(&path)), None);
        let exe = bin.join("spot-train");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        assert_eq!(trainer_from(&gone, Some(&path)), None, "not executable");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            trainer_from(&gone, Some(&path)),
            Some(vec![exe.display().to_string()])
        );
        // The same directory named relative to the working directory is not searched.
        let cwd = std::env::current_dir().unwrap();
        let up = "../".repeat(cwd.components().count().saturating_sub(1));
        let relative = std::path::PathBuf::from(format!(
            "{up}{}",
            bin.display().to_string().trim_start_matches('/')
        ));
        assert!(
            relative.join("spot-train").is_file(),
            "{}",
            relative.display()
        );
        let path_relative = std::env::join_paths([relative]).unwrap();
        assert_eq!(trainer_from(&gone, Some(&path_relative)), None);
        // The source tree's project wins when it is there.
        let source = dir.path().join("src/trainer");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("pyproject.toml"), "").unwrap();
        let found = trainer_from(&source, Some(&path)).unwrap();
        assert_eq!(found[..2], ["uv".to_owned(), "run".to_owned()]);
    }
}
