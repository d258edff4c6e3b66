//! unittest and pytest output (fixtures/testruns/README.md, "unittest" and "pytest").
//!
//! unittest: the `FAIL:`/`ERROR:` blocks under lines of `=` (all ERROR blocks before all FAIL
//! blocks), `Ran N tests`, `FAILED (failures=1, errors=1, skipped=1)` / `OK`; a module that
//! failed to import is an ERROR of `unittest.loader._FailedTest`. pytest: the `FAILURES` and
//! `ERRORS` sections (the short summary's messages are cut at 80 columns, so the details come
//! from the sections; the summary gives the node ids), the final counts line (bare with `-q`),
//! `Interrupted:` after a collection error.

use std::collections::HashMap;

use super::{
    broken_of, count_before, exception, is_assertion, location_of, one_line, Broken, Counts,
    FailureKind, Runner, TestFailure, TestReport,
};
use crate::trace;

/// `Ran 8 tests in 0.001s` → 8.
pub(super) fn ran_count(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("Ran ")?;
    let (n, rest) = rest.split_once(' ')?;
    (rest.starts_with("test in ") || rest.starts_with("tests in "))
        .then(|| n.parse().ok())
        .flatten()
}

/// A line of at least 20 `c`, nothing else.
fn is_rule(line: &str, c: char) -> bool {
    let line = line.trim_end();
    line.chars().count() >= 20 && line.chars().all(|x| x == c)
}

pub(super) fn unittest(text: &str) -> TestReport {
    let lines: Vec<&str> = text.lines().collect();
    let mut failures = Vec::new();
    let mut counts = Counts::default();
    let mut total = None::<usize>;
    let mut status = None::<Vec<(String, usize)>>;
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        let next = lines.get(i + 1).copied().unwrap_or("");
        if is_rule(line, '=') && block_header(next).is_some() {
            let mut end = i + 2;
            while let Some(&l) = lines.get(end) {
                let after = lines.get(end + 1).copied().unwrap_or("");
                if (is_rule(l, '=') && block_header(after).is_some())
                    || (is_rule(l, '-') && ran_count(after.trim()).is_some())
                {
                    break;
                }
                end += 1;
            }
            if let Some((word, header)) = block_header(next) {
                let body = lines.get(i + 2..end).unwrap_or(&[]);
                failures.push(unittest_block(word, header, body));
            }
            i = end;
            continue;
        }
        let t = line.trim();
        if let Some(n) = ran_count(t) {
            total = Some(total.unwrap_or(0) + n);
        } else if let Some(parts) = unittest_status(t) {
            let all = status.get_or_insert_with(Vec::new);
            all.extend(parts);
        }
        i += 1;
    }
    if let Some(parts) = &status {
        let get = |key: &str| {
            parts
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, n)| n)
                .sum::<usize>()
        };
        counts.failed = Some(get("failures"));
        counts.errors = Some(get("errors"));
        counts.skipped = Some(get("skipped"));
        if let Some(total) = total {
            let others = get("failures")
                + get("errors")
                + get("skipped")
                + get("expected failures")
                + get("unexpected successes");
            counts.passed = Some(total.saturating_sub(others));
        }
    }
    counts.total = total;
    let loads = failures
        .iter()
        .filter(|f| f.kind == FailureKind::Load)
        .count();
    TestReport {
        runner: Runner::Unittest,
        ran: total.is_some_and(|t| t > loads),
        broken: broken_of(&failures),
        counts,
        failures,
    }
}

/// `FAIL: test_x (mod.Class.test_x)` → ("FAIL", "test_x (mod.Class.test_x)").
fn block_header(line: &str) -> Option<(&str, &str)> {
    line.strip_prefix("FAIL: ")
        .map(|h| ("FAIL", h))
        .or_else(|| line.strip_prefix("ERROR: ").map(|h| ("ERROR", h)))
}

/// `OK`, `OK (skipped=1)`, `FAILED (failures=1, errors=2, skipped=1)` → the parts.
fn unittest_status(line: &str) -> Option<Vec<(String, usize)>> {
    let rest = if line == "OK" || line == "FAILED" {
        return Some(Vec::new());
    } else if let Some(rest) = line.strip_prefix("OK (") {
        rest
    } else {
        line.strip_prefix("FAILED (")?
    };
    let inner = rest.strip_suffix(')')?;
    inner
        .split(", ")
        .map(|part| {
            let (k, v) = part.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn unittest_block(word: &str, header: &str, body: &[&str]) -> TestFailure {
    // `test_x (mod.Class.test_x)`, 3.10 and older `test_x (mod.Class)`, subtests
    // `test_x (mod.Class.test_x) (i=1)` or `[msg]`, class fixtures `setUpClass (mod.Class)`.
    let (method, rest) = header.split_once(" (").unwrap_or((header, ""));
    let (dotted, extra) = rest.split_once(')').unwrap_or((rest, ""));
    let mut id = if dotted.is_empty() || dotted == method || dotted.ends_with(&format!(".{method}"))
    {
        if dotted.is_empty() {
            method.to_owned()
        } else {
            dotted.to_owned()
        }
    } else {
        format!("{dotted}.{method}")
    };
    let extra = extra.trim();
    if !extra.is_empty() {
        id = format!("{id} {extra}");
    }
    let load = dotted.starts_with("unittest.loader._FailedTest")
        || dotted.starts_with("unittest.loader.ModuleImportFailure");
    let text = body.join("\n");
    let frames = trace::frames(&text);
    let message = python_exception_line(body);
    let file = if load {
        frames
            .iter()
            .find(|f| {
                f.function.as_deref() == Some("<module>")
                    && f.path
                        .rsplit(['/', '\\'])
                        .next()
                        .and_then(|b| b.strip_suffix(".py"))
                        == Some(method)
            })
            .map(|f| f.path.clone())
    } else {
        frames
            .iter()
            .find(|f| f.function.as_deref() == Some(method))
            .map(|f| f.path.clone())
    };
    TestFailure {
        id,
        name: method.to_owned(),
        file,
        kind: if load {
            FailureKind::Load
        } else if word == "FAIL" {
            FailureKind::Assertion
        } else {
            FailureKind::Error
        },
        message,
        location: location_of(&frames),
        frames,
    }
}

/// The exception that ends a traceback: the first unindented line after the last
/// `  File "..."` frame (its source and caret lines are indented), else the first unindented
/// line that is not the `Traceback` header.
fn python_exception_line(body: &[&str]) -> String {
    let last_frame = body
        .iter()
        .rposition(|l| l.trim_start().starts_with("File \"") && l.starts_with(' '));
    let from = last_frame.map_or(0, |i| i + 1);
    body.get(from..)
        .unwrap_or(&[])
        .iter()
        .find(|l| {
            !l.trim().is_empty()
                && !l.starts_with(' ')
                && !l.starts_with('\t')
                && !l.starts_with("Traceback (most recent call last)")
        })
        .map(|l| one_line([*l]))
        .unwrap_or_default()
}

/// pytest's counts line without its `=` rule: `2 failed, 5 passed, 1 skipped in 0.06s`,
/// `1 error in 0.21s`, `no tests ran in 0.01s`. pytest leaves out the zero parts.
pub(super) fn pytest_counts(line: &str) -> Option<Counts> {
    let (parts, duration) = line.rsplit_once(" in ")?;
    let duration = duration.trim();
    if !duration.starts_with(|c: char| c.is_ascii_digit())
        || !(duration.ends_with('s') || duration.ends_with(')'))
    {
        return None;
    }
    if parts == "no tests ran" {
        return Some(Counts {
            passed: Some(0),
            failed: Some(0),
            errors: Some(0),
            skipped: Some(0),
            total: None,
        });
    }
    const WORDS: &[&str] = &[
        "failed",
        "passed",
        "skipped",
        "error",
        "errors",
        "xfailed",
        "xpassed",
        "deselected",
        "warning",
        "warnings",
        "rerun",
        "subtests",
    ];
    let parts: Vec<&str> = parts.split(", ").collect();
    let well_formed = parts.iter().all(|p| {
        let mut it = p.split_whitespace();
        matches!(
            (it.next(), it.next(), it.next()),
            (Some(n), Some(w), None) if n.parse::<usize>().is_ok() && WORDS.contains(&w)
        )
    });
    if !well_formed {
        return None;
    }
    Some(Counts {
        passed: Some(count_before(&parts, &["passed"]).unwrap_or(0)),
        failed: Some(count_before(&parts, &["failed"]).unwrap_or(0)),
        errors: Some(count_before(&parts, &["error", "errors"]).unwrap_or(0)),
        skipped: Some(count_before(&parts, &["skipped"]).unwrap_or(0)),
        total: None,
    })
}

/// One entry of pytest's FAILURES or ERRORS section.
struct Entry<'a> {
    section: &'a str,
    title: &'a str,
    body: Vec<&'a str>,
}

pub(super) fn pytest(text: &str) -> TestReport {
    let mut section = "";
    let mut entries: Vec<Entry> = Vec::new();
    let mut summary: Vec<(&str, &str, &str)> = Vec::new();
    let mut counts = None;
    let mut interrupted = false;
    let mut usage_error = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(title) = rule_title(t) {
            section = title;
            if let Some(c) = pytest_counts(title) {
                counts = Some(c);
            }
            continue;
        }
        if t.starts_with("!!!") {
            if t.trim_matches('!').trim().starts_with("Interrupted:") {
                interrupted = true;
            }
            continue;
        }
        match section {
            "FAILURES" | "ERRORS" => {
                if let Some(title) = entry_title(line) {
                    entries.push(Entry {
                        section,
                        title,
                        body: Vec::new(),
                    });
                } else if let Some(entry) = entries.last_mut() {
                    entry.body.push(line);
                }
            }
            "short test summary info" => {
                for word in ["FAILED", "ERROR"] {
                    if let Some(rest) = t.strip_prefix(word).and_then(|r| r.strip_prefix(' ')) {
                        let (id, msg) = rest.split_once(" - ").unwrap_or((rest, ""));
                        summary.push((word, id.trim(), msg.trim()));
                    }
                }
            }
            _ => {}
        }
        if !line.starts_with(' ') {
            if let Some(c) = pytest_counts(t) {
                counts = Some(c);
            }
            if let Some(msg) = t.strip_prefix("ERROR: ") {
                usage_error.get_or_insert_with(|| msg.to_owned());
            }
        }
    }
    // A section's title is the node id's tail with `.` for `::` (`TestX.test_y[1.5]`), or the
    // file for a collection error: the summary's ids by both.
    let mut by_title: HashMap<(&str, String), Vec<usize>> = HashMap::new();
    for (i, (word, id, _)) in summary.iter().enumerate() {
        by_title
            .entry((word, (*id).to_owned()))
            .or_default()
            .push(i);
        if let Some(tail) = dotted_tail(id) {
            by_title.entry((word, tail)).or_default().push(i);
        }
    }
    let mut used = vec![false; summary.len()];
    let mut failures: Vec<TestFailure> = entries
        .iter()
        .map(|e| pytest_entry(e, &summary, &by_title, &mut used))
        .collect();
    // Summary lines without a section (`--tb=no`, `--tb=line`): what the summary says.
    for ((word, id, msg), used) in summary.iter().zip(&used) {
        if *used {
            continue;
        }
        let load = *word == "ERROR" && !id.contains("::");
        let name = exception(msg).map(|(n, _)| n);
        failures.push(TestFailure {
            id: (*id).to_owned(),
            name: id.rsplit("::").next().unwrap_or(id).to_owned(),
            file: id.split("::").next().map(str::to_owned),
            kind: if load {
                FailureKind::Load
            } else if *word == "FAILED" && is_assertion(name, msg) {
                FailureKind::Assertion
            } else {
                FailureKind::Error
            },
            message: (*msg).to_owned(),
            location: None,
            frames: Vec::new(),
        });
    }
    let counts = counts.unwrap_or_default();
    let ran_any =
        counts.passed.unwrap_or(0) + counts.failed.unwrap_or(0) + counts.skipped.unwrap_or(0) > 0
            || failures.iter().any(|f| f.kind != FailureKind::Load);
    let broken = broken_of(&failures).or_else(|| {
        usage_error.map(|message| Broken {
            message,
            location: None,
            frames: Vec::new(),
        })
    });
    TestReport {
        runner: Runner::Pytest,
        ran: ran_any && !interrupted,
        broken,
        counts,
        failures,
    }
}

/// `==== FAILURES ====` → `FAILURES`; a bare rule → ``.
fn rule_title(line: &str) -> Option<&str> {
    (line.starts_with("==") && line.ends_with("==")).then(|| line.trim_matches('=').trim())
}

/// `_____ test_name _____` → `test_name` (not the `_ _ _` frame separator).
fn entry_title(line: &str) -> Option<&str> {
    let t = line.trim_end();
    if !t.starts_with('_') || !t.ends_with('_') {
        return None;
    }
    let inner = t.trim_matches('_').trim();
    (!inner.is_empty() && !inner.starts_with("_ ")).then_some(inner)
}

fn pytest_entry(
    entry: &Entry,
    summary: &[(&str, &str, &str)],
    by_title: &HashMap<(&str, String), Vec<usize>>,
    used: &mut [bool],
) -> TestFailure {
    let text = entry.body.join("\n");
    let frames = trace::frames(&text);
    let (title, kind_hint) = if entry.section == "ERRORS" {
        if let Some(path) = entry.title.strip_prefix("ERROR collecting ") {
            (path, Some(FailureKind::Load))
        } else {
            let t = entry
                .title
                .strip_prefix("ERROR at setup of ")
                .or_else(|| entry.title.strip_prefix("ERROR at teardown of "))
                .unwrap_or(entry.title);
            (t, Some(FailureKind::Error))
        }
    } else {
        (entry.title, None)
    };
    // The message: the `E` lines' exception, else their first line, else (`--tb=native`) the
    // traceback's last exception line.
    let e_lines: Vec<&str> = entry
        .body
        .iter()
        .filter_map(|l| {
            if *l == "E" {
                Some("")
            } else {
                l.strip_prefix("E ")
            }
        })
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let (name, message) = match e_lines.iter().find_map(|l| exception(l)) {
        Some((name, msg)) => (Some(name), msg),
        None => match e_lines.first() {
            Some(first) => (None, (*first).to_owned()),
            None => {
                let line = entry
                    .body
                    .iter()
                    .rev()
                    .find_map(|l| (!l.starts_with(' ')).then(|| exception(l)).flatten());
                match line {
                    Some((name, msg)) => (Some(name), msg),
                    None => (None, String::new()),
                }
            }
        },
    };
    let message = one_line([message.as_str()]);
    let kind = kind_hint.unwrap_or(if is_assertion(name, &message) {
        FailureKind::Assertion
    } else {
        FailureKind::Error
    });
    let word = if entry.section == "ERRORS" {
        "ERROR"
    } else {
        "FAILED"
    };
    let matched = by_title
        .get(&(word, title.to_owned()))
        .and_then(|candidates| {
            candidates
                .iter()
                .find(|&&i| used.get(i).is_some_and(|u| !u))
        })
        .copied();
    let id = match matched.and_then(|i| Some((i, summary.get(i)?))) {
        Some((i, (_, id, _))) => {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            (*id).to_owned()
        }
        None if kind == FailureKind::Load => title.to_owned(),
        None => {
            let file = frames
                .iter()
                .find(|f| !trace::is_library(&f.path))
                .map(|f| f.path.clone());
            match file {
                Some(file) => format!("{file}::{}", node_id_tail(title)),
                None => title.to_owned(),
            }
        }
    };
    let file = id.split("::").next().map(str::to_owned);
    let location = location_of(&frames);
    TestFailure {
        name: id.rsplit("::").next().unwrap_or(&id).to_owned(),
        id,
        file,
        kind,
        message,
        location,
        frames,
    }
}

/// `tests/x.py::TestA::test_b[1.5]` → `TestA.test_b[1.5]` (the section title's form).
fn dotted_tail(id: &str) -> Option<String> {
    id.split_once("::").map(|(_, tail)| tail.replace("::", "."))
}

/// `TestA.test_b[1.5]` → `TestA::test_b[1.5]` (dots outside the parameter brackets).
fn node_id_tail(title: &str) -> String {
    let mut out = String::with_capacity(title.len() + 4);
    let mut depth = 0usize;
    for c in title.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c == '.' && depth == 0 {
            out.push_str("::");
        } else {
            out.push(c);
        }
    }
    out
}
