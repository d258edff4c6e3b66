//! Test support shared with the crates above (feature `test-support`): the process's ONNX
//! Runtime and the committed tiny model (fixtures/models/tiny), each loaded once.
//!
//! ONNX Runtime is found by the same discovery as spot (ORT_DYLIB_PATH, the data dir, python3).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{Model, Provider, Runtime, RuntimeOptions};

pub const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/models/tiny");

pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Writes straight to the process's stderr, past the test harness's output capture, so a skip is
/// visible in a passing run.
pub fn loud(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\n*** SKIP: {message} ***\n");
}

/// The process's runtime, or `None` (after one loud skip line) when ONNX Runtime is not installed.
pub fn runtime() -> Option<Runtime> {
    static RT: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let result = RT.get_or_init(|| {
        let opts = RuntimeOptions {
            ort_path: None,
            env_ort_path: std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            data_dir: Some(spot_base::data_dir::resolve()),
            python_probe: true,
            provider: Provider::Cpu,
        };
        let result = Runtime::init(&opts).map_err(|e| e.to_string());
        if let Err(e) = &result {
            if !env_flag("SPOT_REQUIRE_ORT") {
                loud(&format!(
                    "ONNX Runtime not found; the model tests that need it pass without running \
                     (set SPOT_REQUIRE_ORT=1 to fail instead)\n{e}"
                ));
            }
        }
        result
    });
    match result {
        Ok(rt) => Some(rt.clone()),
        Err(e) if env_flag("SPOT_REQUIRE_ORT") => {
            panic!("SPOT_REQUIRE_ORT=1 but ONNX Runtime is unavailable: {e}")
        }
        Err(_) => None,
    }
}

/// The tiny model, loaded once and shared by the tests (as the server shares one model).
pub fn tiny() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let rt = runtime()?;
            Some(Model::load(&rt, Path::new(TINY)).expect("the committed tiny model loads"))
        })
        .as_ref()
}
