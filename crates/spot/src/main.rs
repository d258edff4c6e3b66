//! The `spot` binary: parses the command line and hands over to `cli`. Errors are printed once,
//! here, and mapped to the exit code.

use std::process::ExitCode;

mod cli;

/// mimalloc: indexing allocates many small strings and vectors from all cores at once, where
/// glibc's allocator spends a tenth of the build (measured with perf on rust-analyzer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for spot's heap. mimalloc asks for them (madvise), and then every
/// fresh page faults in and zeroes 2 MiB: in a burst of editor requests a quarter of the server's
/// CPU went to `clear_page` (perf), p99 latency doubled, and indexing rust-analyzer took 50% more
/// memory for no speed-up. mimalloc's own `allow_thp` option is read before `main`, after its
/// first arena is already advised, so this uses the per-process switch, which the kernel checks
/// at each fault. Children inherit it: `learn::job` turns it back on for the trainer.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// ONNX Runtime's Linux build has Microsoft's 1DS telemetry compiled in: creating its
/// environment writes a device id and an event database under `~/.cache/Microsoft/` and
/// `$TMPDIR/.ses`, and uploads them a few seconds later, whatever `with_telemetry(false)` says.
/// Only `ORT_DISABLE_TELEMETRY` set before the environment is created turns it off
/// (docs/notes/ort-telemetry.md). Set first thing, before any thread exists, so the runtime and
/// every child process (the trainer's onnxruntime, git, the tests) inherit it.
fn no_telemetry() {
    std::env::set_var(
        spot_model::ORT_TELEMETRY_OFF.0,
        spot_model::ORT_TELEMETRY_OFF.1,
    );
}

fn main() -> ExitCode {
    no_telemetry();
    no_huge_pages();
    match cli::main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("spot: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
