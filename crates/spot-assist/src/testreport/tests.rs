//! Every captured output in `fixtures/testruns/` (a table: runner, ran, counts, failing ids with
//! kind and location), snapshots of whole reports, agreement between the forms of one run
//! (TAP and spec, text and `-json`, colour and not), and hostile or cut-off output.

use expect_test::{expect, Expect};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/testruns");

/// A fixture's output, its exit code and the directory it ran in (from its `.json`).
fn fixture(name: &str) -> (String, Option<i32>, String) {
    let out = std::fs::read_to_string(format!("{FIXTURES}/{name}.out"))
        .unwrap_or_else(|e| panic!("{name}.out: {e}"));
    let json = std::fs::read_to_string(format!("{FIXTURES}/{name}.json"))
        .unwrap_or_else(|e| panic!("{name}.json: {e}"));
    let meta: serde_json::Value = serde_json::from_str(&json).expect("the .json is JSON");
    let exit = meta
        .get("exit_code")
        .and_then(|c| c.as_i64())
        .and_then(|c| i32::try_from(c).ok());
    let ran_in = meta
        .get("ran_in")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_owned();
    (out, exit, ran_in)
}

fn loc(location: &Option<Location>) -> String {
    match location {
        Some(l) => match l.column {
            Some(c) => format!("{}:{}:{c}", l.path, l.line),
            None => format!("{}:{}", l.path, l.line),
        },
        None => "-".to_owned(),
    }
}

fn counts(c: &Counts) -> String {
    let n = |v: Option<usize>| v.map_or("-".to_owned(), |v| v.to_string());
    format!(
        "passed={} failed={} errors={} skipped={} total={}",
        n(c.passed),
        n(c.failed),
        n(c.errors),
        n(c.skipped),
        n(c.total)
    )
}

/// The whole report, frames shortened to the innermost three.
fn render(r: &TestReport) -> String {
    use std::fmt::Write;
    let mut out = format!("{:?} ran={} {}\n", r.runner, r.ran, counts(&r.counts));
    if let Some(b) = &r.broken {
        let _ = writeln!(
            out,
            "broken: {} @ {} ({} frames)",
            b.message,
            loc(&b.location),
            b.frames.len()
        );
    }
    for f in &r.failures {
        let _ = writeln!(out, "{:?} {}", f.kind, f.id);
        let _ = writeln!(
            out,
            "  name={} file={}",
            f.name,
            f.file.as_deref().unwrap_or("-")
        );
        let _ = writeln!(out, "  message={}", f.message);
        let _ = writeln!(out, "  at {}", loc(&f.location));
        let skip = f.frames.len().saturating_sub(3);
        if skip > 0 {
            let _ = writeln!(out, "  ... {skip} frames");
        }
        for fr in f.frames.iter().skip(skip) {
            let column = fr.column.map_or(String::new(), |c| format!(":{c}"));
            let function = fr.function.as_deref().unwrap_or("-");
            let _ = writeln!(
                out,
                "  {:?} {}:{}{column} {function}",
                fr.kind, fr.path, fr.line
            );
        }
    }
    out
}

fn check(name: &str, expect: Expect) {
    let (out, exit, _) = fixture(name);
    expect.assert_eq(&render(&parse(&out, exit)));
}

/// One captured output and what its report says (paths made relative to where it ran).
struct Case {
    fixture: &'static str,
    runner: Runner,
    ran: bool,
    counts: &'static str,
    broken: Option<&'static str>,
    /// `Kind id @ location`.
    failures: &'static [&'static str],
}

use Runner::*;

const UNITTEST_FAILURES: &[&str] = &[
    "Error test_pricing.MaxPriceTest.test_max_price_empty_cart @ pricing.py:28",
    "Assertion test_pricing.DiscountTest.test_bulk_discount_at_threshold @ tests/test_pricing.py:22",
];
const UNITTEST_IMPORT: &[&str] = &[
    "Error test_pricing.MaxPriceTest.test_max_price_empty_cart @ pricing.py:28",
    "Load unittest.loader._FailedTest.test_receipt @ tests/test_receipt.py:3",
    "Assertion test_pricing.DiscountTest.test_bulk_discount_at_threshold @ tests/test_pricing.py:22",
];
const PYTEST_FAILURES: &[&str] = &[
    "Assertion tests/test_pricing.py::test_bulk_discount_at_threshold @ tests/test_pricing.py:23",
    "Error tests/test_pricing.py::test_max_price_empty_cart @ pricing.py:28",
];
const PYTEST_COUNTS: &str = "passed=5 failed=2 errors=0 skipped=1 total=-";
const PYTEST_IMPORT: &[&str] = &["Load tests/test_receipt.py @ tests/test_receipt.py:1"];
const CARGO_ALL: &[&str] = &[
    "Assertion --lib tests::bulk_discount_at_threshold @ src/lib.rs:67:9",
    "Error --test checkout max_price_empty_cart @ src/lib.rs:38:26",
    "Assertion --doc src/lib.rs - bulk_discount_percent (line 25) @ src/lib.rs:25",
];
const CARGO_ALL_COUNTS: &str = "passed=7 failed=3 errors=- skipped=1 total=-";
const GO_FAILURES: &[&str] = &[
    "Assertion example.com/shop/cart.TestTotalBulkOrder @ cart_test.go:34",
    "Assertion example.com/shop/pricing.TestBulkDiscountAtThreshold @ pricing_test.go:40",
    "Error example.com/shop/pricing.TestMaxPriceEmptyCart @ pricing/pricing.go:42",
];
const NODE_FAILURES: &[&str] = &[
    "Assertion test/discounts.test.js > discounts > gives the bulk discount at the threshold @ test/discounts.test.js:18:12",
    "Error test/maxPrice.test.js > maxPrice > is zero for an empty cart @ pricing.js:28:17",
];
const NODE_BROKEN: &[&str] = &[
    "Load test/discounts.test.js @ pricing.js:20",
    "Load test/maxPrice.test.js @ pricing.js:20",
    "Load test/subtotal.test.js @ pricing.js:20",
];
const JEST_FAILURES: &[&str] = &[
    "Error __tests__/maxPrice.test.js > maxPrice > is zero for an empty cart @ pricing.js:28:17",
    "Assertion __tests__/discounts.test.js > discounts > gives the bulk discount at the threshold @ __tests__/discounts.test.js:15:45",
];
const VITEST_FAILURES: &[&str] = &[
    "Assertion test/discounts.test.ts > discounts > gives the bulk discount at the threshold @ test/discounts.test.ts:15:45",
    "Error test/maxPrice.test.ts > maxPrice > is zero for an empty cart @ src/pricing.ts:31:17",
];
const JS_COUNTS: &str = "passed=5 failed=2 errors=- skipped=1 total=8";
const JS_PASS: &str = "passed=7 failed=0 errors=- skipped=1 total=8";

const CASES: &[Case] = &[
    // unittest
    Case { fixture: "unittest/default", runner: Unittest, ran: true, counts: "passed=5 failed=1 errors=1 skipped=1 total=8", broken: None, failures: UNITTEST_FAILURES },
    Case { fixture: "unittest/verbose", runner: Unittest, ran: true, counts: "passed=5 failed=1 errors=1 skipped=1 total=8", broken: None, failures: UNITTEST_FAILURES },
    Case { fixture: "unittest/quiet", runner: Unittest, ran: true, counts: "passed=5 failed=1 errors=1 skipped=1 total=8", broken: None, failures: UNITTEST_FAILURES },
    Case { fixture: "unittest/pass", runner: Unittest, ran: true, counts: "passed=7 failed=0 errors=0 skipped=1 total=8", broken: None, failures: &[] },
    Case { fixture: "unittest/broken-import", runner: Unittest, ran: true, counts: "passed=5 failed=1 errors=2 skipped=1 total=9", broken: Some("tests/test_receipt.py:3"), failures: UNITTEST_IMPORT },
    Case { fixture: "unittest/broken-import-verbose", runner: Unittest, ran: true, counts: "passed=5 failed=1 errors=2 skipped=1 total=9", broken: Some("tests/test_receipt.py:3"), failures: UNITTEST_IMPORT },
    Case { fixture: "unittest/broken-syntax", runner: Unittest, ran: false, counts: "passed=0 failed=0 errors=1 skipped=0 total=1", broken: Some("pricing.py:19"), failures: &["Load unittest.loader._FailedTest.test_pricing @ pricing.py:19"] },
    // pytest
    Case { fixture: "pytest/default", runner: Pytest, ran: true, counts: PYTEST_COUNTS, broken: None, failures: PYTEST_FAILURES },
    Case { fixture: "pytest/quiet", runner: Pytest, ran: true, counts: PYTEST_COUNTS, broken: None, failures: PYTEST_FAILURES },
    Case { fixture: "pytest/verbose", runner: Pytest, ran: true, counts: PYTEST_COUNTS, broken: None, failures: PYTEST_FAILURES },
    Case { fixture: "pytest/tb-short", runner: Pytest, ran: true, counts: PYTEST_COUNTS, broken: None, failures: PYTEST_FAILURES },
    Case { fixture: "pytest/color", runner: Pytest, ran: true, counts: PYTEST_COUNTS, broken: None, failures: PYTEST_FAILURES },
    Case { fixture: "pytest/exitfirst", runner: Pytest, ran: true, counts: "passed=4 failed=1 errors=0 skipped=0 total=-", broken: None, failures: &["Assertion tests/test_pricing.py::test_bulk_discount_at_threshold @ tests/test_pricing.py:23"] },
    Case { fixture: "pytest/pass", runner: Pytest, ran: true, counts: "passed=7 failed=0 errors=0 skipped=1 total=-", broken: None, failures: &[] },
    Case { fixture: "pytest/setup-error", runner: Pytest, ran: true, counts: "passed=5 failed=2 errors=1 skipped=1 total=-", broken: None, failures: &[
        "Error tests/test_cart.py::test_priciest_of_empty_cart_is_free @ pricing.py:28",
        "Assertion tests/test_pricing.py::test_bulk_discount_at_threshold @ tests/test_pricing.py:23",
        "Error tests/test_pricing.py::test_max_price_empty_cart @ pricing.py:28",
    ] },
    Case { fixture: "pytest/broken-import", runner: Pytest, ran: false, counts: "passed=0 failed=0 errors=1 skipped=0 total=-", broken: Some("tests/test_receipt.py:1"), failures: PYTEST_IMPORT },
    Case { fixture: "pytest/broken-import-quiet", runner: Pytest, ran: false, counts: "passed=0 failed=0 errors=1 skipped=0 total=-", broken: Some("tests/test_receipt.py:1"), failures: PYTEST_IMPORT },
    Case { fixture: "pytest/broken-syntax", runner: Pytest, ran: false, counts: "passed=0 failed=0 errors=1 skipped=0 total=-", broken: Some("pricing.py:19"), failures: &["Load tests/test_pricing.py @ pricing.py:19"] },
    // cargo test: plain `cargo test` stops after the failing lib binary.
    Case { fixture: "cargo/default", runner: Cargo, ran: true, counts: "passed=4 failed=1 errors=- skipped=1 total=-", broken: None, failures: &["Assertion --lib tests::bulk_discount_at_threshold @ src/lib.rs:67:9"] },
    Case { fixture: "cargo/no-fail-fast", runner: Cargo, ran: true, counts: CARGO_ALL_COUNTS, broken: None, failures: CARGO_ALL },
    Case { fixture: "cargo/backtrace", runner: Cargo, ran: true, counts: CARGO_ALL_COUNTS, broken: None, failures: CARGO_ALL },
    Case { fixture: "cargo/quiet", runner: Cargo, ran: true, counts: CARGO_ALL_COUNTS, broken: None, failures: CARGO_ALL },
    Case { fixture: "cargo/pass", runner: Cargo, ran: true, counts: "passed=10 failed=0 errors=- skipped=1 total=-", broken: None, failures: &[] },
    Case { fixture: "cargo/broken-compile", runner: Cargo, ran: false, counts: "passed=- failed=- errors=- skipped=- total=-", broken: Some("src/lib.rs:32:9"), failures: &[] },
    Case { fixture: "cargo/nextest", runner: Nextest, ran: true, counts: "passed=6 failed=2 errors=- skipped=1 total=8", broken: None, failures: &[
        "Assertion pricing tests::bulk_discount_at_threshold @ src/lib.rs:67:9",
        "Error pricing::checkout max_price_empty_cart @ src/lib.rs:38:26",
    ] },
    // go test
    Case { fixture: "go/default", runner: Go, ran: true, counts: "passed=- failed=3 errors=- skipped=- total=-", broken: None, failures: GO_FAILURES },
    Case { fixture: "go/verbose", runner: Go, ran: true, counts: "passed=7 failed=3 errors=- skipped=1 total=-", broken: None, failures: GO_FAILURES },
    Case { fixture: "go/json", runner: Go, ran: true, counts: "passed=7 failed=3 errors=- skipped=1 total=-", broken: None, failures: GO_FAILURES },
    Case { fixture: "go/pass", runner: Go, ran: true, counts: "passed=- failed=0 errors=- skipped=- total=-", broken: None, failures: &[] },
    Case { fixture: "go/pass-cached", runner: Go, ran: true, counts: "passed=- failed=0 errors=- skipped=- total=-", broken: None, failures: &[] },
    Case { fixture: "go/broken-build", runner: Go, ran: false, counts: "passed=- failed=0 errors=- skipped=- total=-", broken: Some("pricing/pricing.go:34:17"), failures: &[
        "Load example.com/shop/cart @ pricing/pricing.go:34:17",
        "Load example.com/shop/pricing @ pricing/pricing.go:34:17",
    ] },
    // node --test
    Case { fixture: "node-test/default", runner: NodeTest, ran: true, counts: JS_COUNTS, broken: None, failures: NODE_FAILURES },
    Case { fixture: "node-test/spec", runner: NodeTest, ran: true, counts: JS_COUNTS, broken: None, failures: NODE_FAILURES },
    Case { fixture: "node-test/pass", runner: NodeTest, ran: true, counts: JS_PASS, broken: None, failures: &[] },
    Case { fixture: "node-test/pass-spec", runner: NodeTest, ran: true, counts: JS_PASS, broken: None, failures: &[] },
    Case { fixture: "node-test/broken-syntax", runner: NodeTest, ran: false, counts: "passed=0 failed=3 errors=- skipped=0 total=3", broken: Some("pricing.js:20"), failures: NODE_BROKEN },
    Case { fixture: "node-test/broken-syntax-spec", runner: NodeTest, ran: false, counts: "passed=0 failed=3 errors=- skipped=0 total=3", broken: Some("pricing.js:20"), failures: NODE_BROKEN },
    // jest
    Case { fixture: "jest/default", runner: Jest, ran: true, counts: JS_COUNTS, broken: None, failures: JEST_FAILURES },
    Case { fixture: "jest/verbose", runner: Jest, ran: true, counts: JS_COUNTS, broken: None, failures: JEST_FAILURES },
    Case { fixture: "jest/color", runner: Jest, ran: true, counts: JS_COUNTS, broken: None, failures: JEST_FAILURES },
    Case { fixture: "jest/npm-test", runner: Jest, ran: true, counts: JS_COUNTS, broken: None, failures: JEST_FAILURES },
    Case { fixture: "jest/pass", runner: Jest, ran: true, counts: JS_PASS, broken: None, failures: &[] },
    Case { fixture: "jest/broken-syntax", runner: Jest, ran: false, counts: "passed=0 failed=0 errors=- skipped=0 total=0", broken: Some("pricing.js:20:33"), failures: &[
        "Load __tests__/maxPrice.test.js @ pricing.js:20:33",
        "Load __tests__/subtotal.test.js @ pricing.js:20:33",
        "Load __tests__/discounts.test.js @ pricing.js:20:33",
    ] },
    // vitest
    Case { fixture: "vitest/default", runner: Vitest, ran: true, counts: JS_COUNTS, broken: None, failures: VITEST_FAILURES },
    Case { fixture: "vitest/verbose", runner: Vitest, ran: true, counts: JS_COUNTS, broken: None, failures: VITEST_FAILURES },
    Case { fixture: "vitest/pass", runner: Vitest, ran: true, counts: JS_PASS, broken: None, failures: &[] },
    Case { fixture: "vitest/broken-syntax", runner: Vitest, ran: false, counts: "passed=0 failed=0 errors=- skipped=0 total=0", broken: Some("src/pricing.ts:23:33"), failures: &[
        "Load test/discounts.test.ts @ src/pricing.ts:23:33",
        "Load test/maxPrice.test.ts @ src/pricing.ts:23:33",
        "Load test/subtotal.test.ts @ src/pricing.ts:23:33",
    ] },
];

#[test]
fn every_captured_output() {
    let mut wrong = Vec::new();
    for case in CASES {
        let (out, exit, ran_in) = fixture(case.fixture);
        let report = parse(&out, exit).relative_to(std::path::Path::new(&ran_in));
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("{:?} {} @ {}", f.kind, f.id, loc(&f.location)))
            .collect();
        let broken = report.broken.as_ref().map(|b| loc(&b.location));
        if report.runner != case.runner
            || report.ran != case.ran
            || counts(&report.counts) != case.counts
            || broken.as_deref() != case.broken
            || failures != case.failures
        {
            wrong.push(format!(
                "{}: {:?} ran={} {} broken={broken:?}\n  {}",
                case.fixture,
                report.runner,
                report.ran,
                counts(&report.counts),
                failures.join("\n  ")
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_table_holds_every_captured_output() {
    let mut on_disk = Vec::new();
    for runner in [
        "unittest",
        "pytest",
        "cargo",
        "go",
        "node-test",
        "jest",
        "vitest",
    ] {
        for entry in std::fs::read_dir(format!("{FIXTURES}/{runner}"))
            .expect("fixture dir")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(case) = name.strip_suffix(".out") {
                on_disk.push(format!("{runner}/{case}"));
            }
        }
    }
    on_disk.sort();
    let mut in_table: Vec<String> = CASES.iter().map(|c| c.fixture.to_owned()).collect();
    in_table.sort();
    assert_eq!(on_disk, in_table);
}

#[test]
fn unittest_reports() {
    check(
        "unittest/default",
        expect![[r#"
            Unittest ran=true passed=5 failed=1 errors=1 skipped=1 total=8
            Error test_pricing.MaxPriceTest.test_max_price_empty_cart
              name=test_max_price_empty_cart file=/tmp/spot-testruns/unittest/shop/tests/test_pricing.py
              message=ValueError: max() arg is an empty sequence
              at /tmp/spot-testruns/unittest/shop/pricing.py:28
              Python /tmp/spot-testruns/unittest/shop/tests/test_pricing.py:34 test_max_price_empty_cart
              Python /tmp/spot-testruns/unittest/shop/pricing.py:28 max_price
            Assertion test_pricing.DiscountTest.test_bulk_discount_at_threshold
              name=test_bulk_discount_at_threshold file=/tmp/spot-testruns/unittest/shop/tests/test_pricing.py
              message=AssertionError: 0.0 != 0.1
              at /tmp/spot-testruns/unittest/shop/tests/test_pricing.py:22
              Python /tmp/spot-testruns/unittest/shop/tests/test_pricing.py:22 test_bulk_discount_at_threshold
        "#]],
    );
    check(
        "unittest/broken-syntax",
        expect![[r#"
            Unittest ran=false passed=0 failed=0 errors=1 skipped=0 total=1
            broken: SyntaxError: expected ':' @ /tmp/spot-testruns/unittest/shop/pricing.py:19 (4 frames)
            Load unittest.loader._FailedTest.test_pricing
              name=test_pricing file=/tmp/spot-testruns/unittest/shop/tests/test_pricing.py
              message=SyntaxError: expected ':'
              at /tmp/spot-testruns/unittest/shop/pricing.py:19
              ... 1 frames
              Python /root/.pyenv/versions/3.11.7/lib/python3.11/unittest/loader.py:362 _get_module_from_name
              Python /tmp/spot-testruns/unittest/shop/tests/test_pricing.py:3 <module>
              Python /tmp/spot-testruns/unittest/shop/pricing.py:19 -
        "#]],
    );
}

#[test]
fn pytest_reports() {
    check(
        "pytest/setup-error",
        expect![[r#"
            Pytest ran=true passed=5 failed=2 errors=1 skipped=1 total=-
            Error tests/test_cart.py::test_priciest_of_empty_cart_is_free
              name=test_priciest_of_empty_cart_is_free file=tests/test_cart.py
              message=ValueError: max() arg is an empty sequence
              at pricing.py:28
              Pytest tests/test_cart.py:9 -
              Pytest pricing.py:28 -
            Assertion tests/test_pricing.py::test_bulk_discount_at_threshold
              name=test_bulk_discount_at_threshold file=tests/test_pricing.py
              message=assert 0.0 == 0.1
              at tests/test_pricing.py:23
              Pytest tests/test_pricing.py:23 -
            Error tests/test_pricing.py::test_max_price_empty_cart
              name=test_max_price_empty_cart file=tests/test_pricing.py
              message=ValueError: max() arg is an empty sequence
              at pricing.py:28
              Pytest tests/test_pricing.py:36 -
              Pytest pricing.py:28 -
        "#]],
    );
    check(
        "pytest/tb-short",
        expect![[r#"
            Pytest ran=true passed=5 failed=2 errors=0 skipped=1 total=-
            Assertion tests/test_pricing.py::test_bulk_discount_at_threshold
              name=test_bulk_discount_at_threshold file=tests/test_pricing.py
              message=assert 0.0 == 0.1
              at tests/test_pricing.py:23
              Pytest tests/test_pricing.py:23 test_bulk_discount_at_threshold
            Error tests/test_pricing.py::test_max_price_empty_cart
              name=test_max_price_empty_cart file=tests/test_pricing.py
              message=ValueError: max() arg is an empty sequence
              at pricing.py:28
              Pytest tests/test_pricing.py:36 test_max_price_empty_cart
              Pytest pricing.py:28 max_price
        "#]],
    );
    check(
        "pytest/broken-syntax",
        expect![[r#"
            Pytest ran=false passed=0 failed=0 errors=1 skipped=0 total=-
            broken: SyntaxError: expected ':' @ /tmp/spot-testruns/pytest/shop/pricing.py:19 (10 frames)
            Load tests/test_pricing.py
              name=tests/test_pricing.py file=tests/test_pricing.py
              message=SyntaxError: expected ':'
              at /tmp/spot-testruns/pytest/shop/pricing.py:19
              ... 7 frames
              Pytest /tmp/spot-testruns-venv/lib/python3.11/site-packages/_pytest/assertion/rewrite.py:185 exec_module
              Pytest tests/test_pricing.py:3 <module>
              Python /tmp/spot-testruns/pytest/shop/pricing.py:19 -
        "#]],
    );
}

#[test]
fn cargo_reports() {
    check(
        "cargo/backtrace",
        expect![[r#"
            Cargo ran=true passed=7 failed=3 errors=- skipped=1 total=-
            Assertion --lib tests::bulk_discount_at_threshold
              name=bulk_discount_at_threshold file=src/lib.rs
              message=assertion `left == right` failed: left: 0, right: 10
              at src/lib.rs:67:9
              ... 6 frames
              Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14 core::panicking::panic_fmt
              Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5 __rustc::rust_begin_unwind
              RustPanic src/lib.rs:67:9 -
            Error --test checkout max_price_empty_cart
              name=max_price_empty_cart file=tests/checkout.rs
              message=called `Option::unwrap()` on a `None` value
              at src/lib.rs:38:26
              ... 8 frames
              Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14 core::panicking::panic_fmt
              Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5 __rustc::rust_begin_unwind
              RustPanic src/lib.rs:38:26 -
            Assertion --doc src/lib.rs - bulk_discount_percent (line 25)
              name=bulk_discount_percent (line 25) file=src/lib.rs
              message=assertion `left == right` failed: left: 0, right: 10
              at src/lib.rs:25
              ... 1 frames
              Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:439:17 core::panicking::assert_failed_inner
              Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14 core::panicking::panic_fmt
              Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5 __rustc::rust_begin_unwind
        "#]],
    );
    check(
        "cargo/broken-compile",
        expect![[r#"
            Cargo ran=false passed=- failed=- errors=- skipped=- total=-
            broken: error[E0308]: mismatched types @ src/lib.rs:32:9 (0 frames)
        "#]],
    );
    check(
        "cargo/nextest",
        expect![[r#"
            Nextest ran=true passed=6 failed=2 errors=- skipped=1 total=8
            Assertion pricing tests::bulk_discount_at_threshold
              name=bulk_discount_at_threshold file=-
              message=assertion `left == right` failed: left: 0, right: 10
              at src/lib.rs:67:9
              RustPanic src/lib.rs:67:9 -
            Error pricing::checkout max_price_empty_cart
              name=max_price_empty_cart file=tests/checkout.rs
              message=called `Option::unwrap()` on a `None` value
              at src/lib.rs:38:26
              RustPanic src/lib.rs:38:26 -
        "#]],
    );
}

#[test]
fn go_reports() {
    check(
        "go/default",
        expect![[r#"
            Go ran=true passed=- failed=3 errors=- skipped=- total=-
            Assertion example.com/shop/cart.TestTotalBulkOrder
              name=TestTotalBulkOrder file=cart_test.go
              message=Total of 10 items = 1000, want 900 (10% bulk discount)
              at cart_test.go:34
            Assertion example.com/shop/pricing.TestBulkDiscountAtThreshold
              name=TestBulkDiscountAtThreshold file=pricing_test.go
              message=BulkDiscountPercent(10) = 0, want 10
              at pricing_test.go:40
            Error example.com/shop/pricing.TestMaxPriceEmptyCart
              name=TestMaxPriceEmptyCart file=/tmp/spot-testruns/go/shop/pricing/pricing_test.go
              message=panic: runtime error: index out of range [0] with length 0
              at /tmp/spot-testruns/go/shop/pricing/pricing.go:42
              ... 4 frames
              Go /usr/lib/go-1.19/src/runtime/panic.go:884 panic
              Go /usr/lib/go-1.19/src/testing/testing.go:1399 testing.tRunner.func1
              Go /usr/lib/go-1.19/src/testing/testing.go:1396 testing.tRunner.func1.2
        "#]],
    );
    check(
        "go/broken-build",
        expect![[r#"
            Go ran=false passed=- failed=0 errors=- skipped=- total=-
            broken: undefined: BulkTreshold @ pricing/pricing.go:34:17 (0 frames)
            Load example.com/shop/cart
              name=cart file=-
              message=undefined: BulkTreshold
              at pricing/pricing.go:34:17
            Load example.com/shop/pricing
              name=pricing file=-
              message=undefined: BulkTreshold
              at pricing/pricing.go:34:17
        "#]],
    );
}

#[test]
fn node_reports() {
    check(
        "node-test/default",
        expect![[r#"
            NodeTest ran=true passed=5 failed=2 errors=- skipped=1 total=8
            Assertion /tmp/spot-testruns/node-test/shop/test/discounts.test.js > discounts > gives the bulk discount at the threshold
              name=gives the bulk discount at the threshold file=/tmp/spot-testruns/node-test/shop/test/discounts.test.js
              message=AssertionError: Expected values to be strictly equal: 0 !== 10
              at /tmp/spot-testruns/node-test/shop/test/discounts.test.js:18:12
              ... 4 frames
              Js node:internal/test_runner/test:796:25 Test.run
              Js node:async_hooks:206:9 Test.runInAsyncScope
              Js /tmp/spot-testruns/node-test/shop/test/discounts.test.js:18:12 TestContext.<anonymous>
            Error /tmp/spot-testruns/node-test/shop/test/maxPrice.test.js > maxPrice > is zero for an empty cart
              name=is zero for an empty cart file=/tmp/spot-testruns/node-test/shop/test/maxPrice.test.js
              message=TypeError: Reduce of empty array with no initial value
              at /tmp/spot-testruns/node-test/shop/pricing.js:28:17
              ... 5 frames
              Js node:async_hooks:206:9 Test.runInAsyncScope
              Js /tmp/spot-testruns/node-test/shop/test/maxPrice.test.js:14:26 TestContext.<anonymous>
              Js /tmp/spot-testruns/node-test/shop/pricing.js:28:17 Object.maxPrice
        "#]],
    );
    check(
        "node-test/broken-syntax-spec",
        expect![[r#"
            NodeTest ran=false passed=0 failed=3 errors=- skipped=0 total=3
            broken: SyntaxError: Unexpected token '{' @ /tmp/spot-testruns/node-test/shop/pricing.js:20 (11 frames)
            Load test/discounts.test.js
              name=/tmp/spot-testruns/node-test/shop/test/discounts.test.js file=test/discounts.test.js
              message=SyntaxError: Unexpected token '{'
              at /tmp/spot-testruns/node-test/shop/pricing.js:20
              ... 8 frames
              Js node:internal/modules/cjs/loader:1495:20 Module._compile
              Js node:internal/modules/cjs/loader:1464:18 wrapSafe
              Js /tmp/spot-testruns/node-test/shop/pricing.js:20 -
            Load test/maxPrice.test.js
              name=/tmp/spot-testruns/node-test/shop/test/maxPrice.test.js file=test/maxPrice.test.js
              message=SyntaxError: Unexpected token '{'
              at /tmp/spot-testruns/node-test/shop/pricing.js:20
              ... 8 frames
              Js node:internal/modules/cjs/loader:1495:20 Module._compile
              Js node:internal/modules/cjs/loader:1464:18 wrapSafe
              Js /tmp/spot-testruns/node-test/shop/pricing.js:20 -
            Load test/subtotal.test.js
              name=/tmp/spot-testruns/node-test/shop/test/subtotal.test.js file=test/subtotal.test.js
              message=SyntaxError: Unexpected token '{'
              at /tmp/spot-testruns/node-test/shop/pricing.js:20
              ... 8 frames
              Js node:internal/modules/cjs/loader:1495:20 Module._compile
              Js node:internal/modules/cjs/loader:1464:18 wrapSafe
              Js /tmp/spot-testruns/node-test/shop/pricing.js:20 -
        "#]],
    );
}

#[test]
fn jest_reports() {
    check(
        "jest/default",
        expect![[r#"
            Jest ran=true passed=5 failed=2 errors=- skipped=1 total=8
            Error __tests__/maxPrice.test.js > maxPrice > is zero for an empty cart
              name=is zero for an empty cart file=__tests__/maxPrice.test.js
              message=TypeError: Reduce of empty array with no initial value
              at pricing.js:28:17
              Js __tests__/maxPrice.test.js:11:20 Object.maxPrice
              Js pricing.js:28:17 Object.reduce [as maxPrice]
            Assertion __tests__/discounts.test.js > discounts > gives the bulk discount at the threshold
              name=gives the bulk discount at the threshold file=__tests__/discounts.test.js
              message=expect(received).toBe(expected) // Object.is equality: Expected: 10, Received: 0
              at __tests__/discounts.test.js:15:45
              Js __tests__/discounts.test.js:15:45 Object.toBe
        "#]],
    );
    check(
        "jest/broken-syntax",
        expect![[r#"
            Jest ran=false passed=0 failed=0 errors=- skipped=0 total=0
            broken: SyntaxError: /tmp/spot-testruns/jest/shop/pricing.js: Unexpected token, expected ")" (20:33) @ /tmp/spot-testruns/jest/shop/pricing.js:20:33 (36 frames)
            Load __tests__/maxPrice.test.js
              name=__tests__/maxPrice.test.js file=__tests__/maxPrice.test.js
              message=SyntaxError: /tmp/spot-testruns/jest/shop/pricing.js: Unexpected token, expected ")" (20:33)
              at /tmp/spot-testruns/jest/shop/pricing.js:20:33
              ... 33 frames
              Js node_modules/@babel/parser/src/tokenizer/index.ts:1603:16 Parser.raise [as unexpected]
              Js node_modules/@babel/parser/src/tokenizer/index.ts:1563:19 Parser.toParseError [as raise]
              Js node_modules/@babel/parser/src/parse-error.ts:96:45 constructor
            Load __tests__/subtotal.test.js
              name=__tests__/subtotal.test.js file=__tests__/subtotal.test.js
              message=SyntaxError: /tmp/spot-testruns/jest/shop/pricing.js: Unexpected token, expected ")" (20:33)
              at /tmp/spot-testruns/jest/shop/pricing.js:20:33
              ... 33 frames
              Js node_modules/@babel/parser/src/tokenizer/index.ts:1603:16 Parser.raise [as unexpected]
              Js node_modules/@babel/parser/src/tokenizer/index.ts:1563:19 Parser.toParseError [as raise]
              Js node_modules/@babel/parser/src/parse-error.ts:96:45 constructor
            Load __tests__/discounts.test.js
              name=__tests__/discounts.test.js file=__tests__/discounts.test.js
              message=SyntaxError: /tmp/spot-testruns/jest/shop/pricing.js: Unexpected token, expected ")" (20:33)
              at /tmp/spot-testruns/jest/shop/pricing.js:20:33
              ... 33 frames
              Js node_modules/@babel/parser/src/tokenizer/index.ts:1603:16 Parser.raise [as unexpected]
              Js node_modules/@babel/parser/src/tokenizer/index.ts:1563:19 Parser.toParseError [as raise]
              Js node_modules/@babel/parser/src/parse-error.ts:96:45 constructor
        "#]],
    );
}

#[test]
fn vitest_reports() {
    check(
        "vitest/default",
        expect![[r#"
            Vitest ran=true passed=5 failed=2 errors=- skipped=1 total=8
            Assertion test/discounts.test.ts > discounts > gives the bulk discount at the threshold
              name=gives the bulk discount at the threshold file=test/discounts.test.ts
              message=AssertionError: expected +0 to be 10 // Object.is equality
              at test/discounts.test.ts:15:45
              Js test/discounts.test.ts:15:45 -
            Error test/maxPrice.test.ts > maxPrice > is zero for an empty cart
              name=is zero for an empty cart file=test/maxPrice.test.ts
              message=TypeError: Reduce of empty array with no initial value
              at src/pricing.ts:31:17
              Js test/maxPrice.test.ts:11:20 -
              Js src/pricing.ts:31:17 Module.maxPrice
        "#]],
    );
    check(
        "vitest/broken-syntax",
        expect![[r#"
            Vitest ran=false passed=0 failed=0 errors=- skipped=0 total=0
            broken: Error: Transform failed with 1 error: /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33: ERROR: Expected ")" but found "{" @ /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33 (5 frames)
            Load test/discounts.test.ts
              name=test/discounts.test.ts file=test/discounts.test.ts
              message=Error: Transform failed with 1 error: /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33: ERROR: Expected ")" but found "{"
              at /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33
              ... 2 frames
              Js node_modules/esbuild/lib/main.js:886:9 responseCallbacks.<computed>
              Js node_modules/esbuild/lib/main.js:1019:50 -
              Js node_modules/esbuild/lib/main.js:1752:15 failureErrorWithLog
            Load test/maxPrice.test.ts
              name=test/maxPrice.test.ts file=test/maxPrice.test.ts
              message=Error: Transform failed with 1 error: /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33: ERROR: Expected ")" but found "{"
              at /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33
              ... 2 frames
              Js node_modules/esbuild/lib/main.js:886:9 responseCallbacks.<computed>
              Js node_modules/esbuild/lib/main.js:1019:50 -
              Js node_modules/esbuild/lib/main.js:1752:15 failureErrorWithLog
            Load test/subtotal.test.ts
              name=test/subtotal.test.ts file=test/subtotal.test.ts
              message=Error: Transform failed with 1 error: /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33: ERROR: Expected ")" but found "{"
              at /tmp/spot-testruns/vitest/shop/src/pricing.ts:23:33
              ... 2 frames
              Js node_modules/esbuild/lib/main.js:886:9 responseCallbacks.<computed>
              Js node_modules/esbuild/lib/main.js:1019:50 -
              Js node_modules/esbuild/lib/main.js:1752:15 failureErrorWithLog
        "#]],
    );
}

/// The parts of a failure two forms of one run must agree on.
fn essentials(report: &TestReport) -> Vec<(String, FailureKind, String, String)> {
    report
        .failures
        .iter()
        .map(|f| (f.id.clone(), f.kind, f.message.clone(), loc(&f.location)))
        .collect()
}

fn relative(name: &str) -> TestReport {
    let (out, exit, ran_in) = fixture(name);
    parse(&out, exit).relative_to(std::path::Path::new(&ran_in))
}

#[test]
fn forms_of_one_run_agree() {
    for group in [
        &["unittest/default", "unittest/verbose", "unittest/quiet"][..],
        &["unittest/broken-import", "unittest/broken-import-verbose"],
        &[
            "pytest/default",
            "pytest/quiet",
            "pytest/verbose",
            "pytest/color",
            "pytest/tb-short",
        ],
        &["pytest/broken-import", "pytest/broken-import-quiet"],
        &["cargo/no-fail-fast", "cargo/backtrace", "cargo/quiet"],
        &["go/default", "go/verbose", "go/json"],
        &["node-test/default", "node-test/spec"],
        &["node-test/broken-syntax", "node-test/broken-syntax-spec"],
        &[
            "jest/default",
            "jest/verbose",
            "jest/color",
            "jest/npm-test",
        ],
        &["vitest/default", "vitest/verbose"],
    ] {
        let first = essentials(&relative(group[0]));
        for other in &group[1..] {
            assert_eq!(
                essentials(&relative(other)),
                first,
                "{} vs {other}",
                group[0]
            );
        }
    }
}

#[test]
fn unknown_output_is_decided_by_the_exit_code() {
    for (text, exit, ran) in [
        ("", Some(0), true),
        ("make: *** [Makefile:3: test] Error 2\n", Some(2), false),
        ("some tool printed this\n", Some(1), true),
        ("Killed\n", None, false),
    ] {
        let report = parse(text, exit);
        assert_eq!(report.runner, Runner::Unknown, "{text:?}");
        assert_eq!(report.ran, ran, "{text:?}");
        assert!(report.failures.is_empty() && report.broken.is_none());
    }
    // A program's crash is no test run.
    for trace in [
        "rust-panic.txt",
        "rust-panic-backtrace.txt",
        "python-cause.txt",
        "go-panic.txt",
        "node-error.txt",
    ] {
        let text = std::fs::read_to_string(format!("{FIXTURES}/traces/{trace}")).expect("trace");
        assert_eq!(parse(&text, Some(1)).runner, Runner::Unknown, "{trace}");
    }
}

#[test]
fn cut_off_and_hostile_output_never_panics() {
    let mut outputs = Vec::new();
    for case in CASES {
        outputs.push(fixture(case.fixture).0);
    }
    for out in &outputs {
        let cuts: Vec<usize> = out.char_indices().map(|(i, _)| i).step_by(7).collect();
        for cut in cuts {
            let (head, tail) = out.split_at(cut);
            let _ = parse(head, Some(1));
            let _ = parse(tail, Some(1));
        }
    }
    let hostile = [
        "===\nFAIL: \n---\nRan x tests\nFAILED (failures=x)\n",
        "======================================================================\nERROR: (\n",
        "== FAILURES ==\n____\n_ x _\nE\nE   \n== 1 failed in 1s ==\n",
        "running 1 test\ntest  ... FAILED\n---- ----\nfailures:\n---- x stdout ----\nthread 'x' panicked at '\n",
        "--- FAIL: \npanic: \n\t:1 +0x\nFAIL\t\n",
        "{\"Time\":1,\"Action\":\"output\",\"Output\":7}\n{\"Time\":\n--- FAIL: X (0s)\n",
        "TAP version 13\nnot ok 1 - \n  ---\n  stack: |-\n  ...\n# tests x\n",
        "▶ \n✖ \n✖ \n✖ failing tests:\ntest at \n✖ \n",
        "FAIL \n  ● \n  ● Test suite failed to run\nTests: x total\n",
        " RUN  v1\n⎯ Failed Tests 1 ⎯\n FAIL \n FAIL  [ \n Test Files \n Tests  (x)\n",
        "\u{1b}[\u{1b}]\u{1b}\r\r\n\u{0}",
    ];
    for text in hostile {
        let _ = parse(text, Some(1));
        let _ = parse(&text.repeat(1000), None);
    }
}

#[test]
fn ansi_codes_and_carriage_returns_are_stripped() {
    assert_eq!(
        clean("\u{1b}[1m\u{1b}[31mE  x\u{1b}[0m\r\nA\rB\u{1b}]0;title\u{7}C\u{1b}(B"),
        "E  x\nA\nBC"
    );
}

#[test]
fn unittest_older_headers_and_subtests() {
    let text = "\
======================================================================
FAIL: test_x (test_m.C) (i=1)
----------------------------------------------------------------------
Traceback (most recent call last):
  File \"/w/test_m.py\", line 9, in test_x
    self.assertEqual(i, 0)
AssertionError: 1 != 0

======================================================================
ERROR: setUpClass (test_m.D)
----------------------------------------------------------------------
Traceback (most recent call last):
  File \"/w/test_m.py\", line 20, in setUpClass
    raise RuntimeError(\"no db\")
RuntimeError: no db

----------------------------------------------------------------------
Ran 3 tests in 0.001s

FAILED (failures=1, errors=1)
";
    expect![[r#"
        Unittest ran=true passed=1 failed=1 errors=1 skipped=0 total=3
        Assertion test_m.C.test_x (i=1)
          name=test_x file=/w/test_m.py
          message=AssertionError: 1 != 0
          at /w/test_m.py:9
          Python /w/test_m.py:9 test_x
        Error test_m.D.setUpClass
          name=setUpClass file=/w/test_m.py
          message=RuntimeError: no db
          at /w/test_m.py:20
          Python /w/test_m.py:20 setUpClass
    "#]]
    .assert_eq(&render(&parse(text, Some(1))));
}

#[test]
fn pytest_classes_parameters_and_summaries_alone() {
    let text = "\
=================================== FAILURES ===================================
______________________________ TestCart.test_add[1.5] ______________________________

self = <test_cart.TestCart object at 0x7f>

    def test_add(self, n):
>       assert add(n) == 2
E       AssertionError: assert 2.5 == 2

tests/test_cart.py:8: AssertionError
_________________________________ test_lonely __________________________________

    def test_lonely():
>       raise KeyError('k')
E       KeyError: 'k'

tests/test_other.py:3: KeyError
=========================== short test summary info ============================
FAILED tests/test_cart.py::TestCart::test_add[1.5] - AssertionError: assert 2...
FAILED tests/test_more.py::test_cut - ZeroDivisionError: division by zero
========================= 3 failed, 1 passed in 0.01s ==========================
";
    expect![[r#"
        Pytest ran=true passed=1 failed=3 errors=0 skipped=0 total=-
        Assertion tests/test_cart.py::TestCart::test_add[1.5]
          name=test_add[1.5] file=tests/test_cart.py
          message=AssertionError: assert 2.5 == 2
          at tests/test_cart.py:8
          Pytest tests/test_cart.py:8 -
        Error tests/test_other.py::test_lonely
          name=test_lonely file=tests/test_other.py
          message=KeyError: 'k'
          at tests/test_other.py:3
          Pytest tests/test_other.py:3 -
        Error tests/test_more.py::test_cut
          name=test_cut file=tests/test_more.py
          message=ZeroDivisionError: division by zero
          at -
    "#]]
    .assert_eq(&render(&parse(text, Some(1))));
}

#[test]
fn cargo_workspaces_old_panics_and_should_panic() {
    let text = "\
     Running unittests src/lib.rs (target/debug/deps/spot_x-0123456789abcdef)

running 3 tests
test a::b::old ... FAILED
test a::c::no_panic - should panic ... FAILED
test a::d::ok ... ok

failures:

---- a::b::old stdout ----
thread 'a::b::old' panicked at 'index out of bounds: the len is 0 but the index is 0', crates/x/src/a/b.rs:10:5

---- a::c::no_panic stdout ----
note: test did not panic as expected

failures:
    a::b::old
    a::c::no_panic

test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `-p spot-x --lib`
";
    expect![[r#"
        Cargo ran=true passed=1 failed=2 errors=- skipped=0 total=-
        Error -p spot-x --lib a::b::old
          name=old file=-
          message=index out of bounds: the len is 0 but the index is 0
          at crates/x/src/a/b.rs:10:5
          RustPanic crates/x/src/a/b.rs:10:5 -
        Assertion -p spot-x --lib a::c::no_panic
          name=no_panic file=-
          message=test did not panic as expected
          at -
    "#]]
    .assert_eq(&render(&parse(text, Some(101))));
}

#[test]
fn go_subtests_and_timeouts() {
    let text = "\
--- FAIL: TestTable (0.00s)
    --- FAIL: TestTable/empty_cart (0.00s)
        table_test.go:12: got 1, want 0
    --- FAIL: TestTable/one_item (0.00s)
        table_test.go:12: got 3, want 2
FAIL
FAIL\texample.com/shop/table\t0.002s
panic: test timed out after 1s
running tests:
\tTestSlow (1s)

goroutine 7 [running]:
example.com/shop/slow.TestSlow(0xc0000a0000?)
\t/w/slow/slow_test.go:9 +0x25
FAIL\texample.com/shop/slow\t1.005s
FAIL
";
    expect![[r#"
        Go ran=true passed=- failed=1 errors=- skipped=- total=-
        Assertion example.com/shop/table.TestTable/empty_cart
          name=TestTable/empty_cart file=table_test.go
          message=got 1, want 0
          at table_test.go:12
        Assertion example.com/shop/table.TestTable/one_item
          name=TestTable/one_item file=table_test.go
          message=got 3, want 2
          at table_test.go:12
        Error example.com/shop/slow.TestSlow
          name=TestSlow file=/w/slow/slow_test.go
          message=panic: test timed out after 1s
          at /w/slow/slow_test.go:9
          Go /w/slow/slow_test.go:9 example.com/shop/slow.TestSlow
    "#]]
    .assert_eq(&render(&parse(text, Some(1))));
}

#[test]
fn failing_ids_compare_runs() {
    let before = relative("cargo/no-fail-fast");
    let after = relative("cargo/pass");
    assert_eq!(before.failing_ids().len(), 3);
    assert!(after.failing_ids().is_empty() && after.ran);
    // The TAP run (absolute paths) and the spec run (relative) name the same tests.
    assert_eq!(
        relative("node-test/default").failing_ids(),
        relative("node-test/spec").failing_ids()
    );
}

#[test]
fn a_test_printing_a_hash_line_is_no_build_block() {
    let text = "\
# progress: 3 carts
--- FAIL: TestA (0.00s)
    a_test.go:3: boom
FAIL
FAIL\texample.com/a\t0.001s
";
    let report = parse(text, Some(1));
    assert_eq!(report.failing_ids(), ["example.com/a.TestA"]);
    assert!(report.ran && report.broken.is_none());
}

#[test]
fn thousands_of_failures_stay_linear() {
    let n = 5000;
    let mut pytest = String::from("=== FAILURES ===\n");
    let mut summary = String::new();
    let mut go = String::from("--- FAIL: TestT (0.00s)\n");
    let mut cargo = String::from("running 5000 tests\n");
    for i in 0..n {
        pytest.push_str(&format!(
            "____ test_{i} ____\n\n>   assert f({i})\nE   assert 0\n\ntests/t.py:{i}: AssertionError\n"
        ));
        summary.push_str(&format!("FAILED tests/t.py::test_{i} - assert 0\n"));
        go.push_str(&format!(
            "    --- FAIL: TestT/case_{i} (0.00s)\n        t_test.go:{i}: bad\n"
        ));
        cargo.push_str(&format!("test t::case_{i} ... FAILED\n"));
    }
    pytest.push_str("=== short test summary info ===\n");
    pytest.push_str(&summary);
    pytest.push_str(&format!("=== {n} failed in 1.00s ===\n"));
    go.push_str("FAIL\nFAIL\texample.com/t\t0.1s\n");
    cargo.push_str("\nfailures:\n\ntest result: FAILED. 0 passed; 5000 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s\n");
    let started = std::time::Instant::now();
    let reports = [
        parse(&pytest, Some(1)),
        parse(&go, Some(1)),
        parse(&cargo, Some(101)),
    ];
    for report in &reports {
        assert_eq!(report.failures.len(), n, "{:?}", report.runner);
    }
    assert_eq!(
        reports[0].failures.last().map(|f| f.id.as_str()),
        Some("tests/t.py::test_4999")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
