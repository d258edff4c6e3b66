//! Stack frames in free text: Python tracebacks (every chained part) and pytest's frame lines,
//! Rust panic locations and backtraces, Go goroutine dumps, JS/TS stack lines (node, jest,
//! vitest, tsx) — and which of them point into the workspace.
//!
//! Pure text: no IO. The text is untrusted (an issue's pasted traceback, a test run's output):
//! one linear pass over its lines, a bound on the frames kept ([`MAX_FRAMES`]), no panics.
//! Lines may carry markdown quote prefixes (`> `); fences and inline backticks are ignored by
//! construction (a frame is recognised by its own shape, wherever the line starts).
//!
//! Frames come in text order. Python and pytest print the innermost call **last**; Rust, Go and
//! JS print it **first**: [`FrameKind::innermost_first`] says which, and [`innermost_last`] puts
//! a mixed list into one order.

use std::path::Path;

/// At most this many frames are taken from one text.
pub const MAX_FRAMES: usize = 256;

/// One stack frame or panic location, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// As printed: absolute, relative, `<stdin>`, `node:internal/...` (a `file://` URL is
    /// turned into its path).
    pub path: String,
    pub line: u32,
    pub column: Option<u32>,
    pub function: Option<String>,
    pub kind: FrameKind,
}

/// Which printed form a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `File "x.py", line 3, in f` (most recent call last).
    Python,
    /// pytest's `x.py:3: in f`, `x.py:3: ValueError`, `x.py:3: ` (most recent call last).
    Pytest,
    /// `panicked at src/x.rs:3:5:` — where a Rust panic happened, printed before its backtrace.
    RustPanic,
    /// A Rust backtrace's `at ./src/x.rs:3:5` (most recent first).
    Rust,
    /// A goroutine frame `\t/abs/x.go:12 +0x1d` (most recent first).
    Go,
    /// `at f (/abs/x.js:3:9)`, `at /abs/x.js:3:9`, vitest's `❯ f src/x.ts:3:9`, and node's
    /// `/abs/x.js:7` header over an uncaught error (most recent first).
    Js,
}

impl FrameKind {
    /// Whether this form prints the innermost call first (Rust, Go, JS).
    pub fn innermost_first(self) -> bool {
        !matches!(self, FrameKind::Python | FrameKind::Pytest)
    }
}

/// A frame inside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceFrame {
    /// Workspace-relative, '/'-separated.
    pub path: String,
    pub line: u32,
    pub function: Option<String>,
}

/// Every stack frame or panic location recognizable in `text`, in text order, at most
/// [`MAX_FRAMES`]: Python tracebacks (all chained parts, `File "<stdin>"` and
/// `<frozen ...>` included as printed), pytest's `path.py:12: in f` / `path.py:12: Error` lines,
/// Rust `panicked at src/x.rs:3:5` (old `panicked at 'msg', src/x.rs:3:5` too) and backtrace
/// `at ./src/x.rs:3:5` lines, Go goroutine frames (`/abs/x.go:12 +0x1d`), JS/TS stack lines
/// (`at fn (/abs/x.js:3:9)`, `at /abs/x.js:3:9`, `at file:///abs/x.mjs:3:9`,
/// `at node:internal/...`; `(<anonymous>)` and `(native)` are no place and are skipped),
/// vitest's `❯ fn src/x.ts:3:9`, and node's `/abs/x.js:7` line above an uncaught error.
pub fn frames(text: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut prev = "";
    for raw in text.lines() {
        if out.len() >= MAX_FRAMES {
            break;
        }
        let line = unquote(raw);
        if let Some(frame) = frame_of(line, prev) {
            out.push(frame);
        }
        if !line.trim().is_empty() {
            prev = line;
        }
    }
    out
}

/// `frames` with each run of innermost-first frames (Rust, Go, JS) reversed, so that the
/// innermost call of each trace comes last, as Python prints it. A Rust panic location followed
/// by its backtrace, or node's header followed by its stack, is one run.
pub fn innermost_last(frames: &[Frame]) -> Vec<Frame> {
    let mut out = Vec::with_capacity(frames.len());
    let mut run: Vec<Frame> = Vec::new();
    for frame in frames {
        if frame.kind.innermost_first() {
            run.push(frame.clone());
        } else {
            out.extend(run.drain(..).rev());
            out.push(frame.clone());
        }
    }
    out.extend(run.drain(..).rev());
    out
}

/// The frames that point into the workspace, in the order given.
///
/// A frame is kept when its path, made absolute-or-relative '/'-separated (`\` and `file://`
/// undone, `.` and `..` folded), lies under one of `roots` (the workspace root, and for test
/// output the directory the tests ran in), or when `resolve` accepts a tail of it: `resolve`
/// gets a '/'-separated relative path (`shop/pricing.py`, a Go base name `pricing_test.go`) and
/// returns the workspace-relative path of the one file it names, exactly or as the unique file
/// ending with it. Tails are tried longest first, so `/home/alice/proj/shop/pricing.py` from
/// another machine finds `shop/pricing.py`. (`resolve` returns the path rather than a yes/no
/// because a base name, as Go prints it, is not yet a workspace path.)
///
/// Dropped: frames that are no file (`<stdin>`, `<frozen ...>`, `node:...`), and library frames
/// ([`is_library`]: the standard libraries, site-packages, node_modules, ~/.cargo/registry,
/// /rustc/…, GOROOT) even inside a root (a `.venv` or `node_modules` in the workspace).
pub fn in_workspace(
    frames: &[Frame],
    roots: &[&Path],
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Vec<WorkspaceFrame> {
    let roots: Vec<String> = roots
        .iter()
        .map(|r| normalize(&r.to_string_lossy()))
        .filter(|r| !r.is_empty())
        .collect();
    let mut out = Vec::new();
    for frame in frames {
        if !is_file_path(&frame.path) {
            continue;
        }
        let path = normalize(&frame.path);
        if path.is_empty() {
            continue;
        }
        let under_root = roots.iter().find_map(|root| strip_root(&path, root));
        let rel = match under_root {
            Some(rel) => {
                if is_library(rel) {
                    continue;
                }
                Some(rel.to_owned())
            }
            None if is_library(&path) => continue,
            None => tails(&path).find_map(resolve),
        };
        if let Some(rel) = rel {
            out.push(WorkspaceFrame {
                path: rel,
                line: frame.line,
                function: frame.function.clone(),
            });
        }
    }
    out
}

/// Whether a path (as printed, absolute or relative) is a library's rather than the project's:
/// Python's standard library (`lib/pythonX.Y/`, `Lib/` under a Python install), site- and
/// dist-packages, node_modules, node's own modules (`node:...`, `internal/...`), cargo's
/// registry and git checkouts, the Rust standard library (`/rustc/<hash>/`, `rustlib/src`),
/// GOROOT (`go/src/<std package>`, `go-1.19/src/...`, `libexec/src/...`) and Go's module cache
/// (`pkg/mod/`). Not a file at all (`<stdin>`) counts as library too.
pub fn is_library(path: &str) -> bool {
    if !is_file_path(path) {
        return true;
    }
    let path = normalize(path);
    let parts: Vec<&str> = path.split('/').collect();
    if path.starts_with("internal/") || path.starts_with("rustc/") || path.starts_with("/rustc/") {
        return true;
    }
    for (i, part) in parts.iter().enumerate() {
        let next = parts.get(i + 1).copied().unwrap_or("");
        let after = parts.get(i + 2).copied().unwrap_or("");
        match *part {
            "site-packages" | "dist-packages" | "node_modules" | "rustlib" => return true,
            ".cargo" if next == "registry" || next == "git" => return true,
            "pkg" if next == "mod" => return true,
            _ => {}
        }
        // Python: lib/python3.11/..., Lib/ under a Python install (Windows).
        if (*part == "lib" || *part == "lib64") && is_python_dir(next) && !after.is_empty() {
            return true;
        }
        if *part == "Lib" && i > 0 {
            let before = parts.get(i - 1).copied().unwrap_or("");
            if before.to_ascii_lowercase().starts_with("python") {
                return true;
            }
        }
        // GOROOT: <go dir>/src/<std package> (a package path without a dot, unlike GOPATH's
        // src/github.com/...).
        if is_go_root_dir(part) && next == "src" && !after.is_empty() && !after.contains('.') {
            return true;
        }
    }
    false
}

/// `<stdin>`, `<frozen ...>`, `<anonymous>`, `node:fs`: places that are no file.
fn is_file_path(path: &str) -> bool {
    !(path.is_empty() || path.starts_with('<') || path.starts_with("node:"))
}

fn is_python_dir(part: &str) -> bool {
    part.strip_prefix("python")
        .is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

fn is_go_root_dir(part: &str) -> bool {
    part == "go"
        || part == "golang"
        || part == "libexec"
        || part.strip_prefix("go-").is_some_and(starts_with_digit)
        || part.strip_prefix("go").is_some_and(starts_with_digit)
}

fn starts_with_digit(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// '/'-separated, `file://` undone (with `%XX` decoded), `.` dropped and `..` folded.
pub(crate) fn normalize(path: &str) -> String {
    let path = path.trim();
    let decoded;
    let path = match path.strip_prefix("file://") {
        Some(rest) => {
            decoded = percent_decode(rest);
            // file:///C:/x → C:/x
            match decoded.strip_prefix('/') {
                Some(r) if has_drive(r) => r,
                _ => decoded.as_str(),
            }
        }
        None => path,
    };
    let path = path.replace('\\', "/");
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

fn has_drive(path: &str) -> bool {
    let mut chars = path.chars();
    matches!((chars.next(), chars.next()), (Some(c), Some(':')) if c.is_ascii_alphabetic())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` relative to `root` when under it (both normalized).
fn strip_root<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?.strip_prefix('/')?;
    (!rest.is_empty()).then_some(rest)
}

/// The tails of a normalized path, longest first: `a/b/c`, `b/c`, `c` (a leading `/`, drive
/// or `..` is never part of one).
fn tails(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.trim_start_matches('/');
    let start = if has_drive(trimmed) {
        trimmed.find('/').map_or(trimmed.len(), |i| i + 1)
    } else {
        0
    };
    let body = trimmed.get(start..).unwrap_or("");
    let mut next = Some(body);
    std::iter::from_fn(move || loop {
        let current = next?;
        next = current.split_once('/').map(|(_, rest)| rest);
        if current.is_empty() || current.starts_with("../") || current == ".." {
            continue;
        }
        return Some(current);
    })
}

/// The line without markdown quote markers (`> `, `>> `) in front.
fn unquote(line: &str) -> &str {
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        match trimmed.strip_prefix('>') {
            // pytest marks the failing source line with `>` followed by spaces; that is never a
            // frame, so dropping the marker is harmless.
            Some(after) => rest = after,
            None => return rest,
        }
    }
}

/// The frame on `line`, if it is one; `prev` is the last non-blank line before it (Go and Rust
/// print the function there).
fn frame_of(line: &str, prev: &str) -> Option<Frame> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    if let Some(f) = python_frame(trimmed) {
        return Some(f);
    }
    if let Some(f) = rust_panic(trimmed) {
        return Some(f);
    }
    if let Some(rest) = trimmed.strip_prefix("at ") {
        return rust_backtrace(rest, prev).or_else(|| js_at(rest));
    }
    if let Some(rest) = trimmed.strip_prefix('❯') {
        return vitest_frame(rest.trim());
    }
    pytest_frame(trimmed)
        .or_else(|| go_frame(trimmed, prev))
        .or_else(|| js_header(trimmed))
}

/// `File "<path>", line N[, in <func>]` anywhere on the line.
fn python_frame(line: &str) -> Option<Frame> {
    let (_, rest) = line.split_once("File \"")?;
    let (path, rest) = rest.split_once("\", line ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let number = digits.parse().ok()?;
    let rest = rest.get(digits.len()..).unwrap_or("");
    // A function is one token (`f`, `<module>`); inline code in an issue may close after it.
    let function = rest
        .strip_prefix(", in ")
        .and_then(|f| f.split_whitespace().next())
        .map(|f| f.trim_end_matches('`').to_owned())
        .filter(|f| !f.is_empty());
    if path.is_empty() {
        return None;
    }
    Some(Frame {
        path: path.to_owned(),
        line: number,
        column: None,
        function,
        kind: FrameKind::Python,
    })
}

/// pytest: `<path>.py:<N>: in <func>`, `<path>.py:<N>: <ExceptionName>`, `<path>.py:<N>:` (an
/// intermediate frame), `<frozen x>:<N>: in <func>`.
fn pytest_frame(line: &str) -> Option<Frame> {
    let (path, rest) = if line.starts_with('<') {
        let end = line.find(">:")?;
        (line.get(..=end)?, line.get(end + 2..)?)
    } else {
        let end = line.find(".py:")?;
        (line.get(..end + 3)?, line.get(end + 4..)?)
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let number = digits.parse().ok()?;
    let rest = rest.get(digits.len()..)?.strip_prefix(':')?;
    let rest = rest.trim();
    let function = if rest.is_empty() {
        None
    } else if let Some(func) = rest.strip_prefix("in ") {
        if func.contains(char::is_whitespace) || func.is_empty() {
            return None;
        }
        Some(func.to_owned())
    } else if is_exception_name(rest) {
        None
    } else {
        return None;
    };
    Some(Frame {
        path: path.trim().to_owned(),
        line: number,
        column: None,
        function,
        kind: FrameKind::Pytest,
    })
}

/// `ValueError`, `json.decoder.JSONDecodeError`: dotted identifiers, the last capitalised.
pub(crate) fn is_exception_name(text: &str) -> bool {
    let last = text.rsplit('.').next().unwrap_or("");
    !text.is_empty()
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
        && last.chars().next().is_some_and(|c| c.is_uppercase())
}

/// `thread 'x' panicked at src/lib.rs:67:9:` (Rust 1.73+) or
/// `thread 'x' panicked at 'msg', src/lib.rs:67:9` (older).
fn rust_panic(line: &str) -> Option<Frame> {
    let (_, rest) = line.split_once("panicked at ")?;
    let place = if rest.starts_with('\'') {
        rest.rsplit_once("', ")?.1
    } else {
        rest
    };
    let place = place.trim().trim_end_matches(':');
    let (path, number, column) = split_location(place)?;
    if !path.ends_with(".rs") {
        return None;
    }
    Some(Frame {
        path: path.to_owned(),
        line: number,
        column,
        function: None,
        kind: FrameKind::RustPanic,
    })
}

/// A backtrace's `at ./src/main.rs:5:56`, the function on the line before
/// (`   4: shop::parse_line`, or `4: 0x55d1 - shop::parse_line::h0123456789abcdef`).
fn rust_backtrace(rest: &str, prev: &str) -> Option<Frame> {
    let (path, number, column) = split_location(rest.trim())?;
    if !path.ends_with(".rs") {
        return None;
    }
    let function = prev.trim().split_once(": ").and_then(|(n, f)| {
        n.chars().all(|c| c.is_ascii_digit()).then(|| {
            let f = f.rsplit_once(" - ").map_or(f, |(_, f)| f);
            strip_rust_hash(f.trim()).to_owned()
        })
    });
    Some(Frame {
        path: path.to_owned(),
        line: number,
        column,
        function,
        kind: FrameKind::Rust,
    })
}

/// `shop::main::h0123456789abcdef` → `shop::main`.
fn strip_rust_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// Go: `/abs/path/x.go:12 +0x1d` or `/abs/x.go:42` (inlined); the function is on the line
/// before (`example.com/shop/pricing.MaxPrice(...)`, `created by testing.(*T).Run`).
fn go_frame(line: &str, prev: &str) -> Option<Frame> {
    let place = match line.rsplit_once(" +0x") {
        Some((place, offset)) if offset.chars().all(|c| c.is_ascii_hexdigit()) => place,
        Some(_) => return None,
        None => line,
    };
    let (path, digits) = place.rsplit_once(':')?;
    if !path.ends_with(".go") || digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    Some(Frame {
        path: path.trim().to_owned(),
        line: number,
        column: None,
        function: go_function(prev.trim()),
        kind: FrameKind::Go,
    })
}

/// `pkg.F(0xc0000944e0?)` → `pkg.F`; `created by testing.(*T).Run in goroutine 7` →
/// `testing.(*T).Run`.
fn go_function(line: &str) -> Option<String> {
    if line.is_empty() || line.contains(".go:") {
        return None;
    }
    let line = line.strip_prefix("created by ").unwrap_or(line);
    let line = match line.rsplit_once(" in goroutine ") {
        Some((head, n)) if n.chars().all(|c| c.is_ascii_digit()) => head,
        _ => line,
    };
    let name = if line.ends_with(')') {
        // Drop the argument list: the last balanced (...) group.
        let mut depth = 0usize;
        let mut cut = None;
        for (i, c) in line.char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        cut = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        line.get(..cut?)?
    } else {
        line
    };
    let name = name.trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_owned())
}

/// JS: after `at `: `fn (/abs/x.js:3:9)`, `async fn (x.js:3:9)`, `/abs/x.js:3:9`,
/// `file:///abs/x.mjs:3:9`, `node:internal/main/run_main_module:28:49`.
fn js_at(rest: &str) -> Option<Frame> {
    // node prints an error's own properties after its last frame: `at f (x.js:1:2) {`.
    let rest = rest.trim().trim_end_matches(" {");
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let (function, place) = match rest.strip_suffix(')').and_then(|r| r.split_once(" (")) {
        Some((function, place)) => (Some(function.trim()), place),
        None => (None, rest),
    };
    if place.starts_with("eval at ") || place.contains(", ") {
        return None;
    }
    let (path, number, column) = split_location(place)?;
    let path = path.trim();
    if path.is_empty() || path.contains(' ') && !path.contains('/') && !path.contains('\\') {
        return None;
    }
    let path = match path.strip_prefix("file://") {
        Some(_) => normalize(path),
        None => path.to_owned(),
    };
    Some(Frame {
        path,
        line: number,
        column,
        function: function.filter(|f| !f.is_empty()).map(str::to_owned),
        kind: FrameKind::Js,
    })
}

/// vitest: after `❯ `: `Module.maxPrice src/pricing.ts:31:17` or `test/x.test.ts:11:20`.
fn vitest_frame(rest: &str) -> Option<Frame> {
    let (function, place) = match rest.split_once(' ') {
        Some((f, place)) if !f.contains('/') && !f.contains('\\') => (Some(f), place.trim()),
        _ => (None, rest),
    };
    let (path, number, column) = split_location(place)?;
    column?;
    let path = match path.strip_prefix("file://") {
        Some(_) => normalize(path),
        None => path.to_owned(),
    };
    Some(Frame {
        path,
        line: number,
        column,
        function: function.map(str::to_owned),
        kind: FrameKind::Js,
    })
}

/// node's header over an uncaught error: a line that is just `/abs/x.js:7`.
fn js_header(line: &str) -> Option<Frame> {
    let (path, digits) = line.rsplit_once(':')?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let ext = path.rsplit_once('.')?.1;
    if !matches!(
        ext,
        "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx"
    ) {
        return None;
    }
    // Node prints this header with an absolute path (or a file URL), never a relative one.
    let path = match path.strip_prefix("file://") {
        Some(_) => normalize(path),
        None if path.starts_with('/') || has_drive(path) => path.to_owned(),
        None => return None,
    };
    Some(Frame {
        path,
        line: digits.parse().ok()?,
        column: None,
        function: None,
        kind: FrameKind::Js,
    })
}

/// `path:line:col` or `path:line` (a Windows drive's colon stays in the path).
pub(crate) fn split_location(place: &str) -> Option<(&str, u32, Option<u32>)> {
    let (head, last) = place.rsplit_once(':')?;
    let last_n: u32 = parse_digits(last)?;
    if let Some((path, mid)) = head.rsplit_once(':') {
        if let Some(line) = parse_digits(mid) {
            if !path.is_empty() {
                return Some((path, line, Some(last_n)));
            }
        }
    }
    if head.is_empty() || has_drive(head) && head.len() == 2 {
        return None;
    }
    Some((head, last_n, None))
}

fn parse_digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests;
