//! A small lexer per language that finds identifier occurrences (references) in source text,
//! skipping comments, string and character literals, numbers and keywords; and, with the same
//! rules for literals and comments, the lines that start a top-level statement
//! ([`statement_starts`]).
//!
//! Why not the syntax tree: visiting every node of a tree-sitter tree costs about as much as a
//! third of the parse itself, while a linear scan of the bytes costs a few percent. The
//! extractor walks the tree only where definitions can be (not into function bodies) and takes
//! references from here. The scan is approximate where a language is context-sensitive
//! (JavaScript regex literals, Python f-string fields); it never fails and never panics.

use super::lang::Lang;

/// An identifier occurrence.
#[derive(Debug, Clone, Copy)]
pub struct Ident<'t> {
    pub start: usize,
    /// Zero-based line of `start`, and the byte offset where that line starts.
    pub line: u32,
    pub line_start: usize,
    pub word: &'t str,
}

/// Calls `f` for each identifier that is not a keyword, in order.
pub fn identifiers<'t>(lang: Lang, text: &'t str, mut f: impl FnMut(Ident<'t>)) {
    let b = text.as_bytes();
    let n = b.len();
    let mut i = 0;
    // Lines are counted lazily: from `counted` up to the identifier being reported.
    let (mut line, mut line_start, mut counted) = (0u32, 0usize, 0usize);
    // Whether a `/` here would start a regex literal (JavaScript): after an operator or at the
    // start, not after a value.
    let mut regex_ok = true;
    let js = matches!(lang, Lang::JavaScript | Lang::TypeScript | Lang::Tsx);
    // JavaScript template literals: brace depth of each open `${`.
    let mut template_stack: Vec<u32> = Vec::new();
    while i < n {
        let c = b[i];
        match c {
            b'\n' | b' ' | b'\t' | b'\r' => i += 1,
            b'/' if lang != Lang::Python && b.get(i + 1) == Some(&b'/') => i = line_end(b, i),
            b'/' if lang != Lang::Python && b.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(b, i + 2, lang == Lang::Rust);
            }
            b'#' if lang == Lang::Python => i = line_end(b, i),
            b'"' => {
                if lang == Lang::Python && starts_with(b, i, b"\"\"\"") {
                    i = find(b, i + 3, b"\"\"\"");
                } else {
                    i = quoted_end(b, i + 1, b'"');
                }
                regex_ok = false;
            }
            b'\'' => {
                match lang {
                    Lang::Python if starts_with(b, i, b"'''") => i = find(b, i + 3, b"'''"),
                    Lang::Python => i = quoted_end(b, i + 1, b'\''),
                    _ if js => i = quoted_end(b, i + 1, b'\''),
                    // Rust / Go: a char literal, or a Rust lifetime / label.
                    _ => i = char_literal_or_lifetime(b, i),
                }
                regex_ok = false;
            }
            b'`' if lang == Lang::Go => {
                i = find(b, i + 1, b"`");
                regex_ok = false;
            }
            b'`' if js => {
                i = template_end(b, i + 1, &mut template_stack);
                regex_ok = false;
            }
            b'}' if js && template_stack.last() == Some(&0) => {
                template_stack.pop();
                i = template_end(b, i + 1, &mut template_stack);
            }
            b'{' if js => {
                if let Some(d) = template_stack.last_mut() {
                    *d += 1;
                }
                regex_ok = true;
                i += 1;
            }
            b'}' if js => {
                if let Some(d) = template_stack.last_mut() {
                    *d = d.saturating_sub(1);
                }
                regex_ok = false;
                i += 1;
            }
            b'/' if js && regex_ok => {
                i = regex_end(b, i + 1);
                regex_ok = false;
            }
            b'0'..=b'9' => {
                while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                    // `1..2` is a range, not a number's dot.
                    if b[i] == b'.' && b.get(i + 1) == Some(&b'.') {
                        break;
                    }
                    i += 1;
                }
                regex_ok = false;
            }
            _ if is_ident_start(c, js) => {
                let start = i;
                while i < n && is_ident_continue(b[i], js) {
                    i += 1;
                }
                let Some(word) = text.get(start..i) else {
                    i += 1;
                    continue;
                };
                // String prefixes: r"…", b"…", f'…', r#"…"#, rb"…".
                let next = b.get(i).copied();
                if is_string_prefix(lang, word, next) {
                    i = match (lang, next) {
                        (Lang::Rust, Some(b'#')) | (Lang::Rust, Some(b'"'))
                            if word.contains('r') =>
                        {
                            raw_string_end(b, i)
                        }
                        _ => i, // the quote is handled by the next iteration
                    };
                    continue;
                }
                let keyword = is_keyword(lang, word);
                regex_ok = keyword
                    && !matches!(
                        word,
                        "this" | "super" | "true" | "false" | "null" | "undefined"
                    );
                if !keyword {
                    if let Some(skipped) = b.get(counted..start) {
                        for pos in memchr_iter(skipped) {
                            line += 1;
                            line_start = counted + pos + 1;
                        }
                    }
                    counted = start;
                    f(Ident {
                        start,
                        line,
                        line_start,
                        word,
                    });
                }
            }
            _ => {
                regex_ok = !matches!(c, b')' | b']');
                i += 1;
            }
        }
    }
}

/// The starts of the lines in `range` of `text` that begin a top-level statement: code in
/// column 0, outside brackets, comments and string literals (a multi-line string's lines do not
/// count), not a closing bracket, and in Python not a clause that continues the statement
/// above (`else`, `elif`, `except`, `finally`). `range.start` must be at the top level.
/// Approximate where the lexer is (a JavaScript regex literal holding a quote or a bracket).
pub fn statement_starts(lang: Lang, text: &str, range: std::ops::Range<usize>) -> Vec<usize> {
    let b = text.as_bytes();
    let end = range.end.min(b.len());
    let js = matches!(lang, Lang::JavaScript | Lang::TypeScript | Lang::Tsx);
    let mut starts = Vec::new();
    let mut depth = 0u32;
    let mut i = range.start;
    let mut line_start = true;
    while i < end {
        if line_start {
            line_start = false;
            if depth == 0 && opens_statement(lang, b, i) {
                starts.push(i);
            }
        }
        let c = b[i];
        let after_ident = i > 0 && is_ident_continue(b[i - 1], js);
        i = match c {
            b'\n' => {
                line_start = true;
                i + 1
            }
            b'/' if lang != Lang::Python && b.get(i + 1) == Some(&b'/') => line_end(b, i),
            b'/' if lang != Lang::Python && b.get(i + 1) == Some(&b'*') => {
                block_comment_end(b, i + 2, lang == Lang::Rust)
            }
            b'#' if lang == Lang::Python => line_end(b, i),
            b'"' if lang == Lang::Python && starts_with(b, i, b"\"\"\"") => {
                find(b, i + 3, b"\"\"\"")
            }
            b'\'' if lang == Lang::Python && starts_with(b, i, b"'''") => find(b, i + 3, b"'''"),
            b'"' => quoted_end(b, i + 1, b'"'),
            b'\'' if lang == Lang::Python || js => quoted_end(b, i + 1, b'\''),
            b'\'' => char_literal_or_lifetime(b, i),
            b'`' if lang == Lang::Go => find(b, i + 1, b"`"),
            b'`' if js => template_literal_end(b, i + 1),
            b'r' if lang == Lang::Rust
                && !after_ident
                && matches!(b.get(i + 1), Some(b'"' | b'#')) =>
            {
                raw_string_end(b, i + 1).max(i + 1)
            }
            b'b' if lang == Lang::Rust
                && !after_ident
                && b.get(i + 1) == Some(&b'r')
                && matches!(b.get(i + 2), Some(b'"' | b'#')) =>
            {
                raw_string_end(b, i + 2).max(i + 2)
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                i + 1
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i + 1
            }
            _ => i + 1,
        };
    }
    starts
}

/// Does the line starting at `i` begin a statement (see [`statement_starts`])?
fn opens_statement(lang: Lang, b: &[u8], i: usize) -> bool {
    let Some(&c) = b.get(i) else {
        return false;
    };
    if c.is_ascii_whitespace() || matches!(c, b')' | b']' | b'}') {
        return false;
    }
    if lang == Lang::Python {
        let word_end = b[i..]
            .iter()
            .position(|&c| !is_ident_continue(c, false))
            .map_or(b.len(), |p| i + p);
        let word = &b[i..word_end];
        return !matches!(word, b"else" | b"elif" | b"except" | b"finally");
    }
    true
}

/// Past the backtick closing a template literal whose text starts at `i`, substitutions
/// (`${…}`, nested templates included) and all.
fn template_literal_end(b: &[u8], i: usize) -> usize {
    let mut stack = Vec::new();
    let mut i = template_end(b, i, &mut stack);
    while !stack.is_empty() && i < b.len() {
        match b[i] {
            b'`' => i = template_end(b, i + 1, &mut stack),
            b'{' => {
                if let Some(d) = stack.last_mut() {
                    *d += 1;
                }
                i += 1;
            }
            b'}' if stack.last() == Some(&0) => {
                stack.pop();
                i = template_end(b, i + 1, &mut stack);
            }
            b'}' => {
                if let Some(d) = stack.last_mut() {
                    *d -= 1;
                }
                i += 1;
            }
            b'"' | b'\'' => i = quoted_end(b, i + 1, b[i]),
            _ => i += 1,
        }
    }
    i
}

/// Positions of `\n` in `bytes`.
fn memchr_iter(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c == b'\n')
        .map(|(i, _)| i)
}

fn is_ident_start(c: u8, js: bool) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 || (js && c == b'$')
}

fn is_ident_continue(c: u8, js: bool) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 || (js && c == b'$')
}

fn starts_with(b: &[u8], i: usize, pat: &[u8]) -> bool {
    b.get(i..).is_some_and(|rest| rest.starts_with(pat))
}

fn line_end(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .and_then(|rest| rest.iter().position(|&c| c == b'\n'))
        .map_or(b.len(), |p| i + p)
}

/// Index just past `pat` at or after `i`, or the end.
fn find(b: &[u8], i: usize, pat: &[u8]) -> usize {
    let Some(rest) = b.get(i..) else {
        return b.len();
    };
    rest.windows(pat.len())
        .position(|w| w == pat)
        .map_or(b.len(), |p| i + p + pat.len())
}

fn block_comment_end(b: &[u8], mut i: usize, nested: bool) -> usize {
    let mut depth = 1u32;
    while i < b.len() {
        if starts_with(b, i, b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else if nested && starts_with(b, i, b"/*") {
            depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Index past the closing `quote`, honouring backslash escapes. Stops at a newline for
/// single-line quotes that never close (broken code).
fn quoted_end(b: &[u8], mut i: usize, quote: u8) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            b'\n' if quote == b'\'' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

/// Rust/Go `'x'`, `'\n'`, `'\u{1F980}'`, or a Rust lifetime `'a` / label `'outer` (skipped).
fn char_literal_or_lifetime(b: &[u8], i: usize) -> usize {
    match b.get(i + 1) {
        Some(b'\\') => quoted_end(b, i + 1, b'\''),
        Some(_) => {
            // One (possibly multi-byte) character then a quote: a char literal.
            let mut j = i + 1;
            j += 1;
            while j < b.len() && (b[j] & 0xC0) == 0x80 {
                j += 1;
            }
            if b.get(j) == Some(&b'\'') {
                return j + 1;
            }
            // A lifetime or label: skip its name.
            let mut k = i + 1;
            while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                k += 1;
            }
            k.max(i + 1)
        }
        None => b.len(),
    }
}

/// `r"…"`, `r#"…"#`, `br##"…"##`: `i` is at the first `#` or `"`.
fn raw_string_end(b: &[u8], mut i: usize) -> usize {
    let mut hashes = 0;
    while b.get(i) == Some(&b'#') {
        hashes += 1;
        i += 1;
    }
    if b.get(i) != Some(&b'"') {
        return i; // `r#ident` (a raw identifier) or plain `r` followed by `#`
    }
    i += 1;
    while i < b.len() {
        if b[i] == b'"' && (1..=hashes).all(|h| b.get(i + h) == Some(&b'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    b.len()
}

/// Scans template-literal text after a backtick (or after the `}` closing a substitution) up
/// to the closing backtick, or into a `${` substitution (pushing it).
fn template_end(b: &[u8], mut i: usize, stack: &mut Vec<u32>) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                stack.push(0);
                return i + 2;
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// A JavaScript regex literal body and flags.
fn regex_end(b: &[u8], mut i: usize) -> usize {
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' => {
                in_class = true;
                i += 1;
            }
            b']' => {
                in_class = false;
                i += 1;
            }
            b'/' if !in_class => {
                i += 1;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                return i;
            }
            b'\n' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

fn is_string_prefix(lang: Lang, word: &str, next: Option<u8>) -> bool {
    match lang {
        Lang::Rust => {
            matches!(word, "r" | "b" | "br" | "c" | "cr")
                && matches!(next, Some(b'"' | b'#' | b'\''))
        }
        Lang::Python => {
            word.len() <= 2
                && word
                    .chars()
                    .all(|c| matches!(c.to_ascii_lowercase(), 'r' | 'b' | 'f' | 'u'))
                && matches!(next, Some(b'"' | b'\''))
        }
        _ => false,
    }
}

fn is_keyword(lang: Lang, word: &str) -> bool {
    // `matches!` compiles to a length switch and byte compares: no list scan per identifier.
    match lang {
        Lang::Rust => matches!(
            word,
            "as" | "async"
                | "await"
                | "break"
                | "const"
                | "continue"
                | "crate"
                | "dyn"
                | "else"
                | "enum"
                | "extern"
                | "false"
                | "fn"
                | "for"
                | "if"
                | "impl"
                | "in"
                | "let"
                | "loop"
                | "match"
                | "mod"
                | "move"
                | "mut"
                | "pub"
                | "ref"
                | "return"
                | "self"
                | "Self"
                | "static"
                | "struct"
                | "super"
                | "trait"
                | "true"
                | "type"
                | "unsafe"
                | "use"
                | "where"
                | "while"
                | "yield"
                | "macro_rules"
        ),
        Lang::Python => matches!(
            word,
            "False"
                | "None"
                | "True"
                | "and"
                | "as"
                | "assert"
                | "async"
                | "await"
                | "break"
                | "class"
                | "continue"
                | "def"
                | "del"
                | "elif"
                | "else"
                | "except"
                | "finally"
                | "for"
                | "from"
                | "global"
                | "if"
                | "import"
                | "in"
                | "is"
                | "lambda"
                | "nonlocal"
                | "not"
                | "or"
                | "pass"
                | "raise"
                | "return"
                | "try"
                | "while"
                | "with"
                | "yield"
        ),
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => matches!(
            word,
            "break"
                | "case"
                | "catch"
                | "class"
                | "const"
                | "continue"
                | "debugger"
                | "default"
                | "delete"
                | "do"
                | "else"
                | "export"
                | "extends"
                | "false"
                | "finally"
                | "for"
                | "function"
                | "if"
                | "import"
                | "in"
                | "instanceof"
                | "new"
                | "null"
                | "return"
                | "super"
                | "switch"
                | "this"
                | "throw"
                | "true"
                | "try"
                | "typeof"
                | "var"
                | "void"
                | "while"
                | "with"
                | "let"
                | "static"
                | "yield"
                | "await"
                | "async"
                | "of"
                | "undefined"
                | "interface"
                | "type"
                | "enum"
                | "implements"
                | "public"
                | "private"
                | "protected"
                | "readonly"
                | "declare"
                | "abstract"
                | "as"
                | "keyof"
                | "namespace"
        ),
        Lang::Go => matches!(
            word,
            "break"
                | "case"
                | "chan"
                | "const"
                | "continue"
                | "default"
                | "defer"
                | "else"
                | "fallthrough"
                | "for"
                | "func"
                | "go"
                | "goto"
                | "if"
                | "import"
                | "interface"
                | "map"
                | "package"
                | "range"
                | "return"
                | "select"
                | "struct"
                | "switch"
                | "type"
                | "var"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(lang: Lang, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        identifiers(lang, text, |id| out.push(id.word.to_owned()));
        out
    }

    #[test]
    fn skips_comments_strings_and_keywords() {
        let rust = r##"
            /* outer /* nested */ still */ fn parse<'a>(s: &'a str) -> Result { // comment
                let c = 'x'; let e = '\n'; let raw = r#"not_an_ident "quoted""#;
                let b = b"bytes"; 'outer: loop { break 'outer; } s.len() as u8 + 0x1F }
        "##;
        assert_eq!(
            idents(Lang::Rust, rust),
            ["parse", "s", "str", "Result", "c", "e", "raw", "b", "s", "len", "u8"]
        );

        let py = "def f(x):\n    '''doc with words'''\n    y = rb'raw' + f\"{x}\"  # note\n    return x.y\n";
        assert_eq!(idents(Lang::Python, py), ["f", "x", "y", "x", "y"]);

        let js =
            "const re = /a[/]b/g; const t = `a ${user.name} b ${`n ${x}`}`; total = a / b / c;";
        assert_eq!(
            idents(Lang::JavaScript, js),
            ["re", "t", "user", "name", "x", "total", "a", "b", "c"]
        );

        let go = "func (h *Handler) Serve(p string) { r := 'x'; s := `raw ident` }";
        assert_eq!(
            idents(Lang::Go, go),
            ["h", "Handler", "Serve", "p", "string", "r", "s"]
        );
    }

    #[test]
    fn statement_starts_skip_literals_brackets_and_continuations() {
        let starts = |lang, text: &str| -> Vec<usize> {
            statement_starts(lang, text, 0..text.len())
                .iter()
                .map(|&i| text[..i].matches('\n').count())
                .collect()
        };
        let rust = "use a;\nrgtest!(x, |dir| {\n    let s = \"\\\nnot a start\n\";\n    let r = r#\"\nalso not\n\"#;\n});\n/* block\ncomment */\nfoo!(1);\n";
        assert_eq!(starts(Lang::Rust, rust), [0, 1, 9, 11]);
        let py = "x = '''\ndoc\n'''\nif x:\n    pass\nelse:\n    pass\ncall(\n1,\n)\n";
        assert_eq!(starts(Lang::Python, py), [0, 3, 7]);
        let js = "const t = `\n${f(`\n`)}\n`;\ndescribe('x', () => {\nit();\n});\n";
        assert_eq!(starts(Lang::JavaScript, js), [0, 4]);
    }

    #[test]
    fn broken_input_does_not_panic() {
        for lang in Lang::ALL {
            for text in [
                "\"unterminated",
                "'",
                "/*",
                "r#\"",
                "`${",
                "x = /[",
                "\\",
                "'\\",
                "é'",
            ] {
                let _ = idents(lang, text);
                let _ = statement_starts(lang, text, 0..text.len());
            }
        }
    }
}
