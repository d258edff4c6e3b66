//! Running the server under `strace -f -ff -y` and reading back what it did: network syscalls
//! (privacy) and file syscalls that write (filesystem safety). One trace file per thread/process
//! (`-ff`), so no line is split into `<unfinished …>`/`resumed` halves.
//!
//! Leaves out judging: the tests decide which calls are allowed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::session::Launch;

/// The apt line that makes the privacy tests run (also in the suite's report).
pub const INSTALL: &str = "apt-get install -y strace util-linux";

/// Set to run without strace/unshare: the tests then record a loud SKIPPED row instead of
/// failing.
pub const ALLOW_MISSING: &str = "SPOT_HARDENING_ALLOW_NO_STRACE";

/// Is strace installed, and may it trace here (ptrace allowed)?
pub fn strace_works() -> bool {
    Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=none", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `launch` wrapped in strace, writing `<prefix>.<tid>` files for `syscalls`.
pub fn under_strace(launch: &Launch, prefix: &Path, syscalls: &str) -> Launch {
    let mut traced = launch.clone();
    let mut wrapper: Vec<OsString> = ["strace", "-f", "-ff", "-y", "-qq", "-s", "256", "-e"]
        .iter()
        .map(OsString::from)
        .collect();
    wrapper.push(format!("trace={syscalls}").into());
    wrapper.push("-o".into());
    wrapper.push(prefix.as_os_str().to_owned());
    traced.wrapper = wrapper;
    traced
}

/// One traced call: `name(args) = ret`.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: String,
    pub args: String,
    pub ret: String,
    pub line: String,
}

/// All calls in the trace files `<prefix>.*`.
pub fn read_calls(prefix: &Path) -> Vec<Call> {
    read_calls_by_task(prefix)
        .into_iter()
        .flat_map(|(_, calls)| calls)
        .collect()
}

/// The calls of each traced task (one `<prefix>.<tid>` file per thread or process, as
/// `strace -ff` writes them), in file name order.
pub fn read_calls_by_task(prefix: &Path) -> Vec<(PathBuf, Vec<Call>)> {
    let dir = prefix.parent().expect("prefix has a directory");
    let stem = prefix
        .file_name()
        .and_then(|n| n.to_str())
        .expect("prefix is a file name")
        .to_owned();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("trace dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{stem}.")))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let calls = text.lines().filter_map(parse).collect();
            (f, calls)
        })
        .collect()
}

fn parse(line: &str) -> Option<Call> {
    let open = line.find('(')?;
    let name = line[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None; // signals, exits (`+++ exited with 0 +++`)
    }
    let close = line.rfind(") = ").or_else(|| line.rfind(')'))?;
    let args = line.get(open + 1..close)?.to_owned();
    let ret = line.get(close + 4..).unwrap_or_default().to_owned();
    Some(Call {
        name: name.to_owned(),
        args,
        ret,
        line: line.to_owned(),
    })
}

/// Quoted strings in the arguments (paths), unescaped just enough for plain paths.
pub fn quoted(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        out.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    out
}

/// Directory decorations `N</path>` in the arguments, in order (dirfds under `-y`).
pub fn fd_paths(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        out.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    out
}

/// The paths a file syscall writes, created, removes or renames, resolved to absolute paths;
/// empty for calls that only read.
pub fn written_paths(call: &Call) -> Vec<PathBuf> {
    let strings = quoted(&call.args);
    let dirs = fd_paths(&call.args);
    let resolve = |rel: &str, dir: Option<&String>| -> PathBuf {
        let p = Path::new(rel);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.map_or_else(|| p.to_path_buf(), |d| Path::new(d).join(p))
        }
    };
    match call.name.as_str() {
        "open" | "openat" | "openat2" | "creat" => {
            let writes = call.name == "creat"
                || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                    .iter()
                    .any(|f| call.args.contains(f));
            if !writes {
                return Vec::new();
            }
            // A successful open shows the file it opened: `= 3</path>`.
            if let Some(p) = fd_paths(&call.ret).first() {
                return vec![PathBuf::from(p)];
            }
            let dir = if call.name == "openat" || call.name == "openat2" {
                dirs.first()
            } else {
                None
            };
            strings
                .first()
                .map(|s| vec![resolve(s, dir)])
                .unwrap_or_default()
        }
        "mkdir" | "rmdir" | "unlink" | "truncate" | "chmod" | "chown" | "lchown" => strings
            .first()
            .map(|s| vec![resolve(s, None)])
            .unwrap_or_default(),
        "mkdirat" | "unlinkat" | "fchmodat" | "fchownat" | "utimensat" => {
            if call.name == "utimensat" && strings.is_empty() {
                return dirs
                    .first()
                    .map(|d| vec![PathBuf::from(d)])
                    .unwrap_or_default();
            }
            strings
                .first()
                .map(|s| vec![resolve(s, dirs.first())])
                .unwrap_or_default()
        }
        "rename" | "link" | "symlink" => strings.iter().map(|s| resolve(s, None)).collect(),
        "renameat" | "renameat2" | "linkat" => {
            // renameat(olddirfd, "old", newdirfd, "new")
            strings
                .iter()
                .enumerate()
                .map(|(i, s)| resolve(s, dirs.get(i)))
                .collect()
        }
        "symlinkat" => strings
            .get(1)
            .map(|s| vec![resolve(s, dirs.first())])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
