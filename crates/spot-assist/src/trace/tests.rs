//! Frames of the real traces in `fixtures/testruns/traces/` and of pasted-issue edge cases.

use std::path::{Path, PathBuf};

use expect_test::{expect, Expect};

use super::*;

const TRACES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/testruns/traces"
);

fn render(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| {
            let column = f.column.map_or(String::new(), |c| format!(":{c}"));
            let function = f.function.as_deref().unwrap_or("-");
            format!("{:?} {}:{}{column} {function}\n", f.kind, f.path, f.line)
        })
        .collect()
}

fn render_ws(frames: &[WorkspaceFrame]) -> String {
    frames
        .iter()
        .map(|f| {
            format!(
                "{}:{} {}\n",
                f.path,
                f.line,
                f.function.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

fn check(text: &str, expect: Expect) {
    expect.assert_eq(&render(&frames(text)));
}

/// Every file under `dir`, relative and '/'-separated.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if let Ok(rel) = path.strip_prefix(base) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A `resolve` over a file list: the file equal to `tail`, else the one file ending with it.
fn resolver(files: Vec<String>) -> impl Fn(&str) -> Option<String> {
    move |tail: &str| {
        if files.iter().any(|f| f == tail) {
            return Some(tail.to_owned());
        }
        let suffix = format!("/{tail}");
        let mut found = files.iter().filter(|f| f.ends_with(&suffix));
        match (found.next(), found.next()) {
            (Some(f), None) => Some(f.clone()),
            _ => None,
        }
    }
}

/// A trace file's frames, and its workspace frames for the program's directory, found once by
/// the root the program ran in and once (as from another machine) by the files alone.
fn check_trace(name: &str, lang: &str, all: Expect, workspace: Expect) {
    let text = std::fs::read_to_string(format!("{TRACES}/{name}")).expect("fixture is readable");
    let found = frames(&text);
    all.assert_eq(&render(&found));
    let resolve = resolver(files_under(&PathBuf::from(format!("{TRACES}/{lang}"))));
    let ran_in = format!("/tmp/spot-testruns/traces/{lang}");
    let by_root = in_workspace(&found, &[Path::new(&ran_in)], &resolve);
    workspace.assert_eq(&render_ws(&by_root));
    let by_files = in_workspace(&found, &[], &resolve);
    assert_eq!(by_root, by_files, "{name}: by root and by files");
}

#[test]
fn python_chained() {
    check_trace(
        "python-chained.txt",
        "python",
        expect![[r#"
            Python /tmp/spot-testruns/traces/python/checkout.py:22 price_of
            Python /tmp/spot-testruns/traces/python/checkout.py:17 load_catalog
            Python /root/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py:346 loads
            Python /root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py:337 decode
            Python /root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py:353 raw_decode
            Python /tmp/spot-testruns/traces/python/checkout.py:36 <module>
            Python /tmp/spot-testruns/traces/python/checkout.py:32 main
            Python /tmp/spot-testruns/traces/python/checkout.py:27 price_of
        "#]],
        expect![[r#"
            checkout.py:22 price_of
            checkout.py:17 load_catalog
            checkout.py:36 <module>
            checkout.py:32 main
            checkout.py:27 price_of
        "#]],
    );
}

#[test]
fn python_cause() {
    check_trace(
        "python-cause.txt",
        "python",
        expect![[r#"
            Python /tmp/spot-testruns/traces/python/checkout.py:22 price_of
            Python /tmp/spot-testruns/traces/python/checkout.py:17 load_catalog
            Python /root/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py:346 loads
            Python /root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py:337 decode
            Python /root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py:353 raw_decode
            Python /tmp/spot-testruns/traces/python/checkout.py:36 <module>
            Python /tmp/spot-testruns/traces/python/checkout.py:32 main
            Python /tmp/spot-testruns/traces/python/checkout.py:25 price_of
        "#]],
        expect![[r#"
            checkout.py:22 price_of
            checkout.py:17 load_catalog
            checkout.py:36 <module>
            checkout.py:32 main
            checkout.py:25 price_of
        "#]],
    );
}

#[test]
fn rust_panic() {
    check_trace(
        "rust-panic.txt",
        "rust",
        expect![[r#"
            RustPanic src/main.rs:5:56 -
        "#]],
        expect![[r#"
            src/main.rs:5 -
        "#]],
    );
}

#[test]
fn rust_panic_backtrace() {
    check_trace(
        "rust-panic-backtrace.txt",
        "rust",
        expect![[r#"
            RustPanic src/main.rs:5:56 -
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5 __rustc::rust_begin_unwind
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14 core::panicking::panic_fmt
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/result.rs:1867:5 core::result::unwrap_failed
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/result.rs:1233:23 core::result::Result<T,E>::unwrap
            Rust ./src/main.rs:5:56 shop::parse_line
            Rust ./src/main.rs:11:21 shop::total::{{closure}}
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/iter/adapters/map.rs:88:28 core::iter::adapters::map::map_fold::{{closure}}
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/slice/iter/macros.rs:279:27 <core::slice::iter::Iter<T> as core::iter::traits::iterator::Iterator>::fold
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/iter/adapters/map.rs:128:19 <core::iter::adapters::map::Map<I,F> as core::iter::traits::iterator::Iterator>::fold
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/iter/adapters/map.rs:128:19 <core::iter::adapters::map::Map<I,F> as core::iter::traits::iterator::Iterator>::fold
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/iter/traits/accum.rs:50:22 <u64 as core::iter::traits::accum::Sum>::sum
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/iter/traits/iterator.rs:3658:9 core::iter::traits::iterator::Iterator::sum
            Rust ./src/main.rs:13:10 shop::total
            Rust ./src/main.rs:18:27 shop::main
            Rust /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5 core::ops::function::FnOnce::call_once
        "#]],
        expect![[r#"
            src/main.rs:5 -
            src/main.rs:5 shop::parse_line
            src/main.rs:11 shop::total::{{closure}}
            src/main.rs:13 shop::total
            src/main.rs:18 shop::main
        "#]],
    );
}

#[test]
fn go_panic() {
    check_trace(
        "go-panic.txt",
        "go",
        expect![[r#"
            Go /tmp/spot-testruns/traces/go/main.go:13 main.rank.func1
            Go /usr/lib/go-1.19/src/sort/zsortfunc.go:12 sort.insertionSort_func
            Go /usr/lib/go-1.19/src/sort/zsortfunc.go:73 sort.pdqsort_func
            Go /usr/lib/go-1.19/src/sort/slice.go:23 sort.Slice
            Go /tmp/spot-testruns/traces/go/main.go:12 main.rank
            Go /tmp/spot-testruns/traces/go/main.go:19 main.main
        "#]],
        expect![[r#"
            main.go:13 main.rank.func1
            main.go:12 main.rank
            main.go:19 main.main
        "#]],
    );
}

#[test]
fn node_error() {
    check_trace(
        "node-error.txt",
        "node",
        expect![[r#"
            Js /tmp/spot-testruns/traces/node/checkout.js:7 -
            Js /tmp/spot-testruns/traces/node/checkout.js:7:11 lineTotal
            Js /tmp/spot-testruns/traces/node/checkout.js:13:16 cartTotal
            Js /tmp/spot-testruns/traces/node/checkout.js:20:13 Object.<anonymous>
            Js node:internal/modules/cjs/loader:1521:14 Module._compile
            Js node:internal/modules/cjs/loader:1623:10 Module._extensions..js
            Js node:internal/modules/cjs/loader:1266:32 Module.load
            Js node:internal/modules/cjs/loader:1091:12 Module._load
            Js node:internal/modules/run_main:164:12 Function.executeUserEntryPoint [as runMain]
            Js node:internal/main/run_main_module:28:49 -
        "#]],
        expect![[r#"
            checkout.js:7 -
            checkout.js:7 lineTotal
            checkout.js:13 cartTotal
            checkout.js:20 Object.<anonymous>
        "#]],
    );
}

#[test]
fn ts_error() {
    check_trace(
        "ts-error.txt",
        "ts",
        expect![[r#"
            Js /tmp/spot-testruns/traces/ts/src/pricing.ts:9 -
            Js /tmp/spot-testruns/traces/ts/src/pricing.ts:9:11 lineTotal
            Js /tmp/spot-testruns/traces/ts/src/pricing.ts:15:16 cartTotal
            Js /tmp/spot-testruns/traces/ts/src/main.ts:8:23 <anonymous>
            Js node:internal/modules/esm/module_job:325:25 ModuleJob.run
            Js node:internal/modules/esm/loader:606:24 ModuleLoader.import
            Js node:internal/modules/run_main:117:5 asyncRunEntryPointWithESMLoader
        "#]],
        expect![[r#"
            src/pricing.ts:9 -
            src/pricing.ts:9 lineTotal
            src/pricing.ts:15 cartTotal
            src/main.ts:8 <anonymous>
        "#]],
    );
}

#[test]
fn every_trace_fixture_is_tested() {
    let mut names: Vec<String> = std::fs::read_dir(TRACES)
        .expect("fixtures dir")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "go-panic.txt",
            "node-error.txt",
            "python-cause.txt",
            "python-chained.txt",
            "rust-panic-backtrace.txt",
            "rust-panic.txt",
            "ts-error.txt",
        ]
    );
}

#[test]
fn pasted_into_markdown_with_quote_prefixes() {
    check(
        "It crashes:\n\n> ```\n> Traceback (most recent call last):\n>   File \"/home/alice/shop/app.py\", line 9, in <module>\n>     main()\n> >   File \"/home/alice/shop/pricing.py\", line 3, in main\n> ValueError: boom\n> ```\n\nand `File \"x.py\", line 4, in f` inline.\n",
        expect![[r#"
            Python /home/alice/shop/app.py:9 <module>
            Python /home/alice/shop/pricing.py:3 main
            Python x.py:4 f
        "#]],
    );
}

#[test]
fn windows_paths_and_paths_with_spaces() {
    check(
        concat!(
            "  File \"C:\\\\Users\\\\bob\\\\shop\\\\pricing.py\", line 12, in total\n",
            "  File \"C:\\x\\y.py\", line 3, in f\n",
            "  File \"/home/me/my project/a.py\", line 5, in g\n",
            "    at total (C:\\proj\\src\\a.js:3:9)\n",
            "    at /home/me/my project/b.js:4:2\n",
            "    at h (/home/me/my project/c.js:5:1)\n",
            "    at file:///home/me/my%20project/d.mjs:6:3\n",
            "    at file:///C:/proj/e.mjs:7:4\n",
            "             at ./my crate/src/lib.rs:8:5\n",
            "\t/home/me/go code/x.go:9 +0x1d\n",
        ),
        expect![[r#"
            Python C:\\Users\\bob\\shop\\pricing.py:12 total
            Python C:\x\y.py:3 f
            Python /home/me/my project/a.py:5 g
            Js C:\proj\src\a.js:3:9 total
            Js /home/me/my project/b.js:4:2 -
            Js /home/me/my project/c.js:5:1 h
            Js /home/me/my project/d.mjs:6:3 -
            Js C:/proj/e.mjs:7:4 -
            Rust ./my crate/src/lib.rs:8:5 -
            Go /home/me/go code/x.go:9 -
        "#]],
    );
}

#[test]
fn places_that_are_no_file_are_frames_but_not_in_the_workspace() {
    let text = concat!(
        "  File \"<stdin>\", line 1, in <module>\n",
        "  File \"<frozen importlib._bootstrap>\", line 1204, in _gcd_import\n",
        "<frozen importlib._bootstrap>:1176: in _find_and_load\n",
        "    at Array.map (<anonymous>)\n",
        "    at async Promise.all (index 0)\n",
        "    at new Promise (native)\n",
        "    at Module._compile (node:internal/modules/cjs/loader:1521:14)\n",
        "    at node:internal/main/run_main_module:28:49\n",
        "    at eval (eval at <anonymous> (/x/a.js:1:1), <anonymous>:1:1)\n",
    );
    let found = frames(text);
    expect![[r#"
        Python <stdin>:1 <module>
        Python <frozen importlib._bootstrap>:1204 _gcd_import
        Pytest <frozen importlib._bootstrap>:1176 _find_and_load
        Js node:internal/modules/cjs/loader:1521:14 Module._compile
        Js node:internal/main/run_main_module:28:49 -
    "#]]
    .assert_eq(&render(&found));
    let everything = |_: &str| Some("anything.py".to_owned());
    assert_eq!(in_workspace(&found, &[Path::new("/")], &everything), []);
}

#[test]
fn rust_forms() {
    check(
        concat!(
            "thread 'main' panicked at 'called `Option::unwrap()` on a `None` value', src/main.rs:5:56\n",
            "thread 'tests::x' (4242) panicked at crates/a b/src/lib.rs:7:9:\n",
            "stack backtrace:\n",
            "   4:     0x55d1c0a1b2c3 - shop::main::h0123456789abcdef\n",
            "                               at /home/u/shop/src/main.rs:18:27\n",
            "   5: <fn() as core::ops::function::FnOnce<()>>::call_once\n",
            "             at /rustc/abc/library/core/src/ops/function.rs:250:5\n",
            "   6: std::rt::lang_start\n",
        ),
        expect![[r#"
            RustPanic src/main.rs:5:56 -
            RustPanic crates/a b/src/lib.rs:7:9 -
            Rust /home/u/shop/src/main.rs:18:27 shop::main
            Rust /rustc/abc/library/core/src/ops/function.rs:250:5 <fn() as core::ops::function::FnOnce<()>>::call_once
        "#]],
    );
}

#[test]
fn go_and_pytest_forms() {
    check(
        concat!(
            "main.worker(0xc000010000?)\n",
            "\t/home/u/app/worker.go:40 +0x1d\n",
            "created by main.main in goroutine 1\n",
            "\t/home/u/app/main.go:12 +0x65\n",
            "testing.(*T).Run(0xc0000a0000, {0x5a1b2c, 0x4}, 0x5b0000)\n",
            "\t/usr/local/go/src/testing/testing.go:1648 +0x3ad\n",
            "tests/test_a.py:12: in test_a\n",
            "src/a.py:3: KeyError\n",
            "src/b.py:4: \n",
        ),
        expect![[r#"
            Go /home/u/app/worker.go:40 main.worker
            Go /home/u/app/main.go:12 main.main
            Go /usr/local/go/src/testing/testing.go:1648 testing.(*T).Run
            Pytest tests/test_a.py:12 test_a
            Pytest src/a.py:3 -
            Pytest src/b.py:4 -
        "#]],
    );
}

#[test]
fn prose_and_log_lines_are_not_frames() {
    check(
        concat!(
            "The error happens at 12:30 every day.\n",
            "at the moment: 3\n",
            "at line 3:4 of the config\n",
            "see utils.py:12: in the loop\n",
            "    pricing_test.go:40: BulkDiscountPercent(10) = 0, want 10\n",
            "pricing/pricing.go:34:17: undefined: BulkTreshold\n",
            "  location: '/tmp/x/test/a.test.js:17:3'\n",
            "# /tmp/x/pricing.js:20\n",
            "src/app.ts:12\n",
            " ❯ test/discounts.test.ts (4 tests | 1 failed | 1 skipped) 13ms\n",
            "tests/test_pricing.py::test_bulk FAILED    [ 62%]\n",
        ),
        expect![""],
    );
}

#[test]
fn the_number_of_frames_is_bounded_and_garbage_is_no_panic() {
    let text = "  File \"/a.py\", line 1, in f\n".repeat(MAX_FRAMES * 4);
    assert_eq!(frames(&text).len(), MAX_FRAMES);
    let garbage = format!(
        "{}\n{}\nFile \"\nFile \"x\", line \n at (:)\n❯ :\npanicked at :\n\t.go:\n:1:\n{}",
        "File \"".repeat(100_000),
        "é:1:2 at ❯ panicked at '".repeat(10_000),
        "\u{0}\u{1b}[31m>>>>\r\n".repeat(1000)
    );
    let found = frames(&garbage);
    assert!(found.len() <= MAX_FRAMES);
}

#[test]
fn innermost_last_reverses_each_innermost_first_run() {
    let text = concat!(
        "Traceback (most recent call last):\n",
        "  File \"/w/a.py\", line 1, in outer\n",
        "  File \"/w/b.py\", line 2, in inner\n",
        "thread 'main' panicked at src/x.rs:3:4:\n",
        "   0: x::inner\n",
        "             at ./src/x.rs:3:4\n",
        "   1: x::outer\n",
        "             at ./src/x.rs:9:1\n",
    );
    expect![[r#"
        Python /w/a.py:1 outer
        Python /w/b.py:2 inner
        Rust ./src/x.rs:9:1 x::outer
        Rust ./src/x.rs:3:4 x::inner
        RustPanic src/x.rs:3:4 -
    "#]]
    .assert_eq(&render(&innermost_last(&frames(text))));
}

#[test]
fn workspace_frames_by_root_or_by_tail_without_libraries() {
    let text = concat!(
        "  File \"/ws/.venv/lib/python3.11/site-packages/req/api.py\", line 1, in get\n",
        "  File \"/usr/lib/python3.11/json/decoder.py\", line 2, in decode\n",
        "  File \"/ws/src/../shop/pricing.py\", line 3, in total\n",
        "  File \"/home/alice/proj/shop/pricing.py\", line 4, in total\n",
        "  File \"C:\\\\Users\\\\bob\\\\proj\\\\shop\\\\cart.py\", line 5, in add\n",
        "  File \"/elsewhere/unknown.py\", line 6, in nope\n",
        "    at f (/ws/node_modules/lib/index.js:1:1)\n",
        "    at g (file:///ws/web/app.mjs:7:1)\n",
        "             at /home/u/.cargo/registry/src/index.crates.io-1/serde-1.0.0/src/de.rs:8:1\n",
        "             at /rustc/abc/library/core/src/option.rs:9:1\n",
        "\t/usr/local/go/src/runtime/panic.go:10 +0x1\n",
        "\t/home/u/go/pkg/mod/github.com/x/y@v1.0.0/y.go:11 +0x1\n",
        "\t/home/u/go/src/github.com/u/proj/shop/pricing_test.go:12 +0x1\n",
        "\t/tmp/scratch-1/shop/pricing_test.go:13 +0x1\n",
        "    pricing_test.go:40: not a frame\n",
    );
    let files = vec![
        "shop/pricing.py".to_owned(),
        "shop/cart.py".to_owned(),
        "shop/pricing_test.go".to_owned(),
        "web/app.mjs".to_owned(),
    ];
    let resolve = resolver(files);
    let found = in_workspace(
        &frames(text),
        &[Path::new("/ws"), Path::new("/tmp/scratch-1/")],
        &resolve,
    );
    expect![[r#"
        shop/pricing.py:3 total
        shop/pricing.py:4 total
        shop/cart.py:5 add
        web/app.mjs:7 g
        shop/pricing_test.go:12 -
        shop/pricing_test.go:13 -
    "#]]
    .assert_eq(&render_ws(&found));
    // A Go base name, as `go test` prints it, resolves by its tail.
    let base = Frame {
        path: "pricing_test.go".to_owned(),
        line: 40,
        column: None,
        function: None,
        kind: FrameKind::Go,
    };
    assert_eq!(
        in_workspace(&[base], &[], &resolve),
        [WorkspaceFrame {
            path: "shop/pricing_test.go".to_owned(),
            line: 40,
            function: None
        }]
    );
}

#[test]
fn windows_roots() {
    let found = frames("  File \"C:\\proj\\shop\\a.py\", line 3, in f\n");
    let nothing = |_: &str| None;
    assert_eq!(
        render_ws(&in_workspace(&found, &[Path::new("C:\\proj")], &nothing)),
        "shop/a.py:3 f\n"
    );
}

#[test]
fn library_paths() {
    let cases = [
        ("/usr/lib/python3.11/json/decoder.py", true),
        (
            "/root/.pyenv/versions/3.11.7/lib/python3.11/unittest/loader.py",
            true,
        ),
        ("/ws/.venv/lib/python3.12/site-packages/x.py", true),
        ("/usr/lib/python3/dist-packages/apt/x.py", true),
        ("C:\\Python311\\Lib\\json\\decoder.py", true),
        ("node_modules/@babel/parser/src/index.ts", true),
        ("node:internal/modules/cjs/loader", true),
        ("internal/modules/cjs/loader.js", true),
        ("/rustc/5980/library/core/src/panicking.rs", true),
        ("/home/u/.cargo/registry/src/x/serde/src/de.rs", true),
        (
            "/home/u/.rustup/toolchains/stable/lib/rustlib/src/rust/library/std/src/rt.rs",
            true,
        ),
        ("/usr/lib/go-1.19/src/testing/testing.go", true),
        ("/usr/local/go/src/runtime/panic.go", true),
        ("/home/u/sdk/go1.21.0/src/sort/slice.go", true),
        ("/home/u/go/pkg/mod/github.com/x/y@v1/y.go", true),
        ("<stdin>", true),
        ("/home/u/go/src/github.com/u/proj/main.go", false),
        ("/tmp/spot-testruns/go/shop/pricing/pricing.go", false),
        ("/tmp/spot-testruns/traces/python/checkout.py", false),
        ("src/lib/python_utils.py", false),
        ("pricing.js", false),
        ("./src/main.rs", false),
    ];
    for (path, library) in cases {
        assert_eq!(is_library(path), library, "{path}");
    }
}
