//! `spot generate`: streams a model's continuation of a prompt (or its chat reply) to stdout.
//!
//! Also owns the translation of the model flags and the environment (`ORT_DYLIB_PATH`, the data
//! dir) into [`RuntimeOptions`], shared with `spot doctor`. Generation itself is
//! [`spot::model::Model::generate`]; nothing here decides how tokens are chosen.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use spot_base::cancel::CancelToken;
use spot_model::{
    default_model_dir, ApiKey, ChatMessage, GenerateParams, Model, Provider, RemoteConfig, Runtime,
    RuntimeOptions,
};

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Model directory (HF/optimum or onnxruntime-genai layout). Default: the built default model,
    /// <data>/models/smollm2-135m-instruct (fixtures/models/setup.sh builds it).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Send the prompt as a user message through the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// System message for --chat (default: the template's own, if any).
    #[arg(long, value_name = "TEXT", requires = "chat")]
    pub system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 decodes greedily.
    #[arg(long, value_name = "T", default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens up to this total probability.
    #[arg(long, value_name = "P", default_value_t = 1.0)]
    pub top_p: f32,
    /// Keep only the K most likely tokens (0: all).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub top_k: usize,
    /// Seed of the sampler (the same seed gives the same text).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Guess up to N next tokens from the prompt and the answer so far (prompt lookup) and
    /// check them in one graph run; 0 turns it off. Faster on answers that quote their prompt
    /// (code edits). Greedy: the same tokens on fp32 graphs (a quantized graph's batched kernels
    /// round differently and may break a near-tie the other way); sampling: the same
    /// distribution, another draw for a given seed.
    #[arg(long, value_name = "N", default_value_t = spot_model::DEFAULT_LOOKUP)]
    pub lookup: usize,
    /// Stop when this text appears (repeatable); it is not printed.
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Keep generating past the end-of-sequence token (for benchmarks).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Print token counts, times and speeds to stderr when done: `text` (the default) or `json`
    /// (one line, for scripts such as bench/decode): `--stats` or `--stats=json`.
    #[arg(long, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "text")]
    pub stats: Option<StatsFormat>,
    /// The prompt; `-` reads it from stdin.
    pub prompt: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    Text,
    Json,
}

/// Flags that choose ONNX Runtime and the execution provider (shared with `spot doctor`).
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// Execution provider: auto (CUDA, then DirectML, then CPU), cuda, directml or cpu.
    #[arg(long, value_name = "EP", default_value = "auto")]
    pub provider: Provider,
    /// ONNX Runtime library (or a directory holding it); overrides ORT_DYLIB_PATH and discovery.
    #[arg(long = "ort", value_name = "PATH")]
    pub ort: Option<PathBuf>,
}

/// Flags that put an OpenAI-compatible server in place of the local model (opt-in; shared by
/// `generate`, `patch`, `localize --rerank` and `eval patch`). docs/backends.md has the servers'
/// commands.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Use the OpenAI-compatible server at this base URL, up to /v1, instead of the local model
    /// (e.g. http://127.0.0.1:8080/v1 for llama-server, http://127.0.0.1:11434/v1 for Ollama).
    /// Without it nothing is sent anywhere.
    #[arg(long, value_name = "URL", requires = "backend_model")]
    pub backend_url: Option<String>,
    /// The server's name of the model (as its /v1/models lists it).
    #[arg(long, value_name = "NAME", requires = "backend_url")]
    pub backend_model: Option<String>,
    /// The environment variable holding the server's API key (sent as a bearer token; never
    /// logged or printed).
    #[arg(long, value_name = "VAR", requires = "backend_url")]
    pub backend_key_env: Option<String>,
    /// The server's context window in tokens (default 4096).
    #[arg(long, value_name = "N", requires = "backend_url")]
    pub backend_context: Option<usize>,
}

impl BackendArgs {
    /// The server's configuration, with the key read from its variable; `None` without
    /// `--backend-url`.
    pub fn config(&self) -> anyhow::Result<Option<RemoteConfig>> {
        let (Some(url), Some(model)) = (&self.backend_url, &self.backend_model) else {
            return Ok(None);
        };
        let mut config = RemoteConfig::new(url.as_str(), model.as_str());
        config.context_length = self.backend_context;
        if let Some(var) = &self.backend_key_env {
            let key = std::env::var(var).ok().filter(|k| !k.is_empty());
            let Some(key) = key else {
                anyhow::bail!(
                    "--backend-key-env {var}: the environment variable {var} is unset or empty"
                );
            };
            config.api_key = Some(ApiKey::new(key, format!("${var}")));
        }
        Ok(Some(config))
    }

    /// The server as the model, when the flags name one (asks it for its models first).
    pub fn connect(&self) -> anyhow::Result<Option<Model>> {
        match self.config()? {
            Some(config) => Ok(Some(Model::connect(config, &CancelToken::new())?)),
            None => Ok(None),
        }
    }
}

impl RuntimeArgs {
    /// Runtime options from the flags, `ORT_DYLIB_PATH` and the data dir; the Python probe is the
    /// last resort.
    pub fn options(&self, data_dir: &Path) -> RuntimeOptions {
        RuntimeOptions {
            ort_path: self.ort.clone(),
            env_ort_path: std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            data_dir: Some(data_dir.to_path_buf()),
            python_probe: true,
            provider: self.provider,
        }
    }
}

/// The model directory for the workspace at `root`: the flag, else the workspace's learned model
/// (`spot learn`), else the default model, with a hint when it is missing.
pub fn workspace_model_dir(
    flag: Option<&Path>,
    data_dir: &Path,
    root: &Path,
) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir.to_path_buf()),
        None => spot_learn::store::ModelStore::for_workspace(data_dir, root)
            .active()
            .map_or_else(|| model_dir(None, data_dir), Ok),
    }
}

/// The model directory to use: the flag, else the default model, with a hint when it is missing.
pub fn model_dir(flag: Option<&Path>, data_dir: &Path) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir.to_path_buf()),
        None => {
            let dir = default_model_dir(data_dir);
            anyhow::ensure!(
                dir.is_dir(),
                "no model given and the default model {} is not built: run \
                 fixtures/models/setup.sh (offline, ~2 min with a warm cache), or pass --model DIR",
                dir.display()
            );
            Ok(dir)
        }
    }
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let data_dir = spot_base::data_dir::resolve();
    let remote = args.backend.config()?;
    let dir = match remote {
        Some(_) => PathBuf::new(),
        None => model_dir(args.model.as_deref(), &data_dir)?,
    };
    let prompt = if args.prompt == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the prompt from stdin")?;
        text
    } else {
        args.prompt.clone()
    };

    let model = match remote {
        Some(config) => Model::connect(config, &CancelToken::new())?,
        None => Model::load(&Runtime::init(&args.runtime.options(&data_dir))?, &dir)?,
    };
    let messages = args.chat.then(|| {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(ChatMessage::system(system.as_str()));
        }
        messages.push(ChatMessage::user(prompt.as_str()));
        messages
    });
    let params = GenerateParams {
        max_new_tokens: args.max_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        seed: args.seed,
        stop: args.stop.clone(),
        add_special_tokens: !args.chat,
        stop_on_eos: !args.ignore_eos,
        lookup: args.lookup,
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let cancel = CancelToken::new();
    let mut on_text = |piece: &str| {
        if write_error.is_none() {
            if let Err(e) = out.write_all(piece.as_bytes()).and_then(|()| out.flush()) {
                // A closed pipe (`| head`) ends the generation quietly.
                write_error = Some(e);
                cancel.cancel();
            }
        }
    };
    let generation = match &messages {
        Some(messages) => model.chat(messages, &params, &cancel, &mut on_text),
        None => model.generate(&prompt, &params, &cancel, &mut on_text),
    };
    if let Some(e) = write_error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e).context("cannot write to stdout");
    }
    let generation = generation?;
    writeln!(out).context("cannot write to stdout")?;
    let t = &generation.timings;
    match args.stats {
        Some(StatsFormat::Text) => eprintln!(
            "spot: {} prompt tokens, {} new tokens ({:?}); prefill {:.1} ms ({:.0} tokens/s), \
             first token {:.1} ms, decode {:.1} tokens/s{}; provider {}",
            generation.n_prompt_tokens,
            generation.n_new_tokens,
            generation.stop_reason,
            t.prefill.as_secs_f64() * 1e3,
            t.prefill_tokens_per_s(generation.n_prompt_tokens),
            t.first_token.as_secs_f64() * 1e3,
            t.decode_tokens_per_s(generation.n_new_tokens),
            if generation.drafted > 0 {
                format!(
                    " (prompt lookup: {} of {} draft tokens kept)",
                    generation.accepted, generation.drafted
                )
            } else {
                String::new()
            },
            model.info().provider,
        ),
        Some(StatsFormat::Json) => eprintln!(
            "{}",
            serde_json::json!({
                "n_prompt_tokens": generation.n_prompt_tokens,
                "n_new_tokens": generation.n_new_tokens,
                "stop_reason": generation.stop_reason,
                "tokenize_s": t.tokenize.as_secs_f64(),
                "prefill_s": t.prefill.as_secs_f64(),
                "first_token_s": t.first_token.as_secs_f64(),
                "decode_s": t.decode.as_secs_f64(),
                "prefill_tokens_per_s": t.prefill_tokens_per_s(generation.n_prompt_tokens),
                "decode_tokens_per_s": t.decode_tokens_per_s(generation.n_new_tokens),
                "drafted": generation.drafted,
                "accepted": generation.accepted,
                "provider": model.info().provider,
            })
        ),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
