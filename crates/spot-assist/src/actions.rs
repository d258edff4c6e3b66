//! The code actions spot offers, listed cheaply (no model, no tests): what each is called, what
//! kind it is, and the issue text its fix will work from when chosen.
//!
//! - "Fix with spot: MESSAGE" for each diagnostic the editor sends in the range: a quick fix;
//! - "Fix `fn` with spot" for the function around the cursor: a rewrite, offered only when the
//!   user asked for actions (`invoked`), not for the lightbulb an editor computes on every cursor
//!   move — otherwise every line of every function shows one;
//! - "Fix failing test `name` with spot" when a test command is set and the cursor is in a test
//!   function (a function named `test…`/`Test…` in a test file): a quick fix aimed at that test
//!   (`target_test`), which the tests then judge.

use spot_index::Index;

use crate::localize::is_test_path;
use crate::prompt::function_at;

/// A diagnostic the editor reported, as an action needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionDiagnostic {
    pub message: String,
    /// 0-based line.
    pub line: u32,
    /// Who reported it (`pyright`, `spot`, …).
    pub source: Option<String>,
}

/// What kind of action: shown as a quick fix, or in the refactor menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    QuickFix,
    RefactorRewrite,
}

/// One listed action; resolving it runs issue-to-patch on `issue`, focused on `line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeActionSpec {
    pub title: String,
    pub kind: ActionKind,
    pub issue: String,
    /// 0-based line the fix is focused on.
    pub line: u32,
    /// Which of the request's diagnostics it fixes (index into them), for a quick fix.
    pub diagnostic: Option<usize>,
    /// The failing test the fix must make pass (its name), for `Fix failing test`.
    pub target_test: Option<String>,
}

/// Which actions beyond the diagnostics' quick fixes to offer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offer {
    /// The user asked for actions (not a lightbulb computed on a cursor move).
    pub invoked: bool,
    /// A test command is set: a failing test can be aimed at.
    pub tests: bool,
}

/// The actions at `line` of `rel`: see the module docs.
pub fn list(
    index: &Index,
    rel: &str,
    line: u32,
    diagnostics: &[ActionDiagnostic],
    offer: Offer,
) -> Vec<CodeActionSpec> {
    let mut actions = Vec::new();
    for (i, diag) in diagnostics.iter().enumerate() {
        let issue = format!(
            "{}\n\nReported at {rel}:{}{}.",
            diag.message.trim(),
            diag.line + 1,
            diag.source
                .as_ref()
                .map(|s| format!(" by {s}"))
                .unwrap_or_default()
        );
        actions.push(CodeActionSpec {
            title: format!("Fix with spot: {}", first_line(&diag.message, 80)),
            kind: ActionKind::QuickFix,
            issue,
            line: diag.line,
            diagnostic: Some(i),
            target_test: None,
        });
    }
    let function = function_at(index, rel, line).map(|(name, ..)| name);
    if let Some(name) = function.as_deref().filter(|_| offer.tests) {
        let short = name.rsplit(['.', ':']).next().unwrap_or(name);
        if is_test_path(rel) && (short.starts_with("test") || short.starts_with("Test")) {
            actions.push(CodeActionSpec {
                title: format!("Fix failing test `{name}` with spot"),
                kind: ActionKind::QuickFix,
                issue: format!(
                    "The test `{name}` in {rel} fails. Find the bug in the code it tests and fix \
                     it, so that the test passes."
                ),
                line,
                diagnostic: None,
                target_test: Some(short.to_owned()),
            });
        }
    }
    if offer.invoked {
        if let Some(name) = function {
            let issue = format!(
                "`{name}` in {rel} does not do what its name, signature and documentation say. \
                 Find the bug in `{name}` and fix it."
            );
            actions.push(CodeActionSpec {
                title: format!("Fix `{name}` with spot"),
                kind: ActionKind::RefactorRewrite,
                issue,
                line,
                diagnostic: None,
                target_test: None,
            });
        }
    }
    actions
}

/// The first non-empty line of `text` (markdown heading marks dropped), cut to `max` characters.
pub fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_skips_markdown_and_truncates() {
        assert_eq!(
            first_line("# Bulk discount off\nmore", 80),
            "Bulk discount off"
        );
        assert_eq!(first_line("abcdef", 4), "abc…");
    }

    #[test]
    fn the_function_rewrite_is_offered_only_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::new(
            dir.path().to_path_buf(),
            spot_index::IndexOptions::default(),
        );
        index.set_text("a.py", "def f(x):\n    return x + 1\n");
        let diag = ActionDiagnostic {
            message: "Undefined name `y`".into(),
            line: 1,
            source: Some("pyflakes".into()),
        };
        let auto = list(
            &index,
            "a.py",
            1,
            std::slice::from_ref(&diag),
            Offer::default(),
        );
        assert_eq!(auto.len(), 1, "{auto:?}");
        assert_eq!(auto[0].kind, ActionKind::QuickFix);
        assert_eq!(auto[0].title, "Fix with spot: Undefined name `y`");
        assert!(auto[0].issue.ends_with("Reported at a.py:2 by pyflakes."));
        let invoked = Offer {
            invoked: true,
            tests: false,
        };
        let asked = list(&index, "a.py", 1, &[], invoked);
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].title, "Fix `f` with spot");
        assert_eq!(asked[0].kind, ActionKind::RefactorRewrite);
        assert!(list(&index, "a.py", 1, &[], Offer::default()).is_empty());
    }

    #[test]
    fn a_test_function_gets_a_fix_of_the_failing_test_when_tests_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::new(
            dir.path().to_path_buf(),
            spot_index::IndexOptions::default(),
        );
        let test = "import unittest\n\nclass T(unittest.TestCase):\n    def test_ten(self):\n        self.assertEqual(f(10), 5)\n";
        index.set_text("tests/test_a.py", test);
        let tests = Offer {
            invoked: false,
            tests: true,
        };
        let listed = list(&index, "tests/test_a.py", 4, &[], tests);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].title, "Fix failing test `T.test_ten` with spot");
        assert_eq!(listed[0].kind, ActionKind::QuickFix);
        assert_eq!(listed[0].target_test.as_deref(), Some("test_ten"));
        // No test command, or not a test: nothing.
        assert!(list(&index, "tests/test_a.py", 4, &[], Offer::default()).is_empty());
        index.set_text("a.py", "def test_like(x):\n    return x\n");
        assert!(list(&index, "a.py", 1, &[], tests).is_empty());
    }
}
