//! From a tree-sitter tree and its text: definitions, references, function-level chunks, BM25
//! postings.
//!
//! Definitions come from a walk of the tree that does not enter function bodies (nested
//! functions are local, not workspace symbols); references come from the lexer in `lex`, a
//! linear scan of the text — visiting every node would cost a third of the parse. Works on any
//! tree, including ones with ERROR nodes: a broken parse is normal input. Node roles come from
//! `lang`'s kind-id tables; the few rules that need the surrounding tree (method vs function,
//! Python constants, JS arrow functions, Go type specs) live in [`refine`].
//!
//! Every file is untrusted, so work and space stay linear in the file, whatever its shape: the
//! walk is one cursor pass with explicit stacks (no recursion), keeps each node's ancestors and
//! the comments before it itself (`Node::parent` and `prev_sibling` start again at the root),
//! records nothing nested deeper than [`MAX_NESTING`] definitions (nor walks into it), and
//! bounds the work per definition and per identifier (signatures look at a few hundred bytes;
//! UTF-16 columns come from a table of checkpoints, not a scan of the line).

use rustc_hash::FxHashMap;

use tree_sitter::{Node, Parser, Tree};

use super::file::{Chunk, Def, DefKind, FileIndex, Posting, Ref, Span, MAX_NESTING};
use super::lang::{Lang, LangSpec, Role};
use super::{lex, tokenize};

/// Longest signature kept, in bytes.
const MAX_SIGNATURE: usize = 200;
/// Longest doc comment kept, in bytes.
const MAX_DOC: usize = 2000;
/// Top-level code between functions is chunked in windows of this many lines.
const GAP_CHUNK_LINES: u32 = 60;

/// Converts tree-sitter byte columns to UTF-16 columns (what LSP positions count). Most source
/// files are ASCII, where the two agree and nothing is computed. Otherwise a column is the
/// UTF-16 length of the text before it on its line, read off a table of running UTF-16 counts
/// every [`CHECKPOINT`] bytes: a bounded amount of work per column, however long the line (a
/// one-line file of a million bytes has as many identifiers as a normal one).
pub(crate) struct Columns<'t> {
    text: &'t str,
    /// Line start offsets; empty for ASCII text.
    line_starts: Vec<u32>,
    /// UTF-16 units before byte `k * CHECKPOINT`; empty for ASCII text.
    checkpoints: Vec<u32>,
}

/// Bytes between two entries of [`Columns`]' table.
const CHECKPOINT: usize = 256;

/// UTF-16 units of the characters whose first byte is in `bytes`: one per leading byte, two for
/// the 4-byte ones. Meaningful for any byte range of valid UTF-8.
fn utf16_units(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .map(|&b| u32::from(b & 0xC0 != 0x80) + u32::from(b >= 0xF0))
        .sum()
}

impl<'t> Columns<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        if text.is_ascii() {
            return Self {
                text,
                line_starts: Vec::new(),
                checkpoints: Vec::new(),
            };
        }
        let line_starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'\n')
                    .map(|(i, _)| i as u32 + 1),
            )
            .collect();
        let mut checkpoints = Vec::with_capacity(text.len() / CHECKPOINT + 1);
        let mut units = 0;
        for block in text.as_bytes().chunks(CHECKPOINT) {
            checkpoints.push(units);
            units += utf16_units(block);
        }
        checkpoints.push(units);
        Self {
            text,
            line_starts,
            checkpoints,
        }
    }

    /// UTF-16 units before byte `offset`.
    fn units_before(&self, offset: usize) -> u32 {
        let offset = offset.min(self.text.len());
        let block = offset / CHECKPOINT;
        let base = self.checkpoints.get(block).copied().unwrap_or(0);
        let rest = self
            .text
            .as_bytes()
            .get(block * CHECKPOINT..offset)
            .unwrap_or(&[]);
        base + utf16_units(rest)
    }

    #[inline]
    pub(crate) fn col16(&self, row: usize, byte_col: usize) -> u32 {
        let Some(&start) = self.line_starts.get(row) else {
            return byte_col as u32;
        };
        let start = start as usize;
        self.units_before(start + byte_col)
            .saturating_sub(self.units_before(start))
    }

    pub(crate) fn span(&self, node: &Node<'_>) -> Span {
        let (s, e) = (node.start_position(), node.end_position());
        Span {
            start: node.start_byte() as u32,
            end: node.end_byte() as u32,
            start_line: s.row as u32,
            start_col: self.col16(s.row, s.column),
            end_line: e.row as u32,
            end_col: self.col16(e.row, e.column),
        }
    }
}

/// Parses `text` as `lang`, reusing `parser` (one per thread).
pub fn parse(parser: &mut Parser, lang: Lang, text: &str, old: Option<&Tree>) -> Option<Tree> {
    parser.set_language(&LangSpec::get(lang).grammar).ok()?;
    parser.parse(text, old)
}

/// Extracts everything the index keeps from a parsed file. `path` (relative) contributes its
/// components as search terms to every chunk.
pub fn extract(lang: Lang, path: &str, text: &str, tree: &Tree) -> FileIndex {
    let spec = LangSpec::get(lang);
    let mut ex = Extractor {
        spec,
        text,
        cols: Columns::new(text),
        defs: Vec::new(),
        stack: Vec::new(),
        fn_chunks: Vec::new(),
    };
    ex.walk(tree.root_node());
    let n_errors = count_errors(tree.root_node());
    let n_lines = text.bytes().filter(|&b| b == b'\n').count() as u32 + 1;
    ex.finish(path, n_lines, n_errors)
}

/// ERROR and MISSING nodes, visiting only subtrees that contain one.
pub(crate) fn count_errors(root: Node<'_>) -> u32 {
    let mut n = 0;
    visit_errors(root, &mut |_| n += 1);
    n
}

/// A syntax error found by the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte range; empty for a missing node.
    pub start: u32,
    pub end: u32,
    /// `missing` plus the node kind for a MISSING node, else `error`.
    pub what: String,
}

/// The ERROR and MISSING nodes under `root`, outermost first, at most `limit`.
pub(crate) fn syntax_errors(root: Node<'_>, limit: usize) -> Vec<SyntaxError> {
    let mut out = Vec::new();
    visit_errors(root, &mut |node| {
        if out.len() < limit {
            out.push(SyntaxError {
                start: node.start_byte() as u32,
                end: node.end_byte() as u32,
                what: if node.is_missing() {
                    format!("missing {}", node.kind())
                } else {
                    "error".to_owned()
                },
            });
        }
    });
    out
}

fn visit_errors<'t>(root: Node<'t>, f: &mut dyn FnMut(Node<'t>)) {
    if !root.has_error() {
        return;
    }
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            f(node);
        }
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}

struct Extractor<'t> {
    spec: &'static LangSpec,
    text: &'t str,
    cols: Columns<'t>,
    defs: Vec<Def>,
    /// Enclosing definitions: (index, end byte).
    stack: Vec<(u32, u32)>,
    /// Outermost functions/methods: (def index, node span).
    fn_chunks: Vec<(u32, Span)>,
}

/// What the walk knows about the levels above a definition candidate.
struct Above<'a, 'n> {
    /// The candidate's ancestors, root first.
    ancestors: &'a [Node<'n>],
    /// The comment runs of the candidate's level and of each ancestor's (see `walk`).
    runs: &'a [Node<'n>],
    run_starts: &'a [usize],
}

impl<'n> Above<'_, 'n> {
    /// The comments and attributes directly before the candidate (`up` 0) or before its
    /// `up`-th ancestor, in text order.
    fn run_before(&self, up: usize) -> &[Node<'n>] {
        let level = self.run_starts.len().checked_sub(1 + up);
        let start = level.and_then(|l| self.run_starts.get(l)).copied();
        let end = match up {
            0 => Some(self.runs.len()),
            _ => level.and_then(|l| self.run_starts.get(l + 1)).copied(),
        };
        match (start, end) {
            (Some(s), Some(e)) => self.runs.get(s..e).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Can `node` be part of the doc block above a definition (a comment, or a Rust attribute
/// between the doc comment and the item)?
fn is_doc_neighbour(lang: Lang, node: Node<'_>) -> bool {
    let kind = node.kind();
    kind.contains("comment") || lang == Lang::Rust && kind == "attribute_item"
}

impl<'t> Extractor<'t> {
    fn node_text(&self, node: Node<'_>) -> &'t str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    fn walk(&mut self, root: Node<'_>) {
        let mut cursor = root.walk();
        // Ancestors of the cursor's node (`Node::parent` walks down from the root each time).
        let mut ancestors: Vec<Node<'_>> = Vec::new();
        // The comments and attributes directly before the cursor's node and before each of its
        // ancestors (`Node::prev_sibling` also starts at the root, and then scans the siblings:
        // per definition that is the depth plus the position, quadratic on hostile files).
        // Level k's run is `runs[run_starts[k]..]` up to the next level's start.
        let mut runs: Vec<Node<'_>> = Vec::new();
        let mut run_starts: Vec<usize> = vec![0];
        loop {
            let node = cursor.node();
            let start = node.start_byte() as u32;
            while self.stack.last().is_some_and(|&(_, end)| end <= start) {
                self.stack.pop();
            }
            // Descend only where definitions can be: containers, and the bodies of types and
            // modules. Function bodies and expressions hold only local definitions.
            let descend = match self.spec.role(node.kind_id()) {
                Role::Container => true,
                Role::Def(kind) => {
                    let above = Above {
                        ancestors: &ancestors,
                        runs: &runs,
                        run_starts: &run_starts,
                    };
                    self.add_def(node, &above, kind)
                        .is_some_and(|k| k.is_container())
                }
                Role::Ident | Role::Comment => false,
                Role::Other => node.is_error(),
            };
            if descend && cursor.goto_first_child() {
                // The node's own run stays until its subtree is done: a definition inside it
                // (`export function`, a decorated one) takes its doc from there.
                ancestors.push(node);
                run_starts.push(runs.len());
                continue;
            }
            if is_doc_neighbour(self.spec.lang, node) {
                runs.push(node);
            } else {
                runs.truncate(run_starts.last().copied().unwrap_or(0));
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return;
                }
                ancestors.pop();
                run_starts.pop();
                // Back at a finished container: no comment run continues past it.
                runs.truncate(run_starts.last().copied().unwrap_or(0));
            }
        }
    }

    /// Records a definition candidate; returns its refined kind when it is one. Nothing is
    /// recorded deeper than [`MAX_NESTING`] enclosing definitions.
    fn add_def(&mut self, node: Node<'_>, above: &Above<'_, '_>, kind: DefKind) -> Option<DefKind> {
        if self.stack.len() > MAX_NESTING {
            return None;
        }
        let ancestors = above.ancestors;
        let up = |k: usize| ancestors.iter().rev().nth(k).copied();
        let parent = self.stack.last().map(|&(i, _)| i);
        let parent_kind = parent
            .and_then(|p| self.defs.get(p as usize))
            .map(|d| d.kind);
        let (kind, name_node) = refine(
            self.spec.lang,
            node,
            ancestors,
            kind,
            parent_kind,
            self.text,
        )?;
        let name = match kind {
            DefKind::Impl => impl_name(node, self.text),
            _ => self.node_text(name_node).to_owned(),
        };
        if name.is_empty() {
            return None;
        }
        // Python decorators and JS `export` belong to the definition's range.
        let (outer, outer_level) = match up(0) {
            Some(p) if matches!(p.kind(), "decorated_definition" | "export_statement") => (p, 1),
            _ => (node, 0),
        };
        let span = match kind {
            // `const x = () => {}` / Go `const X = 1`: the whole declaration.
            DefKind::Constant | DefKind::Variable | DefKind::Function
                if matches!(
                    node.kind(),
                    "variable_declarator" | "const_spec" | "var_spec"
                ) =>
            {
                let (decl, above) = match up(0) {
                    Some(p) if p.kind().ends_with("declaration") => (p, up(1)),
                    _ => (node, up(0)),
                };
                let decl = match above {
                    Some(p) if p.kind() == "export_statement" => p,
                    _ => decl,
                };
                self.cols.span(&decl)
            }
            _ => self.cols.span(&outer),
        };
        let receiver = match (self.spec.lang, node.kind()) {
            // Go methods belong to their receiver type: `func (h *Handler) Serve()`.
            (Lang::Go, "method_declaration") => go_receiver_type(node, self.text),
            _ => None,
        };
        let idx = self.defs.len() as u32;
        let is_outer_fn = kind.is_callable()
            && !self.stack.iter().any(|&(i, _)| {
                self.defs
                    .get(i as usize)
                    .is_some_and(|d| d.kind.is_callable())
            });
        if is_outer_fn {
            self.fn_chunks.push((idx, span));
        }
        self.defs.push(Def {
            name,
            kind,
            parent,
            receiver,
            span,
            name_span: self.cols.span(&name_node),
            signature: signature(node, self.text),
            doc: doc_comment(
                self.spec.lang,
                node,
                outer,
                above.run_before(outer_level),
                self.text,
            ),
        });
        self.stack.push((idx, node.end_byte() as u32));
        Some(kind)
    }

    fn finish(self, path: &str, n_lines: u32, n_errors: u32) -> FileIndex {
        let (names, refs) = references(self.spec.lang, self.text, &self.defs, &self.cols);
        let chunks = make_chunks(&self.fn_chunks, self.text, n_lines);
        let (chunks, postings) = postings(path, self.text, chunks);
        FileIndex {
            defs: self.defs,
            names,
            refs,
            chunks,
            postings,
            n_errors,
            n_lines,
            lookup: Default::default(),
        }
    }
}

/// Identifier occurrences from the lexer, each with its innermost enclosing definition (a sweep
/// over the definitions, which nest): sorted names, and refs sorted by (name, start).
fn references(lang: Lang, text: &str, defs: &[Def], cols: &Columns<'_>) -> (Vec<String>, Vec<Ref>) {
    let mut names: FxHashMap<&str, u32> = FxHashMap::default();
    let mut raw: Vec<Ref> = Vec::new();
    // Definitions by start; `open` holds the ones containing the current position.
    let mut order: Vec<u32> = (0..defs.len() as u32).collect();
    order.sort_by_key(|&i| defs.get(i as usize).map_or(0, |d| d.span.start));
    let mut next_def = 0;
    let mut open: Vec<u32> = Vec::new();
    lex::identifiers(lang, text, |id| {
        let lex::Ident {
            start,
            line,
            line_start,
            word,
        } = id;
        if word.len() > 256 {
            return;
        }
        let pos = start as u32;
        while let Some(&d) = order.get(next_def) {
            match defs.get(d as usize) {
                Some(def) if def.span.start <= pos => {
                    open.push(d);
                    next_def += 1;
                }
                _ => break,
            }
        }
        while open
            .last()
            .is_some_and(|&d| defs.get(d as usize).is_none_or(|def| def.span.end <= pos))
        {
            open.pop();
        }
        let next = names.len() as u32;
        let id = *names.entry(word).or_insert(next);
        raw.push(Ref {
            name: id,
            start: pos,
            line,
            col: cols.col16(line as usize, start - line_start),
            enclosing: open.last().copied().unwrap_or(u32::MAX),
        });
    });
    // Sorted names; refs re-keyed by sorted name id.
    let mut by_name: Vec<(&str, u32)> = names.into_iter().collect();
    by_name.sort_unstable();
    let mut remap = vec![0u32; by_name.len()];
    let mut sorted = Vec::with_capacity(by_name.len());
    for (new_id, (name, old_id)) in by_name.into_iter().enumerate() {
        if let Some(slot) = remap.get_mut(old_id as usize) {
            *slot = new_id as u32;
        }
        sorted.push(name.to_owned());
    }
    for r in &mut raw {
        r.name = remap.get(r.name as usize).copied().unwrap_or(0);
    }
    // Counting sort by name: stable, so each name's refs stay in position order.
    let mut counts = vec![0usize; sorted.len() + 1];
    for r in &raw {
        if let Some(c) = counts.get_mut(r.name as usize + 1) {
            *c += 1;
        }
    }
    for k in 1..counts.len() {
        counts[k] += counts[k - 1];
    }
    let mut refs = vec![
        Ref {
            name: 0,
            start: 0,
            line: 0,
            col: 0,
            enclosing: u32::MAX
        };
        raw.len()
    ];
    for r in raw {
        if let Some(slot) = counts.get_mut(r.name as usize) {
            if let Some(dst) = refs.get_mut(*slot) {
                *dst = r;
            }
            *slot += 1;
        }
    }
    (sorted, refs)
}

/// Decides whether a definition candidate is one and what kind it is; returns its name node.
fn refine<'a>(
    lang: Lang,
    node: Node<'a>,
    ancestors: &[Node<'a>],
    kind: DefKind,
    parent: Option<DefKind>,
    text: &str,
) -> Option<(DefKind, Node<'a>)> {
    let in_type = parent.is_some_and(|k| {
        matches!(
            k,
            DefKind::Class | DefKind::Impl | DefKind::Trait | DefKind::Interface | DefKind::Struct
        )
    });
    let name = |field: &str| node.child_by_field_name(field);
    let up = |k: usize| ancestors.iter().rev().nth(k).copied();
    match (lang, kind) {
        (Lang::Rust, DefKind::Impl) => Some((kind, name("type")?)),
        (Lang::Rust, DefKind::Function) if in_type => Some((DefKind::Method, name("name")?)),
        (Lang::Python, DefKind::Function) if in_type => Some((DefKind::Method, name("name")?)),
        (Lang::Python, DefKind::Constant) => {
            // Module-level `UPPER_CASE = …` only.
            up(0).filter(|p| p.kind() == "expression_statement")?;
            if up(1)?.kind() != "module" {
                return None;
            }
            let left = name("left").filter(|l| l.kind() == "identifier")?;
            let text = text.get(left.byte_range())?;
            let is_const = text.bytes().any(|b| b.is_ascii_uppercase())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            is_const.then_some((kind, left))
        }
        (Lang::JavaScript | Lang::TypeScript | Lang::Tsx, DefKind::Constant) => {
            // `const f = () => …` is a function; other top-level `const X = …` a constant.
            let ident = name("name").filter(|n| n.kind() == "identifier")?;
            let value_kind = name("value").map(|v| v.kind());
            if matches!(
                value_kind,
                Some("arrow_function" | "function_expression" | "function" | "generator_function")
            ) {
                return Some((DefKind::Function, ident));
            }
            let decl = up(0)?;
            let top = match up(1)? {
                p if p.kind() == "export_statement" => up(2)?,
                p => p,
            };
            let is_const = decl.kind() == "lexical_declaration"
                && decl.child(0).is_some_and(|c| c.kind() == "const");
            (is_const && top.kind() == "program").then_some((kind, ident))
        }
        (Lang::Go, DefKind::Struct) => {
            // type_spec: struct, interface, or another named type.
            let kind = match name("type").map(|t| t.kind()) {
                Some("struct_type") => DefKind::Struct,
                Some("interface_type") => DefKind::Interface,
                _ => DefKind::TypeAlias,
            };
            Some((kind, name("name")?))
        }
        (Lang::Go, DefKind::Variable) => {
            // Package-level vars only.
            let decl = match up(0)? {
                p if p.kind() == "var_spec_list" => 1,
                _ => 0,
            };
            if up(decl + 1)?.kind() != "source_file" {
                return None;
            }
            Some((kind, name("name")?))
        }
        (Lang::Go, DefKind::Method) if node.kind() == "method_elem" => Some((kind, name("name")?)),
        _ => Some((kind, name("name")?)),
    }
}

/// The receiver's type name of a Go method declaration.
fn go_receiver_type(node: Node<'_>, text: &str) -> Option<String> {
    let receiver = node.child_by_field_name("receiver")?;
    let mut cursor = receiver.walk();
    loop {
        let n = cursor.node();
        if n.kind() == "type_identifier" {
            return text.get(n.byte_range()).map(str::to_owned);
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() || cursor.node().id() == receiver.id() {
                return None;
            }
        }
    }
}

/// `impl Display for Store` → `Store` (the type, without generics) — the container name
/// methods are qualified with.
fn impl_name(node: Node<'_>, text: &str) -> String {
    let Some(ty) = node.child_by_field_name("type") else {
        return String::new();
    };
    let base = match ty.kind() {
        "generic_type" => ty.child_by_field_name("type").unwrap_or(ty),
        _ => ty,
    };
    text.get(base.byte_range()).unwrap_or("").to_owned()
}

/// The declaration up to its body, on one line.
fn signature(node: Node<'_>, text: &str) -> String {
    let start = node.start_byte();
    let body_start = node
        .child_by_field_name("body")
        .or_else(|| {
            node.child_by_field_name("value")
                .and_then(|v| v.child_by_field_name("body"))
        })
        .map(|b| b.start_byte());
    // Only the first few hundred bytes can make a signature: looking further (for the end of a
    // megabyte-long line, once per definition on it) would be quadratic.
    let reach = floor_char_boundary(text, start + 4 * MAX_SIGNATURE);
    let line_end = text
        .get(start..reach)
        .and_then(|t| t.find('\n'))
        .map_or(reach, |i| start + i);
    let end = match body_start {
        Some(b) if b > start && b - start <= 4 * MAX_SIGNATURE => b,
        _ => line_end.min(node.end_byte()),
    };
    let raw = text.get(start..end).unwrap_or("");
    let mut sig = String::with_capacity(raw.len().min(MAX_SIGNATURE));
    for word in raw.split_whitespace() {
        if !sig.is_empty() {
            sig.push(' ');
        }
        sig.push_str(word);
        if sig.len() >= MAX_SIGNATURE {
            break;
        }
    }
    let sig = sig.trim_end_matches(['{', ':', ';', ' ']).to_owned();
    truncate(sig, MAX_SIGNATURE)
}

/// The largest char boundary of `text` at or before `at` (clamped to its length).
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Doc comment above the definition (Rust `///`, JSDoc `/** */`, Go `//`) or the Python
/// docstring. `before` holds the comments and attributes directly before `outer`, as the walk
/// collected them.
fn doc_comment(
    lang: Lang,
    node: Node<'_>,
    outer: Node<'_>,
    before: &[Node<'_>],
    text: &str,
) -> Option<String> {
    if lang == Lang::Python {
        let body = node.child_by_field_name("body")?;
        let first = body.named_child(0)?;
        if first.kind() != "expression_statement" {
            return None;
        }
        let string = first.named_child(0).filter(|s| s.kind() == "string")?;
        let raw = text.get(string.byte_range())?;
        let doc = raw
            .trim_start_matches(['r', 'R', 'b', 'B', 'u', 'U'])
            .trim_matches('"')
            .trim_matches('\'');
        return clean_doc(doc.lines());
    }
    // Walk back over comments (and Rust attributes) directly above the definition.
    let mut lines: Vec<&str> = Vec::new();
    let mut expected_row = outer.start_position().row;
    for &p in before.iter().rev() {
        let kind = p.kind();
        let adjacent = p.end_position().row + 1 >= expected_row;
        if !adjacent {
            break;
        }
        if lang == Lang::Rust && kind == "attribute_item" {
            expected_row = p.start_position().row;
            continue;
        }
        if !kind.contains("comment") {
            break;
        }
        let raw = text.get(p.byte_range()).unwrap_or("");
        let is_doc = match lang {
            Lang::Rust => {
                raw.starts_with("///") && !raw.starts_with("////") || raw.starts_with("/**")
            }
            Lang::Go => true,
            _ => raw.starts_with("/**"),
        };
        if !is_doc {
            break;
        }
        lines.push(raw);
        expected_row = p.start_position().row;
        if lang != Lang::Rust && lang != Lang::Go {
            break; // one JSDoc block
        }
    }
    lines.reverse();
    let stripped = lines.iter().flat_map(|c| c.lines()).map(|l| {
        let l = l.trim();
        let l = l
            .strip_prefix("///")
            .or_else(|| l.strip_prefix("/**"))
            .or_else(|| l.strip_prefix("//"))
            .or_else(|| l.strip_prefix("*/"))
            .or_else(|| l.strip_prefix('*'))
            .unwrap_or(l);
        l.strip_suffix("*/").unwrap_or(l)
    });
    clean_doc(stripped)
}

fn clean_doc<'a>(lines: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out = String::new();
    for line in lines {
        let line = line.trim();
        if line.is_empty() && out.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
        if out.len() > MAX_DOC {
            break;
        }
    }
    let out = out.trim_end().to_owned();
    (!out.is_empty()).then(|| truncate(out, MAX_DOC))
}

/// Chunks: one per outermost function or method; the code between them in windows.
fn make_chunks(fn_chunks: &[(u32, Span)], text: &str, n_lines: u32) -> Vec<Chunk> {
    let mut chunks = Vec::with_capacity(fn_chunks.len() + 4);
    let mut covered = vec![false; n_lines as usize + 1];
    for &(def, span) in fn_chunks {
        for line in span.start_line..=span.end_line {
            if let Some(c) = covered.get_mut(line as usize) {
                *c = true;
            }
        }
        chunks.push(Chunk {
            def,
            start: span.start,
            end: span.end,
            start_line: span.start_line,
            end_line: span.end_line,
            len: 0,
        });
    }
    // Byte offset of each line start, for the gap chunks.
    let mut line_starts = Vec::with_capacity(n_lines as usize + 1);
    line_starts.push(0u32);
    line_starts.extend(
        text.bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i as u32 + 1),
    );
    let line_start = |l: u32| {
        line_starts
            .get(l as usize)
            .copied()
            .unwrap_or(text.len() as u32)
    };
    let mut line = 0;
    while line < n_lines {
        if covered.get(line as usize).copied().unwrap_or(true) {
            line += 1;
            continue;
        }
        let first = line;
        while line < n_lines
            && !covered.get(line as usize).copied().unwrap_or(true)
            && line - first < GAP_CHUNK_LINES
        {
            line += 1;
        }
        let (start, end) = (line_start(first), line_start(line).min(text.len() as u32));
        let blank = text
            .get(start as usize..end as usize)
            .is_none_or(|t| t.trim().is_empty());
        if !blank {
            chunks.push(Chunk {
                def: u32::MAX,
                start,
                end,
                start_line: first,
                end_line: line.saturating_sub(1),
                len: 0,
            });
        }
    }
    chunks.sort_unstable_by_key(|c| c.start);
    chunks
}

/// BM25 postings of the chunks; fills in each chunk's length.
fn postings(path: &str, text: &str, mut chunks: Vec<Chunk>) -> (Vec<Chunk>, Vec<Posting>) {
    let mut path_terms = Vec::new();
    tokenize::term_hashes(path, &mut path_terms);
    let mut postings = Vec::new();
    let mut terms = Vec::new();
    for (idx, chunk) in chunks.iter_mut().enumerate() {
        terms.clear();
        terms.extend_from_slice(&path_terms);
        let body = text
            .get(chunk.start as usize..chunk.end as usize)
            .unwrap_or("");
        tokenize::term_hashes(body, &mut terms);
        chunk.len = terms.len() as u32;
        terms.sort_unstable();
        let mut i = 0;
        while let Some(&term) = terms.get(i) {
            let run = terms
                .get(i..)
                .map_or(0, |t| t.iter().take_while(|&&x| x == term).count());
            postings.push(Posting {
                term,
                chunk: idx as u32,
                tf: run as u32,
            });
            i += run.max(1);
        }
    }
    postings.sort_unstable();
    (chunks, postings)
}
