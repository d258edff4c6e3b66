//! The `spot` binary: parses the command line and hands over to `cli`. Errors are printed once,
//! here, and mapped to the exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match spot::cli::main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("spot: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
