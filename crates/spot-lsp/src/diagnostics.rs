//! Syntax-error diagnostics of open documents: tree-sitter's ERROR and MISSING nodes
//! (`spot_index::syntax_errors`), published once a document's text has been still for a moment,
//! in the background (one waiting task per document, however many changes arrive).
//!
//! Each diagnostic is the innermost error node, from its first non-blank character to the end
//! of that line at most (a broken statement often leaves an ERROR node spanning the rest of the
//! file: squiggling all of it says nothing), with a one-line message in words: "syntax error:
//! missing `:`", "syntax error near `return` (in the statement from line 8)" — the line where an
//! enclosing error node starts, which is often where the mistake is (an unclosed `(`).

use std::sync::Arc;

use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, Uri};

use super::server::Backend;
use super::{from_proto, to_proto};
use crate::line_index::LineIndex;
use spot_index::{self as index, Lang};

/// How long a document's text must stay unchanged before it is parsed for diagnostics.
const DIAGNOSTICS_DELAY: std::time::Duration = std::time::Duration::from_millis(150);
/// Most syntax errors reported per document.
const MAX_DIAGNOSTICS: usize = 20;
/// Error nodes looked at to find the innermost ones.
const MAX_NODES: usize = 200;
/// Characters of source quoted in a message.
const QUOTE_CHARS: usize = 30;

impl Backend {
    /// Publishes the syntax errors tree-sitter finds in an open document, once its text has
    /// been still for a moment, in the background. One task per document: a burst of changes
    /// schedules it once and parses once.
    pub(super) fn publish_syntax_errors(&self, uri: &Uri) {
        if !self.state.assist.diagnostics_due.lock().insert(uri.clone()) {
            return; // the waiting task will see this change
        }
        let backend = self.clone();
        let uri = uri.clone();
        tokio::spawn(async move {
            // Wait until a whole delay passes without a change.
            loop {
                let before = backend.state.docs.version(&uri);
                tokio::time::sleep(DIAGNOSTICS_DELAY).await;
                if backend.state.docs.version(&uri) == before {
                    break;
                }
            }
            // From here a change schedules a new task; the text read below already holds every
            // change made before this line.
            backend.state.assist.diagnostics_due.lock().remove(&uri);
            let Some(doc) = backend.state.docs.get(&uri) else {
                return;
            };
            let Some(lang) = from_proto::path(&uri).and_then(|p| Lang::from_path(&p)) else {
                return;
            };
            let max = backend.state.settings.read().max_file_size;
            let diagnostics = if doc.text.len() as u64 > max {
                Vec::new() // not indexed, not parsed
            } else {
                let text = Arc::clone(&doc.text);
                let li = Arc::clone(&doc.line_index);
                tokio::task::spawn_blocking(move || syntax_diagnostics(lang, &text, &li))
                    .await
                    .unwrap_or_default()
            };
            if backend.state.docs.version(&uri) != Some(doc.version) {
                return; // changed meanwhile: that change's task publishes
            }
            backend
                .client
                .publish_diagnostics(uri, diagnostics, Some(doc.version))
                .await;
        });
    }
}

fn syntax_diagnostics(lang: Lang, text: &str, li: &LineIndex) -> Vec<Diagnostic> {
    let Some(errors) = index::syntax_errors(lang, text, MAX_NODES) else {
        return Vec::new();
    };
    // Innermost: an error node holding another one is left out (the nodes come outermost
    // first, so a holder precedes what it holds).
    let contains = |outer: &index::SyntaxError, inner: &index::SyntaxError| {
        outer.start <= inner.start
            && inner.end <= outer.end
            && (outer.start, outer.end) != (inner.start, inner.end)
    };
    let mut lines_seen = std::collections::HashSet::new();
    let first_line = |e: &index::SyntaxError| {
        let start = e.start as usize;
        let blank = text
            .get(start..e.end as usize)
            .map_or(0, |t| t.len() - t.trim_start().len());
        li.to_utf16(text, (start + blank) as u32).line
    };
    errors
        .iter()
        .filter(|e| !errors.iter().any(|inner| contains(e, inner)))
        .filter_map(|e| {
            // From the first non-blank character (a node may start with the line break before
            // the statement it holds).
            let blank = text
                .get(e.start as usize..e.end as usize)
                .map_or(0, |t| t.len() - t.trim_start().len());
            let start = e.start as usize + blank;
            let line_end = text
                .get(start..)
                .and_then(|rest| rest.find('\n'))
                .map_or(text.len(), |i| start + i);
            let end = (e.end as usize).min(line_end).max(start);
            let range = to_proto::range_in(li, text, start as u32, end as u32);
            if !lines_seen.insert(range.start.line) {
                return None; // one diagnostic per line
            }
            let message = match e.what.strip_prefix("missing ") {
                Some(kind) => format!("syntax error: missing `{kind}`"),
                None => {
                    let quote: String = text
                        .get(start..end)
                        .unwrap_or_default()
                        .trim()
                        .chars()
                        .take(QUOTE_CHARS)
                        .collect();
                    let near = if quote.is_empty() {
                        "syntax error".to_owned()
                    } else {
                        format!("syntax error near `{quote}`")
                    };
                    // The outermost error node holding this one, when it starts on an earlier
                    // line: the statement the parser could not finish.
                    let from = errors
                        .iter()
                        .filter(|outer| contains(outer, e))
                        .map(first_line)
                        .find(|&line| line < range.start.line);
                    match from {
                        Some(line) => format!("{near} (in the statement from line {})", line + 1),
                        None => near,
                    }
                }
            };
            Some(Diagnostic {
                range,
                severity: Some(DiagnosticSeverity::ERROR),
                source: Some("spot".to_owned()),
                message,
                ..Diagnostic::default()
            })
        })
        .take(MAX_DIAGNOSTICS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lang: Lang, text: &str) -> Vec<(u32, u32, String)> {
        let li = LineIndex::new(text);
        syntax_diagnostics(lang, text, &li)
            .into_iter()
            .map(|d| (d.range.start.line, d.range.end.line, d.message))
            .collect()
    }

    #[test]
    fn issue_22_a_missing_colon_is_one_line_in_words() {
        let mut text = String::new();
        for i in 0..60 {
            text.push_str(&format!("def f{i}(x):\n    return x + {i}\n\n"));
        }
        text.push_str("def broken(x)\n    if x > 1:\n        return x\n    return 0\n\n");
        for i in 0..20 {
            text.push_str(&format!("def g{i}(x):\n    return x - {i}\n\n"));
        }
        let found = check(Lang::Python, &text);
        assert!(!found.is_empty());
        let (start, end, message) = &found[0];
        assert_eq!((*start, *end), (180, 180), "{found:?}");
        assert!(!message.contains('\n'), "{message:?}");
        assert!(message.starts_with("syntax error"), "{message:?}");
        assert!(
            found.iter().all(|(s, e, m)| s == e && !m.contains('\n')),
            "{found:?}"
        );
    }

    #[test]
    fn an_unclosed_paren_points_at_its_statement() {
        let text = "class Cart:\n    def total(self:\n        return sum(self.lines)\n";
        assert_eq!(
            check(Lang::Python, text),
            [(
                2,
                2,
                "syntax error near `return` (in the statement from line 2)".to_owned()
            )]
        );
        // An error node starting with the line break before its statement.
        let text = "class A:\n    def f(self):\n        return 1\n\n    def g(self)\n        if x:\n            return 2\n";
        let found = check(Lang::Python, text);
        assert!(
            found.iter().all(|(s, e, m)| s == e && m != "syntax error"),
            "{found:?}"
        );
    }

    #[test]
    fn a_clean_file_has_none() {
        assert!(check(Lang::Python, "def f(x):\n    return x\n").is_empty());
    }
}
