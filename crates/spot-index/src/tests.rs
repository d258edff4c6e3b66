//! Data-driven tests of extraction: a fixture of `//- /path` files in, a dump of what the index
//! holds out (`UPDATE_EXPECT=1` refreshes the expectations).

use expect_test::{expect, Expect};

use super::{count_parse_errors, index_text, Lang};

/// Indexes each file of `fixture` and dumps definitions (kind, qualified name, line,
/// signature, doc), chunks and a few references.
fn check(fixture: &str, expect: Expect) {
    let mut out = String::new();
    let mut files: Vec<(String, String)> = Vec::new();
    for line in fixture.lines() {
        if let Some(path) = line.strip_prefix("//- /") {
            files.push((path.trim().to_owned(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    for (path, text) in &files {
        let lang = Lang::from_path(std::path::Path::new(path)).expect("fixture language");
        let index = index_text(lang, path, text);
        out.push_str(&format!("{path}\n"));
        for d in &index.defs {
            let doc = d
                .doc
                .as_deref()
                .map(|d| format!("  /// {}", d.replace('\n', " ")))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} {} @{}:{}  `{}`{doc}\n",
                d.kind.as_str(),
                index.qualified_name(d, lang),
                d.name_span.start_line,
                d.name_span.start_col,
                d.signature,
            ));
        }
        let chunks: Vec<String> = index
            .chunks
            .iter()
            .map(|c| format!("{}-{}", c.start_line, c.end_line))
            .collect();
        out.push_str(&format!("  chunks {}\n", chunks.join(" ")));
        out.push_str(&format!("  names {}\n", index.names.join(" ")));
    }
    expect.assert_eq(&out);
}

#[test]
fn python() {
    check(
        r#"
//- /store.py
"""Module doc."""
MAX = 3
lower = 1

@dataclass
class Store:
    """A store."""

    def remove_item(self, name: str) -> None:
        """Removes."""
        def helper():
            pass
        return f"{name}"  # comment words
"#,
        expect![[r#"
            store.py
              constant MAX @1:0  `MAX = 3`
              class Store @5:6  `class Store`  /// A store.
              method Store.remove_item @8:8  `def remove_item(self, name: str) -> None`  /// Removes.
              chunks 0-7 8-12
              names MAX Store dataclass helper lower name remove_item self str
        "#]],
    );
}

#[test]
fn rust() {
    check(
        r#"
//- /lib.rs
//! Crate doc.
/// A ledger.
#[derive(Debug)]
pub struct Ledger<T> { items: Vec<T> }

impl<T: Clone> Ledger<T> {
    /// Makes one.
    pub fn new() -> Self { let s = "fn fake() {}"; Self { items: vec![] } }
}

pub trait Book { fn title(&self) -> &str; }
pub enum Kind { Asset, Liability }
const LIMIT: u32 = 10;
type Map = std::collections::HashMap<String, u32>;
mod inner { pub fn deep() {} }
macro_rules! m { () => {} }
"#,
        expect![[r#"
            lib.rs
              struct Ledger @3:11  `pub struct Ledger<T>`  /// A ledger.
              impl Ledger @5:15  `impl<T: Clone> Ledger<T>`
              method Ledger::new @7:11  `pub fn new() -> Self`  /// Makes one.
              trait Book @10:10  `pub trait Book`
              method Book::title @10:20  `fn title(&self) -> &str`
              enum Kind @11:9  `pub enum Kind`
              enum member Kind::Asset @11:16  `Asset`
              enum member Kind::Liability @11:23  `Liability`
              constant LIMIT @12:6  `const LIMIT: u32 = 10`
              type alias Map @13:5  `type Map = std::collections::HashMap<String, u32>`
              module inner @14:4  `mod inner`
              function inner::deep @14:19  `pub fn deep()`
              macro m @15:13  `macro_rules! m { () => {} }`
              chunks 0-6 7-7 8-9 10-10 11-13 14-14 15-16
              names Asset Book Clone Debug HashMap Kind LIMIT Ledger Liability Map String T Vec collections deep derive inner items m new s std str title u32 vec
        "#]],
    );
}

#[test]
fn javascript_typescript_go() {
    check(
        r#"
//- /app.js
/** Adds. */
export function add(a, b) { return a + b; }
export const mul = (a, b) => a * b;
const LIMIT = 5;
class Cart { total() { return 0; } }
//- /api.ts
export interface Order { id: number; cancel(): void }
export type Id = string;
export enum State { Open }
namespace Api { export function call(): void {} }
//- /w.tsx
export const Widget = () => <div>{title}</div>;
//- /h.go
package h

// Handler handles.
type Handler struct{ Name string }
type Getter interface { Get() string }
const Max = 3
var Default = Handler{}
func (h *Handler) Serve() {}
func New() *Handler { return nil }
"#,
        expect![[r#"
            app.js
              function add @1:16  `function add(a, b)`  /// Adds.
              function mul @2:13  `mul = (a, b) =>`
              constant LIMIT @3:6  `LIMIT = 5`
              class Cart @4:6  `class Cart`
              method Cart.total @4:13  `total()`
              chunks 0-0 1-1 2-2 3-3 4-4
              names Cart LIMIT a add b mul total
            api.ts
              interface Order @0:17  `interface Order`
              method Order.cancel @0:37  `cancel(): void`
              type alias Id @1:12  `type Id = string`
              enum State @2:12  `enum State`
              module Api @3:10  `namespace Api`
              function Api.call @3:32  `function call(): void`
              chunks 0-0 1-2 3-3
              names Api Id Open Order State call cancel id number string
            w.tsx
              function Widget @0:13  `Widget = () =>`
              chunks 0-0
              names Widget div title
            h.go
              struct Handler @3:5  `Handler struct{ Name string }`
              interface Getter @4:5  `Getter interface { Get() string }`
              method Getter.Get @4:24  `Get() string`
              constant Max @5:6  `Max = 3`
              variable Default @6:4  `Default = Handler{}`
              method Handler.Serve @7:18  `func (h *Handler) Serve()`
              function New @8:5  `func New() *Handler`
              chunks 0-3 4-4 5-6 7-7 8-8
              names Default Get Getter Handler Max Name New Serve h nil string
        "#]],
    );
}

#[test]
fn broken_code_keeps_what_parses() {
    check(
        r#"
//- /broken.py
def ok():
    return 1

def broken(:
    pass

class After:
    def m(self): pass
"#,
        expect![[r#"
            broken.py
              function ok @0:4  `def ok()`
              function broken @3:4  `def broken(`
              class After @6:6  `class After`
              method After.m @7:8  `def m(self)`
              chunks 0-1 3-4 5-6 7-7
              names After broken m ok self
        "#]],
    );
    assert_eq!(
        count_parse_errors(Lang::Python, "def f():\n    return 1\n"),
        Some(0)
    );
    assert!(count_parse_errors(Lang::Python, "def f(:\n").is_some_and(|n| n > 0));
}

/// Runs `f` on a thread of its own and fails if it has not returned within `limit`. A guard
/// against hangs only: the limit is a hundred times what the work takes, never a timing
/// assertion.
pub(crate) fn finishes<T: Send + 'static>(
    what: &str,
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: not done after {limit:?}"))
}

/// The bytes a file's entry takes in the persisted cache.
fn cached_size(index: &crate::FileIndex) -> usize {
    bincode::serde::encode_to_vec(index, bincode::config::legacy())
        .expect("a FileIndex encodes")
        .len()
}

/// Issue 19: nested definitions cost space linear in the depth, and nothing deeper than
/// `MAX_NESTING` enclosing definitions is recorded. Each definition used to store its
/// container's whole qualified name: 20,000 nested `mod a{` took a 602 MB cache entry.
#[test]
fn deep_nesting_is_bounded_in_every_language() {
    use crate::MAX_NESTING;
    type Nest = fn(usize) -> String;
    let shapes: [(&str, Nest); 4] = [
        ("deep.rs", |n| {
            format!("{}{}", "mod a{".repeat(n), "}".repeat(n))
        }),
        ("deep.ts", |n| {
            format!("{}{}", "namespace a{".repeat(n), "}".repeat(n))
        }),
        ("deep.py", |n| {
            (0..n)
                .map(|i| format!("{}class A:\n", " ".repeat(i)))
                .collect::<String>()
                + &" ".repeat(n)
                + "pass\n"
        }),
        ("deep.go", |n| {
            format!(
                "package p\ntype A interface{{{}{}}}\n",
                "interface{".repeat(n),
                "}".repeat(n)
            )
        }),
    ];
    for (path, nest) in shapes {
        let lang = Lang::from_path(std::path::Path::new(path)).expect("a known language");
        // Python's indentation makes n levels n²/2 bytes: fewer levels there.
        let n = if lang == Lang::Python { 1_000 } else { 5_000 };
        let (small, big) = (nest(n), nest(2 * n));
        let (small_index, big_index) =
            (index_text(lang, path, &small), index_text(lang, path, &big));
        let nested = match lang {
            // Go definitions do not nest beyond a type and its methods.
            Lang::Go => 1,
            _ => MAX_NESTING + 1,
        };
        assert_eq!(small_index.defs.len(), nested, "{path}: definitions kept");
        assert_eq!(big_index.defs.len(), nested, "{path}: definitions kept");
        if let Some(deepest) = big_index.defs.last().filter(|_| lang != Lang::Go) {
            let qualified = big_index.qualified_name(deepest, lang);
            let separator = lang.path_separator();
            assert_eq!(
                qualified.matches(separator).count(),
                MAX_NESTING,
                "{path}: {qualified}"
            );
        }
        // Twice the depth, at most twice the bytes (plus a little): linear, not quadratic.
        let (small_bytes, big_bytes) = (cached_size(&small_index), cached_size(&big_index));
        assert!(
            big_bytes <= 2 * small_bytes + 4096,
            "{path}: {small_bytes} bytes at depth {n}, {big_bytes} at depth {}",
            2 * n
        );
        assert!(
            big_bytes <= 8 * big.len(),
            "{path}: {big_bytes} bytes for {} bytes of text",
            big.len()
        );
    }
}

/// Issue 19: the attack's file itself, 149,000 nested `mod a{` (1.04 MB, under the size
/// limit), used to abort `spot index` and `spot lsp` on an allocation failure.
#[test]
fn the_megabyte_of_nested_modules_indexes() {
    let text = format!("{}{}", "mod a{".repeat(149_000), "}".repeat(149_000));
    let index = finishes(
        "149,000 nested modules",
        std::time::Duration::from_secs(600),
        move || index_text(Lang::Rust, "deep.rs", &text),
    );
    assert_eq!(index.defs.len(), crate::MAX_NESTING + 1);
    assert!(
        cached_size(&index) < 8 << 20,
        "{} bytes",
        cached_size(&index)
    );
}

/// Issue 19: work per definition that grew with the file made flat hostile files quadratic
/// too: the doc comment above a definition was found by `prev_sibling` (a walk down from the
/// root plus a scan of the earlier siblings: 40,000 functions under 100,000 nested blocks took
/// 258 s), UTF-16 columns re-counted their line from its start (a one-line file of 400,000
/// identifiers after a non-ASCII character: over 10 minutes), and signatures searched the rest
/// of a megabyte-long line for its end. Each shape now takes well under a second.
#[test]
fn flat_and_one_line_hostile_files_index_in_linear_time() {
    let cases: [(&str, String, usize); 3] = [
        (
            "blocks.js",
            format!(
                "{}{}{}",
                "{".repeat(100_000),
                "/** Doc. */\nfunction f(){}\n".repeat(30_000),
                "}".repeat(100_000)
            ),
            30_000,
        ),
        ("one_line.js", format!("// é\n{}", "a;".repeat(400_000)), 0),
        ("one_line.rs", "fn f(){}".repeat(130_000), 130_000),
    ];
    for (path, text, n_defs) in cases {
        let lang = Lang::from_path(std::path::Path::new(path)).expect("a known language");
        let index = finishes(path, std::time::Duration::from_secs(120), move || {
            index_text(lang, path, &text)
        });
        assert_eq!(index.defs.len(), n_defs, "{path}");
        if path == "blocks.js" {
            assert!(index.defs.iter().all(|d| d.doc.as_deref() == Some("Doc.")));
        }
        if path == "one_line.js" {
            // The last identifier: column 2 × 399,999 on line 1, in UTF-16 units.
            let last = index.refs.iter().map(|r| (r.line, r.col)).max();
            assert_eq!(last, Some((1, 799_998)));
        }
    }
}

/// UTF-16 columns from the checkpoint table agree with counting the line's characters.
#[test]
fn utf16_columns_match_a_plain_count() {
    let text = "ab\u{e9}c \u{1F600}x\n\u{4e2d}\u{6587} y\u{1F600}\u{1F600}z\n\nq".repeat(40);
    let cols = crate::extract::Columns::new(&text);
    let mut line_start = 0;
    for (row, line) in text.split('\n').enumerate() {
        for (byte_col, _) in line.char_indices().chain([(line.len(), ' ')]) {
            let expected = line[..byte_col].encode_utf16().count() as u32;
            assert_eq!(
                cols.col16(row, byte_col),
                expected,
                "row {row} byte {byte_col}"
            );
        }
        line_start += line.len() + 1;
    }
    assert_eq!(line_start, text.len() + 1);
}

/// Sets a file's modification time, as `cp -p`, `rsync -a` or `tar` do.
fn set_mtime(path: &std::path::Path, mtime: std::time::SystemTime) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open for set_modified");
    file.set_modified(mtime).expect("set the mtime");
}

/// Issue 19: a warm start used to re-read a file only if its size or mtime changed, so an edit
/// to the same size with the mtime put back (`cp -p`, `rsync -a`, `tar`) kept the old symbols.
/// The stamp now includes ctime, inode and device (git's rule), and a file read within
/// `RACY_WINDOW_NS` of its last change records no stamp at all.
#[test]
fn warm_start_sees_a_same_size_edit_with_the_mtime_restored() {
    use crate::{open, CacheStart, IndexOptions};
    use spot_base::cancel::CancelToken;

    let ws = tempfile::tempdir().expect("a temp dir");
    let data = tempfile::tempdir().expect("a temp dir");
    let root = ws.path().canonicalize().expect("canonical root");
    let file = root.join("a.py");
    let old_mtime = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::write(&file, "def old_name():\n    pass\n").expect("write");
    set_mtime(&file, old_mtime);
    // Setting the mtime changed the ctime: wait until the file is out of the racy window, so
    // that its first read records a stamp (a delay, not a timing assertion).
    std::thread::sleep(std::time::Duration::from_nanos(
        crate::walk::RACY_WINDOW_NS as u64 + 100_000_000,
    ));
    let build = |expect_loaded: bool| {
        let (index, start) = open(root.clone(), IndexOptions::default(), Some(data.path()));
        assert_eq!(
            matches!(start, CacheStart::Loaded(1)),
            expect_loaded,
            "{start:?}"
        );
        let stats = index
            .build(&CancelToken::new(), &|_| {})
            .expect("not cancelled");
        index
            .save(&crate::persist::cache_path(data.path(), &root))
            .expect("saved");
        (index, stats)
    };
    let (index, stats) = build(false);
    assert_eq!(stats.parsed, 1);
    assert_eq!(index.definitions("old_name").len(), 1);
    // An hour-old file is not racy: its stamp was recorded and vouches for it.
    assert!(index.file("a.py").is_some_and(|e| e.stamp.is_some()));
    let (_, stats) = build(true);
    assert_eq!(
        (stats.parsed, stats.reused),
        (0, 1),
        "unchanged: not read again"
    );

    let before = crate::walk::Stamp::of(&std::fs::metadata(&file).expect("stat"));
    std::fs::write(&file, "def new_name():\n    pass\n").expect("write");
    set_mtime(&file, old_mtime);
    let after = crate::walk::Stamp::of(&std::fs::metadata(&file).expect("stat"));
    assert_eq!((after.size, after.mtime_ns), (before.size, before.mtime_ns));
    assert_ne!(
        after.ctime_ns, before.ctime_ns,
        "the edit shows in the ctime only"
    );
    let (index, stats) = build(true);
    assert_eq!(stats.parsed, 1, "the edit is seen");
    assert_eq!(index.definitions("new_name").len(), 1);
    assert!(index.definitions("old_name").is_empty());

    // A file just written is read without a stamp: the next start compares its content.
    std::fs::write(&file, "def newer_name():\n    pass\n").expect("write");
    let loaded = crate::walk::read_text(&file, 1 << 20).expect("readable");
    assert_eq!(loaded.stamp, None, "racy: changed within the window");
    let (index, _) = build(true);
    assert!(index.file("a.py").is_some_and(|e| e.stamp.is_none()));
}

#[test]
fn stamps_are_racy_within_the_window_and_in_the_future() {
    use crate::walk::{Stamp, RACY_WINDOW_NS};
    let now = 1_700_000_000_000_000_000;
    let at = |mtime_ns: i64, ctime_ns: i64| Stamp {
        mtime_ns,
        ctime_ns,
        ..Stamp::default()
    };
    assert!(!at(now - RACY_WINDOW_NS - 1, now - RACY_WINDOW_NS - 1).is_racy(now));
    assert!(at(now - RACY_WINDOW_NS + 1, 0).is_racy(now));
    assert!(
        at(0, now - 1).is_racy(now),
        "a recent ctime (chmod, rename, link) counts"
    );
    assert!(
        at(now + 5_000_000_000, 0).is_racy(now),
        "a time in the future counts"
    );
}
