//! Repository hygiene checks: every Rust source file opens with a `//!` header saying what it
//! owns (style.md rule 1), and no file prints to stdout outside the shells.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_rust_file_has_a_module_header() {
    let mut files = Vec::new();
    for dir in ["crates", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 30, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` header: {missing:?}"
    );
}

#[test]
fn only_the_shells_write_to_stdout() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            let p = f.to_string_lossy();
            // The binary's CLI and the LSP shell own stdout.
            !p.contains("/crates/spot/src/") && !p.contains("/crates/spot-lsp/")
        })
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.contains("std::io::stdout()")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "stdout carries the protocol or results only: {offenders:?}"
    );
}
