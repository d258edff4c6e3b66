//! `spot symbols QUERY`: fuzzy search over definitions.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::index::{open_index, IndexFlags};

#[derive(Debug, clap::Args)]
pub struct SymbolsArgs {
    /// Fuzzy name, e.g. `remitem` or `Store.remove`.
    pub query: String,
    /// Workspace directory (default: the current directory).
    #[arg(long, short = 'd')]
    pub dir: Option<PathBuf>,
    /// Number of results.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    /// Print results as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: IndexFlags,
}

pub fn run(args: SymbolsArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(args.dir.as_deref())?;
    let (index, _, _) = open_index(root, &args.common, !args.json)?;
    let hits = index.workspace_symbols(&args.query, args.limit);
    let mut out = std::io::stdout().lock();
    if args.json {
        let rows: Vec<_> = hits
            .iter()
            .map(|h| {
                let d = h.def();
                serde_json::json!({
                    "name": d.name,
                    "qualified": h.file.qualified_name(d),
                    "kind": d.kind.as_str(),
                    "path": h.file.path,
                    "line": d.name_span.start_line + 1,
                    "signature": d.signature,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        writeln!(out, "no symbols match {:?}", args.query)?;
        return Ok(ExitCode::from(1));
    }
    for h in &hits {
        let d = h.def();
        writeln!(
            out,
            "{:<10} {:<40} {}:{}",
            d.kind.as_str(),
            h.file.qualified_name(d),
            h.file.path,
            d.name_span.start_line + 1
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
