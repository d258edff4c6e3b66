//! Data-driven tests of localization: a fixture of `//- /path` files (and `//- commit`
//! entries for the history, newest first) plus an issue in, the ranked files with their
//! reasons out (`UPDATE_EXPECT=1` refreshes the expectations).

use std::collections::HashMap;
use std::path::PathBuf;

use expect_test::{expect, Expect};

use super::*;
use spot_index::IndexOptions;

/// `//- /path` starts a file; `//- commit fix: a/b.py c.py` starts a past commit (its files
/// after the colon-free `fix`/`other` tag, then its message lines).
fn check(fixture: &str, issue: &str, signals: &[Signal], expect: Expect) {
    let index = Index::new(PathBuf::from("/fixture"), IndexOptions::default());
    let mut texts: HashMap<String, String> = HashMap::new();
    let mut commits: Vec<PastCommit> = Vec::new();
    let mut current: Option<String> = None;
    for line in fixture.lines() {
        if let Some(rest) = line.strip_prefix("//- commit ") {
            let mut words = rest.split_whitespace();
            let fix = words.next() == Some("fix");
            commits.push(PastCommit {
                message: String::new(),
                files: words.map(str::to_owned).collect(),
                fix,
            });
            current = None;
        } else if let Some(path) = line.strip_prefix("//- /") {
            texts.insert(path.trim().to_owned(), String::new());
            current = Some(path.trim().to_owned());
        } else if let Some(path) = &current {
            if let Some(text) = texts.get_mut(path) {
                text.push_str(line);
                text.push('\n');
            }
        } else if let Some(c) = commits.last_mut() {
            c.message.push_str(line);
            c.message.push('\n');
        }
    }
    for (path, text) in &texts {
        index.set_text(path, text);
    }
    let history = History::new(commits);
    let read = |path: &str| texts.get(path).cloned();
    let sources = Sources {
        text: &read,
        history: (!history.is_empty()).then_some(&history),
    };
    let opts = LocalizeOptions {
        max_files: 4,
        max_functions: 3,
        signals: signals.to_vec(),
        ..LocalizeOptions::default()
    };
    let result = localize_with(&index, &sources, issue, &opts);
    let mut out = String::new();
    for f in &result.files {
        out.push_str(&format!("{}  {}\n", f.path, f.reason));
    }
    for f in &result.functions {
        out.push_str(&format!("fn {}::{}  {}\n", f.path, f.name, f.reason));
    }
    expect.assert_eq(&out);
}

const SHOP: &str = r#"
//- /shop/pricing.py
def bulk_discount_percent(quantity):
    """Discount tier for an order of `quantity` units."""
    if quantity > 10:
        return 5
    return 0

//- /shop/order.py
from shop.pricing import bulk_discount_percent

def order_total(price, quantity):
    return price * quantity * (100 - bulk_discount_percent(quantity)) / 100

//- /shop/errors.py
class QuoteError(Exception):
    def __init__(self):
        super().__init__("quantity must be positive")

//- /tests/test_pricing.py
from shop.pricing import bulk_discount_percent

def test_bulk_discount_percent():
    assert bulk_discount_percent(10) == 5

//- /docs/conf.py
project = "shop: discount pricing for orders"
"#;

#[test]
fn lexical_signals_and_support_files_last() {
    check(
        SHOP,
        "Bulk discount not applied at exactly 10 units: `bulk_discount_percent(10)` is 0",
        &Signal::ALL,
        expect![[r#"
            shop/pricing.py  symbols #1 (defines `bulk_discount_percent`), bm25 #1 (bulk_discount_percent), bm25-files #1
            shop/order.py  bm25 #2, bm25-files #2
            tests/test_pricing.py  bm25 #3 (test_bulk_discount_percent), bm25-files #3
            docs/conf.py  bm25 #4, bm25-files #4
            fn shop/pricing.py::bulk_discount_percent  named in the issue, bm25 #1
            fn shop/order.py::order_total  uses a name the issue gives, bm25 #4
            fn tests/test_pricing.py::test_bulk_discount_percent  uses a name the issue gives, bm25 #3
        "#]],
    );
}

#[test]
fn literals_are_found_in_the_given_texts() {
    check(
        SHOP,
        r#"Ordering -1 units fails with "quantity must be positive" instead of a quote"#,
        &[Signal::Literals],
        expect![[r#"
            shop/errors.py  literals #1 (contains "quantity must be positive")
            fn shop/errors.py::QuoteError.__init__  bm25 #2, contains a quoted string of the issue
        "#]],
    );
}

#[test]
fn history_signals() {
    let fixture = format!(
        "{SHOP}
//- commit fix shop/order.py shop/pricing.py
Fix rounding of order totals
//- commit other shop/errors.py
Add QuoteError
//- commit fix shop/order.py
Fix totals of empty orders
"
    );
    // Past commits like the issue point at the files they changed.
    check(
        &fixture,
        "order totals are rounded wrong",
        &[Signal::Commits],
        expect![[r#"
            shop/order.py  commits #1 (like "Fix rounding of order totals")
            shop/pricing.py  commits #2 (like "Fix rounding of order totals")
            fn shop/order.py::order_total  bm25 #1
            fn shop/pricing.py::bulk_discount_percent  bm25 #3
        "#]],
    );
    // The prior ranks files by past fixes, whatever the issue says.
    check(
        &fixture,
        "typo",
        &[Signal::Prior],
        expect![[r#"
        shop/order.py  prior #1 (often fixed)
        shop/pricing.py  prior #2 (often fixed)
    "#]],
    );
    // Co-change brings in the files changed together with the best ones.
    check(
        &fixture,
        "order_total",
        &[Signal::Symbols, Signal::CoChange],
        expect![[r#"
            shop/order.py  symbols #1 (defines `order_total`)
            shop/pricing.py  cochange #1 (changed with shop/order.py)
            fn shop/order.py::order_total  named in the issue, bm25 #1
            fn shop/pricing.py::bulk_discount_percent  used by a function the issue names, bm25 #3
        "#]],
    );
}

#[test]
fn equal_scores_share_their_rank() {
    let ranked: Ranked = vec![
        (0, 3.0, String::new()),
        (1, 3.0, String::new()),
        (2, 3.0, String::new()),
        (3, 1.0, String::new()),
    ];
    assert_eq!(tied_ranks(&ranked), vec![1.0, 1.0, 1.0, 3.0]);
}

#[test]
fn support_paths() {
    for (path, support) in [
        ("src/lib.rs", false),
        ("doc/md_docs.go", false),
        ("crates/core/flags/doc/man.rs", false),
        ("docs/conf.py", true),
        ("crates/ignore/examples/walk.rs", true),
        ("typing-examples/baseline.py", true),
        ("benches/parse.rs", true),
        ("tests/test.rs", true),
        ("command_test.go", true),
    ] {
        assert_eq!(is_support_path(path), support, "{path}");
    }
}

/// A file named by a compound of the issue's words (`fish_completions` for "fish shell
/// completions") ranks above the file named by one of them (`completions`).
#[test]
fn compound_module_names() {
    check(
        r#"
//- /completions.go
package cobra
func GenCompletion() {}
//- /fish_completions.go
package cobra
func genFish() {}
//- /bashCompletionsV2.go
package cobra
func genBashV2() {}
"#,
        "fix: quote args in fish shell completions",
        &[Signal::Modules],
        expect![[r#"
            fish_completions.go  modules #1 (fish_completions)
            completions.go  modules #2 (completions)
            fn fish_completions.go::genFish  bm25 #1
            fn completions.go::GenCompletion  bm25 #3
        "#]],
    );
    // The index's parts: single letters and digits are not terms.
    assert_eq!(
        super::name_parts("bashCompletionsV2"),
        ["bash", "completions"]
    );
    assert_eq!(
        super::name_parts("fish-completions"),
        ["fish", "completions"]
    );
}

const HOOKS: &str = r#"
//- /src/types/hooks.ts
/** Hooks run before a retry: a hook that throws stops the retry, and its error is thrown. */
export type BeforeRetryHook = (retryCount: number) => void;
/** The hooks of a request: called before each retry, in order; one that throws stops it. */
export interface Hooks {
    beforeRetry: BeforeRetryHook[];
}

//- /src/core/client.ts
export function retry(hooks, retryCount) {
    for (const hook of hooks.beforeRetry) {
        hook(retryCount);
    }
}
"#;

/// A file that only declares types (or a stub) ranks below the code that runs unless the issue
/// speaks of types or documentation: its doc comments match the issue's words best.
#[test]
fn declaration_files_yield_to_code_unless_the_issue_is_about_types() {
    let lexical = [Signal::Bm25, Signal::Bm25Files];
    check(
        HOOKS,
        "A hook that throws before a retry does not stop the retry",
        &lexical,
        expect![[r#"
            src/core/client.ts  bm25 #2 (retry), bm25-files #2
            src/types/hooks.ts  bm25 #1, bm25-files #1, declarations only, below code
            fn src/core/client.ts::retry  bm25 #2
        "#]],
    );
    check(
        HOOKS,
        "typing: a hook that throws before a retry does not stop the retry",
        &lexical,
        expect![[r#"
            src/types/hooks.ts  bm25 #1, bm25-files #1
            src/core/client.ts  bm25 #2 (retry), bm25-files #2
            fn src/core/client.ts::retry  bm25 #2
        "#]],
    );
}

#[test]
fn declaration_words_are_sorted() {
    assert!(super::DECLARATION_WORDS.windows(2).all(|w| w[0] < w[1]));
}

/// The title (first line) is said twice in the lexical query: here the body names the other
/// file with more words, and the title's file still comes first.
#[test]
fn the_title_weighs_more_than_the_body() {
    check(
        r#"
//- /net/retry.py
def backoff(attempt):
    """Delay before the next retry."""
    return 2 ** attempt
//- /net/timeout.py
def connect_limit(host):
    """Timeout when opening a connection."""
    return 10
"#,
        "Retry delay grows too fast\n\nSeen while opening a connection, after the timeout.",
        &[Signal::Bm25, Signal::Bm25Files],
        expect![[r#"
            net/retry.py  bm25 #1 (backoff), bm25-files #1
            net/timeout.py  bm25 #2 (connect_limit), bm25-files #2
            fn net/retry.py::backoff  bm25 #1
            fn net/timeout.py::connect_limit  bm25 #2
        "#]],
    );
}

/// A function that calls a name the issue gives ranks above one that only shares its words.
#[test]
fn functions_using_a_named_identifier_rank_higher() {
    check(
        r#"
//- /shop/coupons.py
def apply_coupon(total, coupon):
    return total - coupon.amount
//- /shop/checkout.py
from shop.coupons import apply_coupon

def describe_coupon(coupon):
    """Receipt line of a coupon: the total apply_coupon gives, the coupon's total off."""
    return f"{coupon.code}: {coupon.amount} off the total"

def pay(cart, c):
    return apply_coupon(sum(cart), c)
"#,
        "Wrong total with a coupon: `apply_coupon` is given the wrong total",
        &[Signal::Symbols, Signal::Bm25],
        expect![[r#"
            shop/coupons.py  symbols #1 (defines `apply_coupon`), bm25 #1 (apply_coupon)
            shop/checkout.py  bm25 #2 (describe_coupon)
            fn shop/coupons.py::apply_coupon  named in the issue, bm25 #1
            fn shop/checkout.py::pay  uses a name the issue gives, bm25 #4
            fn shop/checkout.py::describe_coupon  bm25 #2
        "#]],
    );
}

/// What a function the issue names calls ranks above a function that only shares its words.
#[test]
fn what_a_named_function_calls_ranks_higher() {
    check(
        r#"
//- /shop/pricing.py
def tier_percent(quantity):
    if quantity > 10:
        return 5
    return 0

def order_total(price, quantity):
    return price * quantity * (100 - tier_percent(quantity)) / 100

def receipt_line(total, quantity):
    """The order's total for its quantity of units, as a receipt line of the order."""
    return f"{quantity} units: order total {total:.2f}"
"#,
        "Wrong order total for 10 units: `order_total(price, 10)` gives no discount",
        &[Signal::Symbols, Signal::Bm25],
        expect![[r#"
            shop/pricing.py  symbols #1 (defines `order_total`), bm25 #1 (order_total)
            fn shop/pricing.py::order_total  named in the issue, bm25 #1
            fn shop/pricing.py::tier_percent  used by a function the issue names
            fn shop/pricing.py::receipt_line  bm25 #2
        "#]],
    );
}
