//! Running the project's own tests on a candidate patch, in a scratch copy of the workspace.
//!
//! A copy is made per run of issue-to-patch (the files the `ignore` walker sees, as git would:
//! `.git` and ignored files are left out) under spot's data dir, never in the workspace; a second
//! worker gets a copy of that copy ([`TestRun::fork`]). Each candidate's files are written into
//! a copy, the command runs there (`sh -c`, in its own process group, with a time limit; a
//! cancellation or the limit kills the whole group), and the files are put back. The output is
//! kept (bounded) for the runner-output parser (`testreport`). The command's environment is
//! spot's, minus pagers, with colour off and `PYTHONDONTWRITEBYTECODE=1`.
//!
//! One exception to "a copy of what git would see": a project's dependency directory that git
//! ignores (`node_modules`, `.venv`, `venv` at the top level) is linked into the copy rather
//! than copied (it can hold 100,000 files, and the tests cannot run without it). A test run
//! could write through that link into the workspace's dependency directory (a tool's cache);
//! it never writes the workspace's tracked files.

use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spot_base::cancel::CancelToken;

use crate::edit::FileEdit;

/// How long one test run may take by default.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Most bytes of a run's output kept.
const MAX_OUTPUT: u64 = 4 << 20;
/// Characters of the failing output kept in a one-line reason.
const OUTPUT_TAIL: usize = 300;

/// A scratch copy of a workspace and the command that tests it.
pub struct TestRun {
    dir: tempfile::TempDir,
    cmd: String,
    timeout: Duration,
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Failed, with the end of its output.
    Fail(String),
    TimedOut,
}

/// One run: how it ended and what it printed.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub outcome: Outcome,
    /// stdout and stderr, interleaved as written, at most a few MiB (the end is cut).
    pub output: String,
    /// The exit code; `None` when killed (timeout, cancellation) or ended by a signal.
    pub exit_code: Option<i32>,
    pub seconds: f64,
    /// The run was stopped by the cancel token.
    pub cancelled: bool,
}

impl TestRun {
    /// Copies `root` into a new directory under `scratch` (created if missing).
    pub fn new(root: &Path, scratch: &Path, cmd: &str) -> io::Result<TestRun> {
        std::fs::create_dir_all(scratch)?;
        let dir = tempfile::Builder::new()
            .prefix("patch-tests-")
            .tempdir_in(scratch)?;
        copy_tree(root, dir.path(), true)?;
        Ok(TestRun {
            dir,
            cmd: cmd.to_owned(),
            timeout: TEST_TIMEOUT,
        })
    }

    /// A run in `dir`, already holding the tree to test (a commit written out by the replay of
    /// historical fixes); the directory is removed with the run.
    pub fn in_dir(dir: tempfile::TempDir, cmd: &str) -> TestRun {
        TestRun {
            dir,
            cmd: cmd.to_owned(),
            timeout: TEST_TIMEOUT,
        }
    }

    /// Another copy of this run's tree (as it is now), beside it, for a second worker.
    pub fn fork(&self) -> io::Result<TestRun> {
        let parent = self.dir.path().parent().unwrap_or(self.dir.path());
        let dir = tempfile::Builder::new()
            .prefix("patch-tests-")
            .tempdir_in(parent)?;
        copy_tree(self.dir.path(), dir.path(), false)?;
        Ok(TestRun {
            dir,
            cmd: self.cmd.clone(),
            timeout: self.timeout,
        })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> TestRun {
        self.timeout = timeout;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn command(&self) -> &str {
        &self.cmd
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the command on the copy as it is.
    pub fn baseline(&self) -> io::Result<Outcome> {
        Ok(self.run(&self.cmd, &[], &CancelToken::new())?.outcome)
    }

    /// Runs the command with `edits` applied, then restores the files.
    pub fn with_edits(&self, edits: &[FileEdit]) -> io::Result<Outcome> {
        self.applied(edits, || self.run(&self.cmd, &[], &CancelToken::new()))
            .map(|r| r.outcome)
    }

    /// `f` with `edits` written into the copy; the files are put back afterwards, whatever `f`
    /// returns.
    pub fn applied<T>(
        &self,
        edits: &[FileEdit],
        f: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        let mut written = Vec::new();
        let mut result = Ok(());
        for e in edits {
            let path = self.path(&e.path);
            if let Some(dir) = path.parent() {
                if let Err(err) = std::fs::create_dir_all(dir) {
                    result = Err(err);
                    break;
                }
            }
            match std::fs::write(&path, &e.after) {
                Ok(()) => written.push(e),
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
        }
        let outcome = result.and_then(|()| f());
        for e in written {
            let path = self.path(&e.path);
            let restored = if e.created {
                std::fs::remove_file(&path)
            } else {
                std::fs::write(&path, &e.before)
            };
            if let Err(err) = restored {
                tracing::warn!("could not restore {} in the test copy: {err}", e.path);
            }
        }
        outcome
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `cmd` (`sh -c`) in the copy with `env` added, within the time limit; `cancel` stops
    /// it (the whole process group is killed).
    pub fn run(
        &self,
        cmd: &str,
        env: &[(&str, &str)],
        cancel: &CancelToken,
    ) -> io::Result<RunOutput> {
        self.run_within(cmd, env, self.timeout, cancel)
    }

    /// [`TestRun::run`] within `limit` (or the copy's own limit, when that is shorter).
    pub fn run_within(
        &self,
        cmd: &str,
        env: &[(&str, &str)],
        limit: Duration,
        cancel: &CancelToken,
    ) -> io::Result<RunOutput> {
        let limit = limit.min(self.timeout);
        let parent = self.dir.path().parent().unwrap_or(self.dir.path());
        let out = tempfile::tempfile_in(parent)?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(cmd)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out.try_clone()?)
            .env_remove("PAGER")
            .env_remove("GIT_PAGER")
            .env("NO_COLOR", "1")
            .env("CARGO_TERM_COLOR", "never")
            .env("PY_COLORS", "0")
            .env("FORCE_COLOR", "0")
            .env("CI", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (k, v) in env {
            command.env(k, v);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = command.spawn()?;
        let started = Instant::now();
        let mut killed = None;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if cancel.is_cancelled() {
                killed = Some(true);
            } else if started.elapsed() > limit {
                killed = Some(false);
            }
            if killed.is_some() {
                kill_group(&mut child);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let seconds = started.elapsed().as_secs_f64();
        let mut out = out;
        out.seek(io::SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        out.take(MAX_OUTPUT).read_to_end(&mut bytes)?;
        let output = String::from_utf8_lossy(&bytes).into_owned();
        let (outcome, exit_code) = match status {
            None => (Outcome::TimedOut, None),
            Some(s) if s.success() => (Outcome::Pass, Some(0)),
            Some(s) => (Outcome::Fail(tail(&output)), s.code()),
        };
        Ok(RunOutput {
            outcome,
            output,
            exit_code,
            seconds,
            cancelled: killed == Some(true),
        })
    }
}

/// The end of `text`, for a one-line reason.
pub fn tail(text: &str) -> String {
    let trimmed = text.trim_end();
    let n = trimmed.chars().count();
    trimmed
        .chars()
        .skip(n.saturating_sub(OUTPUT_TAIL))
        .collect()
}

/// Kills the child's whole process group (test runners start their own children).
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group the child leads
            // (it was started with process_group(0)); no memory is involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

/// Copies the tree at `from` into `to`: with `walk_rules`, as the `ignore` walker sees it
/// (hidden files kept, `.git` and ignored files left out); else everything. Symlinks and other
/// special files stay out, so nothing in the copy points outside it.
fn copy_tree(from: &Path, to: &Path, walk_rules: bool) -> io::Result<()> {
    let walker = ignore::WalkBuilder::new(from)
        .hidden(false)
        .git_ignore(walk_rules)
        .git_global(walk_rules)
        .git_exclude(walk_rules)
        .ignore(walk_rules)
        .parents(walk_rules)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for entry in walker.flatten() {
        let Ok(rel) = entry.path().strip_prefix(from) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = to.join(rel);
        match entry.file_type() {
            Some(t) if t.is_dir() => std::fs::create_dir_all(&dest)?,
            Some(t) if t.is_file() => {
                std::fs::copy(entry.path(), &dest)?;
            }
            _ => {} // symlinks and the rest stay out
        }
    }
    if walk_rules {
        for name in DEPENDENCY_DIRS {
            let (src, dest) = (from.join(name), to.join(name));
            let real_dir = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
            if real_dir && !dest.exists() {
                link_dir(&src, &dest)?;
            }
        }
    } else {
        // A fork copies a copy: keep its links to the dependency directories.
        for name in DEPENDENCY_DIRS {
            let (src, dest) = (from.join(name), to.join(name));
            if let Ok(target) = std::fs::read_link(&src) {
                if !dest.exists() {
                    link_dir(&target, &dest)?;
                }
            }
        }
    }
    Ok(())
}

/// Top-level dependency directories linked (not copied) into a test copy when git ignores them.
const DEPENDENCY_DIRS: &[&str] = &["node_modules", ".venv", "venv"];

fn link_dir(target: &Path, link: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, link)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::symlink_dir(target, link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_workspace_runs_on_edits_and_restores() {
        let ws = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("value.txt"), "1\n").unwrap();
        std::fs::write(ws.path().join(".gitignore"), "ignored.txt\n").unwrap();
        std::fs::write(ws.path().join("ignored.txt"), "x").unwrap();
        std::fs::create_dir_all(ws.path().join(".git")).unwrap();
        std::fs::write(ws.path().join(".git/HEAD"), "ref").unwrap();
        let run = TestRun::new(ws.path(), scratch.path(), "grep -qx 1 value.txt").unwrap();
        assert!(run.dir().starts_with(scratch.path()));
        assert!(!run.dir().join("ignored.txt").exists());
        assert!(!run.dir().join(".git").exists());
        assert_eq!(run.baseline().unwrap(), Outcome::Pass);
        let edit = FileEdit {
            path: "value.txt".into(),
            before: "1\n".into(),
            after: "2\n".into(),
            created: false,
        };
        assert!(matches!(
            run.with_edits(std::slice::from_ref(&edit)).unwrap(),
            Outcome::Fail(_)
        ));
        assert_eq!(
            std::fs::read_to_string(run.dir().join("value.txt")).unwrap(),
            "1\n"
        );
        assert_eq!(
            std::fs::read_to_string(ws.path().join("value.txt")).unwrap(),
            "1\n",
            "the workspace is never touched"
        );
        // A created file is removed again; a fork is an independent copy.
        let new = FileEdit {
            path: "new/t.txt".into(),
            before: String::new(),
            after: "x\n".into(),
            created: true,
        };
        let seen = run
            .applied(std::slice::from_ref(&new), || {
                Ok(run.dir().join("new/t.txt").exists())
            })
            .unwrap();
        assert!(seen);
        assert!(!run.dir().join("new/t.txt").exists());
        let fork = run.fork().unwrap();
        assert_ne!(fork.dir(), run.dir());
        assert_eq!(fork.baseline().unwrap(), Outcome::Pass);
    }

    /// A run given a shorter limit than its copy's (the coverage run's share of the budget)
    /// stops at that limit.
    #[test]
    fn run_within_stops_at_the_shorter_limit() {
        let ws = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        // The copy's own limit (TEST_TIMEOUT) would let `sleep 30` pass.
        let run = TestRun::new(ws.path(), scratch.path(), "true").unwrap();
        assert!(run.timeout() > Duration::from_secs(30));
        let out = run
            .run_within(
                "sleep 30",
                &[],
                Duration::from_millis(300),
                &CancelToken::new(),
            )
            .unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut);
    }

    #[test]
    fn a_run_is_killed_on_cancel_and_on_its_time_limit_with_its_children() {
        let ws = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let run = TestRun::new(ws.path(), scratch.path(), "true")
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        // A child that would outlive its shell: it must die with the group.
        let out = run
            .run("sleep 30 & sleep 30; echo done", &[], &CancelToken::new())
            .unwrap();
        assert_eq!(out.outcome, Outcome::TimedOut);
        assert!(!out.cancelled);
        let cancel = CancelToken::new();
        cancel.cancel();
        let out = run.run("sleep 30", &[], &cancel).unwrap();
        assert!(out.cancelled);
        let out = run
            .run(
                "echo hello; echo oops >&2; exit 3",
                &[],
                &CancelToken::new(),
            )
            .unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert!(out.output.contains("hello") && out.output.contains("oops"));
    }
}
