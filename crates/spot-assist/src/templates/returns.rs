//! Return-value template (`return True` ↔ `return False`, `return x` → `return not x` in a
//! boolean function, `return x` → `return -x` in a numeric one, a constant returned → another
//! constant the function returns elsewhere), and the early returns a guard may insert: what
//! the function already returns that holds no local variable, the empty value of its declared
//! type, or a bare `return` in a function that returns nothing.

use std::collections::HashSet;

use spot_index::Lang;
use tree_sitter::Node;

use super::syntax::{
    empty_value, go_result_types, go_zero, is_bool_type, is_constant, is_numeric_type, is_primary,
    kinds, return_type, text_of,
};
use super::{Ctx, Edit, Template};

const FLIP: f64 = 0.15;
const NEGATE_BOOL: f64 = 0.08;
const NEGATE_NUMBER: f64 = 0.03;
const OTHER_CONSTANT: f64 = 0.06;
/// Early returns offered per guard.
const EARLY_RETURNS: usize = 2;

/// The return statements of `f`, not those of functions nested in it, and Rust's tail
/// expression of its body.
fn returns_of<'t>(lang: Lang, f: Node<'t>) -> Vec<Node<'t>> {
    let k = kinds(lang);
    let mut out = Vec::new();
    let Some(body) = f.child_by_field_name("body") else {
        return out;
    };
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        if n != body && k.functions.contains(&n.kind()) {
            continue;
        }
        if n.kind() == k.returns {
            out.push(n);
            continue;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    if lang == Lang::Rust {
        if let Some(tail) = rust_tail(body) {
            out.push(tail);
        }
    }
    out
}

/// A Rust block's tail expression (its value).
fn rust_tail(block: Node<'_>) -> Option<Node<'_>> {
    if block.kind() != "block" {
        return None;
    }
    let mut cursor = block.walk();
    let last = block
        .named_children(&mut cursor)
        .filter(|c| !matches!(c.kind(), "line_comment" | "block_comment"))
        .last()?;
    let statement = matches!(
        last.kind(),
        "expression_statement"
            | "let_declaration"
            | "empty_statement"
            | "function_item"
            | "use_declaration"
            | "macro_definition"
    );
    (!statement).then_some(last)
}

/// The value a return statement returns (the expression list for several), or the tail
/// expression itself.
fn value_of<'t>(lang: Lang, ret: Node<'t>) -> Option<Node<'t>> {
    if ret.kind() != kinds(lang).returns {
        return Some(ret);
    }
    let mut cursor = ret.walk();
    let value = ret
        .named_children(&mut cursor)
        .find(|c| !matches!(c.kind(), "comment" | "line_comment" | "block_comment"));
    value
}

/// The elements of a returned value: several for `return a, b`.
fn elements(v: Node<'_>) -> Vec<Node<'_>> {
    if matches!(v.kind(), "expression_list") {
        let mut cursor = v.walk();
        v.named_children(&mut cursor).collect()
    } else {
        vec![v]
    }
}

/// The function a statement is in.
pub(super) fn function_of<'t>(lang: Lang, n: Node<'t>) -> Option<Node<'t>> {
    let mut p = n.parent();
    while let Some(node) = p {
        if kinds(lang).functions.contains(&node.kind()) {
            return Some(node);
        }
        p = node.parent();
    }
    None
}

fn return_statement(lang: Lang, value: &str) -> String {
    let sep = if value.is_empty() { "" } else { " " };
    match lang {
        Lang::Python | Lang::Go => format!("return{sep}{value}"),
        _ => format!("return{sep}{value};"),
    }
}

/// Whether `n` reads a variable of the functions around the site, `self` or `this` (a value
/// that cannot move to another place).
fn uses_locals(ctx: &Ctx<'_, '_>, n: Node<'_>) -> bool {
    let mut stack = vec![n];
    while let Some(x) = stack.pop() {
        if matches!(x.kind(), "identifier" | "self" | "this") {
            let name = ctx.text_of(x);
            if matches!(x.kind(), "self" | "this") || ctx.vars.iter().any(|v| v.name == name) {
                return true;
            }
        }
        let mut cursor = x.walk();
        stack.extend(x.named_children(&mut cursor));
    }
    false
}

/// Early-return statements (`return None`, `return nil, 0, err`, `return;`) a guard before
/// `statement` may use, best first; `deref` is the expression the guard protects.
pub(super) fn early_returns(
    ctx: &Ctx<'_, '_>,
    statement: Node<'_>,
    deref: Node<'_>,
) -> Vec<String> {
    let lang = ctx.lang;
    let Some(f) = function_of(lang, statement) else {
        return Vec::new();
    };
    if matches!(f.kind(), "lambda") {
        return Vec::new();
    }
    let declared = return_type(lang, f, ctx.text);
    let rets = returns_of(lang, f);
    let values: Vec<Node<'_>> = rets.iter().filter_map(|r| value_of(lang, *r)).collect();
    let void_type = declared.is_none_or(|t| matches!(t, "None" | "()" | "void" | ""));
    if values.is_empty() && void_type {
        return vec![return_statement(lang, "")];
    }
    let mut out: Vec<String> = Vec::new();
    // A return statement at the site: the same values, the protected one made empty.
    if statement.kind() == kinds(lang).returns && lang == Lang::Go {
        if let Some(v) = value_of(lang, statement) {
            let elems = elements(v);
            let types = go_result_types(f, ctx.text);
            if elems.len() > 1 && elems.len() == types.len() {
                let parts: Vec<String> = elems
                    .iter()
                    .zip(&types)
                    .map(|(e, ty)| {
                        if e.start_byte() <= deref.start_byte() && deref.end_byte() <= e.end_byte()
                        {
                            go_zero(ty)
                        } else {
                            ctx.text_of(*e).to_owned()
                        }
                    })
                    .collect();
                out.push(return_statement(lang, &parts.join(", ")));
            }
        }
    }
    // What the function returns elsewhere that holds no local variable, most frequent first.
    let mut counted: Vec<(String, usize)> = Vec::new();
    for v in &values {
        if v.start_byte() <= statement.start_byte() && statement.end_byte() <= v.end_byte() {
            continue;
        }
        if uses_locals(ctx, *v) {
            continue;
        }
        let t = ctx.text_of(*v).to_owned();
        match counted.iter_mut().find(|(s, _)| *s == t) {
            Some((_, c)) => *c += 1,
            None => counted.push((t, 1)),
        }
    }
    counted.sort_by_key(|c| std::cmp::Reverse(c.1));
    out.extend(counted.into_iter().map(|(t, _)| return_statement(lang, &t)));
    // The declared type's empty value.
    let empty = match (lang, declared) {
        (Lang::Go, Some(_)) => {
            let zeros: Vec<String> = go_result_types(f, ctx.text)
                .iter()
                .map(|t| go_zero(t))
                .collect();
            (!zeros.is_empty()).then(|| zeros.join(", "))
        }
        (_, Some(t)) => empty_value(lang, t),
        (Lang::Python, None) => Some("None".to_owned()),
        (Lang::JavaScript | Lang::TypeScript | Lang::Tsx, None) => Some("null".to_owned()),
        _ => None,
    };
    if let Some(e) = empty {
        out.push(return_statement(lang, &e));
    }
    let mut seen = HashSet::new();
    out.retain(|s| seen.insert(s.clone()));
    out.truncate(EARLY_RETURNS);
    out
}

fn is_booleanish(ctx: &Ctx<'_, '_>, v: Node<'_>) -> bool {
    match v.kind() {
        "comparison_operator" | "boolean_operator" | "not_operator" => true,
        "binary_expression" => v.child_by_field_name("operator").is_some_and(|op| {
            matches!(
                ctx.text_of(op),
                "==" | "!=" | "===" | "!==" | "<" | "<=" | ">" | ">=" | "&&" | "||"
            )
        }),
        "unary_expression" => v.child(0).is_some_and(|op| ctx.text_of(op) == "!"),
        k if kinds(ctx.lang).calls.contains(&k) => super::syntax::callee_name(v)
            .map(|n| ctx.text_of(n))
            .is_some_and(|name| {
                let lower = name.to_ascii_lowercase();
                [
                    "is",
                    "has",
                    "can",
                    "should",
                    "contains",
                    "startswith",
                    "endswith",
                ]
                .iter()
                .any(|p| lower.starts_with(p))
                    || name.starts_with("starts_with")
                    || name.starts_with("ends_with")
            }),
        _ => false,
    }
}

pub(super) fn generate(ctx: &Ctx<'_, '_>, out: &mut Vec<Edit>) {
    let lang = ctx.lang;
    let k = kinds(lang);
    for &n in &ctx.nodes {
        if !ctx.on_line(n) || !n.is_named() {
            continue;
        }
        let is_return = n.kind() == k.returns;
        let is_tail = lang == Lang::Rust
            && n.parent().is_some_and(|b| {
                rust_tail(b) == Some(n)
                    && b.parent().is_some_and(|f| k.functions.contains(&f.kind()))
            });
        if !is_return && !is_tail {
            continue;
        }
        let Some(value) = value_of(lang, n) else {
            continue;
        };
        let Some(f) = function_of(lang, n) else {
            continue;
        };
        let declared = return_type(lang, f, ctx.text).unwrap_or("");
        let all = returns_of(lang, f);
        let values: Vec<Node<'_>> = all.iter().filter_map(|r| value_of(lang, *r)).collect();
        let elems = elements(value);
        for e in &elems {
            if k.booleans.contains(&e.kind()) {
                let t = ctx.text_of(*e);
                let flipped = match t {
                    "True" => "False",
                    "False" => "True",
                    "true" => "false",
                    "false" => "true",
                    _ => continue,
                };
                out.push(Edit {
                    range: e.byte_range(),
                    replacement: flipped.to_owned(),
                    template: Template::ReturnValue,
                    what: format!("`{t}` → `{flipped}` returned"),
                    prior: FLIP,
                });
            }
        }
        let [single] = elems.as_slice() else {
            continue;
        };
        let v = *single;
        let t = ctx.text_of(v);
        let bool_fn = is_bool_type(lang, declared)
            || values
                .iter()
                .any(|x| elements(*x).iter().any(|e| k.booleans.contains(&e.kind())));
        if !k.booleans.contains(&v.kind()) && (is_booleanish(ctx, v) || bool_fn) {
            let negated = match lang {
                Lang::Python if is_primary(v) => format!("not {t}"),
                Lang::Python => format!("not ({t})"),
                _ if is_primary(v) => format!("!{t}"),
                _ => format!("!({t})"),
            };
            if !matches!(v.kind(), "not_operator" | "unary_expression") {
                out.push(Edit {
                    range: v.byte_range(),
                    what: format!("`{t}` → `{negated}` returned"),
                    replacement: negated,
                    template: Template::ReturnValue,
                    prior: NEGATE_BOOL,
                });
            }
        }
        if is_numeric_type(lang, declared) && !is_constant(lang, v, ctx.text) {
            let negated = if is_primary(v) {
                format!("-{t}")
            } else {
                format!("-({t})")
            };
            out.push(Edit {
                range: v.byte_range(),
                what: format!("`{t}` → `{negated}` returned"),
                replacement: negated,
                template: Template::ReturnValue,
                prior: NEGATE_NUMBER,
            });
        }
        if is_constant(lang, v, ctx.text) {
            let mut seen: HashSet<&str> = HashSet::new();
            seen.insert(t);
            for other in &values {
                let o = text_of(ctx.text, *other);
                if elements(*other).len() != 1
                    || !is_constant(lang, *other, ctx.text)
                    || k.booleans.contains(&other.kind()) && k.booleans.contains(&v.kind())
                    || !seen.insert(o)
                {
                    continue;
                }
                out.push(Edit {
                    range: v.byte_range(),
                    replacement: o.to_owned(),
                    template: Template::ReturnValue,
                    what: format!("`{t}` → `{o}` returned"),
                    prior: OTHER_CONSTANT,
                });
                if seen.len() > 2 {
                    break;
                }
            }
        }
    }
}
