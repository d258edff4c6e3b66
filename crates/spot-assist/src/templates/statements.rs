//! Statement-removal template: the site's statement deleted, whole lines, when it starts on
//! the line, is a simple statement (no block of its own), stands alone on its lines, is not
//! the only statement of its block, is not a return, an assertion, a docstring or a `pass`,
//! and binds no name that is read after it.

use tree_sitter::Node;

use super::scope::binding_names;
use super::syntax::{is_assertion, kinds};
use super::{Ctx, Edit, Template};

const REMOVE: f64 = 0.04;

/// Statement kinds never removed.
const KEPT: &[&str] = &[
    "return_statement",
    "return_expression",
    "pass_statement",
    "function_definition",
    "class_definition",
    "decorated_definition",
    "function_declaration",
    "method_declaration",
    "function_item",
    "import_statement",
    "import_from_statement",
    "use_declaration",
    "comment",
    "line_comment",
    "block_comment",
];

pub(super) fn generate(ctx: &Ctx<'_, '_>, out: &mut Vec<Edit>) {
    let Some(s) = ctx.statement else {
        return;
    };
    if !ctx.on_line(s) || KEPT.contains(&s.kind()) || has_block(s) || is_docstring(ctx, s) {
        return;
    }
    // Rust's `return x;` is an expression statement around a return; tests' assertions stay.
    if s.named_child(0)
        .is_some_and(|c| KEPT.contains(&c.kind()) || is_assertion(ctx.lang, c, ctx.text))
        || is_assertion(ctx.lang, s, ctx.text)
    {
        return;
    }
    let Some(block) = s.parent() else {
        return;
    };
    let mut cursor = block.walk();
    let siblings = block
        .named_children(&mut cursor)
        .filter(|c| !matches!(c.kind(), "comment" | "line_comment" | "block_comment"))
        .count();
    if siblings < 2 || binds_used_name(ctx, s) {
        return;
    }
    // Whole lines: from the start of the first to the end of the last (with its newline),
    // only if nothing but whitespace shares them.
    let text = ctx.text;
    let Some(start) = s.start_byte().checked_sub(s.start_position().column) else {
        return;
    };
    let end_line_end = text
        .get(s.end_byte()..)
        .and_then(|rest| rest.find('\n').map(|i| s.end_byte() + i + 1))
        .unwrap_or(text.len());
    let before = text.get(start..s.start_byte()).unwrap_or("x");
    let after = text.get(s.end_byte()..end_line_end).unwrap_or("x");
    let after_code = after.trim();
    let trailing_comment = after_code.starts_with('#') || after_code.starts_with("//");
    if !before.trim().is_empty()
        || !(after_code.is_empty() || after_code == ";" || trailing_comment)
    {
        return;
    }
    let first_line = ctx.text_of(s).lines().next().unwrap_or("").trim();
    out.push(Edit {
        range: start..end_line_end,
        replacement: String::new(),
        template: Template::StatementRemove,
        what: format!("`{first_line}` removed"),
        prior: REMOVE,
    });
}

/// Whether a statement holds a block of its own (compound statements are not removed).
fn has_block(s: Node<'_>) -> bool {
    let mut stack = vec![s];
    while let Some(n) = stack.pop() {
        if n != s
            && matches!(
                n.kind(),
                "block" | "statement_block" | "statement_list" | "match_block"
            )
        {
            // Blocks of closures and lambdas inside the statement do not count.
            let mut p = n.parent();
            let mut in_closure = false;
            while let Some(x) = p {
                if x == s {
                    break;
                }
                if matches!(
                    x.kind(),
                    "closure_expression"
                        | "arrow_function"
                        | "function_expression"
                        | "func_literal"
                        | "lambda"
                ) {
                    in_closure = true;
                    break;
                }
                p = x.parent();
            }
            if !in_closure {
                return true;
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    false
}

fn is_docstring(ctx: &Ctx<'_, '_>, s: Node<'_>) -> bool {
    s.kind() == "expression_statement"
        && s.named_child_count() == 1
        && s.named_child(0)
            .is_some_and(|c| kinds(ctx.lang).strings.contains(&c.kind()))
}

/// Whether the statement binds a name (an assignment, `let`, `const`, `:=`) read after it.
fn binds_used_name(ctx: &Ctx<'_, '_>, s: Node<'_>) -> bool {
    let mut names = Vec::new();
    let mut stack = vec![s];
    while let Some(n) = stack.pop() {
        let pattern = match n.kind() {
            "assignment" | "short_var_declaration" => n.child_by_field_name("left"),
            "let_declaration" => n.child_by_field_name("pattern"),
            "variable_declarator" => n.child_by_field_name("name"),
            "var_spec" | "const_spec" => {
                let mut c = n.walk();
                names.extend(n.children_by_field_name("name", &mut c));
                None
            }
            _ => None,
        };
        if let Some(p) = pattern {
            binding_names(p, &mut names);
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    if names.is_empty() {
        return false;
    }
    let scope_end = ctx
        .function
        .map_or(ctx.text.len(), |f| f.end_byte())
        .min(ctx.text.len());
    let later = ctx.text.get(s.end_byte()..scope_end).unwrap_or("");
    names.iter().any(|n| {
        let name = ctx.text_of(*n);
        !name.is_empty() && contains_word(later, name)
    })
}

/// Whether `word` occurs in `text` as a whole identifier.
fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text.get(..i).and_then(|b| b.chars().next_back());
        let after = text.get(i + word.len()..).and_then(|a| a.chars().next());
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}
