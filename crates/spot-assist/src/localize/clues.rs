//! What an issue's text offers the localization signals: paths, identifiers, plain words, the
//! component scope of a `scope: subject` line, literal strings, and the words for lexical
//! search with stop words dropped. Pure text processing; knows nothing of the index.

use std::collections::HashSet;

/// Literal strings shorter than this are too common to search for.
const MIN_LITERAL: usize = 8;
/// Longest literal searched for (a quoted paragraph is not a string of the code).
const MAX_LITERAL: usize = 200;

#[derive(Debug, Default)]
pub(super) struct Clues {
    /// Path-like tokens (`inventory/pricing.py`, `pricing.py`, `src/lib.rs`).
    pub paths: Vec<String>,
    /// Identifiers written as code (`snake_case`, `camelCase`, `Type.method`, `call()`,
    /// backticked), qualified forms split (`Store.remove_item` → `Store`, `remove_item`).
    /// Plain words are not among them: as names they matched too much.
    pub identifiers: Vec<String>,
    /// Lowercase plain words, stop words dropped.
    pub words: Vec<String>,
    /// Lowercase words of the component prefix of the first line (`ignore,globset: …`,
    /// `fix(completions): …`), conventional-commit types (`fix`, `docs`) left out.
    pub scopes: Vec<String>,
    /// Quoted strings, error messages and `--flag-names` to find verbatim in files.
    pub literals: Vec<String>,
    /// The issue for lexical search: the text with plain stop words removed.
    pub query: String,
}

/// English function words and the generic vocabulary of bug reports and commit messages:
/// they name no place in the code.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "add",
    "added",
    "adding",
    "adds",
    "after",
    "again",
    "against",
    "all",
    "allow",
    "allows",
    "also",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "bug",
    "bugs",
    "but",
    "by",
    "can",
    "case",
    "cases",
    "change",
    "changed",
    "changes",
    "correctly",
    "could",
    "did",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "done",
    "down",
    "during",
    "each",
    "ensure",
    "etc",
    "few",
    "fix",
    "fixed",
    "fixes",
    "fixing",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "how",
    "i",
    "if",
    "improve",
    "improved",
    "improves",
    "in",
    "instead",
    "into",
    "is",
    "isn",
    "issue",
    "issues",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "like",
    "made",
    "make",
    "makes",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "new",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "properly",
    "remove",
    "removed",
    "removes",
    "same",
    "should",
    "so",
    "some",
    "such",
    "support",
    "supports",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "update",
    "updated",
    "updates",
    "use",
    "used",
    "uses",
    "using",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "you",
    "your",
];

/// Conventional-commit types: a `type(scope): …` prefix names no component.
const COMMIT_TYPES: &[&str] = &[
    "build", "chore", "ci", "doc", "docs", "feat", "feature", "fix", "lint", "perf", "refactor",
    "release", "revert", "style", "test", "tests", "typo", "deps",
];

pub(super) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

const SOURCE_EXTENSIONS: &[&str] = &[
    ".py", ".pyi", ".rs", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".go",
];

fn is_separator(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            ',' | ';'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '='
                | '`'
                | '"'
                | '\''
                | '!'
                | '?'
                | '*'
                | '|'
        )
}

pub(super) fn clues(issue: &str) -> Clues {
    let mut c = Clues::default();
    let mut seen = HashSet::new();
    // Backticked spans count as code whatever they look like.
    let backticked: HashSet<&str> = issue.split('`').skip(1).step_by(2).collect();
    for raw in issue.split(is_separator) {
        let token = raw.trim_matches(|ch: char| matches!(ch, '.' | ':' | '-' | '#' | '@'));
        if token.is_empty() || !seen.insert(token.to_owned()) {
            continue;
        }
        let has_ext = SOURCE_EXTENSIONS.iter().any(|e| {
            token.ends_with(e)
                || token
                    .split(':')
                    .next()
                    .is_some_and(|head| head.ends_with(e))
        });
        if has_ext
            || (token.contains('/')
                && token.chars().any(|ch| ch.is_ascii_alphabetic())
                && !token.contains("://")
                && !raw.starts_with('-'))
        {
            // `path.py:12` / `path.py:12:5`
            let path = token.split(':').next().unwrap_or(token);
            c.paths.push(path.trim_start_matches("./").to_owned());
            continue;
        }
        let is_ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
        let parts: Vec<&str> = token.split(['.', ':']).filter(|p| !p.is_empty()).collect();
        let code_like = backticked.contains(raw)
            || backticked.contains(token)
            || token.contains('_')
            || token.contains("::")
            || (parts.len() > 1 && parts.iter().all(|p| p.chars().all(is_ident_char)))
            || has_inner_capital(token)
            || raw.contains('(');
        if code_like {
            for p in parts {
                if p.chars().all(is_ident_char)
                    && p.chars().next().is_some_and(|ch| !ch.is_ascii_digit())
                    && p.len() > 1
                {
                    c.identifiers.push(p.to_owned());
                }
            }
        } else if token.chars().all(|ch| ch.is_alphabetic()) && token.len() >= 3 {
            let lower = token.to_lowercase();
            if !is_stop_word(&lower) {
                c.words.push(lower);
            }
        }
    }
    c.identifiers.sort();
    c.identifiers.dedup();
    // `merging` names merge.ts too.
    let forms: Vec<String> = c.words.iter().flat_map(|w| word_forms(w)).collect();
    c.words.extend(forms);
    c.words.sort();
    c.words.dedup();
    c.scopes = scopes(issue);
    c.literals = literals(issue);
    c.query = query(issue);
    c
}

fn has_inner_capital(token: &str) -> bool {
    let mut chars = token.chars();
    chars.next();
    chars.any(|ch| ch.is_uppercase()) && token.chars().any(|ch| ch.is_lowercase())
}

/// The component words of a `scope: subject` first line.
fn scopes(issue: &str) -> Vec<String> {
    let first = issue.lines().next().unwrap_or("");
    let Some((prefix, _)) = first.split_once(": ") else {
        return Vec::new();
    };
    let prefix = prefix.trim().trim_end_matches('!');
    if prefix.is_empty() || prefix.len() > 40 || prefix.contains(' ') {
        return Vec::new();
    }
    // `type(scope)` or `scope`.
    let (kind, scope) = match prefix.split_once('(') {
        Some((kind, rest)) => (kind, rest.trim_end_matches(')')),
        None => ("", prefix),
    };
    if !kind.is_empty() && !COMMIT_TYPES.contains(&kind.to_lowercase().as_str()) {
        return Vec::new();
    }
    let mut out: Vec<String> = scope
        .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
        .map(str::to_lowercase)
        .filter(|w| w.len() >= 3 && !COMMIT_TYPES.contains(&w.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Quoted strings, the message after `Error: `, and command-line flags (`--line-buffered`):
/// text a file may contain verbatim.
fn literals(issue: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['"', '\''] {
        out.extend(
            quoted(issue, quote)
                .filter(|s| s.len() >= MIN_LITERAL && s.len() <= MAX_LITERAL && !s.contains('\n'))
                .map(str::to_owned),
        );
    }
    for line in issue.lines() {
        if let Some((_, msg)) = line.split_once("Error: ") {
            let msg = msg.trim();
            if msg.len() >= MIN_LITERAL && msg.len() <= MAX_LITERAL {
                out.push(msg.to_owned());
            }
        }
    }
    for raw in issue.split(|ch: char| is_separator(ch) || ch == '/') {
        let Some(flag) = raw.strip_prefix("--") else {
            continue;
        };
        let flag = flag.trim_end_matches(|ch: char| !ch.is_alphanumeric());
        let name_like = flag
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if name_like && (flag.len() >= 6 || (flag.contains('-') && flag.len() >= 4)) {
            out.push(flag.to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Spans between a pair of `quote`s that open after a non-word character and close before
/// one (so apostrophes in "don't" and "user's" open nothing).
fn quoted(text: &str, quote: char) -> impl Iterator<Item = &str> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if ch == quote {
            match open {
                None if prev.is_none_or(|p| !p.is_alphanumeric()) => open = Some(i + 1),
                Some(start) if next.is_none_or(|n| !n.is_alphanumeric()) => {
                    if let Some(s) = text.get(start..i) {
                        out.push(s);
                    }
                    open = None;
                }
                _ => {}
            }
        } else if ch == '\n' {
            open = None;
        }
        prev = Some(ch);
    }
    out.into_iter()
}

/// The issue with plain stop words removed (identifiers, paths and code stay whole), its title
/// (first line) said twice, plus the other forms of its plain words (`merging` → `merge`), since
/// code names things by stems.
fn query(issue: &str) -> String {
    let mut out = String::with_capacity(issue.len() * 2);
    let mut extra: Vec<String> = Vec::new();
    // The title (the first line) twice: it is the issue's summary, the body its context.
    let title = issue.lines().next().unwrap_or("");
    for raw in issue.split_whitespace().chain(title.split_whitespace()) {
        let word = raw.trim_matches(|ch: char| !ch.is_alphanumeric());
        if word.chars().all(|ch| ch.is_alphabetic()) {
            let lower = word.to_lowercase();
            if is_stop_word(&lower) {
                continue;
            }
            extra.extend(word_forms(&lower));
        }
        out.push_str(raw);
        out.push(' ');
    }
    extra.sort();
    extra.dedup();
    for w in extra {
        out.push_str(&w);
        out.push(' ');
    }
    out
}

/// Other forms of an English word, as code tends to spell them: plural to singular, `-ing`
/// and `-ed` to the verb, `-ation` to `-ate`, `-ization` to `-ize`. Some are not words
/// (`merg`); terms the index lacks match nothing.
pub(super) fn word_forms(word: &str) -> Vec<String> {
    let mut out = Vec::new();
    if word.len() < 5 || !word.is_ascii() {
        return out;
    }
    let mut push = |stem: &str, tails: &[&str]| {
        for tail in tails {
            let w = format!("{stem}{tail}");
            if w.len() >= 3 && w != word {
                out.push(w);
            }
        }
    };
    let undouble = |stem: &str| -> Option<String> {
        let b = stem.as_bytes();
        match b {
            [.., x, y] if x == y && !matches!(x, b'l' | b's' | b'z') => {
                stem.get(..stem.len() - 1).map(str::to_owned)
            }
            _ => None,
        }
    };
    if let Some(stem) = word.strip_suffix("ization") {
        push(stem, &["ize", "ise"]);
    } else if let Some(stem) = word.strip_suffix("ation") {
        push(stem, &["ate", "e", ""]);
    } else if let Some(stem) = word.strip_suffix("ies") {
        push(stem, &["y"]);
    } else if let Some(stem) = word.strip_suffix("sses") {
        push(stem, &["ss"]);
    } else if let Some(stem) = word.strip_suffix("ing") {
        push(stem, &["", "e"]);
        if let Some(u) = undouble(stem) {
            push(&u, &[""]);
        }
    } else if let Some(stem) = word.strip_suffix("ed") {
        push(stem, &["", "e"]);
        if let Some(u) = undouble(stem) {
            push(&u, &[""]);
        }
    } else if let Some(stem) = word.strip_suffix("es") {
        push(stem, &["", "e"]);
    } else if let Some(stem) = word.strip_suffix('s') {
        if !stem.ends_with('s') && !stem.ends_with('u') && !stem.ends_with('i') {
            push(stem, &[""]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;

    fn check(issue: &str, expect: Expect) {
        let c = clues(issue);
        expect.assert_eq(&format!(
            "paths {:?}\nidentifiers {:?}\nwords {:?}\nscopes {:?}\nliterals {:?}\nquery {:?}\n",
            c.paths, c.identifiers, c.words, c.scopes, c.literals, c.query
        ));
    }

    #[test]
    fn stop_words_are_sorted() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn code_paths_words_and_literals() {
        check(
            r#"Fix `Store.remove_item` crash in inventory/store.py:12 when the name is "widget box"

Traceback: File "app/cli.py", line 3. Raises ValueError: quantity must be positive
and parseHttpHeader() isn't called; the user's asdict fails."#,
            expect![[r#"
                paths ["inventory/store.py", "app/cli.py"]
                identifiers ["Store", "ValueError", "parseHttpHeader", "remove_item"]
                words ["asdict", "box", "call", "calle", "called", "crash", "fail", "fails", "file", "line", "name", "positive", "quantity", "rais", "raise", "raises", "traceback", "user", "widget"]
                scopes []
                literals ["app/cli.py", "quantity must be positive", "widget box"]
                query "`Store.remove_item` crash inventory/store.py:12 name \"widget box\" Traceback: File \"app/cli.py\", line 3. Raises ValueError: quantity positive parseHttpHeader() isn't called; user's asdict fails. `Store.remove_item` crash inventory/store.py:12 name \"widget box\" call calle fail rais raise "
            "#]],
        );
    }

    #[test]
    fn scopes_and_flags() {
        check(
            "searcher: fix regression with `-A/--after-context` and --line-buffered",
            expect![[r#"
                paths []
                identifiers []
                words ["regression", "searcher"]
                scopes ["searcher"]
                literals ["after-context", "line-buffered"]
                query "searcher: regression `-A/--after-context` --line-buffered searcher: regression `-A/--after-context` --line-buffered "
            "#]],
        );
        check(
            "fix(bash-v2): skip empty completions",
            expect![[r#"
                paths []
                identifiers []
                words ["completion", "completions", "empty", "skip"]
                scopes ["bash"]
                literals []
                query "fix(bash-v2): skip empty completions fix(bash-v2): skip empty completions completion "
            "#]],
        );
        check(
            "Fix: Handle `backoffLimit` being `undefined`",
            expect![[r#"
                paths []
                identifiers ["backoffLimit", "undefined"]
                words ["handle"]
                scopes []
                literals []
                query "Handle `backoffLimit` `undefined` Handle `backoffLimit` `undefined` undefin undefine "
            "#]],
        );
    }
}
