//! Finding, loading and starting ONNX Runtime, and choosing the execution provider of a session.
//!
//! Owns the process-wide runtime: `ort` allows one loaded library and one environment per
//! process, so the first successful [`Runtime::init`] wins and later calls share it. Discovery
//! order: the `ortPath` setting, then `ORT_DYLIB_PATH` (each used alone when set: an explicit
//! path that fails is an error, not a reason to pick another library), then `<data>/onnxruntime/`,
//! then the `onnxruntime` package of `python3`. Reads no environment itself; the one process it
//! may spawn is the Python probe, in [`probe_python_onnxruntime`]. Leaves model files to `dir.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use parking_lot::Mutex;
use serde::Serialize;

use super::{ModelError, Provider, RuntimeOptions};

/// File names of the ONNX Runtime library on this platform (a versioned `.so.1.x.y` also matches).
#[cfg(target_os = "windows")]
pub const LIB_NAMES: &[&str] = &["onnxruntime.dll"];
#[cfg(target_os = "macos")]
pub const LIB_NAMES: &[&str] = &["libonnxruntime.dylib"];
#[cfg(not(any(target_os = "windows", target_os = "macos")))]
pub const LIB_NAMES: &[&str] = &["libonnxruntime.so"];

const INSTALL_HINT: &str =
    "Install it with `pip install onnxruntime==1.31.1` (onnxruntime-gpu for \
     CUDA, onnxruntime-directml on Windows), run fixtures/models/setup.sh, or point ORT_DYLIB_PATH \
     (or the ortPath setting) at libonnxruntime.";

/// Where a library candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Setting,
    Env,
    DataDir,
    Python,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Setting => "ortPath setting",
            Source::Env => "ORT_DYLIB_PATH",
            Source::DataDir => "spot data dir",
            Source::Python => "python3 onnxruntime package",
        }
    }
}

/// The loaded library and its environment; one per process.
struct Loaded {
    env: ort::environment::Environment,
    lib_path: PathBuf,
    version: String,
    source: Source,
    providers: Vec<String>,
}

static LOADED: Mutex<Option<Arc<Loaded>>> = Mutex::new(None);

/// A handle on the process's ONNX Runtime with the execution provider sessions should use.
#[derive(Clone)]
pub struct Runtime {
    loaded: Arc<Loaded>,
    provider: Provider,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("lib_path", &self.loaded.lib_path)
            .field("version", &self.loaded.version)
            .field("provider", &self.provider)
            .finish()
    }
}

/// What `spot doctor` prints about the runtime.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    pub lib_path: PathBuf,
    pub version: String,
    /// Which discovery step found the library.
    pub source: &'static str,
    /// Execution providers this build of ONNX Runtime offers (CPU always).
    pub providers_available: Vec<String>,
    /// The requested provider setting.
    pub provider: Provider,
}

impl Runtime {
    /// Finds and loads ONNX Runtime (once per process) and returns a handle using
    /// `opts.provider`. A missing or too-old library is an error naming every path tried.
    pub fn init(opts: &RuntimeOptions) -> Result<Runtime, ModelError> {
        let mut slot = LOADED.lock();
        if let Some(loaded) = slot.as_ref() {
            check_same_library(loaded, opts)?;
            return Ok(Runtime {
                loaded: Arc::clone(loaded),
                provider: opts.provider,
            });
        }
        let loaded = Arc::new(discover_and_load(opts)?);
        *slot = Some(Arc::clone(&loaded));
        Ok(Runtime {
            loaded,
            provider: opts.provider,
        })
    }

    pub fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            lib_path: self.loaded.lib_path.clone(),
            version: self.loaded.version.clone(),
            source: self.loaded.source.label(),
            providers_available: self.loaded.providers.clone(),
            provider: self.provider,
        }
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Starts a session on `model` with the first provider of the setting's order that this
    /// runtime offers and that starts; falls back to CPU with one log line saying why.
    pub(super) fn open_session(&self, model: &Path) -> Result<(Session, Provider), ModelError> {
        let order: &[Provider] = match self.provider {
            Provider::Auto => &[Provider::Cuda, Provider::DirectMl, Provider::Cpu],
            Provider::Cuda => &[Provider::Cuda, Provider::Cpu],
            Provider::DirectMl => &[Provider::DirectMl, Provider::Cpu],
            Provider::Cpu | Provider::Remote => &[Provider::Cpu],
        };
        let mut reasons: Vec<String> = Vec::new();
        for &provider in order {
            match self.try_session(model, provider) {
                Ok(session) => {
                    if !reasons.is_empty() {
                        let why = reasons.join("; ");
                        if self.provider == Provider::Auto {
                            tracing::info!("execution provider: using {provider} ({why})");
                        } else {
                            tracing::warn!(
                                "execution provider {} unavailable, using {provider}: {why}",
                                self.provider
                            );
                        }
                    }
                    return Ok((session, provider));
                }
                Err(Attempt::Unavailable(why)) => reasons.push(why),
                Err(Attempt::Failed(message)) if provider != Provider::Cpu => {
                    reasons.push(format!("{provider} failed to start: {message}"));
                }
                Err(Attempt::Failed(message)) => {
                    return Err(ModelError::Session {
                        path: model.to_path_buf(),
                        message,
                    })
                }
            }
        }
        Err(ModelError::Session {
            path: model.to_path_buf(),
            message: reasons.join("; "),
        })
    }

    fn try_session(&self, model: &Path, provider: Provider) -> Result<Session, Attempt> {
        let ep = match provider {
            Provider::Cuda => {
                if !is_available::<ort::ep::CUDA>() {
                    return Err(Attempt::Unavailable(format!(
                        "CUDA is not offered by {}",
                        self.loaded.lib_path.display()
                    )));
                }
                Some(ort::ep::CUDA::default().build().error_on_failure())
            }
            Provider::DirectMl => {
                if !is_available::<ort::ep::DirectML>() {
                    return Err(Attempt::Unavailable(format!(
                        "DirectML is not offered by {}",
                        self.loaded.lib_path.display()
                    )));
                }
                Some(ort::ep::DirectML::default().build().error_on_failure())
            }
            Provider::Cpu | Provider::Auto | Provider::Remote => None,
        };
        let failed = |e: ort::Error<_>| Attempt::Failed(e.to_string());
        let mut builder = Session::builder(&self.loaded.env)
            .map_err(failed)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| Attempt::Failed(e.to_string()))?;
        if let Some(ep) = ep {
            builder = builder
                .with_execution_providers([ep])
                .map_err(|e| Attempt::Failed(e.to_string()))?;
        }
        builder
            .commit_from_file(model)
            .map_err(|e| Attempt::Failed(e.to_string()))
    }
}

enum Attempt {
    /// The runtime does not offer the provider.
    Unavailable(String),
    /// The provider (or the model) failed to start.
    Failed(String),
}

fn is_available<E: ort::ep::ExecutionProvider>() -> bool {
    E::is_available().unwrap_or(false)
}

/// The explicit path of the options, if any, must name the library already loaded.
fn check_same_library(loaded: &Loaded, opts: &RuntimeOptions) -> Result<(), ModelError> {
    let explicit = [
        (Source::Setting, opts.ort_path.as_ref()),
        (Source::Env, opts.env_ort_path.as_ref()),
    ];
    let Some((source, path)) = explicit
        .into_iter()
        .find_map(|(source, path)| path.map(|p| (source, p)))
    else {
        return Ok(());
    };
    let Some(lib) = resolve_library(path) else {
        return Err(ModelError::RuntimeNotFound {
            tried: format!(
                "  {}: {} (no ONNX Runtime library there)",
                source.label(),
                path.display()
            ),
            hint: INSTALL_HINT,
        });
    };
    if same_file(&lib, &loaded.lib_path) {
        Ok(())
    } else {
        Err(ModelError::RuntimeAlreadyLoaded {
            loaded: loaded.lib_path.clone(),
            requested: lib,
        })
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The ONNX Runtime library [`Runtime::init`] would load, found by the same discovery without
/// loading anything (the library already loaded in this process, if any). Cheap: a few
/// `stat`s, and the `python3` probe when nothing else is found.
pub fn find_runtime_library(opts: &RuntimeOptions) -> Result<PathBuf, ModelError> {
    if let Some(loaded) = LOADED.lock().as_ref() {
        return Ok(loaded.lib_path.clone());
    }
    let explicit = [
        (Source::Setting, opts.ort_path.as_ref()),
        (Source::Env, opts.env_ort_path.as_ref()),
    ];
    let not_found = |tried: String| ModelError::RuntimeNotFound {
        tried,
        hint: INSTALL_HINT,
    };
    if let Some((source, path)) = explicit
        .into_iter()
        .find_map(|(source, path)| path.map(|p| (source, p)))
    {
        return resolve_library(path).ok_or_else(|| {
            not_found(format!(
                "  {}: {} (no ONNX Runtime library there)",
                source.label(),
                path.display()
            ))
        });
    }
    let mut tried = Vec::new();
    if let Some(data) = &opts.data_dir {
        let dir = data.join("onnxruntime");
        match resolve_library(&dir) {
            Some(lib) => return Ok(lib),
            None => tried.push(format!(
                "  {}: {} (no ONNX Runtime library there)",
                Source::DataDir.label(),
                dir.display()
            )),
        }
    }
    if opts.python_probe {
        match probe_python_onnxruntime().and_then(|dir| resolve_library(&dir)) {
            Some(lib) => return Ok(lib),
            None => tried.push(format!(
                "  {}: `python3` has no `onnxruntime` package",
                Source::Python.label()
            )),
        }
    }
    Err(not_found(tried.join("\n")))
}

fn discover_and_load(opts: &RuntimeOptions) -> Result<Loaded, ModelError> {
    let mut tried: Vec<String> = Vec::new();
    // An explicit path is used alone: the user asked for that library.
    let explicit = [
        (Source::Setting, opts.ort_path.as_ref()),
        (Source::Env, opts.env_ort_path.as_ref()),
    ];
    if let Some((source, path)) = explicit
        .into_iter()
        .find_map(|(source, path)| path.map(|p| (source, p)))
    {
        return match resolve_library(path) {
            Some(lib) => load(&lib, source),
            None => Err(ModelError::RuntimeNotFound {
                tried: format!(
                    "  {}: {} (no ONNX Runtime library there)",
                    source.label(),
                    path.display()
                ),
                hint: INSTALL_HINT,
            }),
        };
    }

    let mut implicit: Vec<(Source, PathBuf)> = Vec::new();
    if let Some(data) = &opts.data_dir {
        implicit.push((Source::DataDir, data.join("onnxruntime")));
    }
    for (source, dir) in implicit {
        match try_dir(&dir, source, &mut tried) {
            Some(loaded) => return Ok(loaded),
            None => continue,
        }
    }
    if opts.python_probe {
        match probe_python_onnxruntime() {
            Some(dir) => {
                if let Some(loaded) = try_dir(&dir, Source::Python, &mut tried) {
                    return Ok(loaded);
                }
            }
            None => tried.push(format!(
                "  {}: `python3` has no `onnxruntime` package",
                Source::Python.label()
            )),
        }
    }
    Err(ModelError::RuntimeNotFound {
        tried: tried.join("\n"),
        hint: INSTALL_HINT,
    })
}

/// Loads the library in `dir` if there is one; records the outcome in `tried` otherwise.
fn try_dir(dir: &Path, source: Source, tried: &mut Vec<String>) -> Option<Loaded> {
    let Some(lib) = resolve_library(dir) else {
        tried.push(format!(
            "  {}: {} (no ONNX Runtime library there)",
            source.label(),
            dir.display()
        ));
        return None;
    };
    match load(&lib, source) {
        Ok(loaded) => Some(loaded),
        Err(err) => {
            tried.push(format!("  {}: {err}", source.label()));
            None
        }
    }
}

/// A library file: `path` itself when it is a file, else the best library name inside it;
/// absolute, so the loader never resolves it against the executable's directory.
fn resolve_library(path: &Path) -> Option<PathBuf> {
    let found = find_library(path)?;
    Some(found.canonicalize().unwrap_or(found))
}

fn find_library(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    if !path.is_dir() {
        return None;
    }
    for name in LIB_NAMES {
        let candidate = path.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    // Versioned names as the wheels ship them: libonnxruntime.so.1.31.1 (highest version wins).
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_versioned_lib_name)
        })
        .collect();
    versioned.sort_by_key(|p| version_key(p));
    versioned.pop()
}

fn is_versioned_lib_name(name: &str) -> bool {
    LIB_NAMES.iter().any(|base| {
        let stem = base.trim_end_matches(".dylib");
        name.starts_with(&format!("{base}."))
            || (base.ends_with(".dylib")
                && name.starts_with(&format!("{stem}."))
                && name.ends_with(".dylib"))
    })
}

fn version_key(path: &Path) -> Vec<u32> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.split('.').filter_map(|part| part.parse().ok()).collect())
        .unwrap_or_default()
}

fn load(lib: &Path, source: Source) -> Result<Loaded, ModelError> {
    let builder = ort::init_from(lib).map_err(|e| ModelError::RuntimeLoad {
        path: lib.to_path_buf(),
        message: e.to_string(),
    })?;
    if std::env::var_os(crate::ORT_TELEMETRY_OFF.0).is_none() {
        tracing::warn!(
            "{}=1 is not set in this process, so ONNX Runtime's telemetry writes under \
             ~/.cache/Microsoft and uploads (the spot binary sets it itself; set it before \
             starting a program that embeds spot's model crate)",
            crate::ORT_TELEMETRY_OFF.0
        );
    }
    let env = builder
        .with_name("spot")
        // Windows' switch; on Linux only ORT_TELEMETRY_OFF works (docs/notes/ort-telemetry.md).
        .with_telemetry(false)
        .build()
        .map_err(|e| ModelError::RuntimeStart {
            path: lib.to_path_buf(),
            message: e.to_string(),
        })?;
    let version = version_of(lib);
    let mut providers = Vec::new();
    if is_available::<ort::ep::CUDA>() {
        providers.push("cuda".to_owned());
    }
    if is_available::<ort::ep::DirectML>() {
        providers.push("directml".to_owned());
    }
    providers.push("cpu".to_owned());
    tracing::info!(
        path = %lib.display(),
        version = %version,
        source = source.label(),
        providers = %providers.join(","),
        "ONNX Runtime loaded"
    );
    Ok(Loaded {
        env,
        lib_path: lib.to_path_buf(),
        version,
        source,
        providers,
    })
}

/// The version from the library's build info (`git-branch=rel-1.31.1`), else from its file name.
fn version_of(lib: &Path) -> String {
    let info = ort::info();
    if let Some(rest) = info.split("git-branch=rel-").nth(1) {
        let version: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if !version.is_empty() {
            return version;
        }
    }
    let parts = version_key(lib);
    if parts.is_empty() {
        "unknown".to_owned()
    } else {
        parts
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// How long a `python3` probe's answer is reused before asking again (a user may install the
/// wheel while spot runs).
const PYTHON_PROBE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Asks `python3` where its `onnxruntime` package is and returns the package's `capi/` directory,
/// which holds the shared library in the PyPI wheels. The package is located, not imported
/// (`importlib.util.find_spec`: no numpy, no native extension), but `python3` may be a pyenv
/// shim that runs dozens of processes, so the answer is kept for [`PYTHON_PROBE_TTL`] and
/// concurrent callers share one probe.
pub fn probe_python_onnxruntime() -> Option<PathBuf> {
    static LAST: std::sync::Mutex<Option<(std::time::Instant, Option<PathBuf>)>> =
        std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, answer)) = &*last {
        if at.elapsed() < PYTHON_PROBE_TTL {
            return answer.clone();
        }
    }
    let answer = run_python_probe();
    *last = Some((std::time::Instant::now(), answer.clone()));
    answer
}

fn run_python_probe() -> Option<PathBuf> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u,os;s=u.find_spec('onnxruntime');\
             print(os.path.dirname(s.origin) if s and s.origin else '')",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    if dir.is_empty() {
        return None;
    }
    Some(Path::new(dir).join("capi"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_library_names_match_and_sort() {
        if cfg!(any(target_os = "windows", target_os = "macos")) {
            return;
        }
        assert!(is_versioned_lib_name("libonnxruntime.so.1.31.1"));
        assert!(!is_versioned_lib_name("libonnxruntime_providers_shared.so"));
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.31.1",
            "libonnxruntime_providers_shared.so",
        ] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        let lib = resolve_library(dir.path()).expect("a library");
        assert!(
            lib.ends_with("libonnxruntime.so.1.31.1"),
            "{}",
            lib.display()
        );
    }

    #[test]
    fn missing_explicit_path_is_one_clear_error() {
        let opts = RuntimeOptions {
            ort_path: Some(PathBuf::from("/nonexistent/spot-test/libonnxruntime.so")),
            ..RuntimeOptions::default()
        };
        let err = Runtime::init(&opts).expect_err("a bogus path must not load");
        let message = err.to_string();
        assert!(message.contains("/nonexistent/spot-test"), "{message}");
        assert!(message.contains("ortPath"), "{message}");
    }
}
