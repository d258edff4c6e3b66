//! Off-by-one template: an index (`x[i]` → `x[i - 1]`, `x[i + 1]`; each of `x[i, j]`), a slice bound (Python's
//! `x[a:b]`, Go's `x[a:b]`, Rust's `a..b`, JavaScript's `.slice(a, b)`), a `range()` bound
//! (and `range(n)` → `range(1, n)`), Rust's `..` ↔ `..=`, and integer literals (±1, where
//! `n - 1` → `n` rather than `n - 0`).

use spot_index::Lang;
use tree_sitter::Node;

use super::syntax::{callee_name, is_js, kinds, operand, positional_arguments};
use super::{Ctx, Edit, Template};

const INDEX: f64 = 0.12;
const SLICE: f64 = 0.12;
const RANGE_CALL: f64 = 0.12;
const INCLUSIVE: f64 = 0.15;
const LITERAL: f64 = 0.08;
/// Literals above this are not moved (sizes, years, ports).
const MAX_LITERAL: u64 = 1000;

pub(super) fn generate(ctx: &Ctx<'_, '_>, out: &mut Vec<Edit>) {
    let k = kinds(ctx.lang);
    for &n in &ctx.nodes {
        let kind = n.kind();
        if kind == k.index {
            for i in indices(ctx, n) {
                shift(ctx, i, INDEX, "index", out);
            }
        }
        match (ctx.lang, kind) {
            (Lang::Python, "slice") => {
                let mut cursor = n.walk();
                let bounds: Vec<Node<'_>> = n.named_children(&mut cursor).collect();
                for b in bounds {
                    shift(ctx, b, SLICE, "slice bound", out);
                }
            }
            (Lang::Go, "slice_expression") => {
                for field in ["start", "end"] {
                    if let Some(b) = n.child_by_field_name(field) {
                        shift(ctx, b, SLICE, "slice bound", out);
                    }
                }
            }
            (Lang::Rust, "range_expression") => range_expression(ctx, n, out),
            (Lang::Python, "call") => range_call(ctx, n, out),
            (l, "call_expression") if is_js(l) => {
                let slicing = callee_name(n).is_some_and(|c| {
                    matches!(ctx.text_of(c), "slice" | "substring" | "substr" | "splice")
                });
                if slicing {
                    for a in positional_arguments(n)
                        .unwrap_or_default()
                        .into_iter()
                        .take(2)
                    {
                        shift(ctx, a, SLICE, "slice bound", out);
                    }
                }
            }
            _ => {}
        }
        if kind == k.integer {
            literal(ctx, n, out);
        }
    }
}

/// The indices of `x[i]` (Python's `x[i, j]` has several), not slices or ranges.
fn indices<'t>(ctx: &Ctx<'_, 't>, n: Node<'t>) -> Vec<Node<'t>> {
    let found: Vec<Node<'t>> = match ctx.lang {
        Lang::Python => {
            let mut cursor = n.walk();
            n.children_by_field_name("subscript", &mut cursor).collect()
        }
        Lang::Rust => n.named_child(1).into_iter().collect(),
        _ => n.child_by_field_name("index").into_iter().collect(),
    };
    found
        .into_iter()
        .filter(|i| !matches!(i.kind(), "slice" | "range_expression"))
        .collect()
}

/// Whether moving `n` by one is this template's job: not a literal or `e ± literal` (the
/// literal template moves those), not a string.
fn movable(ctx: &Ctx<'_, '_>, n: Node<'_>) -> bool {
    let k = kinds(ctx.lang);
    if !n.is_named() || n.kind() == k.integer || k.strings.contains(&n.kind()) {
        return false;
    }
    if matches!(n.kind(), "unary_operator" | "unary_expression")
        && n.named_child(0).is_some_and(|c| c.kind() == k.integer)
    {
        return false;
    }
    if matches!(n.kind(), "binary_operator" | "binary_expression") {
        let op = n.child_by_field_name("operator").map(|o| ctx.text_of(o));
        let right = n.child_by_field_name("right");
        if matches!(op, Some("+" | "-")) && right.is_some_and(|r| r.kind() == k.integer) {
            return false;
        }
    }
    true
}

fn shift(ctx: &Ctx<'_, '_>, n: Node<'_>, prior: f64, what: &str, out: &mut Vec<Edit>) {
    if !ctx.on_line(n) || !movable(ctx, n) {
        return;
    }
    let t = ctx.text_of(n);
    let base = operand(t, n);
    for delta in ["- 1", "+ 1"] {
        let replacement = format!("{base} {delta}");
        out.push(Edit {
            range: n.byte_range(),
            what: format!("{what} `{t}` → `{replacement}`"),
            replacement,
            template: Template::OffByOne,
            prior,
        });
    }
}

fn range_expression(ctx: &Ctx<'_, '_>, n: Node<'_>, out: &mut Vec<Edit>) {
    let mut cursor = n.walk();
    let children: Vec<Node<'_>> = n.children(&mut cursor).collect();
    let mut has_end = false;
    let mut op_node = None;
    for c in &children {
        if c.is_named() {
            if op_node.is_some() {
                has_end = true;
            }
            shift(ctx, *c, SLICE, "range bound", out);
        } else if matches!(ctx.text_of(*c), ".." | "..=") {
            op_node = Some(*c);
        }
    }
    let Some(op) = op_node else { return };
    if !has_end || !ctx.on_line(op) {
        return;
    }
    let new = if ctx.text_of(op) == ".." { "..=" } else { ".." };
    out.push(Edit {
        range: op.byte_range(),
        replacement: new.to_owned(),
        template: Template::OffByOne,
        what: format!("`{}` → `{new}`", ctx.text_of(op)),
        prior: INCLUSIVE,
    });
}

fn range_call(ctx: &Ctx<'_, '_>, n: Node<'_>, out: &mut Vec<Edit>) {
    let is_range = n
        .child_by_field_name("function")
        .is_some_and(|f| f.kind() == "identifier" && ctx.text_of(f) == "range");
    if !is_range {
        return;
    }
    let Some(args) = positional_arguments(n) else {
        return;
    };
    for a in args.iter().take(2) {
        shift(ctx, *a, RANGE_CALL, "range bound", out);
    }
    if let [stop] = args.as_slice() {
        if ctx.on_line(*stop) {
            let t = ctx.text_of(*stop);
            out.push(Edit {
                range: stop.byte_range(),
                replacement: format!("1, {t}"),
                template: Template::OffByOne,
                what: format!("`range({t})` → `range(1, {t})`"),
                prior: RANGE_CALL,
            });
        }
    }
}

/// A decimal integer literal (with a Rust type suffix), as its digits and suffix.
fn decimal(text: &str) -> Option<(u64, &str)> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = (text.get(..digits_end)?, text.get(digits_end..)?);
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    if !suffix.is_empty() && !suffix.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    if !suffix.is_empty() && !matches!(suffix.chars().next(), Some('i' | 'u')) {
        return None;
    }
    Some((digits.parse().ok()?, suffix))
}

fn literal(ctx: &Ctx<'_, '_>, n: Node<'_>, out: &mut Vec<Edit>) {
    if !ctx.on_line(n) {
        return;
    }
    let t = ctx.text_of(n);
    let Some((value, suffix)) = decimal(t) else {
        return;
    };
    if value > MAX_LITERAL || n.parent().is_some_and(|p| p.kind().contains("type")) {
        return;
    }
    let parent = n.parent();
    let parent_op = parent.and_then(|p| {
        let op = p.child_by_field_name("operator").or_else(|| p.child(0))?;
        Some((p, ctx.text_of(op)))
    });
    // `-1`: the negative value moves.
    if let Some((p, "-")) = parent_op {
        if matches!(p.kind(), "unary_operator" | "unary_expression") {
            let v = -(value as i64);
            for new in [v - 1, v + 1] {
                let replacement = format!("{new}{suffix}");
                out.push(Edit {
                    range: p.byte_range(),
                    what: format!("`{}` → `{replacement}`", ctx.text_of(p)),
                    replacement,
                    template: Template::OffByOne,
                    prior: LITERAL,
                });
            }
            return;
        }
    }
    let additive_right = parent.and_then(|p| {
        let is_bin = matches!(p.kind(), "binary_operator" | "binary_expression");
        let op = p.child_by_field_name("operator").map(|o| ctx.text_of(o));
        (is_bin && matches!(op, Some("+" | "-")) && p.child_by_field_name("right") == Some(n))
            .then(|| p.child_by_field_name("left").map(|l| (p, l)))
            .flatten()
    });
    let news = if value == 0 {
        vec![1]
    } else {
        vec![value - 1, value + 1]
    };
    for new in news {
        if new == 0 {
            if let Some((p, left)) = additive_right {
                // `n - 1` → `n`, not `n - 0`.
                let l = ctx.text_of(left);
                out.push(Edit {
                    range: p.byte_range(),
                    replacement: l.to_owned(),
                    template: Template::OffByOne,
                    what: format!("`{}` → `{l}`", ctx.text_of(p)),
                    prior: LITERAL,
                });
                continue;
            }
        }
        let replacement = format!("{new}{suffix}");
        out.push(Edit {
            range: n.byte_range(),
            what: format!("`{t}` → `{replacement}`"),
            replacement,
            template: Template::OffByOne,
            prior: LITERAL,
        });
    }
}
