//! Open documents: the editor's text of each file, with changes applied strictly in order.
//!
//! didChange may carry full-text or incremental (UTF-16 range) changes. Each application is a
//! short critical section under one lock, done synchronously when the handler is first polled,
//! so changes apply in the order they were received; a change with a version older than the
//! document's is logged and dropped instead of corrupting the text.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tower_lsp_server::ls_types::{TextDocumentContentChangeEvent, Uri};

use crate::line_index::{LineIndex, Utf16Pos};

/// One open document.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: Arc<str>,
    pub version: i32,
    pub line_index: Arc<LineIndex>,
}

#[derive(Debug, Default)]
pub struct Documents {
    map: Mutex<HashMap<Uri, Document>>,
}

/// Why a change was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("change for a document that is not open")]
    NotOpen,
    #[error("stale change: version {got} after version {current}")]
    Stale { got: i32, current: i32 },
    #[error("change range line {line} is past the end of the document")]
    BadRange { line: u32 },
}

impl Documents {
    pub fn open(&self, uri: Uri, text: String, version: i32) -> Document {
        let doc = Document {
            line_index: Arc::new(LineIndex::new(&text)),
            text: Arc::from(text),
            version,
        };
        self.map.lock().insert(uri, doc.clone());
        doc
    }

    pub fn close(&self, uri: &Uri) -> Option<Document> {
        self.map.lock().remove(uri)
    }

    pub fn get(&self, uri: &Uri) -> Option<Document> {
        self.map.lock().get(uri).cloned()
    }

    /// The open documents' URIs.
    pub fn uris(&self) -> Vec<Uri> {
        self.map.lock().keys().cloned().collect()
    }

    pub fn version(&self, uri: &Uri) -> Option<i32> {
        self.map.lock().get(uri).map(|d| d.version)
    }

    /// Applies `changes` in order and returns the new document. On error nothing changes.
    pub fn change(
        &self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> Result<Document, ChangeError> {
        let mut map = self.map.lock();
        let doc = map.get_mut(uri).ok_or(ChangeError::NotOpen)?;
        if version < doc.version {
            return Err(ChangeError::Stale {
                got: version,
                current: doc.version,
            });
        }
        let mut text = doc.text.to_string();
        let mut index = LineIndex::new(&text);
        for change in changes {
            match change.range {
                None => text = change.text,
                Some(range) => {
                    let start = to_offset(&index, &text, range.start.line, range.start.character)?;
                    let end = to_offset(&index, &text, range.end.line, range.end.character)?;
                    let (start, end) = (start.min(end) as usize, start.max(end) as usize);
                    if text.get(start..end).is_none() {
                        return Err(ChangeError::BadRange {
                            line: range.start.line,
                        });
                    }
                    text.replace_range(start..end, &change.text);
                }
            }
            index = LineIndex::new(&text);
        }
        doc.text = Arc::from(text);
        doc.line_index = Arc::new(index);
        doc.version = version;
        Ok(doc.clone())
    }
}

/// A position as a byte offset; a position one line past the end (a range ending after the last
/// newline) maps to the end of the text.
fn to_offset(index: &LineIndex, text: &str, line: u32, col: u32) -> Result<u32, ChangeError> {
    match index.to_offset(text, Utf16Pos { line, col }) {
        Some(o) => Ok(o),
        None if line == index.line_count() => Ok(text.len() as u32),
        None => Err(ChangeError::BadRange { line }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{Position, Range};

    fn change(sl: u32, sc: u32, el: u32, ec: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(sl, sc), Position::new(el, ec))),
            range_length: None,
            text: text.to_owned(),
        }
    }

    #[test]
    fn incremental_changes_apply_in_order_with_utf16_columns() {
        let docs = Documents::default();
        let uri: Uri = "file:///w/a.py".parse().unwrap();
        docs.open(uri.clone(), "s = \"🦀\"\nx = 1\n".to_owned(), 1);
        // After the crab (2 UTF-16 units) insert "!", then rewrite line 2.
        let doc = docs
            .change(
                &uri,
                2,
                vec![change(0, 7, 0, 7, "!"), change(1, 4, 1, 5, "42")],
            )
            .unwrap();
        assert_eq!(&*doc.text, "s = \"🦀!\"\nx = 42\n");
        assert_eq!(
            docs.change(&uri, 1, vec![change(0, 0, 0, 0, "z")]).err(),
            Some(ChangeError::Stale { got: 1, current: 2 })
        );
        assert_eq!(
            docs.change(&uri, 3, vec![change(9, 0, 9, 0, "z")]).err(),
            Some(ChangeError::BadRange { line: 9 })
        );
        let doc = docs
            .change(&uri, 4, vec![change(2, 0, 2, 0, "end\n")])
            .unwrap();
        assert_eq!(&*doc.text, "s = \"🦀!\"\nx = 42\nend\n");
    }
}
