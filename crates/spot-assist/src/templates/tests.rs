//! Data-driven tests of the templates: a fixture in one language with `$0` on the site line
//! (removed before parsing), the candidates out, best first, one per line: template, prior and
//! the lines the candidate leaves (`⏎` between lines; a removal shows what it removes).
//! `UPDATE_EXPECT=1` refreshes the expectations.

use expect_test::{expect, Expect};

use super::*;

fn parse(lang: Lang, text: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&LangSpec::get(lang).grammar)
        .expect("the grammars spot links load");
    parser
        .parse(text, None)
        .expect("tree-sitter parses any text")
}

fn render(text: &str, found: &[Candidate], only: &[Template]) -> String {
    let mut out = String::new();
    for c in found {
        if !only.is_empty() && !only.contains(&c.template) {
            continue;
        }
        let new_text = c.apply(text).expect("candidates apply to their text");
        let shown = if c.replacement.is_empty() {
            let removed = text.get(c.range.clone()).unwrap_or("").trim();
            format!("removed: {removed}")
        } else {
            let first = new_text[..c.range.start].rfind('\n').map_or(0, |i| i + 1);
            let end = c.range.start + c.replacement.len();
            let last = new_text[end..]
                .find('\n')
                .map_or(new_text.len(), |i| end + i);
            new_text[first..last]
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ⏎ ")
        };
        out.push_str(&format!(
            "{:<18} {:.2}  {shown}\n",
            c.template.name(),
            c.prior
        ));
    }
    out
}

fn site(fixture: &str) -> (String, u32) {
    let line = fixture
        .lines()
        .position(|l| l.contains("$0"))
        .expect("the fixture marks its site with $0");
    (fixture.replace("$0", ""), line as u32)
}

/// The candidates at the `$0` line of `fixture` made by `only` (all templates if empty).
fn check_with(lang: Lang, fixture: &str, only: &[Template], scope: &Scope<'_>, expect: Expect) {
    let (text, line) = site(fixture);
    let tree = parse(lang, &text);
    let found = candidates(
        lang,
        &text,
        &tree,
        &[Site { line, weight: 1.0 }],
        scope,
        200,
    );
    expect.assert_eq(&render(&text, &found, only));
}

fn check(lang: Lang, fixture: &str, only: &[Template], expect: Expect) {
    check_with(lang, fixture, only, &Scope::local(), expect);
}

use Template as T;

// ---- Python ----

#[test]
fn python_boundary_negation_and_swaps() {
    check(
        Lang::Python,
        r#"
def bulk_discount_percent(quantity, tiers):
    best = 0
    for min_quantity, percent in tiers:
$0        if quantity > min_quantity and percent != 0:
            best = percent
    return best
"#,
        &[],
        expect![[r#"
            condition-boundary 0.30  if quantity >= min_quantity and percent != 0:
            negation           0.20  if quantity > min_quantity and percent == 0:
            operator-swap      0.15  if quantity > min_quantity or percent != 0:
            negation           0.12  if not (quantity > min_quantity and percent != 0):
            operator-swap      0.10  if quantity < min_quantity and percent != 0:
            clause-remove      0.08  if quantity > min_quantity:
            clause-remove      0.08  if percent != 0:
            variable-replace   0.08  if percent > min_quantity and percent != 0:
            variable-replace   0.08  if quantity > percent and percent != 0:
            variable-replace   0.08  if quantity > min_quantity and min_quantity != 0:
            off-by-one         0.08  if quantity > min_quantity and percent != 1:
            variable-replace   0.06  if best > min_quantity and percent != 0:
            variable-replace   0.06  if quantity > best and percent != 0:
            variable-replace   0.06  if quantity > min_quantity and quantity != 0:
            variable-replace   0.04  if tiers > min_quantity and percent != 0:
            variable-replace   0.04  if quantity > tiers and percent != 0:
            variable-replace   0.04  if quantity > min_quantity and best != 0:
        "#]],
    );
}

#[test]
fn python_membership_and_not() {
    check(
        Lang::Python,
        r#"
def find(x, items):
$0    if x not in items or not x.ready:
        return None
    return x
"#,
        &[T::Negation],
        expect![[r#"
            negation           0.15  if x in items or not x.ready:
            negation           0.15  if x not in items or x.ready:
            negation           0.12  if not (x not in items or not x.ready):
        "#]],
    );
}

#[test]
fn python_arithmetic_operands_and_arguments() {
    check(
        Lang::Python,
        r#"
def gcd(a, b):
    if b == 0:
        return a
    else:
$0        return gcd(a % b, b)
"#,
        &[T::OperatorSwap, T::OperandSwap, T::ArgumentSwap],
        expect![[r#"
            argument-swap      0.10  return gcd(b, a % b)
            operand-swap       0.08  return gcd(b % a, b)
            operator-swap      0.05  return gcd(a // b, b)
        "#]],
    );
    check(
        Lang::Python,
        r#"
def middle(lo, hi, total):
$0    total += (lo + hi) / 2 * 3
    return total
"#,
        &[T::OperatorSwap, T::OperandSwap],
        expect![[r#"
            operator-swap      0.12  total += (lo + hi) // 2 * 3
            operator-swap      0.10  total -= (lo + hi) / 2 * 3
            operator-swap      0.10  total += (lo - hi) / 2 * 3
            operator-swap      0.08  total += (lo + hi) / 2 / 3
            operator-swap      0.08  total += (lo + hi) * 2 * 3
            operand-swap       0.08  total += 2 / (lo + hi) * 3
        "#]],
    );
}

#[test]
fn python_function_pairs_and_siblings() {
    let functions = |arity: usize| match arity {
        1 => vec![
            "scale".to_owned(),
            "clamp".to_owned(),
            "scale_down".to_owned(),
            "width_of".to_owned(),
            "scale_up".to_owned(),
        ],
        _ => Vec::new(),
    };
    let scope = Scope {
        variables: &|_| Vec::new(),
        functions: &functions,
    };
    check_with(
        Lang::Python,
        r#"
def label(name, width):
$0    if name.startswith("_") and max(width, 0):
        return scale(width)
"#,
        &[T::FunctionReplace],
        &scope,
        expect![[r#"
            function-replace   0.20  if name.endswith("_") and max(width, 0):
            function-replace   0.20  if name.startswith("_") and min(width, 0):
        "#]],
    );
    check_with(
        Lang::Python,
        r#"
def label(name, width):
    if name:
$0        return scale(width)
"#,
        &[T::FunctionReplace],
        &scope,
        expect![[r#"
            function-replace   0.04  return scale_up(width)
            function-replace   0.02  return scale_down(width)
            function-replace   0.01  return clamp(width)
        "#]],
    );
}

#[test]
fn python_variables_of_the_same_declared_type() {
    check_with(
        Lang::Python,
        r#"
def price(unit: Decimal, count: int, limit: int, name: str, *rest):
    total = unit * count
    for extra in rest:
        pass
$0    return total if count < limit else unit
"#,
        &[T::VariableReplace],
        &Scope {
            variables: &|_| vec!["GLOBAL_RATE".to_owned()],
            functions: &|_| Vec::new(),
        },
        expect![[r#"
            variable-replace   0.08  return count if count < limit else unit
            variable-replace   0.08  return total if total < limit else unit
            variable-replace   0.08  return total if count < total else unit
            variable-replace   0.08  return total if count < limit else total
            variable-replace   0.06  return limit if count < limit else unit
            variable-replace   0.06  return total if extra < limit else unit
            variable-replace   0.06  return total if count < extra else unit
            variable-replace   0.06  return total if count < limit else extra
            variable-replace   0.04  return unit if count < limit else unit
            variable-replace   0.04  return total if rest < limit else unit
            variable-replace   0.04  return total if count < rest else unit
            variable-replace   0.04  return total if count < limit else rest
        "#]],
    );
}

#[test]
fn python_guards() {
    check(
        Lang::Python,
        r#"
class Store:
    def remove_item(self, name, quantity=1):
        item = self._items.get(name)
$0        item.quantity -= quantity
        return item
"#,
        &[T::GuardInsert],
        expect![[r#"
            guard-insert       0.12  if item is None: ⏎ return None ⏎ item.quantity -= quantity
            guard-insert       0.04  if item is None: ⏎ raise ValueError("item is None") ⏎ item.quantity -= quantity
        "#]],
    );
    check(
        Lang::Python,
        r#"
def _cmd_list(args):
    items = list(load_csv(args.file))
$0    width = max(len(item.name) for item in items)
    for item in items:
        print(item.name.ljust(width))
    return 0
"#,
        &[T::GuardInsert],
        expect![[r#"
            guard-insert       0.10  if not items: ⏎ return 0 ⏎ width = max(len(item.name) for item in items)
            guard-insert       0.07  if not items: ⏎ return None ⏎ width = max(len(item.name) for item in items)
            guard-insert       0.04  if not items: ⏎ raise ValueError("not items") ⏎ width = max(len(item.name) for item in items)
        "#]],
    );
    check(
        Lang::Python,
        r#"
def pick(values: list[int], i: int, d) -> int:
$0    return values[i] // d
"#,
        &[T::GuardInsert],
        expect![[r#"
            guard-insert       0.10  if i >= len(values): ⏎ return 0 ⏎ return values[i] // d
            guard-insert       0.06  if d == 0: ⏎ return 0 ⏎ return values[i] // d
            guard-insert       0.06  if i not in values: ⏎ return 0 ⏎ return values[i] // d
            guard-insert       0.04  if i >= len(values): ⏎ raise ValueError("i >= len(values)") ⏎ return values[i] // d
            guard-insert       0.04  if d == 0: ⏎ raise ValueError("d == 0") ⏎ return values[i] // d
            guard-insert       0.04  if i not in values: ⏎ raise ValueError("i not in values") ⏎ return values[i] // d
        "#]],
    );
}

#[test]
fn python_statement_removal() {
    check(
        Lang::Python,
        r#"
def total(items):
    n = 0
    for item in items:
$0        n += item.price  # running sum
        log(item)
    return n
"#,
        &[T::StatementRemove],
        expect![[r#"
            statement-remove   0.04  removed: n += item.price  # running sum
        "#]],
    );
    // A binding read later, the only statement of a block, a return: kept.
    for fixture in [
        "def f(a):\n$0    n = a\n    return n\n",
        "def f(a):\n    if a:\n$0        g(a)\n    return a\n",
        "def f(a):\n    g(a)\n$0    return a\n",
    ] {
        check(Lang::Python, fixture, &[T::StatementRemove], expect![[""]]);
    }
}

#[test]
fn python_off_by_one() {
    check(
        Lang::Python,
        r#"
def window(items, grid, i, n):
$0    return items[i] + sum(items[i:n - 1]) + len(range(n)) + items[-1] + grid[i - 1, n]
"#,
        &[T::OffByOne],
        expect![[r#"
            off-by-one         0.12  return items[i - 1] + sum(items[i:n - 1]) + len(range(n)) + items[-1] + grid[i - 1, n]
            off-by-one         0.12  return items[i + 1] + sum(items[i:n - 1]) + len(range(n)) + items[-1] + grid[i - 1, n]
            off-by-one         0.12  return items[i] + sum(items[i - 1:n - 1]) + len(range(n)) + items[-1] + grid[i - 1, n]
            off-by-one         0.12  return items[i] + sum(items[i + 1:n - 1]) + len(range(n)) + items[-1] + grid[i - 1, n]
            off-by-one         0.12  return items[i] + sum(items[i:n - 1]) + len(range(n - 1)) + items[-1] + grid[i - 1, n]
            off-by-one         0.12  return items[i] + sum(items[i:n - 1]) + len(range(n + 1)) + items[-1] + grid[i - 1, n]
            off-by-one         0.12  return items[i] + sum(items[i:n - 1]) + len(range(1, n)) + items[-1] + grid[i - 1, n]
            off-by-one         0.12  return items[i] + sum(items[i:n - 1]) + len(range(n)) + items[-1] + grid[i - 1, n - 1]
            off-by-one         0.12  return items[i] + sum(items[i:n - 1]) + len(range(n)) + items[-1] + grid[i - 1, n + 1]
            off-by-one         0.08  return items[i] + sum(items[i:n]) + len(range(n)) + items[-1] + grid[i - 1, n]
            off-by-one         0.08  return items[i] + sum(items[i:n - 2]) + len(range(n)) + items[-1] + grid[i - 1, n]
            off-by-one         0.08  return items[i] + sum(items[i:n - 1]) + len(range(n)) + items[-2] + grid[i - 1, n]
            off-by-one         0.08  return items[i] + sum(items[i:n - 1]) + len(range(n)) + items[0] + grid[i - 1, n]
            off-by-one         0.08  return items[i] + sum(items[i:n - 1]) + len(range(n)) + items[-1] + grid[i, n]
            off-by-one         0.08  return items[i] + sum(items[i:n - 1]) + len(range(n)) + items[-1] + grid[i - 2, n]
        "#]],
    );
}

#[test]
fn python_return_values() {
    check(
        Lang::Python,
        r#"
def is_ready(x) -> bool:
    if x is None:
$0        return False
    return x.ready and x.count > 0
"#,
        &[T::ReturnValue],
        expect![[r#"
            return-value       0.15  return True
        "#]],
    );
    check(
        Lang::Python,
        r#"
def is_ready(x) -> bool:
    if x is None:
        return False
$0    return x.ready and x.count > 0
"#,
        &[T::ReturnValue],
        expect![[r#"
            return-value       0.08  return not (x.ready and x.count > 0)
        "#]],
    );
    check(
        Lang::Python,
        r#"
def first(items):
    if not items:
$0        return None
    if len(items) > 3:
        return []
    return items[0]
"#,
        &[T::ReturnValue],
        expect![[r#"
            return-value       0.06  return []
        "#]],
    );
    check(
        Lang::Python,
        r#"
def delta(a: int, b: int) -> int:
$0    return a - b
"#,
        &[T::ReturnValue],
        expect![[r#"
            return-value       0.03  return -(a - b)
        "#]],
    );
}

#[test]
fn strings_comments_docstrings_and_assertions_are_left_alone() {
    check(
        Lang::Python,
        r#"
def f(x):
$0    s = "a > b" if x > 1 else 'c < 2'  # y > 3
"#,
        &[],
        expect![[r#"
            condition-boundary 0.30  s = "a > b" if x >= 1 else 'c < 2'  # y > 3
            negation           0.12  s = "a > b" if not (x > 1) else 'c < 2'  # y > 3
            operator-swap      0.10  s = "a > b" if x < 1 else 'c < 2'  # y > 3
            off-by-one         0.08  s = "a > b" if x > 0 else 'c < 2'  # y > 3
            off-by-one         0.08  s = "a > b" if x > 2 else 'c < 2'  # y > 3
        "#]],
    );
    check(
        Lang::Python,
        "def f(x):\n    \"\"\"Doc.\n$0    x > 1 and y < 2\n    \"\"\"\n    return x\n",
        &[],
        expect![[""]],
    );
    check(
        Lang::Python,
        "def test_f(self):\n$0    assert f(1) > 2\n    self.assertEqual(f(1), 2)\n",
        &[],
        expect![[""]],
    );
    check(
        Lang::Python,
        "def test_f(self):\n    assert f(1) > 2\n$0    self.assertEqual(f(1), 2)\n",
        &[],
        expect![""],
    );
}

// ---- Rust ----

#[test]
fn rust_conditions_operators_and_clauses() {
    check(
        Lang::Rust,
        r#"
fn over(items: &[u32], total: u32, limit: u32) -> bool {
$0    if !items.is_empty() && total > limit {
        return true;
    }
    false
}
"#,
        &[],
        expect![[r#"
            condition-boundary 0.30  if !items.is_empty() && total >= limit {
            operator-swap      0.15  if !items.is_empty() || total > limit {
            negation           0.15  if items.is_empty() && total > limit {
            negation           0.12  if !(!items.is_empty() && total > limit) {
            operator-swap      0.10  if !items.is_empty() && total < limit {
            clause-remove      0.08  if !items.is_empty() {
            clause-remove      0.08  if total > limit {
        "#]],
    );
}

#[test]
fn rust_ranges_indices_and_literals() {
    check(
        Lang::Rust,
        r#"
fn sum(v: &[i64], n: usize) -> i64 {
    let mut s = 0;
$0    for i in 1..n - 1 {
        s += v[i];
    }
    s
}
"#,
        &[T::OffByOne],
        expect![[r#"
            off-by-one         0.15  for i in 1..=n - 1 {
            off-by-one         0.08  for i in 0..n - 1 {
            off-by-one         0.08  for i in 2..n - 1 {
            off-by-one         0.08  for i in 1..n {
            off-by-one         0.08  for i in 1..n - 2 {
        "#]],
    );
    check(
        Lang::Rust,
        r#"
fn sum(v: &[i64], n: usize) -> i64 {
    let mut s = 0;
    for i in 1..n {
$0        s += v[i] + v[..n].len() as i64;
    }
    s
}
"#,
        &[T::OffByOne],
        expect![[r#"
            off-by-one         0.15  s += v[i] + v[..=n].len() as i64;
            off-by-one         0.12  s += v[i - 1] + v[..n].len() as i64;
            off-by-one         0.12  s += v[i + 1] + v[..n].len() as i64;
            off-by-one         0.12  s += v[i] + v[..n - 1].len() as i64;
            off-by-one         0.12  s += v[i] + v[..n + 1].len() as i64;
        "#]],
    );
}

#[test]
fn rust_function_pairs_and_arguments() {
    check(
        Lang::Rust,
        r#"
fn clip(s: &str, a: u32, b: u32) -> u32 {
$0    let t = s.trim_start().starts_with("x") as u32 + a.min(b) + std::cmp::max(a, b);
    t
}
"#,
        &[T::FunctionReplace, T::ArgumentSwap],
        expect![[r#"
            function-replace   0.20  let t = s.trim_start().ends_with("x") as u32 + a.min(b) + std::cmp::max(a, b);
            function-replace   0.20  let t = s.trim_end().starts_with("x") as u32 + a.min(b) + std::cmp::max(a, b);
            function-replace   0.20  let t = s.trim_start().starts_with("x") as u32 + a.max(b) + std::cmp::max(a, b);
            function-replace   0.20  let t = s.trim_start().starts_with("x") as u32 + a.min(b) + std::cmp::min(a, b);
            argument-swap      0.10  let t = s.trim_start().starts_with("x") as u32 + a.min(b) + std::cmp::max(b, a);
        "#]],
    );
}

#[test]
fn rust_guards() {
    check(
        Lang::Rust,
        r#"
fn next_id(ids: &[u32], opt: Option<u32>, i: usize) -> Option<u32> {
$0    let x = opt.unwrap() + ids[i];
    Some(x)
}
"#,
        &[T::GuardInsert],
        expect![[r#"
            guard-insert       0.12  if opt.is_none() { ⏎ return None; ⏎ } ⏎ let x = opt.unwrap() + ids[i];
            guard-insert       0.10  if i >= ids.len() { ⏎ return None; ⏎ } ⏎ let x = opt.unwrap() + ids[i];
        "#]],
    );
    check(
        Lang::Rust,
        r#"
fn per_unit(total: u64, count: u64) -> u64 {
    if total == 0 {
        return 0;
    }
$0    total / count
}
"#,
        &[T::GuardInsert],
        expect![[r#"
            guard-insert       0.06  if count == 0 { ⏎ return 0; ⏎ } ⏎ total / count
        "#]],
    );
}

#[test]
fn rust_variables_returns_and_removal() {
    check(
        Lang::Rust,
        r#"
fn within(lo: u32, hi: u32, name: &str) -> bool {
    let mid = (lo + hi) / 2;
    log(name);
$0    mid > lo
}
"#,
        &[T::VariableReplace, T::ReturnValue],
        expect![[r#"
            variable-replace   0.08  name > lo
            variable-replace   0.08  mid > hi
            return-value       0.08  !(mid > lo)
            variable-replace   0.06  hi > lo
        "#]],
    );
    check(
        Lang::Rust,
        r#"
fn within(lo: u32, hi: u32, name: &str) -> bool {
    let mid = (lo + hi) / 2;
$0    log(name);
    mid > lo
}
"#,
        &[T::StatementRemove],
        expect![[r#"
            statement-remove   0.04  removed: log(name);
        "#]],
    );
}

#[test]
fn rust_macros_and_strings_are_left_alone() {
    check(
        Lang::Rust,
        r#"
fn f(x: u32) {
$0    assert!(x > 1, "x > {}", x); println!("{}", x < 2); let s = "a > b"; // c > d
}
"#,
        &[],
        expect![[r#""#]],
    );
}

// ---- JavaScript / TypeScript ----

#[test]
fn javascript_conditions_calls_and_slices() {
    check(
        Lang::JavaScript,
        r#"
function page(items, start, end, prefix) {
$0  if (items === null || start >= end) {
    return [];
  }
  return items.slice(start, end).filter((x) => x.name.startsWith(prefix));
}
"#,
        &[],
        expect![[r#"
            condition-boundary 0.30  if (items === null || start > end) {
            negation           0.20  if (items !== null || start >= end) {
            operator-swap      0.15  if (items === null && start >= end) {
            negation           0.12  if (!(items === null || start >= end)) {
            operator-swap      0.10  if (items === null || start <= end) {
            clause-remove      0.08  if (items === null) {
            clause-remove      0.08  if (start >= end) {
            variable-replace   0.08  if (end === null || start >= end) {
            variable-replace   0.08  if (items === null || items >= end) {
            variable-replace   0.08  if (items === null || start >= items) {
            variable-replace   0.06  if (start === null || start >= end) {
            variable-replace   0.06  if (items === null || prefix >= end) {
            variable-replace   0.06  if (items === null || start >= prefix) {
            variable-replace   0.04  if (prefix === null || start >= end) {
        "#]],
    );
    check(
        Lang::JavaScript,
        r#"
function page(items, start, end, prefix) {
  if (items === null || start >= end) {
    return [];
  }
$0  return items.slice(start, end).filter((x) => x.name.startsWith(prefix));
}
"#,
        &[
            T::OffByOne,
            T::FunctionReplace,
            T::ArgumentSwap,
            T::GuardInsert,
        ],
        expect![[r#"
            function-replace   0.20  return items.slice(start, end).filter((x) => x.name.endsWith(prefix));
            guard-insert       0.12  if (items == null) { ⏎ return []; ⏎ } ⏎ return items.slice(start, end).filter((x) => x.name.startsWith(prefix));
            off-by-one         0.12  return items.slice(start - 1, end).filter((x) => x.name.startsWith(prefix));
            off-by-one         0.12  return items.slice(start + 1, end).filter((x) => x.name.startsWith(prefix));
            off-by-one         0.12  return items.slice(start, end - 1).filter((x) => x.name.startsWith(prefix));
            off-by-one         0.12  return items.slice(start, end + 1).filter((x) => x.name.startsWith(prefix));
            argument-swap      0.10  return items.slice(end, start).filter((x) => x.name.startsWith(prefix));
            guard-insert       0.08  if (items == null) { ⏎ return null; ⏎ } ⏎ return items.slice(start, end).filter((x) => x.name.startsWith(prefix));
            guard-insert       0.04  if (items == null) { ⏎ throw new Error("items == null"); ⏎ } ⏎ return items.slice(start, end).filter((x) => x.name.startsWith(prefix));
        "#]],
    );
}

#[test]
fn typescript_guards_and_returns() {
    check(
        Lang::TypeScript,
        r#"
export function initials(user: User | null, i: number): string {
  const parts: string[] = user.name.split(" ");
$0  return parts[i].toUpperCase();
}
"#,
        &[T::GuardInsert],
        expect![[r#"
            guard-insert       0.12  if (parts == null) { ⏎ return ""; ⏎ } ⏎ return parts[i].toUpperCase();
            guard-insert       0.10  if (i >= parts.length) { ⏎ return ""; ⏎ } ⏎ return parts[i].toUpperCase();
            guard-insert       0.04  if (parts == null) { ⏎ throw new Error("parts == null"); ⏎ } ⏎ return parts[i].toUpperCase();
            guard-insert       0.04  if (i >= parts.length) { ⏎ throw new Error("i >= parts.length"); ⏎ } ⏎ return parts[i].toUpperCase();
        "#]],
    );
    check(
        Lang::TypeScript,
        r#"
function ready(count: number, max: number): boolean {
  if (count > max) {
$0    return false;
  }
  return count !== 0;
}
"#,
        &[T::ReturnValue],
        expect![[r#"
            return-value       0.15  return true;
        "#]],
    );
    check(
        Lang::Tsx,
        r#"
export function Badge({ count }: { count: number }) {
$0  return count > 9 ? <b>{count}</b> : <i>9+</i>;
}
"#,
        &[T::ConditionBoundary, T::OffByOne],
        expect![[r#"
            condition-boundary 0.30  return count >= 9 ? <b>{count}</b> : <i>9+</i>;
            off-by-one         0.08  return count > 8 ? <b>{count}</b> : <i>9+</i>;
            off-by-one         0.08  return count > 10 ? <b>{count}</b> : <i>9+</i>;
        "#]],
    );
}

// ---- Go ----

#[test]
fn go_slice_guard_and_bounds() {
    check(
        Lang::Go,
        r#"
package server

func (s *MemoryStore) List(offset, limit int, query string) ([]Task, int, error) {
	matches := s.find(query)
	end := offset + limit
	if end > len(matches) {
		end = len(matches)
	}
$0	return matches[offset:end], len(matches), nil
}
"#,
        &[T::GuardInsert, T::OffByOne],
        expect![[r#"
            off-by-one         0.12  return matches[offset - 1:end], len(matches), nil
            off-by-one         0.12  return matches[offset + 1:end], len(matches), nil
            off-by-one         0.12  return matches[offset:end - 1], len(matches), nil
            off-by-one         0.12  return matches[offset:end + 1], len(matches), nil
            guard-insert       0.10  if offset > len(matches) { ⏎ return []Task{}, len(matches), nil ⏎ } ⏎ return matches[offset:end], len(matches), nil
            guard-insert       0.10  if end > len(matches) { ⏎ return []Task{}, len(matches), nil ⏎ } ⏎ return matches[offset:end], len(matches), nil
            guard-insert       0.07  if offset > len(matches) { ⏎ return []Task{}, 0, nil ⏎ } ⏎ return matches[offset:end], len(matches), nil
            guard-insert       0.07  if end > len(matches) { ⏎ return []Task{}, 0, nil ⏎ } ⏎ return matches[offset:end], len(matches), nil
        "#]],
    );
}

#[test]
fn go_conditions_calls_and_returns() {
    check(
        Lang::Go,
        r#"
package server

func matches(t *Task, q string, n int) bool {
$0	if t == nil || !strings.HasPrefix(t.Title, q) && n <= 0 {
		return false
	}
	return true
}
"#,
        &[],
        expect![[r#"
            condition-boundary 0.30  if t == nil || !strings.HasPrefix(t.Title, q) && n < 0 {
            negation           0.20  if t != nil || !strings.HasPrefix(t.Title, q) && n <= 0 {
            function-replace   0.20  if t == nil || !strings.HasSuffix(t.Title, q) && n <= 0 {
            operator-swap      0.15  if t == nil && !strings.HasPrefix(t.Title, q) && n <= 0 {
            operator-swap      0.15  if t == nil || !strings.HasPrefix(t.Title, q) || n <= 0 {
            negation           0.15  if t == nil || strings.HasPrefix(t.Title, q) && n <= 0 {
            negation           0.12  if !(t == nil || !strings.HasPrefix(t.Title, q) && n <= 0) {
            operator-swap      0.10  if t == nil || !strings.HasPrefix(t.Title, q) && n >= 0 {
            argument-swap      0.10  if t == nil || !strings.HasPrefix(q, t.Title) && n <= 0 {
            clause-remove      0.08  if t == nil {
            clause-remove      0.08  if !strings.HasPrefix(t.Title, q) && n <= 0 {
            clause-remove      0.08  if t == nil || !strings.HasPrefix(t.Title, q) {
            clause-remove      0.08  if t == nil || n <= 0 {
            off-by-one         0.08  if t == nil || !strings.HasPrefix(t.Title, q) && n <= 1 {
        "#]],
    );
    check(
        Lang::Go,
        r#"
package server

func matches(t *Task, q string, n int) bool {
	if t == nil || !strings.HasPrefix(t.Title, q) && n <= 0 {
		return false
	}
	log(t)
$0	return t.Done
}
"#,
        &[T::ReturnValue, T::GuardInsert],
        expect![[r#"
            guard-insert       0.12  if t == nil { ⏎ return false ⏎ } ⏎ return t.Done
            return-value       0.08  return !t.Done
        "#]],
    );
}

// ---- The list as a whole ----

#[test]
fn ranked_by_weight_times_prior_deduplicated_and_limited() {
    let text = "def f(a, b):\n    x = g(a,\n          b)\n    return x > 0\n";
    let tree = parse(Lang::Python, text);
    // Lines 1 and 2 both make `g(b, a)`: it is listed once, from the heavier line. Line 3 is
    // given twice (the heavier weight counts); line 9 does not exist; NaN is no weight.
    let sites = [
        Site {
            line: 1,
            weight: 1.0,
        },
        Site {
            line: 2,
            weight: 0.9,
        },
        Site {
            line: 3,
            weight: 0.5,
        },
        Site {
            line: 3,
            weight: 0.1,
        },
        Site {
            line: 9,
            weight: 1.0,
        },
        Site {
            line: 0,
            weight: f64::NAN,
        },
    ];
    let found = candidates(Lang::Python, text, &tree, &sites, &Scope::local(), 8);
    let shown: Vec<String> = found
        .iter()
        .map(|c| format!("{} {:.3} {}", c.line, c.score, c.describe))
        .collect();
    expect![[r#"
        [
            "3 0.150 `>` → `>=` in `return x > 0`",
            "1 0.100 arguments `a` and `b` swapped in `x = g(a,`",
            "3 0.050 `>` → `<` in `return x > 0`",
            "3 0.040 `x` → `b` in `return x > 0`",
            "3 0.040 `0` → `1` in `return x > 0`",
            "3 0.040 `x > 0` → `not (x > 0)` returned in `return x > 0`",
            "3 0.030 `x` → `a` in `return x > 0`",
        ]
    "#]]
    .assert_debug_eq(&shown);
}

#[test]
fn candidates_that_break_the_syntax_are_dropped() {
    let text = "def f(a):\n    return a\n";
    let tree = parse(Lang::Python, text);
    let mut parser = Parser::new();
    parser
        .set_language(&LangSpec::get(Lang::Python).grammar)
        .unwrap();
    let edit = |replacement: &str| Edit {
        range: 21..22,
        replacement: replacement.to_owned(),
        template: Template::VariableReplace,
        what: String::new(),
        prior: 1.0,
    };
    let check = |replacement: &str| {
        let e = edit(replacement);
        let new_text = splice(text, &e.range, &e.replacement).unwrap();
        let mut parser = Parser::new();
        parser
            .set_language(&LangSpec::get(Lang::Python).grammar)
            .unwrap();
        parses(
            &mut parser,
            &tree,
            count_errors(tree.root_node()),
            text,
            &new_text,
            &e,
        )
    };
    assert_eq!(text.get(21..22), Some("a"));
    assert!(check("b"));
    assert!(!check("a +"));
    assert!(!check("(a"));
    drop(parser);
}

#[test]
fn a_stale_tree_is_replaced() {
    let text = "def f(a):\n    return a > 1\n";
    let stale = parse(
        Lang::Python,
        &format!("{text}# and a much longer tail than the text has\n"),
    );
    let found = candidates(
        Lang::Python,
        text,
        &stale,
        &[Site {
            line: 1,
            weight: 1.0,
        }],
        &Scope::local(),
        1,
    );
    expect![[r#"
        condition-boundary 0.30  return a >= 1
    "#]]
    .assert_eq(&render(text, &found, &[]));
}

#[test]
fn signature_arities() {
    let cases = [
        (
            Lang::Python,
            "def remove_item(self, name: str, quantity: int = 1) -> Item:",
        ),
        (Lang::Python, "def f(*, key, default=None)"),
        (
            Lang::Rust,
            "pub fn post(&mut self, tx: Transaction) -> Result<(), LedgerError>",
        ),
        (
            Lang::Rust,
            "fn parse<T: FromStr>(text: &str, map: HashMap<K, V>) -> T",
        ),
        (
            Lang::Go,
            "func (s *MemoryStore) List(offset, limit int, query string) ([]Task, int, error)",
        ),
        (Lang::Go, "func Max(a, b int) int"),
        (
            Lang::TypeScript,
            "async list(options: ListOptions = {}): Promise<Page>",
        ),
        (Lang::JavaScript, "const f = (a, { b, c }) =>"),
        (Lang::Python, "class Store:"),
    ];
    let got: Vec<String> = cases
        .iter()
        .map(|(l, s)| format!("{:?} {s}", signature_arity(*l, s)))
        .collect();
    expect![[r#"
        [
            "Some(2) def remove_item(self, name: str, quantity: int = 1) -> Item:",
            "Some(2) def f(*, key, default=None)",
            "Some(1) pub fn post(&mut self, tx: Transaction) -> Result<(), LedgerError>",
            "Some(2) fn parse<T: FromStr>(text: &str, map: HashMap<K, V>) -> T",
            "Some(3) func (s *MemoryStore) List(offset, limit int, query string) ([]Task, int, error)",
            "Some(2) func Max(a, b int) int",
            "Some(1) async list(options: ListOptions = {}): Promise<Page>",
            "Some(2) const f = (a, { b, c }) =>",
            "None class Store:",
        ]
    "#]].assert_debug_eq(&got);
}

#[test]
fn javascript_and_go_operands_variables_and_removal() {
    check(
        Lang::JavaScript,
        r#"
function remaining(total, used, label) {
  const left = total - used;
$0  log(label, left);
  return left % 7;
}
"#,
        &[T::StatementRemove, T::ArgumentSwap, T::VariableReplace],
        expect![[r#"
            argument-swap      0.10  log(left, label);
            variable-replace   0.08  log(total, left);
            variable-replace   0.08  log(label, total);
            variable-replace   0.06  log(used, left);
            variable-replace   0.06  log(label, used);
            statement-remove   0.04  removed: log(label, left);
        "#]],
    );
    check(
        Lang::JavaScript,
        r#"
function remaining(total, used, label) {
  const left = total - used;
  log(label, left);
$0  return left % 7;
}
"#,
        &[T::OperandSwap, T::OperatorSwap],
        expect![[r#"
            operand-swap       0.08  return 7 % left;
            operator-swap      0.05  return left / 7;
        "#]],
    );
    check(
        Lang::Go,
        r#"
package p

func remaining(total, used int, label string) int {
	left := total - used
	left -= 1
$0	left += total / used
	return left
}
"#,
        &[
            T::OperandSwap,
            T::OperatorSwap,
            T::VariableReplace,
            T::StatementRemove,
        ],
        expect![[r#"
            operator-swap      0.10  left -= total / used
            operator-swap      0.08  left += total * used
            operand-swap       0.08  left += used / total
            variable-replace   0.08  left += left / used
            variable-replace   0.08  left += total / left
            statement-remove   0.04  removed: left += total / used
        "#]],
    );
}

#[test]
fn guards_keep_the_file_s_line_endings() {
    let text = "def f(x):\r\n    y = 1\r\n    return x.a + y\r\n";
    let tree = parse(Lang::Python, text);
    let found = candidates(
        Lang::Python,
        text,
        &tree,
        &[Site {
            line: 2,
            weight: 1.0,
        }],
        &Scope::local(),
        50,
    );
    let guard = found
        .iter()
        .find(|c| c.template == Template::GuardInsert)
        .and_then(|c| c.apply(text));
    expect![[r#"
        Some(
            "def f(x):\r\n    y = 1\r\n    if x is None:\r\n        return None\r\n    return x.a + y\r\n",
        )
    "#]].assert_debug_eq(&guard);
}
