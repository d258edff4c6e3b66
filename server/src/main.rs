//! The `spot` binary: parses the command line and hands over to `cli`. Errors are printed once,
//! here, and mapped to the exit code.

use std::process::ExitCode;

/// mimalloc: indexing allocates many small strings and vectors from all cores at once, where
/// glibc's allocator spends a tenth of the build (measured with perf on rust-analyzer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match spot::cli::main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("spot: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
