//! Protocol values → core values, checked: a URI that is not a file, or a position past the
//! end of the text, becomes `None` (the handler answers with an empty result).

use std::path::PathBuf;

use tower_lsp_server::ls_types::{Position, Uri};

use crate::line_index::{LineIndex, Utf16Pos};

/// The file path of a `file://` URI.
pub fn path(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

/// Byte offset of a UTF-16 position in `text`.
pub fn offset(index: &LineIndex, text: &str, pos: Position) -> Option<u32> {
    index.to_offset(
        text,
        Utf16Pos {
            line: pos.line,
            col: pos.character,
        },
    )
}
