//! `cargo test` and `cargo nextest run` output (fixtures/testruns/README.md, "cargo test").
//!
//! cargo: one section per test binary (`Running unittests src/lib.rs (...)`,
//! `Running tests/checkout.rs (...)`, `Doc-tests pricing`; with `-q` only `running N tests`),
//! `test x ... FAILED` lines, `---- x stdout ----` blocks holding the panic, `test result:`
//! lines, and after a failing binary `error: test failed, to rerun pass `--lib`` — which names
//! the target in the failures' ids. Plain `cargo test` stops after the first failing binary:
//! the binaries after it are absent, not passing. A compile error (`error: could not compile`)
//! means nothing ran: both exit 101. Doc-test panic locations are lines of the generated test,
//! so a doc-test's location is its `(line N)`.
//!
//! nextest: `FAIL [ 0.034s] (2/8) pricing tests::x` status lines with the captured output
//! under them, `Summary [...] 8 tests run: 6 passed, 2 failed, 1 skipped`.

use std::collections::HashSet;

use super::{
    count_before, location_of, one_line, Broken, Counts, FailureKind, Location, Runner,
    TestFailure, TestReport,
};
use crate::trace::{self, FrameKind};

/// One test binary's part of the output.
#[derive(Default)]
struct Section<'a> {
    /// `unittests src/lib.rs`, `tests/checkout.rs`; `None` for doc-tests and `-q`.
    running: Option<&'a str>,
    /// The binary's file name (`pricing-588fc4c2c744491f`).
    binary: Option<&'a str>,
    doc: bool,
    /// From `error: test failed, to rerun pass `...``.
    target: Option<&'a str>,
    seen_running: bool,
    failed: Vec<&'a str>,
    blocks: Vec<(&'a str, Vec<&'a str>)>,
}

pub(super) fn cargo(text: &str) -> TestReport {
    let mut failures = Vec::new();
    let mut section = Section::default();
    let mut in_block = false;
    let mut passed = None::<usize>;
    let mut failed = None::<usize>;
    let mut ignored = None::<usize>;
    let mut ran = false;
    let mut compile_failed = false;
    let mut compile_error: Option<(String, Option<Location>)> = None;
    let mut awaiting_arrow = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            if !rest.starts_with('`') {
                finish(&mut section, &mut failures);
                let (desc, bin) = rest.split_once(" (").unwrap_or((rest, ""));
                section.running = Some(desc.trim());
                section.binary = bin
                    .trim_end_matches(')')
                    .rsplit(['/', '\\'])
                    .next()
                    .filter(|b| !b.is_empty());
                in_block = false;
                continue;
            }
        }
        if t.starts_with("Doc-tests ") {
            finish(&mut section, &mut failures);
            section.doc = true;
            in_block = false;
            continue;
        }
        if let Some(n) = running_count(t) {
            if section.seen_running {
                finish(&mut section, &mut failures);
            }
            section.seen_running = true;
            if n > 0 {
                ran = true;
            }
            in_block = false;
            continue;
        }
        if let Some(rest) = t.strip_prefix("test result: ") {
            let parts: Vec<&str> = rest
                .split_once(". ")
                .map_or(rest, |(_, p)| p)
                .split("; ")
                .collect();
            add(&mut passed, count_before(&parts, &["passed"]));
            add(&mut failed, count_before(&parts, &["failed"]));
            add(&mut ignored, count_before(&parts, &["ignored"]));
            ran = true;
            in_block = false;
            continue;
        }
        if let Some(target) = rerun_target(t) {
            section.target = Some(target);
            in_block = false;
            continue;
        }
        if t.starts_with("error: could not compile `") {
            compile_failed = true;
            compile_error.get_or_insert_with(|| (t.to_owned(), None));
            continue;
        }
        if awaiting_arrow {
            if let Some(place) = t.strip_prefix("--> ") {
                if let Some((path, line, column)) = trace::split_location(place) {
                    if let Some((_, location)) = &mut compile_error {
                        *location = Some(Location {
                            path: path.to_owned(),
                            line,
                            column,
                        });
                    }
                }
                awaiting_arrow = false;
                continue;
            }
        }
        if compile_error.is_none()
            && !in_block
            && !line.starts_with(' ')
            && (t.starts_with("error[") || t.starts_with("error: "))
            && !t.starts_with("error: test failed")
            && !t.starts_with("error: doctest failed")
        {
            compile_error = Some((t.to_owned(), None));
            awaiting_arrow = true;
            continue;
        }
        if let Some(name) = failed_name(line) {
            section.failed.push(name);
            continue;
        }
        if let Some(name) = t
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" ----"))
            .and_then(|r| {
                r.strip_suffix(" stdout")
                    .or_else(|| r.strip_suffix(" stderr"))
            })
        {
            section.blocks.push((name, Vec::new()));
            in_block = true;
            continue;
        }
        if t == "failures:" || t == "successes:" {
            in_block = false;
            continue;
        }
        if in_block {
            if let Some((_, lines)) = section.blocks.last_mut() {
                lines.push(line);
            }
        }
    }
    finish(&mut section, &mut failures);
    let broken = if compile_failed {
        compile_error.map(|(message, location)| Broken {
            message,
            location,
            frames: Vec::new(),
        })
    } else {
        None
    };
    TestReport {
        runner: Runner::Cargo,
        ran: ran && !compile_failed,
        broken,
        counts: Counts {
            passed,
            failed,
            errors: None,
            skipped: ignored,
            total: None,
        },
        failures,
    }
}

fn add(sum: &mut Option<usize>, n: Option<usize>) {
    if let Some(n) = n {
        *sum = Some(sum.unwrap_or(0) + n);
    }
}

/// `running 6 tests` → 6.
fn running_count(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("running ")?;
    let (n, word) = rest.split_once(' ')?;
    matches!(word, "test" | "tests")
        .then(|| n.parse().ok())
        .flatten()
}

/// ``error: test failed, to rerun pass `--lib` `` → `--lib`.
fn rerun_target(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("error: test failed, to rerun pass `")
        .or_else(|| line.strip_prefix("error: doctest failed, to rerun pass `"))?;
    rest.split_once('`').map(|(target, _)| target)
}

/// `test tests::x ... FAILED`, `test x - should panic ... FAILED`, `-q`'s `tests::x --- FAILED`.
fn failed_name(line: &str) -> Option<&str> {
    let t = line.trim_end();
    let name = if let Some(rest) = t.strip_prefix("test ") {
        rest.strip_suffix(" ... FAILED")?
    } else {
        t.strip_suffix(" --- FAILED")?
    };
    Some(name.strip_suffix(" - should panic").unwrap_or(name))
}

/// The section's failures into `out`: its blocks in order, then failed tests without a block.
fn finish<'a>(section: &mut Section<'a>, out: &mut Vec<TestFailure>) {
    let section = std::mem::take(section);
    let target = section
        .target
        .map(str::to_owned)
        .or_else(|| target_of(&section));
    let mut named: HashSet<&str> = HashSet::new();
    for (name, lines) in &section.blocks {
        named.insert(name);
        out.push(cargo_failure(&section, target.as_deref(), name, lines));
    }
    for name in &section.failed {
        if named.insert(name) {
            out.push(cargo_failure(&section, target.as_deref(), name, &[]));
        }
    }
}

/// The target from the `Running` line when cargo printed no rerun hint.
fn target_of(section: &Section) -> Option<String> {
    if section.doc {
        return Some("--doc".to_owned());
    }
    let running = section.running?;
    if running == "unittests src/lib.rs" {
        return Some("--lib".to_owned());
    }
    let stem = |path: &str| {
        path.rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".rs"))
            .map(str::to_owned)
    };
    if let Some(path) = running.strip_prefix("unittests ") {
        // src/main.rs and src/bin/x.rs: the binary's name is the file name before its hash.
        let bin = section
            .binary
            .and_then(|b| b.rsplit_once('-').map(|(name, _)| name.to_owned()))
            .or_else(|| stem(path))?;
        return Some(format!("--bin {bin}"));
    }
    for (dir, flag) in [
        ("tests/", "--test"),
        ("benches/", "--bench"),
        ("examples/", "--example"),
    ] {
        if running.starts_with(dir) {
            return Some(format!("{flag} {}", stem(running)?));
        }
    }
    None
}

fn cargo_failure(
    section: &Section,
    target: Option<&str>,
    name: &str,
    lines: &[&str],
) -> TestFailure {
    let id = match target {
        Some(target) => format!("{target} {name}"),
        None => name.to_owned(),
    };
    let detail = panic_detail(lines);
    let mut frames = detail.frames;
    let (short, file, location) = if section.doc || name.contains(" - ") && name.ends_with(')') {
        // `src/lib.rs - bulk_discount_percent (line 25)`: the panic's place is in the generated
        // doc-test, not in src/lib.rs.
        frames.retain(|f| f.kind != FrameKind::RustPanic);
        let (file, item) = name.split_once(" - ").unwrap_or(("", name));
        let line = item
            .rsplit_once("(line ")
            .and_then(|(_, n)| n.strip_suffix(')'))
            .and_then(|n| n.parse().ok());
        let location = line.map(|line| Location {
            path: file.to_owned(),
            line,
            column: None,
        });
        (
            item.to_owned(),
            (!file.is_empty()).then(|| file.to_owned()),
            location,
        )
    } else {
        let short = name.rsplit("::").next().unwrap_or(name).to_owned();
        let file = test_file(section, target, name, &frames);
        let location = location_of(&frames);
        (short, file, location)
    };
    TestFailure {
        id,
        name: short,
        file,
        kind: detail.kind,
        message: detail.message,
        location,
        frames,
    }
}

/// An integration test's file from its section; a unit test's from the backtrace frame of the
/// test function (`pricing::tests::x` for `tests::x`), when there is a backtrace.
fn test_file(
    section: &Section,
    target: Option<&str>,
    name: &str,
    frames: &[trace::Frame],
) -> Option<String> {
    if let Some(running) = section.running.filter(|r| !r.starts_with("unittests ")) {
        return Some(running.to_owned());
    }
    if let Some(test) = target
        .and_then(|t| t.rsplit_once("--test "))
        .map(|(_, t)| t)
    {
        return Some(format!("tests/{}.rs", test.trim()));
    }
    frames
        .iter()
        .find(|f| {
            f.kind == FrameKind::Rust
                && f.function
                    .as_deref()
                    .is_some_and(|func| func == name || func.ends_with(&format!("::{name}")))
        })
        .map(|f| f.path.trim_start_matches("./").to_owned())
}

pub(super) struct PanicDetail {
    pub message: String,
    pub kind: FailureKind,
    /// Innermost last.
    pub frames: Vec<trace::Frame>,
}

/// The panic in a test's captured output: its message (the lines after `panicked at`, up to the
/// note or backtrace), its kind (`assertion ...` is an assertion) and its frames.
pub(super) fn panic_detail(lines: &[&str]) -> PanicDetail {
    let text = lines.join("\n");
    let frames = trace::innermost_last(&trace::frames(&text));
    let panic_at = lines.iter().position(|l| l.contains("panicked at "));
    let message = match panic_at {
        Some(i) => {
            let line = lines.get(i).copied().unwrap_or("");
            let (_, rest) = line.split_once("panicked at ").unwrap_or(("", ""));
            if let Some(quoted) = rest.strip_prefix('\'') {
                // Before Rust 1.73: `panicked at 'msg', src/x.rs:1:2`.
                one_line([quoted.rsplit_once("', ").map_or(quoted, |(m, _)| m)])
            } else {
                let body = lines
                    .get(i + 1..)
                    .unwrap_or(&[])
                    .iter()
                    .map(|l| l.trim())
                    .take_while(|l| {
                        !l.is_empty()
                            && !l.starts_with("note: ")
                            && !l.starts_with("stack backtrace:")
                    });
                one_line(body)
            }
        }
        None => {
            let first = lines
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty() && !l.starts_with("running ") && !l.starts_with("test "));
            one_line(first.map(|l| l.trim_start_matches("note: ")))
        }
    };
    let kind = if message.starts_with("assertion") || message.starts_with("test did not panic") {
        FailureKind::Assertion
    } else {
        FailureKind::Error
    };
    PanicDetail {
        message,
        kind,
        frames,
    }
}

/// nextest's status words after which a test has failed.
const NEXTEST_FAILED: &[&str] = &[
    "FAIL",
    "SIGSEGV",
    "SIGABRT",
    "SIGBUS",
    "SIGILL",
    "SIGKILL",
    "SIGTERM",
    "ABORT",
    "TIMEOUT",
    "LEAK-FAIL",
];
const NEXTEST_OTHER: &[&str] = &["PASS", "SKIP", "LEAK", "FLAKY", "SLOW", "START", "RETRY"];

/// `FAIL [   0.034s] (2/8) pricing tests::x` → ("FAIL", "pricing", "tests::x").
fn nextest_status(line: &str) -> Option<(&str, &str, &str)> {
    let t = line.trim();
    let (word, rest) = t.split_once(" [")?;
    let word = word.trim();
    if !NEXTEST_FAILED.contains(&word) && !NEXTEST_OTHER.contains(&word) {
        return None;
    }
    let (_, rest) = rest.split_once(']')?;
    let mut rest = rest.trim();
    if rest.starts_with('(') {
        rest = rest.split_once(')').map_or("", |(_, r)| r).trim();
    }
    let (binary, name) = rest.split_once(' ')?;
    Some((word, binary, name.trim()))
}

pub(super) fn nextest(text: &str) -> TestReport {
    let mut failures: Vec<TestFailure> = Vec::new();
    let mut current: Option<(&str, &str, Vec<&str>)> = None;
    let mut counts = Counts::default();
    let mut done = false;
    let flush = |current: &mut Option<(&str, &str, Vec<&str>)>, out: &mut Vec<TestFailure>| {
        if let Some((binary, name, lines)) = current.take() {
            out.push(nextest_failure(binary, name, &lines));
        }
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Summary [") {
            flush(&mut current, &mut failures);
            done = true;
            if let Some((_, rest)) = rest.split_once(']') {
                let rest = rest.trim();
                if let Some((total, parts)) = rest.split_once(" run: ") {
                    counts.total = total.split_whitespace().next().and_then(|n| n.parse().ok());
                    let parts: Vec<&str> = parts.split(", ").collect();
                    counts.passed = Some(count_before(&parts, &["passed"]).unwrap_or(0));
                    counts.failed = Some(
                        count_before(&parts, &["failed"]).unwrap_or(0)
                            + timed_out(&parts).unwrap_or(0),
                    );
                    counts.skipped = Some(count_before(&parts, &["skipped"]).unwrap_or(0));
                }
            }
            continue;
        }
        if done {
            continue;
        }
        if let Some((word, binary, name)) = nextest_status(line) {
            flush(&mut current, &mut failures);
            if NEXTEST_FAILED.contains(&word) {
                current = Some((binary, name, Vec::new()));
            }
            continue;
        }
        if t.starts_with("────") || t.starts_with("Cancelling") || t.starts_with("Canceling")
        {
            flush(&mut current, &mut failures);
            continue;
        }
        if let Some((_, _, lines)) = &mut current {
            lines.push(line);
        }
    }
    flush(&mut current, &mut failures);
    let ran = counts.total.is_some_and(|n| n > 0) || !failures.is_empty();
    TestReport {
        runner: Runner::Nextest,
        ran,
        broken: None,
        counts,
        failures,
    }
}

/// `2 timed out` among the summary's parts.
fn timed_out(parts: &[&str]) -> Option<usize> {
    parts.iter().find_map(|p| {
        p.strip_suffix(" timed out")
            .and_then(|n| n.trim().parse().ok())
    })
}

fn nextest_failure(binary: &str, name: &str, lines: &[&str]) -> TestFailure {
    let detail = panic_detail(lines);
    // `pricing::checkout` is the integration test tests/checkout.rs of package pricing.
    let file = binary
        .split_once("::")
        .map(|(_, b)| b)
        .filter(|b| !b.contains('/'))
        .map(|b| format!("tests/{b}.rs"))
        .or_else(|| {
            detail
                .frames
                .iter()
                .find(|f| {
                    f.kind == FrameKind::Rust
                        && f.function
                            .as_deref()
                            .is_some_and(|func| func.ends_with(&format!("::{name}")))
                })
                .map(|f| f.path.trim_start_matches("./").to_owned())
        });
    TestFailure {
        id: format!("{binary} {name}"),
        name: name.rsplit("::").next().unwrap_or(name).to_owned(),
        file,
        kind: detail.kind,
        message: detail.message,
        location: location_of(&detail.frames),
        frames: detail.frames,
    }
}
