//! Wrong-variable template: a variable read at the site replaced by another one visible there
//! (parameters and locals of the enclosing functions, plus the caller's names). Names of the
//! same declared type only, when both are declared; names used nearest the site first, a few
//! per occurrence.

use std::collections::HashMap;

use tree_sitter::Node;

use super::scope::Var;
use super::syntax::is_receiver_name;
use super::{Ctx, Edit, Template};

const VARIABLE: f64 = 0.08;
/// Replacements per occurrence and per site.
const PER_OCCURRENCE: usize = 3;
const PER_SITE: usize = 12;

pub(super) fn generate(ctx: &Ctx<'_, '_>, out: &mut Vec<Edit>) {
    let rows = occurrences(ctx);
    let line = ctx.line as usize;
    let distance = |v: &Var| {
        let used = rows
            .get(v.name.as_str())
            .into_iter()
            .flatten()
            .map(|&r| r.abs_diff(line))
            .min()
            .unwrap_or(usize::MAX);
        used.min(v.row.abs_diff(line))
    };
    let mut made = 0;
    for &n in &ctx.nodes {
        if made >= PER_SITE {
            break;
        }
        if n.kind() != "identifier" || !ctx.on_line(n) || !is_read(ctx, n) {
            continue;
        }
        let name = ctx.text_of(n);
        if is_receiver_name(name) {
            continue;
        }
        let Some(var) = ctx.var_at(name, n.start_byte()) else {
            continue;
        };
        // `a > b` → `b > b` compares a value with itself: the other operand's name is out.
        let other_operand = n.parent().and_then(|p| {
            let mut cursor = p.walk();
            let operands: Vec<Node<'_>> = p.named_children(&mut cursor).collect();
            match operands.as_slice() {
                [a, b] if *a == n => Some(ctx.text_of(*b)),
                [a, b] if *b == n => Some(ctx.text_of(*a)),
                _ => None,
            }
        });
        let mut alternatives: Vec<(usize, &Var)> = ctx
            .visible_at(n.start_byte())
            .into_iter()
            .filter(|v| v.name != name && !is_receiver_name(&v.name) && same_kind(var, v))
            .filter(|v| other_operand != Some(v.name.as_str()))
            .map(|v| (distance(v), v))
            .collect();
        alternatives.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        for (i, (_, alt)) in alternatives.into_iter().take(PER_OCCURRENCE).enumerate() {
            out.push(Edit {
                range: n.byte_range(),
                replacement: alt.name.clone(),
                template: Template::VariableReplace,
                what: format!("`{name}` → `{}`", alt.name),
                prior: VARIABLE * (1.0 - 0.25 * i as f64),
            });
            made += 1;
        }
    }
}

/// Declared types, where both have one, must match.
fn same_kind(a: &Var, b: &Var) -> bool {
    match (&a.ty, &b.ty) {
        (Some(x), Some(y)) => {
            x.split_whitespace().collect::<String>() == y.split_whitespace().collect::<String>()
        }
        _ => true,
    }
}

/// Rows where each identifier occurs in the innermost function (or the file).
fn occurrences<'t>(ctx: &Ctx<'_, 't>) -> HashMap<&'t str, Vec<usize>> {
    let mut out: HashMap<&'t str, Vec<usize>> = HashMap::new();
    let Some(root) = ctx.function.or_else(|| ctx.nodes.first().copied()) else {
        return out;
    };
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.kind() == "identifier" {
            out.entry(ctx.text_of(n))
                .or_default()
                .push(n.start_position().row);
            continue;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    out
}

/// Whether an identifier is read as a value: not a binding, an assignment's target, a callee,
/// an attribute or keyword name, a path segment, a struct shorthand, a composite literal's key
/// or a type.
fn is_read(ctx: &Ctx<'_, '_>, n: Node<'_>) -> bool {
    if ctx.bindings.contains(&n.start_byte()) {
        return false;
    }
    let Some(p) = n.parent() else {
        return true;
    };
    let is_field = |field: &str| p.child_by_field_name(field) == Some(n);
    let excluded = match p.kind() {
        "call" | "call_expression" | "generic_function" => is_field("function"),
        "keyword_argument" => is_field("name"),
        "attribute" => is_field("attribute"),
        "scoped_identifier"
        | "scoped_type_identifier"
        | "shorthand_field_initializer"
        | "macro_invocation"
        | "function_definition"
        | "class_definition"
        | "decorator" => true,
        "literal_element" => p.parent().is_some_and(|g| {
            g.kind() == "keyed_element" && g.child_by_field_name("key") == Some(p)
        }),
        _ => false,
    };
    if excluded {
        return false;
    }
    // The target of an assignment (`x = …`, `x += …`, Go's `a, x = …`) is written, not read.
    let (holder, slot) = if matches!(p.kind(), "expression_list" | "pattern_list") {
        match p.parent() {
            Some(g) => (g, p),
            None => (p, n),
        }
    } else {
        (p, n)
    };
    let assigns = matches!(
        holder.kind(),
        "assignment"
            | "augmented_assignment"
            | "assignment_expression"
            | "augmented_assignment_expression"
            | "compound_assignment_expr"
            | "assignment_statement"
    );
    if assigns && holder.child_by_field_name("left") == Some(slot) {
        return false;
    }
    // Python's annotations are identifiers inside a `type`.
    let mut a = Some(p);
    for _ in 0..6 {
        match a {
            Some(node) if matches!(node.kind(), "type" | "type_annotation") => return false,
            Some(node) => a = node.parent(),
            None => break,
        }
    }
    true
}
