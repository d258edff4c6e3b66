//! What the index knows about one file: definitions, references, chunks and BM25 postings.
//!
//! Plain data, serialisable for the persisted cache. Offsets are UTF-8 byte offsets into the
//! indexed text; lines and columns are zero-based, columns in UTF-16 code units (LSP's default
//! position encoding, computed once at index time). A definition links to its enclosing one by
//! index; qualified names (`Store.remove_item`) are built from the links where they are shown,
//! so an entry's size is linear in its file's, and nothing nested deeper than [`MAX_NESTING`]
//! definitions is recorded.

use serde::{Deserialize, Serialize};

use super::lang::Lang;
use super::walk::Stamp;

/// Definitions nested in more than this many enclosing definitions are not recorded (nor is
/// anything inside them): a hostile file of 100,000 nested `mod a{` must not cost more than a
/// flat one. Real code nests a handful of levels.
pub const MAX_NESTING: usize = 64;

/// Kinds of definitions, mirroring the LSP symbol kinds spot reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DefKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    EnumMember,
    Interface,
    Trait,
    Impl,
    Module,
    Constant,
    Variable,
    TypeAlias,
    Macro,
}

impl DefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DefKind::Function => "function",
            DefKind::Method => "method",
            DefKind::Class => "class",
            DefKind::Struct => "struct",
            DefKind::Enum => "enum",
            DefKind::EnumMember => "enum member",
            DefKind::Interface => "interface",
            DefKind::Trait => "trait",
            DefKind::Impl => "impl",
            DefKind::Module => "module",
            DefKind::Constant => "constant",
            DefKind::Variable => "variable",
            DefKind::TypeAlias => "type alias",
            DefKind::Macro => "macro",
        }
    }

    /// Functions and methods: the units code chunks are made of.
    pub fn is_callable(self) -> bool {
        matches!(self, DefKind::Function | DefKind::Method)
    }

    /// Types and other things that hold members.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            DefKind::Class
                | DefKind::Struct
                | DefKind::Enum
                | DefKind::Interface
                | DefKind::Trait
                | DefKind::Impl
                | DefKind::Module
        )
    }
}

/// A range in a file: byte offsets plus the zero-based line and UTF-16 column of both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

impl Span {
    pub fn contains(&self, offset: u32) -> bool {
        self.start <= offset && offset <= self.end
    }
}

/// A definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Def {
    pub name: String,
    pub kind: DefKind,
    /// Index of the enclosing definition in [`FileIndex::defs`] (always a smaller index). The
    /// qualified name is built from these links when it is shown
    /// ([`FileIndex::qualified_name`]); no definition stores its container's name, so the index
    /// of deeply nested code stays linear in the file's size.
    pub parent: Option<u32>,
    /// A container that is not a definition of the file: the receiver type of a Go method
    /// (`Handler` for `func (h *Handler) Serve()`).
    pub receiver: Option<String>,
    /// The whole definition, including its body (and Python decorators).
    pub span: Span,
    /// Just the name.
    pub name_span: Span,
    /// The declaration line(s) up to the body, whitespace collapsed, at most 200 characters.
    pub signature: String,
    /// The doc comment or docstring, markers stripped.
    pub doc: Option<String>,
}

/// An identifier occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// Index into [`FileIndex::names`].
    pub name: u32,
    pub start: u32,
    pub line: u32,
    pub col: u32,
    /// Index of the innermost enclosing definition, `u32::MAX` at top level.
    pub enclosing: u32,
}

/// A function-level code chunk, the unit of lexical search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The function or method this chunk is, `u32::MAX` for top-level code between functions.
    pub def: u32,
    pub start: u32,
    pub end: u32,
    pub start_line: u32,
    pub end_line: u32,
    /// Number of tokens (BM25 document length).
    pub len: u32,
}

/// One BM25 posting: term (hashed) → chunk, with the term frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Posting {
    pub term: u64,
    pub chunk: u32,
    pub tf: u32,
}

/// Everything extracted from one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIndex {
    pub defs: Vec<Def>,
    /// Distinct identifier names of the file, sorted.
    pub names: Vec<String>,
    /// Sorted by (name, start).
    pub refs: Vec<Ref>,
    pub chunks: Vec<Chunk>,
    /// Sorted by (term, chunk).
    pub postings: Vec<Posting>,
    /// Number of ERROR or MISSING nodes in the parse (a broken parse is normal input).
    pub n_errors: u32,
    pub n_lines: u32,
    /// Lookup tables derived from the above on a query's first use.
    #[serde(skip)]
    pub lookup: Lookup,
}

/// Tables a query derives from a [`FileIndex`] the first time it needs them: not persisted,
/// not compared, not cloned (a clone derives its own).
#[derive(Debug, Default)]
pub struct Lookup(std::sync::OnceLock<LookupTables>);

impl Clone for Lookup {
    fn clone(&self) -> Self {
        Lookup::default()
    }
}

impl PartialEq for Lookup {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Lookup {}

/// See [`Lookup`]. Queries over every file of a workspace (references, workspace symbols) read
/// these instead of the names themselves: on tokio's 793 files, binary searches over each
/// file's name strings and byte scans of every definition's name were most of their time.
#[derive(Debug)]
pub struct LookupTables {
    /// (xxh3 of the name, its index in `names`), sorted.
    name_hashes: Vec<(u64, u32)>,
    /// For each definition, the set of characters of its name (see [`char_set`]).
    def_chars: Vec<u64>,
}

/// The characters of `s` as a set of bits: one per ASCII letter (either case), digit and `_`,
/// one for any other ASCII byte, and bit 63 for any non-ASCII byte (then the set says nothing
/// about the name's letters: a non-ASCII letter may lowercase to an ASCII one).
pub fn char_set(s: &[u8]) -> u64 {
    s.iter().fold(0, |set, &c| {
        set | 1
            << match c.to_ascii_lowercase() {
                c @ b'a'..=b'z' => c - b'a',
                c @ b'0'..=b'9' => 26 + c - b'0',
                b'_' => 36,
                c if c.is_ascii() => 37,
                _ => 63,
            }
    })
}

impl LookupTables {
    /// May the definition `def` have a name in which `needle` (the [`char_set`] of a query) is a
    /// subsequence? False only when a character is missing for certain.
    pub fn may_contain(&self, def: usize, needle: u64) -> bool {
        self.def_chars
            .get(def)
            .is_none_or(|&set| set & 1 << 63 != 0 || set & needle == needle)
    }
}

impl FileIndex {
    /// The derived lookup tables, built on first use.
    pub fn lookup(&self) -> &LookupTables {
        self.lookup.0.get_or_init(|| {
            let mut name_hashes: Vec<(u64, u32)> = self
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| (xxhash_rust::xxh3::xxh3_64(n.as_bytes()), i as u32))
                .collect();
            name_hashes.sort_unstable();
            LookupTables {
                name_hashes,
                def_chars: self
                    .defs
                    .iter()
                    .map(|d| char_set(d.name.as_bytes()))
                    .collect(),
            }
        })
    }

    /// Index of `name` in [`names`](Self::names).
    pub fn name_id(&self, name: &str) -> Option<u32> {
        let hashes = &self.lookup().name_hashes;
        let hash = xxhash_rust::xxh3::xxh3_64(name.as_bytes());
        let from = hashes.partition_point(|&(h, _)| h < hash);
        hashes[from..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .map(|&(_, id)| id)
            .find(|&id| self.names.get(id as usize).is_some_and(|n| n == name))
    }

    /// All occurrences of `name` in this file.
    pub fn refs_named(&self, name: &str) -> &[Ref] {
        let Some(id) = self.name_id(name) else {
            return &[];
        };
        let lo = self.refs.partition_point(|r| r.name < id);
        let hi = self.refs.partition_point(|r| r.name <= id);
        self.refs.get(lo..hi).unwrap_or(&[])
    }

    /// Postings of one term.
    pub fn postings_of(&self, term: u64) -> &[Posting] {
        let lo = self.postings.partition_point(|p| p.term < term);
        let hi = self.postings.partition_point(|p| p.term <= term);
        self.postings.get(lo..hi).unwrap_or(&[])
    }

    /// `Outer.Inner.name` (with the language's separator): the names of `def`'s enclosing
    /// definitions, followed up the parent links, or a Go method's receiver type. At most
    /// [`MAX_NESTING`] links are followed (the extractor records nothing deeper), so a corrupt
    /// link cannot loop.
    pub fn qualified_name(&self, def: &Def, lang: Lang) -> String {
        let mut parts: Vec<&str> = vec![def.name.as_str()];
        let mut cur = def;
        loop {
            if let Some(receiver) = &cur.receiver {
                parts.push(receiver);
                break;
            }
            let Some(parent) = cur.parent.and_then(|p| self.defs.get(p as usize)) else {
                break;
            };
            if parts.len() > MAX_NESTING {
                break;
            }
            parts.push(&parent.name);
            cur = parent;
        }
        parts.reverse();
        parts.join(lang.path_separator())
    }

    /// The qualified name of what encloses `def` (`Store` for `Store.remove_item`), if anything.
    pub fn container_name(&self, def: &Def, lang: Lang) -> Option<String> {
        if let Some(receiver) = &def.receiver {
            return Some(receiver.clone());
        }
        let parent = def.parent.and_then(|p| self.defs.get(p as usize))?;
        Some(self.qualified_name(parent, lang))
    }

    /// The innermost definition whose span contains `offset`.
    pub fn def_at(&self, offset: u32) -> Option<(u32, &Def)> {
        self.defs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.span.contains(offset))
            .min_by_key(|(_, d)| d.span.end - d.span.start)
            .map(|(i, d)| (i as u32, d))
    }
}

impl FileEntry {
    /// [`FileIndex::qualified_name`] in this file's language.
    pub fn qualified_name(&self, def: &Def) -> String {
        self.index.qualified_name(def, self.lang)
    }

    /// [`FileIndex::container_name`] in this file's language.
    pub fn container_name(&self, def: &Def) -> Option<String> {
        self.index.container_name(def, self.lang)
    }
}

/// A file of the workspace as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    pub lang: Lang,
    /// xxh3 of the content that was indexed.
    pub hash: u64,
    pub size: u64,
    /// The file's stamp when it was read from disk. `None` for editor buffers and text from
    /// elsewhere, and when the file had just changed (a racy read): then the next warm start
    /// compares the content.
    pub stamp: Option<Stamp>,
    pub index: FileIndex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_names_and_rules_out_definitions_by_their_characters() {
        let index = crate::index_text(
            crate::Lang::Python,
            "m.py",
            "def remove_item(x):\n    return x\n\ndef café():\n    return remove_item(1)\n",
        );
        let id = index.name_id("remove_item").unwrap();
        assert_eq!(index.names[id as usize], "remove_item");
        assert_eq!(index.refs_named("remove_item").len(), 2);
        assert_eq!(index.name_id("remove_items"), None);
        let lookup = index.lookup();
        let def = |name: &str| index.defs.iter().position(|d| d.name == name).unwrap();
        assert!(lookup.may_contain(def("remove_item"), char_set(b"rmIT")));
        assert!(!lookup.may_contain(def("remove_item"), char_set(b"rmz")));
        // A non-ASCII name is never ruled out by its characters.
        assert!(lookup.may_contain(def("café"), char_set(b"xyz")));
        // Clones and round trips compare equal whether or not the tables were built.
        assert_eq!(index.clone(), index);
    }
}
