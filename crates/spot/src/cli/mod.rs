//! Command-line front end: flag definitions (clap) and dispatch to the library.
//!
//! Parsing has no side effects; each subcommand lives in its own file, builds what it needs after
//! parsing, and calls the same core functions the LSP server uses. No logic lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod doctor;
mod eval;
mod experience;
mod generate;
mod host;
mod index;
mod learn;
mod localize;
mod lsp;
mod patch;
mod search;
mod symbols;

/// spot: a repo-expert language server and its command-line tools.
#[derive(Debug, Parser)]
#[command(name = "spot", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log filter for stderr (e.g. `info`, `spot=debug`); overrides `SPOT_LOG`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the language server over stdio (started by an editor).
    Lsp(lsp::LspArgs),
    /// Index a directory and print a summary.
    Index(index::IndexArgs),
    /// Lexical (BM25) search over function-level code chunks.
    Search(search::SearchArgs),
    /// Fuzzy search over symbol definitions.
    Symbols(symbols::SymbolsArgs),
    /// Rank the files and functions an issue is about.
    Localize(localize::LocalizeArgs),
    /// Find a patch for an issue (failing tests, repair templates, the model); print it as a
    /// diff with its verdict.
    Patch(patch::PatchArgs),
    /// Build the repository's learning experience (chat JSONL with a held-out split).
    Experience(experience::ExperienceArgs),
    /// Teach the model this repository (experience, fine-tuning, evaluation gate, install).
    Learn(learn::LearnArgs),
    /// Measure spot on a repository's own history.
    Eval(eval::EvalArgs),
    /// Generate text with an ONNX model directory.
    Generate(generate::GenerateArgs),
    /// Check the installation: ONNX Runtime, execution providers, model, data dir, index.
    Doctor(doctor::DoctorArgs),
}

/// Entry point of the binary.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref(), matches!(cli.command, Command::Lsp(_)));
    match cli.command {
        Command::Lsp(args) => lsp::run(args),
        Command::Index(args) => index::run(args),
        Command::Search(args) => search::run(args),
        Command::Symbols(args) => symbols::run(args),
        Command::Localize(args) => localize::run(args),
        Command::Patch(args) => patch::run(args),
        Command::Experience(args) => experience::run(args),
        Command::Learn(args) => learn::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Doctor(args) => doctor::run(args),
    }
}

/// Logs go to stderr (stdout carries results or the protocol). Default level: `warn` for the CLI,
/// `info` for the server, whose stderr the editor shows as its log.
fn init_logging(filter: Option<&str>, server: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if server { "info" } else { "warn" };
    let filter = filter
        .map(str::to_owned)
        .or_else(|| std::env::var("SPOT_LOG").ok())
        .unwrap_or_else(|| default.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Resolves a directory argument to an absolute, canonical path with a clear error.
pub(crate) fn workspace_root(dir: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot open workspace {}", dir.display()))?;
    anyhow::ensure!(root.is_dir(), "{} is not a directory", root.display());
    Ok(root)
}
