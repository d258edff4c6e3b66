//! `spot localize DIR ISSUE`: ranked files and functions for an issue text, with reasons.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::index::{open_index, IndexFlags};
use spot_assist::localize::{localize_with, LocalizeOptions, Sources};
use spot_assist::rerank::{rerank, RerankOptions};
use spot_base::cancel::CancelToken;
use spot_learn::history::{workspace_history, HISTORY_DEPTH};
use spot_model::{Model, Runtime};

#[derive(Debug, clap::Args)]
pub struct LocalizeArgs {
    /// Workspace directory.
    pub dir: PathBuf,
    /// The issue text; `-` reads it from stdin, `@FILE` from a file.
    pub issue: String,
    /// Number of files to list.
    #[arg(long, short = 'n', default_value_t = 5)]
    pub files: usize,
    /// Number of functions to list.
    #[arg(long, default_value_t = 5)]
    pub functions: usize,
    /// Past commits read for the history signals (0: none; outside a git repository there
    /// are none either).
    #[arg(long, default_value_t = HISTORY_DEPTH)]
    pub history: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Let the model rerank the best N files (0: off; about 0.5 s per file on 2 CPU cores; see
    /// bench/README.md).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rerank: usize,
    /// Model directory for `--rerank`. Default: the workspace's learned model, else the default
    /// model.
    #[arg(long, value_name = "DIR", requires = "rerank")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: super::generate::RuntimeArgs,
    #[command(flatten)]
    pub backend: super::generate::BackendArgs,
    #[command(flatten)]
    pub common: IndexFlags,
}

/// The issue text of an `ISSUE` argument: literal, `-` (stdin) or `@FILE`.
pub(crate) fn issue_text(arg: &str) -> anyhow::Result<String> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the issue from stdin")?;
        return Ok(text);
    }
    if let Some(path) = arg.strip_prefix('@') {
        return std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the issue from {path}"));
    }
    Ok(arg.to_owned())
}

pub fn run(args: LocalizeArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(Some(&args.dir))?;
    let issue = issue_text(&args.issue)?;
    anyhow::ensure!(!issue.trim().is_empty(), "the issue text is empty");
    let (index, _, _) = open_index(root, &args.common, !args.json)?;
    let started = std::time::Instant::now();
    let history = workspace_history(index.root(), args.history);
    let history_elapsed = started.elapsed();
    let started = std::time::Instant::now();
    let opts = LocalizeOptions {
        max_files: args.files,
        max_functions: args.functions,
        ..LocalizeOptions::default()
    };
    let read = |path: &str| index.read_from_disk(path);
    let sources = Sources {
        text: &read,
        history: history.as_ref(),
    };
    let mut result = localize_with(&index, &sources, &issue, &opts);
    let elapsed = started.elapsed();
    if args.rerank > 0 {
        let started = std::time::Instant::now();
        let data_dir = spot_base::data_dir::resolve();
        let model = match args.backend.connect()? {
            Some(model) => model,
            None => {
                let dir = super::generate::workspace_model_dir(
                    args.model.as_deref(),
                    &data_dir,
                    index.root(),
                )?;
                let rt = Runtime::init(&args.runtime.options(&data_dir))?;
                Model::load(&rt, &dir)?
            }
        };
        let opts = RerankOptions {
            top: args.rerank,
            ..RerankOptions::default()
        };
        let cancel = CancelToken::new();
        match rerank(&model, &issue, &mut result, &sources, &opts, &cancel) {
            Ok(_) => tracing::info!(
                "the model reranked {} files in {:.1} s",
                args.rerank.min(result.files.len()),
                started.elapsed().as_secs_f64()
            ),
            Err(e) => tracing::warn!("no model rerank, the localization is printed without: {e}"),
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if result.files.is_empty() {
        writeln!(
            out,
            "nothing in {} matches the issue",
            index.root().display()
        )?;
        return Ok(ExitCode::from(1));
    }
    writeln!(out, "files:")?;
    for (k, f) in result.files.iter().enumerate() {
        writeln!(out, "  {}. {}  {:.4}  {}", k + 1, f.path, f.score, f.reason)?;
    }
    if !result.functions.is_empty() {
        writeln!(out, "functions:")?;
        for (k, f) in result.functions.iter().enumerate() {
            writeln!(
                out,
                "  {}. {}:{}-{}  {}  {:.3}  {}",
                k + 1,
                f.path,
                f.start_line,
                f.end_line,
                f.name,
                f.score,
                f.reason
            )?;
        }
    }
    tracing::info!(
        "read {} past commits in {:.1} ms, localized in {:.1} ms",
        history.as_ref().map_or(0, |h| h.len()),
        history_elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3
    );
    Ok(ExitCode::SUCCESS)
}
