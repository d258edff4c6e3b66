//! `go test` output, text and `-json` (fixtures/testruns/README.md, "go test").
//!
//! Per package, the failing tests' `--- FAIL: TestX (0.00s)` lines (subtests indented by 4 per
//! level, named `TestX/sub`) with their log lines `    x_test.go:40: msg` (after the FAIL line,
//! or before it under `-v`), then the package's line `FAIL\texample.com/shop/pricing\t0.006s`
//! — only there is the package known, so failures wait for it. A panic ends the package's test
//! binary: its goroutine dump belongs to the test whose FAIL line precedes it (or, on a
//! timeout, to the test it names). A build failure is `# pkg` + compiler lines (positions
//! relative to the cwd) + `FAIL\tpkg [build failed]`. Go prints base file names only in log
//! lines; there is no overall count (`-v` lines are counted when present).

use std::collections::{HashMap, HashSet};

use super::{
    location_of, one_line, Broken, Counts, FailureKind, Location, Runner, TestFailure, TestReport,
};
use crate::trace::{self, Frame};

/// A `file.go:N: msg` log line of a test.
#[derive(Clone)]
struct Log {
    file: String,
    line: u32,
    message: String,
}

/// A failing test whose package line has not come yet.
#[derive(Default)]
struct Pending {
    name: String,
    logs: Vec<Log>,
    panic: Option<(String, Vec<String>)>,
}

pub(super) fn go(text: &str) -> TestReport {
    let text = if text
        .lines()
        .any(|l| l.starts_with("{\"Time\":") || l.starts_with("{\"Action\":"))
    {
        from_json(text)
    } else {
        text.to_owned()
    };
    let mut failures = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut logs_by_test: HashMap<String, Vec<Log>> = HashMap::new();
    let mut running: Option<String> = None;
    let mut verbose = false;
    let mut current: Option<usize> = None;
    let mut panic_into: Option<usize> = None;
    let mut build_error: Option<(String, Option<Location>)> = None;
    let mut in_build = false;
    let mut build_failed = false;
    let mut build_failures = 0usize;
    let mut ran = false;
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for line in text.lines() {
        // The package's line ends what came before it.
        if let Some((pkg, state)) = package_line(line) {
            panic_into = None;
            in_build = false;
            current = None;
            running = None;
            if state.contains("[build failed]") || state.contains("[setup failed]") {
                build_failed = true;
                let (message, location) = build_error
                    .clone()
                    .unwrap_or_else(|| (format!("{pkg} {state}"), None));
                build_failures += 1;
                failures.push(TestFailure {
                    id: pkg.to_owned(),
                    name: pkg.rsplit('/').next().unwrap_or(pkg).to_owned(),
                    file: None,
                    kind: FailureKind::Load,
                    message,
                    location,
                    frames: Vec::new(),
                });
            } else if !state.starts_with("[no test files]") {
                ran = true;
            }
            assign(pkg, &mut pending, &mut failures);
            continue;
        }
        if let Some(idx) = panic_into {
            if let Some((_, lines)) = pending.get_mut(idx).and_then(|p| p.panic.as_mut()) {
                lines.push(line.to_owned());
            }
            continue;
        }
        if let Some(pkg) = line.strip_prefix("# ") {
            in_build = !pkg.contains(' ');
            continue;
        }
        // Under `# pkg`, the first compiler (or vet) diagnostic is why the package did not
        // build. Nothing is skipped: a test may print `# ...` too.
        if in_build && build_error.is_none() {
            let l = line.trim().strip_prefix("vet: ").unwrap_or(line.trim());
            if let Some(error) = compiler_error(l) {
                build_error = Some(error);
                continue;
            }
        }
        if let Some(rest) = ["=== RUN", "=== CONT", "=== NAME", "=== PAUSE"]
            .iter()
            .find_map(|p| line.strip_prefix(p))
        {
            verbose = true;
            running = Some(rest.trim().to_owned());
            continue;
        }
        let trimmed = line.trim_start();
        let depth = (line.len() - trimmed.len()) / 4;
        if let Some((word, name)) = result_line(trimmed) {
            match word {
                "FAIL" => {
                    let logs = logs_by_test.remove(name).unwrap_or_default();
                    pending.push(Pending {
                        name: name.to_owned(),
                        logs,
                        panic: None,
                    });
                    current = Some(pending.len() - 1);
                    if depth == 0 {
                        failed += 1;
                    }
                }
                "PASS" => {
                    logs_by_test.remove(name);
                    current = None;
                    if depth == 0 {
                        passed += 1;
                    }
                }
                _ => {
                    logs_by_test.remove(name);
                    current = None;
                    if depth == 0 {
                        skipped += 1;
                    }
                }
            }
            continue;
        }
        if let Some(message) = line.strip_prefix("panic: ") {
            let message = message.trim_end_matches(" [recovered]");
            let idx = match current {
                Some(idx) => idx,
                None => {
                    let name = running.clone().unwrap_or_default();
                    match pending
                        .iter()
                        .position(|p| !name.is_empty() && p.name == name)
                    {
                        Some(idx) => idx,
                        None => {
                            pending.push(Pending {
                                name,
                                ..Pending::default()
                            });
                            pending.len() - 1
                        }
                    }
                }
            };
            if let Some(p) = pending.get_mut(idx) {
                p.panic = Some((format!("panic: {message}"), Vec::new()));
            }
            panic_into = Some(idx);
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(log) = log_line(trimmed) {
                let target = if verbose {
                    running.clone().map(|r| logs_by_test.entry(r).or_default())
                } else {
                    current
                        .and_then(|i| pending.get_mut(i))
                        .map(|p| &mut p.logs)
                };
                if let Some(logs) = target {
                    logs.push(log);
                }
            }
        }
    }
    // Output cut before a package line: the failures keep their bare names.
    assign("", &mut pending, &mut failures);
    let broken = build_failed.then(|| {
        let (message, location) = build_error.unwrap_or_else(|| ("build failed".to_owned(), None));
        Broken {
            message,
            location,
            frames: Vec::new(),
        }
    });
    let counts = Counts {
        passed: verbose.then_some(passed),
        failed: Some(failed),
        errors: None,
        skipped: verbose.then_some(skipped),
        total: None,
    };
    let ran = ran || failures.len() > build_failures;
    TestReport {
        runner: Runner::Go,
        ran,
        broken,
        counts,
        failures,
    }
}

/// `-json` output as the text `go test -v` prints: each package's `Output` fields joined in
/// order (packages one after another, as they first appear), after the lines that are not JSON
/// (build errors go to stderr as text).
fn from_json(text: &str) -> String {
    let mut plain = String::new();
    let mut order: Vec<String> = Vec::new();
    let mut by_package: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        let event = line
            .starts_with('{')
            .then(|| serde_json::from_str::<serde_json::Value>(line).ok())
            .flatten();
        let Some(event) = event else {
            plain.push_str(line);
            plain.push('\n');
            continue;
        };
        let Some(output) = event.get("Output").and_then(|o| o.as_str()) else {
            continue;
        };
        let package = event
            .get("Package")
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_owned();
        if !by_package.contains_key(&package) {
            order.push(package.clone());
        }
        by_package.entry(package).or_default().push_str(output);
    }
    for package in order {
        if let Some(out) = by_package.get(&package) {
            plain.push_str(out);
            if !out.ends_with('\n') {
                plain.push('\n');
            }
        }
    }
    plain
}

/// `ok  \tpkg\t0.01s`, `FAIL\tpkg\t0.01s`, `FAIL\tpkg [build failed]`, `?   \tpkg\t[no test
/// files]` → (pkg, the rest).
fn package_line(line: &str) -> Option<(&str, &str)> {
    let rest = line
        .strip_prefix("ok  \t")
        .or_else(|| line.strip_prefix("FAIL\t"))
        .or_else(|| line.strip_prefix("?   \t"))?;
    let (pkg, state) = match rest.split_once('\t') {
        Some((pkg, state)) => (pkg, state),
        None => rest.split_once(' ').unwrap_or((rest, "")),
    };
    let pkg = pkg.trim();
    (!pkg.is_empty() && !pkg.contains(' ')).then_some((pkg, state.trim()))
}

/// `--- FAIL: TestX (0.00s)` → ("FAIL", "TestX").
fn result_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("--- ")?;
    let (word, rest) = rest.split_once(": ")?;
    if !matches!(word, "FAIL" | "PASS" | "SKIP") {
        return None;
    }
    let name = rest.rsplit_once(" (").map_or(rest, |(n, _)| n).trim();
    (!name.is_empty()).then_some((word, name))
}

/// `pricing_test.go:40: BulkDiscountPercent(10) = 0, want 10`.
fn log_line(line: &str) -> Option<Log> {
    let (place, message) = line.split_once(": ")?;
    let (file, number) = place.rsplit_once(':')?;
    if !file.ends_with(".go") || file.contains(char::is_whitespace) {
        return None;
    }
    Some(Log {
        file: file.to_owned(),
        line: number.parse().ok()?,
        message: message.to_owned(),
    })
}

/// `pricing/pricing.go:34:17: undefined: BulkTreshold` → the message and its place.
fn compiler_error(line: &str) -> Option<(String, Option<Location>)> {
    let (place, message) = line.split_once(": ")?;
    let (path, line, column) = trace::split_location(place)?;
    path.ends_with(".go").then(|| {
        (
            one_line([message]),
            Some(Location {
                path: path.to_owned(),
                line,
                column,
            }),
        )
    })
}

/// The pending failures as failures of `pkg` (ids `pkg.TestX`). A parent test that failed only
/// through its subtests (no log, no panic of its own) is left out: the subtests say it.
fn assign(pkg: &str, pending: &mut Vec<Pending>, out: &mut Vec<TestFailure>) {
    let all = std::mem::take(pending);
    let parents: HashSet<&str> = all
        .iter()
        .flat_map(|p| {
            p.name
                .match_indices('/')
                .map(|(i, _)| p.name.get(..i).unwrap_or(""))
        })
        .collect();
    for p in &all {
        if parents.contains(p.name.as_str()) && p.logs.is_empty() && p.panic.is_none() {
            continue;
        }
        out.push(failure(pkg, p));
    }
}

fn failure(pkg: &str, p: &Pending) -> TestFailure {
    let mut name = p.name.clone();
    let (kind, message, frames) = match &p.panic {
        Some((message, lines)) => {
            if name.is_empty() {
                // A timeout's panic names the tests that were running.
                name = lines
                    .iter()
                    .skip_while(|l| l.trim() != "running tests:")
                    .nth(1)
                    .and_then(|l| l.trim().split(" (").next())
                    .unwrap_or("")
                    .to_owned();
            }
            let frames: Vec<Frame> = trace::innermost_last(&trace::frames(&lines.join("\n")));
            (FailureKind::Error, one_line([message.as_str()]), frames)
        }
        None => (
            FailureKind::Assertion,
            p.logs
                .first()
                .map(|l| one_line([l.message.as_str()]))
                .unwrap_or_default(),
            Vec::new(),
        ),
    };
    let id = match (pkg.is_empty(), name.is_empty()) {
        (false, false) => format!("{pkg}.{name}"),
        (false, true) => pkg.to_owned(),
        (true, _) => name.clone(),
    };
    let top = name.split('/').next().unwrap_or("");
    let test_frame = frames.iter().find(|f| {
        !top.is_empty()
            && f.function
                .as_deref()
                .is_some_and(|func| func.ends_with(&format!(".{top}")))
    });
    let log = p.logs.first();
    let location = if p.panic.is_some() {
        location_of(&frames)
    } else {
        log.map(|l| Location {
            path: l.file.clone(),
            line: l.line,
            column: None,
        })
    };
    let file = test_frame
        .map(|f| f.path.clone())
        .or_else(|| log.map(|l| l.file.clone()));
    TestFailure {
        id,
        name,
        file,
        kind,
        message,
        location,
        frames,
    }
}
