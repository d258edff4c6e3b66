//! Settings from `initializationOptions` and `workspace/didChangeConfiguration`, validated.
//!
//! Unknown keys and values of the wrong type or range are reported as warnings (shown to the
//! user with window/showMessage) and replaced by the default; a bad setting never fails a
//! request or stops the server.

use std::path::PathBuf;

use serde_json::Value;

use spot_index::DEFAULT_MAX_FILE_SIZE;

/// Execution provider preference for the model runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderSetting {
    #[default]
    Auto,
    Cuda,
    DirectMl,
    Cpu,
}

/// The `backend` setting: an OpenAI-compatible server in place of the local model (opt-in).
/// `{"kind": "openai", "url": "http://127.0.0.1:8080/v1", "model": "NAME", "apiKeyEnv": "VAR",
/// "contextLength": N}`; `url` and `model` are required, the key is read from the named
/// environment variable when the model is loaded, never from the settings themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSetting {
    pub url: String,
    pub model: String,
    pub api_key_env: Option<String>,
    pub context_length: Option<usize>,
}

impl BackendSetting {
    /// The model slot's configuration ([`spot_assist::slot::ModelSource::backend`]): the key
    /// read from `apiKeyEnv` now; a warning (for the log, naming the variable, never a value)
    /// when that variable is unset or empty.
    pub fn remote_config(&self) -> (spot_model::RemoteConfig, Option<String>) {
        let mut config = spot_model::RemoteConfig::new(&self.url, &self.model);
        config.context_length = self.context_length;
        let mut warning = None;
        if let Some(var) = &self.api_key_env {
            match std::env::var(var) {
                Ok(key) if !key.is_empty() => {
                    config.api_key = Some(spot_model::ApiKey::new(key, format!("${var}")))
                }
                _ => {
                    warning = Some(format!(
                        "spot setting `backend.apiKeyEnv`: the environment variable {var} is \
                         unset or empty; requests go without a key"
                    ))
                }
            }
        }
        (config, warning)
    }
}

/// When background learning starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LearnTrigger {
    #[default]
    Manual,
    Commits,
    Idle,
}

/// The validated settings of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub max_file_size: u64,
    pub model_dir: Option<PathBuf>,
    pub provider: ProviderSetting,
    pub ort_path: Option<PathBuf>,
    pub log_level: String,
    pub learn_trigger: LearnTrigger,
    pub learn_every_n_commits: u32,
    pub learn_idle_minutes: u32,
    /// The project's test command; a patch must pass it (run in a scratch copy).
    pub test_command: Option<String>,
    /// Files of the localization the model reranks before issue-to-patch (0: off).
    pub rerank: u32,
    /// An OpenAI-compatible server instead of the local model; `None` (the default): local.
    pub backend: Option<BackendSetting>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            model_dir: None,
            provider: ProviderSetting::Auto,
            ort_path: None,
            log_level: "info".to_owned(),
            test_command: None,
            rerank: 0,
            learn_trigger: LearnTrigger::Manual,
            learn_every_n_commits: 20,
            learn_idle_minutes: 30,
            backend: None,
        }
    }
}

/// The keys spot understands, for messages and docs.
pub const KEYS: &[&str] = &[
    "maxFileSize",
    "modelDir",
    "provider",
    "ortPath",
    "logLevel",
    "learning",
    "testCommand",
    "rerank",
    "backend",
];

impl Settings {
    /// Settings from a client-supplied JSON value: either the settings object itself or one
    /// nested under `"spot"`. Returns the settings and one warning per rejected entry.
    pub fn from_json(value: Option<&Value>) -> (Settings, Vec<String>) {
        let mut s = Settings::default();
        let mut warnings = Vec::new();
        let obj = match value {
            None | Some(Value::Null) => return (s, warnings),
            Some(Value::Object(o)) => match o.get("spot") {
                Some(Value::Object(inner)) => inner,
                _ => o,
            },
            Some(other) => {
                warnings.push(format!(
                    "spot settings must be an object, got {}; using defaults",
                    type_name(other)
                ));
                return (s, warnings);
            }
        };
        for (key, v) in obj {
            let mut bad = |expected: &str| {
                warnings.push(format!(
                    "spot setting `{key}`: expected {expected}, got {}; using the default",
                    short(v)
                ))
            };
            match key.as_str() {
                "maxFileSize" => match v.as_u64() {
                    Some(n) if n > 0 => s.max_file_size = n,
                    _ => bad("a positive integer (bytes)"),
                },
                "modelDir" => match v {
                    Value::String(p) if !p.is_empty() => s.model_dir = Some(PathBuf::from(p)),
                    Value::Null => {}
                    _ => bad("a directory path"),
                },
                "ortPath" => match v {
                    Value::String(p) if !p.is_empty() => s.ort_path = Some(PathBuf::from(p)),
                    Value::Null => {}
                    _ => bad("a path to the ONNX Runtime library"),
                },
                "provider" => match v.as_str() {
                    Some("auto") => s.provider = ProviderSetting::Auto,
                    Some("cuda") => s.provider = ProviderSetting::Cuda,
                    Some("directml") => s.provider = ProviderSetting::DirectMl,
                    Some("cpu") => s.provider = ProviderSetting::Cpu,
                    _ => bad("one of auto, cuda, directml, cpu"),
                },
                "logLevel" => match v.as_str() {
                    Some(l @ ("error" | "warn" | "info" | "debug" | "trace")) => {
                        s.log_level = l.to_owned()
                    }
                    _ => bad("one of error, warn, info, debug, trace"),
                },
                "learning" => parse_learning(&mut s, v, &mut warnings),
                "backend" => s.backend = parse_backend(v, &mut warnings),
                "testCommand" => match v {
                    Value::String(c) if !c.trim().is_empty() => {
                        s.test_command = Some(c.trim().to_owned())
                    }
                    Value::String(_) | Value::Null => {}
                    _ => bad("a shell command"),
                },
                "rerank" => match v.as_u64() {
                    Some(n) if n <= 20 => s.rerank = n as u32,
                    _ => bad("an integer from 0 (off) to 20"),
                },
                _ => warnings.push(format!(
                    "unknown spot setting `{key}` (known: {}); ignored",
                    KEYS.join(", ")
                )),
            }
        }
        (s, warnings)
    }
}

fn parse_learning(s: &mut Settings, v: &Value, warnings: &mut Vec<String>) {
    let Value::Object(o) = v else {
        warnings.push(format!(
            "spot setting `learning`: expected an object, got {}; using the default",
            short(v)
        ));
        return;
    };
    for (key, v) in o {
        let mut bad = |expected: &str| {
            warnings.push(format!(
                "spot setting `learning.{key}`: expected {expected}, got {}; using the default",
                short(v)
            ))
        };
        match key.as_str() {
            "trigger" => match v.as_str() {
                Some("manual") => s.learn_trigger = LearnTrigger::Manual,
                Some("commits") => s.learn_trigger = LearnTrigger::Commits,
                Some("idle") => s.learn_trigger = LearnTrigger::Idle,
                _ => bad("one of manual, commits, idle"),
            },
            "everyNCommits" => match v.as_u64() {
                Some(n) if (1..=100_000).contains(&n) => s.learn_every_n_commits = n as u32,
                _ => bad("an integer from 1 to 100000"),
            },
            "idleMinutes" => match v.as_u64() {
                Some(n) if (1..=10_000).contains(&n) => s.learn_idle_minutes = n as u32,
                _ => bad("an integer from 1 to 10000"),
            },
            _ => warnings.push(format!(
                "unknown spot setting `learning.{key}` (known: trigger, everyNCommits, idleMinutes); ignored"
            )),
        }
    }
}

/// The `backend` object; anything wrong in it leaves the local model (the default) with a
/// warning, so that a typo never sends code to a server the user did not mean.
fn parse_backend(v: &Value, warnings: &mut Vec<String>) -> Option<BackendSetting> {
    let o = match v {
        Value::Null => return None,
        Value::Object(o) => o,
        other => {
            warnings.push(format!(
                "spot setting `backend`: expected an object, got {}; using the local model",
                short(other)
            ));
            return None;
        }
    };
    let mut problems = Vec::new();
    let text = |key: &str| o.get(key).and_then(Value::as_str).map(str::trim);
    match o.get("kind").and_then(Value::as_str) {
        Some("openai") | None => {}
        Some(other) => problems.push(format!("`kind` must be \"openai\", got \"{other}\"")),
    }
    let url = match text("url") {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => u.to_owned(),
        _ => {
            problems.push(
                "`url` must be an http:// or https:// URL (e.g. http://127.0.0.1:8080/v1)"
                    .to_owned(),
            );
            String::new()
        }
    };
    let model = match text("model") {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => {
            problems.push("`model` must name the server's model".to_owned());
            String::new()
        }
    };
    let api_key_env = match o.get("apiKeyEnv") {
        None | Some(Value::Null) => None,
        Some(Value::String(var)) if !var.is_empty() && !var.contains('=') => Some(var.clone()),
        Some(_) => {
            problems.push("`apiKeyEnv` must name an environment variable".to_owned());
            None
        }
    };
    let context_length = match o.get("contextLength") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_u64() {
            Some(n) if (256..=10_000_000).contains(&n) => Some(n as usize),
            _ => {
                problems.push("`contextLength` must be an integer from 256".to_owned());
                None
            }
        },
    };
    for key in o.keys() {
        if !["kind", "url", "model", "apiKeyEnv", "contextLength"].contains(&key.as_str()) {
            problems.push(format!("unknown key `{key}`"));
        }
    }
    if !problems.is_empty() {
        warnings.push(format!(
            "spot setting `backend`: {}; using the local model",
            problems.join("; ")
        ));
        return None;
    }
    Some(BackendSetting {
        url,
        model,
        api_key_env,
        context_length,
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for a message: its JSON, cut short.
fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let mut cut = 57;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_values_get_defaults_and_warnings() {
        let (s, w) = Settings::from_json(Some(&json!({
            "spot": {
                "maxFileSize": "big",
                "provider": "cpu",
                "modelDir": 42,
                "colour": "blue",
                "rerank": 50,
                "learning": { "trigger": "idle", "idleMinutes": 0 }
            }
        })));
        assert_eq!(s.max_file_size, DEFAULT_MAX_FILE_SIZE);
        assert_eq!(s.provider, ProviderSetting::Cpu);
        assert_eq!(s.model_dir, None);
        assert_eq!(s.learn_trigger, LearnTrigger::Idle);
        assert_eq!(s.learn_idle_minutes, 30);
        expect_test::expect![[r#"
            [
                "unknown spot setting `colour` (known: maxFileSize, modelDir, provider, ortPath, logLevel, learning, testCommand, rerank, backend); ignored",
                "spot setting `learning.idleMinutes`: expected an integer from 1 to 10000, got 0; using the default",
                "spot setting `maxFileSize`: expected a positive integer (bytes), got \"big\"; using the default",
                "spot setting `modelDir`: expected a directory path, got 42; using the default",
                "spot setting `rerank`: expected an integer from 0 (off) to 20, got 50; using the default",
            ]
        "#]]
        .assert_debug_eq(&w);
        assert_eq!(s.rerank, 0);
        let (s, w) = Settings::from_json(Some(&json!({ "rerank": 5 })));
        assert_eq!((s.rerank, w.len()), (5, 0));
        let (_, w) = Settings::from_json(Some(&json!([1, 2])));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn the_backend_is_opt_in_and_a_bad_one_keeps_the_local_model() {
        assert_eq!(Settings::default().backend, None);
        let (s, w) = Settings::from_json(Some(&json!({ "backend": {
            "kind": "openai",
            "url": "http://127.0.0.1:11434/v1",
            "model": "qwen2.5-coder:7b",
            "apiKeyEnv": "SPOT_TEST_UNSET_KEY_VAR"
        }})));
        assert!(w.is_empty(), "{w:?}");
        let b = s.backend.expect("a backend");
        assert_eq!(b.url, "http://127.0.0.1:11434/v1");
        let (config, warning) = b.remote_config();
        assert_eq!(
            (config.model.as_str(), config.api_key),
            ("qwen2.5-coder:7b", None)
        );
        assert!(warning.expect("unset").contains("SPOT_TEST_UNSET_KEY_VAR"));
        let (s, w) = Settings::from_json(Some(&json!({ "backend": {
            "kind": "anthropic", "url": "127.0.0.1:8080", "colour": 1
        }})));
        assert_eq!(s.backend, None);
        expect_test::expect![[r#"
            [
                "spot setting `backend`: `kind` must be \"openai\", got \"anthropic\"; `url` must be an http:// or https:// URL (e.g. http://127.0.0.1:8080/v1); `model` must name the server's model; unknown key `colour`; using the local model",
            ]
        "#]]
        .assert_debug_eq(&w);
        let (s, w) = Settings::from_json(Some(&json!({ "backend": "ollama" })));
        assert_eq!((s.backend, w.len()), (None, 1));
    }
}
