//! Reading a repository's history with the `git` command: commits, trees and blobs at any
//! commit, diffs. Read-only: never touches the work tree or the index of the repository.
//!
//! The only place spot runs git; `learn/` is the only module that spawns processes.
//!
//! The repository is untrusted: its `.git/config` can name programs that git would run
//! (`core.fsmonitor`, `diff.external`, `diff.<driver>.textconv`, `filter.<driver>.smudge`,
//! `gpg.program` with `log.showSignature`, `core.pager`, hooks). Every invocation goes through
//! [`git_command`], which overrides each of those on the command line (`-c`, which wins over
//! the repository's config) and passes `--no-ext-diff --no-textconv` to the commands that diff;
//! spot never asks git for a work tree, filters or a pager, and reads trees and blobs as raw
//! objects (`ls-tree`, `cat-file --batch`) rather than through `git archive`, which runs
//! smudge filters.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git in {repo}: {source}")]
    Spawn {
        repo: PathBuf,
        source: std::io::Error,
    },
    #[error("git {args} failed in {repo}: {stderr}")]
    Failed {
        repo: PathBuf,
        args: String,
        stderr: String,
    },
    #[error("unexpected output from git cat-file in {repo}")]
    Protocol { repo: PathBuf },
}

/// Configuration that git would act on by running a program, each turned off on the command
/// line (a `-c` wins over every config file). Hooks run only on commands spot never uses
/// (commit, checkout, merge, push), and are pointed nowhere all the same.
const SAFE_CONFIG: &[&str] = &[
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.editor=true",
    "core.askPass=",
    "core.sshCommand=false",
    "credential.helper=",
    "diff.external=",
    "log.showSignature=false",
    "gpg.program=false",
    "gpg.ssh.program=false",
    "gpg.x509.program=false",
    "protocol.allow=never",
    "core.untrackedCache=false",
];

/// Environment variables that would redirect git or make it run something, removed from the
/// child's environment (spot may itself run from a git hook or an editor's terminal).
const UNSAFE_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_EXTERNAL_DIFF",
    "GIT_PAGER",
    "GIT_EDITOR",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
];

/// `git -C root` with the repository's program-running configuration turned off, no prompts,
/// no pager and no optional locks (spot only reads). Every git that spot runs starts here.
pub fn git_command(root: &Path) -> Command {
    let mut cmd = Command::new("git");
    for var in UNSAFE_ENV {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_PAGER", "cat")
        .arg("--no-pager");
    for kv in SAFE_CONFIG {
        cmd.arg("-c").arg(kv);
    }
    cmd.arg("-C").arg(root);
    cmd
}

/// A commit of the history.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: String,
    pub parents: Vec<String>,
    /// Subject and body.
    pub message: String,
    /// Paths the commit touched (relative to the repository root).
    pub files: Vec<String>,
}

/// A repository on disk.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    pub fn new(root: &Path) -> Repo {
        Repo {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn git(&self, args: &[&str]) -> Result<String, GitError> {
        let out = git_command(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| GitError::Spawn {
                repo: self.root.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(GitError::Failed {
                repo: self.root.clone(),
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Non-merge commits reachable from HEAD, newest first, at most `limit`.
    pub fn log(&self, limit: usize) -> Result<Vec<Commit>, GitError> {
        self.log_from("HEAD", limit)
    }

    /// Non-merge commits reachable from `rev`, newest first, at most `limit`.
    pub fn log_from(&self, rev: &str, limit: usize) -> Result<Vec<Commit>, GitError> {
        let n = format!("-n{limit}");
        let out = self.git(&[
            "log",
            "--no-ext-diff",
            "--no-textconv",
            "--no-show-signature",
            "--no-merges",
            "--no-renames",
            &n,
            "--format=%x1e%H%x1f%P%x1f%B%x1f",
            "--name-only",
            rev,
            "--",
        ])?;
        let mut commits = Vec::new();
        for record in out.split('\u{1e}').filter(|r| !r.trim().is_empty()) {
            let mut fields = record.split('\u{1f}');
            let (Some(id), Some(parents), Some(message), Some(files)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            commits.push(Commit {
                id: id.trim().to_owned(),
                parents: parents.split_whitespace().map(str::to_owned).collect(),
                message: message.trim().to_owned(),
                files: files
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            });
        }
        Ok(commits)
    }

    /// The commit HEAD points at.
    pub fn head(&self) -> Result<String, GitError> {
        Ok(self
            .git(&["rev-parse", "--verify", "-q", "HEAD"])?
            .trim()
            .to_owned())
    }

    /// Commits reachable from HEAD but not from `since` (all of HEAD's history when `None`).
    pub fn count_since(&self, since: Option<&str>) -> Result<usize, GitError> {
        let range = match since {
            Some(c) => format!("{c}..HEAD"),
            None => "HEAD".to_owned(),
        };
        let out = self.git(&["rev-list", "--count", &range])?;
        Ok(out.trim().parse().unwrap_or(0))
    }

    /// Ids of the commits reachable from `rev` (itself included), newest first.
    pub fn rev_list(&self, rev: &str) -> Result<Vec<String>, GitError> {
        let out = self.git(&["rev-list", rev, "--"])?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// Paths of the files in the tree of `commit`.
    pub fn ls_tree(&self, commit: &str) -> Result<Vec<String>, GitError> {
        let out = self.git(&["ls-tree", "-r", "--name-only", "-z", commit])?;
        Ok(out
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// The blobs of the tree of `commit`: (path, executable), symlinks and submodules left out.
    pub fn ls_tree_blobs(&self, commit: &str) -> Result<Vec<(String, bool)>, GitError> {
        let out = self.git(&["ls-tree", "-r", "-z", commit])?;
        Ok(out
            .split('\0')
            .filter_map(|entry| {
                // `<mode> SP <type> SP <object> TAB <path>`
                let (meta, path) = entry.split_once('\t')?;
                let mut meta = meta.split(' ');
                let (mode, kind) = (meta.next()?, meta.next()?);
                (kind == "blob" && mode != "120000").then(|| (path.to_owned(), mode == "100755"))
            })
            .collect())
    }

    /// Files changed between two commits: (path, exists in `to`).
    pub fn changed(&self, from: &str, to: &str) -> Result<Vec<(String, bool)>, GitError> {
        let out = self.git(&[
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--name-status",
            "-z",
            from,
            to,
        ])?;
        let mut parts = out.split('\0').filter(|p| !p.is_empty());
        let mut changed = Vec::new();
        while let (Some(status), Some(path)) = (parts.next(), parts.next()) {
            changed.push((path.to_owned(), !status.starts_with('D')));
        }
        Ok(changed)
    }

    /// Old-side line ranges (1-based, inclusive) that `commit` changed in `path`, relative to
    /// `parent`. Pure insertions count as the line they follow.
    pub fn changed_lines(
        &self,
        parent: &str,
        commit: &str,
        path: &str,
    ) -> Result<Vec<(u32, u32)>, GitError> {
        let out = self.git(&[
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "-U0",
            "--no-color",
            parent,
            commit,
            "--",
            path,
        ])?;
        let mut ranges = Vec::new();
        for line in out.lines().filter(|l| l.starts_with("@@ -")) {
            let old = line
                .trim_start_matches("@@ -")
                .split(' ')
                .next()
                .unwrap_or("");
            let mut it = old.split(',');
            let start: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let len: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(1);
            ranges.push((start.max(1), (start + len.max(1) - 1).max(1)));
        }
        Ok(ranges)
    }

    /// A reader of blob contents (`git cat-file --batch`), for many files at one commit.
    pub fn blobs(&self) -> Result<BlobReader, GitError> {
        let mut child = git_command(&self.root)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| GitError::Spawn {
                repo: self.root.clone(),
                source,
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(GitError::Protocol {
                repo: self.root.clone(),
            });
        };
        Ok(BlobReader {
            repo: self.root.clone(),
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }
}

/// A running `git cat-file --batch`.
pub struct BlobReader {
    repo: PathBuf,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl BlobReader {
    /// Contents of `path` at `commit`, `None` when it does not exist there.
    pub fn read(&mut self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let protocol = || GitError::Protocol {
            repo: self.repo.clone(),
        };
        writeln!(self.stdin, "{commit}:{path}").map_err(|_| protocol())?;
        self.stdin.flush().map_err(|_| protocol())?;
        let mut header = String::new();
        self.stdout.read_line(&mut header).map_err(|_| protocol())?;
        if header.trim_end().ends_with("missing") {
            return Ok(None);
        }
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(protocol)?;
        let mut buf = vec![0; size + 1]; // contents and a newline
        self.stdout.read_exact(&mut buf).map_err(|_| protocol())?;
        buf.pop();
        Ok(Some(buf))
    }
}

impl Drop for BlobReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
