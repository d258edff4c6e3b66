//! Operator templates: a comparison's boundary moved (`>` ↔ `>=`) or direction flipped, an
//! equality or membership negated, a condition wrapped in `not`/`!` or freed of it, arithmetic,
//! boolean and bitwise operators swapped (`+=` ↔ `-=` too), the operands of a non-commutative
//! operator swapped, and one clause of an `and`/`or` removed.

use spot_index::Lang;
use tree_sitter::Node;

use super::syntax::{is_js, is_primary, kinds, operand};
use super::{Ctx, Edit, Template};

/// Priors (see the module header of `templates`).
const BOUNDARY: f64 = 0.30;
const EQUALITY: f64 = 0.20;
const MEMBERSHIP: f64 = 0.15;
const BOOLEAN: f64 = 0.15;
const WRAP: f64 = 0.12;
const UNWRAP: f64 = 0.15;
const DIRECTION: f64 = 0.10;
const ADDITIVE: f64 = 0.10;
const MULTIPLICATIVE: f64 = 0.08;
const FLOOR_DIVISION: f64 = 0.12;
const MODULO: f64 = 0.05;
const BITWISE: f64 = 0.05;
const AUGMENTED: f64 = 0.10;
const OPERANDS: f64 = 0.08;
const CLAUSE: f64 = 0.08;

/// What an operator may become, with the template and prior of each.
fn replacements(lang: Lang, op: &str) -> Vec<(&'static str, Template, f64)> {
    use Template::{ConditionBoundary as B, Negation as N, OperatorSwap as S};
    let py = lang == Lang::Python;
    match op {
        ">" => vec![(">=", B, BOUNDARY), ("<", S, DIRECTION)],
        ">=" => vec![(">", B, BOUNDARY), ("<=", S, DIRECTION)],
        "<" => vec![("<=", B, BOUNDARY), (">", S, DIRECTION)],
        "<=" => vec![("<", B, BOUNDARY), (">=", S, DIRECTION)],
        "==" => vec![("!=", N, EQUALITY)],
        "!=" => vec![("==", N, EQUALITY)],
        "===" => vec![("!==", N, EQUALITY)],
        "!==" => vec![("===", N, EQUALITY)],
        "is" if py => vec![("is not", N, MEMBERSHIP)],
        "is not" if py => vec![("is", N, MEMBERSHIP)],
        "in" if py => vec![("not in", N, MEMBERSHIP)],
        "not in" if py => vec![("in", N, MEMBERSHIP)],
        "and" if py => vec![("or", S, BOOLEAN)],
        "or" if py => vec![("and", S, BOOLEAN)],
        "&&" => vec![("||", S, BOOLEAN)],
        "||" => vec![("&&", S, BOOLEAN)],
        "+" => vec![("-", S, ADDITIVE)],
        "-" => vec![("+", S, ADDITIVE)],
        "*" => vec![("/", S, MULTIPLICATIVE)],
        "/" if py => vec![("//", S, FLOOR_DIVISION), ("*", S, MULTIPLICATIVE)],
        "/" => vec![("*", S, MULTIPLICATIVE)],
        "//" if py => vec![("/", S, FLOOR_DIVISION)],
        "%" if py => vec![("//", S, MODULO)],
        "%" => vec![("/", S, MODULO)],
        "&" => vec![("|", S, BITWISE), ("^", S, BITWISE)],
        "|" => vec![("&", S, BITWISE), ("^", S, BITWISE)],
        "^" => vec![("&", S, BITWISE), ("|", S, BITWISE)],
        "<<" => vec![(">>", S, BITWISE)],
        ">>" => vec![("<<", S, BITWISE)],
        "+=" => vec![("-=", S, AUGMENTED)],
        "-=" => vec![("+=", S, AUGMENTED)],
        "*=" => vec![("/=", S, AUGMENTED)],
        "/=" => vec![("*=", S, AUGMENTED)],
        "&=" => vec![("|=", S, BITWISE), ("^=", S, BITWISE)],
        "|=" => vec![("&=", S, BITWISE), ("^=", S, BITWISE)],
        "^=" => vec![("&=", S, BITWISE), ("|=", S, BITWISE)],
        _ => Vec::new(),
    }
}

/// Operators whose operands cannot be swapped without changing the meaning, and for which
/// the swap is not already another template's edit (`a < b` → `b < a` is `a > b`).
const NON_COMMUTATIVE: &[&str] = &["-", "/", "//", "%", "**", "<<", ">>"];

pub(super) fn generate(ctx: &Ctx<'_, '_>, out: &mut Vec<Edit>) {
    let k = kinds(ctx.lang);
    for &n in &ctx.nodes {
        let kind = n.kind();
        if k.binaries.contains(&kind) || k.augmented.contains(&kind) {
            for op in operator_tokens(n) {
                if ctx.on_line(op) {
                    swap_operator(ctx, n, op, out);
                }
            }
            if k.binaries.contains(&kind) {
                swap_operands(ctx, n, out);
                remove_clause(ctx, n, out);
            }
        }
        if let Some(cond) = condition(ctx, n) {
            wrap(ctx, cond, out);
        }
        unwrap(ctx, n, out);
    }
}

/// The operator tokens of a binary node (Python's chained comparisons have several).
fn operator_tokens(n: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = n.walk();
    let mut out = Vec::new();
    if !cursor.goto_first_child() {
        return out;
    }
    loop {
        if matches!(cursor.field_name(), Some("operator" | "operators")) {
            out.push(cursor.node());
        }
        if !cursor.goto_next_sibling() {
            break;
        }
    }
    out
}

fn is_string(ctx: &Ctx<'_, '_>, n: Option<Node<'_>>) -> bool {
    n.is_some_and(|n| kinds(ctx.lang).strings.contains(&n.kind()))
}

fn swap_operator(ctx: &Ctx<'_, '_>, n: Node<'_>, op: Node<'_>, out: &mut Vec<Edit>) {
    let text = ctx.text_of(op);
    // `not in` / `is not` are one token whose text may hold extra spaces.
    let normal = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let strings = is_string(ctx, n.child_by_field_name("left"))
        || is_string(ctx, n.child_by_field_name("right"));
    // Go's `x = y` is an assignment_statement too: only its compound forms are swapped.
    for (new, template, prior) in replacements(ctx.lang, &normal) {
        if strings && matches!(normal.as_str(), "+" | "+=") {
            continue;
        }
        out.push(Edit {
            range: op.byte_range(),
            replacement: new.to_owned(),
            template,
            what: format!("`{normal}` → `{new}`"),
            prior,
        });
    }
}

fn swap_operands(ctx: &Ctx<'_, '_>, n: Node<'_>, out: &mut Vec<Edit>) {
    let (Some(left), Some(op), Some(right)) = (
        n.child_by_field_name("left"),
        n.child_by_field_name("operator"),
        n.child_by_field_name("right"),
    ) else {
        return;
    };
    let op_text = ctx.text_of(op);
    if !ctx.on_line(op) || !NON_COMMUTATIVE.contains(&op_text) {
        return;
    }
    let middle = ctx
        .text
        .get(left.end_byte()..right.start_byte())
        .unwrap_or("");
    let (l, r) = (ctx.text_of(left), ctx.text_of(right));
    if l == r || middle.contains('\n') {
        return;
    }
    let paren = |t: &str, node: Node<'_>| {
        if is_primary(node) || matches!(node.kind(), "unary_operator" | "unary_expression") {
            t.to_owned()
        } else {
            format!("({t})")
        }
    };
    out.push(Edit {
        range: left.start_byte()..right.end_byte(),
        replacement: format!("{}{middle}{}", paren(r, right), paren(l, left)),
        template: Template::OperandSwap,
        what: format!("`{l}` and `{r}` swapped"),
        prior: OPERANDS,
    });
}

fn remove_clause(ctx: &Ctx<'_, '_>, n: Node<'_>, out: &mut Vec<Edit>) {
    let Some(op) = n.child_by_field_name("operator") else {
        return;
    };
    if !ctx.on_line(op) || !matches!(ctx.text_of(op), "and" | "or" | "&&" | "||") {
        return;
    }
    let (Some(left), Some(right)) = (
        n.child_by_field_name("left"),
        n.child_by_field_name("right"),
    ) else {
        return;
    };
    for (keep, drop) in [(left, right), (right, left)] {
        out.push(Edit {
            range: n.byte_range(),
            replacement: ctx.text_of(keep).to_owned(),
            template: Template::ClauseRemove,
            what: format!("`{}` removed", ctx.text_of(drop)),
            prior: CLAUSE,
        });
    }
}

/// The condition `n` tests, if it has one starting on the line (the inside of JavaScript's
/// parentheses; not Rust's `if let`).
fn condition<'t>(ctx: &Ctx<'_, 't>, n: Node<'t>) -> Option<Node<'t>> {
    let mut cond = if n.kind() == "conditional_expression" {
        n.named_child(1)?
    } else {
        n.child_by_field_name("condition")?
    };
    if cond.kind() == "parenthesized_expression" && is_js(ctx.lang) {
        cond = cond.named_child(0)?;
    }
    if !cond.is_named()
        || !ctx.on_line(cond)
        || matches!(
            cond.kind(),
            "let_condition" | "let_chain" | "sequence_expression"
        )
        || cond.is_error()
    {
        return None;
    }
    Some(cond)
}

fn negates_itself(ctx: &Ctx<'_, '_>, cond: Node<'_>) -> bool {
    // Already negated, or a comparison another template negates.
    if matches!(cond.kind(), "not_operator") || negation_operand(ctx, cond).is_some() {
        return true;
    }
    operator_tokens(cond).iter().any(|op| {
        let t: Vec<&str> = ctx.text_of(*op).split_whitespace().collect();
        matches!(
            t.join(" ").as_str(),
            "==" | "!=" | "===" | "!==" | "is" | "is not" | "in" | "not in"
        )
    })
}

fn wrap(ctx: &Ctx<'_, '_>, cond: Node<'_>, out: &mut Vec<Edit>) {
    if negates_itself(ctx, cond) {
        return;
    }
    let t = ctx.text_of(cond);
    let replacement = match ctx.lang {
        Lang::Python => {
            if is_primary(cond) {
                format!("not {t}")
            } else {
                format!("not ({t})")
            }
        }
        _ => format!("!{}", operand(t, cond)),
    };
    out.push(Edit {
        range: cond.byte_range(),
        what: format!("`{t}` → `{replacement}`"),
        replacement,
        template: Template::Negation,
        prior: WRAP,
    });
}

/// The operand of a `not x` / `!x`.
fn negation_operand<'t>(ctx: &Ctx<'_, 't>, n: Node<'t>) -> Option<Node<'t>> {
    match n.kind() {
        "not_operator" => n.child_by_field_name("argument"),
        "unary_expression" => {
            let op = n.child(0)?;
            if ctx.text_of(op) != "!" {
                return None;
            }
            n.child_by_field_name("argument")
                .or_else(|| n.child_by_field_name("operand"))
                .or_else(|| n.named_child(0))
        }
        _ => None,
    }
}

fn unwrap(ctx: &Ctx<'_, '_>, n: Node<'_>, out: &mut Vec<Edit>) {
    if !ctx.on_line(n) {
        return;
    }
    let Some(arg) = negation_operand(ctx, n) else {
        return;
    };
    let t = ctx.text_of(arg);
    // `if not (a and b):` → `if a and b:`; inside a larger expression the parentheses stay.
    let whole_condition = n.parent().is_some_and(|p| {
        p.child_by_field_name("condition") == Some(n)
            || (p.kind() == "parenthesized_expression"
                && p.parent()
                    .is_some_and(|g| g.child_by_field_name("condition") == Some(p)))
    });
    let kept = match arg.kind() {
        "parenthesized_expression" if whole_condition => {
            arg.named_child(0).map_or(t, |inner| ctx.text_of(inner))
        }
        _ => t,
    };
    out.push(Edit {
        range: n.byte_range(),
        replacement: kept.to_owned(),
        template: Template::Negation,
        what: format!("`{}` → `{kept}`", ctx.text_of(n)),
        prior: UNWRAP,
    });
}
