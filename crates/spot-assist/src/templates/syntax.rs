//! What the templates need to know of each grammar: node kinds that are strings, comments,
//! blocks, functions, calls, returns and literals, and the small helpers that read them
//! (callee names, parameters, declared return types). Kind names are tree-sitter's, checked
//! against the grammars spot-index links (Python 0.25, Rust 0.24, JavaScript 0.25,
//! TypeScript/TSX 0.23, Go 0.25).

use spot_index::Lang;
use tree_sitter::Node;

/// Node kinds of one grammar, by role.
pub(super) struct Kinds {
    /// Never entered: string literals, comments, macro token trees, regexes.
    pub skip: &'static [&'static str],
    /// Nodes whose children are statements.
    pub blocks: &'static [&'static str],
    /// Function-like nodes (their parameters are variables in their body).
    pub functions: &'static [&'static str],
    /// Binary operations with an operator (Python splits them in three kinds).
    pub binaries: &'static [&'static str],
    /// `x op= y`.
    pub augmented: &'static [&'static str],
    /// Calls (`f(x)`, `x.f(y)`).
    pub calls: &'static [&'static str],
    /// `x[i]`.
    pub index: &'static str,
    pub returns: &'static str,
    pub integer: &'static str,
    /// String literal kinds (an operand that is one makes `+` a concatenation).
    pub strings: &'static [&'static str],
    /// Boolean literal kinds (Rust has one kind for both).
    pub booleans: &'static [&'static str],
    /// The language's "nothing" literals.
    pub nulls: &'static [&'static str],
}

pub(super) fn kinds(lang: Lang) -> &'static Kinds {
    match lang {
        Lang::Python => &Kinds {
            skip: &["string", "concatenated_string", "comment"],
            blocks: &["module", "block"],
            functions: &["function_definition", "lambda"],
            binaries: &["binary_operator", "comparison_operator", "boolean_operator"],
            augmented: &["augmented_assignment"],
            calls: &["call"],
            index: "subscript",
            returns: "return_statement",
            integer: "integer",
            strings: &["string", "concatenated_string"],
            booleans: &["true", "false"],
            nulls: &["none"],
        },
        Lang::Rust => &Kinds {
            skip: &[
                "string_literal",
                "raw_string_literal",
                "char_literal",
                "line_comment",
                "block_comment",
                "token_tree",
                "attribute_item",
                "inner_attribute_item",
            ],
            blocks: &["source_file", "block"],
            functions: &["function_item", "closure_expression"],
            binaries: &["binary_expression"],
            augmented: &["compound_assignment_expr"],
            calls: &["call_expression"],
            index: "index_expression",
            returns: "return_expression",
            integer: "integer_literal",
            strings: &["string_literal", "raw_string_literal"],
            booleans: &["boolean_literal"],
            nulls: &[],
        },
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => &Kinds {
            skip: &["string", "template_string", "comment", "regex", "jsx_text"],
            blocks: &[
                "program",
                "statement_block",
                "switch_case",
                "switch_default",
            ],
            functions: &[
                "function_declaration",
                "function_expression",
                "function",
                "generator_function_declaration",
                "generator_function",
                "arrow_function",
                "method_definition",
            ],
            binaries: &["binary_expression"],
            augmented: &["augmented_assignment_expression"],
            calls: &["call_expression", "new_expression"],
            index: "subscript_expression",
            returns: "return_statement",
            integer: "number",
            strings: &["string", "template_string"],
            booleans: &["true", "false"],
            nulls: &["null", "undefined"],
        },
        Lang::Go => &Kinds {
            skip: &[
                "interpreted_string_literal",
                "raw_string_literal",
                "rune_literal",
                "comment",
            ],
            blocks: &["source_file", "statement_list"],
            functions: &["function_declaration", "method_declaration", "func_literal"],
            binaries: &["binary_expression"],
            augmented: &["assignment_statement"],
            calls: &["call_expression"],
            index: "index_expression",
            returns: "return_statement",
            integer: "int_literal",
            strings: &["interpreted_string_literal", "raw_string_literal"],
            booleans: &["true", "false"],
            nulls: &["nil"],
        },
    }
}

/// The text of `node`, or `""` if its range is not in `text` (a stale tree).
pub(super) fn text_of<'t>(text: &'t str, node: Node<'_>) -> &'t str {
    text.get(node.byte_range()).unwrap_or("")
}

pub(super) fn is_js(lang: Lang) -> bool {
    matches!(lang, Lang::JavaScript | Lang::TypeScript | Lang::Tsx)
}

/// The callee's name node of a call: `f` in `f(x)`, `g` in `x.g(y)` / `a::g(y)` / `x.g::<T>()`.
pub(super) fn callee_name<'t>(call: Node<'t>) -> Option<Node<'t>> {
    let mut f = call
        .child_by_field_name("function")
        .or_else(|| call.child_by_field_name("constructor"))?;
    if f.kind() == "generic_function" {
        f = f.child_by_field_name("function")?;
    }
    match f.kind() {
        "identifier" => Some(f),
        "attribute" => f.child_by_field_name("attribute"),
        "member_expression" => f.child_by_field_name("property"),
        "field_expression" | "selector_expression" => f.child_by_field_name("field"),
        "scoped_identifier" => f.child_by_field_name("name"),
        _ => None,
    }
}

/// The argument list of a call (`None` for Python's `f(x for x in y)`).
pub(super) fn call_arguments<'t>(call: Node<'t>) -> Option<Node<'t>> {
    let args = call.child_by_field_name("arguments")?;
    matches!(args.kind(), "argument_list" | "arguments").then_some(args)
}

/// The arguments of a call, each with whether it is a plain positional one (not a keyword,
/// spread or splat argument).
pub(super) fn arguments<'t>(call: Node<'t>) -> Option<Vec<(Node<'t>, bool)>> {
    let args = call_arguments(call)?;
    let mut out = Vec::new();
    let mut cursor = args.walk();
    for arg in args.named_children(&mut cursor) {
        match arg.kind() {
            "comment" | "line_comment" | "block_comment" | "attribute_item" => {}
            "keyword_argument" | "list_splat" | "dictionary_splat" | "spread_element"
            | "variadic_argument" | "type_arguments" => out.push((arg, false)),
            _ => out.push((arg, true)),
        }
    }
    Some(out)
}

/// The arguments of a call if all are positional (its arity is then their number).
pub(super) fn positional_arguments<'t>(call: Node<'t>) -> Option<Vec<Node<'t>>> {
    arguments(call)?
        .into_iter()
        .map(|(a, positional)| positional.then_some(a))
        .collect()
}

/// Whether `node` is a call to an assertion (`assert_eq`, `self.assertEqual`, `expect(…)`,
/// `t.Fatalf`): the templates leave tests' assertions alone.
pub(super) fn is_assertion(lang: Lang, node: Node<'_>, text: &str) -> bool {
    match node.kind() {
        "assert_statement" => true,
        "macro_invocation" => node
            .child_by_field_name("macro")
            .is_some_and(|m| text_of(text, m).contains("assert")),
        k if kinds(lang).calls.contains(&k) => callee_name(node).is_some_and(|n| {
            let name = text_of(text, n);
            name.starts_with("assert")
                || name.starts_with("Assert")
                || name == "expect"
                || (lang == Lang::Go
                    && matches!(name, "Error" | "Errorf" | "Fatal" | "Fatalf" | "Fail"))
        }),
        _ => false,
    }
}

/// A node that needs no parentheses as an operand: a name, a call, a member, an index or a
/// literal.
pub(super) fn is_primary(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "identifier"
            | "attribute"
            | "call"
            | "call_expression"
            | "subscript"
            | "subscript_expression"
            | "index_expression"
            | "member_expression"
            | "field_expression"
            | "selector_expression"
            | "scoped_identifier"
            | "parenthesized_expression"
            | "integer"
            | "integer_literal"
            | "int_literal"
            | "float"
            | "float_literal"
            | "number"
            | "true"
            | "false"
            | "boolean_literal"
            | "none"
            | "nil"
            | "null"
            | "self"
            | "this"
            | "list"
            | "tuple"
            | "dictionary"
            | "array"
    )
}

/// `text` as an operand: parenthesized unless `node` is primary.
pub(super) fn operand(text: &str, node: Node<'_>) -> String {
    if is_primary(node) {
        text.to_owned()
    } else {
        format!("({text})")
    }
}

/// Whether `node` is a variable path the templates may guard or name in a condition: an
/// identifier, or a chain of attribute/field accesses on identifiers (`self.items`, `a.b`).
pub(super) fn is_path(node: Node<'_>) -> bool {
    match node.kind() {
        "identifier" | "self" | "this" => true,
        "attribute" => node.child_by_field_name("object").is_some_and(is_path),
        "member_expression" => node.child_by_field_name("object").is_some_and(is_path),
        "field_expression" => node.child_by_field_name("value").is_some_and(is_path),
        "selector_expression" => node.child_by_field_name("operand").is_some_and(is_path),
        _ => false,
    }
}

/// The first identifier of a path (`self` in `self.items`, `a` in `a.b.c`).
pub(super) fn path_root<'t>(node: Node<'t>) -> Node<'t> {
    let mut n = node;
    loop {
        let next = match n.kind() {
            "attribute" | "member_expression" => n.child_by_field_name("object"),
            "field_expression" => n.child_by_field_name("value"),
            "selector_expression" => n.child_by_field_name("operand"),
            _ => None,
        };
        match next {
            Some(inner) => n = inner,
            None => return n,
        }
    }
}

/// The declared return type of a function node, as written (`int`, `Option<u32>`,
/// `([]Task, int, error)`), if any.
pub(super) fn return_type<'t>(lang: Lang, function: Node<'_>, text: &'t str) -> Option<&'t str> {
    let field = match lang {
        Lang::Go => "result",
        _ => "return_type",
    };
    let node = function.child_by_field_name(field)?;
    let t = text_of(text, node).trim();
    // TypeScript's annotation includes the colon.
    Some(t.strip_prefix(':').map_or(t, str::trim))
}

/// The types of a Go function's results, one per value (`(a, b int)` gives two).
pub(super) fn go_result_types(function: Node<'_>, text: &str) -> Vec<String> {
    let Some(result) = function.child_by_field_name("result") else {
        return Vec::new();
    };
    if result.kind() != "parameter_list" {
        return vec![text_of(text, result).to_owned()];
    }
    let mut out = Vec::new();
    let mut cursor = result.walk();
    for decl in result.named_children(&mut cursor) {
        let Some(ty) = decl.child_by_field_name("type") else {
            continue;
        };
        let mut names = decl.walk();
        let n = decl
            .children_by_field_name("name", &mut names)
            .count()
            .max(1);
        for _ in 0..n {
            out.push(text_of(text, ty).to_owned());
        }
    }
    out
}

/// Go's zero value of a type, written as an expression.
pub(super) fn go_zero(ty: &str) -> String {
    let ty = ty.trim();
    match ty {
        "string" => "\"\"".to_owned(),
        "bool" => "false".to_owned(),
        "error" | "any" => "nil".to_owned(),
        t if t.starts_with("int") || t.starts_with("uint") || t.starts_with("float") => {
            "0".to_owned()
        }
        "byte" | "rune" | "uintptr" => "0".to_owned(),
        t if t.starts_with('*')
            || t.starts_with("map[")
            || t.starts_with("chan ")
            || t.starts_with("func")
            || t.starts_with("interface") =>
        {
            "nil".to_owned()
        }
        t if t.starts_with("[]") => format!("{t}{{}}"),
        t => format!("{t}{{}}"),
    }
}

/// The empty value a function of the declared return type `ty` can return early, if there is
/// an obvious one.
pub(super) fn empty_value(lang: Lang, ty: &str) -> Option<String> {
    let ty = ty.trim();
    let v = match lang {
        Lang::Python => {
            if ty.contains("None") || ty.starts_with("Optional") {
                "None"
            } else {
                match ty.split(['[', ' ']).next().unwrap_or(ty) {
                    "int" => "0",
                    "float" => "0.0",
                    "str" => "\"\"",
                    "bool" => "False",
                    "list" | "List" | "Sequence" => "[]",
                    "dict" | "Dict" | "Mapping" => "{}",
                    "tuple" | "Tuple" => "()",
                    "set" | "Set" => "set()",
                    _ => return None,
                }
            }
        }
        Lang::Rust => match ty {
            "bool" => "false",
            "String" => "String::new()",
            "f32" | "f64" => "0.0",
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64"
            | "u128" | "usize" => "0",
            t if t.starts_with("Option<") => "None",
            t if t.starts_with("Vec<") => "Vec::new()",
            _ => return None,
        },
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => match ty {
            "number" => "0",
            "string" => "\"\"",
            "boolean" => "false",
            t if t.ends_with("[]") || t.starts_with("Array<") => "[]",
            t if t.contains("null") => "null",
            t if t.contains("undefined") => "undefined",
            _ => return None,
        },
        Lang::Go => return Some(go_zero(ty)),
    };
    Some(v.to_owned())
}

/// Whether a declared type is numeric (a return value that can be negated).
pub(super) fn is_numeric_type(lang: Lang, ty: &str) -> bool {
    let ty = ty.trim();
    match lang {
        Lang::Python => matches!(ty, "int" | "float" | "Decimal" | "Fraction"),
        Lang::Rust => {
            matches!(ty, "f32" | "f64")
                || ty == "isize"
                || ty
                    .strip_prefix('i')
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        }
        Lang::Go => ty.starts_with("int") || ty.starts_with("float"),
        _ => ty == "number",
    }
}

/// Whether a declared type is boolean.
pub(super) fn is_bool_type(lang: Lang, ty: &str) -> bool {
    match lang {
        Lang::Python => ty.trim() == "bool",
        Lang::Rust | Lang::Go => ty.trim() == "bool",
        _ => ty.trim() == "boolean",
    }
}

/// Whether a node is a literal constant, `None`/`nil`/`null`, or an empty collection: a value
/// that means the same anywhere in a function.
pub(super) fn is_constant(lang: Lang, node: Node<'_>, text: &str) -> bool {
    let k = kinds(lang);
    let kind = node.kind();
    if kind == k.integer
        || k.booleans.contains(&kind)
        || k.nulls.contains(&kind)
        || k.strings.contains(&kind)
        || matches!(kind, "float" | "float_literal")
    {
        return true;
    }
    let t = text_of(text, node);
    match kind {
        "list" | "dictionary" | "tuple" | "array" | "object" => node.named_child_count() == 0,
        "unary_operator" | "unary_expression" => {
            t.starts_with('-') && node.named_child(0).is_some_and(|c| c.kind() == k.integer)
        }
        "identifier" => lang == Lang::Rust && t == "None",
        "call_expression" => lang == Lang::Rust && matches!(t, "Vec::new()" | "String::new()"),
        "composite_literal" => node
            .child_by_field_name("body")
            .is_some_and(|b| b.named_child_count() == 0),
        _ => false,
    }
}

/// Per-language helper: is `name` a conventional receiver (`self`, `cls`, `this`)?
pub(super) fn is_receiver_name(name: &str) -> bool {
    matches!(name, "self" | "cls" | "this" | "_")
}

/// Whether a slice of `text` has a quote or backslash (such text is not put into a new string
/// literal).
pub(super) fn has_quote(s: &str) -> bool {
    s.contains(['"', '\'', '\\', '`', '\n'])
}
