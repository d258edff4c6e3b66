//! An OpenAI-compatible server as the model (opt-in): Ollama, llama.cpp's `llama-server`, vLLM,
//! or any server speaking `/v1/models`, `/v1/completions` and `/v1/chat/completions`. No
//! tokenizer, no ONNX Runtime, no environment: the shell hands in a [`RemoteConfig`] (the API key
//! already read from the variable it names).
//!
//! - Generation streams (server-sent events): a rendered prompt goes to `/v1/completions`
//!   ([`crate::Model::generate`]), messages to `/v1/chat/completions` with the server's own chat
//!   template ([`crate::Model::chat`]).
//! - [`crate::Model::render_chat`] renders with a generic ChatML template ([`render_chatml`]):
//!   the template of the default model (SmolLM2) and of Qwen; other models get a prompt they
//!   can follow but were not trained on. Callers that have messages call `chat` instead.
//! - Scoring asks `/v1/completions` for the prompt's log-probabilities (`echo`, `logprobs: 1`,
//!   `max_tokens: 1`); a server that gives none (Ollama, OpenAI's newer models) makes it
//!   [`ModelError::ScoringUnsupported`], remembered for the model's life, which callers treat as
//!   "rank by the other evidence".
//! - Token counts are an estimate ([`estimate_tokens`]); the context length comes from the
//!   configuration, else [`DEFAULT_CONTEXT_LENGTH`].
//! - Every request runs on a thread of its own while the caller polls its `CancelToken` every
//!   [`POLL`]: cancelling returns at once, and the request's connection closes when its thread
//!   next hears from the server. A stream silent for `read_timeout` is an error.
//! - Errors are one line naming the server (connection refused, timeouts, the server's own
//!   message for a wrong model name or a refused key, a malformed or cut stream). The API key is
//!   never logged, never in a message (a server echoing it is masked), never in `Debug`.
//! - No proxy from the environment, no redirects: requests go to the configured address only.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use spot_base::cancel::CancelToken;

use super::{ChatMessage, GenerateParams, Generation, ModelError, Score, StopReason, Timings};

/// Context length assumed when the configuration gives none: what llama.cpp and Ollama give a
/// model by default, and within every current code model's window.
pub const DEFAULT_CONTEXT_LENGTH: usize = 4096;
/// Default bound on establishing the TCP (and TLS) connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on silence: before the response starts (the server reading the prompt) and
/// between two streamed chunks.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a waiting call looks at its cancel token.
pub const POLL: Duration = Duration::from_millis(25);
/// Bytes of an error body read for its message; of a whole (non-streamed) answer.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
const BODY_LIMIT: u64 = 64 * 1024 * 1024;
/// Bound on one request's whole body (a long generation on a slow server stays well within).
const BODY_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// An API key, with where it came from (e.g. `$OPENAI_API_KEY`) for messages. Its `Debug` and
/// `Display` never show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    key: String,
    from: String,
}

impl ApiKey {
    /// `from` names the key's source in messages, never the key (e.g. `$SPOT_BACKEND_KEY`).
    pub fn new(key: impl Into<String>, from: impl Into<String>) -> ApiKey {
        ApiKey {
            key: key.into(),
            from: from.into(),
        }
    }

    pub fn source(&self) -> &str {
        &self.from
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(<from {}>)", self.from)
    }
}

/// Where the server is and how to talk to it: plain values, filled in by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// The API's base URL, up to and including `/v1` (e.g. `http://127.0.0.1:8080/v1`).
    pub url: String,
    /// The model name the server knows (`model` in each request; checked against `/v1/models`).
    pub model: String,
    pub api_key: Option<ApiKey>,
    /// The model's context window in tokens; `None`: [`DEFAULT_CONTEXT_LENGTH`].
    pub context_length: Option<usize>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl RemoteConfig {
    /// A configuration with the default context length and timeouts.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> RemoteConfig {
        RemoteConfig {
            url: url.into(),
            model: model.into(),
            api_key: None,
            context_length: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }

    /// `model NAME at URL`, for logs and status.
    pub fn label(&self) -> String {
        format!("model {} at {}", self.model, self.url)
    }
}

/// A generic ChatML rendering (`<|im_start|>role\ncontent<|im_end|>\n`, then
/// `<|im_start|>assistant\n` when `add_generation_prompt`): the prompt format of a remote model
/// whose own template spot does not have.
pub fn render_chatml(messages: &[ChatMessage], add_generation_prompt: bool) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str("<|im_start|>");
        out.push_str(&m.role);
        out.push('\n');
        out.push_str(&m.content);
        out.push_str("<|im_end|>\n");
    }
    if add_generation_prompt {
        out.push_str("<|im_start|>assistant\n");
    }
    out
}

/// Tokens of `text` as spot estimates them without the server's tokenizer: one per 3 bytes,
/// rounded up. Byte-pair tokenizers of code models average 3.5–4.5 bytes a token on source code
/// and English, so this errs on the high side: a prompt fitted to a budget by it fits the server.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// A connected server (see the module docs).
pub(crate) struct RemoteModel {
    config: RemoteConfig,
    /// `config.url` without a trailing `/`.
    base: String,
    agent: ureq::Agent,
    /// What [`crate::Model::dir`] shows: the base URL.
    label: PathBuf,
    /// Set once the server showed it cannot score: the reason, and no more scoring requests.
    no_scoring: Mutex<Option<String>>,
}

/// What the request thread hands the caller.
enum Msg {
    /// One line of a streamed body, or a whole body.
    Data(String),
    Fail(ModelError),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Stream,
    Whole,
}

impl RemoteModel {
    /// Checks the configuration and asks the server for its models: an unreachable server, a
    /// refused key or a model it does not serve is an error now, not at the first request. A
    /// server without `/v1/models` is taken at its word.
    pub(crate) fn connect(
        config: RemoteConfig,
        cancel: &CancelToken,
    ) -> Result<RemoteModel, ModelError> {
        let base = config.url.trim_end_matches('/').to_owned();
        let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
        if !scheme_ok || base.len() <= "https://".len() {
            return Err(ModelError::InvalidBackend(format!(
                "the backend URL `{}` is not an http:// or https:// URL (e.g. \
                 http://127.0.0.1:8080/v1)",
                config.url
            )));
        }
        if config.model.trim().is_empty() {
            return Err(ModelError::InvalidBackend(format!(
                "no model name for the backend at {base} (--backend-model NAME)"
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_recv_body(Some(BODY_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("spot/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let model = RemoteModel {
            label: PathBuf::from(&base),
            base,
            agent,
            config,
            no_scoring: Mutex::new(None),
        };
        model.check_model(cancel)?;
        tracing::info!("using the {}", model.config.label());
        Ok(model)
    }

    fn check_model(&self, cancel: &CancelToken) -> Result<(), ModelError> {
        let body = match self.whole("models", None, cancel) {
            Ok(body) => body,
            // No model list: the first request will say what is wrong, if anything.
            Err(ModelError::Remote {
                status: Some(404), ..
            }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let ids: Vec<String> = body
            .get("data")
            .and_then(Value::as_array)
            .map(|data| {
                data.iter()
                    .filter_map(|m| m.get("id").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() || ids.contains(&self.config.model) {
            return Ok(());
        }
        Err(ModelError::RemoteUnknownModel {
            url: self.base.clone(),
            model: self.config.model.clone(),
            available: ids.join(", "),
        })
    }

    pub(crate) fn config(&self) -> &RemoteConfig {
        &self.config
    }

    pub(crate) fn label(&self) -> &std::path::Path {
        &self.label
    }

    pub(crate) fn context_length(&self) -> usize {
        self.config.context_length.unwrap_or(DEFAULT_CONTEXT_LENGTH)
    }

    /// Streams a completion of `prompt` (`/v1/completions`).
    pub(crate) fn generate(
        &self,
        prompt: &str,
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        let mut body = self.sampling(params);
        body["prompt"] = json!(prompt);
        self.stream(
            "completions",
            body,
            estimate_tokens(prompt),
            cancel,
            on_text,
        )
    }

    /// Streams the assistant's reply to `messages` (`/v1/chat/completions`).
    pub(crate) fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, ModelError> {
        if messages.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        let mut body = self.sampling(params);
        body["messages"] = json!(messages);
        let n_prompt = messages
            .iter()
            .map(|m| estimate_tokens(&m.content) + 4)
            .sum();
        self.stream("chat/completions", body, n_prompt, cancel, on_text)
    }

    /// The request body's model and sampling fields (stop strings are the server's job; it
    /// always stops at end-of-sequence; prompt lookup is a local-decoder matter).
    fn sampling(&self, params: &GenerateParams) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature.max(0.0),
            "top_p": params.top_p,
            "seed": params.seed,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if params.top_k > 0 {
            body["top_k"] = json!(params.top_k);
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        body
    }

    fn stream(
        &self,
        endpoint: &str,
        body: Value,
        n_prompt_estimate: usize,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, ModelError> {
        let started = Instant::now();
        let rx = self.send(endpoint, Some(&body), Mode::Stream, cancel)?;
        let mut text = String::new();
        let mut n_chunks = 0usize;
        let mut first: Option<Duration> = None;
        let mut finish: Option<String> = None;
        let mut usage: Option<(usize, usize)> = None;
        let mut done = false;
        while let Some(line) = self.next(&rx, cancel)? {
            let line = line.trim_end_matches(['\r', '\n']);
            let Some(data) = line.strip_prefix("data:") else {
                if line.is_empty() || line.starts_with(':') || line.starts_with("event:") {
                    continue;
                }
                if line.starts_with("id:") || line.starts_with("retry:") {
                    continue;
                }
                // Not an event stream: an error object sent as a plain body, or garbage.
                return Err(match serde_json::from_str::<Value>(line) {
                    Ok(v) if v.get("error").is_some() => self.remote(None, server_message(&v)),
                    _ => self.malformed(format!("expected `data:` lines, got {}", excerpt(line))),
                });
            };
            let data = data.trim();
            if data == "[DONE]" {
                done = true;
                break;
            }
            let event: Value = serde_json::from_str(data)
                .map_err(|e| self.malformed(format!("{e} in {}", excerpt(data))))?;
            if event.get("error").is_some() {
                return Err(self.remote(None, server_message(&event)));
            }
            if let Some(u) = event.get("usage").filter(|u| !u.is_null()) {
                let n = |k: &str| u.get(k).and_then(Value::as_u64).map(|n| n as usize);
                if let (Some(p), Some(c)) = (n("prompt_tokens"), n("completion_tokens")) {
                    usage = Some((p, c));
                }
            }
            let Some(choice) = event
                .get("choices")
                .and_then(Value::as_array)
                .and_then(|c| c.first())
            else {
                // The usage chunk has no choices.
                continue;
            };
            let piece = choice
                .get("text")
                .or_else(|| choice.get("delta").and_then(|d| d.get("content")))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !piece.is_empty() {
                first.get_or_insert_with(|| started.elapsed());
                n_chunks += 1;
                text.push_str(piece);
                on_text(piece);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                finish = Some(reason.to_owned());
            }
        }
        if !done && finish.is_none() {
            return Err(self.remote(
                None,
                "the stream ended before the answer did (the server closed the connection)"
                    .to_owned(),
            ));
        }
        let first_token = first.unwrap_or_else(|| started.elapsed());
        let (n_prompt_tokens, n_new_tokens) = usage.unwrap_or((n_prompt_estimate, n_chunks));
        Ok(Generation {
            text,
            tokens: Vec::new(),
            n_prompt_tokens,
            n_new_tokens,
            stop_reason: match finish.as_deref() {
                Some("length") => StopReason::MaxTokens,
                _ => StopReason::Eos,
            },
            timings: Timings {
                prefill: first_token,
                first_token,
                decode: started.elapsed().saturating_sub(first_token),
                ..Timings::default()
            },
            drafted: 0,
            accepted: 0,
        })
    }

    /// Teacher-forced score of `target` after `prompt` from the server's log-probabilities of
    /// the echoed prompt `prompt + target`: the tokens that carry target text are scored (one
    /// that straddles the boundary counts as the target's).
    pub(crate) fn score_each(
        &self,
        prompt: &str,
        target: &str,
        cancel: &CancelToken,
    ) -> Result<(Score, Vec<f32>), ModelError> {
        if let Some(why) = self.no_scoring.lock().clone() {
            return Err(self.scoring_unsupported(why));
        }
        let text = format!("{prompt}{target}");
        let body = json!({
            "model": self.config.model,
            "prompt": text,
            "echo": true,
            "logprobs": 1,
            "max_tokens": 1,
            "temperature": 0.0,
        });
        let answer = match self.whole("completions", Some(&body), cancel) {
            Ok(answer) => answer,
            // A server that refuses the fields cannot score (llama-cpp-python without
            // logits_all answers 500 "logprobs is not supported…"); other failures are errors.
            Err(ModelError::Remote {
                status: Some(status),
                message,
                ..
            }) if refuses_scoring(status, &message) => {
                return Err(self.no_scoring(message));
            }
            Err(e) => return Err(e),
        };
        let logprobs = answer
            .pointer("/choices/0/logprobs")
            .filter(|l| !l.is_null());
        let Some(logprobs) = logprobs else {
            return Err(self.no_scoring("it returned no logprobs".to_owned()));
        };
        let tokens = logprobs.get("tokens").and_then(Value::as_array);
        let lps = logprobs.get("token_logprobs").and_then(Value::as_array);
        let offsets = logprobs.get("text_offset").and_then(Value::as_array);
        let tops = logprobs.get("top_logprobs").and_then(Value::as_array);
        let (Some(tokens), Some(lps), Some(offsets)) = (tokens, lps, offsets) else {
            return Err(self
                .no_scoring("its logprobs lack tokens, token_logprobs or text_offset".to_owned()));
        };
        // Offsets count characters of the echoed text; the generated token starts at its end.
        let prompt_chars = prompt.chars().count();
        let total_chars = text.chars().count();
        let mut score = Score::default();
        let mut each = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let token = token.as_str().unwrap_or_default();
            let Some(start) = offsets.get(i).and_then(Value::as_u64).map(|o| o as usize) else {
                continue;
            };
            let end = start + token.chars().count().max(1);
            if start >= total_chars || end <= prompt_chars {
                continue;
            }
            let Some(lp) = lps.get(i).and_then(Value::as_f64) else {
                return Err(self.no_scoring(format!(
                    "it gave no logprob for the prompt token {i} ({})",
                    excerpt(token)
                )));
            };
            let nll = -lp;
            score.nll += nll;
            score.tokens += 1;
            each.push(nll as f32);
            let best = tops
                .and_then(|t| t.get(i))
                .and_then(Value::as_object)
                .map(|top| {
                    top.values()
                        .filter_map(Value::as_f64)
                        .fold(f64::MIN, f64::max)
                });
            if best.is_some_and(|best| lp >= best - 1e-6) {
                score.correct += 1;
            }
        }
        if score.tokens == 0 && !target.is_empty() {
            return Err(self.no_scoring("its echoed logprobs cover no target text".to_owned()));
        }
        Ok((score, each))
    }

    fn no_scoring(&self, why: String) -> ModelError {
        tracing::info!(
            "the {} cannot score text ({why}): ranking by the other evidence",
            self.config.label()
        );
        *self.no_scoring.lock() = Some(why.clone());
        self.scoring_unsupported(why)
    }

    fn scoring_unsupported(&self, why: String) -> ModelError {
        ModelError::ScoringUnsupported {
            url: self.base.clone(),
            message: why,
        }
    }

    /// A non-streamed request's JSON answer.
    fn whole(
        &self,
        endpoint: &str,
        body: Option<&Value>,
        cancel: &CancelToken,
    ) -> Result<Value, ModelError> {
        let rx = self.send(endpoint, body, Mode::Whole, cancel)?;
        let text = self.next(&rx, cancel)?.unwrap_or_default();
        serde_json::from_str(&text).map_err(|e| {
            self.remote(
                None,
                format!("its answer is not JSON ({e}): {}", excerpt(&text)),
            )
        })
    }

    /// Starts a request on a thread of its own; what it reads arrives on the receiver.
    fn send(
        &self,
        endpoint: &str,
        body: Option<&Value>,
        mode: Mode,
        cancel: &CancelToken,
    ) -> Result<Receiver<Msg>, ModelError> {
        cancel.check()?;
        let url = format!("{}/{endpoint}", self.base);
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| {
                ModelError::InvalidParams(format!("cannot encode the request: {e}"))
            })?),
            None => None,
        };
        let agent = self.agent.clone();
        let key = self.config.api_key.clone();
        let base = self.base.clone();
        let read_timeout = self.config.read_timeout;
        let connect_timeout = self.config.connect_timeout;
        let (tx, rx) = sync_channel(64);
        std::thread::Builder::new()
            .name("spot-remote".to_owned())
            .spawn(move || {
                let ctx = Ctx {
                    base,
                    key,
                    read_timeout,
                    connect_timeout,
                };
                request(&agent, &url, body, mode, &ctx, &tx);
            })
            .map_err(|e| self.remote(None, format!("cannot start a request thread: {e}")))?;
        Ok(rx)
    }

    /// The next message, `None` at the end; polls `cancel` while it waits and gives up after the
    /// read timeout without one.
    fn next(&self, rx: &Receiver<Msg>, cancel: &CancelToken) -> Result<Option<String>, ModelError> {
        let waiting = Instant::now();
        loop {
            cancel.check()?;
            match rx.recv_timeout(POLL) {
                Ok(Msg::Data(line)) => return Ok(Some(line)),
                Ok(Msg::Fail(e)) => return Err(e),
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => {
                    // The thread's own timeouts fire first; this is the backstop.
                    if waiting.elapsed() > self.config.read_timeout + Duration::from_secs(5) {
                        return Err(self.remote(
                            None,
                            format!(
                                "it sent nothing for {} s",
                                self.config.read_timeout.as_secs()
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn remote(&self, status: Option<u16>, message: String) -> ModelError {
        ModelError::Remote {
            url: self.base.clone(),
            status,
            message: mask(&message, self.config.api_key.as_ref()),
        }
    }

    fn malformed(&self, detail: String) -> ModelError {
        self.remote(None, format!("malformed stream: {detail}"))
    }
}

/// What the request thread needs besides the request.
struct Ctx {
    base: String,
    key: Option<ApiKey>,
    read_timeout: Duration,
    connect_timeout: Duration,
}

impl Ctx {
    fn fail(&self, status: Option<u16>, message: String) -> Msg {
        Msg::Fail(ModelError::Remote {
            url: self.base.clone(),
            status,
            message: mask(&message, self.key.as_ref()),
        })
    }
}

/// The request thread: sends, then forwards lines (stream) or the body (whole). Returns as soon
/// as the caller is gone (a send fails), which drops the response and closes the connection.
fn request(
    agent: &ureq::Agent,
    url: &str,
    body: Option<Vec<u8>>,
    mode: Mode,
    ctx: &Ctx,
    tx: &SyncSender<Msg>,
) {
    let auth = ctx.key.as_ref().map(|k| format!("Bearer {}", k.key));
    let result = match body {
        Some(body) => {
            let mut req = agent.post(url).header("Content-Type", "application/json");
            if let Some(auth) = &auth {
                req = req.header("Authorization", auth);
            }
            if mode == Mode::Stream {
                req = req.header("Accept", "text/event-stream");
            }
            req.send(&body[..])
        }
        None => {
            let mut req = agent.get(url);
            if let Some(auth) = &auth {
                req = req.header("Authorization", auth);
            }
            req.call()
        }
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(ctx.fail(None, transport_error(&e, ctx)));
            return;
        }
    };
    let status = response.status().as_u16();
    let mut reader = response.into_body().into_reader();
    if !(200..300).contains(&status) {
        let mut text = String::new();
        let _ = (&mut reader)
            .take(ERROR_BODY_LIMIT)
            .read_to_string(&mut text);
        let _ = tx.send(ctx.fail(Some(status), http_error(status, &text, ctx)));
        return;
    }
    match mode {
        Mode::Whole => {
            let mut text = String::new();
            let msg = match (&mut reader).take(BODY_LIMIT).read_to_string(&mut text) {
                Ok(_) => Msg::Data(text),
                Err(e) => ctx.fail(
                    None,
                    format!("cannot read its answer: {}", io_text(&e, ctx)),
                ),
            };
            let _ = tx.send(msg);
        }
        Mode::Stream => {
            let mut lines = BufReader::new(reader);
            loop {
                let mut line = String::new();
                match lines.read_line(&mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if tx.send(Msg::Data(line)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(
                            ctx.fail(None, format!("the stream broke off: {}", io_text(&e, ctx))),
                        );
                        return;
                    }
                }
            }
        }
    }
}

/// Whether an HTTP error to a scoring request says the server cannot score: a refusal of the
/// request's fields (400, 422, 501), or any error that names them.
fn refuses_scoring(status: u16, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    matches!(status, 400 | 422 | 501) || m.contains("logprob") || m.contains("echo")
}

/// A failed request (no HTTP status) in a few words.
fn transport_error(e: &ureq::Error, ctx: &Ctx) -> String {
    match e {
        ureq::Error::Io(io) => io_text(io, ctx),
        ureq::Error::Timeout(which) => format!("timed out ({which})"),
        ureq::Error::HostNotFound => "its host name does not resolve".to_owned(),
        ureq::Error::ConnectionFailed => {
            "the connection failed (is the server running?)".to_owned()
        }
        other => other.to_string(),
    }
}

fn io_text(e: &std::io::Error, ctx: &Ctx) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "it refused the connection (is the server running?)".into(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::UnexpectedEof => {
            "the server closed the connection".into()
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => format!(
            "no answer within {} s (connect: {} s)",
            ctx.read_timeout.as_secs(),
            ctx.connect_timeout.as_secs()
        ),
        _ => e.to_string(),
    }
}

/// An HTTP error status with the server's own message (what says "model not found").
fn http_error(status: u16, body: &str, ctx: &Ctx) -> String {
    let message = match serde_json::from_str::<Value>(body) {
        Ok(v) => server_message(&v),
        Err(_) => excerpt(body),
    };
    let message = if message.is_empty() {
        "(no message)".to_owned()
    } else {
        message
    };
    match (status, &ctx.key) {
        (401 | 403, Some(key)) => format!(
            "HTTP {status}: the server refused the API key from {}: {message}",
            key.source()
        ),
        (401 | 403, None) => format!(
            "HTTP {status}: the server wants an API key (--backend-key-env VAR or the \
             `apiKeyEnv` setting): {message}"
        ),
        _ => format!("HTTP {status}: {message}"),
    }
}

/// The message of an OpenAI-style error object (`{"error": {"message": …}}`, `{"error": "…"}`,
/// FastAPI's `{"detail": …}`), else the JSON itself, on one line.
fn server_message(v: &Value) -> String {
    let found = v
        .pointer("/error/message")
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .or_else(|| v.get("message"))
        .or_else(|| v.get("detail"));
    match found {
        Some(Value::String(s)) => excerpt(s),
        Some(other) => excerpt(&other.to_string()),
        None => excerpt(&v.to_string()),
    }
}

/// `s` on one line, at most 300 characters.
fn excerpt(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 300 {
        let cut: String = one_line.chars().take(300).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// `message` with the key (should a server echo it) replaced by `***`.
fn mask(message: &str, key: Option<&ApiKey>) -> String {
    match key {
        Some(k) if k.key.len() >= 4 && message.contains(&k.key) => message.replace(&k.key, "***"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_renders_the_generation_prompt() {
        let text = render_chatml(
            &[ChatMessage::system("Be brief."), ChatMessage::user("Hi")],
            true,
        );
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn estimates_err_high() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 2);
        // ~4 bytes a token is typical of code; the estimate says more.
        let code = "fn main() { println!(\"hello\"); }\n".repeat(10);
        assert!(estimate_tokens(&code) * 4 >= code.len());
    }

    #[test]
    fn the_key_stays_out_of_debug_and_messages() {
        let mut config = RemoteConfig::new("http://127.0.0.1:1/v1", "m");
        config.api_key = Some(ApiKey::new("sk-secret-123", "$KEY"));
        assert!(!format!("{config:?}").contains("sk-secret-123"));
        let key = config.api_key.as_ref();
        assert_eq!(
            mask("Incorrect API key provided: sk-secret-123.", key),
            "Incorrect API key provided: ***."
        );
    }

    #[test]
    fn server_messages_are_found_in_the_usual_shapes() {
        let m = |s: &str| server_message(&serde_json::from_str(s).unwrap());
        assert_eq!(
            m(r#"{"error":{"message":"model 'x' not found"}}"#),
            "model 'x' not found"
        );
        assert_eq!(m(r#"{"error":"bad\nthing"}"#), "bad thing");
        assert_eq!(m(r#"{"detail":"Not Found"}"#), "Not Found");
    }

    #[test]
    fn bad_urls_and_names_are_refused_before_any_request() {
        let cancel = CancelToken::new();
        let e = RemoteModel::connect(RemoteConfig::new("localhost:8080", "m"), &cancel)
            .err()
            .expect("no scheme");
        assert!(
            e.to_string().contains("not an http:// or https:// URL"),
            "{e}"
        );
        let e = RemoteModel::connect(RemoteConfig::new("http://127.0.0.1:1/v1", " "), &cancel)
            .err()
            .expect("no model");
        assert!(e.to_string().contains("no model name"), "{e}");
    }

    #[test]
    fn a_closed_port_is_one_clear_line() {
        // Port 1 on loopback: nothing listens there.
        let e = RemoteModel::connect(
            RemoteConfig::new("http://127.0.0.1:1/v1", "m"),
            &CancelToken::new(),
        )
        .err()
        .expect("nothing listens on port 1");
        let text = e.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("127.0.0.1:1"), "{text}");
        assert!(
            text.contains("refused") || text.contains("failed"),
            "{text}"
        );
    }
}
