//! The issue-to-patch prompt: the issue, then the localized code (whole functions, each under a
//! header with its path and line range), then the answer format (search/replace blocks).
//!
//! Shared by issue-to-patch, the code-action fixes and the learning data (historical bug replay
//! shows the model exactly this prompt), so what the model learns is what it is asked.
//! [`select_snippets`] picks the code; [`build`] fits it into a token budget, dropping the
//! lowest-ranked snippets first.

use std::fmt::Write as _;

use crate::localize::Localization;
use spot_index::{Index, Lang};
use spot_model::ChatMessage;

/// The system message of every patch prompt.
pub const SYSTEM: &str = "You are spot, an expert on this repository. You fix issues with \
small, exact edits to the code you are shown.";

/// The answer format, shown after the code. The example is deliberately about no real file.
const FORMAT: &str = "Answer with the changes only, as SEARCH/REPLACE blocks. For each change \
write the file path on its own line, then the block. SEARCH holds lines copied exactly from the \
code above; REPLACE holds the new lines. Change as little as possible.

example/shapes.py
<<<<<<< SEARCH
    return width * width
=======
    return width * height
>>>>>>> REPLACE";

/// The answer format of test writing: what learning's test-writing samples teach
/// (`learn::experience`) and what a reproduction test is asked for with ([`repro_user`]).
pub const TEST_FORMAT: &str = "Answer with the test change only, as SEARCH/REPLACE blocks on the \
test file: its path on its own line, then the block. SEARCH holds lines copied exactly from the \
test file above; REPLACE holds them with the new test added.";

/// A piece of a workspace file shown to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub path: String,
    /// The function's qualified name, or `None` for the top of a file.
    pub name: Option<String>,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
}

/// Where the user pointed (code actions): a workspace file and a 0-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    pub path: String,
    pub line: u32,
}

/// Lines `start..=end` (1-based) of `text`, and the clamped range.
fn line_range(text: &str, start: u32, end: u32) -> Option<(String, u32, u32)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = start.max(1);
    let end = end.min(lines.len() as u32);
    (start <= end).then(|| {
        let body = lines[start as usize - 1..end as usize].concat();
        (body, start, end)
    })
}

/// The innermost function (or method) of `path` containing 0-based `line`.
pub fn function_at(index: &Index, path: &str, line: u32) -> Option<(String, u32, u32)> {
    let entry = index.file(path)?;
    entry
        .index
        .defs
        .iter()
        .filter(|d| d.kind.is_callable() && d.span.start_line <= line && line <= d.span.end_line)
        .min_by_key(|d| d.span.end_line - d.span.start_line)
        .map(|d| {
            (
                entry.qualified_name(d),
                d.span.start_line + 1,
                d.span.end_line + 1,
            )
        })
}

/// The code to show for an issue, best first: the focused function (if any), then the localized
/// functions, then, for a top-ranked file none of whose functions were picked, its first lines.
/// `read` gives a file's current text (editor buffer or disk).
pub fn select_snippets(
    index: &Index,
    loc: &Localization,
    focus: Option<&Focus>,
    read: &dyn Fn(&str) -> Option<String>,
    max_snippets: usize,
) -> Vec<Snippet> {
    let mut wanted: Vec<(String, Option<String>, u32, u32)> = Vec::new();
    if let Some(f) = focus {
        match function_at(index, &f.path, f.line) {
            Some((name, s, e)) => wanted.push((f.path.clone(), Some(name), s, e)),
            None => wanted.push((
                f.path.clone(),
                None,
                f.line.saturating_sub(20) + 1,
                f.line + 21,
            )),
        }
    }
    for func in &loc.functions {
        wanted.push((
            func.path.clone(),
            Some(func.name.clone()),
            func.start_line,
            func.end_line,
        ));
    }
    for file in loc.files.iter().take(2) {
        if !wanted.iter().any(|(p, ..)| *p == file.path) {
            wanted.push((file.path.clone(), None, 1, 60));
        }
    }

    let mut out: Vec<Snippet> = Vec::new();
    for (path, name, start, end) in wanted {
        if out.len() >= max_snippets {
            break;
        }
        // Skip what overlaps a snippet already taken (a method inside a class, a duplicate).
        if out
            .iter()
            .any(|s| s.path == path && s.start_line <= end && start <= s.end_line)
        {
            continue;
        }
        let Some(text) = read(&path) else { continue };
        let Some((body, start_line, end_line)) = line_range(&text, start, end) else {
            continue;
        };
        out.push(Snippet {
            path,
            name,
            start_line,
            end_line,
            text: body,
        });
    }
    out
}

fn fence_lang(path: &str) -> &'static str {
    match Lang::from_path(std::path::Path::new(path)) {
        Some(Lang::Rust) => "rust",
        Some(Lang::Python) => "python",
        Some(Lang::JavaScript) => "javascript",
        Some(Lang::TypeScript) => "typescript",
        Some(Lang::Tsx) => "tsx",
        Some(Lang::Go) => "go",
        None => "",
    }
}

/// The user message for `issue` and `snippets`.
pub fn render_user(issue: &str, snippets: &[Snippet]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Fix this issue.\n\n## Issue\n{}\n\n## Code",
        issue.trim()
    );
    for snip in snippets {
        let what = match &snip.name {
            Some(n) => format!(" ({n})"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "\n{}, lines {}-{}{what}:\n```{}\n{}```",
            snip.path,
            snip.start_line,
            snip.end_line,
            fence_lang(&snip.path),
            snip.text
        );
        if !snip.text.ends_with('\n') {
            // Keep the closing fence on its own line.
            s.insert(s.len() - 4, '\n');
        }
    }
    let _ = write!(s, "\n## Answer format\n{FORMAT}\n");
    s
}

/// The request for a test that reproduces `issue`: the issue, the code it is about, an excerpt
/// of the test file to add the test to (`test_path`, lines `lo..=hi`), and the test-writing
/// answer format — the same shape as learning's test-writing samples, without the fix (there is
/// none yet).
pub fn repro_user(
    issue: &str,
    snippets: &[Snippet],
    test_path: &str,
    lo: u32,
    hi: u32,
    excerpt: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Write a test that reproduces this issue: it must fail on the code as it is, and pass once \
         the issue is fixed.\n\n## Issue\n{}\n\n## Code",
        issue.trim()
    );
    for snip in snippets {
        let what = match &snip.name {
            Some(n) => format!(" ({n})"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "\n{}, lines {}-{}{what}:\n```{}\n{}```",
            snip.path,
            snip.start_line,
            snip.end_line,
            fence_lang(&snip.path),
            snip.text.trim_end_matches('\n').to_owned() + "\n"
        );
    }
    let _ = write!(
        s,
        "\n## Test file\n{test_path}, lines {lo}-{hi}:\n```\n{excerpt}```\n\n## Answer format\n{TEST_FORMAT}\n"
    );
    s
}

/// The prompt messages for `issue`, keeping as many of `snippets` (best first) as fit in
/// `max_tokens` by `count_tokens`, and the snippets kept. The issue text itself is cut to half
/// the budget at most.
pub fn build(
    issue: &str,
    mut snippets: Vec<Snippet>,
    count_tokens: &dyn Fn(&str) -> usize,
    max_tokens: usize,
) -> (Vec<ChatMessage>, Vec<Snippet>) {
    let mut issue = issue.trim().to_owned();
    while count_tokens(&issue) > max_tokens / 2 && issue.len() > 64 {
        let mut cut = issue.len() * 3 / 4;
        while !issue.is_char_boundary(cut) {
            cut -= 1;
        }
        issue.truncate(cut);
        issue.push_str("\n[…]");
    }
    loop {
        let user = render_user(&issue, &snippets);
        if snippets.is_empty() || count_tokens(SYSTEM) + count_tokens(&user) + 16 <= max_tokens {
            let messages = vec![ChatMessage::system(SYSTEM), ChatMessage::user(user)];
            return (messages, snippets);
        }
        snippets.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(path: &str, text: &str) -> Snippet {
        Snippet {
            path: path.into(),
            name: Some("f".into()),
            start_line: 3,
            end_line: 4,
            text: text.into(),
        }
    }

    #[test]
    fn renders_headers_fences_and_format() {
        let user = render_user(
            "  Discount off by one  ",
            &[snippet("a/p.py", "def f():\n    pass")],
        );
        assert!(user.starts_with("Fix this issue.\n\n## Issue\nDiscount off by one\n"));
        assert!(
            user.contains("a/p.py, lines 3-4 (f):\n```python\ndef f():\n    pass\n```\n"),
            "{user}"
        );
        assert!(user.contains("<<<<<<< SEARCH"));
    }

    #[test]
    fn drops_the_lowest_ranked_snippets_to_fit() {
        let words = |s: &str| s.split_whitespace().count();
        let snippets = vec![
            snippet("a.py", "one two three\n"),
            snippet("b.py", &"word ".repeat(500)),
        ];
        let (messages, kept) = build("the issue", snippets.clone(), &words, 200);
        assert_eq!(kept.len(), 1);
        assert_eq!(messages.len(), 2);
        assert!(messages[1].content.contains("a.py") && !messages[1].content.contains("b.py"));
        let (_, kept) = build("the issue", snippets, &words, 2000);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn clamps_line_ranges() {
        assert_eq!(
            line_range("a\nb\nc\n", 2, 9),
            Some(("b\nc\n".to_owned(), 2, 3))
        );
        assert_eq!(line_range("a\n", 5, 9), None);
    }
}
