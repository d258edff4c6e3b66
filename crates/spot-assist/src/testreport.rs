//! A test command's output → which tests failed, how, where, and with which stack frames.
//!
//! Pure text: no IO, no processes. The runner is recognised from the output itself (the user's
//! command is free-form: `make test`, `npm test`), ANSI escape codes are stripped, and any text —
//! truncated, unknown, hostile — gives a report, never a panic. Written against the real outputs
//! in `fixtures/testruns/` (its README is the spec of each format): unittest, pytest, cargo test,
//! cargo nextest, go test (text and `-json`), node --test (TAP and spec), jest and vitest.
//!
//! A failure's `id` is the runner's own name for the test, usable as a key to compare two runs
//! of the same command. Ids that hold a path hold it as printed; node's TAP prints absolute
//! paths only, so runs made in different directories are compared after
//! [`TestReport::relative_to`]. Each runner's parser lives in its own file below this one.

mod go;
mod js;
mod python;
mod rust;

use std::path::Path;

use crate::trace::{self, Frame};

/// Which test runner printed the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    Unittest,
    Pytest,
    Cargo,
    /// `cargo nextest run`: its own format, ids `<binary id> <test name>`.
    Nextest,
    Go,
    NodeTest,
    Jest,
    Vitest,
    Unknown,
}

/// What one run of a test command says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub runner: Runner,
    /// Whether tests ran (some or all); false when the suite could not run at all (a syntax or
    /// import error at collection, a compile error: see `broken`) or ran no test. For an unknown
    /// runner: exit code 0 or 1 (the common "passed" and "tests failed" codes).
    pub ran: bool,
    /// Why the suite, or part of it, could not run (the first such error), with its location
    /// when printed. Set together with `ran: true` when only some test files failed to load.
    pub broken: Option<Broken>,
    pub counts: Counts,
    /// Every failing or erroring test, in output order; a test file or module that could not be
    /// loaded is one entry of kind [`FailureKind::Load`] (the runners count it so too).
    pub failures: Vec<TestFailure>,
}

/// The counts as the runner's summary gives them; `None` where it does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: Option<usize>,
    /// Failed tests (pytest: an exception in a test body is a failure too).
    pub failed: Option<usize>,
    /// Errors apart from failures: unittest's `errors=`, pytest's errors (fixtures, collection).
    pub errors: Option<usize>,
    pub skipped: Option<usize>,
    /// The runner's own total, where it prints one.
    pub total: Option<usize>,
}

/// Why the suite could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// One line: `SyntaxError: expected ':'`, `error[E0308]: mismatched types`.
    pub message: String,
    pub location: Option<Location>,
    /// The error's stack frames, innermost last.
    pub frames: Vec<Frame>,
}

/// One failing test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// The runner's own stable id, as a user would pass it back to the runner:
    /// pytest `tests/test_pricing.py::TestX::test_bulk`, unittest
    /// `test_pricing.DiscountTest.test_bulk` (as printed: module path + class + method), cargo
    /// `--lib tests::bulk` / `--test checkout max_price_empty_cart` /
    /// `--doc src/lib.rs - f (line 25)` (the target as cargo's "to rerun pass" says, then the
    /// name), nextest `pricing::checkout max_price_empty_cart`, go
    /// `example.com/shop/pricing.TestBulk` (subtests with `/`), node/jest/vitest
    /// `test/discounts.test.js > discounts > bulk discount at threshold` (file + title path).
    /// A file or module that could not load is its path (`tests/test_receipt.py`) or, for
    /// unittest, `unittest.loader._FailedTest.<module>`; a go package that did not build, the
    /// package.
    pub id: String,
    /// The short test name.
    pub name: String,
    /// The test's file as printed (relative or absolute; go: the base name only).
    pub file: Option<String>,
    pub kind: FailureKind,
    /// One line: `AssertionError: 0.0 != 0.1`,
    /// ``assertion `left == right` failed: left: 0, right: 10``.
    pub message: String,
    /// Where the failure was raised, as printed: the innermost frame outside the libraries
    /// (the code under test for an exception raised there), else the runner's own location.
    pub location: Option<Location>,
    /// The failure's stack frames, innermost last (Rust, Go and JS stacks are reversed).
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// An assertion failed (`assert`, `assertEqual`, `assert_eq!`, `t.Errorf`, `expect(...)`).
    Assertion,
    /// An exception, panic or error escaped the test (or its fixture).
    Error,
    /// The test file or module could not be loaded (syntax or import error, build failure).
    Load,
}

/// A place in a file, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub line: u32,
    pub column: Option<u32>,
}

impl From<&Frame> for Location {
    fn from(frame: &Frame) -> Location {
        Location {
            path: frame.path.clone(),
            line: frame.line,
            column: frame.column,
        }
    }
}

/// Characters kept of a one-line message.
const MAX_MESSAGE: usize = 300;

/// Reads one run's output (stdout and stderr together, in any order) and its exit code.
pub fn parse(output: &str, exit_code: Option<i32>) -> TestReport {
    let text = clean(output);
    let report = match detect(&text) {
        Runner::Unittest => Some(python::unittest(&text)),
        Runner::Pytest => Some(python::pytest(&text)),
        Runner::Cargo => Some(rust::cargo(&text)),
        Runner::Nextest => Some(rust::nextest(&text)),
        Runner::Go => Some(go::go(&text)),
        Runner::NodeTest => Some(js::node(&text)),
        Runner::Jest => Some(js::jest(&text)),
        Runner::Vitest => Some(js::vitest(&text)),
        Runner::Unknown => None,
    };
    report.unwrap_or(TestReport {
        runner: Runner::Unknown,
        ran: matches!(exit_code, Some(0) | Some(1)),
        broken: None,
        counts: Counts::default(),
        failures: Vec::new(),
    })
}

impl TestReport {
    /// The failures' ids.
    pub fn failing_ids(&self) -> Vec<&str> {
        self.failures.iter().map(|f| f.id.as_str()).collect()
    }

    /// The same report with absolute paths under `root` (the directory the command ran in) made
    /// relative in ids, files and locations, so that runs in two scratch copies compare equal.
    /// Frames are left as printed ([`trace::in_workspace`] takes the roots itself).
    pub fn relative_to(mut self, root: &Path) -> TestReport {
        let root = trace::normalize(&root.to_string_lossy());
        let strip = |s: &mut String| {
            let normalized = s.replace('\\', "/");
            if let Some(rest) = normalized
                .strip_prefix(root.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                *s = rest.to_owned();
            }
        };
        for failure in &mut self.failures {
            strip(&mut failure.id);
            strip(&mut failure.name);
            if let Some(file) = &mut failure.file {
                strip(file);
            }
            if let Some(location) = &mut failure.location {
                strip(&mut location.path);
            }
        }
        if let Some(location) = self.broken.as_mut().and_then(|b| b.location.as_mut()) {
            strip(&mut location.path);
        }
        self
    }
}

/// Recognises the runner by marks only it prints, most specific first (nextest's captured
/// output holds cargo's lines; jest's and vitest's hold node's).
fn detect(text: &str) -> Runner {
    let mut seen = [false; 8];
    const NEXTEST: usize = 0;
    const CARGO: usize = 1;
    const GO: usize = 2;
    const PYTEST: usize = 3;
    const UNITTEST: usize = 4;
    const VITEST: usize = 5;
    const JEST: usize = 6;
    const NODE: usize = 7;
    for line in text.lines() {
        let t = line.trim();
        if (t.starts_with("Starting ") && t.contains(" across ") && t.contains(" binar"))
            || (t.starts_with("Summary [") && t.contains(" run: "))
        {
            seen[NEXTEST] = true;
        }
        if t.starts_with("test result: ")
            || t.starts_with("Running unittests ")
            || t.starts_with("Doc-tests ")
            || t.starts_with("error: could not compile `")
        {
            seen[CARGO] = true;
        }
        if line.starts_with("ok  \t")
            || line.starts_with("FAIL\t")
            || line.starts_with("?   \t")
            || line.starts_with("--- FAIL: ")
            || line.starts_with("=== RUN   ")
            || (line.starts_with("{\"Time\":") && line.contains("\"Action\":"))
        {
            seen[GO] = true;
        }
        if t.contains(" test session starts ")
            || (t.starts_with("==") && t.contains(" short test summary info "))
            || python::pytest_counts(t.trim_matches('=').trim()).is_some()
        {
            seen[PYTEST] = true;
        }
        if python::ran_count(t).is_some() {
            seen[UNITTEST] = true;
        }
        if t.starts_with("RUN  v") || (t.starts_with("Test Files ") && t.contains('(')) {
            seen[VITEST] = true;
        }
        if t.starts_with("Test Suites: ") {
            seen[JEST] = true;
        }
        if t == "TAP version 13"
            || (t.starts_with("ℹ tests ") && t.len() > "ℹ tests ".len())
            || t == "✖ failing tests:"
        {
            seen[NODE] = true;
        }
    }
    let order = [
        (NEXTEST, Runner::Nextest),
        (CARGO, Runner::Cargo),
        (PYTEST, Runner::Pytest),
        (UNITTEST, Runner::Unittest),
        (VITEST, Runner::Vitest),
        (JEST, Runner::Jest),
        (NODE, Runner::NodeTest),
        (GO, Runner::Go),
    ];
    order
        .iter()
        .find(|(i, _)| seen.get(*i).copied().unwrap_or(false))
        .map_or(Runner::Unknown, |(_, r)| *r)
}

/// The output without ANSI escape sequences, with `\r\n` and lone `\r` as `\n`.
fn clean(output: &str) -> String {
    let mut out = String::with_capacity(output.len());
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            chars.next();
                            break;
                        }
                    }
                }
                // ESC, intermediates (0x20-0x2F), a final byte: `ESC ( B`, `ESC =`.
                Some(c) if (' '..='/').contains(&c) => {
                    for c in chars.by_ref() {
                        if !(' '..='/').contains(&c) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Lines joined into one: the first, then `: ` (a space after a colon), then `, ` between the
/// rest; blank lines dropped; at most [`MAX_MESSAGE`] characters.
fn one_line<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, line) in lines
        .into_iter()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str(match (i, out.ends_with(':')) {
                (_, true) => " ",
                (1, false) => ": ",
                _ => ", ",
            });
        }
        out.push_str(line);
        if out.chars().count() > MAX_MESSAGE {
            break;
        }
    }
    if out.chars().count() > MAX_MESSAGE {
        out = out.chars().take(MAX_MESSAGE).collect();
        out.push('…');
    }
    out
}

/// The innermost frame outside the libraries, else the innermost one (frames innermost last).
fn location_of(frames: &[Frame]) -> Option<Location> {
    frames
        .iter()
        .rev()
        .find(|f| !trace::is_library(&f.path))
        .or(frames.last())
        .map(Location::from)
}

/// `ValueError: msg`, `json.decoder.JSONDecodeError: msg`, `TypeError [Error]: msg`,
/// `AssertionError [ERR_ASSERTION]: msg`, a bare `StopIteration`: the exception's name and the
/// line without the bracketed code.
fn exception(line: &str) -> Option<(&str, String)> {
    let line = line.trim();
    let (head, rest) = match line.split_once(": ") {
        Some((head, rest)) => (head, Some(rest)),
        None => (line.strip_suffix(':').unwrap_or(line), None),
    };
    let name = match head.split_once(" [") {
        Some((name, code)) if code.ends_with(']') && !code.contains(' ') => name,
        _ => head,
    };
    if !trace::is_exception_name(name) {
        return None;
    }
    Some((
        name,
        match rest {
            Some(rest) => format!("{name}: {rest}"),
            None => name.to_owned(),
        },
    ))
}

/// Whether an exception name, or a message without one, is an assertion's.
fn is_assertion(name: Option<&str>, message: &str) -> bool {
    match name {
        Some(name) => name.ends_with("AssertionError") || name == "Failed",
        None => {
            message.starts_with("assert ")
                || message.starts_with("assertion")
                || message.starts_with("expect(")
        }
    }
}

/// The first failure of kind `Load` as a `Broken`.
fn broken_of(failures: &[TestFailure]) -> Option<Broken> {
    failures
        .iter()
        .find(|f| f.kind == FailureKind::Load)
        .map(|f| Broken {
            message: f.message.clone(),
            location: f.location.clone(),
            frames: f.frames.clone(),
        })
}

/// `12` in `12 passed`-like parts: the number in front of `word` (or any of `words`).
fn count_before(parts: &[&str], words: &[&str]) -> Option<usize> {
    let mut found = None;
    for part in parts {
        let mut it = part.split_whitespace();
        let (Some(n), Some(word)) = (it.next(), it.next()) else {
            continue;
        };
        if words.contains(&word) {
            if let Ok(n) = n.parse::<usize>() {
                found = Some(found.unwrap_or(0) + n);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests;
