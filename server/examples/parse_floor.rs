#![allow(clippy::print_stdout)]
//! The parse-only floor for `bench/index.sh`: walk and read the workspace like `spot index`,
//! then only parse every file with tree-sitter on all cores (no extraction, no BM25, no cache).
//! With `--phases`, also times extraction single-threaded to show where index time goes.

use std::time::Instant;

use rayon::prelude::*;
use spot::index::{walk, Lang, DEFAULT_MAX_FILE_SIZE};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: parse_floor DIR [--phases]");
        std::process::exit(2);
    };
    let phases = args.next().as_deref() == Some("--phases");
    let root = std::path::Path::new(&dir)
        .canonicalize()
        .expect("DIR exists");
    let t0 = Instant::now();
    let (files, _) = walk::discover(&root, DEFAULT_MAX_FILE_SIZE);
    let texts: Vec<(Lang, String, String)> = files
        .par_iter()
        .filter_map(|c| {
            let loaded = walk::read_text(&c.abs, DEFAULT_MAX_FILE_SIZE).ok()?;
            Some((c.lang, c.rel.clone(), loaded.text))
        })
        .collect();
    let read = t0.elapsed();
    let n_nodes: usize = texts
        .par_iter()
        .map_init(tree_sitter::Parser::new, |parser, (lang, _, text)| {
            let grammar = spot::index::lang::LangSpec::get(*lang).grammar.clone();
            parser.set_language(&grammar).ok();
            parser
                .parse(text, None)
                .map_or(0, |t| t.root_node().descendant_count())
        })
        .sum();
    let total = t0.elapsed();
    println!(
        "parse-only: {} files, {} nodes, walk+read {:.3} s, total {:.3} s",
        texts.len(),
        n_nodes,
        read.as_secs_f64(),
        total.as_secs_f64()
    );
    if phases {
        let t = Instant::now();
        let mut parser = tree_sitter::Parser::new();
        for (lang, _, text) in &texts {
            parser.set_language(&spot::index::lang::LangSpec::get(*lang).grammar).ok();
            let _ = parser.parse(text, None);
        }
        println!("parse only, one thread: {:.3} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut n = 0;
        for (lang, rel, text) in &texts {
            n += spot::index::index_text(*lang, rel, text).refs.len();
        }
        println!(
            "parse+extract, one thread: {:.3} s ({n} refs)",
            t.elapsed().as_secs_f64()
        );
    }
}
