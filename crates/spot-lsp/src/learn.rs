//! Background learning in the server: the `spot.learn` command, the triggers (every N new
//! commits, idle for M minutes) and the hot swap when a run installs a better model.
//!
//! One job at a time, run by `learn::job` on the blocking pool with its progress forwarded as
//! `$/progress` and `spot/status`; `spot.cancel` stops it (the trainer gets SIGTERM). The run is
//! a job of the analysis host (`JobStage::Learning`); when it installs a model the host's model
//! slot is refreshed (`ModelSlot::refresh`), so requests in flight finish on the old model and
//! the next one loads the new.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::MessageType;

use super::config::LearnTrigger;
use super::ext::{self, rpc_error, Failure};
use super::server::Backend;
use spot_assist::jobs::{JobKind, JobStage};
use spot_learn::job::{learn, LearnError, LearnEvent, LearnOptions};
use spot_learn::store::ModelStore;
use spot_model::Runtime;

/// How often the triggers are checked.
const TRIGGER_POLL: Duration = Duration::from_secs(60);

/// The learning half of the server state.
pub struct LearnState {
    state: Mutex<ext::LearnStatus>,
    running: Mutex<Option<u64>>,
    /// Last editor activity, seconds since `started`.
    last_activity: AtomicU64,
    started: Instant,
}

impl Default for LearnState {
    fn default() -> Self {
        Self {
            state: Mutex::new(ext::LearnStatus {
                state: ext::LearnState::Idle,
                message: None,
            }),
            running: Mutex::new(None),
            last_activity: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

impl LearnState {
    pub fn status(&self) -> ext::LearnStatus {
        self.state.lock().clone()
    }

    fn set(&self, state: ext::LearnState, message: String) {
        *self.state.lock() = ext::LearnStatus {
            state,
            message: Some(message),
        };
    }

    /// Records editor activity (for the idle trigger).
    pub fn touch(&self) {
        self.last_activity
            .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = self.last_activity.load(Ordering::Relaxed);
        Duration::from_secs(self.started.elapsed().as_secs().saturating_sub(last))
    }
}

impl Backend {
    /// `spot.learn`: `[]` starts a run, `[{"rollback": true}]` goes back one learned model.
    pub(super) async fn learn_command(&self, args: ext::LearnArgs) -> Result<Value> {
        let index = self
            .index()
            .ok_or_else(|| failed("no workspace folder is open"))?;
        if args.rollback {
            let store = ModelStore::for_workspace(&self.state.data_dir, index.root());
            let now = store.rollback().map_err(|e| failed(e.to_string()))?;
            self.model_dir_changed().await;
            let message = format!(
                "spot now uses {}",
                now.as_deref()
                    .map(|v| format!("learned model {v}"))
                    .unwrap_or_else(|| "the default model".to_owned())
            );
            self.state.learn.set(ext::LearnState::Idle, message);
            self.status_changed();
            return to_value(&ext::RollbackResult {
                rolled_back: true,
                active: now,
            });
        }
        let job = self.start_learning("manual").await?;
        to_value(&ext::LearnResult { started: true, job })
    }

    /// Starts a learning run in the background; refused while one runs.
    pub(super) async fn start_learning(&self, why: &str) -> Result<u64> {
        let host = self
            .host()
            .ok_or_else(|| failed("no workspace folder is open"))?;
        if let Some(id) = *self.state.learn.running.lock() {
            return Err(failed(format!(
                "a learning job is already running (job {id})"
            )));
        }
        let root = host.index().root().to_path_buf();
        let data_dir = self.state.data_dir.clone();
        let active = host.model().dir();
        let job = host.jobs().start(JobKind::Learn, None, None);
        let id = job.id();
        *self.state.learn.running.lock() = Some(id);
        let progress = self
            .begin_progress(&job, None, "spot: learning this repository")
            .await;
        self.state
            .learn
            .set(ext::LearnState::Running, format!("started ({why})"));
        self.status_changed();
        tracing::info!("learning {} ({why})", root.display());

        let backend = self.clone();
        let rt_opts = host.model().runtime_options();
        tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<LearnEvent>();
            let cancel = job.cancel_token();
            let work = tokio::task::spawn_blocking(move || {
                let rt = Runtime::init(&rt_opts).map_err(|e| LearnError::Setup(e.to_string()))?;
                learn(
                    &root,
                    &data_dir,
                    &active,
                    &rt,
                    &LearnOptions::default(),
                    &cancel,
                    &mut |ev| {
                        let _ = tx.send(ev);
                    },
                )
            });
            while let Some(ev) = rx.recv().await {
                let message = ev.describe();
                backend
                    .state
                    .learn
                    .set(ext::LearnState::Running, message.clone());
                let stage = JobStage::Learning { message };
                Self::report(progress.as_ref(), &stage).await;
                job.set_stage(stage); // the listener sends the status
            }
            let result = work.await;
            let (state, message, kind) = match result {
                Ok(Ok(outcome)) => match &outcome.installed {
                    Some(v) => (
                        ext::LearnState::Installed,
                        format!(
                            "spot learned this repository: model {v} installed ({})",
                            outcome.reason
                        ),
                        MessageType::INFO,
                    ),
                    None => (
                        ext::LearnState::Idle,
                        format!("spot kept the active model: {}", outcome.reason),
                        MessageType::INFO,
                    ),
                },
                Ok(Err(LearnError::Cancelled)) => (
                    ext::LearnState::Idle,
                    "learning cancelled; the active model is unchanged".to_owned(),
                    MessageType::INFO,
                ),
                Ok(Err(e)) => (
                    ext::LearnState::Failed,
                    format!("learning failed: {e}"),
                    MessageType::ERROR,
                ),
                Err(e) => (
                    ext::LearnState::Failed,
                    format!("learning failed: {e}"),
                    MessageType::ERROR,
                ),
            };
            tracing::info!("{message}");
            if let Some(p) = progress {
                p.finish_with_message(message.clone()).await;
            }
            backend.state.learn.set(state, message.clone());
            *backend.state.learn.running.lock() = None;
            drop(job);
            backend.model_dir_changed().await;
            backend.status_changed();
            backend.client.show_message(kind, message).await;
        });
        Ok(id)
    }

    /// Checks the learning triggers every minute until shutdown.
    pub(super) fn start_learning_triggers(&self) {
        let backend = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TRIGGER_POLL);
            tick.tick().await;
            loop {
                tick.tick().await;
                if backend.state.shutdown.is_cancelled() {
                    break;
                }
                if let Some(why) = backend.trigger_due().await {
                    if let Err(e) = backend.start_learning(&why).await {
                        tracing::debug!("learning trigger: {}", e.message);
                    }
                }
            }
        });
    }

    /// Why learning should start now, if a trigger says so.
    async fn trigger_due(&self) -> Option<String> {
        let (trigger, every, idle_minutes) = {
            let s = self.state.settings.read();
            (
                s.learn_trigger,
                s.learn_every_n_commits,
                s.learn_idle_minutes,
            )
        };
        if trigger == LearnTrigger::Manual || self.state.learn.running.lock().is_some() {
            return None;
        }
        let root = self.index()?.root().to_path_buf();
        let store = ModelStore::for_workspace(&self.state.data_dir, &root);
        let since = store.learned_at();
        let new_commits = tokio::task::spawn_blocking(move || {
            spot_learn::git::Repo::new(&root).count_since(since.as_deref())
        })
        .await
        .ok()?
        .ok()?;
        match trigger {
            LearnTrigger::Commits if new_commits >= every as usize => {
                Some(format!("{new_commits} new commits"))
            }
            LearnTrigger::Idle
                if new_commits > 0
                    && self.state.learn.idle_for()
                        >= Duration::from_secs(60 * u64::from(idle_minutes)) =>
            {
                Some(format!("idle for {idle_minutes} minutes"))
            }
            _ => None,
        }
    }
}

fn failed(message: impl Into<String>) -> tower_lsp_server::jsonrpc::Error {
    rpc_error(Failure::Failed(message.into()))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| super::to_proto::internal_error("serializing a result", e))
}
