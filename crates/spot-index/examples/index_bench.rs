//! Measurements for `bench/index_bench.py` that need the library in-process:
//!
//! - `floor DIR`: the parse-only floor — walk and read the workspace like `spot index`, then
//!   only parse every file with tree-sitter on all cores (no extraction, no BM25, no cache).
//! - `reindex DIR N`: re-index N files (chosen deterministically) as an editor save would, and
//!   print the p50/p99 of one re-index in milliseconds.
//!
//! Output is one JSON object on stdout.

#![allow(clippy::print_stdout)]

use std::time::Instant;

use rayon::prelude::*;
use spot_base::cancel::CancelToken;
use spot_index::{walk, Index, IndexOptions, Lang, DEFAULT_MAX_FILE_SIZE};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: index_bench floor DIR | reindex DIR [N]");
        std::process::exit(2);
    };
    let root = std::path::Path::new(dir)
        .canonicalize()
        .expect("DIR exists");
    match mode.as_str() {
        "floor" => floor(&root),
        "symbols" => symbols(&root),
        "profile" => profile(&root, args.get(2).map(String::as_str).unwrap_or("")),
        "reindex" => reindex(
            &root,
            args.get(2).and_then(|n| n.parse().ok()).unwrap_or(300),
        ),
        _ => {
            eprintln!("unknown mode {mode}");
            std::process::exit(2);
        }
    }
}

fn floor(root: &std::path::Path) {
    let t0 = Instant::now();
    let (files, _) = walk::discover(root, DEFAULT_MAX_FILE_SIZE);
    let n_nodes: usize = files
        .par_iter()
        .map_init(tree_sitter::Parser::new, |parser, c| {
            let Ok(loaded) = walk::read_text(&c.abs, DEFAULT_MAX_FILE_SIZE) else {
                return 0;
            };
            let grammar = &spot_index::lang::LangSpec::get(c.lang).grammar;
            if parser.set_language(grammar).is_err() {
                return 0;
            }
            parser
                .parse(&loaded.text, None)
                .map_or(0, |t| t.root_node().descendant_count())
        })
        .sum();
    println!(
        "{{\"files\": {}, \"nodes\": {n_nodes}, \"seconds\": {:.4}}}",
        files.len(),
        t0.elapsed().as_secs_f64()
    );
}

fn reindex(root: &std::path::Path, n: usize) {
    let index = Index::new(root.to_path_buf(), IndexOptions::default());
    index
        .build(&CancelToken::new(), &|_| {})
        .expect("not cancelled");
    let mut files: Vec<_> = index.snapshot().iter().map(|f| f.path.clone()).collect();
    files.sort();
    // Every k-th file: a deterministic spread over small and large files.
    let step = (files.len() / n.max(1)).max(1);
    let mut times = Vec::new();
    for rel in files.iter().step_by(step).take(n) {
        let abs = root.join(rel);
        if Lang::from_path(&abs).is_none() {
            continue;
        }
        let Ok(loaded) = walk::read_text(&abs, DEFAULT_MAX_FILE_SIZE) else {
            continue;
        };
        // Opened in the editor, then a small edit in the middle of the file.
        index.update_from_buffer(&abs, &loaded.text);
        let mid = loaded.text.len() / 2;
        let cut = (0..=mid)
            .rev()
            .find(|&i| {
                loaded.text.is_char_boundary(i)
                    && (i == 0 || loaded.text.as_bytes()[i - 1] == b'\n')
            })
            .unwrap_or(0);
        let edited = format!("{}// edited\n{}", &loaded.text[..cut], &loaded.text[cut..]);
        let t = Instant::now();
        index.update_from_buffer(&abs, &edited);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times.get(i).copied().unwrap_or(0.0)
    };
    println!(
        "{{\"files\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
        times.len(),
        pct(0.5),
        pct(0.99),
        times.last().copied().unwrap_or(0.0)
    );
}

/// Where one file's re-index time goes (development aid).
fn profile(root: &std::path::Path, rel: &str) {
    let abs = root.join(rel);
    let lang = Lang::from_path(&abs).expect("an indexed language");
    let text = std::fs::read_to_string(&abs).expect("readable");
    let grammar = &spot_index::lang::LangSpec::get(lang).grammar;
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(grammar).expect("grammar loads");
    let mut full = std::time::Duration::MAX;
    let mut tree = None;
    for _ in 0..5 {
        let t = Instant::now();
        tree = parser.parse(&text, None);
        full = full.min(t.elapsed());
    }
    let tree = tree.expect("parses");
    let mut parse_extract = std::time::Duration::MAX;
    let mut index = None;
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    for _ in 0..reps {
        let t = Instant::now();
        index = Some(spot_index::extract_tree(lang, rel, &text, &tree));
        parse_extract = parse_extract.min(t.elapsed());
    }
    let index = index.expect("ran");
    let mut edited = tree.clone();
    let mid = text.len() / 2;
    let cut = (0..=mid)
        .rev()
        .find(|&i| text.is_char_boundary(i) && (i == 0 || text.as_bytes()[i - 1] == b'\n'))
        .unwrap_or(0);
    let new_text = format!("{}// edited\n{}", &text[..cut], &text[cut..]);
    let row = text[..cut].matches('\n').count();
    edited.edit(&tree_sitter::InputEdit {
        start_byte: cut,
        old_end_byte: cut,
        new_end_byte: cut + 10,
        start_position: tree_sitter::Point::new(row, 0),
        old_end_position: tree_sitter::Point::new(row, 0),
        new_end_position: tree_sitter::Point::new(row + 1, 0),
    });
    let t = Instant::now();
    let _ = parser.parse(&new_text, Some(&edited));
    eprintln!(
        "incremental parse {:.3} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "{{\"bytes\": {}, \"parse_ms\": {:.3}, \"extract_ms\": {:.3}, \"refs\": {}, \"postings\": {}}}",
        text.len(),
        full.as_secs_f64() * 1e3,
        parse_extract.as_secs_f64() * 1e3,
        index.refs.len(),
        index.postings.len()
    );
}

/// workspace/symbol latency of the core call alone (development aid).
fn symbols(root: &std::path::Path) {
    let index = Index::new(root.to_path_buf(), IndexOptions::default());
    index
        .build(&CancelToken::new(), &|_| {})
        .expect("not cancelled");
    let mut names: Vec<String> = index
        .snapshot()
        .iter()
        .flat_map(|f| {
            f.index
                .defs
                .iter()
                .map(|d| d.name.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    let step = (names.len() / 200).max(1);
    let mut times = Vec::new();
    for q in names.iter().step_by(step) {
        let t = Instant::now();
        let hits = index.workspace_symbols(q, 256);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(hits);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"queries\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}}}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}
