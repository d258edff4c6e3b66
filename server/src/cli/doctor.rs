//! `spot doctor`: placeholder until the model runtime lands (owned by the model-runtime work).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

pub fn run(_args: DoctorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("doctor is not built yet")
}
