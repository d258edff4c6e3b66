//! Call templates: two adjacent positional arguments swapped, and the called function
//! replaced by its common counterpart (`min`/`max`, `startswith`/`endswith`, `floor`/`ceil`,
//! …) or, for a call of a project function, by another project function of the same arity
//! (`Scope::functions`), most similar names first.

use std::collections::HashSet;

use spot_index::Lang;
use tree_sitter::Node;

use super::syntax::{arguments, callee_name, kinds, positional_arguments};
use super::{Ctx, Edit, Template};

const ARGUMENTS: f64 = 0.10;
const PAIR: f64 = 0.20;
/// The best sibling; the next ones get less.
const SIBLING: f64 = 0.04;
const SIBLINGS: usize = 3;

/// Groups of functions one is often called by mistake for another, per language.
fn groups(lang: Lang) -> &'static [&'static [&'static str]] {
    match lang {
        Lang::Python => &[
            &["min", "max"],
            &["floor", "ceil"],
            &["any", "all"],
            &["startswith", "endswith"],
            &["lstrip", "rstrip"],
            &["append", "extend"],
            &["keys", "values", "items"],
            &["find", "rfind"],
            &["index", "rindex"],
            &["lower", "upper"],
            &["split", "rsplit"],
            &["ljust", "rjust"],
            &["remove", "discard"],
            &["bisect_left", "bisect_right"],
            &["bisect", "bisect_left"],
            &["issubset", "issuperset"],
            &["union", "intersection"],
            &["isinstance", "issubclass"],
            &["sorted", "reversed"],
            &["first", "last"],
        ],
        Lang::Rust => &[
            &["min", "max"],
            &["floor", "ceil"],
            &["any", "all"],
            &["first", "last"],
            &["starts_with", "ends_with"],
            &["trim_start", "trim_end"],
            &["trim_start_matches", "trim_end_matches"],
            &["strip_prefix", "strip_suffix"],
            &["keys", "values"],
            &["min_by_key", "max_by_key"],
            &["min_by", "max_by"],
            &["to_lowercase", "to_uppercase"],
            &["to_ascii_lowercase", "to_ascii_uppercase"],
            &["find", "rfind"],
            &["split", "rsplit"],
            &["splitn", "rsplitn"],
            &["position", "rposition"],
            &["checked_add", "checked_sub"],
            &["saturating_add", "saturating_sub"],
            &["wrapping_add", "wrapping_sub"],
            &["pop_front", "pop_back"],
            &["push_front", "push_back"],
            &["is_some", "is_none"],
            &["is_ok", "is_err"],
            &["nth", "nth_back"],
        ],
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => &[
            &["min", "max"],
            &["floor", "ceil"],
            &["some", "every"],
            &["startsWith", "endsWith"],
            &["trimStart", "trimEnd"],
            &["padStart", "padEnd"],
            &["push", "unshift"],
            &["pop", "shift"],
            &["indexOf", "lastIndexOf"],
            &["find", "findLast"],
            &["findIndex", "findLastIndex"],
            &["toLowerCase", "toUpperCase"],
            &["keys", "values", "entries"],
        ],
        Lang::Go => &[
            &["min", "max"],
            &["Min", "Max"],
            &["Floor", "Ceil"],
            &["HasPrefix", "HasSuffix"],
            &["TrimPrefix", "TrimSuffix"],
            &["TrimLeft", "TrimRight"],
            &["ToLower", "ToUpper"],
            &["Index", "LastIndex"],
            &["Before", "After"],
        ],
    }
}

pub(super) fn generate(ctx: &Ctx<'_, '_>, out: &mut Vec<Edit>) {
    let calls = kinds(ctx.lang).calls;
    for &n in &ctx.nodes {
        if !calls.contains(&n.kind()) {
            continue;
        }
        swap_arguments(ctx, n, out);
        replace_function(ctx, n, out);
    }
}

fn swap_arguments(ctx: &Ctx<'_, '_>, call: Node<'_>, out: &mut Vec<Edit>) {
    let Some(args) = arguments(call) else {
        return;
    };
    for pair in args.windows(2) {
        let [(a, true), (b, true)] = pair else {
            continue;
        };
        if !ctx.on_line(*a) && !ctx.on_line(*b) {
            continue;
        }
        let (ta, tb) = (ctx.text_of(*a), ctx.text_of(*b));
        let between = ctx.text.get(a.end_byte()..b.start_byte()).unwrap_or(",");
        if ta == tb || ta.is_empty() || tb.is_empty() {
            continue;
        }
        out.push(Edit {
            range: a.start_byte()..b.end_byte(),
            replacement: format!("{tb}{between}{ta}"),
            template: Template::ArgumentSwap,
            what: format!("arguments `{ta}` and `{tb}` swapped"),
            prior: ARGUMENTS,
        });
    }
}

fn replace_function(ctx: &Ctx<'_, '_>, call: Node<'_>, out: &mut Vec<Edit>) {
    let Some(name_node) = callee_name(call) else {
        return;
    };
    if !ctx.on_line(name_node) {
        return;
    }
    let name = ctx.text_of(name_node);
    let mut done: HashSet<&str> = HashSet::new();
    done.insert(name);
    for group in groups(ctx.lang) {
        if !group.contains(&name) {
            continue;
        }
        for &other in group.iter() {
            if done.insert(other) {
                out.push(Edit {
                    range: name_node.byte_range(),
                    replacement: other.to_owned(),
                    template: Template::FunctionReplace,
                    what: format!("`{name}` → `{other}`"),
                    prior: PAIR,
                });
            }
        }
    }
    // Project siblings replace plain calls only (a method's siblings are its type's).
    let plain = call
        .child_by_field_name("function")
        .is_some_and(|f| f.kind() == "identifier");
    if !plain {
        return;
    }
    let Some(arity) = positional_arguments(call).map(|a| a.len()) else {
        return;
    };
    // Only a project function has project siblings (`len` has none).
    let same_arity = (ctx.scope.functions)(arity);
    if !same_arity.iter().any(|f| f == name) {
        return;
    }
    let mut siblings: Vec<String> = same_arity
        .into_iter()
        .filter(|s| !done.contains(s.as_str()) && is_identifier(s))
        .collect();
    siblings.sort();
    siblings.dedup();
    let own = words(name);
    siblings.sort_by_key(|s| {
        let shared = words(s).iter().filter(|w| own.contains(w)).count();
        (
            std::cmp::Reverse(shared),
            s.len().abs_diff(name.len()),
            s.clone(),
        )
    });
    for (i, s) in siblings.into_iter().take(SIBLINGS).enumerate() {
        out.push(Edit {
            range: name_node.byte_range(),
            what: format!("`{name}` → `{s}`"),
            replacement: s,
            template: Template::FunctionReplace,
            prior: SIBLING / (1.0 + i as f64),
        });
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// The lowercase snake/camel parts of a name.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in name.chars() {
        if c == '_' || c.is_uppercase() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if c == '_' {
                continue;
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
