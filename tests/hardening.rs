//! Hardening suite: the built `spot lsp` driven like an editor under hostile conditions —
//! protocol fuzzing (`fuzz.rs`), a pipelined load with an edit storm and model requests in
//! flight (`load.rs`), faults (corrupt cache, unwritable data dir, swapped files and
//! directories, a 10,000-file burst, a killed client, a broken model dir, an idle watcher;
//! `faults.rs`), filesystem safety (`fs_safety.rs`) and privacy (no network socket, checked
//! with strace and `unshare -n`; `privacy.rs`). Each test starts its own sandbox: a generated
//! repository (`repo.rs`), HOME, XDG dirs, TMPDIR and SPOT_DATA_DIR in one temp dir
//! (`session.rs`).
//!
//! Every figure it measures (cases tried, crashes, panics, unanswered requests, lost edits,
//! p50/p99 per request kind, peak RSS) goes into one table (`report.rs`), printed to stderr when
//! the last test ends and written to `target/hardening-report.md` after every test.
//!
//! Run: `cargo test --test hardening -- --nocapture` (one test: add its name). The load case
//! runs on a copy of a real repository when `SPOT_LOAD_REPO` names one (a local clone: the
//! suite needs no network), else on the generated one; its report line says which. Deterministic:
//! seeded xorshift input (`rng.rs`), no assertion on wall time except generous hang timeouts.
//! The CPU-heavy tests run one at a time, the light ones alongside.
//!
//! Setup: the privacy and write checks need `strace` and `unshare` (util-linux):
//! `apt-get install -y strace util-linux`. Without them those tests fail saying so, unless
//! `SPOT_HARDENING_ALLOW_NO_STRACE=1` (then the table shows a loud SKIPPED row). The model
//! cases use an ONNX Runtime when one is found (`ORT_DYLIB_PATH`, or the onnxruntime/ that
//! `tests/run.sh` installs in spot's data dir); without one they stop at "runtime not found".
//! Debugging: `SPOT_HARDENING_ECHO=1` echoes the servers' stderr, `SPOT_HARDENING_LOG` sets
//! their log filter (default `spot=info,warn`, which the log assertions rely on).
//!
//! Leaves out: model quality, editor clients, and the unit-level framing cases that
//! `crates/spot-lsp/src/framing.rs` tests in-process.

mod common;

#[path = "hardening/faults.rs"]
mod faults;
#[path = "hardening/fs_safety.rs"]
mod fs_safety;
#[path = "hardening/fuzz.rs"]
mod fuzz;
#[path = "hardening/load.rs"]
mod load;
#[path = "hardening/privacy.rs"]
mod privacy;
#[path = "hardening/repo.rs"]
mod repo;
#[path = "hardening/report.rs"]
mod report;
#[path = "hardening/rng.rs"]
mod rng;
#[path = "hardening/session.rs"]
mod session;
#[path = "hardening/trace.rs"]
mod trace;

/// The CPU-heavy tests (fuzz, load, the 10,000-file burst) run alone, so that their figures
/// are not measured against other sessions on a small machine; the light tests share.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn heavy() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

fn light() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}
