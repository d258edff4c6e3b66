//! `spot search QUERY`: BM25 search over function-level chunks, printed as `path:line` and a
//! snippet.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::index::{open_index, IndexFlags};

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words, identifiers or a whole issue text.
    pub query: String,
    /// Workspace directory (default: the current directory).
    #[arg(long, short = 'd')]
    pub dir: Option<PathBuf>,
    /// Number of results.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub limit: usize,
    /// Lines of each chunk to show (0: none).
    #[arg(long, default_value_t = 3)]
    pub context: usize,
    /// Print results as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: IndexFlags,
}

pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(args.dir.as_deref())?;
    let (index, _, _) = open_index(root, &args.common, !args.json)?;
    let hits = index.search(&args.query, args.limit);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&hits)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        writeln!(out, "no results for {:?}", args.query)?;
        return Ok(ExitCode::from(1));
    }
    for hit in &hits {
        let symbol = hit
            .symbol
            .as_deref()
            .map(|s| format!("  {s}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}:{}  ({:.2}){symbol}",
            hit.path,
            hit.start_line + 1,
            hit.score
        )?;
        if args.context > 0 {
            let text = std::fs::read_to_string(index.abs_path(&hit.path)).unwrap_or_default();
            for line in text
                .lines()
                .skip(hit.start_line as usize)
                .take((hit.end_line - hit.start_line + 1) as usize)
                .take(args.context)
            {
                writeln!(out, "    {line}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
