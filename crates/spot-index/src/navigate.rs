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

use tree_sitter::{Node, Tree};

use super::extract::Columns;
use super::file::{Def, DefKind, FileEntry, Span};
use super::lex;
use super::query::{self, RefHit};
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
    let mut targets: Vec<NavTarget> = hits
        .iter()
        .filter(|h| h.file.path != rel)
        .map(|h| {
            let imported = imports.iter().any(|m| module_matches(m, &h.file.path));
            let tier = if imported {
                Tier::Imported
            } else {
                Tier::Workspace
            };
            target(&h.file, h.def(), tier)
        })
        .collect();
    // Stable: imported first, then the same directory, then the index order.
    targets.sort_by_key(|t| (t.tier, !t.path.starts_with(dir) || dir.is_empty()));
    if let Some(best) = targets.first().map(|t| t.tier) {
        if best == Tier::Imported {
            targets.retain(|t| t.tier == Tier::Imported);
        }
    }
    targets.truncate(32);
    targets
}

fn target(file: &FileEntry, def: &Def, tier: Tier) -> NavTarget {
    NavTarget {
        path: file.path.clone(),
        name_span: def.name_span,
        span: def.span,
        tier,
        def: Some(def.clone()),
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
        let declares = |file: &FileEntry, start: u32| {
            file.index
                .defs
                .iter()
                .any(|d| d.name == name && d.kind != DefKind::Impl && d.name_span.start == start)
        };
        hits.retain(|h| {
            let declared = if h.file.path == rel {
                own.as_deref().is_some_and(|f| declares(f, h.start))
            } else {
                defs.iter()
                    .any(|d| d.file.path == h.file.path && d.def().name_span.start == h.start)
            };
            !declared
        });
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
                def.qualified_name(t.lang),
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
            let line_start = text
                .get(..t.span.start as usize)
                .and_then(|s| s.rfind('\n'))
                .map_or(0, |i| i + 1);
            let line_end = text
                .get(line_start..)
                .and_then(|s| s.find('\n'))
                .map_or(text.len(), |i| line_start + i);
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
        lang,
    })
}

/// The enclosing function's byte range and the start of the nearest binding of `name` before
/// `start` in it (searching outwards through nested functions).
fn local_scope_in(
    tree: &Tree,
    lang: Lang,
    text: &str,
    start: u32,
    name: &str,
) -> Option<((u32, u32), u32)> {
    let node = tree
        .root_node()
        .descendant_for_byte_range(start as usize, start as usize + name.len())?;
    let mut scope = enclosing_function(lang, node);
    while let Some(f) = scope {
        let mut best: Option<u32> = None;
        collect_bindings(lang, f, text, name, start, &mut best);
        if let Some(b) = best {
            return Some(((f.start_byte() as u32, f.end_byte() as u32), b));
        }
        scope = f.parent().and_then(|p| enclosing_function(lang, p));
    }
    None
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

fn enclosing_function(lang: Lang, node: Node<'_>) -> Option<Node<'_>> {
    let mut cur = Some(node);
    while let Some(n) = cur {
        if is_function_kind(lang, n.kind()) {
            return Some(n);
        }
        cur = n.parent();
    }
    None
}

/// The nearest binding of `name` in `scope` that starts at or before `before`.
fn collect_bindings(
    lang: Lang,
    scope: Node<'_>,
    text: &str,
    name: &str,
    before: u32,
    best: &mut Option<u32>,
) {
    let mut cursor = scope.walk();
    loop {
        let node = cursor.node();
        let past = node.start_byte() as u32 > before;
        let nested = node.id() != scope.id() && is_function_kind(lang, node.kind());
        if !past
            && node.child_count() == 0
            && text.get(node.byte_range()) == Some(name)
            && is_binding(lang, node)
        {
            let s = node.start_byte() as u32;
            if best.is_none_or(|b| s > b) {
                *best = Some(s);
            }
        }
        if !past && !nested && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() || cursor.node().id() == scope.id() {
                return;
            }
        }
    }
}

/// Is this identifier leaf in a binding position (parameter, `let`, assignment target, loop
/// variable, pattern)?
fn is_binding(lang: Lang, node: Node<'_>) -> bool {
    let Some(parent) = node.parent() else {
        return false;
    };
    let field_is = |p: Node<'_>, field: &str| {
        p.child_by_field_name(field)
            .is_some_and(|c| c.id() == node.id())
    };
    let pk = parent.kind();
    match lang {
        Lang::Rust => match pk {
            "let_declaration" | "for_expression" | "let_condition" => field_is(parent, "pattern"),
            "parameter" => field_is(parent, "pattern"),
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
                field_is(parent, "name")
            }
            "assignment" | "for_statement" | "for_in_clause" => field_is(parent, "left"),
            "as_pattern_target" => true,
            "pattern_list" | "tuple_pattern" | "list_pattern" => parent.parent().is_some_and(|g| {
                matches!(g.kind(), "assignment" | "for_statement" | "for_in_clause")
            }),
            _ => false,
        },
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => match pk {
            "variable_declarator" => field_is(parent, "name"),
            "formal_parameters" | "array_pattern" | "object_pattern" | "rest_pattern" => true,
            "required_parameter" | "optional_parameter" => field_is(parent, "pattern"),
            "assignment_pattern" => field_is(parent, "left"),
            "arrow_function" => field_is(parent, "parameter"),
            "catch_clause" => field_is(parent, "parameter"),
            "for_in_statement" => field_is(parent, "left"),
            "pair_pattern" => field_is(parent, "value"),
            _ => false,
        },
        Lang::Go => match pk {
            "parameter_declaration"
            | "variadic_parameter_declaration"
            | "var_spec"
            | "const_spec" => {
                field_is(parent, "name")
                    || node.kind() == "identifier"
                        && parent
                            .child_by_field_name("type")
                            .is_none_or(|t| t.id() != node.id())
            }
            "expression_list" => parent.parent().is_some_and(|g| {
                matches!(g.kind(), "short_var_declaration" | "range_clause")
                    && g.child_by_field_name("left")
                        .is_some_and(|l| l.id() == parent.id())
            }),
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
