//! Core values → protocol values. Index spans already carry UTF-16 columns; byte offsets of an
//! open document go through its line index.

use std::path::Path;

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    DocumentSymbol, Hover, HoverContents, Location, MarkupContent, MarkupKind, Position, Range,
    SymbolInformation, SymbolKind, Uri,
};

use crate::line_index::LineIndex;
use spot_index::navigate::{HoverInfo, NavTarget};
use spot_index::query::{RefHit, SymbolHit};
use spot_index::{DefKind, FileEntry, Span};

pub fn uri(root: &Path, rel: &str) -> Option<Uri> {
    Uri::from_file_path(root.join(rel))
}

pub fn range(span: &Span) -> Range {
    Range::new(
        Position::new(span.start_line, span.start_col),
        Position::new(span.end_line, span.end_col),
    )
}

/// A range of byte offsets in `text`.
pub fn range_in(index: &LineIndex, text: &str, start: u32, end: u32) -> Range {
    let (s, e) = (index.to_utf16(text, start), index.to_utf16(text, end));
    Range::new(Position::new(s.line, s.col), Position::new(e.line, e.col))
}

pub fn symbol_kind(kind: DefKind) -> SymbolKind {
    match kind {
        DefKind::Function => SymbolKind::FUNCTION,
        DefKind::Method => SymbolKind::METHOD,
        DefKind::Class => SymbolKind::CLASS,
        DefKind::Struct => SymbolKind::STRUCT,
        DefKind::Enum => SymbolKind::ENUM,
        DefKind::EnumMember => SymbolKind::ENUM_MEMBER,
        DefKind::Interface | DefKind::Trait => SymbolKind::INTERFACE,
        DefKind::Impl => SymbolKind::OBJECT,
        DefKind::Module => SymbolKind::MODULE,
        DefKind::Constant => SymbolKind::CONSTANT,
        DefKind::Variable => SymbolKind::VARIABLE,
        DefKind::TypeAlias => SymbolKind::TYPE_PARAMETER,
        DefKind::Macro => SymbolKind::FUNCTION,
    }
}

#[allow(deprecated)] // `SymbolInformation::deprecated` must be set.
pub fn workspace_symbol(root: &Path, hit: &SymbolHit) -> Option<SymbolInformation> {
    let def = hit.def();
    Some(SymbolInformation {
        name: def.name.clone(),
        kind: symbol_kind(def.kind),
        tags: None,
        deprecated: None,
        location: Location::new(uri(root, &hit.file.path)?, range(&def.name_span)),
        container_name: hit.file.container_name(def),
    })
}

/// The file's definitions as a tree (children under their enclosing definition).
#[allow(deprecated)] // `DocumentSymbol::deprecated` must be set.
pub fn document_symbols(file: &FileEntry) -> Vec<DocumentSymbol> {
    let defs = &file.index.defs;
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); defs.len()];
    let mut roots = Vec::new();
    for (i, d) in defs.iter().enumerate() {
        match d.parent.and_then(|p| children.get_mut(p as usize)) {
            Some(siblings) => siblings.push(i),
            None => roots.push(i),
        }
    }
    fn build(file: &FileEntry, children: &[Vec<usize>], i: usize) -> Option<DocumentSymbol> {
        let d = file.index.defs.get(i)?;
        let kids: Vec<DocumentSymbol> = children
            .get(i)
            .map(|c| c.iter().filter_map(|&k| build(file, children, k)).collect())
            .unwrap_or_default();
        let name = match d.kind {
            DefKind::Impl => format!("impl {}", d.name),
            _ => d.name.clone(),
        };
        Some(DocumentSymbol {
            name,
            detail: (!d.signature.is_empty()).then(|| d.signature.clone()),
            kind: symbol_kind(d.kind),
            tags: None,
            deprecated: None,
            range: range(&d.span),
            selection_range: range(&d.name_span),
            children: (!kids.is_empty()).then_some(kids),
        })
    }
    roots
        .into_iter()
        .filter_map(|i| build(file, &children, i))
        .collect()
}

pub fn nav_location(root: &Path, t: &NavTarget) -> Option<Location> {
    Some(Location::new(uri(root, &t.path)?, range(&t.name_span)))
}

pub fn ref_location(root: &Path, r: &RefHit) -> Option<Location> {
    let start = Position::new(r.line, r.col);
    let end = Position::new(r.line, r.col + r.len);
    Some(Location::new(
        uri(root, &r.file.path)?,
        Range::new(start, end),
    ))
}

pub fn hover(info: &HoverInfo, index: &LineIndex, text: &str) -> Hover {
    let mut md = format!("```{}\n{}\n```\n", info.lang.name(), info.code);
    if let Some(doc) = &info.doc {
        md.push_str("\n---\n");
        md.push_str(doc);
        md.push('\n');
    }
    md.push_str("\n---\n");
    md.push_str(&info.detail);
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: md,
        }),
        range: Some(range_in(index, text, info.range.0, info.range.1)),
    }
}

/// A panicked or failed core call as a JSON-RPC error (logged once here).
pub fn internal_error(context: &str, message: impl std::fmt::Display) -> jsonrpc::Error {
    tracing::error!("{context}: {message}");
    jsonrpc::Error {
        code: jsonrpc::ErrorCode::InternalError,
        message: format!("{context}: {message}").into(),
        data: None,
    }
}
