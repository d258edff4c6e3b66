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
                d.qualified_name(lang),
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
