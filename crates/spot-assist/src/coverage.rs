//! Fault localization from execution: per-test line coverage and spectrum-based suspiciousness.
//!
//! [`ochiai`] scores a line by how strongly running it goes with failing:
//! `ef / sqrt((ef + nf) · (ef + ep))`, where `ef`/`ep` are the failing/passing tests that ran it
//! and `nf` the failing tests that did not. It is computed from a [`Spectrum`]: which tests ran
//! which lines of which files.
//!
//! Per language, where spot can collect a spectrum without changing the project:
//! - Python: coverage.py with dynamic contexts (`dynamic_context = test_function`), when the
//!   test command runs pytest or unittest through a Python that has the `coverage` package
//!   ([`python_command`] rewrites `PY -m pytest ARGS` to `PY -m coverage run --rcfile=RC -m pytest
//!   ARGS`); the data and the report go to the scratch copy's parent, never the workspace.
//! - Go, JavaScript/TypeScript, Rust: not collected; their failures' stack frames are the
//!   execution evidence (`trace`). The repair result says which evidence was used.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

/// Which tests ran which lines: file (workspace-relative) → line (1-based) → test names.
#[derive(Debug, Clone, Default)]
pub struct Spectrum {
    pub lines: BTreeMap<String, BTreeMap<u32, Vec<String>>>,
    /// Every test name seen.
    pub tests: HashSet<String>,
}

/// A line and its suspiciousness.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspicious {
    pub path: String,
    /// 1-based.
    pub line: u32,
    pub score: f64,
}

/// Ochiai suspiciousness of every covered line, given which tests failed (`failed` says so of a
/// test name of the spectrum), best first; lines no failing test ran are left out.
pub fn ochiai(spectrum: &Spectrum, failed: &dyn Fn(&str) -> bool) -> Vec<Suspicious> {
    let total_failed = spectrum.tests.iter().filter(|t| failed(t)).count();
    if total_failed == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (path, lines) in &spectrum.lines {
        for (&line, tests) in lines {
            let ef = tests.iter().filter(|t| failed(t)).count();
            if ef == 0 {
                continue;
            }
            let ep = tests.len() - ef;
            let nf = total_failed - ef;
            let denom = (((ef + nf) * (ef + ep)) as f64).sqrt();
            out.push(Suspicious {
                path: path.clone(),
                line,
                score: ef as f64 / denom,
            });
        }
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.line.cmp(&b.line))
    });
    out
}

/// The test command rewritten to run under coverage.py with per-test contexts, when it runs
/// pytest or unittest through an identifiable Python: `(python, command)`. `rcfile` is the
/// coverage configuration [`python_rc`] writes.
pub fn python_command(cmd: &str, rcfile: &Path) -> Option<(String, String)> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let rc = rcfile.display();
    // `PY -m pytest|unittest ARGS`
    for (i, w) in words.iter().enumerate() {
        let is_python = w
            .rsplit('/')
            .next()
            .is_some_and(|b| b.starts_with("python"));
        if is_python
            && words.get(i + 1) == Some(&"-m")
            && matches!(words.get(i + 2), Some(&"pytest") | Some(&"unittest"))
        {
            let prefix = words[..i].join(" ");
            let rest = words[i + 1..].join(" ");
            let command = format!("{prefix} {w} -m coverage run --rcfile={rc} {rest}");
            return Some(((*w).to_owned(), command.trim().to_owned()));
        }
    }
    // `[DIR/]pytest ARGS`: the Python of the same directory.
    let i = words
        .iter()
        .position(|w| w.rsplit('/').next() == Some("pytest"))?;
    let w = words[i];
    let python = match w.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/python"),
        None => "python3".to_owned(),
    };
    let prefix = words[..i].join(" ");
    let rest = words[i + 1..].join(" ");
    let command = format!("{prefix} {python} -m coverage run --rcfile={rc} -m pytest {rest}");
    Some((python, command.trim().to_owned()))
}

/// The coverage.py configuration: per-test contexts, data in `data_file`, only files under
/// `source` measured.
pub fn python_rc(data_file: &Path, source: &Path) -> String {
    format!(
        "[run]\ndynamic_context = test_function\ndata_file = {}\nsource = {}\n",
        data_file.display(),
        source.display()
    )
}

#[derive(Deserialize)]
struct CoverageJson {
    files: HashMap<String, CoverageFile>,
}

#[derive(Deserialize)]
struct CoverageFile {
    #[serde(default)]
    contexts: HashMap<String, Vec<String>>,
}

/// The spectrum of a `coverage json --show-contexts` report; file names are made relative to
/// `root` (the copy the tests ran in), others dropped.
pub fn parse_python_json(json: &str, root: &Path) -> Option<Spectrum> {
    let report: CoverageJson = serde_json::from_str(json).ok()?;
    let mut spectrum = Spectrum::default();
    for (file, data) in report.files {
        let path = Path::new(&file);
        let rel = if path.is_absolute() {
            match path.strip_prefix(root) {
                Ok(r) => r.to_string_lossy().replace('\\', "/"),
                Err(_) => continue,
            }
        } else {
            file.replace('\\', "/")
        };
        let mut lines = BTreeMap::new();
        for (line, contexts) in data.contexts {
            let Ok(line) = line.parse::<u32>() else {
                continue;
            };
            let tests: Vec<String> = contexts.into_iter().filter(|c| !c.is_empty()).collect();
            if tests.is_empty() {
                continue; // run at import time, not by a test
            }
            spectrum.tests.extend(tests.iter().cloned());
            lines.insert(line, tests);
        }
        if !lines.is_empty() {
            spectrum.lines.insert(rel, lines);
        }
    }
    Some(spectrum)
}

/// Whether coverage.py's context `context` (`module.Class.test_name`) names the test the runner
/// called `test_id` (`tests/test_x.py::Class::test_name[param]`, or unittest's
/// `tests.test_x.Class.test_name`).
pub fn context_matches(context: &str, test_id: &str) -> bool {
    let id = test_id.split('[').next().unwrap_or(test_id);
    // The id's parts, module file stem included: `test_x`, `Class`, `test_name`.
    let parts: Vec<String> = if id.contains("::") {
        let mut it = id.split("::");
        let file = it.next().unwrap_or_default();
        let stem = file
            .rsplit('/')
            .next()
            .unwrap_or(file)
            .trim_end_matches(".py")
            .to_owned();
        std::iter::once(stem).chain(it.map(str::to_owned)).collect()
    } else {
        id.split('.').map(str::to_owned).collect()
    };
    let ctx: Vec<&str> = context.split('.').collect();
    // Match from the end: the test's name, its class when any, then its module's last part.
    let n = parts.len().min(ctx.len());
    n >= 2
        && parts[parts.len() - n..]
            .iter()
            .zip(&ctx[ctx.len() - n..])
            .all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spectrum(rows: &[(&str, u32, &[&str])]) -> Spectrum {
        let mut s = Spectrum::default();
        for (path, line, tests) in rows {
            let names: Vec<String> = tests.iter().map(|t| (*t).to_owned()).collect();
            s.tests.extend(names.iter().cloned());
            s.lines
                .entry((*path).to_owned())
                .or_default()
                .insert(*line, names);
        }
        s
    }

    #[test]
    fn ochiai_ranks_the_line_only_failing_tests_run_first() {
        let s = spectrum(&[
            ("p.py", 21, &["t.test_below", "t.test_at"]),
            ("p.py", 23, &["t.test_at"]),
            ("p.py", 9, &["t.test_sum"]),
        ]);
        let scores = ochiai(&s, &|t| t == "t.test_at");
        assert_eq!(scores[0].line, 23);
        assert!((scores[0].score - 1.0).abs() < 1e-9);
        assert_eq!(scores[1].line, 21);
        assert!((scores[1].score - 1.0 / 2f64.sqrt()).abs() < 1e-9);
        assert_eq!(scores.len(), 2, "line 9 ran for no failing test");
        assert!(ochiai(&s, &|_| false).is_empty());
    }

    #[test]
    fn commands_are_rewritten_to_run_under_coverage() {
        let rc = Path::new("/scratch/rc");
        assert_eq!(
            python_command("python3 -m unittest discover -s tests -q", rc),
            Some((
                "python3".into(),
                "python3 -m coverage run --rcfile=/scratch/rc -m unittest discover -s tests -q"
                    .into()
            ))
        );
        assert_eq!(
            python_command("PYTHONPATH=src /v/bin/python -m pytest -q tests", rc),
            Some((
                "/v/bin/python".into(),
                "PYTHONPATH=src /v/bin/python -m coverage run --rcfile=/scratch/rc -m pytest -q tests"
                    .into()
            ))
        );
        assert_eq!(
            python_command("/v/bin/pytest -x", rc).map(|c| c.1),
            Some("/v/bin/python -m coverage run --rcfile=/scratch/rc -m pytest -x".into())
        );
        assert_eq!(python_command("go test ./...", rc), None);
        assert_eq!(python_command("npm test", rc), None);
    }

    #[test]
    fn contexts_match_pytest_and_unittest_ids() {
        assert!(context_matches(
            "test_pricing.test_bulk",
            "tests/test_pricing.py::test_bulk"
        ));
        assert!(context_matches(
            "test_pricing.Disc.test_bulk",
            "tests/test_pricing.py::Disc::test_bulk[3-4]"
        ));
        assert!(context_matches(
            "test_pricing.DiscountTest.test_bulk",
            "tests.test_pricing.DiscountTest.test_bulk"
        ));
        assert!(!context_matches(
            "test_pricing.test_bulk_below",
            "tests/test_pricing.py::test_bulk"
        ));
        assert!(!context_matches(
            "test_other.test_bulk",
            "tests/test_pricing.py::test_bulk"
        ));
    }

    #[test]
    fn a_coverage_report_becomes_a_spectrum_relative_to_the_copy() {
        let json = r#"{"files": {
            "/scratch/c1/pricing.py": {"contexts": {"21": ["t.a", "t.b"], "1": [""]}},
            "/elsewhere/x.py": {"contexts": {"3": ["t.a"]}},
            "tests/test_p.py": {"contexts": {"5": ["t.a"]}}
        }}"#;
        let s = parse_python_json(json, Path::new("/scratch/c1")).unwrap();
        assert_eq!(
            s.lines.keys().collect::<Vec<_>>(),
            ["pricing.py", "tests/test_p.py"]
        );
        assert_eq!(s.lines["pricing.py"].keys().collect::<Vec<_>>(), [&21]);
        assert_eq!(s.tests.len(), 2);
    }
}
