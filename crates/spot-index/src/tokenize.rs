//! The code-aware tokenizer shared by indexing and querying.
//!
//! A word is a run of identifier characters. Each word yields itself, lowercased, and — when it
//! has several parts — its snake_case / camelCase / digit-boundary parts, so `parseHttpHeader`
//! matches the queries `parseHttpHeader`, `http` and `header`. Terms are hashed (xxh3) for the
//! postings; a collision merely merges two terms' statistics.

/// Shortest term kept (single letters carry no signal).
const MIN_TERM_LEN: usize = 2;
/// Longest word considered (minified code, base64 blobs).
const MAX_WORD_LEN: usize = 64;

#[inline]
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Hash of a lowercase term.
#[inline]
pub fn term_hash(term: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(term.as_bytes())
}

/// Calls `f` with each term (lowercased) of `text`, words and their parts.
pub fn for_each_term(text: &str, mut f: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut buf = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_word_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word_byte(bytes[i]) {
            i += 1;
        }
        // Word boundaries are ASCII bytes, so `start..i` is on char boundaries.
        let Some(word) = text.get(start..i) else {
            continue;
        };
        if word.len() > MAX_WORD_LEN || word.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        emit_word(word, &mut buf, &mut f);
    }
}

/// Collects the terms of `text` as hashes.
pub fn term_hashes(text: &str, out: &mut Vec<u64>) {
    for_each_term(text, |t| out.push(term_hash(t)));
}

/// The distinct terms of a search query, sorted, each with how often the query says it: a
/// term said twice weighs twice (BM25's query term frequency with k3 → ∞, as Lucene sums
/// repeated clauses). Localization says an issue's title twice this way.
pub fn query_terms(query: &str) -> Vec<(u64, f32)> {
    let mut all = Vec::new();
    term_hashes(query, &mut all);
    all.sort_unstable();
    let mut out: Vec<(u64, f32)> = Vec::new();
    for h in all {
        match out.last_mut() {
            Some((last, n)) if *last == h => *n += 1.0,
            _ => out.push((h, 1.0)),
        }
    }
    out
}

fn emit_word(word: &str, buf: &mut String, f: &mut impl FnMut(&str)) {
    lowercase_into(word, buf);
    if buf.len() >= MIN_TERM_LEN {
        f(buf);
    }
    let mut parts: [(usize, usize); 16] = [(0, 0); 16];
    let mut n_parts = 0;
    split_parts(word, |s, e| {
        if let Some(slot) = parts.get_mut(n_parts) {
            *slot = (s, e);
        }
        n_parts += 1;
    });
    if n_parts < 2 {
        return;
    }
    for &(s, e) in parts.iter().take(n_parts) {
        let Some(part) = word.get(s..e) else { continue };
        if part.len() < MIN_TERM_LEN || part.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        lowercase_into(part, buf);
        f(buf);
    }
}

fn lowercase_into(word: &str, buf: &mut String) {
    buf.clear();
    if word.is_ascii() {
        buf.push_str(word);
        buf.make_ascii_lowercase();
    } else {
        buf.extend(word.chars().flat_map(char::to_lowercase));
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Lower,
    Upper,
    Digit,
    Sep,
}

fn class_of(c: char) -> Class {
    if c == '_' {
        Class::Sep
    } else if c.is_ascii_digit() {
        Class::Digit
    } else if c.is_uppercase() {
        Class::Upper
    } else {
        Class::Lower
    }
}

/// Splits an identifier into parts at `_`, lower→Upper, `HTTPServer` → `HTTP|Server`, and
/// letter↔digit boundaries. Calls `part(start, end)` with byte offsets. No allocation; ASCII
/// words (the common case) skip char decoding.
fn split_parts(word: &str, part: impl FnMut(usize, usize)) {
    if word.is_ascii() {
        let ascii_class = |c: u8| match c {
            b'_' => Class::Sep,
            b'0'..=b'9' => Class::Digit,
            b'A'..=b'Z' => Class::Upper,
            _ => Class::Lower,
        };
        let classes = word.bytes().enumerate().map(|(i, c)| (i, ascii_class(c)));
        split_classes(classes, word.len(), part);
    } else {
        let classes = word.char_indices().map(|(i, c)| (i, class_of(c)));
        split_classes(classes, word.len(), part);
    }
}

/// The boundary rules of [`split_parts`] over (byte offset, class) pairs.
fn split_classes(
    classes: impl Iterator<Item = (usize, Class)>,
    len: usize,
    mut part: impl FnMut(usize, usize),
) {
    let mut start: Option<usize> = None;
    let mut prev: Option<Class> = None;
    let mut iter = classes.peekable();
    while let Some((i, cur)) = iter.next() {
        let next = iter.peek().map(|&(_, n)| n);
        if cur == Class::Sep {
            if let Some(s) = start.take() {
                part(s, i);
            }
            prev = Some(cur);
            continue;
        }
        match start {
            None => start = Some(i),
            Some(s) => {
                let boundary = match (prev, cur) {
                    (Some(Class::Lower), Class::Upper) => true,
                    (Some(Class::Upper), Class::Upper) => next == Some(Class::Lower),
                    (Some(Class::Digit), Class::Lower | Class::Upper) => true,
                    (Some(Class::Lower | Class::Upper), Class::Digit) => true,
                    _ => false,
                };
                if boundary {
                    part(s, i);
                    start = Some(i);
                }
            }
        }
        prev = Some(cur);
    }
    if let Some(s) = start {
        part(s, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_term(text, |t| out.push(t.to_owned()));
        out
    }

    #[test]
    fn query_terms_count_repeats() {
        let q = query_terms("retry Retry retry_delay delay");
        let count = |t: &str| q.iter().find(|(h, _)| *h == term_hash(t)).map(|(_, n)| *n);
        assert_eq!(count("retry"), Some(3.0));
        assert_eq!(count("delay"), Some(2.0));
        assert_eq!(count("retry_delay"), Some(1.0));
        assert!(q.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn splits_identifiers_and_keeps_the_whole() {
        expect_test::expect![[r#"
            [
                "parsehttpheader",
                "parse",
                "http",
                "header",
                "remove_item",
                "remove",
                "item",
                "httpserver2",
                "http",
                "server",
                "x86_64",
                "ok",
                "größe",
            ]
        "#]]
        .assert_debug_eq(&terms(
            "parseHttpHeader(remove_item) HTTPServer2 x86_64 a 1234 ok größe",
        ));
    }
}
