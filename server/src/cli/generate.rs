//! `spot generate`: placeholder until the model runtime lands (owned by the model-runtime work).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The prompt.
    pub prompt: String,
}

pub fn run(_args: GenerateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the model runtime is not built yet")
}
