//! Small one-line edits to a function ("mutants"): a comparison's boundary moved or negated, a
//! boolean operator swapped, an integer literal off by one.
//!
//! issue-to-patch falls back to them when the model's free answers give no valid patch: a small
//! model that cannot write an edit can still tell which of a few edits fits the issue (template
//! repair ranked by a language model). Pure text: the caller scores and validates. Strings and
//! comments are never touched; operators must stand between spaces, so generics (`Vec<T>`),
//! arrows and shifts are left alone.

use spot_index::Lang;

/// One edit of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    /// 0-based line within the text it was made from.
    pub line: usize,
    /// The line as it is, and as the mutant has it (both without the newline).
    pub before: String,
    pub after: String,
}

/// Operators replaced (between spaces), each with what it becomes.
const OPERATORS: &[(&str, &[&str])] = &[
    (">=", &[">", "=="]),
    ("<=", &["<", "=="]),
    (">", &[">=", "<"]),
    ("<", &["<=", ">"]),
    ("==", &["!="]),
    ("!=", &["=="]),
    ("and", &["or"]),
    ("or", &["and"]),
    ("&&", &["||"]),
    ("||", &["&&"]),
];

/// The mutants of `text` (a function), in line order, at most `limit`.
pub fn mutants(lang: Lang, text: &str, limit: usize) -> Vec<Mutant> {
    let comment = match lang {
        Lang::Python => "#",
        _ => "//",
    };
    let mut out = Vec::new();
    let mut in_doc: Option<&str> = None; // inside a Python triple-quoted string
    for (i, line) in text.lines().enumerate() {
        let code = code_spans(line, comment, lang == Lang::Python, &mut in_doc);
        for (start, end) in code {
            let segment = &line[start..end];
            for m in operator_mutants(segment)
                .into_iter()
                .chain(literal_mutants(segment))
            {
                let (at, len, new) = m;
                let mut after = line.to_owned();
                after.replace_range(start + at..start + at + len, &new);
                out.push(Mutant {
                    line: i,
                    before: line.to_owned(),
                    after,
                });
            }
        }
        if out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    out
}

/// Byte ranges of `line` that are code: outside string literals and before a comment.
fn code_spans(
    line: &str,
    comment: &str,
    python: bool,
    in_doc: &mut Option<&'static str>,
) -> Vec<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        if let Some(close) = *in_doc {
            match line[i..].find(close) {
                Some(k) => {
                    i += k + 3;
                    *in_doc = None;
                    start = i;
                    continue;
                }
                None => return spans,
            }
        }
        let rest = &line[i..];
        if python && (rest.starts_with("\"\"\"") || rest.starts_with("'''")) {
            spans.push((start, i));
            *in_doc = Some(if rest.starts_with("\"\"\"") {
                "\"\"\""
            } else {
                "'''"
            });
            i += 3;
            continue;
        }
        if rest.starts_with(comment) {
            spans.push((start, i));
            return spans;
        }
        let c = bytes[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            spans.push((start, i));
            // Skip to the closing quote (escapes honoured); an unclosed one ends the line.
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != c {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = (j + 1).min(bytes.len());
            start = i;
            continue;
        }
        i += 1;
    }
    if in_doc.is_none() {
        spans.push((start, bytes.len()));
    }
    spans.retain(|(s, e)| s < e);
    spans
}

/// `(offset, length, replacement)` for each operator standing between spaces in `segment`.
fn operator_mutants(segment: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(k) = segment[i..].find(' ') {
        let at = i + k + 1;
        let Some(end) = segment[at..].find(' ').map(|e| at + e) else {
            break;
        };
        let word = &segment[at..end];
        if let Some((_, news)) = OPERATORS.iter().find(|(op, _)| *op == word) {
            for new in *news {
                out.push((at, word.len(), (*new).to_owned()));
            }
        }
        i = at;
    }
    out
}

/// `(offset, length, replacement)` for each small decimal integer literal: one less and one more.
fn literal_mutants(segment: &str) -> Vec<(usize, usize, String)> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let part_of_name = start > 0 && {
            let b = bytes[start - 1];
            b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
        };
        let followed_by_dot = bytes.get(i) == Some(&b'.');
        let literal = &segment[start..i];
        if part_of_name || followed_by_dot || !literal.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(n) = literal.parse::<u32>() else {
            continue;
        };
        if n > 1000 {
            continue;
        }
        if n > 0 {
            out.push((start, literal.len(), (n - 1).to_string()));
        }
        out.push((start, literal.len(), (n + 1).to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn afters(lang: Lang, text: &str) -> Vec<String> {
        mutants(lang, text, 100)
            .into_iter()
            .map(|m| m.after.trim().to_owned())
            .collect()
    }

    #[test]
    fn comparisons_booleans_and_literals_but_not_strings_or_comments() {
        let text = "def f(quantity):\n    \"\"\"Tiers > 10 and\n    more < 5.\"\"\"\n    s = \"a > b\"  # x > y\n    if quantity > 10 and ok:\n        return 0\n";
        assert_eq!(
            afters(Lang::Python, text),
            vec![
                "if quantity >= 10 and ok:",
                "if quantity < 10 and ok:",
                "if quantity > 10 or ok:",
                "if quantity > 9 and ok:",
                "if quantity > 11 and ok:",
                "return 1",
            ]
        );
    }

    #[test]
    fn generics_arrows_names_and_floats_are_left_alone() {
        let text = "fn f(v: Vec<u8>) -> usize {\n    let x2 = v.len() as f64 * 1.5;\n    if a<b { 0 } else { x2 as usize }\n}\n";
        assert_eq!(
            afters(Lang::Rust, text),
            vec!["if a<b { 1 } else { x2 as usize }"]
        );
    }

    #[test]
    fn the_limit_holds() {
        let text = "if a > 1:\n    pass\n".repeat(20);
        assert_eq!(mutants(Lang::Python, &text, 7).len(), 7);
    }
}
