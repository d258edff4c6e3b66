//! Repair templates on the syntax tree: candidate edits at suspicious lines, for test-driven
//! repair (a failing test and fault localization give the lines; the caller validates each
//! candidate by running the tests). The families are those of the automated-program-repair
//! literature (TBar's fix patterns, PraPR's mutators): condition boundaries and negations,
//! operator and operand swaps, argument swaps, a called function replaced by a sibling, a
//! variable replaced by another in scope, guards inserted before a statement, a statement or
//! a clause removed, off-by-one in indices, slices and ranges, and return-value mutations.
//!
//! Pure: text and tree in, candidate edits out; no IO, no model. Strings, comments, macro
//! token trees and assertions are never entered. Each candidate changes one byte range, is
//! ranked by the site's weight times its template's prior, is unique by the text it produces,
//! and re-parses with no more syntax errors than the original (checked with the grammar,
//! incrementally from the given tree).
//!
//! The priors are set from the literature, not fitted: the condition and boundary fixes that
//! dominate one-line fixes in Defects4J/QuixBugs studies first, then null/range guards and
//! method-call changes (TBar's most productive patterns), then variable, literal and operator
//! mutations, and statement removal last. They only order candidates; the tests decide.

mod bounds;
mod calls;
mod guards;
mod operators;
mod returns;
mod scope;
mod statements;
mod syntax;
mod variables;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;

use serde::Serialize;
use spot_index::lang::LangSpec;
use spot_index::Lang;
use tree_sitter::{InputEdit, Node, Parser, Point, Tree};

use scope::Var;
use syntax::{kinds, text_of};

/// A suspicious line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    /// 0-based line in the file.
    pub line: u32,
    /// Suspiciousness (> 0); sites with a weight that is not a positive number are skipped.
    pub weight: f64,
}

/// Names the candidates may use beyond what the file's own tree shows.
pub struct Scope<'a> {
    /// More variables visible at a 0-based line (locals and parameters are also read from the
    /// tree; these are added to them).
    pub variables: &'a dyn Fn(u32) -> Vec<String>,
    /// Project functions taking that many arguments (from the index), for sibling
    /// replacement of a called function. [`signature_arity`] counts a definition's.
    pub functions: &'a dyn Fn(usize) -> Vec<String>,
}

fn no_variables(_: u32) -> Vec<String> {
    Vec::new()
}

fn no_functions(_: usize) -> Vec<String> {
    Vec::new()
}

impl Scope<'static> {
    /// Only what the tree shows: no extra variables, no project functions.
    pub fn local() -> Scope<'static> {
        Scope {
            variables: &no_variables,
            functions: &no_functions,
        }
    }
}

/// Which template made a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// `>` ↔ `>=`, `<` ↔ `<=`.
    ConditionBoundary,
    /// `==` ↔ `!=`, `in` ↔ `not in`, `is` ↔ `is not`, a condition wrapped in or freed of
    /// `not`/`!`.
    Negation,
    /// Arithmetic, comparison-direction, boolean and bitwise operators swapped, `+=` ↔ `-=`.
    OperatorSwap,
    /// `a - b` → `b - a` (non-commutative operators only).
    OperandSwap,
    /// Two adjacent positional arguments of a call swapped.
    ArgumentSwap,
    /// A called function replaced: common pairs (`min`/`max`, `startswith`/`endswith`, …) or
    /// a project function of the same arity.
    FunctionReplace,
    /// A variable replaced by another one visible there.
    VariableReplace,
    /// A None/null/nil, emptiness, range or zero check with an early return (or a raise)
    /// inserted before the site's statement.
    GuardInsert,
    /// The site's statement removed.
    StatementRemove,
    /// One clause of an `and`/`or` condition removed.
    ClauseRemove,
    /// An index, slice bound, range bound or integer literal moved by one; `..` ↔ `..=`.
    OffByOne,
    /// A returned value flipped, negated or replaced by another the function returns.
    ReturnValue,
}

impl Template {
    pub const ALL: [Template; 12] = [
        Template::ConditionBoundary,
        Template::Negation,
        Template::OperatorSwap,
        Template::OperandSwap,
        Template::ArgumentSwap,
        Template::FunctionReplace,
        Template::VariableReplace,
        Template::GuardInsert,
        Template::StatementRemove,
        Template::ClauseRemove,
        Template::OffByOne,
        Template::ReturnValue,
    ];

    /// The kebab-case name (as serialized).
    pub fn name(self) -> &'static str {
        match self {
            Template::ConditionBoundary => "condition-boundary",
            Template::Negation => "negation",
            Template::OperatorSwap => "operator-swap",
            Template::OperandSwap => "operand-swap",
            Template::ArgumentSwap => "argument-swap",
            Template::FunctionReplace => "function-replace",
            Template::VariableReplace => "variable-replace",
            Template::GuardInsert => "guard-insert",
            Template::StatementRemove => "statement-remove",
            Template::ClauseRemove => "clause-remove",
            Template::OffByOne => "off-by-one",
            Template::ReturnValue => "return-value",
        }
    }
}

/// One candidate edit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Byte range of the file text replaced (empty for an insertion).
    pub range: Range<usize>,
    pub replacement: String,
    pub template: Template,
    /// The site's line (0-based).
    pub line: u32,
    /// In words: "`>` → `>=` in `if quantity > min_quantity:`".
    pub describe: String,
    /// The template's prior: how often this kind of edit is the right fix.
    pub prior: f64,
    /// Site weight × prior: the order of the list.
    pub score: f64,
}

impl Candidate {
    /// `text` with the edit applied, or `None` if the range is not in `text`.
    pub fn apply(&self, text: &str) -> Option<String> {
        splice(text, &self.range, &self.replacement)
    }
}

/// The number of parameters in a definition's signature (the index's `Def::signature`), not
/// counting a receiver (`self`, `&mut self`, `cls`, a Go receiver); `None` if the signature
/// has no parameter list.
pub fn signature_arity(lang: Lang, signature: &str) -> Option<usize> {
    let mut rest = signature;
    if lang == Lang::Go {
        // `func (s *S) Name(a int)`: the receiver's list comes first.
        let after_func = rest.trim_start().strip_prefix("func")?.trim_start();
        if after_func.starts_with('(') {
            let (_, after) = split_group(after_func)?;
            rest = after;
        }
    }
    let open = rest.find('(')?;
    let (inner, _) = split_group(rest.get(open..)?)?;
    let mut n = 0;
    for part in split_top_level(inner) {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let receiver = matches!(
            p.trim_start_matches(['&', '\'']),
            "self" | "mut self" | "cls"
        ) || p.starts_with("self:")
            || p.starts_with("&self")
            || p.starts_with("&mut self")
            || p == "*"
            || p == "/";
        if !receiver {
            n += 1;
        }
    }
    Some(n)
}

/// The text inside the parenthesized group `s` starts with, and what follows it.
fn split_group(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((s.get(1..i)?, s.get(i + 1..)?));
                }
            }
            _ => {}
        }
    }
    None
}

/// `s` split at commas outside brackets.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

/// An edit a template proposes, before ranking.
pub(super) struct Edit {
    pub range: Range<usize>,
    pub replacement: String,
    pub template: Template,
    /// What it does, in words (`` `>` → `>=` ``); the line is added to it.
    pub what: String,
    pub prior: f64,
}

/// What the templates see of one site.
pub(super) struct Ctx<'s, 't> {
    pub lang: Lang,
    pub text: &'t str,
    pub line: u32,
    /// Nodes that touch the line, in document order, outside strings, comments, token trees,
    /// assertions and parse errors.
    pub nodes: Vec<Node<'t>>,
    /// The statement (a child of a block) that holds the line.
    pub statement: Option<Node<'t>>,
    /// The innermost function around the line.
    pub function: Option<Node<'t>>,
    /// Variables bound in the enclosing functions (each visible from its binding on).
    pub vars: Vec<Var>,
    /// Byte offsets where a variable is bound (those identifiers are not reads).
    pub bindings: HashSet<usize>,
    pub scope: &'s Scope<'s>,
}

impl<'s, 't> Ctx<'s, 't> {
    fn new(lang: Lang, text: &'t str, root: Node<'t>, line: u32, scope: &'s Scope<'s>) -> Self {
        let nodes = collect(lang, text, root, line as usize);
        let is_block = |n: Node<'_>| {
            n.parent().is_some_and(|p| {
                kinds(lang).blocks.contains(&p.kind())
                    && !(p.kind() == "switch_case" && p.child_by_field_name("value") == Some(n))
            })
        };
        // The outermost statement that starts on the line, else the innermost around it.
        let statement = nodes
            .iter()
            .copied()
            .find(|n| n.start_position().row == line as usize && n.is_named() && is_block(*n))
            .or_else(|| {
                let mut n = nodes.last().copied();
                while let Some(node) = n {
                    if is_block(node) {
                        return Some(node);
                    }
                    n = node.parent();
                }
                None
            });
        let anchor = nodes
            .iter()
            .copied()
            .find(|n| n.start_position().row == line as usize && n.child_count() == 0)
            .or_else(|| nodes.last().copied());
        let mut function = None;
        let mut n = anchor;
        while let Some(node) = n {
            if kinds(lang).functions.contains(&node.kind()) {
                function = Some(node);
                break;
            }
            n = node.parent();
        }
        let (mut vars, bindings) = match anchor {
            Some(a) => scope::bound(lang, text, a),
            None => (Vec::new(), HashSet::new()),
        };
        for name in (scope.variables)(line) {
            if !vars.iter().any(|v| v.name == name) {
                vars.push(Var::everywhere(name, text.len()));
            }
        }
        Ctx {
            lang,
            text,
            line,
            nodes,
            statement,
            function,
            vars,
            bindings,
            scope,
        }
    }

    /// Whether `node` starts on the site's line.
    pub fn on_line(&self, node: Node<'_>) -> bool {
        node.start_position().row == self.line as usize
    }

    pub fn text_of(&self, node: Node<'_>) -> &'t str {
        text_of(self.text, node)
    }

    /// The variables visible at byte `at`, innermost binding first, each name once.
    pub fn visible_at(&self, at: usize) -> Vec<&Var> {
        let mut seen = HashSet::new();
        self.vars
            .iter()
            .filter(|v| v.visible_at(at))
            .filter(|v| seen.insert(v.name.as_str()))
            .collect()
    }

    /// The visible variable named `name` at byte `at`.
    pub fn var_at(&self, name: &str, at: usize) -> Option<&Var> {
        self.vars
            .iter()
            .find(|v| v.name == name && v.visible_at(at))
    }
}

/// Nodes whose rows include `line`, in document order, without entering skipped kinds,
/// assertions or parse errors.
fn collect<'t>(lang: Lang, text: &str, root: Node<'t>, line: usize) -> Vec<Node<'t>> {
    let k = kinds(lang);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.start_position().row > line || n.end_position().row < line {
            continue;
        }
        if n.is_error()
            || n.is_missing()
            || k.skip.contains(&n.kind())
            || syntax::is_assertion(lang, n, text)
        {
            continue;
        }
        out.push(n);
        let mut cursor = n.walk();
        let children: Vec<Node<'t>> = n.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// The candidate edits at `sites` of `text` (parsed as `tree`), best first (site weight ×
/// template prior; ties in site order, then template order), unique by resulting text, each
/// re-parsing with no new syntax error; at most `limit`.
pub fn candidates(
    lang: Lang,
    text: &str,
    tree: &Tree,
    sites: &[Site],
    scope: &Scope<'_>,
    limit: usize,
) -> Vec<Candidate> {
    if limit == 0 {
        return Vec::new();
    }
    let mut parser = Parser::new();
    if parser.set_language(&LangSpec::get(lang).grammar).is_err() {
        return Vec::new();
    }
    // A tree that does not fit the text (stale) is replaced by a fresh parse.
    let fresh;
    let tree = if tree.root_node().end_byte() <= text.len() {
        tree
    } else {
        match parser.parse(text, None) {
            Some(t) => {
                fresh = t;
                &fresh
            }
            None => return Vec::new(),
        }
    };
    let mut raw: Vec<(f64, u32, Edit)> = Vec::new();
    let mut lines_done: HashSet<u32> = HashSet::new();
    let mut ordered: Vec<Site> = sites
        .iter()
        .copied()
        .filter(|s| s.weight.is_finite() && s.weight > 0.0)
        .collect();
    // The heaviest entry of a line wins.
    ordered.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    for site in ordered {
        if !lines_done.insert(site.line) {
            continue;
        }
        let ctx = Ctx::new(lang, text, tree.root_node(), site.line, scope);
        if ctx.nodes.is_empty() {
            continue;
        }
        let mut edits = Vec::new();
        operators::generate(&ctx, &mut edits);
        calls::generate(&ctx, &mut edits);
        variables::generate(&ctx, &mut edits);
        guards::generate(&ctx, &mut edits);
        statements::generate(&ctx, &mut edits);
        bounds::generate(&ctx, &mut edits);
        returns::generate(&ctx, &mut edits);
        let line_text = line_text(text, site.line);
        for mut e in edits {
            if e.prior.is_nan() || e.prior <= 0.0 || text.get(e.range.clone()).is_none() {
                continue;
            }
            e.what = format!("{} in `{line_text}`", e.what);
            raw.push((site.weight * e.prior, site.line, e));
        }
    }
    raw.sort_by(|a, b| b.0.total_cmp(&a.0));

    let baseline = count_errors(tree.root_node());
    let mut seen: HashSet<u64> = HashSet::new();
    seen.insert(hash(text));
    let mut out = Vec::new();
    for (score, line, e) in raw {
        let Some(new_text) = splice(text, &e.range, &e.replacement) else {
            continue;
        };
        if !seen.insert(hash(&new_text)) {
            continue;
        }
        if !parses(&mut parser, tree, baseline, text, &new_text, &e) {
            continue;
        }
        out.push(Candidate {
            range: e.range,
            replacement: e.replacement,
            template: e.template,
            line,
            describe: e.what,
            prior: e.prior,
            score,
        });
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// Whether `new_text` (an edit of `text`) parses with no more than `baseline` errors (those of
/// `tree`): the tree is edited and re-parsed incrementally.
fn parses(
    parser: &mut Parser,
    tree: &Tree,
    baseline: u32,
    text: &str,
    new_text: &str,
    e: &Edit,
) -> bool {
    let mut edited = tree.clone();
    edited.edit(&InputEdit {
        start_byte: e.range.start,
        old_end_byte: e.range.end,
        new_end_byte: e.range.start + e.replacement.len(),
        start_position: point_at(text, e.range.start),
        old_end_position: point_at(text, e.range.end),
        new_end_position: point_at(new_text, e.range.start + e.replacement.len()),
    });
    match parser.parse(new_text, Some(&edited)) {
        Some(t) => count_errors(t.root_node()) <= baseline,
        None => false,
    }
}

/// ERROR and MISSING nodes, descending only where the parser marked an error.
fn count_errors(root: Node<'_>) -> u32 {
    let mut n = 0;
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            n += 1;
            continue;
        }
        if !node.has_error() {
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    n
}

fn point_at(text: &str, byte: usize) -> Point {
    let before = text.get(..byte).unwrap_or(text);
    let row = before.bytes().filter(|&b| b == b'\n').count();
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1);
    Point::new(row, column)
}

fn splice(text: &str, range: &Range<usize>, replacement: &str) -> Option<String> {
    let before = text.get(..range.start)?;
    let after = text.get(range.end..)?;
    let mut out = String::with_capacity(before.len() + replacement.len() + after.len());
    out.push_str(before);
    out.push_str(replacement);
    out.push_str(after);
    Some(out)
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// The trimmed text of a 0-based line, shortened to 80 characters.
fn line_text(text: &str, line: u32) -> String {
    let l = text.lines().nth(line as usize).unwrap_or("").trim();
    if l.chars().count() > 80 {
        let mut s: String = l.chars().take(79).collect();
        s.push('…');
        s
    } else {
        l.to_owned()
    }
}
