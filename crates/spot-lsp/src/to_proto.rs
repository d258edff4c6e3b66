//! Core values → protocol values. Index spans already carry UTF-16 columns; byte offsets of an
//! open document go through its line index. Nothing here recurses on the depth of the
//! workspace's code (document symbols are built bottom-up from the parent links).

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

/// The file's definitions as a tree (children under their enclosing definition). Built without
/// recursion: a parent always precedes its children in `defs`, so building the symbols from the
/// last definition to the first finds every symbol's children already built. (The index records
/// nothing nested deeper than `spot_index::MAX_NESTING`, so the result, which serde walks
/// recursively, stays shallow too.)
#[allow(deprecated)] // `DocumentSymbol::deprecated` must be set.
pub fn document_symbols(file: &FileEntry) -> Vec<DocumentSymbol> {
    let defs = &file.index.defs;
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); defs.len()];
    let mut roots = Vec::new();
    for (i, d) in defs.iter().enumerate() {
        // A link that does not point backwards (never written by the extractor) makes a root.
        let parent = d.parent.map(|p| p as usize).filter(|&p| p < i);
        match parent.and_then(|p| children.get_mut(p)) {
            Some(siblings) => siblings.push(i),
            None => roots.push(i),
        }
    }
    let mut built: Vec<Option<DocumentSymbol>> = vec![None; defs.len()];
    for (i, d) in defs.iter().enumerate().rev() {
        let kids: Vec<DocumentSymbol> = children
            .get(i)
            .map(|c| {
                c.iter()
                    .filter_map(|&k| built.get_mut(k).and_then(Option::take))
                    .collect()
            })
            .unwrap_or_default();
        let name = match d.kind {
            DefKind::Impl => format!("impl {}", d.name),
            _ => d.name.clone(),
        };
        if let Some(slot) = built.get_mut(i) {
            *slot = Some(DocumentSymbol {
                name,
                detail: (!d.signature.is_empty()).then(|| d.signature.clone()),
                kind: symbol_kind(d.kind),
                tags: None,
                deprecated: None,
                range: range(&d.span),
                selection_range: range(&d.name_span),
                children: (!kids.is_empty()).then_some(kids),
            });
        }
    }
    roots
        .into_iter()
        .filter_map(|i| built.get_mut(i).and_then(Option::take))
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
