//! Variables visible at a point of a file, read from its tree: the parameters and local
//! bindings of every function around the point (closures see their parents' names), each
//! visible from the end of its binding (an assignment, a `let`, a loop header, a pattern) to
//! the end of its scope (the function in Python and for JavaScript's `var`, else the block or
//! the statement that binds it). An approximation that errs towards fewer names: no globals,
//! no imports, no class fields.

use std::collections::HashSet;
use std::ops::Range;

use spot_index::Lang;
use tree_sitter::Node;

use super::syntax::{kinds, text_of};

/// A variable binding.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    pub name: String,
    /// The declared type, as written, when the binding has one.
    pub ty: Option<String>,
    /// The row of the binding (nearby names are preferred).
    pub row: usize,
    /// Visible from this byte…
    pub from: usize,
    /// …within this byte range.
    pub within: Range<usize>,
}

impl Var {
    /// A name the caller says is visible at the line.
    pub fn everywhere(name: String, len: usize) -> Var {
        Var {
            name,
            ty: None,
            row: usize::MAX,
            from: 0,
            within: 0..len.saturating_add(1),
        }
    }

    pub fn visible_at(&self, at: usize) -> bool {
        self.from <= at && self.within.contains(&at)
    }
}

/// Nodes that are never bindings themselves and hold none (a path, a call, a type).
const NOT_BINDING: &[&str] = &[
    "attribute",
    "subscript",
    "member_expression",
    "subscript_expression",
    "field_expression",
    "index_expression",
    "selector_expression",
    "scoped_identifier",
    "call",
    "call_expression",
    "type_identifier",
];

/// Fields of a pattern that hold no binding (types, default values, keys).
const NOT_BINDING_FIELDS: &[&str] = &["type", "right", "key", "type_arguments", "value"];

/// The bindings of the functions around `anchor` (innermost first), and the byte offsets of
/// the binding identifiers.
pub(super) fn bound(lang: Lang, text: &str, anchor: Node<'_>) -> (Vec<Var>, HashSet<usize>) {
    let k = kinds(lang);
    let mut containers = Vec::new();
    let mut n = Some(anchor);
    while let Some(node) = n {
        if k.functions.contains(&node.kind()) {
            containers.push(node);
        }
        if matches!(
            node.kind(),
            "class_definition" | "class_declaration" | "class" | "impl_item" | "trait_item"
        ) {
            break;
        }
        if node.parent().is_none() && containers.is_empty() {
            containers.push(node);
        }
        n = node.parent();
    }
    let mut b = Binder {
        lang,
        text,
        vars: Vec::new(),
        at: HashSet::new(),
    };
    for f in containers {
        b.parameters(f);
        b.locals(f);
    }
    (b.vars, b.at)
}

struct Binder<'t> {
    lang: Lang,
    text: &'t str,
    vars: Vec<Var>,
    at: HashSet<usize>,
}

impl<'t> Binder<'t> {
    fn add(&mut self, names: &[Node<'_>], ty: Option<Node<'_>>, from: usize, within: Range<usize>) {
        let ty = ty.map(|t| {
            let s = text_of(self.text, t).trim();
            s.strip_prefix(':').map_or(s, str::trim).to_owned()
        });
        let typed = names.len() == 1 || self.lang == Lang::Go;
        for n in names {
            let name = text_of(self.text, *n);
            self.at.insert(n.start_byte());
            if name.is_empty() || name == "_" {
                continue;
            }
            self.vars.push(Var {
                name: name.to_owned(),
                ty: if typed { ty.clone() } else { None },
                row: n.start_position().row,
                from,
                within: within.clone(),
            });
        }
    }

    fn parameters(&mut self, f: Node<'_>) {
        let within = f.byte_range();
        let from = f.start_byte();
        let mut lists = Vec::new();
        for field in ["parameters", "receiver", "parameter"] {
            if let Some(p) = f.child_by_field_name(field) {
                lists.push(p);
            }
        }
        for list in lists {
            if list.kind() == "identifier" {
                // An arrow function's single parameter.
                self.add(&[list], None, from, within.clone());
                continue;
            }
            let mut cursor = list.walk();
            let params: Vec<Node<'_>> = list.named_children(&mut cursor).collect();
            for p in params {
                let mut names = Vec::new();
                let ty = p.child_by_field_name("type");
                match p.kind() {
                    "identifier" => names.push(p),
                    "default_parameter" | "typed_default_parameter" => {
                        if let Some(n) = p.child_by_field_name("name") {
                            binding_names(n, &mut names);
                        }
                    }
                    "parameter" | "required_parameter" | "optional_parameter" => {
                        if let Some(n) = p.child_by_field_name("pattern") {
                            binding_names(n, &mut names);
                        }
                    }
                    "assignment_pattern" => {
                        if let Some(n) = p.child_by_field_name("left") {
                            binding_names(n, &mut names);
                        }
                    }
                    "parameter_declaration" | "variadic_parameter_declaration" => {
                        let mut c = p.walk();
                        names.extend(p.children_by_field_name("name", &mut c));
                    }
                    "self_parameter" | "comment" | "line_comment" | "block_comment" => {}
                    _ => binding_names(p, &mut names),
                }
                self.add(&names, ty, from, within.clone());
            }
        }
    }

    fn locals(&mut self, f: Node<'_>) {
        let k = kinds(self.lang);
        let fn_range = f.byte_range();
        let body = f.child_by_field_name("body").unwrap_or(f);
        let mut stack = vec![body];
        while let Some(n) = stack.pop() {
            if n != body
                && (k.functions.contains(&n.kind())
                    || matches!(n.kind(), "class_definition" | "class_declaration" | "class"))
            {
                continue;
            }
            if k.skip.contains(&n.kind()) {
                continue;
            }
            self.binding(n, &fn_range);
            let mut cursor = n.walk();
            stack.extend(n.named_children(&mut cursor));
        }
    }

    /// The bindings `n` makes, if it is a binding construct.
    fn binding(&mut self, n: Node<'_>, fn_range: &Range<usize>) {
        let field = |name: &str| n.child_by_field_name(name);
        let mut names = Vec::new();
        let (pattern, ty, from, within) = match (self.lang, n.kind()) {
            (Lang::Python, "assignment") => {
                (field("left"), field("type"), n.end_byte(), fn_range.clone())
            }
            (Lang::Python, "for_statement") => (
                field("left"),
                None,
                field("right").map_or(n.end_byte(), |r| r.end_byte()),
                fn_range.clone(),
            ),
            (Lang::Python, "for_in_clause") => {
                let within = n.parent().map_or(n.byte_range(), |p| p.byte_range());
                (field("left"), None, within.start, within)
            }
            (Lang::Python, "as_pattern") => (field("alias"), None, n.end_byte(), fn_range.clone()),
            (Lang::Python, "named_expression") => {
                (field("name"), None, n.end_byte(), fn_range.clone())
            }
            (Lang::Rust, "let_declaration") => {
                let within = n.parent().map_or(n.byte_range(), |p| p.byte_range());
                (field("pattern"), field("type"), n.end_byte(), within)
            }
            (Lang::Rust, "for_expression") => (
                field("pattern"),
                None,
                field("value").map_or(n.end_byte(), |v| v.end_byte()),
                n.byte_range(),
            ),
            (Lang::Rust, "let_condition") => {
                let mut owner = n.parent();
                while let Some(o) = owner {
                    if matches!(o.kind(), "if_expression" | "while_expression") {
                        break;
                    }
                    owner = o.parent();
                }
                let within = owner.map_or(n.byte_range(), |o| o.byte_range());
                (field("pattern"), None, n.end_byte(), within)
            }
            (Lang::Rust, "match_arm") => {
                let pattern = field("pattern");
                let from = pattern.map_or(n.start_byte(), |p| p.end_byte());
                (pattern, None, from, n.byte_range())
            }
            (Lang::JavaScript | Lang::TypeScript | Lang::Tsx, "variable_declarator") => {
                let decl = n.parent();
                let within = match decl {
                    Some(d) if d.kind() == "lexical_declaration" => {
                        d.parent().map_or(d.byte_range(), |p| p.byte_range())
                    }
                    _ => fn_range.clone(),
                };
                (field("name"), field("type"), n.end_byte(), within)
            }
            (Lang::JavaScript | Lang::TypeScript | Lang::Tsx, "for_in_statement") => (
                field("left"),
                None,
                field("right").map_or(n.end_byte(), |r| r.end_byte()),
                n.byte_range(),
            ),
            (Lang::JavaScript | Lang::TypeScript | Lang::Tsx, "catch_clause") => {
                let p = field("parameter");
                let from = p.map_or(n.start_byte(), |p| p.end_byte());
                (p, None, from, n.byte_range())
            }
            (Lang::Go, "short_var_declaration") => {
                let mut scope = n.parent();
                if scope.is_some_and(|s| s.kind() == "for_clause") {
                    scope = scope.and_then(|s| s.parent());
                }
                let within = scope.map_or(n.byte_range(), |s| s.byte_range());
                (field("left"), None, n.end_byte(), within)
            }
            (Lang::Go, "var_spec" | "const_spec") => {
                let mut c = n.walk();
                names.extend(n.children_by_field_name("name", &mut c));
                let within = n
                    .parent()
                    .and_then(|d| d.parent())
                    .map_or(n.byte_range(), |p| p.byte_range());
                (None, field("type"), n.end_byte(), within)
            }
            (Lang::Go, "range_clause") => {
                let within = n.parent().map_or(n.byte_range(), |p| p.byte_range());
                let from = field("right").map_or(n.end_byte(), |r| r.end_byte());
                (field("left"), None, from, within)
            }
            _ => return,
        };
        if let Some(p) = pattern {
            binding_names(p, &mut names);
        }
        if !names.is_empty() {
            self.add(&names, ty, from, within);
        }
    }
}

/// The identifiers a pattern binds (`a, (b, c)`, `Some(x)`, `{ a, b: c }`, `[x, ...rest]`).
pub(super) fn binding_names<'t>(node: Node<'t>, out: &mut Vec<Node<'t>>) {
    match node.kind() {
        "identifier" | "shorthand_property_identifier_pattern" => out.push(node),
        k if NOT_BINDING.contains(&k) => {}
        _ => {
            let mut cursor = node.walk();
            if !cursor.goto_first_child() {
                return;
            }
            loop {
                let child = cursor.node();
                let skip = cursor
                    .field_name()
                    .is_some_and(|f| NOT_BINDING_FIELDS.contains(&f))
                    // `{a: b}` binds b, its value.
                    && !(node.kind() == "pair_pattern" && cursor.field_name() == Some("value"));
                if child.is_named() && !skip {
                    binding_names(child, out);
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
    }
}
