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

/// The process's runtime. Tests that need it are `#[ignore]`d with the command that installs
/// it (`cargo test -- --include-ignored` runs them, as tests/run.sh does), so a missing runtime
/// fails them with this message rather than letting them pass without running.
pub fn runtime() -> Runtime {
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
        Runtime::init(&opts).map_err(|e| e.to_string())
    });
    match result {
        Ok(rt) => rt.clone(),
        Err(e) => panic!(
            "ONNX Runtime is unavailable (bash fixtures/models/setup.sh --runtime-only): {e}"
        ),
    }
}

/// The tiny model, loaded once and shared by the tests (as the server shares one model).
pub fn tiny() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        Model::load(&runtime(), Path::new(TINY)).expect("the committed tiny model loads")
    })
}
