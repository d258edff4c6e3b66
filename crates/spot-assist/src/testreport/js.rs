//! node --test (TAP and spec reporters), jest and vitest output (fixtures/testruns/README.md).
//!
//! node TAP (node 20's reporter when stdout is not a terminal): `# Subtest:` / `ok` / `not ok`
//! nested by 4 spaces, a YAML block under each result (`location:` is where the test is
//! declared, the failing line is in `stack:`); a file that could not load is a "test" named by
//! its path, with node's crash output as `#` comments before it. spec: `▶` suites, `✔`/`✖`/`﹣`
//! tests nested by 2 spaces, and a `✖ failing tests:` list giving each failure's file.
//! jest: per file `FAIL path` and `● describe › test` blocks (message, code frame, stack);
//! `● Test suite failed to run` for a file that could not load. vitest: the `Failed Tests`
//! section's ` FAIL  file > describe > test` blocks (`❯` frames), `Failed Suites` for files
//! that could not load (one error printed under several files).

use super::{
    broken_of, count_before, exception, is_assertion, location_of, one_line, Counts, FailureKind,
    Location, Runner, TestFailure, TestReport,
};
use crate::trace::{self, Frame};

const SEP: &str = " > ";

/// Leading spaces.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `/abs/x.js:17:3` → `/abs/x.js`.
fn strip_position(place: &str) -> &str {
    trace::split_location(place).map_or(place, |(path, _, _)| path)
}

/// A failure's message, kind and frames from an error's text (first line `Name: msg`, more
/// message lines up to the stack or a code frame; with `paragraph`, up to the first blank line).
fn js_error(lines: &[&str], paragraph: bool) -> (String, Option<String>, Vec<Frame>) {
    let message_lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .skip_while(|l| l.is_empty())
        .take_while(|l| {
            !l.starts_with("at ")
                && !l.starts_with('❯')
                && !l.starts_with("Plugin: ")
                && !l.starts_with("File: ")
                && !is_code_frame(l)
                && !l.starts_with('{')
                && !(paragraph && l.is_empty())
        })
        .collect();
    let first = message_lines.first().copied().unwrap_or("");
    let (name, first) = match exception(first) {
        Some((name, msg)) => (Some(name.to_owned()), msg),
        None => (None, first.to_owned()),
    };
    let rest = message_lines.iter().skip(1).copied();
    let message = one_line(std::iter::once(first.as_str()).chain(rest));
    let frames = trace::innermost_last(&trace::frames(&lines.join("\n")));
    (message, name, frames)
}

/// jest's and vitest's code frames: `  > 15 |  code`, `     13| code`, `       |   ^`.
fn is_code_frame(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches('>').trim_start();
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    let rest = t.get(digits..).unwrap_or("").trim_start();
    rest.starts_with('|')
}

fn kind_of(name: Option<&str>, message: &str) -> FailureKind {
    if is_assertion(name, message) {
        FailureKind::Assertion
    } else {
        FailureKind::Error
    }
}

fn title_id(file: Option<&str>, titles: &[String]) -> String {
    let title = titles.join(SEP);
    match file {
        Some(file) if !title.is_empty() => format!("{file}{SEP}{title}"),
        Some(file) => file.to_owned(),
        None => title,
    }
}

// ---------------------------------------------------------------------------------------------
// node --test

pub(super) fn node(text: &str) -> TestReport {
    if text.lines().any(|l| l.trim() == "TAP version 13") {
        node_tap(text)
    } else {
        node_spec(text)
    }
}

/// `# tests 8` / `ℹ tests 8` lines into counts.
fn node_count(counts: &mut Counts, key: &str, value: &str) {
    let Ok(n) = value.trim().parse::<usize>() else {
        return;
    };
    match key {
        "tests" => counts.total = Some(n),
        "pass" => counts.passed = Some(n),
        "fail" => counts.failed = Some(n),
        "skipped" => counts.skipped = Some(n),
        _ => {}
    }
}

/// A YAML block's keys (at its own indent) with their values: a quoted or plain scalar as one
/// line, a `|-` block as its lines.
fn yaml(lines: &[&str]) -> Vec<(String, Vec<String>)> {
    let base = lines.first().map_or(0, |l| indent(l));
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_block = false;
    for line in lines {
        let ind = indent(line);
        if in_block && (ind > base || line.trim().is_empty()) {
            if let Some((_, v)) = out.last_mut() {
                v.push(line.get(base + 2..).unwrap_or("").to_owned());
            }
            continue;
        }
        in_block = false;
        if ind != base {
            continue;
        }
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            in_block = true;
            out.push((key.to_owned(), Vec::new()));
        } else {
            out.push((key.to_owned(), vec![unquote(value)]));
        }
    }
    out
}

/// YAML's `'it''s'` and `"a\"b"` scalars as text.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else {
        value.to_owned()
    }
}

fn node_tap(text: &str) -> TestReport {
    let lines: Vec<&str> = text.lines().collect();
    let mut failures = Vec::new();
    let mut counts = Counts::default();
    let mut path: Vec<String> = Vec::new();
    let mut comments: Vec<&str> = Vec::new();
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        i += 1;
        let ind = indent(line);
        let t = line.trim();
        if let Some(name) = t.strip_prefix("# Subtest: ") {
            path.truncate(ind / 4);
            path.push(name.to_owned());
            continue;
        }
        if let Some(comment) = t.strip_prefix('#') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            if ind == 0 {
                if let Some((key, value)) = comment.split_once(' ') {
                    if matches!(key, "tests" | "pass" | "fail" | "skipped") {
                        node_count(&mut counts, key, value);
                        continue;
                    }
                }
            }
            comments.push(comment);
            continue;
        }
        let result = t
            .strip_prefix("not ok ")
            .map(|r| (false, r))
            .or_else(|| t.strip_prefix("ok ").map(|r| (true, r)));
        let Some((ok, rest)) = result else {
            continue;
        };
        let name = rest.split_once(" - ").map_or("", |(_, n)| n);
        let name = name.split_once(" # ").map_or(name, |(n, _)| n).to_owned();
        // Its YAML block, two spaces deeper, from `---` to `...`.
        let mut block = Vec::new();
        if lines.get(i).is_some_and(|l| l.trim() == "---") {
            i += 1;
            while let Some(&l) = lines.get(i) {
                i += 1;
                if l.trim() == "..." && indent(l) == ind + 2 {
                    break;
                }
                block.push(l);
            }
        }
        let crash = std::mem::take(&mut comments);
        let depth = ind / 4;
        path.truncate(depth);
        if ok {
            continue;
        }
        let fields = yaml(&block);
        let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let first = |key: &str| field(key).and_then(|v| v.first()).cloned();
        if first("failureType").as_deref() == Some("subtestsFailed") {
            continue;
        }
        let file = first("location").map(|l| strip_position(&l).to_owned());
        let load = field("exitCode").is_some() || file.as_deref() == Some(name.as_str());
        let mut titles = path.clone();
        titles.push(name.clone());
        let failure = if load {
            let crash_text = crash.join("\n");
            let frames = trace::innermost_last(&trace::frames(&crash_text));
            let message = crash
                .iter()
                .find_map(|l| exception(l).map(|(_, m)| m))
                .or_else(|| first("error"))
                .unwrap_or_default();
            TestFailure {
                id: file.clone().unwrap_or_else(|| name.clone()),
                name: name.clone(),
                file: file.clone().or(Some(name)),
                kind: FailureKind::Load,
                message: one_line([message.as_str()]),
                location: location_of(&frames),
                frames,
            }
        } else {
            let error: Vec<String> = field("error").cloned().unwrap_or_default();
            let error_name = first("name");
            let message = match &error_name {
                Some(n) => one_line(
                    std::iter::once(format!("{n}:").as_str())
                        .chain(error.iter().map(String::as_str)),
                ),
                None => one_line(error.iter().map(String::as_str)),
            };
            let stack: Vec<String> = field("stack")
                .map(|s| s.iter().map(|l| format!("at {}", l.trim())).collect())
                .unwrap_or_default();
            let frames = trace::innermost_last(&trace::frames(&stack.join("\n")));
            let assertion = error_name.as_deref() == Some("AssertionError")
                || first("code").as_deref() == Some("ERR_ASSERTION");
            let location = location_of(&frames).or_else(|| {
                first("location").and_then(|l| {
                    trace::split_location(&l).map(|(path, line, column)| Location {
                        path: path.to_owned(),
                        line,
                        column,
                    })
                })
            });
            TestFailure {
                id: title_id(file.as_deref(), &titles),
                name: name.clone(),
                file,
                kind: if assertion {
                    FailureKind::Assertion
                } else {
                    FailureKind::Error
                },
                message,
                location,
                frames,
            }
        };
        failures.push(failure);
    }
    node_report(counts, failures)
}

fn node_report(counts: Counts, failures: Vec<TestFailure>) -> TestReport {
    let ran = counts.passed.unwrap_or(0) > 0
        || counts.skipped.unwrap_or(0) > 0
        || failures.iter().any(|f| f.kind != FailureKind::Load);
    TestReport {
        runner: Runner::NodeTest,
        ran,
        broken: broken_of(&failures),
        counts,
        failures,
    }
}

/// `gives the bulk discount (0.81ms)` → `gives the bulk discount`.
fn strip_duration(text: &str) -> &str {
    match text.rsplit_once(" (") {
        Some((head, tail)) if tail.ends_with("ms)") => head,
        _ => text,
    }
}

fn node_spec(text: &str) -> TestReport {
    let lines: Vec<&str> = text.lines().collect();
    let mut failures: Vec<TestFailure> = Vec::new();
    let mut counts = Counts::default();
    let mut suites: Vec<(usize, String)> = Vec::new();
    let mut raw: Vec<&str> = Vec::new();
    let mut in_list = false;
    let mut list_file: Option<String> = None;
    let mut cursor = 0usize;
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        i += 1;
        let ind = indent(line);
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("ℹ ") {
            if let Some((key, value)) = rest.split_once(' ') {
                node_count(&mut counts, key, value);
            }
            continue;
        }
        if t == "✖ failing tests:" {
            in_list = true;
            continue;
        }
        if in_list {
            if let Some(place) = t.strip_prefix("test at ") {
                list_file = Some(strip_position(place).to_owned());
            } else if let Some(rest) = t.strip_prefix("✖ ") {
                let name = strip_duration(rest);
                if let Some(file) = list_file.take() {
                    // The list is in the order of the failures above: look from the last match on.
                    let fits = |f: &TestFailure| f.file.is_none() && f.name == name;
                    let at = failures
                        .get(cursor..)
                        .and_then(|rest| rest.iter().position(fits))
                        .map(|i| i + cursor)
                        .or_else(|| failures.iter().position(fits));
                    if let Some(f) = at.and_then(|i| {
                        cursor = i + 1;
                        failures.get_mut(i)
                    }) {
                        f.id = if f.kind == FailureKind::Load {
                            file.clone()
                        } else {
                            format!("{file}{SEP}{}", f.id)
                        };
                        f.file = Some(file);
                    }
                }
            }
            continue;
        }
        if let Some(name) = t.strip_prefix("▶ ") {
            suites.retain(|(d, _)| *d < ind);
            suites.push((ind, name.to_owned()));
            raw.clear();
            continue;
        }
        let marker = ["✔ ", "✖ ", "﹣ "]
            .iter()
            .find_map(|m| t.strip_prefix(m).map(|r| (*m, r)));
        let Some((marker, rest)) = marker else {
            // Output between results: a file's crash output, printed raw.
            raw.push(line);
            continue;
        };
        let name = strip_duration(rest.split_once(" # ").map_or(rest, |(n, _)| n));
        let closes_suite = suites.last().is_some_and(|(d, n)| *d == ind && n == name);
        if closes_suite {
            suites.pop();
            raw.clear();
            continue;
        }
        let crash = std::mem::take(&mut raw);
        if marker != "✖ " {
            continue;
        }
        // The error: the lines below, indented deeper.
        let start = i;
        while lines
            .get(i)
            .is_some_and(|l| l.trim().is_empty() || indent(l) > ind)
        {
            i += 1;
        }
        let block: Vec<&str> = lines.get(start..i).unwrap_or(&[]).to_vec();
        let mut titles: Vec<String> = suites
            .iter()
            .filter(|(d, _)| *d < ind)
            .map(|(_, n)| n.clone())
            .collect();
        titles.push(name.to_owned());
        let load = name.starts_with('/') || name.contains(":\\") || name.starts_with("file:");
        if load {
            let frames = trace::innermost_last(&trace::frames(&crash.join("\n")));
            let message = crash
                .iter()
                .find_map(|l| exception(l).map(|(_, m)| m))
                .unwrap_or_else(|| one_line(block.iter().copied()));
            failures.push(TestFailure {
                id: name.to_owned(),
                name: name.to_owned(),
                file: None,
                kind: FailureKind::Load,
                message: one_line([message.as_str()]),
                location: location_of(&frames),
                frames,
            });
        } else {
            let (message, error_name, frames) = js_error(&block, false);
            failures.push(TestFailure {
                id: titles.join(SEP),
                name: name.to_owned(),
                file: None,
                kind: kind_of(error_name.as_deref(), &message),
                message,
                location: location_of(&frames),
                frames,
            });
        }
    }
    node_report(counts, failures)
}

// ---------------------------------------------------------------------------------------------
// jest

pub(super) fn jest(text: &str) -> TestReport {
    let mut entries: Vec<(Option<&str>, &str, Vec<&str>)> = Vec::new();
    let mut file: Option<&str> = None;
    let mut counts = Counts::default();
    let mut open = false;
    let mut repeated = false;
    for line in text.lines() {
        let t = line.trim();
        let header = (indent(line) <= 1)
            .then(|| t.strip_prefix("FAIL ").or_else(|| t.strip_prefix("PASS ")))
            .flatten();
        if let Some(rest) = header {
            let rest = rest.trim();
            let rest = match rest.rsplit_once(" (") {
                Some((head, tail)) if tail.ends_with(" s)") || tail.ends_with("ms)") => head,
                _ => rest,
            };
            file = Some(rest);
            open = false;
            continue;
        }
        if t == "Summary of all failing tests" {
            repeated = true;
            open = false;
            continue;
        }
        if let Some(title) = t.strip_prefix("● ").filter(|_| indent(line) == 2) {
            open = !repeated;
            if open {
                entries.push((file, title, Vec::new()));
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("Tests:").filter(|_| indent(line) == 0) {
            let parts: Vec<&str> = rest.split(", ").map(str::trim).collect();
            counts = Counts {
                passed: Some(count_before(&parts, &["passed"]).unwrap_or(0)),
                failed: Some(count_before(&parts, &["failed"]).unwrap_or(0)),
                errors: None,
                skipped: Some(count_before(&parts, &["skipped"]).unwrap_or(0)),
                total: count_before(&parts, &["total"]),
            };
            open = false;
            continue;
        }
        if t.starts_with("Test Suites:") && indent(line) == 0 {
            open = false;
            continue;
        }
        if open {
            if let Some((_, _, body)) = entries.last_mut() {
                body.push(line);
            }
        }
    }
    let failures: Vec<TestFailure> = entries
        .iter()
        .map(|(file, title, body)| jest_failure(*file, title, body))
        .collect();
    let ran =
        counts.total.is_some_and(|n| n > 0) || failures.iter().any(|f| f.kind != FailureKind::Load);
    TestReport {
        runner: Runner::Jest,
        ran,
        broken: broken_of(&failures),
        counts,
        failures,
    }
}

fn jest_failure(file: Option<&str>, title: &str, body: &[&str]) -> TestFailure {
    let (message, error_name, frames) = js_error(body, false);
    if title == "Test suite failed to run" {
        // Babel: `SyntaxError: /abs/pricing.js: Unexpected token, expected ")" (20:33)`.
        let location = babel_location(&message).or_else(|| location_of(&frames));
        let file = file.map(str::to_owned);
        return TestFailure {
            id: file.clone().unwrap_or_else(|| title.to_owned()),
            name: file.clone().unwrap_or_else(|| title.to_owned()),
            file,
            kind: FailureKind::Load,
            message,
            location,
            frames,
        };
    }
    let titles: Vec<String> = title.split(" › ").map(str::to_owned).collect();
    TestFailure {
        id: title_id(file, &titles),
        name: titles.last().cloned().unwrap_or_default(),
        file: file.map(str::to_owned),
        kind: kind_of(error_name.as_deref(), &message),
        message,
        location: location_of(&frames),
        frames,
    }
}

/// `SyntaxError: /abs/x.js: Unexpected token (20:33)` → /abs/x.js:20:33.
fn babel_location(message: &str) -> Option<Location> {
    let (_, rest) = message.split_once(": ")?;
    let (path, rest) = rest.split_once(": ")?;
    let (_, place) = rest.trim_end().rsplit_once(" (")?;
    let (line, column) = place.strip_suffix(')')?.split_once(':')?;
    Some(Location {
        path: path.to_owned(),
        line: line.parse().ok()?,
        column: column.parse().ok(),
    })
}

// ---------------------------------------------------------------------------------------------
// vitest

pub(super) fn vitest(text: &str) -> TestReport {
    #[derive(PartialEq)]
    enum Section {
        None,
        Tests,
        Suites,
        Other,
    }
    let mut section = Section::None;
    let mut groups: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
    let mut open = false;
    let mut counts = Counts::default();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('⎯') {
            open = false;
            if t.contains(" Failed Tests ") {
                section = Section::Tests;
            } else if t.contains(" Failed Suites ") {
                section = Section::Suites;
            } else if t
                .trim_matches('⎯')
                .trim()
                .starts_with(|c: char| c.is_alphabetic())
            {
                section = Section::Other;
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("Tests ") {
            vitest_counts(&mut counts, rest.trim());
            section = Section::None;
            open = false;
            continue;
        }
        if t.starts_with("Test Files ") {
            section = Section::None;
            open = false;
            continue;
        }
        if section == Section::Tests || section == Section::Suites {
            if let Some(header) = t.strip_prefix("FAIL ") {
                let header = header.trim();
                match groups.last_mut() {
                    // Suites failing with one error are listed together above it.
                    Some((headers, body)) if open && body.iter().all(|l| l.trim().is_empty()) => {
                        headers.push(header)
                    }
                    _ => groups.push((vec![header], Vec::new())),
                }
                open = true;
                continue;
            }
            if open {
                if let Some((_, body)) = groups.last_mut() {
                    body.push(line);
                }
            }
        }
    }
    let mut failures = Vec::new();
    for (headers, body) in &groups {
        let (message, error_name, frames) = js_error(body, true);
        for header in headers {
            let (head, load) = match header.split_once(" [ ") {
                Some((head, _)) => (head.trim(), true),
                None => (*header, false),
            };
            let (file, title) = head.split_once(SEP).unwrap_or((head, ""));
            let load = load && title.is_empty();
            let location = if load {
                file_location(body).or_else(|| location_of(&frames))
            } else {
                location_of(&frames)
            };
            failures.push(TestFailure {
                id: head.to_owned(),
                name: if title.is_empty() {
                    file.to_owned()
                } else {
                    title.rsplit(SEP).next().unwrap_or(title).to_owned()
                },
                file: Some(file.to_owned()),
                kind: if load {
                    FailureKind::Load
                } else {
                    kind_of(error_name.as_deref(), &message)
                },
                message: message.clone(),
                location,
                frames: frames.clone(),
            });
        }
    }
    let ran =
        counts.total.is_some_and(|n| n > 0) || failures.iter().any(|f| f.kind != FailureKind::Load);
    TestReport {
        runner: Runner::Vitest,
        ran,
        broken: broken_of(&failures),
        counts,
        failures,
    }
}

/// `2 failed | 5 passed | 1 skipped (8)`, `no tests`.
fn vitest_counts(counts: &mut Counts, rest: &str) {
    if rest == "no tests" {
        *counts = Counts {
            passed: Some(0),
            failed: Some(0),
            errors: None,
            skipped: Some(0),
            total: Some(0),
        };
        return;
    }
    let (parts, total) = rest.rsplit_once(" (").unwrap_or((rest, ""));
    let parts: Vec<&str> = parts.split(" | ").map(str::trim).collect();
    *counts = Counts {
        passed: Some(count_before(&parts, &["passed"]).unwrap_or(0)),
        failed: Some(count_before(&parts, &["failed"]).unwrap_or(0)),
        errors: None,
        skipped: Some(count_before(&parts, &["skipped"]).unwrap_or(0)),
        total: total.trim_end_matches(')').parse().ok(),
    };
}

/// vite's `  File: /abs/src/pricing.ts:23:33`.
fn file_location(body: &[&str]) -> Option<Location> {
    body.iter().find_map(|l| {
        let place = l.trim().strip_prefix("File: ")?;
        let (path, line, column) = trace::split_location(place)?;
        Some(Location {
            path: path.to_owned(),
            line,
            column,
        })
    })
}
