//! Core values → protocol values: index results, and the assists' results as `ext.rs` types
//! (a patch's verdict and evidence, a localization, line edits). Index spans already carry
//! UTF-16 columns; byte offsets of an open document go through its line index. Nothing here
//! recurses on the depth of the workspace's code (document symbols are built bottom-up from the
//! parent links).

use std::path::Path;

use similar::{DiffTag, TextDiff};
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    DocumentSymbol, Hover, HoverContents, Location, MarkupContent, MarkupKind, Position, Range,
    SymbolInformation, SymbolKind, TextEdit, Uri, WorkspaceEdit,
};

use crate::ext;
use crate::line_index::LineIndex;
use spot_assist::localize::Localization;
use spot_assist::patch::{Patch, PatchSource};
use spot_assist::repair::{Evidence, TestEvidence, Verdict};
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

/// A patch as `spot.issueToPatch` reports it.
pub fn patch_result(
    patch: &Patch,
    edit: WorkspaceEdit,
    status: ext::PatchStatus,
    reason: Option<String>,
) -> ext::PatchResult {
    ext::PatchResult {
        status,
        diff: patch.diff.clone(),
        files: patch.edits.iter().map(|e| e.path.clone()).collect(),
        edit,
        candidates: patch.candidates,
        source: match patch.source {
            PatchSource::Answer => ext::PatchSource::Answer,
            PatchSource::OneLineEdit { .. } => ext::PatchSource::OneLineEdit,
            PatchSource::TestedEdit { .. } => ext::PatchSource::TestedEdit,
        },
        verdict: verdict(patch.verdict),
        verdict_text: patch.verdict_text(),
        tests: patch.tests.as_ref().map(test_summary),
        evidence: patch.evidence.iter().map(|e| evidence(*e)).collect(),
        summary: patch.summary(),
        reason,
    }
}

pub fn verdict(v: Verdict) -> ext::Verdict {
    match v {
        Verdict::FixesFailingTests => ext::Verdict::FixesFailingTests,
        Verdict::PassesTests => ext::Verdict::PassesTests,
        Verdict::Unverified => ext::Verdict::Unverified,
    }
}

fn evidence(e: Evidence) -> ext::Evidence {
    match e {
        Evidence::FailingTests => ext::Evidence::FailingTests,
        Evidence::TestFrames => ext::Evidence::TestFrames,
        Evidence::Coverage => ext::Evidence::Coverage,
        Evidence::IssueFrames => ext::Evidence::IssueFrames,
        Evidence::ReproductionTest => ext::Evidence::ReproductionTest,
        Evidence::Text => ext::Evidence::Text,
        Evidence::Model => ext::Evidence::Model,
    }
}

fn test_summary(t: &TestEvidence) -> ext::TestSummary {
    ext::TestSummary {
        command: t.command.clone(),
        runner: t.runner.clone(),
        failing_before: t.failing_before.clone(),
        passed_before: t.passed_before,
        passed_after: t.passed_after,
        unusable: t.unusable.clone(),
        reproduction: t.reproduction.clone(),
    }
}

/// A localization as `spot.localize` reports it; a function's range is its whole lines.
pub fn localization(root: &Path, loc: &Localization) -> ext::LocalizeResult {
    ext::LocalizeResult {
        files: loc
            .files
            .iter()
            .map(|f| ext::LocalizedFile {
                path: f.path.clone(),
                uri: uri(root, &f.path),
                score: f.score,
                reason: f.reason.clone(),
            })
            .collect(),
        functions: loc
            .functions
            .iter()
            .map(|f| ext::LocalizedFunction {
                name: f.name.clone(),
                path: f.path.clone(),
                uri: uri(root, &f.path),
                range: Range::new(
                    Position::new(f.start_line.saturating_sub(1), 0),
                    Position::new(f.end_line, 0),
                ),
                score: f.score,
            })
            .collect(),
    }
}

/// Line-granular text edits turning `before` into `after`.
pub fn line_edits(before: &str, after: &str) -> Vec<TextEdit> {
    let diff = TextDiff::from_lines(before, after);
    let new: Vec<&str> = after.split_inclusive('\n').collect();
    // Byte offset of each old line start, plus the end of the text.
    let mut starts = vec![0usize];
    starts.extend(before.match_indices('\n').map(|(i, _)| i + 1));
    if *starts.last().unwrap_or(&0) != before.len() {
        starts.push(before.len());
    }
    let li = LineIndex::new(before);
    let pos = |line: usize| {
        let offset = starts.get(line).copied().unwrap_or(before.len());
        let p = li.to_utf16(before, offset as u32);
        Position::new(p.line, p.col)
    };
    diff.ops()
        .iter()
        .filter(|op| op.tag() != DiffTag::Equal)
        .map(|op| {
            let (o, n) = (op.old_range(), op.new_range());
            TextEdit {
                range: Range::new(pos(o.start), pos(o.end)),
                new_text: new.get(n).map(|lines| lines.concat()).unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(before: &str, edits: &[TextEdit]) -> String {
        // Apply back to front, line-based positions (column 0 or end of the last line).
        let li = LineIndex::new(before);
        let mut text = before.to_owned();
        for e in edits.iter().rev() {
            let off = |p: Position| {
                li.to_offset(
                    before,
                    crate::line_index::Utf16Pos {
                        line: p.line,
                        col: p.character,
                    },
                )
                .unwrap_or(before.len() as u32) as usize
            };
            text.replace_range(off(e.range.start)..off(e.range.end), &e.new_text);
        }
        text
    }

    #[test]
    fn line_edits_reproduce_the_new_text() {
        for (before, after) in [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb\nc\n", "a\nc\n"),
            ("a\nb\nc\n", "x\na\nb\nc\ny\n"),
            ("a\nb", "a\nc"),
            ("", "new\n"),
            ("a\n", "a\nb\n"),
        ] {
            assert_eq!(
                apply(before, &line_edits(before, after)),
                after,
                "{before:?} -> {after:?}"
            );
        }
    }
}
