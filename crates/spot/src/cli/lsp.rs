//! `spot lsp`: the language server over stdio.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Accepted for compatibility with clients that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: LspArgs) -> anyhow::Result<ExitCode> {
    spot_lsp::run_stdio()?;
    Ok(ExitCode::SUCCESS)
}
