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
}

impl FileIndex {
    /// Index of `name` in [`names`](Self::names).
    pub fn name_id(&self, name: &str) -> Option<u32> {
        self.names
            .binary_search_by(|n| n.as_str().cmp(name))
            .ok()
            .map(|i| i as u32)
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
