//! Running the project's own tests on a candidate patch, in a scratch copy of the workspace.
//!
//! The copy is made once per run (the files the `ignore` walker sees, as git would: `.git` and
//! ignored files are left out) under spot's data dir, never in the workspace; each candidate's
//! files are written into it, the command runs there (`sh -c`, with a time limit), and the files
//! are put back. The tests must pass on the unpatched copy first, or the gate is off: a test that
//! already fails says nothing about a patch.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::edit::FileEdit;

/// How long one test run may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Characters of the failing output kept in a rejection reason.
const OUTPUT_TAIL: usize = 300;

/// A scratch copy of a workspace and the command that tests it.
pub struct TestRun {
    dir: tempfile::TempDir,
    cmd: String,
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Failed, with the end of its output.
    Fail(String),
    TimedOut,
}

impl TestRun {
    /// Copies `root` into a new directory under `scratch` (created if missing).
    pub fn new(root: &Path, scratch: &Path, cmd: &str) -> io::Result<TestRun> {
        std::fs::create_dir_all(scratch)?;
        let dir = tempfile::Builder::new()
            .prefix("patch-tests-")
            .tempdir_in(scratch)?;
        for entry in ignore::WalkBuilder::new(root)
            .hidden(false)
            .filter_entry(|e| e.file_name() != ".git")
            .build()
            .flatten()
        {
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let to = dir.path().join(rel);
            match entry.file_type() {
                Some(t) if t.is_dir() => std::fs::create_dir_all(&to)?,
                Some(t) if t.is_file() => {
                    std::fs::copy(entry.path(), &to)?;
                }
                _ => {} // symlinks and the rest stay out
            }
        }
        Ok(TestRun {
            dir,
            cmd: cmd.to_owned(),
        })
    }

    /// A run in `dir`, already holding the tree to test (a commit written out by the replay of
    /// historical fixes); the directory is removed with the run.
    pub fn in_dir(dir: tempfile::TempDir, cmd: &str) -> TestRun {
        TestRun {
            dir,
            cmd: cmd.to_owned(),
        }
    }

    pub fn command(&self) -> &str {
        &self.cmd
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the command on the copy as it is.
    pub fn baseline(&self) -> io::Result<Outcome> {
        self.run()
    }

    /// Runs the command with `edits` applied, then restores the files.
    pub fn with_edits(&self, edits: &[FileEdit]) -> io::Result<Outcome> {
        for e in edits {
            std::fs::write(self.path(&e.path), &e.after)?;
        }
        let outcome = self.run();
        for e in edits {
            std::fs::write(self.path(&e.path), &e.before)?;
        }
        outcome
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self) -> io::Result<Outcome> {
        let out = tempfile::tempfile_in(self.dir.path().parent().unwrap_or(self.dir.path()))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.cmd)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out.try_clone()?)
            .spawn()?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > TEST_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Outcome::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.success() {
            return Ok(Outcome::Pass);
        }
        use std::io::{Read, Seek};
        let mut out = out;
        out.seek(io::SeekFrom::Start(0))?;
        let mut text = String::new();
        out.take(1 << 20).read_to_string(&mut text).ok();
        let tail: String = {
            let trimmed = text.trim_end();
            let chars: Vec<char> = trimmed.chars().collect();
            chars[chars.len().saturating_sub(OUTPUT_TAIL)..]
                .iter()
                .collect()
        };
        Ok(Outcome::Fail(tail))
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
    }
}
