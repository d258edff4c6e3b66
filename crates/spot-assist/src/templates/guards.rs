//! Guard template: a check inserted before the site's statement, with an early return (or a
//! raise/throw), derived from what the line dereferences: `x.attr`/`x.m()` → a None/null/nil
//! check, `x[0]` → an emptiness check, `x[i]` → a range check (or `i not in x` in Python),
//! `x[a:b]` in Go → a bound check, `len(x)` → a None check, `max(… for … in x)` → an emptiness
//! check, `x.unwrap()` → `x.is_none()`/`x.is_err()`, `a / d` → `d == 0`. Only variables bound
//! before the statement (or `self.…`/`this.…` paths) are checked; the early returns come from
//! `returns::early_returns`.

use std::collections::HashSet;

use spot_index::Lang;
use tree_sitter::Node;

use super::returns::early_returns;
use super::syntax::{has_quote, is_js, is_path, kinds, path_root};
use super::{Ctx, Edit, Template};

const NULL: f64 = 0.12;
const EMPTY: f64 = 0.10;
const RANGE: f64 = 0.10;
const KEY: f64 = 0.06;
const ZERO: f64 = 0.06;
const RAISE: f64 = 0.04;
/// Conditions per site.
const CONDITIONS: usize = 4;

pub(super) fn generate(ctx: &Ctx<'_, '_>, out: &mut Vec<Edit>) {
    let Some(s) = ctx.statement else {
        return;
    };
    let row = s.start_position().row;
    let Some(line_start) = s.start_byte().checked_sub(s.start_position().column) else {
        return;
    };
    let Some(indent) = ctx.text.get(line_start..s.start_byte()) else {
        return;
    };
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return;
    }
    let unit = indent_unit(ctx, s, indent, row);
    let nl = if ctx.text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut seen = HashSet::new();
    let mut conds = checks(ctx, s);
    // A condition the line already tests is no new guard.
    let own = ctx.text.lines().nth(ctx.line as usize).unwrap_or("");
    conds.retain(|c| !own.contains(c.cond.as_str()) && seen.insert(c.cond.clone()));
    conds.sort_by(|a, b| b.prior.total_cmp(&a.prior));
    for c in conds.into_iter().take(CONDITIONS) {
        for (i, ret) in early_returns(ctx, s, c.deref).into_iter().enumerate() {
            out.push(Edit {
                range: s.start_byte()..s.start_byte(),
                replacement: guard(ctx.lang, &c.cond, &ret, indent, &unit, nl),
                template: Template::GuardInsert,
                what: format!("guard `{}` → `{ret}` inserted", c.cond),
                prior: c.prior * (1.0 - 0.3 * i as f64),
            });
        }
        if has_quote(&c.cond) {
            continue;
        }
        let raise = match ctx.lang {
            Lang::Python => format!("raise ValueError(\"{}\")", c.cond),
            l if is_js(l) => format!("throw new Error(\"{}\");", c.cond),
            _ => continue,
        };
        out.push(Edit {
            range: s.start_byte()..s.start_byte(),
            replacement: guard(ctx.lang, &c.cond, &raise, indent, &unit, nl),
            template: Template::GuardInsert,
            what: format!("guard `{}` → `{raise}` inserted", c.cond),
            prior: RAISE,
        });
    }
}

fn guard(lang: Lang, cond: &str, body: &str, indent: &str, unit: &str, nl: &str) -> String {
    match lang {
        Lang::Python => format!("if {cond}:{nl}{indent}{unit}{body}{nl}{indent}"),
        l if is_js(l) => {
            format!("if ({cond}) {{{nl}{indent}{unit}{body}{nl}{indent}}}{nl}{indent}")
        }
        _ => format!("if {cond} {{{nl}{indent}{unit}{body}{nl}{indent}}}{nl}{indent}"),
    }
}

/// One indentation step: the statement's indentation beyond that of the line that opens its
/// block, else four spaces (a tab in Go or where the file indents with tabs).
fn indent_unit(ctx: &Ctx<'_, '_>, s: Node<'_>, indent: &str, row: usize) -> String {
    let mut p = s.parent();
    while let Some(node) = p {
        if node.start_position().row < row {
            let start = node.start_byte() - node.start_position().column.min(node.start_byte());
            let owner_line = ctx.text.get(start..).unwrap_or("");
            let owner_indent: String = owner_line
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect();
            if let Some(unit) = indent.strip_prefix(owner_indent.as_str()) {
                if !unit.is_empty() {
                    return unit.to_owned();
                }
            }
            break;
        }
        p = node.parent();
    }
    if ctx.lang == Lang::Go || indent.contains('\t') {
        "\t".to_owned()
    } else {
        "    ".to_owned()
    }
}

/// A condition under which the statement would fail.
struct Check<'t> {
    cond: String,
    deref: Node<'t>,
    prior: f64,
}

/// Whether `n` is inside a function nested in the statement (its body runs elsewhere).
fn in_nested_function(ctx: &Ctx<'_, '_>, n: Node<'_>, s: Node<'_>) -> bool {
    if n == s {
        return false;
    }
    let mut p = n.parent();
    while let Some(node) = p {
        if node == s {
            return false;
        }
        if kinds(ctx.lang).functions.contains(&node.kind()) {
            return true;
        }
        p = node.parent();
    }
    false
}

fn checks<'t>(ctx: &Ctx<'_, 't>, s: Node<'t>) -> Vec<Check<'t>> {
    let mut out = Vec::new();
    let at = s.start_byte();
    // A path the guard can name: bound before the statement (or `self.…`/`this.…`).
    let guardable = |x: Node<'_>| {
        if !is_path(x) || matches!(x.kind(), "self" | "this") {
            return false;
        }
        let root = path_root(x);
        let name = ctx.text_of(root);
        matches!(root.kind(), "self" | "this")
            || (x.kind() != "identifier" || !matches!(name, "self" | "this"))
                && ctx.var_at(name, at).is_some()
    };
    let declared = |x: Node<'_>| -> Option<String> {
        if x.kind() != "identifier" {
            return None;
        }
        ctx.var_at(ctx.text_of(x), at).and_then(|v| v.ty.clone())
    };
    let small_index = |i: Node<'_>| -> Option<u64> {
        (i.kind() == kinds(ctx.lang).integer)
            .then(|| ctx.text_of(i).parse::<u64>().ok())
            .flatten()
    };
    let lang = ctx.lang;
    for &n in &ctx.nodes {
        if !ctx.on_line(n) || !n.is_named() || in_nested_function(ctx, n, s) {
            continue;
        }
        let t = |x: Node<'_>| ctx.text_of(x).to_owned();
        let mut push =
            |cond: String, deref: Node<'t>, prior: f64| out.push(Check { cond, deref, prior });
        match (lang, n.kind()) {
            (Lang::Python, "attribute") => {
                if let Some(o) = n.child_by_field_name("object").filter(|o| guardable(*o)) {
                    push(format!("{} is None", t(o)), n, NULL);
                }
            }
            (Lang::Python, "subscript") => {
                let Some(x) = n.child_by_field_name("value").filter(|x| guardable(*x)) else {
                    continue;
                };
                let mut cursor = n.walk();
                let subs: Vec<Node<'_>> =
                    n.children_by_field_name("subscript", &mut cursor).collect();
                let [i] = subs.as_slice() else { continue };
                if i.kind() == "slice" || kinds(lang).strings.contains(&i.kind()) {
                    continue;
                }
                if small_index(*i).is_some() || i.kind() == "unary_operator" {
                    push(format!("not {}", t(x)), n, EMPTY);
                } else {
                    push(
                        format!("{} >= len({})", operand_text(ctx, *i), t(x)),
                        n,
                        RANGE,
                    );
                    push(format!("{} not in {}", operand_text(ctx, *i), t(x)), n, KEY);
                }
            }
            (Lang::Python, "call") => {
                let Some(f) = n.child_by_field_name("function") else {
                    continue;
                };
                let name = ctx.text_of(f);
                let Some(args) = n.child_by_field_name("arguments") else {
                    continue;
                };
                let first = args.named_child(0);
                match name {
                    "len" => {
                        if let Some(a) = first.filter(|a| guardable(*a)) {
                            push(format!("{} is None", t(a)), n, NULL);
                        }
                    }
                    "min" | "max" | "next" => {
                        // `max(f(x) for x in xs)` / `max(xs)`: empty input raises.
                        let iterable = if args.kind() == "generator_expression" {
                            iterable_of(args)
                        } else if args.named_child_count() == 1 {
                            first.and_then(|a| {
                                if matches!(a.kind(), "list_comprehension" | "generator_expression")
                                {
                                    iterable_of(a)
                                } else {
                                    Some(a)
                                }
                            })
                        } else {
                            None
                        };
                        if let Some(x) = iterable.filter(|x| guardable(*x)) {
                            push(format!("not {}", t(x)), n, EMPTY);
                        }
                    }
                    _ => {}
                }
            }
            (Lang::Rust, "call_expression") => {
                let Some(f) = n.child_by_field_name("function") else {
                    continue;
                };
                if f.kind() != "field_expression" {
                    continue;
                }
                let (Some(x), Some(m)) = (
                    f.child_by_field_name("value"),
                    f.child_by_field_name("field"),
                ) else {
                    continue;
                };
                if !guardable(x) || !matches!(ctx.text_of(m), "unwrap" | "expect") {
                    continue;
                }
                let ty = declared(x).unwrap_or_default();
                if !ty.starts_with("Result") {
                    push(format!("{}.is_none()", t(x)), n, NULL);
                }
                if !ty.starts_with("Option") {
                    push(format!("{}.is_err()", t(x)), n, NULL);
                }
            }
            (Lang::Rust, "index_expression") | (Lang::Go, "index_expression") => {
                let (x, i) = if lang == Lang::Go {
                    (
                        n.child_by_field_name("operand"),
                        n.child_by_field_name("index"),
                    )
                } else {
                    (n.named_child(0), n.named_child(1))
                };
                let (Some(x), Some(i)) = (x, i) else { continue };
                if !guardable(x) || i.kind() == "range_expression" {
                    continue;
                }
                let ty = declared(x).unwrap_or_default();
                if ty.starts_with("map[") || ty.contains("HashMap") || ty.contains("BTreeMap") {
                    continue;
                }
                let (len, empty) = if lang == Lang::Go {
                    (format!("len({})", t(x)), format!("len({}) == 0", t(x)))
                } else {
                    (format!("{}.len()", t(x)), format!("{}.is_empty()", t(x)))
                };
                match small_index(i) {
                    Some(0) => push(empty, n, EMPTY),
                    Some(k) => push(format!("{len} <= {k}"), n, EMPTY),
                    None => push(format!("{} >= {len}", operand_text(ctx, i)), n, RANGE),
                }
            }
            (Lang::Go, "slice_expression") => {
                let Some(x) = n.child_by_field_name("operand").filter(|x| guardable(*x)) else {
                    continue;
                };
                for field in ["start", "end"] {
                    if let Some(b) = n.child_by_field_name(field) {
                        if small_index(b).is_none() {
                            push(
                                format!("{} > len({})", operand_text(ctx, b), t(x)),
                                n,
                                RANGE,
                            );
                        }
                    }
                }
            }
            (Lang::Go, "selector_expression") => {
                let Some(x) = n.child_by_field_name("operand").filter(|x| guardable(*x)) else {
                    continue;
                };
                let nilable = declared(x).is_none_or(|ty| {
                    [
                        "*",
                        "[]",
                        "map[",
                        "chan",
                        "func",
                        "interface",
                        "error",
                        "any",
                    ]
                    .iter()
                    .any(|p| ty.starts_with(p))
                });
                if nilable {
                    push(format!("{} == nil", t(x)), n, NULL);
                }
            }
            (l, "member_expression") if is_js(l) => {
                if let Some(o) = n.child_by_field_name("object").filter(|o| guardable(*o)) {
                    push(format!("{} == null", t(o)), n, NULL);
                }
            }
            (l, "subscript_expression") if is_js(l) => {
                let Some(x) = n.child_by_field_name("object").filter(|x| guardable(*x)) else {
                    continue;
                };
                push(format!("{} == null", t(x)), n, NULL);
                if let Some(i) = n.child_by_field_name("index") {
                    if small_index(i).is_none() && !kinds(lang).strings.contains(&i.kind()) {
                        push(
                            format!("{} >= {}.length", operand_text(ctx, i), t(x)),
                            n,
                            RANGE,
                        );
                    }
                }
            }
            (_, "binary_operator" | "binary_expression") => {
                let (Some(op), Some(d)) = (
                    n.child_by_field_name("operator"),
                    n.child_by_field_name("right"),
                ) else {
                    continue;
                };
                if matches!(ctx.text_of(op), "/" | "//" | "%") && guardable(d) {
                    let eq = if is_js(lang) { "===" } else { "==" };
                    push(format!("{} {eq} 0", t(d)), n, ZERO);
                }
            }
            _ => {}
        }
    }
    out
}

/// The iterable of a comprehension's first `for` clause.
fn iterable_of(comprehension: Node<'_>) -> Option<Node<'_>> {
    let mut cursor = comprehension.walk();
    let clause = comprehension
        .named_children(&mut cursor)
        .find(|c| c.kind() == "for_in_clause")?;
    clause.child_by_field_name("right")
}

fn operand_text(ctx: &Ctx<'_, '_>, n: Node<'_>) -> String {
    super::syntax::operand(ctx.text_of(n), n)
}
