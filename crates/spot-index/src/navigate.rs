//! Go-to-definition, references and hover over the index, for a cursor in a file's text.
//!
//! Definition looks in order: the local scope (a parameter or binding earlier in the enclosing
//! functions, found in the text's syntax tree: an open buffer's cached tree when it matches the
//! text, else a parse of the region around the cursor alone), the file's own definitions,
//! files the file imports (cheap textual match of its import statements), then the whole index.
//! Pure functions over the index and a text; no LSP.
//!
//! Parsing only a region: a whole file's parse (milliseconds for the large files of real
//! repositories) was three quarters of the server's time in a burst of definition, references
//! and hover requests on ripgrep. The region is the innermost definition around the cursor (no
//! definition lies inside a function body, so it holds every function around the cursor), or
//! outside every definition the top-level lines between two; for JavaScript and TypeScript the
//! first line of each container comes with it, as their members do not parse alone. When the
//! region does not parse cleanly, the whole file is parsed.
//!
//! The file's own definitions and references are read from its entry for exactly the given
//! text ([`Index::file_for_text`]): while an editor's edits stream in, the stored entry may be
//! of a newer or older version, whose offsets and names do not match the cursor's text.
//!
//! Work is bounded on hostile files: the local-scope search descends once from the root to the
//! cursor with a tree cursor (no `Node::parent`, which walks down from the root on each call),
//! decides binding positions from the fields and ancestors its own walk knows, and visits at
//! most [`MAX_SCOPE_NODES`] nodes, past which the answer comes from the index alone. Matching a
//! name's many definitions against the imports, or its references against its declarations, is
//! linear; hover shows at most a few hundred bytes of a binding's line.

use std::collections::{HashMap, HashSet};

use tree_sitter::{Node, Tree};

use super::extract::Columns;
use super::file::{Def, DefKind, FileEntry, Span};
use super::lex;
use super::query::{self, RefHit, SymbolHit};
use super::{Index, Lang};

/// Where a definition is, and how sure spot is about it.
#[derive(Debug, Clone)]
pub struct NavTarget {
    pub path: String,
    /// The name.
    pub name_span: Span,
    /// The whole definition.
    pub span: Span,
    pub tier: Tier,
    /// The definition as indexed; `None` for local bindings.
    pub def: Option<Def>,
    /// `Store.remove_item` for a definition, the name for a local binding.
    pub qualified_name: String,
    pub lang: Lang,
}

/// How a definition was found, most certain first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Local,
    SameFile,
    Imported,
    Workspace,
}

/// The identifier around `offset` (a cursor just after it counts): (start, end, text).
pub fn identifier_at(text: &str, offset: u32) -> Option<(u32, u32, &str)> {
    let bytes = text.as_bytes();
    let mut pos = (offset as usize).min(bytes.len());
    if !bytes.get(pos).is_some_and(|&b| is_word_byte(b)) {
        if pos > 0 && bytes.get(pos - 1).is_some_and(|&b| is_word_byte(b)) {
            pos -= 1;
        } else {
            return None;
        }
    }
    let mut start = pos;
    while start > 0 && bytes.get(start - 1).is_some_and(|&b| is_word_byte(b)) {
        start -= 1;
    }
    let mut end = pos;
    while bytes.get(end).is_some_and(|&b| is_word_byte(b)) {
        end += 1;
    }
    let word = text.get(start..end)?;
    if word.is_empty() || word.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((start as u32, end as u32, word))
}

/// Is the identifier at `start` a member access (`obj.name`, `obj->name`)?
fn is_member_access(text: &str, start: u32) -> bool {
    let before = text.get(..start as usize).unwrap_or("").trim_end();
    before.ends_with('.') && !before.ends_with("..") || before.ends_with("->")
}

/// Definitions of the identifier at `offset` in `rel` (whose current text is `text`), best
/// first. Only the best tier found is returned.
pub fn definition(index: &Index, rel: &str, text: &str, offset: u32) -> Vec<NavTarget> {
    let Some(lang) = Lang::from_path(std::path::Path::new(rel)) else {
        return Vec::new();
    };
    let Some((start, _, name)) = identifier_at(text, offset) else {
        return Vec::new();
    };
    let member = is_member_access(text, start);
    let file = index.file_for_text(rel, text);
    if !member && may_be_local(file.as_deref(), text, start, name) {
        if let Some(local) = local_binding(index, lang, rel, text, file.as_deref(), start, name) {
            return vec![local];
        }
    }
    if let Some(file) = &file {
        let mut same: Vec<&Def> = file
            .index
            .defs
            .iter()
            .filter(|d| d.name == name && d.kind != DefKind::Impl)
            .collect();
        if member {
            // `obj.name` prefers methods; a free function of the same name is a worse guess.
            if same.iter().any(|d| d.kind == DefKind::Method) {
                same.retain(|d| d.kind == DefKind::Method);
            }
        }
        if !same.is_empty() {
            return same
                .into_iter()
                .map(|d| target(file, d, Tier::SameFile))
                .collect();
        }
    }
    let mut hits = index.definitions(name);
    if member && hits.iter().any(|h| h.def().kind == DefKind::Method) {
        hits.retain(|h| h.def().kind == DefKind::Method);
    }
    let imports = import_hints(lang, text);
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    // Whether the file's imports name a file, decided once per file: a hostile workspace can
    // hold a hundred thousand definitions of one name.
    let mut imported_files: HashMap<&str, bool> = HashMap::new();
    let mut ranked: Vec<(Tier, bool, &SymbolHit)> = hits
        .iter()
        .filter(|h| h.file.path != rel)
        .map(|h| {
            let path = h.file.path.as_str();
            let imported = *imported_files
                .entry(path)
                .or_insert_with(|| imports.iter().any(|m| module_matches(m, path)));
            let tier = if imported {
                Tier::Imported
            } else {
                Tier::Workspace
            };
            (tier, !path.starts_with(dir) || dir.is_empty(), h)
        })
        .collect();
    // Stable: imported first, then the same directory, then the index order.
    ranked.sort_by_key(|&(tier, elsewhere, _)| (tier, elsewhere));
    if let Some(&(Tier::Imported, _, _)) = ranked.first() {
        ranked.retain(|&(tier, _, _)| tier == Tier::Imported);
    }
    ranked.truncate(32);
    let targets: Vec<NavTarget> = ranked
        .into_iter()
        .map(|(tier, _, h)| target(&h.file, h.def(), tier))
        .collect();
    targets
}

fn target(file: &FileEntry, def: &Def, tier: Tier) -> NavTarget {
    NavTarget {
        path: file.path.clone(),
        name_span: def.name_span,
        span: def.span,
        tier,
        def: Some(def.clone()),
        qualified_name: file.qualified_name(def),
        lang: file.lang,
    }
}

/// References of the identifier at `offset`: every occurrence of the name in the workspace, or
/// only those in the enclosing function when the name is a local binding.
pub fn references(
    index: &Index,
    rel: &str,
    text: &str,
    offset: u32,
    include_declaration: bool,
) -> Vec<RefHit> {
    let Some((start, _, name)) = identifier_at(text, offset) else {
        return Vec::new();
    };
    let lang = Lang::from_path(std::path::Path::new(rel));
    let own = index.file_for_text(rel, text);
    let local = match lang {
        Some(lang)
            if !is_member_access(text, start)
                && may_be_local(own.as_deref(), text, start, name) =>
        {
            scope_tree(index, lang, rel, text, own.as_deref(), start)
                .and_then(|tree| local_scope_in(&tree, lang, text, start, name))
        }
        _ => None,
    };
    // The file's own occurrences come from the entry of this text.
    let mut hits = index.references(name);
    hits.retain(|h| h.file.path != rel);
    if let Some(own) = &own {
        hits.extend(query::ref_hits(own, name));
        hits.sort_by(|a, b| a.file.path.cmp(&b.file.path).then(a.start.cmp(&b.start)));
    }
    if let Some((scope, binding)) = local {
        hits.retain(|h| h.file.path == rel && scope.0 <= h.start && h.start < scope.1);
        if !include_declaration {
            hits.retain(|h| h.start != binding);
        }
        return hits;
    }
    if !include_declaration {
        let defs = index.definitions(name);
        // Declarations elsewhere from the index; the file's own from the entry of this text.
        let mut declarations: HashSet<(&str, u32)> = defs
            .iter()
            .filter(|d| d.file.path != rel)
            .map(|d| (d.file.path.as_str(), d.def().name_span.start))
            .collect();
        if let Some(own) = own.as_deref() {
            declarations.extend(
                own.index
                    .defs
                    .iter()
                    .filter(|d| d.name == name && d.kind != DefKind::Impl)
                    .map(|d| (rel, d.name_span.start)),
            );
        }
        hits.retain(|h| !declarations.contains(&(h.file.path.as_str(), h.start)));
    }
    hits
}

/// What hover shows for the identifier at `offset`.
#[derive(Debug, Clone)]
pub struct HoverInfo {
    pub lang: Lang,
    /// Code to show (a signature or the binding's line).
    pub code: String,
    pub doc: Option<String>,
    /// `Store.remove_item` — kind and where.
    pub detail: String,
    /// The hovered identifier.
    pub range: (u32, u32),
}

pub fn hover(index: &Index, rel: &str, text: &str, offset: u32) -> Option<HoverInfo> {
    let (start, end, _) = identifier_at(text, offset)?;
    let targets = definition(index, rel, text, offset);
    let t = targets.first()?;
    let info = match &t.def {
        Some(def) => HoverInfo {
            lang: t.lang,
            code: def.signature.clone(),
            doc: def.doc.clone(),
            detail: format!(
                "{} `{}` in {}:{}{}",
                def.kind.as_str(),
                t.qualified_name,
                t.path,
                def.name_span.start_line + 1,
                if targets.len() > 1 {
                    format!(" (+{} more)", targets.len() - 1)
                } else {
                    String::new()
                }
            ),
            range: (start, end),
        },
        None => {
            let (line_start, line_end) = line_around(text, t.span.start as usize);
            HoverInfo {
                lang: t.lang,
                code: text
                    .get(line_start..line_end)
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
                doc: None,
                detail: format!("local binding, line {}", t.name_span.start_line + 1),
                range: (start, end),
            }
        }
    };
    Some(info)
}

/// Longest stretch of a line hover shows around a local binding, in bytes on each side.
const MAX_HOVER_LINE: usize = 200;

/// The line around byte `at`, cut to [`MAX_HOVER_LINE`] bytes on each side (a minified file is
/// one line of a megabyte).
fn line_around(text: &str, at: usize) -> (usize, usize) {
    let boundary = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let at = boundary(at);
    let from = boundary(at.saturating_sub(MAX_HOVER_LINE));
    let to = boundary(at + MAX_HOVER_LINE);
    let start = text
        .get(from..at)
        .and_then(|s| s.rfind('\n'))
        .map_or(from, |i| from + i + 1);
    let end = text
        .get(at..to)
        .and_then(|s| s.find('\n'))
        .map_or(to, |i| at + i);
    (start, end)
}

/// Whether `name` at `start` can be a local binding at all, decided without parsing: a binding
/// comes before its uses, so `name` must occur as a word earlier in the innermost definition
/// around `start` (see [`scope_def`]). `file` is the entry of this very text
/// ([`Index::file_for_text`]); without one, and for code outside every definition (a
/// module-level lambda), the parse decides.
fn may_be_local(file: Option<&FileEntry>, text: &str, start: u32, name: &str) -> bool {
    let Some(file) = file else {
        return true;
    };
    let Some(def) = scope_def(file, start) else {
        return true;
    };
    text.get(def.span.start as usize..start as usize)
        .is_none_or(|before| contains_word(before, name))
}

/// The innermost definition around `start`. Function bodies are not indexed, so no definition
/// lies inside a function, and every function enclosing `start` (a method, a lambda in a class
/// attribute) lies within this one.
fn scope_def(file: &FileEntry, start: u32) -> Option<&Def> {
    file.index.def_at(start).map(|(_, d)| d)
}

/// The syntax tree local scope is read from (see the module header): the open buffer's, else a
/// parse of only the region that holds every function around `start` when `file` (the entry
/// of this text, [`Index::file_for_text`]) knows it and the region parses cleanly, else the
/// whole file.
fn scope_tree(
    index: &Index,
    lang: Lang,
    rel: &str,
    text: &str,
    file: Option<&FileEntry>,
    start: u32,
) -> Option<Tree> {
    let Some(file) = file else {
        return index.tree_of(lang, rel, text);
    };
    let def = scope_def(file, start);
    for ranges in scope_ranges(file, text, start) {
        let tree = index.tree_of_ranges(lang, rel, text, &ranges)?;
        // Clean: the definition's node (or, between definitions, the whole parse) has no error.
        let region = match def {
            Some(def) => tree
                .root_node()
                .descendant_for_byte_range(def.span.start as usize, def.span.end as usize),
            None => Some(tree.root_node()),
        };
        if region.is_some_and(|r| !r.has_error()) {
            return Some(tree);
        }
    }
    index.tree_of(lang, rel, text)
}

/// The byte ranges to parse for the functions around `start`, narrowest first: the innermost
/// definition around it from the start of its first line (Python's indentation counts), after
/// the first line of each container around it for JavaScript and TypeScript (`class A extends
/// B {`), whose members do not parse alone. Outside every definition: the top-level statement
/// around it (`lex::statement_starts`: the lexer's guess, kept only when it parses cleanly),
/// then the lines between the top-level definitions before and after it.
fn scope_ranges(file: &FileEntry, text: &str, start: u32) -> Vec<Vec<std::ops::Range<usize>>> {
    let line_start = |at: usize| {
        text.get(..at)
            .and_then(|s| s.rfind('\n'))
            .map_or(0, |i| i + 1)
    };
    let line_end = |at: usize| {
        text.get(at..)
            .and_then(|s| s.find('\n'))
            .map_or(text.len(), |i| at + i + 1)
    };
    let defs = &file.index.defs;
    let Some(def) = scope_def(file, start) else {
        let before = defs
            .iter()
            .filter(|d| d.parent.is_none() && d.span.end <= start)
            .map(|d| d.span.end as usize)
            .max();
        let after = defs
            .iter()
            .filter(|d| d.parent.is_none() && d.span.start > start)
            .map(|d| d.span.start as usize)
            .min();
        let from = before.map_or(0, |end| {
            if end == line_start(end) {
                end
            } else {
                line_end(end)
            }
        });
        let to = after.map_or(text.len(), line_start);
        let at = start as usize;
        if !(from <= line_start(at) && at < to) {
            return Vec::new();
        }
        let starts = lex::statement_starts(file.lang, text, from..to);
        let first = starts
            .iter()
            .copied()
            .filter(|&s| s <= at)
            .max()
            .unwrap_or(from);
        let last = starts.iter().copied().find(|&s| s > at).unwrap_or(to);
        let statement = first.max(from)..last.min(to);
        let gap = from..to;
        return if statement == gap {
            vec![vec![gap]]
        } else {
            vec![vec![statement], vec![gap]]
        };
    };
    let body = line_start(def.span.start as usize)..def.span.end as usize;
    let mut ranges = Vec::new();
    if matches!(file.lang, Lang::JavaScript | Lang::TypeScript | Lang::Tsx) {
        let mut parent = def.parent;
        while let Some(p) = parent.and_then(|p| defs.get(p as usize)) {
            ranges.push(line_start(p.span.start as usize)..line_end(p.name_span.start as usize));
            parent = p.parent;
        }
        ranges.reverse();
        // Sorted and apart, as tree-sitter wants them: drop a header that reaches the body.
        let mut end = 0;
        ranges.retain(|r| {
            let keep = r.start >= end && r.end <= body.start;
            if keep {
                end = r.end;
            }
            keep
        });
    }
    ranges.push(body);
    vec![ranges]
}

/// Does `word` occur in `hay` with no identifier character on either side?
fn contains_word(hay: &str, word: &str) -> bool {
    let bytes = hay.as_bytes();
    hay.match_indices(word).any(|(at, _)| {
        let before = at.checked_sub(1).and_then(|i| bytes.get(i)).copied();
        let after = bytes.get(at + word.len()).copied();
        !before.is_some_and(is_word_byte) && !after.is_some_and(is_word_byte)
    })
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// A parameter or binding of `name` visible at `start`, in the enclosing functions (`file`: the
/// entry of this text).
fn local_binding(
    index: &Index,
    lang: Lang,
    rel: &str,
    text: &str,
    file: Option<&FileEntry>,
    start: u32,
    name: &str,
) -> Option<NavTarget> {
    let tree = scope_tree(index, lang, rel, text, file, start)?;
    let (_, binding) = local_scope_in(&tree, lang, text, start, name)?;
    let node = tree
        .root_node()
        .descendant_for_byte_range(binding as usize, binding as usize + name.len())?;
    let span = Columns::new(text).span(&node);
    Some(NavTarget {
        path: rel.to_owned(),
        name_span: span,
        span,
        tier: Tier::Local,
        def: None,
        qualified_name: name.to_owned(),
        lang,
    })
}

/// Most syntax nodes one local-scope search visits: the descent from the root to the cursor
/// plus the functions around it that it searches. Past it the search gives up and the answer
/// comes from the index alone, so a hostile file (16,000 nested functions) costs a bounded
/// amount of work, whatever its depth.
pub const MAX_SCOPE_NODES: usize = 200_000;

/// A node on the way down from the root, and the field it fills in its parent.
#[derive(Clone, Copy)]
struct Step<'t> {
    node: Node<'t>,
    field: Option<&'t str>,
}

/// The enclosing function's byte range and the start of the nearest binding of `name` before
/// `start` in it (searching outwards through nested functions). `None` when there is none, or
/// when finding out would visit more than [`MAX_SCOPE_NODES`] nodes.
fn local_scope_in(
    tree: &Tree,
    lang: Lang,
    text: &str,
    start: u32,
    name: &str,
) -> Option<((u32, u32), u32)> {
    let mut budget = MAX_SCOPE_NODES;
    local_scope_counted(tree, lang, text, start, name, &mut budget)
}

/// [`local_scope_in`] with the node budget given: what is left of it afterwards tells how
/// many nodes the search visited.
fn local_scope_counted(
    tree: &Tree,
    lang: Lang,
    text: &str,
    start: u32,
    name: &str,
    budget: &mut usize,
) -> Option<((u32, u32), u32)> {
    // One descent from the root collects the path to the cursor: `Node::parent` would walk
    // down from the root again for every ancestor (quadratic in the depth).
    let path = path_to(tree, start, start + name.len() as u32, budget)?;
    for (i, step) in path.iter().enumerate().rev() {
        if !is_function_kind(lang, step.node.kind()) {
            continue;
        }
        let scope_up = path.get(..=i)?;
        if let Some(b) = collect_bindings(lang, scope_up, text, name, start, budget)? {
            let f = step.node;
            return Some(((f.start_byte() as u32, f.end_byte() as u32), b));
        }
    }
    None
}

/// The nodes from the root down to the smallest one spanning `start..end`, each with its field.
/// `None` when that takes more than the budget.
fn path_to<'t>(tree: &'t Tree, start: u32, end: u32, budget: &mut usize) -> Option<Vec<Step<'t>>> {
    let mut cursor = tree.walk();
    let mut path = vec![Step {
        node: cursor.node(),
        field: None,
    }];
    loop {
        *budget = budget.checked_sub(1)?;
        if cursor.goto_first_child_for_byte(start as usize).is_none() {
            break;
        }
        let node = cursor.node();
        if node.start_byte() > start as usize || node.end_byte() < end as usize {
            break;
        }
        path.push(Step {
            node,
            field: cursor.field_name(),
        });
    }
    Some(path)
}

fn is_function_kind(lang: Lang, kind: &str) -> bool {
    match lang {
        Lang::Rust => matches!(kind, "function_item" | "closure_expression"),
        Lang::Python => matches!(kind, "function_definition" | "lambda"),
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => matches!(
            kind,
            "function_declaration"
                | "function_expression"
                | "arrow_function"
                | "method_definition"
                | "generator_function_declaration"
                | "function"
        ),
        Lang::Go => matches!(
            kind,
            "function_declaration" | "method_declaration" | "func_literal"
        ),
    }
}

/// The start of the nearest binding of `name` that starts at or before `before` in the
/// function that ends `scope_up` (the path from the root down to it), not looking into nested
/// functions. `None` when the budget runs out first.
fn collect_bindings<'t>(
    lang: Lang,
    scope_up: &[Step<'t>],
    text: &str,
    name: &str,
    before: u32,
    budget: &mut usize,
) -> Option<Option<u32>> {
    let scope = *scope_up.last()?;
    let mut best: Option<u32> = None;
    let mut cursor = scope.node.walk();
    // The cursor node's ancestors below the scope, with their fields.
    let mut stack: Vec<Step<'t>> = Vec::new();
    // The k-th ancestor of the cursor's node (0: its parent), within the scope or above it.
    let up = |stack: &[Step<'t>], k: usize| -> Option<Step<'t>> {
        match stack.len().checked_sub(1 + k) {
            Some(i) => stack.get(i).copied(),
            None => {
                let above = k - stack.len();
                scope_up
                    .len()
                    .checked_sub(1 + above)
                    .and_then(|i| scope_up.get(i))
                    .copied()
            }
        }
    };
    loop {
        *budget = budget.checked_sub(1)?;
        let node = cursor.node();
        let field = if stack.is_empty() {
            scope.field
        } else {
            cursor.field_name()
        };
        let past = node.start_byte() as u32 > before;
        let nested = !stack.is_empty() && is_function_kind(lang, node.kind());
        if !past && node.child_count() == 0 && text.get(node.byte_range()) == Some(name) {
            let parent = up(&stack, 0);
            let grandparent = up(&stack, 1).map(|s| s.node);
            if parent.is_some_and(|p| is_binding(lang, node, field, p, grandparent)) {
                let s = node.start_byte() as u32;
                if best.is_none_or(|b| s > b) {
                    best = Some(s);
                }
            }
        }
        if !past && !nested && cursor.goto_first_child() {
            stack.push(Step { node, field });
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() || stack.pop().is_none() {
                return Some(best);
            }
        }
    }
}

/// Is this identifier leaf, filling `field` of `parent`, in a binding position (parameter,
/// `let`, assignment target, loop variable, pattern)? Decided from the node, its field, its
/// parent (with the parent's own field) and grandparent, which the caller's walk knows: asking
/// the tree (`Node::parent`, `child_by_field_name`) would cost the depth or the parent's width
/// per identifier.
fn is_binding(
    lang: Lang,
    node: Node<'_>,
    field: Option<&str>,
    parent: Step<'_>,
    grandparent: Option<Node<'_>>,
) -> bool {
    let field_is = |f: &str| field == Some(f);
    let pk = parent.node.kind();
    match lang {
        Lang::Rust => match pk {
            "let_declaration" | "for_expression" | "let_condition" => field_is("pattern"),
            "parameter" => field_is("pattern"),
            "closure_parameters"
            | "tuple_pattern"
            | "tuple_struct_pattern"
            | "mut_pattern"
            | "ref_pattern"
            | "or_pattern"
            | "slice_pattern"
            | "captured_pattern"
            | "field_pattern"
            | "match_pattern" => node.kind() != "type_identifier",
            _ => false,
        },
        Lang::Python => match pk {
            "parameters"
            | "lambda_parameters"
            | "typed_parameter"
            | "list_splat_pattern"
            | "dictionary_splat_pattern"
            | "global_statement"
            | "nonlocal_statement" => true,
            "default_parameter" | "typed_default_parameter" | "named_expression" => {
                field_is("name")
            }
            "assignment" | "for_statement" | "for_in_clause" => field_is("left"),
            "as_pattern_target" => true,
            "pattern_list" | "tuple_pattern" | "list_pattern" => grandparent.is_some_and(|g| {
                matches!(g.kind(), "assignment" | "for_statement" | "for_in_clause")
            }),
            _ => false,
        },
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => match pk {
            "variable_declarator" => field_is("name"),
            "formal_parameters" | "array_pattern" | "object_pattern" | "rest_pattern" => true,
            "required_parameter" | "optional_parameter" => field_is("pattern"),
            "assignment_pattern" => field_is("left"),
            "arrow_function" => field_is("parameter"),
            "catch_clause" => field_is("parameter"),
            "for_in_statement" => field_is("left"),
            "pair_pattern" => field_is("value"),
            _ => false,
        },
        Lang::Go => match pk {
            "parameter_declaration"
            | "variadic_parameter_declaration"
            | "var_spec"
            | "const_spec" => field_is("name") || node.kind() == "identifier" && !field_is("type"),
            "expression_list" => {
                parent.field == Some("left")
                    && grandparent.is_some_and(|g| {
                        matches!(g.kind(), "short_var_declaration" | "range_clause")
                    })
            }
            _ => false,
        },
    }
}

/// Module paths named by the file's import statements (`inventory.store`, `crate::ledger`,
/// `./api`, `example.com/server`), found textually: cheap and good enough to rank candidates.
fn import_hints(lang: Lang, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().take(400) {
        let l = line.trim_start();
        let module = match lang {
            Lang::Python => l
                .strip_prefix("from ")
                .and_then(|r| r.split_whitespace().next())
                .or_else(|| {
                    l.strip_prefix("import ")
                        .and_then(|r| r.split([' ', ',']).next())
                }),
            Lang::Rust => l
                .strip_prefix("use ")
                .or_else(|| l.strip_prefix("pub use "))
                .or_else(|| l.strip_prefix("mod "))
                .map(|r| r.trim_end_matches(';')),
            Lang::JavaScript | Lang::TypeScript | Lang::Tsx => {
                if l.starts_with("import ") || l.contains("require(") {
                    l.split(['\'', '"']).nth(1)
                } else {
                    None
                }
            }
            Lang::Go => {
                if l.starts_with("import ") || l.starts_with('"') {
                    l.split('"').nth(1)
                } else {
                    None
                }
            }
        };
        if let Some(m) = module {
            out.push(m.to_owned());
        }
    }
    out
}

/// Does the module path `module` plausibly name the file at `path`?
fn module_matches(module: &str, path: &str) -> bool {
    let stem_path = path.rsplit_once('.').map_or(path, |(s, _)| s);
    let stem_path = stem_path
        .strip_suffix("/__init__")
        .or_else(|| stem_path.strip_suffix("/mod"))
        .or_else(|| stem_path.strip_suffix("/index"))
        .unwrap_or(stem_path);
    let parts: Vec<&str> = module
        .split(['.', '/', ':', '{', '}', ',', ' '])
        .filter(|p| !p.is_empty() && !matches!(*p, "crate" | "self" | "super"))
        .collect();
    // Any component of the import naming the file's stem or its directory.
    let file_stem = stem_path.rsplit('/').next().unwrap_or(stem_path);
    parts.contains(&file_stem)
        || parts
            .windows(2)
            .any(|w| stem_path.ends_with(&format!("{}/{}", w[0], w[1])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexOptions;

    const TEXT: &str = "\
def helper(x):
    return x + 1


def main(count):
    total = count
    return helper(total)

f = lambda y: y * 2
";

    fn index() -> Index {
        let index = Index::new("/w".into(), IndexOptions::default());
        index.set_text("m.py", TEXT);
        index
    }

    fn at(needle: &str) -> u32 {
        TEXT.find(needle).unwrap() as u32
    }

    #[test]
    fn the_parse_is_skipped_only_where_no_binding_can_exist() {
        let index = index();
        let file = index.file("m.py");
        let file = file.as_deref();
        // Not earlier inside `main`: cannot be a local.
        assert!(!may_be_local(file, TEXT, at("helper(total)"), "helper"));
        // Bound earlier inside `main`.
        assert!(may_be_local(file, TEXT, at("total)"), "total"));
        // Outside every definition (a lambda's parameter): always parsed.
        assert!(may_be_local(file, TEXT, at("y * 2"), "y"));
        // Not indexed at all: always parsed.
        assert!(may_be_local(None, TEXT, at("helper(total)"), "helper"));
        assert!(!contains_word("helpers(x)", "helper"));
        assert!(contains_word("(helper)", "helper"));
    }

    /// Issue 19: the local-scope search visits a number of nodes linear in the depth and stops
    /// at `MAX_SCOPE_NODES`; it used to call `Node::parent` once per scope, each a walk down
    /// from the root: a hover in 16,000 nested functions took 29 s (release), 459 s (dev).
    #[test]
    fn local_scope_search_is_bounded() {
        let nested = |n: usize| format!("{}b;{}", "function f(a){b;".repeat(n), "}".repeat(n));
        let search = |text: &str, name: &str| {
            let tree = crate::extract::parse(
                &mut tree_sitter::Parser::new(),
                Lang::JavaScript,
                text,
                None,
            )
            .expect("JavaScript parses");
            let at = text.rfind(name).expect("the name occurs") as u32;
            let mut budget = MAX_SCOPE_NODES;
            let found = local_scope_counted(&tree, Lang::JavaScript, text, at, name, &mut budget);
            (found, MAX_SCOPE_NODES - budget)
        };
        // `b` is bound nowhere: every enclosing function is searched.
        let (found, small) = search(&nested(1_000), "b");
        assert_eq!(found, None);
        let (found, big) = search(&nested(2_000), "b");
        assert_eq!(found, None);
        assert!(
            big <= 2 * small + 100,
            "{small} nodes at depth 1,000, {big} at 2,000"
        );
        // 16,000 levels need more than the budget: the search gives up there.
        let (found, visited) = search(&nested(16_000), "b");
        assert_eq!((found, visited), (None, MAX_SCOPE_NODES));
        // `a` is the innermost function's parameter: found at once, however deep.
        let text = nested(16_000);
        let (found, visited) = search(&text, "a");
        let param = text.rfind("(a)").expect("a parameter") as u32 + 1;
        assert_eq!(found.map(|(_, binding)| binding), Some(param));
        assert!(visited < 200_000 / 2, "{visited} nodes");
    }

    /// Issue 19: many definitions of one name cost linear work. References without the
    /// declarations compared every reference with every definition, and definition matched
    /// every hit's path against every import: 240,000 `function a(){}` took minutes.
    #[test]
    fn many_definitions_of_one_name_stay_linear() {
        let index = std::sync::Arc::new(Index::new("/w".into(), IndexOptions::default()));
        for i in 0..4 {
            index.set_text(&format!("many{i}.js"), &"function a(){}\n".repeat(60_000));
        }
        let imports: String = (0..400)
            .map(|i| format!("import x{i} from './m{i}';\n"))
            .collect();
        let user = format!("{imports}a();\n");
        index.set_text("user.js", &user);
        let at = user.rfind("a()").expect("the call") as u32;
        let (found, refs) = crate::tests::finishes(
            "definition and references of `a`",
            std::time::Duration::from_secs(60),
            move || {
                let found = definition(&index, "user.js", &user, at);
                let refs = references(&index, "user.js", &user, at, false);
                (found.len(), refs.len())
            },
        );
        assert_eq!(found, 32);
        assert_eq!(refs, 1, "only the call: every other `a` declares one");
    }

    /// Hover on a binding in a one-line file shows a bounded stretch of the line.
    #[test]
    fn hover_on_a_local_binding_shows_a_bounded_line() {
        let text = format!("function f(a){{{}return a;}}", "a+1;".repeat(10_000));
        let index = Index::new("/w".into(), IndexOptions::default());
        index.set_text("m.js", &text);
        let at = text.rfind("a;").expect("the last use") as u32;
        let info = hover(&index, "m.js", &text, at).expect("a hover");
        assert_eq!(info.detail, "local binding, line 1");
        assert!(info.code.starts_with("function f(a)"), "{}", info.code);
        assert!(
            info.code.len() <= 2 * MAX_HOVER_LINE,
            "{} bytes",
            info.code.len()
        );
    }

    #[test]
    fn the_file_s_own_entry_is_the_one_of_the_given_text() {
        // The stored entry is of TEXT; the editor's buffer has two lines more above it all.
        let index = index();
        let edited = format!("import os\n\n{TEXT}");
        let at = edited.find("helper(total)").unwrap() as u32;
        let t = definition(&index, "m.py", &edited, at);
        assert_eq!((t[0].tier, t[0].name_span.start_line), (Tier::SameFile, 2));
        let lines = |include| -> Vec<u32> {
            references(&index, "m.py", &edited, at, include)
                .iter()
                .map(|r| r.line)
                .collect()
        };
        assert_eq!(lines(true), [2, 8]);
        assert_eq!(lines(false), [8]);
        // The stored entry is left as it was.
        assert_eq!(
            index.file("m.py").unwrap().index.defs[0]
                .name_span
                .start_line,
            0
        );
    }

    #[test]
    fn locals_are_read_from_a_parse_of_the_region_alone() {
        // (file, text, cursor needle, offset into it, binding's line, region alone?)
        let cases = [
            (
                "a.py",
                "import os\n\n\nclass A:\n    \"\"\"Doc.\"\"\"\n\n    @staticmethod\n    def f(x):\n        y = x\n        return y\n",
                "return y",
                7,
                8,
                true,
            ),
            (
                "a.rs",
                "use std::fmt;\n\nimpl A {\n    fn f(&self, x: u32) -> u32 {\n        let y = x;\n        y + 1\n    }\n}\n",
                "y + 1",
                0,
                4,
                true,
            ),
            (
                "a.js",
                "import x from 'y';\nexport class A extends B {\n  g() { return 1; }\n  f(x) {\n    const y = x;\n    return y;\n  }\n}\n",
                "return y",
                7,
                4,
                true,
            ),
            (
                "a.go",
                "package a\n\nfunc (h *H) F(p string) string {\n\tg := p\n\treturn g\n}\n",
                "return g",
                7,
                3,
                true,
            ),
            // Top-level code between two definitions: the lines between them.
            (
                "b.js",
                "function a() {\n  return 1;\n}\n\napp.get('/', (req, res) => {\n  res.send(req.url);\n});\n\nfunction b() {}\n",
                "req.url",
                0,
                4,
                true,
            ),
            // Top-level statement in a long run of them: that statement.
            (
                "c.js",
                "const a = 1;\nfoo(a);\n\ndescribe('x', () => {\n  it('y', (done) => {\n    done();\n  });\n});\n\nbar(2);\n",
                "done();",
                0,
                4,
                true,
            ),
            // A header over two lines: the method does not parse alone; the whole file does.
            (
                "a.ts",
                "import x from 'y';\nclass A<T>\n  implements I {\n  async f(x: number) {\n    const y = x;\n    return y;\n  }\n}\n",
                "return y",
                7,
                4,
                false,
            ),
        ];
        for (rel, text, needle, delta, line, alone) in cases {
            let index = Index::new("/w".into(), IndexOptions::default());
            index.set_text(rel, text);
            let at = (text.find(needle).unwrap() + delta) as u32;
            let file = index.file(rel);
            let lang = Lang::from_path(std::path::Path::new(rel)).unwrap();
            let tree = scope_tree(&index, lang, rel, text, file.as_deref(), at).unwrap();
            // The whole file's tree starts at its first byte; a region's later.
            let sexp = tree.root_node().to_sexp();
            assert_eq!(tree.root_node().start_byte() > 0, alone, "{rel}: {sexp}");
            let t = definition(&index, rel, text, at);
            let found = t.first().map(|t| (t.tier, t.name_span.start_line));
            assert_eq!(found, Some((Tier::Local, line)), "{rel}: {sexp}");
        }
    }

    #[test]
    fn top_level_code_is_parsed_one_statement_at_a_time() {
        let text = "foo(1);\n\ndescribe('x', () => {\n  it('y', (done) => {\n    done();\n  });\n});\n\nbar(2);\n";
        let index = Index::new("/w".into(), IndexOptions::default());
        index.set_text("c.js", text);
        let file = index.file("c.js").unwrap();
        let at = text.find("done();").unwrap() as u32;
        let describe = text.find("describe").unwrap();
        let bar = text.find("bar(2)").unwrap();
        // The statement first, then the whole gap between definitions (here: the file).
        let regions: Vec<Vec<(usize, usize)>> = scope_ranges(&file, text, at)
            .iter()
            .map(|ranges| ranges.iter().map(|r| (r.start, r.end)).collect())
            .collect();
        assert_eq!(regions, [[(describe, bar)], [(0, text.len())]]);
    }

    #[test]
    fn definitions_find_locals_and_the_file_s_own() {
        let index = index();
        let found = |needle: &str| {
            let t = definition(&index, "m.py", TEXT, at(needle));
            (t[0].tier, t[0].name_span.start_line)
        };
        assert_eq!(found("total)"), (Tier::Local, 5));
        assert_eq!(found("helper(total)"), (Tier::SameFile, 0));
        assert_eq!(found("y * 2"), (Tier::Local, 8));
        assert_eq!(found("x + 1"), (Tier::Local, 0));
    }
}
