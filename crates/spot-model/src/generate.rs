//! The generation loop: wait for the shared session (cancellable), prefill the prompt, then decode
//! one token per step with the KV cache moved from each step's `present.*` outputs into the next
//! step's `past_key_values.*` inputs (no copy by spot; the graph concatenates past and new). For
//! graphs that can (onnxruntime-genai's GroupQueryAttention, `past_present_share_buffer`), one
//! buffer per cache tensor, sized for the whole run, is bound as both the past input and the
//! present output, so each step writes only its own position instead of copying the whole past.
//! Decoding also feeds the tokens prompt lookup guesses (`lookup.rs`) after the next token and
//! keeps those the logits agree with (greedy: the argmax; sampling: speculative sampling's
//! acceptance, `Sampler::sample_given`), plus the token after them: several tokens per run from
//! the same distribution; a rejected guess's cache positions are written over (shared buffer)
//! or cut off (moved cache). Streams text that is complete UTF-8 and cannot be the start of a stop
//! string. Teacher-forced scoring feeds prompt and target in one run and reads every target
//! position's logits. Token choice lives in `sample.rs`, graph names in `session.rs`.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ort::session::{IoBinding, RunOptions, Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType, TensorRef};

use super::lookup;
use super::sample::Sampler;
use super::session::GraphIo;
use super::{
    GenerateParams, Generation, ModelError, OnnxModel as Model, Score, StopReason, Timings,
};
use spot_base::cancel::CancelToken;

/// How often a prefill in progress checks for cancellation.
const PREFILL_CANCEL_POLL: Duration = Duration::from_millis(20);

/// How long a waiting request sleeps between checks of its cancel token.
const QUEUE_POLL: Duration = Duration::from_millis(20);

/// What the per-token callback tells the loop.
enum Flow {
    Continue,
    Stop(StopReason),
}

pub(super) fn generate(
    model: &Model,
    prompt: &str,
    params: &GenerateParams,
    cancel: &CancelToken,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation, ModelError> {
    let start = Instant::now();
    let prompt_ids = model.encode(prompt, params.add_special_tokens)?;
    let tokenize = start.elapsed();
    let mut text = TextStream::new(&model.tokenizer, &params.stop);
    let mut on_token = |id: u32| -> Result<Flow, ModelError> {
        if text.push(id, on_text)? {
            Ok(Flow::Stop(StopReason::StopString))
        } else {
            Ok(Flow::Continue)
        }
    };
    let mut run = run_loop(
        model,
        &prompt_ids,
        params,
        cancel,
        &mut on_token,
        &mut prompt_lookup,
    )?;
    if run.stop_reason != StopReason::StopString {
        text.flush(on_text);
    }
    run.timings.tokenize = tokenize;
    run.timings.first_token += tokenize;
    let n_new_tokens = run.tokens.len();
    Ok(Generation {
        text: text.into_text(),
        tokens: run.tokens,
        n_prompt_tokens: prompt_ids.len(),
        n_new_tokens,
        stop_reason: run.stop_reason,
        timings: run.timings,
        drafted: run.drafted,
        accepted: run.accepted,
    })
}

pub(super) fn generate_ids(
    model: &Model,
    prompt_ids: &[u32],
    params: &GenerateParams,
    cancel: &CancelToken,
) -> Result<Vec<u32>, ModelError> {
    let mut on_token = |_id: u32| Ok(Flow::Continue);
    Ok(run_loop(
        model,
        prompt_ids,
        params,
        cancel,
        &mut on_token,
        &mut prompt_lookup,
    )?
    .tokens)
}

/// [`generate_ids`] with the drafts `drafter` makes instead of prompt lookup's (for the tests
/// that check verification with drafts known right or wrong): ids, draft tokens, kept ones.
#[cfg(test)]
pub(super) fn generate_ids_drafted(
    model: &Model,
    prompt_ids: &[u32],
    params: &GenerateParams,
    drafter: Drafter<'_>,
) -> Result<(Vec<u32>, usize, usize), ModelError> {
    let mut on_token = |_id: u32| Ok(Flow::Continue);
    let run = run_loop(
        model,
        prompt_ids,
        params,
        &CancelToken::new(),
        &mut on_token,
        drafter,
    )?;
    Ok((run.tokens, run.drafted, run.accepted))
}

/// Teacher-forced scoring: the log-likelihood of `target_ids` after `prompt_ids`. One graph run
/// over the prompt and the target reads every target position's logits at once; a graph that
/// returns only the last position's logits is scored one cached decode step per target token
/// (found on the first score, remembered for the model).
pub(super) fn score_ids(
    model: &Model,
    prompt_ids: &[u32],
    target_ids: &[u32],
    cancel: &CancelToken,
) -> Result<Score, ModelError> {
    score_ids_each(model, prompt_ids, target_ids, cancel, None)
}

/// [`score_ids`], also pushing each target token's negative log-likelihood onto `each`.
pub(super) fn score_ids_each(
    model: &Model,
    prompt_ids: &[u32],
    target_ids: &[u32],
    cancel: &CancelToken,
    mut each: Option<&mut Vec<f32>>,
) -> Result<Score, ModelError> {
    let context = model.context_length();
    if prompt_ids.is_empty() {
        return Err(ModelError::EmptyPrompt);
    }
    if prompt_ids.len() + target_ids.len() > context {
        return Err(ModelError::PromptTooLong {
            n_tokens: prompt_ids.len() + target_ids.len(),
            context,
        });
    }
    if target_ids.is_empty() {
        return Ok(Score::default());
    }
    let mut session = loop {
        cancel.check()?;
        if let Some(guard) = model.session.try_lock_for(QUEUE_POLL) {
            break guard;
        }
    };
    if model.one_pass_score.load(Ordering::Relaxed) {
        if let Some(score) = score_one_pass(
            model,
            &mut session,
            prompt_ids,
            target_ids,
            cancel,
            each.as_deref_mut(),
        )? {
            return Ok(score);
        }
        tracing::info!(
            "{}: the graph returns the last position's logits only; scoring one step per token",
            model.dir.display()
        );
        model.one_pass_score.store(false, Ordering::Relaxed);
    }
    score_stepwise(model, &mut session, prompt_ids, target_ids, cancel, each)
}

/// Scores `target_ids` from one graph run over the prompt and the target; `None` when the graph
/// returned fewer rows of logits than there are target tokens.
fn score_one_pass(
    model: &Model,
    session: &mut Session,
    prompt_ids: &[u32],
    target_ids: &[u32],
    cancel: &CancelToken,
    mut each: Option<&mut Vec<f32>>,
) -> Result<Option<Score>, ModelError> {
    let Some((_, feed)) = target_ids.split_last() else {
        return Ok(Some(Score::default()));
    };
    // Row `k` of the last `target_ids.len()` rows predicts target token `k`.
    let ids: Vec<u32> = prompt_ids.iter().chain(feed).copied().collect();
    let state = DecodeState::start(model, session, &ids, ids.len(), target_ids.len(), cancel)?;
    let vocab = state.logits.len() / target_ids.len();
    if vocab > 0 && state.logits.len() == vocab * target_ids.len() {
        let mut score = Score::default();
        for (k, (&id, row)) in target_ids
            .iter()
            .zip(state.logits.chunks_exact(vocab))
            .enumerate()
        {
            let nll = score_token(&mut score, row, id, k)?;
            if let Some(each) = each.as_deref_mut() {
                each.push(nll as f32);
            }
        }
        return Ok(Some(score));
    }
    Ok(None)
}

/// [`score_ids`] one cached decode step per target token (what it falls back to), for the
/// tests that compare the two.
#[cfg(test)]
pub(super) fn score_ids_stepwise(
    model: &Model,
    prompt_ids: &[u32],
    target_ids: &[u32],
    cancel: &CancelToken,
) -> Result<Score, ModelError> {
    let mut session = model.session.lock();
    score_stepwise(model, &mut session, prompt_ids, target_ids, cancel, None)
}

fn score_stepwise(
    model: &Model,
    session: &mut Session,
    prompt_ids: &[u32],
    target_ids: &[u32],
    cancel: &CancelToken,
    mut each: Option<&mut Vec<f32>>,
) -> Result<Score, ModelError> {
    let io = &model.io;
    let mut state = DecodeState::start(
        model,
        session,
        prompt_ids,
        prompt_ids.len() + target_ids.len(),
        1,
        cancel,
    )?;
    let mut score = Score::default();
    for (k, &id) in target_ids.iter().enumerate() {
        cancel.check()?;
        let nll = score_token(&mut score, &state.logits, id, k)?;
        if let Some(each) = each.as_deref_mut() {
            each.push(nll as f32);
        }
        if k + 1 < target_ids.len() {
            state.push(id);
            state.step(session, io, k + 1)?;
        }
    }
    Ok(score)
}

/// Adds target token `id` (the `k`th) under `logits` to `score`; returns its negative
/// log-likelihood.
fn score_token(score: &mut Score, logits: &[f32], id: u32, k: usize) -> Result<f64, ModelError> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let target = logits
        .get(id as usize)
        .copied()
        .ok_or_else(|| ModelError::Inference {
            step: k,
            message: format!("token {id} is outside the logits ({})", logits.len()),
        })?;
    let nll = f64::from(max - target) + sum.ln();
    score.nll += nll;
    let argmax = logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i as u32);
    if argmax == Some(id) {
        score.correct += 1;
    }
    score.tokens += 1;
    Ok(nll)
}

struct Run {
    tokens: Vec<u32>,
    stop_reason: StopReason,
    timings: Timings,
    drafted: usize,
    accepted: usize,
}

/// Drafts tokens for the loop to check: `(history, most, out)`; see [`prompt_lookup`].
pub(super) type Drafter<'a> = &'a mut dyn FnMut(&[u32], usize, &mut Vec<u32>);

/// The drafter of generation: prompt lookup (`lookup.rs`).
fn prompt_lookup(history: &[u32], most: usize, out: &mut Vec<u32>) {
    out.clear();
    out.extend_from_slice(lookup::draft(history, most));
}

fn run_loop(
    model: &Model,
    prompt_ids: &[u32],
    params: &GenerateParams,
    cancel: &CancelToken,
    on_token: &mut dyn FnMut(u32) -> Result<Flow, ModelError>,
    drafter: Drafter<'_>,
) -> Result<Run, ModelError> {
    let mut sampler = Sampler::new(params)?;
    let context = model.context_length();
    let n_prompt = prompt_ids.len();
    if n_prompt == 0 {
        return Err(ModelError::EmptyPrompt);
    }
    if n_prompt >= context {
        return Err(ModelError::PromptTooLong {
            n_tokens: n_prompt,
            context,
        });
    }
    let mut timings = Timings::default();

    // Queue for the shared session; a cancelled waiter leaves the queue.
    let queued = Instant::now();
    let mut session = loop {
        cancel.check()?;
        if let Some(guard) = model.session.try_lock_for(QUEUE_POLL) {
            break guard;
        }
    };
    timings.queued = queued.elapsed();
    cancel.check()?;
    let start = Instant::now();

    let io = &model.io;
    let max_new = params.max_new_tokens.min(context - n_prompt);
    let mut run = Run {
        tokens: Vec::with_capacity(max_new),
        stop_reason: StopReason::MaxTokens,
        timings,
        drafted: 0,
        accepted: 0,
    };
    if max_new == 0 {
        return Ok(run);
    }

    let prefill = Instant::now();
    let mut state = DecodeState::start(
        model,
        &mut session,
        prompt_ids,
        n_prompt + max_new,
        1,
        cancel,
    )?;
    run.timings.prefill = prefill.elapsed();
    // A rejected draft's cache positions are written over by the next run (shared buffer) or
    // cut off before it (copied cache).
    let mut lookup = if model.lookup.load(Ordering::Relaxed) {
        params.lookup
    } else {
        0
    };
    let mut history: Vec<u32> = if lookup > 0 {
        prompt_ids.to_vec()
    } else {
        Vec::new()
    };
    let mut draft = Vec::with_capacity(lookup);
    // Draft length: two more after a draft that stood whole, one less after one that fell
    // (as transformers' assistant does), so a text the guesses miss costs little.
    let mut want = lookup;
    let mut decode_start = Instant::now();
    let mut step = 0;
    'decode: loop {
        // One row of logits per id fed: the last token's, then each draft token's.
        let rows = state.draft().len() + 1;
        let vocab = state.logits.len() / rows;
        if vocab == 0 || state.logits.len() != vocab * rows {
            return Err(ModelError::Inference {
                step,
                message: format!("{} logits for {rows} positions", state.logits.len()),
            });
        }
        let mut accepted = 0;
        let mut next = None;
        for (r, row) in state.logits.chunks_exact(vocab).enumerate() {
            if r > 0 {
                // Checked tokens come out one by one, as decoded ones do.
                cancel.check()?;
            }
            let (id, stands) = sampler
                .sample_given(row, state.draft().get(accepted).copied())
                .ok_or_else(|| ModelError::Inference {
                    step,
                    message: "the logits are empty or not numbers".into(),
                })?;
            run.tokens.push(id);
            if run.tokens.len() == 1 {
                run.timings.first_token = start.elapsed();
                decode_start = Instant::now();
            }
            if params.stop_on_eos && model.config.eos_token_ids.contains(&id) {
                run.stop_reason = StopReason::Eos;
                break 'decode;
            }
            if let Flow::Stop(reason) = on_token(id)? {
                run.stop_reason = reason;
                break 'decode;
            }
            if run.tokens.len() == max_new {
                run.stop_reason = if n_prompt + run.tokens.len() >= context {
                    StopReason::ContextFull
                } else {
                    StopReason::MaxTokens
                };
                break 'decode;
            }
            if lookup > 0 {
                history.push(id);
            }
            next = Some(id);
            if stands {
                accepted += 1;
                run.accepted += 1;
            } else {
                break;
            }
        }
        let Some(id) = next else {
            break;
        };
        if !state.draft().is_empty() {
            want = if accepted == state.draft().len() {
                (want + 2).min(lookup)
            } else {
                want.saturating_sub(1).max(1)
            };
        }
        cancel.check()?;
        step += 1;
        // Room: the draft and the token after it stay within max_new.
        let room = max_new - run.tokens.len() - 1;
        if lookup > 0 {
            drafter(&history, want.min(room), &mut draft);
            draft.truncate(want.min(room));
        }
        run.drafted += draft.len();
        state.feed(accepted, id, &draft);
        let result = state.step(&mut session, io, step);
        if !state.draft().is_empty() {
            let refused = match &result {
                Err(err) => Some(err.to_string()),
                Ok(()) if state.rows_out != state.draft().len() + 1 => {
                    Some("it returns the last position's logits only".to_owned())
                }
                Ok(()) => None,
            };
            if let Some(why) = refused {
                // One token per run from now on; this run's cache positions are written over.
                tracing::info!(
                    "{}: no prompt lookup, the graph cannot check several tokens in one run ({why})",
                    model.dir.display()
                );
                model.lookup.store(false, Ordering::Relaxed);
                lookup = 0;
                draft.clear();
                run.drafted -= state.draft().len();
                state.feed_again(&[]);
                state.step(&mut session, io, step)?;
                continue;
            }
        }
        result?;
    }
    run.timings.decode = decode_start.elapsed();
    Ok(run)
}

/// Inputs of the next step and the KV cache; buffers are sized once for the whole context.
struct DecodeState {
    /// Token ids fed at the next step (the prompt, then one token).
    ids: Vec<i64>,
    /// All ones, `context` long; each step feeds a prefix.
    mask: Vec<i64>,
    /// Positions of `ids`.
    positions: Vec<i64>,
    /// Tokens already in the cache.
    n_past: usize,
    /// `[key, value]` per layer, from the previous step's `present.*` outputs.
    past: Vec<DynValue>,
    /// With a shared cache: the binding that holds it as both past and present.
    shared: Option<IoBinding>,
    /// Rows of logits the prefill keeps: 1 (the last position's) for generation, one per
    /// target token for scoring. Steps keep one.
    rows: usize,
    /// The last `rows` positions' logits, row after row (fewer where the graph returns fewer).
    logits: Vec<f32>,
    /// Rows in `logits`.
    rows_out: usize,
    /// Prompt lookup: the draft tokens fed after the first id (the guess of what follows it).
    drafts: Vec<u32>,
}

impl DecodeState {
    /// A state for `prompt_ids` with room for `total` tokens in all, prefilled, keeping the
    /// logits of the prompt's last `rows` positions. Uses the shared
    /// cache where the model allows it; if the graph refuses it (the first run fails), falls
    /// back to the moved cache for this and every later run of the model.
    fn start(
        model: &Model,
        session: &mut Session,
        prompt_ids: &[u32],
        total: usize,
        rows: usize,
        cancel: &CancelToken,
    ) -> Result<DecodeState, ModelError> {
        let io = &model.io;
        let context = model.context_length();
        if model.share_kv.load(Ordering::Relaxed) {
            let mut state = DecodeState::new(io, session, prompt_ids, context, Some(total))?;
            state.rows = rows;
            match state.prefill(session, io, cancel) {
                Ok(()) => return Ok(state),
                Err(ModelError::Cancelled) => return Err(ModelError::Cancelled),
                Err(err) => {
                    tracing::info!(
                        "{}: the graph does not take a shared KV buffer ({err}); copying the cache instead",
                        model.dir.display()
                    );
                    model.share_kv.store(false, Ordering::Relaxed);
                }
            }
        }
        let mut state = DecodeState::new(io, session, prompt_ids, context, None)?;
        state.rows = rows;
        state.prefill(session, io, cancel)?;
        Ok(state)
    }

    /// `shared`: the cache is one buffer per tensor with room for that many tokens, bound as
    /// both past and present.
    fn new(
        io: &GraphIo,
        session: &Session,
        prompt_ids: &[u32],
        context: usize,
        shared: Option<usize>,
    ) -> Result<DecodeState, ModelError> {
        let fail = |message: String| ModelError::Inference { step: 0, message };
        let len = shared.unwrap_or(0);
        let shape = [1usize, io.kv_heads, len, io.head_dim];
        let mut past = Vec::with_capacity(io.layers.len() * 2);
        for _ in 0..io.layers.len() * 2 {
            let value = ort::value::DynTensor::new(session.allocator(), io.kv_dtype, shape)
                .map_err(|e| fail(format!("cannot create the KV cache: {e}")))?;
            past.push(value.into_dyn());
        }
        let binding = match shared {
            None => None,
            Some(_) => {
                let ort_fail = |e: ort::Error| fail(format!("cannot bind the KV cache: {e}"));
                let mut binding = session.create_binding().map_err(ort_fail)?;
                let mut buffers = past.iter_mut();
                for layer in &io.layers {
                    for (input, output) in [
                        (&layer.past_key, &layer.present_key),
                        (&layer.past_value, &layer.present_value),
                    ] {
                        let buffer = buffers
                            .next()
                            .ok_or_else(|| fail("the KV cache lost a layer".into()))?;
                        binding
                            .bind_input(input.as_str(), buffer)
                            .map_err(ort_fail)?;
                        binding
                            .bind_output(output.as_str(), buffer)
                            .map_err(ort_fail)?;
                    }
                }
                Some(binding)
            }
        };
        let ids: Vec<i64> = prompt_ids.iter().map(|&id| i64::from(id)).collect();
        let positions = (0..ids.len()).map(|p| p as i64).collect();
        Ok(DecodeState {
            ids,
            mask: vec![1; context],
            positions,
            n_past: 0,
            past,
            shared: binding,
            rows: 1,
            logits: Vec::with_capacity(io.vocab_size.unwrap_or(0)),
            rows_out: 0,
            drafts: Vec::new(),
        })
    }

    /// Moves the cache forward by the ids fed last and sets `id` as the next input.
    fn push(&mut self, id: u32) {
        self.feed(0, id, &[]);
    }

    /// Moves the cache forward by the ids fed last but the draft tokens after the first
    /// `accepted` (their cache positions are written over next), and sets `id`, then `draft`,
    /// as the next input, keeping one row of logits per id.
    fn feed(&mut self, accepted: usize, id: u32, draft: &[u32]) {
        let drafted = self.drafts.len();
        self.n_past += self.ids.len() - (drafted - accepted.min(drafted));
        self.ids.clear();
        self.ids.push(i64::from(id));
        self.feed_again(draft);
    }

    /// Replaces the draft after the next input's first id.
    fn feed_again(&mut self, draft: &[u32]) {
        self.ids.truncate(1);
        self.ids.extend(draft.iter().map(|&d| i64::from(d)));
        self.drafts.clear();
        self.drafts.extend_from_slice(draft);
        self.positions.clear();
        self.positions
            .extend((self.n_past..self.n_past + self.ids.len()).map(|p| p as i64));
        self.rows = self.ids.len();
    }

    /// The draft tokens of the last run.
    fn draft(&self) -> &[u32] {
        &self.drafts
    }

    /// The first step, over the whole prompt: it can take seconds, so a cancellation stops the
    /// graph run itself (ONNX Runtime's terminate flag, set by a watcher thread).
    fn prefill(
        &mut self,
        session: &mut Session,
        io: &GraphIo,
        cancel: &CancelToken,
    ) -> Result<(), ModelError> {
        let options = RunOptions::new().map_err(|e| ModelError::Inference {
            step: 0,
            message: e.to_string(),
        })?;
        let done = std::sync::atomic::AtomicBool::new(false);
        let result = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    if cancel.is_cancelled() {
                        let _ = options.terminate();
                        return;
                    }
                    std::thread::sleep(PREFILL_CANCEL_POLL);
                }
            });
            let result = self.run(session, io, 0, Some(&options));
            done.store(true, std::sync::atomic::Ordering::Release);
            result
        });
        match result {
            Err(_) if cancel.is_cancelled() => Err(ModelError::Cancelled),
            other => other,
        }
    }

    /// Runs the graph on `ids`; leaves the last position's logits in `self.logits` and the new
    /// cache in `self.past`.
    fn step(&mut self, session: &mut Session, io: &GraphIo, step: usize) -> Result<(), ModelError> {
        self.run(session, io, step, None)
    }

    fn run(
        &mut self,
        session: &mut Session,
        io: &GraphIo,
        step: usize,
        options: Option<&RunOptions>,
    ) -> Result<(), ModelError> {
        let fail = |message: String| ModelError::Inference { step, message };
        let ort_fail = |e: ort::Error| fail(e.to_string());
        let total = self.n_past + self.ids.len();
        let mask = self
            .mask
            .get(..total)
            .ok_or_else(|| fail(format!("{total} tokens exceed the context")))?;
        if let Some(binding) = self.shared.as_mut() {
            let room = self.past.first().map_or(0, |kv| {
                kv.shape().get(2).copied().unwrap_or(0).max(0) as usize
            });
            if total > room {
                return Err(fail(format!(
                    "{total} tokens exceed the KV buffer ({room})"
                )));
            }
            let owned = |data: &[i64]| -> Result<DynValue, ort::Error> {
                let shape = [1usize, data.len()];
                Ok(if io.ids_dtype == TensorElementType::Int32 {
                    Tensor::from_array((shape, narrow(data)))?.into_dyn()
                } else {
                    Tensor::from_array((shape, data.to_vec()))?.into_dyn()
                })
            };
            binding
                .bind_input(io.input_ids.as_str(), &owned(&self.ids).map_err(ort_fail)?)
                .map_err(ort_fail)?;
            if let Some(name) = &io.attention_mask {
                binding
                    .bind_input(name.as_str(), &owned(mask).map_err(ort_fail)?)
                    .map_err(ort_fail)?;
            }
            if let Some(name) = &io.position_ids {
                binding
                    .bind_input(name.as_str(), &owned(&self.positions).map_err(ort_fail)?)
                    .map_err(ort_fail)?;
            }
            if let Some(name) = &io.logits_to_keep {
                let keep =
                    Tensor::from_array(([1usize], vec![self.rows as i64])).map_err(ort_fail)?;
                binding
                    .bind_input(name.as_str(), &keep.into_dyn())
                    .map_err(ort_fail)?;
            }
            // Bound anew each run: a bound output keeps its last shape, and the prompt's
            // logits are longer than a step's.
            binding
                .bind_output_to_device(io.logits.as_str(), session.allocator().memory_info())
                .map_err(ort_fail)?;
            let outputs = match options {
                Some(options) => session.run_binding_with_options(binding, options),
                None => session.run_binding(binding),
            }
            .map_err(ort_fail)?;
            let logits = outputs
                .get(&io.logits)
                .ok_or_else(|| fail(format!("no `{}` output", io.logits)))?;
            self.rows_out = copy_last_rows(logits, io.logits_dtype, self.rows, &mut self.logits)
                .map_err(fail)?;
            return Ok(());
        }

        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(4 + self.past.len());
        inputs.push((
            Cow::Borrowed(io.input_ids.as_str()),
            int_input(io.ids_dtype, &self.ids).map_err(ort_fail)?,
        ));
        if let Some(name) = &io.attention_mask {
            inputs.push((
                Cow::Borrowed(name.as_str()),
                int_input(io.ids_dtype, mask).map_err(ort_fail)?,
            ));
        }
        if let Some(name) = &io.position_ids {
            inputs.push((
                Cow::Borrowed(name.as_str()),
                int_input(io.ids_dtype, &self.positions).map_err(ort_fail)?,
            ));
        }
        if let Some(name) = &io.logits_to_keep {
            let keep = Tensor::from_array(([1usize], vec![self.rows as i64])).map_err(ort_fail)?;
            inputs.push((Cow::Borrowed(name.as_str()), keep.into()));
        }
        if let Some(name) = &io.use_cache_branch {
            let flag = Tensor::from_array(([1usize], vec![self.n_past > 0])).map_err(ort_fail)?;
            inputs.push((Cow::Borrowed(name.as_str()), flag.into()));
        }
        // Draft tokens the last run rejected: their positions are cut off the cache.
        for value in &mut self.past {
            if value
                .shape()
                .get(2)
                .is_some_and(|&len| len > self.n_past as i64)
            {
                *value = truncate_kv(value, self.n_past, io.kv_dtype, session.allocator())
                    .map_err(fail)?;
            }
        }
        // Fed by reference: a run that fails leaves the cache as it was.
        let mut past = self.past.iter();
        for layer in &io.layers {
            let (Some(key), Some(value)) = (past.next(), past.next()) else {
                return Err(fail("the KV cache lost a layer".into()));
            };
            inputs.push((Cow::Borrowed(layer.past_key.as_str()), key.into()));
            inputs.push((Cow::Borrowed(layer.past_value.as_str()), value.into()));
        }

        let mut outputs = match options {
            Some(options) => session.run_with_options(inputs, options),
            None => session.run(inputs),
        }
        .map_err(ort_fail)?;
        let logits = outputs
            .get(&io.logits)
            .ok_or_else(|| fail(format!("no `{}` output", io.logits)))?;
        self.rows_out =
            copy_last_rows(logits, io.logits_dtype, self.rows, &mut self.logits).map_err(fail)?;
        let mut present = Vec::with_capacity(self.past.len());
        for layer in &io.layers {
            for name in [&layer.present_key, &layer.present_value] {
                let value = outputs
                    .remove(name.as_str())
                    .ok_or_else(|| fail(format!("no `{name}` output")))?;
                present.push(value);
            }
        }
        self.past = present;
        Ok(())
    }
}

/// The first `keep` positions of a `[batch, heads, positions, head_dim]` cache tensor, in a new
/// tensor.
fn truncate_kv(
    value: &DynValue,
    keep: usize,
    dtype: TensorElementType,
    allocator: &ort::memory::Allocator,
) -> Result<DynValue, String> {
    let dims: Vec<usize> = value
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect();
    let &[batch, heads, len, dim] = dims.as_slice() else {
        return Err(format!("a KV cache tensor has shape {dims:?}"));
    };
    let size = match dtype {
        TensorElementType::Float32 => 4,
        TensorElementType::Float16 | TensorElementType::Bfloat16 => 2,
        other => return Err(format!("a KV cache of {other:?}")),
    };
    if value.data_type() != &dtype || keep > len {
        return Err(format!(
            "cannot cut a {:?} KV cache of {len} positions to {keep}",
            value.data_type()
        ));
    }
    let source = value
        .view()
        .downcast::<ort::value::DynTensorValueType>()
        .map_err(|e| e.to_string())?;
    let mut cut = ort::value::DynTensor::new(allocator, dtype, [batch, heads, keep, dim])
        .map_err(|e| e.to_string())?;
    if !source.memory_info().is_cpu_accessible() || !cut.memory_info().is_cpu_accessible() {
        return Err("the KV cache is not in CPU memory".into());
    }
    let (from, to) = (
        source.data_ptr().cast::<u8>(),
        cut.data_ptr_mut().cast::<u8>(),
    );
    let (row_in, row_out) = (len * dim * size, keep * dim * size);
    if row_out > 0 && (from.is_null() || to.is_null()) {
        return Err("a KV cache tensor has no data".into());
    }
    for k in 0..batch * heads {
        // SAFETY: both are CPU tensors of `dtype` (checked above), the source holds batch × heads rows of `row_in` bytes and the new one rows of
        // `row_out` ≤ `row_in` bytes; they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(from.add(k * row_in), to.add(k * row_out), row_out);
        }
    }
    Ok(cut.into_dyn())
}

/// An `[1, n]` integer input: a view of `data` for int64 graphs, a converted copy for int32.
fn int_input<'a>(
    dtype: TensorElementType,
    data: &'a [i64],
) -> Result<SessionInputValue<'a>, ort::Error> {
    let shape = [1usize, data.len()];
    if dtype == TensorElementType::Int32 {
        Ok(Tensor::from_array((shape, narrow(data)))?.into())
    } else {
        Ok(TensorRef::from_array_view((shape, data))?.into())
    }
}

/// Ids, masks and positions for graphs that take int32 (values past `i32::MAX` saturate).
fn narrow(data: &[i64]) -> Vec<i32> {
    data.iter()
        .map(|&v| i32::try_from(v).unwrap_or(i32::MAX))
        .collect()
}

/// Copies the logits of the last `rows` positions (`[.., seq, vocab]`; all of them where there
/// are fewer) into `out` as f32, row after row.
fn copy_last_rows(
    value: &DynValue,
    dtype: TensorElementType,
    rows: usize,
    out: &mut Vec<f32>,
) -> Result<usize, String> {
    let shape = value.shape();
    let vocab = shape
        .iter()
        .last()
        .and_then(|&d| usize::try_from(d).ok())
        .filter(|&d| d > 0)
        .ok_or_else(|| format!("logits have shape {shape:?}"))?;
    let n = shape.num_elements();
    if n < vocab {
        return Err(format!("logits have shape {shape:?}"));
    }
    let rows = rows.clamp(1, n / vocab);
    let row = n - vocab * rows..n;
    out.clear();
    match dtype {
        TensorElementType::Float16 => {
            if value.data_type() != &TensorElementType::Float16 {
                return Err(format!("logits are {:?}, not float16", value.data_type()));
            }
            let tensor = value
                .view()
                .downcast::<ort::value::DynTensorValueType>()
                .map_err(|e| e.to_string())?;
            let ptr = tensor.data_ptr().cast::<u16>();
            if ptr.is_null() {
                return Err("logits have no data".into());
            }
            // SAFETY: the tensor is a CPU float16 tensor (checked above) of `n` elements, so its
            // buffer holds `n` properly aligned u16 values that live as long as `value`.
            let data = unsafe { std::slice::from_raw_parts(ptr, n) };
            let bits = data.get(row).ok_or("logits are shorter than their shape")?;
            out.extend(bits.iter().map(|&b| f16_to_f32(b)));
        }
        _ => {
            let (_, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| e.to_string())?;
            let last = data.get(row).ok_or("logits are shorter than their shape")?;
            out.extend_from_slice(last);
        }
    }
    Ok(rows)
}

/// IEEE 754 half to single precision.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let mant = u32::from(bits & 0x3ff);
    let out = match (exp, mant) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalize.
            let mut e = 127 - 15 + 1;
            let mut m = mant;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000,
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(out)
}

/// Incremental detokenization: UTF-8-safe pieces from the tokenizer's decode stream, held back
/// while they could be the start of a stop string, cut at the first stop string.
struct TextStream<'a> {
    decoder: tokenizers::tokenizer::DecodeStream<
        'a,
        tokenizers::ModelWrapper,
        tokenizers::NormalizerWrapper,
        tokenizers::PreTokenizerWrapper,
        tokenizers::PostProcessorWrapper,
        tokenizers::DecoderWrapper,
    >,
    stop: &'a [String],
    text: String,
    emitted: usize,
}

impl<'a> TextStream<'a> {
    fn new(tokenizer: &'a tokenizers::Tokenizer, stop: &'a [String]) -> Self {
        TextStream {
            decoder: tokenizer.decode_stream(true),
            stop,
            text: String::new(),
            emitted: 0,
        }
    }

    /// Adds a token; returns `true` when a stop string appeared (the text is cut before it).
    fn push(&mut self, id: u32, on_text: &mut dyn FnMut(&str)) -> Result<bool, ModelError> {
        let piece = self.decoder.step(id).map_err(|e| ModelError::Decode {
            id,
            message: e.to_string(),
        })?;
        let Some(piece) = piece else {
            return Ok(false);
        };
        let search_from = self.text.len();
        self.text.push_str(&piece);
        if let Some(cut) = self.find_stop(search_from) {
            self.text.truncate(cut);
            self.emit_to(cut, on_text);
            return Ok(true);
        }
        let safe = self.text.len() - self.held_back();
        self.emit_to(safe, on_text);
        Ok(false)
    }

    /// Emits whatever is held back (the generation ended without a stop string).
    fn flush(&mut self, on_text: &mut dyn FnMut(&str)) {
        self.emit_to(self.text.len(), on_text);
    }

    fn into_text(self) -> String {
        self.text
    }

    fn emit_to(&mut self, end: usize, on_text: &mut dyn FnMut(&str)) {
        if end > self.emitted {
            if let Some(new) = self.text.get(self.emitted..end) {
                on_text(new);
                self.emitted = end;
            }
        }
    }

    /// Byte offset of the earliest stop string that ends in the text added since `from`.
    fn find_stop(&self, from: usize) -> Option<usize> {
        self.stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                let mut start = from.saturating_sub(s.len());
                while !self.text.is_char_boundary(start) {
                    start -= 1;
                }
                self.text
                    .get(start..)
                    .and_then(|tail| tail.find(s.as_str()))
                    .map(|i| start + i)
            })
            .min()
    }

    /// Length of the longest suffix of the unemitted text that is a proper prefix of a stop
    /// string.
    fn held_back(&self) -> usize {
        let pending = self.text.get(self.emitted..).unwrap_or_default();
        self.stop
            .iter()
            .filter_map(|s| {
                (1..s.len().min(pending.len() + 1))
                    .rev()
                    .filter(|&n| s.is_char_boundary(n))
                    .find(|&n| {
                        let start = pending.len() - n;
                        pending.is_char_boundary(start)
                            && pending
                                .get(start..)
                                .is_some_and(|tail| s.get(..n).is_some_and(|prefix| prefix == tail))
                    })
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_precision_converts() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
    }
}
