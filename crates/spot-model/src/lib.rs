//! Local language model through ONNX Runtime: runtime discovery, model directories, chat templates,
//! tokenization and KV-cached generation. Knows nothing of repositories, LSP or the environment.
//!
//! The shells resolve settings and environment (`ORT_DYLIB_PATH`, the data dir) into
//! [`RuntimeOptions`] and call [`Runtime::init`] once; [`Model::load`] opens a model directory
//! (the HF/optimum layout, or an onnxruntime-genai one) and [`Model::generate`] streams text.
//! One [`Model`] is shared by every request: its ONNX session sits behind a lock, so concurrent
//! generations queue and each can be cancelled while it waits or between tokens.
//!
//! Opt-in, [`Model::connect`] puts an OpenAI-compatible server (Ollama, llama-server, vLLM) behind
//! the same [`Model`] (`remote.rs`): nothing here opens a socket unless a shell passes it a
//! [`RemoteConfig`].

mod chat;
mod dir;
mod generate;
mod lookup;
mod remote;
mod runtime;
mod sample;
mod session;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;

/// The environment variable (and value) that turns ONNX Runtime's 1DS telemetry off. It must be
/// in the environment before the runtime's environment is created (and before Python imports
/// onnxruntime in a child); `with_telemetry(false)` alone leaves it on (docs/notes/ort-telemetry.md).
pub const ORT_TELEMETRY_OFF: (&str, &str) = ("ORT_DISABLE_TELEMETRY", "1");

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use spot_base::cancel::{CancelToken, Cancelled};

pub use chat::ChatMessage;
pub use dir::{inspect_dir, DirReport, FileCheck, FileStatus, MODEL_FILE};
pub use remote::{
    estimate_tokens, render_chatml, ApiKey, RemoteConfig, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONTEXT_LENGTH, DEFAULT_READ_TIMEOUT,
};
pub use runtime::{
    find_runtime_library, probe_python_onnxruntime, Runtime, RuntimeInfo, LIB_NAMES,
};

/// Name of the default model directory under `<data>/models/` (built by
/// `fixtures/models/setup.sh`).
pub const DEFAULT_MODEL_NAME: &str = "smollm2-135m-instruct";

/// Where the default model lives inside spot's data directory.
pub fn default_model_dir(data_dir: &Path) -> PathBuf {
    spot_base::data_dir::models_dir(data_dir).join(DEFAULT_MODEL_NAME)
}

/// The model spot uses when none is configured: `<data>/models/active` (the model learning
/// installed; a symlink or directory) when it exists, else the default model.
pub fn active_model_dir(data_dir: &Path) -> PathBuf {
    let active = spot_base::data_dir::models_dir(data_dir).join("active");
    if active.is_dir() {
        active
    } else {
        default_model_dir(data_dir)
    }
}

/// Which execution provider runs the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// CUDA, else DirectML, else CPU: the first one that this runtime offers and that starts.
    #[default]
    Auto,
    Cuda,
    #[serde(rename = "directml")]
    DirectMl,
    Cpu,
    /// Not a setting: the model runs on an OpenAI-compatible server ([`Model::connect`]).
    Remote,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Auto => "auto",
            Provider::Cuda => "cuda",
            Provider::DirectMl => "directml",
            Provider::Cpu => "cpu",
            Provider::Remote => "remote",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Provider::Auto),
            "cuda" => Ok(Provider::Cuda),
            "directml" | "dml" => Ok(Provider::DirectMl),
            "cpu" => Ok(Provider::Cpu),
            other => Err(format!(
                "unknown execution provider `{other}` (expected auto, cuda, directml or cpu)"
            )),
        }
    }
}

/// How to find and start ONNX Runtime. Every field is a plain value: the shells read settings and
/// the environment and fill it in (see `cli/generate.rs`).
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// The `ortPath` setting: a library file or a directory holding one. Used alone when set.
    pub ort_path: Option<PathBuf>,
    /// The value of `ORT_DYLIB_PATH`, read by the shell. Used alone when set (and no `ort_path`).
    pub env_ort_path: Option<PathBuf>,
    /// spot's data directory; `<data>/onnxruntime/` is searched.
    pub data_dir: Option<PathBuf>,
    /// Ask `python3` where its `onnxruntime` package lives (spawns a process; last resort).
    pub python_probe: bool,
    pub provider: Provider,
}

/// Sampling and stopping settings of one generation.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub max_new_tokens: usize,
    /// `0.0` (or less) means greedy decoding.
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`
    /// (`1.0` keeps all).
    pub top_p: f32,
    /// Keep the `top_k` most likely tokens (`0` keeps all).
    pub top_k: usize,
    /// Seed of the sampler; the same seed, prompt and settings give the same text.
    pub seed: u64,
    /// Text that ends the generation; it is not part of the result.
    pub stop: Vec<String>,
    /// Add the tokenizer's special tokens (e.g. BOS) around the prompt. `false` for prompts
    /// rendered by the chat template, which already carry them.
    pub add_special_tokens: bool,
    /// Stop on the model's end-of-sequence ids (from generation_config.json and config.json).
    pub stop_on_eos: bool,
    /// Guess up to this many next tokens from the text so far (prompt lookup) and check them in
    /// one graph run; `0` decodes one token per run. Greedy: the same tokens, up to rounding (a
    /// quantized graph's kernels for several tokens may break a near-tie differently from its
    /// one-token kernels). Sampling: the same distribution (speculative sampling's rule), but
    /// a seed draws differently than with `0`.
    pub lookup: usize,
}

/// Draft tokens prompt lookup guesses per graph run, by default.
pub const DEFAULT_LOOKUP: usize = 8;

impl Default for GenerateParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
            stop: Vec::new(),
            add_special_tokens: true,
            stop_on_eos: true,
            lookup: DEFAULT_LOOKUP,
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-sequence token.
    Eos,
    /// One of [`GenerateParams::stop`] appeared.
    StopString,
    /// [`GenerateParams::max_new_tokens`] were produced.
    MaxTokens,
    /// The context window is full.
    ContextFull,
}

/// Wall-clock times of one generation.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Waiting for the shared session (other requests ahead in the queue).
    pub queued: Duration,
    /// Tokenization of the prompt.
    pub tokenize: Duration,
    /// The prefill pass over the whole prompt.
    pub prefill: Duration,
    /// From the call to the first generated token (queue excluded).
    pub first_token: Duration,
    /// All decode steps after the first token.
    pub decode: Duration,
}

impl Timings {
    /// Prompt tokens per second of the prefill pass.
    pub fn prefill_tokens_per_s(&self, n_prompt_tokens: usize) -> f64 {
        per_second(n_prompt_tokens, self.prefill)
    }

    /// Generated tokens per second after the first one (the steady decode rate).
    pub fn decode_tokens_per_s(&self, n_new_tokens: usize) -> f64 {
        per_second(n_new_tokens.saturating_sub(1), self.decode)
    }
}

fn per_second(n: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// The result of [`Model::score`]: how well the model predicts a text after a prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Score {
    /// Sum of the negative log-likelihoods (nats) of the target tokens.
    pub nll: f64,
    pub tokens: usize,
    /// Target tokens that were the model's greedy choice.
    pub correct: usize,
}

impl Score {
    /// Mean loss per token (the training loss), `0` for no tokens.
    pub fn mean_nll(&self) -> f64 {
        if self.tokens == 0 {
            0.0
        } else {
            self.nll / self.tokens as f64
        }
    }
}

/// The result of [`Model::generate`].
#[derive(Debug, Clone)]
pub struct Generation {
    /// The generated text (stop string and end-of-sequence token excluded).
    pub text: String,
    /// The generated token ids (end-of-sequence token included when it ended the generation).
    pub tokens: Vec<u32>,
    pub n_prompt_tokens: usize,
    pub n_new_tokens: usize,
    pub stop_reason: StopReason,
    pub timings: Timings,
    /// Prompt lookup: draft tokens fed, and how many of them greedy decoding kept.
    pub drafted: usize,
    pub accepted: usize,
}

/// Errors of the model runtime. Each names the file, path or setting it is about.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("ONNX Runtime not found; tried:\n{tried}\n{hint}")]
    RuntimeNotFound { tried: String, hint: &'static str },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error(
        "ONNX Runtime is already loaded from {loaded} in this process; restart spot to use {requested}"
    )]
    RuntimeAlreadyLoaded { loaded: PathBuf, requested: PathBuf },
    #[error("cannot start ONNX Runtime ({path}): {message}")]
    RuntimeStart { path: PathBuf, message: String },
    #[error("model directory {dir} not found: {hint}")]
    ModelDirMissing { dir: PathBuf, hint: String },
    #[error("model directory {dir} lacks {file}")]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is invalid: {message}")]
    InvalidFile { path: PathBuf, message: String },
    #[error("cannot load the tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("cannot load the ONNX model {path}: {message}")]
    Session { path: PathBuf, message: String },
    #[error("the ONNX model {path} is not a supported decoder: {message}")]
    UnsupportedGraph { path: PathBuf, message: String },
    #[error(
        "the tokenizer of {dir} has {tokenizer} tokens but the model's logits have {logits}: \
         tokenizer.json does not belong to this model"
    )]
    VocabMismatch {
        dir: PathBuf,
        tokenizer: usize,
        logits: usize,
    },
    #[error("the model directory {dir} has no chat template (tokenizer_config.json `chat_template` or chat_template.jinja)")]
    NoChatTemplate { dir: PathBuf },
    #[error("cannot render the chat template of {dir}: {message}")]
    ChatTemplate { dir: PathBuf, message: String },
    #[error("cannot tokenize the prompt: {0}")]
    Encode(String),
    #[error("cannot decode token {id}: {message}")]
    Decode { id: u32, message: String },
    #[error(
        "the prompt has {n_tokens} tokens but the model's context holds {context} \
         (shorten the prompt)"
    )]
    PromptTooLong { n_tokens: usize, context: usize },
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("invalid generation setting: {0}")]
    InvalidParams(String),
    #[error("inference failed at step {step}: {message}")]
    Inference { step: usize, message: String },
    #[error("{0}")]
    InvalidBackend(String),
    /// A request to an OpenAI-compatible server failed: `status` is the HTTP status when one
    /// came, `message` the server's own words or what went wrong on the way (never the key).
    #[error("the model server {url}: {message}")]
    Remote {
        url: String,
        status: Option<u16>,
        message: String,
    },
    #[error("the model server {url} serves no model `{model}` (it serves: {available})")]
    RemoteUnknownModel {
        url: String,
        model: String,
        available: String,
    },
    /// The server gives no log-probabilities of a prompt: scoring (reranking, ranking one-line
    /// edits) is unavailable, and callers rank by the other evidence.
    #[error("the model server {url} cannot score text: {message}")]
    ScoringUnsupported { url: String, message: String },
    #[error(
        "{what} needs the local model's tokenizer; the model server {url} has none spot can use"
    )]
    RemoteUnsupported { url: String, what: &'static str },
    #[error("cancelled")]
    Cancelled,
}

impl From<Cancelled> for ModelError {
    fn from(_: Cancelled) -> Self {
        ModelError::Cancelled
    }
}

/// A loaded model directory: tokenizer, chat template, generation config and one ONNX session
/// shared by every caller.
pub(crate) struct OnnxModel {
    dir: PathBuf,
    config: dir::ModelConfig,
    tokenizer: tokenizers::Tokenizer,
    template: Option<chat::ChatTemplate>,
    io: session::GraphIo,
    provider: Provider,
    session: Mutex<ort::session::Session>,
    /// Decode with one KV buffer per tensor bound as both past and present (see
    /// `ModelConfig::share_kv_buffer`); turned off for good if the graph refuses it.
    share_kv: std::sync::atomic::AtomicBool,
    /// Score a target in one graph run (every target position's logits); turned off for good
    /// if the graph returns the last position's logits only.
    one_pass_score: std::sync::atomic::AtomicBool,
    /// Check prompt-lookup drafts in one graph run; turned off for good if the graph refuses
    /// several new tokens after a cache.
    lookup: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxModel")
            .field("dir", &self.dir)
            .field("provider", &self.provider)
            .field("layers", &self.io.layers.len())
            .finish_non_exhaustive()
    }
}

/// What [`Model::info`] reports (for `spot doctor` and status requests).
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub dir: PathBuf,
    pub provider: Provider,
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub kv_dtype: String,
    pub vocab_size: usize,
    pub context_length: usize,
    pub eos_token_ids: Vec<u32>,
    pub has_chat_template: bool,
    pub has_position_ids: bool,
    pub merged_decoder: bool,
    /// The KV cache is one buffer per tensor bound as both past and present (the graph writes
    /// each step in place); otherwise each step's present replaces the past.
    pub shared_kv_buffer: bool,
    /// The graph takes `num_logits_to_keep`: its LM head runs on the last positions only.
    pub last_logits_only: bool,
    /// `model NAME at URL` when the model runs on an OpenAI-compatible server (then `dir` is
    /// the URL and the graph fields are zero).
    pub server: Option<String>,
}

impl OnnxModel {
    /// Opens a model directory: validates its files, loads the tokenizer and the chat template,
    /// and starts one ONNX session on the runtime's execution provider.
    pub fn load(rt: &Runtime, dir: &Path) -> Result<OnnxModel, ModelError> {
        let files = dir::ModelFiles::open(dir)?;
        let config = dir::ModelConfig::read(&files)?;
        let tokenizer = dir::load_tokenizer(&files)?;
        let template = chat::ChatTemplate::from_dir(&files)?;
        let (session, provider) = rt.open_session(&files.model)?;
        let io = session::GraphIo::from_session(&session, &config, &files.model)?;
        let n_tokenizer = tokenizer.get_vocab_size(true);
        if let Some(n_logits) = io.vocab_size {
            if n_tokenizer > n_logits {
                return Err(ModelError::VocabMismatch {
                    dir: files.dir.clone(),
                    tokenizer: n_tokenizer,
                    logits: n_logits,
                });
            }
        }
        tracing::info!(
            dir = %files.dir.display(),
            provider = %provider,
            layers = io.layers.len(),
            "model loaded"
        );
        Ok(OnnxModel {
            share_kv: std::sync::atomic::AtomicBool::new(config.share_kv_buffer),
            one_pass_score: std::sync::atomic::AtomicBool::new(true),
            lookup: std::sync::atomic::AtomicBool::new(true),
            dir: files.dir,
            config,
            tokenizer,
            template,
            io,
            provider,
            session: Mutex::new(session),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            dir: self.dir.clone(),
            provider: self.provider,
            layers: self.io.layers.len(),
            kv_heads: self.io.kv_heads,
            head_dim: self.io.head_dim,
            kv_dtype: format!("{:?}", self.io.kv_dtype),
            vocab_size: self.io.vocab_size.unwrap_or(self.config.vocab_size),
            context_length: self.context_length(),
            eos_token_ids: self.config.eos_token_ids.clone(),
            has_chat_template: self.template.is_some(),
            has_position_ids: self.io.position_ids.is_some(),
            merged_decoder: self.io.use_cache_branch.is_some(),
            shared_kv_buffer: self.share_kv.load(std::sync::atomic::Ordering::Relaxed),
            last_logits_only: self.io.logits_to_keep.is_some(),
            server: None,
        }
    }

    /// Renders a conversation with the model's chat template, as transformers'
    /// `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` does.
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ModelError> {
        match &self.template {
            Some(template) => template.render(messages, add_generation_prompt),
            None => Err(ModelError::NoChatTemplate {
                dir: self.dir.clone(),
            }),
        }
    }

    /// Number of tokens of `text` (without special tokens).
    pub fn count_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Ok(self.encode(text, false)?.len())
    }

    /// Token ids of `text`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, add_special_tokens)
            .map_err(|e| ModelError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of token ids (special tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| ModelError::Decode {
                id: ids.first().copied().unwrap_or_default(),
                message: e.to_string(),
            })
    }

    /// Tokens the model attends to at once (prompt plus generated text).
    pub fn context_length(&self) -> usize {
        self.config.context_length
    }

    /// Teacher-forced score of `target` as the continuation of `prompt` (both plain text; the
    /// prompt is usually a rendered chat with the generation prompt): what evaluations compare.
    pub fn score(
        &self,
        prompt: &str,
        target: &str,
        cancel: &CancelToken,
    ) -> Result<Score, ModelError> {
        let prompt_ids = self.encode(prompt, false)?;
        let target_ids = self.encode(target, false)?;
        generate::score_ids(self, &prompt_ids, &target_ids, cancel)
    }

    /// [`Model::score`] with each target token's negative log-likelihood (nats), in order.
    pub fn score_each(
        &self,
        prompt: &str,
        target: &str,
        cancel: &CancelToken,
    ) -> Result<(Score, Vec<f32>), ModelError> {
        let prompt_ids = self.encode(prompt, false)?;
        let target_ids = self.encode(target, false)?;
        let mut each = Vec::with_capacity(target_ids.len());
        let score =
            generate::score_ids_each(self, &prompt_ids, &target_ids, cancel, Some(&mut each))?;
        Ok((score, each))
    }
}

/// The model every caller uses: a local ONNX model ([`Model::load`], the default) or an
/// OpenAI-compatible server ([`Model::connect`], opt-in). Both answer the same methods; where a
/// server cannot (token ids, scoring on servers without prompt log-probabilities) the error says
/// so ([`ModelError::RemoteUnsupported`], [`ModelError::ScoringUnsupported`]).
pub struct Model {
    engine: Engine,
}

// One `Model` per loaded model, kept in an `Arc` and never moved in bulk: the size difference
// between the engines costs nothing.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Onnx(OnnxModel),
    Remote(remote::RemoteModel),
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.engine {
            Engine::Onnx(m) => m.fmt(f),
            Engine::Remote(m) => f
                .debug_struct("RemoteModel")
                .field("config", m.config())
                .finish_non_exhaustive(),
        }
    }
}

impl Model {
    /// Opens a model directory: validates its files, loads the tokenizer and the chat template,
    /// and starts one ONNX session on the runtime's execution provider.
    pub fn load(rt: &Runtime, dir: &Path) -> Result<Model, ModelError> {
        Ok(Model {
            engine: Engine::Onnx(OnnxModel::load(rt, dir)?),
        })
    }

    /// Uses the model `config.model` of the OpenAI-compatible server at `config.url`. Asks the
    /// server for its models first (cancellable), so that a server that is down, refuses the key
    /// or lacks the model is an error now.
    pub fn connect(config: RemoteConfig, cancel: &CancelToken) -> Result<Model, ModelError> {
        Ok(Model {
            engine: Engine::Remote(remote::RemoteModel::connect(config, cancel)?),
        })
    }

    /// The model directory; for a server, its base URL (no file there).
    pub fn dir(&self) -> &Path {
        match &self.engine {
            Engine::Onnx(m) => m.dir(),
            Engine::Remote(m) => m.label(),
        }
    }

    /// The server's configuration, for a model on a server.
    pub fn remote(&self) -> Option<&RemoteConfig> {
        match &self.engine {
            Engine::Onnx(_) => None,
            Engine::Remote(m) => Some(m.config()),
        }
    }

    pub fn info(&self) -> ModelInfo {
        match &self.engine {
            Engine::Onnx(m) => m.info(),
            Engine::Remote(m) => ModelInfo {
                dir: m.label().to_path_buf(),
                provider: Provider::Remote,
                layers: 0,
                kv_heads: 0,
                head_dim: 0,
                kv_dtype: String::new(),
                vocab_size: 0,
                context_length: m.context_length(),
                eos_token_ids: Vec::new(),
                has_chat_template: true,
                has_position_ids: false,
                merged_decoder: false,
                shared_kv_buffer: false,
                last_logits_only: false,
                server: Some(m.config().label()),
            },
        }
    }

    /// Renders a conversation with the model's chat template, as transformers'
    /// `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` does. A server's
    /// template is not known here: it gets the generic [`render_chatml`]; prefer [`Model::chat`]
    /// where the conversation is all there is to send.
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => m.render_chat(messages, add_generation_prompt),
            Engine::Remote(_) => Ok(render_chatml(messages, add_generation_prompt)),
        }
    }

    /// Number of tokens of `text` (without special tokens); for a server, [`estimate_tokens`].
    pub fn count_tokens(&self, text: &str) -> Result<usize, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => m.count_tokens(text),
            Engine::Remote(_) => Ok(estimate_tokens(text)),
        }
    }

    /// Token ids of `text` (local models only).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => m.encode(text, add_special_tokens),
            Engine::Remote(m) => Err(unsupported(m, "encoding text to token ids")),
        }
    }

    /// Text of token ids (special tokens skipped; local models only).
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => m.decode(ids),
            Engine::Remote(m) => Err(unsupported(m, "decoding token ids")),
        }
    }

    /// Tokens the model attends to at once (prompt plus generated text); for a server, the
    /// configured length or [`DEFAULT_CONTEXT_LENGTH`].
    pub fn context_length(&self) -> usize {
        match &self.engine {
            Engine::Onnx(m) => m.context_length(),
            Engine::Remote(m) => m.context_length(),
        }
    }

    /// Generates a continuation of `prompt`, calling `on_text` with each new piece of text as soon
    /// as it is complete UTF-8 and cannot be the start of a stop string. Waits for the shared
    /// session first (cancellable), then checks `cancel` between tokens. A server streams it from
    /// `/v1/completions`.
    pub fn generate(
        &self,
        prompt: &str,
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => generate::generate(m, prompt, params, cancel, on_text),
            Engine::Remote(m) => m.generate(prompt, params, cancel, on_text),
        }
    }

    /// The assistant's reply to `messages`: a local model renders its chat template (with the
    /// generation prompt) and generates; a server applies its own template
    /// (`/v1/chat/completions`). `params.add_special_tokens` is ignored: a rendered chat carries
    /// its special tokens.
    pub fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => {
                let prompt = m.render_chat(messages, true)?;
                let params = GenerateParams {
                    add_special_tokens: false,
                    ..params.clone()
                };
                generate::generate(m, &prompt, &params, cancel, on_text)
            }
            Engine::Remote(m) => m.chat(messages, params, cancel, on_text),
        }
    }

    /// Teacher-forced score of `target` as the continuation of `prompt` (both plain text; the
    /// prompt is usually a rendered chat with the generation prompt): what evaluations compare.
    /// A server scores through `/v1/completions` with `echo` and `logprobs`, or answers
    /// [`ModelError::ScoringUnsupported`].
    pub fn score(
        &self,
        prompt: &str,
        target: &str,
        cancel: &CancelToken,
    ) -> Result<Score, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => m.score(prompt, target, cancel),
            Engine::Remote(m) => Ok(m.score_each(prompt, target, cancel)?.0),
        }
    }

    /// [`Model::score`] with each target token's negative log-likelihood (nats), in order.
    pub fn score_each(
        &self,
        prompt: &str,
        target: &str,
        cancel: &CancelToken,
    ) -> Result<(Score, Vec<f32>), ModelError> {
        match &self.engine {
            Engine::Onnx(m) => m.score_each(prompt, target, cancel),
            Engine::Remote(m) => m.score_each(prompt, target, cancel),
        }
    }

    /// Greedy (or sampled) generation from token ids, without text streaming: what the golden
    /// tests compare with the Python reference (local models only).
    pub fn generate_ids(
        &self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        cancel: &CancelToken,
    ) -> Result<Vec<u32>, ModelError> {
        match &self.engine {
            Engine::Onnx(m) => generate::generate_ids(m, prompt_ids, params, cancel),
            Engine::Remote(m) => Err(unsupported(m, "generating from token ids")),
        }
    }
}

fn unsupported(m: &remote::RemoteModel, what: &'static str) -> ModelError {
    ModelError::RemoteUnsupported {
        url: m.config().url.clone(),
        what,
    }
}

#[cfg(test)]
impl Model {
    /// The crate's tests reach into the ONNX engine (its session lock, its fallbacks).
    pub(crate) fn onnx(&self) -> &OnnxModel {
        match &self.engine {
            Engine::Onnx(m) => m,
            Engine::Remote(_) => unreachable!("the crate's tests use local models here"),
        }
    }
}
